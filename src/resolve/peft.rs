//! peft `PeftModel` / `AutoPeftModel*.from_pretrained(adapter)`: the base
//! model's code (at `adapter_config.revision`) under the transformers rules,
//! the adapter's pickle weights, and the adapter repo's tokenizer code.

use serde_json::Value;

use super::gate;
use super::transformers::{self, HfSpec};
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::hub::validate_repo_id;
use crate::model::{HubKind, RepoType};

/// Prompt tuning initialised from text loads `tokenizer_name_or_path` with the
/// adapter's own `tokenizer_kwargs` (`escalation::in_adapter_config`): a
/// `trust_remote_code` there runs that tokenizer repo's code, as a chain link
/// of `adapter_config.json`.
async fn prompt_tokenizer<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &std::sync::Arc<crate::hub::Snapshot>,
    adapter: &Value,
    hub: HubKind,
) -> Result<(), ResolveError> {
    use super::escalation::{self, CallFacts};
    let path = "adapter_config.json";
    let bytes = job.read(snap, path).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let site = job.site;
    let facts = CallFacts {
        trusts: site.gate == "true",
        // `is_trainable` not given is False; unknown counts as True (worst case).
        trainable: site
            .args
            .get("is_trainable")
            .is_some_and(|v| !matches!(v.as_str(), "false" | "none" | "0")),
        allow_all_kernels: false,
    };
    let escalations = {
        let versions = job.opts.declared.versions(&site.path);
        escalation::in_adapter_config(path, &text, adapter, &versions, facts)
    };
    let spec = HfSpec::chained(
        (hub, hub, None),
        snap.repo_id.clone(),
        None,
        Vec::new(),
        Vec::new(),
    );
    transformers::follow_escalations(job, snap, path, escalations, false, &spec).await
}

/// peft `AutoPeftModel*.from_pretrained(adapter)`: the base model's code (at
/// `adapter_config.revision`), plus the adapter repo's tokenizer code.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    let class = transformers::class_of(site)
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
        return Err(ResolveError::Content(format!(
            "adapter_config.json in {} has no base_model_name_or_path",
            snap.repo_id
        )));
    };
    if validate_repo_id(o.hub, &base).is_err() {
        return Err(ResolveError::Content(format!(
            "adapter_config.json in {} names base model {base:?}, which is a local path, not a hub id",
            snap.repo_id
        )));
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
    let gate = gate::prompting(&site.gate, gate::TRANSFORMERS_PROMPT);
    job.pickle_weights(&snap).await?;
    prompt_tokenizer(job, &snap, &adapter, o.hub).await?;
    // The base model is one hop on: its own config fields (a Hub kernel, a
    // forwarded trust) show the adapter's reference in their chain.
    let hop = job
        .hop_text(&snap, "adapter_config.json", "base_model_name_or_path")
        .await;
    if !job.enter_hop(hop, true) {
        return Ok(Outcome::Done);
    }
    let base_load = transformers::resolve(
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
            use_fast: None,
            backend: None,
            config_dir: String::new(),
            code_dir: String::new(),
        },
    )
    .await;
    job.leave_hop();
    base_load?;
    if snap.has("tokenizer_config.json") {
        transformers::resolve(
            job,
            transformers::HfSpec {
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
                use_fast: None,
                backend: None,
                config_dir: String::new(),
                code_dir: String::new(),
            },
        )
        .await?;
    }
    Ok(Outcome::Done)
}
