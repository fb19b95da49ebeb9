//! PaddleHub: `Module(name=..., version=...)` imports the module archive's
//! `{name}/__init__.py` and `{name}/module.py` (and what they import) and
//! pip-installs its `requirements.txt`, with no trust gate; paddle `hub.load`
//! runs a GitHub `hubconf.py` like torch.hub, with `main` as default and no gate.

use super::closure::{Style, closure};
use super::torch_hub::{self, Hubconf};
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::model::{FileKind, HubKind, RepoType};

/// paddle `hub.load/list/help`: paddle uses `main` for GitHub with no detection.
pub(crate) async fn hubconf<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    torch_hub::hubconf(
        job,
        Hubconf {
            default_ref: Some("main"),
            trust_repo: false,
        },
    )
    .await
}

/// PaddleHub `Module(name=..., version=...)`: the module archive's
/// `{name}/__init__.py` and `{name}/module.py`, what they import, and the
/// `requirements.txt` it pip-installs. There is no trust gate.
pub(crate) async fn module<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let Some(name) = site.repo_id.clone() else {
        return Err(ResolveError::NotStatic("module name"));
    };
    let version = site.args.get("version").cloned().or(site.revision.clone());
    let snap = job
        .primary(
            HubKind::Paddlehub,
            RepoType::Module,
            &name,
            version.as_deref(),
        )
        .await?;
    let mut entries = Vec::new();
    for dir in [name.as_str(), ""] {
        for f in ["__init__.py", "module.py"] {
            let p = if dir.is_empty() {
                f.to_string()
            } else {
                format!("{dir}/{f}")
            };
            if snap.has(&p) {
                entries.push((p, format!("PaddleHub module {f} (imported on load)")));
            }
        }
        if !entries.is_empty() {
            let req = if dir.is_empty() {
                "requirements.txt".to_string()
            } else {
                format!("{dir}/requirements.txt")
            };
            if snap.has(&req) {
                job.add_file(
                    &snap,
                    &req,
                    FileKind::Requirements,
                    "pip-installed by PaddleHub".into(),
                )
                .await?;
            }
            break;
        }
    }
    if entries.is_empty() {
        if snap.files.iter().any(|f| f.ends_with("module_desc.pb")) {
            return Err(ResolveError::Unsupported(
                "legacy PaddleHub ModuleV1 archive (module_desc.pb): not resolved".to_string(),
            ));
        }
        return Err(ResolveError::Content(format!(
            "PaddleHub module {name} has neither {name}/module.py nor module.py"
        )));
    }
    closure(job, &snap, entries, Style::Python { root: "" }).await?;
    Ok(Outcome::Done)
}
