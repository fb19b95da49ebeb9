//! The inventory: discovered calls rendered as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::discover;
use crate::model::{CallReport, FetchStats, LoadSite, Report};

/// The JSON root for a discovery: calls without targets.
pub fn to_report(found: discover::Discovery) -> Report {
    let mut stats = FetchStats::default();
    found.stats.fill(&mut stats);
    Report {
        version: 1,
        calls: found
            .calls
            .into_iter()
            .map(|site| CallReport { site, target: None })
            .collect(),
        errors: found.errors,
        stats: Some(stats),
        findings: None,
        summary: None,
    }
}

/// Pretty JSON with a trailing newline.
pub fn render_json(report: &Report) -> String {
    // Serialising plain data with string keys cannot fail.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
}

fn site_lines(s: &LoadSite, st: &Style, out: &mut String) {
    let loc = match s.cell {
        Some(c) => format!("{}:{} (cell {c})", s.line, s.column),
        None => format!("{}:{}", s.line, s.column),
    };
    let _ = writeln!(
        out,
        "  {}  {}  {}",
        st.bold(&loc),
        st.cyan(s.platform.as_str()),
        s.api
    );
    let repo = match &s.repo_id {
        Some(r) => st.bold(r),
        None => st.yellow("(unresolved)"),
    };
    let rev = match (&s.revision, s.pinned) {
        (Some(r), true) => format!("{r} (pinned)"),
        (Some(r), false) => r.clone(),
        (None, _) => "-".into(),
    };
    let gate = match s.gate.as_str() {
        "true" => st.red("true"),
        "dynamic" => st.yellow("dynamic"),
        g => g.to_string(),
    };
    let _ = writeln!(
        out,
        "      repo {repo} [{}]  revision {rev}  gate {gate}",
        s.repo_type
    );
    let _ = writeln!(out, "      {}", st.dim(&format!("from: {}", s.resolution)));
    if !s.args.is_empty() {
        let args: Vec<String> = s.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "      {}",
            st.dim(&format!("args: {}", args.join(", ")))
        );
    }
}

/// Human-readable inventory: calls grouped by file, then counts per platform.
pub fn render_text(report: &Report, color: bool) -> String {
    let st = Style { on: color };
    let mut out = String::new();
    let mut by_file: BTreeMap<&str, Vec<&LoadSite>> = BTreeMap::new();
    for c in &report.calls {
        by_file
            .entry(c.site.path.as_str())
            .or_default()
            .push(&c.site);
    }
    for (path, sites) in &by_file {
        let _ = writeln!(out, "{}", st.bold(path));
        for s in sites {
            site_lines(s, &st, &mut out);
        }
        out.push('\n');
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "{}", st.yellow("input problems:"));
        for e in &report.errors {
            let _ = writeln!(out, "  {}: {}", e.path, e.message);
        }
        out.push('\n');
    }
    let mut per_platform: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &report.calls {
        *per_platform.entry(c.site.platform.as_str()).or_default() += 1;
    }
    let unresolved = report
        .calls
        .iter()
        .filter(|c| c.site.repo_id.is_none())
        .count();
    let counts: Vec<String> = per_platform
        .iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    let _ = write!(
        out,
        "{} in {} {}",
        plural(report.calls.len(), "call"),
        by_file.len(),
        if by_file.len() == 1 { "file" } else { "files" }
    );
    if !counts.is_empty() {
        let _ = write!(out, ": {}", counts.join(", "));
    }
    out.push('\n');
    if unresolved > 0 {
        let _ = writeln!(out, "{unresolved} with an unresolved repo id");
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "{}", plural(report.errors.len(), "input problem"));
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
