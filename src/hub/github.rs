//! GitHub, for torch.hub and paddle `hub.load`: a ref becomes a sha through the
//! commits API (no ref: `main` if that branch exists, else `master`, as torch.hub
//! does; `HEAD`: the default branch, what a clone checks out), the files come
//! from the git trees API and the contents API (raw).

use std::path::PathBuf;

use base64::Engine as _;
use futures::future::BoxFuture;
use reqwest::header::{ACCEPT, HeaderName};

use super::credentials::{self, Credential};
use super::http::{Req, Resp};
use super::net::{enc, enc_path};
use super::validate::{is_commit, validate_path};
use super::{Hub, HubError, Listing, Net, Snapshot};
use crate::model::{HubKind, RepoType};

pub struct Github;

/// Whether two base URLs share scheme, host and port.
pub(crate) fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a.trim()), url::Url::parse(b.trim())) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

const API_VERSION: (&str, &str) = ("x-github-api-version", "2022-11-28");

/// A REST API request with GitHub's media type and API version.
fn api_request(net: &Net, rest: &str, media: &'static str) -> Result<Req, HubError> {
    let u = net.url(HubKind::Github, rest)?;
    Ok(net
        .request(HubKind::Github, u)
        .header(ACCEPT, media)
        .header(HeaderName::from_static(API_VERSION.0), API_VERSION.1))
}

async fn json(net: &Net, rest: &str, what: &str) -> Result<serde_json::Value, HubError> {
    net.json(
        &api_request(net, rest, "application/vnd.github+json")?,
        what,
    )
    .await
}

/// The ref a `git clone` checks out: the repository's default branch
/// (`default_branch` of "Get a repository", gh-docs).
pub const CLONE_HEAD: &str = "HEAD";

async fn listing(net: &Net, repo: &str, rev: Option<&str>) -> Result<Listing, HubError> {
    let (r, sha) = match rev {
        Some(CLONE_HEAD) => {
            let what = format!("github {repo}");
            let v = json(net, &format!("repos/{repo}"), &what).await?;
            let b = v["default_branch"]
                .as_str()
                .filter(|b| super::validate::validate_revision(b).is_ok())
                .ok_or_else(|| HubError::Protocol(format!("{what}: no default_branch")))?;
            let v = json(
                net,
                &format!("repos/{repo}/branches/{}", enc(b)),
                &format!("github {repo}@{b}"),
            )
            .await?;
            (
                b.to_string(),
                v["commit"]["sha"].as_str().map(str::to_string),
            )
        }
        Some(r) => {
            let v = json(
                net,
                &format!("repos/{repo}/commits/{}", enc(r)),
                &format!("github {repo}@{r}"),
            )
            .await?;
            (r.to_string(), v["sha"].as_str().map(str::to_string))
        }
        None => {
            let mut found = None;
            for b in ["main", "master"] {
                match json(
                    net,
                    &format!("repos/{repo}/branches/{b}"),
                    &format!("github {repo}@{b}"),
                )
                .await
                {
                    Ok(v) => {
                        found = Some((
                            b.to_string(),
                            v["commit"]["sha"].as_str().map(str::to_string),
                        ));
                        break;
                    }
                    Err(HubError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            found.ok_or_else(|| {
                HubError::NotFound(format!("github {repo}: neither main nor master"))
            })?
        }
    };
    let what = format!("github {repo}@{r}");
    let sha = sha
        .filter(|s| is_commit(s))
        .ok_or_else(|| HubError::Protocol(format!("{what}: no commit sha")))?
        .to_ascii_lowercase();
    let v = json(
        net,
        &format!("repos/{repo}/git/trees/{sha}?recursive=1"),
        &what,
    )
    .await?;
    if v["truncated"].as_bool() == Some(true) {
        return Err(HubError::Cap(format!(
            "{what}: tree listing truncated by GitHub"
        )));
    }
    let mut files: Vec<String> = v["tree"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"].as_str() == Some("blob"))
        .filter_map(|e| e["path"].as_str())
        .filter(|p| validate_path(p).is_ok())
        .map(str::to_string)
        .collect();
    files.sort();
    Ok(Listing {
        resolved_ref: r,
        commit: sha,
        files,
    })
}

/// GitHub's contents API answers JSON with base64 content when the raw media
/// type is not honoured (e.g. by a proxy); raw answers pass through.
fn contents_body(resp: Resp) -> Result<Vec<u8>, HubError> {
    let json = resp
        .header("content-type")
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !json {
        return Ok(resp.body);
    }
    let v: serde_json::Value = resp.json("github contents")?;
    match (v["encoding"].as_str(), v["content"].as_str()) {
        (Some("base64"), Some(c)) => base64::engine::general_purpose::STANDARD
            .decode(c.replace('\n', ""))
            .map_err(|e| HubError::Protocol(format!("github contents: {e}"))),
        _ => Err(HubError::Protocol("github contents: not a file".into())),
    }
}

impl Hub for Github {
    fn kind(&self) -> HubKind {
        HubKind::Github
    }

    fn default_ref(&self) -> Option<&'static str> {
        None
    }

    fn default_endpoint(&self) -> &'static str {
        "https://api.github.com"
    }

    /// Not `GITHUB_API_URL`: torch.hub and paddle `hub.load` always read
    /// github.com (`torch/hub.py` `_git_archive_link`, `_validate_not_a_forked_repo`),
    /// also on a GitHub Enterprise runner, where Actions points
    /// `GITHUB_API_URL` at the enterprise server. `HUBWARDEN_GITHUB_API_URL`
    /// redirects these look-ups (a proxy, a test server).
    fn endpoint_vars(&self) -> &'static [&'static str] {
        &["HUBWARDEN_GITHUB_API_URL"]
    }

    fn token_vars(&self) -> &'static [&'static str] {
        &["GITHUB_TOKEN"]
    }

    /// `GITHUB_TOKEN` belongs to the server of `GITHUB_API_URL` (default
    /// github.com): it is sent to the repositories' endpoint only when that is
    /// the same origin, so an enterprise token never reaches github.com.
    fn token_from(&self, l: &credentials::Lookup<'_>, endpoint: &str) -> Option<Credential> {
        let home = (l.var)("GITHUB_API_URL")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| self.default_endpoint().to_string());
        same_origin(&home, endpoint)
            .then(|| credentials::first_var(l, self.token_vars()))
            .flatten()
    }

    fn mirror_dir(&self, _rt: RepoType) -> PathBuf {
        PathBuf::from("github")
    }

    fn snapshot<'a>(
        &'a self,
        net: &'a Net,
        _rt: RepoType,
        repo: &'a str,
        rev: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Listing, HubError>> {
        Box::pin(listing(net, repo, rev))
    }

    fn file_request(&self, net: &Net, snap: &Snapshot, path: &str) -> Result<Req, HubError> {
        let mut req = api_request(
            net,
            &format!("repos/{}/contents/{}", snap.repo_id, enc_path(path)),
            "application/vnd.github.raw",
        )?;
        req.url.query_pairs_mut().append_pair("ref", &snap.commit);
        Ok(req)
    }

    fn read<'a>(
        &'a self,
        net: &'a Net,
        snap: &'a Snapshot,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, HubError>> {
        Box::pin(async move {
            let req = self.file_request(net, snap, path)?;
            contents_body(net.get_file(&req, snap, path).await?)
        })
    }

    fn web_url(
        &self,
        _rt: RepoType,
        repo: &str,
        commit: &str,
        file: &str,
        line: Option<u32>,
    ) -> Option<String> {
        let anchor = line.map(|l| format!("#L{l}")).unwrap_or_default();
        Some(format!(
            "https://github.com/{repo}/blob/{commit}/{file}{anchor}"
        ))
    }

    fn web_repo_url(&self, _rt: RepoType, repo: &str, at: &str) -> Option<String> {
        Some(format!("https://github.com/{repo}/tree/{at}"))
    }
}
