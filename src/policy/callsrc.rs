//! The pin fix: a call's source rewritten to load the scanned commit.

use std::sync::LazyLock;

use regex::Regex;

use crate::callsite::{call_span, position_of, skip_string};
use crate::model::{Fix, LoadSite, Platform};

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
    let new_call = if let Some(via) = site.args.get("via") {
        // A kernel named by an argument (`discover::kernel_calls`): only the
        // `attn_implementation="org/repo[@rev][:fn]"` literal can carry a pin.
        if via != crate::discover::kernel_calls::VIA_ATTN {
            return None;
        }
        rewrite_attn_kernel(call, repo, commit)?
    } else if matches!(site.platform, Platform::PytorchHub)
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

/// `"org/repo[@rev][:fn]"` -> `"org/repo@<commit>[:fn]"` in the call text.
fn rewrite_attn_kernel(call: &str, repo: &str, commit: &str) -> Option<String> {
    for q in ['"', '\''] {
        let needle = format!("{q}{repo}");
        let mut from = 0;
        while let Some(rel) = call[from..].find(&needle) {
            let start = from + rel + needle.len();
            let rest = &call[start..];
            let end = rest.find([q, ':'])?;
            let between = &rest[..end];
            if between.is_empty() || between.starts_with('@') {
                return Some(format!("{}@{commit}{}", &call[..start], &rest[end..]));
            }
            from = start;
        }
    }
    None
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
    fn attn_kernel_literal_is_pinned() {
        let c = "AutoModel.from_pretrained(\"m/x\", attn_implementation=\"evil/k@v1:fwd\")";
        assert_eq!(
            rewrite_attn_kernel(c, "evil/k", "abc").as_deref(),
            Some("AutoModel.from_pretrained(\"m/x\", attn_implementation=\"evil/k@abc:fwd\")")
        );
        let c = "f('evil/k2', attn_implementation='evil/k')";
        assert_eq!(
            rewrite_attn_kernel(c, "evil/k", "abc").as_deref(),
            Some("f('evil/k2', attn_implementation='evil/k@abc')")
        );
        assert_eq!(
            rewrite_attn_kernel("f(x, attn_implementation=v)", "evil/k", "a"),
            None
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
}
