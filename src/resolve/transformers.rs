//! transformers rules (`dynamic_module_utils.py`, the Auto classes, `pipeline()`,
//! `generate(custom_generate=...)`): which config file each Auto class reads,
//! the `auto_map` value forms, the cross-repo `repo--mod.Class` form,
//! `adapter_config.json` redirection and `custom_generate/generate.py`. Also the
//! rules behind the ModelScope and OpenCSG wrappers of the Auto classes, and
//! the building block of the peft, vLLM, sentence-transformers and diffusers rules.

use std::sync::Arc;

use serde_json::Value;

use super::closure::{Style, closure_of};
use super::gate::{self, Gate};
use super::{Job, Outcome, ResolveError};
use crate::hub::{RepoSource, Snapshot, is_commit, validate_repo_id};
use crate::model::{HubKind, LoadSite, RepoType};

/// One transformers-style resolution on one repository.
pub(crate) struct HfSpec {
    /// The hub the repo lives on.
    pub hub: HubKind,
    /// Where `other/repo--mod.Class` references are fetched from.
    pub cross_hub: HubKind,
    pub repo_id: String,
    pub repo_type: RepoType,
    pub revision: Option<String>,
    /// `code_revision`: same-repo code follows it when given, cross-repo code
    /// is fetched at it (None = the default branch).
    pub code_revision: Option<String>,
    /// The default ref of `cross_hub` when `code_revision` is None.
    pub cross_default: Option<String>,
    /// Auto classes (or concrete classes) whose files are read.
    pub classes: Vec<String>,
    /// `Some(task)` for `pipeline(task, model=...)`.
    pub pipeline: Option<Option<String>>,
    /// The call loads weights (pickles are listed).
    pub model_load: bool,
    /// `from_pretrained` of a model: `custom_generate/generate.py` is loaded.
    pub custom_generate: bool,
    /// transformers follows `adapter_config.json` to the base model.
    pub adapter_redirect: bool,
    /// Extra class references found elsewhere (sentence-transformers `modules.json`).
    pub extra_refs: Vec<(String, String)>,
    pub gate: Gate,
    /// This repo is the call's target (its commit is the target's commit).
    pub primary: bool,
    /// Prefer the fast tokenizer / processor (`use_fast`, default True).
    pub use_fast: bool,
    /// Subfolder of the config files (sentence-transformers modules); code
    /// module paths stay relative to the repo root.
    pub config_dir: String,
}

/// A parsed `auto_map` class reference.
pub(crate) struct ClassRef {
    pub repo: Option<String>,
    pub module_file: String,
}

/// `get_class_from_dynamic_module`: `repo--mod.Class` splits on `--` into
/// exactly two parts, then `mod.Class` on `.` into exactly two.
pub(crate) fn parse_ref(r: &str) -> Result<ClassRef, String> {
    let (repo, class_ref) = if r.contains("--") {
        let parts: Vec<&str> = r.split("--").collect();
        if parts.len() != 2 {
            return Err(format!("{r:?} has more than one \"--\""));
        }
        (Some(parts[0].to_string()), parts[1])
    } else {
        (None, r)
    };
    let parts: Vec<&str> = class_ref.split('.').collect();
    if parts.len() != 2 {
        return Err(format!("{class_ref:?} is not exactly \"module.Class\""));
    }
    Ok(ClassRef {
        repo,
        module_file: format!("{}.py", parts[0]),
    })
}

/// The ref an `auto_map` value selects: a string; a `[slow, fast]` pair (fast
/// when set and wanted); a `{backend: ref}` dict (torchvision first).
fn pick(v: &Value, prefer_second: bool) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => {
            let second = a.get(1).and_then(Value::as_str);
            let first = a.first().and_then(Value::as_str);
            match (prefer_second, second, first) {
                (true, Some(s), _) => vec![s.to_string()],
                (_, _, Some(f)) => vec![f.to_string()],
                (false, Some(s), None) => vec![s.to_string()],
                _ => Vec::new(),
            }
        }
        Value::Object(m) => {
            for key in ["torchvision", "fast"] {
                if let Some(s) = m.get(key).and_then(Value::as_str) {
                    return vec![s.to_string()];
                }
            }
            // An unknown backend layout: every backend's module could run.
            m.values()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        }
        _ => Vec::new(),
    }
}

fn auto_map_entry(cfg: &Option<Value>, key: &str) -> Option<Value> {
    cfg.as_ref()?.get("auto_map")?.get(key).cloned()
}

fn has_key(cfg: &Option<Value>, key: &str) -> bool {
    cfg.as_ref()
        .and_then(|c| c.get(key))
        .is_some_and(|v| !v.is_null())
}

fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        file.to_string()
    } else {
        format!("{}/{file}", dir.trim_end_matches('/'))
    }
}

/// A local path, not a hub id (as `base_model_name_or_path` often is).
fn looks_local(id: &str) -> bool {
    id.starts_with('/')
        || id.starts_with('.')
        || id.starts_with('~')
        || id.contains('\\')
        || id.ends_with('/')
        || id.split('/').count() > 2
}

/// Run the transformers rules for one repository.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    spec: HfSpec,
) -> Result<(), ResolveError> {
    let snap = if spec.primary {
        job.primary(
            spec.hub,
            spec.repo_type,
            &spec.repo_id,
            spec.revision.as_deref(),
        )
        .await?
    } else {
        job.snapshot(
            spec.hub,
            spec.repo_type,
            &spec.repo_id,
            spec.revision.as_deref(),
        )
        .await?
    };
    let mut code_snap = snap.clone();
    let mut revision = spec.revision.clone();
    if spec.adapter_redirect && job.opts.peft_installed && snap.has("adapter_config.json") {
        let adapter = job.read_config(&snap, "adapter_config.json").await?;
        let base = adapter
            .as_ref()
            .and_then(|a| a.get("base_model_name_or_path"))
            .and_then(Value::as_str)
            .map(str::to_string);
        match base {
            Some(base) if looks_local(&base) || validate_repo_id(spec.hub, &base).is_err() => {
                return Err(ResolveError::Content(format!(
                    "adapter_config.json in {} names base model {base:?}, which is a local path, not a hub id",
                    snap.repo_id
                )));
            }
            Some(base) => {
                let base_rev = adapter
                    .as_ref()
                    .and_then(|a| a.get("revision"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                job.note(format!(
                    "adapter_config.json in {}@{} redirects to base model {base} at {}; the code comes from the base model",
                    snap.repo_id,
                    snap.commit,
                    base_rev.as_deref().unwrap_or("its default branch")
                ));
                job.pickle_weights(&snap).await?;
                code_snap = job
                    .snapshot(spec.hub, RepoType::Model, &base, base_rev.as_deref())
                    .await?;
                revision = base_rev;
            }
            None => job.note(format!(
                "adapter_config.json in {} has no base_model_name_or_path",
                snap.repo_id
            )),
        }
    }

    let refs = collect_refs(job, &code_snap, &spec).await?;
    let mut entries: Vec<Entry> = refs
        .into_iter()
        .map(|(r, why)| Entry::Ref(r, why))
        .collect();
    if spec.custom_generate && code_snap.has("custom_generate/generate.py") {
        entries.push(Entry::File(
            "custom_generate/generate.py".to_string(),
            "custom_generate/generate.py (loaded by from_pretrained)".to_string(),
        ));
    }
    if !entries.is_empty() {
        let gate = spec.gate;
        match gate {
            Gate::Refuse => {
                job.set_refused();
                job.note(format!(
                    "{}@{} carries remote code that this call refuses (trust_remote_code is false or not given): {}; not fetched",
                    code_snap.repo_id,
                    code_snap.commit,
                    describe(&entries)
                ));
            }
            Gate::Prompt(msg) => {
                job.set_refused();
                job.note(msg);
            }
            Gate::Run => {}
        }
        if gate != Gate::Refuse {
            for e in entries {
                fetch_entry(job, &code_snap, &spec, revision.as_deref(), e).await?;
            }
        }
    }
    if spec.model_load {
        job.pickle_weights(&code_snap).await?;
    }
    Ok(())
}

enum Entry {
    Ref(String, String),
    File(String, String),
}

fn describe(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| match e {
            Entry::Ref(r, why) => format!("{r} ({why})"),
            Entry::File(p, why) => format!("{p} ({why})"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn fetch_entry<S: RepoSource>(
    job: &mut Job<'_, S>,
    code_snap: &Arc<Snapshot>,
    spec: &HfSpec,
    revision: Option<&str>,
    entry: Entry,
) -> Result<(), ResolveError> {
    let (r, why) = match entry {
        Entry::File(path, why) => {
            return closure_of(job, code_snap, &path, why, Style::Transformers).await;
        }
        Entry::Ref(r, why) => (r, why),
    };
    let parsed = match parse_ref(&r) {
        Ok(p) => p,
        Err(e) => {
            job.note(format!(
                "malformed class reference ({why}): {e}; the load fails there"
            ));
            return Ok(());
        }
    };
    let cross = parsed
        .repo
        .as_deref()
        .filter(|other| *other != code_snap.repo_id.as_str());
    let snap = match cross {
        Some(other) => {
            let rev = spec.code_revision.clone().or(spec.cross_default.clone());
            if spec.code_revision.is_none() {
                job.set_cross_unpinned();
                let pinned = revision.is_some_and(is_commit);
                job.note(format!(
                    "cross-repo code from {other} ({r}) is fetched at the default branch{}: code_revision not given",
                    if pinned {
                        format!(" even though revision={} is pinned", revision.unwrap_or(""))
                    } else {
                        String::new()
                    }
                ));
            }
            job.snapshot(spec.cross_hub, RepoType::Model, other, rev.as_deref())
                .await?
        }
        None => match &spec.code_revision {
            Some(cr) if Some(cr.as_str()) != revision => {
                job.snapshot(
                    code_snap.hub,
                    code_snap.repo_type,
                    &code_snap.repo_id,
                    Some(cr),
                )
                .await?
            }
            _ => code_snap.clone(),
        },
    };
    closure_of(job, &snap, &parsed.module_file, why, Style::Transformers).await
}

/// The class references the call's Auto classes would load, in load order.
async fn collect_refs<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    spec: &HfSpec,
) -> Result<Vec<(String, String)>, ResolveError> {
    let dir = spec.config_dir.as_str();
    let config = job.read_config(snap, &join(dir, "config.json")).await?;
    let mut refs: Vec<(String, String)> = Vec::new();
    let push = |refs: &mut Vec<(String, String)>, v: Option<Value>, prefer: bool, why: &str| {
        if let Some(v) = v {
            for r in pick(&v, prefer) {
                if !refs.iter().any(|(x, _)| *x == r) {
                    refs.push((r, why.to_string()));
                }
            }
        }
    };
    let any_auto = spec.pipeline.is_some() || spec.classes.iter().any(|c| c.starts_with("Auto"));
    if any_auto {
        push(
            &mut refs,
            auto_map_entry(&config, "AutoConfig"),
            false,
            "auto_map AutoConfig (config.json)",
        );
    }
    let mut classes = spec.classes.clone();
    if spec.pipeline.is_some() {
        // pipeline() loads the model with the task's Auto class, plus the
        // tokenizer and processors.
        if let Some(Value::Object(m)) = config.as_ref().and_then(|c| c.get("auto_map")) {
            for k in m.keys() {
                if k.starts_with("AutoModel") && !classes.contains(k) {
                    classes.push(k.clone());
                }
            }
        }
        for c in [
            "AutoTokenizer",
            "AutoImageProcessor",
            "AutoFeatureExtractor",
        ] {
            classes.push(c.to_string());
        }
    }
    for class in &classes {
        match class.as_str() {
            "AutoConfig" => {}
            c if c.starts_with("AutoModel") || c == "AutoBackbone" => {
                push(
                    &mut refs,
                    auto_map_entry(&config, c),
                    false,
                    &format!("auto_map {c} (config.json)"),
                );
            }
            "AutoTokenizer" => {
                let tok = job
                    .read_config(snap, &join(dir, "tokenizer_config.json"))
                    .await?;
                let auto = tok.as_ref().and_then(|t| t.get("auto_map")).cloned();
                let entry = match auto {
                    Some(Value::Array(a)) => Some(Value::Array(a)),
                    Some(other) => other.get("AutoTokenizer").cloned(),
                    None => None,
                };
                let entry = if entry.is_none()
                    && job.opts.transformers_major < 5
                    && !has_key(&tok, "tokenizer_class")
                {
                    auto_map_entry(&config, "AutoTokenizer")
                } else {
                    entry
                };
                push(
                    &mut refs,
                    entry,
                    spec.use_fast,
                    "auto_map AutoTokenizer (tokenizer_config.json)",
                );
            }
            "AutoImageProcessor" => {
                let pre = job
                    .read_config(snap, &join(dir, "preprocessor_config.json"))
                    .await?;
                let mut v = auto_map_entry(&pre, "AutoImageProcessor");
                if v.is_none()
                    && !has_key(&pre, "image_processor_type")
                    && let Some(Value::String(fe)) = auto_map_entry(&pre, "AutoFeatureExtractor")
                {
                    v = Some(Value::String(
                        fe.replace("FeatureExtractor", "ImageProcessor"),
                    ));
                }
                if v.is_none() && !has_key(&pre, "image_processor_type") {
                    v = auto_map_entry(&config, "AutoImageProcessor");
                }
                push(&mut refs, v, spec.use_fast, "auto_map AutoImageProcessor");
            }
            "AutoFeatureExtractor" => {
                let pre = job
                    .read_config(snap, &join(dir, "preprocessor_config.json"))
                    .await?;
                let mut v = auto_map_entry(&pre, "AutoFeatureExtractor");
                if v.is_none() && !has_key(&pre, "feature_extractor_type") {
                    v = auto_map_entry(&config, "AutoFeatureExtractor");
                }
                push(&mut refs, v, false, "auto_map AutoFeatureExtractor");
            }
            "AutoVideoProcessor" => {
                let vp = job
                    .read_config(snap, &join(dir, "video_preprocessor_config.json"))
                    .await?;
                let mut v = auto_map_entry(&vp, "AutoVideoProcessor");
                if v.is_none()
                    && let Some(Value::String(ip)) = auto_map_entry(&vp, "AutoImageProcessor")
                {
                    v = Some(Value::String(
                        ip.replace("ImageProcessor", "VideoProcessor"),
                    ));
                }
                if v.is_none() && !has_key(&vp, "video_processor_type") {
                    v = auto_map_entry(&config, "AutoVideoProcessor");
                }
                push(&mut refs, v, spec.use_fast, "auto_map AutoVideoProcessor");
            }
            "AutoProcessor" => {
                // processor_config, preprocessor_config, video_preprocessor_config,
                // tokenizer_config, config: a later file's auto_map overrides, and
                // the walk stops at the first file that names `processor_class`.
                let mut found: Option<(Value, String)> = None;
                for file in [
                    "processor_config.json",
                    "preprocessor_config.json",
                    "video_preprocessor_config.json",
                    "tokenizer_config.json",
                    "config.json",
                ] {
                    let cfg = if file == "config.json" {
                        config.clone()
                    } else {
                        job.read_config(snap, &join(dir, file)).await?
                    };
                    if let Some(v) = auto_map_entry(&cfg, "AutoProcessor") {
                        found = Some((v, format!("auto_map AutoProcessor ({file})")));
                    }
                    if has_key(&cfg, "processor_class") {
                        break;
                    }
                }
                if let Some((v, why)) = found {
                    push(&mut refs, Some(v), false, &why);
                }
                // A processor loads its tokenizer and image processor through
                // their Auto classes too (and falls back to them without one).
                let tok_cfg = job
                    .read_config(snap, &join(dir, "tokenizer_config.json"))
                    .await?;
                let tok = match tok_cfg.as_ref().and_then(|t| t.get("auto_map")).cloned() {
                    Some(Value::Array(a)) => Some(Value::Array(a)),
                    Some(other) => other.get("AutoTokenizer").cloned(),
                    None => None,
                };
                push(
                    &mut refs,
                    tok,
                    spec.use_fast,
                    "auto_map AutoTokenizer (tokenizer_config.json, via AutoProcessor)",
                );
                let pre = job
                    .read_config(snap, &join(dir, "preprocessor_config.json"))
                    .await?;
                push(
                    &mut refs,
                    auto_map_entry(&pre, "AutoImageProcessor"),
                    spec.use_fast,
                    "auto_map AutoImageProcessor (preprocessor_config.json, via AutoProcessor)",
                );
            }
            _ => {}
        }
    }
    if let Some(task) = &spec.pipeline {
        let custom = config
            .as_ref()
            .and_then(|c| c.get("custom_pipelines"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let task = match task {
            Some(t) => Some(t.clone()),
            None if !custom.is_empty() && spec.gate != Gate::Refuse => {
                if custom.len() == 1 {
                    custom.keys().next().cloned()
                } else {
                    job.note(
                        "config.json declares several custom pipelines and no task is given: pipeline() cannot infer the task",
                    );
                    None
                }
            }
            None => None,
        };
        if let Some(task) = task
            && let Some(imp) = custom
                .get(&task)
                .and_then(|t| t.get("impl"))
                .and_then(Value::as_str)
        {
            refs.push((imp.to_string(), format!("custom_pipelines[{task}].impl")));
        }
    }
    for (r, why) in &spec.extra_refs {
        if !refs.iter().any(|(x, _)| x == r) {
            refs.push((r.clone(), why.clone()));
        }
    }
    Ok(refs)
}

pub(crate) fn segments(api: &str) -> Vec<&str> {
    api.split('.').collect()
}

/// The Auto (or concrete) class a `X.from_pretrained` / `X.from_config` call uses.
pub(crate) fn class_of(site: &LoadSite) -> Option<String> {
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Class,
    Pipeline,
}

/// transformers rules for `Auto*`/model classes and `pipeline()`, on the hub
/// the wrapper library fetches from.
pub(crate) async fn class<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    transformers(job, hub, Kind::Class).await
}

/// `transformers.pipeline(task, model=...)`.
pub(crate) async fn pipeline<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    transformers(job, hub, Kind::Pipeline).await
}

async fn transformers<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
    kind: Kind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    let class = match kind {
        Kind::Pipeline => None,
        Kind::Class => match class_of(site) {
            Some(c) => Some(c),
            None => {
                return Err(ResolveError::Unsupported(format!(
                    "cannot tell which class {} loads",
                    site.api
                )));
            }
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
        gate: gate::prompting(&site.gate, gate::TRANSFORMERS_PROMPT),
        primary: true,
        use_fast: !matches!(
            site.args.get("use_fast").map(String::as_str),
            Some("False" | "false")
        ),
        config_dir: site.args.get("subfolder").cloned().unwrap_or_default(),
    };
    resolve(job, spec).await?;
    Ok(Outcome::Done)
}

/// `model.generate(custom_generate="owner/repo", trust_remote_code=True)`.
pub(crate) async fn custom_generate<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let entry = "custom_generate/generate.py";
    if !snap.has(entry) {
        job.note(format!("{} has no {entry}", snap.repo_id));
        return Ok(Outcome::Done);
    }
    match gate::prompting(&site.gate, gate::TRANSFORMERS_PROMPT) {
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
    closure_of(
        job,
        &snap,
        entry,
        "generate(custom_generate=...)".into(),
        Style::Transformers,
    )
    .await?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_refs() {
        let r = parse_ref("other/repo--sub/mod.Cls").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.repo.as_deref(), Some("other/repo"));
        assert_eq!(r.module_file, "sub/mod.py");
        assert!(parse_ref("a.b.C").is_err());
        assert!(parse_ref("x--y--m.C").is_err());
    }
}
