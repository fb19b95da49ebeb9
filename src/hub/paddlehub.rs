//! PaddleHub modules: the search API names a module version's archive URL; the
//! archive (tar, tar.gz/bz2/xz or zip, `archive.rs`) is streamed once to a file
//! (the disk cache, else the temp folder) and hashed on the way, then read
//! from there; its digest is the commit (`{version}+sha256:{hex}`).
//! Listed paths keep the module folder PaddleHub installs (`lac/module.py`).
//! No token is ever sent: the archive may live on any host.

use std::path::PathBuf;

use futures::future::BoxFuture;
use url::Url;

use super::archive::{self, Archive};
use super::checkpoint;
use super::http::{Limit, Req, status_error};
use super::validate::{
    MAX_ARCHIVE_DOWNLOAD_BYTES, MAX_CODE_FILE_BYTES, repo_id_segments, safe_component,
    validate_revision,
};
use super::{Hub, HubError, Listing, MirrorLayout, Net, Snapshot};
use crate::model::{HubKind, RepoType};

pub struct Paddlehub;

/// A release number (`2`, `1.0.0`) as `packaging` compares it: numeric
/// parts, trailing zeros ignored (`1.0 == 1.0.0`).
fn release(v: &str) -> Option<Vec<u64>> {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let mut parts = v
        .split('.')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    Some(parts)
}

/// `utils.Version(v).match(condition)`: `>=`, `>`, `<=`, `<`, `==`, `=` or a
/// bare version, compared as `packaging` versions, so `1.0` equals `1.0.0`; an
/// empty condition matches everything (`paddlehub/utils/utils.py:41-79`,
/// 2.4.0). Module versions are plain releases; a version with pre/post/dev
/// parts matches only itself, by text.
pub fn version_matches(version: &str, condition: Option<&str>) -> bool {
    let Some(cond) = condition.filter(|c| !c.is_empty()) else {
        return true;
    };
    let (op, want) = [">=", "<=", "==", ">", "<", "="]
        .iter()
        .find_map(|op| cond.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("==", cond));
    let (Some(have), Some(want_r)) = (release(version), release(want)) else {
        return matches!(op, "==" | "=") && version.trim() == want.trim();
    };
    let ord = have.cmp(&want_r);
    match op {
        ">=" => ord.is_ge(),
        ">" => ord.is_gt(),
        "<=" => ord.is_le(),
        "<" => ord.is_lt(),
        _ => ord.is_eq(),
    }
}

/// `convert_version`: `[1.5.4, 2.0.0]` -> `>=1.5.4`, `<=2.0.0`; a minimum
/// starting with `-` and a maximum of `99.0.0` are no limit
/// (`paddlehub/utils/utils.py:429-446`, 2.4.0). An empty field is no
/// condition (`server_source.py:93,98`).
pub fn convert_version(field: &str) -> Vec<String> {
    let v: String = field.chars().filter(|c| *c != ' ').collect();
    if v.is_empty() {
        return Vec::new();
    }
    let inner = v.get(1..v.len().saturating_sub(1)).unwrap_or("");
    let parts: Vec<&str> = inner.split(',').collect();
    let mut out = Vec::new();
    if let Some(min) = parts.first()
        && !min.starts_with('-')
    {
        out.push(format!(">={min}"));
    }
    if let Some(max) = parts.get(1)
        && *max != "99.0.0"
    {
        out.push(format!("<={max}"));
    }
    out
}

/// The version condition without its operator (what a mirror folder or a
/// cache key may be named after).
fn condition_version(cond: &str) -> &str {
    cond.trim_start_matches(['>', '<', '='])
}

/// The suffix of a requested revision that says the call passes
/// `ignore_env_mismatch=True` (`{condition}|ignore_env_mismatch`, or the
/// suffix alone for no condition): it decides the `/info` fallback.
pub const IGNORE_ENV_MISMATCH: &str = "|ignore_env_mismatch";

/// The version condition of a requested revision and whether it carries
/// [`IGNORE_ENV_MISMATCH`].
pub fn split_revision(rev: Option<&str>) -> (Option<&str>, bool) {
    match rev.and_then(|r| r.strip_suffix(IGNORE_ENV_MISMATCH)) {
        Some(cond) => (Some(cond).filter(|c| !c.is_empty()), true),
        None => (rev, false),
    }
}

/// `_install_from_name` after the search matched nothing
/// (`paddlehub/module/manager.py:267-300`, 2.4.0): `/info?name=` lists every
/// version with its URL (`server_source.py:110-124`); without
/// `ignore_env_mismatch` a version matching the condition raises
/// `EnvironmentMismatchError` (nothing is installed); with it, the exact
/// version asked for (a dict key, so `>=1.0` finds none) or the highest one.
async fn info_fallback(
    net: &Net,
    name: &str,
    version: Option<&str>,
    ignore_env: bool,
    what: &str,
) -> Result<serde_json::Value, HubError> {
    let hub = HubKind::Paddlehub;
    let mut u = net.url(hub, "info")?;
    u.query_pairs_mut().append_pair("name", name);
    let v: serde_json::Value = net.json(&net.request(hub, u), what).await?;
    let asked = version.map(|v| format!(" version {v}")).unwrap_or_default();
    let infos: Vec<&serde_json::Value> = if v["status"].as_i64() == Some(0) {
        v["data"]["info"].as_array().into_iter().flatten().collect()
    } else {
        Vec::new()
    };
    if infos.is_empty() {
        return Err(HubError::NotFound(format!("{what}{asked}")));
    }
    let valid: Vec<&serde_json::Value> = infos
        .into_iter()
        .filter(|i| {
            i["version"]
                .as_str()
                .is_some_and(|iv| version_matches(iv, version))
        })
        .collect();
    let versions = || {
        valid
            .iter()
            .filter_map(|i| i["version"].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if valid.is_empty() {
        return Err(HubError::NotFound(format!("{what}{asked}")));
    }
    if !ignore_env {
        return Err(HubError::NotFound(format!(
            "{what}{asked}: no search item fits the declared paddle/paddlehub; PaddleHub raises EnvironmentMismatchError (versions {} exist; ignore_env_mismatch=True installs one)",
            versions()
        )));
    }
    let pick = match version {
        Some(want) => valid
            .iter()
            .find(|i| i["version"].as_str() == Some(want))
            .copied(),
        None => valid
            .iter()
            .filter_map(|i| Some((release(i["version"].as_str()?)?, *i)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, i)| i),
    };
    let Some(pick) = pick else {
        return Err(HubError::NotFound(format!(
            "{what}{asked}: /info has versions {} but not this exact one",
            versions()
        )));
    };
    let mut item = pick.clone();
    item["name"] = serde_json::Value::String(name.to_string());
    Ok(item)
}

async fn listing(net: &Net, name: &str, rev: Option<&str>) -> Result<Listing, HubError> {
    let hub = HubKind::Paddlehub;
    let (version, ignore_env) = split_revision(rev);
    let what = format!("paddlehub module {name}");
    // A module version is immutable: an exact version found in the cache needs
    // no request at all (the archive is checked against its digest on read).
    let exact = version.filter(|v| !v.starts_with(['>', '<', '=']));
    if let Some(v) = exact
        && let Some(l) = cached(net, name, v, &what).await
    {
        return Ok(l);
    }
    let mut u = net.url(hub, "search")?;
    {
        // `search_resource` sends `version` only when one is given
        // (`paddlehub/server/server_source.py:68-87`, 2.4.0). `environments`,
        // `hub_version` and `paddle_version` describe the caller's machine and
        // are not sent: which modules the server then leaves out is unverified.
        let mut q = u.query_pairs_mut();
        q.append_pair("word", name).append_pair("type", "module");
        if let Some(v) = version {
            q.append_pair("version", v);
        }
    }
    let v: serde_json::Value = net.json(&net.request(hub, u), &what).await?;
    // A status other than 0 is no result, and the client goes on to `/info`
    // (`server_source.py:89-108`, `server/server.py:113-116`).
    let v = if v["status"].as_i64() == Some(0) {
        v
    } else {
        serde_json::Value::Null
    };
    // `_install_from_name`: the first item, in the server's order, whose name
    // matches case-insensitively and whose version matches the condition
    // (`paddlehub/module/manager.py:260-265`, 2.4.0), after the client drops
    // items whose `paddle_version`/`hub_version` exclude the installed
    // paddle/paddlehub (`server_source.py:89-107`): here the versions the
    // project declares (`HubOptions::paddle_env`; undeclared: any).
    let env = net.paddle_env();
    let found = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|it| {
            let Some(env) = env else {
                return true;
            };
            let conds = |k: &str| convert_version(it[k].as_str().unwrap_or(""));
            (env.0)(&conds("paddle_version"), &conds("hub_version"))
        })
        .find(|it| {
            it["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase() == name.to_lowercase())
                && it["version"]
                    .as_str()
                    .is_some_and(|iv| version_matches(iv, version))
        })
        .cloned();
    let item = match found {
        Some(it) => it,
        None => info_fallback(net, name, version, ignore_env, &what).await?,
    };
    let ver = item["version"]
        .as_str()
        .filter(|v| safe_component(v))
        .ok_or_else(|| HubError::Protocol(format!("{what}: bad version")))?;
    let aurl = item["url"]
        .as_str()
        .and_then(|s| Url::parse(s).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| HubError::Protocol(format!("{what}: bad archive url")))?;
    if let Some(l) = cached(net, name, ver, &what).await {
        return Ok(l);
    }
    // The archive may live on any host: send no token. It is streamed to a
    // file (in the cache when there is one) and hashed on the way, never held
    // whole in memory.
    let staged = net
        .cache()
        .and_then(|c| c.archive_staging(hub))
        .map(Ok)
        .unwrap_or_else(temp_staging)
        .map_err(|e| HubError::Protocol(format!("{what}: no place to download to: {e}")))?;
    let tmp = Staged(staged.clone());
    let resp = net
        .http()
        .get(
            &Req::new(aurl)
                .to_file(staged)
                .timeout(ARCHIVE_DOWNLOAD_TIMEOUT),
            Limit::Error(MAX_ARCHIVE_DOWNLOAD_BYTES),
        )
        .await?;
    if !resp.ok() {
        return Err(status_error(&resp, &format!("{what} archive")));
    }
    let sha = resp
        .file
        .map(|f| hex::encode(f.sha256))
        .ok_or_else(|| HubError::Protocol(format!("{what}: archive not downloaded")))?;
    let adopted = net
        .cache()
        .and_then(|c| c.adopt_archive(hub, &cache_key(name), ver, &sha, &tmp.0));
    match adopted {
        Some(path) => from_archive(net, name, ver, path, sha, &what).await,
        None => from_archive(net, name, ver, tmp.0.clone(), sha, &what).await,
    }
}

/// A fresh file name in the system temp folder (no disk cache).
fn temp_staging() -> std::io::Result<PathBuf> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    Ok(std::env::temp_dir().join(format!(
        "hubwarden-archive-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )))
}

/// Longest download of one archive (a silent connection still fails after
/// the client's read timeout): several GiB at a few MB/s.
const ARCHIVE_DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// A downloaded file not (yet) in the cache: removed when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        // Gone already when the cache adopted it.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Module names match case-insensitively (`manager.py:260-265`): one cache folder.
fn cache_key(name: &str) -> String {
    name.to_lowercase()
}

/// The listing of (module, version) from the disk cache's archive, if it has
/// one whose bytes match its digest. One that does not extract is reported and
/// downloaded again.
async fn cached(net: &Net, name: &str, version: &str, what: &str) -> Option<Listing> {
    let c = net.cache()?;
    let hit = c.get_archive(
        HubKind::Paddlehub,
        &cache_key(name),
        version,
        None,
        MAX_ARCHIVE_DOWNLOAD_BYTES,
    )?;
    match from_archive(net, name, version, hit.path, hit.sha256.clone(), what).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(
                "{what} {version}: cached archive {} cannot be read ({e}); downloading it again",
                hit.sha256
            );
            None
        }
    }
}

/// Extract a module archive file and list it; its digest (`sha256`, hex)
/// makes the commit.
async fn from_archive(
    net: &Net,
    name: &str,
    ver: &str,
    path: PathBuf,
    sha256: String,
    what: &str,
) -> Result<Listing, HubError> {
    let hub = HubKind::Paddlehub;
    let commit = format!("{ver}+sha256:{sha256}");
    let what_owned = what.to_string();
    let ar = tokio::task::spawn_blocking(move || archive::extract_file(&path))
        .await
        .map_err(|e| HubError::Protocol(format!("{what_owned}: {e}")))??;
    for d in &ar.dropped {
        tracing::warn!("{what} {ver}: archive member {d} is not listed");
    }
    let files = ar.files.keys().cloned().collect();
    net.keep(hub, name, &commit, ar);
    Ok(Listing {
        resolved_ref: ver.to_string(),
        commit,
        files,
    })
}

/// A member of the snapshot's module archive.
fn member(net: &Net, snap: &Snapshot, path: &str) -> Result<Vec<u8>, HubError> {
    let ar = net.kept::<Archive>(snap).ok_or_else(|| {
        HubError::Protocol(format!("module archive of {} not loaded", snap.repo_id))
    })?;
    match ar.files.get(path) {
        Some(Some(b)) => Ok(b.clone()),
        Some(None) => Err(HubError::Cap(format!(
            "{path} in module {} is over {MAX_CODE_FILE_BYTES} bytes",
            snap.repo_id
        ))),
        None => Err(HubError::NotFound(format!(
            "{path} in module {}",
            snap.repo_id
        ))),
    }
}

impl Hub for Paddlehub {
    fn kind(&self) -> HubKind {
        HubKind::Paddlehub
    }

    fn default_ref(&self) -> Option<&'static str> {
        None
    }

    fn default_endpoint(&self) -> &'static str {
        "http://paddlepaddle.org.cn/paddlehub"
    }

    fn endpoint_vars(&self) -> &'static [&'static str] {
        &["PADDLEHUB_SERVER"]
    }

    fn token_vars(&self) -> &'static [&'static str] {
        &[]
    }

    /// A bare module name.
    fn validate_repo_id(&self, id: &str) -> Result<(), HubError> {
        repo_id_segments(id, 1..=1)
    }

    /// A version, or a condition on one (`>=2.0`, `utils.Version.match`); the
    /// version in it is also a cache and mirror folder name.
    fn validate_revision(&self, rev: &str) -> Result<(), HubError> {
        validate_revision(rev)?;
        let (cond, _) = split_revision(Some(rev));
        if cond.is_some_and(|c| !safe_component(condition_version(c))) {
            return Err(HubError::Invalid(rev.to_string()));
        }
        Ok(())
    }

    /// An archive digest never changes; a mirror's `<version>+mirror` may.
    fn immutable(&self, commit: &str) -> bool {
        commit.contains("+sha256:")
    }

    fn mirror_dir(&self, _rt: RepoType) -> PathBuf {
        PathBuf::from("paddlehub").join("modules")
    }

    fn mirror_layout(&self) -> MirrorLayout {
        MirrorLayout::Versions
    }

    fn snapshot<'a>(
        &'a self,
        net: &'a Net,
        _rt: RepoType,
        repo: &'a str,
        rev: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Listing, HubError>> {
        Box::pin(listing(net, repo, rev))
    }

    fn file_request(&self, _net: &Net, _snap: &Snapshot, _path: &str) -> Result<Req, HubError> {
        Err(HubError::Protocol(
            "paddlehub files come from the archive".into(),
        ))
    }

    fn read<'a>(
        &'a self,
        net: &'a Net,
        snap: &'a Snapshot,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, HubError>> {
        Box::pin(async move { member(net, snap, path) })
    }

    fn read_pickle<'a>(
        &'a self,
        net: &'a Net,
        snap: &'a Snapshot,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, HubError>> {
        Box::pin(async move {
            let b = member(net, snap, path)?;
            checkpoint::read_pickle(&checkpoint::MemRange(&b)).await
        })
    }

    fn web_url(
        &self,
        _rt: RepoType,
        _repo: &str,
        _commit: &str,
        _file: &str,
        _line: Option<u32>,
    ) -> Option<String> {
        None
    }

    fn web_repo_url(&self, _rt: RepoType, _repo: &str, _at: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convert_version_as_paddlehub() {
        assert_eq!(convert_version("[1.5.4, 2.0.0]"), [">=1.5.4", "<=2.0.0"]);
        assert_eq!(convert_version("[-1.0.0, 99.0.0]"), Vec::<String>::new());
        assert_eq!(convert_version("[99.0.0, 99.0.0]"), [">=99.0.0"]);
        assert_eq!(convert_version(""), Vec::<String>::new());
        assert!(version_matches("1.0.0", Some("1.0")));
        assert!(version_matches("2.1.0", Some(">2")));
        assert!(!version_matches("2.0.0", Some("<2.0")));
        assert!(version_matches("1.0.0rc1", Some("==1.0.0rc1")));
        assert!(!version_matches("1.0.0rc1", Some(">=1.0.0")));
    }
}
