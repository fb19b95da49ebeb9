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
    /// `use_fast=` as given (None: not given).
    pub use_fast: Option<bool>,
    /// `backend=` of an image or video processor, as given.
    pub backend: Option<String>,
    /// Subfolder of the config files (sentence-transformers modules); code
    /// module paths stay relative to the repo root.
    pub config_dir: String,
    /// Folder the repo's own code modules are relative to: "" (transformers
    /// reads them from the repo root whatever `subfolder` says), or the
    /// subfolder when a wrapper hands transformers the local `snapshot/subfolder`
    /// (ModelScope's `get_model_dir`, `utils/hf_util/patcher.py:309-331`, 1.40.2).
    pub code_dir: String,
}

impl HfSpec {
    /// A load that a config chain link leads to (or the config's own repo, as
    /// `follow_escalations` reads hubs from it): read from `hubs` (hub, cross
    /// hub, cross default ref), its code run because the library forwards the
    /// trust, never the call's target.
    pub(crate) fn chained(
        hubs: (HubKind, HubKind, Option<String>),
        repo_id: String,
        revision: Option<String>,
        classes: Vec<String>,
        extra_refs: Vec<(String, String)>,
    ) -> HfSpec {
        HfSpec {
            hub: hubs.0,
            cross_hub: hubs.1,
            repo_id,
            repo_type: RepoType::Model,
            revision,
            code_revision: None,
            cross_default: hubs.2,
            classes,
            pipeline: None,
            model_load: false,
            custom_generate: false,
            adapter_redirect: false,
            extra_refs,
            gate: Gate::Run,
            primary: false,
            use_fast: None,
            backend: None,
            config_dir: String::new(),
            code_dir: String::new(),
        }
    }
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

/// Which entries of an `auto_map` value may be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListPick {
    /// `[slow, fast]`: the second when set, else the first.
    Second,
    /// The first.
    First,
    /// Either may be the one: both.
    Both,
}

/// The refs an `auto_map` value selects: a string; a list by `list`; a
/// `{backend: ref}` dict by the backends that may be used (a missing backend
/// falls back to another entry, `image_processing_auto.py:491-492`, 5.25.0:
/// every entry then).
fn pick(v: &Value, list: ListPick, backends: &[&str]) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => {
            let first = a.first().and_then(Value::as_str);
            let second = a.get(1).and_then(Value::as_str);
            let mut out = Vec::new();
            if matches!(list, ListPick::Second | ListPick::Both) {
                out.extend(second.or(first));
            }
            if matches!(list, ListPick::First | ListPick::Both) {
                out.extend(first.or(second));
            }
            out.dedup();
            out.into_iter().map(str::to_string).collect()
        }
        Value::Object(m) => {
            let mut out: Vec<String> = Vec::new();
            for b in backends {
                match m.get(*b).and_then(Value::as_str) {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        out.extend(m.values().filter_map(Value::as_str).map(str::to_string));
                    }
                }
            }
            if backends.is_empty() {
                out.extend(m.values().filter_map(Value::as_str).map(str::to_string));
            }
            out.sort();
            out.dedup();
            out
        }
        _ => Vec::new(),
    }
}

/// Which transformers majors may be installed for the call (its declared
/// range; not declared: both).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Majors {
    pub v4: bool,
    pub v5: bool,
}

pub(crate) fn majors<S: RepoSource>(job: &Job<'_, S>) -> Majors {
    let k = job
        .opts
        .declared
        .versions(&job.site.path)
        .known("transformers");
    let m = Majors {
        v4: k.may_be("<5"),
        v5: k.may_be(">=5"),
    };
    if !m.v4 && !m.v5 {
        // Declared as not installed: the call cannot run, read it as the newest.
        return Majors {
            v4: false,
            v5: true,
        };
    }
    m
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
    // The adapter's reference to its base: the base's config is one hop on.
    let mut redirect_hop = None;
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
                // transformers re-resolves the base at the CALLER's revision, not
                // at adapter_config.json's `revision` (`_BaseAutoModelClass.from_pretrained`,
                // `models/auto/auto_factory.py:351-391`; `pipeline()`,
                // `pipelines/__init__.py:1000-1028`, 5.25.0; 4.57.1 `auto_factory.py:520-535`).
                let base_rev = spec.revision.clone();
                let cfg_rev = adapter
                    .as_ref()
                    .and_then(|a| a.get("revision"))
                    .and_then(Value::as_str);
                job.note(format!(
                    "adapter_config.json in {}@{} redirects to base model {base} at {}{}; the code comes from the base model",
                    snap.repo_id,
                    snap.commit,
                    base_rev.as_deref().unwrap_or("its default branch"),
                    match cfg_rev {
                        Some(r) if Some(r) != base_rev.as_deref() => format!(
                            " (the call's revision: transformers ignores adapter_config.json revision={r})"
                        ),
                        _ => String::new(),
                    }
                ));
                job.pickle_weights(&snap).await?;
                code_snap = job
                    .snapshot(spec.hub, RepoType::Model, &base, base_rev.as_deref())
                    .await?;
                revision = base_rev;
                redirect_hop = Some(
                    job.hop_text(&snap, "adapter_config.json", "base_model_name_or_path")
                        .await,
                );
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
    match redirect_hop {
        Some(hop) => {
            if job.enter_hop(hop, spec.model_load) {
                let r = follow_config_chain(job, &code_snap, &spec).await;
                job.leave_hop();
                r?;
            }
        }
        None => follow_config_chain(job, &code_snap, &spec).await?,
    }
    Ok(())
}

/// A repo reference the library follows without running that repo's code
/// under a forwarded trust (SpanMarker's encoder config, then a model built
/// from it): the referenced repo's config is still checked for escalations,
/// one hop further down the chain. `hop` is the referring field
/// ([`Job::hop_text`]); `spec` names the referenced repo.
pub(crate) async fn follow_reference<S: RepoSource>(
    job: &mut Job<'_, S>,
    spec: &HfSpec,
    hop: String,
    builds_model: bool,
) -> Result<(), ResolveError> {
    if looks_local(&spec.repo_id) {
        job.note(format!(
            "{hop} names {:?}, a local path on the loading machine: not followed",
            spec.repo_id
        ));
        return Ok(());
    }
    if !job.enter_hop(hop.clone(), builds_model) {
        return Ok(());
    }
    let snap = job
        .snapshot(
            spec.hub,
            spec.repo_type,
            &spec.repo_id,
            spec.revision.as_deref(),
        )
        .await;
    let r = match snap {
        Ok(snap) => follow_config_chain(job, &snap, spec).await,
        Err(e) => {
            job.mark_unverified(format!("{} ({hop}): {e}", spec.repo_id));
            Ok(())
        }
    };
    job.leave_hop();
    r
}

/// Config-driven escalation (`escalation.rs`): fields of the repo's
/// `config.json` that make transformers load remote code the call did not ask
/// for. Each is recorded as a chain link (reported at the call with the config
/// line) and the code it leads to is resolved into this target.
async fn follow_config_chain<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Arc<Snapshot>,
    spec: &HfSpec,
) -> Result<(), ResolveError> {
    use super::escalation::{self, CallFacts};
    let path = join(&spec.config_dir, "config.json");
    if !snap.has(&path) {
        return Ok(());
    }
    if spec.pipeline.is_none() && spec.classes.is_empty() {
        // A chained `auto_map` entry: its module is imported, no config read.
        return Ok(());
    }
    if spec.pipeline.is_none() && !spec.classes.iter().any(|c| reads_model_config(c)) {
        job.note(format!(
            "{} reads no config.json: its fields load nothing",
            spec.classes.join(", ")
        ));
        return Ok(());
    }
    // A model built from a chained config (LightGlue's detector, SpanMarker's
    // encoder) loads the kernels its attention fields name, with no weights.
    let builds_model = spec.model_load || (!spec.primary && job.chain_builds_model());
    // Every load's config once per target: a chain that comes back (A -> B
    // -> A) or a repo named twice ends here.
    if !job.first_config_check(snap, &path, builds_model) {
        return Ok(());
    }
    let bytes = job.read(snap, &path).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // A malformed config.json is already an error of `collect_refs`.
    let Ok(config) = serde_json::from_str::<Value>(&text) else {
        return Ok(());
    };
    let site = job.site;
    let facts = CallFacts {
        // A load reached through a chain has the trust that was forwarded to it.
        trusts: if spec.primary {
            site.gate == "true"
        } else {
            spec.gate == Gate::Run
        },
        trainable: false,
        allow_all_kernels: site
            .args
            .get("allow_all_kernels")
            .is_some_and(|v| matches!(v.as_str(), "True" | "true" | "1")),
    };
    let escalations = {
        let versions = job.opts.declared.versions(&site.path);
        escalation::in_model_config(&path, &text, &config, &versions, facts)
    };
    follow_escalations(job, snap, &path, escalations, builds_model, spec).await
}

/// Record each escalation that the declared versions allow as a chain link
/// (with its version assumptions) and resolve the code it leads to into this
/// target; the others become notes. `model_load`: the model is built (a
/// kernel named in the attention fields is loaded then). `spec` gives the hubs
/// that cross-repo references are read from.
pub(crate) async fn follow_escalations<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Arc<Snapshot>,
    path: &str,
    escalations: Vec<super::escalation::Escalation>,
    model_load: bool,
    spec: &HfSpec,
) -> Result<(), ResolveError> {
    use super::escalation::ChainTarget;
    for e in escalations {
        let is_kernel = matches!(e.target, ChainTarget::Kernel { .. });
        // A kernel in the attention fields is loaded when the model is built.
        if is_kernel && !model_load {
            continue;
        }
        if !e.decision.happens() {
            job.note(format!(
                "{}:{} {} = {}: not loaded with the declared versions ({})",
                path,
                e.line,
                e.field,
                e.value,
                e.decision
                    .assumed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            continue;
        }
        job.assume(e.decision.assumed.clone());
        let leads_to = match &e.target {
            ChainTarget::Kernel { repo, revision, .. } => format!(
                "Hub kernel {repo}{}",
                revision
                    .as_deref()
                    .map(|r| format!("@{r}"))
                    .unwrap_or_default()
            ),
            ChainTarget::RemoteCode { repo, auto, .. } if repo.is_empty() => {
                format!("{auto} code of the repos this config loads")
            }
            ChainTarget::RemoteCode { repo, auto, .. } => format!("{auto} code of {repo}"),
            ChainTarget::Component {
                repo,
                subfolder,
                class,
                ..
            } => format!(
                "{class} code of {repo}{}",
                if subfolder.is_empty() {
                    String::new()
                } else {
                    format!(" (subfolder {subfolder})")
                }
            ),
            ChainTarget::AutoMapEntry {
                repo: Some(r),
                reference,
                ..
            } => format!("auto_map {reference} of {r}"),
            ChainTarget::AutoMapEntry { reference, .. } => format!("auto_map {reference}"),
        };
        job.chain(crate::model::ChainLink {
            rule: e.rule.to_string(),
            hub: snap.hub,
            repo_id: snap.repo_id.clone(),
            commit: snap.commit.clone(),
            file: path.to_string(),
            line: e.line,
            field: e.field.clone(),
            value: e.value.clone(),
            why: e.why.clone(),
            leads_to,
            applies: match e.decision.applies {
                crate::deps::rules::Applies::Always => "always",
                _ => "possibly",
            }
            .to_string(),
            // Filled from the hops followed so far by `Job::chain`.
            via: Vec::new(),
        });
        let via = format!("via {}:{} {}", path, e.line, e.field);
        let sub = |repo: String, revision: Option<String>, classes: Vec<String>, extra_refs| {
            HfSpec::chained(
                (spec.hub, spec.cross_hub, spec.cross_default.clone()),
                repo,
                revision,
                classes,
                extra_refs,
            )
        };
        match e.target {
            ChainTarget::Kernel { repo, revision, .. } => {
                match job
                    .snapshot(
                        HubKind::Huggingface,
                        RepoType::Kernel,
                        &repo,
                        revision.as_deref(),
                    )
                    .await
                {
                    Ok(ks) => super::kernels::add_variants(job, &ks, &via).await?,
                    Err(err) => job.mark_unverified(format!("kernel {repo} ({via}): {err}")),
                }
            }
            ChainTarget::RemoteCode {
                repo,
                revision,
                auto,
            } if !repo.is_empty() => {
                // The other repo's own config is checked in turn (a two-hop
                // chain); a config the library builds a model from loads its kernels.
                let hop = format!(
                    "{}@{} {}:{} {}",
                    snap.repo_id,
                    super::short_commit(&snap.commit),
                    path,
                    e.line,
                    e.field
                );
                if !job.enter_hop(hop, model_load && auto == "AutoConfig") {
                    continue;
                }
                let s = sub(repo.clone(), revision, vec![auto.to_string()], Vec::new());
                let start = job.files_len();
                let r = Box::pin(resolve(job, s)).await;
                job.leave_hop();
                if let Err(err) = r {
                    job.mark_unverified(format!("{auto} code of {repo} ({via}): {err}"));
                }
                job.tag_files_since(start, &via);
            }
            ChainTarget::Component {
                repo,
                revision,
                subfolder,
                class,
                diffusers,
            } => {
                let hop = format!(
                    "{}@{} {}:{} {}",
                    snap.repo_id,
                    super::short_commit(&snap.commit),
                    path,
                    e.line,
                    e.field
                );
                if !job.enter_hop(hop, false) {
                    continue;
                }
                let mut s = sub(repo.clone(), revision, vec![class.clone()], Vec::new());
                s.config_dir = subfolder.clone();
                if diffusers {
                    s.code_dir = subfolder;
                }
                let start = job.files_len();
                let r = Box::pin(resolve(job, s)).await;
                job.leave_hop();
                if let Err(err) = r {
                    job.mark_unverified(format!("{class} code of {repo} ({via}): {err}"));
                }
                job.tag_files_since(start, &via);
            }
            ChainTarget::AutoMapEntry {
                repo,
                reference,
                key,
            } => {
                // The config's own repo at its commit; a `repo--` reference is
                // fetched from that repo (at its default branch, as the library does).
                let full = match &repo {
                    Some(r) => format!("{r}--{reference}"),
                    None => reference.clone(),
                };
                let s = sub(
                    snap.repo_id.clone(),
                    Some(snap.commit.clone()),
                    Vec::new(),
                    vec![(full, format!("auto_map {key} ({via})"))],
                );
                let start = job.files_len();
                if let Err(err) = Box::pin(resolve(job, s)).await {
                    job.mark_unverified(format!("auto_map {key} ({via}): {err}"));
                }
                job.tag_files_since(start, &via);
            }
            _ => {}
        }
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
    let module = if cross.is_none() {
        join(&spec.code_dir, &parsed.module_file)
    } else {
        parsed.module_file.clone()
    };
    closure_of(job, &snap, &module, why, Style::Transformers).await
}

/// A ref and why it is loaded.
type Refs = Vec<(String, String)>;

fn push(refs: &mut Refs, found: Vec<String>, why: &str) {
    for r in found {
        if !refs.iter().any(|(x, _)| *x == r) {
            refs.push((r, why.to_string()));
        }
    }
}

/// What one call's selection arguments and installed versions make of the
/// `auto_map` value forms.
struct Select {
    majors: Majors,
    use_fast: Option<bool>,
    backend: Option<String>,
}

impl Select {
    /// `AutoTokenizer`: transformers 5 pops `use_fast` and takes the fast
    /// class whenever it is set (`models/auto/tokenization_auto.py:751-752,950-956`,
    /// 5.25.0); transformers 4 takes it only with `use_fast` (default True)
    /// (`tokenization_auto.py:1038,1109-1112`, 4.57.1).
    fn tokenizer(&self) -> ListPick {
        let v4 = if self.use_fast == Some(false) {
            ListPick::First
        } else {
            ListPick::Second
        };
        match (self.majors.v4, self.majors.v5) {
            (true, true) if v4 != ListPick::Second => ListPick::Both,
            (true, _) => v4,
            _ => ListPick::Second,
        }
    }

    /// Image processor backends: `backend=`, else `use_fast` (True:
    /// torchvision, False: pil), else torchvision when it is installed, which
    /// is not known here: both (`_resolve_backend`,
    /// `models/auto/image_processing_auto.py:341-365`; lists and dicts,
    /// `_resolve_auto_map_class_ref` `:482-498`, 5.25.0).
    fn image_backends(&self) -> (ListPick, Vec<&str>) {
        match (self.backend.as_deref(), self.use_fast) {
            (Some("torchvision"), _) | (None, Some(true)) => {
                (ListPick::Second, vec!["torchvision"])
            }
            (Some("pil"), _) | (None, Some(false)) => (ListPick::First, vec!["pil"]),
            (Some(other), _) => (ListPick::First, vec![other]),
            (None, None) => (ListPick::Both, vec!["torchvision", "pil"]),
        }
    }

    /// Video processors: `backend=` defaulting to torchvision
    /// (`models/auto/video_processing_auto.py:373`, 5.25.0).
    fn video_backends(&self) -> (ListPick, Vec<&str>) {
        match self.backend.as_deref() {
            None | Some("torchvision") => (ListPick::Second, vec!["torchvision"]),
            Some(other) => (ListPick::First, vec![other]),
        }
    }
}

/// The tokenizer refs: `tokenizer_config.json` `auto_map` (a legacy list, or
/// `auto_map.AutoTokenizer`); transformers 4 also reads config.json's when
/// the tokenizer config names no `tokenizer_class`.
async fn tokenizer_refs<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    dir: &str,
    config: &Option<Value>,
    sel: &Select,
    via: &str,
) -> Result<Refs, ResolveError> {
    let tok = job
        .read_config(snap, &join(dir, "tokenizer_config.json"))
        .await?;
    let auto = tok.as_ref().and_then(|t| t.get("auto_map")).cloned();
    let entry = match auto {
        Some(Value::Array(a)) => Some(Value::Array(a)),
        Some(other) => other.get("AutoTokenizer").cloned(),
        None => None,
    };
    let mut refs = Refs::new();
    if let Some(v) = &entry {
        push(
            &mut refs,
            pick(v, sel.tokenizer(), &[]),
            &format!("auto_map AutoTokenizer (tokenizer_config.json{via})"),
        );
    } else if sel.majors.v4
        && !has_key(&tok, "tokenizer_class")
        && let Some(v) = auto_map_entry(config, "AutoTokenizer")
    {
        push(
            &mut refs,
            pick(&v, sel.tokenizer(), &[]),
            &format!("auto_map AutoTokenizer (config.json, transformers 4{via})"),
        );
    }
    Ok(refs)
}

/// `AutoImageProcessor.from_pretrained`: preprocessor_config.json's ref (or
/// its feature extractor's, renamed); with no `image_processor_type` there,
/// config.json's `auto_map.AutoImageProcessor` REPLACES it
/// (`models/auto/image_processing_auto.py:673-701`, 5.25.0), so a benign
/// preprocessor ref cannot hide the one that runs.
async fn image_processor_refs<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    dir: &str,
    config: &Option<Value>,
    sel: &Select,
    via: &str,
) -> Result<Refs, ResolveError> {
    let pre = job
        .read_config(snap, &join(dir, "preprocessor_config.json"))
        .await?;
    let mut typed = has_key(&pre, "image_processor_type");
    let mut v = auto_map_entry(&pre, "AutoImageProcessor").map(|v| (v, "preprocessor_config.json"));
    if !typed && v.is_none() {
        typed = has_key(&pre, "feature_extractor_type");
        if let Some(Value::String(fe)) = auto_map_entry(&pre, "AutoFeatureExtractor") {
            v = Some((
                Value::String(fe.replace("FeatureExtractor", "ImageProcessor")),
                "preprocessor_config.json AutoFeatureExtractor, renamed",
            ));
        }
    }
    if !typed && let Some(c) = auto_map_entry(config, "AutoImageProcessor") {
        v = Some((c, "config.json"));
    }
    let mut refs = Refs::new();
    if let Some((v, file)) = v {
        let (list, backends) = sel.image_backends();
        push(
            &mut refs,
            pick(&v, list, &backends),
            &format!("auto_map AutoImageProcessor ({file}{via})"),
        );
    }
    Ok(refs)
}

/// `AutoFeatureExtractor.from_pretrained`: preprocessor_config.json, else
/// config.json when it names no `feature_extractor_type`.
async fn feature_extractor_refs<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    dir: &str,
    config: &Option<Value>,
    via: &str,
) -> Result<Refs, ResolveError> {
    let pre = job
        .read_config(snap, &join(dir, "preprocessor_config.json"))
        .await?;
    let mut v = auto_map_entry(&pre, "AutoFeatureExtractor");
    if v.is_none() && !has_key(&pre, "feature_extractor_type") {
        v = auto_map_entry(config, "AutoFeatureExtractor");
    }
    let mut refs = Refs::new();
    if let Some(v) = v {
        push(
            &mut refs,
            pick(&v, ListPick::First, &[]),
            &format!("auto_map AutoFeatureExtractor{via}"),
        );
    }
    Ok(refs)
}

/// `AutoVideoProcessor.from_pretrained`: video_preprocessor_config.json, else
/// preprocessor_config.json (`get_video_processor_dict`, `:226`); its
/// `AutoVideoProcessor`, else its `AutoImageProcessor` renamed; with no
/// `video_processor_type`, config.json's `AutoVideoProcessor` replaces it
/// (`models/auto/video_processing_auto.py:398-434`, 5.25.0). Whether an
/// `image_processor_type` names a video class transformers has is not known
/// here, so config.json's ref is taken too when there is one.
async fn video_processor_refs<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    dir: &str,
    config: &Option<Value>,
    sel: &Select,
    via: &str,
) -> Result<Refs, ResolveError> {
    let (file, vp) = match job
        .read_config(snap, &join(dir, "video_preprocessor_config.json"))
        .await?
    {
        Some(v) => ("video_preprocessor_config.json", Some(v)),
        None => (
            "preprocessor_config.json",
            job.read_config(snap, &join(dir, "preprocessor_config.json"))
                .await?,
        ),
    };
    let typed = has_key(&vp, "video_processor_type");
    let mut found: Vec<(Value, String)> = Vec::new();
    match auto_map_entry(&vp, "AutoVideoProcessor") {
        Some(v) => found.push((v, file.to_string())),
        None if !typed => {
            if let Some(Value::String(ip)) = auto_map_entry(&vp, "AutoImageProcessor") {
                found.push((
                    Value::String(ip.replace("ImageProcessor", "VideoProcessor")),
                    format!("{file} AutoImageProcessor, renamed"),
                ));
            }
        }
        None => {}
    }
    if !typed && let Some(c) = auto_map_entry(config, "AutoVideoProcessor") {
        if !has_key(&vp, "image_processor_type") {
            found.clear();
        }
        found.push((c, "config.json".to_string()));
    }
    let mut refs = Refs::new();
    let (list, backends) = sel.video_backends();
    for (v, file) in found {
        push(
            &mut refs,
            pick(&v, list, &backends),
            &format!("auto_map AutoVideoProcessor ({file}{via})"),
        );
    }
    Ok(refs)
}

/// `AutoProcessor.from_pretrained` (`models/auto/processing_auto.py:250-366`,
/// 5.25.0): `auto_map.AutoProcessor` from processor_config.json, else (no
/// `processor_class` yet) preprocessor_config.json, else -- only when that
/// file is absent -- video_preprocessor_config.json, then tokenizer_config.json,
/// then config.json; a later file's ref replaces an earlier one while no
/// `processor_class` has been named. The processor then loads its tokenizer,
/// image, video and feature-extraction components through their Auto classes,
/// and with no processor at all those Auto classes are tried in turn: each
/// of them may run.
async fn processor_refs<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    dir: &str,
    config: &Option<Value>,
    sel: &Select,
) -> Result<Refs, ResolveError> {
    let mut found: Option<(Value, &str)> = None;
    let mut named = false;
    let mut files = vec!["processor_config.json", "preprocessor_config.json"];
    if !snap.has(&join(dir, "preprocessor_config.json")) {
        files.push("video_preprocessor_config.json");
    }
    files.extend(["tokenizer_config.json", "config.json"]);
    for file in files {
        if named {
            break;
        }
        let cfg = if file == "config.json" {
            config.clone()
        } else {
            job.read_config(snap, &join(dir, file)).await?
        };
        if let Some(v) = auto_map_entry(&cfg, "AutoProcessor") {
            found = Some((v, file));
        }
        named = has_key(&cfg, "processor_class");
    }
    let mut refs = Refs::new();
    if let Some((v, file)) = found {
        push(
            &mut refs,
            pick(&v, ListPick::First, &[]),
            &format!("auto_map AutoProcessor ({file})"),
        );
    }
    let via = ", via AutoProcessor";
    for part in [
        tokenizer_refs(job, snap, dir, config, sel, via).await?,
        image_processor_refs(job, snap, dir, config, sel, via).await?,
        video_processor_refs(job, snap, dir, config, sel, via).await?,
        feature_extractor_refs(job, snap, dir, config, via).await?,
    ] {
        for (r, why) in part {
            push(&mut refs, vec![r], &why);
        }
    }
    Ok(refs)
}

/// Which components `pipeline()` loads for a task: `(tokenizer, image
/// processor, feature extractor, processor, video processor)`; `false` only
/// where the task's pipeline class says `_load_x = False` (None, the default
/// of `pipelines/base.py:785-794`, loads the component when the repo has one;
/// `pipelines/__init__.py:533-543,1157-1206`, the classes' flags, 5.25.0). An
/// unknown or custom task: every component.
fn pipeline_components(task: Option<&str>) -> [bool; 5] {
    let task = match task {
        Some("sentiment-analysis") => Some("text-classification"),
        Some("ner") => Some("token-classification"),
        Some("text-to-speech") => Some("text-to-audio"),
        t => t,
    };
    // (task, tokenizer, image processor, feature extractor, processor)
    const FLAGS: &[(&str, bool, bool, bool, bool)] = &[
        ("audio-classification", false, false, true, false),
        ("automatic-speech-recognition", true, false, true, false),
        ("text-to-audio", true, false, false, true),
        ("feature-extraction", true, false, false, false),
        ("text-classification", true, false, false, false),
        ("token-classification", true, false, false, false),
        ("table-question-answering", true, false, false, false),
        ("document-question-answering", true, true, true, false),
        ("fill-mask", true, false, false, false),
        ("text-generation", true, false, false, false),
        ("zero-shot-classification", true, false, false, false),
        ("zero-shot-image-classification", true, true, false, false),
        ("zero-shot-audio-classification", true, false, true, false),
        ("image-classification", false, true, false, false),
        ("image-feature-extraction", false, true, false, false),
        ("image-segmentation", true, true, false, false),
        ("image-text-to-text", false, false, false, true),
        ("object-detection", true, true, false, false),
        ("zero-shot-object-detection", true, true, false, false),
        ("decision", true, false, false, true),
        ("depth-estimation", false, true, false, false),
        ("video-classification", false, true, false, false),
        ("mask-generation", false, true, false, false),
        ("keypoint-matching", false, true, false, false),
        ("any-to-any", false, false, false, true),
    ];
    match task.and_then(|t| FLAGS.iter().find(|f| f.0 == t)) {
        Some(&(_, tok, img, fe, proc)) => [tok, img, fe, proc, true],
        None => [true; 5],
    }
}

/// The class references the call's Auto classes would load, in load order.
async fn collect_refs<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    spec: &HfSpec,
) -> Result<Vec<(String, String)>, ResolveError> {
    let dir = spec.config_dir.as_str();
    let config = job.read_config(snap, &join(dir, "config.json")).await?;
    let sel = Select {
        majors: majors(job),
        use_fast: spec.use_fast,
        backend: spec.backend.clone(),
    };
    let mut refs: Refs = Vec::new();
    let any_auto = spec.pipeline.is_some() || spec.classes.iter().any(|c| c.starts_with("Auto"));
    if any_auto && let Some(v) = auto_map_entry(&config, "AutoConfig") {
        push(
            &mut refs,
            pick(&v, ListPick::First, &[]),
            "auto_map AutoConfig (config.json)",
        );
    }
    let mut classes = spec.classes.clone();
    if let Some(task) = &spec.pipeline {
        // pipeline() loads the model with the task's Auto class, plus the
        // components its pipeline class asks for.
        if let Some(Value::Object(m)) = config.as_ref().and_then(|c| c.get("auto_map")) {
            for k in m.keys() {
                if k.starts_with("AutoModel") && !classes.contains(k) {
                    classes.push(k.clone());
                }
            }
        }
        let custom = config
            .as_ref()
            .and_then(|c| c.get("custom_pipelines"))
            .and_then(Value::as_object)
            .is_some_and(|m| task.as_ref().is_none_or(|t| m.contains_key(t)));
        let load = if custom {
            [true; 5]
        } else {
            pipeline_components(task.as_deref())
        };
        for (on, c) in load.into_iter().zip([
            "AutoTokenizer",
            "AutoImageProcessor",
            "AutoFeatureExtractor",
            "AutoProcessor",
            "AutoVideoProcessor",
        ]) {
            if on && !classes.iter().any(|x| x == c) {
                classes.push(c.to_string());
            }
        }
    }
    for class in &classes {
        let part = match class.as_str() {
            "AutoConfig" => Refs::new(),
            c if c.starts_with("AutoModel") || c == "AutoBackbone" => {
                let mut r = Refs::new();
                if let Some(v) = auto_map_entry(&config, c) {
                    push(
                        &mut r,
                        pick(&v, ListPick::First, &[]),
                        &format!("auto_map {c} (config.json)"),
                    );
                }
                r
            }
            "AutoTokenizer" => tokenizer_refs(job, snap, dir, &config, &sel, "").await?,
            "AutoImageProcessor" => image_processor_refs(job, snap, dir, &config, &sel, "").await?,
            "AutoFeatureExtractor" => feature_extractor_refs(job, snap, dir, &config, "").await?,
            "AutoVideoProcessor" => video_processor_refs(job, snap, dir, &config, &sel, "").await?,
            "AutoProcessor" => processor_refs(job, snap, dir, &config, &sel).await?,
            _ => Refs::new(),
        };
        for (r, why) in part {
            push(&mut refs, vec![r], &why);
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
    if sel.majors.v4
        && sel.majors.v5
        && sel.use_fast == Some(false)
        && refs
            .iter()
            .any(|(_, why)| why.starts_with("auto_map AutoTokenizer"))
    {
        job.note("use_fast=False: transformers 5 ignores it (the fast tokenizer runs), 4 honours it; the declared versions allow both majors, so both tokenizers are listed");
    }
    Ok(refs)
}

pub(crate) fn segments(api: &str) -> Vec<&str> {
    api.split('.').collect()
}

/// The Auto (or concrete) class a `X.from_pretrained` / `X.from_config` call uses.
pub(crate) fn class_of(site: &LoadSite) -> Option<String> {
    if let Some(c) = site.args.get("auto_class") {
        return Some(optimum_auto_class(&site.api, c).unwrap_or_else(|| c.clone()));
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

/// The transformers Auto class an optimum model class loads through
/// (`ORTModelForCausalLM` -> `AutoModelForCausalLM`): exporting builds the
/// model with the task's Auto class (`TasksManager.get_model_from_task`, with
/// the call's `trust_remote_code`), and `INCModel*`/`IPEXModel*` load with it
/// (`auto_model_class`); a model already exported still reads `AutoConfig`.
/// The worst case covers both. `None`: not an optimum model class.
fn optimum_auto_class(api: &str, class: &str) -> Option<String> {
    if !api.starts_with("optimum.") {
        return None;
    }
    ["ORT", "OV", "INC", "IPEX"]
        .iter()
        .find_map(|p| class.strip_prefix(p))
        .filter(|rest| rest.starts_with("Model"))
        .map(|rest| format!("Auto{rest}"))
}

/// Whether `X.from_pretrained` builds a model config from `config.json` (the
/// path of every config-driven escalation). `GenerationConfig.from_pretrained`
/// reads `generation_config.json` only, has no `trust_remote_code` and imports
/// nothing from the repo (`generation/configuration_utils.py` `from_pretrained`,
/// 5.25.0): none of its fields load code.
fn reads_model_config(c: &str) -> bool {
    c != "GenerationConfig"
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
    let code_revision = site.args.get("code_revision").cloned();
    // modelscope's wrappers hand transformers the local snapshot (same-repo
    // code is read there) and fetch `repo--mod.Class` code with
    // `snapshot_download(repo_id)` at master: code_revision changes nothing
    // (`utils/hf_util/patcher.py:158-187`, modelscope 2.0.0+main 2905da12).
    let code_revision = match (o.hub, code_revision) {
        (HubKind::Modelscope, Some(cr)) => {
            job.note(format!(
                "modelscope's wrappers ignore code_revision={cr}: the repo's own code comes from the snapshot at the model revision, another repo's from its master"
            ));
            None
        }
        (_, cr) => cr,
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
        code_revision,
        cross_default,
        classes: class.into_iter().collect(),
        pipeline: (kind == Kind::Pipeline).then(|| site.args.get("task").cloned()),
        model_load: loads_weights && model,
        custom_generate: loads_weights && model && kind == Kind::Class,
        adapter_redirect: loads_weights
            && (kind == Kind::Pipeline
                || class_of(site).is_some_and(|c| c.starts_with("AutoModel"))),
        extra_refs: Vec::new(),
        gate: gate::prompting(&site.gate, gate::TRANSFORMERS_PROMPT),
        primary: true,
        use_fast: site.args.get("use_fast").and_then(|v| match v.as_str() {
            "True" | "true" => Some(true),
            "False" | "false" => Some(false),
            _ => None,
        }),
        backend: site.args.get("backend").cloned(),
        config_dir: site.args.get("subfolder").cloned().unwrap_or_default(),
        code_dir: if o.hub == HubKind::Modelscope {
            site.args.get("subfolder").cloned().unwrap_or_default()
        } else {
            String::new()
        },
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
