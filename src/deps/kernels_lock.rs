//! `kernels.lock`, written by `kernels lock` next to `pyproject.toml`: a JSON
//! list of `{"repo_id", "sha", "variants": {variant: {"hash", "hash_type"}}}`.
//! `get_locked_kernel` and `load_kernel` load the locked commit.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::InputError;

use super::files::{FileClass, FileDecls, Reader, find_line};

/// One locked kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLock {
    pub repo_id: String,
    /// The locked commit (40 hex digits).
    pub sha: String,
    /// Build variant -> `sha256-<hex>` over its files (`git_lfs_concat`).
    pub variants: BTreeMap<String, String>,
    /// `kernels.lock:line`, relative to the scanned root.
    pub source: String,
}

/// The locks in the file, or the problem that makes it unreadable.
pub fn parse(reader: &mut Reader<'_>, file: &Path) -> (Vec<KernelLock>, Option<InputError>) {
    let rel = reader.display(file);
    let mut sink = FileDecls::new(rel.clone(), FileClass::Lock);
    let Some(text) = reader.read(file, &mut sink) else {
        return (Vec::new(), sink.problems.into_iter().next());
    };
    let problem = |message: String| InputError {
        path: rel.clone(),
        message: format!("{message}; kernels loaded through it are treated as unpinned"),
    };
    let doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return (
                Vec::new(),
                Some(problem(format!("line {}: invalid JSON: {e}", e.line()))),
            );
        }
    };
    let Some(items) = doc.as_array() else {
        return (
            Vec::new(),
            Some(problem("not a JSON list of kernel locks".to_string())),
        );
    };
    let mut out = Vec::new();
    let mut cursor = 1;
    for (i, item) in items.iter().enumerate() {
        let repo_id = item.get("repo_id").and_then(|v| v.as_str());
        let sha = item.get("sha").and_then(|v| v.as_str());
        let (Some(repo_id), Some(sha)) = (repo_id, sha) else {
            return (
                Vec::new(),
                Some(problem(format!(
                    "entry {i} has no `repo_id` or `sha` string"
                ))),
            );
        };
        if !crate::hub::is_commit(sha) {
            return (
                Vec::new(),
                Some(problem(format!(
                    "entry {i} ({repo_id}): `sha` is not a 40-hex commit id"
                ))),
            );
        }
        let mut variants = BTreeMap::new();
        if let Some(v) = item.get("variants") {
            let Some(map) = v.as_object() else {
                return (
                    Vec::new(),
                    Some(problem(format!(
                        "entry {i} ({repo_id}): `variants` is not an object"
                    ))),
                );
            };
            for (name, lock) in map {
                let Some(hash) = lock.get("hash").and_then(|h| h.as_str()) else {
                    return (
                        Vec::new(),
                        Some(problem(format!(
                            "entry {i} ({repo_id}): variant {name} has no `hash`"
                        ))),
                    );
                };
                variants.insert(name.clone(), hash.to_string());
            }
        }
        let line = find_line(&text, repo_id, cursor);
        cursor = line;
        out.push(KernelLock {
            repo_id: repo_id.to_string(),
            sha: sha.to_ascii_lowercase(),
            variants,
            source: format!("{rel}:{line}"),
        });
    }
    (out, None)
}
