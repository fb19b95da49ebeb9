//! torch.hub `load/list/help` (and, with other defaults, paddle `hub.load`):
//! `hubconf.py` at a GitHub commit and the repo-local modules it imports,
//! transitively; `trust_repo` and torch.hub's trusted owners.

use super::closure::{Style, closure};
use super::gate;
use super::pyimports::Root;
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::model::{HubKind, RepoType};

/// torch.hub `_TRUSTED_REPO_OWNERS`.
const TORCH_TRUSTED_OWNERS: [&str; 4] = [
    "facebookresearch",
    "facebookincubator",
    "pytorch",
    "fairinternal",
];

/// What differs between the libraries that run a GitHub `hubconf.py`.
#[derive(Clone, Copy)]
pub(crate) struct Hubconf {
    /// The ref read when the call names none (None: `main` if it exists, else `master`).
    pub(crate) default_ref: Option<&'static str>,
    /// The library has torch.hub's `trust_repo` gate and trusted owners.
    pub(crate) trust_repo: bool,
}

/// `torch.hub.load/list/help`.
pub(crate) async fn resolve<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    hubconf(
        job,
        Hubconf {
            default_ref: None,
            trust_repo: true,
        },
    )
    .await
}

/// torch.hub `load/list/help` and paddle `hub.load/list/help`: `hubconf.py`
/// and the repo-local modules it imports, transitively.
pub(crate) async fn hubconf<S: RepoSource>(
    job: &mut Job<'_, S>,
    rules: Hubconf,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let source = site
        .args
        .get("source")
        .map(String::as_str)
        .unwrap_or("github");
    match source {
        "local" => {
            job.note("source=\"local\": the code is local, nothing remote runs");
            return Ok(Outcome::Done);
        }
        "github" => {}
        other => {
            return Err(ResolveError::Unsupported(format!(
                "hub source {other:?} is not supported"
            )));
        }
    }
    let Some(raw) = site.repo_id.clone() else {
        return Err(ResolveError::no_repo_id());
    };
    let (repo, suffix) = match raw.split_once(':') {
        Some((r, s)) => (r.to_string(), Some(s.to_string())),
        None => (raw.clone(), None),
    };
    if repo.split('/').count() != 2 {
        return Err(ResolveError::Argument(format!(
            "{raw:?} is not owner/name[:ref]"
        )));
    }
    let rev = site
        .revision
        .clone()
        .or(suffix)
        .or(rules.default_ref.map(str::to_string));
    let snap = job
        .primary(HubKind::Github, RepoType::Github, &repo, rev.as_deref())
        .await?;
    if rules.trust_repo {
        let owner = repo.split('/').next().unwrap_or("");
        let trusted = TORCH_TRUSTED_OWNERS.contains(&owner);
        let mut gate = site.gate.as_str();
        if matches!(gate, "absent" | "None") {
            // torch 2.11 made trust_repo default to "check" (pytorch PR #174101):
            // only when every declared torch is 2.11+ does the default prompt;
            // otherwise the worst case (an older torch warns and runs) holds.
            let d = job
                .opts
                .declared
                .versions(&site.path)
                .decide(&crate::deps::rules::TORCH_HUB_TRUST_CHECK);
            job.assume(d.assumed.clone());
            if d.applies == crate::deps::rules::Applies::Always {
                gate = "check";
            }
        }
        match gate {
            "false" | "False" => {
                job.set_refused();
                job.note(gate::TORCH_PROMPT);
            }
            "check" if !trusted => {
                job.set_refused();
                job.note(gate::TORCH_PROMPT);
            }
            "check" => job.note(format!("owner {owner} is trusted by torch.hub")),
            "absent" | "None" => job.note(
                "trust_repo not given: torch.hub before 2.11 warns and runs hubconf.py (2.11+ asks; the declared torch range reaches older releases)",
            ),
            _ => {}
        }
    }
    if !snap.has("hubconf.py") {
        job.note(format!(
            "{}@{} has no hubconf.py: the load fails",
            snap.repo_id, snap.commit
        ));
        return Ok(Outcome::Done);
    }
    closure(
        job,
        &snap,
        vec![("hubconf.py".into(), "hubconf.py (executed on load)".into())],
        Style::Python {
            roots: &[Root::Dir("")],
        },
    )
    .await?;
    Ok(Outcome::Done)
}
