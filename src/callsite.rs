//! The call site in the user's source, shared by discovery, policy, diff-base,
//! the lock file and the report: the call's span and text, its whitespace-free
//! form, its identity across edits ([`CallKey`]), its inline suppressions, and
//! 1-based line/column positions whose column counts Unicode code points (the
//! unit the SARIF output declares, `columnKind: unicodeCodePoints`).

use std::sync::LazyLock;

use regex::Regex;

use crate::model::LoadSite;
use crate::python::pylex::string_end;

/// Identity of a call independent of its line number (diff-base, lock file).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey {
    pub path: String,
    /// Whitespace-free call text.
    pub text: String,
    pub repo_id: Option<String>,
    pub revision: Option<String>,
    pub gate: String,
}

impl CallKey {
    /// The key of `site`, whose file content is `source` (if readable).
    pub fn of(site: &LoadSite, source: Option<&str>) -> CallKey {
        let text = source
            .and_then(|s| call_text(s, site))
            .or_else(|| (!site.source_line.is_empty()).then(|| site.source_line.clone()))
            .map(|t| normalize(&t))
            .unwrap_or_default();
        CallKey {
            path: site.path.clone(),
            text,
            repo_id: site.repo_id.clone(),
            revision: site.revision.clone(),
            gate: site.gate.clone(),
        }
    }
}

/// Byte range of a call expression in a file, from its first character to just
/// after its closing parenthesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSpan {
    pub start: usize,
    pub open: usize,
    pub end: usize,
}

/// Byte offset of a 1-based (line, column) position; the column counts characters.
pub fn offset_of(text: &str, line: u32, column: u32) -> Option<usize> {
    let mut off = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line as usize {
            let col = column.max(1) as usize - 1;
            let within = l.char_indices().nth(col).map(|(b, _)| b)?;
            return Some(off + within);
        }
        off += l.len();
    }
    None
}

/// 1-based (line, column) of a byte offset; the column counts characters.
pub fn position_of(text: &str, offset: usize) -> (u32, u32) {
    line_col(text.as_bytes(), offset)
}

/// 1-based (line, column) of a byte offset in source bytes (user code or fetched
/// files); the column counts code points: the bytes that start a UTF-8 sequence
/// (any byte that is not a continuation byte, so invalid UTF-8 counts byte by byte).
pub(crate) fn line_col(src: &[u8], offset: usize) -> (u32, u32) {
    let before = &src[..offset.min(src.len())];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let col = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// [`line_col`] of many offsets of one source, in one pass when they come in order
/// (a backward step finds its line in an index of line starts, built then): counting
/// from the start for each of them is quadratic in a file with many hits, or many
/// parsed ranges, and one such file is enough to stall a scan.
pub(crate) struct Positions<'a> {
    src: &'a [u8],
    /// The last offset asked for: its 0-based line, the start of that line, and its
    /// 0-based column in code points.
    at: usize,
    line: usize,
    line_start: usize,
    column: usize,
    /// The offset after every `\n`, and 0.
    starts: Option<Vec<usize>>,
}

impl<'a> Positions<'a> {
    pub(crate) fn new(src: &'a [u8]) -> Self {
        Positions {
            src,
            at: 0,
            line: 0,
            line_start: 0,
            column: 0,
            starts: None,
        }
    }

    /// 1-based (line, column) of `offset`, as [`line_col`] gives it.
    pub(crate) fn at(&mut self, offset: usize) -> (u32, u32) {
        let src = self.src;
        let offset = offset.min(src.len());
        if offset < self.at {
            let starts = self.starts.get_or_insert_with(|| {
                std::iter::once(0)
                    .chain(memchr::memchr_iter(b'\n', src).map(|i| i + 1))
                    .collect()
            });
            // starts[0] = 0 <= offset, so the line is at least 0.
            self.line = starts.partition_point(|&s| s <= offset).saturating_sub(1);
            self.line_start = starts.get(self.line).copied().unwrap_or(0);
            self.at = self.line_start;
            self.column = 0;
        }
        let chars = |b: &[u8]| b.iter().filter(|&&c| c & 0xC0 != 0x80).count();
        let gap = &src[self.at..offset];
        match memchr::memrchr(b'\n', gap) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', gap).count();
                self.line_start = self.at + last + 1;
                self.column = chars(&src[self.line_start..offset]);
            }
            None => self.column += chars(gap),
        }
        self.at = offset;
        (
            u32::try_from(self.line + 1).unwrap_or(u32::MAX),
            u32::try_from(self.column + 1).unwrap_or(u32::MAX),
        )
    }

    /// Where the line of the last offset asked for starts.
    pub(crate) fn line_start(&self) -> usize {
        self.line_start
    }
}

/// Find the call starting at (line, column): the first `(` after it and its match,
/// skipping strings ([`string_end`]) and comments; `None` when not found.
pub fn call_span(text: &str, line: u32, column: u32) -> Option<CallSpan> {
    let start = offset_of(text, line, column)?;
    let bytes = text.as_bytes();
    let mut i = start;
    // The callee: names, dots, whitespace inside it.
    while i < bytes.len() && bytes[i] != b'(' {
        let c = bytes[i];
        if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c.is_ascii_whitespace())
            && c < 0x80
        {
            return None;
        }
        i += 1;
    }
    if i >= bytes.len() {
        return None;
    }
    let open = i;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(CallSpan {
                        start,
                        open,
                        end: i + 1,
                    });
                }
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                // A string the lexer cannot place (unterminated, 3.12-only
                // f-string syntax): no span rather than a guessed one.
                i = string_end(bytes, i)?;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The call's text: its exact span when it can be found, else its lines.
pub fn call_text(source: &str, site: &LoadSite) -> Option<String> {
    if site.cell.is_none()
        && let Some(s) = call_span(source, site.line, site.column)
    {
        return Some(source[s.start..s.end].to_string());
    }
    let first = site.line.max(1) as usize - 1;
    let last = site.end_line.max(site.line) as usize;
    let lines: Vec<&str> = source.lines().skip(first).take(last - first).collect();
    if lines.is_empty() {
        None
    } else {
        Some(lines.join("\n"))
    }
}

/// Whitespace-free form of a call, so reformatting does not change fingerprints
/// or diff-base comparisons.
pub fn normalize(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

static IGNORE_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a constant, valid pattern.
    #[allow(clippy::expect_used)]
    Regex::new(r"#\s*hubwarden:\s*ignore(?:\[([^\]]*)\])?").expect("valid regex")
});

/// The one meaning of `# hubwarden: ignore[...]`: the rule ids suppressed by
/// comments on lines `line..=end_line` (1-based), all of them together, or
/// `Some(vec![])` (every rule) when any of those lines has a bare
/// `# hubwarden: ignore`. `None`: no suppression comment.
pub fn suppressions(source: &str, line: u32, end_line: u32) -> Option<Vec<String>> {
    let first = line.max(1) as usize - 1;
    let last = end_line.max(line) as usize;
    let mut ids: Option<Vec<String>> = None;
    for l in source.lines().skip(first).take(last - first) {
        for cap in IGNORE_RE.captures_iter(l) {
            let acc = ids.get_or_insert_with(Vec::new);
            match cap.get(1) {
                None => return Some(Vec::new()),
                Some(list) => acc.extend(
                    list.as_str()
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                ),
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppression_comments() {
        let src = "x = f(  # hubwarden: ignore[a, b]\n  1)\ny = g()  # hubwarden: ignore\n";
        assert_eq!(suppressions(src, 1, 2), Some(vec!["a".into(), "b".into()]));
        assert_eq!(suppressions(src, 3, 3), Some(vec![]));
        assert_eq!(suppressions(src, 2, 2), None);
    }

    #[test]
    fn span_skips_strings_with_parens() {
        let src = "m = A.f(\")\", g(1),\n  k=2)  # )\n";
        let s = call_span(src, 1, 5).unwrap();
        assert_eq!(&src[s.start..s.end], "A.f(\")\", g(1),\n  k=2)");
        assert_eq!(position_of(src, s.end), (2, 7));
    }

    #[test]
    fn one_suppression_meaning_over_the_call_lines() {
        // Every id on every line of the call counts; a bare ignore means all.
        let src = "f(  # hubwarden: ignore[a]\n  x,  # hubwarden: ignore[b]\n)\n";
        assert_eq!(suppressions(src, 1, 3), Some(vec!["a".into(), "b".into()]));
        let src = "f(  # hubwarden: ignore[a]\n  x)  # hubwarden: ignore\n";
        assert_eq!(suppressions(src, 1, 2), Some(vec![]));
    }

    #[test]
    fn columns_count_code_points() {
        let src = "é = A.f(1)\n";
        // `A` is the 5th code point (the 6th byte).
        assert_eq!(offset_of(src, 1, 5), Some(5));
        assert_eq!(position_of(src, 5), (1, 5));
        // Fetched bytes (scan findings) count the same way; a stray byte is one column.
        assert_eq!(line_col("x\n\u{1F600}é = eval(s)".as_bytes(), 11), (2, 6));
        assert_eq!(line_col(b"\xff\xfe eval(s)", 3), (1, 4));
        assert_eq!(line_col(b"a\nb", 99), (2, 2));
    }

    #[test]
    fn positions_are_line_col_in_any_order() {
        let src = b"x = 1\n\xf0\x9f\x98\x80\xc3\xa9 = eval(s)\n\n\tz\r\n\xff end";
        let mut pos = super::Positions::new(src);
        let mut offsets: Vec<usize> = (0..=src.len() + 2).collect();
        for o in &offsets {
            assert_eq!(pos.at(*o), line_col(src, *o), "{o}");
        }
        offsets.reverse();
        offsets.rotate_left(5);
        for o in &offsets {
            assert_eq!(pos.at(*o), line_col(src, *o), "{o}");
            assert_eq!(
                pos.line_start(),
                src[..(*o).min(src.len())]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
            );
        }
    }
}
