//! diffusers: `DiffusionPipeline.from_pretrained` (community and hub custom
//! pipelines, `model_index.json` custom classes and components),
//! `AutoModel.from_pretrained`, `ModularPipelineBlocks.from_pretrained` and
//! `ModularPipeline.from_pretrained` (its blocks, and the components of
//! `modular_model_index.json` in other repos);
//! `trust_remote_code` defaults to False, community pipelines have no gate.

use std::sync::Arc;

use serde_json::Value;

use super::closure::{Style, closure_of};
use super::gate::{self, Gate};
use super::transformers;
use super::{Job, Outcome, ResolveError};
use crate::discover::pipeline_calls::{ARG_NAMES, ARG_REVISION};
use crate::hub::{RepoSource, Snapshot};
use crate::model::{HubKind, RepoType};

/// The newest diffusers release when this was written: the community folder
/// assumed when the project declares no diffusers version.
const NEWEST_DIFFUSERS: &str = "0.42.1";

/// The `diffusers/community-pipelines-mirror` folders a community pipeline may
/// come from (`get_cached_module_file`, `utils/dynamic_modules_utils.py:330-345`,
/// 0.42.1): `custom_revision="X.Y.Z"` is `vX.Y.Z`, `"main"` is `main`, anything
/// else raises (Err); with none, `v{installed X.Y.Z}` when that release exists,
/// else `main`. The installed version is the declared one: every mirror folder
/// in the declared range (none: `main`); not declared: the newest release.
fn community_folders<S: RepoSource>(
    job: &mut Job<'_, S>,
    mirror: &Snapshot,
    custom_revision: Option<&str>,
) -> Result<Vec<String>, String> {
    use crate::deps::Version;
    if let Some(r) = custom_revision {
        if r == "main" {
            return Ok(vec!["main".into()]);
        }
        let release = !r.is_empty()
            && r.split('.').count() == 3
            && r.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        return if release {
            Ok(vec![format!("v{r}")])
        } else {
            Err("not a released version number nor \"main\"".to_string())
        };
    }
    let known = job
        .opts
        .declared
        .versions(&job.site.path)
        .known("diffusers");
    if known.set.is_any() {
        let folder = format!("v{NEWEST_DIFFUSERS}");
        let folder = if mirror
            .files
            .iter()
            .any(|f| f.starts_with(&format!("{folder}/")))
        {
            folder
        } else {
            "main".to_string()
        };
        job.note(format!(
            "diffusers version not declared: the newest release ({NEWEST_DIFFUSERS}) is assumed, whose community pipelines come from folder {folder}"
        ));
        return Ok(vec![folder]);
    }
    let mut folders: Vec<String> = mirror
        .files
        .iter()
        .filter_map(|f| f.split_once('/').map(|(d, _)| d))
        .filter(|d| {
            d.strip_prefix('v')
                .and_then(|v| Version::parse(v).ok())
                .is_some_and(|v| known.set.contains(&v))
        })
        .map(str::to_string)
        .collect();
    folders.dedup();
    if folders.is_empty() {
        folders.push("main".to_string());
    }
    Ok(folders)
}

/// `modular_model_index.json` of a modular pipeline's repo: the components
/// whose code `load_components(trust_remote_code=True)` runs. One in another
/// repo gets the caller's trust in diffusers 0.35.0 to 0.36.x only
/// (`escalation::in_modular_index`): a chain link to that repo's code. One in
/// the pipeline's own repo keeps the trust in every version (0.37.0 strips it
/// only for other repos, `modular_pipeline.py` L2371-2381): its code is the
/// call's own remote code. Either is read at the spec's revision, which is
/// not the pipeline's: a component named without a commit is fetched at its
/// default branch (`Target::unpinned_components`). `follow`: this call is the
/// `load_components` (or `load_default_components`) that passes the trust;
/// else it is the `from_pretrained` that made the pipeline, and the
/// components only get notes (they load at the method call, reported there).
async fn modular_components<S: RepoSource>(
    job: &mut Job<'_, S>,
    o: &super::Origin,
    follow: bool,
) -> Result<(), ResolveError> {
    use super::escalation::{self, CallFacts, ChainTarget};
    const FILE: &str = "modular_model_index.json";
    let snap = job
        .snapshot(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let Some(index) = job.read_config(&snap, FILE).await? else {
        if follow {
            job.note(format!(
                "{} has no {FILE}: no components to load from it",
                snap.repo_id
            ));
        }
        return Ok(());
    };
    let bytes = job.read(&snap, FILE).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let site = job.site;
    // "dynamic" (a per-component dict, a computed flag) may be true: the worst case.
    let trusts = follow && gate::default_false(&site.gate) == Gate::Run;
    let mut components = escalation::modular_index_components(&text, &index);
    if follow {
        // `load_components(names)`: only those; `revision=` (one value for
        // all, or per component with a "default") overrides the spec's
        // (`ModularPipeline.load_components`, 0.36.0 L2139-2150).
        let names: Option<Vec<&str>> = site.args.get(ARG_NAMES).map(|n| n.split(',').collect());
        components.retain(|c| names.as_ref().is_none_or(|n| n.contains(&c.name.as_str())));
        for c in &mut components {
            if let Some(r) = component_revision(&site.args, &c.name) {
                c.revision = Some(r.to_string());
            }
        }
    }
    let facts = CallFacts {
        trusts: true,
        ..CallFacts::default()
    };
    let escalations = {
        let versions = job.opts.declared.versions(&site.path);
        escalation::in_modular_index(FILE, &components, &snap.repo_id, &versions, facts)
    };
    let own: Vec<_> = components
        .iter()
        .filter(|c| c.repo == snap.repo_id)
        .collect();
    if follow {
        component_weights(job, o.hub, &index).await?;
    }
    if !trusts {
        let why = if follow {
            "this call does not trust remote code, so it was not followed"
        } else {
            "the components load at that call, reported there"
        };
        for e in escalations.iter().filter(|e| e.decision.happens()) {
            job.note(format!(
                "{FILE}:{} {} = {}: a load_components(trust_remote_code=True) on this pipeline would run that repo's code ({why})",
                e.line, e.field, e.value
            ));
        }
        for c in &own {
            job.note(format!(
                "{FILE}:{} {} = {}: a load_components(trust_remote_code=True) on this pipeline would run its {} code (subfolder {:?}) ({why})",
                c.line, c.field, c.repo, c.class, c.subfolder
            ));
        }
        return Ok(());
    }
    let spec = transformers::HfSpec::chained(
        (o.hub, o.hub, None),
        snap.repo_id.clone(),
        None,
        Vec::new(),
        Vec::new(),
    );
    // One link at a time: what each adds tells whether its code was read.
    for e in escalations {
        let name = component_name(&e.field).to_string();
        let followed = e.decision.happens();
        let revision = match &e.target {
            ChainTarget::Component { revision, .. } => revision.clone(),
            _ => None,
        };
        let (repo, line) = (e.value.clone(), e.line);
        let start = job.files_len();
        transformers::follow_escalations(job, &snap, FILE, vec![e], false, &spec).await?;
        if followed && job.files_len() > start {
            unpinned_component(job, o.hub, &name, &repo, revision, line).await;
        }
    }
    // The pipeline's own repo: the call's own trust, at the spec's revision.
    for c in own {
        let mut s = transformers::HfSpec::chained(
            (o.hub, o.hub, None),
            c.repo.clone(),
            c.revision.clone(),
            vec![c.class.clone()],
            Vec::new(),
        );
        s.config_dir = c.subfolder.clone();
        if c.diffusers {
            s.code_dir = c.subfolder.clone();
        }
        let via = format!("component {} ({FILE}:{})", c.name, c.line);
        let start = job.files_len();
        if let Err(err) = Box::pin(transformers::resolve(job, s)).await {
            job.mark_unverified(format!("{} code of {} ({via}): {err}", c.class, c.repo));
        }
        job.tag_files_since(start, &via);
        if job.files_len() > start {
            unpinned_component(job, o.hub, &c.name, &c.repo, c.revision.clone(), c.line).await;
        }
    }
    Ok(())
}

/// The pickles `load_components` unpickles: each component's weights, in
/// its repo and subfolder at its revision (or the call's), with or without
/// trust (`ComponentSpec.load` -> `from_pretrained`, modular_pipeline_utils.py
/// 0.36.0 L269-313). A repo that cannot be read leaves the call unverified.
async fn component_weights<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
    index: &Value,
) -> Result<(), ResolveError> {
    use super::weights;
    let site = job.site;
    let names: Option<Vec<String>> = site
        .args
        .get(ARG_NAMES)
        .map(|n| n.split(',').map(str::to_string).collect());
    let call_args = weights::Args::of(site);
    for w in super::escalation::modular_index_weights(index) {
        let super::escalation::ComponentWeights {
            name,
            repo,
            subfolder,
            revision,
            variant,
            diffusers,
        } = w;
        if names.as_ref().is_some_and(|n| !n.contains(&name)) {
            continue;
        }
        let revision = component_revision(&site.args, &name)
            .map(str::to_string)
            .or(revision);
        let snap = match job
            .snapshot(hub, RepoType::Model, &repo, revision.as_deref())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                job.mark_unverified(format!("weights of component {name} ({repo}): {e}"));
                continue;
            }
        };
        let args = weights::Args {
            subfolder,
            use_safetensors: call_args.use_safetensors,
            variant: call_args.variant.clone().or(variant),
        };
        let loader = if diffusers {
            weights::Loader::Diffusers
        } else {
            weights::Loader::Transformers
        };
        let start = job.files_len();
        job.pickle_weights_as(&snap, loader, &args).await?;
        job.tag_files_since(start, &format!("component {name}"));
    }
    Ok(())
}

/// Record component `name` (whose code was read from `repo` at `revision`)
/// as unpinned when `revision` is not a commit: the commit fetched is the pin.
async fn unpinned_component<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
    name: &str,
    repo: &str,
    revision: Option<String>,
    line: u32,
) {
    if revision.as_deref().is_some_and(crate::hub::is_commit) {
        return;
    }
    // Memoised: the snapshot the component's code was read from.
    let Ok(snap) = job
        .snapshot(hub, RepoType::Model, repo, revision.as_deref())
        .await
    else {
        return;
    };
    job.unpinned_component(crate::model::UnpinnedComponent {
        name: name.to_string(),
        repo_id: repo.to_string(),
        revision,
        commit: snap.commit.clone(),
        source: format!("modular_model_index.json:{line}"),
    });
}

/// The component a `modular_model_index.json` field belongs to (`unet` of
/// `unet.2.pretrained_model_name_or_path`).
fn component_name(field: &str) -> &str {
    field.split('.').next().unwrap_or(field)
}

/// The revision a `load_components` call gives component `name`, if any.
pub(crate) fn component_revision<'a>(
    args: &'a std::collections::BTreeMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    args.get(&format!("{ARG_REVISION}{name}"))
        .or_else(|| args.get(&format!("{ARG_REVISION}default")))
        .map(String::as_str)
}

/// `pipe.load_components(...)` / `pipe.load_default_components(...)` on a
/// modular pipeline of the call's repo (discovery traced the receiver to the
/// `from_pretrained` or `init_pipeline` that made it): the components of its
/// `modular_model_index.json` under this call's own `trust_remote_code`.
async fn load_components<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let o = job.origin(hub)?;
    job.primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    if job.site.api.ends_with(".load_default_components") {
        job.note(
            "load_default_components exists in diffusers 0.35.x only (0.36.0 removed it; load_components() with no names loads the same): with 0.36+ this call raises AttributeError; assumed to load (worst case)",
        );
    }
    modular_components(job, &o, true).await?;
    Ok(Outcome::Done)
}

/// diffusers `DiffusionPipeline.from_pretrained` (community and hub custom
/// pipelines, `model_index.json` custom classes and components),
/// `AutoModel.from_pretrained` and `ModularPipelineBlocks.from_pretrained`.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    if crate::discover::catalogue::is_pipeline_method_api(&site.api) {
        return load_components(job, hub).await;
    }
    let o = job.origin(hub)?;
    let segs = transformers::segments(&site.api);
    let gate = gate::default_false(&site.gate);
    // `ModularPipeline` (and its per-model subclasses) first loads the repo's
    // blocks with `ModularPipelineBlocks.from_pretrained(repo, trust_remote_code)`
    // (`modular_pipeline.py` 0.36.0 L1661-1663), then reads `modular_model_index.json`.
    let pipeline = segs.iter().any(|s| s.ends_with("ModularPipeline"));
    if segs.contains(&"AutoModel") || segs.contains(&"ModularPipelineBlocks") || pipeline {
        let modular = segs.contains(&"ModularPipelineBlocks") || pipeline;
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
        transformers::resolve(
            job,
            transformers::HfSpec {
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
                use_fast: None,
                backend: None,
                config_dir: site.args.get("subfolder").cloned().unwrap_or_default(),
                // diffusers' AutoModel fetches its code module from the
                // subfolder (`get_class_from_dynamic_module(.., subfolder=..)`,
                // `models/auto_model.py` 0.36.0 L197-205).
                code_dir: if modular {
                    String::new()
                } else {
                    site.args.get("subfolder").cloned().unwrap_or_default()
                },
            },
        )
        .await?;
        if pipeline {
            modular_components(job, &o, false).await?;
        }
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
            let mirror = job
                .snapshot(
                    HubKind::Huggingface,
                    RepoType::Dataset,
                    "diffusers/community-pipelines-mirror",
                    Some("main"),
                )
                .await?;
            let folders = match community_folders(job, &mirror, custom_revision.as_deref()) {
                Ok(f) => f,
                Err(why) => {
                    job.note(format!(
                        "custom_revision={:?}: {why}; diffusers raises before downloading community pipeline {cp}",
                        custom_revision.as_deref().unwrap_or("")
                    ));
                    job.pickle_weights(&snap).await?;
                    return Ok(Outcome::Done);
                }
            };
            for folder in folders {
                let file = format!("{folder}/{cp}.py");
                job.note(format!(
                    "community pipeline {cp} runs with no trust_remote_code check (diffusers/community-pipelines-mirror {file})"
                ));
                if !mirror.has(&file) {
                    return Err(ResolveError::Content(format!(
                        "community pipeline {file} is not in diffusers/community-pipelines-mirror@{}",
                        mirror.commit
                    )));
                }
                closure_of(
                    job,
                    &mirror,
                    &file,
                    format!("community pipeline {cp}"),
                    Style::Folder,
                )
                .await?;
            }
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
                closure_of(job, &s, &f, why, Style::Folder).await?;
            }
        }
    }
    job.pickle_weights(&snap).await?;
    Ok(Outcome::Done)
}
