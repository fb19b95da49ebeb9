//! Command-line interface (clap derive). The `action` subcommand reads the
//! GitHub Action's `INPUT_*` variables instead of flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::model::Level;
pub use crate::report::upload::GithubArgs;
pub use crate::report::{InventoryFormat, ScanFormat};

/// Find model-hub loads that execute remote code, fetch the exact remote files
/// without running them, scan them, and report.
///
/// Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it,
/// 2 the run itself failed (bad arguments, bad config, unusable rules).
#[derive(Parser, Debug)]
#[command(name = "hubwarden", version, about, long_about)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Progress on stderr: a bar on a terminal, a `hubwarden: resolving
    /// 12/40 targets, ...` line every 5 s elsewhere (CI logs); nothing for a
    /// run shorter than that. `always` also prints a last line for a quick run.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value_t,
        global = true,
        env = "HUBWARDEN_PROGRESS"
    )]
    pub progress: crate::progress::Mode,

    /// No progress and no status lines on stderr (warnings and errors still show).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every call in the Python code under PATH that loads a model,
    /// dataset or code from a model hub (no network).
    Inventory(InventoryArgs),
    /// Discover, resolve each load to the exact remote files it would execute,
    /// fetch them (never executing them), scan them and report.
    Scan(Box<ScanArgs>),
    /// Pin every unpinned load to the commit that was scanned (`revision=`,
    /// `code_revision=`, `owner/repo:<sha>`, `model_revision=`, PaddleHub
    /// `version=`) and update .hubwarden.lock. Without --write, print a unified
    /// diff. Loads whose code has error-level findings, that could not be
    /// verified, or in files that could not be parsed are listed, not pinned.
    ///
    /// Exit codes: 0 every unpinned load is pinned (or would be), 1 some are
    /// listed as not pinned, 2 the run failed.
    Pin(Box<PinArgs>),
    /// List the built-in rules (and those added with --rules).
    Rules(RulesArgs),
    /// Upload a SARIF file to GitHub code scanning.
    Upload(UploadArgs),
    /// Vet one remote repository before adopting it (no codebase needed):
    /// resolve what every loader family would run from it, fetch it (never
    /// executing it), scan it and report, with the commit to pin.
    Check(Box<CheckArgs>),
    /// Run as the GitHub Action: read INPUT_* and GITHUB_* variables, write
    /// outputs, annotations and the job summary.
    Action,
}

#[derive(Args, Debug, Clone)]
pub struct InventoryArgs {
    /// Folder (or single file) to scan.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: InventoryFormat,
    /// Skip paths matching this glob (relative to PATH; repeatable), e.g. 'tests/**'.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ScanArgs {
    /// Folder (or single file) to scan.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: ScanFormat,
    /// Skip paths matching this glob (relative to PATH; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Make no network request: read --mirror and the local Hugging Face cache.
    #[arg(long)]
    pub offline: bool,
    /// A folder laid out as an offline hub mirror (see README, "Offline mirror").
    #[arg(long, value_name = "DIR", env = "HUBWARDEN_MIRROR")]
    pub mirror: Option<PathBuf>,
    /// Longest total time this run waits out hub rate limits, when a hub says
    /// how long to wait (`RateLimit`, `Retry-After`): seconds, or with an s, m
    /// or h suffix. A target whose wait does not fit is unverified ("rate
    /// limited"); 0 never waits. A token raises the hubs' limits.
    #[arg(long, value_name = "DURATION", default_value = "300", value_parser = parse_duration, env = "HUBWARDEN_MAX_WAIT")]
    pub max_wait: std::time::Duration,
    /// Where fetched files are cached (default: the user cache folder).
    #[arg(long, value_name = "DIR", env = "HUBWARDEN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Extra rules folder (rules/python/*.yml and rules/yara/*.yar, or the files directly).
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Configuration file (default: .hubwarden.yml at PATH, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this level (note, warning, error).
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub fail_on: Option<Level>,
    /// Also write SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a CycloneDX 1.6 ML-BOM to FILE: each remote target with its
    /// commit, the files that run (SHA-256) and the calls that load it.
    #[arg(long, value_name = "FILE")]
    pub cyclonedx: Option<PathBuf>,
    /// SARIF category (runs[].automationDetails.id).
    #[arg(long, default_value = "hubwarden")]
    pub category: String,
    /// Report only calls added or changed since this git revision, plus calls
    /// whose remote target now resolves to a different commit.
    #[arg(long, value_name = "REF")]
    pub diff_base: Option<String>,
    /// Upload the SARIF to GitHub code scanning after the scan.
    #[arg(long)]
    pub upload: bool,
    /// Record each call's resolved commit in PATH/.hubwarden.lock; commit that file,
    /// and later `--diff-base` runs also report calls whose target moved since.
    /// (Not with --diff-base, which scans only part of the calls.)
    #[arg(long, conflicts_with = "diff_base")]
    pub write_lock: bool,
    /// Report only the findings not listed in this baseline file (written by
    /// --write-baseline): adopt hubwarden on a codebase with known findings and
    /// fail only on new ones. A finding in remote code is new when that code
    /// moved to another commit. An unreadable baseline is a warning, and every
    /// finding is reported.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write every finding of this run to FILE as a baseline for --baseline
    /// (the report itself is complete). Not with --diff-base, which scans only
    /// part of the calls.
    #[arg(long, value_name = "FILE", conflicts_with = "diff_base")]
    pub write_baseline: Option<PathBuf>,
    /// Take this library version as the installed one, whatever the project
    /// declares (repeatable): `transformers==5.4.0`, `torch>=2.6`, `kernels`
    /// (installed, any version), `kernels=none` (not installed). Without it the
    /// versions come from the nearest requirements, pyproject, lock, setup or
    /// conda file above each call, and an unknown or open range is taken at its
    /// worst case.
    #[arg(long, value_name = "NAME[SPEC]", value_parser = parse_assume)]
    pub assume: Vec<crate::deps::Assume>,
    #[command(flatten)]
    pub github: GithubArgs,
}

/// The hub `check` reads REPO from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum CheckHub {
    #[default]
    Huggingface,
    Modelscope,
    Opencsg,
    /// A GitHub repository loaded by torch.hub or paddle `hub.load` (`hubconf.py`).
    Github,
    /// A PaddleHub module (REPO is the module name, `--revision` its version).
    Paddlehub,
}

/// What kind of repository REPO is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum CheckType {
    #[default]
    Model,
    Dataset,
    /// A Hub kernel (`kernels.get_kernel`), on Hugging Face.
    Kernel,
}

/// `hubwarden check` arguments.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// The repository: `owner/name` (a PaddleHub module: its name).
    pub repo: String,
    /// The hub REPO lives on.
    #[arg(long, value_enum, default_value_t)]
    pub hub: CheckHub,
    /// Branch, tag or commit to check (default: the hub's default branch; for
    /// PaddleHub the module version, default the newest).
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// What REPO is.
    #[arg(long = "type", value_enum, default_value_t, value_name = "TYPE")]
    pub repo_type: CheckType,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub format: ScanFormat,
    /// Also write SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a CycloneDX 1.6 ML-BOM to FILE.
    #[arg(long, value_name = "FILE")]
    pub cyclonedx: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this level (note, warning, error).
    #[arg(long, value_name = "LEVEL", value_parser = parse_level)]
    pub fail_on: Option<crate::model::Level>,
    /// Make no network request: read --mirror and the local Hugging Face cache.
    #[arg(long)]
    pub offline: bool,
    /// A folder laid out as an offline hub mirror (see README, "Offline mirror").
    #[arg(long, value_name = "DIR", env = "HUBWARDEN_MIRROR")]
    pub mirror: Option<PathBuf>,
    /// Where fetched files are cached (default: the user cache folder).
    #[arg(long, value_name = "DIR", env = "HUBWARDEN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Longest total time this run waits out hub rate limits (as `scan --max-wait`).
    #[arg(long, value_name = "DURATION", default_value = "300", value_parser = parse_duration, env = "HUBWARDEN_MAX_WAIT")]
    pub max_wait: std::time::Duration,
    /// Extra rules folder (as `scan --rules`).
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Take this library version as the installed one (as `scan --assume`);
    /// without it every version-dependent path is taken at its worst case.
    #[arg(long, value_name = "NAME[SPEC]", value_parser = parse_assume)]
    pub assume: Vec<crate::deps::Assume>,
}

#[derive(Args, Debug, Clone)]
pub struct PinArgs {
    /// Folder (or single file) whose loads to pin.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Rewrite the files and update PATH/.hubwarden.lock (default: print the
    /// changes as a unified diff, from the repository root, for `git apply`).
    #[arg(long)]
    pub write: bool,
    /// Skip paths matching this glob (relative to PATH; repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Make no network request: read --mirror and the local Hugging Face cache.
    #[arg(long)]
    pub offline: bool,
    /// A folder laid out as an offline hub mirror (see README, "Offline mirror").
    #[arg(long, value_name = "DIR", env = "HUBWARDEN_MIRROR")]
    pub mirror: Option<PathBuf>,
    /// Longest total time this run waits out hub rate limits (as for `scan`).
    #[arg(long, value_name = "DURATION", default_value = "300", value_parser = parse_duration, env = "HUBWARDEN_MAX_WAIT")]
    pub max_wait: std::time::Duration,
    /// Where fetched files are cached (default: the user cache folder).
    #[arg(long, value_name = "DIR", env = "HUBWARDEN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Extra rules folder (as for `scan`).
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Configuration file (default: .hubwarden.yml at PATH, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Take this library version as the installed one (as for `scan`).
    #[arg(long, value_name = "NAME[SPEC]", value_parser = parse_assume)]
    pub assume: Vec<crate::deps::Assume>,
}

#[derive(Args, Debug, Clone)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: InventoryFormat,
    /// Extra rules folder (same formats as the built-in rules).
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct UploadArgs {
    /// The SARIF file to upload.
    pub file: PathBuf,
    #[command(flatten)]
    pub github: GithubArgs,
}

/// `90`, `90s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| {
            format!("invalid duration {s:?}: expected seconds, or a number with s, m or h")
        })
}

pub fn parse_assume(s: &str) -> Result<crate::deps::Assume, String> {
    s.parse()
}

pub fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("invalid level {s:?}: expected note, warning or error"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 5m "), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "-1", "5x", "m", "1.5m", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
