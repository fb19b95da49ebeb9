//! ModelScope's own loaders: `pipeline(task, model=...)` and
//! `Model.from_pretrained` follow `configuration.json` (`allow_remote: true`
//! imports every `.py` and pip-installs every `*requirement*` file; some owners
//! are trusted without a flag). `MsDataset.load` is not resolved.

use serde_json::Value;

use super::gate::{self, Gate};
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::model::{FileKind, HubKind, RepoType};

/// ModelScope `TRUSTED_MODEL_OWNERS`.
const MODELSCOPE_TRUSTED_OWNERS: [&str; 2] = ["damo", "iic"];

/// `MsDataset.load`: dataset scripts need datasets<4; not resolved.
pub(crate) async fn dataset<S: RepoSource>(_job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    Err(ResolveError::Unsupported(
        "ModelScope MsDataset.load is not resolved (dataset scripts need datasets<4)".to_string(),
    ))
}

/// ModelScope `pipeline(task, model=...)` / `Model.from_pretrained`: with
/// `configuration.json` `"allow_remote": true`, every `.py` in the repo is
/// imported and every `*requirement*` file is pip-installed.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    let rev = site
        .args
        .get("model_revision")
        .cloned()
        .or(o.revision.clone())
        .or(crate::hub::get(hub).default_ref().map(str::to_string));
    let snap = job
        .primary(o.hub, RepoType::Model, &o.repo_id, rev.as_deref())
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
            gate::default_false(&site.gate)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modelscope_skips_dunder() {
        assert!(modelscope_imports("pkg/__init__.py"));
        assert!(modelscope_imports("model.py"));
        assert!(!modelscope_imports("__pycache__/x.py"));
        assert!(!modelscope_imports("__main__.py"));
    }
}
