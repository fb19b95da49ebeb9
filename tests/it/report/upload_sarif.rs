//! The SARIF upload to code scanning, against the fake GitHub API.

use super::*;

fn target() -> UploadTarget {
    UploadTarget {
        repo: "octo/app".into(),
        commit_sha: "a".repeat(40),
        git_ref: "refs/pull/7/merge".into(),
    }
}

fn fast() -> UploadOptions {
    UploadOptions {
        poll_interval: Duration::from_millis(1),
        ..Default::default()
    }
}

fn sample_sarif() -> String {
    let (report, rules) = build(&Config::default());
    report::render(ScanFormat::Sarif, &report, &rules, &opts())
}

#[tokio::test]
async fn upload_sends_gzip_base64_and_polls_until_complete() {
    let fake = FakeGithub::new(Answer::Accept(vec!["pending", "pending", "complete"]));
    let base = fakegithub::serve(fakegithub::sarif_router(fake.clone())).await;
    let sarif = sample_sarif();
    let res = upload::upload(&sarif, &target(), &base, "tok123", &fast())
        .await
        .unwrap();
    assert_eq!(res.processing_status, "complete");
    assert_eq!(res.sarif_id, "47177e22-5596-11eb-80a1-c1e54ef945c6");
    assert_eq!(*fake.polls.lock().unwrap(), 3);

    let ups = fake.uploads.lock().unwrap();
    assert_eq!(ups.len(), 1);
    let up = &ups[0];
    assert_eq!((up.owner.as_str(), up.repo.as_str()), ("octo", "app"));
    assert_eq!(up.authorization.as_deref(), Some("Bearer tok123"));
    assert_eq!(up.body["commit_sha"], "a".repeat(40));
    assert_eq!(up.body["ref"], "refs/pull/7/merge");
    assert_eq!(up.body["tool_name"], "hubwarden");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(up.body["sarif"].as_str().unwrap())
        .unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut json)
        .unwrap();
    assert_eq!(json, sarif);
}

#[tokio::test]
async fn upload_403_names_the_cause_and_the_fix() {
    let fake = FakeGithub::new(Answer::Forbidden);
    let base = fakegithub::serve(fakegithub::sarif_router(fake)).await;
    let e = upload::upload("{}", &target(), &base, "t", &fast())
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::Forbidden { .. }));
    let msg = e.to_string();
    assert!(msg.contains("Advanced Security must be enabled"), "{msg}");
    assert!(
        msg.contains("fork") && msg.contains("security-events: write"),
        "{msg}"
    );
}

#[tokio::test]
async fn upload_413_and_failed_processing() {
    let fake = FakeGithub::new(Answer::TooLarge);
    let base = fakegithub::serve(fakegithub::sarif_router(fake)).await;
    let e = upload::upload("{}", &target(), &base, "t", &fast())
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("10 MB"));

    let fake = FakeGithub::new(Answer::Accept(vec!["pending", "failed"]));
    let base = fakegithub::serve(fakegithub::sarif_router(fake)).await;
    let e = upload::upload("{}", &target(), &base, "t", &fast())
        .await
        .unwrap_err();
    match &e {
        UploadError::ProcessingFailed { errors, .. } => {
            assert_eq!(
                errors,
                &vec!["locationFromSarifResult: expected artifact location".to_string()]
            );
        }
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().contains("expected artifact location"));
}

#[test]
fn upload_target_from_flags_and_actions_env() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 42, "merge_commit_sha": "ffffffffffffffffffffffffffffffffffffffff"}}"#).unwrap();
    let mut env: HashMap<&str, String> = HashMap::new();
    env.insert("GITHUB_REPOSITORY", "octo/app".into());
    env.insert("GITHUB_SHA", "b".repeat(40));
    env.insert("GITHUB_REF", "refs/pull/42/merge".into());
    env.insert("GITHUB_EVENT_NAME", "pull_request".into());
    env.insert("GITHUB_EVENT_PATH", event.to_string_lossy().into());
    let get = |k: &str| env.get(k).cloned();
    let t = upload::resolve_target(&GithubArgs::default(), &get).unwrap();
    assert_eq!(t.repo, "octo/app");
    assert_eq!(t.git_ref, "refs/pull/42/merge");
    assert_eq!(t.commit_sha, "b".repeat(40));

    // Flags win.
    let args = GithubArgs {
        repo: Some("x/y".into()),
        commit: Some("c".repeat(40)),
        git_ref: Some("refs/heads/main".into()),
    };
    let t = upload::resolve_target(&args, &get).unwrap();
    assert_eq!(
        (t.repo.as_str(), t.git_ref.as_str()),
        ("x/y", "refs/heads/main")
    );

    // pull_request_target: the PR head ref and sha, not the base's GITHUB_SHA.
    std::fs::write(
        &event,
        format!(
            r#"{{"pull_request": {{"number": 42, "head": {{"sha": "{}"}}}}}}"#,
            "d".repeat(40)
        ),
    )
    .unwrap();
    env.insert("GITHUB_EVENT_NAME", "pull_request_target".into());
    let get = |k: &str| env.get(k).cloned();
    let t = upload::resolve_target(&GithubArgs::default(), &get).unwrap();
    assert_eq!(
        (t.git_ref.as_str(), t.commit_sha.clone()),
        ("refs/pull/42/head", "d".repeat(40))
    );

    // A push: GITHUB_REF as is.
    env.insert("GITHUB_EVENT_NAME", "push".into());
    env.insert("GITHUB_REF", "refs/heads/dev".into());
    let get = |k: &str| env.get(k).cloned();
    assert_eq!(
        upload::resolve_target(&GithubArgs::default(), &get)
            .unwrap()
            .git_ref,
        "refs/heads/dev"
    );

    // Nothing known: a clear error.
    let none = |_: &str| None;
    let e = upload::resolve_target(&GithubArgs::default(), &none).unwrap_err();
    assert!(e.to_string().contains("GITHUB_REPOSITORY"));
    let bad = GithubArgs {
        repo: Some("../x".into()),
        ..args
    };
    assert!(upload::resolve_target(&bad, &none).is_err());
}

#[test]
fn upload_command_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.sarif");
    std::fs::write(&file, sample_sarif()).unwrap();
    let run = |base: &str, file: &Path| {
        std::process::Command::new(common::bin())
            .args(["upload"])
            .arg(file)
            .args([
                "--repo",
                "octo/app",
                "--commit",
                &"a".repeat(40),
                "--ref",
                "refs/heads/main",
            ])
            .env("GITHUB_API_URL", base)
            .env("GITHUB_TOKEN", "tok")
            .env_remove("GITHUB_EVENT_NAME")
            .output()
            .unwrap()
    };
    let ok = fakegithub::serve_blocking(fakegithub::sarif_router(FakeGithub::new(Answer::Accept(
        vec!["complete"],
    ))));
    let out = run(&ok, &file);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let forbidden =
        fakegithub::serve_blocking(fakegithub::sarif_router(FakeGithub::new(Answer::Forbidden)));
    let out = run(&forbidden, &file);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));

    let out = run(&ok, &dir.path().join("missing.sarif"));
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn blocking_upload_works_inside_a_runtime() {
    // `scan --upload` may run inside the pipeline's runtime.
    let base = fakegithub::serve_blocking(fakegithub::sarif_router(FakeGithub::new(
        Answer::Accept(vec!["complete"]),
    )));
    let args = GithubArgs {
        repo: Some("octo/app".into()),
        commit: Some("a".repeat(40)),
        git_ref: Some("refs/heads/main".into()),
    };
    let env = |k: &str| match k {
        "GITHUB_API_URL" => Some(base.clone()),
        "GITHUB_TOKEN" => Some("t".to_string()),
        _ => None,
    };
    let res = upload::upload_sarif_text(&sample_sarif(), &args, &env, &fast()).unwrap();
    assert_eq!(res.processing_status, "complete");
    // A remote URI in a location is refused before any request.
    let bad = sample_sarif().replacen(
        "\"uri\": \"app/train.py\"",
        "\"uri\": \"https://huggingface.co/acme/chat/modeling_chat.py\"",
        1,
    );
    let e = upload::upload_sarif_text(&bad, &args, &env, &fast()).unwrap_err();
    assert!(e.to_string().contains("non-file URI scheme"), "{e}");
    // No token: a clear error before any request.
    let no_token = |k: &str| (k == "GITHUB_API_URL").then(|| base.clone());
    let e = upload::upload_sarif_text("{}", &args, &no_token, &fast()).unwrap_err();
    assert!(e.to_string().contains("GITHUB_TOKEN"), "{e}");
}
