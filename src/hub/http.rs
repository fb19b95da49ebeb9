//! The one HTTP client shared by every hub: timeouts, bounded concurrency,
//! retries with backoff, rate limits waited out as the hub states them
//! (`RateLimit`, `Retry-After`, GitHub's `X-RateLimit-Reset`) within one
//! run-wide budget (`--max-wait`), redirects followed by hand so a token never
//! leaves its own origin, request/byte counters.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Semaphore;
use url::Url;

use crate::hub::HubError;

/// Tunables of the shared client. `Default` is for real hubs; tests shorten them.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
    /// Longest whole exchange (one attempt).
    pub request_timeout: Duration,
    pub max_concurrency: usize,
    /// Retries after the first attempt on 429, 5xx and transport errors.
    pub max_retries: u32,
    /// First backoff; doubled on each retry.
    pub backoff: Duration,
    /// Longest backoff between attempts after a server error or a transport
    /// error (a 5xx `Retry-After` is capped by it too).
    pub max_retry_wait: Duration,
    pub max_redirects: usize,
    /// Run-wide budget of wall-clock time spent waiting out rate limits
    /// (`--max-wait`). A stated wait that does not fit in what is left fails
    /// at once as `RateLimited`, without waiting part of it.
    pub max_wait: Duration,
    /// Added to every stated rate-limit wait: huggingface_hub sleeps `t + 1`
    /// seconds "to avoid rounding issues" (`utils/_http.py:560`, 2.4.0).
    pub rate_limit_margin: Duration,
}

/// Default `--max-wait`: one Hugging Face rate-limit window (5 minutes,
/// hub-docs `rate-limits.md`), so a scan that exhausts the anonymous bucket
/// waits for the next window once instead of reporting the rest unverified.
pub const DEFAULT_MAX_WAIT_SECS: u64 = 300;

/// Most rate-limit waits one request goes through (each is also bounded by the budget).
const MAX_RATE_LIMIT_WAITS: u32 = 8;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            max_concurrency: 32,
            max_retries: 3,
            backoff: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(30),
            max_redirects: 10,
            max_wait: Duration::from_secs(DEFAULT_MAX_WAIT_SECS),
            rate_limit_margin: Duration::from_secs(1),
        }
    }
}

/// How much of a body to accept.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// More than this many bytes is a `HubError::Cap`.
    Error(u64),
    /// Keep at most this many bytes and stop reading (for prefix reads).
    Truncate(u64),
}

/// One GET (or HEAD, or a POST of a JSON query).
#[derive(Clone, Debug)]
pub struct Req {
    pub url: Url,
    /// `HEAD` asks for the headers only (OpenCSG's `X-Repo-Commit`).
    pub head: bool,
    /// A JSON body sent with `POST`: a read-only query that takes a list
    /// (Hugging Face `paths-info`), never a change on the server.
    pub json_body: Option<Vec<u8>>,
    /// Sent as `Authorization: Bearer` only to `url`'s own origin.
    pub token: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
    /// Headers that carry a credential (a session cookie): like the token,
    /// sent only to `url`'s own origin, never after a redirect elsewhere.
    pub origin_headers: Vec<(HeaderName, String)>,
    /// A 2xx body goes to this file (rewritten on each attempt) and is hashed
    /// on the way instead of being held in memory: `Resp::file`.
    pub to_file: Option<std::path::PathBuf>,
    /// Longest whole exchange for this request instead of the client's
    /// `request_timeout` (a multi-GiB download); `read_timeout` still holds.
    pub timeout: Option<Duration>,
}

impl Req {
    pub fn new(url: Url) -> Req {
        Req {
            url,
            head: false,
            json_body: None,
            token: None,
            headers: Vec::new(),
            origin_headers: Vec::new(),
            to_file: None,
            timeout: None,
        }
    }

    /// A longer whole-exchange limit for this request (see `timeout`).
    pub fn timeout(mut self, t: Duration) -> Req {
        self.timeout = Some(t);
        self
    }

    /// Stream a 2xx body into `path` (see `to_file`).
    pub fn to_file(mut self, path: std::path::PathBuf) -> Req {
        self.to_file = Some(path);
        self
    }

    /// Send `HEAD` instead of `GET`.
    pub fn head(mut self) -> Req {
        self.head = true;
        self
    }

    /// Send `POST` with this JSON body instead of `GET`.
    pub fn post_json(mut self, body: &serde_json::Value) -> Req {
        self.json_body = Some(body.to_string().into_bytes());
        self
    }

    pub fn token(mut self, token: Option<&str>) -> Req {
        self.token = token.map(str::to_string);
        self
    }

    /// A credential header, sent only to `url`'s origin (see `origin_headers`).
    pub fn origin_header(mut self, name: HeaderName, value: impl Into<String>) -> Req {
        self.origin_headers.push((name, value.into()));
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response read into memory. Non-2xx statuses other than retried ones are
/// returned too: each hub maps them (see [`status_error`]).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body was cut at a `Limit::Truncate`.
    pub truncated: bool,
    /// A body written to `Req::to_file` (then `body` is empty).
    pub file: Option<FileBody>,
}

/// What went to `Req::to_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileBody {
    pub len: u64,
    pub sha256: [u8; 32],
}

impl Resp {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Total size from `Content-Range: bytes a-b/TOTAL`.
    pub fn range_total(&self) -> Option<u64> {
        let v = self.header("content-range")?;
        v.rsplit('/').next()?.trim().parse().ok()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, HubError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HubError::Protocol(format!("{what}: bad JSON: {e}")))
    }
}

/// Map a non-success response to a `HubError`, honouring HF's `X-Error-Code`.
pub fn status_error(resp: &Resp, what: &str) -> HubError {
    match resp.header("x-error-code") {
        Some("GatedRepo") => return HubError::Gated(what.to_string()),
        Some("RepoNotFound") if resp.status == 401 => {
            return HubError::NotFound(format!(
                "repository {what} (or private/gated and no valid token was sent)"
            ));
        }
        Some("RepoNotFound") => return HubError::NotFound(format!("repository {what}")),
        Some("RevisionNotFound") => return HubError::NotFound(format!("revision {what}")),
        Some("EntryNotFound") => return HubError::NotFound(format!("file {what}")),
        _ => {}
    }
    // GitHub signals an exhausted rate limit with 403 and no remaining quota.
    if resp.status == 403 && resp.header("x-ratelimit-remaining") == Some("0") {
        return HubError::RateLimited(what.to_string());
    }
    if resp.status >= 500
        && let Some(code) = application_error_code(&resp.body)
    {
        // csghub-server answers 500 for a missing repo (database no rows,
        // `common/errorx/error_system.go:13-20`) and for a private one it may
        // not read (`AUTH-ERR-*`, `common/errorx/error_auth.go:7-43`).
        return if code.starts_with("AUTH-ERR-") {
            HubError::Unauthorized(format!("{what} (server code {code})"))
        } else if code == "SYS-ERR-3" {
            HubError::NotFound(format!(
                "repository {what} (or private and no valid token was sent; server code {code})"
            ))
        } else {
            HubError::Network(format!("server error {} ({code}): {what}", resp.status))
        };
    }
    match resp.status {
        401 => HubError::Unauthorized(what.to_string()),
        403 => HubError::Forbidden(what.to_string()),
        404 | 410 => HubError::NotFound(what.to_string()),
        429 => HubError::RateLimited(what.to_string()),
        s @ 500..=599 => HubError::Network(format!("server error {s}: {what}")),
        s => HubError::Protocol(format!("HTTP {s}: {what}")),
    }
}

/// What one response says about the caller's rate limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests left in the current window (`r`).
    pub remaining: u64,
    /// Time until the window resets (`t`).
    pub reset: Duration,
    /// Quota of the window (`q` of `RateLimit-Policy`), when sent.
    pub limit: Option<u64>,
    /// Length of the window (`w` of `RateLimit-Policy`), when sent.
    pub window: Option<Duration>,
}

/// The integer value of `key=` among `;`-separated structured-field parameters.
fn sf_param(item: &str, key: &str) -> Option<u64> {
    item.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == key).then(|| v.trim().parse().ok())?
    })
}

/// Parse `RateLimit` / `RateLimit-Policy` (IETF draft-ietf-httpapi-ratelimit-headers),
/// as huggingface_hub does (`parse_ratelimit_headers`, `utils/_http.py:80-141`,
/// 2.4.0): `RateLimit: "api";r=0;t=55`, `RateLimit-Policy: "fixed window";"api";q=500;w=300`.
/// A header listing several policies gives the one that is exhausted the longest
/// (else the first). The older draft's separate `RateLimit-Remaining` and
/// `RateLimit-Reset` (delay seconds) are read too.
pub fn parse_ratelimit(
    ratelimit: Option<&str>,
    policy: Option<&str>,
    remaining: Option<&str>,
    reset: Option<&str>,
) -> Option<RateLimit> {
    let mut best: Option<RateLimit> = None;
    for item in ratelimit.unwrap_or("").split(',') {
        let (Some(r), Some(t)) = (sf_param(item, "r"), sf_param(item, "t")) else {
            continue;
        };
        let rl = RateLimit {
            remaining: r,
            reset: Duration::from_secs(t),
            ..RateLimit::default()
        };
        best = match best {
            None => Some(rl),
            Some(b) if rl.remaining == 0 && (b.remaining > 0 || rl.reset > b.reset) => Some(rl),
            keep => keep,
        };
    }
    if best.is_none()
        && let (Some(r), Some(t)) = (
            remaining.and_then(|v| v.trim().parse().ok()),
            reset.and_then(|v| v.trim().parse().ok()),
        )
    {
        best = Some(RateLimit {
            remaining: r,
            reset: Duration::from_secs(t),
            ..RateLimit::default()
        });
    }
    let mut rl = best?;
    if let Some(p) = policy {
        let item = p
            .split(',')
            .find(|i| sf_param(i, "q").is_some())
            .unwrap_or("");
        rl.limit = sf_param(item, "q");
        rl.window = sf_param(item, "w").map(Duration::from_secs);
    }
    Some(rl)
}

/// `Retry-After` as delay-seconds (an HTTP-date is not read, as in
/// huggingface_hub `_parse_retry_after`, `utils/_http.py:144-166`, 2.4.0).
pub fn parse_retry_after(v: Option<&str>) -> Option<Duration> {
    let v = v?.trim();
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok().map(Duration::from_secs))?
}

/// The wait a rate-limited answer states, in huggingface_hub's order (a
/// `RateLimit` that is exhausted, else `Retry-After`, `utils/_http.py:527-535`),
/// then GitHub's `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` (epoch
/// seconds; GitHub REST docs, "Rate limits for the REST API"). `now` is the
/// current Unix time in seconds.
pub fn stated_wait(headers: &HeaderMap, now: u64) -> Option<Duration> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(rl) = parse_ratelimit(
        h("ratelimit"),
        h("ratelimit-policy"),
        h("ratelimit-remaining"),
        h("ratelimit-reset"),
    ) && rl.remaining == 0
    {
        return Some(rl.reset);
    }
    if let Some(d) = parse_retry_after(h("retry-after")) {
        return Some(d);
    }
    if h("x-ratelimit-remaining").map(str::trim) == Some("0")
        && let Some(reset) = h("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(reset.saturating_sub(now)));
    }
    None
}

/// A rate-limit answer: 429 anywhere; 403 with no quota left (GitHub's primary
/// limit, "Rate limits for the REST API").
fn is_rate_limited(status: u16, headers: &HeaderMap) -> bool {
    status == 429
        || (status == 403
            && headers
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                == Some("0"))
}

/// A 5xx that names an application error in csghub-server's JSON envelope
/// (`{"code":"SYS-ERR-3","msg":...}`, `api/httpbase/response.go:180-196,333-341`
/// at csghub-server c1ada0e1) is an answer, not an outage: csghub-server turns
/// a missing model (`SYS-ERR-3`, database no rows) and a private one
/// (`AUTH-ERR-0`) into 500 in `SDKModelInfo` (`api/handler/model_ce.go:51-80`,
/// `component/model.go:771-779`). Retrying it changes nothing.
fn application_error_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = v.get("code")?.as_str()?;
    let (prefix, n) = code.rsplit_once("-ERR-")?;
    let ok = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| code.to_string())
}

/// Application errors that a retry cannot change: a row that is not there
/// (`SYS-ERR-3`) and an authorization refusal (`AUTH-ERR-*`). Others (an
/// internal error, a database failure) may be transient and are retried.
fn final_code(code: &str) -> bool {
    code == "SYS-ERR-3" || code.starts_with("AUTH-ERR-")
}

/// Run-wide accounting of rate-limit waits: per origin, the instant before
/// which the hub asked not to be called again, and the wall-clock time spent
/// waiting (concurrent waits on one window count once).
#[derive(Default)]
struct Limiter {
    blocked_until: HashMap<String, Instant>,
    spent: Duration,
    covered_until: Option<Instant>,
}

/// What a rate limit is counted against: the origin, and Hugging Face's
/// bucket ("resolvers" for `/resolve/` URLs, "api" for the rest; hub-docs
/// `rate-limits.md`), so an exhausted API window does not hold file downloads
/// back.
fn origin_key(u: &Url) -> String {
    let bucket = if u.path().contains("/resolve/") {
        "resolvers"
    } else {
        "api"
    };
    format!(
        "{}://{}:{} {bucket}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(0)
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The shared client.
pub struct Http {
    client: reqwest::Client,
    sem: Semaphore,
    cfg: HttpConfig,
    requests: AtomicU64,
    bytes: AtomicU64,
    limiter: Mutex<Limiter>,
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

enum Attempt {
    Done(Resp),
    /// A server or transport error: back off (at most `max_retry_wait`).
    Retry(Option<Duration>, HubError),
    /// A rate limit, with the wait the hub stated (None: back off).
    Limited(Option<Duration>, HubError),
}

impl Http {
    pub fn new(cfg: HttpConfig) -> Result<Http, HubError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("hubwarden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HubError::Network(format!("building the HTTP client: {e}")))?;
        Ok(Http {
            client,
            sem: Semaphore::new(cfg.max_concurrency.max(1)),
            cfg,
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            limiter: Mutex::new(Limiter::default()),
        })
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Wall-clock time spent waiting out rate limits so far.
    pub fn rate_limit_waited(&self) -> Duration {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner()).spent
    }

    /// Remember that `origin` asked not to be called before `until`.
    fn block(&self, origin: &str, until: Instant) {
        let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        let e = l.blocked_until.entry(origin.to_string()).or_insert(until);
        if *e < until {
            *e = until;
        }
    }

    /// Wait while `url`'s origin is rate limited, charging the wall-clock wait
    /// to the run-wide budget; fail at once when the wait does not fit in it.
    async fn wait_gate(&self, url: &Url) -> Result<(), HubError> {
        let origin = origin_key(url);
        let until = {
            let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let Some(until) = l.blocked_until.get(&origin).copied().filter(|u| *u > now) else {
                return Ok(());
            };
            let from = l.covered_until.filter(|c| *c > now).unwrap_or(now);
            let extra = until.saturating_duration_since(from);
            if l.spent + extra > self.cfg.max_wait {
                return Err(HubError::RateLimited(format!(
                    "{} asks to wait {} s more, beyond what is left of --max-wait {} s ({} s already waited); a token raises the hub's limit",
                    url.origin().ascii_serialization(),
                    until.saturating_duration_since(now).as_secs(),
                    self.cfg.max_wait.as_secs(),
                    l.spent.as_secs()
                )));
            }
            l.spent += extra;
            l.covered_until = Some(l.covered_until.map_or(until, |c| c.max(until)));
            until
        };
        let wait = until.saturating_duration_since(Instant::now());
        if wait >= Duration::from_secs(1) {
            tracing::warn!(
                "rate limited by {}: waiting {} s as it asks (--max-wait {} s)",
                url.origin().ascii_serialization(),
                wait.as_secs(),
                self.cfg.max_wait.as_secs()
            );
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The request (a GET, or its HEAD or POST) with retries on 429/5xx/transport
    /// errors. Returns the final response (after redirects), whatever its
    /// status, unless retries ran out. A rate limit with a stated wait is
    /// waited out within `max_wait`.
    pub async fn get(&self, req: &Req, limit: Limit) -> Result<Resp, HubError> {
        let origin = origin_key(&req.url);
        let (mut attempt, mut limited) = (0u32, 0u32);
        loop {
            self.wait_gate(&req.url).await?;
            let (after, err, stated) = match self.attempt(req, limit).await? {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Retry(after, err) => (after, err, false),
                Attempt::Limited(Some(wait), err) => {
                    limited += 1;
                    if limited > MAX_RATE_LIMIT_WAITS {
                        return Err(err);
                    }
                    tracing::debug!(url = %req.url, ?wait, "rate limited: {err}");
                    self.block(&origin, Instant::now() + wait + self.cfg.rate_limit_margin);
                    continue;
                }
                Attempt::Limited(None, err) => (None, err, true),
            };
            if attempt >= self.cfg.max_retries {
                return Err(err);
            }
            let backoff = self.cfg.backoff.saturating_mul(1u32 << attempt.min(16));
            let wait = after.unwrap_or(backoff).min(self.cfg.max_retry_wait);
            tracing::debug!(url = %req.url, ?wait, stated, "retrying after {err}");
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, req: &Req, limit: Limit) -> Result<Attempt, HubError> {
        // The semaphore is never closed, so acquire only fails if it were.
        let _permit = self
            .sem
            .acquire()
            .await
            .map_err(|_| HubError::Network("client shut down".into()))?;
        let origin = req.url.clone();
        let mut url = req.url.clone();
        for _ in 0..=self.cfg.max_redirects {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(HubError::Protocol(format!("refusing URL scheme of {url}")));
            }
            // A POST stays a POST across redirects (the 307/308 reading): its
            // body is a query, not a form to resubmit elsewhere as a GET.
            let mut rb = if req.head {
                self.client.head(url.clone())
            } else if let Some(body) = &req.json_body {
                self.client
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            } else {
                self.client.get(url.clone())
            };
            if let Some(t) = req.timeout {
                rb = rb.timeout(t);
            }
            for (k, v) in &req.headers {
                if let Ok(v) = HeaderValue::from_str(v) {
                    rb = rb.header(k.clone(), v);
                }
            }
            // A token goes only to the origin it was configured for: a redirect to
            // a CDN (HF LFS, GitHub codeload) or any other host gets none.
            if same_origin(&origin, &url) {
                if let Some(tok) = &req.token {
                    rb = rb.bearer_auth(tok);
                }
                for (k, v) in &req.origin_headers {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        rb = rb.header(k.clone(), v);
                    }
                }
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            crate::progress::request();
            tracing::debug!(%url, post = req.json_body.is_some(), "request");
            let resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => return Ok(Attempt::Retry(None, transport_error(&e, &url))),
            };
            let status = resp.status().as_u16();
            if (300..400).contains(&status) && status != 304 {
                let loc = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        HubError::Protocol(format!("redirect without Location from {url}"))
                    })?;
                url = url
                    .join(loc)
                    .map_err(|e| HubError::Protocol(format!("bad redirect {loc:?}: {e}")))?;
                continue;
            }
            if is_rate_limited(status, resp.headers()) {
                let wait = stated_wait(resp.headers(), unix_now());
                return Ok(Attempt::Limited(
                    wait,
                    HubError::RateLimited(format!("HTTP {status} from {url}")),
                ));
            }
            // A hub may announce on any answer that the window is used up: the
            // next call would be refused, so hold the next ones back now.
            if let Some(rl) = parse_ratelimit(
                resp.headers()
                    .get("ratelimit")
                    .and_then(|v| v.to_str().ok()),
                None,
                None,
                None,
            ) && rl.remaining == 0
                && !rl.reset.is_zero()
            {
                self.block(
                    &origin_key(&req.url),
                    Instant::now() + rl.reset + self.cfg.rate_limit_margin,
                );
            }
            if (500..600).contains(&status) {
                let after = parse_retry_after(
                    resp.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                );
                let headers = resp.headers().clone();
                // A small JSON body may name an application error (see
                // `application_error_code`): that answer is final.
                let json = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ct| ct.starts_with("application/json"));
                if json
                    && let Ok((body, false)) =
                        read_body(resp, Limit::Truncate(64 * 1024), &url).await
                    && application_error_code(&body).is_some_and(|c| final_code(&c))
                {
                    self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    return Ok(Attempt::Done(Resp {
                        status,
                        headers,
                        body,
                        truncated: false,
                        file: None,
                    }));
                }
                return Ok(Attempt::Retry(
                    after,
                    HubError::Network(format!("server error {status}: {url}")),
                ));
            }
            let headers = resp.headers().clone();
            if req.head {
                // No body follows a HEAD, whatever Content-Length says.
                return Ok(Attempt::Done(Resp {
                    status,
                    headers,
                    body: Vec::new(),
                    truncated: false,
                    file: None,
                }));
            }
            if let Some(path) = &req.to_file
                && (200..300).contains(&status)
            {
                return match body_to_file(resp, limit, &url, path).await {
                    Ok(file) => {
                        self.bytes.fetch_add(file.len, Ordering::Relaxed);
                        Ok(Attempt::Done(Resp {
                            status,
                            headers,
                            body: Vec::new(),
                            truncated: false,
                            file: Some(file),
                        }))
                    }
                    Err(BodyErr::Cap(e)) => Err(e),
                    Err(BodyErr::Transport(e)) => Ok(Attempt::Retry(None, e)),
                };
            }
            return match read_body(resp, limit, &url).await {
                Ok((body, truncated)) => {
                    self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    Ok(Attempt::Done(Resp {
                        status,
                        headers,
                        body,
                        truncated,
                        file: None,
                    }))
                }
                Err(BodyErr::Cap(e)) => Err(e),
                Err(BodyErr::Transport(e)) => Ok(Attempt::Retry(None, e)),
            };
        }
        Err(HubError::Protocol(format!(
            "too many redirects from {}",
            req.url
        )))
    }
}

enum BodyErr {
    Cap(HubError),
    Transport(HubError),
}

fn transport_error(e: &reqwest::Error, url: &Url) -> HubError {
    if e.is_timeout() {
        HubError::Timeout(url.to_string())
    } else {
        // reqwest's own text ("error sending request") hides the cause; the chain
        // says what actually failed (DNS, connection refused, TLS).
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        HubError::Network(format!("{url}: {text}"))
    }
}

async fn read_body(
    mut resp: reqwest::Response,
    limit: Limit,
    url: &Url,
) -> Result<(Vec<u8>, bool), BodyErr> {
    let (max, truncate) = match limit {
        Limit::Error(n) => (n, false),
        Limit::Truncate(n) => (n, true),
    };
    if !truncate && resp.content_length().is_some_and(|n| n > max) {
        return Err(BodyErr::Cap(HubError::Cap(format!(
            "{url} is larger than {max} bytes"
        ))));
    }
    let mut body = Vec::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok((body, false)),
            Err(e) => return Err(BodyErr::Transport(transport_error(&e, url))),
        };
        crate::progress::received(chunk.len());
        let room = max.saturating_sub(body.len() as u64) as usize;
        if chunk.len() > room {
            if truncate {
                body.extend_from_slice(&chunk[..room]);
                return Ok((body, true));
            }
            return Err(BodyErr::Cap(HubError::Cap(format!(
                "{url} is larger than {max} bytes"
            ))));
        }
        body.extend_from_slice(&chunk);
    }
}

/// `read_body` into a file, hashing as it goes; over the limit (either kind)
/// is a cap error and the partial file is left for the caller to remove.
async fn body_to_file(
    mut resp: reqwest::Response,
    limit: Limit,
    url: &Url,
    path: &std::path::Path,
) -> Result<FileBody, BodyErr> {
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncWriteExt;
    let max = match limit {
        Limit::Error(n) | Limit::Truncate(n) => n,
    };
    let over = || BodyErr::Cap(HubError::Cap(format!("{url} is larger than {max} bytes")));
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(over());
    }
    let io = |e: std::io::Error| {
        BodyErr::Cap(HubError::Protocol(format!(
            "writing {} to {}: {e}",
            url,
            path.display()
        )))
    };
    let mut f = tokio::fs::File::create(path).await.map_err(io)?;
    let mut hash = Sha256::new();
    let mut len = 0u64;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(BodyErr::Transport(transport_error(&e, url))),
        };
        crate::progress::received(chunk.len());
        len += chunk.len() as u64;
        if len > max {
            return Err(over());
        }
        hash.update(&chunk);
        f.write_all(&chunk).await.map_err(io)?;
    }
    f.flush().await.map_err(io)?;
    f.sync_all().await.map_err(io)?;
    Ok(FileBody {
        len,
        sha256: hash.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ratelimit_headers_as_huggingface_hub_parses_them() {
        // The docstring example of hfh `parse_ratelimit_headers` (utils/_http.py:93-103, 2.4.0).
        let rl = parse_ratelimit(
            Some("\"api\";r=0;t=55"),
            Some("\"fixed window\";\"api\";q=500;w=300"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(rl.remaining, 0);
        assert_eq!(rl.reset, Duration::from_secs(55));
        assert_eq!(rl.limit, Some(500));
        assert_eq!(rl.window, Some(Duration::from_secs(300)));
        // Spaces around `;` and `=`, other parameter order, several policies.
        let rl = parse_ratelimit(
            Some("\"api\" ; t = 9 ; r = 3, \"resolvers\";r=0;t=40"),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!((rl.remaining, rl.reset.as_secs()), (0, 40));
        // The older draft's separate headers.
        let rl = parse_ratelimit(None, None, Some("0"), Some("7")).unwrap();
        assert_eq!((rl.remaining, rl.reset.as_secs()), (0, 7));
        for bad in [
            "",
            "api",
            "\"api\";r=x;t=1",
            "\"api\";r=1",
            "\"api\";r=-1;t=2",
        ] {
            assert_eq!(
                parse_ratelimit(Some(bad), None, None, None),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stated_wait_order() {
        // An exhausted window wins over Retry-After (hfh utils/_http.py:527-535).
        let h = headers(&[("ratelimit", "\"api\";r=0;t=55"), ("retry-after", "3")]);
        assert_eq!(stated_wait(&h, 0), Some(Duration::from_secs(55)));
        // A window with requests left is not a reason to wait: Retry-After is.
        let h = headers(&[("ratelimit", "\"api\";r=4;t=55"), ("retry-after", "3")]);
        assert_eq!(stated_wait(&h, 0), Some(Duration::from_secs(3)));
        // An HTTP-date Retry-After is not read (nor by huggingface_hub).
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(stated_wait(&h, 0), None);
        // GitHub: remaining 0 and the reset epoch.
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000"),
        ]);
        assert_eq!(stated_wait(&h, 940), Some(Duration::from_secs(60)));
        assert_eq!(stated_wait(&h, 2000), Some(Duration::ZERO));
        let h = headers(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1000"),
        ]);
        assert_eq!(stated_wait(&h, 940), None);
        assert!(is_rate_limited(
            403,
            &headers(&[("x-ratelimit-remaining", "0")])
        ));
        assert!(!is_rate_limited(403, &headers(&[])));
    }

    #[test]
    fn csghub_application_errors() {
        assert_eq!(
            application_error_code(br#"{"code":"SYS-ERR-3","msg":"no rows"}"#).as_deref(),
            Some("SYS-ERR-3")
        );
        assert_eq!(application_error_code(br#"{"msg":"boom"}"#), None);
        assert_eq!(application_error_code(br#"{"code":"sys-err-3"}"#), None);
        assert_eq!(application_error_code(b"<html>"), None);
        assert!(final_code("SYS-ERR-3") && final_code("AUTH-ERR-0"));
        assert!(!final_code("SYS-ERR-0") && !final_code("SYS-ERR-2"));
    }

    #[test]
    fn origins() {
        let a = Url::parse("https://huggingface.co/x").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://huggingface.co:443/y").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://cdn-lfs.hf.co/y").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://huggingface.co/y").unwrap()
        ));
    }
}
