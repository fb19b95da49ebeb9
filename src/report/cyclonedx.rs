//! A CycloneDX 1.6 ML-BOM of the remote code a codebase executes: one
//! `machine-learning-model` (or `data`) component per remote target, named by its
//! repository and versioned by the commit it resolved to, with the files that
//! run as nested `file` components (SHA-256), the call sites as
//! `evidence.occurrences`, targets that could not be verified recorded as
//! `incomplete` in `compositions`, and the SARIF report referenced as a
//! `static-analysis-report`.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

use serde_json::{Value, json};

use crate::hub::validate::is_sha256_hex;
use crate::model::{HubKind, RepoType, Report, TargetStatus};
use crate::report::targets::{self, TargetGroup};

/// The CycloneDX version this writer follows.
pub const SPEC_VERSION: &str = "1.6";

/// What the BOM needs besides the report.
#[derive(Debug, Clone, Default)]
pub struct BomOptions {
    /// The scanned codebase's name (the BOM's subject, `metadata.component`).
    pub subject: String,
    /// The SARIF file written by the same run, as the user will find it
    /// (relative to the workspace in the Action).
    pub sarif: Option<String>,
    /// `metadata.timestamp`; None: now (or `SOURCE_DATE_EPOCH`).
    pub timestamp: Option<String>,
    /// `serialNumber`; None: a fresh random `urn:uuid:`.
    pub serial_number: Option<String>,
}

/// Render the BOM as pretty JSON with a trailing newline.
pub fn render(report: &Report, opts: &BomOptions) -> String {
    // Serializing a JSON value cannot fail.
    let mut s = serde_json::to_string_pretty(&build(report, opts)).unwrap_or_default();
    s.push('\n');
    s
}

/// The `bom-ref` of the scanned codebase.
const SUBJECT_REF: &str = "hubwarden:subject";

/// Build the BOM.
pub fn build(report: &Report, opts: &BomOptions) -> Value {
    let grouped = targets::group(report);
    let mut components = Vec::new();
    let mut refs = Vec::new();
    let mut incomplete = Vec::new();
    let mut complete = Vec::new();
    for g in &grouped.groups {
        let c = component(g);
        let r = c["bom-ref"].as_str().unwrap_or_default().to_string();
        match g.status() {
            Some(TargetStatus::Resolved | TargetStatus::NoRemoteCode) => complete.push(r.clone()),
            // Not verified, or never resolved (the id is not statically known):
            // what the component holds is not known to be all that runs.
            Some(TargetStatus::Unverified) | None => incomplete.push(r.clone()),
        }
        refs.push(r);
        components.push(c);
    }
    let mut compositions = Vec::new();
    if !incomplete.is_empty() {
        compositions.push(json!({"aggregate": "incomplete", "assemblies": incomplete}));
    }
    if !complete.is_empty() {
        compositions.push(json!({"aggregate": "complete", "assemblies": complete}));
    }
    let mut dependencies = vec![json!({"ref": SUBJECT_REF, "dependsOn": refs})];
    dependencies.extend(refs.iter().map(|r| json!({"ref": r, "dependsOn": []})));

    let version = env!("CARGO_PKG_VERSION");
    let subject = if opts.subject.is_empty() {
        "codebase".to_string()
    } else {
        opts.subject.clone()
    };
    let mut bom = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": opts.serial_number.clone().unwrap_or_else(random_serial),
        "version": 1,
        "metadata": {
            "timestamp": opts.timestamp.clone().unwrap_or_else(now_rfc3339),
            "lifecycles": [{"phase": "pre-build"}],
            "tools": {"components": [{
                "type": "application",
                "name": "hubwarden",
                "version": version,
                "externalReferences": [{"type": "website", "url": env!("CARGO_PKG_REPOSITORY")}],
            }]},
            "component": {
                "type": "application",
                "bom-ref": SUBJECT_REF,
                "name": subject,
            },
        },
        "components": components,
        "dependencies": dependencies,
        "compositions": compositions,
    });
    if let Some(sarif) = &opts.sarif {
        bom["externalReferences"] = json!([{
            "type": "static-analysis-report",
            "url": sarif,
            "comment": "SARIF 2.1.0: the findings about each call and the remote code it runs",
        }]);
    }
    bom
}

/// One remote target as a component.
fn component(g: &TargetGroup) -> Value {
    let kind = match g.repo_type {
        RepoType::Dataset => "data",
        _ => "machine-learning-model",
    };
    let name = match g.repo {
        Some(repo) => repo.to_string(),
        None => format!("{} ids not statically known", g.hub),
    };
    let bom_ref = format!(
        "hubwarden:target:{}:{}:{}@{}",
        g.hub,
        g.repo_type,
        name,
        g.commit.unwrap_or("unverified")
    );
    let mut c = json!({
        "type": kind,
        "bom-ref": bom_ref,
        "name": name,
    });
    if let Some(commit) = g.commit {
        c["version"] = json!(commit);
    }
    let hub = g.target.map(|t| t.hub);
    if let (Some(hub), Some(repo), Some(commit)) = (hub, g.repo, g.commit)
        && let Some(purl) = purl(hub, g.repo_type, repo, commit)
    {
        c["purl"] = json!(purl);
    }
    if let (Some(hub), Some(repo)) = (hub, g.repo)
        && let Some(url) = repo_url(hub, g.repo_type, repo, g.commit)
    {
        c["externalReferences"] = json!([{"type": "vcs", "url": url}]);
    }
    let files: Vec<Value> = g
        .files()
        .into_iter()
        .map(|f| {
            json!({
                "type": "file",
                "bom-ref": format!("{bom_ref}/{}", f.path),
                "name": f.path,
                "description": f.why,
                "hashes": [{"alg": "SHA-256", "content": f.sha256}],
                "properties": [{"name": "hubwarden:bytes", "value": f.bytes.to_string()}],
            })
        })
        .filter(|f| is_sha256_hex(f["hashes"][0]["content"].as_str().unwrap_or_default()))
        .collect();
    if !files.is_empty() {
        c["components"] = Value::Array(files);
    }
    let occurrences: Vec<Value> = g
        .calls
        .iter()
        .map(|e| {
            let s = &e.call.site;
            let mut o = json!({
                "location": s.path,
                "line": s.line,
                "symbol": s.api,
            });
            if !s.source_line.is_empty() {
                o["additionalContext"] = json!(s.source_line);
            }
            o
        })
        .collect();
    c["evidence"] = json!({"occurrences": occurrences});
    let mut props = vec![
        json!({"name": "hubwarden:hub", "value": g.hub}),
        json!({"name": "hubwarden:status", "value": match g.status() {
            Some(TargetStatus::Resolved) => "resolved",
            Some(TargetStatus::NoRemoteCode) => "no-remote-code",
            Some(TargetStatus::Unverified) => "unverified",
            None => "unresolved",
        }}),
        json!({"name": "hubwarden:verdict", "value": g.level().map(|l| l.as_str()).unwrap_or("clean")}),
    ];
    if let Some(reason) = g.target.and_then(|t| t.reason.as_deref()) {
        props.push(json!({"name": "hubwarden:reason", "value": reason}));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in g.findings() {
        *counts.entry(f.rule_id.as_str()).or_default() += 1;
    }
    for (rule, n) in counts {
        props.push(json!({"name": "hubwarden:finding", "value": format!("{rule} x{n}")}));
    }
    for n in g.notes() {
        props.push(json!({"name": "hubwarden:note", "value": n}));
    }
    c["properties"] = Value::Array(props);
    c
}

/// The package URL of a target where a purl type exists: `pkg:huggingface` for
/// Hugging Face models, `pkg:github` for repositories on GitHub (torch.hub,
/// paddle `hub.load`). Datasets, Spaces, ModelScope, OpenCSG and PaddleHub
/// modules have no purl type: none is made up.
pub fn purl(hub: HubKind, repo_type: RepoType, repo: &str, commit: &str) -> Option<String> {
    let (ns, name) = repo.split_once('/')?;
    let commit = commit.to_ascii_lowercase();
    match (hub, repo_type) {
        (HubKind::Huggingface, RepoType::Model) => Some(format!(
            "pkg:huggingface/{}/{}@{}",
            purl_segment(ns),
            purl_segment(name),
            purl_segment(&commit)
        )),
        (HubKind::Github, _) => Some(format!(
            "pkg:github/{}/{}@{}",
            purl_segment(&ns.to_ascii_lowercase()),
            purl_segment(&name.to_ascii_lowercase()),
            purl_segment(&commit)
        )),
        _ => None,
    }
}

/// Percent-encode a purl segment (everything but unreserved characters).
fn purl_segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// A browsable URL of the repository at the commit (each hub says how).
fn repo_url(hub: HubKind, repo_type: RepoType, repo: &str, commit: Option<&str>) -> Option<String> {
    crate::hub::get(hub)
        .web_repo_url(repo_type, repo, commit.unwrap_or("main"))
        .filter(|u| url::Url::parse(u).is_ok())
}

/// A random RFC 4122 version 4 UUID URN. The randomness comes from the
/// standard library's per-process hash keys (no extra dependency); a serial
/// number only has to be unique, not secret.
fn random_serial() -> String {
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Now (or `SOURCE_DATE_EPOCH`, for reproducible output) as RFC 3339 UTC.
fn now_rfc3339() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default()
        });
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn serials_are_uuid_v4_and_differ() {
        let a = random_serial();
        let b = random_serial();
        assert_ne!(a, b);
        let re = regex::Regex::new(
            "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&a), "{a}");
    }

    #[test]
    fn purls_only_where_a_type_exists() {
        let c = "7ECDE348ff9cda2c3ba69a0c4543365039d0d65b";
        assert_eq!(
            purl(HubKind::Huggingface, RepoType::Model, "Acme/chat-7b", c).unwrap(),
            "pkg:huggingface/Acme/chat-7b@7ecde348ff9cda2c3ba69a0c4543365039d0d65b"
        );
        assert_eq!(
            purl(HubKind::Github, RepoType::Github, "Ultra/YOLO", c).unwrap(),
            "pkg:github/ultra/yolo@7ecde348ff9cda2c3ba69a0c4543365039d0d65b"
        );
        assert!(purl(HubKind::Huggingface, RepoType::Dataset, "a/b", c).is_none());
        assert!(purl(HubKind::Modelscope, RepoType::Model, "a/b", c).is_none());
        assert!(purl(HubKind::Huggingface, RepoType::Model, "nodash", c).is_none());
        assert_eq!(
            purl(HubKind::Huggingface, RepoType::Model, "a/b c", "x").unwrap(),
            "pkg:huggingface/a/b%20c@x"
        );
    }
}
