//! `--diff-base` and the lock file: which calls a change brings.

use super::*;

/// A stand-in for discovery: one call per `from_pretrained("...")` line.
fn fake_discover(root: &Path) -> anyhow::Result<Vec<LoadSite>> {
    let re = regex::Regex::new(r#"(\w+\.from_pretrained)\("([^"]+)"(.*)\)"#).unwrap();
    let rev_re = regex::Regex::new(r#"revision="([^"]+)""#).unwrap();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let p = entry?.path();
        if p.extension().is_none_or(|e| e != "py") {
            continue;
        }
        let rel = p.file_name().unwrap().to_string_lossy().to_string();
        for (i, line) in std::fs::read_to_string(&p)?.lines().enumerate() {
            if let Some(c) = re.captures(line) {
                let revision = rev_re.captures(line).map(|r| r[1].to_string());
                out.push(LoadSite {
                    path: rel.clone(),
                    line: i as u32 + 1,
                    column: c.get(1).unwrap().start() as u32 + 1,
                    cell: None,
                    end_line: i as u32 + 1,
                    platform: Platform::Huggingface,
                    family: Family::Transformers,
                    api: "transformers.AutoModel.from_pretrained".into(),
                    repo_id: Some(c[2].to_string()),
                    repo_type: RepoType::Model,
                    pinned: revision.as_ref().is_some_and(|r| r.len() == 40),
                    revision,
                    gate: if line.contains("trust_remote_code=True") {
                        "true"
                    } else {
                        "absent"
                    }
                    .into(),
                    resolution: "literal".into(),
                    args: BTreeMap::new(),
                    source_line: line.trim().to_string(),
                    suppress: None,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    Ok(out)
}

#[test]
fn diff_base_keeps_added_and_changed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    std::fs::write(
        root.join("a.py"),
        "m1 = AutoModel.from_pretrained(\"acme/one\", trust_remote_code=True)\n\
         m2 = AutoModel.from_pretrained(\"acme/two\", revision=\"v1\", trust_remote_code=True)\n\
         m3 = AutoModel.from_pretrained(\"acme/three\", trust_remote_code=True)\n",
    )
    .unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "base"]);
    // The change: lines shift, one call edited (v2), one added, one unchanged.
    std::fs::write(
        root.join("a.py"),
        "import os\n\n\
         m1 = AutoModel.from_pretrained(\"acme/one\", trust_remote_code=True)\n\
         m2 = AutoModel.from_pretrained(\"acme/two\", revision=\"v2\", trust_remote_code=True)\n\
         m3 = AutoModel.from_pretrained(\"acme/three\", trust_remote_code=True)\n\
         m4 = AutoModel.from_pretrained(\"acme/four\", trust_remote_code=True)\n",
    )
    .unwrap();
    git(root, &["commit", "-qam", "change"]);

    let current: Vec<CallReport> = fake_discover(root)
        .unwrap()
        .into_iter()
        .map(|site| CallReport { site, target: None })
        .collect();
    let out = diff_base::changed_calls(root, "HEAD~1", &current, &fake_discover, &HashMap::new())
        .unwrap();
    let kept: Vec<&str> = out
        .kept
        .iter()
        .map(|c| c.site.repo_id.as_deref().unwrap())
        .collect();
    assert_eq!(kept, vec!["acme/two", "acme/four"]);
    assert_eq!(out.unchanged, 2);

    // acme/three resolved to another commit at the base: it is kept too.
    let mut current = current;
    let mut target_of = |repo: &str, commit: &str| {
        let c = current
            .iter_mut()
            .find(|c| c.site.repo_id.as_deref() == Some(repo))
            .unwrap();
        c.target = Some(
            serde_json::from_value(serde_json::json!({
                "status": "resolved", "reason": null, "hub": "huggingface", "repo_id": repo,
                "repo_type": "model", "commit": commit, "files": []
            }))
            .unwrap(),
        );
    };
    target_of("acme/three", &"b".repeat(40));
    target_of("acme/one", &"a".repeat(40));
    let base = diff_base::base_calls(root, "HEAD~1", &fake_discover).unwrap();
    let mut commits = HashMap::new();
    for (key, site) in &base.sites {
        let commit = if site.repo_id.as_deref() == Some("acme/three") {
            "c".repeat(40)
        } else {
            "a".repeat(40)
        };
        commits.insert(key.clone(), commit);
    }
    let out = diff_base::changed_calls(root, "HEAD~1", &current, &fake_discover, &commits).unwrap();
    let kept: Vec<&str> = out
        .kept
        .iter()
        .map(|c| c.site.repo_id.as_deref().unwrap())
        .collect();
    assert_eq!(kept, vec!["acme/two", "acme/three", "acme/four"]);

    // Scanning a sub-folder: the base tree is that sub-folder too; a sub-folder
    // that did not exist at the base makes every call new.
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(
        root.join("sub/b.py"),
        "m = AutoModel.from_pretrained(\"acme/sub\", trust_remote_code=True)\n",
    )
    .unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-qm", "sub"]);
    let sub = root.join("sub");
    let cur: Vec<CallReport> = fake_discover(&sub)
        .unwrap()
        .into_iter()
        .map(|site| CallReport { site, target: None })
        .collect();
    let out =
        diff_base::changed_calls(&sub, "HEAD~1", &cur, &fake_discover, &HashMap::new()).unwrap();
    assert_eq!(out.kept.len(), 1);
    let out =
        diff_base::changed_calls(&sub, "HEAD", &cur, &fake_discover, &HashMap::new()).unwrap();
    assert_eq!((out.kept.len(), out.unchanged), (0, 1));

    // A missing base is an error that says what to do.
    let e = diff_base::changed_calls(
        root,
        "no-such-ref",
        &current,
        &fake_discover,
        &HashMap::new(),
    )
    .unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("no-such-ref is not a commit of this checkout"),
        "{e}"
    );
    assert!(e.contains("fetch-depth: 0"), "{e}");
    // Outside a git repository: said so, not git's raw message.
    let plain = tempfile::tempdir().unwrap();
    let e = diff_base::changed_calls(
        plain.path(),
        "HEAD",
        &current,
        &fake_discover,
        &HashMap::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("is not inside a git repository"), "{e}");
}

#[test]
fn diff_base_findings_and_outcome_helpers() {
    let (report, _) = build(&Config::default());
    let kept: Vec<CallReport> = report
        .calls
        .iter()
        .filter(|c| c.site.path == "data/load.py")
        .cloned()
        .collect();
    let fs = diff_base::retain_findings(report.findings.clone().unwrap(), &kept);
    assert!(!fs.is_empty());
    assert!(fs.iter().all(|f| f.path == "data/load.py"));
    let s = report.summary.unwrap();
    assert_eq!(policy::outcome(&s), hubwarden::Outcome::Findings);
    let clean = policy::summarize(&report.calls, &[], 0, 0, Level::Error);
    assert_eq!(policy::outcome(&clean), hubwarden::Outcome::Clean);
}

/// `scan --diff-base` through the binary: the repo ids in the JSON output.
fn diff_scan(repo: &Path, mirror: &Path, extra: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(common::bin())
        .args(["scan", "--offline", "--format", "json", "--mirror"])
        .arg(mirror)
        .arg("--cache-dir")
        .arg(repo.join(".cache-hw"))
        .args(extra)
        .arg(repo)
        .env_remove("HUBWARDEN_MIRROR")
        .env_remove("HUBWARDEN_CACHE_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["repo_id"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn diff_base_reports_an_unchanged_call_whose_locked_commit_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join(".gitignore"), ".cache-hw/\n").unwrap();
    std::fs::write(
        repo.join("app.py"),
        "from transformers import AutoModelForCausalLM\n\nm = AutoModelForCausalLM.from_pretrained(\"acme/chat-7b\", trust_remote_code=True)\n",
    )
    .unwrap();
    // A mirror whose `main` can be moved to a second commit with the same files.
    let mirror = tmp.path().join("mirror");
    let chat = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/mirror/huggingface/models/acme/chat-7b");
    common::copy_dir(&chat, &mirror.join("huggingface/models/acme/chat-7b"));
    let refs = mirror.join("huggingface/models/acme/chat-7b/refs.json");
    let first: Value = serde_json::from_str(&std::fs::read_to_string(&refs).unwrap()).unwrap();
    let first = first["main"].as_str().unwrap().to_string();
    let moved = "1111111111111111111111111111111111111111";
    common::copy_dir(
        &mirror.join("huggingface/models/acme/chat-7b").join(&first),
        &mirror.join("huggingface/models/acme/chat-7b").join(moved),
    );

    git(&repo, &["init", "-q"]);
    assert_eq!(
        diff_scan(&repo, &mirror, &["--write-lock"]),
        ["acme/chat-7b"]
    );
    let lock = std::fs::read_to_string(repo.join(".hubwarden.lock")).unwrap();
    assert!(lock.contains(&first), "{lock}");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);

    // Nothing changed: the PR check reports nothing.
    assert!(diff_scan(&repo, &mirror, &["--diff-base", "HEAD"]).is_empty());
    // The same call text, but `main` now resolves elsewhere: reported.
    std::fs::write(&refs, format!("{{\"main\": \"{moved}\"}}\n")).unwrap();
    assert_eq!(
        diff_scan(&repo, &mirror, &["--diff-base", "HEAD"]),
        ["acme/chat-7b"]
    );
}
