//! Sliced discovery: parse only the top-level statements that can hold a loader
//! call, and those that value resolution asks about, found lazily by word.
//!
//! The other statements are blanked (spaces, newlines kept), so every byte
//! offset, line and column is the whole file's. A first parse holds the
//! statements that name a loader (its last name, `custom_generate`) or import
//! anything. Resolution then records every name it looks up, every function
//! whose call sites it reads and every field it follows, and the names that
//! alias a loader; each statement containing such a word (anywhere, strings
//! and comments included: a superset) is added and the slice parsed again,
//! until nothing is added. At that point every binding, call site and field
//! that the whole-file run would consult for these calls is parsed, so the
//! calls are the same (tests/it/discover.rs compares both over every fixture;
//! bench/inventory.sh over its corpora). Sound because a
//! statement's syntax does not depend on the others (as for the scan's slicing).
//!
//! Not the default (`Parsing::Whole` is): on ML code the re-lexing and reparse
//! rounds cost more than the few percent of bytes they skip.
//!
//! Falls back to the whole file (`None`) when the source is not plainly
//! lexable, the slice has a syntax error (the whole file's recovery is the
//! reference), the slice grows past most of the file, or it takes too many rounds.

use std::collections::{HashMap, HashSet};

use tree_sitter::{InputEdit, Parser, Point, Tree};

use super::catalogue;
use super::sites::{self, FileCtx, FileSites};
use crate::python::pylex;

/// Past this share of the file, parsing it whole is cheaper.
const MAX_SHARE_PERCENT: usize = 85;
/// Rounds of adding asked-for statements before giving up on slicing.
const MAX_ROUNDS: usize = 8;

/// What a sliced run found and how much it parsed.
pub struct Sliced {
    pub sites: FileSites,
    /// Bytes of the statements parsed.
    pub bytes: u64,
}

/// Discover the calls of `src` by parsing statements lazily; `None`: parse it whole.
/// `always` slices even where it does not pay (tests compare it with the whole file).
pub fn discover(parser: &mut Parser, src: &str, ctx: &FileCtx<'_>, always: bool) -> Option<Sliced> {
    let bytes = src.as_bytes();
    let starts = pylex::top_level_starts(bytes)?;
    let end_of = |k: usize| starts.get(k + 1).copied().unwrap_or(bytes.len());
    let words = word_index(bytes, &starts);
    let mut keep = vec![false; starts.len()];
    let mut todo: Vec<usize> = Vec::new();
    for (w, stmts) in &words {
        if is_seed(w) {
            todo.extend(stmts.iter().map(|&k| k as usize));
        }
    }
    let lines = line_starts(bytes);
    let mut buf: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'\n' { b'\n' } else { b' ' })
        .collect();
    let mut kept_bytes = 0usize;
    let mut asked: HashSet<String> = HashSet::new();
    let mut tree: Option<Tree> = None;
    let mut steps = 0u64;
    for _ in 0..MAX_ROUNDS {
        todo.sort_unstable();
        todo.dedup();
        for &k in &todo {
            if keep[k] {
                continue;
            }
            keep[k] = true;
            let (s, e) = (starts[k], end_of(k));
            kept_bytes += e - s;
            buf[s..e].copy_from_slice(&bytes[s..e]);
            // Same length, same newlines: only the text changed.
            if let Some(t) = tree.as_mut() {
                let (sp, ep) = (point(&lines, s), point(&lines, e));
                t.edit(&InputEdit {
                    start_byte: s,
                    old_end_byte: e,
                    new_end_byte: e,
                    start_position: sp,
                    old_end_position: ep,
                    new_end_position: ep,
                });
            }
        }
        todo.clear();
        if !always && kept_bytes * 100 >= bytes.len() * MAX_SHARE_PERCENT {
            return None;
        }
        // Blanks replaced bytes of whole lines only: still UTF-8.
        let text = std::str::from_utf8(&buf).ok()?;
        let t = parser.parse(text, tree.as_ref())?;
        if t.root_node().has_error() {
            return None;
        }
        let found = sites::sites(&t, text, ctx, true);
        steps += found.steps;
        for name in &found.asked {
            if asked.contains(name) {
                continue;
            }
            asked.insert(name.clone());
            if let Some(stmts) = words.get(name.as_bytes()) {
                todo.extend(stmts.iter().map(|&k| k as usize).filter(|&k| !keep[k]));
            }
        }
        if todo.is_empty() {
            return Some(Sliced {
                sites: FileSites { steps, ..found },
                bytes: kept_bytes as u64,
            });
        }
        tree = Some(t);
    }
    None
}

/// Could a call in a statement holding this word be a loader call? Its last
/// name (`from_pretrained`, `pipeline`, ...), the import-free `custom_generate`,
/// or an import (which may alias a loader under another name).
fn is_seed(w: &[u8]) -> bool {
    let Ok(w) = std::str::from_utf8(w) else {
        return false;
    };
    w == "import"
        || catalogue::IMPORT_FREE_WORDS.contains(&w)
        // `generate` is a loader only with `custom_generate=`, the seed above.
        || (w != "generate" && catalogue::is_final_name(w))
}

/// Every identifier-like word of the source (strings and comments included) ->
/// the statements it occurs in, ascending.
fn word_index<'s>(src: &'s [u8], starts: &[usize]) -> HashMap<&'s [u8], Vec<u32>> {
    let mut out: HashMap<&[u8], Vec<u32>> = HashMap::new();
    let mut k = 0usize;
    let mut i = 0usize;
    while i < src.len() {
        if !pylex::is_ident(src[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < src.len() && pylex::is_ident(src[i]) {
            i += 1;
        }
        while k + 1 < starts.len() && starts[k + 1] <= s {
            k += 1;
        }
        let stmt = u32::try_from(k).unwrap_or(u32::MAX);
        let list = out.entry(&src[s..i]).or_default();
        if list.last() != Some(&stmt) {
            list.push(stmt);
        }
    }
    out
}

fn line_starts(src: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', src).map(|i| i + 1))
        .collect()
}

/// Row and byte column of an offset.
fn point(lines: &[usize], at: usize) -> Point {
    let row = lines.partition_point(|&s| s <= at).saturating_sub(1);
    Point {
        row,
        column: at - lines[row],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_map_to_their_statements() {
        let src = b"import os\nx = os.path\ndef f():\n    return x\n";
        let starts = pylex::top_level_starts(src).unwrap();
        let w = word_index(src, &starts);
        assert_eq!(w[&b"os"[..]], [0, 1]);
        assert_eq!(w[&b"x"[..]], [1, 2]);
        assert_eq!(w[&b"return"[..]], [2]);
    }

    #[test]
    fn points_are_rows_and_byte_columns() {
        let lines = line_starts(b"ab\ncd\n");
        assert_eq!(point(&lines, 0), Point { row: 0, column: 0 });
        assert_eq!(point(&lines, 4), Point { row: 1, column: 1 });
        assert_eq!(point(&lines, 6), Point { row: 2, column: 0 });
    }

    #[test]
    fn seeds() {
        assert!(is_seed(b"from_pretrained"));
        assert!(is_seed(b"import"));
        assert!(is_seed(b"custom_generate"));
        assert!(!is_seed(b"generate"));
        assert!(!is_seed(b"os"));
    }
}
