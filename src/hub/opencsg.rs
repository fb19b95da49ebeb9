//! OpenCSG (CSGHub): the Hugging Face JSON shapes under `csg/api/...` and
//! `csg/<repo>/resolve/...`, with its own endpoint and token.

use std::path::PathBuf;

use futures::future::BoxFuture;

use super::credentials::{self, Credential};
use super::http::Req;
use super::huggingface::{api_kind, resolve_request, revision_info, type_prefix};
use super::net::{enc, enc_path};
use super::validate::is_commit;
use super::{Hub, HubError, Listing, Net, Snapshot};
use crate::model::{HubKind, RepoType};

pub struct Opencsg;

/// csghub-server names the last commit at the ref as a model's `sha`
/// (`SDKModelInfo`, `component/model.go:816-837`), but for datasets, spaces
/// and code repos `SDKListFiles` answers `sha: repo.DefaultBranch`, a branch
/// name, whatever ref was asked for (`component/repo.go:1641-1677`, c1ada0e1;
/// pycsghub only checks it is not None and downloads by ref name,
/// `snapshot_download.py:89-132`). The commit then comes from `X-Repo-Commit`
/// of a `HEAD` on one listed file at the ref (`HeadSDKDownload`,
/// `api/handler/repo.go:1176-1248`: the last commit at the ref), and the files
/// are listed again at that commit so listing and content agree.
async fn listing(
    net: &Net,
    rt: RepoType,
    repo: &str,
    rev: Option<&str>,
) -> Result<Listing, HubError> {
    let hub = HubKind::Opencsg;
    let r = rev.unwrap_or("main");
    let what = format!("{hub} {repo}@{r}");
    let (sha, files) = revision_info(net, hub, "csg/api", rt, repo, r).await?;
    if let Some(c) = sha.as_deref().filter(|s| is_commit(s)) {
        return Ok(Listing {
            resolved_ref: r.to_string(),
            commit: c.to_ascii_lowercase(),
            files,
        });
    }
    let commit = if is_commit(r) {
        r.to_ascii_lowercase()
    } else {
        let Some(probe) = files.first() else {
            // An empty repo: nothing to read, nothing to pin.
            return Ok(Listing {
                resolved_ref: r.to_string(),
                commit: r.to_string(),
                files,
            });
        };
        let rest = format!(
            "csg/{}{repo}/resolve/{}/{}",
            type_prefix(rt),
            enc(r),
            enc_path(probe)
        );
        let req = net.request(hub, net.url(hub, &rest)?).head();
        let resp = net.api(&req, &what).await?;
        resp.header("x-repo-commit")
            .map(str::trim)
            .filter(|c| is_commit(c))
            .ok_or_else(|| {
                HubError::Protocol(format!(
                    "{what}: the server names no commit (sha {:?}, no X-Repo-Commit)",
                    sha.as_deref().unwrap_or("")
                ))
            })?
            .to_ascii_lowercase()
    };
    let (_, files) = revision_info(net, hub, "csg/api", rt, repo, &commit).await?;
    Ok(Listing {
        resolved_ref: r.to_string(),
        commit,
        files,
    })
}

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

    /// Also `CSGHUB_TOKEN_PATH` / `$CSGHUB_HOME/token`.
    fn token_from(&self, l: &credentials::Lookup<'_>, _endpoint: &str) -> Option<Credential> {
        credentials::opencsg(l)
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
        Box::pin(listing(net, rt, repo, rev))
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
