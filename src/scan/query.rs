//! The tree-sitter engine: every query rule compiled on its own, run over the statements
//! of a file that its prefilter says it can match.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use tree_sitter::{Node, Parser, Point, Query, QueryCursor, StreamingIterator, Tree};

use super::error::RuleError;
use super::rules::{QueryRule, python_language};

/// Every query rule compiled on its own, so that a file runs only the rules whose
/// prefilter it passes (predicates such as `#match?` cost a regex per candidate node).
pub(crate) struct QueryEngine {
    /// (query, index of its `@span` capture) per rule.
    queries: Vec<(Arc<Query>, u32)>,
    /// Every prefilter regex of every rule, matched in one pass over the bytes.
    prefilter: regex::bytes::RegexSet,
    /// The same regexes one by one, to find where they occur.
    regexes: Vec<regex::bytes::Regex>,
    /// Indexes into `prefilter` that must all match for rule `i` to run (empty: always).
    needs: Vec<Vec<usize>>,
    /// Whether every match of rule `i` contains an occurrence of its prefilter, so that
    /// only the statements holding one need parsing: built-in rules with a prefilter
    /// (checked by the test suite); a user's rule is not assumed to be written that way.
    sliceable: Vec<bool>,
    /// Whether every pattern of rule `i` is rooted at a node that lies within one
    /// logical line (see [`inline_root`]), so that only the lines holding an occurrence
    /// need parsing, however deep they are nested.
    inline: Vec<bool>,
    /// Whether, beyond `inline`, every pattern of rule `i` finds the same matches in a
    /// logical line whose literal display lost the elements that hold no occurrence
    /// (see [`display_safe`] and `slice::plan_nested`).
    displays: Vec<bool>,
}
/// One query match, before it becomes a `Hit`.
pub(crate) struct RawMatch {
    pub rule: usize,
    pub start_byte: usize,
    pub end_byte: usize,
    /// The renamed function the call went through (see `alias`).
    pub via: Option<String>,
}

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

/// Parse Python source; a syntax error still yields a (partial) tree.
pub(crate) fn parse(src: &[u8]) -> Option<Tree> {
    parse_ranges(src, &[])
}

/// Parse only the given byte ranges of the source (whole lines; empty: all of it);
/// nodes keep their offsets and positions in the whole source.
pub(crate) fn parse_ranges(src: &[u8], ranges: &[Range<usize>]) -> Option<Tree> {
    let mut positions = crate::callsite::Positions::new(src);
    let mut point = |offset: usize| {
        let (line, column) = positions.at(offset);
        Point {
            row: line as usize - 1,
            column: column as usize - 1,
        }
    };
    let mut included: Vec<tree_sitter::Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        included.push(tree_sitter::Range {
            start_byte: r.start,
            end_byte: r.end,
            start_point: point(r.start),
            end_point: point(r.end),
        });
    }
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut p = Parser::new();
            p.set_language(&python_language()).ok()?;
            *slot = Some(p);
        }
        let parser = slot.as_mut()?;
        parser.reset();
        parser.set_included_ranges(&included).ok()?;
        let tree = parser.parse(src, None);
        if !included.is_empty() {
            // The parser is reused for the next file: back to whole documents.
            parser.set_included_ranges(&[]).ok()?;
        }
        tree
    })
}

thread_local! {
    static CURSOR: RefCell<QueryCursor> = RefCell::new(QueryCursor::new());
}

impl QueryEngine {
    pub(crate) fn new(rules: &[QueryRule]) -> Result<QueryEngine, RuleError> {
        let mut queries = Vec::with_capacity(rules.len());
        let mut patterns = Vec::new();
        let mut needs = Vec::with_capacity(rules.len());
        let mut sliceable = Vec::with_capacity(rules.len());
        let mut inline = Vec::with_capacity(rules.len());
        let mut displays = Vec::with_capacity(rules.len());
        for r in rules {
            sliceable.push(r.meta.source.starts_with("builtin:") && !r.prefilter.is_empty());
            let query = Arc::clone(&r.query);
            let span = query.capture_index_for_name("span").unwrap_or(u32::MAX);
            let pattern = |i: usize| {
                let from = query.start_byte_for_pattern(i);
                let to = if i + 1 < query.pattern_count() {
                    query.start_byte_for_pattern(i + 1)
                } else {
                    r.query_src.len()
                };
                r.query_src.get(from..to)
            };
            let lines = (0..query.pattern_count()).all(|i| pattern(i).is_some_and(inline_root));
            inline.push(lines);
            displays.push(
                lines && (0..query.pattern_count()).all(|i| pattern(i).is_some_and(display_safe)),
            );
            queries.push((query, span));
            needs.push(
                r.prefilter
                    .iter()
                    .map(|p| {
                        patterns.push(p.clone());
                        patterns.len() - 1
                    })
                    .collect::<Vec<_>>(),
            );
        }
        // ASCII classes keep the DFA small; rule text is ASCII anyway. The set's lazy DFA
        // outgrows the default 2 MiB cache on real code and then re-determinizes from an
        // empty cache over and over: 8 MiB per thread took a third off this pass over
        // the bench corpus (CPU 510 -> 330 ms; the README's bench section).
        let prefilter = regex::bytes::RegexSetBuilder::new(&patterns)
            .unicode(false)
            .size_limit(64 << 20)
            .dfa_size_limit(8 << 20)
            .build()
            .map_err(|e| RuleError {
                file: "prefilters".to_string(),
                line: 0,
                message: format!("prefilter regexes: {e}"),
            })?;
        let regexes = patterns
            .iter()
            .map(|p| {
                regex::bytes::RegexBuilder::new(p)
                    .unicode(false)
                    .build()
                    .map_err(|e| RuleError {
                        file: "prefilters".to_string(),
                        line: 0,
                        message: format!("prefilter regex: {e}"),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(QueryEngine {
            queries,
            prefilter,
            regexes,
            needs,
            sliceable,
            inline,
            displays,
        })
    }

    /// How many query rules there are (indexes `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether every match of these rules lies within one logical line (see `inline`).
    pub(crate) fn inline(&self, rules: &[usize]) -> bool {
        rules
            .iter()
            .all(|&r| self.inline.get(r).copied().unwrap_or(false))
    }

    /// Whether these rules (all `inline`) also allow cutting the unrelated elements of
    /// long literal displays (see `displays`).
    pub(crate) fn displays(&self, rules: &[usize]) -> bool {
        rules
            .iter()
            .all(|&r| self.displays.get(r).copied().unwrap_or(false))
    }

    /// The rules that can match these bytes (empty: no need to parse).
    pub(crate) fn wanted(&self, src: &[u8]) -> Vec<usize> {
        if self.queries.is_empty() {
            return Vec::new();
        }
        let found = self.prefilter.matches(src);
        (0..self.needs.len())
            .filter(|&i| self.needs[i].iter().all(|&p| found.matched(p)))
            .collect()
    }

    /// Where the prefilter of each given rule occurs (every match of the rule contains
    /// an occurrence), close ones merged; `None` for a rule that can match anywhere.
    pub(crate) fn occurrences(
        &self,
        src: &[u8],
        rules: &[usize],
    ) -> Vec<Option<Vec<Range<usize>>>> {
        // Occurrences closer than this share one cursor run.
        const GAP: usize = 256;
        const MAX_OCCURRENCES: usize = 10_000;
        rules
            .iter()
            .map(|&rule| {
                if !self.sliceable.get(rule).copied().unwrap_or(false) {
                    return None;
                }
                let mut found: Vec<Range<usize>> = Vec::new();
                for &p in &self.needs[rule] {
                    // Overlapping occurrences: in `exec(compile(`, the `(` that ends the
                    // first match of `[^.\w](exec|compile)\s*\(` also starts the second.
                    let mut at = 0;
                    while let Some(m) = self.regexes[p].find_at(src, at) {
                        found.push(m.range());
                        at = m.start() + 1;
                        if found.len() > MAX_OCCURRENCES {
                            // Cheaper to run the rule over the whole tree.
                            return None;
                        }
                    }
                }
                found.sort_by_key(|r| r.start);
                let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
                for r in found {
                    match merged.last_mut() {
                        Some(last) if r.start <= last.end + GAP => last.end = last.end.max(r.end),
                        _ => merged.push(r),
                    }
                }
                Some(merged)
            })
            .collect()
    }

    /// Matches of the given rules (indexes from `wanted`), each looked for only where
    /// its prefilter occurs when `ranges` (from `occurrences`, same order) say where.
    pub(crate) fn run(
        &self,
        tree: &Tree,
        src: &[u8],
        rules: &[usize],
        ranges: Option<&[Option<Vec<Range<usize>>>]>,
    ) -> Vec<RawMatch> {
        let mut out: Vec<RawMatch> = Vec::new();
        CURSOR.with(|cell| {
            let mut cursor = cell.borrow_mut();
            // Bounds the work on pathological inputs (huge generated files).
            cursor.set_match_limit(4096);
            let whole = 0..usize::MAX;
            for (i, &rule) in rules.iter().enumerate() {
                let Some((query, span)) = self.queries.get(rule) else {
                    continue;
                };
                // The cursor starts a match only on nodes that overlap its range and then
                // follows it wherever it goes, so a range inside the match is enough.
                let within = match ranges.and_then(|r| r.get(i)) {
                    Some(Some(found)) => found.as_slice(),
                    _ => std::slice::from_ref(&whole),
                };
                for range in within {
                    cursor.set_byte_range(range.clone());
                    let mut matches = cursor.matches(query, tree.root_node(), src);
                    while let Some(m) = matches.next() {
                        for c in m.captures.iter().filter(|c| c.index == *span) {
                            let n = c.node;
                            // A bare string statement is a docstring or a comment in disguise: text, not code.
                            if n.kind() == "string"
                                && n.parent()
                                    .is_some_and(|p| p.kind() == "expression_statement")
                            {
                                continue;
                            }
                            out.push(RawMatch {
                                rule,
                                start_byte: n.start_byte(),
                                end_byte: n.end_byte(),
                                via: None,
                            });
                        }
                    }
                }
            }
            cursor.set_byte_range(0..usize::MAX);
        });
        out.sort_by_key(|m| (m.start_byte, m.rule));
        out.dedup_by_key(|m| (m.start_byte, m.rule));
        out
    }
}

/// Node kinds that never hold a statement: each lies within one logical line (a comment
/// within one physical line), which a statement's siblings do not change.
const INLINE_KINDS: &[&str] = &[
    "assignment",
    "attribute",
    "augmented_assignment",
    "binary_operator",
    "call",
    "comment",
    "concatenated_string",
    "dictionary",
    "identifier",
    "import_from_statement",
    "import_statement",
    "keyword_argument",
    "pair",
    "string",
    "subscript",
];

/// Is this query pattern one node of an [`INLINE_KINDS`] kind (`(call ...) @span`, or
/// grouped with predicates: `((string) @span (#match? ...))`)? A sibling sequence, an
/// alternation, a wildcard or a quantifier at the root is not.
fn inline_root(pattern: &str) -> bool {
    let p = Pattern(pattern.as_bytes());
    let b = p.0;
    // The kind of the node pattern opening at `j` (`(kind`), if it is an inline one.
    let inline_node = |j: usize| INLINE_KINDS.contains(&p.kind_at(j));
    // Captures, and nothing else, from `j` to `end`.
    let only_captures = |mut j: usize, end: usize| {
        loop {
            j = p.skip_ws(j);
            if j >= end {
                return true;
            }
            if b[j] != b'@' {
                return false;
            }
            j = p.word_end(j + 1);
        }
    };
    let start = p.skip_ws(0);
    if b.get(start) != Some(&b'(') {
        return false;
    }
    let Some(close) = p.balanced(start) else {
        return false;
    };
    if !only_captures(close, b.len()) {
        return false;
    }
    let first = p.skip_ws(start + 1);
    if b.get(first) != Some(&b'(') {
        return inline_node(start);
    }
    // A group: exactly one node pattern, then captures and predicates.
    let mut nodes = 0;
    let mut j = first;
    loop {
        j = p.skip_ws(j);
        match b.get(j) {
            Some(b')') if j + 1 == close => return nodes == 1,
            Some(b'@') => j = p.word_end(j + 1),
            Some(b'(') => {
                let Some(next) = p.balanced(j) else {
                    return false;
                };
                if b.get(p.skip_ws(j + 1)) != Some(&b'#') {
                    if !inline_node(j) {
                        return false;
                    }
                    nodes += 1;
                }
                j = next;
            }
            _ => return false,
        }
    }
}

/// Does this pattern (one that [`inline_root`] accepts) find the same matches in a
/// logical line `target = [...]` or `return {...}` whose display lost the elements
/// that hold no prefilter occurrence (`slice::plan_nested`)? Every node inside a kept
/// element is parsed as before, and a node holding an occurrence is one of those, the
/// display, or the statement around it. So a pattern rooted at a `dictionary` (it
/// could be the display) is not safe, and one rooted at an `assignment` is safe only
/// when it reads the assigned value as one node (its kind and text, which the cut
/// keeps), not its children: every child pattern of the root is a field, and the
/// `right:` one has no child patterns of its own.
fn display_safe(pattern: &str) -> bool {
    let p = Pattern(pattern.as_bytes());
    let b = p.0;
    let start = p.skip_ws(0);
    let first = p.skip_ws(start + 1);
    let root = if b.get(first) == Some(&b'(') {
        first
    } else {
        start
    };
    match p.kind_at(root) {
        "dictionary" => false,
        "assignment" => {
            let Some(close) = p.balanced(root) else {
                return false;
            };
            let mut j = p.word_end(p.skip_ws(root + 1));
            loop {
                j = p.skip_ws(j);
                match b.get(j) {
                    Some(b')') if j + 1 == close => return true,
                    Some(b'@') | Some(b'!') => j = p.word_end(j + 1),
                    Some(b'.') => j += 1,
                    // A predicate.
                    Some(b'(') if b.get(p.skip_ws(j + 1)) == Some(&b'#') => {
                        let Some(next) = p.balanced(j) else {
                            return false;
                        };
                        j = next;
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        let name = p.word_end(j);
                        if b.get(name) != Some(&b':') {
                            return false;
                        }
                        let v = p.skip_ws(name + 1);
                        let (end, leaf) = match b.get(v) {
                            Some(b'(' | b'[') => match p.balanced(v) {
                                Some(end) => (end, b[v] == b'(' && !b[v + 1..end].contains(&b'(')),
                                None => return false,
                            },
                            Some(b'_') => (v + 1, true),
                            _ => return false,
                        };
                        if &b[j..name] == b"right" && !leaf {
                            return false;
                        }
                        j = end;
                    }
                    _ => return false,
                }
            }
        }
        _ => true,
    }
}

/// A query pattern's text, read just enough to see its shape.
struct Pattern<'a>(&'a [u8]);

impl<'a> Pattern<'a> {
    /// The index of the next byte that is neither whitespace nor in a `; comment`.
    fn skip_ws(&self, mut j: usize) -> usize {
        let b = self.0;
        loop {
            while b.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
                j += 1;
            }
            // `; comment` to the end of the line.
            if b.get(j) == Some(&b';') {
                while b.get(j).is_some_and(|&c| c != b'\n') {
                    j += 1;
                }
                continue;
            }
            return j;
        }
    }

    /// The index after the word (a kind, field, capture or predicate name) at `j`.
    fn word_end(&self, mut j: usize) -> usize {
        while self
            .0
            .get(j)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        {
            j += 1;
        }
        j
    }

    /// The index after the parenthesised (or bracketed) expression opening at `j`,
    /// strings skipped.
    fn balanced(&self, mut j: usize) -> Option<usize> {
        let b = self.0;
        let mut depth = 0usize;
        while let Some(&c) = b.get(j) {
            match c {
                b'(' | b'[' => depth += 1,
                b')' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                b'"' => {
                    j += 1;
                    while *b.get(j)? != b'"' {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                }
                _ => {}
            }
            j += 1;
        }
        None
    }

    /// The kind of the node pattern opening at `j` (`(kind ...`).
    fn kind_at(&self, j: usize) -> &'a str {
        let k = self.skip_ws(j + 1);
        let e = self.word_end(k);
        self.0
            .get(k..e)
            .and_then(|w| std::str::from_utf8(w).ok())
            .unwrap_or("")
    }
}

/// Visit `root` and its descendants in document order with one cursor (a cursor per
/// node costs as much as the queries on large files); `visit` says whether to descend.
pub(crate) fn preorder<'t>(root: Node<'t>, mut visit: impl FnMut(Node<'t>) -> bool) {
    let mut c = root.walk();
    loop {
        if visit(c.node()) && c.goto_first_child() {
            continue;
        }
        // A cursor never leaves the node it started from.
        while !c.goto_next_sibling() {
            if !c.goto_parent() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{QueryEngine, inline_root};

    #[test]
    fn inline_roots_are_one_node_of_a_kind_within_a_line() {
        for yes in [
            "(call function: (identifier) @f) @span",
            "((string) @span (#match? @span \"a(b\"))",
            "((comment) @span\n (#match? @span \"(?i)coding\"))\n",
            "(import_statement name: (dotted_name) @m) @span ; note\n",
        ] {
            assert!(inline_root(yes), "{yes}");
        }
        for no in [
            "(function_definition name: (identifier) @n) @span",
            "((call) @a (call) @b)",
            "[(call) (string)] @span",
            "(call)* @span",
            "(_) @span",
            "((block) @span (#eq? @span \"x\"))",
            "(module (expression_statement) @span)",
        ] {
            assert!(!inline_root(no), "{no}");
        }
    }

    /// Every built-in rule matches within one logical line, so that files are parsed
    /// only around their occurrences (a rule that does not makes every file that
    /// wants it parse whole top-level statements again).
    #[test]
    fn every_builtin_rule_is_inline() {
        let set = crate::scan::RuleSet::load(&[]).unwrap();
        let engine = QueryEngine::new(&set.query).unwrap();
        for (i, r) in set.query.iter().enumerate() {
            assert!(engine.inline(&[i]), "{}", r.meta.id);
        }
    }
}
