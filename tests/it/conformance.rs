//! Conformance with the hub libraries' own code: one test per library rule,
//! named after the library function it mirrors, with the library file, line
//! and version in its doc comment. When a library changes a rule, the test to
//! update is the one named after it.

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
