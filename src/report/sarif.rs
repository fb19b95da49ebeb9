//! SARIF 2.1.0 for GitHub code scanning, following the rules GitHub enforces:
//! locations only at repo-relative call sites, 1-based regions, content-hash
//! fingerprints, numeric-string security-severity, CWE tags, size caps.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde_json::{Value, json};
use serde_sarif::sarif;

use crate::model::{Finding, Level, Report, RuleMeta};
use crate::report::{
    RenderOptions, calls_by_site, findings, remote_link, remote_ref, repo_type_of, rule_ids,
    targets,
};

/// GitHub keeps at most this many results a run.
pub const MAX_RESULTS: usize = 25_000;
/// GitHub rejects uploads larger than this, gzipped.
pub const MAX_GZIP_BYTES: usize = 10 * 1000 * 1000;
/// Tags GitHub keeps per rule.
const MAX_TAGS: usize = 10;
/// GitHub's cap on short/full description text.
const MAX_DESCRIPTION: usize = 1024;

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The SARIF log and how many results were left out to meet GitHub's limits.
pub struct SarifOutput {
    pub log: sarif::Sarif,
    pub truncated: usize,
}

/// Render SARIF as pretty JSON (with a trailing newline).
pub fn render(report: &Report, rules: &[RuleMeta], opts: &RenderOptions) -> String {
    let out = build(report, rules, opts);
    to_json(&out.log)
}

fn to_json(log: &sarif::Sarif) -> String {
    // Serializing plain data with string keys cannot fail.
    let mut s = serde_json::to_string_pretty(log).unwrap_or_default();
    s.push('\n');
    s
}

/// Gzipped size of `s` at the fastest level: an upper bound for the size of the
/// uploaded (better compressed) file.
pub fn gzip_len(s: &str) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(s.as_bytes());
    enc.finish().map(|v| v.len()).unwrap_or(usize::MAX)
}

/// How many results `render` leaves out (for `Summary::truncated`).
pub fn truncated_count(report: &Report, rules: &[RuleMeta], opts: &RenderOptions) -> usize {
    build(report, rules, opts).truncated
}

/// Build the SARIF log, one result per call and rule, keeping the most severe
/// results within the limits.
pub fn build(report: &Report, rules: &[RuleMeta], opts: &RenderOptions) -> SarifOutput {
    let all: Vec<&Finding> = findings(report).iter().collect();
    let mut groups = targets::per_call_and_rule(report, &all);
    groups.sort_by(|a, b| targets::evidence_order(a[0], b[0]));
    let mut keep = groups.len().min(opts.max_results);
    loop {
        let kept = &groups[..keep];
        let truncated: usize = groups[keep..].iter().map(Vec::len).sum();
        let log = build_with(report, rules, opts, kept, truncated);
        let json = to_json(&log);
        // JSON text always compresses, so a raw text under the cap is under it
        // gzipped too and needs no measurement.
        if keep == 0 || json.len() <= opts.max_gzip_bytes || gzip_len(&json) <= opts.max_gzip_bytes
        {
            return SarifOutput { log, truncated };
        }
        keep /= 2;
    }
}

fn cwe_tag(cwe: &str) -> Option<String> {
    let n = cwe
        .trim()
        .to_ascii_lowercase()
        .strip_prefix("cwe-")?
        .trim_start_matches('0')
        .to_string();
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("external/cwe/cwe-{n}"))
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// A numeric string in GitHub's accepted range (0.1..=10.0).
fn severity_string(x: f32) -> String {
    let x = if x.is_finite() {
        x.clamp(0.1, 10.0)
    } else {
        5.0
    };
    format!("{x:.1}")
}

fn result_level(l: Level) -> sarif::ResultLevel {
    match l {
        Level::Note => sarif::ResultLevel::Note,
        Level::Warning => sarif::ResultLevel::Warning,
        Level::Error => sarif::ResultLevel::Error,
    }
}

fn level_value(l: Level) -> Value {
    Value::String(l.as_str().to_string())
}

/// Strip Markdown down to readable plain text for `help.text`.
fn markdown_to_text(md: &str) -> String {
    md.lines()
        .map(|l| l.trim_start_matches('#').trim_start())
        .filter(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn descriptor(m: &RuleMeta) -> sarif::ReportingDescriptor {
    let mut tags = vec!["security".to_string()];
    tags.extend(m.cwe.iter().filter_map(|c| cwe_tag(c)));
    tags.truncate(MAX_TAGS);
    let mut props = BTreeMap::new();
    props.insert(
        "security-severity".to_string(),
        Value::String(severity_string(m.security_severity)),
    );
    let precision = match m.confidence.as_str() {
        p @ ("very-high" | "high" | "medium" | "low") => p,
        _ => "medium",
    };
    props.insert(
        "precision".to_string(),
        Value::String(precision.to_string()),
    );
    props.insert("hubwarden/rule".to_string(), json!(m.id));
    props.insert("hubwarden/engine".to_string(), json!(m.engine));
    props.insert("hubwarden/source".to_string(), json!(m.source));
    let short = if m.title.trim().is_empty() {
        &m.id
    } else {
        &m.title
    };
    let full = if m.description.trim().is_empty() {
        short
    } else {
        &m.description
    };
    let mut help_md = if m.help.trim().is_empty() {
        full.clone()
    } else {
        m.help.trim_end().to_string()
    };
    // The SARIF id is opaque: say which id suppressions and the config use.
    help_md.push_str(&format!(
        "\n\nhubwarden rule `{}`: silence it on a call line with `# hubwarden: ignore[{}]`.\n",
        m.id, m.id
    ));
    sarif::ReportingDescriptor::builder()
        .id(rule_ids::sarif_id(&m.id))
        .name(truncate_chars(&rule_ids::pascal_name(&m.id), 255))
        .help_uri(rule_ids::help_uri(m))
        .short_description(text_message(&truncate_chars(short, MAX_DESCRIPTION)))
        .full_description(text_message(&truncate_chars(full, MAX_DESCRIPTION)))
        .help(
            sarif::MultiformatMessageString::builder()
                .text(markdown_to_text(&help_md))
                .markdown(help_md)
                .build(),
        )
        .default_configuration(sarif::ReportingConfiguration {
            level: Some(level_value(m.level)),
            ..Default::default()
        })
        .properties(sarif::PropertyBag {
            tags: Some(tags),
            additional_properties: props,
        })
        .build()
}

fn text_message(t: &str) -> sarif::MultiformatMessageString {
    sarif::MultiformatMessageString::builder()
        .text(t.to_string())
        .build()
}

fn message(t: String) -> sarif::Message {
    sarif::Message {
        text: Some(t),
        ..Default::default()
    }
}

/// A repo-relative URI reference: percent-encode what a URI cannot hold, so the
/// path never parses as a scheme or host.
fn artifact_uri(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    p.split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, URI_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

const URI_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'+')
    .remove(b'@')
    .remove(b'=')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';');

fn synth_meta(f: &Finding) -> RuleMeta {
    RuleMeta {
        id: f.rule_id.clone(),
        title: f.title.clone(),
        description: f.title.clone(),
        help: String::new(),
        cwe: f.cwe.clone(),
        level: f.level,
        security_severity: f.security_severity,
        confidence: "medium".to_string(),
        engine: f.engine,
        source: "unknown".to_string(),
    }
}

/// Related locations a result carries at most (GitHub keeps 1,000 locations per
/// result; the validator's default review threshold is lower).
pub const MAX_RELATED: usize = 100;

/// `hub:repo@commit/file:line (context): snippet`, one remote hit in a sentence.
fn evidence_text(e: &crate::model::Evidence) -> String {
    format!(
        "{} ({}): {}",
        remote_ref(e),
        crate::report::context_str(e.context),
        e.snippet.lines().next().unwrap_or("").trim()
    )
}

fn build_with(
    report: &Report,
    rules: &[RuleMeta],
    opts: &RenderOptions,
    kept: &[Vec<&Finding>],
    truncated: usize,
) -> sarif::Sarif {
    // Rules: every known rule, plus a synthesized one for an id nobody described.
    let mut metas: Vec<RuleMeta> = rules.to_vec();
    let mut index: HashMap<String, usize> = HashMap::new();
    metas.retain(|m| index.insert(m.id.clone(), 0).is_none());
    for f in kept.iter().flatten() {
        if !index.contains_key(&f.rule_id) {
            index.insert(f.rule_id.clone(), 0);
            metas.push(synth_meta(f));
        }
    }
    metas.sort_by_cached_key(|m| (rule_ids::sarif_id(&m.id), m.id.clone()));
    for (i, m) in metas.iter().enumerate() {
        index.insert(m.id.clone(), i);
    }

    // Results in a stable order (by position), fingerprints computed on that order.
    let mut ordered: Vec<&Vec<&Finding>> = kept.iter().collect();
    ordered.sort_by(|a, b| {
        let (a, b) = (a[0], b[0]);
        (a.path.as_str(), a.line, a.column, a.rule_id.as_str())
            .cmp(&(b.path.as_str(), b.line, b.column, b.rule_id.as_str()))
            .then_with(|| targets::evidence_order(a, b))
    });
    let heads: Vec<&Finding> = ordered.iter().map(|g| g[0]).collect();
    let fps = crate::report::fingerprint::fingerprints(report, &heads, opts);
    let by_site = calls_by_site(report);

    let results: Vec<sarif::Result> = ordered
        .iter()
        .zip(fps)
        .map(|(group, fp)| {
            let f = group[0];
            let call = by_site.of(f);
            let uri = artifact_uri(&opts.repo_path(&f.path));
            let line = f.line.max(1) as i64;
            let end_line = call
                .map(|c| c.site.end_line.max(c.site.line) as i64)
                .unwrap_or(line)
                .max(line);
            let region = sarif::Region {
                start_line: Some(line),
                start_column: Some(f.column.max(1) as i64),
                end_line: Some(end_line),
                ..Default::default()
            };
            let physical = |region: sarif::Region| sarif::PhysicalLocation {
                artifact_location: Some(sarif::ArtifactLocation {
                    uri: Some(uri.clone()),
                    ..Default::default()
                }),
                region: Some(region),
                ..Default::default()
            };
            let location = sarif::Location {
                physical_location: Some(physical(region.clone())),
                ..Default::default()
            };
            let mut text = format!("{}: {}", f.title, f.message);
            let mut props = BTreeMap::new();
            let severity = group
                .iter()
                .map(|f| f.security_severity)
                .fold(f.security_severity, f32::max);
            props.insert(
                "security-severity".to_string(),
                Value::String(severity_string(severity)),
            );
            props.insert("hubwarden/rule".to_string(), json!(f.rule_id));
            props.insert("hubwarden/engine".to_string(), json!(f.engine));
            if group.len() > 1 {
                props.insert("hubwarden/findings".to_string(), json!(group.len()));
            }
            if !f.merged.is_empty() {
                props.insert(
                    "hubwarden/merged".to_string(),
                    json!(f.merged.iter().map(|m| &m.rule_id).collect::<Vec<_>>()),
                );
            }
            if let Some(c) = call {
                props.insert("hubwarden/api".to_string(), json!(c.site.api));
                if let Some(t) = &c.target {
                    props.insert(
                        "hubwarden/target".to_string(),
                        json!({"hub": t.hub, "repo": t.repo_id, "repoType": t.repo_type, "commit": t.commit}),
                    );
                    if !t.hub_scan.is_empty() {
                        props.insert("hub_scan".to_string(), json!(t.hub_scan));
                    }
                }
            }
            if let Some(e) = &f.evidence {
                text.push_str(&format!(" Remote evidence: {}", evidence_text(e)));
                let link = remote_link(e.hub, repo_type_of(call), &e.repo_id, &e.commit, &e.file, Some(e.line));
                props.insert(
                    "hubwarden/remote".to_string(),
                    json!({
                        "hub": e.hub, "repo": e.repo_id, "commit": e.commit, "file": e.file,
                        "line": e.line, "snippet": e.snippet, "context": e.context, "url": link,
                    }),
                );
            }
            // The other hits of the rule in the remote code. They cannot be
            // locations of their own (remote files are not in the repository, and
            // a URI with a scheme makes GitHub reject the upload), so each is a
            // related location at the call, named by its remote file, commit and
            // line.
            let others: Vec<&crate::model::Evidence> =
                group[1..].iter().filter_map(|g| g.evidence.as_ref()).collect();
            if !others.is_empty() {
                text.push_str(&format!(
                    " {} more in the remote code (related locations).",
                    others.len()
                ));
            }
            let related: Vec<sarif::Location> = others
                .iter()
                .take(MAX_RELATED)
                .enumerate()
                .map(|(i, e)| sarif::Location {
                    id: Some(i as i64 + 1),
                    physical_location: Some(physical(sarif::Region {
                        start_line: Some(line),
                        start_column: Some(f.column.max(1) as i64),
                        end_line: Some(end_line),
                        ..Default::default()
                    })),
                    logical_locations: Some(vec![sarif::LogicalLocation {
                        fully_qualified_name: Some(format!(
                            "{}:{}@{}/{}",
                            e.hub, e.repo_id, e.commit, e.file
                        )),
                        kind: Some("module".to_string()),
                        ..Default::default()
                    }]),
                    message: Some(message(evidence_text(e))),
                    ..Default::default()
                })
                .collect();
            let fixes = f.fix.as_ref().map(|fx| {
                let replacement = sarif::Replacement::builder()
                    .deleted_region(sarif::Region {
                        start_line: Some(fx.start_line.max(1) as i64),
                        start_column: Some(fx.start_column.max(1) as i64),
                        end_line: Some(fx.end_line.max(fx.start_line).max(1) as i64),
                        end_column: Some(fx.end_column.max(1) as i64),
                        ..Default::default()
                    })
                    .inserted_content(sarif::ArtifactContent {
                        text: Some(fx.replacement.clone()),
                        ..Default::default()
                    })
                    .build();
                let change = sarif::ArtifactChange::builder()
                    .artifact_location(sarif::ArtifactLocation {
                        uri: Some(uri.clone()),
                        ..Default::default()
                    })
                    .replacements(vec![replacement])
                    .build();
                vec![
                    sarif::Fix::builder()
                        .description(message(fx.description.clone()))
                        .artifact_changes(vec![change])
                        .build(),
                ]
            });
            if let Some(fx) = &f.fix {
                text.push_str(&format!(" Fix: {}.", fx.description));
            }
            let mut pf = BTreeMap::new();
            pf.insert("primaryLocationLineHash".to_string(), fp);
            let mut r = sarif::Result::builder()
                .rule_id(rule_ids::sarif_id(&f.rule_id))
                .level(result_level(f.level))
                .message(message(text))
                .locations(vec![location])
                .partial_fingerprints(pf)
                .properties(sarif::PropertyBag {
                    tags: None,
                    additional_properties: props,
                })
                .build();
            r.rule_index = index.get(&f.rule_id).map(|i| *i as i64);
            r.related_locations = (!related.is_empty()).then_some(related);
            r.fixes = fixes;
            r
        })
        .collect();

    let version = env!("CARGO_PKG_VERSION").to_string();
    let driver = sarif::ToolComponent::builder()
        .name("hubwarden")
        .full_name(format!("hubwarden {version}"))
        .version(version.clone())
        .semantic_version(version)
        .information_uri(env!("CARGO_PKG_REPOSITORY"))
        .rules(metas.iter().map(descriptor).collect::<Vec<_>>())
        .build();
    let category = if opts.category.ends_with('/') {
        opts.category.clone()
    } else {
        format!("{}/", opts.category)
    };
    let mut run_props = BTreeMap::new();
    let mut notifications = Vec::new();
    if truncated > 0 {
        let msg = format!(
            "{truncated} of {} findings were left out to stay within GitHub's limits ({} results, {} bytes gzipped); the most severe were kept. See the JSON report for all.",
            findings(report).len(),
            opts.max_results,
            opts.max_gzip_bytes
        );
        run_props.insert("hubwarden/truncated".to_string(), json!(truncated));
        notifications.push(
            sarif::Notification::builder()
                .level(Value::String("warning".into()))
                .message(message(msg))
                .build(),
        );
    }
    if let Some(s) = &report.summary {
        run_props.insert("hubwarden/suppressed".to_string(), json!(s.suppressed));
        run_props.insert("hubwarden/allowed".to_string(), json!(s.allowed));
    }
    let mut invocation = sarif::Invocation::builder()
        .execution_successful(true)
        .build();
    invocation.tool_execution_notifications = (!notifications.is_empty()).then_some(notifications);
    let mut run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .automation_details(sarif::RunAutomationDetails {
            id: Some(category),
            ..Default::default()
        })
        .results(results)
        .invocations(vec![invocation])
        .column_kind(json!("unicodeCodePoints"))
        .build();
    run.properties = (!run_props.is_empty()).then_some(sarif::PropertyBag {
        tags: None,
        additional_properties: run_props,
    });
    sarif::Sarif::builder()
        .schema(SCHEMA_URI)
        .runs(vec![run])
        .version(json!("2.1.0"))
        .build()
}
