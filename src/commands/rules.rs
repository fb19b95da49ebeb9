//! `hubwarden rules`: list every rule (built-in and `--rules DIR`).

use anyhow::Context;

use crate::Outcome;
use crate::cli::{InventoryFormat, RulesArgs};
use crate::scan::{RuleSet, Scanner};

/// List the rules as text or JSON; a rule set that does not compile is an error.
pub fn run(args: &RulesArgs) -> anyhow::Result<Outcome> {
    let set = RuleSet::load(&args.rules).context("loading rules")?;
    // Compiling proves the rule set is usable, as a scan would.
    Scanner::new(&set).context("compiling rules")?;
    let metas = set.metas();
    let out = match args.format {
        InventoryFormat::Json => serde_json::to_string_pretty(&metas)? + "\n",
        InventoryFormat::Text => {
            let mut s = String::new();
            for m in &metas {
                s.push_str(&format!(
                    "{:<30} {:<7} {:>4.1} {:<6} {:<9} {}\n",
                    m.id,
                    m.level.as_str(),
                    m.security_severity,
                    format!("{:?}", m.engine).to_lowercase(),
                    m.cwe.join(","),
                    m.title
                ));
            }
            s.push_str(&format!("{} rules\n", metas.len()));
            s
        }
    };
    print!("{out}");
    Ok(Outcome::Clean)
}
