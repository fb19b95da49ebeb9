//! `hubwarden inventory`: discover and print the calls (no network).

use std::io::Write as _;

use anyhow::{Context, Result};
use is_terminal::IsTerminal;

use crate::Outcome;
use crate::cli::{InventoryArgs, InventoryFormat};
use crate::discover::{self, DiscoverOptions};
use crate::report::inventory::{render_json, render_text, to_report};

/// Run discovery under `args.path` and print the inventory on stdout. Input
/// problems are warnings on stderr; the command still succeeds.
pub fn run(args: &InventoryArgs) -> Result<Outcome> {
    let opts = DiscoverOptions {
        exclude: args.exclude.clone(),
        parsing: discover::Parsing::from_env(),
    };
    let progress = crate::progress::start();
    let found = discover::discover(&args.path, &opts)?;
    drop(progress);
    for e in &found.errors {
        tracing::warn!("{}: {}", e.path, e.message);
    }
    let report = to_report(found);
    let out = match args.format {
        InventoryFormat::Json => render_json(&report),
        InventoryFormat::Text => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            render_text(&report, color)
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .context("writing the inventory to stdout")?;
    Ok(Outcome::Clean)
}
