//! GitHub Actions output: workflow-command annotations for the most severe findings
//! and the Markdown job summary (`$GITHUB_STEP_SUMMARY`) with every finding.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::{Finding, Level, Report, RuleMeta, TargetStatus};
use crate::report::{
    RenderOptions, calls_by_site, findings, remote_link, repo_type_of, severity_order,
};

/// GitHub shows at most this many annotations per level and step.
pub const MAX_ANNOTATIONS_PER_LEVEL: usize = 10;
/// GitHub refuses job summaries over 1 MiB; stay well below.
pub const MAX_SUMMARY_BYTES: usize = 1000 * 1000;

/// Escape workflow-command data (the message).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow-command property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn command(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Note => "notice",
    }
}

/// `::error file=...,line=...::message` lines, most severe first, at most 10 per
/// level, then a notice saying how many were left out.
pub fn workflow_commands(report: &Report, opts: &RenderOptions) -> String {
    let by_site = calls_by_site(report);
    let mut fs: Vec<&Finding> = findings(report).iter().collect();
    fs.sort_by(|a, b| severity_order(a, b));
    let mut shown: BTreeMap<Level, usize> = BTreeMap::new();
    let mut left_out = 0usize;
    let mut out = String::new();
    for f in fs {
        let n = shown.entry(f.level).or_insert(0);
        if *n >= MAX_ANNOTATIONS_PER_LEVEL {
            left_out += 1;
            continue;
        }
        *n += 1;
        let call = by_site.of(f);
        let end_line = call.map(|c| c.site.end_line.max(f.line)).unwrap_or(f.line);
        let mut msg = f.message.clone();
        if let Some(e) = &f.evidence {
            msg.push_str(&format!(
                "\n{}:{}@{}/{}:{}: {}",
                e.hub,
                e.repo_id,
                e.commit,
                e.file,
                e.line,
                e.snippet.lines().next().unwrap_or("").trim()
            ));
        }
        if let Some(fx) = &f.fix {
            msg.push_str(&format!("\nFix: {}:\n{}", fx.description, fx.replacement));
        }
        let title = format!("{} ({})", f.title, f.rule_id);
        let _ = writeln!(
            out,
            "::{} file={},line={},endLine={},col={},title={}::{}",
            command(f.level),
            escape_property(&opts.repo_path(&f.path)),
            f.line.max(1),
            end_line.max(1),
            f.column.max(1),
            escape_property(&title),
            escape_data(&msg)
        );
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "::notice title=hubwarden::{}",
            escape_data(&format!(
                "{left_out} more findings are not shown as annotations (GitHub shows {MAX_ANNOTATIONS_PER_LEVEL} per level); see the job summary or the SARIF report."
            ))
        );
    }
    out
}

/// Append `markdown` to the file named by `$GITHUB_STEP_SUMMARY`; false when the
/// variable is not set (not running in Actions).
pub fn append_step_summary(
    markdown: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::io::Result<bool> {
    use std::io::Write as _;
    let Some(path) = env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(markdown.as_bytes())?;
    Ok(true)
}

/// Make untrusted text safe inside a Markdown table cell: no HTML, links,
/// images or cell breaks.
fn md_cell(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '!' | '#' | '~' | '&' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c if c.is_control() => {}
            c => o.push(c),
        }
    }
    o
}

/// Inline code for untrusted text: backticks cannot close the span.
fn md_code(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '¦',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", t.trim())
}

/// The Markdown job summary: totals, then a table per call with links to the
/// remote files at their commit, and the pin fixes.
pub fn summary_markdown(report: &Report, _rules: &[RuleMeta]) -> String {
    let mut out = String::from("## hubwarden\n\n");
    let all = findings(report);
    if let Some(s) = &report.summary {
        let verdict = if s.failed {
            format!(":x: findings at or above `{}`", s.fail_on)
        } else {
            format!(":white_check_mark: nothing at or above `{}`", s.fail_on)
        };
        let _ = writeln!(out, "{verdict}\n");
        let _ = writeln!(
            out,
            "| calls | errors | warnings | notes | unverified | suppressed | allowed |\n|---:|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} | {} |\n",
            s.calls, s.errors, s.warnings, s.notes, s.unverified, s.suppressed, s.allowed
        );
        if s.truncated > 0 {
            let _ = writeln!(
                out,
                "> [!WARNING]\n> {} results were left out of the SARIF upload to stay within GitHub's limits (the most severe were kept).\n",
                s.truncated
            );
        }
    }
    let by_site = calls_by_site(report);
    let mut groups: BTreeMap<(&str, u32), Vec<&Finding>> = BTreeMap::new();
    for f in all {
        groups.entry((f.path.as_str(), f.line)).or_default().push(f);
    }
    if groups.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    let total = groups.len();
    for (i, ((path, line), mut fs)) in groups.into_iter().enumerate() {
        fs.sort_by(|a, b| severity_order(a, b));
        let call = fs.first().and_then(|f| by_site.of(f));
        let mut block = String::new();
        let head = match call {
            Some(c) => {
                let t = c.target.as_ref();
                let repo = c.site.repo_id.as_deref().unwrap_or("<unresolved>");
                let at = match t {
                    Some(t) if t.status == TargetStatus::Unverified => " (unverified)".to_string(),
                    Some(t) => t
                        .commit
                        .as_deref()
                        .map(|c| format!(" @ `{}`", md_cell(c)))
                        .unwrap_or_default(),
                    None => String::new(),
                };
                format!(
                    "### `{}:{}` {} {}{}\n\n",
                    md_cell(path),
                    line,
                    md_cell(&c.site.api),
                    md_cell(repo),
                    at
                )
            }
            None => format!("### `{}:{}`\n\n", md_cell(path), line),
        };
        block.push_str(&head);
        block.push_str("| level | rule | remote file | message |\n|---|---|---|---|\n");
        let mut fixes = Vec::new();
        for f in &fs {
            let remote = match &f.evidence {
                Some(e) => {
                    let label = format!("{}:{}", e.file, e.line);
                    match remote_link(
                        e.hub,
                        repo_type_of(call),
                        &e.repo_id,
                        &e.commit,
                        &e.file,
                        Some(e.line),
                    ) {
                        Some(url) => format!("[{}]({url})", md_cell(&label)),
                        None => md_cell(&format!("{}@{} {label}", e.repo_id, e.commit)),
                    }
                }
                None => "—".to_string(),
            };
            let mut msg = md_cell(&f.message);
            if let Some(e) = &f.evidence {
                let snippet = e.snippet.lines().next().unwrap_or("");
                if !snippet.trim().is_empty() {
                    msg.push_str(&format!("<br>{}", md_code(snippet)));
                }
            }
            let _ = writeln!(
                block,
                "| {} | `{}` {} | {} | {} |",
                f.level,
                md_cell(&f.rule_id),
                md_cell(&f.title),
                remote,
                msg
            );
            if let Some(fx) = &f.fix
                && !fixes.contains(&fx)
            {
                fixes.push(fx);
            }
        }
        for fx in fixes {
            let _ = write!(
                block,
                "\n**Fix:** {}\n\n```python\n{}\n```\n",
                md_cell(&fx.description),
                fx.replacement.replace("```", "'''")
            );
        }
        block.push('\n');
        if out.len() + block.len() > MAX_SUMMARY_BYTES - 512 {
            let _ = writeln!(
                out,
                "\n{} more calls with findings are left out to keep this summary under GitHub's 1 MiB limit; see the SARIF or JSON report.",
                total - i
            );
            break;
        }
        out.push_str(&block);
    }
    out
}
