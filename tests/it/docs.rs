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

/// Check (or, with `UPDATE_README`, rewrite) the README block between `start` and `end`.
fn generated_block(start: &str, end: &str, want: &str) {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).unwrap();
    let from = readme
        .find(start)
        .unwrap_or_else(|| panic!("marker {start:?}"))
        + start.len();
    let to = readme[from..]
        .find(end)
        .unwrap_or_else(|| panic!("marker {end:?}"))
        + from;
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{}{}", &readme[..from], want, &readme[to..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[from..to],
        want,
        "README block {start:?} is stale: run `UPDATE_README=1 cargo test --test it docs::`"
    );
}

#[test]
fn readme_lists_every_rule() {
    generated_block(START, END, &rule_table(&all_rules()));
}

fn genre(file: &str) -> serde_yaml::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules/genre")
        .join(file);
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strs(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(|s| format!("`{s}`")))
        .collect()
}

/// At most `n` items, then how many there are in all.
fn some(items: &[String], n: usize) -> String {
    if items.len() <= n {
        items.join(", ")
    } else {
        format!("{}, ... ({} in all)", items[..n].join(", "), items.len())
    }
}

/// The capability catalogue (`rules/genre/capabilities.yml`) as a table.
fn capability_table() -> String {
    let caps = genre("capabilities.yml");
    let mut out = String::from(
        "| capability | rule | what reaches it | at import or load time |\n|---|---|---|---|\n",
    );
    for (name, c) in caps["capabilities"].as_mapping().unwrap() {
        let apis = strs(&c["apis"]);
        let modules: Vec<String> = c["modules"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.as_str().map(|s| format!("`{s}`")))
            .collect();
        let mut reach = String::new();
        if !modules.is_empty() {
            reach.push_str(&format!("every API of {}; ", some(&modules, 6)));
        }
        reach.push_str(&some(&apis, 8));
        let names = strs(&c["names"]);
        if !names.is_empty() {
            reach.push_str(&format!(
                "an expression folded at run time (concatenation, join, f-string, `chr`, hex, base64, rot13) equal to {}, or to a process, code, network or native API",
                some(&names, 8)
            ));
        }
        let targets = strs(&c["reflection-targets"]);
        if !targets.is_empty() {
            reach.push_str(&format!(
                "; attributes by computed name or `__dict__`/`vars` of {}",
                some(&targets, 6)
            ));
        }
        let mut level = String::from("error");
        let tools = strs(&c["build-tools"]);
        if !tools.is_empty() {
            level.push_str(&format!(
                "; warning when the program is a literal build tool ({})",
                some(&tools, 6)
            ));
        }
        if c["system-libraries"].as_sequence().is_some() {
            level.push_str(
                "; warning for a system library named by a literal (`libc.so.6`, `libcuda`)",
            );
        }
        let data = strs(&c["data-extensions"]);
        if !data.is_empty() {
            level.push_str(&format!(
                "; warning for data files ({}) and the library's file-name constants; a download followed at a commit is a note, followed at a branch a warning",
                some(&data, 5)
            ));
        }
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            name.as_str().unwrap(),
            c["rule"].as_str().unwrap(),
            reach.replace('|', "\\|"),
            level
        ));
    }
    out
}

/// What each loader family's library calls on load (`rules/genre/load-hooks.yml`).
fn load_hooks_table() -> String {
    let hooks = genre("load-hooks.yml");
    let mut out = String::from(
        "| family | library | classes it loads | methods it calls on them (load-time roots) |\n|---|---|---|---|\n",
    );
    for (name, f) in hooks["families"].as_mapping().unwrap() {
        let mut classes = Vec::new();
        if f["entry-function"].as_bool() == Some(true) {
            classes.push(
                "the entry point the call names (every public function when unknown)".to_string(),
            );
        }
        if f["all-classes-of-entry-files"].as_bool() == Some(true) {
            classes.push("every top-level class of the files it imports".to_string());
        }
        let bases = strs(&f["bases"]);
        if !bases.is_empty() {
            classes.push(format!("subclasses of {}", some(&bases, 6)));
        }
        let decorators = strs(&f["decorators"]);
        if !decorators.is_empty() {
            classes.push(format!("classes decorated with {}", decorators.join(", ")));
        }
        let class_hooks = strs(&f["class-hooks"]);
        if !class_hooks.is_empty() {
            classes.push(format!("classes defining {}", class_hooks.join(", ")));
        }
        let called = strs(&f["hooks"]);
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            name.as_str().unwrap(),
            f["library"].as_str().unwrap_or(""),
            classes.join("; "),
            if called.is_empty() {
                "the entry point and what it reaches".to_string()
            } else {
                some(&called, 10)
            }
        ));
    }
    out
}

#[test]
fn readme_explains_contexts_and_capabilities_from_the_catalogues() {
    generated_block(
        "<!-- capabilities:start (generated from rules/genre/capabilities.yml; a test checks it) -->\n",
        "<!-- capabilities:end -->",
        &capability_table(),
    );
    generated_block(
        "<!-- load-hooks:start (generated from rules/genre/load-hooks.yml; a test checks it) -->\n",
        "<!-- load-hooks:end -->",
        &load_hooks_table(),
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
