//! The one HTTP client shared by every hub: timeouts, bounded concurrency,
//! retries with backoff honouring `Retry-After`, redirects followed by hand so a
//! token never leaves its own origin, request/byte counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// Longest wait between attempts, whatever `Retry-After` says.
    pub max_retry_wait: Duration,
    pub max_redirects: usize,
}

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

/// One GET.
#[derive(Clone, Debug)]
pub struct Req {
    pub url: Url,
    /// Sent as `Authorization: Bearer` only to `url`'s own origin.
    pub token: Option<String>,
    pub headers: Vec<(HeaderName, String)>,
}

impl Req {
    pub fn new(url: Url) -> Req {
        Req {
            url,
            token: None,
            headers: Vec::new(),
        }
    }

    pub fn token(mut self, token: Option<&str>) -> Req {
        self.token = token.map(str::to_string);
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
    match resp.status {
        401 => HubError::Unauthorized(what.to_string()),
        403 => HubError::Forbidden(what.to_string()),
        404 | 410 => HubError::NotFound(what.to_string()),
        429 => HubError::RateLimited(what.to_string()),
        s @ 500..=599 => HubError::Network(format!("server error {s}: {what}")),
        s => HubError::Protocol(format!("HTTP {s}: {what}")),
    }
}

/// The shared client.
pub struct Http {
    client: reqwest::Client,
    sem: Semaphore,
    cfg: HttpConfig,
    requests: AtomicU64,
    bytes: AtomicU64,
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

enum Attempt {
    Done(Resp),
    Retry(Option<Duration>, HubError),
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
        })
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// GET with retries on 429/5xx/transport errors. Returns the final response
    /// (after redirects), whatever its status, unless retries ran out.
    pub async fn get(&self, req: &Req, limit: Limit) -> Result<Resp, HubError> {
        let mut attempt = 0u32;
        loop {
            match self.attempt(req, limit).await? {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Retry(after, err) => {
                    if attempt >= self.cfg.max_retries {
                        return Err(err);
                    }
                    let backoff = self.cfg.backoff.saturating_mul(1u32 << attempt.min(16));
                    let wait = after.unwrap_or(backoff).min(self.cfg.max_retry_wait);
                    tracing::debug!(url = %req.url, ?wait, "retrying after {err}");
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
            }
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
            let mut rb = self.client.get(url.clone());
            for (k, v) in &req.headers {
                if let Ok(v) = HeaderValue::from_str(v) {
                    rb = rb.header(k.clone(), v);
                }
            }
            // A token goes only to the origin it was configured for: a redirect to
            // a CDN (HF LFS, GitHub codeload) or any other host gets none.
            if let Some(tok) = &req.token
                && same_origin(&origin, &url)
            {
                rb = rb.bearer_auth(tok);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%url, "GET");
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
            if status == 429 || (500..600).contains(&status) {
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let err = if status == 429 {
                    HubError::RateLimited(url.to_string())
                } else {
                    HubError::Network(format!("server error {status}: {url}"))
                };
                return Ok(Attempt::Retry(after, err));
            }
            let headers = resp.headers().clone();
            return match read_body(resp, limit, &url).await {
                Ok((body, truncated)) => {
                    self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    Ok(Attempt::Done(Resp {
                        status,
                        headers,
                        body,
                        truncated,
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

#[cfg(test)]
mod tests {
    use super::*;

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
