//! sentence-transformers (`SentenceTransformer`, `CrossEncoder`,
//! `SparseEncoder`): `modules.json` types outside `sentence_transformers.` (via
//! transformers' dynamic loader), then the transformers rules for each
//! Transformer module's folder; `trust_remote_code` defaults to False.

use serde_json::Value;

use super::gate;
use super::transformers;
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::model::{HubKind, RepoType};

/// sentence-transformers: `modules.json` types outside `sentence_transformers.`
/// (via transformers' dynamic loader), then the transformers rules for each
/// Transformer module's folder.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    let segs = transformers::segments(&site.api);
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
    let gate = gate::default_false(&site.gate);
    for (i, dir) in dirs.into_iter().enumerate() {
        transformers::resolve(
            job,
            transformers::HfSpec {
                hub: o.hub,
                cross_hub: o.hub,
                repo_id: snap.repo_id.clone(),
                repo_type: RepoType::Model,
                revision: o.revision.clone(),
                code_revision: site.args.get("code_revision").cloned(),
                cross_default: None,
                // sentence-transformers 6 loads the processor with
                // `AutoProcessor.from_pretrained` (`base/modules/transformer.py:853-916`,
                // 6.3.0), which also loads (or falls back to) the tokenizer and
                // the image, video and feature-extraction processors.
                classes: vec![
                    "AutoConfig".to_string(),
                    model_class.to_string(),
                    "AutoProcessor".to_string(),
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
                use_fast: None,
                backend: None,
                config_dir: dir,
                code_dir: String::new(),
            },
        )
        .await?;
    }
    Ok(Outcome::Done)
}
