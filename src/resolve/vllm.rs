//! vLLM (`LLM`, `EngineArgs`, `AsyncEngineArgs`): the transformers rules for
//! the config, tokenizer and processor `auto_map` code, a separate `tokenizer`
//! repo at `tokenizer_revision`; `trust_remote_code` defaults to False.

use super::gate;
use super::transformers::{self, HfSpec};
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::hub::validate_repo_id;
use crate::model::{HubKind, RepoType};

/// vLLM versions that import `auto_map` code with the gate off
/// (`escalation::in_vllm_config`): each such load is a chain link of the
/// model's `config.json` (rule `config-remote-code-without-gate`) and its
/// code is resolved into the target, since the call's `trust_remote_code`
/// does not stop it there.
async fn gateless_auto_map<S: RepoSource>(
    job: &mut Job<'_, S>,
    repo: &str,
    revision: Option<&str>,
    spec: &HfSpec,
) -> Result<(), ResolveError> {
    use super::escalation::{self, CallFacts};
    let snap = job
        .snapshot(spec.hub, RepoType::Model, repo, revision)
        .await?;
    let path = "config.json";
    if !snap.has(path) {
        return Ok(());
    }
    let bytes = job.read(&snap, path).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // A malformed config.json is already an error of the transformers rules.
    let Ok(config) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(());
    };
    let escalations = {
        let versions = job.opts.declared.versions(&job.site.path);
        escalation::in_vllm_config(path, &text, &config, &versions, CallFacts::default())
    };
    let runs = escalations.iter().any(|e| e.decision.happens());
    transformers::follow_escalations(job, &snap, path, escalations, true, spec).await?;
    if runs {
        // The load does not fail on the refused gate in these versions: the
        // code runs, which the chain finding reports.
        job.clear_refused();
    }
    Ok(())
}

/// vLLM: config, tokenizer and processor `auto_map` code; trust defaults to False.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    let gate = gate::default_false(&site.gate);
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
        use_fast: None,
        backend: None,
        config_dir: String::new(),
        code_dir: String::new(),
    };
    let tokenizer = site
        .args
        .get("tokenizer")
        .filter(|t| **t != o.repo_id && validate_repo_id(o.hub, t).is_ok())
        .cloned();
    let classes = if tokenizer.is_some() {
        vec!["AutoConfig", "AutoProcessor"]
    } else {
        vec!["AutoConfig", "AutoTokenizer", "AutoProcessor"]
    };
    let primary = base(o.repo_id.clone(), o.revision.clone(), classes, true);
    let model_spec = base(o.repo_id.clone(), o.revision.clone(), Vec::new(), true);
    transformers::resolve(job, primary).await?;
    if gate != gate::Gate::Run {
        gateless_auto_map(job, &o.repo_id, o.revision.as_deref(), &model_spec).await?;
    }
    if let Some(t) = tokenizer {
        let rev = site.args.get("tokenizer_revision").cloned();
        transformers::resolve(job, base(t, rev, vec!["AutoTokenizer"], false)).await?;
    }
    Ok(Outcome::Done)
}
