//! Hugging Face's own scan results as corroboration (`hub_scan`): for each
//! Hugging Face model repo whose files a target runs, the Hub's security status
//! at the resolved commit, `GET api/models/{repo}/revision/{commit}?securityStatus=True`
//! -> `securityRepoStatus: {scansDone, filesWithIssues: [{path, ...}]}`
//! (huggingface_hub `model_info(securityStatus=True)`, hfh:hf_api.py:3290-3292,
//! 3328-3329, the field at :1116; its test asserts `scansDone` is a bool and
//! `filesWithIssues` is present, tests/test_hf_api.py:1909-1919, 1.29.0.dev0).
//!
//! It is reported next to hubwarden's own verdict and never changes it: a
//! clean Hub scan does not lower a finding, and `scansDone: false` is unknown.
//! Offline and mirror runs make no such request. Other repo types have no
//! documented `securityStatus` and get none.

use std::collections::{BTreeSet, HashMap};

use futures::stream::{self, StreamExt};
use serde::Deserialize;

use super::Hubs;
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

/// One repo at one commit whose status is asked for.
type Key = (String, String);

/// What the Hub answered for one (repo, commit), before it is matched to the
/// files each target runs.
#[derive(Clone, Debug)]
struct Answer {
    scans_done: Option<bool>,
    flagged: Vec<(String, Option<String>)>,
    error: Option<String>,
}

async fn ask(hubs: &Hubs, repo: &str, commit: &str) -> Answer {
    let net = hubs.net();
    let hub = HubKind::Huggingface;
    let rest = format!("api/models/{repo}/revision/{}", enc(commit));
    let what = format!("{hub} {repo}@{commit} security status");
    let url = match net.url(hub, &rest) {
        Ok(mut u) => {
            // What huggingface_hub sends: requests renders Python's True so.
            u.query_pairs_mut().append_pair("securityStatus", "True");
            u
        }
        Err(e) => {
            return Answer {
                scans_done: None,
                flagged: Vec::new(),
                error: Some(e.to_string()),
            };
        }
    };
    match net.json::<Info>(&net.request(hub, url), &what).await {
        Ok(Info {
            security: Some(s), ..
        }) => Answer {
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
        Ok(Info { security: None }) => Answer {
            scans_done: None,
            flagged: Vec::new(),
            error: Some("the Hub sent no securityRepoStatus".to_string()),
        },
        Err(e) => Answer {
            scans_done: None,
            flagged: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

/// Repos a transformers-style load reaches that are not models: Hub kernels
/// named by a config chain, and diffusers' community pipelines (a dataset).
fn not_a_model(t: &Target, repo: &str) -> bool {
    repo == "diffusers/community-pipelines-mirror"
        || t.chain.iter().any(|l| {
            l.leads_to
                .strip_prefix("Hub kernel ")
                .is_some_and(|k| k.split('@').next() == Some(repo))
        })
}

/// The Hugging Face model repos (and commits) whose files a target runs, its
/// own repo first.
fn repos_of(t: &Target) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    if t.hub == HubKind::Huggingface
        && t.repo_type == RepoType::Model
        && let (Some(r), Some(c)) = (&t.repo_id, &t.commit)
    {
        out.push((r.clone(), c.clone()));
    }
    for f in &t.files {
        let k = (f.repo_id.clone(), f.commit.clone());
        let model = if Some(&f.repo_id) == t.repo_id.as_ref() {
            t.repo_type == RepoType::Model
        } else {
            !not_a_model(t, &f.repo_id)
        };
        if f.hub == HubKind::Huggingface && model && !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Add `hub_scan` to every target that runs files of a Hugging Face model
/// repo: one request per distinct (repo, commit), a few at a time. Nothing is
/// asked offline or with a mirror.
pub async fn annotate(hubs: &Hubs, targets: &mut [Target]) {
    let o = hubs.options();
    if o.offline || o.mirror.is_some() {
        return;
    }
    let keys: BTreeSet<Key> = targets.iter().flat_map(repos_of).collect();
    let answers: HashMap<Key, Answer> = stream::iter(keys)
        .map(|k| async move {
            let a = ask(hubs, &k.0, &k.1).await;
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
                .any(|(r, c, p)| *r == k.0 && *c == k.1 && p == path),
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
        repo_id: k.0.clone(),
        commit: k.1.clone(),
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
        let k = ("o/r".to_string(), "a".repeat(40));
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
}
