//! Stable `primaryLocationLineHash` values: a content hash that survives unrelated
//! line shifts and separates different findings on one line.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::model::{Finding, Report};
use crate::policy::callsrc;
use crate::report::{RenderOptions, calls_by_site};

/// The fingerprint of each finding of `findings` (same order), as `<hex>:<n>` where
/// `n` (from 1) tells apart findings whose content key is identical.
pub fn fingerprints(report: &Report, findings: &[Finding], opts: &RenderOptions) -> Vec<String> {
    let by_site = calls_by_site(report);
    let mut sources: HashMap<&str, Option<String>> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    findings
        .iter()
        .map(|f| {
            let call = by_site.of(f);
            let src = sources
                .entry(f.path.as_str())
                .or_insert_with(|| opts.read_source(&f.path));
            let call_text = match (call, src.as_deref()) {
                (Some(c), Some(s)) => callsrc::call_text(s, &c.site),
                (None, Some(s)) => s
                    .lines()
                    .nth(f.line.max(1) as usize - 1)
                    .map(str::to_string),
                _ => None,
            }
            .or_else(|| call.map(|c| c.site.source_line.clone()))
            .map(|t| callsrc::normalize(&t))
            .unwrap_or_default();
            let mut h = Sha256::new();
            for part in [
                f.rule_id.as_str(),
                f.path.as_str(),
                call_text.as_str(),
                f.evidence
                    .as_ref()
                    .map(|e| e.repo_id.as_str())
                    .unwrap_or(""),
                f.evidence.as_ref().map(|e| e.file.as_str()).unwrap_or(""),
                &detail(f),
            ] {
                h.update(part.as_bytes());
                h.update([0u8]);
            }
            let hex = hex::encode(&h.finalize()[..8]);
            let n = seen.entry(hex.clone()).or_insert(0);
            *n += 1;
            format!("{hex}:{n}")
        })
        .collect()
}

/// Rule-local detail: the remote snippet (whitespace-free) so two hits of one rule
/// in one remote file stay apart; no line numbers, so remote edits elsewhere in
/// the file do not churn alerts.
fn detail(f: &Finding) -> String {
    match &f.evidence {
        Some(e) => callsrc::normalize(&e.snippet),
        None => String::new(),
    }
}
