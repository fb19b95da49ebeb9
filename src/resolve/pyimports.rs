//! Python import resolution with tree-sitter, for code that Python itself imports
//! (torch.hub `hubconf.py`, paddle `hub.load`, PaddleHub modules): which files
//! of the snapshot an `import`/`from ... import` would load, with the snapshot
//! root on `sys.path` (packages before modules, `__init__.py` of each package).

use tree_sitter::Node;

use crate::hub::Snapshot;
use crate::python::text;

/// One import statement, as written.
#[derive(Debug, PartialEq, Eq)]
struct Import {
    /// Leading dots of a relative import (0 = absolute).
    level: usize,
    /// The dotted module path after the dots (may be empty for `from . import x`).
    module: Vec<String>,
    /// Names imported `from` the module (submodules are candidates).
    names: Vec<String>,
}

fn dotted(node: Node<'_>, src: &[u8]) -> Vec<String> {
    text(node, src)
        .split('.')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The dotted name of a `dotted_name` or `aliased_import` node.
fn name_of(node: Node<'_>, src: &[u8]) -> Vec<String> {
    if node.kind() == "aliased_import" {
        node.child_by_field_name("name")
            .map(|n| dotted(n, src))
            .unwrap_or_default()
    } else {
        dotted(node, src)
    }
}

fn collect(src: &[u8]) -> Vec<Import> {
    let Some(tree) = crate::python::parse(src) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "import_statement" => {
                let mut c = node.walk();
                for n in node.children_by_field_name("name", &mut c) {
                    out.push(Import {
                        level: 0,
                        module: name_of(n, src),
                        names: Vec::new(),
                    });
                }
            }
            "import_from_statement" => {
                let Some(m) = node.child_by_field_name("module_name") else {
                    continue;
                };
                let (level, module) = if m.kind() == "relative_import" {
                    let mut level = 0;
                    let mut module = Vec::new();
                    let mut c = m.walk();
                    for ch in m.children(&mut c) {
                        match ch.kind() {
                            "import_prefix" => level = text(ch, src).matches('.').count(),
                            "dotted_name" => module = dotted(ch, src),
                            _ => {}
                        }
                    }
                    (level, module)
                } else {
                    (0, dotted(m, src))
                };
                let mut c = node.walk();
                let names = node
                    .children_by_field_name("name", &mut c)
                    .map(|n| name_of(n, src))
                    .filter(|n| n.len() == 1)
                    .map(|mut n| n.remove(0))
                    .collect();
                out.push(Import {
                    level,
                    module,
                    names,
                });
            }
            _ => {
                let mut c = node.walk();
                for ch in node.children(&mut c) {
                    stack.push(ch);
                }
            }
        }
    }
    out
}

fn join(dir: &str, seg: &str) -> String {
    if dir.is_empty() {
        seg.to_string()
    } else {
        format!("{dir}/{seg}")
    }
}

/// Load one more dotted segment under `dir`: a package (`seg/__init__.py`), a
/// module (`seg.py`), or a namespace folder. Returns the files it runs and the
/// folder to continue under (None for a plain module or when not local).
fn step(snap: &Snapshot, dir: &str, seg: &str, out: &mut Vec<String>) -> Option<String> {
    let pkg = join(dir, seg);
    let init = format!("{pkg}/__init__.py");
    if snap.has(&init) {
        out.push(init);
        return Some(pkg);
    }
    let prefix = format!("{pkg}/");
    // `files` is sorted, so the paths under a folder are contiguous.
    let i = snap.files.partition_point(|f| f.as_str() < prefix.as_str());
    let is_dir = snap.files.get(i).is_some_and(|f| f.starts_with(&prefix));
    // `FileFinder.find_spec`: a regular package first (above), then a module
    // file; a folder without `__init__.py` is a namespace portion only when
    // no module matches (CPython `importlib/_bootstrap_external.py`).
    let module = format!("{pkg}.py");
    if snap.has(&module) {
        out.push(module);
        return None;
    }
    if is_dir {
        // A namespace package: no code of its own, but submodules resolve under it.
        return Some(pkg);
    }
    None
}

/// An entry of `sys.path`, as seen in the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Root<'a> {
    /// A folder of the snapshot ("" = the repo root).
    Dir(&'a str),
    /// A folder holding one package under another name: PaddleHub installs a
    /// module's folder as `MODULE_HOME/<moduleinfo name>` and puts
    /// `MODULE_HOME` on `sys.path`, so `import <name>` is `dir/__init__.py`.
    Package { name: &'a str, dir: &'a str },
}

/// The first segment of an absolute import, looked up along `roots` in order
/// as `PathFinder` does: the first entry that has it wins. Returns the folder
/// to continue under, and whether any entry had it.
fn first_segment(
    snap: &Snapshot,
    roots: &[Root<'_>],
    seg: &str,
    out: &mut Vec<String>,
) -> (Option<String>, bool) {
    for root in roots {
        match *root {
            Root::Package { name, dir } => {
                if seg == name {
                    let init = join(dir, "__init__.py");
                    if snap.has(&init) {
                        out.push(init);
                    }
                    return (Some(dir.to_string()), true);
                }
            }
            Root::Dir(d) => {
                let before = out.len();
                let next = step(snap, d, seg, out);
                if next.is_some() || out.len() > before {
                    return (next, true);
                }
            }
        }
    }
    (None, false)
}

/// The snapshot files that `importer`'s imports would load, with `roots` on
/// `sys.path`. Imports of names that are not in the snapshot are installed
/// packages and are skipped.
pub(crate) fn local_imports(
    src: &[u8],
    importer: &str,
    roots: &[Root<'_>],
    snap: &Snapshot,
) -> Vec<String> {
    let importer_dir = importer.rfind('/').map(|i| &importer[..i]).unwrap_or("");
    let mut out = Vec::new();
    for imp in collect(src) {
        let mut segs = imp.module.iter();
        let mut dir = if imp.level == 0 {
            let Some(first) = segs.next() else {
                continue;
            };
            first_segment(snap, roots, first, &mut out).0
        } else {
            let mut dir = importer_dir.to_string();
            let mut ok = true;
            for _ in 1..imp.level {
                if dir.is_empty() {
                    ok = false;
                    break;
                }
                dir = dir
                    .rfind('/')
                    .map(|i| dir[..i].to_string())
                    .unwrap_or_default();
            }
            if !ok {
                continue;
            }
            // The package itself is imported first.
            let init = join(&dir, "__init__.py");
            if !dir.is_empty() && snap.has(&init) {
                out.push(init);
            }
            Some(dir)
        };
        for seg in segs {
            dir = match dir {
                Some(d) => step(snap, &d, seg, &mut out),
                None => None,
            };
        }
        // Names imported `from` a local package may be submodules: a name
        // that is an attribute (a function, a class) matches no file.
        if let Some(d) = dir {
            for name in &imp.names {
                step(snap, &d, name, &mut out);
            }
        }
    }
    out.retain(|p| p != importer);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HubKind, RepoType};

    fn snap(files: &[&str]) -> Snapshot {
        let mut files: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        files.sort();
        Snapshot {
            hub: HubKind::Github,
            repo_type: RepoType::Github,
            repo_id: "o/r".into(),
            requested: None,
            resolved_ref: "main".into(),
            commit: "0".repeat(40),
            files,
        }
    }

    #[test]
    fn resolves_packages_modules_and_relative() {
        let s = snap(&[
            "hubconf.py",
            "utils/__init__.py",
            "utils/general.py",
            "models/yolo.py",
            "models/common.py",
            "pkg/__init__.py",
            "pkg/sub.py",
        ]);
        let src = b"import torch\nimport utils.general as g\nfrom models.yolo import Model\nfrom models import common\nfrom pkg import sub, thing\n\"\"\"import notreal\"\"\"\n";
        let got = local_imports(src, "hubconf.py", &[Root::Dir("")], &s);
        assert_eq!(
            got,
            vec![
                "models/common.py",
                "models/yolo.py",
                "pkg/__init__.py",
                "pkg/sub.py",
                "utils/__init__.py",
                "utils/general.py"
            ]
        );
        let rel = local_imports(
            b"from . import common\nfrom .yolo import X\n",
            "models/x.py",
            &[Root::Dir("")],
            &s,
        );
        assert_eq!(rel, vec!["models/common.py", "models/yolo.py"]);
    }
}
