//! What a [`Hub`](super::Hub) gets to talk to its server: the shared HTTP client,
//! this run's endpoints and tokens (each token only on its own hub's requests),
//! URL building, and a per-run store for what a hub learns from a listing and
//! needs again when reading (ModelScope digests, PaddleHub archives).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;
use url::Url;

use super::http::{Http, Limit, Req, Resp, status_error};
use super::options::{Endpoints, PaddleEnv, Tokens};
use super::store::DiskCache;
use super::validate::{MAX_API_JSON_BYTES, MAX_CODE_FILE_BYTES};
use super::{HubError, Snapshot};
use crate::model::HubKind;

type Kept = Arc<dyn Any + Send + Sync>;

/// The network side of one run, shared by every hub.
pub struct Net {
    http: Http,
    endpoints: Endpoints,
    tokens: Tokens,
    paddle_env: Option<PaddleEnv>,
    kept: Mutex<HashMap<(HubKind, String, String), Kept>>,
    /// The disk cache, for what a hub downloads beyond files at a commit
    /// (PaddleHub module archives, by module, version and digest).
    cache: Option<DiskCache>,
}

const PATH_SEG: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH_KEEP_SLASH: &AsciiSet = &PATH_SEG.remove(b'/');

/// Percent-encode one URL path segment (a ref such as `refs/pr/1` stays one segment).
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, PATH_SEG).to_string()
}

/// Percent-encode a repo-relative path, keeping its `/`.
pub fn enc_path(s: &str) -> String {
    utf8_percent_encode(s, PATH_KEEP_SLASH).to_string()
}

impl Net {
    pub(crate) fn new(
        http: Http,
        endpoints: Endpoints,
        tokens: Tokens,
        paddle_env: Option<PaddleEnv>,
    ) -> Net {
        Net {
            http,
            endpoints,
            tokens,
            paddle_env,
            kept: Mutex::new(HashMap::new()),
            cache: None,
        }
    }

    /// Use `cache` for [`Net::cache`].
    pub(crate) fn with_cache(mut self, cache: Option<DiskCache>) -> Net {
        self.cache = cache;
        self
    }

    /// The run's disk cache (None with no cache folder).
    pub fn cache(&self) -> Option<&DiskCache> {
        self.cache.as_ref()
    }

    /// The installed paddle/paddlehub as the project declares them (PaddleHub search filter).
    pub fn paddle_env(&self) -> Option<&PaddleEnv> {
        self.paddle_env.as_ref()
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The base URL of `hub` for this run.
    pub fn endpoint(&self, hub: HubKind) -> &str {
        self.endpoints.get(hub)
    }

    /// The site `hub` falls back to when a repo is not on its endpoint.
    pub fn fallback(&self, hub: HubKind) -> Option<&str> {
        self.endpoints.fallback(hub)
    }

    /// `hub`'s endpoint joined with `rest` (already encoded).
    pub fn url(&self, hub: HubKind, rest: &str) -> Result<Url, HubError> {
        let s = format!(
            "{}/{}",
            self.endpoint(hub).trim_end_matches('/'),
            rest.trim_start_matches('/')
        );
        Url::parse(&s).map_err(|e| HubError::Invalid(format!("URL {s}: {e}")))
    }

    /// A GET to `hub`'s own server, carrying `hub`'s token if one is set (the
    /// HTTP client drops it on a redirect to another origin).
    pub fn request(&self, hub: HubKind, url: Url) -> Req {
        Req::new(url).token(self.tokens.get(hub))
    }

    /// This run's token for `hub`, for hubs that send it in more than the
    /// `Authorization` header (ModelScope's session cookie).
    pub fn token(&self, hub: HubKind) -> Option<&str> {
        self.tokens.get(hub)
    }

    /// A successful API answer of at most `MAX_API_JSON_BYTES`.
    pub async fn api(&self, req: &Req, what: &str) -> Result<Resp, HubError> {
        let resp = self.http.get(req, Limit::Error(MAX_API_JSON_BYTES)).await?;
        if !resp.ok() {
            return Err(status_error(&resp, what));
        }
        Ok(resp)
    }

    /// [`Net::api`], parsed as JSON.
    pub async fn json<T: DeserializeOwned>(&self, req: &Req, what: &str) -> Result<T, HubError> {
        self.api(req, what).await?.json(what)
    }

    /// A successful file download of at most `MAX_CODE_FILE_BYTES`.
    pub async fn get_file(&self, req: &Req, snap: &Snapshot, path: &str) -> Result<Resp, HubError> {
        let resp = self
            .http
            .get(req, Limit::Error(MAX_CODE_FILE_BYTES))
            .await?;
        if !resp.ok() {
            return Err(status_error(
                &resp,
                &format!("{} {}@{}:{path}", snap.hub, snap.repo_id, snap.commit),
            ));
        }
        Ok(resp)
    }

    /// Keep `value` for (hub, repo, commit) for the rest of the run.
    pub fn keep<T: Any + Send + Sync>(&self, hub: HubKind, repo: &str, commit: &str, value: T) {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((hub, repo.to_string(), commit.to_string()), Arc::new(value));
    }

    /// What [`Net::keep`] kept for the snapshot's (hub, repo, commit), if of type `T`.
    pub fn kept<T: Any + Send + Sync>(&self, snap: &Snapshot) -> Option<Arc<T>> {
        let v = self
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(snap.hub, snap.repo_id.clone(), snap.commit.clone()))
            .cloned()?;
        v.downcast::<T>().ok()
    }
}
