//! Fetch stage: every hub's API shape against the fake hub, tokens and
//! redirects, retries and timeouts, the disk cache, offline mode, validation,
//! archive safety and range-read pickles.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hubwarden::hub::{HubError, HubOptions, Hubs, RepoSource, Snapshot};
use hubwarden::model::{HubKind, RepoType};
use sha2::{Digest, Sha256};

use crate::common::fixture;
use crate::fakehub::{FakeHub, FakeHubOptions, Forced, build_tar_gz};

const C1: &str = "77845868a736f5085b9cd43cc2f52cbfd87e9d36";
const C0: &str = "d751aa5dbce65137b8cdedca108cfa27aef02f5e";
const GATED: &str = "8842dcc06054ad6932780e035d10115bcbf08cff";
const PICKLED: &str = "489e2560ee7dbaec36c95635937318e5868e153c";
const DATASET: &str = "81ff5b6f4bfc8710ade39cf4936efca8a22410a1";
const MS: &str = "58ccf8393263c7110c1fdef67910295c16ddb00c";
const MS_V1: &str = "68df49db30209020da3349a3984ad22a6d8b525f";
const CSG: &str = "2b3a7718ca36621800b96e2ca7a4200a4d6e20ee";
const VISION: &str = "89c78ffeb3262769cf5866995ad71e8957727517";
const DETECT_MAIN: &str = "0db97b6e4bbf63dcc55df6a4bc34985ca608e3b3";
/// The pickle torch would unpickle from the image `read_pickle` returns.
fn data_pkl(image: &[u8]) -> Vec<u8> {
    hubwarden::scan::pickle::pickle_bytes(image)
        .into_iter()
        .next()
        .map(|(_, d)| d)
        .unwrap_or_default()
}

/// The pickle inside the generated checkpoints (tests/fixtures/gen/hub_pickles.py).
const PAYLOAD: &[u8] = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.";

fn root() -> PathBuf {
    fixture("hub")
}

struct Setup {
    fake: FakeHub,
    _cache: tempfile::TempDir,
    opts: HubOptions,
}

async fn setup(fopts: FakeHubOptions) -> Setup {
    setup_at(root(), fopts).await
}

async fn setup_at(root: PathBuf, fopts: FakeHubOptions) -> Setup {
    let fake = FakeHub::start(root, fopts).await;
    let cache = tempfile::tempdir().unwrap();
    let opts = fake.hub_options(cache.path());
    Setup {
        fake,
        _cache: cache,
        opts,
    }
}

fn hubs(opts: &HubOptions) -> Hubs {
    Hubs::new(opts.clone()).unwrap()
}

fn uris(fake: &FakeHub) -> Vec<String> {
    fake.requests().into_iter().map(|r| r.uri).collect()
}

fn fixture_file(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn huggingface_model_revision_and_resolve_shapes() {
    let s = setup(FakeHubOptions::default()).await;
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    assert_eq!(snap.commit, C1);
    assert_eq!(snap.resolved_ref, "main");
    assert_eq!(
        snap.files,
        [
            "config.json",
            "configuration_acme.py",
            "modeling_acme.py",
            "sub/helper.py"
        ]
    );
    let body = h.read(&snap, "modeling_acme.py").await.unwrap();
    assert_eq!(
        *body,
        fixture_file(&format!(
            "huggingface/models/acme/remote-code/{C1}/modeling_acme.py"
        ))
    );
    let tag = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            Some("v0"),
        )
        .await
        .unwrap();
    assert_eq!(tag.commit, C0);
    assert_eq!(
        uris(&s.fake),
        [
            "/hf/api/models/acme/remote-code/revision/main".to_string(),
            format!("/hf/acme/remote-code/resolve/{C1}/modeling_acme.py"),
            "/hf/api/models/acme/remote-code/revision/v0".to_string(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn huggingface_dataset_prefix_and_encoded_revision() {
    let s = setup(FakeHubOptions::default()).await;
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Dataset,
            "acme/squadish",
            None,
        )
        .await
        .unwrap();
    assert_eq!(snap.commit, DATASET);
    h.read(&snap, "squadish.py").await.unwrap();
    let u = uris(&s.fake);
    assert_eq!(u[0], "/hf/api/datasets/acme/squadish/revision/main");
    assert_eq!(
        u[1],
        format!("/hf/datasets/acme/squadish/resolve/{DATASET}/squadish.py")
    );

    // A revision with a slash is one percent-encoded segment, as huggingface_hub sends it.
    let err = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            Some("refs/pr/1"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, HubError::NotFound(ref m) if m.contains("revision")),
        "{err}"
    );
    assert!(
        uris(&s.fake)
            .contains(&"/hf/api/models/acme/remote-code/revision/refs%2Fpr%2F1".to_string())
    );

    let err = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/nope", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HubError::NotFound(ref m) if m.contains("repository")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn modelscope_commit_from_listing_and_revisions() {
    let s = setup(FakeHubOptions::default()).await;
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(HubKind::Modelscope, RepoType::Model, "damo/ms-model", None)
        .await
        .unwrap();
    assert_eq!(snap.resolved_ref, "master");
    // The documented revisions shape has no commit: it comes from the newest file's CommitId.
    assert_eq!(snap.commit, MS);
    assert_eq!(
        snap.files,
        [
            "configuration.json",
            "model.py",
            "pkg/__init__.py",
            "requirements.txt"
        ]
    );
    let b = h.read(&snap, "model.py").await.unwrap();
    assert_eq!(
        *b,
        fixture_file(&format!("modelscope/models/damo/ms-model/{MS}/model.py"))
    );
    let u = uris(&s.fake);
    assert_eq!(u[0], "/ms/api/v1/models/damo/ms-model/revisions");
    assert_eq!(
        u[1],
        "/ms/api/v1/models/damo/ms-model/repo/files?Revision=master&Recursive=True"
    );
    assert_eq!(
        u[2],
        format!("/ms/api/v1/models/damo/ms-model/repo?Revision={MS}&FilePath=model.py")
    );

    let err = h
        .snapshot(
            HubKind::Modelscope,
            RepoType::Model,
            "damo/ms-model",
            Some("nope"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotFound(_)), "{err}");

    // A server that names the commit on the revision item is believed.
    let s2 = setup(FakeHubOptions {
        modelscope_commit_in_revisions: true,
        ..Default::default()
    })
    .await;
    let tag = hubs(&s2.opts)
        .snapshot(
            HubKind::Modelscope,
            RepoType::Model,
            "damo/ms-model",
            Some("v1.0"),
        )
        .await
        .unwrap();
    assert_eq!(tag.commit, MS_V1);
    assert!(uris(&s2.fake)[1].contains(&format!("Revision={MS_V1}")));

    // Bytes that do not match the listing's sha256 are refused.
    let s3 = setup(FakeHubOptions {
        modelscope_wrong_sha256: true,
        ..Default::default()
    })
    .await;
    let h3 = hubs(&s3.opts);
    let snap = h3
        .snapshot(HubKind::Modelscope, RepoType::Model, "damo/ms-model", None)
        .await
        .unwrap();
    let e = h3.read(&snap, "model.py").await.unwrap_err();
    assert!(
        matches!(e, HubError::Protocol(ref m) if m.contains("sha256")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn opencsg_csg_prefix_and_bearer_token() {
    let mut s = setup(FakeHubOptions::default()).await;
    s.opts.tokens.set(HubKind::Opencsg, "csg-tok");
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(HubKind::Opencsg, RepoType::Model, "OpenCSG/csg-coder", None)
        .await
        .unwrap();
    assert_eq!(snap.commit, CSG);
    h.read(&snap, "modeling_csg.py").await.unwrap();
    let reqs = s.fake.requests();
    assert_eq!(
        reqs[0].uri,
        "/csg-ep/csg/api/models/OpenCSG/csg-coder/revision/main"
    );
    assert_eq!(
        reqs[1].uri,
        format!("/csg-ep/csg/OpenCSG/csg-coder/resolve/{CSG}/modeling_csg.py")
    );
    assert!(
        reqs.iter()
            .all(|r| r.headers.get("authorization").map(String::as_str) == Some("Bearer csg-tok"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_default_ref_is_main_else_master() {
    let mut s = setup(FakeHubOptions::default()).await;
    s.opts.tokens.set(HubKind::Github, "gh-tok");
    let h = hubs(&s.opts);
    let vision = h
        .snapshot(HubKind::Github, RepoType::Github, "acme/vision", None)
        .await
        .unwrap();
    assert_eq!(
        (vision.resolved_ref.as_str(), vision.commit.as_str()),
        ("master", VISION)
    );
    assert_eq!(
        vision.files,
        ["hubconf.py", "models/__init__.py", "models/net.py"]
    );
    let detect = h
        .snapshot(HubKind::Github, RepoType::Github, "acme/detect", None)
        .await
        .unwrap();
    assert_eq!(
        (detect.resolved_ref.as_str(), detect.commit.as_str()),
        ("main", DETECT_MAIN)
    );
    let b = h.read(&detect, "hubconf.py").await.unwrap();
    assert!(String::from_utf8_lossy(&b).contains("\"main\""));
    let tag = h
        .snapshot(HubKind::Github, RepoType::Github, "acme/vision", Some("v2"))
        .await
        .unwrap();
    assert_eq!(tag.commit, VISION);
    let net = h.read(&tag, "models/net.py").await.unwrap();
    assert!(String::from_utf8_lossy(&net).contains("def build"));

    let reqs = s.fake.requests();
    let u: Vec<&str> = reqs.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(u[0], "/gh/repos/acme/vision/branches/main");
    assert_eq!(u[1], "/gh/repos/acme/vision/branches/master");
    assert_eq!(
        u[2],
        format!("/gh/repos/acme/vision/git/trees/{VISION}?recursive=1")
    );
    assert!(u.contains(&"/gh/repos/acme/vision/commits/v2"));
    assert!(
        u.contains(&format!("/gh/repos/acme/vision/contents/models/net.py?ref={VISION}").as_str())
    );
    assert!(
        reqs.iter()
            .all(|r| r.headers.get("authorization").map(String::as_str) == Some("Bearer gh-tok"))
    );
    let contents = reqs.iter().find(|r| r.uri.contains("/contents/")).unwrap();
    assert_eq!(contents.headers["accept"], "application/vnd.github.raw");

    // A base64 JSON answer (raw media type not honoured) decodes to the same bytes.
    s.fake.set_options(FakeHubOptions {
        github_json_contents: true,
        ..Default::default()
    });
    let h2 = hubs(&HubOptions {
        no_disk_cache: true,
        ..s.opts.clone()
    });
    let snap = h2
        .snapshot(
            HubKind::Github,
            RepoType::Github,
            "acme/vision",
            Some(VISION),
        )
        .await
        .unwrap();
    assert_eq!(*h2.read(&snap, "models/net.py").await.unwrap(), *net);
}

#[tokio::test(flavor = "multi_thread")]
async fn paddlehub_search_archive_commit_and_no_token() {
    let mut s = setup(FakeHubOptions::default()).await;
    s.opts.tokens.set(HubKind::Huggingface, "hf-tok");
    s.opts.tokens.set(HubKind::Github, "gh-tok");
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(HubKind::Paddlehub, RepoType::Module, "lac_demo", None)
        .await
        .unwrap();
    let archive = build_tar_gz(&root().join("paddlehub/modules/lac_demo/1.1.0"), "lac_demo");
    assert_eq!(
        snap.commit,
        format!("1.1.0+sha256:{}", hex::encode(Sha256::digest(&archive)))
    );
    assert_eq!(
        snap.files,
        [
            "lac_demo/__init__.py",
            "lac_demo/module.py",
            "lac_demo/requirements.txt"
        ]
    );
    let m = h.read(&snap, "lac_demo/module.py").await.unwrap();
    assert!(String::from_utf8_lossy(&m).contains("module 1.1.0"));
    let old = h
        .snapshot(
            HubKind::Paddlehub,
            RepoType::Module,
            "lac_demo",
            Some("1.0.0"),
        )
        .await
        .unwrap();
    assert!(old.commit.starts_with("1.0.0+sha256:"));
    let reqs = s.fake.requests();
    assert_eq!(reqs[0].uri, "/paddle/search?word=lac_demo&type=module");
    assert_eq!(reqs[1].listener, "cdn");
    assert!(
        reqs.iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );
    let err = h
        .snapshot(
            HubKind::Paddlehub,
            RepoType::Module,
            "lac_demo",
            Some("9.9.9"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotFound(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gated_repo_needs_the_right_token() {
    let fopts = FakeHubOptions {
        tokens: [("acme/gated".to_string(), "good".to_string())].into(),
        ..Default::default()
    };
    let s = setup(fopts).await;
    // Anonymous: 401 with `X-Error-Code: GatedRepo` (datasets 3.6 load.py:1566-1570).
    let e = hubs(&s.opts)
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/gated", None)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::Gated(_)), "{e}");
    let mut o = s.opts.clone();
    o.tokens.set(HubKind::Huggingface, "bad");
    let e = hubs(&o)
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/gated", None)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::Gated(_)), "{e}");
    o.tokens.set(HubKind::Huggingface, "good");
    let h = hubs(&o);
    let snap = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/gated", None)
        .await
        .unwrap();
    assert_eq!(snap.commit, GATED);
    h.read(&snap, "modeling_gated.py").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn lfs_redirect_to_another_host_drops_the_token() {
    let fopts = FakeHubOptions {
        lfs: vec!["modeling_acme.py".into()],
        ..Default::default()
    };
    let mut s = setup(fopts).await;
    s.opts.tokens.set(HubKind::Huggingface, "hf-secret");
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    let b = h.read(&snap, "modeling_acme.py").await.unwrap();
    assert!(String::from_utf8_lossy(&b).contains("class AcmeModel"));
    let reqs = s.fake.requests();
    let main_resolve = reqs.iter().find(|r| r.uri.contains("/resolve/")).unwrap();
    assert_eq!(main_resolve.headers["authorization"], "Bearer hf-secret");
    let cdn: Vec<_> = reqs.iter().filter(|r| r.listener == "cdn").collect();
    assert_eq!(cdn.len(), 1);
    assert!(
        !cdn[0].headers.contains_key("authorization"),
        "{:?}",
        cdn[0].headers
    );
    assert!(!cdn[0].headers.values().any(|v| v.contains("hf-secret")));
}

fn count(fake: &FakeHub, needle: &str) -> usize {
    uris(fake).iter().filter(|u| u.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_429_with_retry_after_and_5xx_then_gives_up() {
    let fopts = FakeHubOptions {
        forced: vec![
            Forced::new("revision/main", 429).retry_after(1).times(2),
            Forced::new("modeling_acme.py", 503).times(1),
            Forced::new("configuration_acme.py", 500),
            Forced::new("sub/helper.py", 404),
        ],
        ..Default::default()
    };
    let s = setup(fopts).await;
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    assert_eq!(count(&s.fake, "revision/main"), 3);
    h.read(&snap, "modeling_acme.py").await.unwrap();
    assert_eq!(count(&s.fake, "modeling_acme.py"), 2);
    let e = h.read(&snap, "configuration_acme.py").await.unwrap_err();
    assert!(matches!(e, HubError::Network(_)), "{e}");
    assert_eq!(
        count(&s.fake, "configuration_acme.py"),
        4,
        "1 try + 3 retries"
    );
    let e = h.read(&snap, "sub/helper.py").await.unwrap_err();
    assert!(matches!(e, HubError::NotFound(_)), "{e}");
    assert_eq!(count(&s.fake, "sub/helper.py"), 1, "404 is not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stated_wait_beyond_the_budget_fails_at_once_and_429_exhaustion_is_rate_limited() {
    let fopts = FakeHubOptions {
        forced: vec![
            Forced::new("revision/main", 429).retry_after(3600).times(1),
            Forced::new("revision/v0", 429).retry_after(0),
        ],
        ..Default::default()
    };
    let s = setup(fopts).await;
    let h = hubs(&s.opts);
    // An hour-long Retry-After does not fit in the 10 s budget: no partial
    // wait, no second request, a clear "rate limited" reason.
    let e = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::RateLimited(_)), "{e}");
    assert!(e.to_string().starts_with("rate limited: "), "{e}");
    assert!(e.to_string().contains("--max-wait 10 s"), "{e}");
    assert_eq!(count(&s.fake, "revision/main"), 1);
    // A hub that keeps answering 429 with no wait is given up on.
    let e = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            Some("v0"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::RateLimited(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_answer_times_out() {
    let fopts = FakeHubOptions {
        latency: Duration::from_secs(5),
        ..Default::default()
    };
    let mut s = setup(fopts).await;
    s.opts.http.request_timeout = Duration::from_millis(200);
    s.opts.http.max_retries = 1;
    let e = hubs(&s.opts)
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::Timeout(_)), "{e}");
    assert_eq!(s.fake.request_count(), 2, "a timeout is retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn second_pinned_run_makes_zero_requests() {
    let s = setup(FakeHubOptions::default()).await;
    // First run unpinned: the listing is cached under the commit it resolved to.
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    h.read(&snap, "modeling_acme.py").await.unwrap();
    h.read(&snap, "config.json").await.unwrap();
    let gh = h
        .snapshot(HubKind::Github, RepoType::Github, "acme/vision", None)
        .await
        .unwrap();
    h.read(&gh, "hubconf.py").await.unwrap();
    assert!(h.stats().http_requests > 0);
    s.fake.reset_counts();

    let h2 = hubs(&s.opts);
    let snap2 = h2
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            Some(C1),
        )
        .await
        .unwrap();
    assert_eq!(snap2.files, snap.files);
    assert_eq!(
        *h2.read(&snap2, "modeling_acme.py").await.unwrap(),
        *h.read(&snap, "modeling_acme.py").await.unwrap()
    );
    h2.read(&snap2, "config.json").await.unwrap();
    let gh2 = h2
        .snapshot(
            HubKind::Github,
            RepoType::Github,
            "acme/vision",
            Some(VISION),
        )
        .await
        .unwrap();
    h2.read(&gh2, "hubconf.py").await.unwrap();
    assert_eq!(s.fake.request_count(), 0, "{:?}", uris(&s.fake));
    let st = h2.stats();
    assert_eq!(st.http_requests, 0);
    assert_eq!(st.cache_hits, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_share_one_request_per_distinct_resource() {
    let fopts = FakeHubOptions {
        latency: Duration::from_millis(50),
        ..Default::default()
    };
    let mut s = setup(fopts).await;
    s.opts.no_disk_cache = true;
    let h = Arc::new(hubs(&s.opts));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let repo = if i % 2 == 0 {
                "acme/remote-code"
            } else {
                "acme/gated"
            };
            let snap = h
                .snapshot(HubKind::Huggingface, RepoType::Model, repo, None)
                .await
                .unwrap();
            h.read(&snap, "config.json").await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.fake.request_count(), 4, "{:?}", uris(&s.fake));
    assert_eq!(h.stats().http_requests, 4);
}

fn offline_opts(mirror: Option<PathBuf>, hf_cache: Option<PathBuf>, cache: &Path) -> HubOptions {
    let mut o = HubOptions {
        offline: true,
        mirror,
        hf_cache,
        cache_dir: Some(cache.to_path_buf()),
        ..HubOptions::default()
    };
    // Unroutable endpoints: any request would fail loudly rather than pass.
    o.endpoints.set(HubKind::Huggingface, "http://127.0.0.1:9");
    o
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_reads_the_mirror_and_nothing_else() {
    let cache = tempfile::tempdir().unwrap();
    let h = hubs(&offline_opts(Some(root()), None, cache.path()));
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    assert_eq!(snap.commit, C1);
    assert!(h.read(&snap, "sub/helper.py").await.is_ok());
    let ms = h
        .snapshot(HubKind::Modelscope, RepoType::Model, "damo/ms-model", None)
        .await
        .unwrap();
    assert_eq!(ms.commit, MS);
    let gh = h
        .snapshot(HubKind::Github, RepoType::Github, "acme/vision", None)
        .await
        .unwrap();
    assert_eq!(
        (gh.resolved_ref.as_str(), gh.commit.as_str()),
        ("master", VISION)
    );
    let pd = h
        .snapshot(HubKind::Paddlehub, RepoType::Module, "lac_demo", None)
        .await
        .unwrap();
    assert_eq!(pd.commit, "1.1.0+mirror");
    assert!(String::from_utf8_lossy(&h.read(&pd, "module.py").await.unwrap()).contains("1.1.0"));
    let pk = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/pickled", None)
        .await
        .unwrap();
    assert_eq!(pk.commit, PICKLED);
    assert_eq!(
        data_pkl(&h.read_pickle(&pk, "pytorch_model.bin").await.unwrap()),
        PAYLOAD
    );
    let e = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/absent", None)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::Offline(_)), "{e}");
    assert_eq!(h.stats().http_requests, 0);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn offline_reads_the_hf_cache_layout_without_escaping_it() {
    let hf = tempfile::tempdir().unwrap();
    let repo = hf.path().join("models--acme--cached");
    let commit = "1111111111111111111111111111111111111111";
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
    std::fs::write(repo.join("refs/main"), format!("{commit}\n")).unwrap();
    std::fs::write(repo.join("blobs/abc"), b"class Cached: pass\n").unwrap();
    let snapdir = repo.join("snapshots").join(commit);
    std::os::unix::fs::symlink("../../blobs/abc", snapdir.join("modeling_cached.py")).unwrap();
    let outside = hf.path().join("secret.txt");
    std::fs::write(&outside, b"do not read").unwrap();
    std::os::unix::fs::symlink(&outside, snapdir.join("evil.py")).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let h = hubs(&offline_opts(
        None,
        Some(hf.path().to_path_buf()),
        cache.path(),
    ));
    let snap = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/cached", None)
        .await
        .unwrap();
    assert_eq!(snap.commit, commit);
    assert_eq!(
        snap.files,
        ["modeling_cached.py"],
        "a symlink out of the repo folder is not listed"
    );
    assert_eq!(
        &**h.read(&snap, "modeling_cached.py").await.unwrap(),
        b"class Cached: pass\n"
    );
    let forged = Snapshot {
        files: vec!["evil.py".into()],
        ..(*snap).clone()
    };
    assert!(h.read(&forged, "evil.py").await.is_err());
    assert_eq!(h.stats().http_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn mirror_is_consulted_first_when_online() {
    let mut s = setup(FakeHubOptions::default()).await;
    s.opts.mirror = Some(root());
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    h.read(&snap, "modeling_acme.py").await.unwrap();
    assert_eq!(s.fake.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_ids_and_paths_never_reach_a_url() {
    let s = setup(FakeHubOptions::default()).await;
    let h = hubs(&s.opts);
    for id in [
        "../etc",
        "https://evil.invalid/x",
        "user@evil.invalid/x",
        "a\\b/c",
        "a/b/c",
        "a//b",
    ] {
        let e = h
            .snapshot(HubKind::Huggingface, RepoType::Model, id, None)
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::Invalid(_)), "{id}: {e}");
    }
    let e = h
        .snapshot(
            HubKind::Github,
            RepoType::Github,
            "acme/vision",
            Some("../../x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::Invalid(_)), "{e}");
    let snap = h
        .snapshot(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/remote-code",
            None,
        )
        .await
        .unwrap();
    s.fake.reset_counts();
    let forged = Snapshot {
        files: vec![
            "../../../etc/passwd".into(),
            "/etc/passwd".into(),
            "http://x/y".into(),
        ],
        ..(*snap).clone()
    };
    for p in ["../../../etc/passwd", "/etc/passwd", "http://x/y"] {
        assert!(
            matches!(h.read(&forged, p).await, Err(HubError::Invalid(_))),
            "{p}"
        );
    }
    let e = h.read(&snap, "not_listed.py").await.unwrap_err();
    assert!(matches!(e, HubError::NotFound(_)), "{e}");
    assert_eq!(s.fake.request_count(), 0);
}

/// A tar with one raw header (names the tar crate would refuse to write).
fn raw_tar(entries: &[(&[u8], tar::EntryType)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(1);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn module_archives_cannot_escape_or_bomb() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            raw_tar(&[(b"lac_demo/../../evil.py", tar::EntryType::Regular)]),
            "traversal",
        ),
        (
            raw_tar(&[(b"/tmp/evil.py", tar::EntryType::Regular)]),
            "absolute",
        ),
        (
            raw_tar(&[(b"lac_demo/link.py", tar::EntryType::Symlink)]),
            "symlink",
        ),
        (
            raw_tar(&[(b"lac_demo/hard.py", tar::EntryType::Link)]),
            "hardlink",
        ),
    ];
    for (bytes, what) in cases {
        let s = setup(FakeHubOptions {
            paddle_archives: [("lac_demo".to_string(), bytes)].into(),
            ..Default::default()
        })
        .await;
        let e = hubs(&s.opts)
            .snapshot(HubKind::Paddlehub, RepoType::Module, "lac_demo", None)
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::Invalid(_)), "{what}: {e}");
    }
    let names: Vec<Vec<u8>> = (0..10_001)
        .map(|i| format!("m/f{i}.py").into_bytes())
        .collect();
    let many: Vec<(&[u8], tar::EntryType)> = names
        .iter()
        .map(|n| (n.as_slice(), tar::EntryType::Regular))
        .collect();
    let s = setup(FakeHubOptions {
        paddle_archives: [("lac_demo".to_string(), raw_tar(&many))].into(),
        ..Default::default()
    })
    .await;
    let e = hubs(&s.opts)
        .snapshot(HubKind::Paddlehub, RepoType::Module, "lac_demo", None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, HubError::Cap(ref m) if m.contains("entries")),
        "{e}"
    );

    let deep = format!("m/{}x.py", "d/".repeat(40));
    let s = setup(FakeHubOptions {
        paddle_archives: [(
            "lac_demo".to_string(),
            raw_tar(&[(deep.as_bytes(), tar::EntryType::Regular)]),
        )]
        .into(),
        ..Default::default()
    })
    .await;
    let e = hubs(&s.opts)
        .snapshot(HubKind::Paddlehub, RepoType::Module, "lac_demo", None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, HubError::Cap(ref m) if m.contains("deeper")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn module_member_over_the_file_cap_is_listed_but_not_read() {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in [
        ("lac_demo/module.py", b"class Lac: pass\n".to_vec()),
        ("lac_demo/assets/big.py", vec![b'#'; 11 * 1024 * 1024]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    let archive = b.into_inner().unwrap().finish().unwrap();
    let s = setup(FakeHubOptions {
        paddle_archives: [("lac_demo".to_string(), archive)].into(),
        ..Default::default()
    })
    .await;
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(HubKind::Paddlehub, RepoType::Module, "lac_demo", None)
        .await
        .unwrap();
    assert_eq!(snap.files, ["lac_demo/assets/big.py", "lac_demo/module.py"]);
    assert_eq!(
        &**h.read(&snap, "lac_demo/module.py").await.unwrap(),
        b"class Lac: pass\n"
    );
    let e = h.read(&snap, "lac_demo/assets/big.py").await.unwrap_err();
    assert!(matches!(e, HubError::Cap(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pickles_are_read_with_ranges_through_the_lfs_redirect() {
    let fopts = FakeHubOptions {
        lfs: vec!["pytorch_model.bin".into(), "optimizer.pt".into()],
        ..Default::default()
    };
    let s = setup(fopts).await;
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/pickled", None)
        .await
        .unwrap();
    let before = h.stats().bytes_fetched;
    assert_eq!(
        data_pkl(&h.read_pickle(&snap, "pytorch_model.bin").await.unwrap()),
        PAYLOAD
    );
    let size = std::fs::metadata(root().join(format!(
        "huggingface/models/acme/pickled/{PICKLED}/pytorch_model.bin"
    )))
    .unwrap()
    .len();
    let used = h.stats().bytes_fetched - before;
    assert!(used * 2 < size, "read {used} of {size} bytes");
    let cdn: Vec<_> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.listener == "cdn")
        .collect();
    assert!(!cdn.is_empty() && cdn.iter().all(|r| r.headers.contains_key("range")));
    assert_eq!(
        data_pkl(&h.read_pickle(&snap, "optimizer.pt").await.unwrap()),
        PAYLOAD,
        "deflated data.pkl"
    );
    assert_eq!(
        data_pkl(&h.read_pickle(&snap, "model.pkl").await.unwrap()),
        PAYLOAD,
        "raw pickle"
    );
}

/// A stored zip checkpoint with a big weights member after `data.pkl`.
fn big_checkpoint(weights: usize) -> Vec<u8> {
    let members: [(&str, Vec<u8>); 2] = [
        ("archive/data.pkl", PAYLOAD.to_vec()),
        ("archive/data/0", vec![7u8; weights]),
    ];
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in &members {
        let off = out.len() as u32;
        let crc = 0u32;
        let mut lh = b"PK\x03\x04".to_vec();
        lh.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        lh.extend_from_slice(&crc.to_le_bytes());
        lh.extend_from_slice(&(data.len() as u32).to_le_bytes());
        lh.extend_from_slice(&(data.len() as u32).to_le_bytes());
        lh.extend_from_slice(&(name.len() as u16).to_le_bytes());
        lh.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&lh);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        cd.extend_from_slice(b"PK\x01\x02");
        cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        cd.extend_from_slice(&crc.to_le_bytes());
        cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0u8; 12]);
        cd.extend_from_slice(&off.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn temp_repo(
    hub_dir: &str,
    repo: &str,
    commit: &str,
    files: &[(&str, &[u8])],
) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join(hub_dir).join(repo);
    std::fs::create_dir_all(dir.join(commit)).unwrap();
    std::fs::write(dir.join("refs.json"), format!("{{\"main\": \"{commit}\"}}")).unwrap();
    for (p, b) in files {
        let f = dir.join(commit).join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, b).unwrap();
    }
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn big_checkpoint_reads_a_tiny_fraction_and_big_code_hits_the_cap() {
    let commit = "2222222222222222222222222222222222222222";
    let ck = big_checkpoint(32 * 1024 * 1024);
    let big_py = vec![b'#'; 11 * 1024 * 1024];
    let t = temp_repo(
        "huggingface/models",
        "acme/big",
        commit,
        &[("pytorch_model.bin", &ck), ("huge.py", &big_py)],
    );
    let s = setup_at(t.path().to_path_buf(), FakeHubOptions::default()).await;
    let h = hubs(&s.opts);
    let snap = h
        .snapshot(HubKind::Huggingface, RepoType::Model, "acme/big", None)
        .await
        .unwrap();
    let before = h.stats().bytes_fetched;
    assert_eq!(
        data_pkl(&h.read_pickle(&snap, "pytorch_model.bin").await.unwrap()),
        PAYLOAD
    );
    let used = h.stats().bytes_fetched - before;
    assert!(
        used * 100 < ck.len() as u64,
        "read {used} of {} bytes",
        ck.len()
    );
    let e = h.read(&snap, "huge.py").await.unwrap_err();
    assert!(matches!(e, HubError::Cap(_)), "{e}");
}

/// Benchmark (run by bench/resolve_bench.sh, ignored by default): 200 calls over
/// 50 repos, 50 ms per request. Each call resolves its repo, then reads three
/// files one after another (a chain of 4 requests). Prints the wall time next to
/// the chain bound; asserts only the request count (distinct files + revisions).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn bench_fetch_200_calls_over_50_repos() {
    let t = tempfile::tempdir().unwrap();
    for r in 0..50 {
        let commit = format!("{:040x}", r + 1);
        let dir = t.path().join(format!("huggingface/models/bench/repo{r}"));
        std::fs::create_dir_all(dir.join(&commit)).unwrap();
        std::fs::write(dir.join("refs.json"), format!("{{\"main\": \"{commit}\"}}")).unwrap();
        for f in ["config.json", "modeling_x.py", "utils.py"] {
            std::fs::write(dir.join(&commit).join(f), format!("# {f} of repo{r}\n")).unwrap();
        }
    }
    let latency = Duration::from_millis(50);
    let s = setup_at(
        t.path().to_path_buf(),
        FakeHubOptions {
            latency,
            ..Default::default()
        },
    )
    .await;
    let mut o = s.opts.clone();
    o.no_disk_cache = true;
    o.http.max_concurrency = hubwarden::hub::HttpConfig::default().max_concurrency;
    let h = Arc::new(hubs(&o));
    let start = std::time::Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                let repo = format!("bench/repo{}", i % 50);
                let snap = h
                    .snapshot(HubKind::Huggingface, RepoType::Model, &repo, None)
                    .await
                    .unwrap();
                for f in ["config.json", "modeling_x.py", "utils.py"] {
                    h.read(&snap, f).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let wall = start.elapsed();
    let chain = latency * 4;
    println!(
        "bench: 200 calls / 50 repos, {} requests (50 revisions + 150 files), wall {:?}, chain bound {:?} (x{:.2}), concurrency {}",
        s.fake.request_count(),
        wall,
        chain,
        wall.as_secs_f64() / chain.as_secs_f64(),
        o.http.max_concurrency
    );
    assert_eq!(s.fake.request_count(), 200);
}
