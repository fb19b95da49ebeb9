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

/// Every rule of `rules/<dir>/`, sorted by id, for `engine`, with `source` as
/// their recorded origin.
///
/// The files are compiled into the binary and checked by a unit test (they
/// parse, the id is the file stem), so a parse failure here cannot happen in a
/// built binary; it is logged and the rule left out rather than panicking.
pub(crate) fn builtin(dir: &str, engine: Engine, source: &str) -> Vec<RuleMeta> {
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
                source: source.to_string(),
            }),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        })
        .collect()
}

fn parse(rel: &str, text: &str) -> Result<MetaFile, String> {
    let m: MetaFile = serde_yaml::from_str(text).map_err(|e| format!("{rel}: {e}"))?;
    let stem = rel.rsplit('/').next().and_then(|f| f.strip_suffix(".yml"));
    if stem != Some(m.id.as_str()) {
        return Err(format!("{rel}: id {:?} is not the file stem", m.id));
    }
    Ok(m)
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
}
