//! Hub clients: one file per model hub behind the [`Hub`] trait, listed in
//! [`HUBS`]; the shared HTTP client; and [`Hubs`], the [`RepoSource`] that puts
//! the offline mirror, the disk cache and a hub library's own local cache in
//! front of the network (`layers.rs`, written once for every hub).
//!
//! Adding a hub: a `HubKind` variant in `model.rs`, a file here implementing
//! [`Hub`], and its entry in [`HUBS`] (see CONTRIBUTING.md).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::model::{FetchStats, HubKind, RepoType};

pub mod archive;
pub mod checkpoint;
pub mod credentials;
pub mod http;
pub mod hub_scan;
mod layers;
mod net;
pub mod options;
pub mod store;
pub mod validate;

mod github;
pub use github::CLONE_HEAD;
mod huggingface;
mod modelscope;
mod opencsg;
pub(crate) mod paddlehub;

pub(crate) use github::same_origin;
pub use http::HttpConfig;
pub use layers::Hubs;
pub use net::Net;
pub use options::{Endpoints, HubOptions, PaddleEnv, Tokens};
pub use validate::{is_commit, validate_path, validate_repo_id, validate_revision};

/// Every hub hubwarden can read from. Each entry owns everything that differs
/// between hubs; the code around them never matches on [`HubKind`].
pub static HUBS: &[&dyn Hub] = &[
    &huggingface::Huggingface,
    &modelscope::Modelscope,
    &opencsg::Opencsg,
    &github::Github,
    &paddlehub::Paddlehub,
];

/// The hub of a kind. Every `HubKind` has an entry in [`HUBS`] (a unit test
/// checks it), so the fallback is never taken.
pub fn get(kind: HubKind) -> &'static dyn Hub {
    HUBS.iter()
        .copied()
        .find(|h| h.kind() == kind)
        .unwrap_or(HUBS[0])
}

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

/// A hub's answer to "what is at this revision": the parts of a [`Snapshot`]
/// that come from the hub (or the mirror, or a cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The ref that was actually used.
    pub resolved_ref: String,
    /// The commit (see [`Snapshot::commit`]).
    pub commit: String,
    /// Sorted, validated file paths.
    pub files: Vec<String>,
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

/// How a hub's repositories are laid out in the offline mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorLayout {
    /// `<repo>/refs.json` (ref -> 40-hex commit) and `<repo>/<commit>/<files>`.
    Git,
    /// `<module>/<version>/<files>`; the commit is `<version>+mirror` and the
    /// default is the highest version.
    Versions,
}

/// One model hub: its identity, configuration, id rules, protocol and web links.
///
/// The network methods get a [`Net`] (the shared HTTP client with this run's
/// endpoints and tokens); the mirror, the caches, the single-flight memo, the
/// size caps and id validation happen around them, in [`Hubs`].
pub trait Hub: Send + Sync {
    fn kind(&self) -> HubKind;

    /// The ref a call that names no revision reads, or None when the hub picks it
    /// itself (GitHub: `main` if that branch exists, else `master`; PaddleHub:
    /// the newest version).
    fn default_ref(&self) -> Option<&'static str>;

    /// The base URL when no variable overrides it.
    fn default_endpoint(&self) -> &'static str;

    /// The variables the hub's own library reads for its base URL, first set wins.
    fn endpoint_vars(&self) -> &'static [&'static str];

    /// The endpoint from the environment (`var` gives trimmed, non-empty values).
    fn endpoint_from(&self, var: &dyn Fn(&str) -> Option<String>) -> String {
        self.endpoint_vars()
            .iter()
            .find_map(|k| var(k))
            .unwrap_or_else(|| self.default_endpoint().to_string())
    }

    /// When the user named no endpoint and the hub's library probes two sites:
    /// (first, fallback). Default: one site.
    fn site_order(&self, _var: &dyn Fn(&str) -> Option<String>) -> Option<(String, String)> {
        None
    }

    /// The variables the hub's own library reads for a token, first set wins.
    /// Empty: the hub takes no token, and none is ever sent to it.
    fn token_vars(&self) -> &'static [&'static str];

    /// The token the hub's own library would send, from its variables and the
    /// token files it reads, in its order (`credentials.rs`); `endpoint` is
    /// this run's endpoint of the hub. Default: the first of [`Hub::token_vars`].
    fn token_from(
        &self,
        l: &credentials::Lookup<'_>,
        _endpoint: &str,
    ) -> Option<credentials::Credential> {
        credentials::first_var(l, self.token_vars())
    }

    /// Whether `id` is a repository id on this hub (checked before any value
    /// reaches a URL or a cache path). Default: `owner/name`.
    fn validate_repo_id(&self, id: &str) -> Result<(), HubError> {
        validate::repo_id_segments(id, 2..=2)
    }

    /// Whether `rev` may be asked for (beyond [`validate_revision`]).
    fn validate_revision(&self, rev: &str) -> Result<(), HubError> {
        validate_revision(rev)
    }

    /// A commit whose content can never change, so it may be cached on disk.
    fn immutable(&self, commit: &str) -> bool {
        is_commit(commit)
    }

    /// The folder of this hub's repositories of type `rt` in the offline mirror,
    /// relative to the mirror root.
    fn mirror_dir(&self, rt: RepoType) -> PathBuf;

    fn mirror_layout(&self) -> MirrorLayout {
        MirrorLayout::Git
    }

    /// The hub library's own local cache, read when offline (None: it has none
    /// that hubwarden reads).
    fn local_cache(&self, _opts: &HubOptions) -> Option<store::HfCache> {
        None
    }

    /// Resolve `rev` (None = [`Hub::default_ref`]) to a commit and list its files.
    fn snapshot<'a>(
        &'a self,
        net: &'a Net,
        repo_type: RepoType,
        repo_id: &'a str,
        rev: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Listing, HubError>>;

    /// The GET that reads one file at the snapshot's commit (also used for the
    /// range reads of a weights file).
    fn file_request(&self, net: &Net, snap: &Snapshot, path: &str) -> Result<http::Req, HubError>;

    /// The bytes of one file, at most `MAX_CODE_FILE_BYTES`.
    fn read<'a>(
        &'a self,
        net: &'a Net,
        snap: &'a Snapshot,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, HubError>> {
        Box::pin(async move {
            let req = self.file_request(net, snap, path)?;
            net.get_file(&req, snap, path).await.map(|r| r.body)
        })
    }

    /// The pickle stream of a weights file (a zip checkpoint's `data.pkl`, read
    /// with range requests, else the raw prefix).
    fn read_pickle<'a>(
        &'a self,
        net: &'a Net,
        snap: &'a Snapshot,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, HubError>> {
        Box::pin(async move {
            let req = self.file_request(net, snap, path)?;
            checkpoint::read_pickle(&layers::RemoteRange {
                http: net.http(),
                req,
            })
            .await
        })
    }

    /// A browser link to a file at a commit (and line where the hub's viewer has
    /// line anchors). Arguments are already percent-encoded per path segment.
    /// None: the hub has no file viewer.
    fn web_url(
        &self,
        repo_type: RepoType,
        repo: &str,
        commit: &str,
        file: &str,
        line: Option<u32>,
    ) -> Option<String>;

    /// A browser link to the repository at `at` (a commit or a ref), or None
    /// when the hub has no repository page.
    fn web_repo_url(&self, repo_type: RepoType, repo: &str, at: &str) -> Option<String>;
}

/// Read access to remote repositories at immutable commits. Implemented by
/// [`Hubs`] (every hub, with mirror and caches) and by in-memory fakes in tests.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive on purpose: a new `HubKind` does not compile until it is
    /// listed here, and then fails until it has its entry in `HUBS`.
    fn all_kinds() -> Vec<HubKind> {
        let kinds = [
            HubKind::Huggingface,
            HubKind::Modelscope,
            HubKind::Opencsg,
            HubKind::Github,
            HubKind::Paddlehub,
        ];
        for k in kinds {
            match k {
                HubKind::Huggingface
                | HubKind::Modelscope
                | HubKind::Opencsg
                | HubKind::Github
                | HubKind::Paddlehub => {}
            }
        }
        kinds.to_vec()
    }

    #[test]
    fn every_hub_kind_has_exactly_one_entry() {
        let kinds = all_kinds();
        assert_eq!(kinds.len(), HUBS.len());
        for kind in kinds {
            let n = HUBS.iter().filter(|h| h.kind() == kind).count();
            assert_eq!(n, 1, "{kind}");
            assert_eq!(get(kind).kind(), kind);
        }
    }
}
