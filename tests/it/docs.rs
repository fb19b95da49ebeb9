//! The README's generated parts stay in step with the code: the rule list and the
//! configuration example. `UPDATE_README=1 cargo test --test it docs::` rewrites the
//! rule list.

use hubwarden::config::Config;
use hubwarden::model::RuleMeta;
use hubwarden::scan::RuleSet;

const START: &str = "<!-- rules:start (generated from the rules; a test checks it) -->\n";
const END: &str = "<!-- rules:end -->";

fn readme_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

fn all_rules() -> Vec<RuleMeta> {
    let mut rules = RuleSet::load(&[]).expect("built-in rules load").metas();
    rules.extend(hubwarden::policy::rule_metas());
    rules.sort_by(|a, b| (a.engine, a.id.as_str()).cmp(&(b.engine, b.id.as_str())));
    rules
}

fn rule_table(rules: &[RuleMeta]) -> String {
    let mut out = String::from(
        "| rule | SARIF id | engine | level | security-severity | CWE | what it finds |\n|---|---|---|---|---:|---|---|\n",
    );
    for r in rules {
        let engine = serde_json::to_value(r.engine).unwrap();
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {:.1} | {} | {} |\n",
            r.id,
            hubwarden::report::rule_ids::sarif_id(&r.id),
            engine.as_str().unwrap(),
            r.level,
            r.security_severity,
            r.cwe.join(", "),
            r.title.replace('|', "\\|"),
        ));
    }
    out
}

#[test]
fn readme_lists_every_rule() {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(START).expect("rules:start marker") + START.len();
    let end = readme[start..].find(END).expect("rules:end marker") + start;
    let want = rule_table(&all_rules());
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{}{}", &readme[..start], want, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        want,
        "README rule list is stale: run `UPDATE_README=1 cargo test --test it docs::`"
    );
}

#[test]
fn readme_config_example_is_a_valid_config() {
    let readme = std::fs::read_to_string(readme_path()).unwrap();
    let block = readme
        .split("<!-- config-example:start -->")
        .nth(1)
        .and_then(|b| b.split("<!-- config-example:end -->").next())
        .expect("config example markers");
    let yaml = block
        .split_once("```yaml\n")
        .and_then(|(_, b)| b.split_once("```"))
        .map(|(y, _)| y)
        .expect("a yaml block");
    let config = Config::parse(yaml, std::path::Path::new("README.md"))
        .unwrap_or_else(|e| panic!("README config example does not parse: {e}"));
    assert_eq!(config.allow.len(), 3);
    assert!(config.rules.contains_key("remote-code-unpinned"));
}

/// Code scanning keys alerts on the SARIF id: every built-in rule has a registered
/// one in its engine's range, so a new rule cannot ship with a derived id that
/// would change once someone registers it.
#[test]
fn every_builtin_rule_has_a_registered_sarif_id() {
    use hubwarden::report::rule_ids;
    let rules = all_rules();
    for r in &rules {
        let code = rule_ids::registered(&r.id).unwrap_or_else(|| {
            panic!(
                "rule `{}` has no SARIF id: add it to BUILTIN in src/report/rule_ids.rs with the next free HW{}xxx number",
                r.id,
                rule_ids::engine_range(r.engine)
            )
        });
        assert_eq!(
            code.chars().nth(2),
            Some(rule_ids::engine_range(r.engine)),
            "{}: {code} is outside its engine's range",
            r.id
        );
    }
    // A registered rule that no longer exists keeps its row (retired), so its
    // number is never handed out again; only say so here.
    let retired: Vec<&str> = rule_ids::BUILTIN
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !rules.iter().any(|r| r.id == *id))
        .collect();
    assert!(retired.len() <= rule_ids::BUILTIN.len());
}
