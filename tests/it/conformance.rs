//! Conformance with the hub libraries' own code: one test per library rule,
//! named after the library function it mirrors, with the library file, line
//! and version in its doc comment. When a library changes a rule, the test to
//! update is the one named after it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hubwarden::hub::{HubError, HubOptions, Hubs, RepoSource};
use hubwarden::model::{HubKind, RepoType};

use crate::common::fixture;
use crate::fakehub::{FakeHub, FakeHubOptions, Forced, Quota};

struct Setup {
    fake: FakeHub,
    _cache: tempfile::TempDir,
    opts: HubOptions,
}

async fn setup(fopts: FakeHubOptions) -> Setup {
    let root: PathBuf = fixture("hub");
    let fake = FakeHub::start(root, fopts).await;
    let cache = tempfile::tempdir().unwrap();
    let opts = fake.hub_options(cache.path());
    Setup {
        fake,
        _cache: cache,
        opts,
    }
}

fn count(fake: &FakeHub, needle: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.uri.contains(needle))
        .count()
}

/// huggingface_hub `_http_backoff_base`: a 429 whose `RateLimit` says the
/// window is exhausted (`r=0`) is retried after `t` seconds (+1 for rounding,
/// the fake's margin is 0) (`huggingface_hub/utils/_http.py:527-535,559-560`,
/// 2.4.0).
#[tokio::test(flavor = "multi_thread")]
async fn huggingface_hub_http_backoff_waits_the_ratelimit_reset() {
    let s = setup(FakeHubOptions {
        forced: vec![Forced::new("revision/main", 429).ratelimit(1).times(1)],
        ..Default::default()
    })
    .await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    assert_eq!(snap.resolved_ref, "main");
    assert_eq!(count(&s.fake, "revision/main"), 2, "one 429, one retry");
    assert!(h.rate_limit_waited() >= Duration::from_millis(500));
}

/// huggingface_hub `parse_ratelimit_headers`: the Hub sends `RateLimit` on
/// every answer (`huggingface_hub/utils/_http.py:80-141,969-972`, 2.4.0). An
/// answer that leaves `r=0` holds the next request to that host back until the
/// window resets, so the 429 is never provoked.
#[tokio::test(flavor = "multi_thread")]
async fn huggingface_hub_parse_ratelimit_headers_holds_back_at_r_zero() {
    let s = setup(FakeHubOptions {
        hf_quota: Some(Quota {
            api: 2,
            resolvers: 100,
            window: Duration::from_secs(1),
        }),
        ..Default::default()
    })
    .await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    for (repo, rev) in [
        ("acme/remote-code", None),
        ("acme/remote-code", Some("v0")),
        ("acme/pickled", None),
    ] {
        h.snapshot(HubKind::Huggingface, RepoType::Model, repo, rev)
            .await
            .unwrap_or_else(|e| panic!("{repo}@{rev:?}: {e}"));
    }
    assert_eq!(
        count(&s.fake, "/api/models/"),
        3,
        "no request was refused and repeated"
    );
    assert!(h.rate_limit_waited() > Duration::ZERO);
}

/// The wait a hub states is waited only within `--max-wait`: with no budget
/// left the target fails at once as "rate limited" (the rule; the
/// libraries themselves wait without a bound, `huggingface_hub/utils/_http.py:559-566`).
#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_beyond_max_wait_is_rate_limited_at_once() {
    let mut s = setup(FakeHubOptions {
        hf_quota: Some(Quota {
            api: 1,
            resolvers: 100,
            window: Duration::from_secs(300),
        }),
        ..Default::default()
    })
    .await;
    s.opts.http.max_wait = Duration::ZERO;
    let h = Hubs::new(s.opts.clone()).unwrap();
    h.snapshot(
        HubKind::Huggingface,
        RepoType::Model,
        "acme/remote-code",
        None,
    )
    .await
    .unwrap();
    let e = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/pickled", None)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::RateLimited(_)), "{e}");
    let msg = e.to_string();
    assert!(msg.starts_with("rate limited: "), "{msg}");
    assert!(
        msg.contains("--max-wait 0 s") && msg.contains("token"),
        "{msg}"
    );
    assert_eq!(
        count(&s.fake, "acme/pickled"),
        0,
        "the held-back request is never sent"
    );
}

/// GitHub's primary rate limit: 403 with `X-RateLimit-Remaining: 0` and the
/// reset as epoch seconds in `X-RateLimit-Reset` (GitHub REST docs, "Rate
/// limits for the REST API"; torch.hub calls the same API in
/// `_validate_not_a_forked_repo`). The request is repeated after the reset.
#[tokio::test(flavor = "multi_thread")]
async fn github_primary_rate_limit_waits_for_x_ratelimit_reset() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let s = setup(FakeHubOptions {
        forced: vec![
            Forced::new("branches/main", 403)
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", &(now + 1).to_string())
                .times(1),
        ],
        ..Default::default()
    })
    .await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Github, RepoType::Github, "acme/detect", None)
        .await
        .unwrap();
    assert_eq!(snap.resolved_ref, "main");
    assert_eq!(count(&s.fake, "branches/main"), 2);
}

/// csghub-server `SDKModelInfo` answers a missing model with HTTP 500 and the
/// database's no-rows code `SYS-ERR-3`, and a private one with 500
/// `AUTH-ERR-0` (`component/model.go:770-779`, `api/handler/model_ce.go:51-80`,
/// csghub-server c1ada0e1). Neither is retried: they are answers, not outages.
#[tokio::test(flavor = "multi_thread")]
async fn csghub_sdk_model_info_500_for_missing_and_private_models() {
    let s = setup(FakeHubOptions {
        tokens: [("OpenCSG/csg-coder".to_string(), "csg-tok".to_string())].into(),
        ..Default::default()
    })
    .await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    let e = h
        .snapshot(HubKind::Opencsg, RepoType::Model, "OpenCSG/nope", None)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::NotFound(_)), "{e}");
    assert_eq!(count(&s.fake, "OpenCSG/nope"), 1, "not retried");
    let e = h
        .snapshot(HubKind::Opencsg, RepoType::Model, "OpenCSG/csg-coder", None)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::Unauthorized(_)), "{e}");
    assert_eq!(count(&s.fake, "OpenCSG/csg-coder"), 1, "not retried");
}

// ---------- hub API shapes and credentials, against the conformance mirror ----------

/// The fake hub over `tests/fixtures/conformance` (owners `cf-`).
async fn cf_setup(fopts: FakeHubOptions) -> Setup {
    let fake = FakeHub::start(fixture("conformance"), fopts).await;
    let cache = tempfile::tempdir().unwrap();
    let opts = fake.hub_options(cache.path());
    Setup {
        fake,
        _cache: cache,
        opts,
    }
}

fn cf_commit(rel: &str, r: &str) -> String {
    let refs: BTreeMap<String, String> = serde_json::from_slice(
        &std::fs::read(fixture("conformance").join(rel).join("refs.json")).unwrap(),
    )
    .unwrap();
    refs[r].clone()
}

/// csghub-server `SDKListFiles` names `repo.DefaultBranch` as the `sha` of a
/// dataset (`component/repo.go:1641-1677`, c1ada0e1); `HeadSDKDownload` gives
/// the last commit at the ref in `X-Repo-Commit` (`api/handler/repo.go:1176-1248`).
#[tokio::test(flavor = "multi_thread")]
async fn csghub_sdk_list_files_sha_is_the_default_branch_and_head_gives_the_commit() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Opencsg, RepoType::Dataset, "cf-csg/data", None)
        .await
        .unwrap();
    let commit = cf_commit("opencsg/datasets/cf-csg/data", "main");
    assert_eq!(snap.commit, commit);
    assert_eq!(snap.files, ["README.md", "data.py"]);
    let b = h.read(&snap, "data.py").await.unwrap();
    assert!(String::from_utf8_lossy(&b).contains("# data"));
    let reqs = s.fake.requests();
    let u: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.uri.as_str()))
        .collect();
    assert_eq!(
        u,
        [
            ("GET", "/csg-ep/csg/api/datasets/cf-csg/data/revision/main"),
            (
                "HEAD",
                "/csg-ep/csg/datasets/cf-csg/data/resolve/main/README.md"
            ),
            (
                "GET",
                format!("/csg-ep/csg/api/datasets/cf-csg/data/revision/{commit}").as_str()
            ),
            (
                "GET",
                format!("/csg-ep/csg/datasets/cf-csg/data/resolve/{commit}/data.py").as_str()
            ),
        ]
    );
}

/// modelscope-hub's legacy client sends the token as `Authorization: Bearer`
/// and as the `m_session_id` cookie, "because older endpoints rely on the
/// cookie" (`_legacy_api.py:1-13,199-222`, 0.5.1; the 1.x SDK sent the cookie
/// only). A server that reads only the cookie lets hubwarden in.
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_hub_legacy_client_sends_bearer_and_m_session_id_cookie() {
    let mut s = cf_setup(FakeHubOptions {
        tokens: [("cf-ms/trusty".to_string(), "ms-tok".to_string())].into(),
        modelscope_cookie_only: true,
        ..Default::default()
    })
    .await;
    let anonymous = Hubs::new(s.opts.clone()).unwrap();
    let e = anonymous
        .snapshot(HubKind::Modelscope, RepoType::Model, "cf-ms/trusty", None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, HubError::NotFound(_) | HubError::Unauthorized(_)),
        "{e}"
    );
    s.opts.tokens.set(HubKind::Modelscope, "ms-tok");
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Modelscope, RepoType::Model, "cf-ms/trusty", None)
        .await
        .unwrap();
    h.read(&snap, "model.py").await.unwrap();
    let with_token: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.headers.contains_key("cookie"))
        .collect();
    assert!(with_token.len() >= 3, "{with_token:?}");
    for r in &with_token {
        assert_eq!(r.headers["cookie"], "m_session_id=ms-tok");
        assert_eq!(r.headers["authorization"], "Bearer ms-tok");
    }
}

/// modelscope-hub lists a dataset with `GET /api/v1/datasets/{id}/repo/tree`
/// in `PageNumber`/`PageSize` pages and downloads from `/api/v1/datasets/{id}/repo`
/// (`_legacy_api.py:454-497,699-750,1151-1168`, 0.5.1), not the models API.
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_hub_list_repo_files_pages_dataset_trees() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Modelscope, RepoType::Dataset, "cf-ms/data", None)
        .await
        .unwrap();
    assert_eq!(snap.files, ["README.md", "data.py"]);
    h.read(&snap, "data.py").await.unwrap();
    let u: Vec<String> = s.fake.requests().into_iter().map(|r| r.uri).collect();
    assert!(
        u.iter().all(|u| u.contains("/api/v1/datasets/cf-ms/data/")),
        "{u:?}"
    );
    assert!(
        u.iter()
            .any(|u| u.contains("repo/tree?") && u.contains("PageNumber=1")),
        "{u:?}"
    );
}

/// modelscope-hub: `repo/files` stops at 3000 entries without saying so
/// (`REPO_FILES_TRUNCATION_LIMIT`, `constants.py:629`), so a listing at the cap
/// is walked again folder by folder with `Root=` (`_walk_repo_files`,
/// `_legacy_api.py:531-697`, 0.5.1).
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_hub_walk_repo_files_recovers_a_truncated_listing() {
    let s = cf_setup(FakeHubOptions {
        modelscope_synthetic: Some(("cf-ms/big".to_string(), 4, 1000)),
        ..Default::default()
    })
    .await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Modelscope, RepoType::Model, "cf-ms/big", None)
        .await
        .unwrap();
    assert_eq!(snap.files.len(), 13 + 4000);
    assert!(snap.has("syn3/f999.txt") && snap.has("model.py") && snap.has("d2/f3.txt"));
    let rooted = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.uri.contains("Root="))
        .count();
    assert!(rooted >= 4, "one listing per folder");
}

/// modelscope-hub `resolve_endpoint_for_read`: with no endpoint configured, a
/// repo missing on `modelscope.cn` is read from `www.modelscope.ai`
/// (`api.py:1214-1293`, 0.5.1); with an endpoint configured, only that one.
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_hub_falls_back_to_the_ai_site_when_cn_has_no_repo() {
    let mut s = cf_setup(FakeHubOptions::default()).await;
    let e = Hubs::new(s.opts.clone())
        .unwrap()
        .snapshot(HubKind::Modelscope, RepoType::Model, "cf-ms/only-ai", None)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::NotFound(_)), "{e}");
    s.opts
        .endpoints
        .set_fallback(HubKind::Modelscope, s.fake.modelscope_ai_url());
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Modelscope, RepoType::Model, "cf-ms/only-ai", None)
        .await
        .unwrap();
    let b = h.read(&snap, "model.py").await.unwrap();
    assert!(String::from_utf8_lossy(&b).contains("(.ai)"));
    let last = s.fake.requests().last().unwrap().uri.clone();
    assert!(
        last.starts_with("/ms-ai/api/v1/models/cf-ms/only-ai/repo?"),
        "{last}"
    );
    // What HubOptions sets up from the environment.
    let o = HubOptions::from_vars(|_| None);
    assert_eq!(
        o.endpoints.get(HubKind::Modelscope),
        "https://modelscope.cn"
    );
    assert_eq!(
        o.endpoints.fallback(HubKind::Modelscope),
        Some("https://www.modelscope.ai")
    );
    let o = HubOptions::from_vars(|k| (k == "MODELSCOPE_PREFER_AI_SITE").then(|| "yes".into()));
    assert_eq!(
        o.endpoints.get(HubKind::Modelscope),
        "https://www.modelscope.ai"
    );
    let o = HubOptions::from_vars(|k| (k == "MODELSCOPE_DOMAIN").then(|| "ms.example".into()));
    assert_eq!(o.endpoints.fallback(HubKind::Modelscope), None);
}

/// huggingface_hub `get_token`: `HF_TOKEN`, then `HUGGING_FACE_HUB_TOKEN`,
/// then the file `HF_TOKEN_PATH` (default `$HF_HOME/token`, what `hf auth
/// login` writes) (`utils/_auth.py:60-87,147-156`, `constants.py:158-167,250-258`,
/// 2.4.0). The file's token reaches Hugging Face and no other hub.
#[tokio::test(flavor = "multi_thread")]
async fn huggingface_hub_get_token_reads_hf_token_path_after_the_environment() {
    let s = cf_setup(FakeHubOptions {
        private: [("cf-tf/fast-slow".to_string(), "hf-file-tok".to_string())].into(),
        ..Default::default()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".cache/huggingface")).unwrap();
    std::fs::write(
        home.path().join(".cache/huggingface/token"),
        "hf-file-tok\n",
    )
    .unwrap();
    let vars: BTreeMap<&str, String> = [("HOME", home.path().display().to_string())].into();
    let from_env = HubOptions::from_vars(|k| vars.get(k).cloned());
    let mut opts = s.opts.clone();
    opts.tokens = from_env.tokens.clone();
    let h = Hubs::new(opts).unwrap();
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "cf-tf/fast-slow",
            None,
        )
        .await
        .unwrap();
    h.read(&snap, "tok_fast.py").await.unwrap();
    h.snapshot(HubKind::Modelscope, RepoType::Model, "cf-ms/trusty", None)
        .await
        .unwrap();
    for r in s.fake.requests() {
        let auth = r.headers.get("authorization").map(String::as_str);
        if r.uri.starts_with("/hf/") {
            assert_eq!(auth, Some("Bearer hf-file-tok"), "{}", r.uri);
        } else {
            assert_eq!(auth, None, "{}", r.uri);
        }
    }
    // Without the file the private repo is invisible.
    let e = Hubs::new(s.opts.clone())
        .unwrap()
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "cf-tf/fast-slow",
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::NotFound(_)), "{e}");
}
