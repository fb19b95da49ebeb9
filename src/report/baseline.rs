//! `--baseline FILE` / `--write-baseline FILE`: adopt hubwarden on a codebase
//! that already has findings, outside pull requests. The baseline lists the
//! findings accepted once; later runs report only the findings not in it.
//!
//! A finding is identified by the stable fingerprint of `fingerprint.rs` (the
//! rule, the call's whitespace-free text, the remote repository: line shifts do
//! not matter), plus, for findings with remote evidence, the commit and the
//! remote file it was found in: the same rule firing on new remote code is a new
//! finding. A policy verdict that folds in more rules than the baseline entry
//! recorded (for example "unpinned" that is now also "not verified") is new too.
//!
//! A baseline that cannot be read is a warning naming the file, the line and the
//! fix, and every finding is reported: never a silent pass.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::{Finding, Report};
use crate::report::RenderOptions;
use crate::report::fingerprint::fingerprints;

/// The file's format version.
pub const BASELINE_VERSION: u32 = 1;

/// One accepted finding.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    /// `fingerprint.rs`'s content hash (without the `:n` counter).
    pub fingerprint: String,
    pub rule_id: String,
    /// The policy rules folded into this verdict (`merged`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<String>,
    /// The call site; the line is for the reader, matching ignores it.
    pub path: String,
    pub line: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_id: Option<String>,
    /// For a finding in remote code: the commit and file it was found in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// For the reader (reviewing a baseline in a pull request); not matched.
    pub message: String,
}

impl BaselineEntry {
    /// Whether this entry accepts `current` (an entry computed for a finding now).
    fn accepts(&self, current: &BaselineEntry) -> bool {
        self.fingerprint == current.fingerprint
            && self.rule_id == current.rule_id
            && self.commit == current.commit
            && self.file == current.file
            && current.merged.iter().all(|r| self.merged.contains(r))
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    pub findings: Vec<BaselineEntry>,
}

/// Why a baseline was not used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(
        "{path}: no such file; every finding is reported. Write it with \
         `hubwarden scan --write-baseline {path}` and commit it"
    )]
    Missing { path: String },
    #[error("{path}: cannot read it ({source}); every finding is reported")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}:{column}: not a hubwarden baseline ({message}); every finding is \
         reported. Fix: write it again with `hubwarden scan --write-baseline {path}`"
    )]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}:1:1: baseline version {found} is not supported (expected {BASELINE_VERSION}); \
         every finding is reported. Fix: write it again with `hubwarden scan --write-baseline {path}`"
    )]
    Version { path: String, found: u32 },
}

impl BaselineError {
    /// The 1-based line the problem is on, when it is in the file's text.
    pub fn line(&self) -> Option<usize> {
        match self {
            BaselineError::Parse { line, .. } => Some(*line),
            BaselineError::Version { .. } => Some(1),
            BaselineError::Missing { .. } | BaselineError::Read { .. } => None,
        }
    }
}

impl Baseline {
    /// The baseline of every finding in `report` (what `--write-baseline` writes).
    pub fn of(report: &Report, opts: &RenderOptions) -> Baseline {
        let mut findings = entries(report, opts);
        findings.sort_by(|a, b| {
            (&a.path, a.line, &a.rule_id, &a.fingerprint, &a.file).cmp(&(
                &b.path,
                b.line,
                &b.rule_id,
                &b.fingerprint,
                &b.file,
            ))
        });
        findings.dedup();
        Baseline {
            version: BASELINE_VERSION,
            findings,
        }
    }

    /// Read and check a baseline file.
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BaselineError::Missing { path: shown });
            }
            Err(source) => {
                return Err(BaselineError::Read {
                    path: shown,
                    source,
                });
            }
        };
        Baseline::parse(&text, &shown)
    }

    /// Parse baseline text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Baseline, BaselineError> {
        // The version first, so that a future format says so instead of failing
        // on its first unknown field.
        #[derive(Deserialize)]
        struct Head {
            version: u32,
        }
        let parse_err = |e: serde_json::Error| BaselineError::Parse {
            path: path.to_string(),
            line: e.line().max(1),
            column: e.column().max(1),
            message: strip_position(&e.to_string()),
        };
        let head: Head = serde_json::from_str(text).map_err(parse_err)?;
        if head.version != BASELINE_VERSION {
            return Err(BaselineError::Version {
                path: path.to_string(),
                found: head.version,
            });
        }
        serde_json::from_str(text).map_err(parse_err)
    }

    /// Write the baseline as pretty JSON (one entry per finding), creating the
    /// folder if needed.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // Plain data with string keys: serialization cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Split `report`'s findings into the new ones (kept, in order) and the
    /// number the baseline accepts.
    pub fn filter(&self, report: &Report, opts: &RenderOptions) -> (Vec<Finding>, usize) {
        let Some(findings) = report.findings.as_ref() else {
            return (Vec::new(), 0);
        };
        let current = entries(report, opts);
        let known: BTreeSet<&str> = self
            .findings
            .iter()
            .map(|e| e.fingerprint.as_str())
            .collect();
        let mut kept = Vec::with_capacity(findings.len());
        let mut accepted = 0usize;
        for (f, cur) in findings.iter().zip(&current) {
            let in_baseline = known.contains(cur.fingerprint.as_str())
                && self.findings.iter().any(|e| e.accepts(cur));
            if in_baseline {
                accepted += 1;
            } else {
                kept.push(f.clone());
            }
        }
        (kept, accepted)
    }
}

/// One entry per finding of `report`, in the findings' order.
fn entries(report: &Report, opts: &RenderOptions) -> Vec<BaselineEntry> {
    let Some(findings) = report.findings.as_ref() else {
        return Vec::new();
    };
    let refs: Vec<&Finding> = findings.iter().collect();
    let fps = fingerprints(report, &refs, opts);
    let by_site = crate::report::calls_by_site(report);
    findings
        .iter()
        .zip(fps)
        .map(|(f, fp)| {
            let call = by_site.of(f);
            let repo_id = f
                .evidence
                .as_ref()
                .map(|e| e.repo_id.clone())
                .or_else(|| call.and_then(|c| c.target.as_ref()?.repo_id.clone()))
                .or_else(|| call.and_then(|c| c.site.repo_id.clone()));
            let mut merged: Vec<String> = f.merged.iter().map(|m| m.rule_id.clone()).collect();
            merged.sort();
            merged.dedup();
            BaselineEntry {
                // The `:n` counter depends on the other findings present; the
                // content hash alone is what stays put.
                fingerprint: fp.split(':').next().unwrap_or_default().to_string(),
                rule_id: f.rule_id.clone(),
                merged,
                path: f.path.clone(),
                line: f.line,
                repo_id,
                commit: f.evidence.as_ref().map(|e| e.commit.clone()),
                file: f.evidence.as_ref().map(|e| e.file.clone()),
                message: f.message.clone(),
            }
        })
        .collect()
}

/// serde_json's message without its " at line X column Y" tail (the error
/// names the position itself).
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_baselines_name_the_line_and_the_fix() {
        let e = Baseline::parse(
            "{\n  \"version\": 1,\n  \"findings\": [\n    {\"x\": 1}\n  ]\n}\n",
            "b.json",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("b.json:4:"), "{e}");
        assert!(e.contains("unknown field `x`"), "{e}");
        assert!(e.contains("hubwarden scan --write-baseline b.json"), "{e}");
        let e = Baseline::parse("{\"version\": 1,", "b.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("b.json:1:"), "{e}");
        let e = Baseline::parse("{\"version\": 7, \"findings\": []}", "b.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 7 is not supported"), "{e}");
    }

    #[test]
    fn an_entry_accepts_only_the_same_finding_on_the_same_code() {
        let e = BaselineEntry {
            fingerprint: "ab".into(),
            rule_id: "r".into(),
            merged: vec!["a".into(), "b".into()],
            path: "x.py".into(),
            line: 3,
            repo_id: Some("o/r".into()),
            commit: Some("c1".into()),
            file: Some("m.py".into()),
            message: String::new(),
        };
        let mut cur = e.clone();
        cur.line = 9;
        cur.merged = vec!["a".into()];
        assert!(
            e.accepts(&cur),
            "line shifts and fewer folded rules are accepted"
        );
        let mut moved = cur.clone();
        moved.commit = Some("c2".into());
        assert!(!e.accepts(&moved), "new remote code is a new finding");
        let mut more = cur.clone();
        more.merged = vec!["a".into(), "c".into()];
        assert!(
            !e.accepts(&more),
            "a verdict with a new rule folded in is new"
        );
    }
}
