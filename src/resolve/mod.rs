//! Resolve: which remote files a load would execute, at an exact commit.
//!
//! Each `LoadSite` becomes one `Target`: the repository the call names, resolved
//! to an immutable commit through a `RepoSource`, plus every remote file the
//! library would execute (or unpickle) with its bytes. The per-library rules
//! (transformers `auto_map`, datasets scripts, diffusers community pipelines,
//! torch.hub `hubconf.py`, ModelScope `allow_remote`, PaddleHub modules) live in
//! the submodules; they reproduce the libraries' own rules, quirks included
//! (see `reference/hub-platforms.md`). Nothing fetched is ever executed.

pub mod escalation;
mod hf;
mod others;
mod pyimports;

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::stream::{self, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::hub::{HubError, RepoSource, Snapshot};
use crate::model::{
    FileKind, HubKind, LoadSite, Platform, RemoteFile, RepoType, Target, TargetStatus,
};

/// Assumptions about the user's installed libraries, and the resolver's caps.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    /// Deepest chain of imports followed from an entry file (a cap: over it the
    /// target is unverified).
    pub max_import_depth: usize,
    /// Most files (code + pickles) one target may list (a cap).
    pub max_files_per_target: usize,
    /// Distinct resolutions run at once. As many as the HTTP layer's request cap
    /// (32): a resolution mostly waits on requests, and a lower value splits the
    /// repos into waves (16 put issue 3's benchmark at 4.5x the chain bound).
    pub concurrency: usize,
    /// Installed transformers major version (5 = the 5.x rules; 4 adds the
    /// AutoTokenizer fallback to `config.json`).
    pub transformers_major: u32,
    /// Installed datasets major version: <=2 scripts run without asking, 3 asks
    /// (runs with `trust_remote_code=True`), >=4 rejects scripts.
    pub datasets_major: u32,
    /// Folder of `diffusers/community-pipelines-mirror` used when a community
    /// pipeline has no `custom_revision` (`main`, or `v<installed version>`).
    pub diffusers_community_ref: String,
    /// peft is installed, so transformers follows `adapter_config.json`.
    pub peft_installed: bool,
    /// The library versions the project declares above each call (`--assume` included).
    pub declared: Arc<crate::deps::Declared>,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            max_import_depth: 32,
            max_files_per_target: 500,
            concurrency: 32,
            transformers_major: 5,
            datasets_major: 3,
            diffusers_community_ref: "main".to_string(),
            peft_installed: true,
            declared: Arc::new(crate::deps::Declared::default()),
        }
    }
}

/// Resolve every call. The result has the same order and length as `calls`;
/// identical calls (same platform, api, repo, revision, gate and arguments) are
/// resolved once, and each (repo, revision) snapshot and (commit, path) read is
/// requested from `src` at most once per invocation.
pub async fn resolve_all<S: RepoSource>(
    src: &S,
    calls: &[LoadSite],
    opts: &ResolveOptions,
) -> Vec<Target> {
    let memo = Memo::new(src);
    let mut unique: Vec<usize> = Vec::new();
    let mut slot_of_key: HashMap<String, usize> = HashMap::new();
    let mut slot_of_call: Vec<usize> = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let key = work_key(call);
        let slot = *slot_of_key.entry(key).or_insert_with(|| {
            unique.push(i);
            unique.len() - 1
        });
        slot_of_call.push(slot);
    }
    let memo_ref = &memo;
    let mut results: Vec<Option<Target>> = vec![None; unique.len()];
    let mut done = stream::iter(unique.iter().copied().enumerate())
        .map(|(slot, i)| async move {
            let site = &calls[i];
            let target = AssertUnwindSafe(resolve_one(memo_ref, site, opts))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(path = %site.path, line = site.line, "resolver panicked");
                    unverified(site, "internal error while resolving this call".to_string())
                });
            (slot, target)
        })
        .buffer_unordered(opts.concurrency.max(1));
    while let Some((slot, target)) = done.next().await {
        results[slot] = Some(target);
    }
    calls
        .iter()
        .zip(slot_of_call)
        .map(|(call, slot)| {
            results[slot].clone().unwrap_or_else(|| {
                unverified(call, "internal error: call was not resolved".to_string())
            })
        })
        .collect()
}

/// Everything that can change a call's resolution.
fn work_key(c: &LoadSite) -> String {
    serde_json::json!([
        c.platform,
        c.api,
        c.repo_id,
        c.repo_type,
        c.revision,
        c.gate,
        c.args
    ])
    .to_string()
}

/// The hub a platform's ids live on when the call names no other.
fn default_hub(site: &LoadSite) -> HubKind {
    match site.platform {
        Platform::Huggingface => HubKind::Huggingface,
        Platform::Modelscope => HubKind::Modelscope,
        Platform::Opencsg => HubKind::Opencsg,
        Platform::PytorchHub | Platform::Openmmlab => HubKind::Github,
        Platform::Paddlehub => {
            if others::is_paddle_module(site) {
                HubKind::Paddlehub
            } else {
                HubKind::Github
            }
        }
    }
}

fn unverified(site: &LoadSite, reason: String) -> Target {
    Target {
        status: TargetStatus::Unverified,
        reason: Some(reason),
        hub: default_hub(site),
        repo_id: site.repo_id.clone(),
        repo_type: site.repo_type,
        commit: None,
        files: Vec::new(),
        notes: Vec::new(),
        refused_remote_code: false,
        pickle_weights: false,
        cross_repo_unpinned: false,
    }
}

async fn resolve_one<S: RepoSource>(
    memo: &Memo<'_, S>,
    site: &LoadSite,
    opts: &ResolveOptions,
) -> Target {
    if site.repo_id.is_none() {
        return unverified(
            site,
            "model id could not be resolved statically".to_string(),
        );
    }
    let mut job = Job {
        memo,
        opts,
        site,
        acc: Acc::default(),
    };
    let outcome = others::dispatch(&mut job).await;
    job.finish(outcome)
}

/// How a call's remote-code gate behaves for the code it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// The code runs.
    Run,
    /// The library asks on a terminal: refused with no TTY (CI), runs on "y".
    /// The files are fetched and scanned, and `refused_remote_code` is set.
    Prompt(&'static str),
    /// The code is refused: flagged, never fetched.
    Refuse,
}

/// What a finished resolution decided.
pub(crate) enum Outcome {
    /// Code (or pickles) found and read; or nothing to run.
    Done,
    /// A download-only call: never `resolved`, whatever it lists.
    DownloadOnly,
}

/// Failure that makes the call unverified (the reason shown to the user).
pub(crate) type Fail = String;

#[derive(Default)]
struct Acc {
    primary: Option<Arc<Snapshot>>,
    files: Vec<RemoteFile>,
    seen: HashSet<(HubKind, String, String, String)>,
    notes: Vec<String>,
    refused: bool,
    pickle: bool,
    cross_unpinned: bool,
    /// Set when a sub-step could not be verified but the rest went on.
    unverified: Option<String>,
}

/// One call being resolved.
pub(crate) struct Job<'a, S: RepoSource> {
    memo: &'a Memo<'a, S>,
    pub(crate) opts: &'a ResolveOptions,
    pub(crate) site: &'a LoadSite,
    acc: Acc,
}

impl<S: RepoSource> Job<'_, S> {
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.acc.notes.contains(&note) {
            self.acc.notes.push(note);
        }
    }

    pub(crate) fn set_refused(&mut self) {
        self.acc.refused = true;
    }

    pub(crate) fn acc_pickle(&mut self) {
        self.acc.pickle = true;
    }

    pub(crate) fn set_cross_unpinned(&mut self) {
        self.acc.cross_unpinned = true;
    }

    /// Record a problem that leaves the call unverified, keeping what was read.
    pub(crate) fn mark_unverified(&mut self, reason: impl Into<String>) {
        if self.acc.unverified.is_none() {
            self.acc.unverified = Some(reason.into());
        }
    }

    /// Snapshot the repository the call names (the target's repo and commit).
    pub(crate) async fn primary(
        &mut self,
        hub: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> Result<Arc<Snapshot>, Fail> {
        let snap = self.snapshot(hub, repo_type, repo_id, revision).await?;
        self.acc.primary = Some(snap.clone());
        Ok(snap)
    }

    pub(crate) async fn snapshot(
        &mut self,
        hub: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> Result<Arc<Snapshot>, Fail> {
        check_repo_id(repo_id)?;
        self.memo
            .snapshot(hub, repo_type, repo_id, revision)
            .await
            .map_err(|e| e.to_string())
    }

    /// Bytes of a file that is only read to decide (configs), not listed.
    pub(crate) async fn read_config(
        &mut self,
        snap: &Snapshot,
        path: &str,
    ) -> Result<Option<serde_json::Value>, Fail> {
        if !snap.has(path) {
            return Ok(None);
        }
        let bytes = self.read(snap, path).await?;
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(format!(
                "cannot parse {path} in {}@{}: {e}",
                snap.repo_id, snap.commit
            )),
        }
    }

    pub(crate) async fn read(&mut self, snap: &Snapshot, path: &str) -> Result<Arc<Vec<u8>>, Fail> {
        check_path(path)?;
        self.memo
            .read(snap, path, false)
            .await
            .map_err(|e| e.to_string())
    }

    /// Whether a file is already listed.
    fn listed(&self, snap: &Snapshot, path: &str) -> bool {
        self.acc.seen.contains(&(
            snap.hub,
            snap.repo_id.clone(),
            snap.commit.clone(),
            path.to_string(),
        ))
    }

    /// Read and list one file that would execute. Returns its bytes, or None
    /// if it was listed before.
    pub(crate) async fn add_file(
        &mut self,
        snap: &Snapshot,
        path: &str,
        kind: FileKind,
        why: String,
    ) -> Result<Option<Arc<Vec<u8>>>, Fail> {
        if self.listed(snap, path) {
            return Ok(None);
        }
        if self.acc.files.len() >= self.opts.max_files_per_target {
            return Err(format!(
                "cap exceeded: more than {} files would run for this call",
                self.opts.max_files_per_target
            ));
        }
        check_path(path)?;
        let content = self
            .memo
            .read(snap, path, kind == FileKind::Pickle)
            .await
            .map_err(|e| e.to_string())?;
        self.acc.seen.insert((
            snap.hub,
            snap.repo_id.clone(),
            snap.commit.clone(),
            path.to_string(),
        ));
        self.acc.files.push(RemoteFile {
            hub: snap.hub,
            repo_id: snap.repo_id.clone(),
            commit: snap.commit.clone(),
            path: path.to_string(),
            sha256: hex::encode(Sha256::digest(content.as_slice())),
            bytes: content.len() as u64,
            why,
            kind,
            content: content.clone(),
        });
        Ok(Some(content))
    }

    /// List the weights a load would unpickle: pickle-format files when the
    /// repo has no `*.safetensors` that the loader would prefer.
    pub(crate) async fn pickle_weights(&mut self, snap: &Snapshot) -> Result<(), Fail> {
        if snap.files.iter().any(|f| f.ends_with(".safetensors")) {
            return Ok(());
        }
        let pickles: Vec<String> = snap
            .files
            .iter()
            .filter(|f| is_pickle_weight(f))
            .cloned()
            .collect();
        for p in pickles {
            self.acc.pickle = true;
            self.add_file(
                snap,
                &p,
                FileKind::Pickle,
                "pickle weights (no safetensors in the repo)".to_string(),
            )
            .await?;
        }
        Ok(())
    }

    /// Consume the job into its target.
    fn finish(self, outcome: Result<Outcome, Fail>) -> Target {
        let site = self.site;
        let acc = self.acc;
        let (hub, repo_id, repo_type, commit) = match &acc.primary {
            Some(s) => (
                s.hub,
                Some(s.repo_id.clone()),
                s.repo_type,
                Some(s.commit.clone()),
            ),
            None => (
                default_hub(site),
                site.repo_id.clone(),
                site.repo_type,
                None,
            ),
        };
        let (status, reason) = match (&outcome, &acc.unverified) {
            (Err(reason), _) | (Ok(_), Some(reason)) => {
                (TargetStatus::Unverified, Some(reason.clone()))
            }
            (Ok(Outcome::DownloadOnly), None) => (TargetStatus::NoRemoteCode, None),
            (Ok(Outcome::Done), None) if acc.files.is_empty() => (TargetStatus::NoRemoteCode, None),
            (Ok(Outcome::Done), None) => (TargetStatus::Resolved, None),
        };
        Target {
            status,
            reason,
            hub,
            repo_id,
            repo_type,
            commit,
            files: acc.files,
            notes: acc.notes,
            refused_remote_code: acc.refused,
            pickle_weights: acc.pickle,
            cross_repo_unpinned: acc.cross_unpinned,
        }
    }
}

/// Weights formats that `torch.load`/`pickle.load` would read.
pub(crate) fn is_pickle_weight(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("pytorch_model") && lower.ends_with(".bin"))
        || lower == "adapter_model.bin"
        || [".pt", ".pth", ".ckpt", ".pkl"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

/// Repo ids come from untrusted code and configs.
pub(crate) fn check_repo_id(id: &str) -> Result<(), Fail> {
    let bad = id.is_empty()
        || id.contains("://")
        || id.contains('@')
        || id.contains('\\')
        || id.starts_with('/')
        || id.starts_with('.')
        || id.split('/').any(|p| p.is_empty() || p == "." || p == "..")
        || id.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        Err(HubError::Invalid(id.to_string()).to_string())
    } else {
        Ok(())
    }
}

/// File paths inside a repo come from untrusted configs and code.
pub(crate) fn check_path(path: &str) -> Result<(), Fail> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains("://")
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        || path.chars().any(|c| c.is_control());
    if bad {
        Err(HubError::Invalid(path.to_string()).to_string())
    } else {
        Ok(())
    }
}

type SnapKey = (HubKind, RepoType, String, Option<String>);
type ReadKey = (HubKind, RepoType, String, String, String, bool);
type Cell<T> = Arc<OnceCell<Result<T, HubError>>>;

/// Per-invocation memo in front of the source, so that calls sharing a repo
/// (or a cross-repo code repo) snapshot and read it once.
struct Memo<'a, S> {
    src: &'a S,
    snaps: Mutex<HashMap<SnapKey, Cell<Arc<Snapshot>>>>,
    reads: Mutex<HashMap<ReadKey, Cell<Arc<Vec<u8>>>>>,
}

impl<'a, S: RepoSource> Memo<'a, S> {
    fn new(src: &'a S) -> Self {
        Memo {
            src,
            snaps: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
        }
    }

    fn cell<K: std::hash::Hash + Eq, T>(map: &Mutex<HashMap<K, Cell<T>>>, key: K) -> Cell<T> {
        // A poisoned lock only means another resolution panicked while holding
        // it; the map itself is still consistent (inserts are atomic).
        let mut guard = map.lock().unwrap_or_else(|p| p.into_inner());
        guard.entry(key).or_default().clone()
    }

    async fn snapshot(
        &self,
        hub: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> Result<Arc<Snapshot>, HubError> {
        let key = (
            hub,
            repo_type,
            repo_id.to_string(),
            revision.map(str::to_string),
        );
        let cell = Self::cell(&self.snaps, key);
        cell.get_or_init(|| self.src.snapshot(hub, repo_type, repo_id, revision))
            .await
            .clone()
    }

    async fn read(
        &self,
        snap: &Snapshot,
        path: &str,
        pickle: bool,
    ) -> Result<Arc<Vec<u8>>, HubError> {
        let key = (
            snap.hub,
            snap.repo_type,
            snap.repo_id.clone(),
            snap.commit.clone(),
            path.to_string(),
            pickle,
        );
        let cell = Self::cell(&self.reads, key);
        cell.get_or_init(|| async {
            if pickle {
                self.src.read_pickle(snap, path).await
            } else {
                self.src.read(snap, path).await
            }
        })
        .await
        .clone()
    }
}
