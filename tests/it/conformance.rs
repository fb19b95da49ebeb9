//! Conformance with the hub libraries' own code: one test per library rule,
//! named after the library function it mirrors, with the library file, line
//! and version in its doc comment. When a library changes a rule, the test to
//! update is the one named after it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hubwarden::deps::{Assume, Declared};
use hubwarden::hub::{HubError, HubOptions, Hubs, RepoSource};
use hubwarden::model::{Family, HubKind, LoadSite, Platform, RepoType, Target};
use hubwarden::resolve::{ResolveOptions, resolve_all};

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
/// libraries themselves wait without a bound, `huggingface_hub/utils/_http.py:559-566`, 2.4.0).
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
/// limits for the REST API", API version 2022-11-28; torch.hub calls the same API in
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

// ---------- resolution rules, against the conformance mirror ----------

fn site(platform: Platform, api: &str, repo: &str, gate: &str) -> LoadSite {
    LoadSite {
        path: "app.py".into(),
        line: 1,
        column: 1,
        cell: None,
        end_line: 1,
        platform,
        api: api.into(),
        family: Family::of_api(api),
        repo_id: Some(repo.to_string()),
        repo_type: RepoType::Model,
        revision: None,
        pinned: false,
        gate: gate.into(),
        resolution: "literal".into(),
        args: BTreeMap::new(),
        source_line: String::new(),
        suppress: None,
    }
}

fn hf(api: &str, repo: &str, gate: &str) -> LoadSite {
    site(Platform::Huggingface, api, repo, gate)
}

fn arg(mut s: LoadSite, k: &str, v: &str) -> LoadSite {
    s.args.insert(k.into(), v.into());
    s
}

fn assume(specs: &[&str]) -> ResolveOptions {
    let assumes: Vec<Assume> = specs.iter().map(|s| s.parse().unwrap()).collect();
    ResolveOptions {
        declared: Arc::new(Declared::assumed_only(&assumes)),
        ..ResolveOptions::default()
    }
}

async fn resolve(s: &Setup, site: LoadSite, opts: &ResolveOptions) -> Target {
    let hubs = Hubs::new(s.opts.clone()).unwrap();
    let mut v = resolve_all(&hubs, &[site], opts).await;
    v.remove(0)
}

/// `repo:path` of every listed file, sorted.
fn listed(t: &Target) -> Vec<String> {
    let mut v: Vec<String> = t
        .files
        .iter()
        .map(|f| format!("{}:{}", f.repo_id, f.path))
        .collect();
    v.sort();
    v
}

/// transformers 5 `AutoTokenizer.from_pretrained` pops `use_fast` and takes
/// the fast class (index 1) whenever it is set (`models/auto/tokenization_auto.py:751-752,950-956`,
/// 5.25.0); transformers 4 honours `use_fast=False` (`tokenization_auto.py:1038,1109-1112`, 4.57.1).
#[tokio::test(flavor = "multi_thread")]
async fn transformers_auto_tokenizer_v5_ignores_use_fast() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = arg(
        hf(
            "transformers.AutoTokenizer.from_pretrained",
            "cf-tf/fast-slow",
            "true",
        ),
        "use_fast",
        "False",
    );
    let t = resolve(&s, call.clone(), &assume(&["transformers==5.25.0"])).await;
    assert_eq!(listed(&t), ["cf-tf/fast-slow:tok_fast.py"]);
    let t = resolve(&s, call.clone(), &assume(&["transformers==4.57.1"])).await;
    assert_eq!(listed(&t), ["cf-tf/fast-slow:tok_slow.py"]);
    // Undeclared: either major may be installed, both files may run.
    let t = resolve(&s, call, &ResolveOptions::default()).await;
    assert_eq!(
        listed(&t),
        ["cf-tf/fast-slow:tok_fast.py", "cf-tf/fast-slow:tok_slow.py"]
    );
}

/// transformers `AutoImageProcessor.from_pretrained`: with no
/// `image_processor_type` in preprocessor_config.json, config.json's
/// `auto_map.AutoImageProcessor` replaces the preprocessor's ref
/// (`models/auto/image_processing_auto.py:673-701`, 5.25.0). A benign
/// preprocessor ref cannot hide the module that runs.
#[tokio::test(flavor = "multi_thread")]
async fn transformers_auto_image_processor_config_json_auto_map_overrides_the_preprocessor() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let t = resolve(
        &s,
        hf(
            "transformers.AutoImageProcessor.from_pretrained",
            "cf-tf/imgproc-override",
            "true",
        ),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(listed(&t), ["cf-tf/imgproc-override:cfg_proc.py"]);
}

/// transformers `_resolve_backend` / `_resolve_auto_map_class_ref`: `use_fast`
/// picks torchvision or pil, else torchvision when installed, and a backend
/// dict is read by that key (`models/auto/image_processing_auto.py:341-365,482-498`,
/// 5.25.0). Whether torchvision is installed is not known: both may run.
#[tokio::test(flavor = "multi_thread")]
async fn transformers_auto_image_processor_backend_follows_use_fast() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let base = hf(
        "transformers.AutoImageProcessor.from_pretrained",
        "cf-tf/imgproc-backends",
        "true",
    );
    let t = resolve(&s, base.clone(), &ResolveOptions::default()).await;
    assert_eq!(
        listed(&t),
        [
            "cf-tf/imgproc-backends:pil_proc.py",
            "cf-tf/imgproc-backends:tv_proc.py"
        ]
    );
    let t = resolve(
        &s,
        arg(base.clone(), "use_fast", "False"),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(listed(&t), ["cf-tf/imgproc-backends:pil_proc.py"]);
    let t = resolve(
        &s,
        arg(base, "backend", "torchvision"),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(listed(&t), ["cf-tf/imgproc-backends:tv_proc.py"]);
}

/// transformers `pipeline()` loads, per pipeline class, the tokenizer, image
/// processor, feature extractor, processor and video processor; `None` flags
/// (the default, `pipelines/base.py:785-794`) try to load and only ignore a
/// failure (`pipelines/__init__.py:533-543,1157-1206`, 5.25.0).
/// image-text-to-text sets `_load_processor = True`.
#[tokio::test(flavor = "multi_thread")]
async fn transformers_pipeline_loads_processor_and_video_processor() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = arg(
        hf("transformers.pipeline", "cf-tf/vlm", "true"),
        "task",
        "image-text-to-text",
    );
    let t = resolve(&s, call, &ResolveOptions::default()).await;
    let got = listed(&t);
    for want in [
        "cf-tf/vlm:modeling_vlm.py",
        "cf-tf/vlm:proc_vlm.py",
        "cf-tf/vlm:video_vlm.py",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} missing from {got:?}");
    }
}

/// transformers `AutoVideoProcessor.from_pretrained` reads
/// video_preprocessor_config.json, else preprocessor_config.json, and turns
/// an `AutoImageProcessor` ref into the video one
/// (`models/auto/video_processing_auto.py:226,398-419`, 5.25.0).
#[tokio::test(flavor = "multi_thread")]
async fn transformers_auto_video_processor_reads_preprocessor_config_too() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let t = resolve(
        &s,
        hf(
            "transformers.AutoVideoProcessor.from_pretrained",
            "cf-tf/video-from-image",
            "true",
        ),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(listed(&t), ["cf-tf/video-from-image:vproc.py"]);
}

/// transformers `_BaseAutoModelClass.from_pretrained` follows
/// adapter_config.json to `base_model_name_or_path` and resolves it at the
/// caller's `revision`, not the adapter config's
/// (`models/auto/auto_factory.py:351-391`, 5.25.0). peft's `AutoPeftModel*`
/// does use `adapter_config.revision` (peft 0.21.2 `auto.py`).
#[tokio::test(flavor = "multi_thread")]
async fn transformers_auto_factory_resolves_the_peft_base_at_the_callers_revision() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let base = hf(
        "transformers.AutoModelForCausalLM.from_pretrained",
        "cf-tf/adapter",
        "true",
    );
    let t = resolve(&s, base.clone(), &ResolveOptions::default()).await;
    assert!(
        listed(&t).contains(&"cf-tf/base:modeling_main.py".to_string()),
        "{:?}",
        listed(&t)
    );
    let mut v2 = base;
    v2.revision = Some("v2".into());
    let t = resolve(&s, v2, &ResolveOptions::default()).await;
    assert!(
        listed(&t).contains(&"cf-tf/base:modeling_v2.py".to_string()),
        "{:?}",
        listed(&t)
    );
    let t = resolve(
        &s,
        hf(
            "peft.AutoPeftModelForCausalLM.from_pretrained",
            "cf-tf/adapter",
            "true",
        ),
        &ResolveOptions::default(),
    )
    .await;
    assert!(
        listed(&t).contains(&"cf-tf/base:modeling_v1.py".to_string()),
        "{:?}",
        listed(&t)
    );
}

/// sentence-transformers 6 `Transformer` loads its processor with
/// `AutoProcessor.from_pretrained` (`base/modules/transformer.py:853-916`,
/// 6.3.0), so `auto_map.AutoProcessor` code runs.
#[tokio::test(flavor = "multi_thread")]
async fn sentence_transformers_transformer_loads_through_auto_processor() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let t = resolve(
        &s,
        hf(
            "sentence_transformers.SentenceTransformer",
            "cf-st/multimodal",
            "true",
        ),
        &ResolveOptions::default(),
    )
    .await;
    let got = listed(&t);
    for want in [
        "cf-st/multimodal:modeling_mm.py",
        "cf-st/multimodal:proc_mm.py",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} missing from {got:?}");
    }
}

/// diffusers `get_cached_module_file` for a community pipeline: with no
/// `custom_revision` the folder is `v{installed X.Y.Z}` when that release
/// exists, else `main`; `custom_revision="X.Y.Z"` is the folder `vX.Y.Z`,
/// `"main"` stays, anything else raises (`utils/dynamic_modules_utils.py:330-345`, 0.42.1).
#[tokio::test(flavor = "multi_thread")]
async fn diffusers_get_cached_module_file_community_folder_follows_the_installed_version() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = arg(
        hf(
            "diffusers.DiffusionPipeline.from_pretrained",
            "cf-df/plain",
            "absent",
        ),
        "custom_pipeline",
        "cf_pipe",
    );
    let mirror = "diffusers/community-pipelines-mirror";
    let t = resolve(&s, call.clone(), &assume(&["diffusers==0.42.1"])).await;
    assert_eq!(listed(&t), [format!("{mirror}:v0.42.1/cf_pipe.py")]);
    let t = resolve(&s, call.clone(), &assume(&["diffusers==0.30.0"])).await;
    assert_eq!(listed(&t), [format!("{mirror}:v0.30.0/cf_pipe.py")]);
    // Undeclared: the newest release, said in a note.
    let t = resolve(&s, call.clone(), &ResolveOptions::default()).await;
    assert_eq!(listed(&t), [format!("{mirror}:v0.42.1/cf_pipe.py")]);
    assert!(
        t.notes.iter().any(|n| n.contains("0.42.1")),
        "{:?}",
        t.notes
    );
    let pinned = |r: &str| arg(call.clone(), "custom_revision", r);
    let t = resolve(&s, pinned("0.30.0"), &ResolveOptions::default()).await;
    assert_eq!(listed(&t), [format!("{mirror}:v0.30.0/cf_pipe.py")]);
    let t = resolve(&s, pinned("main"), &ResolveOptions::default()).await;
    assert_eq!(listed(&t), [format!("{mirror}:main/cf_pipe.py")]);
    // `v0.30.0` is not a release number: diffusers raises before downloading.
    let t = resolve(&s, pinned("v0.30.0"), &ResolveOptions::default()).await;
    assert!(t.files.is_empty(), "{:?}", listed(&t));
    assert!(
        t.notes.iter().any(|n| n.contains("raises")),
        "{:?}",
        t.notes
    );
}

/// diffusers `get_cached_module_file` turns a relative import with exactly one
/// dot into a folder path (`a.b` -> `a/b.py`) and fetches every import of a
/// nested module relative to the repo (sub)folder, not to the importer
/// (`utils/dynamic_modules_utils.py:408-414,436-450`, 0.42.1).
#[tokio::test(flavor = "multi_thread")]
async fn diffusers_get_cached_module_file_maps_one_dot_imports_to_folders() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let t = resolve(
        &s,
        hf(
            "diffusers.DiffusionPipeline.from_pretrained",
            "cf-df/dotted",
            "true",
        ),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(
        listed(&t),
        [
            "cf-df/dotted:flat.py",
            "cf-df/dotted:leaf.py",
            "cf-df/dotted:pipeline_cf.py",
            "cf-df/dotted:pkg/mod.py"
        ]
    );
}

fn ms(api: &str, repo: &str, gate: &str) -> LoadSite {
    site(Platform::Modelscope, api, repo, gate)
}

/// modelscope `Model.from_pretrained` with `trust_remote_code=True` imports
/// every `.py` of the repo and pip-installs its requirement files, whether or
/// not configuration.json says `allow_remote`, from 1.28.1 to 1.40.0
/// (`models/base/base_model.py:199-204`, 1.29.0; `:210`, 1.38.0).
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_model_from_pretrained_imports_every_py_under_trust() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = ms("modelscope.Model.from_pretrained", "cf-ms/trusty", "true");
    let t = resolve(&s, call.clone(), &assume(&["modelscope==1.35.0"])).await;
    assert_eq!(
        listed(&t),
        [
            "cf-ms/trusty:model.py",
            "cf-ms/trusty:requirements.txt",
            "cf-ms/trusty:utils/helper.py"
        ]
    );
}

/// modelscope 1.40.1+ imports the repo only when trusted AND configuration.json
/// says `allow_remote`, and refuses `allow_remote` without trust
/// (`models/base/base_model.py:146-150,202-221`, 1.40.2).
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_model_from_pretrained_needs_allow_remote_since_1_40_1() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let trusty = ms("modelscope.Model.from_pretrained", "cf-ms/trusty", "true");
    let t = resolve(&s, trusty, &assume(&["modelscope==1.40.2"])).await;
    assert!(
        !t.files.iter().any(|f| f.path.ends_with(".py")),
        "{:?}",
        listed(&t)
    );
    let allow = ms("modelscope.Model.from_pretrained", "cf-ms/allow", "absent");
    let t = resolve(&s, allow.clone(), &assume(&["modelscope==1.40.2"])).await;
    assert!(
        t.refused_remote_code && t.files.is_empty(),
        "{:?}",
        listed(&t)
    );
    let t = resolve(&s, allow, &assume(&["modelscope==1.28.0"])).await;
    assert_eq!(
        listed(&t),
        ["cf-ms/allow:model.py"],
        "<=1.28.0: allow_remote alone runs the code"
    );
}

/// modelscope 1.38.0-1.40.0 trust a repo whose id's owner folder is `iic` or
/// `damo` (`check_model_from_owner_group`, `utils/automodel_utils.py`,
/// `models/base/base_model.py:144-145`, 1.38.0); 1.40.1+ asks the Hub for the
/// owner (`is_model_from_trusted_source`, `utils/automodel_utils.py:143-173`, 1.40.2).
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_check_model_from_owner_group_trusts_iic_and_damo() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = ms("modelscope.Model.from_pretrained", "iic/cf-owner", "absent");
    let t = resolve(&s, call.clone(), &assume(&["modelscope==1.39.0"])).await;
    assert_eq!(listed(&t), ["iic/cf-owner:model.py"]);
    let t = resolve(&s, call, &assume(&["modelscope==1.35.0"])).await;
    assert!(t.files.is_empty(), "{:?}", listed(&t));
}

/// modelscope `pipeline()` up to 1.36 imports the repo on configuration.json
/// `allow_remote` alone (`pipelines/builder.py:158-160`, 1.33.0); from 1.37 it
/// needs trust too (`pipelines/builder.py:130-132,179-196`, 1.40.2).
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_pipeline_imports_on_allow_remote_alone_before_1_37() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = arg(
        ms("modelscope.pipeline", "cf-ms/allow", "absent"),
        "task",
        "text-classification",
    );
    let t = resolve(&s, call.clone(), &assume(&["modelscope==1.33.0"])).await;
    assert_eq!(listed(&t), ["cf-ms/allow:model.py"]);
    let t = resolve(&s, call, &assume(&["modelscope==1.37.0"])).await;
    assert!(
        t.refused_remote_code && t.files.is_empty(),
        "{:?}",
        listed(&t)
    );
}

/// Python's `FileFinder`: a regular package (`x/__init__.py`) first, then a
/// module file `x.py`; a folder without `__init__.py` is a namespace portion
/// only when nothing else matches (CPython `importlib/_bootstrap_external.py`
/// `FileFinder.find_spec`, CPython 3.8-3.13). torch.hub imports hubconf.py with the repo on
/// `sys.path` (`torch/hub.py` `_load_local`).
#[tokio::test(flavor = "multi_thread")]
async fn python_file_finder_prefers_x_py_over_a_namespace_folder() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let mut call = site(Platform::PytorchHub, "torch.hub.load", "cf-gh/ns", "true");
    call.repo_type = RepoType::Github;
    let t = resolve(&s, call, &ResolveOptions::default()).await;
    assert_eq!(
        listed(&t),
        [
            "cf-gh/ns:hubconf.py",
            "cf-gh/ns:pkg/__init__.py",
            "cf-gh/ns:pkg/y.py",
            "cf-gh/ns:x.py"
        ]
    );
}

// ---------- PaddleHub ----------

fn paddle(name: &str, version: Option<&str>) -> LoadSite {
    let mut s = site(Platform::Paddlehub, "paddlehub.Module", name, "absent");
    s.repo_type = RepoType::Module;
    if let Some(v) = version {
        s.revision = Some(v.into());
        s.args.insert("version".into(), v.into());
    }
    s
}

/// PaddleHub `HubModule.load` imports `<name>.module` through
/// `load_py_module(MODULE_HOME, ...)`, which puts `MODULE_HOME` on `sys.path`
/// (`paddlehub/module/module.py:409-419`, `paddlehub/utils/utils.py:232-247`,
/// 2.4.0): the package `<name>` (its `__init__.py`) runs first and the module
/// reaches its own files as `from <name>.x import y`. `<name>` is
/// `moduleinfo(name=...)` with `-` turned into `_`
/// (`paddlehub/module/manager.py:141-147,340-368`).
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_module_imports_are_rooted_at_the_module_name() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let t = resolve(
        &s,
        paddle("cf_pkg", Some("1.0.0")),
        &ResolveOptions::default(),
    )
    .await;
    assert_eq!(t.reason, None, "{:?}", t.notes);
    assert!(t.commit.as_deref().unwrap().starts_with("1.0.0+sha256:"));
    assert_eq!(
        listed(&t),
        [
            "cf_pkg:cf_pkg/__init__.py",
            "cf_pkg:cf_pkg/data.py",
            "cf_pkg:cf_pkg/module.py",
            "cf_pkg:cf_pkg/nets/__init__.py",
            "cf_pkg:cf_pkg/nets/backbone.py",
            "cf_pkg:cf_pkg/requirements.txt",
            "cf_pkg:cf_pkg/utils.py",
        ]
    );
    // Which search item runs depends on the installed paddle: said.
    let libs: Vec<(&str, &str)> = t
        .assumed
        .iter()
        .map(|a| (a.library.as_str(), a.range.as_str()))
        .collect();
    assert_eq!(libs, [("paddlepaddle", "any"), ("paddlehub", "any")]);
}

/// `_install_from_directory` installs the archive's folder under the name
/// that module.py's `moduleinfo` gives, not under the folder's own name
/// (`paddlehub/module/manager.py:340-368`, `module.py:441-475`, 2.4.0): a
/// module whose archive folder is `pkg_v2` and whose moduleinfo says
/// `real-name` imports its files as `real_name.x`.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_install_from_directory_installs_under_the_moduleinfo_name() {
    let archive = tar_gz(&[
        ("pkg_v2/__init__.py", "# init\n"),
        ("pkg_v2/helper.py", "# helper\n"),
        ("pkg_v2/other.py", "# other, never imported\n"),
        (
            "pkg_v2/module.py",
            "from real_name.helper import run\n\n@moduleinfo(name=\"real-name\", version=\"1.0.0\")\nclass M:\n    pass\n",
        ),
    ]);
    let s = cf_setup(FakeHubOptions {
        paddle_archives: [("cf_zipmod".to_string(), archive)].into(),
        ..Default::default()
    })
    .await;
    let t = resolve(&s, paddle("cf_zipmod", None), &ResolveOptions::default()).await;
    assert_eq!(
        listed(&t),
        [
            "cf_zipmod:pkg_v2/__init__.py",
            "cf_zipmod:pkg_v2/helper.py",
            "cf_zipmod:pkg_v2/module.py",
        ]
    );
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("installs folder pkg_v2 as real_name")),
        "{:?}",
        t.notes
    );
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// PaddleHub's `xarfile` opens a module archive as any tar `tarfile` reads
/// with `r:*` (plain, gzip, bzip2, xz) and otherwise as a zip
/// (`paddlehub/utils/xarfile.py:66-86`, 2.4.0); the module folder is the
/// first path part of the last member (`paddlehub/module/manager.py:370-380`).
/// The archives are written by Python's own `tarfile`, `bz2`, `lzma` and
/// `zipfile` (tests/fixtures/gen/conformance_fixtures.py), the zips with
/// deflated, bzip2 and LZMA members (`zipfile._get_decompressor`, CPython).
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_xarfile_opens_tar_bz2_xz_and_zip() {
    for ext in ["tar.bz2", "tar.xz", "zip", "bzip2.zip", "lzma.zip"] {
        let bytes = std::fs::read(
            fixture("conformance").join(format!("paddlehub/archives/cf_zipmod.{ext}")),
        )
        .unwrap();
        let s = cf_setup(FakeHubOptions {
            paddle_archives: [("cf_zipmod".to_string(), bytes)].into(),
            ..Default::default()
        })
        .await;
        let h = Hubs::new(s.opts.clone()).unwrap();
        let snap = h
            .snapshot(HubKind::Paddlehub, RepoType::Module, "cf_zipmod", None)
            .await
            .unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!(
            snap.files,
            ["cf_zipmod/__init__.py", "cf_zipmod/module.py"],
            "{ext}"
        );
        let m = h.read(&snap, "cf_zipmod/module.py").await.unwrap();
        assert!(
            String::from_utf8_lossy(&m).contains("cf_zipmod/module"),
            "{ext}"
        );
        // The download went to a file in the cache, named by the digest the
        // commit carries; no partial download is left behind.
        let dir = s._cache.path().join("v1/archives/paddlehub");
        let cached: Vec<String> = walk(&dir)
            .into_iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let digest = snap.commit.split_once("+sha256:").unwrap().1;
        assert_eq!(cached, [format!("{digest}.archive")], "{ext}");
        let t = resolve(&s, paddle("cf_zipmod", None), &ResolveOptions::default()).await;
        assert_eq!(
            listed(&t),
            [
                "cf_zipmod:cf_zipmod/__init__.py",
                "cf_zipmod:cf_zipmod/module.py"
            ],
            "{ext}"
        );
    }
}

/// `_install_from_name` takes the first search item whose name equals the
/// requested one case-insensitively and whose version passes
/// `utils.Version.match` (`>=`, `>`, `<=`, `<`, `==`, `=` or a bare version,
/// compared as `packaging` versions) (`paddlehub/module/manager.py:260-265`,
/// `paddlehub/utils/utils.py:41-79`, 2.4.0). `search_resource` sends
/// `version` only when one is given (`paddlehub/server/server_source.py:68-87`).
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_install_from_name_matches_name_case_insensitively_and_version_conditions() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    for (name, version, want) in [
        ("CF_PKG", None, "2.0.0"),
        ("cf_pkg", Some("1.0"), "1.0.0"),
        ("cf_pkg", Some("<2.0.0"), "1.0.0"),
        ("cf_pkg", Some(">=1.0.0"), "2.0.0"),
        ("cf_pkg", Some("==2"), "2.0.0"),
    ] {
        let snap = h
            .snapshot(HubKind::Paddlehub, RepoType::Module, name, version)
            .await
            .unwrap_or_else(|e| panic!("{name} {version:?}: {e}"));
        assert!(
            snap.commit.starts_with(&format!("{want}+sha256:")),
            "{name} {version:?}: {}",
            snap.commit
        );
    }
    let e = h
        .snapshot(
            HubKind::Paddlehub,
            RepoType::Module,
            "cf_pkg",
            Some(">2.0.0"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::NotFound(_)), "{e}");
    let searches: Vec<String> = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.uri.contains("/search?"))
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(searches[0], "/paddle/search?word=CF_PKG&type=module");
    assert_eq!(
        searches[2],
        "/paddle/search?word=cf_pkg&type=module&version=%3C2.0.0"
    );
}

/// `Module(name, source=<git url>)` never asks the server
/// (`paddlehub/module/manager.py:188-189`, 2.4.0): `GitSource` clones the repo
/// (its default branch, what `git clone` checks out), puts it on `sys.path`
/// and imports `hubconf.py`, after adding the folder of each top-level
/// `from X.module import` (`paddlehub/server/git_source.py:38-108`); the
/// folder of the moduleinfo class named `name` is copied to
/// `MODULE_HOME/<name>`, its requirements.txt pip-installed and
/// `<name>.module` imported (`module/manager.py:302-338`). cf-gh/phsrc's
/// default branch is `develop` (neither main nor master); the server's own
/// `cf_src` module is never fetched.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_git_source_load_hub_modules_imports_hubconf_and_installs_the_module_folder() {
    let s = cf_setup(FakeHubOptions::default()).await;
    for url in [
        "https://github.com/cf-gh/phsrc.git",
        "git@github.com:cf-gh/phsrc.git",
    ] {
        let call = arg(paddle("cf_src", None), "source", url);
        let t = resolve(&s, call, &ResolveOptions::default()).await;
        assert_eq!(t.reason, None, "{url}: {:?}", t.notes);
        assert_eq!(t.repo_id.as_deref(), Some("cf-gh/phsrc"));
        assert_eq!(
            t.commit.as_deref(),
            Some(cf_commit("github/cf-gh/phsrc", "develop").as_str())
        );
        assert_eq!(
            listed(&t),
            [
                "cf-gh/phsrc:hubconf.py",
                "cf-gh/phsrc:modules/text/cf_other/module.py",
                "cf-gh/phsrc:modules/text/cf_src/__init__.py",
                "cf-gh/phsrc:modules/text/cf_src/module.py",
                "cf-gh/phsrc:modules/text/cf_src/rel.py",
                "cf-gh/phsrc:modules/text/cf_src/requirements.txt",
                "cf-gh/phsrc:modules/text/cf_src/utils.py",
            ],
            "{url}"
        );
    }
    assert_eq!(count(&s.fake, "/paddle/"), 0, "the server is never asked");
    // Another host is not fetched: unverified, never a pass.
    let call = arg(
        paddle("cf_src", None),
        "source",
        "https://gitee.invalid/o/r.git",
    );
    let t = resolve(&s, call, &ResolveOptions::default()).await;
    assert_eq!(t.status, hubwarden::model::TargetStatus::Unverified);
    assert!(t.files.is_empty());
    assert!(
        t.reason.as_deref().unwrap().contains("git source"),
        "{:?}",
        t.reason
    );
}

/// `GitSource.search_resource` installs the folder of the file that defines
/// the class (`path = os.path.dirname(sys.modules[module.__module__].__file__)`,
/// `paddlehub/server/git_source.py:129-139`, 2.4.0), and `HubModule.load`
/// then imports `<name>.module` from it (`module/module.py:421-423`). A class
/// defined in hubconf.py itself installs the repo root, so a root module.py
/// runs that hubconf.py never imports; a class re-exported through a package
/// installs its own folder.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_git_source_search_resource_installs_the_folder_of_the_defining_file() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let src = |branch: Option<&str>| {
        let mut c = arg(
            paddle("cf_inline", None),
            "source",
            "https://github.com/cf-gh/phinline.git",
        );
        if let Some(b) = branch {
            c = arg(c, "branch", b);
        }
        c
    };
    let t = resolve(&s, src(None), &ResolveOptions::default()).await;
    assert_eq!(t.reason, None, "{:?}", t.notes);
    assert_eq!(
        listed(&t),
        [
            "cf-gh/phinline:__init__.py",
            "cf-gh/phinline:helper.py",
            "cf-gh/phinline:hubconf.py",
            "cf-gh/phinline:module.py",
            "cf-gh/phinline:requirements.txt",
        ]
    );
    let t = resolve(&s, src(Some("deep")), &ResolveOptions::default()).await;
    assert_eq!(t.reason, None, "{:?}", t.notes);
    let files = listed(&t);
    for want in [
        "cf-gh/phinline:pkg/__init__.py",
        "cf-gh/phinline:pkg/deep/module.py",
        "cf-gh/phinline:pkg/deep/sibling.py",
        "cf-gh/phinline:pkg/deep/cf_only.py",
    ] {
        assert!(files.contains(&want.to_string()), "{want} not in {files:?}");
    }
}

/// `Module.__new__` takes `name` before `directory` (`directory` is then
/// ignored: `paddlehub/module/module.py:392-404`, 2.4.0), so a local
/// `directory=` next to a `name=` is a decoy and the server module runs; only
/// a call without `name` loads local code. A `source=` that is not a literal
/// decides which repository runs: unverified, never the server's module.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_module_new_takes_name_before_directory() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("app.py"),
        "import os\nimport paddlehub as hub\n\
         a = hub.Module(name=\"cf_pkg\", version=\"1.0.0\", directory=\"./decoy\")\n\
         b = hub.Module(directory=\"./local_only\")\n\
         c = hub.Module(name=\"cf_src\", source=os.environ[\"SRC\"])\n\
         d = hub.Module(name=\"cf_src\", source=None)\n",
    )
    .unwrap();
    let d = hubwarden::discover::discover(tmp.path(), &Default::default()).unwrap();
    let ids: Vec<Option<&str>> = d.calls.iter().map(|c| c.repo_id.as_deref()).collect();
    assert_eq!(
        ids,
        [Some("cf_pkg"), Some("cf_src"), Some("cf_src")],
        "{:?}",
        d.calls
    );
    let h = Hubs::new(s.opts.clone()).unwrap();
    let t = resolve_all(&h, &d.calls, &ResolveOptions::default()).await;
    assert_eq!(t[0].reason, None, "{:?}", t[0].notes);
    assert!(listed(&t[0]).contains(&"cf_pkg:cf_pkg/module.py".to_string()));
    assert_eq!(t[1].status, hubwarden::model::TargetStatus::Unverified);
    assert!(t[1].files.is_empty());
    assert!(
        t[1].reason.as_deref().unwrap_or("").contains("source="),
        "{:?}",
        t[1].reason
    );
    // `source=None` is the server.
    assert_eq!(t[2].reason, None, "{:?}", t[2].notes);
    assert_eq!(
        listed(&t[2]),
        ["cf_src:cf_src/__init__.py", "cf_src:cf_src/module.py"]
    );
}

/// `HubServer.search_resource` with `branch=`: `GitSource(url)` imports
/// hubconf.py on the freshly cloned default branch, then `checkout(branch)`
/// imports it again (`paddlehub/server/server.py:105-113`,
/// `server/git_source.py:50-67`, 2.4.0): both hubconf.py run; the module
/// comes from the branch.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_git_source_checkout_runs_the_default_branch_hubconf_first() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = arg(
        arg(
            paddle("cf_src", None),
            "source",
            "https://github.com/cf-gh/phsrc",
        ),
        "branch",
        "feature",
    );
    let t = resolve(&s, call, &ResolveOptions::default()).await;
    assert_eq!(t.reason, None, "{:?}", t.notes);
    assert_eq!(
        t.commit.as_deref(),
        Some(cf_commit("github/cf-gh/phsrc", "feature").as_str())
    );
    let files = listed(&t);
    for want in [
        "cf-gh/phsrc:mods/cf_src/module.py",
        "cf-gh/phsrc:mods/cf_src/utils.py",
        "cf-gh/phsrc:mods/cf_src/extra.py",
        "cf-gh/phsrc:modules/text/cf_src/module.py",
    ] {
        assert!(files.contains(&want.to_string()), "{want} not in {files:?}");
    }
    let hubconfs = t.files.iter().filter(|f| f.path == "hubconf.py").count();
    assert_eq!(hubconfs, 2, "{files:?}");
}

/// `HubModule.load` loads a folder with `module_desc.pb` as ModuleV1
/// (`paddlehub/module/module.py:416-419`, 2.4.0), whose `_load_processor`
/// imports the processor the protobuf names with `<dir>/python` on
/// `sys.path` (`paddlehub/compat/module/module_v1.py:57-65`). The name is not
/// decoded: every python/*.py is an entry, never a pass.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_module_v1_load_processor_imports_from_python() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let t = resolve(&s, paddle("cf_v1", None), &ResolveOptions::default()).await;
    assert_eq!(t.reason, None, "{:?}", t.notes);
    assert_eq!(
        listed(&t),
        [
            "cf_v1:cf_v1/python/helper.py",
            "cf_v1:cf_v1/python/other.py",
            "cf_v1:cf_v1/python/processor.py",
            "cf_v1:cf_v1/requirements.txt",
        ]
    );
    assert!(
        t.notes.iter().any(|n| n.contains("ModuleV1")),
        "{:?}",
        t.notes
    );
}

/// `_install_from_name`: when no search item fits, `/info?name=` lists every
/// version (`paddlehub/module/manager.py:267-300`,
/// `server/server_source.py:110-124`, 2.4.0). Without `ignore_env_mismatch`
/// a matching version raises `EnvironmentMismatchError` (nothing installs:
/// unverified with that reason); with it, the exact version asked for (a dict
/// key: a condition finds none) or else the highest.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_install_from_name_info_fallback_needs_ignore_env_mismatch() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let a: Vec<Assume> = vec!["paddlepaddle==2.5.0".parse().unwrap()];
    let mut opts = s.opts.clone();
    opts.paddle_env = Some(hubwarden::deps::paddle_env(
        Arc::new(Declared::assumed_only(&a)),
        ["app.py"],
    ));
    let h = Hubs::new(opts).unwrap();
    let resolve_with = |site: LoadSite| {
        let h = &h;
        async move {
            resolve_all(h, std::slice::from_ref(&site), &ResolveOptions::default())
                .await
                .remove(0)
        }
    };
    let t = resolve_with(paddle("cf_envonly", None)).await;
    assert_eq!(t.status, hubwarden::model::TargetStatus::Unverified);
    let why = t.reason.clone().unwrap_or_default();
    assert!(why.contains("EnvironmentMismatchError"), "{why}");
    assert!(t.files.is_empty());
    for (version, flag, want) in [
        (None, "true", Some("1.1.0")),
        (Some("1.0.0"), "true", Some("1.0.0")),
        (Some(">=1.0.0"), "true", None),
        (None, "dynamic", Some("1.1.0")),
        (None, "false", None),
    ] {
        let site = arg(paddle("cf_envonly", version), "ignore_env_mismatch", flag);
        let t = resolve_with(site).await;
        match want {
            Some(v) => {
                assert_eq!(t.reason, None, "{version:?} {flag}: {:?}", t.notes);
                assert!(
                    t.commit
                        .as_deref()
                        .unwrap()
                        .starts_with(&format!("{v}+sha256:")),
                    "{version:?} {flag}: {:?}",
                    t.commit
                );
                assert!(
                    listed(&t).contains(&"cf_envonly:cf_envonly/module.py".to_string()),
                    "{:?}",
                    listed(&t)
                );
            }
            None => {
                assert_eq!(
                    t.status,
                    hubwarden::model::TargetStatus::Unverified,
                    "{version:?} {flag}"
                );
                assert!(t.files.is_empty());
            }
        }
    }
    assert!(count(&s.fake, "/paddle/info?name=cf_envonly") >= 1);
}

/// modelscope's Auto-class wrappers (`utils/hf_util/patcher.py:158-187`,
/// 2.0.0+main 2905da12) download `repo--mod.Class` code with
/// `snapshot_download(repo_id)` and no revision, so it comes from master even
/// when the caller passes `code_revision`.
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_patcher_get_class_from_dynamic_module_ignores_code_revision() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = arg(
        ms(
            "modelscope.AutoModel.from_pretrained",
            "cf-ms/xcode",
            "true",
        ),
        "code_revision",
        "v2",
    );
    let t = resolve(&s, call, &ResolveOptions::default()).await;
    let f = t
        .files
        .iter()
        .find(|f| f.repo_id == "cf-ms/xlib")
        .unwrap_or_else(|| panic!("{:?} {:?}", listed(&t), t.notes));
    assert_eq!(f.path, "modeling_x.py");
    assert_eq!(
        f.commit,
        cf_commit("modelscope/models/cf-ms/xlib", "master")
    );
    assert!(String::from_utf8_lossy(&f.content).contains("xlib master"));
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("ignore code_revision=v2")),
        "{:?}",
        t.notes
    );
}

/// modelscope's wrappers download only `subfolder/*` and hand transformers
/// `snapshot/subfolder`, so `auto_map` modules are read next to the
/// subfolder's config (`utils/hf_util/patcher.py:241-266`, 2.0.0+main).
#[tokio::test(flavor = "multi_thread")]
async fn modelscope_patcher_subfolder_code_is_read_in_the_subfolder() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let call = arg(
        ms("modelscope.AutoModel.from_pretrained", "cf-ms/sub", "true"),
        "subfolder",
        "text",
    );
    let t = resolve(&s, call, &ResolveOptions::default()).await;
    let l = listed(&t);
    assert!(
        l.contains(&"cf-ms/sub:text/modeling_sub.py".to_string()),
        "{l:?}"
    );
    assert!(
        !l.contains(&"cf-ms/sub:modeling_sub.py".to_string()),
        "{l:?}"
    );
}

// ---------- endpoints, tokens and caches as the libraries read them ----------

fn vars(pairs: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let m: BTreeMap<&'static str, String> = pairs.iter().cloned().collect();
    move |k: &str| m.get(k).cloned()
}

/// torch.hub builds `https://github.com/{owner}/{name}/zipball/{ref}` and
/// `https://api.github.com/repos/...` literally (`torch/hub.py`
/// `_git_archive_link`, `_validate_not_a_forked_repo`, pytorch 32e63a88):
/// on a GitHub Enterprise runner, where `GITHUB_API_URL` names the enterprise
/// server, torch.hub still reads github.com, and the enterprise token is not
/// sent there.
#[test]
fn torch_hub_git_archive_link_is_always_github_com() {
    let o = HubOptions::from_vars(vars(&[
        (
            "GITHUB_API_URL",
            "https://ghes.example.invalid/api/v3".into(),
        ),
        ("GITHUB_TOKEN", "ghes-token".into()),
    ]));
    assert_eq!(o.endpoints.get(HubKind::Github), "https://api.github.com");
    assert_eq!(o.tokens.get(HubKind::Github), None);
}

/// pycsghub `get_token_to_send`: the `token` argument, else `CSGHUB_TOKEN`,
/// else the file `CSGHUB_TOKEN_PATH` (default `$CSGHUB_HOME/token`)
/// (`pycsghub/_token.py:7-15`, `constants.py:23-24`, csghub-sdk 500394f9).
/// The file's token is OpenCSG's only.
#[test]
fn pycsghub_get_token_reads_the_csghub_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tok");
    std::fs::write(&file, "csg-file-token\n").unwrap();
    let o = HubOptions::from_vars(vars(&[
        ("CSGHUB_TOKEN_PATH", file.display().to_string()),
        ("HOME", dir.path().display().to_string()),
    ]));
    assert_eq!(o.tokens.get(HubKind::Opencsg), Some("csg-file-token"));
    for other in [HubKind::Huggingface, HubKind::Modelscope, HubKind::Github] {
        assert_eq!(o.tokens.get(other), None, "{other}");
    }
}

/// huggingface_hub `constants.py:158-181` (1.29.0.dev0 ee0a4510): the hub
/// cache is `HF_HUB_CACHE`, else the legacy `HUGGINGFACE_HUB_CACHE`, else
/// `$HF_HOME/hub` with `HF_HOME` defaulting to `$XDG_CACHE_HOME/huggingface`;
/// `--offline` reads the cache the library wrote.
#[test]
fn huggingface_hub_constants_hf_hub_cache_follows_legacy_and_xdg_variables() {
    let o = HubOptions::from_vars(vars(&[
        ("HUGGINGFACE_HUB_CACHE", "/data/legacy-hub".into()),
        ("HOME", "/home/u".into()),
    ]));
    assert_eq!(o.hf_cache, Some(PathBuf::from("/data/legacy-hub")));
    let o = HubOptions::from_vars(vars(&[
        ("XDG_CACHE_HOME", "/xdg".into()),
        ("HOME", "/home/u".into()),
    ]));
    assert_eq!(o.hf_cache, Some(PathBuf::from("/xdg/huggingface/hub")));
}

/// huggingface_hub stopped trusting `siblings` above 50,000 files and lists
/// the tree instead (`VERY_LARGE_REPO_THRESHOLD`, commit 27766a70b;
/// `snapshot_download` now always calls `list_repo_tree(recursive=True)`,
/// `_snapshot_download.py:394`, and pages through `Link: rel="next"`,
/// `utils/_pagination.py`, 1.29.0.dev0 ee0a4510). A cut `siblings` list
/// must not hide a file that loads.
#[tokio::test(flavor = "multi_thread")]
async fn huggingface_hub_snapshot_download_lists_the_tree_of_very_large_repos() {
    let s = cf_setup(FakeHubOptions {
        hf_synthetic: Some(("cf-tf/base".to_string(), 60_000)),
        hf_siblings_cap: Some(50_000),
        hf_tree_page: Some(20_000),
        ..Default::default()
    })
    .await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    let snap = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "cf-tf/base", None)
        .await
        .unwrap();
    let real: Vec<&String> = snap
        .files
        .iter()
        .filter(|f| !f.starts_with("_syn/"))
        .collect();
    let on_disk = std::fs::read_dir(
        fixture("conformance")
            .join("huggingface/models/cf-tf/base")
            .join(cf_commit("huggingface/models/cf-tf/base", "main")),
    )
    .unwrap()
    .count();
    assert_eq!(real.len(), on_disk, "{real:?}");
    assert_eq!(snap.files.len(), 60_000 + on_disk);
    assert_eq!(
        count(&s.fake, "/tree/"),
        4,
        "three pages of 20,000 and the rest"
    );
    // Below the threshold the revision answer is trusted: no tree call.
    let s = cf_setup(FakeHubOptions::default()).await;
    let h = Hubs::new(s.opts.clone()).unwrap();
    h.snapshot(HubKind::Huggingface, RepoType::Model, "cf-tf/base", None)
        .await
        .unwrap();
    assert_eq!(count(&s.fake, "/tree/"), 0);
}

/// Anonymous Hugging Face access is 500 API calls per 5 minutes per IP
/// (hub-docs `rate-limits.md:38-73`, 242f4a1e), and every repo@revision
/// costs one: a scan of many repos without a token says so once, before it
/// starts, and not when a token is set.
#[tokio::test(flavor = "multi_thread")]
async fn hub_docs_rate_limits_anonymous_budget_is_said_once_up_front() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let proj = tempfile::tempdir().unwrap();
    let calls: String = (0..60)
        .map(|i| format!("AutoModel.from_pretrained(\"cf-none/m{i}\", trust_remote_code=True)\n"))
        .collect();
    std::fs::write(
        proj.path().join("app.py"),
        format!("from transformers import AutoModel\n{calls}"),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let run = |token: Option<&str>| {
        let mut cmd = std::process::Command::new(crate::common::bin());
        cmd.arg("scan")
            .arg(proj.path())
            .args(["--format", "json", "--cache-dir"])
            .arg(home.path().join("cache"))
            // A slow machine would print a progress line before the hint.
            .args(["--progress", "never"])
            .env_clear()
            .env("HOME", home.path())
            .env("HF_ENDPOINT", s.fake.url(HubKind::Huggingface));
        if let Some(t) = token {
            cmd.env("HF_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = run(None);
    assert_eq!(
        stderr.matches("a token raises the limit").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("60 huggingface repositories to resolve without a token"),
        "{stderr}"
    );
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.contains("without a token"), "not up front: {stderr}");
    assert!(!run(Some("hf-tok")).contains("a token raises the limit"));
}

/// PaddleHub `search_resource` drops the items whose `paddle_version` /
/// `hub_version` intervals (`convert_version`: `[min, max]`, `99.0.0` = no
/// maximum) the installed paddle and paddlehub do not meet, before
/// `_install_from_name` takes the first match
/// (`paddlehub/server/server_source.py:89-107`, `utils/utils.py:429-446`,
/// `module/manager.py:260-265`, 2.4.0). cf_pkg 2.0.0 needs paddle >= 99: a
/// project on paddle 2.5 runs 1.0.0; undeclared, both may run and the first
/// is taken.
#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_search_resource_drops_items_the_installed_paddle_cannot_run() {
    let s = cf_setup(FakeHubOptions::default()).await;
    let declared = |specs: &[&str]| {
        let a: Vec<Assume> = specs.iter().map(|s| s.parse().unwrap()).collect();
        Arc::new(Declared::assumed_only(&a))
    };
    for (specs, want) in [
        (&["paddlepaddle==2.5.0"][..], "1.0.0"),
        (&["paddlepaddle-gpu==2.6.1"][..], "1.0.0"),
        (&[][..], "2.0.0"),
    ] {
        let mut opts = s.opts.clone();
        opts.paddle_env = Some(hubwarden::deps::paddle_env(declared(specs), ["app.py"]));
        let h = Hubs::new(opts).unwrap();
        let snap = h
            .snapshot(HubKind::Paddlehub, RepoType::Module, "cf_pkg", None)
            .await
            .unwrap();
        assert!(
            snap.commit.starts_with(&format!("{want}+sha256:")),
            "{specs:?}: {}",
            snap.commit
        );
    }
}
