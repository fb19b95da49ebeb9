//! Discover: find model-hub loader calls in Python files and notebooks with tree-sitter.
//!
//! Walk (`walk`) -> byte prefilter (`prefilter`, on code only) -> parse in parallel
//! (`python`) -> match the loader catalogue (`catalogue`) -> resolve values
//! (`values`) -> `LoadSite`s (`sites`).

pub mod catalogue;
pub mod kernel_calls;
pub mod local_dirs;
pub mod notebook;
pub mod pipeline_calls;
mod prefilter;
pub mod python;
pub mod sites;
pub mod slice;
pub mod values;
pub mod walk;

use std::io::Read;
use std::path::Path;

use rayon::prelude::*;

use crate::model::{InputError, LoadSite};

/// Files larger than this are reported and skipped.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Options for the walk.
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// Globs relative to the root whose matches are skipped.
    pub exclude: Vec<String>,
    pub parsing: Parsing,
}

/// How much of a Python file is parsed (notebooks are always parsed whole).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Parsing {
    /// Every file whole: the default, and the reference the sliced runs must
    /// agree with. On ML application code the files that pass the prefilter
    /// hold loaders throughout, so slicing skips a few percent of the bytes and
    /// its re-lexing and reparse rounds cost more than that (bench/inventory.sh).
    #[default]
    Whole,
    /// Only the statements that can matter (`slice`), where that pays.
    Sliced,
    /// Sliced even where it does not pay (to compare with `Whole` on small files).
    SlicedAlways,
}

impl Parsing {
    /// `HUBWARDEN_DISCOVER_PARSING=sliced|sliced-always` (bench/inventory.sh's
    /// comparison with the reference); anything else is the default.
    pub fn from_env() -> Parsing {
        match std::env::var("HUBWARDEN_DISCOVER_PARSING").as_deref() {
            Ok("sliced") => Parsing::Sliced,
            Ok("sliced-always") => Parsing::SlicedAlways,
            _ => Parsing::Whole,
        }
    }
}

/// Every call found, plus the inputs that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub calls: Vec<LoadSite>,
    pub errors: Vec<InputError>,
    pub stats: DiscoverStats,
}

/// How much work discovery did (reported under `stats` in JSON).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoverStats {
    /// Files that passed the prefilter and were parsed.
    pub files_parsed: u64,
    /// Bytes handed to the parser.
    pub bytes_parsed: u64,
    /// Value-resolution steps.
    pub resolution_steps: u64,
}

impl DiscoverStats {
    fn add(&mut self, o: DiscoverStats) {
        self.files_parsed += o.files_parsed;
        self.bytes_parsed += o.bytes_parsed;
        self.resolution_steps += o.resolution_steps;
    }

    /// These counters on the report's `stats`.
    pub fn fill(&self, s: &mut crate::model::FetchStats) {
        s.files_parsed = self.files_parsed;
        s.bytes_parsed = self.bytes_parsed;
        s.resolution_steps = self.resolution_steps;
    }
}

/// One file's results.
#[derive(Default)]
struct FileResult {
    calls: Vec<LoadSite>,
    links: local_dirs::Links,
    errors: Vec<InputError>,
    stats: DiscoverStats,
}

/// Errors that stop discovery (bad root, bad glob).
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("path does not exist: {0}")]
    NoSuchPath(String),
    #[error("invalid exclude glob {glob:?}: {message}")]
    BadGlob { glob: String, message: String },
}

/// Walk `root` and return every loader call.
pub fn discover(root: &Path, opts: &DiscoverOptions) -> Result<Discovery, DiscoverError> {
    if !root.exists() {
        return Err(DiscoverError::NoSuchPath(root.display().to_string()));
    }
    let excludes = walk::build_excludes(&opts.exclude)?;
    // The walk of a large tree takes a while too: the stage shows before the total.
    crate::progress::begin(crate::progress::Stage::Discover, 0);
    let (files, mut errors) = walk::walk(root, &excludes);
    crate::progress::begin(crate::progress::Stage::Discover, files.len());
    let dir_root = if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    };
    // Compiled here, not inside the first file's timing below.
    prefilter::init();
    let results: Vec<FileResult> = files
        .par_iter()
        .map_init(new_parser, |parser, f| match parser {
            Some(p) => {
                // For bench/inventory.sh's slowest files (RUST_LOG=hubwarden::discover=debug).
                let timed = tracing::enabled!(tracing::Level::DEBUG);
                let cpu = timed.then(thread_cpu_ns).flatten();
                let started = std::time::Instant::now();
                let r = scan_file(p, dir_root, f, opts.parsing);
                if timed {
                    let cpu_micros = cpu
                        .zip(thread_cpu_ns())
                        .map(|(a, b)| b.saturating_sub(a) / 1000);
                    tracing::debug!(
                        path = %f.rel,
                        micros = started.elapsed().as_micros() as u64,
                        cpu_micros,
                        steps = r.stats.resolution_steps,
                        bytes = r.stats.bytes_parsed,
                        "discovered"
                    );
                }
                crate::progress::advance(1);
                r
            }
            None => err(&f.rel, "the Python grammar could not be loaded"),
        })
        .collect();
    let mut calls = Vec::new();
    let mut stats = DiscoverStats::default();
    let (mut downloads, mut unlinked) = (Vec::new(), Vec::new());
    for r in results {
        calls.extend(r.calls);
        errors.extend(r.errors);
        stats.add(r.stats);
        downloads.extend(r.links.downloads);
        unlinked.extend(r.links.unlinked);
    }
    local_dirs::link_across(&mut calls, unlinked, &downloads, sites::finish);
    calls.sort_by(|a, b| {
        (&a.path, a.line, a.column, &a.repo_id).cmp(&(&b.path, b.line, b.column, &b.repo_id))
    });
    errors.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
    Ok(Discovery {
        calls,
        errors,
        stats,
    })
}

/// This thread's CPU time in nanoseconds (Linux), or `None` elsewhere. Unlike
/// wall time it does not grow while other processes hold the cores, so a file's
/// cost can be compared across runs on a loaded machine.
fn thread_cpu_ns() -> Option<u64> {
    // The first field is the time spent on a CPU; std has no thread CPU clock,
    // and this crate forbids the `unsafe` a clock_gettime call would need.
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_ascii_whitespace().next()?.parse().ok()
}

fn new_parser() -> Option<tree_sitter::Parser> {
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_python::LANGUAGE.into()).ok()?;
    Some(p)
}

fn err(path: &str, message: impl Into<String>) -> FileResult {
    FileResult {
        errors: vec![InputError {
            path: path.to_string(),
            message: message.into(),
        }],
        ..FileResult::default()
    }
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
    parsing: Parsing,
) -> FileResult {
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
        if !prefilter::may_hold_loader(nb.code.as_bytes()) {
            return FileResult::default();
        }
        (nb.code.as_str(), Some(nb.lines.as_slice()))
    } else {
        if !prefilter::may_hold_loader(&bytes) {
            return FileResult::default();
        }
        (text, None)
    };
    let dir = f.abs.parent().unwrap_or(root);
    let ctx = sites::FileCtx {
        rel: &f.rel,
        root,
        dir,
        notebook: map,
    };
    if !is_notebook
        && parsing != Parsing::Whole
        && let Some(s) = slice::discover(parser, code, &ctx, parsing == Parsing::SlicedAlways)
    {
        return FileResult {
            calls: s.sites.calls,
            links: s.sites.links,
            errors: Vec::new(),
            stats: DiscoverStats {
                files_parsed: 1,
                bytes_parsed: s.bytes,
                resolution_steps: s.sites.steps,
            },
        };
    }
    let Some(tree) = parser.parse(code, None) else {
        return err(&f.rel, "the parser gave up on this file");
    };
    // The first syntax error as the user wrote it, before any recovery.
    let error_line = tree
        .root_node()
        .has_error()
        .then(|| first_error_line(&tree))
        .flatten();
    let had_error = tree.root_node().has_error();
    let recovered;
    let (code, tree) = if is_notebook && had_error {
        // A cell is run on its own: one broken statement must not hide the
        // calls in the rest of the notebook or the rest of its cell.
        recovered = blank_broken_statements(parser, code, tree);
        (recovered.0.as_str(), recovered.1)
    } else {
        (code, tree)
    };
    let found = sites::sites(&tree, code, &ctx, false);
    let (calls, links) = (found.calls, found.links);
    let stats = DiscoverStats {
        files_parsed: 1,
        bytes_parsed: code.len() as u64,
        resolution_steps: found.steps,
    };
    let mut errors = Vec::new();
    if had_error {
        let line = error_line.map(|l| match map {
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
    FileResult {
        calls,
        links,
        errors,
        stats,
    }
}

/// Most rounds of blanking a broken statement and parsing again.
const RECOVERY_ROUNDS: usize = 8;

/// Blank (spaces, newlines kept) the top-level statements that hold a syntax
/// error and parse again, so the statements around them still count.
fn blank_broken_statements(
    parser: &mut tree_sitter::Parser,
    code: &str,
    mut tree: tree_sitter::Tree,
) -> (String, tree_sitter::Tree) {
    let mut bytes = code.as_bytes().to_vec();
    for _ in 0..RECOVERY_ROUNDS {
        if !tree.root_node().has_error() {
            break;
        }
        let starts =
            crate::python::pylex::top_level_starts(&bytes).unwrap_or_else(|| line_starts(&bytes));
        let mut changed = false;
        for at in error_starts(&tree) {
            let k = starts.partition_point(|&s| s <= at).saturating_sub(1);
            let end = starts.get(k + 1).copied().unwrap_or(bytes.len());
            for b in &mut bytes[starts[k]..end] {
                if *b != b'\n' && *b != b' ' {
                    *b = b' ';
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
        // Spaces replace whole statements, which start and end on line starts.
        let Ok(text) = std::str::from_utf8(&bytes) else {
            break;
        };
        match parser.parse(text, None) {
            Some(t) => tree = t,
            None => break,
        }
    }
    // Only spaces were written over whole lines: still UTF-8.
    let text = String::from_utf8(bytes).unwrap_or_else(|_| code.to_string());
    (text, tree)
}

/// Lines that start at column 0 with code: statement starts when the source
/// cannot be lexed (an unclosed bracket).
fn line_starts(src: &[u8]) -> Vec<usize> {
    let mut out = vec![0];
    for (i, w) in src.windows(2).enumerate() {
        if w[0] == b'\n' && !w[1].is_ascii_whitespace() && w[1] != b'#' {
            out.push(i + 1);
        }
    }
    out
}

/// Where the syntax errors of a tree start (ERROR and MISSING nodes).
fn error_starts(tree: &tree_sitter::Tree) -> Vec<usize> {
    let mut out = Vec::new();
    let mut cursor = tree.walk();
    'walk: loop {
        let n = cursor.node();
        if n.is_error() || n.is_missing() {
            out.push(n.start_byte());
        } else if n.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    out
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
