//! Terminal report: one block per remote target (its commit, the files that run,
//! the findings in them with the remote snippet, the calls that load it with
//! their policy verdict and pin fix), then the totals.

use std::fmt::Write;

use crate::model::{Finding, Level, Report, RuleMeta, TargetStatus};
use crate::report::RenderOptions;
use crate::report::targets::{self, TargetGroup};

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn level(&self, l: Level) -> String {
        let code = match l {
            Level::Error => "1;31",
            Level::Warning => "1;33",
            Level::Note => "1;36",
        };
        self.wrap(code, &format!("{:<7}", l.as_str()))
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
}

/// Remote text can hold terminal escape sequences: show control characters escaped.
/// A leading `::` is broken up so that the text cannot act as a workflow command
/// when this output is printed in GitHub Actions.
fn clean(s: &str) -> String {
    let s = if s.trim_start().starts_with("::") {
        s.replacen("::", ":\u{200b}:", 1)
    } else {
        s.to_string()
    };
    s.chars()
        .flat_map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

pub fn render(report: &Report, _rules: &[RuleMeta], opts: &RenderOptions) -> String {
    let p = Paint(opts.color);
    let mut out = String::new();
    let grouped = targets::group(report);
    for g in &grouped.groups {
        render_target(&mut out, &p, g);
    }
    // Findings whose call is not in the report (should not happen; never hide them).
    if !grouped.orphans.is_empty() {
        let _ = writeln!(out, "{}", p.bold("findings outside any call"));
        for f in &grouped.orphans {
            let _ = writeln!(
                out,
                "  {}",
                p.bold(&format!("{}:{}:{}", f.path, f.line, f.column))
            );
            render_finding(&mut out, &p, f, "    ");
        }
        out.push('\n');
    }
    for e in &report.errors {
        let _ = writeln!(
            out,
            "{} {}: {}",
            p.level(Level::Warning),
            e.path,
            clean(&e.message)
        );
    }
    if let Some(s) = &report.summary {
        let verdict = if s.failed {
            p.wrap(
                "1;31",
                &format!("FAILED (findings at or above {})", s.fail_on),
            )
        } else {
            p.wrap(
                "1;32",
                &format!("passed (nothing at or above {})", s.fail_on),
            )
        };
        let _ = write!(
            out,
            "{} targets, {} calls, {} findings ({} errors, {} warnings, {} notes), {} unverified, {} suppressed, {} allowed",
            grouped.groups.len(),
            s.calls,
            s.findings,
            s.errors,
            s.warnings,
            s.notes,
            s.unverified,
            s.suppressed,
            s.allowed
        );
        if s.baselined > 0 {
            let _ = write!(out, ", {} in the baseline", s.baselined);
        }
        if s.truncated > 0 {
            let _ = write!(out, ", {} left out of SARIF", s.truncated);
        }
        let _ = writeln!(out, ": {verdict}");
    }
    out
}

fn render_target(out: &mut String, p: &Paint, g: &TargetGroup) {
    let verdict = match g.level() {
        Some(l) => p.level(l),
        None => p.wrap("1;32", &format!("{:<7}", "ok")),
    };
    let at = g
        .commit
        .map(|c| format!(" @ {}", targets::short_commit(c)))
        .unwrap_or_default();
    let status = match g.target {
        Some(t) => match t.status {
            TargetStatus::Resolved => "resolved".to_string(),
            TargetStatus::NoRemoteCode => "no remote code".to_string(),
            TargetStatus::Unverified => format!(
                "UNVERIFIED: {}",
                clean(t.reason.as_deref().unwrap_or("unknown reason"))
            ),
        },
        None if g.repo.is_none() => "repo id not statically known".to_string(),
        None => "not resolved".to_string(),
    };
    let _ = writeln!(
        out,
        "{} {}{} ({status})",
        verdict,
        p.bold(&clean(&g.title())),
        at
    );
    if let Some(c) = g.commit {
        let _ = writeln!(out, "  commit {}", clean(c));
    }
    let files = g.files();
    if !files.is_empty() {
        let _ = writeln!(out, "  runs:");
        for f in files {
            let _ = writeln!(
                out,
                "    {} {}",
                clean(&f.path),
                p.dim(&format!("({}, {} bytes)", clean(&f.why), f.bytes))
            );
        }
    }
    for n in g.notes() {
        let _ = writeln!(out, "  note: {}", clean(n));
    }
    for h in g.target.map(|t| t.hub_scan.as_slice()).unwrap_or_default() {
        let _ = writeln!(out, "  {}", clean(&hub_scan_line(h)));
    }
    if !g.remote.is_empty() {
        let _ = writeln!(out, "  in the remote code:");
        for f in &g.remote {
            render_finding(out, p, f, "    ");
        }
    }
    let n = g.calls.len();
    let _ = writeln!(
        out,
        "  loaded by {n} call{}:",
        if n == 1 { "" } else { "s" }
    );
    for c in &g.calls {
        let s = &c.call.site;
        let rev = s
            .revision
            .as_deref()
            .map(|r| format!(" @ {}", clean(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {}  {}{} (gate {})",
            p.bold(&format!("{}:{}:{}", s.path, s.line, s.column)),
            s.api,
            rev,
            clean(&s.gate)
        );
        for f in &c.policy {
            render_finding(out, p, f, "      ");
        }
    }
    out.push('\n');
}

/// The hub's own scan of a repo, said as corroboration next to our verdict.
fn hub_scan_line(h: &crate::model::HubScan) -> String {
    use crate::model::HubScanStatus;
    let what = match h.status {
        HubScanStatus::NoIssues => "no issues flagged (scans done)".to_string(),
        HubScanStatus::Issues => {
            let files: Vec<String> = h
                .files_with_issues
                .iter()
                .map(|f| {
                    let mut tags: Vec<&str> = f.level.as_deref().into_iter().collect();
                    if f.runs {
                        tags.push("runs");
                    }
                    if tags.is_empty() {
                        f.path.clone()
                    } else {
                        format!("{} ({})", f.path, tags.join(", "))
                    }
                })
                .collect();
            format!("flags {}", files.join("; "))
        }
        HubScanStatus::Unknown => match (&h.error, h.scans_done) {
            (Some(e), _) => format!("unknown ({e})"),
            (None, Some(false)) => "unknown (scans not done)".to_string(),
            (None, _) => "unknown".to_string(),
        },
    };
    let kind = match h.repo_type {
        crate::model::RepoType::Model => String::new(),
        other => format!("{other} "),
    };
    format!(
        "{} scan of {kind}{} @ {}: {what} (corroboration only)",
        h.hub,
        h.repo_id,
        targets::short_commit(&h.commit)
    )
}

fn render_finding(out: &mut String, p: &Paint, f: &Finding, indent: &str) {
    let cwe = if f.cwe.is_empty() {
        String::new()
    } else {
        format!(" [{}]", f.cwe.join(", "))
    };
    let _ = writeln!(
        out,
        "{indent}{} {} {}{}",
        p.level(f.level),
        p.bold(&f.rule_id),
        f.title,
        p.dim(&cwe)
    );
    let pad = format!("{indent}        ");
    let _ = writeln!(out, "{pad}{}", clean(&f.message));
    if let Some(e) = &f.evidence {
        let _ = writeln!(
            out,
            "{pad}{}:{} ({})",
            clean(&e.file),
            e.line,
            crate::report::context_str(e.context)
        );
        for l in e.snippet.lines().take(5) {
            let _ = writeln!(out, "{pad}{} {}", p.dim("|"), clean(l));
        }
    }
    if let Some(fx) = &f.fix {
        let _ = writeln!(out, "{pad}fix: {}", fx.description);
        for l in fx.replacement.lines() {
            let _ = writeln!(out, "{pad}{} {}", p.wrap("32", "+"), clean(l));
        }
    }
}
