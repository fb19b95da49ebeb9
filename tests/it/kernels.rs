//! Hub kernels (`kernels.get_kernel` and friends): resolved to a kernel repo at
//! a commit, the build variants that may load under the declared torch range,
//! Python and native files scanned, pins from `kernels.lock`, publisher trust.

use std::process::{Command, Output};

use crate::common::{bin, fixture};

/// Scan a project written from `files` against the fixture hub mirror,
/// rendered as `format`.
pub(crate) fn scan_as(files: &[(&str, &str)], extra: &[&str], format: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    for (p, c) in files {
        std::fs::write(dir.path().join(p), c).unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    Command::new(bin())
        .args(["scan", "--offline", "--format", format, "--mirror"])
        .arg(fixture("hub"))
        .arg("--cache-dir")
        .arg(cache.path())
        .args(extra)
        .arg(dir.path())
        .env_remove("HUBWARDEN_MIRROR")
        .output()
        .unwrap()
}

/// Scan a project written from `files` against the fixture hub mirror; the JSON report.
pub(crate) fn scan(files: &[(&str, &str)], extra: &[&str]) -> serde_json::Value {
    let out = scan_as(files, extra, "json");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

pub(crate) fn call<'a>(r: &'a serde_json::Value, repo: &str) -> &'a serde_json::Value {
    r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["repo_id"] == repo)
        .unwrap_or_else(|| panic!("no call for {repo}: {r}"))
}

pub(crate) fn files(c: &serde_json::Value) -> Vec<String> {
    c["target"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Every rule id reported for the call at `line`, merged ones included.
pub(crate) fn rules_at(r: &serde_json::Value, line: u64) -> Vec<String> {
    let mut out = Vec::new();
    for f in r["findings"].as_array().unwrap() {
        if f["line"] == line {
            out.push(f["rule_id"].as_str().unwrap().to_string());
            for m in f["merged"].as_array().into_iter().flatten() {
                out.push(m["rule_id"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

const APP: &str = "import kernels\nfrom kernels import get_kernel\n\nact = get_kernel(\"kernels-community/activation\", version=1)\nfast = kernels.get_kernel(\"evil-org/flash-attn-fast\")\n";

#[test]
fn a_kernel_resolves_to_its_variant_files_and_native_code_is_scanned() {
    let r = scan(
        &[("requirements.txt", "torch==2.7.1\n"), ("app.py", APP)],
        &[],
    );
    let evil = call(&r, "evil-org/flash-attn-fast");
    let t = &evil["target"];
    assert_eq!(t["repo_type"], "kernel");
    assert_eq!(t["status"], "resolved");
    assert_eq!(t["commit"].as_str().unwrap().len(), 40);
    let so = t["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(".abi3.so"))
        .expect("the native library is listed");
    assert_eq!(so["sha256"].as_str().unwrap().len(), 64);
    assert!(so["bytes"].as_u64().unwrap() > 0);
    assert_eq!(t["assumed"][0]["library"], "torch");
    assert_eq!(t["assumed"][0]["source"], "requirements.txt:1");
    let rules = rules_at(&r, 5);
    for want in [
        "reverse-shell",
        "download-exec",
        "kernel-untrusted-publisher",
        "kernel-native-code",
        "remote-code-unpinned",
    ] {
        assert!(
            rules.iter().any(|x| x == want),
            "{want} missing in {rules:?}"
        );
    }
    // The pin fix replaces `version=` (kernels refuses both together).
    let fix = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| {
            (f["line"] == 4)
                .then(|| f["fix"]["replacement"].as_str())
                .flatten()
        })
        .expect("a pin fix for the activation call");
    assert!(
        fix.starts_with("get_kernel(\"kernels-community/activation\", revision=\"")
            && !fix.contains("version"),
        "{fix}"
    );
    // The trusted publisher: native code reported, no untrusted-publisher finding.
    let rules = rules_at(&r, 4);
    assert!(rules.iter().any(|x| x == "kernel-native-code"), "{rules:?}");
    assert!(
        !rules.iter().any(|x| x == "kernel-untrusted-publisher"),
        "{rules:?}"
    );
}

#[test]
fn the_declared_torch_version_picks_the_variants() {
    // The version-dependent pair: torch 2.7 loads the torch27 build, 2.8 the torch28 one.
    let r27 = scan(
        &[("requirements.txt", "torch==2.7.1\n"), ("app.py", APP)],
        &[],
    );
    let f27 = files(call(&r27, "kernels-community/activation"));
    assert!(
        f27.iter().any(|f| f.contains("torch27-")) && !f27.iter().any(|f| f.contains("torch28-")),
        "{f27:?}"
    );
    let r28 = scan(
        &[("requirements.txt", "torch==2.8.0\n"), ("app.py", APP)],
        &[],
    );
    let f28 = files(call(&r28, "kernels-community/activation"));
    assert!(
        f28.iter().any(|f| f.contains("torch28-")) && !f28.iter().any(|f| f.contains("torch27-")),
        "{f28:?}"
    );
    // Undeclared torch: every variant may load (worst case), and that is said.
    let any = scan(&[("app.py", APP)], &[]);
    let c = call(&any, "kernels-community/activation");
    assert_eq!(
        files(c)
            .iter()
            .filter(|f| f.ends_with("__init__.py"))
            .count(),
        3
    );
    assert!(c["target"]["assumed"][0]["source"].is_null());
    // --assume wins over the declaration.
    let assumed = scan(
        &[("requirements.txt", "torch==2.7.1\n"), ("app.py", APP)],
        &["--assume", "torch==2.8.0"],
    );
    assert!(
        files(call(&assumed, "kernels-community/activation"))
            .iter()
            .any(|f| f.contains("torch28-"))
    );
}

#[test]
fn a_locked_kernel_is_read_at_the_locked_commit_and_is_pinned() {
    let lock = "[{\"repo_id\": \"kernels-community/activation\", \"sha\": \"686f8c212f8ee4f672f9bbb74e5aa617b6be3a14\", \"variants\": {}}]";
    let app = "from kernels import get_locked_kernel\n\nact = get_locked_kernel(\"kernels-community/activation\")\nother = get_locked_kernel(\"evil-org/flash-attn-fast\")\n";
    let r = scan(&[("kernels.lock", lock), ("app.py", app)], &[]);
    let c = call(&r, "kernels-community/activation");
    assert_eq!(
        c["target"]["commit"],
        "686f8c212f8ee4f672f9bbb74e5aa617b6be3a14"
    );
    assert_eq!(c["target"]["pinned_by"], "kernels.lock:1");
    assert!(!rules_at(&r, 3).iter().any(|x| x == "remote-code-unpinned"));
    // Not in the lock: the commit is unknown, so it is unverified (fail closed).
    let other = call(&r, "evil-org/flash-attn-fast");
    assert_eq!(other["target"]["status"], "unverified");
    assert!(
        other["target"]["reason"]
            .as_str()
            .unwrap()
            .contains("kernels.lock")
    );
}

const CHAIN_APP: &str = "from transformers import AutoModelForCausalLM, AutoConfig\n\nm = AutoModelForCausalLM.from_pretrained(\"cfg-chain/kernel-config\")\ns = AutoModelForCausalLM.from_pretrained(\"cfg-chain/kernel-subconfig\")\ng = AutoConfig.from_pretrained(\"cfg-chain/lightglue\")\n";

#[test]
fn a_kernel_named_by_config_json_is_a_chain_on_affected_transformers() {
    let on = scan(
        &[
            (
                "requirements.txt",
                "transformers==5.2.0\nkernels==0.10.0\ntorch==2.7.1\n",
            ),
            ("app.py", CHAIN_APP),
        ],
        &[],
    );
    let c = call(&on, "cfg-chain/kernel-config");
    let link = &c["target"]["chain"][0];
    assert_eq!(link["rule"], "config-hub-kernel");
    assert_eq!(link["file"], "config.json");
    assert_eq!(link["line"], 7);
    assert_eq!(link["field"], "_attn_implementation_internal");
    assert_eq!(link["leads_to"], "Hub kernel evil-org/flash-attn-fast");
    assert!(
        files(c).iter().any(|f| f.ends_with(".abi3.so")),
        "the kernel's files join the target"
    );
    let finding = on["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["line"] == 3 && f["rule_id"] == "config-hub-kernel")
        .expect("an error at the call");
    assert_eq!(finding["level"], "error");
    assert_eq!(finding["evidence"]["file"], "config.json");
    assert_eq!(finding["evidence"]["line"], 7);
    assert!(rules_at(&on, 3).iter().any(|r| r == "reverse-shell"));
    // Sub-config, with @rev and :fn.
    let sub = call(&on, "cfg-chain/kernel-subconfig");
    assert_eq!(
        sub["target"]["chain"][0]["field"],
        "text_config.attn_implementation"
    );
    assert_eq!(
        sub["target"]["chain"][0]["leads_to"],
        "Hub kernel evil-org/flash-attn-fast@v1"
    );
    // LightGlue-style forwarded trust: the detector repo's AutoConfig code is scanned.
    let lg = call(&on, "cfg-chain/lightglue");
    assert_eq!(
        lg["target"]["chain"][0]["rule"],
        "config-forwards-trust-remote-code"
    );
    assert!(files(lg).iter().any(|f| f == "configuration_evil.py"));
    assert!(rules_at(&on, 5).iter().any(|r| r == "os-system"));

    // The version pair: transformers 5.5 with kernels has neither path.
    let off = scan(
        &[
            (
                "requirements.txt",
                "transformers==5.5.0\nkernels==0.10.0\ntorch==2.7.1\n",
            ),
            ("app.py", CHAIN_APP),
        ],
        &[],
    );
    for repo in [
        "cfg-chain/kernel-config",
        "cfg-chain/kernel-subconfig",
        "cfg-chain/lightglue",
    ] {
        let c = call(&off, repo);
        assert!(c["target"]["chain"].is_null(), "{repo}: {c}");
        assert_eq!(c["target"]["status"], "no-remote-code", "{repo}");
    }
    // Undeclared versions: the worst case, said in target.assumed.
    let worst = scan(&[("app.py", CHAIN_APP)], &[]);
    let c = call(&worst, "cfg-chain/kernel-config");
    assert_eq!(c["target"]["chain"][0]["applies"], "possibly");
    assert!(
        c["target"]["assumed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["library"] == "transformers" && a["range"] == "any")
    );
    // --assume overrides: kernels not installed, no kernel is loaded.
    let none = scan(&[("app.py", CHAIN_APP)], &["--assume", "kernels=none"]);
    assert!(call(&none, "cfg-chain/kernel-config")["target"]["chain"].is_null());
}
