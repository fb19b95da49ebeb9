//! Hugging Face's own scan results as corroboration (`hub_scan`): for each
//! Hugging Face repo whose files a target runs, the Hub's security status at
//! the resolved commit.
//!
//! - Models: `GET api/models/{repo}/revision/{commit}?securityStatus=True` ->
//!   `securityRepoStatus: {scansDone, filesWithIssues: [{path, ...}]}`
//!   (huggingface_hub `model_info(securityStatus=True)`, hfh:hf_api.py:3290-3292,
//!   3328-3329, the field at :1116; its test asserts `scansDone` is a bool and
//!   `filesWithIssues` is present, tests/test_hf_api.py:1909-1919, 1.29.0.dev0).
//! - Datasets, Spaces and kernels: `dataset_info`/`space_info`/`kernel_info`
//!   take no `securityStatus` (hfh:hf_api.py:3340-3405, 3480-3545, 3550-3588;
//!   `repo_info`: "No expand/files_metadata for kernels", :3651). Their files'
//!   status comes from `POST api/{type}s/{repo}/paths-info/{commit}` with
//!   `paths` and `expand: true` (hfh `get_paths_info`, :4336-4410, sends them as
//!   a form; huggingface.js `packages/hub/src/lib/paths-info.ts` as this JSON
//!   body) -> `[{type, path, ..., securityFileStatus: {status, avScan,
//!   pickleImportScan}}]`, "safe" meaning safe (hfh:hf_api.py:843-851). The
//!   other statuses in the Hub's OpenAPI spec (as the Stainless-generated
//!   `pyhfapi` client renders it, `ModelListPathsInfoResponse`; repository not
//!   identified) are `unscanned`, `queued`, `error` (no verdict yet) and
//!   `caution`, `suspicious`, `unsafe` (flags). The spec's repo-level
//!   `security-status` routes take no revision, so they cannot speak for a
//!   commit.
//!   That the kernels collection answers `paths-info` is unverified: a refusal
//!   reads as unknown.
//!
//! It is reported next to hubwarden's own verdict and never changes it: a
//! clean Hub scan does not lower a finding, and a scan not done is unknown.
//! Offline and mirror runs make no such request.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::json;

use super::Hubs;
use super::huggingface::api_kind;
use super::net::enc;
use crate::model::{HubKind, HubScan, HubScanFile, HubScanStatus, RepoType, Target};

#[derive(Deserialize)]
struct Info {
    #[serde(rename = "securityRepoStatus")]
    security: Option<RepoStatus>,
}

#[derive(Deserialize)]
struct RepoStatus {
    #[serde(rename = "scansDone")]
    scans_done: Option<bool>,
    #[serde(rename = "filesWithIssues", default)]
    files_with_issues: Vec<Flagged>,
}

#[derive(Deserialize)]
struct Flagged {
    path: Option<String>,
    level: Option<serde_json::Value>,
}

/// One `paths-info` entry (files and folders alike).
#[derive(Deserialize)]
struct PathInfo {
    path: String,
    #[serde(rename = "securityFileStatus")]
    security: Option<FileStatus>,
}

#[derive(Deserialize)]
struct FileStatus {
    status: Option<String>,
}

/// Paths per `paths-info` request: the Hub answers at most 50 entries a page
/// with `expand` (hfh `get_paths_info` docstring) and the POST has no cursor.
const PATHS_PER_REQUEST: usize = 50;

/// One repo at one commit whose status is asked for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    rt: RepoType,
    repo: String,
    commit: String,
}

/// What the Hub answered for one (repo, commit), before it is matched to the
/// files each target runs.
#[derive(Clone, Debug)]
struct Answer {
    scans_done: Option<bool>,
    flagged: Vec<(String, Option<String>)>,
    error: Option<String>,
}

impl Answer {
    fn failed(e: impl ToString) -> Answer {
        Answer {
            scans_done: None,
            flagged: Vec::new(),
            error: Some(e.to_string()),
        }
    }
}

/// A model repo's own status (`securityRepoStatus`).
async fn ask_model(hubs: &Hubs, k: &Key) -> Answer {
    let net = hubs.net();
    let hub = HubKind::Huggingface;
    let rest = format!("api/models/{}/revision/{}", k.repo, enc(&k.commit));
    let what = format!("{hub} {}@{} security status", k.repo, k.commit);
    let url = match net.url(hub, &rest) {
        Ok(mut u) => {
            // What huggingface_hub sends: requests renders Python's True so.
            u.query_pairs_mut().append_pair("securityStatus", "True");
            u
        }
        Err(e) => return Answer::failed(e),
    };
    match net.json::<Info>(&net.request(hub, url), &what).await {
        Ok(Info { security: Some(s) }) => Answer {
            scans_done: s.scans_done,
            flagged: s
                .files_with_issues
                .into_iter()
                .filter_map(|f| {
                    let level = f.level.map(|l| match l {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    });
                    Some((f.path?, level))
                })
                .collect(),
            error: None,
        },
        Ok(Info { security: None }) => Answer::failed("the Hub sent no securityRepoStatus"),
        Err(e) => Answer::failed(e),
    }
}

/// How one file's `securityFileStatus.status` reads: `None` while no verdict
/// is known (not scanned yet, queued, failed, or absent), else whether it
/// flags the file. A status this code does not know flags it: a new verdict
/// is more likely a new warning than a new way of saying "safe".
fn file_verdict(status: Option<&str>) -> Option<bool> {
    match status? {
        "safe" => Some(false),
        "unscanned" | "queued" | "error" => None,
        _ => Some(true),
    }
}

/// The files' statuses of a dataset, Space or kernel repo (`paths-info`
/// with `expand`), folded into one answer: done only when every file that
/// runs has a verdict.
async fn ask_paths(hubs: &Hubs, k: &Key, paths: &BTreeSet<String>) -> Answer {
    let net = hubs.net();
    let hub = HubKind::Huggingface;
    let rest = format!(
        "api/{}/{}/paths-info/{}",
        api_kind(k.rt),
        k.repo,
        enc(&k.commit)
    );
    let what = format!("{hub} {} {}@{} security status", k.rt, k.repo, k.commit);
    let url = match net.url(hub, &rest) {
        Ok(u) => u,
        Err(e) => return Answer::failed(e),
    };
    let asked: Vec<&String> = paths.iter().collect();
    let mut status: HashMap<String, Option<String>> = HashMap::new();
    for chunk in asked.chunks(PATHS_PER_REQUEST) {
        let req = net
            .request(hub, url.clone())
            .post_json(&json!({ "paths": chunk, "expand": true }));
        match net.json::<Vec<PathInfo>>(&req, &what).await {
            Ok(items) => {
                for i in items {
                    status.insert(i.path, i.security.and_then(|s| s.status));
                }
            }
            Err(e) => return Answer::failed(e),
        }
    }
    let mut done = true;
    let mut flagged = Vec::new();
    for p in paths {
        let s = status.get(p).cloned().flatten();
        match file_verdict(s.as_deref()) {
            None => done = false,
            Some(true) => flagged.push((p.clone(), s)),
            Some(false) => {}
        }
    }
    Answer {
        scans_done: Some(done),
        flagged,
        error: None,
    }
}

/// The type of a repo a target reaches that is not its own: Hub kernels named
/// by a config chain, diffusers' community pipelines (a dataset), else a model.
fn type_of_other(t: &Target, repo: &str) -> RepoType {
    if repo == "diffusers/community-pipelines-mirror" {
        return RepoType::Dataset;
    }
    let kernel = t.chain.iter().any(|l| {
        l.leads_to
            .strip_prefix("Hub kernel ")
            .is_some_and(|k| k.split('@').next() == Some(repo))
    });
    if kernel {
        RepoType::Kernel
    } else {
        RepoType::Model
    }
}

fn hub_repo_type(rt: RepoType) -> bool {
    matches!(
        rt,
        RepoType::Model | RepoType::Dataset | RepoType::Space | RepoType::Kernel
    )
}

/// The Hugging Face repos (and commits) whose files a target runs, its own
/// repo first.
fn repos_of(t: &Target) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    if t.hub == HubKind::Huggingface
        && hub_repo_type(t.repo_type)
        && let (Some(r), Some(c)) = (&t.repo_id, &t.commit)
    {
        out.push(Key {
            rt: t.repo_type,
            repo: r.clone(),
            commit: c.clone(),
        });
    }
    for f in &t.files {
        if f.hub != HubKind::Huggingface {
            continue;
        }
        let rt = if Some(&f.repo_id) == t.repo_id.as_ref() {
            t.repo_type
        } else {
            type_of_other(t, &f.repo_id)
        };
        let k = Key {
            rt,
            repo: f.repo_id.clone(),
            commit: f.commit.clone(),
        };
        if hub_repo_type(rt) && !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Add `hub_scan` to every target that runs files of a Hugging Face repo:
/// one question per distinct (repo, commit), a few at a time. A model is asked
/// about the repo; a dataset, Space or kernel about the files that run (none
/// run: nothing asked). Nothing is asked offline or with a mirror.
pub async fn annotate(hubs: &Hubs, targets: &mut [Target]) {
    let o = hubs.options();
    if o.offline || o.mirror.is_some() {
        return;
    }
    let mut asked: BTreeMap<Key, BTreeSet<String>> = BTreeMap::new();
    for t in targets.iter() {
        for k in repos_of(t) {
            let paths = asked.entry(k.clone()).or_default();
            paths.extend(
                t.files
                    .iter()
                    .filter(|f| f.repo_id == k.repo && f.commit == k.commit)
                    .map(|f| f.path.clone()),
            );
        }
    }
    asked.retain(|k, paths| k.rt == RepoType::Model || !paths.is_empty());
    crate::progress::begin(crate::progress::Stage::HubScan, asked.len());
    let answers: HashMap<Key, Answer> = stream::iter(asked)
        .map(|(k, paths)| async move {
            let a = if k.rt == RepoType::Model {
                ask_model(hubs, &k).await
            } else {
                ask_paths(hubs, &k, &paths).await
            };
            crate::progress::advance(1);
            (k, a)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for t in targets.iter_mut() {
        let runs: Vec<(String, String, String)> = t
            .files
            .iter()
            .map(|f| (f.repo_id.clone(), f.commit.clone(), f.path.clone()))
            .collect();
        t.hub_scan = repos_of(t)
            .into_iter()
            .filter_map(|k| {
                let a = answers.get(&k)?;
                Some(entry(&k, a, &runs))
            })
            .collect();
    }
}

fn entry(k: &Key, a: &Answer, runs: &[(String, String, String)]) -> HubScan {
    let files_with_issues: Vec<HubScanFile> = a
        .flagged
        .iter()
        .map(|(path, level)| HubScanFile {
            path: path.clone(),
            level: level.clone(),
            runs: runs
                .iter()
                .any(|(r, c, p)| *r == k.repo && *c == k.commit && p == path),
        })
        .collect();
    // Flagged files are issues whatever `scansDone` says; no flag counts as
    // clean only once every scan is done.
    let status = if !files_with_issues.is_empty() {
        HubScanStatus::Issues
    } else if a.scans_done == Some(true) && a.error.is_none() {
        HubScanStatus::NoIssues
    } else {
        HubScanStatus::Unknown
    };
    HubScan {
        hub: HubKind::Huggingface,
        repo_id: k.repo.clone(),
        repo_type: k.rt,
        commit: k.commit.clone(),
        status,
        scans_done: a.scans_done,
        files_with_issues,
        error: a.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(scans_done: Option<bool>, flagged: &[&str]) -> Answer {
        Answer {
            scans_done,
            flagged: flagged.iter().map(|p| (p.to_string(), None)).collect(),
            error: None,
        }
    }

    #[test]
    fn scans_not_done_is_unknown_and_flags_always_count() {
        let k = Key {
            rt: RepoType::Model,
            repo: "o/r".to_string(),
            commit: "a".repeat(40),
        };
        let runs = vec![("o/r".to_string(), "a".repeat(40), "m.py".to_string())];
        assert_eq!(
            entry(&k, &answer(Some(false), &[]), &runs).status,
            HubScanStatus::Unknown
        );
        assert_eq!(
            entry(&k, &answer(None, &[]), &runs).status,
            HubScanStatus::Unknown
        );
        assert_eq!(
            entry(&k, &answer(Some(true), &[]), &runs).status,
            HubScanStatus::NoIssues
        );
        let e = entry(&k, &answer(Some(false), &["m.py", "w.bin"]), &runs);
        assert_eq!(e.status, HubScanStatus::Issues);
        assert!(e.files_with_issues[0].runs);
        assert!(!e.files_with_issues[1].runs);
    }

    #[test]
    fn file_statuses_read_as_verdicts_and_unknown_ones_flag() {
        assert_eq!(file_verdict(Some("safe")), Some(false));
        for pending in [None, Some("unscanned"), Some("queued"), Some("error")] {
            assert_eq!(file_verdict(pending), None, "{pending:?}");
        }
        for flag in ["caution", "suspicious", "unsafe", "malicious-new-word"] {
            assert_eq!(file_verdict(Some(flag)), Some(true), "{flag}");
        }
    }
}
