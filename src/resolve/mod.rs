//! Resolve: which remote files a load would execute, at an exact commit.
//!
//! Each `LoadSite` becomes one `Target`: the repository the call names, resolved
//! to an immutable commit through a `RepoSource`, plus every remote file the
//! library would execute (or unpickle) with its bytes. The per-library rules
//! (transformers `auto_map`, datasets scripts, diffusers community pipelines,
//! torch.hub `hubconf.py`, ModelScope `allow_remote`, PaddleHub modules) live in
//! the submodules; they reproduce the libraries' own rules, quirks included
//! (see `reference/hub-platforms.md`). Nothing fetched is ever executed.

mod closure;
mod datasets;
mod diffusers;
mod error;
pub mod escalation;
mod follow;
mod gate;
mod hub_download;
pub mod kernels;
mod modelscope;
mod openmmlab;
mod optimum;
mod paddlehub;
mod peft;
mod pyimports;
mod sentence_transformers;
mod span_marker;
mod torch_hub;
mod transformers;
mod vllm;
pub mod weights;

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::stream::{self, StreamExt};
use sha2::{Digest, Sha256};

pub use self::error::ResolveError;
use crate::hub::{HubError, RepoSource, Snapshot, validate_path, validate_repo_id};
use crate::memo::Memo;
use crate::model::{FileKind, HubKind, LoadSite, RemoteFile, RepoType, Target, TargetStatus};

/// Assumptions about the user's installed libraries, and the resolver's caps.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    /// Deepest chain of imports followed from an entry file (a cap: over it the
    /// target is unverified).
    pub max_import_depth: usize,
    /// Most files (code + pickles) one target may list (a cap).
    pub max_files_per_target: usize,
    /// Deepest chain of downloads followed: a file fetched at load that fetches
    /// another... (a cap: over it the target is unverified).
    pub max_follow_depth: usize,
    /// Most files followed from downloads in fetched code, per target (a cap).
    pub max_follows: usize,
    /// Longest config chain followed: a config naming a repo whose config
    /// names another... (a cap: over it the target is unverified).
    pub max_chain_depth: usize,
    /// Distinct resolutions run at once. As many as the HTTP layer's request cap
    /// (32): a resolution mostly waits on requests, and a lower value splits the
    /// repos into waves (16 put issue 3's benchmark at 4.5x the chain bound).
    pub concurrency: usize,
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
            max_follow_depth: 4,
            max_follows: 64,
            max_chain_depth: 4,
            concurrency: 32,
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
    let memo = SourceMemo::new(src);
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
    crate::progress::begin(crate::progress::Stage::Resolve, unique.len());
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
        crate::progress::advance(1);
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

/// The hub a call's ids live on (from its platform and family).
fn default_hub(site: &LoadSite) -> HubKind {
    site.platform.hub(site.family)
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
        assumed: Vec::new(),
        pinned_by: None,
        chain: Vec::new(),
        hub_scan: Vec::new(),
        fetched_at_load: Vec::new(),
        unpinned_components: Vec::new(),
    }
}

async fn resolve_one<S: RepoSource>(
    memo: &SourceMemo<'_, S>,
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
    let outcome = dispatch(&mut job).await;
    if outcome.is_ok() {
        follow::follow(&mut job).await;
    }
    job.finish(outcome)
}

/// The rules of the call's family, on the hub its platform reads from.
async fn dispatch<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    use crate::model::Family;
    let hub = default_hub(job.site);
    match job.site.family {
        // optimum-intel's OVConfig reads openvino_config.json, not config.json.
        Family::Transformers if optimum::is_ov_config(job.site) => {
            optimum::ov_config(job, hub).await
        }
        Family::Transformers => transformers::class(job, hub).await,
        Family::TransformersPipeline => transformers::pipeline(job, hub).await,
        Family::CustomGenerate => transformers::custom_generate(job, hub).await,
        Family::Datasets => datasets::resolve(job, hub).await,
        Family::Diffusers => diffusers::resolve(job, hub).await,
        Family::SentenceTransformers => sentence_transformers::resolve(job, hub).await,
        Family::Peft => peft::resolve(job, hub).await,
        Family::Vllm => vllm::resolve(job, hub).await,
        Family::Modelscope => modelscope::resolve(job, hub).await,
        Family::MsDataset => modelscope::dataset(job).await,
        Family::HubDownload => hub_download::resolve(job, hub).await,
        Family::TorchHub => torch_hub::resolve(job).await,
        Family::PaddleHubconf => paddlehub::hubconf(job).await,
        Family::PaddleModule => paddlehub::module(job).await,
        Family::MmConfig => openmmlab::resolve(job).await,
        Family::Kernels => kernels::resolve(job, hub).await,
        Family::SpanMarker => span_marker::resolve(job, hub).await,
    }
}

/// What a finished resolution decided.
pub(crate) enum Outcome {
    /// Code (or pickles) found and read; or nothing to run.
    Done,
    /// A download-only call: never `resolved`, whatever it lists.
    DownloadOnly,
}

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
    assumed: Vec<crate::deps::Assumed>,
    pinned_by: Option<String>,
    chain: Vec<crate::model::ChainLink>,
    fetched: Vec<crate::model::LoadFetch>,
    unpinned_components: Vec<crate::model::UnpinnedComponent>,
    /// The config links and repo references followed to reach the load being
    /// resolved now, outermost first (see [`Job::enter_hop`]).
    hops: Vec<Hop>,
    /// The configs whose fields were already checked for escalations (and
    /// whether for a load that builds a model), so a cycle (A names B, B
    /// names A) or a repeated reference ends.
    configs_checked: HashSet<(HubKind, String, String, String, bool)>,
}

/// One step of a config chain being followed.
struct Hop {
    /// `repo@commit file:line field`.
    text: String,
    /// The load it leads to builds a model (from the config or with weights),
    /// so a Hub kernel named in that repo's attention fields is loaded.
    builds_model: bool,
}

/// Where a call's code comes from: repo id, hub and requested revision.
pub(crate) struct Origin {
    pub(crate) repo_id: String,
    pub(crate) hub: HubKind,
    pub(crate) revision: Option<String>,
}

/// One call being resolved.
pub(crate) struct Job<'a, S: RepoSource> {
    memo: &'a SourceMemo<'a, S>,
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

    /// A version-dependent path runs the code the gate refused (the chain says so).
    pub(crate) fn clear_refused(&mut self) {
        self.acc.refused = false;
    }

    pub(crate) fn acc_pickle(&mut self) {
        self.acc.pickle = true;
    }

    /// Record the library versions a decision rested on (once per library and range).
    pub(crate) fn assume(&mut self, assumed: impl IntoIterator<Item = crate::deps::Assumed>) {
        for a in assumed {
            if !self.acc.assumed.contains(&a) {
                self.acc.assumed.push(a);
            }
        }
    }

    /// Record a config-driven chain step (with the hops that led to it).
    pub(crate) fn chain(&mut self, mut link: crate::model::ChainLink) {
        link.via = self.acc.hops.iter().map(|h| h.text.clone()).collect();
        if !self.acc.chain.contains(&link) {
            self.acc.chain.push(link);
        }
    }

    /// Follow one more chain step (a config link, or a repo reference the
    /// library follows) described as `repo@commit file:line field`. False
    /// when the chain would grow past `max_chain_depth`: the target is then
    /// unverified (fail closed) and the step is not followed. Pair with
    /// [`Job::leave_hop`].
    pub(crate) fn enter_hop(&mut self, text: String, builds_model: bool) -> bool {
        if self.acc.hops.len() >= self.opts.max_chain_depth {
            let mut path: Vec<&str> = self.acc.hops.iter().map(|h| h.text.as_str()).collect();
            path.push(&text);
            let reason = format!(
                "config chain longer than {} links, not followed: {}",
                self.opts.max_chain_depth,
                path.join(" -> ")
            );
            self.mark_unverified(reason);
            return false;
        }
        self.acc.hops.push(Hop { text, builds_model });
        true
    }

    pub(crate) fn leave_hop(&mut self) {
        self.acc.hops.pop();
    }

    /// One chain step as outputs show it: `repo@commit file:line field`
    /// (the line of `field` in `path`; 1 when it cannot be placed).
    pub(crate) async fn hop_text(&mut self, snap: &Snapshot, path: &str, field: &str) -> String {
        let line = match self.read(snap, path).await {
            Ok(b) => escalation::key_lines(&String::from_utf8_lossy(&b))
                .get(field)
                .copied()
                .unwrap_or(1),
            Err(_) => 1,
        };
        format!(
            "{}@{} {path}:{line} {field}",
            snap.repo_id,
            short_commit(&snap.commit)
        )
    }

    /// The chained load being resolved builds a model from its config.
    pub(crate) fn chain_builds_model(&self) -> bool {
        self.acc.hops.last().is_some_and(|h| h.builds_model)
    }

    /// True the first time a config of `snap` is checked for escalations in
    /// this target for a load that does (or does not) build a model; later (a
    /// cycle, a repeated reference) false, with a note when a chain came back.
    pub(crate) fn first_config_check(
        &mut self,
        snap: &Snapshot,
        path: &str,
        builds_model: bool,
    ) -> bool {
        let key = (
            snap.hub,
            snap.repo_id.clone(),
            snap.commit.clone(),
            path.to_string(),
            builds_model,
        );
        if self.acc.configs_checked.insert(key) {
            return true;
        }
        let back = format!("{}@", snap.repo_id);
        if self.acc.hops.iter().any(|h| h.text.starts_with(&back)) {
            let hops: Vec<String> = self.acc.hops.iter().map(|h| h.text.clone()).collect();
            self.note(format!(
                "config chain {} comes back to {}@{} {path}, already checked: not followed again",
                hops.join(" -> "),
                snap.repo_id,
                short_commit(&snap.commit)
            ));
        }
        false
    }

    /// How many files the target lists so far (see [`Job::tag_files_since`]).
    pub(crate) fn files_len(&self) -> usize {
        self.acc.files.len()
    }

    /// Say on every file listed since `start` that it came through `via` (a
    /// config chain link), unless its reason says so already.
    pub(crate) fn tag_files_since(&mut self, start: usize, via: &str) {
        for f in self.acc.files.iter_mut().skip(start) {
            if !f.why.contains(via) {
                f.why = format!("{} ({via})", f.why);
            }
        }
    }

    /// The commit comes from a lock file, not the call's own `revision`.
    pub(crate) fn set_pinned_by(&mut self, source: String) {
        self.acc.pinned_by = Some(source);
    }

    /// A modular pipeline component's code was read at a branch (see
    /// `Target::unpinned_components`).
    pub(crate) fn unpinned_component(&mut self, c: crate::model::UnpinnedComponent) {
        if !self.acc.unpinned_components.contains(&c) {
            self.acc.unpinned_components.push(c);
        }
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

    /// The repo the code comes from (a `snapshot_download` result passed on
    /// comes from that snapshot's repo), on `hub`, at the call's revision.
    pub(crate) fn origin(&mut self, hub: HubKind) -> Result<Origin, ResolveError> {
        let site = self.site;
        if let Some(of) = site.args.get("snapshot_of") {
            // Discovery puts the snapshot's own repo, platform and revision on the
            // call, and names the download API here.
            self.note(format!(
                "the call loads a local snapshot made by {of}: the code comes from that repo"
            ));
        }
        let Some(id) = site.repo_id.clone() else {
            return Err(ResolveError::no_repo_id());
        };
        Ok(Origin {
            repo_id: id,
            hub,
            revision: site.revision.clone(),
        })
    }

    /// Snapshot the repository the call names (the target's repo and commit).
    pub(crate) async fn primary(
        &mut self,
        hub: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> Result<Arc<Snapshot>, ResolveError> {
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
    ) -> Result<Arc<Snapshot>, ResolveError> {
        // Ids come from untrusted code and configs: checked before any request.
        validate_repo_id(hub, repo_id)?;
        Ok(self
            .memo
            .snapshot(hub, repo_type, repo_id, revision)
            .await?)
    }

    /// Bytes of a file that is only read to decide (configs), not listed.
    pub(crate) async fn read_config(
        &mut self,
        snap: &Snapshot,
        path: &str,
    ) -> Result<Option<serde_json::Value>, ResolveError> {
        if !snap.has(path) {
            return Ok(None);
        }
        let bytes = self.read(snap, path).await?;
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => Ok(Some(v)),
            Err(source) => Err(ResolveError::Config {
                path: path.to_string(),
                repo: snap.repo_id.clone(),
                commit: snap.commit.clone(),
                source,
            }),
        }
    }

    pub(crate) async fn read(
        &mut self,
        snap: &Snapshot,
        path: &str,
    ) -> Result<Arc<Vec<u8>>, ResolveError> {
        validate_path(path)?;
        Ok(self.memo.read(snap, path, false).await?)
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
    ) -> Result<Option<Arc<Vec<u8>>>, ResolveError> {
        if self.listed(snap, path) {
            return Ok(None);
        }
        if self.acc.files.len() >= self.opts.max_files_per_target {
            return Err(ResolveError::Cap(format!(
                "more than {} files would run for this call",
                self.opts.max_files_per_target
            )));
        }
        validate_path(path)?;
        let content = self.memo.read(snap, path, kind == FileKind::Pickle).await?;
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

    /// List the weights this call unpickles from `snap` (`weights::choose`: the
    /// library's file names, `use_safetensors`, `variant`, sharded indexes), read
    /// them as the loader would, and leave the target unverified when a pickle cannot
    /// be verified (walker caps, unreadable container).
    pub(crate) async fn pickle_weights(&mut self, snap: &Snapshot) -> Result<(), ResolveError> {
        let (loader, args) = (weights::loader_of(self.site), weights::Args::of(self.site));
        self.pickle_weights_as(snap, loader, &args).await
    }

    /// [`Job::pickle_weights`] for a load other than the call's own (a
    /// modular pipeline component: its library, subfolder and variant).
    pub(crate) async fn pickle_weights_as(
        &mut self,
        snap: &Snapshot,
        loader: weights::Loader,
        args: &weights::Args,
    ) -> Result<(), ResolveError> {
        let choice = weights::choose(loader, &snap.files, args);
        for n in choice.notes {
            self.note(n);
        }
        let mut picks = choice.files;
        for (index, why) in choice.indexes {
            let Some(json) = self.read_config(snap, &index).await? else {
                continue;
            };
            match weights::shards(&index, &json) {
                Ok(shards) => {
                    for s in shards {
                        if validate_path(&s).is_err() {
                            self.mark_unverified(format!(
                                "{index} names an invalid shard path {s:?}"
                            ));
                        } else if snap.has(&s) {
                            picks.push((s, format!("shard in the weight_map of {index}; {why}")));
                        } else {
                            self.note(format!(
                                "{s} (named in {index}) is not in {}@{}: the load fails there",
                                snap.repo_id, snap.commit
                            ));
                        }
                    }
                }
                Err(e) => self.mark_unverified(e),
            }
        }
        if !picks.is_empty() {
            self.assume_torch_load();
        }
        for (p, why) in picks {
            self.acc.pickle = true;
            if let Some(content) = self.add_file(snap, &p, FileKind::Pickle, why).await?
                && let Some(reason) = crate::scan::pickle::unverified(&content)
            {
                self.mark_unverified(format!(
                    "{p} in {}@{} cannot be verified: {reason}",
                    snap.repo_id, snap.commit
                ));
            }
        }
        Ok(())
    }

    /// What the declared torch makes of an unpickled checkpoint: torch 2.6+
    /// loads with `weights_only=True` (a restricted unpickler; transformers
    /// refuses `torch.load` on older torch since PR #37785), older torch runs
    /// whatever the pickle asks for (and the restricted one is bypassable
    /// before 2.6, CVE-2025-32434). The pickle findings stand either way: a
    /// malicious pickle is malicious.
    fn assume_torch_load(&mut self) {
        use crate::deps::rules::{self, Applies};
        let d = self
            .opts
            .declared
            .versions(&self.site.path)
            .decide(&rules::TORCH_WEIGHTS_ONLY);
        let text = match d.applies {
            Applies::Always => {
                "torch.load defaults to weights_only=True: the restricted unpickler refuses most of what a malicious pickle asks for"
            }
            Applies::Never => {
                "torch below 2.6: torch.load runs everything the pickle asks for (and weights_only=True is bypassable, CVE-2025-32434)"
            }
            Applies::Possibly => {
                "worst case: torch below 2.6, where torch.load runs everything the pickle asks for"
            }
        };
        let assumed = d.assumed.into_iter().map(|mut a| {
            a.assumption = text.to_string();
            a
        });
        self.assume(assumed);
    }

    /// Consume the job into its target.
    fn finish(self, outcome: Result<Outcome, ResolveError>) -> Target {
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
            (Err(e), _) => (TargetStatus::Unverified, Some(e.to_string())),
            (Ok(_), Some(reason)) => (TargetStatus::Unverified, Some(reason.clone())),
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
            assumed: acc.assumed,
            pinned_by: acc.pinned_by,
            chain: acc.chain,
            hub_scan: Vec::new(),
            fetched_at_load: acc.fetched,
            unpinned_components: acc.unpinned_components,
        }
    }
}

/// A commit as chain texts show it.
pub(crate) fn short_commit(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

/// Weights formats that `torch.load`/`pickle.load` would read.
pub(crate) fn is_pickle_weight(path: &str) -> bool {
    weights::is_pickle_weight(path)
}

type SnapKey = (HubKind, RepoType, String, Option<String>);
type ReadKey = (HubKind, RepoType, String, String, String, bool);

/// Per-invocation memo in front of the source, so that calls sharing a repo
/// (or a cross-repo code repo) snapshot and read it once.
struct SourceMemo<'a, S> {
    src: &'a S,
    snaps: Memo<SnapKey, Result<Arc<Snapshot>, HubError>>,
    reads: Memo<ReadKey, Result<Arc<Vec<u8>>, HubError>>,
}

impl<'a, S: RepoSource> SourceMemo<'a, S> {
    fn new(src: &'a S) -> Self {
        SourceMemo {
            src,
            snaps: Memo::new(),
            reads: Memo::new(),
        }
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
        self.snaps
            .get(key, || self.src.snapshot(hub, repo_type, repo_id, revision))
            .await
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
        self.reads
            .get(key, || async {
                if pickle {
                    self.src.read_pickle(snap, path).await
                } else {
                    self.src.read(snap, path).await
                }
            })
            .await
    }
}
