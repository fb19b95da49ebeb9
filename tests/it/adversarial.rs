//! The adversarial corpus (tests/fixtures/adversarial, made by
//! tests/fixtures/gen/adversarial_corpus.py): malicious look-alikes of real remote-code
//! models and benign real remote code, scanned as a user scans a project (`hubwarden scan
//! --offline --mirror`, one pinned `trust_remote_code=True` call per target). What a user
//! checks: the call of a malicious target fails the run at the default `fail-on: error`,
//! a benign one does not. The floors below only go up (bench/adversarial.sh prints the
//! figures and the misses).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::common::{bin, fixture};

/// Malicious targets that must be caught at error (raise it as classes are fixed; the
/// issue's target is 95 % of the corpus). Today: every one of the 184.
const FLOOR_AT_ERROR: usize = 184;
/// Malicious targets that must have a finding at any level.
const FLOOR_ANY: usize = 184;
/// Benign targets that still get an error-level finding today. The list must match
/// exactly: a new false positive fails, and so does a fixed one left on the list.
const BENIGN_AT_ERROR: &[&str] = &[];

struct Row {
    repo: String,
    malicious: bool,
    class: String,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(fixture("adversarial/manifest.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "manifest line: {l}");
            Row {
                repo: f[0].to_string(),
                malicious: f[1] == "malicious",
                class: f[2].to_string(),
            }
        })
        .collect()
}

fn rank(level: &str) -> u8 {
    match level {
        "error" => 3,
        "warning" => 2,
        "note" => 1,
        _ => 0,
    }
}

/// Per target: (worst level of any finding on its call, worst level of a finding in its
/// remote files, the error findings).
type Verdicts = BTreeMap<String, (u8, u8, Vec<String>)>;

fn scan_corpus() -> (serde_json::Value, Verdicts) {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["scan", "--offline", "--format", "json", "--mirror"])
        .arg(fixture("adversarial/mirror"))
        .arg("--cache-dir")
        .arg(cache.path())
        .arg(fixture("adversarial/project"))
        .env_remove("HUBWARDEN_MIRROR")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings at error exit 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let by_path: BTreeMap<String, String> = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["repo_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut verdicts = Verdicts::new();
    for f in report["findings"].as_array().unwrap() {
        let Some(repo) = by_path.get(f["path"].as_str().unwrap()) else {
            continue;
        };
        let level = rank(f["level"].as_str().unwrap());
        let v = verdicts.entry(repo.clone()).or_default();
        v.0 = v.0.max(level);
        let ev = &f["evidence"];
        if ev.is_object() {
            v.1 = v.1.max(level);
        }
        if level == 3 {
            v.2.push(format!(
                "{} at {}:{}",
                f["rule_id"].as_str().unwrap(),
                ev["file"].as_str().unwrap_or("call"),
                ev["line"]
            ));
        }
    }
    (report, verdicts)
}

#[test]
fn adversarial_corpus_malicious_fail_the_run_and_benign_do_not() {
    let rows = manifest();
    let malicious = rows.iter().filter(|r| r.malicious).count();
    assert!(malicious >= 60, "{malicious} malicious targets");
    assert!(rows.len() - malicious >= 30, "benign targets");
    let classes: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.malicious)
        .map(|r| r.class.as_str())
        .collect();
    assert!(classes.len() >= 13, "{classes:?}");

    let (report, verdicts) = scan_corpus();
    // Every target is resolved and scanned: a fixture the resolver cannot follow would
    // be an unverified error, which proves nothing about the scan.
    let calls = report["calls"].as_array().unwrap();
    for r in &rows {
        let call = calls
            .iter()
            .find(|c| c["repo_id"] == r.repo.as_str())
            .unwrap_or_else(|| panic!("no call loads {}", r.repo));
        assert_eq!(
            call["target"]["status"], "resolved",
            "{}: {}",
            r.repo, call["target"]
        );
    }

    let none = (0, 0, Vec::new());
    let mut missed = Vec::new();
    let mut silent = Vec::new();
    let mut benign_errors = Vec::new();
    for r in &rows {
        let (call, code, errors) = verdicts.get(&r.repo).unwrap_or(&none);
        if r.malicious {
            if *call < 3 {
                missed.push(format!("{} ({})", r.repo, r.class));
            }
            if *call < 3 && *code == 0 {
                silent.push(r.repo.clone());
            }
        } else if *call == 3 {
            benign_errors.push((r.repo.clone(), errors.clone()));
        }
    }
    let caught = malicious - missed.len();
    let any = malicious - silent.len();
    assert!(
        caught >= FLOOR_AT_ERROR,
        "{caught}/{malicious} malicious at error, below the floor {FLOOR_AT_ERROR}; not at error: {missed:#?}"
    );
    assert!(
        any >= FLOOR_ANY,
        "{any}/{malicious} malicious with any finding, below the floor {FLOOR_ANY}; silent: {silent:#?}"
    );
    let got: Vec<&str> = benign_errors.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        got, BENIGN_AT_ERROR,
        "benign targets at error (update BENIGN_AT_ERROR only when one is fixed): {benign_errors:#?}"
    );
}
