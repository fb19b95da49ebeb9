//! One policy verdict per call: the policy findings about one call (remote code
//! enabled, unpinned, not verified, ...) fold into the most severe of them, which
//! carries the others in `merged` and reads "unpinned and not verified: ...".
//!
//! Runs after suppressions, the allow-list and rule overrides, so a suppressed or
//! switched-off rule never reaches a merged message, and a rule the user silences
//! on one line does not take the others with it.

use std::collections::BTreeMap;

use crate::model::{CallReport, Engine, Finding, MergedFinding};
use crate::policy::{
    CROSS_REPO_CODE_UNPINNED, GATE_FALSE_NEEDS_REMOTE_CODE, PICKLE_WEIGHTS, PolicyOutcome,
    REMOTE_CODE_ENABLED, REMOTE_CODE_UNPINNED, REMOTE_CODE_UNVERIFIED, summarize,
};

/// How a rule reads inside a merged verdict, and its rank among equally severe
/// findings (lower carries). `remote-code-enabled` is implied by every other
/// policy finding, so it adds no words.
fn label(rule_id: &str) -> (Option<&'static str>, u8) {
    match rule_id {
        REMOTE_CODE_UNPINNED => (Some("unpinned"), 0),
        CROSS_REPO_CODE_UNPINNED => (Some("cross-repo code unpinned"), 1),
        REMOTE_CODE_UNVERIFIED => (Some("not verified"), 2),
        PICKLE_WEIGHTS => (Some("pickle weights"), 3),
        GATE_FALSE_NEEDS_REMOTE_CODE => (Some("remote code refused but required"), 5),
        REMOTE_CODE_ENABLED => (None, 6),
        _ => (None, 4),
    }
}

/// The words for `f` in a merged verdict: its label, else its title in lower case.
fn words(f: &Finding) -> Option<String> {
    match label(&f.rule_id) {
        (Some(l), _) => Some(l.to_string()),
        (None, _) if f.rule_id == REMOTE_CODE_ENABLED => None,
        (None, _) => Some(f.title.to_lowercase()),
    }
}

/// Fold the policy findings of each call into one; other findings are kept as
/// they are. The order of the findings is kept (a merged finding takes the place
/// of the first policy finding of its call).
pub fn merge_policy_findings(findings: Vec<Finding>) -> Vec<Finding> {
    type Key = (Option<usize>, String, u32, u32);
    let key = |f: &Finding| -> Key { (f.call, f.path.clone(), f.line, f.column) };
    let mut groups: BTreeMap<Key, Vec<Finding>> = BTreeMap::new();
    let mut order: Vec<Result<Finding, Key>> = Vec::with_capacity(findings.len());
    for f in findings {
        if f.engine != Engine::Policy {
            order.push(Ok(f));
            continue;
        }
        let k = key(&f);
        let group = groups.entry(k.clone()).or_default();
        if group.is_empty() {
            order.push(Err(k));
        }
        group.push(f);
    }
    order
        .into_iter()
        .filter_map(|slot| match slot {
            Ok(f) => Some(f),
            Err(k) => groups.remove(&k).map(fold),
        })
        .collect()
}

/// One finding for a call's policy findings (at least one).
fn fold(mut group: Vec<Finding>) -> Finding {
    if group.len() == 1 {
        return group.remove(0);
    }
    group.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then(
                b.security_severity
                    .partial_cmp(&a.security_severity)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
            .then(label(&a.rule_id).1.cmp(&label(&b.rule_id).1))
            .then(a.rule_id.cmp(&b.rule_id))
    });
    let mut carrier = group.remove(0);
    let mut phrase: Vec<String> = words(&carrier).into_iter().collect();
    phrase.extend(group.iter().filter_map(words));
    phrase.dedup();
    // "remote code enabled" says what the call does: it goes first in the text.
    let mut parts: Vec<&str> = Vec::new();
    if let Some(enabled) = group.iter().find(|f| f.rule_id == REMOTE_CODE_ENABLED) {
        parts.push(enabled.message.as_str());
    }
    parts.push(carrier.message.as_str());
    parts.extend(
        group
            .iter()
            .filter(|f| f.rule_id != REMOTE_CODE_ENABLED)
            .map(|f| f.message.as_str()),
    );
    let text = parts.join(" ");
    carrier.message = if phrase.is_empty() {
        text
    } else {
        format!("{}: {text}", capitalize(&join_and(&phrase)))
    };
    if carrier.fix.is_none() {
        carrier.fix = group.iter().find_map(|f| f.fix.clone());
    }
    carrier.security_severity = group
        .iter()
        .map(|f| f.security_severity)
        .fold(carrier.security_severity, f32::max);
    let mut cwe = carrier.cwe.clone();
    for f in &group {
        for c in &f.cwe {
            if !cwe.contains(c) {
                cwe.push(c.clone());
            }
        }
    }
    carrier.cwe = cwe;
    carrier.merged = group
        .into_iter()
        .map(|f| MergedFinding {
            rule_id: f.rule_id,
            level: f.level,
            message: f.message,
        })
        .collect();
    carrier
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `outcome` with each call's policy findings folded into one, and the totals
/// counted again.
pub fn merge_outcome(outcome: PolicyOutcome, calls: &[CallReport]) -> PolicyOutcome {
    let findings = merge_policy_findings(outcome.findings);
    let summary = summarize(
        calls,
        &findings,
        outcome.suppressed,
        outcome.allowed,
        outcome.summary.fail_on,
    );
    PolicyOutcome {
        findings,
        summary,
        ..outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;

    fn finding(rule: &str, level: Level, sev: f32, call: usize, msg: &str) -> Finding {
        Finding {
            rule_id: rule.into(),
            level,
            security_severity: sev,
            cwe: vec![format!("CWE-{}", 100 + call)],
            title: format!("title of {rule}"),
            message: msg.into(),
            engine: Engine::Policy,
            path: "a.py".into(),
            line: 1 + call as u32,
            column: 1,
            evidence: None,
            fix: None,
            merged: Vec::new(),
            call: Some(call),
        }
    }

    #[test]
    fn unpinned_and_unverified_read_as_one() {
        let fs = vec![
            finding(
                REMOTE_CODE_ENABLED,
                Level::Warning,
                5.0,
                0,
                "`x` executes code.",
            ),
            finding(REMOTE_CODE_UNPINNED, Level::Error, 7.5, 0, "Not pinned."),
            finding(
                REMOTE_CODE_UNVERIFIED,
                Level::Error,
                7.0,
                0,
                "Not verified.",
            ),
            finding(
                REMOTE_CODE_ENABLED,
                Level::Warning,
                5.0,
                1,
                "`y` executes code.",
            ),
        ];
        let out = merge_policy_findings(fs);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].rule_id, REMOTE_CODE_UNPINNED);
        assert_eq!(
            out[0].message,
            "Unpinned and not verified: `x` executes code. Not pinned. Not verified."
        );
        let merged: Vec<&str> = out[0].merged.iter().map(|m| m.rule_id.as_str()).collect();
        assert_eq!(merged, [REMOTE_CODE_UNVERIFIED, REMOTE_CODE_ENABLED]);
        // A call with one policy finding keeps it untouched.
        assert_eq!(out[1].message, "`y` executes code.");
        assert!(out[1].merged.is_empty());
    }

    #[test]
    fn the_most_severe_carries_and_unknown_rules_read_by_title() {
        let mut fix_carrier = finding(PICKLE_WEIGHTS, Level::Warning, 6.5, 0, "Pickle.");
        fix_carrier.fix = None;
        let mut unpinned = finding(REMOTE_CODE_UNPINNED, Level::Warning, 7.5, 0, "Pin.");
        unpinned.fix = Some(crate::model::Fix {
            description: "pin".into(),
            start_line: 1,
            start_column: 1,
            end_line: 1,
            end_column: 2,
            replacement: "x".into(),
        });
        let kernel = finding("kernel-unpinned", Level::Error, 8.0, 0, "Kernel.");
        let out = merge_policy_findings(vec![fix_carrier, unpinned, kernel]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule_id, "kernel-unpinned");
        assert_eq!(out[0].level, Level::Error);
        assert!(
            out[0]
                .message
                .starts_with("Title of kernel-unpinned, unpinned and pickle weights: Kernel."),
            "{}",
            out[0].message
        );
        // The pin fix travels with the verdict.
        assert!(out[0].fix.is_some());
    }
}
