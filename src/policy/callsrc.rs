//! The pin fix: a call's source rewritten to load the scanned commit.

use std::sync::LazyLock;

use regex::Regex;

use crate::callsite::{call_span, position_of};
use crate::model::{Fix, LoadSite, Platform};
use crate::python::pylex::string_end;

static REVISION_KW_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a constant, valid pattern.
    Regex::new(r"(?:^|[^\w])((?:model_)?revision)\s*=\s*").expect("valid regex")
});

/// The pin fix: the call rewritten to load `commit` (a `revision=` keyword, or the
/// `owner/repo:commit` form for torch.hub / paddle `hub.load`).
pub fn pin_fix(source: &str, site: &LoadSite, commit: &str) -> Option<Fix> {
    if site.cell.is_some() {
        // Notebook positions are lines of the JSON file; an edit there would need
        // JSON string escaping, so only the text suggestion is given (`hubwarden
        // pin` rewrites notebooks).
        return None;
    }
    if site.family == crate::model::Family::PaddleModule {
        // A PaddleHub module is pinned by its version, not by this digest.
        return None;
    }
    let (span, new_call) = pinned_call(source, site, commit, None).ok()?;
    let repo = site.repo_id.as_deref()?;
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

/// The pin fix of a modular pipeline's `load_components(...)` call: each
/// component (name, commit) read from a branch pinned with
/// `revision={"name": "<commit>"}`, which diffusers hands to that component's
/// `from_pretrained` (`ModularPipeline.load_components`, 0.36.0 L2139-2150).
pub fn components_fix(source: &str, site: &LoadSite, pins: &[(String, String)]) -> Option<Fix> {
    if site.cell.is_some() {
        return None;
    }
    let (span, new_call) = pinned_components(source, site, pins).ok()?;
    let (end_line, end_column) = position_of(source, span.end);
    let (start_line, start_column) = position_of(source, span.start);
    let names: Vec<&str> = pins.iter().map(|(n, _)| n.as_str()).collect();
    Some(Fix {
        description: format!(
            "Pin component{} {} to the scanned commit{}",
            if pins.len() == 1 { "" } else { "s" },
            names.join(", "),
            if pins.len() == 1 { "" } else { "s" }
        ),
        start_line,
        start_column,
        end_line,
        end_column,
        replacement: new_call,
    })
}

/// The `load_components(...)` call at `site` with `revision={name: commit}`
/// for each pin: added, or merged into a literal dict it already has.
pub(crate) fn pinned_components(
    source: &str,
    site: &LoadSite,
    pins: &[(String, String)],
) -> Result<(crate::callsite::CallSpan, String), PinError> {
    let span = call_span(source, site.line, site.column).ok_or(PinError::NoCall)?;
    let call = &source[span.start..span.end];
    let open = span.open - span.start;
    let entries: Vec<String> = pins
        .iter()
        .map(|(n, c)| format!("\"{n}\": \"{c}\""))
        .collect();
    let args_start = open + 1;
    let args_end = call.len() - 1;
    let Some(m) = REVISION_KW_RE.captures(&call[args_start..args_end]) else {
        let arg = format!("revision={{{}}}", entries.join(", "));
        return Ok((span, append_arg(call, open, &arg)));
    };
    let whole = m.get(0).ok_or(PinError::NoCall)?;
    let value_start = args_start + whole.end();
    let value_end = value_end(call.as_bytes(), value_start, args_end);
    let value = &call[value_start..value_end];
    // A dict literal that does not name these components yet takes them;
    // anything else (one revision for all, a name, a branch) is the user's.
    let named = pins
        .iter()
        .any(|(n, _)| value.contains(&format!("\"{n}\"")) || value.contains(&format!("'{n}'")));
    let Some(inner) = value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .filter(|_| !named)
    else {
        return Err(PinError::RevisionNotDict(value.to_string()));
    };
    let sep = if inner.trim().is_empty() {
        ""
    } else if inner.trim_end().ends_with(',') {
        " "
    } else {
        ", "
    };
    let inner_end = inner.trim_end().len();
    let new_value = format!(
        "{{{}{sep}{}{}}}",
        &inner[..inner_end],
        entries.join(", "),
        &inner[inner_end..]
    );
    Ok((
        span,
        format!("{}{new_value}{}", &call[..value_start], &call[value_end..]),
    ))
}

/// Why a call cannot be rewritten to its commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("the repository id is not statically known")]
    NoRepo,
    #[error("the call's text was not found at its position")]
    NoCall,
    #[error("{0} has no keyword that pins a commit")]
    NoKeyword(Platform),
    #[error("the repository id {0:?} is not a plain string in the call")]
    RepoNotLiteral(String),
    #[error("the module digest {0:?} does not name a version")]
    NoVersion(String),
    #[error("the kernel is named through `{0}`, which cannot carry a pin")]
    KernelArgument(String),
    #[error("its revision= ({0}) is not a literal dict without these components")]
    RevisionNotDict(String),
    #[error(
        "a modular pipeline's own repo is pinned where the pipeline is made; a revision here goes to every component"
    )]
    PipelineMethod,
}

/// The call at `site` in `source` rewritten to load `commit`: its byte span and
/// the new call text. `code_commit` also pins cross-repository code
/// (`code_revision=`). For a PaddleHub module, `commit` is the module digest
/// `{version}+sha256:...` and the call gets `version=`.
pub(crate) fn pinned_call(
    source: &str,
    site: &LoadSite,
    commit: &str,
    code_commit: Option<&str>,
) -> Result<(crate::callsite::CallSpan, String), PinError> {
    let repo = site.repo_id.as_deref().ok_or(PinError::NoRepo)?;
    if crate::discover::catalogue::is_pipeline_method_api(&site.api) {
        return Err(PinError::PipelineMethod);
    }
    let span = call_span(source, site.line, site.column).ok_or(PinError::NoCall)?;
    let call = &source[span.start..span.end];
    let open = span.open - span.start;
    let mut new_call = if let Some(via) = site.args.get("via") {
        // A kernel named by an argument (`discover::kernel_calls`): only the
        // `attn_implementation="org/repo[@rev][:fn]"` literal can carry a pin.
        if via != crate::discover::kernel_calls::VIA_ATTN {
            return Err(PinError::KernelArgument(via.clone()));
        }
        rewrite_attn_kernel(call, repo, commit)
            .ok_or_else(|| PinError::RepoNotLiteral(repo.into()))?
    } else if matches!(site.platform, Platform::PytorchHub)
        || site.api.ends_with("hub.load") && site.repo_type == crate::model::RepoType::Github
    {
        rewrite_repo_ref(call, repo, commit).ok_or_else(|| PinError::RepoNotLiteral(repo.into()))?
    } else if site.family == crate::model::Family::PaddleModule
        && let Some(src) = git_source(site)
    {
        // A git source (`Module(name, source=<url>)`): `GitSource.checkout`
        // runs `git checkout <branch>`, which takes a commit
        // (`paddlehub/server/git_source.py:60-67`, 2.4.0).
        if !crate::hub::validate::is_commit(commit) {
            return Err(PinError::NoVersion(format!("{commit} (git source {src})")));
        }
        rewrite_kw(call, open, &BRANCH_KW_RE, "branch", commit)
    } else if site.family == crate::model::Family::PaddleModule {
        // PaddleHub module versions are immutable: `version=` pins the module.
        let version = module_version(commit).ok_or_else(|| PinError::NoVersion(commit.into()))?;
        rewrite_kw(call, open, &VERSION_KW_RE, "version", version)
    } else if matches!(
        site.platform,
        // OpenCSG ignores the revision; OpenMMLab configs are pinned by package
        // version: no keyword would pin them.
        Platform::Opencsg | Platform::Openmmlab | Platform::Paddlehub
    ) {
        return Err(PinError::NoKeyword(site.platform));
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
    if let Some(code) = code_commit {
        new_call = rewrite_kw(&new_call, open, &CODE_REVISION_KW_RE, "code_revision", code);
    }
    Ok((span, new_call))
}

/// The version in a PaddleHub module's target commit (`{version}+sha256:...`,
/// or `{version}+mirror` from an offline mirror).
pub(crate) fn module_version(commit: &str) -> Option<&str> {
    commit
        .split_once('+')
        .map(|(v, _)| v)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'))
}

static CODE_REVISION_KW_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a constant, valid pattern.
    Regex::new(r"(?:^|[^\w])(code_revision)\s*=\s*").expect("valid regex")
});

/// Set keyword `kw` (found by `re`, whose group 1 is the keyword) to the
/// string `value`: replace its value, or add it after the last argument.
fn rewrite_kw(call: &str, open: usize, re: &Regex, kw: &str, value: &str) -> String {
    let args_start = open + 1;
    let args_end = call.len() - 1;
    if let Some(m) = re.captures(&call[args_start..args_end])
        && let Some(whole) = m.get(0)
    {
        let value_start = args_start + whole.end();
        let value_end = value_end(call.as_bytes(), value_start, args_end);
        return format!("{}\"{value}\"{}", &call[..value_start], &call[value_end..]);
    }
    append_kw(call, open, kw, value)
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

static BRANCH_KW_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a constant, valid pattern.
    Regex::new(r"(?:^|[^\w])(branch)\s*=\s*").expect("valid regex")
});

/// The git URL a PaddleHub `Module(..., source=)` clones (a literal `None`
/// is the server).
pub fn git_source(site: &LoadSite) -> Option<&str> {
    site.args
        .get("source")
        .map(String::as_str)
        .filter(|s| !s.eq_ignore_ascii_case("none"))
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
    rewrite_kw(call, open, &REVISION_KW_RE, kw, commit)
}

/// `kw="value"` added after the call's last argument.
fn append_kw(call: &str, open: usize, kw: &str, value: &str) -> String {
    append_arg(call, open, &format!("{kw}=\"{value}\""))
}

/// `arg` (`kw=value` as written) added after the call's last argument.
fn append_arg(call: &str, open: usize, arg: &str) -> String {
    let args_start = open + 1;
    let args_end = call.len() - 1;
    let args = &call[args_start..args_end];
    let trimmed = args.trim_end();
    let insert_at = args_start + trimmed.len();
    if trimmed.ends_with(',') && call[insert_at..].contains('\n') {
        // One argument per line with a trailing comma: the new one goes on its
        // own line, indented like the last one, with its own comma.
        let line_start = call[..insert_at].rfind('\n').map_or(0, |i| i + 1);
        let indent: String = call[line_start..]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        return format!(
            "{}\n{indent}{arg},{}",
            &call[..insert_at],
            &call[insert_at..]
        );
    }
    let sep = if trimmed.trim().is_empty() {
        ""
    } else if trimmed.ends_with(',') {
        " "
    } else {
        ", "
    };
    format!("{}{sep}{arg}{}", &call[..insert_at], &call[insert_at..])
}

/// End of a keyword value starting at `i`: the next top-level `,` or the end of the arguments.
fn value_end(bytes: &[u8], mut i: usize, limit: usize) -> usize {
    let mut depth = 0usize;
    while i < limit {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => break,
            b'"' | b'\'' => {
                // The call's span was found with the same lexer, so its strings
                // end; the limit only guards a value that starts mid-string.
                i = string_end(bytes, i).unwrap_or(limit);
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
    fn modular_components_are_pinned_in_a_revision_dict() {
        let site = |src: &str| LoadSite {
            path: "app.py".into(),
            line: 2,
            column: 1,
            cell: None,
            end_line: 2,
            platform: Platform::Huggingface,
            api: "diffusers.ModularPipeline.load_components".into(),
            family: crate::model::Family::Diffusers,
            repo_id: Some("o/p".into()),
            repo_type: crate::model::RepoType::Model,
            revision: None,
            pinned: false,
            gate: "true".into(),
            resolution: "literal".into(),
            args: Default::default(),
            source_line: src.lines().nth(1).unwrap_or("").into(),
            suppress: None,
        };
        let pins = [("unet".to_string(), "c0".to_string())];
        let call = |src: &str| pinned_components(src, &site(src), &pins).map(|(_, c)| c);
        assert_eq!(
            call("x\np.load_components(trust_remote_code=True)\n").unwrap(),
            "p.load_components(trust_remote_code=True, revision={\"unet\": \"c0\"})"
        );
        assert_eq!(
            call("x\np.load_components(revision={\"vae\": \"c1\"}, trust_remote_code=True)\n")
                .unwrap(),
            "p.load_components(revision={\"vae\": \"c1\", \"unet\": \"c0\"}, trust_remote_code=True)"
        );
        assert_eq!(
            call("x\np.load_components(revision={})\n").unwrap(),
            "p.load_components(revision={\"unet\": \"c0\"})"
        );
        // One revision for all, or the component already named: the user's.
        assert!(call("x\np.load_components(revision=\"main\")\n").is_err());
        assert!(call("x\np.load_components(revision={'unet': 'main'})\n").is_err());
        // The pipeline's own repo is never pinned here.
        let src = "x\np.load_components(trust_remote_code=True)\n";
        assert_eq!(
            pinned_call(src, &site(src), "c0", None).unwrap_err(),
            PinError::PipelineMethod
        );
    }

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
    fn one_argument_per_line_keeps_its_layout() {
        let c = "M.from_pretrained(\n    \"a/b\",\n    trust_remote_code=True,\n)";
        assert_eq!(
            rewrite_revision_kw(c, c.find('(').unwrap(), "revision", "c0"),
            "M.from_pretrained(\n    \"a/b\",\n    trust_remote_code=True,\n    revision=\"c0\",\n)"
        );
        assert_eq!(module_version("1.2.0+mirror"), Some("1.2.0"));
        assert_eq!(module_version("1.2.0+sha256:ab"), Some("1.2.0"));
        assert_eq!(module_version("+sha256:ab"), None);
        assert_eq!(module_version("1\"+x"), None);
    }

    #[test]
    fn paddlehub_git_source_is_pinned_by_branch() {
        let src = "import paddlehub as hub\nm = hub.Module(name=\"x\", source=\"https://github.com/o/r.git\")\n";
        let mut site = LoadSite {
            path: "app.py".into(),
            line: 2,
            column: 5,
            cell: None,
            end_line: 2,
            platform: Platform::Paddlehub,
            api: "paddlehub.Module".into(),
            family: crate::model::Family::PaddleModule,
            repo_id: Some("x".into()),
            repo_type: crate::model::RepoType::Module,
            revision: None,
            pinned: false,
            gate: "absent".into(),
            resolution: "literal".into(),
            args: [(
                "source".to_string(),
                "https://github.com/o/r.git".to_string(),
            )]
            .into(),
            source_line: String::new(),
            suppress: None,
        };
        let sha = "a".repeat(40);
        let (_, call) = pinned_call(src, &site, &sha, None).unwrap();
        assert_eq!(
            call,
            format!(
                "hub.Module(name=\"x\", source=\"https://github.com/o/r.git\", branch=\"{sha}\")"
            )
        );
        assert!(pinned_call(src, &site, "1.0.0+sha256:ab", None).is_err());
        site.args.clear();
        let (_, call) = pinned_call(src, &site, "1.0.0+sha256:ab", None).unwrap();
        assert!(call.ends_with("version=\"1.0.0\")"), "{call}");
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
