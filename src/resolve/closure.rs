//! The import closure, walked once for every family: entry files, then the
//! repo files they import, transitively, each listed once, up to the depth cap.
//! How imports are found is the library's own rule ([`Style`]).

use std::sync::LazyLock;

use regex::Regex;

use super::pyimports::Root;
use super::{Job, ResolveError, pyimports};
use crate::hub::{RepoSource, Snapshot};
use crate::model::FileKind;

/// How the files an entry file imports are found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style<'a> {
    /// transformers `get_relative_imports`: its two regexes, recursive,
    /// relative to the importing file's folder.
    Transformers,
    /// diffusers: the same regexes, relative to the entry file's folder.
    Folder,
    /// Python's own import system (tree-sitter), with `roots` on `sys.path`:
    /// torch.hub `hubconf.py`, paddle `hub.load`, PaddleHub modules.
    Python { roots: &'a [Root<'a>] },
}

static RE_IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a literal pattern that compiles.
    #[allow(clippy::unwrap_used)]
    Regex::new(r"(?m)^\s*import\s+\.(\S+)\s*$").unwrap()
});
static RE_FROM: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a literal pattern that compiles.
    #[allow(clippy::unwrap_used)]
    Regex::new(r"(?m)^\s*from\s+\.(\S+)\s+import").unwrap()
});

/// transformers `get_relative_imports`: regexes, not a parser. `from . import x`
/// is not matched, `from .a.b import c` gives `a.b`, matches inside strings count.
pub(crate) fn relative_imports(text: &str) -> Vec<String> {
    let mut out: Vec<String> = RE_IMPORT
        .captures_iter(text)
        .chain(RE_FROM.captures_iter(text))
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `(Path(module_file).parent / module_needed).as_posix() + ".py"`.
pub(crate) fn sibling_module(importer: &str, needed: &str) -> String {
    match importer.rfind('/') {
        Some(i) => format!("{}/{needed}.py", &importer[..i]),
        None => format!("{needed}.py"),
    }
}

/// diffusers `get_cached_module_file`: a relative import with exactly one dot
/// is a folder path (`a.b` -> `a/b`), others stay as written; every module is
/// then fetched relative to the entry's (sub)folder, not to the importer
/// (`utils/dynamic_modules_utils.py:408-414,436-450`, 0.42.1).
pub(crate) fn diffusers_module_path(m: &str) -> String {
    if m.split('.').count() == 2 {
        m.replacen('.', "/", 1)
    } else {
        m.to_string()
    }
}

fn folder_of(path: &str) -> Option<&str> {
    path.rfind('/').map(|i| &path[..i])
}

impl Style<'_> {
    /// The files `path` (read as `bytes`, reached from `entry`) imports.
    fn imports(self, bytes: &[u8], path: &str, entry: &str, snap: &Snapshot) -> Vec<String> {
        match self {
            Style::Python { roots } => pyimports::local_imports(bytes, path, roots, snap),
            Style::Transformers | Style::Folder => {
                let text = String::from_utf8_lossy(bytes);
                relative_imports(&text)
                    .into_iter()
                    .map(|m| match (self, folder_of(entry)) {
                        (Style::Transformers, _) => sibling_module(path, &m),
                        (_, b) => {
                            let m = diffusers_module_path(&m);
                            match b {
                                Some(b) => format!("{b}/{m}.py"),
                                None => format!("{m}.py"),
                            }
                        }
                    })
                    .collect()
            }
        }
    }

    fn too_deep(self, max: usize, path: &str, entry: &str) -> ResolveError {
        ResolveError::Cap(match self {
            Style::Python { .. } => format!("imports nested deeper than {max} from {path}"),
            _ => format!("relative imports nested deeper than {max} from {entry}"),
        })
    }

    fn why(self, importer: &str) -> String {
        match self {
            Style::Python { .. } => format!("imported by {importer}"),
            _ => format!("relative import in {importer}"),
        }
    }
}

/// List `entries` (path, why) and everything they import, depth first in
/// import order. A file missing from the snapshot is noted (the load fails
/// there), not fetched.
pub(crate) async fn closure<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    entries: Vec<(String, String)>,
    style: Style<'_>,
) -> Result<(), ResolveError> {
    let mut work: Vec<(String, usize, String, usize)> = entries
        .iter()
        .enumerate()
        .rev()
        .map(|(i, (p, w))| (p.clone(), 0, w.clone(), i))
        .collect();
    while let Some((path, depth, why, from)) = work.pop() {
        if !snap.has(&path) {
            job.note(format!(
                "{path} ({why}) is not in {}@{}: the load fails there",
                snap.repo_id, snap.commit
            ));
            continue;
        }
        let Some(bytes) = job.add_file(snap, &path, FileKind::Python, why).await? else {
            continue;
        };
        let entry = entries[from].0.as_str();
        let next = style.imports(&bytes, &path, entry, snap);
        if next.is_empty() {
            continue;
        }
        if depth >= job.opts.max_import_depth {
            return Err(style.too_deep(job.opts.max_import_depth, &path, entry));
        }
        for n in next {
            work.push((n, depth + 1, style.why(&path), from));
        }
    }
    Ok(())
}

/// One entry file and its closure.
pub(crate) async fn closure_of<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    entry: &str,
    why: String,
    style: Style<'_>,
) -> Result<(), ResolveError> {
    closure(job, snap, vec![(entry.to_string(), why)], style).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_quirks() {
        let src = "from . import x\nfrom .a.b import c\n  import .m\nfrom ..up import y\n\"\"\"\nfrom .doc import z\n\"\"\"\n";
        assert_eq!(relative_imports(src), vec![".up", "a.b", "doc", "m"]);
        assert_eq!(sibling_module("sub/mod.py", "a.b"), "sub/a.b.py");
        assert_eq!(sibling_module("mod.py", ".up"), ".up.py");
        assert_eq!(diffusers_module_path("pkg.mod"), "pkg/mod");
        assert_eq!(diffusers_module_path("a.b.c"), "a.b.c");
        assert_eq!(diffusers_module_path("flat"), "flat");
    }
}
