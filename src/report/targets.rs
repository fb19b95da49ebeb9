//! The report seen per remote target (hub, repo, commit) instead of per call: what
//! a user asks is "which remote repos does my code execute, at which commit, and
//! are they safe". Each target shows once, with the files that run, the findings
//! in them (each once, however many calls load the target), and the calls that
//! load it with their own policy verdict and fix. Text and job summary render
//! these groups; SARIF stays at the call sites.

use std::collections::HashMap;

use crate::model::{
    CallReport, Engine, Finding, Level, RemoteFile, RepoType, Report, Target, TargetStatus,
};
use crate::report::{findings, severity_order};

/// A call that loads a target, with the policy findings about the call itself.
#[derive(Debug)]
pub struct CallEntry<'a> {
    /// Index in `Report::calls`.
    pub index: usize,
    pub call: &'a CallReport,
    /// Policy findings (after merging, at most one), most severe first.
    pub policy: Vec<&'a Finding>,
}

/// How a group of calls whose repo id is not statically known is named.
pub const UNRESOLVED: &str = "<id not statically known>";

/// One remote target and everything the report says about it.
#[derive(Debug)]
pub struct TargetGroup<'a> {
    /// `huggingface`, `github`, ... (the platform when nothing was resolved).
    pub hub: String,
    pub repo_type: RepoType,
    /// None when the call's repo id is not statically known.
    pub repo: Option<&'a str>,
    pub commit: Option<&'a str>,
    /// The resolution of the first call (all calls of a group resolved alike).
    pub target: Option<&'a Target>,
    pub calls: Vec<CallEntry<'a>>,
    /// Findings in the remote code, each once, most severe first.
    pub remote: Vec<&'a Finding>,
}

impl TargetGroup<'_> {
    /// The most severe level of any finding of the group.
    pub fn level(&self) -> Option<Level> {
        self.remote
            .iter()
            .chain(self.calls.iter().flat_map(|c| &c.policy))
            .map(|f| f.level)
            .max()
    }

    pub fn status(&self) -> Option<TargetStatus> {
        self.target.map(|t| t.status)
    }

    /// `huggingface model acme/chat`.
    pub fn title(&self) -> String {
        format!(
            "{} {} {}",
            self.hub,
            self.repo_type,
            self.repo.unwrap_or(UNRESOLVED)
        )
    }

    /// The remote files the calls of this group run, each once (calls of one
    /// target can run different files: the model's and the tokenizer's code).
    pub fn files(&self) -> Vec<&RemoteFile> {
        let mut seen = std::collections::HashSet::new();
        self.calls
            .iter()
            .filter_map(|c| c.call.target.as_ref())
            .flat_map(|t| &t.files)
            .filter(|f| seen.insert(f.path.as_str()))
            .collect()
    }

    /// The resolution notes of every call, each once.
    pub fn notes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for n in self
            .calls
            .iter()
            .filter_map(|c| c.call.target.as_ref())
            .flat_map(|t| &t.notes)
        {
            if !out.contains(&n.as_str()) {
                out.push(n);
            }
        }
        out
    }

    /// Every finding of the group (remote ones once, policy ones per call).
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.remote
            .iter()
            .copied()
            .chain(self.calls.iter().flat_map(|c| c.policy.iter().copied()))
    }
}

/// The groups (most severe first), and the findings that belong to no call of the
/// report (kept, never hidden).
pub struct Grouped<'a> {
    pub groups: Vec<TargetGroup<'a>>,
    pub orphans: Vec<&'a Finding>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Target {
        hub: String,
        repo_type: RepoType,
        repo: String,
        commit: Option<String>,
    },
    /// Calls whose repo id is not statically known, per platform: one group,
    /// so that a hundred `from_pretrained(model_path)` read as one entry.
    Unresolved { hub: String, repo_type: RepoType },
}

/// The call index a finding belongs to: its own index when it still matches, else
/// the call at the same position, else the first call on that line.
pub fn call_index(report: &Report) -> impl Fn(&Finding) -> Option<usize> + '_ {
    let mut exact: HashMap<(&str, u32, u32), usize> = HashMap::new();
    let mut by_line: HashMap<(&str, u32), usize> = HashMap::new();
    for (i, c) in report.calls.iter().enumerate() {
        let p = c.site.path.as_str();
        exact
            .entry((p, c.site.line, c.site.column.max(1)))
            .or_insert(i);
        by_line.entry((p, c.site.line)).or_insert(i);
    }
    move |f: &Finding| {
        f.call
            .filter(|&i| {
                report
                    .calls
                    .get(i)
                    .is_some_and(|c| c.site.path == f.path && c.site.line == f.line)
            })
            .or_else(|| {
                exact
                    .get(&(f.path.as_str(), f.line, f.column.max(1)))
                    .copied()
            })
            .or_else(|| by_line.get(&(f.path.as_str(), f.line)).copied())
    }
}

fn key_of(c: &CallReport) -> Key {
    let repo = c
        .target
        .as_ref()
        .and_then(|t| t.repo_id.clone())
        .or_else(|| c.site.repo_id.clone());
    match repo {
        Some(repo) => Key::Target {
            hub: c
                .target
                .as_ref()
                .map(|t| t.hub.to_string())
                .unwrap_or_else(|| c.site.platform.to_string()),
            repo_type: c
                .target
                .as_ref()
                .map(|t| t.repo_type)
                .unwrap_or(c.site.repo_type),
            repo,
            commit: c.target.as_ref().and_then(|t| t.commit.clone()),
        },
        None => Key::Unresolved {
            hub: c
                .target
                .as_ref()
                .map(|t| t.hub.to_string())
                .unwrap_or_else(|| c.site.platform.to_string()),
            repo_type: c.site.repo_type,
        },
    }
}

/// How much a resolution says runs: unverified, then code found, then nothing.
fn rank(t: Option<&Target>) -> u8 {
    match t.map(|t| t.status) {
        None => 0,
        Some(TargetStatus::NoRemoteCode) => 1,
        Some(TargetStatus::Resolved) => 2,
        Some(TargetStatus::Unverified) => 3,
    }
}

/// Group the report by remote target.
pub fn group(report: &Report) -> Grouped<'_> {
    let of = call_index(report);
    let mut slot: HashMap<Key, usize> = HashMap::new();
    let mut groups: Vec<TargetGroup> = Vec::new();
    let mut group_of_call: Vec<(usize, usize)> = Vec::with_capacity(report.calls.len());
    for (i, c) in report.calls.iter().enumerate() {
        let key = key_of(c);
        let g = *slot.entry(key).or_insert_with(|| {
            groups.push(TargetGroup {
                hub: c
                    .target
                    .as_ref()
                    .map(|t| t.hub.to_string())
                    .unwrap_or_else(|| c.site.platform.to_string()),
                repo_type: c
                    .target
                    .as_ref()
                    .map(|t| t.repo_type)
                    .unwrap_or(c.site.repo_type),
                repo: c
                    .target
                    .as_ref()
                    .and_then(|t| t.repo_id.as_deref())
                    .or(c.site.repo_id.as_deref()),
                commit: c.target.as_ref().and_then(|t| t.commit.as_deref()),
                target: c.target.as_ref(),
                calls: Vec::new(),
                remote: Vec::new(),
            });
            groups.len() - 1
        });
        // Calls of one repo and commit may resolve differently (one trusts
        // remote code, one does not): the group shows the one that runs most.
        if rank(c.target.as_ref()) > rank(groups[g].target) {
            groups[g].target = c.target.as_ref();
        }
        group_of_call.push((g, groups[g].calls.len()));
        groups[g].calls.push(CallEntry {
            index: i,
            call: c,
            policy: Vec::new(),
        });
    }
    let mut orphans = Vec::new();
    let mut seen: Vec<HashMap<(String, String, u32, String), usize>> =
        groups.iter().map(|_| HashMap::new()).collect();
    for f in findings(report) {
        let Some(i) = of(f) else {
            orphans.push(f);
            continue;
        };
        let (g, entry) = group_of_call[i];
        if f.engine == Engine::Policy {
            groups[g].calls[entry].policy.push(f);
            continue;
        }
        // The same hit reaches the report once per call that loads the file.
        let k = match &f.evidence {
            Some(e) => (f.rule_id.clone(), e.file.clone(), e.line, e.snippet.clone()),
            None => (f.rule_id.clone(), String::new(), 0, f.message.clone()),
        };
        match seen[g].get(&k) {
            Some(&at) if groups[g].remote[at].level >= f.level => {}
            Some(&at) => groups[g].remote[at] = f,
            None => {
                seen[g].insert(k, groups[g].remote.len());
                groups[g].remote.push(f);
            }
        }
    }
    for g in &mut groups {
        g.remote.sort_by(|a, b| evidence_order(a, b));
        for c in &mut g.calls {
            c.policy.sort_by(|a, b| severity_order(a, b));
        }
    }
    groups.sort_by(|a, b| {
        b.level()
            .cmp(&a.level())
            .then_with(|| {
                let unverified = |g: &TargetGroup| g.status() == Some(TargetStatus::Unverified);
                unverified(b).cmp(&unverified(a))
            })
            .then_with(|| (&a.hub, a.repo, a.commit).cmp(&(&b.hub, b.repo, b.commit)))
            .then_with(|| a.calls[0].index.cmp(&b.calls[0].index))
    });
    Grouped { groups, orphans }
}

/// Short form of a commit for headings (full ids stay in the body).
pub fn short_commit(commit: &str) -> &str {
    if crate::hub::is_commit(commit) {
        &commit[..12]
    } else {
        commit
    }
}

/// The findings of `fs` grouped per call and rule (code scanning's unit: one
/// result per call and rule), each group most severe first; groups in the order
/// of their first finding.
pub fn per_call_and_rule<'a>(report: &'a Report, fs: &[&'a Finding]) -> Vec<Vec<&'a Finding>> {
    type Key<'k> = (Option<usize>, &'k str, u32, u32, &'k str);
    let of = call_index(report);
    let mut slot: HashMap<Key<'a>, usize> = HashMap::new();
    let mut out: Vec<Vec<&'a Finding>> = Vec::new();
    for &f in fs {
        let call = of(f);
        // Findings of a known call group by the call; others by their position.
        let key: Key<'a> = match call {
            Some(i) => (Some(i), "", 0, 0, f.rule_id.as_str()),
            None => (None, f.path.as_str(), f.line, f.column, f.rule_id.as_str()),
        };
        match slot.get(&key) {
            Some(&g) => out[g].push(f),
            None => {
                slot.insert(key, out.len());
                out.push(vec![f]);
            }
        }
    }
    for g in &mut out {
        g.sort_by(|a, b| evidence_order(a, b));
    }
    out
}

/// `severity_order`, then the remote file, line and snippet, so the most severe
/// finding of a group is always the same one.
pub fn evidence_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    let ev = |f: &Finding| {
        f.evidence
            .as_ref()
            .map(|e| (e.file.clone(), e.line, e.snippet.clone()))
    };
    severity_order(a, b).then_with(|| ev(a).cmp(&ev(b)))
}
