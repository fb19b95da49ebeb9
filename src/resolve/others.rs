//! Per-library dispatch: which rules a call follows (from its platform and api),
//! and the non-transformers rules: datasets scripts, diffusers, sentence-
//! transformers, peft, vLLM, ModelScope native `allow_remote`, OpenCSG,
//! huggingface_hub downloads, torch.hub / paddle `hub.load` and PaddleHub modules.

use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde_json::Value;

use super::hf::{self, HfSpec, Style};
use super::{Fail, Gate, Job, Outcome, check_repo_id, is_pickle_weight, pyimports};
use crate::hub::{RepoSource, Snapshot};
use crate::model::{FileKind, HubKind, LoadSite, Platform, RepoType};

const TRANSFORMERS_PROMPT: &str = "trust_remote_code not given: transformers asks (y/N) on a terminal, so with no TTY (CI) the load fails, but an interactive \"y\" runs these files; they were fetched and scanned";
const DATASETS_PROMPT: &str = "trust_remote_code not given: datasets 3.x asks (y/N) on a terminal, so with no TTY (CI) the load fails, but an interactive \"y\" runs the script; it was fetched and scanned";
const TORCH_PROMPT: &str = "trust_repo asks (y/N) on a terminal for this repo, so with no TTY (CI) the load fails, but an interactive \"y\" runs hubconf.py; it was fetched and scanned";

/// torch.hub `_TRUSTED_REPO_OWNERS`.
const TORCH_TRUSTED_OWNERS: [&str; 4] = [
    "facebookresearch",
    "facebookincubator",
    "pytorch",
    "fairinternal",
];

/// ModelScope `TRUSTED_MODEL_OWNERS`.
const MODELSCOPE_TRUSTED_OWNERS: [&str; 2] = ["damo", "iic"];

/// `trust_remote_code` where `None` means a prompt (transformers and its
/// wrappers, peft which forwards it).
fn prompting_gate(gate: &str, prompt: &'static str) -> Gate {
    match gate {
        "false" | "False" | "0" => Gate::Refuse,
        "absent" | "None" | "none" => Gate::Prompt(prompt),
        // "true", "dynamic" (may be true) and any other truthy literal.
        _ => Gate::Run,
    }
}

/// `trust_remote_code=False` by default (diffusers, sentence-transformers,
/// vLLM, ModelScope native).
fn default_false_gate(gate: &str) -> Gate {
    match gate {
        "false" | "False" | "0" | "absent" | "None" | "none" => Gate::Refuse,
        _ => Gate::Run,
    }
}

fn segments(api: &str) -> Vec<&str> {
    api.split('.').collect()
}

pub(crate) fn is_paddle_module(site: &LoadSite) -> bool {
    segments(&site.api).contains(&"Module")
}

/// The Auto (or concrete) class a `X.from_pretrained` / `X.from_config` call uses.
fn class_of(site: &LoadSite) -> Option<String> {
    if let Some(c) = site.args.get("auto_class") {
        return Some(c.clone());
    }
    let segs = segments(&site.api);
    let pos = segs
        .iter()
        .position(|s| *s == "from_pretrained" || *s == "from_config");
    match pos {
        Some(p) if p > 0 => Some(segs[p - 1].to_string()),
        _ => segs
            .iter()
            .rev()
            .find(|s| s.starts_with("Auto"))
            .map(|s| s.to_string()),
    }
}

fn is_model_class(c: &str) -> bool {
    if c.starts_with("Auto") {
        return c.starts_with("AutoModel") || c == "AutoBackbone";
    }
    ![
        "Tokenizer",
        "TokenizerFast",
        "Config",
        "Processor",
        "ImageProcessor",
        "FeatureExtractor",
        "VideoProcessor",
    ]
    .iter()
    .any(|s| c.ends_with(s))
}

/// The repo id the code comes from (a `snapshot_download` result passed on
/// comes from that snapshot's repo), its hub and revision.
struct Origin {
    repo_id: String,
    hub: HubKind,
    revision: Option<String>,
}

fn origin<S: RepoSource>(job: &mut Job<'_, S>, hub: HubKind) -> Result<Origin, Fail> {
    let site = job.site;
    if let Some(of) = site.args.get("snapshot_of") {
        // Discovery puts the snapshot's own repo, platform and revision on the
        // call, and names the download API here.
        job.note(format!(
            "the call loads a local snapshot made by {of}: the code comes from that repo"
        ));
    }
    let Some(id) = site.repo_id.clone() else {
        return Err("model id could not be resolved statically".to_string());
    };
    Ok(Origin {
        repo_id: id,
        hub,
        revision: site.revision.clone(),
    })
}

pub(crate) async fn dispatch<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let segs = segments(&site.api);
    let root = segs.first().copied().unwrap_or("");
    let last = segs.last().copied().unwrap_or("");
    match site.platform {
        Platform::Huggingface => match root {
            "huggingface_hub" => download(job, HubKind::Huggingface, None).await,
            "datasets" => datasets(job, HubKind::Huggingface, None).await,
            "diffusers" => diffusers(job).await,
            "sentence_transformers" => sentence_transformers(job).await,
            "vllm" => vllm(job).await,
            "peft" => peft(job).await,
            _ if last.contains("snapshot_download") || last.contains("hf_hub_download") => {
                download(job, HubKind::Huggingface, None).await
            }
            _ if last == "load_dataset" || last == "get_dataset_config_names" => {
                datasets(job, HubKind::Huggingface, None).await
            }
            _ if last == "pipeline" => transformers(job, HubKind::Huggingface, Kind::Pipeline).await,
            _ if last == "generate" => custom_generate(job).await,
            _ => transformers(job, HubKind::Huggingface, Kind::Class).await,
        },
        Platform::Modelscope => {
            if last.contains("snapshot_download") || last.contains("file_download") {
                download(job, HubKind::Modelscope, Some("master")).await
            } else if last == "pipeline" || segs.contains(&"Model") {
                modelscope_native(job).await
            } else if last == "load" && segs.contains(&"MsDataset") {
                Err("ModelScope MsDataset.load is not resolved (dataset scripts need datasets<4)".to_string())
            } else {
                transformers(job, HubKind::Modelscope, Kind::Class).await
            }
        }
        Platform::Opencsg => {
            if last.contains("snapshot_download") {
                download(job, HubKind::Opencsg, Some("main")).await
            } else if last == "load_dataset" {
                datasets(job, HubKind::Opencsg, Some("main")).await
            } else {
                transformers(job, HubKind::Opencsg, Kind::Class).await
            }
        }
        Platform::PytorchHub => github_hub(job, false).await,
        Platform::Paddlehub => {
            if is_paddle_module(site) {
                paddle_module(job).await
            } else {
                github_hub(job, true).await
            }
        }
        Platform::Openmmlab => Err(
            "OpenMMLab loads are not resolved (configs and checkpoints come from installed packages and metafile URLs)"
                .to_string(),
        ),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Class,
    Pipeline,
}

/// transformers rules for `Auto*`/model classes and `pipeline()`, on the hub
/// the wrapper library fetches from.
async fn transformers<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
    kind: Kind,
) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, hub)?;
    let class = match kind {
        Kind::Pipeline => None,
        Kind::Class => match class_of(site) {
            Some(c) => Some(c),
            None => return Err(format!("cannot tell which class {} loads", site.api)),
        },
    };
    let (revision, cross_hub, cross_default) = match o.hub {
        HubKind::Modelscope => {
            // modelscope `_ms_revision`: None and "main" mean "master".
            let rev = site
                .args
                .get("model_revision")
                .cloned()
                .or(o.revision.clone());
            let rev = match rev.as_deref() {
                None | Some("main") => "master".to_string(),
                Some(r) => r.to_string(),
            };
            (Some(rev), HubKind::Modelscope, Some("master".to_string()))
        }
        HubKind::Opencsg => {
            if let Some(r) = o.revision.as_deref().filter(|r| *r != "main") {
                job.note(format!(
                    "pycsghub always snapshots main: revision={r} is passed to transformers on a local path and ignored"
                ));
            }
            // transformers sees a local folder, so `other/repo--` code comes
            // from the Hugging Face Hub.
            (Some("main".to_string()), HubKind::Huggingface, None)
        }
        _ => (o.revision.clone(), o.hub, None),
    };
    let loads_weights = site.api.ends_with("from_pretrained") || kind == Kind::Pipeline;
    let model = match &class {
        Some(c) => is_model_class(c),
        None => true,
    };
    let spec = HfSpec {
        hub: o.hub,
        cross_hub,
        repo_id: o.repo_id,
        repo_type: RepoType::Model,
        revision,
        code_revision: site.args.get("code_revision").cloned(),
        cross_default,
        classes: class.into_iter().collect(),
        pipeline: (kind == Kind::Pipeline).then(|| site.args.get("task").cloned()),
        model_load: loads_weights && model,
        custom_generate: loads_weights && model && kind == Kind::Class,
        adapter_redirect: loads_weights
            && (kind == Kind::Pipeline
                || site
                    .args
                    .get("auto_class")
                    .cloned()
                    .or_else(|| class_of(site))
                    .is_some_and(|c| c.starts_with("AutoModel"))),
        extra_refs: Vec::new(),
        gate: prompting_gate(&site.gate, TRANSFORMERS_PROMPT),
        primary: true,
        use_fast: !matches!(
            site.args.get("use_fast").map(String::as_str),
            Some("False" | "false")
        ),
        config_dir: site.args.get("subfolder").cloned().unwrap_or_default(),
    };
    hf::resolve(job, spec).await?;
    Ok(Outcome::Done)
}

/// `model.generate(custom_generate="owner/repo", trust_remote_code=True)`.
async fn custom_generate<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, HubKind::Huggingface)?;
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let entry = "custom_generate/generate.py";
    if !snap.has(entry) {
        job.note(format!("{} has no {entry}", snap.repo_id));
        return Ok(Outcome::Done);
    }
    match prompting_gate(&site.gate, TRANSFORMERS_PROMPT) {
        Gate::Refuse => {
            job.set_refused();
            job.note(format!("{entry} is refused by this call; not fetched"));
            return Ok(Outcome::Done);
        }
        Gate::Prompt(m) => {
            job.set_refused();
            job.note(m);
        }
        Gate::Run => {}
    }
    hf::closure(
        job,
        &snap,
        entry,
        "generate(custom_generate=...)".into(),
        Style::Transformers,
    )
    .await?;
    Ok(Outcome::Done)
}

/// vLLM: config, tokenizer and processor `auto_map` code; trust defaults to False.
async fn vllm<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, HubKind::Huggingface)?;
    let gate = default_false_gate(&site.gate);
    let base = |repo: String, rev: Option<String>, classes: Vec<&str>, primary: bool| HfSpec {
        hub: o.hub,
        cross_hub: o.hub,
        repo_id: repo,
        repo_type: RepoType::Model,
        revision: rev,
        code_revision: site.args.get("code_revision").cloned(),
        cross_default: None,
        classes: classes.into_iter().map(str::to_string).collect(),
        pipeline: None,
        model_load: primary,
        custom_generate: false,
        adapter_redirect: false,
        extra_refs: Vec::new(),
        gate,
        primary,
        use_fast: true,
        config_dir: String::new(),
    };
    let tokenizer = site
        .args
        .get("tokenizer")
        .filter(|t| **t != o.repo_id && check_repo_id(t).is_ok())
        .cloned();
    let classes = if tokenizer.is_some() {
        vec!["AutoConfig", "AutoProcessor"]
    } else {
        vec!["AutoConfig", "AutoTokenizer", "AutoProcessor"]
    };
    hf::resolve(
        job,
        base(o.repo_id.clone(), o.revision.clone(), classes, true),
    )
    .await?;
    if let Some(t) = tokenizer {
        let rev = site.args.get("tokenizer_revision").cloned();
        hf::resolve(job, base(t, rev, vec!["AutoTokenizer"], false)).await?;
    }
    Ok(Outcome::Done)
}

/// peft `AutoPeftModel*.from_pretrained(adapter)`: the base model's code (at
/// `adapter_config.revision`), plus the adapter repo's tokenizer code.
async fn peft<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, HubKind::Huggingface)?;
    let class = class_of(site)
        .map(|c| c.replace("Peft", ""))
        .unwrap_or_else(|| "AutoModel".to_string());
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let Some(adapter) = job.read_config(&snap, "adapter_config.json").await? else {
        job.note(format!(
            "{}@{} has no adapter_config.json: peft fails to load it",
            snap.repo_id, snap.commit
        ));
        return Ok(Outcome::Done);
    };
    let Some(base) = adapter
        .get("base_model_name_or_path")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(format!(
            "adapter_config.json in {} has no base_model_name_or_path",
            snap.repo_id
        ));
    };
    if check_repo_id(&base).is_err() || base.starts_with('~') || base.split('/').count() > 2 {
        return Err(format!(
            "adapter_config.json in {} names base model {base:?}, which is a local path, not a hub id",
            snap.repo_id
        ));
    }
    let base_rev = adapter
        .get("revision")
        .and_then(Value::as_str)
        .map(str::to_string);
    job.note(format!(
        "peft adapter {}@{}: the model code comes from base model {base} at {}",
        snap.repo_id,
        snap.commit,
        base_rev.as_deref().unwrap_or("its default branch")
    ));
    let gate = prompting_gate(&site.gate, TRANSFORMERS_PROMPT);
    job.pickle_weights(&snap).await?;
    hf::resolve(
        job,
        HfSpec {
            hub: o.hub,
            cross_hub: o.hub,
            repo_id: base,
            repo_type: RepoType::Model,
            revision: base_rev,
            code_revision: site.args.get("code_revision").cloned(),
            cross_default: None,
            classes: vec![class],
            pipeline: None,
            model_load: true,
            custom_generate: true,
            adapter_redirect: false,
            extra_refs: Vec::new(),
            gate,
            primary: false,
            use_fast: true,
            config_dir: String::new(),
        },
    )
    .await?;
    if snap.has("tokenizer_config.json") {
        hf::resolve(
            job,
            HfSpec {
                hub: o.hub,
                cross_hub: o.hub,
                repo_id: snap.repo_id.clone(),
                repo_type: RepoType::Model,
                revision: o.revision.clone(),
                code_revision: None,
                cross_default: None,
                classes: vec!["AutoTokenizer".to_string()],
                pipeline: None,
                model_load: false,
                custom_generate: false,
                adapter_redirect: false,
                extra_refs: Vec::new(),
                gate,
                primary: false,
                use_fast: true,
                config_dir: String::new(),
            },
        )
        .await?;
    }
    Ok(Outcome::Done)
}

/// sentence-transformers: `modules.json` types outside `sentence_transformers.`
/// (via transformers' dynamic loader), then the transformers rules for each
/// Transformer module's folder.
async fn sentence_transformers<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, HubKind::Huggingface)?;
    let segs = segments(&site.api);
    let model_class = if segs.contains(&"CrossEncoder") {
        "AutoModelForSequenceClassification"
    } else if segs.contains(&"SparseEncoder") {
        "AutoModelForMaskedLM"
    } else {
        "AutoModel"
    };
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let modules = job.read_config(&snap, "modules.json").await?;
    let mut dirs: Vec<String> = Vec::new();
    let mut extra: Vec<(String, String)> = Vec::new();
    match modules.as_ref().and_then(Value::as_array) {
        Some(list) => {
            for m in list {
                let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
                let path = m.get("path").and_then(Value::as_str).unwrap_or("");
                if let Some(rest) = ty.strip_prefix("sentence_transformers.") {
                    if rest.ends_with("Transformer") || rest.contains("Transformer") {
                        let dir = path.trim_end_matches('/').to_string();
                        if !dirs.contains(&dir) {
                            dirs.push(dir);
                        }
                    }
                } else if !ty.is_empty() {
                    extra.push((ty.to_string(), format!("modules.json type {ty}")));
                }
            }
        }
        None => dirs.push(String::new()),
    }
    if dirs.is_empty() {
        dirs.push(String::new());
    }
    let gate = default_false_gate(&site.gate);
    for (i, dir) in dirs.into_iter().enumerate() {
        hf::resolve(
            job,
            HfSpec {
                hub: o.hub,
                cross_hub: o.hub,
                repo_id: snap.repo_id.clone(),
                repo_type: RepoType::Model,
                revision: o.revision.clone(),
                code_revision: site.args.get("code_revision").cloned(),
                cross_default: None,
                classes: vec![
                    "AutoConfig".to_string(),
                    model_class.to_string(),
                    "AutoTokenizer".to_string(),
                ],
                pipeline: None,
                model_load: i == 0,
                custom_generate: false,
                adapter_redirect: false,
                extra_refs: if i == 0 {
                    std::mem::take(&mut extra)
                } else {
                    Vec::new()
                },
                gate,
                primary: false,
                use_fast: true,
                config_dir: dir,
            },
        )
        .await?;
    }
    Ok(Outcome::Done)
}

/// huggingface_hub / ModelScope / pycsghub downloads: nothing runs; pickle
/// weights are listed because whoever loads them later unpickles them.
async fn download<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
    default_rev: Option<&str>,
) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, hub)?;
    let rev = o.revision.clone().or(default_rev.map(str::to_string));
    let repo_type = match site.repo_type {
        RepoType::Dataset | RepoType::Space => site.repo_type,
        _ => RepoType::Model,
    };
    let snap = job
        .primary(o.hub, repo_type, &o.repo_id, rev.as_deref())
        .await?;
    job.note("download only: this call executes nothing; pickle weights are listed because loading them later unpickles them");
    match site.args.get("filename") {
        Some(f) if site.api.contains("hf_hub_download") || site.api.contains("file_download") => {
            let f = match site.args.get("subfolder") {
                Some(sub) => format!("{}/{f}", sub.trim_end_matches('/')),
                None => f.clone(),
            };
            if is_pickle_weight(&f) && snap.has(&f) {
                job.acc_pickle();
                job.add_file(
                    &snap,
                    &f,
                    FileKind::Pickle,
                    "downloaded pickle weights".into(),
                )
                .await?;
            }
        }
        _ => job.pickle_weights(&snap).await?,
    }
    Ok(Outcome::DownloadOnly)
}

static RE_DS_IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a literal pattern that compiles.
    #[allow(clippy::unwrap_used)]
    Regex::new(r"^import\s+(\.?)([^\s\.]+)[^#\r\n]*(?:#\s+From:\s+)?([^\r\n]*)").unwrap()
});
static RE_DS_FROM: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a literal pattern that compiles.
    #[allow(clippy::unwrap_used)]
    Regex::new(r"^from\s+(\.?)([^\s\.]+)(?:[^\s]*)\s+import\s+[^#\r\n]*(?:#\s+From:\s+)?([^\r\n]*)")
        .unwrap()
});

/// A datasets `get_imports` entry: a sibling module, or code fetched from a URL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DsImport {
    Internal(String),
    External(String, String),
}

/// datasets `get_imports`: line by line, skipping lines inside a docstring
/// (toggled by a line with exactly one `"""`), only relative imports matter.
pub(crate) fn datasets_imports(text: &str) -> Vec<DsImport> {
    let mut out: Vec<DsImport> = Vec::new();
    let mut in_doc = false;
    for line in text.split_inclusive('\n') {
        if line.matches("\"\"\"").count() == 1 {
            in_doc = !in_doc;
        }
        if in_doc {
            continue;
        }
        let caps = RE_DS_IMPORT
            .captures(line)
            .or_else(|| RE_DS_FROM.captures(line));
        let Some(c) = caps else { continue };
        let dot = c.get(1).is_some_and(|m| !m.as_str().is_empty());
        if !dot {
            continue;
        }
        let name = c.get(2).map(|m| m.as_str().to_string()).unwrap_or_default();
        let url = c.get(3).map(|m| m.as_str().to_string()).unwrap_or_default();
        let known = out.iter().any(|i| match i {
            DsImport::Internal(n) | DsImport::External(n, _) => *n == name,
        });
        if known {
            continue;
        }
        if url.is_empty() {
            out.push(DsImport::Internal(name));
        } else {
            out.push(DsImport::External(name, url));
        }
    }
    out
}

/// datasets `_PACKAGED_DATASETS_MODULES`: `load_dataset("csv", ...)` runs
/// installed code, whatever the hub holds under that name.
const PACKAGED_BUILDERS: [&str; 18] = [
    "arrow",
    "audiofolder",
    "cache",
    "csv",
    "eval",
    "generator",
    "hdf5",
    "imagefolder",
    "json",
    "lance",
    "pandas",
    "parquet",
    "pdffolder",
    "spark",
    "sql",
    "text",
    "videofolder",
    "webdataset",
];

/// datasets `load_dataset`: the `{name}.py` script at the repo root and its
/// direct relative imports.
async fn datasets<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
    forced_rev: Option<&str>,
) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, hub)?;
    let rev = match forced_rev {
        Some(r) => {
            if let Some(given) = o.revision.as_deref().filter(|g| *g != r) {
                job.note(format!(
                    "revision={given} is ignored: this wrapper always reads {r}"
                ));
            }
            Some(r.to_string())
        }
        None => o.revision.clone(),
    };
    if !o.repo_id.contains('/') && PACKAGED_BUILDERS.contains(&o.repo_id.as_str()) {
        job.note(format!(
            "{} is a datasets packaged builder (installed code), not a hub repo",
            o.repo_id
        ));
        return Ok(Outcome::Done);
    }
    let snap = job
        .primary(o.hub, RepoType::Dataset, &o.repo_id, rev.as_deref())
        .await?;
    let name = o.repo_id.rsplit('/').next().unwrap_or(&o.repo_id);
    let script = format!("{name}.py");
    if !snap.has(&script) {
        return Ok(Outcome::Done);
    }
    let major = job.opts.datasets_major;
    let gate = if major >= 4 {
        job.set_refused();
        job.note(format!(
            "datasets>={major} rejects loading scripts: {script} is not run (the load fails)"
        ));
        return Ok(Outcome::Done);
    } else if major <= 2 {
        job.note("datasets<=2.x runs loading scripts without trust_remote_code");
        Gate::Run
    } else {
        prompting_gate(&site.gate, DATASETS_PROMPT)
    };
    match gate {
        Gate::Refuse => {
            job.set_refused();
            job.note(format!(
                "{}@{} has the loading script {script}, which this call refuses; not fetched",
                snap.repo_id, snap.commit
            ));
            return Ok(Outcome::Done);
        }
        Gate::Prompt(m) => {
            job.set_refused();
            job.note(m);
        }
        Gate::Run => {}
    }
    let Some(bytes) = job
        .add_file(
            &snap,
            &script,
            FileKind::Python,
            "datasets loading script".into(),
        )
        .await?
    else {
        return Ok(Outcome::Done);
    };
    for imp in datasets_imports(&String::from_utf8_lossy(&bytes)) {
        match imp {
            DsImport::Internal(m) => {
                let path = format!("{m}.py");
                if snap.has(&path) {
                    job.add_file(
                        &snap,
                        &path,
                        FileKind::Python,
                        format!("relative import in {script}"),
                    )
                    .await?;
                } else {
                    job.note(format!(
                        "{path} (imported by {script}) is not in the repo: the load fails there"
                    ));
                }
            }
            DsImport::External(m, url) => {
                job.mark_unverified(format!(
                    "{script} imports {m} from an external source ({url}); not fetched"
                ));
            }
        }
    }
    Ok(Outcome::Done)
}

/// diffusers `DiffusionPipeline.from_pretrained` (community and hub custom
/// pipelines, `model_index.json` custom classes and components),
/// `AutoModel.from_pretrained` and `ModularPipelineBlocks.from_pretrained`.
async fn diffusers<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, HubKind::Huggingface)?;
    let segs = segments(&site.api);
    let gate = default_false_gate(&site.gate);
    if segs.contains(&"AutoModel") || segs.contains(&"ModularPipelineBlocks") {
        let modular = segs.contains(&"ModularPipelineBlocks");
        let mut extra = Vec::new();
        if modular {
            let snap = job
                .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
                .await?;
            let cfg = job.read_config(&snap, "modular_config.json").await?;
            if let Some(Value::Object(m)) = cfg.as_ref().and_then(|c| c.get("auto_map")) {
                for (k, v) in m {
                    if let Some(r) = v.as_str() {
                        extra.push((r.to_string(), format!("auto_map {k} (modular_config.json)")));
                    }
                }
            }
        }
        hf::resolve(
            job,
            HfSpec {
                hub: o.hub,
                cross_hub: o.hub,
                repo_id: o.repo_id.clone(),
                repo_type: RepoType::Model,
                revision: o.revision.clone(),
                code_revision: None,
                cross_default: None,
                classes: if modular {
                    Vec::new()
                } else {
                    vec!["AutoModel".into()]
                },
                pipeline: None,
                model_load: !modular,
                custom_generate: false,
                adapter_redirect: false,
                extra_refs: extra,
                gate,
                primary: !modular,
                use_fast: true,
                config_dir: site.args.get("subfolder").cloned().unwrap_or_default(),
            },
        )
        .await?;
        return Ok(Outcome::Done);
    }

    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let index = job.read_config(&snap, "model_index.json").await?;
    let custom_revision = site.args.get("custom_revision").cloned();
    // (snapshot, file, why) that need trust_remote_code.
    let mut gated: Vec<(Arc<Snapshot>, String, String)> = Vec::new();
    // `_resolve_custom_pipeline_and_cls`: `{custom_pipeline}.py` in the repo,
    // else a `_class_name` list whose module file is in the repo (this wins
    // over a community or hub `custom_pipeline`), else `custom_pipeline` itself.
    let class_name_file = match index.as_ref().and_then(|i| i.get("_class_name")) {
        Some(Value::Array(cls)) => cls
            .first()
            .and_then(Value::as_str)
            .map(|m| format!("{m}.py"))
            .filter(|f| snap.has(f)),
        _ => None,
    };
    let cp = site.args.get("custom_pipeline").map(String::as_str);
    match cp {
        Some(cp) if cp.ends_with(".py") || cp.starts_with('.') || cp.starts_with('/') => {
            job.note(format!("custom_pipeline {cp:?} is a local file"));
        }
        Some(cp) if snap.has(&format!("{cp}.py")) => {
            gated.push((
                snap.clone(),
                format!("{cp}.py"),
                format!("custom_pipeline {cp}.py in the model repo"),
            ));
        }
        _ if class_name_file.is_some() => {
            if let Some(f) = class_name_file {
                if let Some(cp) = cp {
                    job.note(format!(
                        "model_index.json _class_name names {f} in the repo, which diffusers loads instead of custom_pipeline {cp}"
                    ));
                }
                gated.push((snap.clone(), f, "model_index.json _class_name".into()));
            }
        }
        Some(cp) if !cp.contains('/') => {
            // Community pipelines run with no trust_remote_code check.
            let folder = custom_revision
                .clone()
                .unwrap_or_else(|| job.opts.diffusers_community_ref.clone());
            let mirror = job
                .snapshot(
                    HubKind::Huggingface,
                    RepoType::Dataset,
                    "diffusers/community-pipelines-mirror",
                    Some("main"),
                )
                .await?;
            let file = format!("{folder}/{cp}.py");
            job.note(format!(
                "community pipeline {cp} runs with no trust_remote_code check (diffusers/community-pipelines-mirror {file})"
            ));
            if !mirror.has(&file) {
                return Err(format!(
                    "community pipeline {file} is not in diffusers/community-pipelines-mirror@{}",
                    mirror.commit
                ));
            }
            hf::closure(
                job,
                &mirror,
                &file,
                format!("community pipeline {cp}"),
                Style::Folder,
            )
            .await?;
        }
        Some(cp) => {
            let other = job
                .snapshot(
                    HubKind::Huggingface,
                    RepoType::Model,
                    cp,
                    custom_revision.as_deref(),
                )
                .await?;
            if custom_revision.is_none() {
                job.note(format!(
                    "custom pipeline repo {cp} is fetched at its default branch: custom_revision not given"
                ));
            }
            gated.push((other, "pipeline.py".into(), format!("custom_pipeline {cp}")));
        }
        None => {}
    }
    if let Some(Value::Object(map)) = &index {
        for (component, v) in map {
            if let Some(m) = v.as_array().and_then(|a| a.first()).and_then(Value::as_str) {
                let file = format!("{component}/{m}.py");
                if snap.has(&file) {
                    gated.push((
                        snap.clone(),
                        file,
                        format!("model_index.json custom component {component}"),
                    ));
                }
            }
        }
    }
    if !gated.is_empty() {
        if gate == Gate::Refuse {
            job.set_refused();
            let list: Vec<String> = gated
                .iter()
                .map(|(s, f, why)| format!("{}:{f} ({why})", s.repo_id))
                .collect();
            job.note(format!(
                "remote code refused by this call (trust_remote_code is false or not given): {}; not fetched",
                list.join(", ")
            ));
        } else {
            for (s, f, why) in gated {
                if !s.has(&f) {
                    job.note(format!(
                        "{f} ({why}) is not in {}@{}: the load fails there",
                        s.repo_id, s.commit
                    ));
                    continue;
                }
                hf::closure(job, &s, &f, why, Style::Folder).await?;
            }
        }
    }
    job.pickle_weights(&snap).await?;
    Ok(Outcome::Done)
}

/// ModelScope `pipeline(task, model=...)` / `Model.from_pretrained`: with
/// `configuration.json` `"allow_remote": true`, every `.py` in the repo is
/// imported and every `*requirement*` file is pip-installed.
async fn modelscope_native<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let o = origin(job, HubKind::Modelscope)?;
    let rev = site
        .args
        .get("model_revision")
        .cloned()
        .or(o.revision.clone())
        .unwrap_or_else(|| "master".to_string());
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, Some(&rev))
        .await?;
    let cfg = job.read_config(&snap, "configuration.json").await?;
    let allow_remote = cfg
        .as_ref()
        .and_then(|c| c.get("allow_remote"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(Value::Array(plugins)) = cfg.as_ref().and_then(|c| c.get("plugins")) {
        let names: Vec<String> = plugins
            .iter()
            .map(|p| {
                p.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| p.to_string())
            })
            .collect();
        job.note(format!(
            "configuration.json plugins are pip-installed and imported: {}",
            names.join(", ")
        ));
    }
    if allow_remote {
        let owner = o.repo_id.split('/').next().unwrap_or("").to_lowercase();
        let trusted = MODELSCOPE_TRUSTED_OWNERS.contains(&owner.as_str());
        let gate = if trusted {
            job.note(format!(
                "owner {owner} is auto-trusted by ModelScope: remote code runs even without trust_remote_code"
            ));
            Gate::Run
        } else {
            default_false_gate(&site.gate)
        };
        let mut files: Vec<(String, FileKind)> = snap
            .files
            .iter()
            .filter_map(|f| {
                let name = f.rsplit('/').next().unwrap_or(f);
                if name.to_lowercase().contains("requirement") {
                    Some((f.clone(), FileKind::Requirements))
                } else if f.ends_with(".py") && modelscope_imports(f) {
                    Some((f.clone(), FileKind::Python))
                } else {
                    None
                }
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        if gate == Gate::Refuse {
            job.set_refused();
            job.note(format!(
                "configuration.json allow_remote: true, refused by this call (trust_remote_code is false or not given): {} files not fetched",
                files.len()
            ));
        } else {
            for (f, kind) in files {
                let why = match kind {
                    FileKind::Requirements => "pip-installed (configuration.json allow_remote)",
                    _ => "imported (configuration.json allow_remote)",
                };
                job.add_file(&snap, &f, kind, why.to_string()).await?;
            }
        }
    }
    job.pickle_weights(&snap).await?;
    Ok(Outcome::Done)
}

/// `import_module_from_model_dir` skips names starting with `__` other than
/// `__init__.py` (folders like `__pycache__` too).
fn modelscope_imports(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts
        .iter()
        .enumerate()
        .all(|(i, p)| !p.starts_with("__") || (i + 1 == parts.len() && *p == "__init__.py"))
}

/// torch.hub `load/list/help` and paddle `hub.load/list/help`: `hubconf.py`
/// and the repo-local modules it imports, transitively.
async fn github_hub<S: RepoSource>(job: &mut Job<'_, S>, paddle: bool) -> Result<Outcome, Fail> {
    let site = job.site;
    let source = site
        .args
        .get("source")
        .map(String::as_str)
        .unwrap_or("github");
    match source {
        "local" => {
            job.note("source=\"local\": the code is local, nothing remote runs");
            return Ok(Outcome::Done);
        }
        "github" => {}
        other => return Err(format!("hub source {other:?} is not supported")),
    }
    let Some(raw) = site.repo_id.clone() else {
        return Err("model id could not be resolved statically".to_string());
    };
    let (repo, suffix) = match raw.split_once(':') {
        Some((r, s)) => (r.to_string(), Some(s.to_string())),
        None => (raw.clone(), None),
    };
    if repo.split('/').count() != 2 {
        return Err(format!("{raw:?} is not owner/name[:ref]"));
    }
    let mut rev = site.revision.clone().or(suffix);
    if paddle && rev.is_none() {
        // paddle.hub uses `main` for github with no detection.
        rev = Some("main".to_string());
    }
    let snap = job
        .primary(HubKind::Github, RepoType::Github, &repo, rev.as_deref())
        .await?;
    if !paddle {
        let owner = repo.split('/').next().unwrap_or("");
        let trusted = TORCH_TRUSTED_OWNERS.contains(&owner);
        match site.gate.as_str() {
            "false" | "False" => {
                job.set_refused();
                job.note(TORCH_PROMPT);
            }
            "check" if !trusted => {
                job.set_refused();
                job.note(TORCH_PROMPT);
            }
            "check" => job.note(format!("owner {owner} is trusted by torch.hub")),
            "absent" | "None" => job.note(
                "trust_repo not given: torch.hub (2.x) warns and runs hubconf.py; newer releases ask",
            ),
            _ => {}
        }
    }
    if !snap.has("hubconf.py") {
        job.note(format!(
            "{}@{} has no hubconf.py: the load fails",
            snap.repo_id, snap.commit
        ));
        return Ok(Outcome::Done);
    }
    python_closure(
        job,
        &snap,
        vec![("hubconf.py".into(), "hubconf.py (executed on load)".into())],
        "",
    )
    .await?;
    Ok(Outcome::Done)
}

/// Files and the repo-local modules they import, transitively (tree-sitter).
async fn python_closure<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    entries: Vec<(String, String)>,
    root: &str,
) -> Result<(), Fail> {
    let mut work: Vec<(String, usize, String)> =
        entries.into_iter().rev().map(|(p, w)| (p, 0, w)).collect();
    while let Some((path, depth, why)) = work.pop() {
        let Some(bytes) = job.add_file(snap, &path, FileKind::Python, why).await? else {
            continue;
        };
        let next = pyimports::local_imports(&bytes, &path, root, snap);
        if next.is_empty() {
            continue;
        }
        if depth >= job.opts.max_import_depth {
            return Err(format!(
                "cap exceeded: imports nested deeper than {} from {path}",
                job.opts.max_import_depth
            ));
        }
        for n in next {
            work.push((n, depth + 1, format!("imported by {path}")));
        }
    }
    Ok(())
}

/// PaddleHub `Module(name=..., version=...)`: the module archive's
/// `{name}/__init__.py` and `{name}/module.py`, what they import, and the
/// `requirements.txt` it pip-installs. There is no trust gate.
async fn paddle_module<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, Fail> {
    let site = job.site;
    let Some(name) = site.repo_id.clone() else {
        return Err("module name could not be resolved statically".to_string());
    };
    let version = site.args.get("version").cloned().or(site.revision.clone());
    let snap = job
        .primary(
            HubKind::Paddlehub,
            RepoType::Module,
            &name,
            version.as_deref(),
        )
        .await?;
    let mut entries = Vec::new();
    for dir in [name.as_str(), ""] {
        for f in ["__init__.py", "module.py"] {
            let p = if dir.is_empty() {
                f.to_string()
            } else {
                format!("{dir}/{f}")
            };
            if snap.has(&p) {
                entries.push((p, format!("PaddleHub module {f} (imported on load)")));
            }
        }
        if !entries.is_empty() {
            let req = if dir.is_empty() {
                "requirements.txt".to_string()
            } else {
                format!("{dir}/requirements.txt")
            };
            if snap.has(&req) {
                job.add_file(
                    &snap,
                    &req,
                    FileKind::Requirements,
                    "pip-installed by PaddleHub".into(),
                )
                .await?;
            }
            break;
        }
    }
    if entries.is_empty() {
        if snap.files.iter().any(|f| f.ends_with("module_desc.pb")) {
            return Err(
                "legacy PaddleHub ModuleV1 archive (module_desc.pb): not resolved".to_string(),
            );
        }
        return Err(format!(
            "PaddleHub module {name} has neither {name}/module.py nor module.py"
        ));
    }
    python_closure(job, &snap, entries, "").await?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_import_quirks() {
        let src = "import os\nfrom .utils import x\nfrom .a.b import c\nfrom . import y\n  from .indented import z\n\"\"\"\nfrom .indoc import w\n\"\"\"\nfrom .remote import r  # From: https://example.invalid/r.py\n";
        assert_eq!(
            datasets_imports(src),
            vec![
                DsImport::Internal("utils".into()),
                DsImport::Internal("a".into()),
                DsImport::External("remote".into(), "https://example.invalid/r.py".into()),
            ]
        );
    }

    #[test]
    fn modelscope_skips_dunder() {
        assert!(modelscope_imports("pkg/__init__.py"));
        assert!(modelscope_imports("model.py"));
        assert!(!modelscope_imports("__pycache__/x.py"));
        assert!(!modelscope_imports("__main__.py"));
    }
}
