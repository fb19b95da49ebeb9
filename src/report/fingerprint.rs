//! Stable `primaryLocationLineHash` values: a content hash that survives unrelated
//! line shifts and separates different results on one line. A SARIF result is one
//! call and one rule, so the key is the rule, the call's text and the remote
//! repository; where in the remote code the rule fired does not churn the alert.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::callsite;
use crate::model::{Finding, Report};
use crate::report::{RenderOptions, calls_by_site};

/// The fingerprint of each result, given by its most severe finding (same
/// order), as `<hex>:<n>` where `n` (from 1) tells apart results whose content
/// key is identical.
pub fn fingerprints(report: &Report, findings: &[&Finding], opts: &RenderOptions) -> Vec<String> {
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
                (Some(c), Some(s)) => callsite::call_text(s, &c.site),
                (None, Some(s)) => s
                    .lines()
                    .nth(f.line.max(1) as usize - 1)
                    .map(str::to_string),
                _ => None,
            }
            .or_else(|| call.map(|c| c.site.source_line.clone()))
            .map(|t| callsite::normalize(&t))
            .unwrap_or_default();
            let repo = f
                .evidence
                .as_ref()
                .map(|e| e.repo_id.as_str())
                .or_else(|| call.and_then(|c| c.target.as_ref()?.repo_id.as_deref()))
                .or_else(|| call.and_then(|c| c.site.repo_id.as_deref()))
                .unwrap_or("");
            let mut h = Sha256::new();
            for part in [
                f.rule_id.as_str(),
                f.path.as_str(),
                call_text.as_str(),
                repo,
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
