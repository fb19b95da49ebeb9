//! `Hubs`: the [`RepoSource`] for every hub. Each request goes, once per run
//! (single-flight), through the same layers: id and revision checks, the offline
//! mirror, the disk cache (immutable commits only), the hub library's own local
//! cache when offline, and only then the hub's network protocol.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::checkpoint::{self, Chunk, RangeSource};
use super::http::{Http, Limit, Req, status_error};
use super::store::{DiskCache, HfCache, Mirror, Namespace};
use super::validate::{MAX_CODE_FILE_BYTES, MAX_PICKLE_BYTES, MAX_REPO_FILES, validate_path};
use super::{HUBS, Hub, HubError, HubOptions, Listing, Net, RepoSource, Snapshot};
use crate::memo::Memo;
use crate::model::{FetchStats, HubKind, RepoType};

type SnapKey = (HubKind, RepoType, String, Option<String>);
type FileKey = (HubKind, RepoType, String, String, String);
type Bytes = Arc<Vec<u8>>;

/// Every hub, behind `RepoSource`.
pub struct Hubs {
    opts: HubOptions,
    net: Net,
    cache: Option<DiskCache>,
    mirror: Option<Mirror>,
    /// Hub libraries' own caches, read when offline.
    local: HashMap<HubKind, HfCache>,
    snaps: Memo<SnapKey, Result<Arc<Snapshot>, HubError>>,
    files: Memo<FileKey, Result<Bytes, HubError>>,
    pickles: Memo<FileKey, Result<Bytes, HubError>>,
    cache_hits: AtomicU64,
}

/// A remote file read through HTTP ranges.
pub(crate) struct RemoteRange<'a> {
    pub(crate) http: &'a Http,
    pub(crate) req: Req,
}

impl RangeSource for RemoteRange<'_> {
    async fn range(&self, start: u64, len: u64) -> Result<Chunk, HubError> {
        let end = start + len.max(1) - 1;
        let req = self
            .req
            .clone()
            .header(reqwest::header::RANGE, format!("bytes={start}-{end}"));
        let resp = self
            .http
            .get(&req, Limit::Truncate(len.max(MAX_PICKLE_BYTES)))
            .await?;
        match resp.status {
            206 => {
                let s = resp
                    .header("content-range")
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(start);
                let total = resp.range_total();
                Ok(Chunk {
                    start: s,
                    data: resp.body,
                    total,
                })
            }
            200 => {
                let total = (!resp.truncated).then_some(resp.body.len() as u64);
                Ok(Chunk {
                    start: 0,
                    data: resp.body,
                    total,
                })
            }
            416 => Ok(Chunk {
                start,
                data: Vec::new(),
                total: resp.range_total(),
            }),
            _ => Err(status_error(&resp, self.req.url.as_str())),
        }
    }
}

/// A local file read through ranges.
struct LocalRange(PathBuf);

impl RangeSource for LocalRange {
    async fn range(&self, start: u64, len: u64) -> Result<Chunk, HubError> {
        use std::io::{Read, Seek, SeekFrom};
        let io = |e: std::io::Error| HubError::Network(format!("{}: {e}", self.0.display()));
        let mut f = std::fs::File::open(&self.0).map_err(io)?;
        let total = f.metadata().map_err(io)?.len();
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut data = Vec::new();
        f.take(len).read_to_end(&mut data).map_err(io)?;
        Ok(Chunk {
            start,
            data,
            total: Some(total),
        })
    }
}

fn file_key(snap: &Snapshot, path: &str) -> FileKey {
    (
        snap.hub,
        snap.repo_type,
        snap.repo_id.clone(),
        snap.commit.clone(),
        path.to_string(),
    )
}

fn check_file(snap: &Snapshot, path: &str) -> Result<(), HubError> {
    validate_path(path)?;
    if !snap.has(path) {
        return Err(HubError::NotFound(format!(
            "{} {}@{}:{path}",
            snap.hub, snap.repo_id, snap.commit
        )));
    }
    Ok(())
}

impl Hubs {
    pub fn new(opts: HubOptions) -> Result<Hubs, HubError> {
        let http = Http::new(opts.http.clone())?;
        let cache = if opts.no_disk_cache {
            None
        } else {
            opts.cache_dir
                .clone()
                .or_else(|| dirs::cache_dir().map(|d| d.join("hubwarden")))
                .map(DiskCache::new)
        };
        let local = HUBS
            .iter()
            .filter_map(|h| Some((h.kind(), h.local_cache(&opts)?)))
            .collect();
        Ok(Hubs {
            net: Net::new(
                http,
                opts.endpoints.clone(),
                opts.tokens.clone(),
                opts.paddle_env.clone(),
            )
            .with_cache(cache.clone()),
            mirror: opts.mirror.clone().map(Mirror::new),
            local,
            cache,
            opts,
            snaps: Memo::new(),
            files: Memo::new(),
            pickles: Memo::new(),
            cache_hits: AtomicU64::new(0),
        })
    }

    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    /// The network side (endpoints, tokens, the HTTP client) for requests
    /// beyond the repository protocol (`hub_scan.rs`).
    pub(crate) fn net(&self) -> &Net {
        &self.net
    }

    /// Wall-clock time spent waiting out rate limits so far (within `--max-wait`).
    pub fn rate_limit_waited(&self) -> std::time::Duration {
        self.net.http().rate_limit_waited()
    }

    fn hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The hub library's own cache, when offline.
    fn offline_local(&self, hub: HubKind) -> Option<&HfCache> {
        self.opts.offline.then(|| self.local.get(&hub)).flatten()
    }

    async fn snapshot_uncached(
        &self,
        hub: &dyn Hub,
        rt: RepoType,
        repo: &str,
        rev: Option<&str>,
    ) -> Result<Listing, HubError> {
        let kind = hub.kind();
        if let Some(m) = &self.mirror
            && let Some(r) = m.snapshot(hub, rt, repo, rev)
        {
            self.hit();
            return r;
        }
        if let (Some(c), Some(r)) = (&self.cache, rev)
            && super::is_commit(r)
            && let Some(files) = c.get_listing(kind, rt, repo, r)
        {
            self.hit();
            return Ok(Listing {
                resolved_ref: r.to_string(),
                commit: r.to_ascii_lowercase(),
                files,
            });
        }
        if self.opts.offline {
            if let Some(h) = self.offline_local(kind)
                && let Some(r) = h.snapshot(rt, repo, rev)
            {
                self.hit();
                return r;
            }
            return Err(HubError::Offline(format!(
                "{kind} {repo}@{}",
                rev.or(hub.default_ref()).unwrap_or("main")
            )));
        }
        let res = hub.snapshot(&self.net, rt, repo, rev).await?;
        if res.files.len() > MAX_REPO_FILES {
            return Err(HubError::Cap(format!(
                "{repo} lists more than {MAX_REPO_FILES} files"
            )));
        }
        if let Some(c) = &self.cache
            && super::is_commit(&res.commit)
        {
            c.put_listing(kind, rt, repo, &res.commit, &res.files);
        }
        Ok(res)
    }

    /// Local copy of a file (mirror, then the library cache when offline), for range reads.
    fn local_path(&self, snap: &Snapshot, path: &str) -> Option<PathBuf> {
        let hub = super::get(snap.hub);
        if let Some(m) = &self.mirror
            && let Some(p) = m.local_path(hub, snap.repo_type, &snap.repo_id, &snap.commit, path)
        {
            return Some(p);
        }
        self.offline_local(snap.hub)?
            .local_path(snap.repo_type, &snap.repo_id, &snap.commit, path)
    }

    async fn read_uncached(&self, snap: &Snapshot, path: &str) -> Result<Vec<u8>, HubError> {
        let hub = super::get(snap.hub);
        let (rt, repo, commit) = (snap.repo_type, snap.repo_id.as_str(), snap.commit.as_str());
        if let Some(m) = &self.mirror
            && let Some(r) = m.read(hub, rt, repo, commit, path, MAX_CODE_FILE_BYTES)
        {
            self.hit();
            return r;
        }
        let cacheable = hub.immutable(commit);
        if let Some(c) = &self.cache
            && cacheable
            && let Some(b) = c.get(Namespace::File, snap, path, MAX_CODE_FILE_BYTES)
        {
            self.hit();
            return Ok(b);
        }
        if self.opts.offline {
            if let Some(h) = self.offline_local(snap.hub)
                && let Some(r) = h.read(rt, repo, commit, path, MAX_CODE_FILE_BYTES)
            {
                self.hit();
                return r;
            }
            return Err(HubError::Offline(format!(
                "{} {repo}@{commit}:{path}",
                snap.hub
            )));
        }
        let bytes = hub.read(&self.net, snap, path).await?;
        if let Some(c) = &self.cache
            && cacheable
        {
            c.put(Namespace::File, snap, path, &bytes);
        }
        Ok(bytes)
    }

    async fn pickle_uncached(&self, snap: &Snapshot, path: &str) -> Result<Vec<u8>, HubError> {
        let hub = super::get(snap.hub);
        if let Some(p) = self.local_path(snap, path) {
            self.hit();
            return checkpoint::read_pickle(&LocalRange(p)).await;
        }
        let cacheable = hub.immutable(&snap.commit);
        if let Some(c) = &self.cache
            && cacheable
            && let Some(b) = c.get(Namespace::Pickle, snap, path, checkpoint::MAX_IMAGE_BYTES)
        {
            self.hit();
            return Ok(b);
        }
        if self.opts.offline {
            return Err(HubError::Offline(format!(
                "{} {}@{}:{path}",
                snap.hub, snap.repo_id, snap.commit
            )));
        }
        let bytes = hub.read_pickle(&self.net, snap, path).await?;
        if let Some(c) = &self.cache
            && cacheable
        {
            c.put(Namespace::Pickle, snap, path, &bytes);
        }
        Ok(bytes)
    }
}

impl RepoSource for Hubs {
    async fn snapshot(
        &self,
        kind: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> Result<Arc<Snapshot>, HubError> {
        let hub = super::get(kind);
        hub.validate_repo_id(repo_id)?;
        if let Some(r) = revision {
            hub.validate_revision(r)?;
        }
        // `None` and the hub's explicit default ref are one request (a hub that
        // picks its default itself keeps `None`).
        let key_rev = revision.or(hub.default_ref()).map(str::to_string);
        let key = (kind, repo_type, repo_id.to_string(), key_rev.clone());
        let snap = self
            .snaps
            .get(key, || async {
                let r = self
                    .snapshot_uncached(hub, repo_type, repo_id, key_rev.as_deref())
                    .await?;
                Ok(Arc::new(Snapshot {
                    hub: kind,
                    repo_type,
                    repo_id: repo_id.to_string(),
                    requested: revision.map(str::to_string),
                    resolved_ref: r.resolved_ref,
                    commit: r.commit,
                    files: r.files,
                }))
            })
            .await?;
        if snap.requested.as_deref() == revision {
            Ok(snap)
        } else {
            Ok(Arc::new(Snapshot {
                requested: revision.map(str::to_string),
                ..(*snap).clone()
            }))
        }
    }

    async fn read(&self, snap: &Snapshot, path: &str) -> Result<Bytes, HubError> {
        check_file(snap, path)?;
        self.files
            .get(file_key(snap, path), || async {
                self.read_uncached(snap, path).await.map(Arc::new)
            })
            .await
    }

    async fn read_pickle(&self, snap: &Snapshot, path: &str) -> Result<Bytes, HubError> {
        check_file(snap, path)?;
        self.pickles
            .get(file_key(snap, path), || async {
                self.pickle_uncached(snap, path).await.map(Arc::new)
            })
            .await
    }

    fn stats(&self) -> FetchStats {
        FetchStats {
            http_requests: self.net.http().requests(),
            bytes_fetched: self.net.http().bytes(),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            ..FetchStats::default()
        }
    }
}
