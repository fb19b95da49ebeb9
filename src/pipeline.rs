//! The `scan` pipeline in-process: discover -> resolve -> fetch -> scan -> policy -> report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::Outcome;
use crate::cli::ScanArgs;
use crate::discover::{self, DiscoverOptions};
use crate::hub::{HubOptions, Hubs, RepoSource};
use crate::model::{CallReport, Report};
use crate::resolve::{self, ResolveOptions};

/// Where the run happens, beyond the flags.
#[derive(Debug, Clone, Default)]
pub struct ScanEnv {
    /// Folder that SARIF URIs are relative to (the checkout root). None: PATH itself.
    pub uri_root: Option<PathBuf>,
    /// Hub endpoints and tokens; None: read from the process environment.
    pub hub_options: Option<HubOptions>,
}

/// Everything a scan produced.
#[derive(Debug)]
pub struct ScanResult {
    pub report: Report,
    pub outcome: Outcome,
}

/// Run a whole scan and return the report (rendering is the caller's).
pub fn run_scan(args: &ScanArgs, env: &ScanEnv) -> Result<ScanResult> {
    let root = &args.path;
    if !root.exists() {
        anyhow::bail!("path does not exist: {}", root.display());
    }
    let found = discover::discover(
        root,
        &DiscoverOptions {
            exclude: args.exclude.clone(),
        },
    )?;

    let hub_opts = env
        .hub_options
        .clone()
        .unwrap_or_else(HubOptions::from_env)
        .with_cli(args.offline, args.mirror.clone(), args.cache_dir.clone());
    let hubs = Hubs::new(hub_opts).context("setting up the hub clients")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let targets = runtime.block_on(resolve::resolve_all(
        &hubs,
        &found.calls,
        &ResolveOptions::default(),
    ));
    let calls: Vec<CallReport> = found
        .calls
        .into_iter()
        .zip(targets)
        .map(|(site, target)| CallReport {
            site,
            target: Some(target),
        })
        .collect();
    let report = Report {
        version: 1,
        calls,
        errors: found.errors,
        stats: Some(hubs.stats()),
        findings: None,
        summary: None,
    };
    Ok(ScanResult {
        report,
        outcome: Outcome::Clean,
    })
}

/// `path` relative to `base` with `/` separators, when it is inside it.
pub fn relative_uri(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}
