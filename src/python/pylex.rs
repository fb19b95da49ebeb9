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
    // Code is copied as is: jump from one comment or quote to the next.
    while let Some(k) = memchr::memchr3(b'#', b'\'', b'"', &src[i..]) {
        i += k;
        if src[i] == b'#' {
            let end = memchr::memchr(b'\n', &src[i..]).map_or(src.len(), |e| i + e);
            out[i..end].fill(b' ');
            i = end;
        } else {
            i = string(src, &mut out, i)?;
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
                i = string_end(src, i)?;
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

/// The string prefix before the quote at `q`: (f-string or t-string, raw).
/// `None` when letters before the quote are not a string prefix.
fn prefix(src: &[u8], q: usize) -> Option<(bool, bool)> {
    let mut k = q;
    while k > 0 && is_ident(src[k - 1]) {
        k -= 1;
    }
    let prefix = &src[k..q];
    if prefix.len() > 2 || !prefix.iter().all(|c| b"rRbBuUfFtT".contains(c)) {
        return None;
    }
    Some((
        prefix.iter().any(|c| b"fFtT".contains(c)),
        prefix.iter().any(|c| b"rR".contains(c)),
    ))
}

/// Blank byte `j` of `out` (kept: newlines, so lines stay where they were; a
/// no-op on an empty `out`, which is how [`string_end`] lexes without blanking).
fn blank(out: &mut [u8], j: usize) {
    if let Some(b) = out.get_mut(j)
        && *b != b'\n'
    {
        *b = b' ';
    }
}

/// Index just after the string literal whose opening quote is at `quote` (its
/// prefix, if any, stands just before it): the one Python string skipper of the
/// crate (the prefilters here, call spans in [`crate::callsite`]). It follows
/// string prefixes (`r`, `b`, `u`, `f`, `t` and pairs), triple quotes, backslash
/// escapes (in raw strings too: `r"\""` does not end at the escaped quote) and
/// f-/t-string replacement fields, whose nested strings are lexed in turn.
///
/// `None` when the literal is not plainly lexable, so that no caller guesses:
/// unterminated (a one-quote string reaching its line end, or the end of the
/// source), letters before the quote that are no string prefix, or a replacement
/// field holding its enclosing quote, a comment or a backslash (valid only since
/// Python 3.12, which older versions read differently).
pub(crate) fn string_end(src: &[u8], quote: usize) -> Option<usize> {
    string(src, &mut [], quote)
}

/// Lex the literal whose opening quote is at `start`, blanking its text in `out`
/// (see [`string_end`]); returns the index after it.
fn string(src: &[u8], out: &mut [u8], start: usize) -> Option<usize> {
    let (f, raw) = prefix(src, start)?;
    let q = src[start];
    let triple = src.get(start + 1) == Some(&q) && src.get(start + 2) == Some(&q);
    let mut j = start + if triple { 3 } else { 1 };
    loop {
        if !f {
            // Plain text up to the next byte that matters (a docstring is
            // mostly text): the quote, a backslash, a one-quote string's newline.
            let rest = src.get(j..)?;
            let k = if triple {
                memchr::memchr2(q, b'\\', rest)
            } else {
                memchr::memchr3(q, b'\\', b'\n', rest)
            }?;
            if let Some(text) = out.get_mut(j..j + k) {
                text.iter_mut()
                    .filter(|b| **b != b'\n')
                    .for_each(|b| *b = b' ');
            }
            j += k;
        }
        let c = *src.get(j)?;
        if c == b'\\' {
            blank(out, j);
            match src.get(j + 1) {
                // `f"\{x}"` runs `x`: CPython reads an invalid escape, then a field.
                Some(b'{') if f => j += 1,
                // `\N{BULLET}` (not raw): a named escape, braces included.
                Some(b'N') if f && !raw && src.get(j + 2) == Some(&b'{') => {
                    let close = src[j + 3..]
                        .iter()
                        .position(|&b| !(b.is_ascii_alphanumeric() || b == b' ' || b == b'-'))
                        .map(|k| j + 3 + k)
                        .filter(|&k| src[k] == b'}')?;
                    (j..=close).for_each(|k| blank(out, k));
                    j = close + 1;
                }
                Some(_) => {
                    blank(out, j + 1);
                    j += 2;
                }
                None => return None,
            }
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
/// after its closing `}`. Its expression is left unblanked: it is code.
fn expression(src: &[u8], out: &mut [u8], mut j: usize, q: u8, triple: bool) -> Option<usize> {
    // Brackets open inside the expression: `:` and `!` there are code.
    let mut depth = 0u32;
    loop {
        let c = *src.get(j)?;
        match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                j += 1;
            }
            b'}' if depth == 0 => return Some(j + 1),
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                j += 1;
            }
            // The conversion (`!r`) or the format spec ends the expression.
            b'!' if depth == 0 && src.get(j + 1) != Some(&b'=') => {
                return format_spec(src, out, j, q, triple);
            }
            b':' if depth == 0 => return format_spec(src, out, j, q, triple),
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

/// Skip a field's conversion and format spec, from its `!` or `:` to after the
/// field's closing `}`: text (quotes there are characters, `f"{x:'>9}"`), but
/// for the fields nested in it, which are code.
fn format_spec(src: &[u8], out: &mut [u8], mut j: usize, q: u8, triple: bool) -> Option<usize> {
    loop {
        let c = *src.get(j)?;
        match c {
            b'}' => return Some(j + 1),
            b'{' => j = expression(src, out, j + 1, q, triple)?,
            b'\n' if !triple => return None,
            b'\\' => return None,
            _ if c == q && (!triple || src.get(j..j + 3) == Some(&[q, q, q][..])) => return None,
            _ => {
                blank(out, j);
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{code_only, string_end, top_level_starts};

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

    #[test]
    fn escapes_in_f_strings_follow_cpython() {
        // `\{` is an invalid escape and then a field: the field's code runs.
        let m = masked("x = f\"\\{eval(y)}\" + rf'\\{exec(z)}'\n").unwrap();
        assert!(m.contains("eval(y)") && m.contains("exec(z)"), "{m}");
        // `\N{...}` is a named escape (not raw): text; in a raw f-string a field.
        let m = masked("x = f\"\\N{BULLET}{y}\" + rf\"\\N{z}\"\n").unwrap();
        assert!(
            !m.contains("BULLET") && m.contains("{y}") && m.contains("{z}"),
            "{m}"
        );
        // A format spec's quote is a character, not a string.
        let src = "x = f\"{a:'>9}\" + eval('q')\n";
        assert_eq!(string_end(src.as_bytes(), 5), Some(14));
        assert!(masked(src).unwrap().contains("eval("));
    }

    /// What `code_only` must do with a byte of a generated literal.
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Want {
        /// Code (a replacement field's expression): left as is.
        Keep,
        /// String text: blanked.
        Blank,
        /// Prefix, quotes, field braces: either.
        Any,
    }

    /// Appends a random Python string literal (3.11 grammar) with quote `q` to
    /// `out`, and what `code_only` must do with each of its bytes to `want`.
    fn literal(
        rng: &mut fastrand::Rng,
        q: u8,
        nested: u32,
        out: &mut Vec<u8>,
        want: &mut Vec<Want>,
    ) {
        let put = |out: &mut Vec<u8>, want: &mut Vec<Want>, bytes: &[u8], w: Want| {
            out.extend_from_slice(bytes);
            want.extend(std::iter::repeat_n(w, bytes.len()));
        };
        let prefixes: &[&str] = &[
            "", "", "r", "b", "u", "f", "f", "F", "rb", "Rb", "fr", "rf", "t",
        ];
        let prefix = prefixes[rng.usize(..prefixes.len())];
        let f = prefix.contains(['f', 'F', 't']);
        let raw = prefix.contains(['r', 'R']);
        let other = if q == b'"' { b'\'' } else { b'"' };
        // Nested literals stay one-quoted: a field may not hold its enclosing quote.
        let triple = nested == 0 && rng.bool();
        let quotes: Vec<u8> = vec![q; if triple { 3 } else { 1 }];
        put(out, want, prefix.as_bytes(), Want::Any);
        put(out, want, &quotes, Want::Any);
        for _ in 0..rng.usize(0..8) {
            match rng.u8(0..10) {
                0..=2 => {
                    let text = b"ab #()[]:!=;.";
                    put(out, want, &[text[rng.usize(..text.len())]], Want::Blank);
                }
                3 if nested == 0 => put(out, want, &[other], Want::Blank),
                3 | 4 if triple => {
                    let piece: &[u8] = if rng.bool() { b"\n" } else { &[q, b'x'] };
                    put(out, want, piece, Want::Blank);
                }
                4 if nested == 0 => {
                    let esc = [q, other, b'\\', b'n', b't'];
                    let piece = [b'\\', esc[rng.usize(..esc.len())]];
                    put(out, want, &piece, Want::Blank);
                }
                5 if f && !raw && nested == 0 => put(out, want, b"\\N{BULLET}", Want::Blank),
                5 | 6 if f => {
                    let piece: &[u8] = if rng.bool() { b"{{" } else { b"}}" };
                    put(out, want, piece, Want::Blank);
                }
                7..=9 if f && nested < 2 => {
                    // An invalid `\{` escape still opens the field.
                    if nested == 0 && rng.u8(0..4) == 0 {
                        put(out, want, b"\\", Want::Blank);
                    }
                    put(out, want, b"{", Want::Any);
                    let exprs: &[&[u8]] = &[b"a", b"d[0]", b"(x, y)", b"u != v", b"g(h)", b" w "];
                    put(out, want, exprs[rng.usize(..exprs.len())], Want::Keep);
                    if nested == 0 && rng.bool() {
                        put(out, want, b" + ", Want::Keep);
                        literal(rng, other, nested + 1, out, want);
                    }
                    if rng.u8(0..3) == 0 {
                        put(out, want, b"!r", Want::Blank);
                    }
                    if rng.bool() {
                        put(out, want, b":", Want::Blank);
                        if nested == 0 {
                            put(out, want, &[other], Want::Blank);
                        }
                        put(out, want, b">9", Want::Blank);
                        if rng.bool() {
                            put(out, want, b"{", Want::Any);
                            put(out, want, b"n", Want::Keep);
                            put(out, want, b"}", Want::Any);
                        }
                    }
                    put(out, want, b"}", Want::Any);
                }
                _ => put(out, want, b"c", Want::Blank),
            }
        }
        put(out, want, &quotes, Want::Any);
    }

    /// Seeded property test (`HUBWARDEN_FUZZ_CASES`, `HUBWARDEN_FUZZ_SEED` to run
    /// more): for random literals, `string_end` stops exactly after the literal,
    /// `code_only` blanks its text and keeps its fields' code, statement starts
    /// and call spans step over it, and without its closing quote nothing lexes.
    #[test]
    fn generated_literals_end_where_python_ends_them() {
        let env = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let cases = env("HUBWARDEN_FUZZ_CASES", 3000);
        let seed = env("HUBWARDEN_FUZZ_SEED", 13);
        for case in 0..cases {
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ case);
            let (mut lit, mut want) = (Vec::new(), Vec::new());
            let q = if rng.bool() { b'"' } else { b'\'' };
            literal(&mut rng, q, 0, &mut lit, &mut want);
            let shown = String::from_utf8_lossy(&lit).into_owned();
            let quote = lit.iter().position(|&c| c == q).unwrap();

            let src = [b"v = ".as_slice(), &lit, b" + z(\")\")\nw = 1\n"].concat();
            let end = 4 + lit.len();
            assert_eq!(
                string_end(&src, 4 + quote),
                Some(end),
                "case {case}: {shown}"
            );
            let m = code_only(&src).unwrap_or_else(|| panic!("case {case}: {shown}"));
            assert_eq!(m.len(), src.len());
            for (k, w) in want.iter().enumerate() {
                let (got, was) = (m[4 + k], src[4 + k]);
                match w {
                    Want::Keep => assert_eq!(got, was, "case {case} byte {k}: {shown}"),
                    Want::Blank if was == b'\n' => assert_eq!(got, b'\n'),
                    Want::Blank => assert_eq!(got, b' ', "case {case} byte {k}: {shown}"),
                    Want::Any => {}
                }
            }
            assert_eq!(&m[end..end + 7], b" + z(\" ", "case {case}: {shown}");
            let w_line = src.len() - 6;
            assert_eq!(
                top_level_starts(&src),
                Some(vec![0, w_line]),
                "case {case}: {shown}"
            );

            // A call span steps over the literal, its parentheses and brackets.
            let call = [b"f(".as_slice(), &lit, b", \")\")  # )\n"].concat();
            let text = String::from_utf8(call.clone()).unwrap();
            let span = crate::callsite::call_span(&text, 1, 1)
                .unwrap_or_else(|| panic!("case {case}: {shown}"));
            assert_eq!(span.end, lit.len() + 8, "case {case}: {shown}");

            // Without its closing quote the literal never ends.
            let cut = [b"v = ".as_slice(), &lit[..lit.len() - 1], b" + z\n"].concat();
            assert_eq!(string_end(&cut, 4 + quote), None, "case {case}: {shown}");
            assert_eq!(code_only(&cut), None, "case {case}: {shown}");
        }
    }
}
