//! Metadata of the rules whose logic is code (policy, pickle, requirements):
//! title, description, help, CWE, level, severity and confidence live as data in
//! `rules/<engine>/<id>.yml`, like the query and YARA rules, so the user docs
//! (SARIF help, `hubwarden rules`, the README table) are edited there.

use serde::Deserialize;

use crate::model::{Engine, Level, RuleMeta};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_metadata.rs"));
}

/// The on-disk shape of `rules/<engine>/<id>.yml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct MetaFile {
    id: String,
    title: String,
    description: String,
    help: String,
    cwe: Vec<String>,
    level: Level,
    security_severity: f32,
    confidence: String,
}

/// Every rule of `rules/<dir>/`, sorted by file name, for `engine`; the source
/// recorded is the file (`builtin:rules/<dir>/<id>.yml`, which is also where
/// the SARIF `helpUri` points).
///
/// The files are compiled into the binary and checked by a unit test (they
/// parse, the id is the file stem), so a parse failure here cannot happen in a
/// built binary; it is logged and the rule left out rather than panicking.
pub(crate) fn builtin(dir: &str, engine: Engine) -> Vec<RuleMeta> {
    let prefix = format!("rules/{dir}/");
    builtin::BUILTIN_METADATA
        .iter()
        .filter(|(rel, _)| rel.starts_with(&prefix))
        .filter_map(|(rel, text)| match parse(rel, text) {
            Ok(m) => Some(RuleMeta {
                id: m.id,
                title: m.title,
                description: m.description,
                help: m.help,
                cwe: m.cwe,
                level: m.level,
                security_severity: m.security_severity,
                confidence: m.confidence,
                engine,
                source: format!("builtin:{rel}"),
            }),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        })
        .collect()
}

/// Rules of `rules/<dir>/` in the order of `ids` (an id without a file is left
/// out; the unit tests of each engine check that none is).
pub(crate) fn ordered(dir: &str, engine: Engine, ids: &[&str]) -> Vec<RuleMeta> {
    let mut metas = builtin(dir, engine);
    metas.retain(|m| ids.contains(&m.id.as_str()));
    metas.sort_by_key(|m| ids.iter().position(|id| *id == m.id));
    metas
}

/// A stand-in for a rule whose metadata file is missing (a unit test makes
/// sure none is): the finding still gets reported, under its id.
pub(crate) fn missing(id: &str, engine: Engine) -> RuleMeta {
    tracing::error!("no metadata file for rule {id}");
    RuleMeta {
        id: id.to_string(),
        title: id.to_string(),
        description: String::new(),
        help: String::new(),
        cwe: Vec::new(),
        level: Level::Error,
        security_severity: 5.0,
        confidence: "medium".to_string(),
        engine,
        source: "builtin".to_string(),
    }
}

fn parse(rel: &str, text: &str) -> Result<MetaFile, String> {
    let m: MetaFile = serde_yaml::from_str(text).map_err(|e| format!("{rel}: {e}"))?;
    let stem = rel.rsplit('/').next().and_then(|f| f.strip_suffix(".yml"));
    if stem != Some(m.id.as_str()) {
        return Err(format!("{rel}: id {:?} is not the file stem", m.id));
    }
    Ok(m)
}

/// Snippets that must (`match`) and must not (`no_match`) produce a hit of the rule.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    #[serde(default, rename = "match")]
    pub matches: Vec<String>,
    #[serde(default)]
    pub no_match: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metadata_file_parses_and_is_named_by_its_id() {
        assert!(!builtin::BUILTIN_METADATA.is_empty());
        for (rel, text) in builtin::BUILTIN_METADATA {
            let m = parse(rel, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(m.cwe.iter().all(|c| c.starts_with("CWE-")), "{rel}");
            assert!((0.0..=10.0).contains(&m.security_severity), "{rel}");
            assert!(
                ["very-high", "high", "medium", "low"].contains(&m.confidence.as_str()),
                "{rel}"
            );
        }
    }

    #[test]
    fn the_engines_find_their_rules() {
        let ids = |v: Vec<RuleMeta>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(
            ids(crate::scan::pickle::metas()),
            [
                "pickle-dangerous-global",
                "pickle-unknown-global",
                "pickle-malformed",
                "pickle-container-mismatch"
            ]
        );
        let req = crate::scan::requirements_meta();
        assert_eq!(
            req.source,
            "builtin:rules/requirements/requirements-remote-source.yml"
        );
        assert_eq!(crate::policy::rule_metas().len(), 11);
    }
}
