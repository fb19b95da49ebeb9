//! Policy: findings about the call itself (remote code enabled, unpinned, unverified,
//! pickle weights), then suppressions, the allow-list, rule overrides and `fail-on`.

pub mod base_commit;
pub mod callsrc;
pub mod diff_base;
pub mod lock;
pub mod merge;

use std::collections::HashMap;
use std::path::Path;

use crate::config::{Config, RuleOverride};
use crate::model::{CallReport, Engine, Finding, Level, Platform, RuleMeta, Summary, TargetStatus};

pub const REMOTE_CODE_ENABLED: &str = "remote-code-enabled";
pub const REMOTE_CODE_UNPINNED: &str = "remote-code-unpinned";
pub const CROSS_REPO_CODE_UNPINNED: &str = "cross-repo-code-unpinned";
pub const REMOTE_CODE_UNVERIFIED: &str = "remote-code-unverified";
pub const PICKLE_WEIGHTS: &str = "pickle-weights";
pub const GATE_FALSE_NEEDS_REMOTE_CODE: &str = "gate-false-needs-remote-code";
pub const KERNEL_NATIVE_CODE: &str = "kernel-native-code";
pub const KERNEL_UNTRUSTED_PUBLISHER: &str = "kernel-untrusted-publisher";
pub const CONFIG_HUB_KERNEL: &str = crate::resolve::escalation::RULE_CONFIG_KERNEL;
pub const CONFIG_FORWARDS_TRUST: &str = crate::resolve::escalation::RULE_CONFIG_TRUST;
pub const CONFIG_GATELESS: &str = crate::resolve::escalation::RULE_CONFIG_GATELESS;

/// The metadata of every policy rule (for SARIF `rules[]`, `hubwarden rules`),
/// from `rules/policy/<id>.yml`, in the order of the ids above.
pub fn rule_metas() -> Vec<RuleMeta> {
    crate::rulemeta::ordered(
        "policy",
        Engine::Policy,
        &[
            REMOTE_CODE_ENABLED,
            REMOTE_CODE_UNPINNED,
            CROSS_REPO_CODE_UNPINNED,
            REMOTE_CODE_UNVERIFIED,
            PICKLE_WEIGHTS,
            GATE_FALSE_NEEDS_REMOTE_CODE,
            KERNEL_NATIVE_CODE,
            KERNEL_UNTRUSTED_PUBLISHER,
            CONFIG_HUB_KERNEL,
            CONFIG_FORWARDS_TRUST,
            CONFIG_GATELESS,
        ],
    )
}

/// Whether the call would execute remote code (or may: unknown counts as yes when
/// the gate is open).
fn executes_remote_code(c: &CallReport) -> bool {
    let s = &c.site;
    if s.gate == "false" {
        return false;
    }
    let no_gate = s.family.runs_without_flag() || s.args.contains_key("custom_pipeline");
    match &c.target {
        Some(t) => match t.status {
            TargetStatus::NoRemoteCode => false,
            TargetStatus::Resolved => t.files.iter().any(|f| is_code_file(&f.path)),
            TargetStatus::Unverified => s.gate == "true" || no_gate,
        },
        None => s.gate == "true" || no_gate,
    }
}

fn is_code_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".py") || name.contains("requirement")
}

/// Reads a call-site file by its path relative to the scanned root.
pub type SourceReader<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A `SourceReader` over a folder on disk.
pub fn fs_sources(root: &Path) -> impl Fn(&str) -> Option<String> + '_ {
    move |rel: &str| {
        if rel.split('/').any(|c| c == "..") {
            return None;
        }
        let base = if root.is_file() {
            root.parent().unwrap_or(Path::new("."))
        } else {
            root
        };
        std::fs::read_to_string(base.join(rel)).ok()
    }
}

/// Findings about the calls themselves (engine `policy`). `sources` reads call-site
/// files, for the pin fix's replacement text.
pub fn policy_findings(calls: &[CallReport], sources: SourceReader<'_>) -> Vec<Finding> {
    let metas: HashMap<String, RuleMeta> = rule_metas()
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    let mut out = Vec::new();
    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    // Config-driven chain findings (they carry remote evidence).
    let mut chained = Vec::new();
    for (index, c) in calls.iter().enumerate() {
        let s = &c.site;
        let repo = s.repo_id.as_deref().unwrap_or("<unresolved id>");
        let commit = c.target.as_ref().and_then(|t| t.commit.as_deref());
        let hub = c
            .target
            .as_ref()
            .map(|t| t.hub.to_string())
            .unwrap_or_else(|| s.platform.to_string());
        let mut push = |id: &str, message: String, fix: Option<crate::model::Fix>| {
            // Invariant: every id used here is in rule_metas().
            let Some(m) = metas.get(id) else { return };
            out.push(Finding {
                rule_id: id.to_string(),
                level: m.level,
                security_severity: m.security_severity,
                cwe: m.cwe.clone(),
                title: m.title.clone(),
                message,
                engine: Engine::Policy,
                path: s.path.clone(),
                line: s.line,
                column: s.column.max(1),
                evidence: None,
                fix,
                merged: Vec::new(),
                call: Some(index),
            });
        };
        let executes = executes_remote_code(c);
        if executes {
            let at = commit
                .map(|c| format!(" at commit {c}"))
                .unwrap_or_default();
            let why = if s.family == crate::model::Family::Kernels && s.args.contains_key("via") {
                format!(
                    "{}: a Hub kernel is imported, which trust_remote_code does not gate",
                    s.resolution
                )
            } else if s.family == crate::model::Family::Kernels {
                "a Hub kernel is imported: kernels has no trust gate for the code, only a publisher check".to_string()
            } else if s.gate == "true" && s.platform == Platform::PytorchHub {
                "trust_repo=True".to_string()
            } else if s.gate == "true" {
                "trust_remote_code=True".to_string()
            } else if s.platform == Platform::Modelscope
                && repo
                    .split_once('/')
                    .is_some_and(|(o, _)| matches!(o, "damo" | "iic"))
            {
                "ModelScope trusts the owner's code without a flag".to_string()
            } else if s.args.contains_key("custom_pipeline") {
                "custom_pipeline runs without a flag".to_string()
            } else if s.family.runs_without_flag() {
                format!("{} has no trust gate", s.platform)
            } else {
                format!("trust gate {:?}", s.gate)
            };
            push(
                REMOTE_CODE_ENABLED,
                format!(
                    "`{}` executes code from {hub} repo {repo}{at} ({why}).",
                    s.api
                ),
                None,
            );
            let locked = c.target.as_ref().is_some_and(|t| t.pinned_by.is_some());
            if !s.pinned && !locked {
                let rev = s
                    .revision
                    .as_deref()
                    .map(|r| format!("revision {r:?} is a branch or tag, not a commit"))
                    .unwrap_or_else(|| "no revision is given (the default branch is used)".into());
                // `pipe.load_components(...)`: the pipeline's repo (whose
                // modular_model_index.json names the components) is pinned
                // where the pipeline is made; a `revision=` here would go to
                // every component instead.
                let method = crate::discover::catalogue::is_pipeline_method_api(&s.api);
                let fix = commit
                    .filter(|c| !method && crate::hub::validate::is_target_commit(c))
                    .and_then(|commit| {
                        let src = cache
                            .entry(s.path.clone())
                            .or_insert_with(|| sources(&s.path));
                        src.as_deref()
                            .and_then(|src| callsrc::pin_fix(src, s, commit))
                    });
                let pin = match commit {
                    Some(c) if method => format!(
                        " Pin the scanned commit {c} in the call that made the pipeline (its modular_model_index.json names the component repos)."
                    ),
                    Some(c) => format!(" Pin the scanned commit {c}."),
                    None => String::new(),
                };
                push(
                    REMOTE_CODE_UNPINNED,
                    format!("Remote code from {repo} is not pinned: {rev}.{pin}"),
                    fix,
                );
            }
        }
        if c.target.is_none() && s.repo_id.is_none() && executes {
            // Fail closed: an id that static analysis cannot resolve was not scanned.
            push(
                REMOTE_CODE_UNVERIFIED,
                format!(
                    "The repo id of `{}` is not statically known ({}), so its remote code was not resolved or scanned.",
                    s.api, s.resolution
                ),
                None,
            );
        }
        if let Some(t) = &c.target {
            if t.cross_repo_unpinned && !s.args.contains_key("code_revision") {
                let note = t
                    .notes
                    .iter()
                    .find(|n| n.contains("cross-repo"))
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                push(
                    CROSS_REPO_CODE_UNPINNED,
                    format!(
                        "{repo} maps to code in another repository fetched at its default branch; add code_revision=<commit>{note}."
                    ),
                    None,
                );
            }
            if !t.unpinned_components.is_empty() {
                let list: Vec<String> = t
                    .unpinned_components
                    .iter()
                    .map(|u| {
                        format!(
                            "{} from {} at {} ({} names no commit; scanned at {})",
                            u.name,
                            u.repo_id,
                            u.revision
                                .as_deref()
                                .map(|r| format!("{r:?}"))
                                .unwrap_or_else(|| "its default branch".into()),
                            u.source,
                            u.commit
                        )
                    })
                    .collect();
                let pins: Vec<(String, String)> = t
                    .unpinned_components
                    .iter()
                    .map(|u| (u.name.clone(), u.commit.clone()))
                    .collect();
                let fix = {
                    let src = cache
                        .entry(s.path.clone())
                        .or_insert_with(|| sources(&s.path));
                    src.as_deref()
                        .and_then(|src| callsrc::components_fix(src, s, &pins))
                };
                let example: Vec<String> = pins
                    .iter()
                    .map(|(n, c)| format!("\"{n}\": \"{c}\""))
                    .collect();
                push(
                    REMOTE_CODE_UNPINNED,
                    format!(
                        "Pipeline components run remote code from a branch, not a commit: {}. Pin them on this call: revision={{{}}}.",
                        list.join("; "),
                        example.join(", ")
                    ),
                    fix,
                );
            }
            if t.status == TargetStatus::Unverified {
                let reason = t.reason.as_deref().unwrap_or("unknown reason");
                push(
                    REMOTE_CODE_UNVERIFIED,
                    format!("The remote code of {repo} could not be verified: {reason}."),
                    None,
                );
            }
            for link in &t.chain {
                let assumed = if link.applies == "always" {
                    String::new()
                } else {
                    let a: Vec<String> = t.assumed.iter().map(ToString::to_string).collect();
                    format!(
                        " The declared versions may include it (worst case assumed: {}).",
                        a.join("; ")
                    )
                };
                // A link past the call's own repo says how the load got there.
                let via = if link.via.is_empty() {
                    String::new()
                } else {
                    format!(", reached via {}", link.via.join(" -> "))
                };
                let message = format!(
                    "{} ({}@{} {}:{}{via}) -> {}.{assumed}",
                    link.why,
                    link.repo_id,
                    link.commit.get(..12).unwrap_or(&link.commit),
                    link.file,
                    link.line,
                    link.leads_to
                );
                let Some(m) = metas.get(link.rule.as_str()) else {
                    continue;
                };
                chained.push(Finding {
                    rule_id: link.rule.clone(),
                    level: m.level,
                    security_severity: m.security_severity,
                    cwe: m.cwe.clone(),
                    title: m.title.clone(),
                    message,
                    engine: Engine::Policy,
                    path: s.path.clone(),
                    line: s.line,
                    column: s.column.max(1),
                    evidence: Some(crate::model::Evidence {
                        hub: link.hub,
                        repo_id: link.repo_id.clone(),
                        commit: link.commit.clone(),
                        file: link.file.clone(),
                        line: link.line,
                        snippet: format!("\"{}\": {}", link.field, link.value),
                        context: crate::model::ExecContext::File,
                    }),
                    fix: None,
                    merged: Vec::new(),
                    call: Some(index),
                });
            }
            if s.family == crate::model::Family::Kernels && t.status != TargetStatus::NoRemoteCode {
                let natives: Vec<String> = t
                    .files
                    .iter()
                    .filter(|f| crate::resolve::kernels::is_native(&f.path))
                    .map(|f| format!("{} ({} bytes, sha256 {})", f.path, f.bytes, f.sha256))
                    .collect();
                let assumed = t
                    .assumed
                    .iter()
                    .map(|a| format!(" Assumed: {a}."))
                    .collect::<String>();
                if !natives.is_empty() {
                    push(
                        KERNEL_NATIVE_CODE,
                        format!(
                            "`{}` loads native code from Hub kernel {repo}{}: {}.{assumed}",
                            s.api,
                            commit.map(|c| format!(" at {c}")).unwrap_or_default(),
                            natives.join(", ")
                        ),
                        None,
                    );
                }
                let org = repo.split('/').next().unwrap_or(repo);
                if org != crate::resolve::kernels::COMMUNITY_ORG {
                    let trusted_by_call = if s.gate == "true" {
                        " The call passes trust_remote_code=True, which lifts the kernels library's publisher check."
                    } else {
                        ""
                    };
                    push(
                        KERNEL_UNTRUSTED_PUBLISHER,
                        format!(
                            "Hub kernel {repo} is published by {org}, not a trusted kernel publisher ({}).{trusted_by_call}",
                            crate::resolve::kernels::COMMUNITY_ORG
                        ),
                        None,
                    );
                }
            }
            if t.pickle_weights {
                push(
                    PICKLE_WEIGHTS,
                    format!(
                        "{repo} has no safetensors weights: this call unpickles a checkpoint{}.{}",
                        commit.map(|c| format!(" at {c}")).unwrap_or_default(),
                        t.assumed
                            .iter()
                            .find(|a| a.library == "torch" && a.assumption.contains("torch.load"))
                            .map(|a| format!(" Assumed: {a}."))
                            .unwrap_or_default()
                    ),
                    None,
                );
            }
            if t.refused_remote_code {
                let message = if s.gate == "false" {
                    format!(
                        "trust_remote_code is False but {repo} needs remote code: the load will fail."
                    )
                } else {
                    format!(
                        "The trust gate is {:?} but {repo} needs remote code: without a terminal (CI) the load fails, and on a terminal the library asks, where \"y\" runs the remote files.",
                        s.gate
                    )
                };
                push(GATE_FALSE_NEEDS_REMOTE_CODE, message, None);
            }
        }
    }
    out.extend(chained);
    out
}

/// Finds the call a finding belongs to: same path, line and column, else the
/// first call on that line.
pub struct SiteIndex<'a> {
    calls: &'a [CallReport],
    exact: HashMap<(&'a str, u32, u32), &'a CallReport>,
    by_line: HashMap<(&'a str, u32), &'a CallReport>,
}

impl<'a> SiteIndex<'a> {
    pub fn new(calls: &'a [CallReport]) -> Self {
        let mut exact = HashMap::new();
        let mut by_line = HashMap::new();
        for c in calls {
            let p = c.site.path.as_str();
            exact
                .entry((p, c.site.line, c.site.column.max(1)))
                .or_insert(c);
            by_line.entry((p, c.site.line)).or_insert(c);
        }
        SiteIndex {
            calls,
            exact,
            by_line,
        }
    }

    pub fn get(&self, path: &str, line: u32, column: u32) -> Option<&'a CallReport> {
        self.exact
            .get(&(path, line, column.max(1)))
            .or_else(|| self.by_line.get(&(path, line)))
            .copied()
    }

    pub fn of(&self, f: &Finding) -> Option<&'a CallReport> {
        f.call
            .and_then(|i| self.calls.get(i))
            .filter(|c| c.site.path == f.path && c.site.line == f.line)
            .or_else(|| self.get(&f.path, f.line, f.column))
    }
}

/// What is left after suppressions, the allow-list and overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyOutcome {
    /// Kept findings, sorted by path, line, column, rule.
    pub findings: Vec<Finding>,
    /// Dropped by an inline `# hubwarden: ignore` (or a rule set to `off`).
    pub suppressed: usize,
    /// Dropped by the allow-list.
    pub allowed: usize,
    /// Totals, with `fail_on` and whether it was reached (`truncated` is left 0:
    /// the SARIF writer knows that).
    pub summary: Summary,
}

/// A finding that looks like a malicious payload rather than a weakness: the
/// allow-list of a whole repo does not silence it.
pub fn is_malicious(f: &Finding) -> bool {
    match f.engine {
        Engine::Yara => true,
        Engine::Query | Engine::Pickle => f.level == Level::Error,
        Engine::Policy => false,
    }
}

/// Apply inline suppressions, the allow-list, per-rule overrides and `fail-on`.
/// `fail_on` defaults to the config's, then `error`.
pub fn apply(
    config: &Config,
    calls: &[CallReport],
    findings: Vec<Finding>,
    sources: SourceReader<'_>,
) -> PolicyOutcome {
    let index = SiteIndex::new(calls);
    let mut src_cache: HashMap<String, Option<String>> = HashMap::new();
    let mut suppressed = 0usize;
    let mut allowed = 0usize;
    let mut kept = Vec::with_capacity(findings.len());
    for mut f in findings {
        let call = index.of(&f);
        // 1. Inline suppression on the call's lines.
        let suppress = match call {
            Some(c) => c.site.suppress.clone().or_else(|| {
                let src = src_cache
                    .entry(c.site.path.clone())
                    .or_insert_with(|| sources(&c.site.path));
                src.as_deref()
                    .and_then(|s| crate::callsite::suppressions(s, c.site.line, c.site.end_line))
            }),
            None => {
                let src = src_cache
                    .entry(f.path.clone())
                    .or_insert_with(|| sources(&f.path));
                src.as_deref()
                    .and_then(|s| crate::callsite::suppressions(s, f.line, f.line))
            }
        };
        if let Some(ids) = &suppress
            && (ids.is_empty() || ids.iter().any(|i| i == &f.rule_id))
        {
            suppressed += 1;
            continue;
        }
        // 2. Allow-list.
        if is_allowed(config, call, &f) {
            allowed += 1;
            continue;
        }
        // 3. Per-rule overrides.
        match config.rules.get(&f.rule_id) {
            Some(RuleOverride::Off) => {
                suppressed += 1;
                continue;
            }
            Some(RuleOverride::Level(l)) => f.level = *l,
            None => {}
        }
        kept.push(f);
    }
    kept.sort_by(|a, b| {
        (a.path.as_str(), a.line, a.column, a.rule_id.as_str()).cmp(&(
            b.path.as_str(),
            b.line,
            b.column,
            b.rule_id.as_str(),
        ))
    });
    let fail_on = config.fail_on.unwrap_or_default();
    let summary = summarize(calls, &kept, suppressed, allowed, fail_on);
    PolicyOutcome {
        findings: kept,
        suppressed,
        allowed,
        summary,
    }
}

fn is_allowed(config: &Config, call: Option<&CallReport>, f: &Finding) -> bool {
    if config.allow.is_empty() {
        return false;
    }
    // The remote repo: the evidence's, else the call's target.
    let (hub, repo, commit) = match (&f.evidence, call.and_then(|c| c.target.as_ref())) {
        (Some(e), _) => (e.hub, e.repo_id.as_str(), Some(e.commit.as_str())),
        (None, Some(t)) => match t
            .repo_id
            .as_deref()
            .or(call.and_then(|c| c.site.repo_id.as_deref()))
        {
            Some(r) => (t.hub, r, t.commit.as_deref()),
            None => return false,
        },
        (None, None) => return false,
    };
    if is_malicious(f) {
        commit.is_some_and(|c| config.allow.iter().any(|a| a.matches_commit(hub, repo, c)))
    } else {
        config.allow.iter().any(|a| {
            if a.is_whole_repo() {
                a.matches_repo(hub, repo)
            } else {
                commit.is_some_and(|c| a.matches_commit(hub, repo, c))
            }
        })
    }
}

/// The exit status a summary calls for (0 below `fail_on`, 1 at or above).
pub fn outcome(summary: &Summary) -> crate::Outcome {
    if summary.failed {
        crate::Outcome::Findings
    } else {
        crate::Outcome::Clean
    }
}

/// Totals for the kept findings.
pub fn summarize(
    calls: &[CallReport],
    kept: &[Finding],
    suppressed: usize,
    allowed: usize,
    fail_on: Level,
) -> Summary {
    let count = |l: Level| kept.iter().filter(|f| f.level == l).count();
    Summary {
        calls: calls.len(),
        findings: kept.len(),
        errors: count(Level::Error),
        warnings: count(Level::Warning),
        notes: count(Level::Note),
        unverified: calls
            .iter()
            .filter(|c| {
                c.target
                    .as_ref()
                    .is_some_and(|t| t.status == TargetStatus::Unverified)
            })
            .count(),
        suppressed,
        allowed,
        fail_on,
        failed: kept.iter().any(|f| f.level >= fail_on),
        truncated: 0,
        baselined: 0,
    }
}

#[cfg(test)]
mod rule_data_tests {
    use super::*;

    #[test]
    fn every_policy_rule_has_its_metadata_file() {
        let ids: Vec<String> = rule_metas().into_iter().map(|m| m.id).collect();
        assert_eq!(
            ids,
            [
                REMOTE_CODE_ENABLED,
                REMOTE_CODE_UNPINNED,
                CROSS_REPO_CODE_UNPINNED,
                REMOTE_CODE_UNVERIFIED,
                PICKLE_WEIGHTS,
                GATE_FALSE_NEEDS_REMOTE_CODE,
                KERNEL_NATIVE_CODE,
                KERNEL_UNTRUSTED_PUBLISHER,
                CONFIG_HUB_KERNEL,
                CONFIG_FORWARDS_TRUST,
                CONFIG_GATELESS,
            ]
        );
    }
}
