//! Progress on stderr (`--progress`, `--quiet`): the binary on a stderr that
//! is not a terminal prints plain status lines whose figures match the report,
//! and stdout stays the report alone. The timing (nothing before 2 s, a line
//! per interval) is tested with a fake clock in `src/progress.rs`.

use std::path::Path;
use std::process::{Command, Output};

use hubwarden::model::HubKind;

use crate::common::{bin, fixture};
use crate::fakehub::{FakeHub, FakeHubOptions};

fn fake_hub_on_its_runtime() -> (tokio::runtime::Runtime, FakeHub) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeHub::start(fixture("hub"), FakeHubOptions::default()));
    (rt, fake)
}

/// Two calls of one remote-code model (one target), and a file without loads.
fn project(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let load = "AutoModel.from_pretrained(\"acme/remote-code\", revision=\"77845868a736f5085b9cd43cc2f52cbfd87e9d36\", trust_remote_code=True)";
    std::fs::write(
        dir.join("app.py"),
        format!("from transformers import AutoModel\n\na = {load}\nb = {load}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("util.py"), "def f():\n    return 1\n").unwrap();
}

fn scan(fake: &FakeHub, proj: &Path, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .arg("scan")
        .arg(proj)
        .args(["--format", "json", "--cache-dir"])
        .arg(home.join("cache"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("HF_ENDPOINT", fake.url(HubKind::Huggingface))
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// `done in 0.4 s: 2 files, 1 targets, 9 requests, 12.3 kB` -> (files, targets, requests).
fn last_line(stderr: &str) -> (u64, u64, u64) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("hubwarden: done in "))
        .collect();
    assert_eq!(lines.len(), 1, "one last line: {stderr}");
    let (_, figures) = lines[0].split_once(" s: ").unwrap();
    let n: Vec<u64> = figures
        .split(", ")
        .take(3)
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let units: Vec<&str> = figures
        .split(", ")
        .map(|part| part.split_once(' ').unwrap().1)
        .collect();
    assert_eq!(units[..3], ["files", "targets", "requests"], "{stderr}");
    assert!(
        ["B", "kB", "MB"].contains(&units[3]),
        "bytes received: {stderr}"
    );
    (n[0], n[1], n[2])
}

#[test]
fn progress_always_prints_plain_lines_on_stderr_and_stdout_stays_json() {
    let (_rt, fake) = fake_hub_on_its_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj);
    let out = scan(&fake, &proj, tmp.path(), &["--progress", "always"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some_and(|c| c < 2), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON report ({e}): {stderr}"));
    let (files, targets, requests) = last_line(&stderr);
    assert_eq!((files, targets), (2, 1), "{stderr}");
    // The same requests the report counts, sent to the fake hub.
    assert_eq!(
        Some(requests),
        report["stats"]["http_requests"].as_u64(),
        "{stderr}"
    );
    assert!(requests > 0 && requests as usize <= fake.requests().len());
    assert!(
        !stderr.contains('\u{1b}'),
        "plain lines for a log: {stderr:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hubwarden: "));
}

#[test]
fn the_environment_asks_for_progress_and_quiet_silences_it_and_the_status_lines() {
    let (_rt, fake) = fake_hub_on_its_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj);
    let baseline = tmp.path().join("baseline.json");
    let baseline = baseline.to_str().unwrap();
    let always = [("HUBWARDEN_PROGRESS", "always")];

    let loud = scan(
        &fake,
        &proj,
        tmp.path(),
        &["--write-baseline", baseline],
        &always,
    );
    let loud_err = String::from_utf8_lossy(&loud.stderr);
    assert_eq!(last_line(&loud_err).1, 1, "{loud_err}");
    assert!(loud_err.contains("to the baseline"), "{loud_err}");

    for flag in ["--quiet", "-q"] {
        let quiet = scan(
            &fake,
            &proj,
            tmp.path(),
            &[flag, "--write-baseline", baseline],
            &always,
        );
        let quiet_err = String::from_utf8_lossy(&quiet.stderr);
        assert!(quiet.status.code().is_some_and(|c| c < 2), "{quiet_err}");
        assert!(!quiet_err.contains("done in"), "{flag}: {quiet_err}");
        assert!(
            !quiet_err.contains("to the baseline"),
            "{flag}: {quiet_err}"
        );
        serde_json::from_slice::<serde_json::Value>(&quiet.stdout).unwrap();
    }
    let never = scan(&fake, &proj, tmp.path(), &["--progress", "never"], &always);
    assert!(!String::from_utf8_lossy(&never.stderr).contains("done in"));
}
