//! ModelScope: `api/v1/models/<repo>/revisions` checks a ref, `.../repo/files`
//! lists the files (with their sha256), `.../repo?FilePath=` serves one. Answers
//! are wrapped in `{Code, Success, Message, Data}`.

use std::collections::HashMap;
use std::path::PathBuf;

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::credentials::{self, Credential};
use super::http::Req;
use super::huggingface::api_kind;
use super::validate::{MAX_REPO_FILES, is_commit, is_sha256_hex, validate_path};
use super::{Hub, HubError, Listing, Net, Snapshot};
use crate::model::{HubKind, RepoType};

pub struct Modelscope;

/// The two sites the library probes when no endpoint is configured
/// (modelscope-hub 0.5.1 `constants.py:181,662`).
const CN_SITE: &str = "https://modelscope.cn";
const AI_SITE: &str = "https://www.modelscope.ai";

/// `repo/files` stops silently after this many entries (modelscope-hub 0.5.1
/// `REPO_FILES_TRUNCATION_LIMIT`, `constants.py:629`; `_legacy_api.py:468-470`).
const FILES_TRUNCATION: usize = 3000;

/// Most listing requests spent walking a truncated tree directory by directory
/// (the SDK allows 5000, `constants.py:639-644`); past it the target is a cap.
const MAX_WALK_REQUESTS: usize = 500;

/// Dataset trees come in pages of this size (`_legacy_api.py:699-750`).
const DATASET_PAGE: usize = 200;

/// What a listing leaves for `read`, per (repo, commit): the listing's sha256
/// of each path and the site that served the repo.
struct Kept {
    digests: HashMap<String, String>,
    site: String,
}

/// ModelScope wraps answers in `{Code, Success, Message, Data}`; a `Success: false`
/// answer with status 200 is a failure.
fn check(v: &serde_json::Value, what: &str) -> Result<(), HubError> {
    if v["Success"].as_bool() == Some(false) {
        let msg = v["Message"].as_str().unwrap_or("request failed");
        return Err(HubError::NotFound(format!("{what}: {msg}")));
    }
    Ok(())
}

/// `models` or `datasets` (modelscope-hub `_REPO_TYPE_SEGMENT`, `_legacy_api.py:68-90`).
fn segment(rt: RepoType) -> &'static str {
    if rt == RepoType::Dataset {
        "datasets"
    } else {
        "models"
    }
}

/// A request to a ModelScope site with the token as `Authorization: Bearer`
/// and as the `m_session_id` cookie the legacy `/api/v1` endpoints rely on
/// (modelscope-hub 0.5.1 `_legacy_api.py:199-222`; the 1.x SDK sent the
/// cookie only, modelscope 1.37.1 `hub/api.py:244-266`). Both stay on the
/// site's own origin.
fn request(net: &Net, site: &str, rest: &str) -> Result<Req, HubError> {
    let s = format!("{}/{}", site.trim_end_matches('/'), rest);
    let u = url::Url::parse(&s).map_err(|e| HubError::Invalid(format!("URL {s}: {e}")))?;
    let token = net.token(HubKind::Modelscope);
    let mut req = Req::new(u).token(token);
    if let Some(t) = token {
        req = req.origin_header(reqwest::header::COOKIE, format!("m_session_id={t}"));
    }
    Ok(req)
}

async fn get_json(net: &Net, req: &Req, what: &str) -> Result<serde_json::Value, HubError> {
    let v: serde_json::Value = net.json(req, what).await?;
    check(&v, what)?;
    Ok(v)
}

/// The file entries of an answer: `Data.Files`, or `Data` as a list
/// (`_legacy_api.py:520-529`).
fn entries(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["Data"]["Files"]
        .as_array()
        .or_else(|| v["Data"].as_array())
        .cloned()
        .unwrap_or_default()
}

fn entry_path(e: &serde_json::Value) -> Option<&str> {
    e["Path"].as_str().or_else(|| e["path"].as_str())
}

fn is_dir(e: &serde_json::Value) -> bool {
    e["Type"].as_str().or_else(|| e["type"].as_str()) == Some("tree")
}

/// One `repo/files` listing of a model.
async fn files_page(
    net: &Net,
    site: &str,
    repo: &str,
    rev: &str,
    recursive: bool,
    root: Option<&str>,
    what: &str,
) -> Result<Vec<serde_json::Value>, HubError> {
    let mut req = request(net, site, &format!("api/v1/models/{repo}/repo/files"))?;
    {
        let mut q = req.url.query_pairs_mut();
        q.append_pair("Revision", rev)
            .append_pair("Recursive", if recursive { "True" } else { "False" });
        if let Some(r) = root {
            q.append_pair("Root", r);
        }
    }
    Ok(entries(&get_json(net, &req, what).await?))
}

/// Every entry of a model repo. `repo/files` is cut at 3000 entries, so a
/// listing that comes back at the cap is walked again directory by directory
/// with `Root=` (modelscope-hub `_walk_repo_files`, `_legacy_api.py:531-697`).
async fn model_entries(
    net: &Net,
    site: &str,
    repo: &str,
    rev: &str,
    what: &str,
) -> Result<Vec<serde_json::Value>, HubError> {
    let first = files_page(net, site, repo, rev, true, None, what).await?;
    if first.len() < FILES_TRUNCATION {
        return Ok(first);
    }
    let mut all: HashMap<String, serde_json::Value> = HashMap::new();
    let absorb = |all: &mut HashMap<String, serde_json::Value>, list: Vec<serde_json::Value>| {
        for e in list {
            if let Some(p) = entry_path(&e).map(str::to_string) {
                all.entry(p).or_insert(e);
            }
        }
    };
    absorb(&mut all, first);
    let mut truncated: Vec<Option<String>> = vec![None];
    let mut spent = 1;
    while let Some(root) = truncated.pop() {
        spent += 1;
        if spent > MAX_WALK_REQUESTS {
            return Err(HubError::Cap(format!(
                "{what}: the file listing is cut at {FILES_TRUNCATION} entries and walking it took more than {MAX_WALK_REQUESTS} requests"
            )));
        }
        let shallow = files_page(net, site, repo, rev, false, root.as_deref(), what).await?;
        if shallow.len() >= FILES_TRUNCATION {
            return Err(HubError::Cap(format!(
                "{what}: folder {} holds {FILES_TRUNCATION} or more entries, which ModelScope cannot list in full",
                root.as_deref().unwrap_or("/")
            )));
        }
        let dirs: Vec<String> = shallow
            .iter()
            .filter(|e| is_dir(e))
            .filter_map(|e| entry_path(e).map(str::to_string))
            .collect();
        absorb(&mut all, shallow);
        for d in dirs {
            spent += 1;
            if spent > MAX_WALK_REQUESTS {
                return Err(HubError::Cap(format!(
                    "{what}: the file listing is cut at {FILES_TRUNCATION} entries and walking it took more than {MAX_WALK_REQUESTS} requests"
                )));
            }
            let sub = files_page(net, site, repo, rev, true, Some(&d), what).await?;
            if sub.len() >= FILES_TRUNCATION {
                truncated.push(Some(d));
            }
            absorb(&mut all, sub);
        }
    }
    Ok(all.into_values().collect())
}

/// Every entry of a dataset repo: `repo/tree`, paged
/// (modelscope-hub `list_dataset_files_paginated`, `_legacy_api.py:699-750`).
async fn dataset_entries(
    net: &Net,
    site: &str,
    repo: &str,
    rev: &str,
    what: &str,
) -> Result<Vec<serde_json::Value>, HubError> {
    let mut all = Vec::new();
    for page in 1.. {
        if page > MAX_REPO_FILES / DATASET_PAGE + 1 {
            return Err(HubError::Cap(format!(
                "{what} lists more than {MAX_REPO_FILES} files"
            )));
        }
        let mut req = request(net, site, &format!("api/v1/datasets/{repo}/repo/tree"))?;
        req.url
            .query_pairs_mut()
            .append_pair("Revision", rev)
            .append_pair("Recursive", "True")
            .append_pair("PageNumber", &page.to_string())
            .append_pair("PageSize", &DATASET_PAGE.to_string());
        let list = entries(&get_json(net, &req, what).await?);
        let n = list.len();
        all.extend(list);
        if n < DATASET_PAGE {
            break;
        }
    }
    Ok(all)
}

/// The revisions endpoint checks the ref and names no commit in the documented
/// shape (`Data.RevisionMap.{Branches,Tags}[]{Revision,CreatedAt}`,
/// modelscope-hub `_legacy_api.py:919-950`), so the commit is, in order: the
/// revision itself when it is 40 hex; a `CommitId`/`Sha` on the matching
/// revision item when the server sends one; the `CommitId` (else `Revision`) of
/// the most recently committed file in the listing (each entry's `Revision` is
/// the commit that last touched it, modelscope tests `test_hub_retry.py:42-48`;
/// the branch head touched one); else the ref name itself (mutable, so it is
/// not a 40-hex commit and gets no disk cache).
async fn listing_at(
    net: &Net,
    site: &str,
    rt: RepoType,
    repo: &str,
    rev: Option<&str>,
) -> Result<Listing, HubError> {
    let hub = HubKind::Modelscope;
    let r = rev.unwrap_or("master");
    let what = format!("modelscope {repo}@{r}");
    let mut commit = is_commit(r).then(|| r.to_ascii_lowercase());
    if commit.is_none() {
        let req = request(
            net,
            site,
            &format!("api/v1/{}/{repo}/revisions", segment(rt)),
        )?;
        let v = get_json(net, &req, &what).await?;
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
    let at = commit.clone().unwrap_or_else(|| r.to_string());
    let list = if rt == RepoType::Dataset {
        dataset_entries(net, site, repo, &at, &what).await?
    } else {
        model_entries(net, site, repo, &at, &what).await?
    };
    if commit.is_none() {
        commit = list
            .iter()
            .filter(|f| !is_dir(f))
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
        .filter(|f| !is_dir(f))
        .filter_map(|f| entry_path(f))
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
        .filter_map(|f| Some((entry_path(f)?, f["Sha256"].as_str()?)))
        .filter(|(_, d)| is_sha256_hex(d))
        .map(|(p, d)| (p.to_string(), d.to_ascii_lowercase()))
        .collect();
    net.keep(
        hub,
        repo,
        &commit,
        Kept {
            digests,
            site: site.to_string(),
        },
    );
    Ok(Listing {
        resolved_ref: r.to_string(),
        commit,
        files,
    })
}

/// The configured site, then (when no endpoint was configured) the other one
/// if the repo is not on the first, as `resolve_endpoint_for_read` does
/// (modelscope-hub 0.5.1 `api.py:1214-1293`).
async fn listing(
    net: &Net,
    rt: RepoType,
    repo: &str,
    rev: Option<&str>,
) -> Result<Listing, HubError> {
    let hub = HubKind::Modelscope;
    let first = net.endpoint(hub).to_string();
    match listing_at(net, &first, rt, repo, rev).await {
        Err(HubError::NotFound(why)) => match net.fallback(hub) {
            Some(second) => {
                let second = second.to_string();
                listing_at(net, &second, rt, repo, rev)
                    .await
                    .map_err(|e| match e {
                        HubError::NotFound(_) => {
                            HubError::NotFound(format!("{why} (nor on {second})"))
                        }
                        e => e,
                    })
            }
            None => Err(HubError::NotFound(why)),
        },
        other => other,
    }
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

    /// Also the `m_session_id` cookie `modelscope login` saved.
    fn token_from(&self, l: &credentials::Lookup<'_>, _endpoint: &str) -> Option<Credential> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        credentials::modelscope(l, now)
    }

    fn mirror_dir(&self, rt: RepoType) -> PathBuf {
        PathBuf::from("modelscope").join(api_kind(rt))
    }

    /// With no `MODELSCOPE_ENDPOINT`/`MODELSCOPE_DOMAIN`: `.cn` then `.ai`,
    /// or the other way round with `MODELSCOPE_PREFER_AI_SITE` (modelscope-hub
    /// 0.5.1 `api.py:1223-1260`, `constants.py:521-535,659-662`).
    fn site_order(&self, var: &dyn Fn(&str) -> Option<String>) -> Option<(String, String)> {
        if self.endpoint_vars().iter().any(|k| var(k).is_some()) {
            return None;
        }
        let prefer_ai = var("MODELSCOPE_PREFER_AI_SITE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        Some(if prefer_ai {
            (AI_SITE.to_string(), CN_SITE.to_string())
        } else {
            (CN_SITE.to_string(), AI_SITE.to_string())
        })
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

    /// `{site}/api/v1/{models|datasets}/{repo}/repo?Revision=&FilePath=`
    /// (modelscope-hub `get_download_url`, `_legacy_api.py:1151-1168`), on
    /// the site that listed the repo.
    fn file_request(&self, net: &Net, snap: &Snapshot, path: &str) -> Result<Req, HubError> {
        let site = net
            .kept::<Kept>(snap)
            .map(|k| k.site.clone())
            .unwrap_or_else(|| net.endpoint(self.kind()).to_string());
        let mut req = request(
            net,
            &site,
            &format!("api/v1/{}/{}/repo", segment(snap.repo_type), snap.repo_id),
        )?;
        req.url
            .query_pairs_mut()
            .append_pair("Revision", &snap.commit)
            .append_pair("FilePath", path);
        Ok(req)
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
                .kept::<Kept>(snap)
                .and_then(|k| k.digests.get(path).cloned());
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
