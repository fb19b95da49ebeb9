//! Which parts of a file to parse: only the top-level statements that contain an
//! occurrence of a wanted rule's prefilter (or a signature match), since parsing and
//! query traversal dominate the cost of a scan and most of a large file cannot match.
//!
//! Sound because a built-in rule's prefilter text occurs inside every match of its
//! query (the test suite checks each rule's examples both ways), a match lies inside
//! one top-level statement, and a statement's syntax does not depend on the others.

use std::ops::Range;

use crate::python::pylex;

/// Below this share of the file, slicing is not worth its bookkeeping.
const MAX_SHARE_PERCENT: usize = 85;

/// The byte ranges to parse (whole top-level statements, merged when adjacent), or
/// `None` to parse the whole file: the source is not plainly lexable, or the
/// statements to parse cover most of it anyway.
pub(crate) fn plan(src: &[u8], occurrences: &[Range<usize>]) -> Option<Vec<Range<usize>>> {
    if occurrences.is_empty() {
        return None;
    }
    let starts = pylex::top_level_starts(src)?;
    let end_of = |k: usize| starts.get(k + 1).copied().unwrap_or(src.len());
    let mut keep = vec![false; starts.len()];
    for occ in occurrences {
        // The statement holding the occurrence's first byte, and every one up to its last.
        let mut k = starts
            .partition_point(|&s| s <= occ.start)
            .saturating_sub(1);
        keep[k] = true;
        while end_of(k) < occ.end {
            k += 1;
            keep[k] = true;
        }
    }
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for (k, _) in keep.iter().enumerate().filter(|(_, kept)| **kept) {
        let (s, e) = (starts[k], end_of(k));
        match ranges.last_mut() {
            Some(last) if last.end == s => last.end = e,
            _ => ranges.push(s..e),
        }
    }
    let kept: usize = ranges.iter().map(|r| r.len()).sum();
    (kept * 100 < src.len() * MAX_SHARE_PERCENT).then_some(ranges)
}

/// The byte ranges to parse when every wanted rule matches only within one logical line
/// (or one comment: see `query::inline_root`): the logical lines holding an occurrence
/// however deeply nested, the headers of the blocks around them, and what keeps the
/// result a program (one statement of every kept block, the decorated definition of a
/// kept decorator, every clause of a kept `if`/`try`/... chain). `None` as for [`plan`],
/// and also when the indentation uses tabs or form feeds or is not consistent.
///
/// Sound for such rules: a logical line's syntax does not depend on its siblings, so the
/// nodes inside it are the same in the sliced tree as in the whole file.
///
/// With `displays` (the rules allow it: `query::display_safe`), a long logical line that
/// assigns or returns one list, tuple, dict or set display (a data table, a vocabulary) keeps
/// only the display's elements that hold an occurrence, and its first (see
/// [`display_cuts`]).
pub(crate) fn plan_nested(
    src: &[u8],
    occurrences: &[Range<usize>],
    displays: bool,
) -> Option<Vec<Range<usize>>> {
    if occurrences.is_empty() {
        return None;
    }
    let lines = logical_lines(src)?;
    let n = lines.len();
    if n == 0 {
        return None;
    }
    // Line `i` spans from its start to the next line's (comment and blank lines go with
    // the line before them; those before the first line with the first line).
    let start = |i: usize| if i == 0 { 0 } else { lines[i].start };
    let end = |i: usize| lines.get(i + 1).map_or(src.len(), |l| l.start);
    // Structure: parent, end of the block a header opens, the clause chain.
    let mut parent = vec![usize::MAX; n];
    let mut block_end = vec![0usize; n];
    let mut chain_head: Vec<usize> = (0..n).collect();
    let mut stack: Vec<usize> = Vec::new();
    for i in 0..n {
        let ind = lines[i].indent;
        // Indents on the stack increase; pop the lines this one closes.
        let mut popped = None;
        while let Some(&top) = stack.last() {
            if lines[top].indent < ind {
                break;
            }
            stack.pop();
            block_end[top] = i;
            popped = Some(top);
        }
        let sibling = match popped {
            Some(p) if lines[p].indent == ind => Some(p),
            // A dedent to no enclosing line's indentation.
            Some(_) => return None,
            None => None,
        };
        match (stack.last(), sibling) {
            // A deeper line opens a block: the line before it is a header.
            (Some(&top), None) => {
                if lines[top].last != b':' || lines[top].decorator {
                    return None;
                }
                parent[i] = top;
            }
            (Some(&top), Some(_)) => parent[i] = top,
            (None, None) if ind != 0 => return None,
            (None, _) => {}
        }
        if lines[i].clause {
            chain_head[i] = chain_head[sibling?];
        }
        // The definition follows a decorator at the same indentation.
        if lines[i].decorator && lines.get(i + 1).is_none_or(|next| next.indent != ind) {
            return None;
        }
        stack.push(i);
    }
    for &top in &stack {
        block_end[top] = n;
    }
    // Clauses of each chain, from its head.
    let mut chain_next = vec![usize::MAX; n];
    let mut chain_last: Vec<usize> = (0..n).collect();
    for (i, &h) in chain_head.iter().enumerate() {
        if h != i {
            chain_next[chain_last[h]] = i;
            chain_last[h] = i;
        }
    }

    let mut keep = vec![false; n];
    let mut work: Vec<usize> = Vec::new();
    let mark = |i: usize, keep: &mut Vec<bool>, work: &mut Vec<usize>| {
        if !keep[i] {
            keep[i] = true;
            work.push(i);
        }
    };
    let line_of = |at: usize| lines.partition_point(|l| l.start <= at).saturating_sub(1);
    for occ in occurrences {
        let mut k = line_of(occ.start);
        mark(k, &mut keep, &mut work);
        while end(k) < occ.end && k + 1 < n {
            k += 1;
            mark(k, &mut keep, &mut work);
        }
    }
    loop {
        while let Some(i) = work.pop() {
            if parent[i] != usize::MAX {
                mark(parent[i], &mut keep, &mut work);
            }
            if lines[i].decorator {
                mark(i + 1, &mut keep, &mut work);
            }
            let mut c = chain_head[i];
            while c != usize::MAX {
                mark(c, &mut keep, &mut work);
                c = chain_next[c];
            }
        }
        // A kept block keeps at least one statement: its first when none holds an
        // occurrence (its descendants mark their parents, so any kept one is a child).
        for i in 0..n {
            if keep[i] && block_end[i] > i + 1 && !keep[i + 1..block_end[i]].contains(&true) {
                mark(i + 1, &mut keep, &mut work);
            }
        }
        if work.is_empty() {
            break;
        }
    }
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut push = |r: Range<usize>| match ranges.last_mut() {
        Some(last) if last.end == r.start => last.end = r.end,
        _ if r.is_empty() => {}
        _ => ranges.push(r),
    };
    // The occurrences as disjoint sorted ranges, for the long lines (built for the first).
    let mut union: Option<Vec<Range<usize>>> = None;
    for i in (0..n).filter(|&i| keep[i]) {
        let (s, e) = (start(i), end(i));
        let mut from = s;
        if displays && e - s >= DISPLAY_MIN_BYTES {
            let union = union.get_or_insert_with(|| disjoint(occurrences));
            let first = union.partition_point(|o| o.end <= s);
            let last = first + union[first..].partition_point(|o| o.start < e);
            let code = lines[i].start + lines[i].indent as usize;
            for cut in display_cuts(src, code, e, &union[first..last]) {
                push(from..cut.start);
                from = cut.end;
            }
        }
        push(from..e);
    }
    let kept: usize = ranges.iter().map(|r| r.len()).sum();
    (kept * 100 < src.len() * MAX_SHARE_PERCENT).then_some(ranges)
}

/// The union of the ranges, as disjoint ranges in order.
fn disjoint(ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// A logical line shorter than this is kept whole: cutting its display would not pay.
const DISPLAY_MIN_BYTES: usize = 4096;

/// The elements to leave out of the logical line from `code` (its first byte of code)
/// to `end` when it is `target = <display>` or `return <display>`: a list, tuple, dict
/// or set display with nothing after it but comments. Left out are the elements (each with its
/// comma) that overlap no occurrence (`occurrences`: sorted, disjoint), except the
/// first, so the display keeps its kind.
/// Empty when the line is of another shape, or its display holds a comprehension or a
/// `lambda` (whose commas are not the display's).
///
/// The kept text is still a program, and every kept element is parsed as before: an
/// element's syntax depends on the kind of its display, never on its siblings.
fn display_cuts(
    src: &[u8],
    code: usize,
    end: usize,
    occurrences: &[Range<usize>],
) -> Vec<Range<usize>> {
    let Some(elements) = display_elements(src, code, end) else {
        return Vec::new();
    };
    let mut kept = vec![false; elements.len()];
    kept[0] = true;
    for occ in occurrences {
        let mut k = elements.partition_point(|e| e.end <= occ.start);
        while k < elements.len() && elements[k].start < occ.end {
            kept[k] = true;
            k += 1;
        }
    }
    let mut cuts: Vec<Range<usize>> = Vec::new();
    for (e, _) in elements.iter().zip(&kept).filter(|(_, k)| !**k) {
        match cuts.last_mut() {
            Some(last) if last.end == e.start => last.end = e.end,
            _ => cuts.push(e.clone()),
        }
    }
    cuts
}

/// The elements of the display that the line from `code` to `end` assigns or returns
/// (see [`display_cuts`]), each with the comma after it; the last one runs to the
/// closing bracket. `None` when the line is not of that shape.
fn display_elements(src: &[u8], code: usize, end: usize) -> Option<Vec<Range<usize>>> {
    let line = src.get(..end)?;
    let word_at = |i: usize| {
        let mut j = i;
        while line.get(j).is_some_and(|&c| pylex::is_ident(c)) {
            j += 1;
        }
        j
    };
    // The head: `return`, or one target (an annotation may follow it) and a plain `=`.
    let mut i = code;
    if line.get(i..word_at(i)) == Some(&b"return"[..]) {
        i += b"return".len();
    } else {
        let mut depth = 0usize;
        loop {
            match *line.get(i)? {
                b'\'' | b'"' => {
                    i = pylex::string_end(line, i)?;
                    continue;
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.checked_sub(1)?,
                b'=' if depth == 0 => {
                    let before = *line.get(i.checked_sub(1)?)?;
                    if i == code
                        || b"=!<>:+-*/%&|^@~".contains(&before)
                        || line.get(i + 1) == Some(&b'=')
                    {
                        return None;
                    }
                    i += 1;
                    break;
                }
                // Another statement, a continuation, a comment or the line's end.
                b';' | b'\\' | b'#' | b'\n' | b'\r' => return None,
                _ => {}
            }
            i += 1;
        }
    }
    while matches!(line.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    // A tuple keeps its kind: the first element is kept, and the comma after it.
    let close = match line.get(i) {
        Some(b'[') => b']',
        Some(b'{') => b'}',
        Some(b'(') => b')',
        _ => return None,
    };
    let mut elements = Vec::new();
    let mut from = i + 1;
    let mut depth = 0usize;
    i += 1;
    loop {
        let c = *line.get(i)?;
        match c {
            b'\'' | b'"' => {
                i = pylex::string_end(line, i)?;
                continue;
            }
            b'#' => {
                i += memchr::memchr(b'\n', &line[i..])?;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth > 0 => depth -= 1,
            b')' | b']' | b'}' => {
                if c != close {
                    return None;
                }
                elements.push(from..i);
                break;
            }
            b',' if depth == 0 => {
                elements.push(from..i + 1);
                from = i + 1;
            }
            // A word (a name, a keyword, a number or a string prefix), read whole.
            c if depth == 0 && pylex::is_ident(c) => {
                let w = word_at(i);
                if matches!(&line[i..w], b"for" | b"lambda") {
                    return None;
                }
                i = w;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Nothing but comments after the display.
    i += 1;
    while i < end {
        match line[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => i += 1,
            b'#' => i += memchr::memchr(b'\n', &line[i..]).unwrap_or(end - i),
            _ => return None,
        }
    }
    Some(elements)
}

/// One logical line of the source.
struct LogicalLine {
    /// Start of its first physical line.
    start: usize,
    /// Columns of indentation (spaces only).
    indent: u32,
    /// Its last byte of code (`:` for a block header).
    last: u8,
    /// `else`, `elif`, `except` or `finally`: continues the statement before it.
    clause: bool,
    /// `@...`: decorates the definition after it.
    decorator: bool,
}

/// Every logical line of the source, or `None` when it is not plainly lexable (see
/// `pylex::string_end`) or indents with tabs or form feeds.
fn logical_lines(src: &[u8]) -> Option<Vec<LogicalLine>> {
    let mut out: Vec<LogicalLine> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    // Inside a logical line (after its first byte of code, until its end).
    let mut open = false;
    while i < src.len() {
        if !open {
            // A new physical line at depth 0: indentation, then code, a comment or nothing.
            let line = i;
            let mut tabs = false;
            while let Some(&c) = src.get(i) {
                match c {
                    b' ' => {}
                    b'\t' | b'\x0c' => tabs = true,
                    _ => break,
                }
                i += 1;
            }
            match src.get(i) {
                None => break,
                Some(b'#') => {
                    while i < src.len() && src[i] != b'\n' {
                        i += 1;
                    }
                    i += 1;
                    continue;
                }
                Some(b'\r') if src.get(i + 1) == Some(&b'\n') => {
                    i += 2;
                    continue;
                }
                Some(b'\n') => {
                    i += 1;
                    continue;
                }
                // A lone carriage return ends a line for Python, not for this scan.
                Some(b'\r') => return None,
                // Where tabs count is where tree-sitter and CPython may disagree.
                Some(_) if tabs => return None,
                Some(_) => {}
            }
            let rest = &src[i..];
            out.push(LogicalLine {
                start: line,
                indent: (i - line) as u32,
                last: 0,
                clause: is_clause(rest),
                decorator: rest.first() == Some(&b'@'),
            });
            open = true;
        }
        let c = src[i];
        match c {
            b'#' => {
                while i < src.len() && src[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' => {
                i = pylex::string_end(src, i)?;
                if let Some(l) = out.last_mut() {
                    l.last = c;
                }
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.checked_sub(1)?,
            b'\\' => {
                let next = if src.get(i + 1) == Some(&b'\r') {
                    i + 2
                } else {
                    i + 1
                };
                if src.get(next) == Some(&b'\n') {
                    i = next + 1;
                    continue;
                }
            }
            b'\n' => {
                if depth == 0 {
                    open = false;
                }
                i += 1;
                continue;
            }
            b'\r' => {
                if src.get(i + 1) != Some(&b'\n') {
                    return None;
                }
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\x0c' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(l) = out.last_mut() {
            l.last = c;
        }
        i += 1;
    }
    (depth == 0).then_some(out)
}

/// Does the line start with a clause that continues the statement before it?
fn is_clause(line: &[u8]) -> bool {
    ["else", "elif", "except", "finally"].iter().any(|k| {
        line.starts_with(k.as_bytes()) && line.get(k.len()).is_none_or(|&c| !pylex::is_ident(c))
    })
}

#[cfg(test)]
// One occurrence is a one-element slice of ranges, not a misspelt range.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::plan;

    #[test]
    fn keeps_only_the_statements_holding_an_occurrence() {
        let src = "import os\n\ndef a():\n    return 1\n\ndef b():\n    os.system('x')\n\nclass C:\n    pass\n\nZ = [\n  1,\n]\n";
        let at = src.find("os.system").unwrap();
        let ranges = plan(src.as_bytes(), &[at..at + 9]).unwrap();
        assert_eq!(ranges.len(), 1);
        assert_eq!(&src[ranges[0].clone()], "def b():\n    os.system('x')\n\n");
        // An occurrence spanning two statements keeps both, merged.
        let from = src.find("return").unwrap();
        let ranges = plan(src.as_bytes(), &[from..at]).unwrap();
        assert_eq!(
            &src[ranges[0].clone()],
            "def a():\n    return 1\n\ndef b():\n    os.system('x')\n\n"
        );
    }

    #[test]
    fn whole_file_when_most_of_it_is_kept_or_it_cannot_be_lexed() {
        let src = "def b():\n    os.system('x')\n";
        assert_eq!(plan(src.as_bytes(), &[13..22]), None);
        assert_eq!(
            plan(b"x = 'open\nos.system(1)\ny = 2\nz = 3\nw = 4\n", &[10..19]),
            None
        );
        assert_eq!(plan(b"x = 1\n", &[]), None);
    }
}

#[cfg(test)]
// One occurrence is a one-element slice of ranges, not a misspelt range.
#[allow(clippy::single_range_in_vec_init)]
mod nested_tests {
    use super::plan_nested;
    use crate::scan::query;

    /// The kept text for the first occurrence of each word, checked: it parses clean,
    /// and `holder` (given the node at each occurrence) says the same of the sliced tree
    /// as of the whole file.
    fn checked<K: PartialEq + std::fmt::Debug>(
        src: &str,
        words: &[&str],
        displays: bool,
        holder: impl Fn(tree_sitter::Node<'_>) -> K,
    ) -> Option<String> {
        let occ: Vec<_> = words
            .iter()
            .map(|w| {
                let at = src.find(w).unwrap();
                at..at + w.len()
            })
            .collect();
        let ranges = plan_nested(src.as_bytes(), &occ, displays)?;
        let sliced = query::parse_ranges(src.as_bytes(), &ranges).unwrap();
        assert!(
            !sliced.root_node().has_error(),
            "{}",
            sliced.root_node().to_sexp()
        );
        let whole = query::parse(src.as_bytes()).unwrap();
        for o in &occ {
            let at = |t: &tree_sitter::Tree| {
                holder(
                    t.root_node()
                        .named_descendant_for_byte_range(o.start, o.end)
                        .unwrap(),
                )
            };
            assert_eq!(at(&sliced), at(&whole), "{src}");
        }
        Some(ranges.iter().map(|r| &src[r.clone()]).collect())
    }

    /// The kept text, and a check that it parses clean to the same statement nodes
    /// around each occurrence as the whole file.
    fn kept(src: &str, words: &[&str]) -> Option<String> {
        checked(src, words, false, |mut n| {
            // Up to the statement holding it (its whole subtree must be equal).
            while let Some(p) = n.parent() {
                if n.kind().ends_with("statement")
                    || n.kind() == "decorator"
                    || matches!(p.kind(), "block" | "module")
                {
                    break;
                }
                n = p;
            }
            (n.start_byte(), n.end_byte(), n.to_sexp())
        })
    }

    const BIG: &str = "\
import os


class Model(Base):
    \"\"\"Doc.\"\"\"

    def a(self):
        x = 1
        return x

    @property
    def b(self):
        if self.x:
            y = 2
        elif self.z:
            y = 3
        else:
            os.system('x')
        return y

    def c(self):
        try:
            z = 1
            eval(z)
        except ValueError:
            z = 2
        finally:
            z = 3
        for i in range(3):
            pass
        return z


def after():
    return 4
";

    #[test]
    fn keeps_the_lines_headers_and_one_statement_per_block() {
        assert_eq!(
            kept(BIG, &["os.system"]).unwrap(),
            "class Model(Base):\n    def b(self):\n        if self.x:\n            y = 2\n\
             \x20       elif self.z:\n            y = 3\n        else:\n            os.system('x')\n"
        );
    }

    #[test]
    fn clauses_decorators_and_try_stay_whole_statements() {
        let got = kept(BIG, &["eval(z)", "@property"]).unwrap();
        assert!(
            got.contains("    @property\n    def b(self):\n        if self.x:\n"),
            "{got}"
        );
        assert!(
            got.contains("        try:\n            eval(z)\n        except"),
            "{got}"
        );
        assert!(
            got.contains("        except ValueError:\n            z = 2\n"),
            "{got}"
        );
        assert!(
            got.contains("        finally:\n            z = 3\n"),
            "{got}"
        );
        assert!(
            !got.contains("def a") && !got.contains("range") && !got.contains("after"),
            "{got}"
        );
    }

    #[test]
    fn comments_go_with_the_line_before_them() {
        let src = "# coding: utf-8\nimport os\n\n\nclass C:\n    def f(self):\n        pass\n        # os.system here\n\n    def g(self):\n        return 1\n\n    def h(self):\n        return 2\n\n    def i(self):\n        return 3\n";
        let got = kept(src, &["coding", "os.system"]).unwrap();
        assert!(got.starts_with("# coding: utf-8\nimport os\n"), "{got}");
        assert!(
            got.contains("        pass\n        # os.system here\n"),
            "{got}"
        );
        assert!(!got.contains("def g"), "{got}");
    }

    #[test]
    fn unusual_indentation_falls_back() {
        let tabs = BIG.replace("        x = 1", "\tx = 1");
        let at = tabs.find("os.system").unwrap();
        assert_eq!(plan_nested(tabs.as_bytes(), &[at..at + 9], false), None);
        // A dedent to no enclosing indentation.
        let bad = BIG.replace("        return x", "      return x");
        assert_eq!(plan_nested(bad.as_bytes(), &[at..at + 9], false), None);
        // Most of the file kept: parse it whole.
        assert_eq!(kept("def f():\n    os.system('x')\n", &["os.system"]), None);
    }

    /// The kept text of a file whose wanted rules allow cutting displays, checked: the
    /// element of the display holding each occurrence (or the statement, outside a
    /// display) is the same node as in the whole file, in a display of the same kind.
    fn cut(src: &str, words: &[&str]) -> Option<String> {
        checked(src, words, true, |mut n| {
            while let Some(p) = n.parent() {
                if matches!(
                    p.kind(),
                    "list" | "tuple" | "dictionary" | "set" | "block" | "module"
                ) {
                    return (n.start_byte(), n.end_byte(), n.to_sexp(), p.kind());
                }
                n = p;
            }
            (n.start_byte(), n.end_byte(), n.to_sexp(), "")
        })
    }

    #[test]
    fn long_displays_keep_their_first_element_and_those_holding_an_occurrence() {
        let mut dict = String::from("import os\n\nTABLE: dict[str, str] = {\n");
        for i in 0..400 {
            dict += &match i {
                250 => "    'k250': 'curl x | sh',\n".to_string(),
                _ => format!("    'k{i}': 'v{i}',\n"),
            };
        }
        dict += "}  # generated\n\nprint(TABLE)\n";
        assert_eq!(
            cut(&dict, &["curl"]).unwrap(),
            "TABLE: dict[str, str] = {\n    'k0': 'v0',\n    'k250': 'curl x | sh',}  # generated\n\n"
        );
        // A tuple stays a tuple (the first element's comma is kept), in a function.
        let mut tuple = String::from("def seg():\n    return (\n");
        for i in 0..400 {
            tuple += &match i {
                7 => "        (0x7, eval(s)),\n".to_string(),
                398 => "        (0x18E, 'os.system'),\n".to_string(),
                _ => format!("        ({i:#x}, 'V'),\n"),
            };
        }
        tuple += "        (0x190, 'V')\n    )\n";
        assert_eq!(
            cut(&tuple, &["eval(s)", "os.system"]).unwrap(),
            "def seg():\n    return (\n        (0x0, 'V'),\n        (0x7, eval(s)),\n        (0x18E, 'os.system'),)\n"
        );
        // Short lines are kept whole.
        let short = format!("X = [1, 2, eval(s)]\n{}", "y = 1\n".repeat(200));
        assert_eq!(cut(&short, &["eval"]).unwrap(), "X = [1, 2, eval(s)]\n");
    }

    #[test]
    fn displays_of_other_shapes_are_not_cut() {
        use super::display_elements;
        for src in [
            "X = [f(x) for x in y]\n",
            "X = {k: v for k, v in y}\n",
            "X = [lambda a, b: a, 1]\n",
            "X = [1, 2] + Y\n",
            "X = [1, 2].copy()\n",
            "X = Y = [1, 2]\n",
            "X += [1, 2]\n",
            "X == [1, 2]\n",
            "X = [1, 2]; Y = 1\n",
            "X = dict(a=1, b=2)\n",
            "f(a=[1, 2])\n",
            "yield [1, 2]\n",
            "X = \\\n  [1, 2]\n",
            "X = [1, 'unterminated]\n",
            "X = [1, 2)\n",
        ] {
            assert_eq!(
                display_elements(src.as_bytes(), 0, src.len()),
                None,
                "{src}"
            );
        }
        for (src, n) in [
            ("X = [1, 2]  # ok\n", 2),
            ("return (1,\n 2,)\n", 3),
            ("X: Dict[str, int] = {'a': 1, 'b': 2}\n", 2),
            ("X[0] = {1, 2}\n", 2),
            ("x = [(a, b), {c: d}, 'e,f', # g, h\n 1]\n", 4),
            (
                "x = [f(lambda a, b: a), [y for y in z], rb'a,b', f'{a, b}']\n",
                4,
            ),
        ] {
            let got = display_elements(src.as_bytes(), 0, src.len());
            assert_eq!(got.map(|e| e.len()), Some(n), "{src}");
        }
    }
}
