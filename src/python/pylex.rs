//! Lightweight lexing of Python source for the prefilters of discover and scan:
//! blank out string literals and comments (`code_only`), so that names quoted in
//! docstrings do not send a file to the parser, and find where top-level
//! statements start (`top_level_starts`), so that scan parses only the statements
//! a rule can match.
//!
//! Only a speed-up: whenever the source is not plainly lexable (an unterminated
//! string, a quote of the enclosing kind inside an f-string expression, ...)
//! the answer is `None` and the caller uses the whole file instead.

/// The source with the text of every string literal and comment replaced by
/// spaces (newlines kept); f-string expressions stay, they are code.
pub fn code_only(src: &[u8]) -> Option<Vec<u8>> {
    let mut out = src.to_vec();
    let mut i = 0;
    while i < src.len() {
        match src[i] {
            b'#' => {
                while i < src.len() && src[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'\'' | b'"' => i = string(src, &mut out, i)?,
            _ => i += 1,
        }
    }
    Some(out)
}

/// Byte offsets where the top-level statements of the source start, the first
/// being 0; a decorated definition starts at its first decorator, and `else`,
/// `elif`, `except` and `finally` clauses belong to the statement before them.
/// Every offset starts a line at depth 0 outside any string, bracket or line
/// continuation. `None` when the source is not plainly lexable.
pub fn top_level_starts(src: &[u8]) -> Option<Vec<usize>> {
    // `string` blanks what it skips; the blanks are not needed here.
    let mut scratch = vec![0u8; src.len()];
    let mut starts = vec![0];
    let mut depth = 0usize;
    let mut line_start = true;
    let mut continued = false;
    let mut after_decorator = false;
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if line_start {
            line_start = false;
            if depth == 0
                && !continued
                && !c.is_ascii_whitespace()
                && c != b'#'
                && !is_clause(&src[i..])
            {
                if i > 0 && !after_decorator {
                    starts.push(i);
                }
                after_decorator = c == b'@';
            }
            continued = false;
        }
        match c {
            b'#' => {
                while i < src.len() && src[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' => {
                i = string(src, &mut scratch, i)?;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            // More closing than opening brackets: not a program the parser agrees on.
            b')' | b']' | b'}' => depth = depth.checked_sub(1)?,
            b'\\' => {
                let next = if src.get(i + 1) == Some(&b'\r') {
                    i + 2
                } else {
                    i + 1
                };
                if src.get(next) == Some(&b'\n') {
                    continued = true;
                    line_start = true;
                    i = next + 1;
                    continue;
                }
            }
            b'\n' => line_start = true,
            _ => {}
        }
        i += 1;
    }
    // Unclosed brackets at the end: same.
    (depth == 0).then_some(starts)
}

/// Does the line start with a clause that continues the statement before it?
fn is_clause(line: &[u8]) -> bool {
    ["else", "elif", "except", "finally"]
        .iter()
        .any(|k| line.starts_with(k.as_bytes()) && line.get(k.len()).is_none_or(|&c| !is_ident(c)))
}

/// A byte that can be part of a Python identifier (any non-ASCII byte may be).
pub(crate) fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// Is the literal starting with the quote at `q` an f-string (or t-string)?
/// `None` when letters before the quote are not a string prefix.
fn prefix_is_f(src: &[u8], q: usize) -> Option<bool> {
    let mut k = q;
    while k > 0 && is_ident(src[k - 1]) {
        k -= 1;
    }
    let prefix = &src[k..q];
    if prefix.len() > 2 || !prefix.iter().all(|c| b"rRbBuUfFtT".contains(c)) {
        return None;
    }
    Some(prefix.iter().any(|c| b"fFtT".contains(c)))
}

fn blank(out: &mut [u8], j: usize) {
    if out[j] != b'\n' {
        out[j] = b' ';
    }
}

/// Lex the literal whose opening quote is at `start`; returns the index after it.
fn string(src: &[u8], out: &mut [u8], start: usize) -> Option<usize> {
    let f = prefix_is_f(src, start)?;
    let q = src[start];
    let triple = src.get(start + 1) == Some(&q) && src.get(start + 2) == Some(&q);
    let mut j = start + if triple { 3 } else { 1 };
    loop {
        let c = *src.get(j)?;
        if c == b'\\' {
            blank(out, j);
            if j + 1 < src.len() {
                blank(out, j + 1);
            }
            j += 2;
        } else if c == q && (!triple || src.get(j..j + 3) == Some(&[q, q, q][..])) {
            return Some(j + if triple { 3 } else { 1 });
        } else if c == b'\n' && !triple {
            return None;
        } else if f && c == b'{' {
            if src.get(j + 1) == Some(&b'{') {
                blank(out, j);
                blank(out, j + 1);
                j += 2;
            } else {
                j = expression(src, out, j + 1, q, triple)?;
            }
        } else {
            blank(out, j);
            j += 1;
        }
    }
}

/// Skip an f-string replacement field starting after its `{`; returns the index
/// after its closing `}`. Left unblanked: it is code.
fn expression(src: &[u8], out: &mut [u8], mut j: usize, q: u8, triple: bool) -> Option<usize> {
    let mut depth = 1u32;
    loop {
        let c = *src.get(j)?;
        match c {
            b'{' => {
                depth += 1;
                j += 1;
            }
            b'}' => {
                depth -= 1;
                j += 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            // The enclosing quote (allowed only since Python 3.12), comments and
            // backslashes: too unusual to lex here, let the caller fall back.
            b'#' | b'\\' => return None,
            b'\n' if !triple => return None,
            b'\'' | b'"' if c == q => return None,
            b'\'' | b'"' => j = string(src, out, j)?,
            _ => j += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{code_only, top_level_starts};

    fn masked(s: &str) -> Option<String> {
        code_only(s.as_bytes()).map(|m| String::from_utf8(m).unwrap())
    }

    #[test]
    fn docstrings_and_comments_are_blanked_code_is_kept() {
        let src = "\"\"\"\nfrom transformers import pipeline\n\"\"\"\nimport os  # pipeline\nx = f'{os.sep!r:>{w}}' + rb\"a\\\"b\"\n";
        let m = masked(src).unwrap();
        assert!(!m.contains("transformers"));
        assert!(!m.contains("pipeline"));
        assert!(m.contains("import os"));
        assert!(m.contains("os.sep"));
        assert_eq!(m.len(), src.len());
        assert_eq!(m.matches('\n').count(), src.matches('\n').count());
    }

    #[test]
    fn unusual_source_falls_back() {
        assert_eq!(masked("x = 'open\nimport transformers\n"), None);
        assert_eq!(masked("x = \"\"\"never closed\n"), None);
        assert_eq!(masked("x = f\"{d[\"k\"]}\"\n"), None);
        assert_eq!(masked("x = abc'q'\n"), None);
    }

    #[test]
    fn nested_quotes_in_f_strings() {
        let m = masked("x = f\"{d['from_pretrained']}\"\ny = 1\n").unwrap();
        assert!(!m.contains("from_pretrained"));
        assert!(m.contains("y = 1"));
    }

    #[test]
    fn top_level_statements() {
        let src = "import os\n\n@deco(\n  1)\n@other\ndef f(x):\n    return (1,\n2)\n# comment\nx = \"\"\"\nnot = code\n\"\"\"\ny = 1 + \\\n2\nif y:\n    pass\nelse:\n    pass\ntry:\n    pass\nexcept:\n    pass\nclass C:\n    a = 1\n";
        let starts = top_level_starts(src.as_bytes()).unwrap();
        let lines: Vec<&str> = starts
            .iter()
            .map(|&s| src[s..].lines().next().unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "import os",
                "@deco(",
                "x = \"\"\"",
                "y = 1 + \\",
                "if y:",
                "try:",
                "class C:"
            ]
        );
    }

    #[test]
    fn unbalanced_or_unlexable_source_has_no_statement_starts() {
        assert_eq!(top_level_starts(b"x = (1,\n"), None);
        assert_eq!(top_level_starts(b"x = 1)\ny = 2\n"), None);
        assert_eq!(top_level_starts(b"x = 'open\ny = 2\n"), None);
    }
}
