//! A Python tokenizer for the whole-closure analyses (outline, capabilities, reachability):
//! linear in the bytes, never fails, and follows CPython's lexical rules where an attacker
//! could use the difference (f-string expressions, line continuations, `\r` and form feeds,
//! tabs in indentation), so that what runs is what is tokenized.
//!
//! Parsing every fetched file with tree-sitter costs ten times the rest of a scan (a few
//! generated files are pathological), so the analyses that need every file work on tokens
//! and tree-sitter only ever sees the statements a query rule can match.

use std::borrow::Cow;
use std::ops::Range;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Name,
    Number,
    /// A whole string literal, prefix and quotes included (an f-string's expressions
    /// follow it as tokens of their own, with `nest > 0`).
    Str,
    Op,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
    /// 0 for code; n inside the replacement fields of n nested f-strings.
    pub nest: u8,
}

impl Token {
    pub(crate) fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The bracket closing the one at token `open`, counting only brackets of the same
/// f-string nesting (a field's brackets are its own; the code around it is another level).
pub(crate) fn closing(toks: &[Token], src: &[u8], open: usize) -> Option<usize> {
    let nest = toks.get(open)?.nest;
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if t.kind != Kind::Op || t.nest != nest {
            continue;
        }
        match &src[t.range()] {
            b"(" | b"[" | b"{" => depth += 1,
            b")" | b"]" | b"}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// One logical line: the tokens of one simple or compound-statement header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// Token indexes.
    pub toks: Range<usize>,
    /// Indentation width of its first physical line (tabs to the next multiple of 8).
    pub indent: u32,
}

/// The tokens of a file and its logical lines.
#[derive(Debug, Default)]
pub(crate) struct Lexed {
    pub toks: Vec<Token>,
    pub lines: Vec<Line>,
}

/// Tokenize Python source.
pub(crate) fn lex(src: &[u8]) -> Lexed {
    let mut lx = Lexer {
        src,
        i: 0,
        // Python runs about one token per six bytes: reserving that spares most of the
        // vector's regrowth copies.
        out: Lexed {
            toks: Vec::with_capacity(src.len() / 6 + 16),
            // And about one logical line per forty bytes.
            lines: Vec::with_capacity(src.len() / 40 + 4),
        },
        line_first: 0,
        line_indent: 0,
    };
    lx.run();
    lx.out
}

struct Lexer<'s> {
    src: &'s [u8],
    i: usize,
    out: Lexed,
    /// First token of the logical line being built.
    line_first: usize,
    line_indent: u32,
}

/// Identifier bytes (ASCII letters, digits, `_`, and every byte of a non-ASCII
/// character), as a table: the identifier loop runs over most of a file's bytes.
const IDENT: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
        c += 1;
    }
    t
};

fn is_ident(c: u8) -> bool {
    IDENT[usize::from(c)]
}

/// The end of the identifier bytes from `from` on.
fn ident_end(src: &[u8], from: usize) -> usize {
    src.get(from..)
        .and_then(|rest| rest.iter().position(|&c| !is_ident(c)))
        .map_or(src.len().max(from), |k| from + k)
}

/// The end of the comment or line from `from` on (its `\n` or `\r`, or the end).
fn line_end(src: &[u8], from: usize) -> usize {
    src.get(from..)
        .and_then(|rest| memchr::memchr2(b'\n', b'\r', rest))
        .map_or(src.len().max(from), |k| from + k)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// What a byte starts, where code is read: the main loop dispatches on this table
/// instead of testing the byte against each arm in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// `\n`, `\r`.
    Newline,
    /// Space, tab, form feed.
    Blank,
    Hash,
    Backslash,
    Quote,
    /// [`is_ident_start`].
    Ident,
    Digit,
    /// Operators and anything else (`.` starts a number when a digit follows).
    Other,
}

const CLASS: [Class; 256] = {
    let mut t = [Class::Other; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'\n' | b'\r' => Class::Newline,
            b' ' | b'\t' | b'\x0c' => Class::Blank,
            b'#' => Class::Hash,
            b'\\' => Class::Backslash,
            b'\'' | b'"' => Class::Quote,
            b'0'..=b'9' => Class::Digit,
            _ if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => Class::Ident,
            _ => Class::Other,
        };
        c += 1;
    }
    t
};

/// Three-byte, then two-byte operators (longest match first): what `op_len` decides,
/// as tables for its test.
#[cfg(test)]
const OPS3: &[&[u8]] = &[b"**=", b"//=", b">>=", b"<<=", b"..."];
#[cfg(test)]
const OPS2: &[&[u8]] = &[
    b"==", b"!=", b"<=", b">=", b"->", b":=", b"+=", b"-=", b"*=", b"/=", b"%=", b"&=", b"|=",
    b"^=", b"@=", b"**", b"//", b"<<", b">>",
];

impl Lexer<'_> {
    fn push(&mut self, kind: Kind, start: usize, end: usize, nest: u8) {
        self.out.toks.push(Token {
            kind,
            start: start as u32,
            end: end as u32,
            nest,
        });
    }

    fn end_line(&mut self) {
        if self.out.toks.len() > self.line_first {
            self.out.lines.push(Line {
                toks: self.line_first..self.out.toks.len(),
                indent: self.line_indent,
            });
        }
        self.line_first = self.out.toks.len();
    }

    /// The main loop keeps its index in a local (written back around the calls that
    /// read `self.i`): as a field it was stored and reloaded around every token push.
    fn run(&mut self) {
        let src = self.src;
        let mut depth = 0usize;
        let mut at_line_start = true;
        let mut i = self.i;
        while i < src.len() {
            if at_line_start {
                at_line_start = false;
                // Indentation of a new physical line; it counts only if the line starts
                // a logical line (a blank or comment-only line does not).
                let mut col = 0u32;
                // Eight spaces at a time first: indentation is most of some files' bytes.
                while let Some(w) = src.get(i..i + 8)
                    && w == b"        "
                {
                    col += 8;
                    i += 8;
                }
                while let Some(&c) = src.get(i) {
                    match c {
                        b' ' => col += 1,
                        b'\t' => col = (col / 8 + 1) * 8,
                        // A form feed resets the column count.
                        b'\x0c' => col = 0,
                        _ => break,
                    }
                    i += 1;
                }
                if depth == 0 && self.out.toks.len() == self.line_first {
                    self.line_indent = col;
                }
                continue;
            }
            let c = src[i];
            match CLASS[usize::from(c)] {
                Class::Newline => {
                    i += if c == b'\r' && src.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    if depth == 0 {
                        self.end_line();
                    }
                    at_line_start = true;
                }
                // Blanks between tokens come in runs (alignment): skipped in one loop.
                Class::Blank => {
                    i += 1;
                    while src.get(i) == Some(&b' ') {
                        i += 1;
                    }
                }
                Class::Hash => i = line_end(src, i),
                Class::Backslash => {
                    // A line continuation: the next physical line continues this one.
                    let mut j = i + 1;
                    if src.get(j) == Some(&b'\r') {
                        j += 1;
                    }
                    if src.get(j) == Some(&b'\n') {
                        j += 1;
                    }
                    i = j.max(i + 1);
                }
                Class::Quote => {
                    self.string(i, i, 0);
                    i = self.i;
                }
                Class::Ident => {
                    let start = i;
                    i = ident_end(src, start);
                    // A string prefix directly followed by a quote.
                    if matches!(src.get(i), Some(b'\'' | b'"')) && is_prefix(&src[start..i]) {
                        self.string(start, i, 0);
                        i = self.i;
                    } else {
                        self.push(Kind::Name, start, i, 0);
                    }
                }
                Class::Digit | Class::Other
                    if c.is_ascii_digit()
                        || (c == b'.' && src.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
                {
                    let start = i;
                    self.i = i;
                    self.number();
                    i = self.i;
                    self.push(Kind::Number, start, i, 0);
                }
                // `Other` (a digit took the arm above).
                _ => {
                    let start = i;
                    let len = op_len(&src[i..]);
                    match c {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    i += len;
                    self.push(Kind::Op, start, i, 0);
                }
            }
        }
        self.i = i;
        self.end_line();
    }

    fn number(&mut self) {
        let src = self.src;
        while let Some(&c) = src.get(self.i) {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                // An exponent's sign belongs to the number (`1e-5`), unless hex (`0xe`).
                let exp = (c == b'e' || c == b'E')
                    && !src[..self.i]
                        .iter()
                        .rev()
                        .take_while(|b| b.is_ascii_alphanumeric())
                        .any(|b| *b == b'x' || *b == b'X');
                self.i += 1;
                if exp && matches!(src.get(self.i), Some(b'+' | b'-')) {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Consume the string literal whose prefix starts at `start` and quote at `q`;
    /// f-string replacement fields become tokens with `nest + 1`.
    fn string(&mut self, start: usize, q: usize, nest: u8) {
        let src = self.src;
        let prefix = &src[start..q];
        let fmt = prefix
            .iter()
            .any(|c| matches!(c, b'f' | b'F' | b't' | b'T'));
        let raw = prefix.iter().any(|c| matches!(c, b'r' | b'R'));
        let quote = src[q];
        let triple = src.get(q + 1) == Some(&quote) && src.get(q + 2) == Some(&quote);
        let qlen = if triple { 3 } else { 1 };
        // Tokens of replacement fields are pushed after the string's own token.
        let str_index = self.out.toks.len();
        self.push(Kind::Str, start, start, nest);
        let mut i = q + qlen;
        // In a triple-quoted string that is not an f-string only a quote or a backslash
        // can end it or escape: the bytes between (docstrings) are skipped at once.
        let plain = triple && !fmt;
        while let Some(&c) = src.get(i) {
            if plain && c != quote && c != b'\\' {
                match memchr::memchr2(quote, b'\\', &src[i..]) {
                    Some(k) => i += k,
                    None => i = src.len(),
                }
                continue;
            }
            if c == b'\\' {
                // Escapes (raw strings too: `r"\""` does not end at the escaped quote),
                // with pylex's meaning (`python::pylex::string_end`): in an f-string
                // `\{x}` is an invalid escape and then a field that runs, and
                // `\N{BULLET}` (not raw) is a named escape, braces included.
                if fmt && src.get(i + 1) == Some(&b'{') {
                    i += 1;
                } else if fmt && !raw && src[i + 1..].starts_with(b"N{") {
                    i += src[i + 3..]
                        .iter()
                        .position(|&b| b == b'}' || b == quote || b == b'\n')
                        .map_or(src.len() - i, |k| {
                            3 + k + usize::from(src[i + 3 + k] == b'}')
                        });
                } else {
                    i += 2;
                }
                continue;
            }
            if c == quote
                && (!triple || (src.get(i + 1) == Some(&quote) && src.get(i + 2) == Some(&quote)))
            {
                i += qlen;
                break;
            }
            if !triple && (c == b'\n' || c == b'\r') {
                // Unterminated: CPython rejects the file; stop at the line end.
                break;
            }
            if fmt && c == b'{' {
                if src.get(i + 1) == Some(&b'{') {
                    i += 2;
                    continue;
                }
                let saved_i = self.i;
                self.i = i + 1;
                self.replacement_field(nest.saturating_add(1), quote, triple);
                i = self.i;
                self.i = saved_i;
                continue;
            }
            i += 1;
        }
        let end = i.min(src.len());
        self.out.toks[str_index].end = end as u32;
        self.i = end;
    }

    /// Tokens of an f-string replacement field, from after its `{` to after its `}`.
    fn replacement_field(&mut self, nest: u8, quote: u8, triple: bool) {
        let src = self.src;
        let mut depth = 0usize;
        while self.i < src.len() {
            let c = src[self.i];
            match c {
                b'}' if depth == 0 => {
                    self.i += 1;
                    return;
                }
                // The conversion (`!r`) or the format spec ends the expression.
                b'!' if depth == 0 && src.get(self.i + 1) != Some(&b'=') => {
                    self.i += 1;
                    self.format_spec(nest, quote, triple, false);
                    return;
                }
                b':' if depth == 0 && src.get(self.i + 1) != Some(&b'=') => {
                    self.i += 1;
                    self.format_spec(nest, quote, triple, true);
                    return;
                }
                b'\n' | b'\r' if !triple && depth == 0 => return,
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\\' => self.i += 1,
                b'#' => self.i = line_end(src, self.i),
                b'\'' | b'"' => {
                    // The enclosing quote inside a field opens a nested string (3.12);
                    // older Pythons reject the file, so nothing of it runs either way.
                    let start = self.i;
                    self.string(start, start, nest);
                }
                c if is_ident_start(c) => {
                    let start = self.i;
                    self.i = ident_end(src, start);
                    if matches!(src.get(self.i), Some(b'\'' | b'"'))
                        && is_prefix(&src[start..self.i])
                    {
                        let q = self.i;
                        self.string(start, q, nest);
                    } else {
                        self.push(Kind::Name, start, self.i, nest);
                    }
                }
                c if c.is_ascii_digit() => {
                    let start = self.i;
                    self.number();
                    self.push(Kind::Number, start, self.i, nest);
                }
                _ => {
                    let start = self.i;
                    let len = op_len(&src[self.i..]);
                    match c {
                        b'(' | b'[' | b'{' => depth += 1,
                        b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    self.i += len;
                    self.push(Kind::Op, start, self.i, nest);
                }
            }
        }
    }

    /// A format spec (or a conversion, then maybe a spec) up to the field's `}`; nested
    /// fields inside the spec are code.
    fn format_spec(&mut self, nest: u8, quote: u8, triple: bool, in_spec: bool) {
        let src = self.src;
        let mut in_spec = in_spec;
        while self.i < src.len() {
            let c = src[self.i];
            match c {
                b'}' => {
                    self.i += 1;
                    return;
                }
                b':' if !in_spec => {
                    in_spec = true;
                    self.i += 1;
                }
                b'{' => {
                    self.i += 1;
                    self.replacement_field(nest, quote, triple);
                }
                c if c == quote && !triple => return,
                b'\n' | b'\r' if !triple => return,
                _ => self.i += 1,
            }
        }
    }
}

/// Is this a string prefix (`r`, `b`, `f`, `rb`, `Rb`, `fr`, `t`, `u`, ...)?
fn is_prefix(p: &[u8]) -> bool {
    if p.is_empty() || p.len() > 2 {
        return false;
    }
    let lower: Vec<u8> = p.iter().map(u8::to_ascii_lowercase).collect();
    matches!(
        lower.as_slice(),
        b"r" | b"b" | b"f" | b"u" | b"t" | b"rb" | b"br" | b"fr" | b"rf" | b"tr" | b"rt"
    )
}

/// The length of the operator at the start of `s` (the longest three- or two-byte
/// Python operator it starts with, else 1), decided on its bytes: scanning tables of
/// operators for every operator token cost a sixth of the lexer. Inlined: it runs for
/// every operator token.
#[inline(always)]
fn op_len(s: &[u8]) -> usize {
    let (Some(&a), b, c) = (s.first(), s.get(1).copied(), s.get(2).copied()) else {
        return 1;
    };
    let doubled = b == Some(a) && matches!(a, b'*' | b'/' | b'<' | b'>');
    if (doubled && c == Some(b'=')) || (a == b'.' && b == Some(b'.') && c == Some(b'.')) {
        3
    } else if doubled
        || (a == b'-' && b == Some(b'>'))
        || (b == Some(b'=')
            && matches!(
                a,
                b'=' | b'!'
                    | b'<'
                    | b'>'
                    | b':'
                    | b'+'
                    | b'-'
                    | b'*'
                    | b'/'
                    | b'%'
                    | b'&'
                    | b'|'
                    | b'^'
                    | b'@'
            ))
    {
        2
    } else {
        // One (possibly multi-byte UTF-8) character that is not an identifier byte.
        1
    }
}

/// The value of a string literal token (prefix and quotes stripped, escapes decoded for
/// non-raw strings; an f-string's replacement fields are kept as written). Bytes are
/// read as Latin-1 so that every byte survives.
pub(crate) fn string_value(tok: &[u8]) -> Option<String> {
    string_text(tok).map(Cow::into_owned)
}

/// [`string_value`], borrowed from the token when nothing is decoded: a UTF-8 body
/// without a backslash, or a raw one, is its own value.
pub(crate) fn string_text(tok: &[u8]) -> Option<Cow<'_, str>> {
    let q = tok.iter().position(|&c| c == b'\'' || c == b'"')?;
    let prefix = &tok[..q];
    let quote = tok[q];
    let triple = tok.len() >= q + 6 && tok[q + 1] == quote && tok[q + 2] == quote;
    let qlen = if triple { 3 } else { 1 };
    let closed = tok.len() >= q + 2 * qlen && tok[tok.len() - qlen..].iter().all(|&c| c == quote);
    let body_end = if closed { tok.len() - qlen } else { tok.len() };
    let body = tok.get(q + qlen..body_end)?;
    let text = match std::str::from_utf8(body) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(body.iter().map(|&b| b as char).collect()),
    };
    // Replacement fields stay as written: the prefix passed on has no `f`. Without a
    // backslash, or raw, `unescape` (with no `f`) returns the text as it is: most
    // literals skip its copy.
    let raw = prefix.iter().any(|c| matches!(c, b'r' | b'R'));
    if raw || !body.contains(&b'\\') {
        return Some(text);
    }
    Some(Cow::Owned(crate::python::unescape(&text, "")))
}

/// Is the string token an f-string (or t-string)?
pub(crate) fn is_fstring(tok: &[u8]) -> bool {
    tok.iter()
        .take_while(|&&c| c != b'\'' && c != b'"')
        .any(|c| matches!(c, b'f' | b'F' | b't' | b'T'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        let lx = lex(src.as_bytes());
        (0..lx.toks.len())
            .map(|i| String::from_utf8_lossy(&src.as_bytes()[lx.toks[i].range()]).into_owned())
            .collect()
    }

    fn line_texts(src: &str) -> Vec<(u32, String)> {
        let lx = lex(src.as_bytes());
        lx.lines
            .iter()
            .map(|l| {
                let s = lx.toks[l.toks.start].start as usize;
                let e = lx.toks[l.toks.end - 1].end as usize;
                (l.indent, src[s..e].to_string())
            })
            .collect()
    }

    #[test]
    fn names_strings_ops_and_numbers() {
        assert_eq!(
            texts("x = os.system('a#b') # c\ny=1e-5+0xe"),
            [
                "x", "=", "os", ".", "system", "(", "'a#b'", ")", "y", "=", "1e-5", "+", "0xe"
            ]
        );
        assert_eq!(
            texts("a==b != c -> d"),
            ["a", "==", "b", "!=", "c", "->", "d"]
        );
        assert_eq!(
            texts("rb'\\x00' f\"\" u'x'"),
            ["rb'\\x00'", "f\"\"", "u'x'"]
        );
    }

    #[test]
    fn logical_lines_follow_brackets_continuations_and_indentation() {
        let src =
            "def f(a,\n      b):\n\tx = [1,\n 2]\n\n    # c\n    y = 1 + \\\n  2\r\n\x0cz()\n";
        assert_eq!(
            line_texts(src),
            [
                (0, "def f(a,\n      b):".to_string()),
                (8, "x = [1,\n 2]".to_string()),
                (4, "y = 1 + \\\n  2".to_string()),
                (0, "z()".to_string()),
            ]
        );
    }

    #[test]
    fn fstring_fields_are_code() {
        let src = "s = f\"{run('x')!r:>{w}} {{no}} {d[\"k\"]}\"\nafter()";
        let t = texts(src);
        for want in ["run", "'x'", "w", "d", "\"k\"", "after"] {
            assert!(t.contains(&want.to_string()), "{want}: {t:?}");
        }
        assert!(!t.contains(&"no".to_string()), "{t:?}");
        let lx = lex(src.as_bytes());
        assert_eq!(lx.lines.len(), 2);
        let run = lx
            .toks
            .iter()
            .find(|t| &src.as_bytes()[t.range()] == b"run")
            .unwrap();
        assert_eq!(run.nest, 1);
    }

    #[test]
    fn backslash_brace_in_an_f_string_opens_a_field() {
        // CPython runs `eval(y)` here (`f"\{1+1}"` is `\2`): it must be code.
        let t = texts("x = f\"\\{eval(y)}\" + rf'\\{exec(z)}' + f'\\N{BULLET}{w}'\nafter()");
        for want in ["eval", "y", "exec", "z", "w", "after"] {
            assert!(t.contains(&want.to_string()), "{want}: {t:?}");
        }
        assert!(!t.contains(&"BULLET".to_string()), "{t:?}");
    }

    #[test]
    fn strings_hide_what_looks_like_code() {
        let t = texts("x = '''\nos.system(1)\n''' + r\"\\\" \" + 'a\\'b'");
        assert_eq!(t.len(), 7, "{t:?}");
        assert!(!t.iter().any(|s| s == "os"));
    }

    /// `op_len` decides on bytes what the longest-match scan of the tables says.
    #[test]
    fn op_len_is_the_longest_table_match() {
        let by_table = |s: &[u8]| {
            if OPS3.iter().any(|o| s.starts_with(o)) {
                3
            } else if OPS2.iter().any(|o| s.starts_with(o)) {
                2
            } else {
                1
            }
        };
        let bytes = b"=!<>:+-*/%&|^@.~()[]{},;a0 \n\x80".to_vec();
        for &a in &bytes {
            assert_eq!(op_len(&[a]), by_table(&[a]));
            for &b in &bytes {
                assert_eq!(op_len(&[a, b]), by_table(&[a, b]));
                for &c in &bytes {
                    assert_eq!(op_len(&[a, b, c]), by_table(&[a, b, c]), "{a} {b} {c}");
                }
            }
        }
    }

    /// The dispatch table sends each byte to the arm the tests in turn sent it to, and
    /// indentation read eight spaces at a time counts as read one byte at a time.
    #[test]
    fn class_table_and_indentation() {
        for c in 0..=255u8 {
            let want = match c {
                b'\n' | b'\r' => Class::Newline,
                b' ' | b'\t' | b'\x0c' => Class::Blank,
                b'#' => Class::Hash,
                b'\\' => Class::Backslash,
                b'\'' | b'"' => Class::Quote,
                c if is_ident_start(c) => Class::Ident,
                c if c.is_ascii_digit() => Class::Digit,
                _ => Class::Other,
            };
            assert_eq!(CLASS[usize::from(c)], want, "{c}");
        }
        for pad in [
            "",
            " ",
            "       ",
            "        ",
            "         ",
            "\t        ",
            "        \t ",
            "                 ",
            " \x0c        ",
        ] {
            let src = format!("if x:\n{pad}y = 1\n");
            let mut col = 0u32;
            for c in pad.bytes() {
                match c {
                    b' ' => col += 1,
                    b'\t' => col = (col / 8 + 1) * 8,
                    _ => col = 0,
                }
            }
            let lx = lex(src.as_bytes());
            assert_eq!(lx.lines[1].indent, col, "{pad:?}");
            assert_eq!(&src[lx.toks[lx.lines[1].toks.start].range()], "y");
        }
    }

    /// The identifier table says what the byte classes say, and a docstring skipped to
    /// its next quote or backslash ends where the byte loop ended it.
    #[test]
    fn ident_table_and_skipped_docstrings() {
        for c in 0..=255u8 {
            assert_eq!(
                is_ident(c),
                c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
            );
        }
        assert_eq!(
            texts("x = '''a \\''' ' \\\n b''' + \"\"\"q\"\"\"\ny"),
            [
                "x",
                "=",
                "'''a \\''' ' \\\n b'''",
                "+",
                "\"\"\"q\"\"\"",
                "y"
            ]
        );
        assert_eq!(texts("'''open"), ["'''open"]);
        assert_eq!(texts("# c\r\nx # d"), ["x"]);
    }

    #[test]
    fn string_values() {
        assert_eq!(string_value(b"'a\\x41\\n'").unwrap(), "aA\n");
        assert_eq!(string_value(b"r'a\\n'").unwrap(), "a\\n");
        assert_eq!(string_value(b"b\"\"\"x\"\"\"").unwrap(), "x");
        assert_eq!(string_value(b"'\\101\\u00e9'").unwrap(), "A\u{e9}");
    }

    #[test]
    fn never_panics_on_garbage() {
        for src in [
            &b"'''"[..],
            b"f'{",
            b"f'{x!",
            b"f'{x:{",
            b"\\",
            b")))",
            b"\xff\xfe'",
            b"f\"{'\"}\"",
            b"0e",
            b"rb",
        ] {
            let lx = lex(src);
            for t in &lx.toks {
                assert!(t.start <= t.end && (t.end as usize) <= src.len());
            }
        }
    }
}
