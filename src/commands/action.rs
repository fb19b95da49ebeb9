//! The GitHub Action entry point: turns the runner's `INPUT_*` and `GITHUB_*`
//! variables into a scan plan, and writes the step outputs.
//!
//! The runner passes each input as `INPUT_<NAME>`, upper-cased with hyphens
//! kept (`INPUT_FAIL-ON`), which a shell cannot read; that is why the binary
//! reads them itself and the image needs no shell wrapper. An empty value means
//! "not set": the runner cannot tell the two apart.

use std::fmt;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use clap::{Args, FromArgMatches};

use crate::Outcome;
use crate::cli::{ScanArgs, parse_level};
use crate::hub::HubOptions;
use crate::model::HubKind;
use crate::report::github::{escape_data, escape_property};

/// Where the SARIF file goes, relative to the workspace. Not under `RUNNER_TEMP`:
/// that folder is not mounted into container actions.
pub const SARIF_FILE_NAME: &str = "hubwarden-results.sarif";

/// Where the CycloneDX ML-BOM goes, relative to the workspace.
pub const CYCLONEDX_FILE_NAME: &str = "hubwarden.cdx.json";

/// The `cache-dir` input's default: inside the workspace, so that an
/// `actions/cache` step (which runs outside the container) can save and restore it.
pub const DEFAULT_CACHE_DIR: &str = ".hubwarden-cache";

/// The inputs declared in action.yml, as the user spells them.
pub const INPUTS: &[&str] = &[
    "path",
    "fail-on",
    "config",
    "upload-sarif",
    "category",
    "diff-base",
    "offline",
    "token",
    "hf-token",
    "modelscope-token",
    "csghub-token",
    "cache-dir",
    "baseline",
    "extra-args",
];

/// Default REST API root when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Default web and git server when `GITHUB_SERVER_URL` is not set.
pub const DEFAULT_SERVER_URL: &str = "https://github.com";

/// A bad input or an unusable Actions environment; the step fails with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("input `{input}`: {message} (got {value:?})")]
    InvalidInput {
        input: &'static str,
        value: String,
        message: String,
    },
    #[error("input `extra-args`: {0}")]
    ExtraArgs(String),
    #[error("event payload {path}: {message}")]
    EventPayload { path: String, message: String },
    #[error("input `upload-sarif` is `true` but {0}")]
    UploadTarget(String),
}

/// The `upload-sarif` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// Upload when the token can. `plan_from_env` already turns the cases it
    /// can foresee (no token, fork or Dependabot pull request) into `Never`
    /// plus a notice; a 403 at upload time (private repository without code
    /// scanning) must likewise become a notice, not a failure.
    Auto,
    /// Upload; a failed upload fails the step.
    Always,
    /// Do not upload.
    Never,
}

/// A token: kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Tokens from the `token`, `hf-token`, `modelscope-token` and `csghub-token` inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubTokens {
    pub github: Option<Secret>,
    pub huggingface: Option<Secret>,
    pub modelscope: Option<Secret>,
    pub csghub: Option<Secret>,
}

impl HubTokens {
    /// The hub each given token belongs to, with the token.
    pub fn by_hub(&self) -> Vec<(HubKind, &str)> {
        [
            (HubKind::Github, &self.github),
            (HubKind::Huggingface, &self.huggingface),
            (HubKind::Modelscope, &self.modelscope),
            (HubKind::Opencsg, &self.csghub),
        ]
        .into_iter()
        .filter_map(|(hub, token)| token.as_ref().map(|t| (hub, t.expose())))
        .collect()
    }
}

/// What the workflow run is about, from `GITHUB_EVENT_NAME` and the payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventInfo {
    /// `GITHUB_EVENT_NAME`, e.g. `pull_request`, `push`.
    pub name: Option<String>,
    /// `pull_request.number`, on pull request events.
    pub pr_number: Option<u64>,
    /// `pull_request.base.sha` on pull request events, `merge_group.base_sha`
    /// on merge queue events.
    pub base_sha: Option<String>,
    /// The pull request comes from another repository (its token is read-only).
    pub from_fork: bool,
}

impl EventInfo {
    pub fn is_pull_request(&self) -> bool {
        matches!(
            self.name.as_deref(),
            Some("pull_request" | "pull_request_target")
        )
    }

    /// A merge queue run: the queue's base commit is what the group changes.
    pub fn is_merge_group(&self) -> bool {
        self.name.as_deref() == Some("merge_group")
    }
}

/// Everything the action will do, computed from the environment alone.
#[derive(Debug, Clone)]
pub struct ActionPlan {
    /// The scan, as if given on the command line. Paths are absolute (under the
    /// workspace); `format` is `github` (annotations + job summary) unless
    /// `extra-args` says otherwise; `sarif` is always set; `upload` is always
    /// false (the action uploads per `upload`); `github` names the upload target.
    pub scan: ScanArgs,
    pub upload: UploadMode,
    /// `GITHUB_WORKSPACE` (the checkout), else the current directory. SARIF
    /// URIs must be relative to this folder (not to `scan.path`), or code
    /// scanning cannot place the alerts.
    pub workspace: PathBuf,
    /// Absolute path of the SARIF file (= `scan.sarif`).
    pub sarif_file: PathBuf,
    /// The `cyclonedx-file` output: the ML-BOM, relative to the workspace when
    /// under it.
    pub cyclonedx_output: String,
    /// `GITHUB_SERVER_URL`: the only host the token may be sent to when the
    /// base commit is fetched.
    pub server_url: String,
    /// The `sarif-file` output: relative to the workspace when under it, so that
    /// later steps (which see the workspace at another path) can use it.
    pub sarif_output: String,
    /// `GITHUB_OUTPUT`.
    pub outputs_file: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`.
    pub summary_file: Option<PathBuf>,
    /// `GITHUB_API_URL`, for the upload.
    pub api_url: String,
    pub tokens: HubTokens,
    pub event: EventInfo,
    /// Messages for `::notice::` lines (e.g. why the upload is skipped).
    pub notices: Vec<String>,
    /// Folders git must trust (`safe.directory`): the mounted workspace belongs
    /// to the runner's user, not to root in the container. Empty without diff-base.
    pub git_safe_directories: Vec<PathBuf>,
}

impl ActionPlan {
    /// The hub clients' options: what the environment says (endpoints, tokens
    /// of the runner), with the action's token inputs on top. The scan gets
    /// them directly; nothing is written to the process environment.
    pub fn hub_options(&self, env: &dyn Fn(&str) -> Option<String>) -> HubOptions {
        let mut opts = HubOptions::from_vars(env);
        for (hub, token) in self.tokens.by_hub() {
            // The workflow token belongs to this run's GitHub (`GITHUB_API_URL`);
            // torch.hub repositories are read from github.com, so on an enterprise
            // server the token stays home.
            if hub == HubKind::Github
                && !crate::hub::same_origin(&self.api_url, opts.endpoints.get(hub))
            {
                opts.tokens.remove(hub);
                continue;
            }
            opts.tokens.set(hub, token);
        }
        opts
    }

    /// `GIT_CONFIG_*` entries for `safe.directory` (command-scope config, which
    /// git honours for that key, so no file is written), set on the git commands
    /// the scan runs. `env` reads the current environment, to append after any
    /// `GIT_CONFIG_COUNT` already set.
    pub fn git_env(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = Vec::new();
        if !self.git_safe_directories.is_empty() {
            let base = env("GIT_CONFIG_COUNT")
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            for (i, dir) in self.git_safe_directories.iter().enumerate() {
                vars.push((
                    format!("GIT_CONFIG_KEY_{}", base + i),
                    "safe.directory".into(),
                ));
                vars.push((
                    format!("GIT_CONFIG_VALUE_{}", base + i),
                    dir.display().to_string(),
                ));
            }
            vars.push((
                "GIT_CONFIG_COUNT".into(),
                (base + self.git_safe_directories.len()).to_string(),
            ));
        }
        vars
    }
}

/// Build the plan from the variables the runner sets. `env` looks a variable
/// up (`|k| std::env::var(k).ok()` in production). Reads the event payload
/// file on pull request events; mutates nothing.
pub fn plan_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ActionPlan, ActionError> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let input = |name: &str| {
        debug_assert!(INPUTS.contains(&name), "{name} is not declared in INPUTS");
        env(&input_var(name))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };

    let workspace = var("GITHUB_WORKSPACE")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let scan_path = under(&workspace, input("path").as_deref().unwrap_or("."));

    let fail_on = input("fail-on")
        .map(|v| {
            parse_level(&v).map_err(|_| invalid("fail-on", &v, "expected note, warning or error"))
        })
        .transpose()?;
    let upload_mode = match input("upload-sarif") {
        None => UploadMode::Auto,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "auto" => UploadMode::Auto,
            "true" => UploadMode::Always,
            "false" => UploadMode::Never,
            _ => return Err(invalid("upload-sarif", &v, "expected auto, true or false")),
        },
    };
    let offline = match input("offline") {
        None => false,
        Some(v) => parse_bool("offline", &v)?,
    };
    let category = input("category").unwrap_or_else(|| "hubwarden".to_string());

    let event = read_event(&var)?;
    let diff_base = match input("diff-base") {
        None => auto_diff_base(&event)?,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "auto" => auto_diff_base(&event)?,
            "none" | "false" => None,
            _ if v.starts_with('-') || v.chars().any(char::is_whitespace) => {
                return Err(invalid(
                    "diff-base",
                    &v,
                    "expected auto, none or a git revision",
                ));
            }
            _ => Some(v),
        },
    };

    let cache_dir = under(
        &workspace,
        input("cache-dir").as_deref().unwrap_or(DEFAULT_CACHE_DIR),
    );
    let mut argv: Vec<String> = vec![
        "hubwarden action".into(),
        "--format".into(),
        "github".into(),
        "--sarif".into(),
        workspace.join(SARIF_FILE_NAME).display().to_string(),
        "--cyclonedx".into(),
        workspace.join(CYCLONEDX_FILE_NAME).display().to_string(),
        "--cache-dir".into(),
        cache_dir.display().to_string(),
        "--category".into(),
        category,
    ];
    if let Some(level) = fail_on {
        argv.extend(["--fail-on".into(), level.as_str().into()]);
    }
    if offline {
        argv.push("--offline".into());
    }
    if let Some(config) = input("config") {
        argv.extend([
            "--config".into(),
            under(&workspace, &config).display().to_string(),
        ]);
    }
    if let Some(rev) = &diff_base {
        argv.extend(["--diff-base".into(), rev.clone()]);
    }
    if let Some(baseline) = input("baseline") {
        argv.extend([
            "--baseline".into(),
            under(&workspace, &baseline).display().to_string(),
        ]);
    }
    // The path goes before extra-args, so that a stray positional there is the
    // one clap reports. It is absolute, so it cannot be taken for a flag.
    argv.push(scan_path.display().to_string());
    if let Some(extra) = input("extra-args") {
        argv.extend(split_args(&extra).map_err(ActionError::ExtraArgs)?);
    }

    let mut scan = parse_scan_args(argv)?;
    if scan.upload {
        return Err(ActionError::ExtraArgs(
            "--upload is not accepted here: use the `upload-sarif` input".into(),
        ));
    }
    rebase_paths(&mut scan, &workspace);

    let repo = var("GITHUB_REPOSITORY");
    let commit = var("GITHUB_SHA");
    let git_ref = match event.pr_number {
        Some(n) => Some(format!("refs/pull/{n}/merge")),
        None => var("GITHUB_REF"),
    };
    scan.github.repo = scan.github.repo.take().or(repo);
    scan.github.commit = scan.github.commit.take().or(commit);
    scan.github.git_ref = scan.github.git_ref.take().or(git_ref);

    let tokens = HubTokens {
        github: input("token").map(Secret::new),
        huggingface: input("hf-token").map(Secret::new),
        modelscope: input("modelscope-token").map(Secret::new),
        csghub: input("csghub-token").map(Secret::new),
    };

    let mut notices = Vec::new();
    let upload = decide_upload(upload_mode, &scan, &tokens, &event, &var, &mut notices)?;

    let git_safe_directories = if scan.diff_base.is_some() {
        let mut dirs = vec![workspace.clone()];
        if scan.path != workspace && scan.path.is_dir() {
            dirs.push(scan.path.clone());
        }
        dirs
    } else {
        Vec::new()
    };

    // Invariant: `--sarif` is always in argv, and extra-args can only replace it.
    let sarif_file = scan
        .sarif
        .clone()
        .unwrap_or_else(|| workspace.join(SARIF_FILE_NAME));
    let relative = |p: &Path| match p.strip_prefix(&workspace) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => p.display().to_string(),
    };
    let sarif_output = relative(&sarif_file);
    let cyclonedx_output = scan.cyclonedx.as_deref().map(relative).unwrap_or_default();

    Ok(ActionPlan {
        scan,
        upload,
        sarif_file,
        sarif_output,
        cyclonedx_output,
        server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| DEFAULT_SERVER_URL.to_string()),
        outputs_file: var("GITHUB_OUTPUT").map(PathBuf::from),
        summary_file: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        api_url: var("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_string()),
        tokens,
        event,
        notices,
        git_safe_directories,
        workspace,
    })
}

/// The variable the runner sets for input `name`: upper-cased, spaces to `_`,
/// hyphens kept.
pub fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_ascii_uppercase())
}

fn invalid(input: &'static str, value: &str, message: &str) -> ActionError {
    ActionError::InvalidInput {
        input,
        value: value.to_string(),
        message: message.to_string(),
    }
}

fn parse_bool(input: &'static str, value: &str) -> Result<bool, ActionError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(input, value, "expected true or false")),
    }
}

/// `p` under the workspace unless absolute; `.` is the workspace itself.
fn under(workspace: &Path, p: impl AsRef<Path>) -> PathBuf {
    let rel: PathBuf = p
        .as_ref()
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        workspace.to_path_buf()
    } else {
        workspace.join(rel)
    }
}

fn rebase(workspace: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = under(workspace, &*p);
    }
}

/// Relative paths in `extra-args` are relative to the workspace, like every input.
fn rebase_paths(scan: &mut ScanArgs, workspace: &Path) {
    for p in [
        scan.mirror.as_mut(),
        scan.cache_dir.as_mut(),
        scan.config.as_mut(),
        scan.sarif.as_mut(),
        scan.json.as_mut(),
        scan.cyclonedx.as_mut(),
        scan.baseline.as_mut(),
        scan.write_baseline.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        rebase(workspace, p);
    }
    for p in &mut scan.rules {
        rebase(workspace, p);
    }
}

/// Parse the assembled arguments with the same clap definition as `scan`.
/// Later occurrences win, so `extra-args` can override what the inputs set.
fn parse_scan_args(argv: Vec<String>) -> Result<ScanArgs, ActionError> {
    let cmd = ScanArgs::augment_args(clap::Command::new("hubwarden action"))
        .args_override_self(true)
        .disable_help_flag(true)
        .disable_version_flag(true);
    let matches = cmd
        .try_get_matches_from(argv)
        .map_err(|e| ActionError::ExtraArgs(first_line(&e.to_string())))?;
    ScanArgs::from_arg_matches(&matches)
        .map_err(|e| ActionError::ExtraArgs(first_line(&e.to_string())))
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

fn read_event(var: &dyn Fn(&str) -> Option<String>) -> Result<EventInfo, ActionError> {
    let mut info = EventInfo {
        name: var("GITHUB_EVENT_NAME"),
        ..EventInfo::default()
    };
    if !info.is_pull_request() && !info.is_merge_group() {
        return Ok(info);
    }
    let path = var("GITHUB_EVENT_PATH").ok_or_else(|| ActionError::EventPayload {
        path: "$GITHUB_EVENT_PATH".into(),
        message: format!(
            "not set on a {} event",
            info.name.as_deref().unwrap_or_default()
        ),
    })?;
    let payload_error = |message: String| ActionError::EventPayload {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| payload_error(e.to_string()))?;
    let payload: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| payload_error(e.to_string()))?;
    if info.is_merge_group() {
        let group = payload
            .get("merge_group")
            .ok_or_else(|| payload_error("no `merge_group` object".into()))?;
        info.base_sha = group
            .get("base_sha")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        return Ok(info);
    }
    let pr = payload
        .get("pull_request")
        .ok_or_else(|| payload_error("no `pull_request` object".into()))?;
    info.pr_number = pr.get("number").and_then(serde_json::Value::as_u64);
    info.base_sha = pr
        .pointer("/base/sha")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let base_repo = pr.pointer("/base/repo/full_name").and_then(|v| v.as_str());
    // A deleted fork has `head.repo: null`: still a fork.
    let head_repo = pr.pointer("/head/repo/full_name").and_then(|v| v.as_str());
    info.from_fork = head_repo.is_none() || head_repo != base_repo;
    Ok(info)
}

fn auto_diff_base(event: &EventInfo) -> Result<Option<String>, ActionError> {
    if !event.is_pull_request() && !event.is_merge_group() {
        return Ok(None);
    }
    let field = if event.is_merge_group() {
        "merge_group.base_sha"
    } else {
        "pull_request.base.sha"
    };
    match &event.base_sha {
        Some(sha) if crate::hub::is_commit(sha) => Ok(Some(sha.clone())),
        other => Err(ActionError::EventPayload {
            path: "$GITHUB_EVENT_PATH".into(),
            message: format!(
                "diff-base is auto but {field} is {}",
                other
                    .as_deref()
                    .map_or("missing".to_string(), |s| format!("{s:?}"))
            ),
        }),
    }
}

fn decide_upload(
    mode: UploadMode,
    scan: &ScanArgs,
    tokens: &HubTokens,
    event: &EventInfo,
    var: &dyn Fn(&str) -> Option<String>,
    notices: &mut Vec<String>,
) -> Result<UploadMode, ActionError> {
    if mode == UploadMode::Never {
        return Ok(mode);
    }
    let mut missing = Vec::new();
    if tokens.github.is_none() {
        missing.push("the `token` input is empty");
    }
    if scan.github.repo.is_none() {
        missing.push("GITHUB_REPOSITORY is not set");
    }
    if scan.github.commit.is_none() {
        missing.push("GITHUB_SHA is not set");
    }
    if scan.github.git_ref.is_none() {
        missing.push("GITHUB_REF is not set");
    }
    if !missing.is_empty() {
        let why = missing.join(", ");
        if mode == UploadMode::Always {
            return Err(ActionError::UploadTarget(why));
        }
        notices.push(format!("SARIF upload skipped: {why}."));
        return Ok(UploadMode::Never);
    }
    if mode == UploadMode::Auto {
        let read_only = if event.name.as_deref() == Some("pull_request") && event.from_fork {
            Some("this pull request comes from a fork")
        } else if var("GITHUB_ACTOR").as_deref() == Some("dependabot[bot]") {
            Some("this run was triggered by Dependabot")
        } else {
            None
        };
        if let Some(why) = read_only {
            notices.push(format!(
                "SARIF upload skipped: {why}, so the token is read-only. \
                 Annotations, the job summary and the exit code still apply."
            ));
            return Ok(UploadMode::Never);
        }
    }
    Ok(mode)
}

/// Split `extra-args` like a POSIX shell would, without expanding anything:
/// whitespace (including newlines) separates words; `'...'` is literal;
/// `"..."` allows `\"`, `\\`, `\$` and `` \` ``; a backslash outside quotes
/// escapes the next character.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("trailing backslash".into()),
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// One `$GITHUB_OUTPUT` entry: `name=value`, or a heredoc `name<<DELIM` when
/// the value spans lines. The delimiter never occurs in the value, so a value
/// cannot end the heredoc early and inject other outputs.
pub fn format_output(name: &str, value: &str) -> String {
    if !value.contains('\n') && !value.contains('\r') {
        return format!("{name}={value}\n");
    }
    let mut delim = String::from("HUBWARDEN_EOF");
    while value.contains(&delim) {
        delim.push('_');
    }
    format!("{name}<<{delim}\n{value}\n{delim}\n")
}

/// Append the action's outputs to `$GITHUB_OUTPUT` (`path`).
pub fn write_outputs(
    path: &Path,
    sarif_file: &str,
    findings: usize,
    errors: usize,
    unverified: usize,
) -> std::io::Result<()> {
    let text = [
        format_output("sarif-file", sarif_file),
        format_output("findings", &findings.to_string()),
        format_output("errors", &errors.to_string()),
        format_output("unverified", &unverified.to_string()),
    ]
    .concat();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Append one more output to `$GITHUB_OUTPUT` (`path`).
pub fn append_output(path: &Path, name: &str, value: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format_output(name, value).as_bytes())
}

/// Make sure the `diff-base` commit is in the checkout. A shallow checkout
/// (`actions/checkout`'s default) lacks it: fetch it from `origin` at depth 1
/// with the workflow's token (passed to that one git command, never written to
/// disk). When that fails too, scan everything instead of failing the check for
/// a reason unrelated to the code, and return the warning that says so and names
/// the fix.
pub fn prepare_diff_base(
    plan: &mut ActionPlan,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    use crate::policy::base_commit::{BaseError, BaseState, FetchAuth, ensure_base};
    let base = plan.scan.diff_base.clone()?;
    let auth = plan.tokens.github.as_ref().map(|t| FetchAuth {
        server: &plan.server_url,
        token: t.expose(),
    });
    let why = match ensure_base(&plan.scan.path, &base, auth.as_ref(), env) {
        Ok(BaseState::Present) => return None,
        Ok(BaseState::Fetched) => {
            println!(
                "::notice title=hubwarden::{}",
                escape_data(&format!(
                    "diff-base: fetched the base commit {base} (the checkout is shallow)."
                ))
            );
            return None;
        }
        Err(BaseError::NotARepository(dir)) => format!("{dir} is not a git checkout"),
        Err(e) => e.to_string(),
    };
    plan.scan.diff_base = None;
    Some(format!(
        "The base commit {base} is not in the checkout and could not be fetched ({why}), \
         so every load is reported, not only what this change brings. \
         Check out with `fetch-depth: 0` (actions/checkout) to report only the change."
    ))
}

/// `hubwarden action`: plan from the environment, scan (tokens in the hub options),
/// write the outputs, upload.
///
/// Still to wire, in this order: `run_scan(&plan.scan, ..)` (prints the
/// annotations, writes the summary and the SARIF file); `write_outputs` to
/// `plan.outputs_file` with `plan.sarif_output` and the counts, before the
/// upload so that a failed upload still leaves them; the upload per
/// `plan.upload` (`Auto`: a refusal such as 403 is a `::notice::`, `Always`:
/// an error); then the scan's `Outcome`.
pub fn run() -> anyhow::Result<Outcome> {
    let env = |k: &str| std::env::var(k).ok();
    let mut plan = plan_from_env(&env).context("the action's inputs")?;
    for notice in &plan.notices {
        println!("::notice title=hubwarden::{}", escape_data(notice));
    }
    if let Some(warning) = prepare_diff_base(&mut plan, &env) {
        println!(
            "::warning title=hubwarden diff-base::{}",
            escape_data(&warning)
        );
    }
    // A baseline that cannot be used is an annotation on the file, not only a
    // log line: every finding is then reported, and the user should know why.
    if let Some(path) = &plan.scan.baseline
        && let Err(e) = crate::report::baseline::Baseline::read(path)
    {
        let file = path
            .strip_prefix(&plan.workspace)
            .unwrap_or(path)
            .display()
            .to_string();
        let line = e.line().map(|l| format!(",line={l}")).unwrap_or_default();
        println!(
            "::warning file={}{line},title=hubwarden baseline::{}",
            escape_property(&file),
            escape_data(&e.to_string())
        );
    }
    tracing::debug!(?plan, "action plan");
    let scan_env = super::scan::ScanEnv {
        uri_root: Some(plan.workspace.clone()),
        hub_options: Some(plan.hub_options(&env)),
        git_env: plan.git_env(&env),
    };
    let result = super::scan::run_scan(&plan.scan, &scan_env)?;
    // A bad cache entry was refetched, never used; the annotation on it says
    // so where the run is read, with the fix the message names.
    for (path, msg) in crate::hub::store::take_bad_entries() {
        let file = path
            .strip_prefix(&plan.workspace)
            .unwrap_or(&path)
            .display()
            .to_string();
        println!(
            "::warning file={},title=hubwarden cache::{}",
            escape_property(&file),
            escape_data(&msg)
        );
    }
    let rendered = super::scan::emit(&plan.scan, &result, &env)?;
    let summary = result.report.summary.clone().unwrap_or_default();
    if let Some(path) = &plan.outputs_file {
        write_outputs(
            path,
            &plan.sarif_output,
            summary.findings,
            summary.errors,
            summary.unverified,
        )
        .and_then(|()| append_output(path, "cyclonedx-file", &plan.cyclonedx_output))
        .with_context(|| format!("writing the step outputs to {}", path.display()))?;
    }
    if plan.upload != UploadMode::Never {
        // The plan always writes a SARIF file, so `emit` has rendered it already.
        let sarif = rendered.unwrap_or_else(|| {
            crate::report::sarif::render(&result.report, &result.rules, &result.render)
        });
        let uploaded = crate::report::upload::upload_sarif_text(
            &sarif,
            &plan.scan.github,
            &env,
            &crate::report::upload::UploadOptions::default(),
        );
        match (uploaded, plan.upload) {
            (Ok(done), _) => println!(
                "::notice title=hubwarden::{}",
                escape_data(&format!(
                    "SARIF uploaded to code scanning: id {}, processing {}",
                    done.sarif_id, done.processing_status
                ))
            ),
            // `auto`: code scanning may be off (private repo) or the token read-only;
            // annotations, summary and exit code still do their job.
            (Err(e), UploadMode::Auto) => println!(
                "::notice title=hubwarden SARIF upload skipped::{}",
                escape_data(&format!("{e:#}"))
            ),
            (Err(e), _) => return Err(e.context("uploading the SARIF (upload-sarif: true)")),
        }
    }
    Ok(result.outcome)
}
