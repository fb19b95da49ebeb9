//! Report: the text/json/sarif/github/CycloneDX renderers, the job summary,
//! fingerprints and GitHub's limits. By subject in the submodules: `config_file`,
//! `policy_rules` (findings, suppressions, allow-list, pin fixes), `diff_base_calls`,
//! `upload_sarif`.

mod config_file;
mod diff_base_calls;
mod policy_rules;
mod upload_sarif;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use hubwarden::cli::{GithubArgs, ScanFormat};
use hubwarden::config::{AllowEntry, Config, ConfigError, RuleOverride};
use hubwarden::model::{
    CallReport, Engine, Evidence, ExecContext, Family, Finding, HubKind, Level, LoadSite, Platform,
    RepoType, Report, RuleMeta,
};
use hubwarden::policy::{self, diff_base};
use hubwarden::report::upload::{self, UploadError, UploadOptions, UploadTarget};
use hubwarden::report::{self, RenderOptions};
use serde_json::Value;

use crate::common::{self, git};
use crate::fakegithub::{self, Answer, FakeGithub};

const CHAT: &str = "7ecde348ff9cda2c3ba69a0c4543365039d0d65b";
const EVIL: &str = "b653891162a040e1bfe6e436bdcd93827e0c56e5";

fn project() -> PathBuf {
    common::fixture("report/project")
}

fn read_json<T: serde::de::DeserializeOwned>(rel: &str) -> T {
    let text = std::fs::read_to_string(common::fixture(rel)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The hand-made scan result run through policy with `config`, read at `root`.
fn build_at(config: &Config, root: &Path, report: Report) -> (Report, Vec<RuleMeta>) {
    let mut report = report;
    let scan: Vec<Finding> = read_json("report/scan-findings.json");
    let mut rules: Vec<RuleMeta> = read_json("report/scan-rules.json");
    rules.extend(policy::rule_metas());
    let read = policy::fs_sources(root);
    let mut all = scan;
    all.extend(policy::policy_findings(&report.calls, &read));
    let out = policy::merge::merge_outcome(
        policy::apply(config, &report.calls, all, &read),
        &report.calls,
    );
    report.findings = Some(out.findings);
    report.summary = Some(out.summary);
    (report, rules)
}

fn build(config: &Config) -> (Report, Vec<RuleMeta>) {
    build_at(config, &project(), read_json("report/report.json"))
}

fn opts_at(root: &Path) -> RenderOptions {
    RenderOptions {
        root: Some(root.to_path_buf()),
        ..Default::default()
    }
}

fn opts() -> RenderOptions {
    opts_at(&project())
}

fn ids_at(report: &Report, path: &str, line: u32) -> Vec<String> {
    let mut v: Vec<String> = report
        .findings
        .as_ref()
        .unwrap()
        .iter()
        .filter(|f| f.path == path && f.line == line)
        .map(|f| f.rule_id.clone())
        .collect();
    v.sort();
    v
}

fn validate_sarif(sarif: &Value) {
    let schema: Value = read_json("report/sarif-schema-2.1.0.json");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(sarif)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "SARIF schema errors: {errors:#?}");
}

fn sarif_value(report: &Report, rules: &[RuleMeta], opts: &RenderOptions) -> Value {
    let text = report::render(ScanFormat::Sarif, report, rules, opts);
    let v: Value = serde_json::from_str(&text).unwrap();
    validate_sarif(&v);
    v
}

fn results(v: &Value) -> &Vec<Value> {
    v["runs"][0]["results"].as_array().unwrap()
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshots_of_every_format() {
    let (report, rules) = build(&Config::default());
    let o = opts();
    insta::assert_snapshot!(
        "text",
        report::render(ScanFormat::Text, &report, &rules, &o)
    );
    insta::assert_snapshot!(
        "json",
        report::render(ScanFormat::Json, &report, &rules, &o)
    );
    let sarif = report::render(ScanFormat::Sarif, &report, &rules, &o);
    validate_sarif(&serde_json::from_str(&sarif).unwrap());
    common::keep_artifact("report-fixture.sarif", &sarif);
    insta::assert_snapshot!("sarif", sarif);
    insta::assert_snapshot!(
        "github",
        report::render(ScanFormat::Github, &report, &rules, &o)
    );
    insta::assert_snapshot!("summary", report::summary_markdown(&report, &rules));
}

#[test]
fn json_round_trips_to_the_report() {
    let (mut report, rules) = build(&Config::default());
    let text = report::render(ScanFormat::Json, &report, &rules, &opts());
    let back: Report = serde_json::from_str(&text).unwrap();
    // The finding -> call index is in-process only; JSON links findings to calls
    // by path, line and column.
    for f in report.findings.iter_mut().flatten() {
        f.call = None;
    }
    assert_eq!(back, report);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["summary"]["failed"], true);
    assert_eq!(v["summary"]["fail_on"], "error");
}

#[test]
fn text_colour_only_when_asked() {
    let (report, rules) = build(&Config::default());
    let plain = report::render(ScanFormat::Text, &report, &rules, &opts());
    assert!(!plain.contains('\x1b'));
    let coloured = report::render(
        ScanFormat::Text,
        &report,
        &rules,
        &RenderOptions {
            color: true,
            ..opts()
        },
    );
    assert!(coloured.contains("\x1b[1;31m"));
}

// ---------------------------------------------------------------- SARIF rules

fn walk_locations<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "artifactLocation" {
                    out.push(x);
                }
                walk_locations(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk_locations(x, out)),
        _ => {}
    }
}

#[test]
fn sarif_follows_githubs_rules() {
    let (report, rules) = build(&Config::default());
    let v = sarif_value(&report, &rules, &opts());
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().starts_with("https://"));
    let run = &v["runs"][0];
    // Category: a trailing slash makes it the category, not a run id.
    assert_eq!(run["automationDetails"]["id"], "hubwarden/");
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "hubwarden");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(driver["semanticVersion"], env!("CARGO_PKG_VERSION"));
    assert!(
        driver["informationUri"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    // No URI with a scheme in any location (the whole upload would be rejected).
    let mut locs = Vec::new();
    walk_locations(run, &mut locs);
    assert!(!locs.is_empty());
    for l in locs {
        let uri = l["uri"].as_str().unwrap();
        assert!(!uri.contains(':') && !uri.starts_with('/'), "bad uri {uri}");
    }
    let rs = results(&v);
    // One result per call and rule.
    let per_call_and_rule: std::collections::HashSet<(&str, u32, u32, &str)> = report
        .findings
        .as_ref()
        .unwrap()
        .iter()
        .map(|f| (f.path.as_str(), f.line, f.column, f.rule_id.as_str()))
        .collect();
    assert_eq!(rs.len(), per_call_and_rule.len());
    assert!(rs.len() < report.findings.as_ref().unwrap().len());
    for r in rs {
        assert_eq!(r["locations"].as_array().unwrap().len(), 1);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_i64().unwrap() >= 1);
        assert!(region["startColumn"].as_i64().unwrap() >= 1);
        assert!(region["endLine"].as_i64().unwrap() >= region["startLine"].as_i64().unwrap());
        assert!(r["partialFingerprints"]["primaryLocationLineHash"].is_string());
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(driver["rules"][idx]["id"], r["ruleId"]);
        assert!(r["message"]["text"].as_str().unwrap().len() > 10);
    }
    // The remote file@commit:line is in the message and properties, not a location.
    let shell = rs
        .iter()
        .find(|r| r["properties"]["hubwarden/rule"] == "reverse-shell")
        .unwrap();
    assert_eq!(shell["ruleId"], "HW3005");
    let text = shell["message"]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("acme/chat@{CHAT}/modeling_chat.py:41")),
        "{text}"
    );
    assert_eq!(
        shell["properties"]["hubwarden/remote"]["url"],
        format!("https://huggingface.co/acme/chat/blob/{CHAT}/modeling_chat.py#L41")
    );

    for rule in driver["rules"].as_array().unwrap() {
        let p = &rule["properties"];
        let sev: f64 = p["security-severity"].as_str().unwrap().parse().unwrap();
        assert!((0.1..=10.0).contains(&sev));
        let tags: Vec<&str> = p["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(tags.contains(&"security"));
        assert!(
            tags.iter().any(|t| {
                t.strip_prefix("external/cwe/cwe-")
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            }),
            "{tags:?}"
        );
        assert!(["very-high", "high", "medium", "low"].contains(&p["precision"].as_str().unwrap()));
        assert!(!rule["help"]["markdown"].as_str().unwrap().is_empty());
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty());
        assert!(
            !rule["shortDescription"]["text"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert!(!rule["fullDescription"]["text"].as_str().unwrap().is_empty());
        // A stable opaque id and a PascalCase name that differ (SARIF1001,
        // SARIF2009, SARIF2012); the rule id of JSON and suppressions is a property.
        let id = rule["id"].as_str().unwrap();
        let name = rule["name"].as_str().unwrap();
        let kebab = p["hubwarden/rule"].as_str().unwrap();
        assert!(
            id.starts_with("HW") && id[2..].bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
        assert_ne!(id, name);
        assert!(name.starts_with(|c: char| c.is_ascii_uppercase()), "{name}");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric()), "{name}");
        assert_eq!(name, report::rule_ids::pascal_name(kebab));
        assert!(rule["helpUri"].as_str().unwrap().starts_with("https://"));
        assert!(
            rule["help"]["markdown"]
                .as_str()
                .unwrap()
                .contains(&format!("# hubwarden: ignore[{kebab}]"))
        );
    }
    // Two exec-dynamic hits in acme/chat for the call at line 4: one result, the
    // second hit a related location at the call naming the remote file and line.
    let exec: Vec<&Value> = rs
        .iter()
        .filter(|r| {
            r["properties"]["hubwarden/rule"] == "exec-dynamic"
                && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
        })
        .collect();
    assert_eq!(exec.len(), 1, "{exec:#?}");
    let related = exec[0]["relatedLocations"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert_eq!(exec[0]["properties"]["hubwarden/findings"], 2);
    assert_eq!(
        related[0]["physicalLocation"]["artifactLocation"]["uri"],
        "app/train.py"
    );
    assert_eq!(
        related[0]["logicalLocations"][0]["fullyQualifiedName"],
        format!("huggingface:acme/chat@{CHAT}/modeling_chat.py")
    );
    let related_text = related[0]["message"]["text"].as_str().unwrap();
    assert!(
        related_text.contains("modeling_chat.py:120"),
        "{related_text}"
    );
    assert!(
        exec[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("modeling_chat.py:88"),
        "{}",
        exec[0]
    );
    // The validator really checks: a 0 column is rejected.
    let mut broken = v.clone();
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startColumn"] =
        serde_json::json!(0);
    let schema: Value = read_json("report/sarif-schema-2.1.0.json");
    assert!(
        !jsonschema::validator_for(&schema)
            .unwrap()
            .is_valid(&broken)
    );

    let pinned = rules
        .iter()
        .find(|r| r.id == "remote-code-unpinned")
        .unwrap();
    assert!(pinned.cwe.contains(&"CWE-494".to_string()));

    // Pin fixes as SARIF fixes on the call.
    let fixed: Vec<&Value> = rs.iter().filter(|r| r["fixes"].is_array()).collect();
    assert_eq!(fixed.len(), 3);
    for r in fixed {
        assert_eq!(r["ruleId"], "HW1002");
        assert_eq!(r["properties"]["hubwarden/rule"], "remote-code-unpinned");
        let change = &r["fixes"][0]["artifactChanges"][0];
        assert_eq!(change["artifactLocation"]["uri"], "app/train.py");
        let rep = &change["replacements"][0];
        assert!(rep["deletedRegion"]["endColumn"].as_i64().unwrap() >= 1);
        assert!(
            rep["insertedContent"]["text"]
                .as_str()
                .unwrap()
                .contains(CHAT)
                || rep["insertedContent"]["text"]
                    .as_str()
                    .unwrap()
                    .contains("someone/nets:")
        );
    }
}

#[test]
fn sarif_category_and_path_prefix() {
    let (report, rules) = build(&Config::default());
    let o = RenderOptions {
        category: "hubwarden/models/".into(),
        path_prefix: "services/ml".into(),
        ..opts()
    };
    let v = sarif_value(&report, &rules, &o);
    assert_eq!(v["runs"][0]["automationDetails"]["id"], "hubwarden/models/");
    let uri = &results(&v)[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert!(uri.as_str().unwrap().starts_with("services/ml/"), "{uri}");
}

#[test]
fn suppressed_and_allowed_results_are_not_in_sarif() {
    let (report, rules) = build(&Config::default());
    let v = sarif_value(&report, &rules, &opts());
    assert!(
        !results(&v)
            .iter()
            .any(|r| r["locations"][0]["physicalLocation"]["region"]["startLine"] == 13)
    );
    assert!(results(&v).iter().all(|r| r["suppressions"].is_null()));
    assert_eq!(v["runs"][0]["properties"]["hubwarden/suppressed"], 4);
}

// ---------------------------------------------------------------- fingerprints

fn fingerprints(v: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = results(v)
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["message"]["text"].as_str().unwrap().to_string(),
                r["partialFingerprints"]["primaryLocationLineHash"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fingerprints_are_stable_and_distinct() {
    let (report, rules) = build(&Config::default());
    let a = sarif_value(&report, &rules, &opts());
    let (report2, rules2) = build(&Config::default());
    let b = sarif_value(&report2, &rules2, &opts());
    assert_eq!(fingerprints(&a), fingerprints(&b));

    // Different findings on one line have different hashes (here: three on line 4,
    // two of them the same rule).
    let fps: Vec<String> = fingerprints(&a).into_iter().map(|x| x.2).collect();
    let unique: std::collections::HashSet<&String> = fps.iter().collect();
    assert_eq!(unique.len(), fps.len());
    for fp in &fps {
        let (hex, n) = fp.split_once(':').unwrap();
        assert!(hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(n.parse::<u32>().unwrap() >= 1);
    }
}

#[test]
fn fingerprints_survive_lines_inserted_above() {
    let (report, rules) = build(&Config::default());
    let before = sarif_value(&report, &rules, &opts());

    // The same project with three lines inserted at the top of each file.
    let dir = tempfile::tempdir().unwrap();
    for rel in ["app/train.py", "data/load.py"] {
        let src = std::fs::read_to_string(project().join(rel)).unwrap();
        let dst = dir.path().join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::write(&dst, format!("import os\n# a comment\n\n{src}")).unwrap();
    }
    let mut shifted: Report = read_json("report/report.json");
    for c in &mut shifted.calls {
        c.site.line += 3;
        c.site.end_line += 3;
    }
    let scan: Vec<Finding> = read_json("report/scan-findings.json");
    let scan: Vec<Finding> = scan
        .into_iter()
        .map(|mut f| {
            f.line += 3;
            f
        })
        .collect();
    let read = policy::fs_sources(dir.path());
    let mut all = scan;
    all.extend(policy::policy_findings(&shifted.calls, &read));
    let out = policy::merge::merge_outcome(
        policy::apply(&Config::default(), &shifted.calls, all, &read),
        &shifted.calls,
    );
    shifted.findings = Some(out.findings);
    shifted.summary = Some(out.summary);
    let after = sarif_value(&shifted, &rules, &opts_at(dir.path()));

    let hashes = |v: &Value| {
        let mut h: Vec<String> = results(v)
            .iter()
            .map(|r| {
                r["partialFingerprints"]["primaryLocationLineHash"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        h.sort();
        h
    };
    assert_eq!(hashes(&before), hashes(&after));
    // ... while the lines really moved.
    assert_ne!(
        results(&before)[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        results(&after)[0]["locations"][0]["physicalLocation"]["region"]["startLine"]
    );
}

// ---------------------------------------------------------------- limits

fn many_findings(n: usize) -> Report {
    let (mut report, _) = build(&Config::default());
    let mut fs = Vec::with_capacity(n);
    for i in 0..n {
        let (level, sev) = if i % 1000 == 7 {
            (Level::Error, 9.0)
        } else {
            (Level::Note, 2.0)
        };
        fs.push(Finding {
            rule_id: "exec-dynamic".into(),
            level,
            security_severity: sev,
            cwe: vec!["CWE-95".into()],
            title: "exec of dynamic data".into(),
            message: format!("hit {i}"),
            engine: Engine::Query,
            // Each on a line of its own: one SARIF result each.
            path: "app/train.py".into(),
            line: 100 + i as u32,
            column: 9,
            evidence: Some(Evidence {
                hub: HubKind::Huggingface,
                repo_id: "acme/chat".into(),
                commit: CHAT.into(),
                file: "modeling_chat.py".into(),
                line: i as u32 + 1,
                snippet: format!("exec(x{i})"),
                context: ExecContext::CallTime,
            }),
            fix: None,
            merged: Vec::new(),
            call: None,
        });
    }
    report.findings = Some(fs);
    report
}

#[test]
fn sarif_keeps_the_25000_most_severe() {
    let report = many_findings(25_010);
    let (_, rules) = build(&Config::default());
    let out = report::sarif::build(&report, &rules, &opts());
    assert_eq!(out.truncated, 10);
    let v = serde_json::to_value(&out.log).unwrap();
    let rs = results(&v);
    assert_eq!(rs.len(), 25_000);
    // All 26 errors are kept.
    assert_eq!(rs.iter().filter(|r| r["level"] == "error").count(), 26);
    assert_eq!(v["runs"][0]["properties"]["hubwarden/truncated"], 10);
    let note = &v["runs"][0]["invocations"][0]["toolExecutionNotifications"][0];
    assert!(
        note["message"]["text"]
            .as_str()
            .unwrap()
            .contains("10 of 25010 findings")
    );
    let mut r2 = report.clone();
    r2.summary.as_mut().unwrap().truncated = out.truncated;
    assert!(report::summary_markdown(&r2, &rules).contains("10 results were left out"));
}

#[test]
fn sarif_stays_under_the_gzip_cap() {
    let report = many_findings(2_000);
    let (_, rules) = build(&Config::default());
    let o = RenderOptions {
        max_gzip_bytes: 40_000,
        ..opts()
    };
    let out = report::sarif::build(&report, &rules, &o);
    assert!(out.truncated > 0);
    let text = serde_json::to_string_pretty(&out.log).unwrap();
    assert!(report::sarif::gzip_len(&text) <= 40_000);
    validate_sarif(&serde_json::from_str(&text).unwrap());
}

// ---------------------------------------------------------------- github

#[test]
fn github_annotations_are_escaped_capped_and_most_severe_first() {
    let report = many_findings(30);
    let o = opts();
    let out = report::render(ScanFormat::Github, &report, &[], &o);
    let lines: Vec<&str> = out.lines().collect();
    // 1 error (i=7), 10 notices of 29, then the left-out notice.
    assert!(lines[0].starts_with("::error file=app/train.py,line=107,endLine=107,col=9,title="));
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("::error ")).count(),
        1
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("::notice file="))
            .count(),
        10
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("::notice title=hubwarden::19 more findings")
    );
    for l in &lines {
        let (_, msg) = l.split_once("::").unwrap().1.split_once("::").unwrap();
        assert!(!msg.contains('\n') && !msg.contains('\r'));
    }
    assert_eq!(
        hubwarden::report::github::escape_data("a%b\r\nc"),
        "a%25b%0D%0Ac"
    );
    assert_eq!(
        hubwarden::report::github::escape_property("t: a, b%"),
        "t%3A a%2C b%25"
    );
}

#[test]
fn summary_links_to_every_hub_and_stays_small() {
    let link = |hub, rt, repo: &str, file: &str| {
        report::remote_link(hub, rt, repo, "c0ffee", file, Some(7)).unwrap()
    };
    assert_eq!(
        link(HubKind::Huggingface, RepoType::Model, "o/r", "a.py"),
        "https://huggingface.co/o/r/blob/c0ffee/a.py#L7"
    );
    assert_eq!(
        link(HubKind::Huggingface, RepoType::Dataset, "o/r", "d/x.py"),
        "https://huggingface.co/datasets/o/r/blob/c0ffee/d/x.py#L7"
    );
    assert_eq!(
        link(HubKind::Huggingface, RepoType::Space, "o/r", "app.py"),
        "https://huggingface.co/spaces/o/r/blob/c0ffee/app.py#L7"
    );
    assert_eq!(
        link(HubKind::Modelscope, RepoType::Model, "o/r", "m.py"),
        "https://modelscope.cn/models/o/r/file/view/c0ffee/m.py"
    );
    assert_eq!(
        link(HubKind::Opencsg, RepoType::Model, "o/r", "m.py"),
        "https://opencsg.com/models/o/r/blob/c0ffee/m.py"
    );
    assert_eq!(
        link(HubKind::Github, RepoType::Github, "o/r", "hubconf.py"),
        "https://github.com/o/r/blob/c0ffee/hubconf.py#L7"
    );
    assert_eq!(
        link(HubKind::Huggingface, RepoType::Model, "o/r", "a b#c.py"),
        "https://huggingface.co/o/r/blob/c0ffee/a%20b%23c.py#L7"
    );

    let (report, rules) = build(&Config::default());
    let md = report::summary_markdown(&report, &rules);
    assert!(md.contains(&format!(
        "(https://huggingface.co/acme/chat/blob/{CHAT}/modeling_chat.py#L41)"
    )));
    assert!(md.contains("https://github.com/someone/nets/blob/12fb5d00de0e665fa9f0674130aadb39ae9d20ac/hubconf.py#L5"));
    assert!(md.contains(&format!("revision=\"{CHAT}\"")));
    // Untrusted text cannot break out of a table cell.
    assert!(md.contains("import time \\| 100% sure, see \\`x\\`."));

    let big = many_findings(20_000);
    let md = report::summary_markdown(&big, &rules);
    assert!(md.len() < 1024 * 1024);

    // 20,000 hits in the code of one target: the target still shows, its table
    // is capped, and the other targets keep their sections.
    let mut one = many_findings(20_000);
    for f in one.findings.iter_mut().flatten() {
        (f.line, f.column, f.call) = (4, 9, Some(0));
    }
    let md = report::summary_markdown(&one, &rules);
    assert!(md.len() < 1024 * 1024);
    assert!(md.contains("`acme/chat`"), "{}", &md[..2000]);
    assert!(md.contains("19900 more findings in this target's code"));
    let clean = md.split("### Targets without findings").nth(1).unwrap();
    assert!(clean.contains("github github someone/nets"), "{clean}");
}

#[test]
fn step_summary_is_appended_only_in_actions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("summary.md");
    std::fs::write(&file, "earlier step\n").unwrap();
    let path = file.to_string_lossy().to_string();
    let env = |k: &str| (k == "GITHUB_STEP_SUMMARY").then(|| path.clone());
    assert!(report::github::append_step_summary("## hubwarden\n", &env).unwrap());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "earlier step\n## hubwarden\n"
    );
    assert!(!report::github::append_step_summary("x", &|_| None).unwrap());
}

#[test]
fn remote_text_cannot_inject_workflow_commands_or_escapes() {
    let mut report = many_findings(1);
    let f = &mut report.findings.as_mut().unwrap()[0];
    f.message = "::error::fake\nsecond\u{1b}[31m".into();
    f.evidence.as_mut().unwrap().snippet = "::add-mask::x".into();
    let text = report::render(ScanFormat::Text, &report, &[], &opts());
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("::")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'));
    let gh = report::render(ScanFormat::Github, &report, &[], &opts());
    assert_eq!(gh.lines().count(), 1, "{gh}");
}

#[test]
fn two_calls_on_one_line_keep_their_own_findings() {
    let mut report: Report = read_json("report/report.json");
    report.calls.truncate(1);
    let mut second = report.calls[0].clone();
    second.site.column = 60;
    second.site.repo_id = Some("acme/other".into());
    if let Some(t) = second.target.as_mut() {
        t.repo_id = Some("acme/other".into());
    }
    report.calls.push(second);
    let mut f: Finding = read_json::<Vec<Finding>>("report/scan-findings.json").remove(0);
    f.column = 60;
    f.message = "on the second call".into();
    report.findings = Some(vec![f]);
    let text = report::render(ScanFormat::Text, &report, &[], &opts());
    let block = |repo: &str| {
        text.split("\n\n")
            .find(|b| b.lines().next().unwrap().contains(repo))
            .unwrap_or_else(|| panic!("no block for {repo}: {text}"))
    };
    assert!(block("acme/other").contains("on the second call"), "{text}");
    assert!(!block("acme/chat").contains("on the second call"), "{text}");
}

// ---------------------------------------------------------------- CycloneDX

/// The official CycloneDX 1.6 schema (committed copy), with the two schemas it
/// references served from their committed copies instead of the network.
fn cyclonedx_validator() -> jsonschema::Validator {
    let dir = common::fixture("schemas/cyclonedx");
    let load = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let mut opts = jsonschema::options().should_validate_formats(true);
    for name in ["spdx.schema.json", "jsf-0.82.schema.json"] {
        opts = opts.with_resource(
            format!("http://cyclonedx.org/schema/{name}"),
            jsonschema::Resource::from_contents(load(name)).unwrap(),
        );
    }
    opts.build(&load("bom-1.6.schema.json")).unwrap()
}

fn assert_valid_bom(bom: &Value) {
    let errors: Vec<String> = cyclonedx_validator()
        .iter_errors(bom)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "CycloneDX schema errors: {errors:#?}");
}

fn fixture_bom() -> (Report, Value) {
    let (report, _) = build(&Config::default());
    let opts = report::cyclonedx::BomOptions {
        subject: "project".into(),
        sarif: Some("hubwarden-results.sarif".into()),
        timestamp: Some("2026-01-02T03:04:05Z".into()),
        serial_number: Some("urn:uuid:00000000-0000-4000-8000-000000000000".into()),
    };
    let text = report::cyclonedx::render(&report, &opts);
    common::keep_artifact("report-fixture.cdx.json", &text);
    (report, serde_json::from_str(&text).unwrap())
}

#[test]
fn cyclonedx_bom_is_valid_and_lists_each_target_once() {
    let (report, bom) = fixture_bom();
    assert_valid_bom(&bom);
    insta::assert_json_snapshot!("cyclonedx", bom);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.6");
    let components = bom["components"].as_array().unwrap();
    // One component per remote target (three calls load acme/chat at one commit).
    assert_eq!(components.len(), 6);
    let chat = components
        .iter()
        .find(|c| c["name"] == "acme/chat")
        .unwrap();
    assert_eq!(chat["type"], "machine-learning-model");
    assert_eq!(chat["version"], CHAT);
    assert_eq!(chat["purl"], format!("pkg:huggingface/acme/chat@{CHAT}"));
    // The files that run, each with its SHA-256.
    let files: Vec<&str> = chat["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "file");
            assert_eq!(f["hashes"][0]["alg"], "SHA-256");
            f["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        files,
        [
            "configuration_chat.py",
            "modeling_chat.py",
            "tokenization_chat.py"
        ]
    );
    // The call sites as evidence.
    let lines: Vec<u64> = chat["evidence"]["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["location"], "app/train.py");
            o["line"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(lines, [4, 5, 12]);
    // torch.hub's GitHub repository: a github purl.
    let nets = components
        .iter()
        .find(|c| c["name"] == "someone/nets")
        .unwrap();
    assert_eq!(
        nets["purl"],
        "pkg:github/someone/nets@12fb5d00de0e665fa9f0674130aadb39ae9d20ac"
    );
    // A dataset is `data` and has no purl (no purl type exists for it).
    let ds = components.iter().find(|c| c["name"] == "acme/ds").unwrap();
    assert_eq!(ds["type"], "data");
    assert!(ds["purl"].is_null() && ds["version"].is_null());
    // Unverified targets are incomplete; the others complete.
    let incomplete: Vec<&str> = bom["compositions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["aggregate"] == "incomplete")
        .flat_map(|c| c["assemblies"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(incomplete, [ds["bom-ref"].as_str().unwrap()]);
    // The SARIF of the same run, as a static-analysis report.
    assert_eq!(
        bom["externalReferences"][0]["type"],
        "static-analysis-report"
    );
    assert_eq!(
        bom["externalReferences"][0]["url"],
        "hubwarden-results.sarif"
    );
    // Every component is a dependency of the scanned codebase.
    let deps = bom["dependencies"][0]["dependsOn"].as_array().unwrap();
    assert_eq!(deps.len(), components.len());
    assert_eq!(report.calls.len(), 8);
}

#[test]
fn the_cyclonedx_schema_really_checks() {
    let (_, bom) = fixture_bom();
    for (pointer, bad) in [
        ("/components/0/type", serde_json::json!("model")),
        ("/serialNumber", serde_json::json!("42")),
        (
            "/components/1/components/0/hashes/0/content",
            serde_json::json!("not-hex"),
        ),
        ("/compositions/0/aggregate", serde_json::json!("partial")),
    ] {
        let mut broken = bom.clone();
        *broken.pointer_mut(pointer).unwrap() = bad;
        assert!(
            !cyclonedx_validator().is_valid(&broken),
            "{pointer} should be rejected"
        );
    }
}
