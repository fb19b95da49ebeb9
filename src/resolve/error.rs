//! Why a call could not be verified. The text is the target's `reason`; the
//! variant and its source say where it came from (a hub error keeps its kind).

use crate::hub::HubError;

/// A resolution that stopped: the call is reported `unverified` (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Reading the repository failed (not found, gated, offline, invalid id, ...).
    #[error(transparent)]
    Hub(#[from] HubError),
    /// A resolver cap (files per target, import depth).
    #[error("cap exceeded: {0}")]
    Cap(String),
    /// A config file the library reads is not JSON.
    #[error("cannot parse {path} in {repo}@{commit}: {source}")]
    Config {
        path: String,
        repo: String,
        commit: String,
        source: serde_json::Error,
    },
    /// The repo id (or module name) is not a literal hubwarden could follow.
    #[error("{0} could not be resolved statically")]
    NotStatic(&'static str),
    /// An argument of the call that names no hub repository as written.
    #[error("{0}")]
    Argument(String),
    /// The repository's content points somewhere hubwarden cannot follow
    /// (a local base model, a missing entry module).
    #[error("{0}")]
    Content(String),
    /// A load form that hubwarden does not resolve.
    #[error("{0}")]
    Unsupported(String),
}

impl ResolveError {
    /// The model id is not statically known.
    pub(crate) fn no_repo_id() -> ResolveError {
        ResolveError::NotStatic("model id")
    }
}
