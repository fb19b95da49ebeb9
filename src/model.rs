//! Plain data passed between the pipeline stages: `LoadSite` -> `Target` -> `Finding`.
//!
//! These types are also the JSON output contract (`--format json`), so field
//! names and enum spellings are an interface: change them only with a version bump.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::discover::catalogue::Family;

/// The platform whose library performs the load (the call's family).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    Huggingface,
    Modelscope,
    Opencsg,
    PytorchHub,
    Paddlehub,
    Openmmlab,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Huggingface => "huggingface",
            Platform::Modelscope => "modelscope",
            Platform::Opencsg => "opencsg",
            Platform::PytorchHub => "pytorch-hub",
            Platform::Paddlehub => "paddlehub",
            Platform::Openmmlab => "openmmlab",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of remote repository an id names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum RepoType {
    Model,
    Dataset,
    Space,
    Github,
    Module,
    /// A Hub kernel repository (`kernels` library; `api/kernels/...`).
    Kernel,
}

impl RepoType {
    /// The default repo type (serde's `default` needs a function).
    pub fn model() -> RepoType {
        RepoType::Model
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
            RepoType::Github => "github",
            RepoType::Module => "module",
            RepoType::Kernel => "kernel",
        }
    }
}

impl fmt::Display for RepoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server that hosts a remote repository (a platform may use another's hub:
/// torch.hub and paddle `hub.load` fetch from GitHub).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum HubKind {
    Huggingface,
    Modelscope,
    Opencsg,
    Github,
    Paddlehub,
}

impl HubKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HubKind::Huggingface => "huggingface",
            HubKind::Modelscope => "modelscope",
            HubKind::Opencsg => "opencsg",
            HubKind::Github => "github",
            HubKind::Paddlehub => "paddlehub",
        }
    }
}

impl fmt::Display for HubKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One loader call in the user's code, for one possible repo id.
///
/// Serialised through `remote = "Self"` so that reading one back can restore
/// `family` (which is not written) from `api`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(remote = "Self")]
pub struct LoadSite {
    /// Relative to the scanned root, `/` separators.
    pub path: String,
    /// 1-based start of the call expression (for a notebook: the line of the .ipynb file).
    pub line: u32,
    pub column: u32,
    /// Notebook cell index (0-based), else null.
    pub cell: Option<u32>,
    pub end_line: u32,
    pub platform: Platform,
    /// The resolution rules the call follows. Not part of the JSON contract.
    #[serde(skip)]
    pub family: Family,
    /// Fully qualified API, e.g. `transformers.AutoModelForCausalLM.from_pretrained`.
    pub api: String,
    /// Null when not statically known.
    pub repo_id: Option<String>,
    pub repo_type: RepoType,
    /// Requested revision as written (`:ref` suffix for torch.hub), null if none.
    pub revision: Option<String>,
    /// `revision` is a full 40-hex commit id.
    pub pinned: bool,
    /// `"true"`, `"false"`, another literal such as `"check"`, `"absent"`, or `"dynamic"`.
    pub gate: String,
    /// How `repo_id` was obtained, for humans.
    pub resolution: String,
    /// Other statically known keyword arguments that later stages need
    /// (`code_revision`, `task`, `custom_pipeline`, `custom_revision`, `source`,
    /// `version`, `subfolder`, `tokenizer`, ...). Values are the resolved literals.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// The source text of the call's first line, trimmed (used for stable fingerprints
    /// and the inline-suppression check). Not part of the JSON contract.
    #[serde(skip)]
    pub source_line: String,
    /// Rule ids suppressed on this call line with `# hubwarden: ignore[...]`;
    /// `Some(empty)` for a bare `# hubwarden: ignore`. Not part of the JSON contract.
    #[serde(skip)]
    pub suppress: Option<Vec<String>>,
}

impl Serialize for LoadSite {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LoadSite::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for LoadSite {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LoadSite, D::Error> {
        let mut site = LoadSite::deserialize(d)?;
        site.family = Family::of_api(&site.api);
        Ok(site)
    }
}

/// Outcome of resolution for a call.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TargetStatus {
    /// The target resolved to a commit and every executed file was fetched.
    Resolved,
    /// The target resolved and nothing remote would execute.
    NoRemoteCode,
    /// Verification could not be completed (fail closed).
    Unverified,
}

/// A remote file that the call would execute (or unpickle).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RemoteFile {
    pub hub: HubKind,
    pub repo_id: String,
    pub commit: String,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// Why this file runs, e.g. `auto_map AutoModelForCausalLM`, `relative import of modeling_x.py`.
    pub why: String,
    /// What the scanner should treat the bytes as.
    #[serde(skip)]
    pub kind: FileKind,
    /// The bytes (for a zip checkpoint: the extracted `data.pkl`). Never executed.
    #[serde(skip)]
    pub content: Arc<Vec<u8>>,
}

/// How the scanner reads a fetched file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FileKind {
    #[default]
    Python,
    /// A raw pickle stream (or the data.pkl of a zip checkpoint).
    Pickle,
    /// A requirements file that gets pip-installed.
    Requirements,
    /// Anything else scanned with signatures only.
    Other,
}

/// Where and how a call's remote code was resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Target {
    pub status: TargetStatus,
    /// Why, when unverified.
    pub reason: Option<String>,
    pub hub: HubKind,
    pub repo_id: Option<String>,
    pub repo_type: RepoType,
    /// The immutable commit the files were read at (for PaddleHub: `version+sha256`).
    pub commit: Option<String>,
    pub files: Vec<RemoteFile>,
    /// Facts the policy stage needs and humans want to see, e.g.
    /// "cross-repo code from other/repo fetched at the default branch".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The repo carries remote code that this call refuses (gate "false"); not fetched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refused_remote_code: bool,
    /// Weights that would be unpickled because the repo has no safetensors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pickle_weights: bool,
    /// Cross-repo code (`other/repo--mod.Class`) with no `code_revision`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cross_repo_unpinned: bool,
    /// The library versions a version-dependent decision about this target
    /// rested on (`library`, `range`, `source`, `assumption`), worst case when
    /// the declared range was unknown or open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumed: Vec<Assumed>,
    /// Where the commit is pinned when not on the call itself (`kernels.lock:3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_by: Option<String>,
    /// Remote code the call did not ask for, reached through a field of a
    /// fetched config (the chain: call -> config file:line -> code). The code
    /// it leads to is in `files`, each saying it came through the chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainLink>,
    /// The hub's own security scan of the repos whose files run, at the
    /// resolved commits (Hugging Face model repos; none offline or from a
    /// mirror). Corroboration only: it never lowers a verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hub_scan: Vec<HubScan>,
    /// Downloads the fetched code itself makes while it loads (`hf_hub_download`,
    /// `snapshot_download`, ...), and whether what they fetch was followed: the
    /// files followed are in `files`, each saying which download fetched it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetched_at_load: Vec<LoadFetch>,
    /// Components of a diffusers modular pipeline whose code this call runs
    /// from a repo fetched at its default branch: `modular_model_index.json`
    /// names no commit for them and the call gives none (`revision={name: ...}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpinned_components: Vec<UnpinnedComponent>,
}

/// A modular pipeline component loaded from a branch, and the commit scanned.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct UnpinnedComponent {
    /// The component's name (`unet`): the key `load_components(revision={...})` takes.
    pub name: String,
    pub repo_id: String,
    /// The branch or tag named, null for the default branch.
    pub revision: Option<String>,
    /// The commit that was fetched and scanned (the pin to write).
    pub commit: String,
    /// Where the component is named (`modular_model_index.json:9`).
    pub source: String,
}

/// One download call in fetched code, and what became of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LoadFetch {
    /// The fetched file that makes the call.
    pub hub: HubKind,
    pub repo_id: String,
    pub commit: String,
    pub file: String,
    /// 1-based lines of the call.
    pub line: u32,
    pub end_line: u32,
    pub api: String,
    pub outcome: FetchOutcome,
    /// What was fetched (`repo@commit:path`), or why it was not followed.
    pub detail: String,
}

/// Whether a download in fetched code was followed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FetchOutcome {
    /// Followed at the commit the call names: what it fetches is scanned and fixed.
    Pinned,
    /// Followed at the commit its branch is at now: scanned, but a later load may
    /// fetch other bytes.
    Unpinned,
    /// Named statically but not followed (invalid path, missing repo, a cap).
    Failed,
}

/// What a hub's own scanners say about one repository at one commit
/// (Hugging Face: a model's `securityStatus`, its `scansDone` and
/// `filesWithIssues`; the `securityFileStatus` of the files that run of a
/// dataset, Space or kernel).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HubScan {
    pub hub: HubKind,
    pub repo_id: String,
    /// Model repos are asked about the repo, datasets, Spaces and kernels
    /// about the files that run.
    #[serde(default = "RepoType::model")]
    pub repo_type: RepoType,
    pub commit: String,
    /// `issues`: the hub flags files of the repo; `no-issues`: its scans are
    /// done and flag nothing; `unknown`: scans not done, or not readable.
    pub status: HubScanStatus,
    /// The hub's `scansDone`; null when the status could not be read.
    pub scans_done: Option<bool>,
    /// Files the hub flags, whether or not they run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_with_issues: Vec<HubScanFile>,
    /// Why the status is unknown when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The hub's verdict on a repo, as `HubScan::status`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum HubScanStatus {
    Issues,
    NoIssues,
    Unknown,
}

/// A file a hub's scanners flag.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HubScanFile {
    pub path: String,
    /// The hub's level for it, as sent (absent when not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The file is one of the target's files that run.
    pub runs: bool,
}

/// One assumption made about a library for a decision (JSON `target.assumed[]`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Assumed {
    pub library: String,
    /// The range the project declares (`>=4.40, <5`), `any` when undeclared.
    pub range: String,
    /// Where the range comes from (`requirements.txt:3`, `--assume ...`); null when undeclared.
    pub source: Option<String>,
    /// What was assumed within the range, for humans.
    pub assumption: String,
}

impl fmt::Display for Assumed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(s) => write!(
                f,
                "{} {} ({s}): {}",
                self.library, self.range, self.assumption
            ),
            None => write!(f, "{} {}: {}", self.library, self.range, self.assumption),
        }
    }
}

/// One step of a config-driven chain: a config field that makes the library
/// load remote code.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ChainLink {
    /// The policy rule it is reported under.
    pub rule: String,
    pub hub: HubKind,
    /// The repo and commit whose config holds the field.
    pub repo_id: String,
    pub commit: String,
    pub file: String,
    pub line: u32,
    /// Dotted JSON path and value (`_attn_implementation_internal`, `evil/k`).
    pub field: String,
    pub value: String,
    /// What the library does with it.
    pub why: String,
    /// The code it leads to (`kernel evil-org/k`, `AutoConfig code of org/repo`).
    pub leads_to: String,
    /// `always` or `possibly` (the declared versions cross the boundary: worst case).
    pub applies: String,
    /// The links (or repo references) the library followed before reaching
    /// this config, outermost first (`repo@commit file:line field`); empty for
    /// a field of the call's own repo. A two-hop chain: the encoder repo named
    /// by a SpanMarker config, whose own `config.json` names a Hub kernel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

/// SARIF result levels, ordered by severity.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Note,
    Warning,
    /// The default `--fail-on` threshold.
    #[default]
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Note => "note",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "note" => Some(Level::Note),
            "warning" => Some(Level::Warning),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which engine produced a finding.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Query,
    Yara,
    Pickle,
    Policy,
}

/// Where a finding's code runs, found by a call graph over the target's fetched files.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ExecContext {
    /// Module top level, class bodies, decorators, default arguments, and what they
    /// call (threads started at import included): runs when the library imports the file.
    ImportTime,
    /// Reached from what the library calls while it loads the target (config and model
    /// constructors, `from_pretrained` overrides, the torch.hub entry point, ...).
    LoadTime,
    /// Runs only when the user calls it (`forward`, `generate`, `chat`).
    CallTime,
    /// Nothing in the fetched code reaches it.
    Unreached,
    /// Unpickling (pickle engine).
    Unpickle,
    /// Not tied to a line (YARA on the whole file, policy findings).
    File,
}

/// The remote evidence behind a finding.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Evidence {
    pub hub: HubKind,
    pub repo_id: String,
    pub commit: String,
    pub file: String,
    pub line: u32,
    pub snippet: String,
    pub context: ExecContext,
}

/// A suggested source edit at the call site (SARIF `fixes`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Fix {
    pub description: String,
    /// Replace the call's text spanning these 1-based positions with `replacement`.
    pub start_line: u32,
    pub start_column: u32,
    pub end_line: u32,
    pub end_column: u32,
    pub replacement: String,
}

/// One result (issue 4 contract, extended by policy in issue 5).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Finding {
    pub rule_id: String,
    pub level: Level,
    pub security_severity: f32,
    pub cwe: Vec<String>,
    pub title: String,
    pub message: String,
    pub engine: Engine,
    /// The call site in the user's code.
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub evidence: Option<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// Other policy findings about the same call, folded into this one (the most
    /// severe) so that a call carries one policy verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<MergedFinding>,
    /// Index of the call in `Report::calls` this finding belongs to (several
    /// calls can share one position, e.g. a loop over ids). Not in the JSON.
    #[serde(skip)]
    pub call: Option<usize>,
}

/// A policy finding folded into another one about the same call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MergedFinding {
    pub rule_id: String,
    pub level: Level,
    pub message: String,
}

/// A problem with an input that did not stop the run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub path: String,
    pub message: String,
}

/// Counters of a run: the fetch stage (zero for `inventory`, which fetches
/// nothing) and discovery.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub http_requests: u64,
    pub bytes_fetched: u64,
    pub cache_hits: u64,
    /// Files that passed the prefilter and were parsed.
    #[serde(default)]
    pub files_parsed: u64,
    /// Bytes handed to the parser (whole files, or the statements sliced out).
    #[serde(default)]
    pub bytes_parsed: u64,
    /// Value-resolution steps (expressions visited and memo lookups), a
    /// measure of discovery's work that grows linearly with the code.
    #[serde(default)]
    pub resolution_steps: u64,
}

/// A call with what resolution found for it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CallReport {
    #[serde(flatten)]
    pub site: LoadSite,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// Totals shown at the end of a scan.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub calls: usize,
    pub findings: usize,
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    pub unverified: usize,
    pub suppressed: usize,
    pub allowed: usize,
    /// The `--fail-on` threshold and whether it was reached.
    pub fail_on: Level,
    pub failed: bool,
    /// Results dropped to stay within GitHub's SARIF limits.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated: usize,
    /// Findings left out because `--baseline` lists them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub baselined: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The root of the JSON output (`version` 1) for `inventory` and `scan`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Report {
    pub version: u32,
    pub calls: Vec<CallReport>,
    pub errors: Vec<InputError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<FetchStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<Finding>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// What a rule is, for listings, SARIF `rules[]` and help text. Produced by the
/// scan stage (query and YARA rules, pickle checks) and the policy stage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RuleMeta {
    /// Stable id (= file stem for rule files), e.g. `reverse-shell`.
    pub id: String,
    pub title: String,
    pub description: String,
    /// Markdown: What it does / Why is this bad / Example / References.
    pub help: String,
    pub cwe: Vec<String>,
    pub level: Level,
    pub security_severity: f32,
    /// SARIF precision: very-high | high | medium | low.
    pub confidence: String,
    pub engine: Engine,
    /// Where the rule came from: `builtin:rules/python/x.yml` or a user path.
    pub source: String,
}
