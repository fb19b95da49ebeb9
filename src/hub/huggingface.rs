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
use super::validate::{MAX_REPO_FILES, is_commit, repo_id_segments, validate_path};
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

/// Above this many `siblings` huggingface_hub stopped trusting the list and
/// listed the tree instead (`VERY_LARGE_REPO_THRESHOLD`, commit 27766a70b
/// `_snapshot_download.py:25,262`; it now always does, `:394`, ee0a4510).
/// Whether the server cuts `siblings` is unverified; a cut list would make
/// files that load look absent.
pub const SIBLINGS_TRUSTED_BELOW: usize = 50_000;

/// Most tree pages followed (the server pages at 1,000 entries or more).
const MAX_TREE_PAGES: usize = 200;

#[derive(Deserialize)]
struct TreeItem {
    #[serde(rename = "type")]
    kind: String,
    path: String,
}

/// The `rel="next"` target of a `Link` header, as httpx's `Response.links`
/// reads it (huggingface_hub `utils/_pagination.py` `_get_next_page`).
pub(super) fn next_link(v: &str) -> Option<&str> {
    v.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// `list_repo_tree(recursive=True)` at the commit: `GET
/// /api/{type}s/{repo}/tree/{commit}?recursive=true&expand=false`, pages
/// followed through `Link: <...>; rel="next"` on the same origin
/// (huggingface_hub `hf_api.py:3972-4105`, `utils/_pagination.py`).
async fn tree_listing(
    net: &Net,
    rt: RepoType,
    repo: &str,
    commit: &str,
) -> Result<Vec<String>, HubError> {
    let hub = HubKind::Huggingface;
    let what = format!("{hub} {repo}@{commit} tree");
    let mut u = net.url(
        hub,
        &format!("api/{}/{repo}/tree/{}", api_kind(rt), enc(commit)),
    )?;
    u.query_pairs_mut()
        .append_pair("recursive", "true")
        .append_pair("expand", "false");
    let mut files = Vec::new();
    for _ in 0..MAX_TREE_PAGES {
        let resp = net.api(&net.request(hub, u.clone()), &what).await?;
        let items: Vec<TreeItem> = resp.json(&what)?;
        files.extend(
            items
                .into_iter()
                .filter(|i| i.kind == "file" && validate_path(&i.path).is_ok())
                .map(|i| i.path),
        );
        if files.len() > MAX_REPO_FILES {
            return Err(HubError::Cap(format!(
                "{repo} lists more than {MAX_REPO_FILES} files"
            )));
        }
        let Some(next) = resp.header("link").and_then(next_link) else {
            files.sort();
            files.dedup();
            return Ok(files);
        };
        if !super::same_origin(next, net.endpoint(hub)) {
            return Err(HubError::Protocol(format!(
                "{what}: next page on another origin ({next})"
            )));
        }
        u = url::Url::parse(next)
            .map_err(|e| HubError::Protocol(format!("{what}: next page {next}: {e}")))?;
    }
    Err(HubError::Cap(format!(
        "{what}: more than {MAX_TREE_PAGES} pages"
    )))
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
        Box::pin(async move {
            let mut l = revision_listing(net, self.kind(), "api", rt, repo, rev).await?;
            if l.files.len() >= SIBLINGS_TRUSTED_BELOW {
                l.files = tree_listing(net, rt, repo, &l.commit).await?;
            }
            Ok(l)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_as_httpx_reads_it() {
        let v = r#"<https://huggingface.co/api/models/o/r/tree/abc?recursive=true&cursor=eyJ4Ijo>; rel="next""#;
        assert_eq!(
            next_link(v),
            Some("https://huggingface.co/api/models/o/r/tree/abc?recursive=true&cursor=eyJ4Ijo")
        );
        assert_eq!(
            next_link(r#"<https://x/a>; rel="prev", <https://x/b>; rel="next""#),
            Some("https://x/b")
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="prev""#), None);
    }
}
