//! OpenMMLab `Config.fromfile`: the config and the checkpoints it names come
//! from installed packages and metafile URLs, so the load is not resolved
//! (reported unverified, never passed).

use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;

pub(crate) async fn resolve<S: RepoSource>(_job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    Err(ResolveError::Unsupported(
        "OpenMMLab loads are not resolved (configs and checkpoints come from installed packages and metafile URLs)"
            .to_string(),
    ))
}
