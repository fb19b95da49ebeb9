//! ModelScope: `api/v1/models/<repo>/revisions` checks a ref, `.../repo/files`
//! lists the files (with their sha256), `.../repo?FilePath=` serves one. Answers
//! are wrapped in `{Code, Success, Message, Data}`.

use std::collections::HashMap;
use std::path::PathBuf;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::http::Req;
use super::huggingface::api_kind;
use super::validate::{is_commit, validate_path};
use super::{Hub, HubError, Listing, Net, Snapshot};
use crate::model::{HubKind, RepoType};

pub struct Modelscope;

/// The listing's sha256 of each path, kept per (repo, commit) for `read`.
struct Digests(HashMap<String, String>);

/// ModelScope wraps answers in `{Code, Success, Message, Data}`; a `Success: false`
/// answer with status 200 is a failure.
fn check(v: &serde_json::Value, what: &str) -> Result<(), HubError> {
    if v["Success"].as_bool() == Some(false) {
        let msg = v["Message"].as_str().unwrap_or("request failed");
        return Err(HubError::NotFound(format!("{what}: {msg}")));
    }
    Ok(())
}

/// The revisions endpoint checks the ref and names no commit in the documented
/// shape, so the commit is, in order: the revision itself when it is 40 hex; a
/// `CommitId`/`Sha` on the matching revision item when the server sends one; the
/// `CommitId` (else `Revision`) of the most recently committed file in the
/// listing (the branch head touched it); else the ref name itself (mutable, so it
/// is not a 40-hex commit and gets no disk cache).
async fn listing(net: &Net, repo: &str, rev: Option<&str>) -> Result<Listing, HubError> {
    let hub = HubKind::Modelscope;
    let r = rev.unwrap_or("master");
    let what = format!("modelscope {repo}@{r}");
    let mut commit = is_commit(r).then(|| r.to_ascii_lowercase());
    if commit.is_none() {
        let u = net.url(hub, &format!("api/v1/models/{repo}/revisions"))?;
        let v: serde_json::Value = net.json(&net.request(hub, u), &what).await?;
        check(&v, &what)?;
        let map = &v["Data"]["RevisionMap"];
        let item = ["Branches", "Tags"]
            .iter()
            .filter_map(|k| map[*k].as_array())
            .flatten()
            .find(|it| it["Revision"].as_str() == Some(r))
            .ok_or_else(|| HubError::NotFound(format!("revision {what}")))?;
        commit = ["CommitId", "Sha", "CommitSha"]
            .iter()
            .filter_map(|k| item[*k].as_str())
            .find(|s| is_commit(s))
            .map(str::to_ascii_lowercase);
    }
    let mut u = net.url(hub, &format!("api/v1/models/{repo}/repo/files"))?;
    u.query_pairs_mut()
        .append_pair("Revision", commit.as_deref().unwrap_or(r))
        .append_pair("Recursive", "True");
    let v: serde_json::Value = net.json(&net.request(hub, u), &what).await?;
    check(&v, &what)?;
    let list = v["Data"]["Files"]
        .as_array()
        .or_else(|| v["Data"].as_array())
        .cloned()
        .unwrap_or_default();
    if list.len() >= 3000 {
        return Err(HubError::Cap(format!(
            "{what}: listing truncated at 3000 entries"
        )));
    }
    if commit.is_none() {
        commit = list
            .iter()
            .filter(|f| f["Type"].as_str() != Some("tree"))
            .max_by_key(|f| f["CommittedDate"].as_i64().unwrap_or(0))
            .and_then(|f| {
                [f["CommitId"].as_str(), f["Revision"].as_str()]
                    .into_iter()
                    .flatten()
                    .find(|s| is_commit(s))
            })
            .map(str::to_ascii_lowercase);
    }
    let mut files: Vec<String> = list
        .iter()
        .filter(|f| f["Type"].as_str() != Some("tree"))
        .filter_map(|f| f["Path"].as_str())
        .filter(|p| validate_path(p).is_ok())
        .map(str::to_string)
        .collect();
    files.sort();
    files.dedup();
    let commit = commit.unwrap_or_else(|| r.to_string());
    // Pin content to the listing: with a ref-name fallback commit this is
    // what keeps the fetched bytes the ones that were listed.
    let digests: HashMap<String, String> = list
        .iter()
        .filter_map(|f| Some((f["Path"].as_str()?, f["Sha256"].as_str()?)))
        .filter(|(_, d)| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(p, d)| (p.to_string(), d.to_ascii_lowercase()))
        .collect();
    net.keep(hub, repo, &commit, Digests(digests));
    Ok(Listing {
        resolved_ref: r.to_string(),
        commit,
        files,
    })
}

impl Hub for Modelscope {
    fn kind(&self) -> HubKind {
        HubKind::Modelscope
    }

    fn default_ref(&self) -> Option<&'static str> {
        Some("master")
    }

    fn default_endpoint(&self) -> &'static str {
        "https://modelscope.cn"
    }

    fn endpoint_vars(&self) -> &'static [&'static str] {
        &["MODELSCOPE_ENDPOINT", "MODELSCOPE_DOMAIN"]
    }

    /// `MODELSCOPE_ENDPOINT` is a URL; `MODELSCOPE_DOMAIN` may be a bare host.
    fn endpoint_from(&self, var: &dyn Fn(&str) -> Option<String>) -> String {
        var("MODELSCOPE_ENDPOINT")
            .or_else(|| {
                var("MODELSCOPE_DOMAIN").map(|d| {
                    if d.contains("://") {
                        d
                    } else {
                        format!("https://{d}")
                    }
                })
            })
            .unwrap_or_else(|| self.default_endpoint().to_string())
    }

    fn token_vars(&self) -> &'static [&'static str] {
        &["MODELSCOPE_API_TOKEN"]
    }

    fn mirror_dir(&self, rt: RepoType) -> PathBuf {
        PathBuf::from("modelscope").join(api_kind(rt))
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
        let mut u = net.url(self.kind(), &format!("api/v1/models/{}/repo", snap.repo_id))?;
        u.query_pairs_mut()
            .append_pair("Revision", &snap.commit)
            .append_pair("FilePath", path);
        Ok(net.request(self.kind(), u))
    }

    /// Bytes must match the listing's sha256, when it gave one.
    fn read<'a>(
        &'a self,
        net: &'a Net,
        snap: &'a Snapshot,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, HubError>> {
        Box::pin(async move {
            let req = self.file_request(net, snap, path)?;
            let body = net.get_file(&req, snap, path).await?.body;
            let want = net
                .kept::<Digests>(snap)
                .and_then(|d| d.0.get(path).cloned());
            match want {
                Some(w) if w != hex::encode(Sha256::digest(&body)) => {
                    Err(HubError::Protocol(format!(
                        "modelscope {}@{}:{path}: content does not match the listed sha256",
                        snap.repo_id, snap.commit
                    )))
                }
                _ => Ok(body),
            }
        })
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
            "https://modelscope.cn/{kind}/{repo}/file/view/{commit}/{file}"
        ))
    }

    /// The repository page (it has no per-commit tree view).
    fn web_repo_url(&self, rt: RepoType, repo: &str, _at: &str) -> Option<String> {
        let kind = if rt == RepoType::Dataset {
            "datasets"
        } else {
            "models"
        };
        Some(format!("https://modelscope.cn/{kind}/{repo}"))
    }
}
