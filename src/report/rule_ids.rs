//! SARIF identities of the rules: a stable opaque `id` (`HW1002`) and a PascalCase
//! `name` (`RemoteCodeUnpinned`) for each rule, as SARIF wants them (SARIF1001:
//! `id` and `name` differ; SARIF2009/2012: tool prefix plus number, Pascal-case
//! name). The kebab-case rule id (`remote-code-unpinned`) stays what JSON,
//! suppressions and the configuration use.
//!
//! Code scanning keys alerts on the SARIF id, so a code is never reused or
//! renumbered: new rules get the next free number of their engine's range, and a
//! removed rule keeps its row here (commented as retired).

use sha2::{Digest, Sha256};

use crate::model::{Engine, RuleMeta};

/// `(rule id, SARIF id)` of every built-in rule. Ranges: HW1xxx policy, HW2xxx
/// tree-sitter query rules, HW3xxx YARA rules, HW4xxx pickle checks.
/// `tests/it/report.rs` checks that every built-in rule is listed once.
pub const BUILTIN: &[(&str, &str)] = &[
    // policy
    ("remote-code-enabled", "HW1001"),
    ("remote-code-unpinned", "HW1002"),
    ("cross-repo-code-unpinned", "HW1003"),
    ("remote-code-unverified", "HW1004"),
    ("pickle-weights", "HW1005"),
    ("gate-false-needs-remote-code", "HW1006"),
    ("kernel-native-code", "HW1007"),
    ("kernel-untrusted-publisher", "HW1008"),
    ("config-hub-kernel", "HW1009"),
    ("config-forwards-trust-remote-code", "HW1010"),
    ("config-remote-code-without-gate", "HW1011"),
    // query
    ("aliased-dangerous-import", "HW2001"),
    ("builtins-patch", "HW2002"),
    ("credential-env", "HW2003"),
    ("credential-file", "HW2004"),
    ("ctypes-load", "HW2005"),
    ("download-exec", "HW2006"),
    ("dynamic-import", "HW2007"),
    ("environ-dump", "HW2008"),
    ("exec-dynamic", "HW2009"),
    ("insecure-tempfile", "HW2010"),
    ("marshal-loads", "HW2011"),
    ("network-request", "HW2012"),
    ("numpy-allow-pickle", "HW2013"),
    ("obfuscated-exec", "HW2014"),
    ("os-system", "HW2015"),
    ("persistence-write", "HW2016"),
    ("pickle-load", "HW2017"),
    ("pip-install-runtime", "HW2018"),
    ("reflective-dangerous-access", "HW2019"),
    ("requirements-remote-source", "HW2020"),
    ("socket-connect", "HW2021"),
    ("subprocess-dynamic", "HW2022"),
    ("subprocess-shell", "HW2023"),
    ("tls-verify-disabled", "HW2024"),
    ("torch-load-unsafe", "HW2025"),
    ("yaml-unsafe-load", "HW2026"),
    // capabilities (query engine: rules/capability/, catalogue rules/genre/)
    ("process-creation", "HW2027"),
    ("dynamic-code", "HW2028"),
    ("reflection", "HW2029"),
    ("network-access", "HW2030"),
    ("native-code", "HW2031"),
    ("interpreter-hook", "HW2032"),
    ("unverified-fetched-code", "HW2033"),
    ("out-of-profile-import", "HW2034"),
    // data flow (src/scan/taint.rs; HW2027-HW2034 are the capability rules)
    ("taint-flow", "HW2035"),
    // adversarial round 3 (issue 10): source Python reads differently, introspection,
    // unpickling options kept apart from the call
    ("confusable-identifier", "HW2036"),
    ("source-encoding-cookie", "HW2037"),
    ("introspection-escape", "HW2038"),
    ("unsafe-load-option-indirect", "HW2039"),
    ("environment-injection", "HW2040"),
    ("name-resolved-factory", "HW2041"),
    // adversarial round 5 (issue 10): names built at run time (capability engine)
    ("computed-name", "HW2042"),
    // yara
    ("crypto-miner", "HW3001"),
    ("download-execute", "HW3002"),
    ("encoded-payload", "HW3003"),
    ("exfil-endpoint", "HW3004"),
    ("reverse-shell", "HW3005"),
    // pickle
    ("pickle-dangerous-global", "HW4001"),
    ("pickle-malformed", "HW4002"),
    ("pickle-unknown-global", "HW4003"),
    ("pickle-container-mismatch", "HW4004"),
];

/// The prefix of the SARIF id of a rule that is not built in (`--rules DIR`).
pub const USER_PREFIX: &str = "HWU";

/// The SARIF id of the rule `rule_id`: its registered code, else (rules added
/// with `--rules`) `HWU` and 8 hex digits of the id's SHA-256, which stays the
/// same as long as the rule id does.
pub fn sarif_id(rule_id: &str) -> String {
    match BUILTIN.iter().find(|(id, _)| *id == rule_id) {
        Some((_, code)) => (*code).to_string(),
        None => {
            let digest = Sha256::digest(rule_id.as_bytes());
            format!("{USER_PREFIX}{}", hex::encode_upper(&digest[..4]))
        }
    }
}

/// The registered code of a built-in rule, if it has one.
pub fn registered(rule_id: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(id, _)| *id == rule_id)
        .map(|(_, code)| *code)
}

/// The first digit of the range an engine's codes use.
pub fn engine_range(engine: Engine) -> char {
    match engine {
        Engine::Policy => '1',
        Engine::Query => '2',
        Engine::Yara => '3',
        Engine::Pickle => '4',
    }
}

/// The PascalCase name of a rule: its id's words capitalised and joined
/// (`remote-code-unpinned` -> `RemoteCodeUnpinned`). Characters other than ASCII
/// letters and digits separate words, so any id gives a valid identifier; an id
/// that starts with a digit gets an `R` in front.
pub fn pascal_name(rule_id: &str) -> String {
    let mut out = String::with_capacity(rule_id.len());
    for word in rule_id.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'R');
    }
    out
}

/// Where the rule is documented: its file for built-in rule files, the README's
/// rule list otherwise.
pub fn help_uri(meta: &RuleMeta) -> String {
    let repo = env!("CARGO_PKG_REPOSITORY");
    match meta.source.strip_prefix("builtin:") {
        Some(path) if path.starts_with("rules/") => format!("{repo}/blob/main/{path}"),
        _ => format!("{repo}#rules"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_pascal_case() {
        assert_eq!(pascal_name("remote-code-unpinned"), "RemoteCodeUnpinned");
        assert_eq!(pascal_name("os-system"), "OsSystem");
        assert_eq!(pascal_name("cve_2024-x.y"), "Cve2024XY");
        assert_eq!(pascal_name("2fast"), "R2fast");
        assert_eq!(pascal_name("--"), "R");
    }

    #[test]
    fn codes_are_registered_or_derived() {
        assert_eq!(sarif_id("remote-code-unpinned"), "HW1002");
        let user = sarif_id("my-rule");
        assert!(user.starts_with("HWU") && user.len() == 11, "{user}");
        assert_eq!(user, sarif_id("my-rule"));
        assert_ne!(user, sarif_id("my-rule2"));
    }

    #[test]
    fn codes_are_unique_and_in_range() {
        let mut codes: Vec<&str> = BUILTIN.iter().map(|(_, c)| *c).collect();
        codes.sort();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n, "a SARIF id is used twice");
        let mut ids: Vec<&str> = BUILTIN.iter().map(|(i, _)| *i).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "a rule is listed twice");
        for c in codes {
            assert!(c.len() == 6 && c.starts_with("HW"), "{c}");
            assert!(c[2..].bytes().all(|b| b.is_ascii_digit()), "{c}");
        }
    }
}
