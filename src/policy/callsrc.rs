//! Reading a call's own source text: its span, a normalized form for fingerprints
//! and diffs, inline `# hubwarden: ignore[...]` comments, and the pin fix.

use std::sync::LazyLock;

use regex::Regex;

use crate::model::{Fix, LoadSite, Platform};

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
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line as u32, col as u32)
}

/// Find the call starting at (line, column): the first `(` after it and its match,
/// skipping strings and comments.
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
            q @ (b'"' | b'\'') => {
                i = skip_string(bytes, i, q);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index just after the string literal whose opening quote is at `i`.
fn skip_string(bytes: &[u8], i: usize, q: u8) -> usize {
    let triple = bytes.len() >= i + 3 && bytes[i + 1] == q && bytes[i + 2] == q;
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            c if c == q => {
                if !triple {
                    return j + 1;
                }
                if bytes.len() >= j + 3 && bytes[j + 1] == q && bytes[j + 2] == q {
                    return j + 3;
                }
                j += 1;
            }
            b'\n' if !triple => return j,
            _ => j += 1,
        }
    }
    bytes.len()
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
    Regex::new(r"#\s*hubwarden:\s*ignore(?:\[([^\]]*)\])?").expect("valid regex")
});

/// Rule ids suppressed by comments on lines `line..=end_line`; `Some(vec![])`
/// for a bare `# hubwarden: ignore`.
pub fn suppressions_in(source: &str, line: u32, end_line: u32) -> Option<Vec<String>> {
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

static REVISION_KW_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a constant, valid pattern.
    Regex::new(r"(?:^|[^\w])((?:model_)?revision)\s*=\s*").expect("valid regex")
});

/// The pin fix: the call rewritten to load `commit` (a `revision=` keyword, or the
/// `owner/repo:commit` form for torch.hub / paddle `hub.load`).
pub fn pin_fix(source: &str, site: &LoadSite, commit: &str) -> Option<Fix> {
    if site.cell.is_some() {
        // Notebook positions are lines of the JSON file; an edit there would need
        // JSON string escaping, so only the text suggestion is given.
        return None;
    }
    let repo = site.repo_id.as_deref()?;
    let span = call_span(source, site.line, site.column)?;
    let call = &source[span.start..span.end];
    let open = span.open - span.start;
    let new_call = if matches!(site.platform, Platform::PytorchHub)
        || site.api.ends_with("hub.load") && site.repo_type == crate::model::RepoType::Github
    {
        rewrite_repo_ref(call, repo, commit)?
    } else if matches!(
        site.platform,
        // OpenCSG ignores the revision; PaddleHub modules are pinned by version;
        // OpenMMLab configs by package version: no keyword would pin them.
        Platform::Opencsg | Platform::Paddlehub | Platform::Openmmlab
    ) {
        return None;
    } else {
        // ModelScope's pipeline() takes the model's revision as `model_revision`.
        let kw = if site.platform == Platform::Modelscope && site.api.ends_with("pipeline") {
            "model_revision"
        } else {
            "revision"
        };
        // kernels refuses `revision` together with `version`: the pin replaces `version`.
        let kernels = site.family == crate::model::Family::Kernels;
        match kernels
            .then(|| rewrite_kernel_version(call, open, commit))
            .flatten()
        {
            Some(c) => c,
            None => rewrite_revision_kw(call, open, kw, commit),
        }
    };
    let (end_line, end_column) = position_of(source, span.end);
    let (start_line, start_column) = position_of(source, span.start);
    let short = commit.get(..12).unwrap_or(commit);
    Some(Fix {
        description: format!("Pin {repo} to the scanned commit {short}"),
        start_line,
        start_column,
        end_line,
        end_column,
        replacement: new_call,
    })
}

fn rewrite_repo_ref(call: &str, repo: &str, commit: &str) -> Option<String> {
    for q in ['"', '\''] {
        for needle in [format!("{q}{repo}{q}"), format!("{q}{repo}:")] {
            if let Some(pos) = call.find(&needle) {
                let content_start = pos + 1;
                let close = call[content_start..].find(q)? + content_start;
                return Some(format!(
                    "{}{repo}:{commit}{}",
                    &call[..content_start],
                    &call[close..]
                ));
            }
        }
    }
    None
}

static VERSION_KW_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a constant, valid pattern.
    Regex::new(r"(?:^|[^\w])(version)\s*=\s*").expect("valid regex")
});

/// `get_kernel(repo, version=1)` -> `get_kernel(repo, revision="<commit>")`.
fn rewrite_kernel_version(call: &str, open: usize, commit: &str) -> Option<String> {
    let args_start = open + 1;
    let args_end = call.len() - 1;
    let m = VERSION_KW_RE.captures(&call[args_start..args_end])?;
    let name = m.get(1)?;
    let whole = m.get(0)?;
    let kw_start = args_start + name.start();
    let value_start = args_start + whole.end();
    let value_end = value_end(call.as_bytes(), value_start, args_end);
    Some(format!(
        "{}revision=\"{commit}\"{}",
        &call[..kw_start],
        &call[value_end..]
    ))
}

fn rewrite_revision_kw(call: &str, open: usize, kw: &str, commit: &str) -> String {
    let args_start = open + 1;
    let args_end = call.len() - 1;
    if let Some(m) = REVISION_KW_RE.captures(&call[args_start..args_end])
        && let Some(whole) = m.get(0)
    {
        let value_start = args_start + whole.end();
        let value_end = value_end(call.as_bytes(), value_start, args_end);
        return format!("{}\"{commit}\"{}", &call[..value_start], &call[value_end..]);
    }
    let args = &call[args_start..args_end];
    let trimmed = args.trim_end();
    let insert_at = args_start + trimmed.len();
    let sep = if trimmed.trim().is_empty() {
        ""
    } else if trimmed.ends_with(',') {
        " "
    } else {
        ", "
    };
    format!(
        "{}{sep}{kw}=\"{commit}\"{}",
        &call[..insert_at],
        &call[insert_at..]
    )
}

/// End of a keyword value starting at `i`: the next top-level `,` or the end of the arguments.
fn value_end(bytes: &[u8], mut i: usize, limit: usize) -> usize {
    let mut depth = 0usize;
    while i < limit {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => break,
            q @ (b'"' | b'\'') => {
                i = skip_string(bytes, i, q);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // An unterminated string may have run past the arguments.
    i = i.min(limit);
    // Keep the whitespace (e.g. a newline before `)`) outside the replaced value.
    while i > 0 && bytes[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_keyword_is_inserted_or_replaced() {
        let c = "AutoModel.from_pretrained(\"a/b\", trust_remote_code=True)";
        assert_eq!(
            rewrite_revision_kw(c, c.find('(').unwrap(), "revision", "c0ffee"),
            "AutoModel.from_pretrained(\"a/b\", trust_remote_code=True, revision=\"c0ffee\")"
        );
        let c = "M.from_pretrained(\"a/b\", revision=\"main\", x=1)";
        assert_eq!(
            rewrite_revision_kw(c, c.find('(').unwrap(), "revision", "c0"),
            "M.from_pretrained(\"a/b\", revision=\"c0\", x=1)"
        );
        let c = "M.from_pretrained(\"a/b\", code_revision=\"x\")";
        assert!(
            rewrite_revision_kw(c, c.find('(').unwrap(), "revision", "c0")
                .contains("code_revision=\"x\", revision=\"c0\"")
        );
    }

    #[test]
    fn torch_hub_ref_is_replaced() {
        assert_eq!(
            rewrite_repo_ref("torch.hub.load('o/r:v1', 'net')", "o/r", "abc").as_deref(),
            Some("torch.hub.load('o/r:abc', 'net')")
        );
        assert_eq!(
            rewrite_repo_ref("torch.hub.load(\"o/r\", 'net')", "o/r", "abc").as_deref(),
            Some("torch.hub.load(\"o/r:abc\", 'net')")
        );
    }

    #[test]
    fn suppression_comments() {
        let src = "x = f(  # hubwarden: ignore[a, b]\n  1)\ny = g()  # hubwarden: ignore\n";
        assert_eq!(
            suppressions_in(src, 1, 2),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(suppressions_in(src, 3, 3), Some(vec![]));
        assert_eq!(suppressions_in(src, 2, 2), None);
    }

    #[test]
    fn span_skips_strings_with_parens() {
        let src = "m = A.f(\")\", g(1),\n  k=2)  # )\n";
        let s = call_span(src, 1, 5).unwrap();
        assert_eq!(&src[s.start..s.end], "A.f(\")\", g(1),\n  k=2)");
        assert_eq!(position_of(src, s.end), (2, 7));
    }
}
