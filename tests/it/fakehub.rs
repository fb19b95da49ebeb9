//! An in-process fake model hub: serves a mirror folder (the offline-mirror
//! layout) in the real API shapes of Hugging Face, ModelScope, OpenCSG, GitHub
//! and PaddleHub, with knobs for tokens, forced statuses, latency and LFS-style
//! redirects to a second listener (a different origin), and a request log.
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
use std::time::Duration;

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
}

impl Forced {
    pub fn new(path_contains: &str, status: u16) -> Forced {
        Forced {
            path_contains: path_contains.into(),
            status,
            retry_after: None,
            times: 0,
            error_code: None,
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
}

/// Knobs.
#[derive(Clone, Debug, Default)]
pub struct FakeHubOptions {
    /// repo id -> token required (401 without `Authorization`, 403 GatedRepo with a wrong one).
    pub tokens: HashMap<String, String>,
    pub forced: Vec<Forced>,
    /// Delay before every answer (both listeners).
    pub latency: Duration,
    /// File paths (repo-relative) that HF/OpenCSG `resolve` redirects to the CDN listener.
    pub lfs: Vec<String>,
    /// PaddleHub module name -> archive bytes served instead of the mirror folder.
    pub paddle_archives: HashMap<String, Vec<u8>>,
    /// ModelScope revisions items carry a `CommitId` (a newer server shape).
    pub modelscope_commit_in_revisions: bool,
    /// GitHub contents answers base64 JSON even when raw is asked for.
    pub github_json_contents: bool,
    /// ModelScope listings give a wrong `Sha256` for every file.
    pub modelscope_wrong_sha256: bool,
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

struct Shared {
    root: PathBuf,
    opts: Mutex<FakeHubOptions>,
    forced_hits: Mutex<HashMap<usize, usize>>,
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

    pub fn endpoints(&self) -> Endpoints {
        let mut e = Endpoints::default();
        for hub in hubwarden::hub::HUBS {
            e.set(hub.kind(), self.url(hub.kind()));
        }
        e
    }

    /// Options for `Hubs` against this fake: its endpoints, no tokens, the given
    /// disk cache, short timeouts and backoffs.
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
    }

    pub fn set_options(&self, opts: FakeHubOptions) {
        *self.shared.opts.lock().unwrap() = opts;
        self.shared.forced_hits.lock().unwrap().clear();
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

/// What a request is about (for token checks and serving).
struct RepoRef {
    hub_dir: PathBuf,
    repo: String,
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

fn json_resp(v: serde_json::Value) -> Response {
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&v).unwrap()))
        .unwrap()
}

async fn handle(State(ctx): State<Ctx>, req: Request) -> Response {
    let sh = ctx.shared.clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let uri_s = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    sh.log.lock().unwrap().push(Logged {
        listener: ctx.listener,
        method: req.method().to_string(),
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
                return b.body(Body::from("forced")).unwrap();
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
    // Which repo, for the token check.
    let repo_ref = match first.as_str() {
        "hf" => hf_repo(&rest, "huggingface"),
        "csg-ep" if rest.first().map(String::as_str) == Some("csg") => {
            hf_repo(&rest[1..], "opencsg")
        }
        "ms" if rest.len() >= 5 => Some(RepoRef {
            hub_dir: "modelscope/models".into(),
            repo: format!("{}/{}", rest[3], rest[4]),
        }),
        "gh" if rest.len() >= 3 && rest[0] == "repos" => Some(RepoRef {
            hub_dir: "github".into(),
            repo: format!("{}/{}", rest[1], rest[2]),
        }),
        _ => None,
    };
    if let Some(r) = &repo_ref
        && let Some(tok) = opts.tokens.get(&r.repo)
    {
        match headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            None => return err(401, "authentication required"),
            Some(a) if a != format!("Bearer {tok}") => {
                return Response::builder()
                    .status(403)
                    .header("x-error-code", "GatedRepo")
                    .body(Body::from("gated"))
                    .unwrap();
            }
            _ => {}
        }
    }
    match first.as_str() {
        "hf" => hf(&sh, &opts, &rest, &headers, "huggingface", repo_ref),
        "csg-ep" if rest.first().map(String::as_str) == Some("csg") => {
            hf(&sh, &opts, &rest[1..], &headers, "opencsg", repo_ref)
        }
        "ms" => modelscope(&sh, &opts, &rest, &q, &headers),
        "gh" => github(&sh, &opts, &rest, &q, &headers),
        "paddle" => paddle_search(&sh, &rest, &q),
        _ => err(404, "no route"),
    }
}

/// `api/{kind}/{o}/{n}/revision/{rev}` or `[{datasets|spaces}/]{o}/{n}/resolve/{rev}/{path}`.
fn hf_repo(rest: &[String], hub: &str) -> Option<RepoRef> {
    let (kind, r) = if rest.first().map(String::as_str) == Some("api") {
        (rest.get(1)?.as_str(), &rest[2..])
    } else if matches!(
        rest.first().map(String::as_str),
        Some("datasets") | Some("spaces")
    ) {
        (rest[0].as_str(), &rest[1..])
    } else {
        ("models", rest)
    };
    Some(RepoRef {
        hub_dir: format!("{hub}/{kind}").into(),
        repo: format!("{}/{}", r.first()?, r.get(1)?),
    })
}

fn hf(
    sh: &Shared,
    opts: &FakeHubOptions,
    rest: &[String],
    headers: &HeaderMap,
    hub: &str,
    repo_ref: Option<RepoRef>,
) -> Response {
    let Some(rr) = repo_ref else {
        return err(404, "no route");
    };
    let dir = sh.repo_dir(rr.hub_dir.to_str().unwrap(), &rr.repo);
    let not_found = |code: &str| {
        Response::builder()
            .status(404)
            .header("x-error-code", code)
            .body(Body::from(code.to_string()))
            .unwrap()
    };
    if !dir.is_dir() {
        return not_found("RepoNotFound");
    }
    let api = rest.first().map(String::as_str) == Some("api");
    let r: Vec<String> = if api {
        rest[2..].to_vec()
    } else if matches!(rest[0].as_str(), "datasets" | "spaces") {
        rest[1..].to_vec()
    } else {
        rest.to_vec()
    };
    // r = [o, n, "revision"|"resolve", rev, path...]
    if r.len() < 4 {
        return err(404, "no route");
    }
    let Some(commit) = sh.resolve(&dir, &r[3]) else {
        return not_found("RevisionNotFound");
    };
    if api && r[2] == "revision" {
        let files = list_files(&dir.join(&commit));
        return json_resp(json!({
            "id": rr.repo,
            "sha": commit,
            "siblings": files.iter().map(|f| json!({"rfilename": f})).collect::<Vec<_>>(),
        }));
    }
    if !api && r[2] == "resolve" {
        let path = r[4..].join("/");
        let Ok(bytes) = std::fs::read(dir.join(&commit).join(&path)) else {
            return not_found("EntryNotFound");
        };
        if opts.lfs.contains(&path) {
            let loc = format!(
                "http://{}/{}/{}/{}/{}",
                sh.cdn,
                rr.hub_dir.display(),
                rr.repo,
                commit,
                path
            );
            let _ = hub;
            return Response::builder()
                .status(302)
                .header(header::LOCATION, loc)
                .header("x-repo-commit", commit)
                .body(Body::empty())
                .unwrap();
        }
        return serve_bytes(bytes, headers);
    }
    err(404, "no route")
}

/// CDN: `/{hub}/{kind}/{o}/{n}/{commit}/{path}` or `/paddle-archive/{name}/{version}.tar.gz`.
fn cdn(sh: &Shared, opts: &FakeHubOptions, uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let s = segs(uri.path());
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

/// A module archive as PaddleHub serves it: `<name>/<files>` in a tar.gz.
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

/// `api/v1/models/{o}/{n}/{revisions | repo/files | repo}`.
fn modelscope(
    sh: &Shared,
    opts: &FakeHubOptions,
    rest: &[String],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    if rest.len() < 6 || rest[0] != "api" || rest[1] != "v1" || rest[2] != "models" {
        return err(404, "no route");
    }
    let repo = format!("{}/{}", rest[3], rest[4]);
    let dir = sh.repo_dir("modelscope/models", &repo);
    if !dir.is_dir() {
        return json_404_ms(&format!("model {repo} not found"));
    }
    let tail: Vec<&str> = rest[5..].iter().map(String::as_str).collect();
    match tail.as_slice() {
        ["revisions"] => {
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
            json_resp(json!({"Code": 200, "Data": {"RevisionMap": {
                "Branches": branches.iter().map(|(k, c)| item(k, c)).collect::<Vec<_>>(),
                "Tags": tags.iter().map(|(k, c)| item(k, c)).collect::<Vec<_>>(),
            }}}))
        }
        ["repo", "files"] => {
            let rev = q
                .get("Revision")
                .cloned()
                .unwrap_or_else(|| "master".into());
            let Some(commit) = sh.resolve(&dir, &rev) else {
                return json_404_ms("revision not found");
            };
            let files = list_files(&dir.join(&commit));
            let mut entries: Vec<serde_json::Value> = tree_dirs(&files)
                .iter()
                .map(|d| json!({"Path": d, "Name": d, "Type": "tree", "Size": 0}))
                .collect();
            for (i, f) in files.iter().enumerate() {
                let bytes = std::fs::read(dir.join(&commit).join(f)).unwrap();
                let size = bytes.len();
                let sha = if opts.modelscope_wrong_sha256 {
                    "0".repeat(64)
                } else {
                    hex::encode(sha2::Sha256::digest(&bytes))
                };
                // Older files carry an older (made-up) commit; the newest carries the head.
                let (cid, date) = if i == 0 {
                    (commit.clone(), 1_700_000_100)
                } else {
                    ("0".repeat(40), 1_600_000_000)
                };
                entries.push(json!({"Path": f, "Name": f, "Type": "blob", "Size": size,
                    "CommitId": cid, "CommittedDate": date, "Revision": cid, "Sha256": sha}));
            }
            json_resp(json!({"Code": 200, "Data": {"Files": entries}}))
        }
        ["repo"] => {
            let rev = q
                .get("Revision")
                .cloned()
                .unwrap_or_else(|| "master".into());
            let path = q.get("FilePath").cloned().unwrap_or_default();
            let Some(commit) = sh.resolve(&dir, &rev) else {
                return json_404_ms("revision not found");
            };
            if path.split('/').any(|s| s == ".." || s.is_empty()) {
                return err(400, "bad path");
            }
            match std::fs::read(dir.join(&commit).join(&path)) {
                Ok(b) => serve_bytes(b, headers),
                Err(_) => json_404_ms("file not found"),
            }
        }
        _ => err(404, "no route"),
    }
}

fn json_404_ms(msg: &str) -> Response {
    Response::builder()
        .status(404)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"Code": 10010205001u64, "Message": msg}).to_string(),
        ))
        .unwrap()
}

/// `repos/{o}/{n}/{branches/{b} | commits/{ref} | git/trees/{sha} | contents/{path}}`.
fn github(
    sh: &Shared,
    opts: &FakeHubOptions,
    rest: &[String],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    if rest.len() < 4 || rest[0] != "repos" {
        return err(404, "no route");
    }
    let repo = format!("{}/{}", rest[1], rest[2]);
    let dir = sh.repo_dir("github", &repo);
    let nf = || {
        Response::builder()
            .status(404)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"message":"Not Found"}"#))
            .unwrap()
    };
    if !dir.is_dir() {
        return nf();
    }
    match rest[3].as_str() {
        "branches" if rest.len() == 5 => match sh.refs(&dir).get(&rest[4]) {
            Some(c) => json_resp(json!({"name": rest[4], "commit": {"sha": c}})),
            None => nf(),
        },
        "commits" if rest.len() == 5 => match sh.resolve(&dir, &rest[4]) {
            Some(c) => json_resp(json!({"sha": c})),
            None => Response::builder()
                .status(422)
                .body(Body::from(r#"{"message":"No commit found"}"#))
                .unwrap(),
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

/// `search?word=&type=module&version=`: every version of the module, newest first.
fn paddle_search(sh: &Shared, rest: &[String], q: &HashMap<String, String>) -> Response {
    if rest != ["search"] {
        return err(404, "no route");
    }
    let name = q.get("word").cloned().unwrap_or_default();
    let want = q.get("version").cloned().unwrap_or_default();
    let dir = sh.root.join("paddlehub/modules").join(&name);
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.reverse();
    let data: Vec<serde_json::Value> = versions
        .iter()
        .filter(|v| want.is_empty() || **v == want)
        .map(|v| {
            json!({"name": name, "version": v, "type": "module",
                "url": format!("http://{}/paddle-archive/{name}/{v}.tar.gz", sh.cdn),
                "paddle_version": ">=2.0.0", "hub_version": ">=2.0.0"})
        })
        .collect();
    json_resp(json!({"status": 0, "msg": "OK", "data": data}))
}
