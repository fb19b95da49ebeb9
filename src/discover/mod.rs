//! Discover: find model-hub loader calls in Python files and notebooks with tree-sitter.
//!
//! Walk (`walk`) -> byte prefilter (on code only, `crate::python::pylex`) -> parse in parallel
//! (`python`) -> match the loader catalogue (`catalogue`) -> resolve values
//! (`values`) -> `LoadSite`s (`sites`).

pub mod catalogue;
pub mod notebook;
pub mod python;
pub mod sites;
pub mod values;
pub mod walk;

use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;

use rayon::prelude::*;
use regex::bytes::Regex;

use crate::model::{InputError, LoadSite};

/// Files larger than this are reported and skipped.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Options for the walk.
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// Globs relative to the root whose matches are skipped.
    pub exclude: Vec<String>,
}

/// Every call found, plus the inputs that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub calls: Vec<LoadSite>,
    pub errors: Vec<InputError>,
}

/// Errors that stop discovery (bad root, bad glob).
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("path does not exist: {0}")]
    NoSuchPath(String),
    #[error("invalid exclude glob {glob:?}: {message}")]
    BadGlob { glob: String, message: String },
}

/// The compiled prefilter: one regex finds the imported libraries, then each
/// library's own loader words are checked.
struct Prefilter {
    libs: Regex,
    imports: Regex,
    words: Vec<(&'static str, Regex)>,
}

static PREFILTER: LazyLock<Option<Prefilter>> = LazyLock::new(|| {
    let libs = catalogue::PREFILTER
        .iter()
        .map(|(l, _)| regex::escape(l))
        .collect::<Vec<_>>()
        .join("|");
    let imports = Regex::new(&format!(
        r"(?m)^[ \t]*(?:from[ \t]+({libs})\b|import[ \t][^\n#]*?\b({libs})\b)"
    ))
    .ok()?;
    let words = catalogue::PREFILTER
        .iter()
        .map(|(l, w)| Regex::new(w).ok().map(|r| (*l, r)))
        .collect::<Option<Vec<_>>>()?;
    let libs = Regex::new(&libs).ok()?;
    Some(Prefilter {
        libs,
        imports,
        words,
    })
});

fn prefilter(bytes: &[u8]) -> bool {
    if memchr::memmem::find(bytes, catalogue::IMPORT_FREE_WORD.as_bytes()).is_some() {
        return true;
    }
    // Unreachable unless the table in `catalogue` is edited into an invalid
    // regex; then parse everything rather than miss a call.
    let Some(p) = PREFILTER.as_ref() else {
        return true;
    };
    // Most files name no hub library at all: one SIMD literal search rules them out.
    if !p.libs.is_match(bytes) {
        return false;
    }
    // Imports and loader names must be code: a library's own files quote both in
    // their docstrings. Calls are found through code alone, so this loses none.
    // Blanking only removes matches, so the cheaper check on the raw bytes goes first.
    imports_a_loader(p, bytes)
        && crate::python::pylex::code_only(bytes).is_none_or(|code| imports_a_loader(p, &code))
}

/// Does `bytes` import a hub library and name one of its loaders?
fn imports_a_loader(p: &Prefilter, bytes: &[u8]) -> bool {
    let mut seen: Vec<&[u8]> = Vec::new();
    for c in p.imports.captures_iter(bytes) {
        let Some(lib) = c.get(1).or_else(|| c.get(2)) else {
            continue;
        };
        let lib = lib.as_bytes();
        if seen.contains(&lib) {
            continue;
        }
        seen.push(lib);
        if p.words
            .iter()
            .any(|(l, w)| l.as_bytes() == lib && w.is_match(bytes))
        {
            return true;
        }
    }
    false
}

/// Walk `root` and return every loader call.
pub fn discover(root: &Path, opts: &DiscoverOptions) -> Result<Discovery, DiscoverError> {
    if !root.exists() {
        return Err(DiscoverError::NoSuchPath(root.display().to_string()));
    }
    let excludes = walk::build_excludes(&opts.exclude)?;
    let (files, mut errors) = walk::walk(root, &excludes);
    let dir_root = if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    };
    let results: Vec<(Vec<LoadSite>, Vec<InputError>)> = files
        .par_iter()
        .map_init(new_parser, |parser, f| match parser {
            Some(p) => scan_file(p, dir_root, f),
            None => (
                Vec::new(),
                vec![InputError {
                    path: f.rel.clone(),
                    message: "the Python grammar could not be loaded".into(),
                }],
            ),
        })
        .collect();
    let mut calls = Vec::new();
    for (c, e) in results {
        calls.extend(c);
        errors.extend(e);
    }
    calls.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.repo_id).cmp(&(&b.path, b.line, b.column, &b.repo_id))
    });
    errors.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
    Ok(Discovery { calls, errors })
}

fn new_parser() -> Option<tree_sitter::Parser> {
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_python::LANGUAGE.into()).ok()?;
    Some(p)
}

fn err(path: &str, message: impl Into<String>) -> (Vec<LoadSite>, Vec<InputError>) {
    (
        Vec::new(),
        vec![InputError {
            path: path.to_string(),
            message: message.into(),
        }],
    )
}

fn read_capped(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let f = std::fs::File::open(path)?;
    // One allocation of the right size instead of repeated doubling.
    let len = f
        .metadata()
        .map(|m| m.len().min(MAX_FILE_BYTES))
        .unwrap_or(0);
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1);
    // Read one byte past the cap to detect files that grew after the walk.
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= MAX_FILE_BYTES).then_some(buf))
}

fn scan_file(
    parser: &mut tree_sitter::Parser,
    root: &Path,
    f: &walk::Candidate,
) -> (Vec<LoadSite>, Vec<InputError>) {
    let bytes = match read_capped(&f.abs) {
        Ok(Some(b)) => b,
        Ok(None) => return err(&f.rel, "file larger than 10 MB, skipped"),
        Err(e) => return err(&f.rel, format!("cannot read: {e}")),
    };
    let is_notebook = f.abs.extension().is_some_and(|e| e == "ipynb");
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            return err(
                &f.rel,
                format!("invalid UTF-8 at byte {}, skipped", e.valid_up_to()),
            );
        }
    };
    let nb;
    let (code, map): (&str, Option<&[(u32, u32)]>) = if is_notebook {
        nb = match notebook::extract(text.as_bytes()) {
            Ok(nb) => nb,
            Err(e) => return err(&f.rel, e),
        };
        if !prefilter(nb.code.as_bytes()) {
            return (Vec::new(), Vec::new());
        }
        (nb.code.as_str(), Some(nb.lines.as_slice()))
    } else {
        if !prefilter(&bytes) {
            return (Vec::new(), Vec::new());
        }
        (text, None)
    };
    let Some(tree) = parser.parse(code, None) else {
        return err(&f.rel, "the parser gave up on this file");
    };
    let dir = f.abs.parent().unwrap_or(root);
    let ctx = sites::FileCtx {
        rel: &f.rel,
        root,
        dir,
        notebook: map,
    };
    let calls = sites::sites(&tree, code, &ctx);
    let mut errors = Vec::new();
    if tree.root_node().has_error() {
        let line = first_error_line(&tree).map(|l| match map {
            Some(m) => m.get(l as usize - 1).map(|x| x.0).unwrap_or(l),
            None => l,
        });
        errors.push(InputError {
            path: f.rel.clone(),
            message: format!(
                "syntax error{}; calls in the parsable parts are still listed",
                line.map(|l| format!(" at line {l}")).unwrap_or_default()
            ),
        });
    }
    (calls, errors)
}

fn first_error_line(tree: &tree_sitter::Tree) -> Option<u32> {
    let mut cursor = tree.walk();
    loop {
        let n = cursor.node();
        if n.is_error() || n.is_missing() {
            return u32::try_from(n.start_position().row + 1).ok();
        }
        // Descend into the first child that contains an error.
        let mut found = false;
        if cursor.goto_first_child() {
            loop {
                if cursor.node().has_error() {
                    found = true;
                    break;
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        if !found {
            return u32::try_from(n.start_position().row + 1).ok();
        }
    }
}
