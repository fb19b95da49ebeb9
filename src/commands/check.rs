//! `hubwarden check REPO`: vet one remote repository before adopting it, with
//! no codebase. The repository is resolved to a commit once, then a probe is
//! written: one Python call per loader family that could load it (each Auto
//! class of its `auto_map`, the tokenizer and processors, `pipeline()` and its
//! custom pipelines, `custom_generate`, diffusers, sentence-transformers, vLLM,
//! datasets, kernels, torch.hub, PaddleHub, ModelScope and OpenCSG wrappers),
//! every call pinned to that commit and trusting remote code (the worst case a
//! user can write). The probe goes through the scan pipeline as it is
//! (discovery, resolution with the config-driven chains, fetch, scan, policy,
//! report), so `check` reports exactly what `scan` would for a codebase that
//! made those calls. The probe is parsed, never executed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, FromArgMatches, ValueEnum};

use crate::Outcome;
use crate::cli::{ScanArgs, ScanFormat};
use crate::hub::{HubOptions, Hubs, RepoSource, Snapshot, validate_repo_id, validate_revision};
use crate::model::{HubKind, RepoType};

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

impl CheckHub {
    fn kind(self) -> HubKind {
        match self {
            CheckHub::Huggingface => HubKind::Huggingface,
            CheckHub::Modelscope => HubKind::Modelscope,
            CheckHub::Opencsg => HubKind::Opencsg,
            CheckHub::Github => HubKind::Github,
            CheckHub::Paddlehub => HubKind::Paddlehub,
        }
    }
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
    #[arg(long, value_name = "LEVEL", value_parser = crate::cli::parse_level)]
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
    #[arg(long, value_name = "DURATION", default_value = "300", value_parser = crate::cli::parse_duration, env = "HUBWARDEN_MAX_WAIT")]
    pub max_wait: std::time::Duration,
    /// Extra rules folder (as `scan --rules`).
    #[arg(long, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Take this library version as the installed one (as `scan --assume`);
    /// without it every version-dependent path is taken at its worst case.
    #[arg(long, value_name = "NAME[SPEC]", value_parser = crate::cli::parse_assume)]
    pub assume: Vec<crate::deps::Assume>,
}

/// The name of the generated probe in reports (SARIF URIs, text locations).
pub const PROBE_FILE: &str = "hubwarden-check.py";

/// What REPO resolved to before the probe is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub hub: HubKind,
    pub repo_type: RepoType,
    pub repo: String,
    /// The revision asked for (None: the hub's default).
    pub requested: Option<String>,
    /// The ref that was used (`main`, a tag, a PaddleHub version).
    pub resolved_ref: String,
    /// The immutable commit (PaddleHub: `version+sha256:<hex>`).
    pub commit: String,
}

impl Subject {
    /// How a user pins what was checked, in the loader's own words.
    pub fn pin(&self) -> String {
        match self.hub {
            HubKind::Github => format!("\"{}:{}\"", self.repo, self.commit),
            HubKind::Paddlehub => format!("version=\"{}\"", self.resolved_ref),
            HubKind::Opencsg => format!(
                "(pycsghub always loads main; snapshot_download(revision=\"{}\") pins)",
                self.commit
            ),
            _ => format!("revision=\"{}\"", self.commit),
        }
    }
}

/// A Python string literal of a value that passed the hub's id and revision
/// checks (no quotes, backslashes or control characters can reach it).
fn lit(s: &str) -> String {
    format!("\"{s}\"")
}

/// The probe: one loader call per line, after the imports.
#[derive(Debug, Default)]
struct Probe {
    imports: Vec<&'static str>,
    calls: Vec<String>,
}

impl Probe {
    fn import(&mut self, module: &'static str) {
        if !self.imports.contains(&module) {
            self.imports.push(module);
        }
    }

    fn call(&mut self, module: &'static str, call: String) {
        self.import(module);
        if !self.calls.contains(&call) {
            self.calls.push(call);
        }
    }

    fn text(&self, s: &Subject) -> String {
        let mut out = format!(
            "# hubwarden check: what each library would run from {} {} {} at {}.\n# Generated by hubwarden, parsed and never executed.\n",
            s.hub, s.repo_type, s.repo, s.commit
        );
        for m in &self.imports {
            out.push_str(&format!("import {m}\n"));
        }
        for c in &self.calls {
            out.push_str(c);
            out.push('\n');
        }
        out
    }
}

/// Auto classes of transformers every model repo is tried with: the model
/// (weights, `custom_generate`, adapters, config chains), the tokenizer and
/// every processor kind (`AutoProcessor` also loads each component).
const BASE_AUTO: &[&str] = &[
    "AutoConfig",
    "AutoModel",
    "AutoTokenizer",
    "AutoProcessor",
    "AutoImageProcessor",
    "AutoFeatureExtractor",
    "AutoVideoProcessor",
];

/// The Auto classes a repo names: `auto_map` keys of its config files.
fn auto_classes(configs: &[Option<serde_json::Value>]) -> Vec<String> {
    let mut out: Vec<String> = BASE_AUTO.iter().map(|s| s.to_string()).collect();
    for cfg in configs.iter().flatten() {
        if let Some(serde_json::Value::Object(m)) = cfg.get("auto_map") {
            for k in m.keys() {
                let ok = k.starts_with("Auto") && k.bytes().all(|b| b.is_ascii_alphanumeric());
                if ok && !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
    }
    out
}

/// The `custom_pipelines` tasks of config.json (names that are identifiers or
/// task words only: they are written into the probe).
fn custom_tasks(config: &Option<serde_json::Value>) -> Vec<String> {
    let Some(serde_json::Value::Object(m)) =
        config.as_ref().and_then(|c| c.get("custom_pipelines"))
    else {
        return Vec::new();
    };
    m.keys()
        .filter(|k| {
            !k.is_empty()
                && k.len() <= 100
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .cloned()
        .collect()
}

/// Read a JSON config of the snapshot for planning; a missing or malformed
/// file plans nothing (the resolvers read it again and report it).
async fn config<S: RepoSource>(src: &S, snap: &Snapshot, path: &str) -> Option<serde_json::Value> {
    if !snap.has(path) {
        return None;
    }
    let bytes = src.read(snap, path).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Every loader call a library family would make for the subject.
async fn plan<S: RepoSource>(src: &S, snap: &Snapshot, s: &Subject) -> Probe {
    let mut p = Probe::default();
    let repo = lit(&s.repo);
    let rev = lit(&s.commit);
    match (s.hub, s.repo_type) {
        (HubKind::Huggingface, RepoType::Kernel) => {
            p.call(
                "kernels",
                format!("kernels.get_kernel({repo}, revision={rev})"),
            );
        }
        (HubKind::Huggingface, RepoType::Dataset) => {
            p.call(
                "datasets",
                format!("datasets.load_dataset({repo}, revision={rev}, trust_remote_code=True)"),
            );
        }
        (HubKind::Modelscope, RepoType::Dataset) => {
            p.call(
                "modelscope",
                format!("modelscope.MsDataset.load({repo}, version={rev}, trust_remote_code=True)"),
            );
        }
        (HubKind::Opencsg, RepoType::Dataset) => {
            p.call(
                "pycsghub.repo_reader",
                format!("pycsghub.repo_reader.load_dataset({repo}, trust_remote_code=True)"),
            );
        }
        (HubKind::Github, _) => {
            let spec = lit(&format!("{}:{}", s.repo, s.commit));
            p.call(
                "torch",
                format!("torch.hub.load({spec}, \"model\", trust_repo=True)"),
            );
            p.call(
                "paddle",
                format!("paddle.hub.load({spec}, \"model\", source=\"github\")"),
            );
        }
        (HubKind::Paddlehub, _) => {
            p.call(
                "paddlehub",
                format!(
                    "paddlehub.Module(name={repo}, version={})",
                    lit(&s.resolved_ref)
                ),
            );
        }
        (hub, _) => {
            let cfg = config(src, snap, "config.json").await;
            let mut configs = vec![cfg.clone()];
            for f in [
                "tokenizer_config.json",
                "preprocessor_config.json",
                "processor_config.json",
                "video_preprocessor_config.json",
            ] {
                configs.push(config(src, snap, f).await);
            }
            let (module, prefix, rev_kw) = match hub {
                HubKind::Modelscope => ("modelscope", "modelscope", format!(", revision={rev}")),
                // pycsghub snapshots main whatever revision says.
                HubKind::Opencsg => (
                    "pycsghub.repo_reader",
                    "pycsghub.repo_reader",
                    String::new(),
                ),
                _ => ("transformers", "transformers", format!(", revision={rev}")),
            };
            for class in auto_classes(&configs) {
                p.call(
                    module,
                    format!(
                        "{prefix}.{class}.from_pretrained({repo}{rev_kw}, trust_remote_code=True)"
                    ),
                );
            }
            match hub {
                HubKind::Huggingface => {
                    p.call(
                        "transformers",
                        format!(
                            "transformers.pipeline(model={repo}, revision={rev}, trust_remote_code=True)"
                        ),
                    );
                    for task in custom_tasks(&cfg) {
                        p.call(
                            "transformers",
                            format!(
                                "transformers.pipeline({}, model={repo}, revision={rev}, trust_remote_code=True)",
                                lit(&task)
                            ),
                        );
                    }
                    if snap.has("custom_generate/generate.py") {
                        p.calls.push(format!(
                            "model.generate(custom_generate={repo}, revision={rev}, trust_remote_code=True)"
                        ));
                    }
                    if snap.has("model_index.json") || snap.has("pipeline.py") {
                        p.call(
                            "diffusers",
                            format!(
                                "diffusers.DiffusionPipeline.from_pretrained({repo}, revision={rev}, trust_remote_code=True)"
                            ),
                        );
                    }
                    if snap.has("pipeline.py") {
                        p.call(
                            "diffusers",
                            format!(
                                "diffusers.DiffusionPipeline.from_pretrained({repo}, revision={rev}, custom_pipeline=\"pipeline\", trust_remote_code=True)"
                            ),
                        );
                    }
                    if snap.has("modular_config.json") {
                        p.call(
                            "diffusers",
                            format!(
                                "diffusers.ModularPipelineBlocks.from_pretrained({repo}, revision={rev}, trust_remote_code=True)"
                            ),
                        );
                    }
                    if snap.has("modules.json") {
                        p.call(
                            "sentence_transformers",
                            format!(
                                "sentence_transformers.SentenceTransformer({repo}, revision={rev}, trust_remote_code=True)"
                            ),
                        );
                    }
                    if cfg.is_some() {
                        p.call(
                            "vllm",
                            format!(
                                "vllm.LLM(model={repo}, revision={rev}, trust_remote_code=True)"
                            ),
                        );
                    }
                }
                HubKind::Modelscope => {
                    p.call(
                        "modelscope",
                        format!(
                            "modelscope.Model.from_pretrained({repo}, revision={rev}, trust_remote_code=True)"
                        ),
                    );
                    p.call(
                        "modelscope",
                        format!(
                            "modelscope.pipeline(model={repo}, model_revision={rev}, trust_remote_code=True)"
                        ),
                    );
                }
                _ => {}
            }
        }
    }
    p
}

/// A folder under the system temp folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let base = std::env::temp_dir();
        for n in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = base.join(format!(
                "hubwarden-check-{}-{nanos}-{n}",
                std::process::id()
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(TempDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", dir.display()));
                }
            }
        }
        bail!("could not create a temporary folder in {}", base.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Check the arguments against what each hub holds.
fn validate(args: &CheckArgs) -> Result<(HubKind, RepoType)> {
    let hub = args.hub.kind();
    let rt = match (args.repo_type, hub) {
        (CheckType::Kernel, HubKind::Huggingface) => RepoType::Kernel,
        (CheckType::Kernel, _) => {
            bail!("--type kernel: Hub kernels live on Hugging Face (--hub huggingface)")
        }
        (CheckType::Dataset, HubKind::Github | HubKind::Paddlehub) => {
            bail!("--type dataset: {hub} has no datasets (use huggingface, modelscope or opencsg)")
        }
        (CheckType::Dataset, _) => RepoType::Dataset,
        (CheckType::Model, HubKind::Github) => RepoType::Github,
        (CheckType::Model, HubKind::Paddlehub) => RepoType::Module,
        (CheckType::Model, _) => RepoType::Model,
    };
    validate_repo_id(hub, &args.repo).map_err(|_| {
        anyhow::anyhow!(
            "{:?} is not a {hub} repository id ({})",
            args.repo,
            if hub == HubKind::Paddlehub {
                "a module name"
            } else {
                "owner/name"
            }
        )
    })?;
    if let Some(r) = &args.revision {
        let hub_ok = crate::hub::get(hub).validate_revision(r).is_ok();
        if validate_revision(r).is_err() || !hub_ok || r.contains(['"', '\'']) {
            bail!("--revision {r:?} is not a valid revision");
        }
    }
    Ok((hub, rt))
}

/// The scan arguments of the probe run: `scan`'s defaults (so that a flag added
/// to `scan` needs nothing here), then what `check` was given.
fn scan_args(args: &CheckArgs, root: &Path) -> Result<ScanArgs> {
    let cmd = <ScanArgs as Args>::augment_args(clap::Command::new("hubwarden check"));
    let m = cmd
        .try_get_matches_from([
            std::ffi::OsString::from("check"),
            root.as_os_str().to_owned(),
        ])
        .context("building the probe's scan arguments")?;
    let mut s = ScanArgs::from_arg_matches(&m).context("building the probe's scan arguments")?;
    s.format = args.format;
    s.sarif = args.sarif.clone();
    s.json = args.json.clone();
    s.cyclonedx = args.cyclonedx.clone();
    s.fail_on = args.fail_on;
    s.offline = args.offline;
    s.mirror = args.mirror.clone();
    s.cache_dir = args.cache_dir.clone();
    s.max_wait = args.max_wait;
    s.rules = args.rules.clone();
    s.assume = args.assume.clone();
    // The probe's fresh folder has no `.hubwarden.yml`: nothing is allowed or
    // suppressed, every finding shows.
    s.config = None;
    Ok(s)
}

/// Resolve the subject to a commit (the one network step before the probe).
fn resolve_subject(
    args: &CheckArgs,
    hub: HubKind,
    rt: RepoType,
    opts: &HubOptions,
) -> Result<(Subject, String)> {
    let hubs = Hubs::new(opts.clone()).context("setting up the hub clients")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // pycsghub snapshots main whatever the call says.
    let rev = match hub {
        HubKind::Opencsg => {
            if let Some(r) = args.revision.as_deref().filter(|r| *r != "main") {
                tracing::warn!(
                    "--revision {r}: pycsghub loads always read main, so main is checked"
                );
            }
            Some("main".to_string())
        }
        _ => args.revision.clone(),
    };
    runtime.block_on(async {
        let snap = hubs
            .snapshot(hub, rt, &args.repo, rev.as_deref())
            .await
            .with_context(|| {
                format!(
                    "{hub} {rt} {}{}",
                    args.repo,
                    rev.as_deref().map(|r| format!("@{r}")).unwrap_or_default()
                )
            })?;
        let subject = Subject {
            hub,
            repo_type: rt,
            repo: args.repo.clone(),
            requested: args.revision.clone(),
            resolved_ref: snap.resolved_ref.clone(),
            commit: snap.commit.clone(),
        };
        let probe = plan(&hubs, &snap, &subject).await;
        Ok((subject.clone(), probe.text(&subject)))
    })
}

/// The text header that says what was checked and what to pin.
fn header(s: &Subject, calls: usize) -> String {
    let asked = s
        .requested
        .as_deref()
        .map(|r| format!("{r} -> "))
        .unwrap_or_default();
    let kind = match s.repo_type {
        RepoType::Github => "repository",
        other => other.as_str(),
    };
    format!(
        "hubwarden check: {} {kind} {}\n  {asked}{} at commit {}\n  pin it: {}\n  {calls} loader call(s) tried ({PROBE_FILE}, generated, never executed)\n\n",
        s.hub,
        s.repo,
        s.resolved_ref,
        s.commit,
        s.pin()
    )
}

/// The `check` command.
pub fn run(args: &CheckArgs) -> Result<Outcome> {
    let (hub, rt) = validate(args)?;
    let dir = TempDir::new()?;
    let scan = scan_args(args, &dir.0)?;
    let mut opts =
        HubOptions::from_env().with_cli(scan.offline, scan.mirror.clone(), scan.cache_dir.clone());
    opts.http.max_wait = scan.max_wait;
    let (subject, probe) = resolve_subject(args, hub, rt, &opts)?;
    let calls = probe
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("import "))
        .count();
    std::fs::write(dir.0.join(PROBE_FILE), &probe)
        .with_context(|| format!("writing the probe in {}", dir.0.display()))?;
    let env = super::scan::ScanEnv {
        uri_root: Some(dir.0.clone()),
        hub_options: Some(opts),
        git_env: Vec::new(),
    };
    let result = super::scan::run_scan(&scan, &env)?;
    if scan.format == ScanFormat::Text {
        print!("{}", header(&subject, calls));
    }
    let var = |k: &str| std::env::var(k).ok();
    super::scan::emit(&scan, &result, &var)?;
    Ok(result.outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auto_classes_add_every_auto_map_key_once() {
        let cfg = Some(json!({"auto_map": {
            "AutoModelForCausalLM": "m.X", "AutoConfig": "c.C", "Auto\"x": "bad.B"
        }}));
        let classes = auto_classes(&[cfg, None]);
        assert!(classes.contains(&"AutoModelForCausalLM".to_string()));
        assert_eq!(classes.iter().filter(|c| *c == "AutoConfig").count(), 1);
        assert!(!classes.iter().any(|c| c.contains('"')));
    }

    #[test]
    fn custom_tasks_keep_only_plain_names() {
        let cfg = Some(json!({"custom_pipelines": {"my-task": {}, "x\")\nimport os": {}}}));
        assert_eq!(custom_tasks(&cfg), vec!["my-task".to_string()]);
    }

    #[test]
    fn pins_in_each_loaders_words() {
        let s = Subject {
            hub: HubKind::Github,
            repo_type: RepoType::Github,
            repo: "o/r".into(),
            requested: None,
            resolved_ref: "main".into(),
            commit: "a".repeat(40),
        };
        assert_eq!(s.pin(), format!("\"o/r:{}\"", "a".repeat(40)));
    }
}
