//! GitHub Actions output: workflow-command annotations for the most severe findings
//! and the Markdown job summary (`$GITHUB_STEP_SUMMARY`) with every finding.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::{Finding, Level, Report, RuleMeta, TargetStatus};
use crate::report::targets::{self, TargetGroup};
use crate::report::{RenderOptions, calls_by_site, findings, remote_link};

/// GitHub shows at most this many annotations per level and step.
pub const MAX_ANNOTATIONS_PER_LEVEL: usize = 10;
/// GitHub refuses job summaries over 1 MiB; stay well below.
pub const MAX_SUMMARY_BYTES: usize = 1000 * 1000;
/// Rows of one table in the job summary (findings of a target, calls loading
/// it); the rest are counted, so that one huge target cannot crowd out the others.
pub const MAX_ROWS: usize = 100;

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

/// `::error file=...,line=...::message` lines, one per call and rule (the most
/// severe finding speaks; the others are counted), most severe first, at most 10
/// per level, then a notice saying how many were left out.
pub fn workflow_commands(report: &Report, opts: &RenderOptions) -> String {
    let by_site = calls_by_site(report);
    let all: Vec<&Finding> = findings(report).iter().collect();
    let mut groups = targets::per_call_and_rule(report, &all);
    groups.sort_by(|a, b| targets::evidence_order(a[0], b[0]));
    let mut shown: BTreeMap<Level, usize> = BTreeMap::new();
    let mut left_out = 0usize;
    let mut out = String::new();
    for group in groups {
        let f = group[0];
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
        if group.len() > 1 {
            msg.push_str(&format!(
                "\n{} more of this rule in the remote code (see the job summary).",
                group.len() - 1
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

fn level_icon(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Error) => ":x:",
        Some(Level::Warning) => ":warning:",
        Some(Level::Note) => ":information_source:",
        None => ":white_check_mark:",
    }
}

/// The Markdown job summary: totals, then one section per remote target with
/// findings (the files that run, the findings in them linked to the remote file
/// at its commit, the calls that load it with their verdict, the pin fixes),
/// then one table of the targets without findings.
pub fn summary_markdown(report: &Report, _rules: &[RuleMeta]) -> String {
    let mut out = String::from("## hubwarden\n\n");
    let grouped = targets::group(report);
    if let Some(s) = &report.summary {
        let verdict = if s.failed {
            format!(":x: findings at or above `{}`", s.fail_on)
        } else {
            format!(":white_check_mark: nothing at or above `{}`", s.fail_on)
        };
        let _ = writeln!(out, "{verdict}\n");
        let _ = writeln!(
            out,
            "| targets | calls | errors | warnings | notes | unverified | suppressed | allowed |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            grouped.groups.len(),
            s.calls,
            s.errors,
            s.warnings,
            s.notes,
            s.unverified,
            s.suppressed,
            s.allowed
        );
        if s.baselined > 0 {
            let _ = writeln!(
                out,
                "{} known finding(s) listed in the baseline are not shown.\n",
                s.baselined
            );
        }
        if s.truncated > 0 {
            let _ = writeln!(
                out,
                "> [!WARNING]\n> {} results were left out of the SARIF upload to stay within GitHub's limits (the most severe were kept).\n",
                s.truncated
            );
        }
    }
    let (flagged, clean): (Vec<&TargetGroup>, Vec<&TargetGroup>) = grouped
        .groups
        .iter()
        .partition(|g| g.level().is_some() || g.status() == Some(TargetStatus::Unverified));
    if flagged.is_empty() && grouped.orphans.is_empty() {
        out.push_str("No findings.\n\n");
    }
    let total = flagged.len();
    for (i, g) in flagged.into_iter().enumerate() {
        let block = target_block(g);
        if out.len() + block.len() > MAX_SUMMARY_BYTES - 4096 {
            let _ = writeln!(
                out,
                "\n{} more targets with findings are left out to keep this summary under GitHub's 1 MiB limit; see the SARIF or JSON report.",
                total - i
            );
            return out;
        }
        out.push_str(&block);
    }
    if !grouped.orphans.is_empty() {
        out.push_str(
            "### Findings outside any call\n\n| level | rule | at | message |\n|---|---|---|---|\n",
        );
        for (i, f) in grouped.orphans.iter().enumerate() {
            let row = format!(
                "| {} | `{}` | `{}:{}` | {} |\n",
                f.level,
                md_cell(&f.rule_id),
                md_cell(&f.path),
                f.line,
                md_cell(&f.message)
            );
            if out.len() + row.len() > MAX_SUMMARY_BYTES - 4096 {
                let _ = writeln!(
                    out,
                    "\n{} more findings are left out to keep this summary under GitHub's 1 MiB limit; see the SARIF or JSON report.",
                    grouped.orphans.len() - i
                );
                return out;
            }
            out.push_str(&row);
        }
        out.push('\n');
    }
    if !clean.is_empty() {
        let mut block = String::from(
            "### Targets without findings\n\n| target | commit | status | loaded by |\n|---|---|---|---|\n",
        );
        for g in clean {
            let status = match g.status() {
                Some(TargetStatus::NoRemoteCode) => "no remote code",
                Some(TargetStatus::Resolved) => "resolved",
                Some(TargetStatus::Unverified) => "unverified",
                None => "not resolved",
            };
            let calls: Vec<String> = g
                .calls
                .iter()
                .map(|c| format!("`{}:{}`", md_cell(&c.call.site.path), c.call.site.line))
                .collect();
            let _ = writeln!(
                block,
                "| {} | {} | {status} | {} |",
                md_cell(&g.title()),
                g.commit
                    .map(|c| format!("`{}`", md_cell(c)))
                    .unwrap_or_else(|| "—".into()),
                calls.join(" ")
            );
        }
        block.push('\n');
        if out.len() + block.len() > MAX_SUMMARY_BYTES - 512 {
            out.push_str("The targets without findings are left out to keep this summary under GitHub's 1 MiB limit.\n");
        } else {
            out.push_str(&block);
        }
    }
    out
}

/// The section of one target with findings.
fn target_block(g: &TargetGroup) -> String {
    let mut block = String::new();
    let at = match (g.commit, g.status()) {
        (_, Some(TargetStatus::Unverified)) => " (unverified)".to_string(),
        (Some(c), _) => format!(" @ `{}`", md_cell(targets::short_commit(c))),
        (None, _) => String::new(),
    };
    let _ = writeln!(
        block,
        "### {} {} {} `{}`{at}\n",
        level_icon(g.level()),
        md_cell(&g.hub),
        g.repo_type,
        md_cell(g.repo.unwrap_or(targets::UNRESOLVED)),
    );
    if let Some(t) = g.target.filter(|t| t.status == TargetStatus::Unverified) {
        let _ = writeln!(
            block,
            "Not verified: {}\n",
            md_cell(t.reason.as_deref().unwrap_or("unknown reason"))
        );
    }
    if let Some(c) = g.commit {
        let _ = writeln!(block, "Commit `{}`\n", md_cell(c));
    }
    let files = g.files();
    if !files.is_empty() {
        let runs: Vec<String> = files
            .iter()
            .map(|f| {
                let label = md_cell(&f.path);
                match remote_link(f.hub, g.repo_type, &f.repo_id, &f.commit, &f.path, None) {
                    Some(url) => format!("[{label}]({url}) ({})", md_cell(&f.why)),
                    None => format!("{label} ({})", md_cell(&f.why)),
                }
            })
            .collect();
        let _ = writeln!(block, "Runs: {}\n", runs.join(", "));
    }
    for n in g.notes() {
        let _ = writeln!(block, "> {}\n", md_cell(n));
    }
    if !g.remote.is_empty() {
        block.push_str("| level | rule | remote file | finding |\n|---|---|---|---|\n");
        for f in g.remote.iter().take(MAX_ROWS) {
            let remote = match &f.evidence {
                Some(e) => {
                    let label = format!("{}:{}", e.file, e.line);
                    let link = remote_link(
                        e.hub,
                        g.repo_type,
                        &e.repo_id,
                        &e.commit,
                        &e.file,
                        Some(e.line),
                    );
                    match link {
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
                msg.push_str(&format!(" ({})", crate::report::context_str(e.context)));
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
        }
        if g.remote.len() > MAX_ROWS {
            let _ = writeln!(
                block,
                "\n{} more findings in this target's code; see the SARIF or JSON report.",
                g.remote.len() - MAX_ROWS
            );
        }
        block.push('\n');
    }
    block.push_str("| loaded by | verdict |\n|---|---|\n");
    let mut fixes = Vec::new();
    for c in g.calls.iter().take(MAX_ROWS) {
        let s = &c.call.site;
        let verdict = if c.policy.is_empty() {
            "—".to_string()
        } else {
            c.policy
                .iter()
                .map(|f| {
                    format!(
                        "{} `{}`: {}",
                        f.level,
                        md_cell(&f.rule_id),
                        md_cell(&f.message)
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = writeln!(
            block,
            "| `{}:{}` {} | {} |",
            md_cell(&s.path),
            s.line,
            md_cell(&s.api),
            verdict
        );
        for f in &c.policy {
            if let Some(fx) = &f.fix {
                fixes.push((s, fx));
            }
        }
    }
    if g.calls.len() > MAX_ROWS {
        let _ = writeln!(
            block,
            "\n{} more calls load this target; see the SARIF or JSON report.",
            g.calls.len() - MAX_ROWS
        );
    }
    for (s, fx) in fixes.into_iter().take(MAX_ROWS) {
        let _ = write!(
            block,
            "\n**Fix** at `{}:{}`: {}\n\n```python\n{}\n```\n",
            md_cell(&s.path),
            s.line,
            md_cell(&fx.description),
            fx.replacement.replace("```", "'''")
        );
    }
    block.push('\n');
    block
}
