//! The Hugging Face Hub: `api/{models|datasets|spaces}/<repo>/revision/<ref>`
//! lists a commit and its files, `<repo>/resolve/<commit>/<path>` serves a file.
//! OpenCSG serves the same JSON shapes under other paths (`opencsg.rs`).

use std::path::PathBuf;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::credentials::{self, Credential};
use super::http::Req;
use super::net::{enc, enc_path};
use super::store::HfCache;
use super::validate::{is_commit, repo_id_segments, validate_path};
use super::{Hub, HubError, HubOptions, Listing, Net, Snapshot};
use crate::model::{HubKind, RepoType};

pub struct Huggingface;

/// The URL path part before a repo id for its type (`datasets/`, `spaces/`).
pub(super) fn type_prefix(rt: RepoType) -> &'static str {
    match rt {
        RepoType::Dataset => "datasets/",
        RepoType::Space => "spaces/",
        RepoType::Kernel => "kernels/",
        _ => "",
    }
}

/// The API collection of a repo type.
pub(super) fn api_kind(rt: RepoType) -> &'static str {
    match rt {
        RepoType::Dataset => "datasets",
        RepoType::Space => "spaces",
        RepoType::Kernel => "kernels",
        _ => "models",
    }
}

#[derive(Deserialize)]
struct Info {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
}

/// The revision-info request of HF and OpenCSG: `{api_root}/{kind}/{repo}/revision/{ref}`
/// -> the `sha` the server names (not checked here) and the sorted, valid paths.
pub(super) async fn revision_info(
    net: &Net,
    hub: HubKind,
    api_root: &str,
    rt: RepoType,
    repo: &str,
    r: &str,
) -> Result<(Option<String>, Vec<String>), HubError> {
    let rest = format!("{api_root}/{}/{repo}/revision/{}", api_kind(rt), enc(r));
    let what = format!("{hub} {repo}@{r}");
    let info: Info = net
        .json(&net.request(hub, net.url(hub, &rest)?), &what)
        .await?;
    let mut files: Vec<String> = info
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .filter(|p| validate_path(p).is_ok())
        .collect();
    files.sort();
    files.dedup();
    Ok((info.sha, files))
}

/// [`revision_info`] with the commit the server must name as `sha`
/// (huggingface_hub `repo_info(...).sha`, `_snapshot_download.py:277-280`, 2.4.0).
pub(super) async fn revision_listing(
    net: &Net,
    hub: HubKind,
    api_root: &str,
    rt: RepoType,
    repo: &str,
    rev: Option<&str>,
) -> Result<Listing, HubError> {
    let r = rev.unwrap_or("main");
    let (sha, files) = revision_info(net, hub, api_root, rt, repo, r).await?;
    let what = format!("{hub} {repo}@{r}");
    let commit = sha
        .filter(|s| is_commit(s))
        .ok_or_else(|| HubError::Protocol(format!("{what}: no commit sha in the answer")))?
        .to_ascii_lowercase();
    Ok(Listing {
        resolved_ref: r.to_string(),
        commit,
        files,
    })
}

/// `{file_root}{type prefix}{repo}/resolve/{commit}/{path}` on `hub`.
pub(super) fn resolve_request(
    net: &Net,
    hub: HubKind,
    file_root: &str,
    snap: &Snapshot,
    path: &str,
) -> Result<Req, HubError> {
    let rest = format!(
        "{file_root}{}{}/resolve/{}/{}",
        type_prefix(snap.repo_type),
        snap.repo_id,
        enc(&snap.commit),
        enc_path(path)
    );
    Ok(net.request(hub, net.url(hub, &rest)?))
}

impl Hub for Huggingface {
    fn kind(&self) -> HubKind {
        HubKind::Huggingface
    }

    fn default_ref(&self) -> Option<&'static str> {
        Some("main")
    }

    fn default_endpoint(&self) -> &'static str {
        "https://huggingface.co"
    }

    fn endpoint_vars(&self) -> &'static [&'static str] {
        &["HF_ENDPOINT"]
    }

    fn token_vars(&self) -> &'static [&'static str] {
        &["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
    }

    /// Also `HF_TOKEN_PATH` / `$HF_HOME/token` (what `hf auth login` writes).
    fn token_from(&self, l: &credentials::Lookup<'_>, _endpoint: &str) -> Option<Credential> {
        credentials::huggingface(l)
    }

    /// `owner/name`, or a bare legacy `name` (`gpt2`).
    fn validate_repo_id(&self, id: &str) -> Result<(), HubError> {
        repo_id_segments(id, 1..=2)
    }

    fn mirror_dir(&self, rt: RepoType) -> PathBuf {
        PathBuf::from("huggingface").join(api_kind(rt))
    }

    fn local_cache(&self, opts: &HubOptions) -> Option<HfCache> {
        opts.hf_cache.clone().map(HfCache::new)
    }

    fn snapshot<'a>(
        &'a self,
        net: &'a Net,
        rt: RepoType,
        repo: &'a str,
        rev: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Listing, HubError>> {
        Box::pin(revision_listing(net, self.kind(), "api", rt, repo, rev))
    }

    fn file_request(&self, net: &Net, snap: &Snapshot, path: &str) -> Result<Req, HubError> {
        resolve_request(net, self.kind(), "", snap, path)
    }

    fn web_url(
        &self,
        rt: RepoType,
        repo: &str,
        commit: &str,
        file: &str,
        line: Option<u32>,
    ) -> Option<String> {
        let anchor = line.map(|l| format!("#L{l}")).unwrap_or_default();
        Some(format!(
            "https://huggingface.co/{}{repo}/blob/{commit}/{file}{anchor}",
            type_prefix(rt)
        ))
    }

    fn web_repo_url(&self, rt: RepoType, repo: &str, at: &str) -> Option<String> {
        Some(format!(
            "https://huggingface.co/{}{repo}/tree/{at}",
            type_prefix(rt)
        ))
    }
}
