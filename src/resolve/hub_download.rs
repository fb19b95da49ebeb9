//! Downloads (huggingface_hub `snapshot_download`/`hf_hub_download`, ModelScope
//! `snapshot_download`/`model_file_download`, pycsghub `snapshot_download`):
//! nothing runs; pickle weights are listed because whoever loads them later
//! unpickles them.

use super::{Job, Outcome, ResolveError, is_pickle_weight};
use crate::hub::RepoSource;
use crate::model::{FileKind, HubKind, Platform, RepoType};

/// huggingface_hub / ModelScope / pycsghub downloads: nothing runs; pickle
/// weights are listed because whoever loads them later unpickles them.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    // huggingface_hub leaves the default ref to the server; the ModelScope and
    // pycsghub wrappers ask for their hub's default branch by name.
    let default_rev = match site.platform {
        Platform::Huggingface => None,
        _ => crate::hub::get(hub).default_ref(),
    };
    let rev = o.revision.clone().or(default_rev.map(str::to_string));
    let repo_type = match site.repo_type {
        RepoType::Dataset | RepoType::Space => site.repo_type,
        _ => RepoType::Model,
    };
    let snap = job
        .primary(o.hub, repo_type, &o.repo_id, rev.as_deref())
        .await?;
    job.note("download only: this call executes nothing; pickle weights are listed because loading them later unpickles them");
    match site.args.get("filename") {
        Some(f) if site.api.contains("hf_hub_download") || site.api.contains("file_download") => {
            let f = match site.args.get("subfolder") {
                Some(sub) => format!("{}/{f}", sub.trim_end_matches('/')),
                None => f.clone(),
            };
            if is_pickle_weight(&f) && snap.has(&f) {
                job.acc_pickle();
                job.add_file(
                    &snap,
                    &f,
                    FileKind::Pickle,
                    "downloaded pickle weights".into(),
                )
                .await?;
            }
        }
        _ => job.pickle_weights(&snap).await?,
    }
    Ok(Outcome::DownloadOnly)
}
