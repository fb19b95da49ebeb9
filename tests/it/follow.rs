//! Files that remote code itself fetches while it loads (issue 10): downloads named
//! statically in fetched code are followed through the hub layer, joined to the target
//! and scanned; the others are code that could not be verified. The binary runs against
//! the fake hub serving `tests/fixtures/hub` (fixtures: tests/fixtures/gen/follow_fixtures.py).

use std::process::Command;

use hubwarden::hub::Hubs;
use hubwarden::model::{Family, FetchOutcome, HubKind, LoadSite, Platform, RepoType, TargetStatus};
use hubwarden::resolve::{ResolveOptions, resolve_all};
use serde_json::Value;

use crate::common::{bin, fixture};
use crate::fakehub::{FakeHub, FakeHubOptions};

const STORE: &str = "b05c814ea1646ab058605ff82c800b95dfe102e3";

/// One line per load, so that findings map to a repo by line.
const APP: &str = "from transformers import AutoModel\n\
m1 = AutoModel.from_pretrained(\"fw-acme/pinned-follow\", trust_remote_code=True)\n\
m2 = AutoModel.from_pretrained(\"fw-acme/unpinned-follow\", trust_remote_code=True)\n\
m3 = AutoModel.from_pretrained(\"fw-acme/unresolved-follow\", trust_remote_code=True)\n\
m4 = AutoModel.from_pretrained(\"fw-acme/traversal-follow\", trust_remote_code=True)\n\
m5 = AutoModel.from_pretrained(\"fw-acme/deep-follow\", trust_remote_code=True)\n";

struct Run {
    report: Value,
    /// Every request the fake hub saw.
    uris: Vec<String>,
}

fn scan_app(app: &str) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hub = rt.block_on(FakeHub::start(fixture("hub"), FakeHubOptions::default()));
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("app.py"), app).unwrap();
    let out = Command::new(bin())
        .args(["scan", "--format", "json", "--cache-dir"])
        .arg(tmp.path().join("cache"))
        .arg(&project)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", tmp.path())
        .env("HF_ENDPOINT", hub.url(HubKind::Huggingface))
        .env("MODELSCOPE_ENDPOINT", hub.url(HubKind::Modelscope))
        .env("CSGHUB_DOMAIN", hub.url(HubKind::Opencsg))
        .env("HUBWARDEN_GITHUB_API_URL", hub.url(HubKind::Github))
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Run {
        report,
        uris: hub.requests().into_iter().map(|r| r.uri).collect(),
    }
}

fn call<'a>(r: &'a Value, repo: &str) -> &'a Value {
    r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["repo_id"] == repo)
        .unwrap_or_else(|| panic!("no call for {repo}"))
}

/// (repo_id, path, why) of each file of the call's target.
fn files(c: &Value) -> Vec<(String, String, String)> {
    c["target"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["repo_id"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["why"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Findings of the call at `line` (merged ones flattened), as (rule, level, file, message).
fn findings(r: &Value, line: u64) -> Vec<(String, String, String, String)> {
    findings_at(r, line)
        .into_iter()
        .map(|(rule, level, file, _, message)| (rule, level, file, message))
        .collect()
}

/// `findings`, with the line in the evidence file: (rule, level, file, file line, message).
fn findings_at(r: &Value, line: u64) -> Vec<(String, String, String, u64, String)> {
    let mut out = Vec::new();
    for f in r["findings"].as_array().unwrap() {
        if f["line"] != line {
            continue;
        }
        for x in std::iter::once(f).chain(f["merged"].as_array().into_iter().flatten()) {
            out.push((
                x["rule_id"].as_str().unwrap_or("").to_string(),
                x["level"]
                    .as_str()
                    .unwrap_or(f["level"].as_str().unwrap())
                    .to_string(),
                x["evidence"]["file"].as_str().unwrap_or("").to_string(),
                x["evidence"]["line"].as_u64().unwrap_or(0),
                x["message"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

#[test]
fn downloads_in_remote_code_are_followed_scanned_or_reported() {
    let run = scan_app(APP);
    let r = &run.report;

    // Pinned: both files the model fetches from the store join the target and are
    // scanned; the payload is only in them.
    let pinned = call(r, "fw-acme/pinned-follow");
    assert_eq!(pinned["target"]["status"], "resolved", "{pinned}");
    let fs = files(pinned);
    for want in ["extra_layers.py", "extra.pt"] {
        let (repo, _, why) = fs
            .iter()
            .find(|(_, p, _)| p == want)
            .unwrap_or_else(|| panic!("{want} not followed: {fs:?}"));
        assert_eq!(repo, "fw-acme/store");
        assert!(
            why.starts_with("fetched at load by modeling_pf.py:")
                && why.contains("huggingface_hub.hf_hub_download"),
            "{why}"
        );
    }
    let f2 = findings(r, 2);
    assert!(
        f2.iter()
            .any(|(rule, level, file, _)| rule == "process-creation"
                && level == "error"
                && file == "extra_layers.py"),
        "{f2:#?}"
    );
    assert!(
        f2.iter()
            .any(|(rule, level, file, _)| rule.starts_with("pickle")
                && level == "error"
                && file == "extra.pt"),
        "{f2:#?}"
    );
    // The downloads themselves: followed at a commit, so notes that say what was read.
    let fetch: Vec<_> = f2
        .iter()
        .filter(|(rule, ..)| rule == "unverified-fetched-code")
        .collect();
    assert_eq!(fetch.len(), 2, "{f2:#?}");
    for (_, level, file, message) in fetch {
        assert_eq!(level, "note", "{message}");
        assert_eq!(file, "modeling_pf.py");
        assert!(
            message
                .starts_with("Code fetched at load, followed: `huggingface_hub.hf_hub_download`")
                && message.contains(&format!("read and scanned: fw-acme/store@{STORE}:")),
            "{message}"
        );
    }
    let fetched = pinned["target"]["fetched_at_load"].as_array().unwrap();
    assert_eq!(fetched.len(), 2);
    assert!(fetched.iter().all(|x| x["outcome"] == "pinned"));

    // Unpinned: the model's own repo (`config._name_or_path`) at its default branch.
    let unpinned = call(r, "fw-acme/unpinned-follow");
    assert_eq!(unpinned["target"]["status"], "resolved");
    assert!(
        files(unpinned)
            .iter()
            .any(|(repo, p, why)| repo == "fw-acme/unpinned-follow"
                && p == "clean_helpers.py"
                && why.starts_with("fetched at load by modeling_uf.py")),
        "{:?}",
        files(unpinned)
    );
    let f3 = findings(r, 3);
    let (_, level, _, message) = f3
        .iter()
        .find(|(rule, ..)| rule == "unverified-fetched-code")
        .unwrap_or_else(|| panic!("{f3:#?}"));
    assert_eq!(level, "warning", "{message}");
    assert!(
        message.contains("names no revision (the default branch)"),
        "{message}"
    );
    // Only the unpinned load itself (a policy finding) is an error: nothing in the code.
    assert!(
        !f3.iter()
            .any(|(_, level, file, _)| level == "error" && !file.is_empty()),
        "a clean unpinned follow has no error: {f3:#?}"
    );

    // Unresolvable: nothing followed, code fetched at load that could not be verified.
    let unresolved = call(r, "fw-acme/unresolved-follow");
    assert_eq!(files(unresolved).len(), 1);
    let f4 = findings(r, 4);
    assert!(
        f4.iter()
            .any(|(rule, level, ..)| rule == "unverified-fetched-code" && level == "error"),
        "{f4:#?}"
    );

    // Traversal: rejected before any request; the target cannot be verified.
    let trav = call(r, "fw-acme/traversal-follow");
    assert_eq!(trav["target"]["status"], "unverified", "{trav}");
    assert!(
        trav["target"]["reason"]
            .as_str()
            .unwrap()
            .contains("modeling_tf.py:7 fetches at load a path that is rejected"),
        "{trav}"
    );
    assert!(
        !run.uris
            .iter()
            .any(|u| u.contains("x.py") || u.contains("..") || u.contains("%2E%2E")),
        "{:?}",
        run.uris
    );
    let f5 = findings(r, 5);
    assert!(
        f5.iter()
            .any(|(rule, level, ..)| rule == "remote-code-unverified" && level == "error"),
        "{f5:#?}"
    );
    assert!(
        f5.iter().any(
            |(rule, level, _, message)| rule == "unverified-fetched-code"
                && level == "error"
                && message.contains("not followed: invalid")
        ),
        "{f5:#?}"
    );

    // Depth: six downloads deep is over the cap of four: unverified, and the chain
    // stops at the cap.
    let deep = call(r, "fw-acme/deep-follow");
    assert_eq!(deep["target"]["status"], "unverified", "{deep}");
    assert!(
        deep["target"]["reason"]
            .as_str()
            .unwrap()
            .contains("nest deeper than 4"),
        "{deep}"
    );
    let chained: Vec<String> = files(deep)
        .into_iter()
        .filter(|(_, p, _)| p.starts_with("chain"))
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(
        chained,
        ["chain1.py", "chain2.py", "chain3.py", "chain4.py"]
    );
    assert!(!run.uris.iter().any(|u| u.contains("chain5.py")));
}

/// Loads of repos whose code unpickles its own data files or downloads through `HfApi`.
const DATA_APP: &str = "from transformers import AutoModel\n\
m1 = AutoModel.from_pretrained(\"fw-acme/data-follow\", trust_remote_code=True)\n\
m2 = AutoModel.from_pretrained(\"fw-acme/data-benign-follow\", trust_remote_code=True)\n\
m3 = AutoModel.from_pretrained(\"fw-acme/hfapi-follow\", trust_remote_code=True)\n\
m4 = AutoModel.from_pretrained(\"fw-acme/npy-download-follow\", trust_remote_code=True)\n";

#[test]
fn repo_data_files_unpickled_at_load_are_followed() {
    let run = scan_app(DATA_APP);
    let r = &run.report;

    // The object-array .npy next to the code is fetched and its pickle walked: the
    // payload is reported in that file; the unpickling call itself drops to a note.
    let data = call(r, "fw-acme/data-follow");
    assert_eq!(data["target"]["status"], "resolved", "{data}");
    let fs = files(data);
    for (want, line) in [("assets/table.npy", 15), ("vocab.pkl", 17)] {
        let (_, _, why) = fs
            .iter()
            .find(|(repo, p, _)| repo == "fw-acme/data-follow" && p == want)
            .unwrap_or_else(|| panic!("{want} not followed: {fs:?}"));
        assert!(
            why.starts_with(&format!("unpickled at load by modeling_da.py:{line} (")),
            "{why}"
        );
    }
    let f2 = findings(r, 2);
    assert!(
        f2.iter().any(
            |(rule, level, file, message)| rule == "pickle-dangerous-global"
                && level == "error"
                && file == "assets/table.npy"
                && message.contains("os.system")
                && message.contains("npy object array")
        ),
        "{f2:#?}"
    );
    let unpickles: Vec<_> = f2
        .iter()
        .filter(|(rule, ..)| rule == "unverified-fetched-code")
        .collect();
    assert_eq!(unpickles.len(), 3, "{f2:#?}");
    let (notes, errors): (Vec<_>, Vec<_>) = unpickles
        .into_iter()
        .partition(|(_, level, ..)| level == "note");
    assert_eq!(notes.len(), 2, "{f2:#?}");
    // The file the repo does not hold stays code that could not be verified.
    assert_eq!(errors.len(), 1, "{f2:#?}");
    assert!(
        errors[0]
            .3
            .contains("missing.pkl is not in fw-acme/data-follow@"),
        "{}",
        errors[0].3
    );
    let fetched = data["target"]["fetched_at_load"].as_array().unwrap();
    let outcomes: Vec<(&str, &str)> = fetched
        .iter()
        .map(|x| (x["api"].as_str().unwrap(), x["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("numpy.load", "pinned"),
            ("pickle.load", "pinned"),
            ("pickle.load", "failed")
        ]
    );

    // Benign data: an object array of strings, an .npz of plain arrays, a plain array;
    // all fetched, nothing at error.
    let benign = call(r, "fw-acme/data-benign-follow");
    assert_eq!(benign["target"]["status"], "resolved", "{benign}");
    let got: Vec<String> = files(benign).into_iter().map(|(_, p, _)| p).collect();
    for want in ["words.npy", "emb.npz", "bias.npy"] {
        assert!(got.iter().any(|p| p == want), "{want}: {got:?}");
    }
    // The files themselves are clean, and `allow_pickle=True` on a file that was read
    // and judged is a note (the call's own follow record says so).
    let f3 = findings(r, 3);
    assert!(
        f3.iter()
            .all(|(_, level, file, _)| file.is_empty() || level == "note"),
        "benign data files give no error or warning: {f3:#?}"
    );
    assert_eq!(
        f3.iter()
            .filter(|(rule, level, ..)| rule == "numpy-allow-pickle" && level == "note")
            .count(),
        3,
        "{f3:#?}"
    );
    assert!(
        !f3.iter().any(|(rule, ..)| rule.starts_with("pickle")),
        "{f3:#?}"
    );

    // HfApi instances: a field assigned `HfApi()` and a constructor call.
    let api = call(r, "fw-acme/hfapi-follow");
    let fs = files(api);
    for want in ["extra_layers.py", "extra.pt"] {
        assert!(
            fs.iter().any(|(repo, p, why)| repo == "fw-acme/store"
                && p == want
                && why.contains("huggingface_hub.hf_hub_download")),
            "{want}: {fs:?}"
        );
    }
    let f4 = findings(r, 4);
    assert!(
        f4.iter()
            .any(|(rule, level, file, _)| rule == "process-creation"
                && level == "error"
                && file == "extra_layers.py"),
        "{f4:#?}"
    );
}

/// Arrays downloaded with `hf_hub_download` and loaded with numpy go to the pickle
/// scanner (an `.npy` or `.npz` was "neither Python nor a pickle", an error even when
/// clean); `allow_pickle=True` on a file that was followed at a pinned commit is a note.
#[test]
fn numpy_arrays_downloaded_at_load_are_followed() {
    let run = scan_app(DATA_APP);
    let r = &run.report;
    let c = call(r, "fw-acme/npy-download-follow");
    assert_eq!(c["target"]["status"], "resolved", "{c}");
    let fs = files(c);
    for (want, line) in [("rope.npy", 11), ("freq.npz", 12), ("plain.npy", 13)] {
        let (_, _, why) = fs
            .iter()
            .find(|(repo, p, _)| repo == "fw-acme/npy-store" && p == want)
            .unwrap_or_else(|| panic!("{want} not followed: {fs:?}"));
        assert!(
            why.starts_with(&format!("fetched at load by modeling_nd.py:{line} (")),
            "{why}"
        );
    }
    let got = findings_at(r, 5);
    let has = |rule: &str, level: &str, file: &str, line: u64| {
        got.iter().any(|(r, l, f, n, _)| {
            r == rule && l == level && f == file && (line == 0 || *n == line)
        })
    };
    // The payload is reported in the array it hides in.
    assert!(
        has("pickle-dangerous-global", "error", "rope.npy", 0),
        "{got:#?}"
    );
    // Pinned downloads, read and judged: notes; the unpinned one a warning.
    for line in [11, 12] {
        assert!(
            has("unverified-fetched-code", "note", "modeling_nd.py", line),
            "{got:#?}"
        );
        assert!(
            has("numpy-allow-pickle", "note", "modeling_nd.py", line),
            "{got:#?}"
        );
    }
    assert!(
        has("unverified-fetched-code", "warning", "modeling_nd.py", 13),
        "{got:#?}"
    );
    // The flow from each pinned download to its `np.load` is a note too: the bytes it
    // loads were judged. The only error in the remote files is the payload; arrays are
    // data, not pickled weights.
    for line in [11, 12] {
        assert!(
            has("taint-flow", "note", "modeling_nd.py", line),
            "{got:#?}"
        );
    }
    let errors: Vec<_> = got
        .iter()
        .filter(|(_, l, f, ..)| l == "error" && !f.is_empty())
        .collect();
    assert_eq!(errors.len(), 1, "{got:#?}");
    assert!(!got.iter().any(|(r, ..)| r == "pickle-weights"), "{got:#?}");
    assert!(
        !got.iter()
            .any(|(r, _, f, ..)| r.starts_with("pickle") && (f == "freq.npz" || f == "plain.npy")),
        "{got:#?}"
    );
}

fn site(repo: &str) -> LoadSite {
    LoadSite {
        path: "app.py".into(),
        line: 1,
        column: 1,
        cell: None,
        end_line: 1,
        platform: Platform::Huggingface,
        family: Family::Transformers,
        api: "transformers.AutoModel.from_pretrained".into(),
        repo_id: Some(repo.into()),
        repo_type: RepoType::Model,
        revision: None,
        pinned: false,
        gate: "true".into(),
        resolution: "literal".into(),
        args: Default::default(),
        source_line: String::new(),
        suppress: None,
    }
}

/// The count cap, through `resolve_all` over the fake hub: two files followed are
/// within a cap of two; one over it leaves the target unverified.
#[tokio::test]
async fn followed_files_are_capped_per_target() {
    let hub = FakeHub::start(fixture("hub"), FakeHubOptions::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let hubs = Hubs::new(hub.hub_options(tmp.path())).unwrap();
    let calls = [site("fw-acme/pinned-follow")];
    let within = ResolveOptions {
        max_follows: 2,
        ..ResolveOptions::default()
    };
    let t = &resolve_all(&hubs, &calls, &within).await[0];
    assert_eq!(t.status, TargetStatus::Resolved, "{:?}", t.reason);
    assert_eq!(t.files.len(), 3);
    assert!(
        t.fetched_at_load
            .iter()
            .all(|f| f.outcome == FetchOutcome::Pinned)
    );
    let over = ResolveOptions {
        max_follows: 1,
        ..ResolveOptions::default()
    };
    let t = &resolve_all(&hubs, &calls, &over).await[0];
    assert_eq!(t.status, TargetStatus::Unverified);
    assert!(
        t.reason
            .as_deref()
            .unwrap()
            .contains("more than 1 files fetched at load"),
        "{:?}",
        t.reason
    );
    assert_eq!(t.files.len(), 2);
}
