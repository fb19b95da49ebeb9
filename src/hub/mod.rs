//! Hub clients: one per model hub behind the `RepoSource` trait, a shared HTTP
//! client, an on-disk cache keyed by (hub, repo, commit, path) and an offline mirror.

use std::future::Future;
use std::sync::Arc;

use crate::model::{FetchStats, HubKind, RepoType};

pub mod archive;
pub mod checkpoint;
pub mod credentials;
pub mod http;
pub mod hubs;
pub mod store;
pub mod validate;

pub use http::HttpConfig;
pub use hubs::{Endpoints, HubOptions, Hubs, Tokens};
pub use validate::{is_commit, validate_path, validate_repo_id, validate_revision};

/// A repository resolved to an immutable commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub hub: HubKind,
    pub repo_type: RepoType,
    pub repo_id: String,
    /// The revision that was asked for (None = the library's default).
    pub requested: Option<String>,
    /// The ref that was actually used, e.g. `main`, `master`, a tag, or the commit itself.
    pub resolved_ref: String,
    /// Immutable commit id (40 hex for git hubs; `version+sha256:<hex>` for PaddleHub).
    pub commit: String,
    /// Every file path in the repo at that commit, `/` separators, sorted.
    pub files: Vec<String>,
}

impl Snapshot {
    pub fn has(&self, path: &str) -> bool {
        self.files
            .binary_search_by(|p| p.as_str().cmp(path))
            .is_ok()
    }
}

/// Why a repository or file could not be read. Each variant is a clear
/// `unverified` reason: verification fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("invalid repository id or path {0:?}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("authentication required (401): {0}; set the hub's token")]
    Unauthorized(String),
    #[error("access denied (403): {0}")]
    Forbidden(String),
    #[error("gated repository: {0}; a token with access is required")]
    Gated(String),
    #[error("rate limited: {0}")]
    RateLimited(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("cap exceeded: {0}")]
    Cap(String),
    #[error("offline and not in the mirror or cache: {0}")]
    Offline(String),
    #[error("unexpected response: {0}")]
    Protocol(String),
}

/// Read access to remote repositories at immutable commits. Implemented by the
/// network hubs (with cache and mirror) and by in-memory fakes in tests.
pub trait RepoSource: Send + Sync {
    /// Resolve `revision` (None = the hub's default ref) to a commit and list its files.
    fn snapshot(
        &self,
        hub: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> impl Future<Output = Result<Arc<Snapshot>, HubError>> + Send;

    /// The bytes of one file at the snapshot's commit (size-capped).
    fn read(
        &self,
        snap: &Snapshot,
        path: &str,
    ) -> impl Future<Output = Result<Arc<Vec<u8>>, HubError>> + Send;

    /// The pickle stream a loader would unpickle from a weights file: for a zip
    /// checkpoint the `data.pkl` member (read with range requests), else the raw
    /// file up to the pickle cap. Never the whole weights.
    fn read_pickle(
        &self,
        snap: &Snapshot,
        path: &str,
    ) -> impl Future<Output = Result<Arc<Vec<u8>>, HubError>> + Send;

    /// Counters so far.
    fn stats(&self) -> FetchStats;
}
