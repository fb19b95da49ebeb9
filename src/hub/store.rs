//! Local sources of repository files: the on-disk cache (written atomically,
//! keyed by hub/type/repo/commit/path), the offline mirror folder, and the
//! local Hugging Face cache. Symlinks never lead outside their root.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::hub::validate::{
    MAX_REPO_FILES, is_commit, is_sha256_hex, safe_component, validate_path,
};
use crate::hub::{Hub, HubError, Listing, MirrorLayout, Snapshot};
use crate::model::{HubKind, RepoType};

/// A cache/mirror folder component for a commit: itself when safe, else a hash
/// (PaddleHub commits contain `:`).
pub fn commit_component(commit: &str) -> String {
    if safe_component(commit) {
        commit.to_string()
    } else {
        format!("h-{}", hex::encode(Sha256::digest(commit.as_bytes())))
    }
}

fn repo_dir(base: &Path, repo_id: &str) -> Option<PathBuf> {
    let mut p = base.to_path_buf();
    for seg in repo_id.split('/') {
        if !safe_component(seg) {
            return None;
        }
        p.push(seg);
    }
    Some(p)
}

fn join_rel(base: &Path, rel: &str) -> Option<PathBuf> {
    validate_path(rel).ok()?;
    let mut p = base.to_path_buf();
    for seg in rel.split('/') {
        p.push(seg);
    }
    Some(p)
}

/// Read a regular file at most `max` bytes long; `None` when absent.
fn read_capped(path: &Path, max: u64) -> Result<Option<Vec<u8>>, HubError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(None),
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > max {
        return Err(HubError::Cap(format!(
            "{} is larger than {max} bytes",
            path.display()
        )));
    }
    fs::read(path)
        .map(Some)
        .map_err(|e| HubError::Network(format!("reading {}: {e}", path.display())))
}

/// `path` resolved is inside `root` resolved (no symlink escapes).
fn inside(root: &Path, path: &Path) -> bool {
    match (root.canonicalize(), path.canonicalize()) {
        (Ok(r), Ok(p)) => p.starts_with(r),
        _ => false,
    }
}

/// List the files under `dir` as sorted `/` paths. Symlinks are skipped unless
/// `follow_within` is given, then followed only when they stay inside it.
fn list_tree(dir: &Path, follow_within: Option<&Path>) -> Result<Vec<String>, HubError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new(), 0usize)];
    while let Some((d, prefix, depth)) = stack.pop() {
        if depth > crate::hub::validate::MAX_PATH_DEPTH {
            return Err(HubError::Cap(format!("{} nested too deep", d.display())));
        }
        let rd = fs::read_dir(&d)
            .map_err(|e| HubError::Network(format!("reading {}: {e}", d.display())))?;
        for ent in rd.flatten() {
            let Some(name) = ent.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let Ok(ft) = ent.file_type() else { continue };
            let path = ent.path();
            let (is_dir, is_file) = if ft.is_symlink() {
                match follow_within {
                    Some(root) if inside(root, &path) => {
                        let m = fs::metadata(&path).ok();
                        (
                            m.as_ref().is_some_and(|m| m.is_dir()),
                            m.as_ref().is_some_and(|m| m.is_file()),
                        )
                    }
                    _ => (false, false),
                }
            } else {
                (ft.is_dir(), ft.is_file())
            };
            if is_dir {
                stack.push((path, rel, depth + 1));
            } else if is_file && validate_path(&rel).is_ok() {
                out.push(rel);
                if out.len() > MAX_REPO_FILES {
                    return Err(HubError::Cap(format!(
                        "{} has more than {MAX_REPO_FILES} files",
                        dir.display()
                    )));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Write `bytes` to `path` via a temp file in the same folder and a rename, so
/// a reader never sees a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent folder"))?;
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// The bad cache entries met so far in this process, with what was wrong,
/// for the Action to annotate (a log line alone is easy to miss in a CI log).
/// Process-wide: every `DiskCache` of a run reads the one folder.
static BAD_ENTRIES: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// Say that the entry at `p` is not used, and why (the message names the fix).
fn bad_entry(p: &Path, msg: String) {
    tracing::warn!("{}: {msg}", p.display());
    if let Ok(mut v) = BAD_ENTRIES.lock() {
        v.push((p.to_path_buf(), msg));
    }
}

/// The bad cache entries met since the last call (path, message).
pub fn take_bad_entries() -> Vec<(PathBuf, String)> {
    BAD_ENTRIES
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

/// What the disk cache stores.
#[derive(Clone, Copy, Debug)]
pub enum Namespace {
    /// A file's bytes.
    File,
    /// The pickle stream extracted from a weights file.
    Pickle,
}

impl Namespace {
    fn dir(self) -> &'static str {
        match self {
            Namespace::File => "files",
            Namespace::Pickle => "pickle",
        }
    }

    /// What a refetch of a bad entry gets again (warnings).
    fn what(self) -> &'static str {
        match self {
            Namespace::File => "file",
            Namespace::Pickle => "pickle stream",
        }
    }
}

/// First word of every framed cache entry (`frame`).
const FRAME_MAGIC: &str = "hubwarden-cache";

/// A cache entry: one header line `hubwarden-cache <sha256 of the body> <key>`,
/// then the body. The digest is checked on every read, so a truncated,
/// corrupted or edited entry (a restored `actions/cache` folder is input too)
/// is refetched, never scanned in place of the real file; the key catches an
/// entry copied over another (a benign file's entry under a payload's path).
fn frame(key: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{FRAME_MAGIC} {} {key}\n",
        hex::encode(Sha256::digest(body))
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Why a framed entry is not used.
#[derive(Debug, PartialEq, Eq)]
enum BadEntry {
    /// No header, or a header of another key.
    Malformed(&'static str),
    /// The body does not hash to the header's digest.
    Mismatch { recorded: String, got: String },
}

/// The body of a framed entry of `key`, checked against its digest.
fn unframe(key: &str, bytes: Vec<u8>) -> Result<Vec<u8>, BadEntry> {
    let nl = memchr::memchr(b'\n', &bytes).ok_or(BadEntry::Malformed("no digest header"))?;
    let header =
        std::str::from_utf8(&bytes[..nl]).map_err(|_| BadEntry::Malformed("no digest header"))?;
    let mut parts = header.splitn(3, ' ');
    let (Some(FRAME_MAGIC), Some(digest), Some(k)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(BadEntry::Malformed("no digest header"));
    };
    // Written lowercase: anything else is not one of ours.
    if !is_sha256_hex(digest) || digest.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(BadEntry::Malformed("no digest header"));
    }
    if k != key {
        return Err(BadEntry::Malformed("the entry of another file"));
    }
    let body = &bytes[nl + 1..];
    let got = hex::encode(Sha256::digest(body));
    if got != digest {
        return Err(BadEntry::Mismatch {
            recorded: digest.to_string(),
            got,
        });
    }
    Ok(body.to_vec())
}

/// The on-disk cache: `<root>/v2/{files|pickle}/<hub>/<type>/<repo...>/<commit>/<path>`
/// and `<root>/v2/snapshots/<hub>/<type>/<repo...>/<commit>.json`, each a
/// framed entry (`frame`); module archives under `<root>/v1/archives/`, named
/// by their digest. (`v1` files and listings had no digest: they are not read.)
#[derive(Clone, Debug)]
pub struct DiskCache {
    root: PathBuf,
}

impl DiskCache {
    pub fn new(root: PathBuf) -> DiskCache {
        DiskCache { root }
    }

    fn repo_base(&self, ns: &str, hub: HubKind, rt: RepoType, repo: &str) -> Option<PathBuf> {
        repo_dir(
            &self
                .root
                .join("v2")
                .join(ns)
                .join(hub.as_str())
                .join(rt.as_str()),
            repo,
        )
    }

    fn file_path(&self, ns: Namespace, snap: &Snapshot, path: &str) -> Option<PathBuf> {
        let base = self
            .repo_base(ns.dir(), snap.hub, snap.repo_type, &snap.repo_id)?
            .join(commit_component(&snap.commit));
        join_rel(&base, path)
    }

    /// What an entry is the cache of, as its header records it.
    fn key(ns: &str, hub: HubKind, rt: RepoType, repo: &str, commit: &str, path: &str) -> String {
        format!(
            "{ns}/{}/{}/{repo}@{commit}:{path}",
            hub.as_str(),
            rt.as_str()
        )
    }

    /// The key a file entry records: `get` checks what `put` wrote.
    fn file_key(ns: Namespace, snap: &Snapshot, path: &str) -> String {
        Self::key(
            ns.dir(),
            snap.hub,
            snap.repo_type,
            &snap.repo_id,
            &snap.commit,
            path,
        )
    }

    /// The checked body of the framed entry at `p`; `None` when absent or bad
    /// (a bad entry is a warning naming it and the fix, and is removed: the
    /// caller fetches again and writes a good one).
    fn read_entry(p: &Path, key: &str, max: u64, what: &str) -> Option<Vec<u8>> {
        // The header is one short line: the body keeps its own cap.
        let cap = max.saturating_add(FRAME_MAGIC.len() as u64 + 67 + key.len() as u64);
        let bytes = match read_capped(p, cap) {
            Ok(b) => b?,
            Err(e) => {
                bad_entry(
                    p,
                    format!(
                        "cache entry not usable ({e}); ignored, the {what} is fetched again. Fix: delete it"
                    ),
                );
                return None;
            }
        };
        match unframe(key, bytes) {
            Ok(body) => Some(body),
            Err(BadEntry::Malformed(why)) => {
                bad_entry(
                    p,
                    format!(
                        "malformed cache entry ({why}); removed, the {what} is fetched again. Fix: delete it"
                    ),
                );
                let _ = fs::remove_file(p);
                None
            }
            Err(BadEntry::Mismatch { recorded, got }) => {
                bad_entry(
                    p,
                    format!(
                        "cache entry does not match its sha256 (recorded {recorded}, content hashes to {got}); removed, the {what} is fetched again"
                    ),
                );
                let _ = fs::remove_file(p);
                None
            }
        }
    }

    fn write_entry(p: &Path, key: &str, body: &[u8]) {
        if let Err(e) = write_atomic(p, &frame(key, body)) {
            tracing::warn!("cache write {}: {e}", p.display());
        }
    }

    /// The cached bytes of `path` at the snapshot's commit, if any (checked).
    pub fn get(&self, ns: Namespace, snap: &Snapshot, path: &str, max: u64) -> Option<Vec<u8>> {
        let p = self.file_path(ns, snap, path)?;
        let key = Self::file_key(ns, snap, path);
        Self::read_entry(&p, &key, max, ns.what())
    }

    /// Store `bytes` as `path` at the snapshot's commit (a failed write only warns).
    pub fn put(&self, ns: Namespace, snap: &Snapshot, path: &str, bytes: &[u8]) {
        let Some(p) = self.file_path(ns, snap, path) else {
            return;
        };
        let key = Self::file_key(ns, snap, path);
        Self::write_entry(&p, &key, bytes);
    }

    fn snap_path(&self, hub: HubKind, rt: RepoType, repo: &str, commit: &str) -> Option<PathBuf> {
        if !is_commit(commit) {
            return None;
        }
        Some(
            self.repo_base("snapshots", hub, rt, repo)?
                .join(format!("{}.json", commit.to_ascii_lowercase())),
        )
    }

    /// The file list of a repo at a 40-hex commit, if cached (checked: a
    /// listing with a file taken out would hide that file from the scan).
    pub fn get_listing(
        &self,
        hub: HubKind,
        rt: RepoType,
        repo: &str,
        commit: &str,
    ) -> Option<Vec<String>> {
        let p = self.snap_path(hub, rt, repo, commit)?;
        let key = Self::key("snapshots", hub, rt, repo, &commit.to_ascii_lowercase(), "");
        let bytes = Self::read_entry(
            &p,
            &key,
            crate::hub::validate::MAX_API_JSON_BYTES,
            "listing",
        )?;
        let mut files: Vec<String> = match serde_json::from_slice(&bytes) {
            Ok(f) => f,
            Err(e) => {
                // Never a silent pass: the listing is asked for again, and said.
                tracing::warn!(
                    "{}: malformed cache entry ({e}); ignored, the listing is fetched again. Fix: delete it",
                    p.display()
                );
                return None;
            }
        };
        // `Snapshot::has` binary-searches; never trust the file's order.
        files.retain(|p| validate_path(p).is_ok());
        files.sort();
        files.dedup();
        Some(files)
    }

    pub fn put_listing(
        &self,
        hub: HubKind,
        rt: RepoType,
        repo: &str,
        commit: &str,
        files: &[String],
    ) {
        let Some(p) = self.snap_path(hub, rt, repo, commit) else {
            return;
        };
        let key = Self::key("snapshots", hub, rt, repo, &commit.to_ascii_lowercase(), "");
        match serde_json::to_vec(files) {
            Ok(bytes) => Self::write_entry(&p, &key, &bytes),
            Err(e) => tracing::warn!("cache encode: {e}"),
        }
    }
}

/// A module archive found in the cache: its file and the SHA-256 (hex) its
/// bytes hash to (checked by streaming the file, never held in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedArchive {
    pub sha256: String,
    pub path: PathBuf,
}

/// SHA-256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            return Ok(hex::encode(h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// A fresh `.tmp-` file name in `dir` (created), for a download in progress.
fn staging_path(dir: &Path) -> std::io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    Ok(dir.join(format!(
        ".tmp-{}-{}-archive",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )))
}

impl DiskCache {
    /// `<root>/v1/archives/<hub>/<module>/<version>/`: one `<sha256>.archive` per
    /// archive seen for that version (a version is immutable on the hub, so
    /// there is one; the name is the digest the commit names).
    fn archive_dir(&self, hub: HubKind, module: &str, version: &str) -> Option<PathBuf> {
        if !safe_component(version) {
            return None;
        }
        Some(
            repo_dir(
                &self.root.join("v1").join("archives").join(hub.as_str()),
                module,
            )?
            .join(version),
        )
    }

    /// The cached archive of (module, version), checked against the SHA-256 its
    /// file name records. An entry whose bytes do not hash to its name, or whose
    /// name is not a digest, is reported, removed and not used (the caller
    /// downloads again); several valid entries (the hub changed the archive of
    /// a version) are not used either. `want` narrows to one digest.
    pub fn get_archive(
        &self,
        hub: HubKind,
        module: &str,
        version: &str,
        want: Option<&str>,
        max: u64,
    ) -> Option<CachedArchive> {
        let dir = self.archive_dir(hub, module, version)?;
        let entries = fs::read_dir(&dir).ok()?;
        let mut found: Vec<CachedArchive> = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                continue;
            }
            let path = e.path();
            // Written lowercase: any other name is not one of ours.
            let digest = name
                .strip_suffix(".archive")
                .filter(|d| is_sha256_hex(d) && !d.bytes().any(|b| b.is_ascii_uppercase()));
            let Some(digest) = digest else {
                bad_entry(
                    &path,
                    "malformed cache entry (expected <sha256>.archive); ignored, the archive is downloaded again. Fix: delete it".into(),
                );
                continue;
            };
            if want.is_some_and(|w| !w.eq_ignore_ascii_case(digest)) {
                continue;
            }
            let usable = match fs::metadata(&path) {
                Ok(m) if !m.is_file() => continue,
                Ok(m) if m.len() > max => Err(format!("larger than {max} bytes")),
                Ok(_) => sha256_file(&path).map_err(|e| e.to_string()),
                Err(_) => continue,
            };
            let got = match usable {
                Ok(g) => g,
                Err(err) => {
                    tracing::warn!(
                        "{}: cache entry not usable ({err}); the archive is downloaded again",
                        path.display()
                    );
                    continue;
                }
            };
            if got != digest {
                bad_entry(
                    &path,
                    format!(
                        "cache entry does not match its sha256 (content hashes to {got}); removed, the archive is downloaded again"
                    ),
                );
                let _ = fs::remove_file(&path);
                continue;
            }
            found.push(CachedArchive { sha256: got, path });
        }
        if found.len() > 1 {
            tracing::warn!(
                "{}: {} different archives cached for one version; not used, downloaded again",
                dir.display(),
                found.len()
            );
            return None;
        }
        found.pop()
    }

    /// Where a download of an archive is streamed to before its digest is
    /// known: a `.tmp-` file in the cache's archive folder (skipped by
    /// `get_archive`; on the cache's own disk, so adopting it is a rename).
    pub fn archive_staging(&self, hub: HubKind) -> Option<PathBuf> {
        let dir = self.root.join("v1").join("archives").join(hub.as_str());
        staging_path(&dir)
            .map_err(|e| tracing::warn!("cache staging in {}: {e}", dir.display()))
            .ok()
    }

    /// Move a streamed download into place as (module, version, `sha256`);
    /// the path it now has, or None (the file is then left where it was).
    pub fn adopt_archive(
        &self,
        hub: HubKind,
        module: &str,
        version: &str,
        sha256: &str,
        tmp: &Path,
    ) -> Option<PathBuf> {
        let dir = self.archive_dir(hub, module, version)?;
        let p = dir.join(format!("{sha256}.archive"));
        match fs::create_dir_all(&dir).and_then(|()| fs::rename(tmp, &p)) {
            Ok(()) => Some(p),
            Err(e) => {
                tracing::warn!("cache write {}: {e}", p.display());
                None
            }
        }
    }
}

/// The offline mirror (README "Offline mirror"):
///
/// ```text
/// huggingface/{models|datasets|spaces}/<owner>/<name>/refs.json   {"main": "<40 hex>", ...}
/// huggingface/{models|datasets|spaces}/<owner>/<name>/<40 hex>/<files>
/// modelscope/models/<owner>/<name>/...        (same shape; default ref "master")
/// opencsg/models/<owner>/<name>/...           (same shape)
/// github/<owner>/<name>/...                   (same shape; default "main" if in refs.json, else "master")
/// paddlehub/modules/<name>/<version>/<files>  (the unpacked module; commit "<version>+mirror",
///                                              default: the highest version)
/// ```
///
/// A revision is a `refs.json` key or a 40-hex commit folder. Symlinks in the
/// mirror are neither listed nor read.
pub struct Mirror {
    root: PathBuf,
}

/// Compare dotted versions numerically where possible.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split(['.', '-', '+'])
            .map(|p| (p.parse::<u64>().unwrap_or(0), p.to_string()))
            .collect()
    };
    parts(a).cmp(&parts(b))
}

impl Mirror {
    pub fn new(root: PathBuf) -> Mirror {
        Mirror { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder holding a repo, whether or not it exists.
    pub fn repo_folder(&self, hub: &dyn Hub, rt: RepoType, repo: &str) -> Option<PathBuf> {
        repo_dir(&self.root.join(hub.mirror_dir(rt)), repo)
    }

    /// `None` when the mirror does not have the repo at all.
    pub fn snapshot(
        &self,
        hub: &dyn Hub,
        rt: RepoType,
        repo: &str,
        rev: Option<&str>,
    ) -> Option<Result<Listing, HubError>> {
        let dir = self.repo_folder(hub, rt, repo)?;
        if !dir.is_dir() {
            return None;
        }
        Some(match hub.mirror_layout() {
            MirrorLayout::Versions => self.versions_snapshot(&dir, repo, rev),
            MirrorLayout::Git => self.git_snapshot(&dir, hub, repo, rev),
        })
    }

    fn versions_snapshot(
        &self,
        dir: &Path,
        repo: &str,
        rev: Option<&str>,
    ) -> Result<Listing, HubError> {
        // A mirror holds what is installable: `ignore_env_mismatch` changes nothing.
        let (rev, _) = crate::hub::paddlehub::split_revision(rev);
        let version = match rev {
            Some(v) if dir.join(v).is_dir() || !v.starts_with(['>', '<', '=']) => v.to_string(),
            // A condition (`>=2.0`): the highest version folder it matches, as
            // PaddleHub's `utils.Version.match` reads it.
            Some(cond) => {
                let mut vs: Vec<String> = fs::read_dir(dir)
                    .map_err(|e| HubError::Network(format!("{}: {e}", dir.display())))?
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .filter(|v| crate::hub::paddlehub::version_matches(v, Some(cond)))
                    .collect();
                vs.sort_by(|a, b| version_cmp(a, b));
                vs.pop().ok_or_else(|| {
                    HubError::NotFound(format!("module {repo} version {cond} in mirror"))
                })?
            }
            None => {
                let mut vs: Vec<String> = fs::read_dir(dir)
                    .map_err(|e| HubError::Network(format!("{}: {e}", dir.display())))?
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect();
                vs.sort_by(|a, b| version_cmp(a, b));
                vs.pop()
                    .ok_or_else(|| HubError::NotFound(format!("module {repo} in mirror")))?
            }
        };
        if !safe_component(&version) || !dir.join(&version).is_dir() {
            return Err(HubError::NotFound(format!(
                "module {repo} version {version} in mirror"
            )));
        }
        Ok(Listing {
            files: list_tree(&dir.join(&version), None)?,
            resolved_ref: version.clone(),
            commit: format!("{version}+mirror"),
        })
    }

    fn git_snapshot(
        &self,
        dir: &Path,
        hub: &dyn Hub,
        repo: &str,
        rev: Option<&str>,
    ) -> Result<Listing, HubError> {
        let refs: BTreeMap<String, String> = match fs::read(dir.join("refs.json")) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| HubError::Protocol(format!("{}/refs.json: {e}", dir.display())))?,
            Err(_) => BTreeMap::new(),
        };
        let (resolved_ref, commit) = match rev {
            Some(r) if is_commit(r) => (r.to_string(), r.to_ascii_lowercase()),
            Some(r) => match refs.get(r) {
                Some(c) => (r.to_string(), c.clone()),
                None => {
                    return Err(HubError::NotFound(format!(
                        "revision {r} of {repo} in mirror"
                    )));
                }
            },
            None => {
                // A hub that picks its default itself: `main` if the mirror
                // has it, else `master` (as GitHub's default branch detection).
                let want = hub.default_ref().unwrap_or(if refs.contains_key("main") {
                    "main"
                } else {
                    "master"
                });
                match refs.get(want) {
                    Some(c) => (want.to_string(), c.clone()),
                    None => {
                        return Err(HubError::NotFound(format!(
                            "revision {want} of {repo} in mirror"
                        )));
                    }
                }
            }
        };
        if !is_commit(&commit) {
            return Err(HubError::Protocol(format!(
                "mirror refs.json of {repo}: {commit:?} is not a commit"
            )));
        }
        let cdir = dir.join(&commit);
        if !cdir.is_dir() {
            return Err(HubError::NotFound(format!(
                "commit {commit} of {repo} in mirror"
            )));
        }
        Ok(Listing {
            files: list_tree(&cdir, None)?,
            resolved_ref,
            commit,
        })
    }

    /// The path of a file at a commit, if the mirror has the repo.
    fn file_path(
        &self,
        hub: &dyn Hub,
        rt: RepoType,
        repo: &str,
        commit: &str,
        path: &str,
    ) -> Option<PathBuf> {
        let dir = self.repo_folder(hub, rt, repo)?;
        let cdir = match hub.mirror_layout() {
            MirrorLayout::Versions => dir.join(commit.strip_suffix("+mirror")?),
            MirrorLayout::Git => {
                if !is_commit(commit) {
                    return None;
                }
                dir.join(commit)
            }
        };
        let p = join_rel(&cdir, path)?;
        // No symlinks: a mirror file must be a plain file inside the mirror.
        let meta = fs::symlink_metadata(&p).ok()?;
        (meta.is_file() && inside(&self.root, &p)).then_some(p)
    }

    pub fn read(
        &self,
        hub: &dyn Hub,
        rt: RepoType,
        repo: &str,
        commit: &str,
        path: &str,
        max: u64,
    ) -> Option<Result<Vec<u8>, HubError>> {
        let p = self.file_path(hub, rt, repo, commit, path)?;
        read_capped(&p, max).transpose()
    }

    pub fn local_path(
        &self,
        hub: &dyn Hub,
        rt: RepoType,
        repo: &str,
        commit: &str,
        path: &str,
    ) -> Option<PathBuf> {
        self.file_path(hub, rt, repo, commit, path)
    }
}

/// The local Hugging Face cache (`HF_HUB_CACHE`): `models--owner--name/refs/<ref>`
/// holds a commit, `snapshots/<commit>/<files>` (symlinks into `blobs/`).
pub struct HfCache {
    root: PathBuf,
}

impl HfCache {
    pub fn new(root: PathBuf) -> HfCache {
        HfCache { root }
    }

    fn repo_folder(&self, rt: RepoType, repo: &str) -> Option<PathBuf> {
        if !repo.split('/').all(safe_component) {
            return None;
        }
        let kind = match rt {
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
            _ => "models",
        };
        Some(
            self.root
                .join(format!("{kind}--{}", repo.replace('/', "--"))),
        )
    }

    /// Resolve and list; `None` when the cache lacks the repo or revision. The
    /// listing holds only the files that were downloaded.
    pub fn snapshot(
        &self,
        rt: RepoType,
        repo: &str,
        rev: Option<&str>,
    ) -> Option<Result<Listing, HubError>> {
        let dir = self.repo_folder(rt, repo)?;
        let want = rev.unwrap_or("main");
        let commit = if is_commit(want) {
            want.to_ascii_lowercase()
        } else {
            if !want.split('/').all(safe_component) {
                return None;
            }
            let p = want.split('/').fold(dir.join("refs"), |p, s| p.join(s));
            let c = fs::read_to_string(p).ok()?.trim().to_string();
            if !is_commit(&c) {
                return None;
            }
            c
        };
        let sdir = dir.join("snapshots").join(&commit);
        if !sdir.is_dir() {
            return None;
        }
        Some(list_tree(&sdir, Some(&dir)).map(|files| Listing {
            resolved_ref: want.to_string(),
            commit,
            files,
        }))
    }

    pub fn local_path(
        &self,
        rt: RepoType,
        repo: &str,
        commit: &str,
        path: &str,
    ) -> Option<PathBuf> {
        if !is_commit(commit) {
            return None;
        }
        let dir = self.repo_folder(rt, repo)?;
        let p = join_rel(&dir.join("snapshots").join(commit), path)?;
        // Snapshot files are symlinks into blobs/: follow them only inside the repo folder.
        (p.is_file() && inside(&dir, &p)).then_some(p)
    }

    pub fn read(
        &self,
        rt: RepoType,
        repo: &str,
        commit: &str,
        path: &str,
        max: u64,
    ) -> Option<Result<Vec<u8>, HubError>> {
        let p = self.local_path(rt, repo, commit, path)?;
        read_capped(&p, max).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_entries_check_their_digest_and_key() {
        let key = "files/huggingface/model/a/b@0123:modeling.py";
        let body = b"import os\n\nx = 1\n".to_vec();
        let framed = frame(key, &body);
        assert_eq!(unframe(key, framed.clone()), Ok(body.clone()));
        // An empty body is a valid entry.
        assert_eq!(unframe(key, frame(key, b"")), Ok(Vec::new()));

        // One byte changed, appended or cut: the digest no longer matches.
        let mut flipped = framed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let mut longer = framed.clone();
        longer.extend_from_slice(b"os.system('true')\n");
        let shorter = framed[..framed.len() - 3].to_vec();
        for bad in [flipped, longer, shorter] {
            assert!(
                matches!(unframe(key, bad), Err(BadEntry::Mismatch { .. })),
                "a changed body is refused"
            );
        }
        // Another file's good entry under this key.
        assert_eq!(
            unframe(
                key,
                frame("files/huggingface/model/a/b@0123:other.py", &body)
            ),
            Err(BadEntry::Malformed("the entry of another file"))
        );
        // Raw bytes (a `v1` entry), a header cut short, a digest in capitals.
        let upper = String::from_utf8(framed.clone()).unwrap().replacen(
            &hex::encode(Sha256::digest(&body)),
            &hex::encode(Sha256::digest(&body)).to_uppercase(),
            1,
        );
        for bad in [
            body.clone(),
            b"hubwarden-cache abc".to_vec(),
            format!("{FRAME_MAGIC} {}\n", "0".repeat(64)).into_bytes(),
            upper.into_bytes(),
            Vec::new(),
        ] {
            assert_eq!(
                unframe(key, bad.clone()),
                Err(BadEntry::Malformed("no digest header")),
                "{:?}",
                String::from_utf8_lossy(&bad)
            );
        }
    }

    #[test]
    fn a_bad_entry_is_removed_and_a_good_one_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf());
        let snap = Snapshot {
            hub: HubKind::Huggingface,
            repo_type: RepoType::Model,
            repo_id: "acme/m".into(),
            requested: None,
            resolved_ref: "main".into(),
            commit: "a".repeat(40),
            files: vec!["modeling.py".into()],
        };
        cache.put(Namespace::File, &snap, "modeling.py", b"x = 1\n");
        assert_eq!(
            cache.get(Namespace::File, &snap, "modeling.py", 1 << 20),
            Some(b"x = 1\n".to_vec())
        );
        // The body's cap holds whatever the header's length.
        assert_eq!(
            cache
                .get(Namespace::File, &snap, "modeling.py", 6)
                .as_deref(),
            Some(&b"x = 1\n"[..])
        );
        assert_eq!(cache.get(Namespace::File, &snap, "modeling.py", 5), None);
        let p = cache
            .file_path(Namespace::File, &snap, "modeling.py")
            .unwrap();
        let mut bytes = fs::read(&p).unwrap();
        bytes.extend_from_slice(b"y = 2\n");
        fs::write(&p, &bytes).unwrap();
        assert_eq!(
            cache.get(Namespace::File, &snap, "modeling.py", 1 << 20),
            None
        );
        assert!(!p.exists(), "a mismatching entry is removed");
        // The same bytes under the pickle namespace are another entry.
        cache.put(Namespace::File, &snap, "modeling.py", b"x = 1\n");
        let q = cache
            .file_path(Namespace::Pickle, &snap, "modeling.py")
            .unwrap();
        fs::create_dir_all(q.parent().unwrap()).unwrap();
        fs::copy(&p, &q).unwrap();
        assert_eq!(
            cache.get(Namespace::Pickle, &snap, "modeling.py", 1 << 20),
            None
        );

        let files = vec!["a.py".to_string(), "b.bin".to_string()];
        let commit = "b".repeat(40);
        cache.put_listing(
            HubKind::Huggingface,
            RepoType::Model,
            "acme/m",
            &commit,
            &files,
        );
        assert_eq!(
            cache.get_listing(HubKind::Huggingface, RepoType::Model, "acme/m", &commit),
            Some(files)
        );
        // A listing with a file taken out is not read.
        let lp = cache
            .snap_path(HubKind::Huggingface, RepoType::Model, "acme/m", &commit)
            .unwrap();
        let text = String::from_utf8(fs::read(&lp).unwrap()).unwrap();
        fs::write(&lp, text.replace(",\"b.bin\"", "")).unwrap();
        assert_eq!(
            cache.get_listing(HubKind::Huggingface, RepoType::Model, "acme/m", &commit),
            None
        );
    }
}
