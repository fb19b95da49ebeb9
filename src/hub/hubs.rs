//! `Hubs`: the network `RepoSource` for every hub (HF, ModelScope, OpenCSG,
//! GitHub, PaddleHub) layered over the mirror, the local HF cache and the disk
//! cache, with in-run single-flight memoization of every distinct request.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::ACCEPT;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use url::Url;

use crate::hub::archive::{self, Archive};
use crate::hub::checkpoint::{self, Chunk, RangeSource};
use crate::hub::http::{Http, HttpConfig, Limit, Req, Resp, status_error};
use crate::hub::store::{DiskCache, HfCache, Mirror, MirrorSnap, Namespace, default_ref};
use crate::hub::validate::{
    MAX_API_JSON_BYTES, MAX_ARCHIVE_DOWNLOAD_BYTES, MAX_CODE_FILE_BYTES, MAX_PICKLE_BYTES,
    MAX_REPO_FILES, is_commit, safe_component, validate_path, validate_repo_id, validate_revision,
};
use crate::hub::{HubError, RepoSource, Snapshot};
use crate::model::{FetchStats, HubKind, RepoType};

/// Base URLs of each hub (no trailing slash needed).
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub huggingface: String,
    pub modelscope: String,
    pub opencsg: String,
    pub github_api: String,
    pub paddlehub: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            huggingface: "https://huggingface.co".into(),
            modelscope: "https://modelscope.cn".into(),
            opencsg: "https://hub.opencsg.com".into(),
            github_api: "https://api.github.com".into(),
            paddlehub: "http://paddlepaddle.org.cn/paddlehub".into(),
        }
    }
}

/// Tokens, each sent only to its own hub's origin. PaddleHub takes none.
#[derive(Clone, Default)]
pub struct Tokens {
    pub huggingface: Option<String>,
    pub modelscope: Option<String>,
    pub opencsg: Option<String>,
    pub github: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |t: &Option<String>| if t.is_some() { "set" } else { "unset" };
        f.debug_struct("Tokens")
            .field("huggingface", &s(&self.huggingface))
            .field("modelscope", &s(&self.modelscope))
            .field("opencsg", &s(&self.opencsg))
            .field("github", &s(&self.github))
            .finish()
    }
}

/// How to build `Hubs`. Tests construct it field by field; the CLI uses
/// [`HubOptions::from_env`] and then sets `offline`, `mirror`, `cache_dir`.
#[derive(Clone, Debug, Default)]
pub struct HubOptions {
    /// Make no network request at all.
    pub offline: bool,
    /// Offline mirror root, consulted first (also when online).
    pub mirror: Option<PathBuf>,
    /// Disk cache root; `None` = `<user cache dir>/hubwarden`.
    pub cache_dir: Option<PathBuf>,
    /// Turn the disk cache off entirely.
    pub no_disk_cache: bool,
    /// Local Hugging Face hub cache read when offline; `None` = none.
    pub hf_cache: Option<PathBuf>,
    pub endpoints: Endpoints,
    pub tokens: Tokens,
    pub http: HttpConfig,
}

impl HubOptions {
    /// Endpoints, tokens and the HF cache from the variables the hub libraries honour.
    pub fn from_env() -> HubOptions {
        HubOptions::from_vars(|k| std::env::var(k).ok())
    }

    /// The CLI's `--offline`, `--mirror DIR` and `--cache-dir DIR` on top.
    pub fn with_cli(
        mut self,
        offline: bool,
        mirror: Option<PathBuf>,
        cache_dir: Option<PathBuf>,
    ) -> HubOptions {
        self.offline = offline;
        self.mirror = mirror;
        if cache_dir.is_some() {
            self.cache_dir = cache_dir;
        }
        self
    }

    /// As [`HubOptions::from_env`], reading variables through `var` (tests pass a map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> HubOptions {
        let env_nonempty = |k: &str| {
            var(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let d = Endpoints::default();
        let modelscope = env_nonempty("MODELSCOPE_ENDPOINT")
            .or_else(|| {
                env_nonempty("MODELSCOPE_DOMAIN").map(|d| {
                    if d.contains("://") {
                        d
                    } else {
                        format!("https://{d}")
                    }
                })
            })
            .unwrap_or(d.modelscope);
        let hf_cache = env_nonempty("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| env_nonempty("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .or_else(|| dirs::home_dir().map(|h| h.join(".cache/huggingface/hub")));
        HubOptions {
            endpoints: Endpoints {
                huggingface: env_nonempty("HF_ENDPOINT").unwrap_or(d.huggingface),
                modelscope,
                opencsg: env_nonempty("CSGHUB_DOMAIN").unwrap_or(d.opencsg),
                github_api: env_nonempty("GITHUB_API_URL").unwrap_or(d.github_api),
                paddlehub: env_nonempty("PADDLEHUB_SERVER").unwrap_or(d.paddlehub),
            },
            tokens: Tokens {
                huggingface: env_nonempty("HF_TOKEN")
                    .or_else(|| env_nonempty("HUGGING_FACE_HUB_TOKEN")),
                modelscope: env_nonempty("MODELSCOPE_API_TOKEN"),
                opencsg: env_nonempty("CSGHUB_TOKEN"),
                github: env_nonempty("GITHUB_TOKEN"),
            },
            hf_cache,
            ..HubOptions::default()
        }
    }
}

/// In-run single-flight memo: concurrent callers of one key share one computation.
struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    fn new() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }

    async fn get<F, Fut>(&self, key: K, f: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut m = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(key)
                .or_insert_with(|| Arc::new(OnceCell::new()))
                .clone()
        };
        cell.get_or_init(f).await.clone()
    }
}

use std::future::Future;

type SnapKey = (HubKind, RepoType, String, Option<String>);
type FileKey = (HubKind, RepoType, String, String, String);
type Bytes = Arc<Vec<u8>>;

/// Every hub, behind `RepoSource`.
pub struct Hubs {
    opts: HubOptions,
    http: Http,
    cache: Option<DiskCache>,
    mirror: Option<Mirror>,
    hf_cache: Option<HfCache>,
    snaps: Memo<SnapKey, Result<Arc<Snapshot>, HubError>>,
    files: Memo<FileKey, Result<Bytes, HubError>>,
    pickles: Memo<FileKey, Result<Bytes, HubError>>,
    archives: Mutex<HashMap<(String, String), Arc<Archive>>>,
    /// ModelScope listings give each file's sha256: (repo, commit) -> path -> hex.
    ms_digests: Mutex<HashMap<(String, String), HashMap<String, String>>>,
    cache_hits: AtomicU64,
}

const PATH_SEG: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH_KEEP_SLASH: &AsciiSet = &PATH_SEG.remove(b'/');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, PATH_SEG).to_string()
}
fn enc_path(s: &str) -> String {
    utf8_percent_encode(s, PATH_KEEP_SLASH).to_string()
}

fn url(base: &str, rest: &str) -> Result<Url, HubError> {
    let s = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rest.trim_start_matches('/')
    );
    Url::parse(&s).map_err(|e| HubError::Invalid(format!("URL {s}: {e}")))
}

fn hf_prefix(rt: RepoType) -> &'static str {
    match rt {
        RepoType::Dataset => "datasets/",
        RepoType::Space => "spaces/",
        _ => "",
    }
}

fn hf_api_kind(rt: RepoType) -> &'static str {
    match rt {
        RepoType::Dataset => "datasets",
        RepoType::Space => "spaces",
        _ => "models",
    }
}

#[derive(Deserialize)]
struct HfInfo {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<HfSibling>,
}
#[derive(Deserialize)]
struct HfSibling {
    rfilename: String,
}

/// Resolved snapshot parts before they become a `Snapshot`.
struct Resolved {
    resolved_ref: String,
    commit: String,
    files: Vec<String>,
}

impl From<MirrorSnap> for Resolved {
    fn from(m: MirrorSnap) -> Self {
        Resolved {
            resolved_ref: m.resolved_ref,
            commit: m.commit,
            files: m.files,
        }
    }
}

/// A remote file read through HTTP ranges.
struct RemoteRange<'a> {
    http: &'a Http,
    req: Req,
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
        Ok(Hubs {
            mirror: opts.mirror.clone().map(Mirror::new),
            hf_cache: opts.hf_cache.clone().map(HfCache::new),
            cache,
            http,
            opts,
            snaps: Memo::new(),
            files: Memo::new(),
            pickles: Memo::new(),
            archives: Mutex::new(HashMap::new()),
            ms_digests: Mutex::new(HashMap::new()),
            cache_hits: AtomicU64::new(0),
        })
    }

    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    /// Wall-clock time spent waiting out rate limits so far (within `--max-wait`).
    pub fn rate_limit_waited(&self) -> std::time::Duration {
        self.http.rate_limit_waited()
    }

    fn hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    fn token(&self, hub: HubKind) -> Option<&str> {
        let t = &self.opts.tokens;
        match hub {
            HubKind::Huggingface => t.huggingface.as_deref(),
            HubKind::Modelscope => t.modelscope.as_deref(),
            HubKind::Opencsg => t.opencsg.as_deref(),
            HubKind::Github => t.github.as_deref(),
            HubKind::Paddlehub => None,
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        hub: HubKind,
        u: Url,
        what: &str,
    ) -> Result<T, HubError> {
        let resp = self.api(hub, u, what).await?;
        resp.json(what)
    }

    async fn api(&self, hub: HubKind, u: Url, what: &str) -> Result<Resp, HubError> {
        let mut req = Req::new(u).token(self.token(hub));
        if hub == HubKind::Github {
            req = req.header(ACCEPT, "application/vnd.github+json").header(
                reqwest::header::HeaderName::from_static("x-github-api-version"),
                "2022-11-28",
            );
        }
        let resp = self
            .http
            .get(&req, Limit::Error(MAX_API_JSON_BYTES))
            .await?;
        if !resp.ok() {
            return Err(status_error(&resp, what));
        }
        Ok(resp)
    }

    // ---------- snapshots ----------

    async fn snapshot_uncached(
        &self,
        hub: HubKind,
        rt: RepoType,
        repo: &str,
        rev: Option<&str>,
    ) -> Result<Resolved, HubError> {
        if let Some(m) = &self.mirror
            && let Some(r) = m.snapshot(hub, rt, repo, rev)
        {
            self.hit();
            return r.map(Resolved::from);
        }
        if let (Some(c), Some(r)) = (&self.cache, rev)
            && is_commit(r)
            && let Some(files) = c.get_listing(hub, rt, repo, r)
        {
            self.hit();
            return Ok(Resolved {
                resolved_ref: r.to_string(),
                commit: r.to_ascii_lowercase(),
                files,
            });
        }
        if self.opts.offline {
            if hub == HubKind::Huggingface
                && let Some(h) = &self.hf_cache
                && let Some(r) = h.snapshot(rt, repo, rev)
            {
                self.hit();
                return r.map(Resolved::from);
            }
            return Err(HubError::Offline(format!(
                "{hub} {repo}@{}",
                rev.unwrap_or(default_ref(hub))
            )));
        }
        let res = match hub {
            HubKind::Huggingface => self.hf_like_snapshot(hub, rt, repo, rev).await?,
            HubKind::Opencsg => self.hf_like_snapshot(hub, rt, repo, rev).await?,
            HubKind::Modelscope => self.ms_snapshot(repo, rev).await?,
            HubKind::Github => self.gh_snapshot(repo, rev).await?,
            HubKind::Paddlehub => self.paddle_snapshot(repo, rev).await?,
        };
        if res.files.len() > MAX_REPO_FILES {
            return Err(HubError::Cap(format!(
                "{repo} lists more than {MAX_REPO_FILES} files"
            )));
        }
        if let Some(c) = &self.cache
            && is_commit(&res.commit)
        {
            c.put_listing(hub, rt, repo, &res.commit, &res.files);
        }
        Ok(res)
    }

    /// HF and OpenCSG share the HF JSON shape.
    async fn hf_like_snapshot(
        &self,
        hub: HubKind,
        rt: RepoType,
        repo: &str,
        rev: Option<&str>,
    ) -> Result<Resolved, HubError> {
        let r = rev.unwrap_or("main");
        let (base, rest) = if hub == HubKind::Opencsg {
            (
                &self.opts.endpoints.opencsg,
                format!("csg/api/{}/{repo}/revision/{}", hf_api_kind(rt), enc(r)),
            )
        } else {
            (
                &self.opts.endpoints.huggingface,
                format!("api/{}/{repo}/revision/{}", hf_api_kind(rt), enc(r)),
            )
        };
        let what = format!("{hub} {repo}@{r}");
        let info: HfInfo = self.get_json(hub, url(base, &rest)?, &what).await?;
        let commit = info
            .sha
            .filter(|s| is_commit(s))
            .ok_or_else(|| HubError::Protocol(format!("{what}: no commit sha in the answer")))?
            .to_ascii_lowercase();
        let mut files: Vec<String> = info
            .siblings
            .into_iter()
            .map(|s| s.rfilename)
            .filter(|p| validate_path(p).is_ok())
            .collect();
        files.sort();
        files.dedup();
        Ok(Resolved {
            resolved_ref: r.to_string(),
            commit,
            files,
        })
    }

    /// ModelScope: the revisions endpoint checks the ref and names no commit in
    /// the documented shape, so the commit is, in order: the revision itself when
    /// it is 40 hex; a `CommitId`/`Sha` on the matching revision item when the
    /// server sends one; the `CommitId` (else `Revision`) of the most recently
    /// committed file in the listing (the branch head touched it); else the ref
    /// name itself (mutable, so it is not a 40-hex commit and gets no disk cache).
    async fn ms_snapshot(&self, repo: &str, rev: Option<&str>) -> Result<Resolved, HubError> {
        let hub = HubKind::Modelscope;
        let r = rev.unwrap_or("master");
        let ep = &self.opts.endpoints.modelscope;
        let what = format!("modelscope {repo}@{r}");
        let mut commit = is_commit(r).then(|| r.to_ascii_lowercase());
        if commit.is_none() {
            let v: serde_json::Value = self
                .get_json(
                    hub,
                    url(ep, &format!("api/v1/models/{repo}/revisions"))?,
                    &what,
                )
                .await?;
            ms_check(&v, &what)?;
            let map = &v["Data"]["RevisionMap"];
            let item = ["Branches", "Tags"]
                .iter()
                .filter_map(|k| map[*k].as_array())
                .flatten()
                .find(|it| it["Revision"].as_str() == Some(r))
                .ok_or_else(|| HubError::NotFound(format!("revision {what}")))?;
            commit = ["CommitId", "Sha", "CommitSha"]
                .iter()
                .filter_map(|k| item[*k].as_str())
                .find(|s| is_commit(s))
                .map(str::to_ascii_lowercase);
        }
        let mut u = url(ep, &format!("api/v1/models/{repo}/repo/files"))?;
        u.query_pairs_mut()
            .append_pair("Revision", commit.as_deref().unwrap_or(r))
            .append_pair("Recursive", "True");
        let v: serde_json::Value = self.get_json(hub, u, &what).await?;
        ms_check(&v, &what)?;
        let list = v["Data"]["Files"]
            .as_array()
            .or_else(|| v["Data"].as_array())
            .cloned()
            .unwrap_or_default();
        if list.len() >= 3000 {
            return Err(HubError::Cap(format!(
                "{what}: listing truncated at 3000 entries"
            )));
        }
        if commit.is_none() {
            commit = list
                .iter()
                .filter(|f| f["Type"].as_str() != Some("tree"))
                .max_by_key(|f| f["CommittedDate"].as_i64().unwrap_or(0))
                .and_then(|f| {
                    [f["CommitId"].as_str(), f["Revision"].as_str()]
                        .into_iter()
                        .flatten()
                        .find(|s| is_commit(s))
                })
                .map(str::to_ascii_lowercase);
        }
        let mut files: Vec<String> = list
            .iter()
            .filter(|f| f["Type"].as_str() != Some("tree"))
            .filter_map(|f| f["Path"].as_str())
            .filter(|p| validate_path(p).is_ok())
            .map(str::to_string)
            .collect();
        files.sort();
        files.dedup();
        let commit = commit.unwrap_or_else(|| r.to_string());
        // Pin content to the listing: with a ref-name fallback commit this is
        // what keeps the fetched bytes the ones that were listed.
        let digests: HashMap<String, String> = list
            .iter()
            .filter_map(|f| Some((f["Path"].as_str()?, f["Sha256"].as_str()?)))
            .filter(|(_, d)| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|(p, d)| (p.to_string(), d.to_ascii_lowercase()))
            .collect();
        self.ms_digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((repo.to_string(), commit.clone()), digests);
        Ok(Resolved {
            resolved_ref: r.to_string(),
            commit,
            files,
        })
    }

    /// Bytes fetched from ModelScope must match the listing's sha256, when it gave one.
    fn ms_verify(&self, snap: &Snapshot, path: &str, bytes: &[u8]) -> Result<(), HubError> {
        let want = self
            .ms_digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(snap.repo_id.clone(), snap.commit.clone()))
            .and_then(|m| m.get(path).cloned());
        match want {
            Some(w) if w != hex::encode(Sha256::digest(bytes)) => Err(HubError::Protocol(format!(
                "modelscope {}@{}:{path}: content does not match the listed sha256",
                snap.repo_id, snap.commit
            ))),
            _ => Ok(()),
        }
    }

    /// GitHub (torch.hub / paddle hub.load): ref -> sha via the commits API
    /// (default: `main` if that branch exists, else `master`), tree via the git trees API.
    async fn gh_snapshot(&self, repo: &str, rev: Option<&str>) -> Result<Resolved, HubError> {
        let hub = HubKind::Github;
        let api = &self.opts.endpoints.github_api;
        let (r, sha) = match rev {
            Some(r) => {
                let v: serde_json::Value = self
                    .get_json(
                        hub,
                        url(api, &format!("repos/{repo}/commits/{}", enc(r)))?,
                        &format!("github {repo}@{r}"),
                    )
                    .await?;
                (r.to_string(), v["sha"].as_str().map(str::to_string))
            }
            None => {
                let mut found = None;
                for b in ["main", "master"] {
                    match self
                        .get_json::<serde_json::Value>(
                            hub,
                            url(api, &format!("repos/{repo}/branches/{b}"))?,
                            &format!("github {repo}@{b}"),
                        )
                        .await
                    {
                        Ok(v) => {
                            found = Some((
                                b.to_string(),
                                v["commit"]["sha"].as_str().map(str::to_string),
                            ));
                            break;
                        }
                        Err(HubError::NotFound(_)) => continue,
                        Err(e) => return Err(e),
                    }
                }
                found.ok_or_else(|| {
                    HubError::NotFound(format!("github {repo}: neither main nor master"))
                })?
            }
        };
        let what = format!("github {repo}@{r}");
        let sha = sha
            .filter(|s| is_commit(s))
            .ok_or_else(|| HubError::Protocol(format!("{what}: no commit sha")))?
            .to_ascii_lowercase();
        let mut u = url(api, &format!("repos/{repo}/git/trees/{sha}"))?;
        u.query_pairs_mut().append_pair("recursive", "1");
        let v: serde_json::Value = self.get_json(hub, u, &what).await?;
        if v["truncated"].as_bool() == Some(true) {
            return Err(HubError::Cap(format!(
                "{what}: tree listing truncated by GitHub"
            )));
        }
        let mut files: Vec<String> = v["tree"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"].as_str() == Some("blob"))
            .filter_map(|e| e["path"].as_str())
            .filter(|p| validate_path(p).is_ok())
            .map(str::to_string)
            .collect();
        files.sort();
        Ok(Resolved {
            resolved_ref: r,
            commit: sha,
            files,
        })
    }

    /// PaddleHub: search -> archive URL; the commit is `{version}+sha256:{archive hex}`.
    async fn paddle_snapshot(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Resolved, HubError> {
        let what = format!("paddlehub module {name}");
        let mut u = url(&self.opts.endpoints.paddlehub, "search")?;
        u.query_pairs_mut()
            .append_pair("word", name)
            .append_pair("type", "module")
            .append_pair("version", version.unwrap_or(""));
        let v: serde_json::Value = self.get_json(HubKind::Paddlehub, u, &what).await?;
        if v["status"].as_i64() != Some(0) {
            return Err(HubError::Protocol(format!(
                "{what}: search status {}",
                v["status"]
            )));
        }
        let item = v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|it| {
                it["name"].as_str() == Some(name)
                    && version.is_none_or(|want| it["version"].as_str() == Some(want))
            })
            .ok_or_else(|| {
                HubError::NotFound(format!(
                    "{what}{}",
                    version.map(|v| format!(" version {v}")).unwrap_or_default()
                ))
            })?;
        let ver = item["version"]
            .as_str()
            .filter(|v| safe_component(v))
            .ok_or_else(|| HubError::Protocol(format!("{what}: bad version")))?;
        let aurl = item["url"]
            .as_str()
            .and_then(|s| Url::parse(s).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| HubError::Protocol(format!("{what}: bad archive url")))?;
        // The archive may live on any host: send no token.
        let resp = self
            .http
            .get(&Req::new(aurl), Limit::Error(MAX_ARCHIVE_DOWNLOAD_BYTES))
            .await?;
        if !resp.ok() {
            return Err(status_error(&resp, &format!("{what} archive")));
        }
        let commit = format!("{ver}+sha256:{}", hex::encode(Sha256::digest(&resp.body)));
        let body = resp.body;
        let ar = tokio::task::spawn_blocking(move || archive::extract(&body))
            .await
            .map_err(|e| HubError::Protocol(format!("{what}: {e}")))??;
        let files = ar.files.keys().cloned().collect();
        self.archives
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((name.to_string(), commit.clone()), Arc::new(ar));
        Ok(Resolved {
            resolved_ref: ver.to_string(),
            commit,
            files,
        })
    }

    // ---------- files ----------

    /// The GET for one file at a commit (not for PaddleHub).
    fn file_req(&self, snap: &Snapshot, path: &str) -> Result<Req, HubError> {
        let hub = snap.hub;
        let repo = &snap.repo_id;
        let c = &snap.commit;
        let ep = &self.opts.endpoints;
        let u = match hub {
            HubKind::Huggingface => url(
                &ep.huggingface,
                &format!(
                    "{}{repo}/resolve/{}/{}",
                    hf_prefix(snap.repo_type),
                    enc(c),
                    enc_path(path)
                ),
            )?,
            HubKind::Opencsg => url(
                &ep.opencsg,
                &format!(
                    "csg/{}{repo}/resolve/{}/{}",
                    hf_prefix(snap.repo_type),
                    enc(c),
                    enc_path(path)
                ),
            )?,
            HubKind::Modelscope => {
                let mut u = url(&ep.modelscope, &format!("api/v1/models/{repo}/repo"))?;
                u.query_pairs_mut()
                    .append_pair("Revision", c)
                    .append_pair("FilePath", path);
                u
            }
            HubKind::Github => {
                let mut u = url(
                    &ep.github_api,
                    &format!("repos/{repo}/contents/{}", enc_path(path)),
                )?;
                u.query_pairs_mut().append_pair("ref", c);
                return Ok(Req::new(u)
                    .token(self.token(hub))
                    .header(ACCEPT, "application/vnd.github.raw")
                    .header(
                        reqwest::header::HeaderName::from_static("x-github-api-version"),
                        "2022-11-28",
                    ));
            }
            HubKind::Paddlehub => {
                return Err(HubError::Protocol(
                    "paddlehub files come from the archive".into(),
                ));
            }
        };
        Ok(Req::new(u).token(self.token(hub)))
    }

    fn archive_member(&self, snap: &Snapshot, path: &str) -> Result<Vec<u8>, HubError> {
        let ar = self
            .archives
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(snap.repo_id.clone(), snap.commit.clone()))
            .cloned()
            .ok_or_else(|| {
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

    /// Local copy of a file (mirror, then HF cache when offline), for range reads.
    fn local_path(&self, snap: &Snapshot, path: &str) -> Option<PathBuf> {
        if let Some(m) = &self.mirror
            && let Some(p) =
                m.local_path(snap.hub, snap.repo_type, &snap.repo_id, &snap.commit, path)
        {
            return Some(p);
        }
        if self.opts.offline
            && snap.hub == HubKind::Huggingface
            && let Some(h) = &self.hf_cache
        {
            return h.local_path(snap.repo_type, &snap.repo_id, &snap.commit, path);
        }
        None
    }

    async fn read_uncached(&self, snap: &Snapshot, path: &str) -> Result<Vec<u8>, HubError> {
        let (hub, rt, repo, commit) = (
            snap.hub,
            snap.repo_type,
            snap.repo_id.as_str(),
            snap.commit.as_str(),
        );
        if let Some(m) = &self.mirror
            && let Some(r) = m.read(hub, rt, repo, commit, path, MAX_CODE_FILE_BYTES)
        {
            self.hit();
            return r;
        }
        if let Some(c) = &self.cache
            && immutable(commit)
            && let Some(b) = c.get(
                Namespace::File,
                hub,
                rt,
                repo,
                commit,
                path,
                MAX_CODE_FILE_BYTES,
            )
        {
            self.hit();
            return Ok(b);
        }
        if self.opts.offline {
            if hub == HubKind::Huggingface
                && let Some(h) = &self.hf_cache
                && let Some(r) = h.read(rt, repo, commit, path, MAX_CODE_FILE_BYTES)
            {
                self.hit();
                return r;
            }
            return Err(HubError::Offline(format!("{hub} {repo}@{commit}:{path}")));
        }
        let bytes = if hub == HubKind::Paddlehub {
            self.archive_member(snap, path)?
        } else {
            let req = self.file_req(snap, path)?;
            let resp = self
                .http
                .get(&req, Limit::Error(MAX_CODE_FILE_BYTES))
                .await?;
            if !resp.ok() {
                return Err(status_error(
                    &resp,
                    &format!("{hub} {repo}@{commit}:{path}"),
                ));
            }
            match hub {
                HubKind::Github => gh_contents_body(resp)?,
                HubKind::Modelscope => {
                    self.ms_verify(snap, path, &resp.body)?;
                    resp.body
                }
                _ => resp.body,
            }
        };
        if let Some(c) = &self.cache
            && immutable(commit)
        {
            c.put(Namespace::File, hub, rt, repo, commit, path, &bytes);
        }
        Ok(bytes)
    }

    async fn pickle_uncached(&self, snap: &Snapshot, path: &str) -> Result<Vec<u8>, HubError> {
        let (hub, rt, repo, commit) = (
            snap.hub,
            snap.repo_type,
            snap.repo_id.as_str(),
            snap.commit.as_str(),
        );
        if let Some(p) = self.local_path(snap, path) {
            self.hit();
            return checkpoint::read_pickle(&LocalRange(p)).await;
        }
        if let Some(c) = &self.cache
            && immutable(commit)
            && let Some(b) = c.get(
                Namespace::Pickle,
                hub,
                rt,
                repo,
                commit,
                path,
                checkpoint::MAX_IMAGE_BYTES,
            )
        {
            self.hit();
            return Ok(b);
        }
        if self.opts.offline {
            return Err(HubError::Offline(format!("{hub} {repo}@{commit}:{path}")));
        }
        let bytes = if hub == HubKind::Paddlehub {
            let b = self.archive_member(snap, path)?;
            checkpoint::read_pickle(&checkpoint::MemRange(&b)).await?
        } else {
            let req = self.file_req(snap, path)?;
            checkpoint::read_pickle(&RemoteRange {
                http: &self.http,
                req,
            })
            .await?
        };
        if let Some(c) = &self.cache
            && immutable(commit)
        {
            c.put(Namespace::Pickle, hub, rt, repo, commit, path, &bytes);
        }
        Ok(bytes)
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
}

/// ModelScope wraps answers in `{Code, Success, Message, Data}`; a `Success: false`
/// answer with status 200 is a failure.
fn ms_check(v: &serde_json::Value, what: &str) -> Result<(), HubError> {
    if v["Success"].as_bool() == Some(false) {
        let msg = v["Message"].as_str().unwrap_or("request failed");
        return Err(HubError::NotFound(format!("{what}: {msg}")));
    }
    Ok(())
}

/// A commit whose content can never change (so it may be cached on disk): a git
/// commit id or a PaddleHub archive digest, never a ref name.
fn immutable(commit: &str) -> bool {
    is_commit(commit) || commit.contains("+sha256:")
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

impl RepoSource for Hubs {
    async fn snapshot(
        &self,
        hub: HubKind,
        repo_type: RepoType,
        repo_id: &str,
        revision: Option<&str>,
    ) -> Result<Arc<Snapshot>, HubError> {
        validate_repo_id(hub, repo_id)?;
        if let Some(r) = revision {
            validate_revision(r)?;
            if hub == HubKind::Paddlehub && !safe_component(r) {
                return Err(HubError::Invalid(r.to_string()));
            }
        }
        // `None` and the hub's explicit default ref are one request (GitHub's
        // default is main-else-master, so it stays `None`).
        let key_rev = revision.map(str::to_string).or(match hub {
            HubKind::Huggingface | HubKind::Opencsg | HubKind::Modelscope => {
                Some(default_ref(hub).to_string())
            }
            HubKind::Github | HubKind::Paddlehub => None,
        });
        let key = (hub, repo_type, repo_id.to_string(), key_rev.clone());
        let snap = self
            .snaps
            .get(key, || async {
                let r = self
                    .snapshot_uncached(hub, repo_type, repo_id, key_rev.as_deref())
                    .await?;
                Ok(Arc::new(Snapshot {
                    hub,
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
        Self::check_file(snap, path)?;
        self.files
            .get(file_key(snap, path), || async {
                self.read_uncached(snap, path).await.map(Arc::new)
            })
            .await
    }

    async fn read_pickle(&self, snap: &Snapshot, path: &str) -> Result<Bytes, HubError> {
        Self::check_file(snap, path)?;
        self.pickles
            .get(file_key(snap, path), || async {
                self.pickle_uncached(snap, path).await.map(Arc::new)
            })
            .await
    }

    fn stats(&self) -> FetchStats {
        FetchStats {
            http_requests: self.http.requests(),
            bytes_fetched: self.http.bytes(),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }
}

/// GitHub's contents API answers JSON with base64 content when the raw media
/// type is not honoured (e.g. by a proxy); raw answers pass through.
fn gh_contents_body(resp: Resp) -> Result<Vec<u8>, HubError> {
    let json = resp
        .header("content-type")
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !json {
        return Ok(resp.body);
    }
    let v: serde_json::Value = resp.json("github contents")?;
    match (v["encoding"].as_str(), v["content"].as_str()) {
        (Some("base64"), Some(c)) => base64::engine::general_purpose::STANDARD
            .decode(c.replace('\n', ""))
            .map_err(|e| HubError::Protocol(format!("github contents: {e}"))),
        _ => Err(HubError::Protocol("github contents: not a file".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_vars() {
        let vars: HashMap<&str, &str> = [
            ("HF_ENDPOINT", "https://hf-mirror.example"),
            ("HUGGING_FACE_HUB_TOKEN", "legacy"),
            ("MODELSCOPE_DOMAIN", "www.modelscope.ai"),
            ("CSGHUB_TOKEN", " csg-secret "),
            ("GITHUB_TOKEN", ""),
            ("HF_HOME", "/data/hf"),
        ]
        .into();
        let o = HubOptions::from_vars(|k| vars.get(k).map(|v| v.to_string()));
        assert_eq!(o.endpoints.huggingface, "https://hf-mirror.example");
        assert_eq!(o.endpoints.modelscope, "https://www.modelscope.ai");
        assert_eq!(o.endpoints.opencsg, "https://hub.opencsg.com");
        assert_eq!(o.endpoints.github_api, "https://api.github.com");
        assert_eq!(
            o.endpoints.paddlehub,
            "http://paddlepaddle.org.cn/paddlehub"
        );
        assert_eq!(o.tokens.huggingface.as_deref(), Some("legacy"));
        assert_eq!(o.tokens.opencsg.as_deref(), Some("csg-secret"));
        assert!(
            !format!("{o:?}").contains("csg-secret"),
            "tokens never in Debug"
        );
        assert_eq!(o.tokens.github, None);
        assert_eq!(o.hf_cache, Some(PathBuf::from("/data/hf/hub")));
        assert!(!o.offline);
        let o = HubOptions::from_vars(|k| {
            (k == "MODELSCOPE_ENDPOINT").then(|| "http://ms.local".to_string())
        });
        assert_eq!(o.endpoints.modelscope, "http://ms.local");
    }
}
