//! SpanMarker (`span_marker.SpanMarkerModel.from_pretrained`): a SpanMarker
//! repo's `config.json` names an encoder repo whose config (1.0.0 to 1.8.0:
//! with the `trust_remote_code` the config carries) and tokenizer (every
//! version: with the call's own `trust_remote_code`) are loaded; any other
//! repo is an encoder loaded with the transformers Auto classes.
//!
//! Read in tomaarsen/SpanMarkerNER: `span_marker/modeling.py`
//! `SpanMarkerModel.from_pretrained` (1.8.0 lines 259-311: `AutoConfig` of the
//! repo with the call's kwargs, then either `PreTrainedModel.from_pretrained`
//! for a SpanMarker config or `AutoModel.from_pretrained` of an encoder, then
//! `SpanMarkerTokenizer.from_pretrained(config.encoder["_name_or_path"], **kwargs)`),
//! `SpanMarkerModel.__init__` (1.8.0 line 80:
//! `AutoConfig.from_pretrained(encoder["_name_or_path"], **encoder)`; 1.8.1
//! line 81 strips `trust_remote_code`, PR #87) and `span_marker/tokenizer.py`
//! (`AutoTokenizer.from_pretrained(name, **kwargs)`).

use serde_json::Value;

use super::gate;
use super::transformers::{self, HfSpec};
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::model::{HubKind, RepoType};

pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    use super::escalation::{self, CallFacts};
    let site = job.site;
    let o = job.origin(hub)?;
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let config = job.read_config(&snap, "config.json").await?;
    let span_marker = config
        .as_ref()
        .and_then(|c| c.get("model_type"))
        .and_then(Value::as_str)
        == Some("span-marker");
    // The kwargs reach transformers: an absent trust_remote_code prompts.
    let gate = gate::prompting(&site.gate, gate::TRANSFORMERS_PROMPT);
    let spec = |classes: &[&str]| HfSpec {
        hub: o.hub,
        cross_hub: o.hub,
        repo_id: snap.repo_id.clone(),
        repo_type: RepoType::Model,
        revision: o.revision.clone(),
        code_revision: None,
        cross_default: None,
        classes: classes.iter().map(ToString::to_string).collect(),
        pipeline: None,
        model_load: true,
        custom_generate: false,
        adapter_redirect: false,
        extra_refs: Vec::new(),
        gate,
        primary: true,
        use_fast: None,
        backend: None,
        config_dir: String::new(),
        code_dir: String::new(),
    };
    if !span_marker {
        // An encoder repo: AutoConfig, AutoModel and AutoTokenizer of the
        // repo itself, each with the call's kwargs.
        job.note(format!(
            "{} is not a SpanMarker model (config.json model_type is not span-marker): span-marker loads it as an encoder",
            snap.repo_id
        ));
        transformers::resolve(job, spec(&["AutoConfig", "AutoModel", "AutoTokenizer"])).await?;
        return Ok(Outcome::Done);
    }
    // The SpanMarker config itself (its attention fields, the encoder's
    // forwarded trust_remote_code: `escalation::in_model_config`) and weights.
    transformers::resolve(job, spec(&["AutoConfig", "AutoModel"])).await?;
    let path = "config.json";
    let bytes = job.read(&snap, path).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let Some(config) = config else {
        return Ok(Outcome::Done);
    };
    // Every version builds the encoder from the config of the repo that
    // `encoder._name_or_path` names (`AutoModel.from_config(AutoConfig.from_pretrained(..))`):
    // that repo's own config fields (a Hub kernel) apply, trust or not.
    // Before the tokenizer below, whose load builds no model.
    if let Some(name) = config
        .pointer("/encoder/_name_or_path")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && *n != snap.repo_id)
    {
        let hop = job.hop_text(&snap, path, "encoder._name_or_path").await;
        let mut encoder = HfSpec::chained(
            (o.hub, o.hub, None),
            name.to_string(),
            None,
            vec!["AutoConfig".to_string()],
            Vec::new(),
        );
        // Only what the config itself forwards (`in_model_config`) trusts its code.
        encoder.gate = gate::Gate::Refuse;
        transformers::follow_reference(job, &encoder, hop, true).await?;
    }
    let facts = CallFacts {
        // "dynamic" may be true: the worst case.
        trusts: gate == gate::Gate::Run,
        trainable: false,
        allow_all_kernels: false,
    };
    let escalations = {
        let versions = job.opts.declared.versions(&site.path);
        escalation::in_span_marker_config(path, &text, &config, &snap.repo_id, &versions, facts)
    };
    transformers::follow_escalations(job, &snap, path, escalations, false, &spec(&[])).await?;
    Ok(Outcome::Done)
}
