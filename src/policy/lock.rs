//! `.hubwarden.lock`: the commit each call's remote code resolved to when it was
//! reviewed. `--diff-base` reads the lock file of the base tree, so a PR check also
//! reports calls whose unchanged text now resolves to another commit.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::callsite::CallKey;
use crate::model::CallReport;

/// The lock file's name, at the scanned root.
pub const LOCK_FILE: &str = ".hubwarden.lock";

/// One call and the commit its remote code resolved to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    pub path: String,
    /// The call's text without whitespace (its identity, independent of lines).
    pub call: String,
    pub repo_id: Option<String>,
    pub revision: Option<String>,
    pub gate: String,
    pub commit: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    pub calls: Vec<LockEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}:{column}: not a valid lock file ({message}). Fix: write it again \
         with `hubwarden scan --write-lock` (or `hubwarden pin --write`) and commit it"
    )]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Lockfile {
    /// The lock of the resolved calls (those with a commit), sorted and deduplicated.
    pub fn from_calls(calls: &[CallReport], root: &Path) -> Lockfile {
        let read = crate::policy::fs_sources(root);
        let mut cache: HashMap<String, Option<String>> = HashMap::new();
        let mut entries: Vec<LockEntry> = calls
            .iter()
            .filter_map(|c| {
                let commit = c.target.as_ref()?.commit.clone()?;
                let src = cache
                    .entry(c.site.path.clone())
                    .or_insert_with(|| read(&c.site.path));
                let key = CallKey::of(&c.site, src.as_deref());
                Some(LockEntry {
                    path: key.path,
                    call: key.text,
                    repo_id: key.repo_id,
                    revision: key.revision,
                    gate: key.gate,
                    commit,
                })
            })
            .collect();
        entries.sort_by(|a, b| {
            (&a.path, &a.call, &a.repo_id, &a.revision).cmp(&(
                &b.path,
                &b.call,
                &b.repo_id,
                &b.revision,
            ))
        });
        entries.dedup();
        Lockfile {
            version: 1,
            calls: entries,
        }
    }

    /// Read `dir/.hubwarden.lock`; None when there is none.
    pub fn read(dir: &Path) -> Result<Option<Lockfile>, LockError> {
        let path = dir.join(LOCK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(LockError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        Lockfile::parse(&text, &path.display().to_string()).map(Some)
    }

    /// Parse lock file text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Lockfile, LockError> {
        let lock: Lockfile = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            LockError::Parse {
                path: path.to_string(),
                line: e.line().max(1),
                column: e.column().max(1),
                // The position is in the error's own fields.
                message: match message.rfind(" at line ") {
                    Some(i) => message[..i].to_string(),
                    None => message,
                },
            }
        })?;
        if lock.version != 1 {
            return Err(LockError::Parse {
                path: path.to_string(),
                line: 1,
                column: 1,
                message: format!("version {} is not supported (expected 1)", lock.version),
            });
        }
        Ok(lock)
    }

    /// Write `dir/.hubwarden.lock`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        // Plain data with string keys: serialization cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(dir.join(LOCK_FILE), text)
    }

    /// Call identity -> locked commit.
    pub fn commits(&self) -> HashMap<CallKey, String> {
        self.calls
            .iter()
            .map(|e| {
                (
                    CallKey {
                        path: e.path.clone(),
                        text: e.call.clone(),
                        repo_id: e.repo_id.clone(),
                        revision: e.revision.clone(),
                        gate: e.gate.clone(),
                    },
                    e.commit.clone(),
                )
            })
            .collect()
    }
}
