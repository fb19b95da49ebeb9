//! Terminal report: one block per call (target commit, executed files, findings
//! with the remote snippet, the pin fix), then the totals.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::{CallReport, Finding, Level, Report, RuleMeta, TargetStatus};
use crate::report::{RenderOptions, findings};

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
    let all = findings(report);
    // Findings grouped by their call.
    let index = crate::report::calls_by_site(report);
    let position: std::collections::HashMap<*const CallReport, usize> = report
        .calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c as *const CallReport, i))
        .collect();
    let mut per_call: Vec<Vec<&Finding>> = vec![Vec::new(); report.calls.len()];
    let mut orphans: BTreeMap<(&str, u32), Vec<&Finding>> = BTreeMap::new();
    for f in all {
        match index
            .of(f)
            .and_then(|c| position.get(&(c as *const CallReport)))
        {
            Some(&i) => per_call[i].push(f),
            None => orphans
                .entry((f.path.as_str(), f.line))
                .or_default()
                .push(f),
        }
    }
    for (c, fs) in report.calls.iter().zip(&per_call) {
        render_call(&mut out, &p, c, fs);
    }
    // Findings whose call is not in the report (should not happen; never hide them).
    for ((path, line), fs) in orphans {
        let _ = writeln!(out, "{}", p.bold(&format!("{path}:{line}")));
        for f in fs {
            render_finding(&mut out, &p, f);
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
            "{} calls, {} findings ({} errors, {} warnings, {} notes), {} unverified, {} suppressed, {} allowed",
            s.calls,
            s.findings,
            s.errors,
            s.warnings,
            s.notes,
            s.unverified,
            s.suppressed,
            s.allowed
        );
        if s.truncated > 0 {
            let _ = write!(out, ", {} left out of SARIF", s.truncated);
        }
        let _ = writeln!(out, ": {verdict}");
    }
    out
}

fn render_call(out: &mut String, p: &Paint, c: &CallReport, fs: &[&Finding]) {
    let s = &c.site;
    let repo = s.repo_id.as_deref().unwrap_or("<unresolved>");
    let rev = s
        .revision
        .as_deref()
        .map(|r| format!(" @ {r}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}  {} {}{} (gate {})",
        p.bold(&format!("{}:{}:{}", s.path, s.line, s.column)),
        s.api,
        repo,
        rev,
        s.gate
    );
    if let Some(t) = &c.target {
        let status = match t.status {
            TargetStatus::Resolved => "resolved",
            TargetStatus::NoRemoteCode => "no remote code",
            TargetStatus::Unverified => "UNVERIFIED",
        };
        let commit = t.commit.as_deref().unwrap_or("?");
        let reason = t
            .reason
            .as_deref()
            .map(|r| format!(": {}", clean(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  target: {} {} {} at {} ({status}{reason})",
            t.hub,
            t.repo_type,
            t.repo_id.as_deref().unwrap_or(repo),
            commit
        );
        for f in &t.files {
            let _ = writeln!(
                out,
                "    {} {}",
                clean(&f.path),
                p.dim(&format!("({}, {} bytes)", clean(&f.why), f.bytes))
            );
        }
        for n in &t.notes {
            let _ = writeln!(out, "  note: {}", clean(n));
        }
    }
    let mut fs = fs.to_vec();
    fs.sort_by(|a, b| crate::report::severity_order(a, b));
    for f in fs {
        render_finding(out, p, f);
    }
    out.push('\n');
}

fn render_finding(out: &mut String, p: &Paint, f: &Finding) {
    let cwe = if f.cwe.is_empty() {
        String::new()
    } else {
        format!(" [{}]", f.cwe.join(", "))
    };
    let _ = writeln!(
        out,
        "  {} {} {}{}",
        p.level(f.level),
        p.bold(&f.rule_id),
        f.title,
        p.dim(&cwe)
    );
    let _ = writeln!(out, "          {}", clean(&f.message));
    if let Some(e) = &f.evidence {
        let _ = writeln!(
            out,
            "          {}:{}@{}/{}:{} ({})",
            e.hub,
            e.repo_id,
            e.commit,
            clean(&e.file),
            e.line,
            crate::report::context_str(e.context)
        );
        for l in e.snippet.lines().take(5) {
            let _ = writeln!(out, "          {} {}", p.dim("|"), clean(l));
        }
    }
    if let Some(fx) = &f.fix {
        let _ = writeln!(out, "          fix: {}", fx.description);
        for l in fx.replacement.lines() {
            let _ = writeln!(out, "          {} {}", p.wrap("32", "+"), clean(l));
        }
    }
}
