//! `hubwarden check REPO`: one repository vetted with no codebase, through the
//! binary, against the fake hub serving the fixture repos.

use std::process::{Command, Output};

use hubwarden::model::HubKind;
use serde_json::Value;

use crate::common::{bin, fixture, keep_artifact};
use crate::fakehub::{FakeHub, FakeHubOptions};

/// The fake hub on its own runtime (the binary runs in another process).
struct Server {
    hub: FakeHub,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        Server::start_with(FakeHubOptions::default())
    }

    fn start_with(opts: FakeHubOptions) -> Server {
        Server::start_at("hub", opts)
    }

    /// The fake hub over another fixture mirror.
    fn start_at(mirror: &str, opts: FakeHubOptions) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let hub = rt.block_on(FakeHub::start(fixture(mirror), opts));
        Server { hub, _rt: rt }
    }

    /// `hubwarden check ARGS` with every hub pointed at the fake, a fresh cache
    /// and home, and no token.
    fn check(&self, args: &[&str]) -> Output {
        let tmp = tempfile::tempdir().unwrap();
        Command::new(bin())
            .arg("check")
            .args(args)
            .arg("--cache-dir")
            .arg(tmp.path().join("cache"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", tmp.path())
            .env("HF_ENDPOINT", self.hub.url(HubKind::Huggingface))
            .env("MODELSCOPE_ENDPOINT", self.hub.url(HubKind::Modelscope))
            .env("CSGHUB_DOMAIN", self.hub.url(HubKind::Opencsg))
            .env("PADDLEHUB_SERVER", self.hub.url(HubKind::Paddlehub))
            .env("HUBWARDEN_GITHUB_API_URL", self.hub.url(HubKind::Github))
            .output()
            .unwrap()
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// (api, sorted target file paths) of every call.
fn calls(report: &Value) -> Vec<(String, Vec<String>)> {
    report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut files: Vec<String> = c["target"]["files"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f["path"].as_str().unwrap().to_string())
                .collect();
            files.sort();
            (c["api"].as_str().unwrap().to_string(), files)
        })
        .collect()
}

fn files_of<'a>(calls: &'a [(String, Vec<String>)], api: &str) -> &'a [String] {
    &calls
        .iter()
        .find(|(a, _)| a == api)
        .unwrap_or_else(|| panic!("no {api} call in {calls:?}"))
        .1
}

const CHAT_COMMIT: &str = "cf1324c5d7b539597011128fc1bae38349b8577e";

#[test]
fn every_loader_family_of_a_model_repo_is_resolved_at_one_commit() {
    let server = Server::start();
    let out = server.check(&["rs-acme/chat", "--format", "json"]);
    let report = json(&out);
    let calls = calls(&report);
    // The model's auto_map class, the tokenizer (both list entries may run),
    // custom_generate, and pipeline() (model + tokenizer).
    let model = files_of(&calls, "transformers.AutoModelForCausalLM.from_pretrained");
    assert!(model.contains(&"modeling_chat.py".to_string()), "{model:?}");
    assert!(
        model.contains(&"configuration_chat.py".to_string()),
        "{model:?}"
    );
    let tok = files_of(&calls, "transformers.AutoTokenizer.from_pretrained");
    assert!(
        tok.contains(&"tokenization_chat_fast.py".to_string()),
        "{tok:?}"
    );
    let generate = files_of(&calls, "transformers.GenerationMixin.generate");
    assert!(
        generate.contains(&"custom_generate/generate.py".to_string()),
        "{generate:?}"
    );
    let pipe = files_of(&calls, "transformers.pipeline");
    assert!(pipe.contains(&"modeling_chat.py".to_string()), "{pipe:?}");
    assert!(
        pipe.contains(&"tokenization_chat_fast.py".to_string()),
        "{pipe:?}"
    );
    // One commit for everything, every call pinned to it, from the probe file.
    for c in report["calls"].as_array().unwrap() {
        assert_eq!(c["path"], "hubwarden-check.py");
        assert_eq!(c["pinned"], true, "{c}");
        assert_eq!(c["target"]["commit"], CHAT_COMMIT, "{c}");
        assert_eq!(c["gate"], "true", "{c}");
    }
    // Nothing here says "unpinned": the probe is pinned to what was scanned.
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(!rules.contains(&"remote-code-unpinned"), "{rules:?}");
    assert!(rules.contains(&"remote-code-enabled"), "{rules:?}");
}

#[test]
fn text_says_what_was_checked_and_the_commit_to_pin() {
    let server = Server::start();
    let out = server.check(&["sc-evil/revshell-7b"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("hubwarden check: huggingface model sc-evil/revshell-7b\n"),
        "{text}"
    );
    assert!(
        text.contains("pin it: revision=\"b5ab8d10cb57d92c4f80164565f48229186dd731\""),
        "{text}"
    );
    assert!(
        text.contains("main at commit b5ab8d10cb57d92c4f80164565f48229186dd731"),
        "{text}"
    );
    // The payload is found in the remote code.
    assert!(
        text.contains("layers.py") || text.contains("hooks.py"),
        "{text}"
    );
    assert!(text.contains("error"), "{text}");
}

#[test]
fn a_revision_is_resolved_before_the_probe_and_named() {
    let server = Server::start();
    let out = server.check(&["acme/remote-code", "--revision", "v0", "--format", "json"]);
    let report = json(&out);
    for c in report["calls"].as_array().unwrap() {
        assert_eq!(
            c["target"]["commit"], "d751aa5dbce65137b8cdedca108cfa27aef02f5e",
            "{c}"
        );
    }
}

#[test]
fn config_driven_chains_are_followed() {
    let server = Server::start();
    let out = server.check(&["cfg-chain/kernel-config", "--format", "json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"config-hub-kernel"), "{rules:?}");
}

#[test]
fn a_kernel_a_github_repo_and_a_paddlehub_module() {
    let server = Server::start();
    // Kernels from the mirror: the fake serves no `api/kernels` route.
    let mirror = fixture("hub");
    let out = server.check(&[
        "evil-org/flash-attn-fast",
        "--type",
        "kernel",
        "--format",
        "json",
        "--offline",
        "--mirror",
        mirror.to_str().unwrap(),
    ]);
    let report = json(&out);
    let calls_k = calls(&report);
    let files = files_of(&calls_k, "kernels.get_kernel");
    assert!(files.iter().any(|f| f.ends_with(".so")), "{files:?}");

    let out = server.check(&["acme/detect", "--hub", "github", "--format", "json"]);
    let report = json(&out);
    let c = calls(&report);
    assert_eq!(files_of(&c, "torch.hub.load"), ["hubconf.py".to_string()]);
    assert_eq!(files_of(&c, "paddle.hub.load"), ["hubconf.py".to_string()]);
    for call in report["calls"].as_array().unwrap() {
        assert_eq!(
            call["target"]["commit"], "0db97b6e4bbf63dcc55df6a4bc34985ca608e3b3",
            "{call}"
        );
    }

    let out = server.check(&["lac_demo", "--hub", "paddlehub", "--format", "text"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pin it: version=\"1.1.0\""), "{text}");
    assert!(text.contains("module.py"), "{text}");
}

/// `check` resolves a PaddleHub module to the version `scan` would install:
/// the search items the declared paddle cannot run (`--assume`) are dropped
/// first (`paddlehub/server/server_source.py:89-107`, 2.4.0). cf_pkg 2.0.0
/// needs paddle >= 99.
#[test]
fn a_paddlehub_module_is_checked_at_the_version_the_assumed_paddle_installs() {
    let server = Server::start_at("conformance", FakeHubOptions::default());
    for (assume, want) in [(Some("paddlepaddle==2.5.0"), "1.0.0"), (None, "2.0.0")] {
        let mut args = vec!["cf_pkg", "--hub", "paddlehub", "--format", "text"];
        if let Some(a) = assume {
            args.extend(["--assume", a]);
        }
        let out = server.check(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("pin it: version=\"{want}\"")),
            "{assume:?}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("cf_pkg/module.py"), "{text}");
    }
}

#[test]
fn a_dataset_is_checked_with_its_loader() {
    let server = Server::start();
    let out = server.check(&["acme/squadish", "--type", "dataset", "--format", "json"]);
    let report = json(&out);
    let c = calls(&report);
    assert!(!files_of(&c, "datasets.load_dataset").is_empty(), "{c:?}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let server = Server::start();
    for (args, want) in [
        (
            vec!["acme/detect", "--hub", "github", "--type", "kernel"],
            "Hub kernels live on Hugging Face",
        ),
        (
            vec!["../etc", "--format", "json"],
            "is not a huggingface repository id",
        ),
        (
            vec!["acme/chat", "--revision", "a\"b"],
            "is not a valid revision",
        ),
        (
            vec!["lac_demo", "--hub", "paddlehub", "--type", "dataset"],
            "has no datasets",
        ),
    ] {
        let out = server.check(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A repository that cannot be resolved fails closed: no report, exit 2.
    let out = server.check(&["nobody/nothing"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nobody/nothing"), "{err}");
}

#[test]
fn sarif_and_bom_files_are_written() {
    let server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let sarif = tmp.path().join("out.sarif");
    let bom = tmp.path().join("bom.json");
    let out = server.check(&[
        "rs-acme/chat",
        "--sarif",
        sarif.to_str().unwrap(),
        "--cyclonedx",
        bom.to_str().unwrap(),
        "--format",
        "github",
    ]);
    assert!(out.status.code().is_some(), "{out:?}");
    let sarif_text = std::fs::read_to_string(&sarif).unwrap();
    let bom_text = std::fs::read_to_string(&bom).unwrap();
    // `.ci/run` validates them (SARIF multitool, CycloneDX schema).
    keep_artifact("check.sarif", &sarif_text);
    keep_artifact("check.cdx.json", &bom_text);
    let s: Value = serde_json::from_str(&sarif_text).unwrap();
    assert_eq!(
        s["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "hubwarden-check.py"
    );
    let b: Value = serde_json::from_str(&bom_text).unwrap();
    let text = b.to_string();
    assert!(text.contains(CHAT_COMMIT), "{text}");
}

const REVSHELL: &str = "sc-evil/revshell-7b";
const REVSHELL_COMMIT: &str = "b5ab8d10cb57d92c4f80164565f48229186dd731";

/// The `hub_scan` entries of the first call's target.
fn hub_scan(report: &Value) -> Vec<Value> {
    report["calls"][0]["target"]["hub_scan"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn hub_scan_corroborates_and_never_lowers_the_verdict() {
    // The Hub says nothing is wrong with a repo whose code opens a reverse shell.
    let server = Server::start();
    let out = server.check(&[REVSHELL, "--format", "json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let scans = hub_scan(&report);
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(scans[0]["status"], "no-issues");
    assert_eq!(scans[0]["scans_done"], true);
    assert_eq!(scans[0]["repo_id"], REVSHELL);
    assert_eq!(scans[0]["commit"], REVSHELL_COMMIT);
    assert!(
        report["summary"]["errors"].as_u64().unwrap() > 0,
        "{}",
        report["summary"]
    );
    // Asked once, at the resolved commit, as huggingface_hub asks.
    let asked: Vec<String> = server
        .hub
        .requests()
        .into_iter()
        .map(|r| r.uri)
        .filter(|u| u.contains("securityStatus"))
        .collect();
    assert_eq!(
        asked,
        [format!(
            "/hf/api/models/{REVSHELL}/revision/{REVSHELL_COMMIT}?securityStatus=True"
        )]
    );
}

#[test]
fn hub_scan_flags_and_unfinished_scans() {
    let mut opts = FakeHubOptions::default();
    opts.hf_scans.insert(
        REVSHELL.into(),
        serde_json::json!({"scansDone": true, "filesWithIssues": [
            {"path": "hooks.py", "level": "danger"}, {"path": "old.bin"}
        ]}),
    );
    opts.hf_scans.insert(
        "rs-acme/chat".into(),
        serde_json::json!({"scansDone": false, "filesWithIssues": []}),
    );
    let server = Server::start_with(opts);
    let tmp = tempfile::tempdir().unwrap();
    let sarif = tmp.path().join("r.sarif");
    let out = server.check(&[
        REVSHELL,
        "--format",
        "json",
        "--sarif",
        sarif.to_str().unwrap(),
    ]);
    let report = json(&out);
    // The model class's target runs hooks.py (imported by the model code).
    let model = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["api"] == "transformers.AutoModel.from_pretrained")
        .unwrap();
    let scans = model["target"]["hub_scan"].as_array().unwrap();
    assert_eq!(scans[0]["status"], "issues", "{scans:?}");
    let flagged = scans[0]["files_with_issues"].as_array().unwrap();
    assert_eq!(flagged[0]["path"], "hooks.py");
    assert_eq!(flagged[0]["level"], "danger");
    assert_eq!(
        flagged[0]["runs"], true,
        "hooks.py is imported by the model code"
    );
    assert_eq!(flagged[1]["path"], "old.bin");
    assert_eq!(flagged[1]["runs"], false);
    // In SARIF, as a property of the results at the calls.
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let with: Vec<&Value> = s["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["properties"]["hub_scan"].is_array())
        .collect();
    assert!(!with.is_empty(), "{s}");
    assert_eq!(with[0]["properties"]["hub_scan"][0]["status"], "issues");

    let out = server.check(&["rs-acme/chat", "--format", "text"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("huggingface scan of rs-acme/chat @ cf1324c5d7b5: unknown (scans not done) (corroboration only)"),
        "{text}"
    );
}

#[test]
fn offline_and_mirror_runs_ask_no_hub_scan() {
    let server = Server::start();
    let out = server.check(&[
        REVSHELL,
        "--format",
        "json",
        "--offline",
        "--mirror",
        fixture("hub").to_str().unwrap(),
    ]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report["calls"][0]["target"]["commit"], REVSHELL_COMMIT);
    assert!(hub_scan(&report).is_empty(), "{report}");
    assert_eq!(server.hub.request_count(), 0);
    // A mirror alone (online) asks nothing either.
    let out = server.check(&[
        REVSHELL,
        "--format",
        "json",
        "--mirror",
        fixture("hub").to_str().unwrap(),
    ]);
    assert!(hub_scan(&json(&out)).is_empty());
    assert_eq!(server.hub.request_count(), 0);
}

/// The README's `check` examples that need no network run as it says: the
/// offline ones are run here, from the repository root, and exit as the
/// comment above them states.
#[test]
fn readme_check_examples_run_as_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("### Vet one repository before adopting it (`check`)")
        .nth(1)
        .unwrap();
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let mut comment = String::new();
    let mut ran = 0;
    for line in block.lines() {
        if let Some(c) = line.strip_prefix('#') {
            comment.push_str(c);
            continue;
        }
        let Some(args) = line.strip_prefix("hubwarden ") else {
            continue;
        };
        let stated = std::mem::take(&mut comment);
        if !args.contains("--offline") {
            continue;
        }
        let want: i32 = stated
            .split("exits ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no \"exits N\" above {line:?}"));
        let tmp = tempfile::tempdir().unwrap();
        let out = Command::new(bin())
            .args(args.split_whitespace())
            .env("HUBWARDEN_CACHE_DIR", tmp.path())
            .current_dir(root)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(want), "{line}\n{text}");
        assert!(text.starts_with("hubwarden check: "), "{text}");
        assert!(text.contains("pin it: "), "{text}");
        ran += 1;
    }
    assert!(ran > 0, "no offline check example in the README");
}
