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

/// When ModelScope's own loaders import every `.py` of a repo, by version.
/// Read in the released wheels; the reference's single "since 1.30" rule is
/// not what they do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Era {
    /// `Model.from_pretrained` and `pipeline()` import on configuration.json
    /// `allow_remote` alone (1.28.0 `models/base/base_model.py:186`,
    /// `pipelines/builder.py:158-159`).
    AllowRemote,
    /// `Model.from_pretrained` imports on `trust_remote_code=True` alone,
    /// whatever `allow_remote` says; `pipeline()` still imports on
    /// `allow_remote` alone (1.29.0 `base_model.py:204`, 1.33.0
    /// `pipelines/builder.py:159-160`).
    TrustOrPipelineAllowRemote,
    /// The pipeline builder needs `trust and allow_remote` and refuses
    /// `allow_remote` without trust; the model still imports on trust alone
    /// (1.37.0 `pipelines/builder.py:160-179`).
    Trust,
    /// As `Trust`, and an id whose owner folder is `iic` or `damo`
    /// (case-sensitive, `check_model_from_owner_group`) counts as trusted
    /// (1.38.0 `base_model.py:144-145,210`, `pipelines/builder.py:123-124`).
    TrustOrOwnerPath,
    /// Imports only when trusted (the flag, or a Hub-metadata owner `damo`/
    /// `iic`, case-folded: `is_model_from_trusted_source`) AND `allow_remote`;
    /// `allow_remote` or plugins without trust are refused (1.40.2
    /// `base_model.py:146-150,202-221`, `utils/automodel_utils.py:143-173`,
    /// `pipelines/builder.py:130-132,179-196`).
    TrustAndAllowRemote,
}

const ERAS: [(Era, &str); 5] = [
    (Era::AllowRemote, "<=1.28.0"),
    (Era::TrustOrPipelineAllowRemote, ">1.28.0,<1.37"),
    (Era::Trust, ">=1.37,<1.38"),
    (Era::TrustOrOwnerPath, ">=1.38,<1.40.1"),
    (Era::TrustAndAllowRemote, ">=1.40.1"),
];

/// What one era does with a call: (imports the repo, refuses it).
fn era_decides(
    era: Era,
    pipeline: bool,
    flag: bool,
    allow_remote: bool,
    owner_path: bool,
    owner_meta: bool,
) -> (bool, bool) {
    match era {
        Era::AllowRemote => (allow_remote, false),
        Era::TrustOrPipelineAllowRemote => (flag || (pipeline && allow_remote), false),
        Era::Trust => (flag, pipeline && allow_remote && !flag),
        Era::TrustOrOwnerPath => {
            let trust = flag || owner_path;
            (trust, pipeline && allow_remote && !trust)
        }
        Era::TrustAndAllowRemote => {
            let trust = flag || owner_meta;
            (trust && allow_remote, allow_remote && !trust)
        }
    }
}

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
    let pipeline = site.family == crate::model::Family::Modelscope
        && transformers_segments_last(&site.api) == Some("pipeline");
    let flag = gate::default_false(&site.gate) != Gate::Refuse;
    let owner = o.repo_id.split('/').next().unwrap_or("");
    let owner_path = MODELSCOPE_TRUSTED_OWNERS.contains(&owner);
    let owner_meta = MODELSCOPE_TRUSTED_OWNERS.contains(&owner.to_lowercase().as_str());
    let known = job.opts.declared.versions(&site.path).known("modelscope");
    let eras: Vec<Era> = ERAS
        .iter()
        .filter(|(_, spec)| known.may_be(spec))
        .map(|(e, _)| *e)
        .collect();
    let eras = if eras.is_empty() {
        vec![Era::TrustAndAllowRemote]
    } else {
        eras
    };
    let decided: Vec<(Era, bool, bool)> = eras
        .iter()
        .map(|e| {
            let (runs, refused) =
                era_decides(*e, pipeline, flag, allow_remote, owner_path, owner_meta);
            (*e, runs, refused)
        })
        .collect();
    let runs = decided.iter().any(|d| d.1);
    let files: Vec<(String, FileKind)> = snap
        .files
        .iter()
        .filter(|f| modelscope_imports(f))
        .filter_map(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            if f.ends_with(".py") {
                Some((f.clone(), FileKind::Python))
            } else if name.contains("requirement") {
                Some((f.clone(), FileKind::Requirements))
            } else {
                None
            }
        })
        .collect();
    if runs && decided.iter().any(|d| !d.1) {
        job.note(format!(
            "whether ModelScope imports this repo depends on the installed version ({}): the versions that do are assumed",
            if known.set.is_any() {
                "modelscope not declared".to_string()
            } else {
                format!("modelscope {}", known.range_text())
            }
        ));
    }
    if runs && !flag && (owner_path || owner_meta) {
        job.note(format!(
            "owner {owner} is trusted by ModelScope: remote code runs without trust_remote_code"
        ));
    }
    if runs {
        let why = if allow_remote && !flag {
            "configuration.json allow_remote"
        } else {
            "trust_remote_code"
        };
        for (f, kind) in files {
            let what = match kind {
                FileKind::Requirements => format!("pip-installed ({why})"),
                _ => format!("imported ({why})"),
            };
            job.add_file(&snap, &f, kind, what).await?;
        }
    } else if decided.iter().any(|d| d.2) {
        job.set_refused();
        job.note(format!(
            "configuration.json allow_remote: true, refused by this call (trust_remote_code is false or not given): {} files not fetched",
            files.len()
        ));
    }
    job.pickle_weights(&snap).await?;
    Ok(Outcome::Done)
}

/// `FilesAstScanning._traversal_files`: every name starting with `__` other
/// than `__init__.py` and every name ending in `.json` or `.md` is skipped,
/// folders included; then `.py` files are imported and files whose name
/// contains `requirement` (case-sensitive) are pip-installed
/// (`utils/ast_utils.py:455-469`, modelscope 1.40.2).
fn modelscope_imports(path: &str) -> bool {
    path.split('/').all(|p| {
        (!p.starts_with("__") || p == "__init__.py") && !p.ends_with(".json") && !p.ends_with(".md")
    })
}

fn transformers_segments_last(api: &str) -> Option<&str> {
    api.rsplit('.').next()
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
        assert!(!modelscope_imports("notes.md"));
        assert!(!modelscope_imports("cfg.json/x.py"));
    }
}
