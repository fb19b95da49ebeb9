//! The cache that survives runs: PaddleHub module archives cached by
//! (module, version, sha256) so a warm run downloads nothing, checked against
//! their digest on read (a mismatch is refetched and said); and the Action's
//! `cache-dir` restored into a fresh checkout, as `actions/cache` does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hubwarden::hub::{Hubs, RepoSource};
use hubwarden::model::{HubKind, RepoType};

use crate::common::{bin, copy_dir, fixture};
use crate::fakehub::{FakeHub, FakeHubOptions};

const MODULE: &str = "lac_demo";

fn uris(fake: &FakeHub) -> Vec<String> {
    fake.requests().into_iter().map(|r| r.uri).collect()
}

fn archive_downloads(fake: &FakeHub) -> usize {
    uris(fake)
        .iter()
        .filter(|u| u.contains("paddle-archive"))
        .count()
}

/// Every cached archive file under `cache`.
fn cached_archives(cache: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![cache.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "archive") {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_paddlehub_run_downloads_nothing() {
    let fake = FakeHub::start(fixture("hub"), FakeHubOptions::default()).await;
    let cache = tempfile::tempdir().unwrap();
    let opts = fake.hub_options(cache.path());

    // Cold: the search and the archive.
    let h = Hubs::new(opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Paddlehub, RepoType::Module, MODULE, Some("1.1.0"))
        .await
        .unwrap();
    let module_py = h.read(&snap, &snap.files[0]).await.unwrap();
    assert_eq!(archive_downloads(&fake), 1, "{:?}", uris(&fake));
    assert_eq!(cached_archives(cache.path()).len(), 1);
    let digest = snap.commit.split_once("+sha256:").unwrap().1.to_string();
    assert!(
        cached_archives(cache.path())[0].ends_with(format!("1.1.0/{digest}.archive")),
        "{:?}",
        cached_archives(cache.path())
    );

    // Warm, exact version: not one request, the same commit and bytes.
    fake.reset_counts();
    let h2 = Hubs::new(opts.clone()).unwrap();
    let snap2 = h2
        .snapshot(HubKind::Paddlehub, RepoType::Module, MODULE, Some("1.1.0"))
        .await
        .unwrap();
    assert_eq!(snap2.commit, snap.commit);
    assert_eq!(snap2.files, snap.files);
    assert_eq!(*h2.read(&snap2, &snap.files[0]).await.unwrap(), *module_py);
    assert_eq!(fake.request_count(), 0, "{:?}", uris(&fake));
    assert_eq!(h2.stats().http_requests, 0);

    // Warm, newest version: the search names the version, the archive comes
    // from the cache.
    fake.reset_counts();
    let h3 = Hubs::new(opts).unwrap();
    let snap3 = h3
        .snapshot(HubKind::Paddlehub, RepoType::Module, MODULE, None)
        .await
        .unwrap();
    assert_eq!(snap3.commit, snap.commit, "1.1.0 is the newest");
    assert_eq!(archive_downloads(&fake), 0, "{:?}", uris(&fake));
    assert_eq!(fake.request_count(), 1, "{:?}", uris(&fake));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_archive_that_does_not_match_its_digest_is_refetched() {
    let fake = FakeHub::start(fixture("hub"), FakeHubOptions::default()).await;
    let cache = tempfile::tempdir().unwrap();
    let opts = fake.hub_options(cache.path());
    let h = Hubs::new(opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Paddlehub, RepoType::Module, MODULE, Some("1.1.0"))
        .await
        .unwrap();
    let entry = cached_archives(cache.path()).pop().unwrap();
    // A poisoned entry: other bytes under the digest's name.
    let mut evil = std::fs::read(&entry).unwrap();
    evil.extend_from_slice(b"tampered");
    std::fs::write(&entry, &evil).unwrap();

    fake.reset_counts();
    let h2 = Hubs::new(opts).unwrap();
    let snap2 = h2
        .snapshot(HubKind::Paddlehub, RepoType::Module, MODULE, Some("1.1.0"))
        .await
        .unwrap();
    assert_eq!(
        snap2.commit, snap.commit,
        "the tampered bytes were not used"
    );
    assert_eq!(archive_downloads(&fake), 1, "{:?}", uris(&fake));
    // The entry holds the real archive again.
    let fixed = std::fs::read(&entry).unwrap();
    assert_ne!(fixed, evil);
}

/// The fake hub over the fixture mirror, on its own runtime (for tests that
/// run the binary in another process); keep the runtime while the hub is used.
fn fake_hub_on_its_runtime() -> (tokio::runtime::Runtime, FakeHub) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeHub::start(fixture("hub"), FakeHubOptions::default()));
    (rt, fake)
}

/// A project with a pinned Hugging Face load and an exact PaddleHub version.
fn write_project(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("app.py"),
        "import paddlehub as hub\nfrom transformers import AutoModel\n\n\
         lac = hub.Module(name=\"lac_demo\", version=\"1.1.0\")\n\
         model = AutoModel.from_pretrained(\"acme/remote-code\", revision=\"77845868a736f5085b9cd43cc2f52cbfd87e9d36\", trust_remote_code=True)\n",
    )
    .unwrap();
}

/// `hubwarden action` on a push in `ws`, with its default `cache-dir`.
fn action(fake: &FakeHub, ws: &Path, home: &Path) -> Output {
    Command::new(bin())
        .arg("action")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", ws)
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_SHA", "0".repeat(40))
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_OUTPUT", home.join("outputs.txt"))
        .env("GITHUB_STEP_SUMMARY", home.join("summary.md"))
        .env("INPUT_PATH", ".")
        .env("INPUT_UPLOAD-SARIF", "false")
        .env("INPUT_DIFF-BASE", "none")
        .env("HF_ENDPOINT", fake.url(HubKind::Huggingface))
        .env("PADDLEHUB_SERVER", fake.url(HubKind::Paddlehub))
        .current_dir(ws)
        .output()
        .unwrap()
}

/// The requests that fetch content (files, listings, archives), as opposed to
/// the Hub's security status (`securityStatus`, `paths-info`), which is asked
/// on every online run.
fn content_requests(fake: &FakeHub) -> Vec<String> {
    uris(fake)
        .into_iter()
        .filter(|u| !u.contains("securityStatus=") && !u.contains("/paths-info/"))
        .collect()
}

#[test]
fn the_action_cache_restored_into_a_fresh_checkout_makes_a_warm_run() {
    let (_rt, fake) = fake_hub_on_its_runtime();
    let tmp = tempfile::tempdir().unwrap();

    // First job: cold, fills `.hubwarden-cache` in the workspace.
    let ws1 = tmp.path().join("run1");
    write_project(&ws1);
    let home1 = tmp.path().join("home1");
    std::fs::create_dir_all(&home1).unwrap();
    let cold = action(&fake, &ws1, &home1);
    let cold_err = String::from_utf8_lossy(&cold.stderr);
    assert!(cold.status.code().is_some_and(|c| c < 2), "{cold_err}");
    let cold_content = content_requests(&fake);
    assert!(
        cold_content.iter().any(|u| u.contains("paddle-archive")),
        "{cold_content:?}"
    );
    assert!(ws1.join(".hubwarden-cache").is_dir());
    let cold_summary = std::fs::read_to_string(home1.join("summary.md")).unwrap();

    // Second job: a fresh checkout; `actions/cache/restore` puts the saved
    // folder back at the same path before the action runs.
    fake.reset_counts();
    let ws2 = tmp.path().join("run2");
    write_project(&ws2);
    copy_dir(&ws1.join(".hubwarden-cache"), &ws2.join(".hubwarden-cache"));
    let home2 = tmp.path().join("home2");
    std::fs::create_dir_all(&home2).unwrap();
    let warm = action(&fake, &ws2, &home2);
    let warm_err = String::from_utf8_lossy(&warm.stderr);
    assert_eq!(warm.status.code(), cold.status.code(), "{warm_err}");
    assert_eq!(
        content_requests(&fake),
        Vec::<String>::new(),
        "a warm run over pinned loads downloads nothing"
    );
    // Same verdict, same report.
    let warm_summary = std::fs::read_to_string(home2.join("summary.md")).unwrap();
    assert_eq!(warm_summary, cold_summary);
    // The cache is not scanned as the codebase's own code.
    assert!(!warm_summary.contains(".hubwarden-cache"), "{warm_summary}");
}

/// A bad cache entry is said on stderr, with its path and the fix, and the run
/// goes on with a fresh download: never a silent pass.
#[test]
fn bad_cache_entries_are_warnings_with_the_path() {
    let (_rt, fake) = fake_hub_on_its_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let run = || {
        Command::new(bin())
            .args(["check", MODULE, "--hub", "paddlehub", "--revision", "1.1.0"])
            .arg("--cache-dir")
            .arg(&cache)
            .env_clear()
            .env("HOME", tmp.path())
            .env("PADDLEHUB_SERVER", fake.url(HubKind::Paddlehub))
            .output()
            .unwrap()
    };
    let first = run();
    let first_text = String::from_utf8_lossy(&first.stdout).into_owned();
    let entry = cached_archives(&cache).pop().unwrap();
    std::fs::write(&entry, b"not the archive").unwrap();
    std::fs::write(entry.with_file_name("junk.archive"), b"x").unwrap();

    fake.reset_counts();
    let second = run();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!(
            "{}: cache entry does not match its sha256",
            entry.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("junk.archive: malformed cache entry (expected <sha256>.archive)"),
        "{err}"
    );
    assert!(err.contains("Fix: delete it"), "{err}");
    assert!(archive_downloads(&fake) >= 1, "{:?}", uris(&fake));
    // The same report as with a good cache.
    assert_eq!(String::from_utf8_lossy(&second.stdout), first_text);
    assert_eq!(second.status.code(), first.status.code());
}

/// An exact PaddleHub version is a pin: no `remote-code-unpinned`, and the
/// lock records the version with the digest of the archive that was scanned
/// (`1.1.0+sha256:<hex>`), so another archive under the same version is
/// drift. A version range is not a pin.
#[test]
fn an_exact_module_version_is_locked_with_its_archive_digest() {
    let (_rt, fake) = fake_hub_on_its_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("app.py"),
        "import paddlehub as hub\n\n\
         exact = hub.Module(name=\"lac_demo\", version=\"1.1.0\")\n\
         ranged = hub.Module(name=\"lac_demo\", version=\">=1.0.0\")\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["scan", "--format", "json", "--write-lock", "--cache-dir"])
        .arg(tmp.path().join("cache"))
        .arg(&project)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", tmp.path())
        .env("PADDLEHUB_SERVER", fake.url(HubKind::Paddlehub))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let rules = |line: u64| crate::kernels::rules_at(&report, line);
    assert!(
        !rules(3).contains(&"remote-code-unpinned".to_string()),
        "{report}"
    );
    assert!(
        rules(4).contains(&"remote-code-unpinned".to_string()),
        "{report}"
    );
    let exact = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["line"] == 3)
        .unwrap();
    let commit = exact["target"]["commit"].as_str().unwrap();
    let digest = commit
        .strip_prefix("1.1.0+sha256:")
        .unwrap_or_else(|| panic!("{commit}"));
    assert!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{commit}"
    );
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join(".hubwarden.lock")).unwrap())
            .unwrap();
    let entry = lock["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["revision"] == "1.1.0")
        .unwrap_or_else(|| panic!("{lock}"));
    assert_eq!(entry["commit"], commit);
}

/// Every cache entry under `cache` whose path ends with `tail`.
fn cache_entries(cache: &Path, tail: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![cache.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(tail) {
                out.push(p);
            }
        }
    }
    out
}

/// A cached file or listing is checked against the SHA-256 its entry records:
/// the payload swapped for harmless code, or taken out of the cached listing,
/// is a warning naming the entry, the file is fetched again, and the verdict
/// is the one a cold run gives.
#[test]
fn a_cached_file_or_listing_that_does_not_match_its_digest_is_refetched() {
    let (_rt, fake) = fake_hub_on_its_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    const COMMIT: &str = "77845868a736f5085b9cd43cc2f52cbfd87e9d36";
    let run = || {
        Command::new(bin())
            .args(["check", "acme/remote-code", "--revision", COMMIT])
            .arg("--cache-dir")
            .arg(&cache)
            .env_clear()
            .env("HOME", tmp.path())
            .env("HF_ENDPOINT", fake.url(HubKind::Huggingface))
            .output()
            .unwrap()
    };
    let cold = run();
    let cold_text = String::from_utf8_lossy(&cold.stdout).into_owned();
    assert!(cold_text.contains("modeling_acme.py"), "{cold_text}");
    assert_eq!(cold.status.code(), Some(1), "{cold_text}");

    // Warm and untouched: no content request at all.
    fake.reset_counts();
    let warm = run();
    assert_eq!(content_requests(&fake), Vec::<String>::new());
    assert_eq!(String::from_utf8_lossy(&warm.stdout), cold_text);

    let one = |tail: &str| {
        let found = cache_entries(&cache, tail);
        assert_eq!(found.len(), 1, "{tail}: {:?}", cache_entries(&cache, ""));
        found[0].clone()
    };
    let entry = one("/modeling_acme.py");
    let listing = one(&format!("/{COMMIT}.json"));
    // The header kept, the body swapped: what a hand edit or a poisoned
    // restore would leave.
    let framed = std::fs::read_to_string(&entry).unwrap();
    let (header, body) = framed.split_once('\n').unwrap();
    assert!(body.contains("os.system"), "{body}");
    std::fs::write(&entry, format!("{header}\nclass AcmeModel:\n    pass\n")).unwrap();
    let framed = std::fs::read_to_string(&listing).unwrap();
    assert!(framed.contains("\"modeling_acme.py\","), "{framed}");
    std::fs::write(&listing, framed.replace("\"modeling_acme.py\",", "")).unwrap();

    fake.reset_counts();
    let again = run();
    let err = String::from_utf8_lossy(&again.stderr);
    for p in [&entry, &listing] {
        assert!(
            err.contains(&format!(
                "{}: cache entry does not match its sha256",
                p.display()
            )),
            "{err}"
        );
    }
    let fetched = content_requests(&fake);
    assert!(
        fetched.iter().any(|u| u.ends_with("/modeling_acme.py")),
        "the file is fetched again: {fetched:?}"
    );
    assert!(
        fetched
            .iter()
            .any(|u| u.contains("/api/models/acme/remote-code")),
        "the listing is fetched again: {fetched:?}"
    );
    assert_eq!(String::from_utf8_lossy(&again.stdout), cold_text);
    assert_eq!(again.status.code(), cold.status.code());
    // The entries hold the real content again.
    assert!(
        std::fs::read_to_string(&entry)
            .unwrap()
            .contains("os.system")
    );

    // An entry with no header at all (a cache from before digests, or a
    // truncated write) is malformed: said, with the fix, and refetched.
    std::fs::write(&entry, "class AcmeModel:\n    pass\n").unwrap();
    fake.reset_counts();
    let raw = run();
    let err = String::from_utf8_lossy(&raw.stderr);
    assert!(
        err.contains(&format!(
            "{}: malformed cache entry (no digest header)",
            entry.display()
        )) && err.contains("Fix: delete it"),
        "{err}"
    );
    assert!(
        content_requests(&fake)
            .iter()
            .any(|u| u.ends_with("/modeling_acme.py"))
    );
    assert_eq!(String::from_utf8_lossy(&raw.stdout), cold_text);
}

/// In the Action a bad entry of the restored cache is an annotation on that
/// entry (a log line alone is easy to miss), and the run reports what a good
/// cache gives.
#[test]
fn the_action_annotates_a_bad_restored_cache_entry_and_refetches_it() {
    let (_rt, fake) = fake_hub_on_its_runtime();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    write_project(&ws);
    let home1 = tmp.path().join("home1");
    std::fs::create_dir_all(&home1).unwrap();
    let cold = action(&fake, &ws, &home1);
    assert!(
        cold.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&cold.stderr)
    );
    let cold_summary = std::fs::read_to_string(home1.join("summary.md")).unwrap();
    let cache = ws.join(".hubwarden-cache");
    let entries = cache_entries(&cache, "/modeling_acme.py");
    assert_eq!(entries.len(), 1, "{:?}", cache_entries(&cache, ""));
    let framed = std::fs::read_to_string(&entries[0]).unwrap();
    let (header, _) = framed.split_once('\n').unwrap();
    std::fs::write(
        &entries[0],
        format!("{header}\nclass AcmeModel:\n    pass\n"),
    )
    .unwrap();

    fake.reset_counts();
    let home2 = tmp.path().join("home2");
    std::fs::create_dir_all(&home2).unwrap();
    let warm = action(&fake, &ws, &home2);
    let out = String::from_utf8_lossy(&warm.stdout);
    let rel = entries[0].strip_prefix(&ws).unwrap().display().to_string();
    assert!(
        out.contains(&format!(
            "::warning file={rel},title=hubwarden cache::cache entry does not match its sha256"
        )),
        "{out}"
    );
    assert!(
        content_requests(&fake)
            .iter()
            .any(|u| u.ends_with("/modeling_acme.py")),
        "{:?}",
        content_requests(&fake)
    );
    assert_eq!(warm.status.code(), cold.status.code());
    assert_eq!(
        std::fs::read_to_string(home2.join("summary.md")).unwrap(),
        cold_summary
    );
}
