//! optimum-intel `OVConfig.from_pretrained(repo)`: the repo's
//! `openvino_config.json`, whose quantization config may name a tokenizer or
//! processor repo and a `trust_remote_code` that `OVQuantizer.quantize`
//! (optimum-intel before 1.27) uses to load them (issue #1510). The config
//! is read, never run; the repos it names are followed as a chain.

use super::transformers::{self, HfSpec};
use super::{Job, Outcome, ResolveError, gate};
use crate::hub::RepoSource;
use crate::model::{HubKind, RepoType};

const FILE: &str = "openvino_config.json";

/// `optimum.intel.OVConfig.from_pretrained` (the catalogue's
/// `optimum.*.from_pretrained` entry with the `OVConfig` class).
pub(crate) fn is_ov_config(site: &crate::model::LoadSite) -> bool {
    site.api.starts_with("optimum.") && transformers::class_of(site).as_deref() == Some("OVConfig")
}

pub(crate) async fn ov_config<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, o.revision.as_deref())
        .await?;
    let subfolder = site.args.get("subfolder").cloned().unwrap_or_default();
    let path = if subfolder.is_empty() {
        FILE.to_string()
    } else {
        format!("{}/{FILE}", subfolder.trim_end_matches('/'))
    };
    let Some(config) = job.read_config(&snap, &path).await? else {
        job.note(format!(
            "{}@{} has no {path}: OVConfig.from_pretrained fails",
            snap.repo_id, snap.commit
        ));
        return Ok(Outcome::Done);
    };
    let bytes = job.read(&snap, &path).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let escalations = {
        let versions = job.opts.declared.versions(&site.path);
        super::escalation::in_openvino_config(&path, &text, &config, &versions)
    };
    let spec = HfSpec {
        hub: o.hub,
        cross_hub: o.hub,
        repo_id: snap.repo_id.clone(),
        repo_type: RepoType::Model,
        revision: None,
        code_revision: None,
        cross_default: None,
        classes: Vec::new(),
        pipeline: None,
        model_load: false,
        custom_generate: false,
        adapter_redirect: false,
        extra_refs: Vec::new(),
        gate: gate::Gate::Run,
        primary: false,
        use_fast: None,
        backend: None,
        config_dir: String::new(),
        code_dir: String::new(),
    };
    transformers::follow_escalations(job, &snap, &path, escalations, false, &spec).await?;
    Ok(Outcome::Done)
}
