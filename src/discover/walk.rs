//! The file walk: `.py` and `.ipynb` files under the root, honouring `.gitignore`,
//! skipping virtual environments, installed packages, `node_modules` and VCS folders.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::WalkBuilder;

use super::DiscoverError;
use crate::model::InputError;

/// Folder names never descended into.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "_darcs",
    ".venv",
    "venv",
    "site-packages",
    "dist-packages",
    "node_modules",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ipynb_checkpoints",
];

/// A file to read, with its path relative to the root (`/` separators).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub abs: PathBuf,
    pub rel: String,
}

pub fn build_excludes(globs: &[String]) -> Result<GlobSet, DiscoverError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = Glob::new(g).map_err(|e| DiscoverError::BadGlob {
            glob: g.clone(),
            message: e.kind().to_string(),
        })?;
        b.add(glob);
        // `dir` and `dir/` also exclude everything below.
        let trimmed = g.trim_end_matches('/');
        if !trimmed.ends_with("**")
            && let Ok(below) = Glob::new(&format!("{trimmed}/**"))
        {
            b.add(below);
        }
    }
    b.build().map_err(|e| DiscoverError::BadGlob {
        glob: globs.join(", "),
        message: e.to_string(),
    })
}

fn rel_of(root: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(root).unwrap_or(p);
    let s: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    s.join("/")
}

fn is_source(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("py" | "ipynb"))
}

/// Collect the candidate files; walk errors become `InputError`s.
pub fn walk(root: &Path, excludes: &GlobSet) -> (Vec<Candidate>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    if root.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push(Candidate {
            abs: root.to_path_buf(),
            rel: name,
        });
        return (files, errors);
    }
    let canon_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let root_owned = root.to_path_buf();
    let ex = excludes.clone();
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .ignore(true)
        .require_git(false)
        .follow_links(false)
        .filter_entry(move |e| {
            if e.depth() == 0 {
                return true;
            }
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if is_dir {
                let name = e.file_name().to_string_lossy();
                if SKIP_DIRS.contains(&name.as_ref()) || e.path().join("pyvenv.cfg").exists() {
                    return false;
                }
            }
            let rel = rel_of(&root_owned, e.path());
            !ex.is_match(&rel)
        })
        .build();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = match &err {
                    ignore::Error::WithPath { path, .. } => rel_of(root, path),
                    _ => String::new(),
                };
                errors.push(InputError {
                    path,
                    message: err.to_string(),
                });
                continue;
            }
        };
        let p = entry.path();
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_symlink() {
            // Follow a file symlink only when its target stays inside the root.
            match p.canonicalize() {
                Ok(t) if t.starts_with(&canon_root) && t.is_file() && is_source(p) => {}
                _ => continue,
            }
        } else if !ft.is_file() || !is_source(p) {
            continue;
        }
        files.push(Candidate {
            abs: p.to_path_buf(),
            rel: rel_of(root, p),
        });
    }
    (files, errors)
}
