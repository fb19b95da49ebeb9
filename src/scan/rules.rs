//! Rule loading: the built-in rule files embedded at build time plus user rule folders,
//! parsed and validated into a `RuleSet` (query rules, one YARA-X rule set, pickle lists).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;
use tree_sitter::Query;

use super::error::RuleError;
use super::pickle::PickleLists;
use crate::model::{Engine, Level, RuleMeta};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));
}

/// The on-disk shape of `rules/python/<id>.yml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct QueryRuleFile {
    id: String,
    title: String,
    description: String,
    help: String,
    cwe: Vec<String>,
    level: String,
    security_severity: f32,
    confidence: String,
    /// Level when the match runs at import time; default: one step above `level`.
    #[serde(default)]
    import_time_level: Option<String>,
    /// What the finding says (default: the title).
    #[serde(default)]
    message: Option<String>,
    /// A regex (or a list of regexes) that every file the query can match contains;
    /// a file is parsed only if every regex of some rule's prefilter matches it, and
    /// only those rules' queries run (most files are never parsed, which keeps scans fast).
    #[serde(default)]
    prefilter: Option<Prefilter>,
    query: String,
    #[serde(default)]
    examples: Examples,
}

/// One regex, or several that must all match.
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
enum Prefilter {
    One(String),
    All(Vec<String>),
}

// The rule examples type lives with the rule metadata (scan::catalogue reads it too).
pub use crate::rulemeta::Examples;

/// A compiled tree-sitter query rule.
#[derive(Debug)]
pub struct QueryRule {
    pub meta: RuleMeta,
    pub import_time_level: Level,
    pub message: String,
    pub query_src: String,
    /// `query_src` compiled (once: compiling every rule's query is most of a small
    /// scan's cost, and the scanner runs this one).
    pub(crate) query: Arc<Query>,
    /// Regexes that a file must all contain for the query to be able to match
    /// (empty: every file).
    pub prefilter: Vec<String>,
    pub examples: Examples,
}

/// A YARA-X rule file: its metadata (the compiled rules live in `RuleSet::yara`).
#[derive(Debug)]
pub struct YaraRule {
    pub meta: RuleMeta,
    /// The YARA identifier (namespace = id).
    pub ident: String,
}

/// Every rule of a run, validated.
pub struct RuleSet {
    pub(crate) query: Vec<QueryRule>,
    pub(crate) yara: Vec<YaraRule>,
    /// Compiled once per load and leaked: YARA-X scanners borrow their rules, and the
    /// scanners are kept per thread for the whole run (a handful of loads per process).
    pub(crate) yara_rules: &'static yara_x::Rules,
    pub(crate) pickle: PickleLists,
    pub(crate) catalogue: super::catalogue::Catalogue,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field("query", &self.query.len())
            .field("yara", &self.yara.len())
            .finish()
    }
}

pub(crate) fn python_language() -> tree_sitter::Language {
    tree_sitter_python::LANGUAGE.into()
}

fn parse_level(file: &str, line: usize, s: &str) -> Result<Level, RuleError> {
    Level::parse(s).ok_or_else(|| {
        RuleError::new(
            file,
            line,
            format!("level must be error, warning or note, not {s:?}"),
        )
    })
}

fn raise(level: Level) -> Level {
    match level {
        Level::Note => Level::Warning,
        _ => Level::Error,
    }
}

fn check_confidence(file: &str, line: usize, s: &str) -> Result<String, RuleError> {
    match s {
        "very-high" | "high" | "medium" | "low" => Ok(s.to_string()),
        _ => Err(RuleError::new(
            file,
            line,
            format!("confidence must be very-high, high, medium or low, not {s:?}"),
        )),
    }
}

fn check_common(file: &str, text: &str, cwe: &[String], severity: f32) -> Result<(), RuleError> {
    for c in cwe {
        let ok = c
            .strip_prefix("CWE-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(RuleError::new(
                file,
                key_line(text, "cwe"),
                format!("CWE {c:?} must look like \"CWE-95\""),
            ));
        }
    }
    if !(0.0..=10.0).contains(&severity) || severity.is_nan() {
        return Err(RuleError::new(
            file,
            key_line(text, "security-severity").max(key_line(text, "security_severity")),
            format!("security-severity {severity} must be within 0.0-10.0"),
        ));
    }
    Ok(())
}

/// 1-based line of a top-level `key:` in a YAML file (0 if absent).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .map_or(0, |i| i + 1)
}

/// 1-based line of the first byte of a YARA meta value `key = ...` (0 if absent).
fn yara_key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

fn stem(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.split_once('.').map_or(base, |(s, _)| s)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn load_query_rule(origin: &str, source: &str, text: &str) -> Result<QueryRule, RuleError> {
    let raw: QueryRuleFile = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        RuleError::new(origin, line, e.to_string())
    })?;
    let id_line = key_line(text, "id");
    if raw.id != stem(origin) || !valid_id(&raw.id) {
        return Err(RuleError::new(
            origin,
            id_line,
            format!(
                "id {:?} must equal the file name stem {:?} (lowercase letters, digits, '-')",
                raw.id,
                stem(origin)
            ),
        ));
    }
    check_common(origin, text, &raw.cwe, raw.security_severity)?;
    let level = parse_level(origin, key_line(text, "level"), &raw.level)?;
    let import_time_level = match &raw.import_time_level {
        Some(s) => parse_level(origin, key_line(text, "import-time-level"), s)?,
        None => raise(level),
    };
    let confidence = check_confidence(origin, key_line(text, "confidence"), &raw.confidence)?;
    let prefilter = match raw.prefilter {
        None => Vec::new(),
        Some(Prefilter::One(p)) => vec![p],
        Some(Prefilter::All(ps)) => ps,
    };
    for p in &prefilter {
        regex::bytes::Regex::new(p).map_err(|e| {
            RuleError::new(
                origin,
                key_line(text, "prefilter"),
                format!("prefilter regex: {e}"),
            )
        })?;
    }
    let query_line = key_line(text, "query");
    let query = Query::new(&python_language(), &raw.query).map_err(|e| {
        // A block scalar (`query: |`) starts on the next line.
        let inline = text
            .lines()
            .nth(query_line.saturating_sub(1))
            .is_some_and(|l| !l.trim_end().ends_with('|') && !l.trim_end().ends_with('>'));
        let line = query_line + e.row + usize::from(!inline);
        RuleError::new(
            origin,
            line,
            format!(
                "tree-sitter query: {} (column {})",
                e.message.trim(),
                e.column + 1
            ),
        )
    })?;
    if query.capture_index_for_name("span").is_none() {
        return Err(RuleError::new(
            origin,
            query_line,
            "the query needs an @span capture",
        ));
    }
    Ok(QueryRule {
        message: raw.message.unwrap_or_else(|| raw.title.clone()),
        meta: RuleMeta {
            id: raw.id,
            title: raw.title,
            description: raw.description,
            help: raw.help,
            cwe: raw.cwe,
            level,
            security_severity: raw.security_severity,
            confidence,
            engine: Engine::Query,
            source: source.to_string(),
        },
        import_time_level,
        query_src: raw.query,
        query: Arc::new(query),
        prefilter,
        examples: raw.examples,
    })
}

fn yara_error_line(e: &yara_x::errors::CompileError) -> usize {
    // Labels carry the 1-based line of the offending span; they are only public
    // through their serialized form.
    e.labels()
        .filter_map(|l| serde_json::to_value(&l).ok())
        .find_map(|v| v.get("line").and_then(|n| n.as_u64()))
        .map_or(0, |n| n as usize)
}

struct YaraFile {
    origin: String,
    source: String,
    text: String,
}

fn yara_metas(files: &[YaraFile], rules: &yara_x::Rules) -> Result<Vec<YaraRule>, RuleError> {
    let mut by_ns: BTreeMap<String, Vec<yara_x::Rule<'_, '_>>> = BTreeMap::new();
    for r in rules.iter() {
        by_ns.entry(r.namespace().to_string()).or_default().push(r);
    }
    let mut out = Vec::new();
    for f in files {
        let id = stem(&f.origin).to_string();
        let found = by_ns.get(&id).map(Vec::as_slice).unwrap_or_default();
        let [rule] = found else {
            return Err(RuleError::new(
                &f.origin,
                0,
                format!("a YARA file holds exactly one rule, found {}", found.len()),
            ));
        };
        let ident = rule.identifier().to_string();
        if ident != id.replace('-', "_") {
            return Err(RuleError::new(
                &f.origin,
                yara_key_line(&f.text, "rule").max(1),
                format!(
                    "rule name {ident:?} must be the file stem with '-' as '_' ({:?})",
                    id.replace('-', "_")
                ),
            ));
        }
        let mut meta: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in rule.metadata() {
            let s = match v {
                yara_x::MetaValue::Integer(i) => i.to_string(),
                yara_x::MetaValue::Float(x) => x.to_string(),
                yara_x::MetaValue::Bool(b) => b.to_string(),
                yara_x::MetaValue::String(s) => s.to_string(),
                yara_x::MetaValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            };
            meta.insert(k.to_string(), s);
        }
        let get = |k: &str| -> Result<String, RuleError> {
            meta.get(k)
                .cloned()
                .ok_or_else(|| RuleError::new(&f.origin, 0, format!("meta: is missing `{k}`")))
        };
        let cwe: Vec<String> = get("cwe")?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let sev_text = get("security_severity")?;
        let severity: f32 = sev_text.parse().map_err(|_| {
            RuleError::new(
                &f.origin,
                yara_key_line(&f.text, "security_severity"),
                format!("security_severity {sev_text:?} is not a number"),
            )
        })?;
        check_common(&f.origin, &f.text, &cwe, severity).map_err(|mut e| {
            e.line = yara_key_line(
                &f.text,
                if e.message.starts_with("CWE") {
                    "cwe"
                } else {
                    "security_severity"
                },
            );
            e
        })?;
        let level = parse_level(&f.origin, yara_key_line(&f.text, "level"), &get("level")?)?;
        let confidence = check_confidence(
            &f.origin,
            yara_key_line(&f.text, "confidence"),
            &get("confidence")?,
        )?;
        let title = get("title")?;
        let description = get("description")?;
        let help = meta.get("help").cloned().unwrap_or_else(|| {
            format!(
                "## What it does\n{description}\n\n## Why is this bad\nThe remote file carries a \
                 known malicious pattern ({title}); model code has no reason to contain it.\n\n\
                 ## Example\nSee the strings of the YARA rule `{ident}`.\n\n## References\n{}",
                cwe.iter()
                    .map(|c| format!(
                        "- https://cwe.mitre.org/data/definitions/{}.html",
                        c.trim_start_matches("CWE-")
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        out.push(YaraRule {
            meta: RuleMeta {
                id,
                title,
                description,
                help,
                cwe,
                level,
                security_severity: severity,
                confidence,
                engine: Engine::Yara,
                source: f.source.clone(),
            },
            ident,
        });
    }
    Ok(out)
}

/// Read every rule file under a user folder, sorted, as (origin, text).
fn read_dir_rules(dir: &Path) -> Result<Vec<(String, String)>, RuleError> {
    let shown = dir.display().to_string();
    let mut stack = vec![dir.to_path_buf()];
    let mut out = Vec::new();
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| {
            RuleError::new(
                &d.display().to_string(),
                0,
                format!("cannot read rules folder: {e}"),
            )
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| RuleError::new(&shown, 0, e.to_string()))?;
            let path = entry.path();
            let ft = entry
                .file_type()
                .map_err(|e| RuleError::new(&path.display().to_string(), 0, e.to_string()))?;
            if ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml" | "yar")
            ) {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| RuleError::new(&origin, 0, format!("cannot read: {e}")))?;
                out.push((origin, text));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_pickle_lists(origin: &str) -> bool {
    stem(origin) == "pickle"
}

impl RuleSet {
    /// The built-in rules plus the rule files found under each folder of `extra`.
    pub fn load(extra: &[PathBuf]) -> Result<RuleSet, RuleError> {
        let mut files: Vec<(String, String, String)> = builtin::BUILTIN_RULES
            .iter()
            .map(|(rel, text)| (rel.to_string(), format!("builtin:{rel}"), text.to_string()))
            .collect();
        for dir in extra {
            for (origin, text) in read_dir_rules(dir)? {
                files.push((origin.clone(), origin, text));
            }
        }
        Self::from_files(files)
    }

    /// Build from (origin shown in errors, source recorded in metadata, text) triples.
    fn from_files(files: Vec<(String, String, String)>) -> Result<RuleSet, RuleError> {
        // Compiling the tree-sitter queries is two thirds of start-up, the YARA rules most
        // of the rest: the queries compile on the other cores while YARA compiles. Errors
        // are still reported for the first bad file in the given order.
        let is_query = |origin: &str| {
            !origin.ends_with(".yar")
                && !super::catalogue::is_catalogue(origin)
                && !is_pickle_lists(origin)
        };
        let (yara, compiled) = rayon::join(
            || compile_yara(&files),
            || {
                files
                    .par_iter()
                    .map(|(origin, source, text)| {
                        is_query(origin).then(|| load_query_rule(origin, source, text))
                    })
                    .collect::<Vec<_>>()
            },
        );
        let mut query = Vec::new();
        let mut yara_files = Vec::new();
        let mut pickle = PickleLists::default();
        let mut catalogue = super::catalogue::Catalogue::default();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (at, ((origin, source, text), compiled)) in files.into_iter().zip(compiled).enumerate()
        {
            if let Some(rule) = compiled {
                let rule = rule?;
                if let Some(prev) = seen.insert(rule.meta.id.clone(), source.clone()) {
                    return Err(RuleError::new(
                        &origin,
                        key_line(&text, "id"),
                        format!("duplicate rule id {:?} (also in {prev})", rule.meta.id),
                    ));
                }
                query.push(rule);
            } else if origin.ends_with(".yar") {
                if let Err((failed, e)) = &yara
                    && *failed == at
                {
                    return Err(e.clone());
                }
                let id = stem(&origin).to_string();
                yara_files.push(YaraFile {
                    origin,
                    source,
                    text,
                });
                if let Some(prev) = seen.insert(id.clone(), source_of(&yara_files)) {
                    return Err(RuleError::new(
                        &yara_files[yara_files.len() - 1].origin,
                        0,
                        format!("duplicate rule id {id:?} (also in {prev})"),
                    ));
                }
            } else if super::catalogue::is_catalogue(&origin) {
                catalogue.merge(&origin, &text)?;
            } else {
                // Neither a query rule (`is_query`), nor YARA, nor a catalogue.
                pickle.merge(&origin, &text)?;
            }
        }
        // A YARA error is at a `.yar` file, which the loop has reported.
        let rules = yara.map_err(|(_, e)| e)?;
        let rules: &'static yara_x::Rules = Box::leak(Box::new(rules));
        let yara = yara_metas(&yara_files, rules)?;
        Ok(RuleSet {
            query,
            yara,
            yara_rules: rules,
            pickle,
            catalogue,
        })
    }

    /// Every rule: query rules, YARA rules and the pickle checks.
    pub fn metas(&self) -> Vec<RuleMeta> {
        let mut out: Vec<RuleMeta> = self.query.iter().map(|r| r.meta.clone()).collect();
        out.extend(self.yara.iter().map(|r| r.meta.clone()));
        out.extend(super::pickle::metas());
        out.extend(super::capability_metas());
        out.push(super::requirements_meta());
        out.push(super::taint_meta());
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// (rule id, examples) of every query rule and capability, for the test suite.
    pub fn examples(&self) -> Vec<(String, Examples)> {
        self.query
            .iter()
            .map(|r| (r.meta.id.clone(), r.examples.clone()))
            .chain(
                self.catalogue
                    .capabilities
                    .values()
                    .map(|c| (c.rule.clone(), c.examples.clone())),
            )
            .collect()
    }
}

/// Every `.yar` file compiled in order into one rule set, one namespace per file; on
/// failure, the index (into `files`) of the file at fault and its error.
fn compile_yara(files: &[(String, String, String)]) -> Result<yara_x::Rules, (usize, RuleError)> {
    let mut compiler = yara_x::Compiler::new();
    for (at, (origin, _, text)) in files.iter().enumerate() {
        if !origin.ends_with(".yar") {
            continue;
        }
        let id = stem(origin);
        if !valid_id(id) {
            return Err((
                at,
                RuleError::new(
                    origin,
                    0,
                    "file stem must be lowercase letters, digits and '-'",
                ),
            ));
        }
        compiler.new_namespace(id);
        compiler
            .add_source(yara_x::SourceCode::from(text.as_str()).with_origin(origin.as_str()))
            .map_err(|e| {
                (
                    at,
                    RuleError::new(origin, yara_error_line(&e), e.title().to_string()),
                )
            })?;
    }
    Ok(compiler.build())
}

fn source_of(files: &[YaraFile]) -> String {
    files.last().map(|f| f.source.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(origin: &str, text: &str) -> Result<RuleSet, RuleError> {
        RuleSet::from_files(vec![(origin.into(), origin.into(), text.into())])
    }

    const GOOD: &str = "id: x\ntitle: t\ndescription: d\nhelp: h\ncwe: [CWE-95]\nlevel: note\nsecurity-severity: 3.0\nconfidence: high\nquery: |\n  (call) @span\n";

    #[test]
    fn builtin_rules_load() {
        let rs = RuleSet::load(&[]).unwrap();
        assert!(rs.metas().len() > 20);
    }

    #[test]
    fn query_error_points_at_file_line() {
        let bad = GOOD.replace("(call) @span", "(call) @span\n  (no_such_node) @span");
        let e = one("r/x.yml", &bad).unwrap_err();
        assert_eq!(e.line, 11, "{e}");
        assert!(
            e.to_string().starts_with("r/x.yml:11: tree-sitter query"),
            "{e}"
        );
    }

    #[test]
    fn yaml_error_has_line() {
        let e = one("r/x.yml", "id: x\ntitle: [unclosed\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
    }

    #[test]
    fn id_must_be_stem() {
        let e = one("r/y.yml", GOOD).unwrap_err();
        assert_eq!((e.line, e.file.as_str()), (1, "r/y.yml"));
    }

    #[test]
    fn yara_error_has_line() {
        let e = one(
            "r/bad-rule.yar",
            "rule bad_rule {\n  strings:\n    $a = \"x\"\n  condition:\n    $b\n}\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn yara_error_line_is_relative_to_its_own_file() {
        let ok = "rule a {\n  meta:\n    title = \"t\"\n    description = \"d\"\n    cwe = \"CWE-1\"\n    level = \"note\"\n    security_severity = \"1.0\"\n    confidence = \"low\"\n  condition:\n    true\n}\n";
        let e = RuleSet::from_files(vec![
            ("r/a.yar".into(), "r/a.yar".into(), ok.into()),
            (
                "r/b.yar".into(),
                "r/b.yar".into(),
                "rule b {\n  condition:\n    nope\n}\n".into(),
            ),
        ])
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("r/b.yar", 3), "{e}");
    }

    #[test]
    fn the_first_bad_file_in_order_is_reported_whichever_engine_compiles_it() {
        // Query rules compile in parallel with the YARA rules: the error must still be
        // the one of the first bad file, as when they compiled one after the other.
        let bad_query = GOOD
            .replace("id: x", "id: q")
            .replace("(call)", "(no_such_node)");
        let bad_yara = "rule b {\n  condition:\n    nope\n}\n";
        let file =
            |origin: &str, text: &str| (origin.to_string(), origin.to_string(), text.to_string());
        let e = RuleSet::from_files(vec![
            file("r/x.yml", GOOD),
            file("r/q.yml", &bad_query),
            file("r/b.yar", bad_yara),
        ])
        .unwrap_err();
        assert_eq!(e.file, "r/q.yml", "{e}");
        let e = RuleSet::from_files(vec![file("r/b.yar", bad_yara), file("r/q.yml", &bad_query)])
            .unwrap_err();
        assert_eq!(e.file, "r/b.yar", "{e}");
        // A query rule whose id a YARA file already took is a duplicate, in either order.
        let yara_x = "rule x {\n  meta:\n    title = \"t\"\n    description = \"d\"\n    cwe = \"CWE-1\"\n    level = \"note\"\n    security_severity = \"1.0\"\n    confidence = \"low\"\n  condition:\n    true\n}\n";
        let e =
            RuleSet::from_files(vec![file("r/x.yar", yara_x), file("r/x.yml", GOOD)]).unwrap_err();
        assert!(e.message.contains("duplicate rule id"), "{e}");
        assert_eq!(e.file, "r/x.yml", "{e}");
        let e =
            RuleSet::from_files(vec![file("r/x.yml", GOOD), file("r/x.yar", yara_x)]).unwrap_err();
        assert!(e.message.contains("duplicate rule id"), "{e}");
        assert_eq!(e.file, "r/x.yar", "{e}");
    }

    #[test]
    fn yara_missing_meta_is_an_error() {
        let e = one("r/a.yar", "rule a { condition: true }").unwrap_err();
        assert!(e.message.contains("missing"), "{e}");
    }
}
