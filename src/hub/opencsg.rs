//! OpenCSG (CSGHub): the Hugging Face JSON shapes under `csg/api/...` and
//! `csg/<repo>/resolve/...`, with its own endpoint and token.

use std::path::PathBuf;

use futures::future::BoxFuture;

use super::http::Req;
use super::huggingface::{api_kind, resolve_request, revision_listing};
use super::{Hub, HubError, Listing, Net, Snapshot};
use crate::model::{HubKind, RepoType};

pub struct Opencsg;

impl Hub for Opencsg {
    fn kind(&self) -> HubKind {
        HubKind::Opencsg
    }

    fn default_ref(&self) -> Option<&'static str> {
        Some("main")
    }

    fn default_endpoint(&self) -> &'static str {
        "https://hub.opencsg.com"
    }

    fn endpoint_vars(&self) -> &'static [&'static str] {
        &["CSGHUB_DOMAIN"]
    }

    fn token_vars(&self) -> &'static [&'static str] {
        &["CSGHUB_TOKEN"]
    }

    fn mirror_dir(&self, rt: RepoType) -> PathBuf {
        PathBuf::from("opencsg").join(api_kind(rt))
    }

    fn snapshot<'a>(
        &'a self,
        net: &'a Net,
        rt: RepoType,
        repo: &'a str,
        rev: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Listing, HubError>> {
        Box::pin(revision_listing(net, self.kind(), "csg/api", rt, repo, rev))
    }

    fn file_request(&self, net: &Net, snap: &Snapshot, path: &str) -> Result<Req, HubError> {
        resolve_request(net, self.kind(), "csg/", snap, path)
    }

    fn web_url(
        &self,
        rt: RepoType,
        repo: &str,
        commit: &str,
        file: &str,
        _line: Option<u32>,
    ) -> Option<String> {
        let kind = if rt == RepoType::Dataset {
            "datasets"
        } else {
            "models"
        };
        Some(format!(
            "https://opencsg.com/{kind}/{repo}/blob/{commit}/{file}"
        ))
    }

    /// The repository page (it has no per-commit tree view).
    fn web_repo_url(&self, rt: RepoType, repo: &str, _at: &str) -> Option<String> {
        let kind = if rt == RepoType::Dataset {
            "datasets"
        } else {
            "models"
        };
        Some(format!("https://opencsg.com/{kind}/{repo}"))
    }
}
