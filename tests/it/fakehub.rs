//! An in-process fake model hub: serves a mirror folder (the offline-mirror
//! layout) in the API shapes that the real Hugging Face, ModelScope, OpenCSG,
//! GitHub and PaddleHub servers send, with knobs for tokens, forced statuses,
//! rate limits, latency and LFS-style redirects to a second listener (a
//! different origin), and a request log.
//!
//! Every response shape names, in a comment next to it, the server or client
//! source it follows (file:line at the version read), so that the fake agrees
//! with the services and not with our own reference. Where only a client's
//! reading of an answer is known (the server is closed source or the status was
//! never captured), the comment says "unverified".
//!
//! Sources: huggingface_hub 2.4.0 (`hfh:`), datasets 3.6.0 (`ds:`),
//! csghub-server c1ada0e1 (`csgs:`), pycsghub 0.9.3 (`csg:`), modelscope_hub
//! 0.5.1 (`msh:`), modelscope tests at 0165a9d8 (`ms-tests:`), PaddleHub 2.4.0
//! (`ph:`), GitHub REST API docs (`gh-docs:`).
//!
//! Reuse: `let hub = FakeHub::start(root, FakeHubOptions::default()).await;`
//! then `hub.endpoints()` / `hub.hub_options(cache)` for `HubOptions`, and
//! `FakeHub::start_with(root, opts, extra_router)` to merge more routes (they
//! take precedence over the hub routes, which are the fallback).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hubwarden::hub::{Endpoints, HttpConfig, HubOptions};
use hubwarden::model::HubKind;
use percent_encoding::percent_decode_str;
use serde_json::json;
use sha2::Digest as _;

/// A forced answer for requests whose path (with query) contains `path_contains`.
#[derive(Clone, Debug)]
pub struct Forced {
    pub path_contains: String,
    pub status: u16,
    pub retry_after: Option<u64>,
    /// Force only the first `times` matching requests (0 = always).
    pub times: usize,
    /// `X-Error-Code` header to add (HF style), if any.
    pub error_code: Option<String>,
    /// Send HF's rate-limit headers with `r=0;t=<this>` (see [`hf_ratelimit_headers`]).
    pub ratelimit_reset: Option<u64>,
    /// A body (sent as JSON when it parses as JSON).
    pub body: Option<String>,
    /// More headers.
    pub headers: Vec<(String, String)>,
}

impl Forced {
    pub fn new(path_contains: &str, status: u16) -> Forced {
        Forced {
            path_contains: path_contains.into(),
            status,
            retry_after: None,
            times: 0,
            error_code: None,
            ratelimit_reset: None,
            body: None,
            headers: Vec::new(),
        }
    }
    pub fn times(mut self, n: usize) -> Forced {
        self.times = n;
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Forced {
        self.retry_after = Some(secs);
        self
    }
    pub fn error_code(mut self, code: &str) -> Forced {
        self.error_code = Some(code.into());
        self
    }
    /// HF 429 shape: `RateLimit: "api";r=0;t=<secs>` and its policy.
    pub fn ratelimit(mut self, secs: u64) -> Forced {
        self.ratelimit_reset = Some(secs);
        self
    }
    pub fn body(mut self, body: &str) -> Forced {
        self.body = Some(body.into());
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Forced {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Hugging Face's fixed-window request quotas, per bucket ("api" for
/// `/api/...`, "resolvers" for `/resolve/`; hub-docs `rate-limits.md`, anonymous
/// 500 and 3,000 per 5 minutes). Every answer carries the `RateLimit` headers
/// (hfh:utils/_http.py:971 "Headers are set on every response").
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    pub api: u64,
    pub resolvers: u64,
    pub window: Duration,
}

/// Knobs.
#[derive(Clone, Debug, Default)]
pub struct FakeHubOptions {
    /// repo id -> token required. On Hugging Face the repo is gated (401
    /// `GatedRepo` without a token, 403 `GatedRepo` with another one); on the
    /// other hubs it is private.
    pub tokens: HashMap<String, String>,
    /// Hugging Face repo id -> token: private repos (401 `RepoNotFound` without
    /// a token, 404 `RepoNotFound` with another one).
    pub private: HashMap<String, String>,
    pub forced: Vec<Forced>,
    /// Delay before every answer (both listeners).
    pub latency: Duration,
    /// File paths (repo-relative) that HF/OpenCSG `resolve` redirects to the CDN listener.
    pub lfs: Vec<String>,
    /// PaddleHub module name -> archive bytes served instead of the mirror folder.
    pub paddle_archives: HashMap<String, Vec<u8>>,
    /// ModelScope revisions items carry a `CommitId` (a newer server shape,
    /// msh tests `tests/cli/test_compat_revision.py:110`; the SDK reads only
    /// `Revision` and `CreatedAt`).
    pub modelscope_commit_in_revisions: bool,
    /// GitHub contents answers base64 JSON even when raw is asked for.
    pub github_json_contents: bool,
    /// ModelScope listings give a wrong `Sha256` for every file.
    pub modelscope_wrong_sha256: bool,
    /// Hugging Face quotas; None = no rate-limit headers.
    pub hf_quota: Option<Quota>,
    /// ModelScope private repos accept only the `m_session_id` cookie, as the
    /// 1.x SDK authenticated (ms@v1.37.1 `hub/api.py:244-266`), not Bearer.
    pub modelscope_cookie_only: bool,
    /// A missing ModelScope repo is answered 200 with `Success: false` (the
    /// SDKs treat a business failure in a 200 as an error:
    /// msh:_legacy_api.py:784-789); default 404 with the same envelope.
    pub modelscope_not_found_200: bool,
    /// Entries after which ModelScope `repo/files` silently stops
    /// (`REPO_FILES_TRUNCATION_LIMIT = 3000`, msh:constants.py:629); 0 = 3000.
    pub modelscope_files_cap: usize,
    /// (repo, folders, files per folder): extra empty files `syn{i}/f{j}.txt`
    /// listed (never read) in that ModelScope repo, to pass the listing cap.
    pub modelscope_synthetic: Option<(String, usize, usize)>,
    /// Hugging Face repo id -> its `securityRepoStatus` (sent when the revision
    /// request asks `securityStatus=true`); default: scans done, no issues.
    pub hf_scans: HashMap<String, serde_json::Value>,
    /// Hugging Face repo id -> this many made-up files `_syn/f{i}.txt` (sorted first) added to
    /// its listings (siblings and tree; they cannot be downloaded).
    pub hf_synthetic: Option<(String, usize)>,
    /// Cut `siblings` after this many entries (whether the Hub does is
    /// unverified; huggingface_hub stopped trusting it above 50,000).
    pub hf_siblings_cap: Option<usize>,
    /// Entries per `tree` page (default 1,000).
    pub hf_tree_page: Option<usize>,
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    /// `main` or `cdn`.
    pub listener: &'static str,
    pub method: String,
    /// Path and query as sent.
    pub uri: String,
    /// Lower-cased header names.
    pub headers: BTreeMap<String, String>,
}

/// Requests counted in the current quota window.
#[derive(Default)]
struct QuotaState {
    start: Option<Instant>,
    api: u64,
    resolvers: u64,
}

struct Shared {
    root: PathBuf,
    opts: Mutex<FakeHubOptions>,
    forced_hits: Mutex<HashMap<usize, usize>>,
    quota: Mutex<QuotaState>,
    log: Mutex<Vec<Logged>>,
    main: SocketAddr,
    cdn: SocketAddr,
}

#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    listener: &'static str,
}

/// A running fake hub.
pub struct FakeHub {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl FakeHub {
    pub async fn start(root: impl Into<PathBuf>, opts: FakeHubOptions) -> FakeHub {
        FakeHub::start_with(root, opts, Router::new()).await
    }

    /// Start with `extra` routes merged in front of the hub routes.
    pub async fn start_with(
        root: impl Into<PathBuf>,
        opts: FakeHubOptions,
        extra: Router,
    ) -> FakeHub {
        let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // A different host when the system allows it (Linux routes all of
        // 127/8 to lo), else another port: either way another origin.
        let cdn = match tokio::net::TcpListener::bind("127.0.0.2:0").await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let shared = Arc::new(Shared {
            root: root.into(),
            opts: Mutex::new(opts),
            forced_hits: Mutex::new(HashMap::new()),
            quota: Mutex::new(QuotaState::default()),
            log: Mutex::new(Vec::new()),
            main: main.local_addr().unwrap(),
            cdn: cdn.local_addr().unwrap(),
        });
        let router = |listener| {
            Router::new().fallback(handle).with_state(Ctx {
                shared: shared.clone(),
                listener,
            })
        };
        let main_router = extra.merge(router("main"));
        let cdn_router = router("cdn");
        let tasks = vec![
            tokio::spawn(async move {
                axum::serve(main, main_router).await.unwrap();
            }),
            tokio::spawn(async move {
                axum::serve(cdn, cdn_router).await.unwrap();
            }),
        ];
        FakeHub { shared, tasks }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.shared.main)
    }

    pub fn cdn_base(&self) -> String {
        format!("http://{}", self.shared.cdn)
    }

    /// The endpoint a client is configured with for `hub`.
    pub fn url(&self, hub: HubKind) -> String {
        let b = self.base();
        match hub {
            HubKind::Huggingface => format!("{b}/hf"),
            HubKind::Modelscope => format!("{b}/ms"),
            HubKind::Opencsg => format!("{b}/csg-ep"),
            HubKind::Github => format!("{b}/gh"),
            HubKind::Paddlehub => format!("{b}/paddle"),
        }
    }

    /// ModelScope's second site (`www.modelscope.ai`), served from `modelscope-ai/`.
    pub fn modelscope_ai_url(&self) -> String {
        format!("{}/ms-ai", self.base())
    }

    pub fn endpoints(&self) -> Endpoints {
        let mut e = Endpoints::default();
        for hub in hubwarden::hub::HUBS {
            e.set(hub.kind(), self.url(hub.kind()));
        }
        e
    }

    /// Options for `Hubs` against this fake: its endpoints, no tokens, the given
    /// disk cache, short timeouts and backoffs, a 10 s rate-limit budget and no
    /// rate-limit margin.
    pub fn hub_options(&self, cache_dir: &Path) -> HubOptions {
        HubOptions {
            endpoints: self.endpoints(),
            cache_dir: Some(cache_dir.to_path_buf()),
            http: HttpConfig {
                connect_timeout: Duration::from_secs(5),
                read_timeout: Duration::from_secs(10),
                request_timeout: Duration::from_secs(20),
                max_concurrency: 16,
                max_retries: 3,
                backoff: Duration::from_millis(10),
                max_retry_wait: Duration::from_secs(2),
                max_redirects: 5,
                max_wait: Duration::from_secs(10),
                rate_limit_margin: Duration::ZERO,
            },
            ..HubOptions::default()
        }
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.log.lock().unwrap().len()
    }

    pub fn reset_counts(&self) {
        self.shared.log.lock().unwrap().clear();
        self.shared.forced_hits.lock().unwrap().clear();
        *self.shared.quota.lock().unwrap() = QuotaState::default();
    }

    pub fn set_options(&self, opts: FakeHubOptions) {
        *self.shared.opts.lock().unwrap() = opts;
        self.shared.forced_hits.lock().unwrap().clear();
        *self.shared.quota.lock().unwrap() = QuotaState::default();
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

fn err(code: u16, msg: &str) -> Response {
    (status(code), msg.to_string()).into_response()
}

fn segs(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

fn query(uri: &axum::http::Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl Shared {
    fn repo_dir(&self, hub_dir: &str, repo: &str) -> PathBuf {
        self.root.join(hub_dir).join(repo)
    }

    fn refs(&self, dir: &Path) -> BTreeMap<String, String> {
        std::fs::read(dir.join("refs.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// A ref name or a commit -> the commit, if the repo has it.
    fn resolve(&self, dir: &Path, rev: &str) -> Option<String> {
        if let Some(c) = self.refs(dir).get(rev) {
            return Some(c.clone());
        }
        (rev.len() == 40 && dir.join(rev).is_dir()).then(|| rev.to_string())
    }

    /// Count one HF request in its bucket.
    fn take_quota(&self, q: Quota, bucket: &str) -> QuotaAnswer {
        let mut st = self.quota.lock().unwrap();
        let now = Instant::now();
        let start = match st.start {
            Some(s) if now.duration_since(s) < q.window => s,
            _ => {
                *st = QuotaState {
                    start: Some(now),
                    ..QuotaState::default()
                };
                now
            }
        };
        let (used, limit) = if bucket == "resolvers" {
            (&mut st.resolvers, q.resolvers)
        } else {
            (&mut st.api, q.api)
        };
        *used += 1;
        QuotaAnswer {
            remaining: limit.saturating_sub(*used),
            over: *used > limit,
            reset: q
                .window
                .saturating_sub(now.duration_since(start))
                .as_secs_f64()
                .ceil() as u64,
            limit,
            window: q.window.as_secs(),
        }
    }
}

/// Where one request leaves its quota window.
struct QuotaAnswer {
    remaining: u64,
    over: bool,
    reset: u64,
    limit: u64,
    window: u64,
}

/// HF's rate-limit headers: `RateLimit: "api";r=0;t=55` and
/// `RateLimit-Policy: "fixed window";"api";q=500;w=300`, the shapes that
/// huggingface_hub parses (hfh:utils/_http.py:80-141, its docstring example) and
/// hub-docs `rate-limits.md` documents (5-minute fixed windows).
fn hf_ratelimit_headers(
    mut b: axum::http::response::Builder,
    bucket: &str,
    remaining: u64,
    reset: u64,
    quota: u64,
    window: u64,
) -> axum::http::response::Builder {
    b = b.header("ratelimit", format!("\"{bucket}\";r={remaining};t={reset}"));
    b.header(
        "ratelimit-policy",
        format!("\"fixed window\";\"{bucket}\";q={quota};w={window}"),
    )
}

fn json_body(b: axum::http::response::Builder, code: u16, v: serde_json::Value) -> Response {
    b.status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&v).unwrap()))
        .unwrap()
}

fn json_resp(v: serde_json::Value) -> Response {
    json_body(Response::builder(), 200, v)
}

fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(d: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(&e.path(), &rel, out);
            } else if ft.is_file() {
                out.push(rel);
            }
        }
    }
    walk(dir, "", &mut out);
    out.sort();
    out
}

fn tree_dirs(files: &[String]) -> Vec<String> {
    let mut dirs: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let parts: Vec<&str> = f.split('/').collect();
            (1..parts.len()).map(move |i| parts[..i].join("/"))
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Serve file bytes honouring a `Range` header.
fn serve_bytes(bytes: Vec<u8>, headers: &HeaderMap) -> Response {
    let total = bytes.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .map(str::to_string);
    if let Some(r) = range {
        let (a, b) = r.split_once('-').unwrap_or(("", ""));
        let (start, end) = if a.is_empty() {
            let n: u64 = b.parse().unwrap_or(0);
            (total.saturating_sub(n), total.saturating_sub(1))
        } else {
            let s: u64 = a.parse().unwrap_or(0);
            let e: u64 = b.parse().unwrap_or(u64::MAX).min(total.saturating_sub(1));
            (s, e)
        };
        if start >= total || start > end {
            return Response::builder()
                .status(416)
                .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                .body(Body::empty())
                .unwrap();
        }
        let slice = bytes[start as usize..=end as usize].to_vec();
        return Response::builder()
            .status(206)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{total}"),
            )
            .header(header::ACCEPT_RANGES, "bytes")
            .body(Body::from(slice))
            .unwrap();
    }
    Response::builder()
        .status(200)
        .header(header::ACCEPT_RANGES, "bytes")
        .body(Body::from(bytes))
        .unwrap()
}

async fn handle(State(ctx): State<Ctx>, req: Request) -> Response {
    let sh = ctx.shared.clone();
    let uri = req.uri().clone();
    let method = req.method().to_string();
    let headers = req.headers().clone();
    let uri_s = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    sh.log.lock().unwrap().push(Logged {
        listener: ctx.listener,
        method: method.clone(),
        uri: uri_s.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
    });
    let opts = sh.opts.lock().unwrap().clone();
    if !opts.latency.is_zero() {
        tokio::time::sleep(opts.latency).await;
    }
    for (i, f) in opts.forced.iter().enumerate() {
        if uri_s.contains(&f.path_contains) {
            let mut hits = sh.forced_hits.lock().unwrap();
            let n = hits.entry(i).or_insert(0);
            if f.times == 0 || *n < f.times {
                *n += 1;
                let mut b = Response::builder().status(f.status);
                if let Some(s) = f.retry_after {
                    b = b.header(header::RETRY_AFTER, s.to_string());
                }
                if let Some(c) = &f.error_code {
                    b = b.header("x-error-code", c.as_str());
                }
                for (k, v) in &f.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                if let Some(t) = f.ratelimit_reset {
                    let bucket = if uri_s.contains("/resolve/") {
                        "resolvers"
                    } else {
                        "api"
                    };
                    // The anonymous quotas of hub-docs `rate-limits.md`.
                    let q = if bucket == "api" { 500 } else { 3000 };
                    b = hf_ratelimit_headers(b, bucket, 0, t, q, 300);
                }
                return match &f.body {
                    Some(body) if serde_json::from_str::<serde_json::Value>(body).is_ok() => b
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(body.clone()))
                        .unwrap(),
                    Some(body) => b.body(Body::from(body.clone())).unwrap(),
                    None => b.body(Body::from("forced")).unwrap(),
                };
            }
        }
    }
    if ctx.listener == "cdn" {
        return cdn(&sh, &opts, &uri, &headers);
    }
    let s = segs(uri.path());
    let Some(first) = s.first().cloned() else {
        return err(404, "no route");
    };
    let rest: Vec<String> = s[1..].to_vec();
    let q = query(&uri);
    match first.as_str() {
        "hf" => hf(&sh, &opts, &rest, &headers, &q),
        "csg-ep" if rest.first().map(String::as_str) == Some("csg") => {
            csg(&sh, &opts, &rest[1..], &headers, &method)
        }
        "ms" => modelscope(&sh, &opts, "modelscope", &rest, &q, &headers),
        // ModelScope's second site (`www.modelscope.ai`), served from `modelscope-ai/`.
        "ms-ai" => modelscope(&sh, &opts, "modelscope-ai", &rest, &q, &headers),
        "gh" => github(&sh, &opts, &rest, &q, &headers),
        "paddle" => paddle(&sh, &rest, &q),
        _ => err(404, "no route"),
    }
}

/// What a request is about.
struct RepoRef {
    /// `models`, `datasets`, `spaces`, `codes`.
    kind: String,
    repo: String,
    /// The path after the repo: `revision/{rev}`, `resolve/{rev}/{path}`, or empty.
    tail: Vec<String>,
    api: bool,
}

/// `api/{kind}/{o}/{n}[/revision/{rev}]` or `[{kind}/]{o}/{n}/resolve/{rev}/{path}`.
fn hf_repo(rest: &[String]) -> Option<RepoRef> {
    let kinds = ["datasets", "spaces", "codes", "models"];
    let (api, kind, r) = if rest.first().map(String::as_str) == Some("api") {
        (true, rest.get(1)?.clone(), &rest[2..])
    } else if kinds.contains(&rest.first()?.as_str()) {
        (false, rest[0].clone(), &rest[1..])
    } else {
        (false, "models".to_string(), rest)
    };
    if r.len() < 2 {
        return None;
    }
    Some(RepoRef {
        kind,
        repo: format!("{}/{}", r[0], r[1]),
        tail: r[2..].to_vec(),
        api,
    })
}

/// A Hugging Face error: `X-Error-Code` (and `X-Error-Message`) headers, which
/// huggingface_hub keys on (hfh:utils/_http.py:880-946).
fn hf_error(
    b: axum::http::response::Builder,
    code: u16,
    error_code: Option<&str>,
    message: &str,
) -> Response {
    let mut b = b.status(code).header("x-error-message", message);
    if let Some(c) = error_code {
        b = b.header("x-error-code", c);
    }
    b.header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "error": message }).to_string()))
        .unwrap()
}

fn hf(
    sh: &Shared,
    opts: &FakeHubOptions,
    rest: &[String],
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Response {
    let Some(rr) = hf_repo(rest) else {
        return err(404, "no route");
    };
    let mut b = Response::builder();
    if let Some(q) = opts.hf_quota {
        let bucket = if rr.api { "api" } else { "resolvers" };
        let a = sh.take_quota(q, bucket);
        b = hf_ratelimit_headers(b, bucket, a.remaining, a.reset, a.limit, a.window);
        if a.over {
            return hf_error(b, 429, None, "Too Many Requests");
        }
    }
    let token = bearer(headers);
    let dir = sh.repo_dir(&format!("huggingface/{}", rr.kind), &rr.repo);
    // Gated: 401 `GatedRepo` when anonymous, 403 when the token has no access
    // (ds:load.py:1566-1570; the hfh `GatedRepoError` docstring shows the 403).
    if let Some(want) = opts.tokens.get(&rr.repo) {
        match &token {
            None => {
                return hf_error(
                    b,
                    401,
                    Some("GatedRepo"),
                    "Access to this repository is restricted. Please log in.",
                );
            }
            Some(t) if t != want => {
                return hf_error(
                    b,
                    403,
                    Some("GatedRepo"),
                    "Access to this repository is restricted. You must be granted access.",
                );
            }
            _ => {}
        }
    }
    // Private and missing repos look alike: 401 `RepoNotFound` when anonymous
    // ("401 is misleading as it is returned for private and gated repos if user
    // is not authenticated, missing repos", hfh:utils/_http.py:933-940), 404
    // with a token that cannot see it.
    let hidden = opts
        .private
        .get(&rr.repo)
        .is_some_and(|want| token.as_ref() != Some(want));
    if hidden || !dir.is_dir() {
        let code = if token.is_some() { 404 } else { 401 };
        return hf_error(b, code, Some("RepoNotFound"), "Repository not found");
    }
    // r = ["revision"|"resolve", rev, path...]
    let r = &rr.tail;
    if r.len() < 2 {
        return err(404, "no route");
    }
    let Some(commit) = sh.resolve(&dir, &r[1]) else {
        return hf_error(b, 404, Some("RevisionNotFound"), "Invalid rev id");
    };
    let listed = || {
        let mut files = list_files(&dir.join(&commit));
        if let Some((repo, n)) = &opts.hf_synthetic
            && *repo == rr.repo
        {
            files.extend((0..*n).map(|i| format!("_syn/f{i}.txt")));
            files.sort();
        }
        files
    };
    if rr.api && r[0] == "tree" {
        // `GET /api/{type}s/{repo}/tree/{rev}?recursive=true&expand=false` ->
        // `[{type: "file"|"directory", oid, size, path}]`, further pages in
        // `Link: <url>; rel="next"` (hfh:hf_api.py:4098-4101 `list_repo_tree`,
        // utils/_pagination.py `paginate`; the cursor's form is the server's
        // own and unverified: here an index).
        let files = listed();
        let page = opts.hf_tree_page.unwrap_or(1000).max(1);
        let start: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
        let end = (start + page).min(files.len());
        let items: Vec<serde_json::Value> = files[start.min(end)..end]
            .iter()
            .map(|f| json!({"type": "file", "oid": "0", "size": 0, "path": f}))
            .collect();
        let mut b = b;
        if end < files.len() {
            let next = format!(
                "http://{}/hf/api/{}/{}/tree/{}?recursive=true&expand=false&cursor={end}",
                sh.main, rr.kind, rr.repo, r[1]
            );
            b = b.header("link", format!("<{next}>; rel=\"next\""));
        }
        return json_body(b, 200, json!(items));
    }
    if rr.api && r[0] == "revision" {
        // `GET /api/{type}s/{repo}/revision/{rev}` -> `sha`, `siblings[].rfilename`
        // (hfh:hf_api.py `model_info`/`dataset_info`, `ModelInfo` fields).
        let mut files = listed();
        if let Some(cap) = opts.hf_siblings_cap {
            files.truncate(cap);
        }
        let mut info = json!({
            "id": rr.repo,
            "sha": commit,
            "private": opts.private.contains_key(&rr.repo),
            "gated": if opts.tokens.contains_key(&rr.repo) { json!("manual") } else { json!(false) },
            "siblings": files.iter().map(|f| json!({"rfilename": f})).collect::<Vec<_>>(),
        });
        // `?securityStatus=True` (requests renders Python's True so) adds
        // `securityRepoStatus` {scansDone: bool,
        // filesWithIssues: [{path, ...}]} (hfh:hf_api.py:3328-3329 sends it,
        // :1116 reads it; tests/test_hf_api.py:1909-1919 asserts `scansDone` is
        // a bool and `filesWithIssues` is present). The items' `path` is what
        // clients read; their other fields are unverified.
        if rr.kind == "models" && q.get("securityStatus").map(String::as_str) == Some("True") {
            info["securityRepoStatus"] = opts
                .hf_scans
                .get(&rr.repo)
                .cloned()
                .unwrap_or_else(|| json!({"scansDone": true, "filesWithIssues": []}));
        }
        return json_body(b, 200, info);
    }
    if !rr.api && r[0] == "resolve" {
        let path = r[2..].join("/");
        let Ok(bytes) = std::fs::read(dir.join(&commit).join(&path)) else {
            return hf_error(b, 404, Some("EntryNotFound"), "Entry not found");
        };
        // `X-Repo-Commit` on every resolve answer (hfh:constants.py
        // `HUGGINGFACE_HEADER_X_REPO_COMMIT`, file_download.py `get_hf_file_metadata`).
        let b = b.header("x-repo-commit", commit.as_str());
        if opts.lfs.contains(&path) {
            let loc = format!(
                "http://{}/huggingface/{}/{}/{}/{}",
                sh.cdn, rr.kind, rr.repo, commit, path
            );
            // LFS files redirect to the CDN with `X-Linked-Etag` (the sha256).
            return b
                .status(302)
                .header(header::LOCATION, loc)
                .header(
                    "x-linked-etag",
                    format!("\"{}\"", hex::encode(sha2::Sha256::digest(&bytes))),
                )
                .header("x-linked-size", bytes.len().to_string())
                .body(Body::empty())
                .unwrap();
        }
        let mut resp = serve_bytes(bytes, headers);
        let (parts, _) = b.body(()).unwrap().into_parts();
        for (k, v) in parts.headers.iter() {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        return resp;
    }
    err(404, "no route")
}

/// csghub-server's JSON error envelope `R{code, msg}` (csgs:api/httpbase/response.go:333-341).
fn csg_error(code: u16, err_code: Option<&str>, msg: &str) -> Response {
    let mut v = json!({ "msg": msg });
    if let Some(c) = err_code {
        v["code"] = json!(c);
    }
    json_body(Response::builder(), code, v)
}

/// OpenCSG (csghub-server), mounted under `/csg` (also `/hf`, `/ms`;
/// csgs:api/router/api.go:147-192,1120-1224).
fn csg(
    sh: &Shared,
    opts: &FakeHubOptions,
    rest: &[String],
    headers: &HeaderMap,
    method: &str,
) -> Response {
    let Some(rr) = hf_repo(rest) else {
        return err(404, "no route");
    };
    let dir = sh.repo_dir(&format!("opencsg/{}", rr.kind), &rr.repo);
    let allowed = opts
        .tokens
        .get(&rr.repo)
        .is_none_or(|want| bearer(headers).as_ref() == Some(want));
    let model = rr.kind == "models";
    if rr.api {
        let r = &rr.tail;
        let rev = match r.as_slice() {
            [] => None,
            [k, rev] if k == "revision" => Some(rev.clone()),
            _ => return err(404, "no route"),
        };
        if model {
            // SDKModelInfo: a missing model fails in `modelStore.FindByPath`
            // with the database's no-rows error and a private one with
            // `ErrUnauthorized`; the handler answers both with 500
            // (csgs:component/model.go:770-779, api/handler/model_ce.go:51-80,
            // common/errorx/error_system.go:13-20, error_auth.go:9-14).
            if !dir.is_dir() {
                return csg_error(
                    500,
                    Some("SYS-ERR-3"),
                    "failed to find model, error: failed to find model,error: SYS-ERR-3: sql: no rows in result set",
                );
            }
            if !allowed {
                return csg_error(500, Some("AUTH-ERR-0"), "AUTH-ERR-0");
            }
        } else {
            // SDKListFiles: a missing repo is `ErrNotFound` (404), a private one
            // `ErrForbiddenMsg` (AUTH-ERR-2), which the handler does not map, so
            // 500 (csgs:component/repo.go:1641-1654, api/handler/repo_ce.go:112-145).
            if !dir.is_dir() {
                return csg_error(404, None, "not found");
            }
            if !allowed {
                return csg_error(
                    500,
                    Some("AUTH-ERR-2"),
                    "AUTH-ERR-2: users do not have permission to access this repo",
                );
            }
        }
        let default = "main".to_string();
        let rev = rev.unwrap_or(default.clone());
        let Some(commit) = sh.resolve(&dir, &rev) else {
            // The tree walk at an unknown ref fails in gitaly: a plain 500
            // (csgs:component/model.go:800-803; the exact message is unverified).
            return csg_error(500, None, "failed to get all files, error: ref not found");
        };
        let files = list_files(&dir.join(&commit));
        let siblings: Vec<_> = files.iter().map(|f| json!({"rfilename": f})).collect();
        return if model {
            // `SDKModelInfo.Sha` = the last commit at the ref (csgs:component/model.go:816-837,
            // common/types/model.go:222-247).
            json_resp(json!({
                "id": rr.repo, "author": rr.repo.split('/').next(), "sha": commit,
                "private": opts.tokens.contains_key(&rr.repo), "downloads": 0, "likes": 0,
                "tags": [], "siblings": siblings,
            }))
        } else {
            // `SDKFiles.SHA` = `repo.DefaultBranch`, a branch name whatever the
            // ref asked for (csgs:component/repo.go:1668-1676, common/types/file.go:173-181).
            json_resp(json!({
                "sha": default, "tags": [], "likes": 0, "downloads": 0,
                "private": opts.tokens.contains_key(&rr.repo), "id": rr.repo, "siblings": siblings,
            }))
        };
    }
    // `{kind}/{ns}/{name}/resolve/{ref}/*path` (GET: SDKDownload; HEAD:
    // HeadSDKDownload with `X-Repo-Commit` = the last commit at the ref,
    // csgs:api/handler/repo.go:1176-1248, component/repo.go:1708-1752).
    let r = &rr.tail;
    if r.len() < 3 || r[0] != "resolve" {
        return err(404, "no route");
    }
    if !dir.is_dir() {
        return csg_error(404, None, "not found");
    }
    if !allowed {
        return csg_error(
            403,
            Some("AUTH-ERR-2"),
            "users do not have permission to download file in this repo",
        );
    }
    let Some(commit) = sh.resolve(&dir, &r[1]) else {
        return csg_error(404, None, "not found");
    };
    let path = r[2..].join("/");
    let Ok(bytes) = std::fs::read(dir.join(&commit).join(&path)) else {
        return csg_error(404, None, "not found");
    };
    if method == "HEAD" {
        return Response::builder()
            .status(200)
            .header(header::CONTENT_LENGTH, bytes.len().to_string())
            .header("x-repo-commit", commit.as_str())
            .header(header::ACCEPT_RANGES, "bytes")
            .body(Body::empty())
            .unwrap();
    }
    if opts.lfs.contains(&path) {
        // LFS objects redirect (302) to the object store (csgs:api/handler/repo.go:1364-1367).
        let loc = format!(
            "http://{}/opencsg/{}/{}/{}/{}",
            sh.cdn, rr.kind, rr.repo, commit, path
        );
        return Response::builder()
            .status(302)
            .header(header::LOCATION, loc)
            .body(Body::empty())
            .unwrap();
    }
    serve_bytes(bytes, headers)
}

/// CDN: `/{hub}/{kind}/{o}/{n}/{commit}/{path}` or `/paddle-archive/{name}/{version}.tar.gz`.
fn cdn(sh: &Shared, opts: &FakeHubOptions, uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let s = segs(uri.path());
    // A PaddleHub module archive: whatever URL the search item names, fetched
    // with a plain GET (ph:utils/utils.py `download_with_progress`,
    // module/manager.py:251-258); any format `xarfile` opens (`paddle_archives`
    // serves tar.bz2/xz and zip bytes), by default a tar.gz.
    if s.first().map(String::as_str) == Some("paddle-archive") && s.len() == 3 {
        let name = &s[1];
        let version = s[2].trim_end_matches(".tar.gz");
        if let Some(b) = opts.paddle_archives.get(name) {
            return serve_bytes(b.clone(), headers);
        }
        let dir = sh.root.join("paddlehub/modules").join(name).join(version);
        if !dir.is_dir() {
            return err(404, "no archive");
        }
        return serve_bytes(build_tar_gz(&dir, name), headers);
    }
    if s.len() < 6 {
        return err(404, "no route");
    }
    let p: PathBuf = s.iter().collect();
    match std::fs::read(sh.root.join(p)) {
        Ok(b) => serve_bytes(b, headers),
        Err(_) => err(404, "no object"),
    }
}

/// A module archive as PaddleHub serves it: `<name>/<files>` in a tar.gz
/// (the module folder is the first part of the last member,
/// ph:module/manager.py:370-380).
pub fn build_tar_gz(dir: &Path, name: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for f in list_files(dir) {
        let data = std::fs::read(dir.join(&f)).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mtime(0);
        b.append_data(&mut h, format!("{name}/{f}"), &data[..])
            .unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// ModelScope's legacy envelope `{Code, Data, Message, RequestId, Success}`
/// (a captured listing in ms-tests:tests/hub/test_hub_retry.py:42-48; the SDK
/// unwraps `Data`, msh:_legacy_api.py:340-343).
fn ms_ok(data: serde_json::Value) -> Response {
    json_resp(json!({
        "Code": 200, "Data": data, "Message": "success",
        "RequestId": "00000000-0000-0000-0000-000000000000", "Success": true,
    }))
}

/// A ModelScope failure in the same envelope. The status and code of a missing
/// repo were never captured (unverified): 404 by default, or 200 with
/// `Success: false`, which the SDK also treats as a failure
/// (msh:_legacy_api.py:784-789). "模型不存在" is the server's "model does not
/// exist" (msh:errors.py:562-570).
fn ms_fail(opts: &FakeHubOptions, status: u16, msg: &str) -> Response {
    let status = if opts.modelscope_not_found_200 {
        200
    } else {
        status
    };
    json_body(
        Response::builder(),
        status,
        json!({"Code": 10010205001u64, "Data": null, "Message": msg,
            "RequestId": "00000000-0000-0000-0000-000000000000", "Success": false}),
    )
}

/// One file entry of `repo/files` / `repo/tree`, as captured in
/// ms-tests:tests/hub/test_hub_retry.py:42-48: `Revision` is the commit that
/// last touched the file; there is no `CommitId`.
fn ms_entry(path: &str, bytes: &[u8], rev: &str, date: i64, wrong_sha: bool) -> serde_json::Value {
    let sha = if wrong_sha {
        "0".repeat(64)
    } else {
        hex::encode(sha2::Sha256::digest(bytes))
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    json!({"CommitMessage": "update", "CommittedDate": date, "CommitterName": "fake",
        "InCheck": false, "IsLFS": false, "Mode": "33188", "Name": name, "Path": path,
        "Revision": rev, "Sha256": sha, "Size": bytes.len(), "Type": "blob"})
}

/// `api/v1/{models|datasets}/{o}/{n}/{revisions | repo/files | repo/tree | repo}`
/// (msh:_legacy_api.py:454-530,699-750,904-950,1151-1168).
fn modelscope(
    sh: &Shared,
    opts: &FakeHubOptions,
    site: &str,
    rest: &[String],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    if rest.len() < 6 || rest[0] != "api" || rest[1] != "v1" {
        return err(404, "no route");
    }
    let kind = rest[2].as_str();
    if kind != "models" && kind != "datasets" {
        return err(404, "no route");
    }
    let repo = format!("{}/{}", rest[3], rest[4]);
    let dir = sh.repo_dir(&format!("{site}/{kind}"), &repo);
    // The legacy endpoints authenticate by the `m_session_id` cookie; the 2.x
    // client sends it and `Authorization: Bearer` both (msh:_legacy_api.py:199-222).
    if let Some(want) = opts.tokens.get(&repo) {
        let by_cookie = cookie(headers, "m_session_id").as_ref() == Some(want);
        let by_bearer = !opts.modelscope_cookie_only && bearer(headers).as_ref() == Some(want);
        if !(by_cookie || by_bearer) {
            // "用户未登录" = "user not logged in" (msh:errors.py:562-566); status unverified.
            return ms_fail(opts, 401, "用户未登录");
        }
    }
    if !dir.is_dir() {
        let what = if kind == "models" {
            "模型不存在"
        } else {
            "数据集不存在"
        };
        return ms_fail(opts, 404, what);
    }
    let tail: Vec<&str> = rest[5..].iter().map(String::as_str).collect();
    let rev = q
        .get("Revision")
        .cloned()
        .unwrap_or_else(|| "master".into());
    match tail.as_slice() {
        ["revisions"] => {
            // `Data.RevisionMap.{Branches,Tags}[]` with `Revision` and
            // `CreatedAt` (msh:_legacy_api.py:919-950).
            let refs = sh.refs(&dir);
            let item = |name: &str, c: &str| {
                let mut v = json!({"Revision": name, "CreatedAt": 1_700_000_000});
                if opts.modelscope_commit_in_revisions {
                    v["CommitId"] = json!(c);
                }
                v
            };
            let (tags, branches): (Vec<_>, Vec<_>) =
                refs.iter().partition(|(k, _)| k.starts_with('v'));
            ms_ok(json!({"RevisionMap": {
                "Branches": branches.iter().map(|(k, c)| item(k, c)).collect::<Vec<_>>(),
                "Tags": tags.iter().map(|(k, c)| item(k, c)).collect::<Vec<_>>(),
            }}))
        }
        ["repo", "files"] | ["repo", "tree"] => {
            let Some(commit) = sh.resolve(&dir, &rev) else {
                return ms_fail(opts, 404, "revision not found");
            };
            let root = q.get("Root").cloned().unwrap_or_default();
            let root = root.trim_matches('/');
            let recursive = q
                .get("Recursive")
                .is_some_and(|r| r.eq_ignore_ascii_case("true"));
            let mut files = list_files(&dir.join(&commit));
            let mut synthetic = std::collections::HashSet::new();
            if let Some((r, dirs, per)) = &opts.modelscope_synthetic
                && *r == repo
            {
                for i in 0..*dirs {
                    for j in 0..*per {
                        let p = format!("syn{i}/f{j}.txt");
                        synthetic.insert(p.clone());
                        files.push(p);
                    }
                }
                files.sort();
            }
            let under = |p: &str| root.is_empty() || p.starts_with(&format!("{root}/"));
            let depth_ok = |p: &str| {
                recursive || {
                    let rel = if root.is_empty() {
                        p
                    } else {
                        &p[root.len() + 1..]
                    };
                    !rel.contains('/')
                }
            };
            let mut entries: Vec<serde_json::Value> = tree_dirs(&files)
                .iter()
                .filter(|d| under(d) && depth_ok(d))
                .map(
                    |d| json!({"Path": d, "Name": d.rsplit('/').next(), "Type": "tree", "Size": 0}),
                )
                .collect();
            for (i, f) in files.iter().enumerate() {
                if !(under(f) && depth_ok(f)) {
                    continue;
                }
                let bytes = if synthetic.contains(f) {
                    Vec::new()
                } else {
                    std::fs::read(dir.join(&commit).join(f)).unwrap()
                };
                // The fixtures have no history: the first file carries the head
                // commit as its last change, the others an older (made-up) one.
                let (rev, date) = if i == 0 {
                    (commit.clone(), 1_700_000_100)
                } else {
                    ("0".repeat(40), 1_600_000_000)
                };
                entries.push(ms_entry(
                    f,
                    &bytes,
                    &rev,
                    date,
                    opts.modelscope_wrong_sha256,
                ));
            }
            if tail[1] == "tree" {
                // Datasets page with `PageNumber`/`PageSize` (msh:_legacy_api.py:699-750).
                let size: usize = q
                    .get("PageSize")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100)
                    .max(1);
                let page: usize = q
                    .get("PageNumber")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1)
                    .max(1);
                let start = (page - 1).saturating_mul(size).min(entries.len());
                let end = (start + size).min(entries.len());
                return ms_ok(json!({"Files": entries[start..end].to_vec()}));
            }
            // `repo/files` stops silently at 3000 entries (msh:constants.py:629,
            // _legacy_api.py:468-470).
            let cap = if opts.modelscope_files_cap == 0 {
                3000
            } else {
                opts.modelscope_files_cap
            };
            entries.truncate(cap);
            ms_ok(json!({"Files": entries}))
        }
        ["repo"] => {
            // `repo?Revision=&FilePath=` serves the bytes (msh:_legacy_api.py:1151-1168).
            let path = q.get("FilePath").cloned().unwrap_or_default();
            let Some(commit) = sh.resolve(&dir, &rev) else {
                return ms_fail(opts, 404, "revision not found");
            };
            if path.split('/').any(|s| s == ".." || s.is_empty()) {
                return err(400, "bad path");
            }
            match std::fs::read(dir.join(&commit).join(&path)) {
                Ok(b) => serve_bytes(b, headers),
                Err(_) => ms_fail(opts, 404, "file not found"),
            }
        }
        _ => err(404, "no route"),
    }
}

/// `repos/{o}/{n}[/{branches/{b} | commits/{ref} | git/trees/{sha} | contents/{path}}]`
/// (gh-docs: "Get a repository", "Get a branch", "Get a commit", "Get a tree",
/// "Get repository content").
fn github(
    sh: &Shared,
    opts: &FakeHubOptions,
    rest: &[String],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    if rest.len() < 3 || rest[0] != "repos" {
        return err(404, "no route");
    }
    let repo = format!("{}/{}", rest[1], rest[2]);
    let dir = sh.repo_dir("github", &repo);
    let nf = || {
        json_body(
            Response::builder(),
            404,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
        )
    };
    // A private repo is a 404 to whoever cannot see it (gh-docs "Troubleshooting").
    if let Some(want) = opts.tokens.get(&repo)
        && bearer(headers).as_ref() != Some(want)
    {
        return nf();
    }
    if !dir.is_dir() {
        return nf();
    }
    if rest.len() == 3 {
        // "Get a repository" (gh-docs): `default_branch`, what a clone checks
        // out. Here `main`, else `master`, else the first branch by name.
        let refs = sh.refs(&dir);
        let Some(b) = ["main", "master"]
            .iter()
            .map(|b| b.to_string())
            .find(|b| refs.contains_key(b))
            .or_else(|| refs.keys().min().cloned())
        else {
            return nf();
        };
        return json_resp(json!({"full_name": repo, "default_branch": b, "private": false}));
    }
    match rest[3].as_str() {
        "branches" if rest.len() == 5 => match sh.refs(&dir).get(&rest[4]) {
            Some(c) => {
                json_resp(json!({"name": rest[4], "commit": {"sha": c}, "protected": false}))
            }
            None => nf(),
        },
        "commits" if rest.len() == 5 => match sh.resolve(&dir, &rest[4]) {
            Some(c) => json_resp(json!({"sha": c})),
            // An unknown ref: 422 "No commit found for SHA: ..." (gh-docs "Get a commit").
            None => json_body(
                Response::builder(),
                422,
                json!({"message": format!("No commit found for SHA: {}", rest[4])}),
            ),
        },
        "git" if rest.len() == 6 && rest[4] == "trees" => {
            let sha = &rest[5];
            if !dir.join(sha).is_dir() {
                return nf();
            }
            let files = list_files(&dir.join(sha));
            let mut tree: Vec<serde_json::Value> = tree_dirs(&files)
                .iter()
                .map(|d| json!({"path": d, "type": "tree", "mode": "040000"}))
                .collect();
            tree.extend(
                files
                    .iter()
                    .map(|f| json!({"path": f, "type": "blob", "mode": "100644"})),
            );
            json_resp(json!({"sha": sha, "tree": tree, "truncated": false}))
        }
        "contents" if rest.len() >= 5 => {
            let path = rest[4..].join("/");
            let Some(commit) = q.get("ref").and_then(|r| sh.resolve(&dir, r)) else {
                return nf();
            };
            let Ok(b) = std::fs::read(dir.join(&commit).join(&path)) else {
                return nf();
            };
            let raw = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("vnd.github.raw"))
                && !opts.github_json_contents;
            if raw {
                let mut r = serve_bytes(b, headers);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    "application/vnd.github.raw".parse().unwrap(),
                );
                r
            } else {
                use base64::Engine as _;
                json_resp(json!({"type": "file", "path": path, "encoding": "base64",
                    "content": base64::engine::general_purpose::STANDARD.encode(&b)}))
            }
        }
        _ => nf(),
    }
}

/// The versions of a PaddleHub module in the fixture, newest first.
fn paddle_versions(sh: &Shared, name: &str) -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir(sh.root.join("paddlehub/modules").join(name))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|v| {
        v.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    versions.reverse();
    versions
}

/// Per-version server fields from `paddlehub/modules/{name}/server.json`
/// (`{"1.0.0": {"paddle_version": "[2.0.0, 2.4.0]"}}`), else open intervals.
fn paddle_item(sh: &Shared, name: &str, version: &str) -> serde_json::Value {
    let meta: serde_json::Value = std::fs::read(
        sh.root
            .join("paddlehub/modules")
            .join(name)
            .join("server.json"),
    )
    .ok()
    .and_then(|b| serde_json::from_slice(&b).ok())
    .unwrap_or_default();
    let field = |k: &str| {
        meta[version][k]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "[2.0.0, 99.0.0]".to_string())
    };
    json!({
        "name": name, "version": version, "type": "module",
        "url": format!("http://{}/paddle-archive/{name}/{version}.tar.gz", sh.cdn),
        // `[min, max]` intervals, `99.0.0` = no maximum (ph:utils/utils.py:429-446).
        "paddle_version": field("paddle_version"), "hub_version": field("hub_version"),
    })
}

/// PaddleHub server (closed source; shapes from the client's reading).
///
/// `search?environments=&word=&type=module[&version=]&hub_version=&paddle_version=`
/// (ph:server/server_source.py:59-87) -> `{"status":0,"data":[{name, version,
/// url, paddle_version, hub_version}]}`, which the client filters by the
/// installed paddle/hub versions (89-107) and then searches for
/// `name.lower() == item.name.lower()` and a matching version, in server order
/// (ph:module/manager.py:260-265). The server's own matching of `word`,
/// filtering by `version` and ordering are unverified: this fake matches
/// `word` as a case-insensitive substring, ignores `version` (so the client's
/// own check is what counts) and lists each module's versions newest first.
///
/// `info?name=` -> `{"status":0,"data":{"info":[{version,url,paddle_version,
/// hub_version}]}}` (ph:server/server_source.py:110-124); the client reads it
/// only when the search matched nothing (ph:module/manager.py:267-300).
fn paddle(sh: &Shared, rest: &[String], q: &HashMap<String, String>) -> Response {
    match rest {
        [s] if s == "search" => {
            let Some(word) = q.get("word").filter(|w| !w.is_empty()) else {
                return json_resp(json!({"status": 1, "msg": "word is required", "data": []}));
            };
            let word = word.to_lowercase();
            let mut names: Vec<String> = std::fs::read_dir(sh.root.join("paddlehub/modules"))
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.to_lowercase().contains(&word))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            let data: Vec<serde_json::Value> = names
                .iter()
                .flat_map(|n| {
                    paddle_versions(sh, n)
                        .into_iter()
                        .map(|v| paddle_item(sh, n, &v))
                        .collect::<Vec<_>>()
                })
                .collect();
            json_resp(json!({"status": 0, "msg": "OK", "data": data}))
        }
        [s] if s == "info" => {
            let name = q.get("name").cloned().unwrap_or_default();
            let info: Vec<serde_json::Value> = paddle_versions(sh, &name)
                .iter()
                .map(|v| {
                    let mut it = paddle_item(sh, &name, v);
                    it.as_object_mut().map(|o| o.remove("name"));
                    it
                })
                .collect();
            if info.is_empty() {
                return json_resp(json!({"status": 0, "msg": "OK", "data": {}}));
            }
            json_resp(json!({"status": 0, "msg": "OK", "data": {"info": info}}))
        }
        _ => err(404, "no route"),
    }
}
