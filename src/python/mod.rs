//! Python source helpers shared by every stage that reads Python: the byte-level
//! prefilter lexer ([`pylex`]) and the tree-sitter helpers (node text and line, the
//! names a target pattern binds, string literals and their escapes as Python decodes
//! them). Discovery's scoped name index stays in `discover::python`.

pub(crate) mod pylex;

use tree_sitter::Node;

/// `src` parsed with the Python grammar; `None` when the grammar cannot be loaded or the
/// parser gives up (callers treat both as "nothing can be read statically").
pub(crate) fn parse(src: impl AsRef<[u8]>) -> Option<tree_sitter::Tree> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()?;
    parser.parse(src.as_ref(), None)
}

/// A node's source text (empty when it is not UTF-8).
pub(crate) fn text<'t>(n: Node<'_>, src: &'t [u8]) -> &'t str {
    n.utf8_text(src).unwrap_or("")
}

/// A node's 1-based line.
pub(crate) fn line_of(n: Node<'_>) -> u32 {
    u32::try_from(n.start_position().row + 1).unwrap_or(u32::MAX)
}

/// Identifiers bound by a target pattern.
pub(crate) fn collect_identifiers<'t>(n: Node<'t>, out: &mut Vec<Node<'t>>) {
    if n.kind() == "identifier" {
        out.push(n);
        return;
    }
    if matches!(
        n.kind(),
        "attribute" | "subscript" | "default_parameter" | "typed_default_parameter"
    ) {
        if let Some(name) = n.child_by_field_name("name") {
            out.push(name);
        }
        return;
    }
    let mut cursor = n.walk();
    for c in n.named_children(&mut cursor) {
        collect_identifiers(c, out);
    }
}

/// The value of a string literal without interpolations; `None` for an f-string
/// with interpolations or a non-string node.
pub(crate) fn string_literal(n: Node<'_>, src: &[u8]) -> Option<String> {
    if n.kind() != "string" {
        return None;
    }
    let mut cursor = n.walk();
    if n.named_children(&mut cursor)
        .any(|c| c.kind() == "interpolation")
    {
        return None;
    }
    let (prefix, segments) = string_parts(n, src);
    let mut out = String::new();
    for s in segments {
        if let Segment::Text(t) = s {
            out.push_str(&unescape(t, &prefix));
        }
    }
    Some(out)
}

/// A piece of a string literal.
pub(crate) enum Segment<'t> {
    Text(&'t str),
    Interp(Node<'t>),
}

/// Split a string node into its prefix (lower-cased letters) and literal/interpolation pieces.
pub(crate) fn string_parts<'t>(n: Node<'t>, src: &'t [u8]) -> (String, Vec<Segment<'t>>) {
    let mut cursor = n.walk();
    let children: Vec<Node<'t>> = n.children(&mut cursor).collect();
    let (Some(start), Some(end)) = (children.first(), children.last()) else {
        return (String::new(), Vec::new());
    };
    let st = text(*start, src);
    let prefix: String = st
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut segs = Vec::new();
    let mut cur = start.end_byte();
    let stop = if end.kind() == "string_end" {
        end.start_byte()
    } else {
        n.end_byte()
    };
    for c in &children[1..] {
        if c.kind() == "interpolation" {
            if c.start_byte() > cur {
                segs.push(Segment::Text(slice(src, cur, c.start_byte())));
            }
            if let Some(e) = c.child_by_field_name("expression") {
                segs.push(Segment::Interp(e));
            }
            cur = c.end_byte();
        }
    }
    if stop > cur {
        segs.push(Segment::Text(slice(src, cur, stop)));
    }
    (prefix, segs)
}

fn slice(src: &[u8], a: usize, b: usize) -> &str {
    src.get(a..b)
        .and_then(|s| std::str::from_utf8(s).ok())
        .unwrap_or("")
}

/// Decode the escapes of a string literal's text as Python does for a `str` literal
/// with this prefix (lower-cased letters): raw strings keep backslashes; `\\`,
/// quotes, `\a \b \f \n \r \t \v`, octal `\ooo`, `\xhh`, `\uXXXX`, `\UXXXXXXXX`
/// and a backslash-newline are decoded; any other escape stays as written (`\N{...}`
/// too). F-strings also turn `{{`/`}}` into braces.
pub(crate) fn unescape(s: &str, prefix: &str) -> String {
    if prefix.contains('r') {
        return fstring_braces(s, prefix);
    }
    let f = prefix.contains('f');
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('a') => out.push('\x07'),
                Some('b') => out.push('\x08'),
                Some('f') => out.push('\x0c'),
                Some('v') => out.push('\x0b'),
                Some('\n') => {}
                Some(q @ ('\\' | '\'' | '"')) => out.push(q),
                Some(d @ '0'..='7') => {
                    let mut v = d.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        match chars.peek().and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                v = v * 8 + d;
                                chars.next();
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
                Some(k @ ('x' | 'u' | 'U')) => {
                    let len = match k {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = (0..len).filter_map(|_| chars.next()).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => {
                            out.push('\\');
                            out.push(k);
                            out.push_str(&hex);
                        }
                    }
                }
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            },
            '{' | '}' if f && chars.peek() == Some(&c) => {
                chars.next();
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A raw string's text: only an f-string's doubled braces change.
fn fstring_braces(s: &str, prefix: &str) -> String {
    if prefix.contains('f') {
        s.replace("{{", "{").replace("}}", "}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn escapes_decode_as_python_does() {
        // As CPython's eval(r"'...'") decodes them, but for `\N{...}` (kept as written).
        assert_eq!(unescape(r"a\x41\u00e9\U0001F600", ""), "aA\u{e9}\u{1F600}");
        assert_eq!(unescape(r"\012\0\101\7", ""), "\n\0A\x07");
        assert_eq!(
            unescape(r"\a\b\f\v\q\N{DASH}", ""),
            "\x07\x08\x0c\x0b\\q\\N{DASH}"
        );
        assert_eq!(
            unescape(
                r"x\
y", ""
            ),
            "xy"
        );
        assert_eq!(unescape(r"\n{{x}}", "r"), r"\n{{x}}");
        assert_eq!(unescape(r"\n{{x}}", "rf"), r"\n{x}");
        assert_eq!(unescape(r"\t{{x}}", "f"), "\t{x}");
    }
}
