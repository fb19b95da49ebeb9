//! vLLM (`LLM`, `EngineArgs`, `AsyncEngineArgs`): the transformers rules for
//! the config, tokenizer and processor `auto_map` code, a separate `tokenizer`
//! repo at `tokenizer_revision`; `trust_remote_code` defaults to False.

use super::gate;
use super::transformers::{self, HfSpec};
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::hub::validate_repo_id;
use crate::model::{HubKind, RepoType};

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
    transformers::resolve(
        job,
        base(o.repo_id.clone(), o.revision.clone(), classes, true),
    )
    .await?;
    if let Some(t) = tokenizer {
        let rev = site.args.get("tokenizer_revision").cloned();
        transformers::resolve(job, base(t, rev, vec!["AutoTokenizer"], false)).await?;
    }
    Ok(Outcome::Done)
}
