//! Files the remote code itself fetches while it loads (issue 10, "treat files that the
//! remote code fetches at load as part of the closure").
//!
//! Every fetched Python file is searched for downloads (`hf_hub_download`,
//! `snapshot_download`, transformers `cached_file`, ModelScope's downloads, and URL
//! fetches of `https://huggingface.co/<repo>/resolve/<rev>/<file>`) under any alias the
//! file gives them. When the repo, the file and the revision are known statically
//! (literals, module constants, or the model's own repo through `name_or_path`), the
//! file is read through the hub layer and joins the target: Python to the code scan,
//! pickles to the pickle walker, and its own downloads followed in turn, up to
//! [`ResolveOptions::max_follow_depth`](super::ResolveOptions) and
//! [`max_follows`](super::ResolveOptions). A download that names anything else stays
//! what the capability pass says it is: code fetched at load that could not be verified.

mod unpickle;

use std::collections::BTreeSet;
use std::sync::Arc;

use tree_sitter::Node;

use super::{Job, is_pickle_weight};
use crate::discover::python::{BindKind, Index};
use crate::discover::values::{Lit, Resolver, call_arg, repo_type_of};
use crate::hub::{RepoSource, Snapshot, is_commit, validate_path};
use crate::model::{FetchOutcome, FileKind, HubKind, LoadFetch, RemoteFile, RepoType};

/// Words without which a file makes none of the downloads below (checked before parsing).
const WORDS: &[&str] = &[
    "hf_hub_download",
    "snapshot_download",
    "cached_file",
    "get_file_from_repo",
    "model_file_download",
    "huggingface.co/",
    "hf.co/",
];

/// What a download call fetches.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One file: (position, keywords) of its name.
    File(usize, &'static [&'static str]),
    /// The whole repo.
    Snapshot,
    /// A URL (position, keywords).
    Url(usize, &'static [&'static str]),
}

struct Api {
    names: &'static [&'static str],
    hub: HubKind,
    repo: (usize, &'static [&'static str]),
    shape: Shape,
    rev: (Option<usize>, &'static [&'static str]),
}

const HF_REPO: (usize, &[&str]) = (0, &["repo_id"]);
const REV: (Option<usize>, &[&str]) = (None, &["revision"]);
const NO_REV: (Option<usize>, &[&str]) = (None, &[]);

/// The downloads followed, by qualified name (`discover::python::Index::qualify`).
const APIS: &[Api] = &[
    Api {
        names: &[
            "huggingface_hub.hf_hub_download",
            "huggingface_hub.file_download.hf_hub_download",
        ],
        hub: HubKind::Huggingface,
        repo: HF_REPO,
        shape: Shape::File(1, &["filename"]),
        rev: REV,
    },
    Api {
        names: &[
            "huggingface_hub.snapshot_download",
            "huggingface_hub._snapshot_download.snapshot_download",
        ],
        hub: HubKind::Huggingface,
        repo: HF_REPO,
        shape: Shape::Snapshot,
        rev: REV,
    },
    Api {
        names: &[
            "transformers.utils.cached_file",
            "transformers.utils.hub.cached_file",
            "transformers.utils.get_file_from_repo",
            "transformers.utils.hub.get_file_from_repo",
        ],
        hub: HubKind::Huggingface,
        repo: (0, &["path_or_repo_id", "path_or_repo"]),
        shape: Shape::File(1, &["filename"]),
        rev: REV,
    },
    Api {
        names: &[
            "modelscope.model_file_download",
            "modelscope.hub.file_download.model_file_download",
        ],
        hub: HubKind::Modelscope,
        repo: (0, &["model_id"]),
        shape: Shape::File(1, &["file_path"]),
        rev: REV,
    },
    Api {
        names: &[
            "modelscope.snapshot_download",
            "modelscope.hub.snapshot_download.snapshot_download",
        ],
        hub: HubKind::Modelscope,
        repo: (0, &["model_id"]),
        shape: Shape::Snapshot,
        rev: (Some(1), &["revision"]),
    },
    Api {
        names: &[
            "torch.hub.load_state_dict_from_url",
            "torch.hub.download_url_to_file",
            "torch.utils.model_zoo.load_url",
            "urllib.request.urlretrieve",
            "urllib.request.urlopen",
            "requests.get",
            "httpx.get",
            "wget.download",
        ],
        hub: HubKind::Huggingface,
        repo: (usize::MAX, &[]),
        shape: Shape::Url(0, &["url", "f"]),
        rev: NO_REV,
    },
];

/// A statically known value, or why it is not.
#[derive(Clone, Debug, PartialEq)]
enum Known {
    Values(Vec<String>),
    /// The model's own repo (`self.config._name_or_path`).
    Own,
    Absent,
    Unknown(String),
}

/// One download call found in a file.
#[derive(Clone, Debug)]
struct Download {
    line: u32,
    end_line: u32,
    api: String,
    hub: HubKind,
    repo: Known,
    /// File names (`subfolder` joined); `None` for a snapshot.
    files: Option<Known>,
    rev: Known,
    repo_type: RepoType,
}

/// Names through which a value is the model's own repo id.
fn own_repo_text(t: &str) -> bool {
    let last = t.rsplit(['.', ' ']).next().unwrap_or(t);
    matches!(
        last,
        "_name_or_path" | "name_or_path" | "pretrained_model_name_or_path"
    )
}

fn known<'t>(r: &Resolver<'_, 't>, src: &[u8], n: Option<Node<'t>>) -> Known {
    let Some(n) = n else {
        return Known::Absent;
    };
    let text = crate::python::text(n, src);
    if own_repo_text(text) {
        return Known::Own;
    }
    let mut out = Vec::new();
    for v in r.resolve(n) {
        match v.lit {
            Lit::Str(s) => out.push(s),
            Lit::Cycle => {}
            Lit::None => return Known::Absent,
            _ if own_repo_text(&v.how) => return Known::Own,
            _ => return Known::Unknown(format!("`{text}` ({})", v.how)),
        }
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        Known::Unknown(format!("`{text}`"))
    } else {
        Known::Values(out)
    }
}

/// `https://huggingface.co/<repo>/resolve/<rev>/<path>` (`datasets/` and `spaces/`
/// prefixes, `hf.co`): (repo type, repo, revision, path).
fn hf_url(url: &str) -> Option<(RepoType, String, String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    if !matches!(host, "huggingface.co" | "hf.co" | "www.huggingface.co") {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let (repo_type, path) = match path.split_once('/') {
        Some(("datasets", p)) => (RepoType::Dataset, p),
        Some(("spaces", p)) => (RepoType::Space, p),
        _ => (RepoType::Model, path),
    };
    let mut parts = path.splitn(5, '/');
    let (owner, name, verb, rev, file) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if verb != "resolve" || file.is_empty() {
        return None;
    }
    Some((
        repo_type,
        format!("{owner}/{name}"),
        rev.to_string(),
        file.to_string(),
    ))
}

/// Parse a fetched Python file and give `f` its index, value resolver and source (lines
/// as they are: the file is read whole). `None` when it does not parse.
fn with_resolver<T>(
    src: &[u8],
    f: impl for<'a, 't> FnOnce(&'a Index<'t>, &'a Resolver<'a, 't>, &'t [u8]) -> T,
) -> Option<T> {
    let tree = crate::python::parse(src)?;
    let idx = Index::build(&tree, src);
    let line_map = |l: u32| l;
    let r = Resolver::new(&idx, &line_map);
    Some(f(&idx, &r, src))
}

/// The download calls of one Python file.
fn downloads(src: &[u8]) -> Vec<Download> {
    if !WORDS
        .iter()
        .any(|w| memchr::memmem::find(src, w.as_bytes()).is_some())
    {
        return Vec::new();
    }
    with_resolver(src, |idx, r, src| {
        let mut out = Vec::new();
        for &call in &idx.calls {
            let Some(f) = call.child_by_field_name("function") else {
                continue;
            };
            let mut quals = idx.qualify(f, 0);
            quals.extend(instance_method(idx, f));
            let Some((api, name)) = APIS.iter().find_map(|a| {
                quals
                    .iter()
                    .find_map(|q| a.names.iter().find(|n| *n == q).map(|n| (a, *n)))
            }) else {
                continue;
            };
            let line = u32::try_from(call.start_position().row + 1).unwrap_or(u32::MAX);
            let end_line = u32::try_from(call.end_position().row + 1).unwrap_or(u32::MAX);
            let arg = |pos: usize, kws: &[&str]| call_arg(call, src, Some(pos), kws);
            let repo_type = match call_arg(call, src, None, &["repo_type"]) {
                Some(n) => match known(r, src, Some(n)) {
                    Known::Values(v) if v.len() == 1 => repo_type_of(&v[0]),
                    Known::Absent => RepoType::Model,
                    // An unknown repo type: the repo is unknown.
                    _ => {
                        out.push(Download {
                            line,
                            end_line,
                            api: name.to_string(),
                            hub: api.hub,
                            repo: Known::Unknown("its repo_type is not known statically".into()),
                            files: None,
                            rev: Known::Absent,
                            repo_type: RepoType::Model,
                        });
                        continue;
                    }
                },
                None => RepoType::Model,
            };
            let d = match api.shape {
                Shape::Url(pos, kws) => {
                    let Known::Values(urls) = known(r, src, arg(pos, kws)) else {
                        continue;
                    };
                    // Only hub URLs are followed; other hosts are the network capability's.
                    for u in urls {
                        let Some((rt, repo, rev, file)) = hf_url(&u) else {
                            continue;
                        };
                        out.push(Download {
                            line,
                            end_line,
                            api: name.to_string(),
                            hub: HubKind::Huggingface,
                            repo: Known::Values(vec![repo]),
                            files: Some(Known::Values(vec![file])),
                            rev: Known::Values(vec![rev]),
                            repo_type: rt,
                        });
                    }
                    continue;
                }
                Shape::File(pos, kws) => {
                    let mut files = known(r, src, arg(pos, kws));
                    if let Known::Values(fs) = &mut files {
                        match known(r, src, call_arg(call, src, None, &["subfolder"])) {
                            Known::Values(sub) if sub.len() == 1 => {
                                let sub = sub[0].trim_end_matches('/');
                                if !sub.is_empty() {
                                    for f in fs.iter_mut() {
                                        *f = format!("{sub}/{f}");
                                    }
                                }
                            }
                            Known::Absent => {}
                            _ => {
                                files =
                                    Known::Unknown("its subfolder is not known statically".into())
                            }
                        }
                    }
                    Download {
                        line,
                        end_line,
                        api: name.to_string(),
                        hub: api.hub,
                        repo: known(r, src, arg(api.repo.0, api.repo.1)),
                        files: Some(files),
                        rev: known(r, src, call_arg(call, src, api.rev.0, api.rev.1)),
                        repo_type,
                    }
                }
                Shape::Snapshot => Download {
                    line,
                    end_line,
                    api: name.to_string(),
                    hub: api.hub,
                    repo: known(r, src, arg(api.repo.0, api.repo.1)),
                    files: None,
                    rev: known(r, src, call_arg(call, src, api.rev.0, api.rev.1)),
                    repo_type,
                },
            };
            out.push(d);
        }
        out
    })
    .unwrap_or_default()
}

/// Classes whose instances download like the module functions
/// (`HfApi().hf_hub_download(...)`, `api = HfApi(); api.snapshot_download(...)`).
const CLIENTS: &[&str] = &["huggingface_hub.HfApi", "huggingface_hub.hf_api.HfApi"];
/// Module-level instances of those classes.
const INSTANCES: &[&str] = &["huggingface_hub.hf_api.api"];

/// `huggingface_hub.<method>` for a method called on an `HfApi` instance.
fn instance_method<'t>(idx: &Index<'t>, f: Node<'t>) -> Option<String> {
    if f.kind() != "attribute" {
        return None;
    }
    let obj = f.child_by_field_name("object")?;
    let m = crate::python::text(f.child_by_field_name("attribute")?, idx.src);
    is_client(idx, obj, 0).then(|| format!("huggingface_hub.{m}"))
}

/// Whether an expression holds an `HfApi` instance: a constructor call, a name or a
/// field assigned one.
fn is_client<'t>(idx: &Index<'t>, n: Node<'t>, depth: u32) -> bool {
    if depth > 8 {
        return false;
    }
    let made = |rhs: Node<'t>| is_client(idx, rhs, depth + 1);
    match n.kind() {
        "call" => n.child_by_field_name("function").is_some_and(|f| {
            idx.qualify(f, 0)
                .iter()
                .any(|q| CLIENTS.contains(&q.as_str()))
        }),
        "identifier" => {
            if idx
                .qualify(n, 0)
                .iter()
                .any(|q| INSTANCES.contains(&q.as_str()))
            {
                return true;
            }
            let name = crate::python::text(n, idx.src);
            matches!(idx.lookup(name, n).map(|b| b.kind), Some(BindKind::Assign(rhs)) if made(rhs))
        }
        // `self.api = HfApi()` anywhere in the file.
        "attribute" => {
            if idx
                .qualify(n, 0)
                .iter()
                .any(|q| INSTANCES.contains(&q.as_str()))
            {
                return true;
            }
            n.child_by_field_name("attribute")
                .map(|a| crate::python::text(a, idx.src))
                .and_then(|a| idx.attrs.get(a))
                .is_some_and(|rhs| rhs.iter().any(|(r, _)| made(*r)))
        }
        "parenthesized_expression" => n.named_child(0).is_some_and(made),
        _ => false,
    }
}

/// How a file name is handled once its repo is known. NumPy arrays go to the pickle
/// scanner too: it reads an `.npy` header (and an `.npz`'s members) and walks the pickle of
/// an object array, which `np.load(.., allow_pickle=True)` would run.
fn kind_of(path: &str) -> Option<FileKind> {
    if path.ends_with(".py") {
        Some(FileKind::Python)
    } else if is_pickle_weight(path) || is_numpy(path) {
        Some(FileKind::Pickle)
    } else {
        None
    }
}

/// A NumPy array file (`np.save`/`np.savez`), not a checkpoint of weights.
fn is_numpy(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".npy") || lower.ends_with(".npz")
}

/// Follow the downloads of every Python file of the target (those it gains too).
pub(crate) async fn follow<S: RepoSource>(job: &mut Job<'_, S>) {
    let own = job.acc.primary.clone();
    // (index in files, depth): files the library fetched are depth 0.
    let mut next = 0usize;
    let mut depth_of: Vec<usize> = vec![0; job.acc.files.len()];
    let mut followed = 0usize;
    while next < job.acc.files.len() {
        let i = next;
        next += 1;
        let f = &job.acc.files[i];
        if f.kind != FileKind::Python {
            continue;
        }
        let depth = depth_of.get(i).copied().unwrap_or(0);
        let data = unpickle::unpickles(&f.content, &f.path);
        if !data.is_empty() {
            let f = f.clone();
            for u in data {
                let rec = follow_data(job, &f, &u, own.as_deref(), &mut followed).await;
                depth_of.resize(job.acc.files.len(), depth + 1);
                if !job.acc.fetched.contains(&rec) {
                    job.acc.fetched.push(rec);
                }
            }
        }
        let f = &job.acc.files[i];
        let found = downloads(&f.content);
        if found.is_empty() {
            continue;
        }
        let at = (f.hub, f.repo_id.clone(), f.commit.clone(), f.path.clone());
        for d in found {
            let mut rec = LoadFetch {
                hub: at.0,
                repo_id: at.1.clone(),
                commit: at.2.clone(),
                file: at.3.clone(),
                line: d.line,
                end_line: d.end_line,
                api: d.api.clone(),
                outcome: FetchOutcome::Failed,
                detail: String::new(),
            };
            let before = job.acc.files.len();
            match follow_one(job, &d, own.as_deref(), depth, &mut followed, &at.3).await {
                Some((outcome, detail)) => {
                    rec.outcome = outcome;
                    rec.detail = detail;
                }
                // Nothing statically named, or only data files: the capability pass decides.
                None => continue,
            }
            depth_of.resize(before, 0);
            depth_of.resize(job.acc.files.len(), depth + 1);
            if !job.acc.fetched.contains(&rec) {
                job.acc.fetched.push(rec);
            }
        }
    }
}

/// Read a repo file that `from` unpickles at load into the target, as a pickle: it is
/// the same repo at the same commit as the code that names it.
async fn follow_data<S: RepoSource>(
    job: &mut Job<'_, S>,
    from: &RemoteFile,
    u: &unpickle::Unpickle,
    own: Option<&Snapshot>,
    followed: &mut usize,
) -> LoadFetch {
    let mut rec = LoadFetch {
        hub: from.hub,
        repo_id: from.repo_id.clone(),
        commit: from.commit.clone(),
        file: from.path.clone(),
        line: u.line,
        end_line: u.end_line,
        api: u.api.clone(),
        outcome: FetchOutcome::Failed,
        detail: String::new(),
    };
    let path = match &u.path {
        Ok(p) => p.clone(),
        Err(why) => {
            rec.detail = format!("not followed: the path {why}");
            return rec;
        }
    };
    if let Err(e) = validate_path(&path) {
        rec.detail = format!("not followed: {e}");
        return rec;
    }
    let snap = match code_snapshot(job, from, own).await {
        Ok(s) => s,
        Err(e) => {
            rec.detail = format!("not followed: {}: {e}", from.repo_id);
            return rec;
        }
    };
    if !snap.has(&path) {
        rec.detail = format!(
            "not followed: {path} is not in {}@{}, so the file it loads comes from elsewhere",
            snap.repo_id, snap.commit
        );
        return rec;
    }
    *followed += 1;
    if *followed > job.opts.max_follows {
        job.mark_unverified(format!(
            "more than {} files fetched at load (at {}:{})",
            job.opts.max_follows, from.path, u.line
        ));
        rec.detail = format!(
            "not followed: more than {} files fetched at load",
            job.opts.max_follows
        );
        return rec;
    }
    let why = format!("unpickled at load by {}:{} ({})", from.path, u.line, u.api);
    match job.add_file(&snap, &path, FileKind::Pickle, why).await {
        // Not `acc_pickle`: that flag says the model's weights are pickles.
        Ok(content) => {
            if let Some(reason) = content.and_then(|c| crate::scan::pickle::unverified(&c)) {
                job.mark_unverified(format!(
                    "{path} in {}@{} cannot be verified: {reason}",
                    snap.repo_id, snap.commit
                ));
            }
        }
        Err(e) => {
            rec.detail = format!("not followed: {e}");
            return rec;
        }
    }
    rec.outcome = FetchOutcome::Pinned;
    rec.detail = format!("read and scanned: {}@{}:{path}", snap.repo_id, snap.commit);
    rec
}

/// The snapshot a fetched file comes from (its repo at its commit).
async fn code_snapshot<S: RepoSource>(
    job: &mut Job<'_, S>,
    f: &RemoteFile,
    own: Option<&Snapshot>,
) -> Result<Arc<Snapshot>, super::ResolveError> {
    let same = own.filter(|s| s.hub == f.hub && s.repo_id == f.repo_id);
    if let Some(s) = same.filter(|s| s.commit == f.commit) {
        return Ok(Arc::new(s.clone()));
    }
    let repo_type = match f.hub {
        HubKind::Github => RepoType::Github,
        HubKind::Paddlehub => RepoType::Module,
        _ => same.map_or(RepoType::Model, |s| s.repo_type),
    };
    job.snapshot(f.hub, repo_type, &f.repo_id, Some(&f.commit))
        .await
}

/// Read what one download fetches into the target. `None` when it names nothing that
/// can be followed (then the capability pass reports it).
async fn follow_one<S: RepoSource>(
    job: &mut Job<'_, S>,
    d: &Download,
    own: Option<&Snapshot>,
    depth: usize,
    followed: &mut usize,
    from: &str,
) -> Option<(FetchOutcome, String)> {
    let failed = |why: String| Some((FetchOutcome::Failed, why));
    let repos: Vec<String> = match &d.repo {
        Known::Values(v) => v.clone(),
        Known::Own => match own {
            Some(s) if s.hub == d.hub => vec![s.repo_id.clone()],
            _ => return None,
        },
        Known::Absent | Known::Unknown(_) => return None,
    };
    let rev = match &d.rev {
        Known::Absent => None,
        Known::Values(v) if v.len() == 1 => Some(v[0].clone()),
        // A revision chosen at run time can fetch anything from the repo.
        _ => return None,
    };
    let files: Option<Vec<String>> = match &d.files {
        None => None,
        Some(Known::Values(v)) => Some(v.clone()),
        Some(_) => return None,
    };
    // Data files stay the capability pass's warning; code, pickles and anything
    // that cannot be scanned are followed or fail.
    if let Some(fs) = &files
        && fs.iter().all(|f| kind_of(f).is_none() && is_data(f))
    {
        return None;
    }
    if depth >= job.opts.max_follow_depth {
        job.mark_unverified(format!(
            "files fetched at load nest deeper than {} downloads (at {from}:{})",
            job.opts.max_follow_depth, d.line
        ));
        return failed(format!(
            "not followed: more than {} downloads deep",
            job.opts.max_follow_depth
        ));
    }
    let pinned = rev.as_deref().is_some_and(is_commit);
    let mut fetched = Vec::new();
    for repo in repos {
        let snap = match job
            .snapshot(d.hub, d.repo_type, &repo, rev.as_deref())
            .await
        {
            Ok(s) => s,
            Err(e) => return failed(format!("not followed: {repo}: {e}")),
        };
        let wanted: Vec<String> = match &files {
            Some(fs) => fs.clone(),
            None => snap
                .files
                .iter()
                .filter(|p| kind_of(p).is_some())
                .cloned()
                .collect(),
        };
        for path in wanted {
            if let Err(e) = validate_path(&path) {
                // A name that climbs out of the repo is an attempt, not a mistake: the
                // target fails closed (a missing repo or file only keeps its finding).
                job.mark_unverified(format!(
                    "{from}:{} fetches at load a path that is rejected ({e})",
                    d.line
                ));
                return failed(format!("not followed: {e}"));
            }
            let Some(kind) = kind_of(&path) else {
                if is_data(&path) {
                    continue;
                }
                return failed(format!(
                    "not followed: {path} is neither Python nor a pickle, so it cannot be scanned"
                ));
            };
            if !snap.has(&path) {
                job.note(format!(
                    "{path} (fetched at load by {from}:{}) is not in {}@{}: the load fails there",
                    d.line, snap.repo_id, snap.commit
                ));
                continue;
            }
            *followed += 1;
            if *followed > job.opts.max_follows {
                job.mark_unverified(format!(
                    "more than {} files fetched at load (at {from}:{})",
                    job.opts.max_follows, d.line
                ));
                return failed(format!(
                    "not followed: more than {} files fetched at load",
                    job.opts.max_follows
                ));
            }
            let why = format!("fetched at load by {from}:{} ({})", d.line, d.api);
            match job.add_file(&snap, &path, kind, why).await {
                Ok(Some(content)) if kind == FileKind::Pickle => {
                    // The flag says the model's weights are pickles; an array file is
                    // data the code reads (like the unpickled files of `follow_data`).
                    if !is_numpy(&path) {
                        job.acc_pickle();
                    }
                    if let Some(reason) = crate::scan::pickle::unverified(&content) {
                        job.mark_unverified(format!(
                            "{path} in {}@{} cannot be verified: {reason}",
                            snap.repo_id, snap.commit
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) => return failed(format!("not followed: {e}")),
            }
            fetched.push(format!("{}@{}:{path}", snap.repo_id, snap.commit));
        }
    }
    let mut shown: BTreeSet<String> = fetched.into_iter().collect();
    if shown.is_empty() {
        shown.insert("nothing it names is in the repo".into());
    }
    let list = shown.into_iter().collect::<Vec<_>>().join(", ");
    Some(if pinned {
        (FetchOutcome::Pinned, format!("read and scanned: {list}"))
    } else {
        let named = match rev {
            Some(r) => format!("names revision {r:?}, a branch or tag"),
            None => "names no revision (the default branch)".into(),
        };
        (
            FetchOutcome::Unpinned,
            format!(
                "read and scanned: {list}; the download {named}, so a later load may fetch other bytes"
            ),
        )
    })
}

/// A data file by its extension (what the capability catalogue calls `data-extensions`).
fn is_data(path: &str) -> bool {
    let ext = path.rsplit('.').next().unwrap_or("");
    path.contains('.')
        && matches!(
            ext,
            "json"
                | "txt"
                | "safetensors"
                | "model"
                | "tiktoken"
                | "vocab"
                | "md"
                | "png"
                | "jpg"
                | "jpeg"
                | "csv"
                | "tsv"
                | "spm"
                | "bpe"
                | "merges"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Vec<Download> {
        downloads(src.as_bytes())
    }

    #[test]
    fn aliases_constants_and_own_repo() {
        let d = one(
            "from huggingface_hub import hf_hub_download as dl\nREPO = 'org/store'\nREV = 'a' * 1\nclass M:\n    def __init__(self, config):\n        p = dl(REPO, 'x.py', revision='main')\n        q = dl(self.config._name_or_path, filename='y.pt', subfolder='sub')\n",
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].repo, Known::Values(vec!["org/store".into()]));
        assert_eq!(d[0].files, Some(Known::Values(vec!["x.py".into()])));
        assert_eq!(d[0].rev, Known::Values(vec!["main".into()]));
        assert_eq!(d[0].line, 6);
        assert_eq!(d[1].repo, Known::Own);
        assert_eq!(d[1].files, Some(Known::Values(vec!["sub/y.pt".into()])));
        assert_eq!(d[1].rev, Known::Absent);
    }

    #[test]
    fn urls_snapshots_and_unknowns() {
        let d = one(
            "import torch, os\nimport huggingface_hub as hh\nU = 'https://huggingface.co/org/w/resolve/0123456789abcdef0123456789abcdef01234567/m.bin'\ntorch.hub.load_state_dict_from_url(U)\ntorch.hub.load_state_dict_from_url('https://example.invalid/m.bin')\nhh.snapshot_download('org/code')\nhh.hf_hub_download(os.environ['R'], 'z.py')\n",
        );
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(d[0].repo, Known::Values(vec!["org/w".into()]));
        assert_eq!(
            d[0].rev,
            Known::Values(vec!["0123456789abcdef0123456789abcdef01234567".into()])
        );
        assert!(d[1].files.is_none());
        assert!(matches!(d[2].repo, Known::Unknown(_)));
        assert_eq!(
            hf_url("https://hf.co/datasets/a/b/resolve/main/dir/f.py?download=1"),
            Some((
                RepoType::Dataset,
                "a/b".into(),
                "main".into(),
                "dir/f.py".into()
            ))
        );
        assert_eq!(hf_url("https://huggingface.co/a/b/blob/main/f.py"), None);
        assert!(one("x = 1\n").is_empty());
    }

    #[test]
    fn numpy_arrays_go_to_the_pickle_scanner() {
        assert_eq!(kind_of("rope.npy"), Some(FileKind::Pickle));
        assert_eq!(kind_of("tables/Freq.NPZ"), Some(FileKind::Pickle));
        assert_eq!(kind_of("pytorch_model.bin"), Some(FileKind::Pickle));
        assert_eq!(kind_of("modeling_x.py"), Some(FileKind::Python));
        assert_eq!(kind_of("vocab.json"), None);
        assert!(is_numpy("a.npy") && !is_numpy("a.npy.json"));
    }

    #[test]
    fn hfapi_instances_download_like_the_functions() {
        let d = one(
            "import huggingface_hub as hh\nfrom huggingface_hub import HfApi\nfrom huggingface_hub.hf_api import api as shared\nclient = HfApi(token=None)\nclient.hf_hub_download('o/a', 'a.py', revision='main')\nHfApi().snapshot_download(repo_id='o/b')\nclass M:\n    def __init__(self):\n        self.api = hh.HfApi()\n        self.api.hf_hub_download('o/c', filename='c.pt')\nshared.hf_hub_download('o/d', 'd.py')\nother = object()\nother.hf_hub_download('o/e', 'e.py')\n",
        );
        let got: Vec<(String, Known, bool)> = d
            .into_iter()
            .map(|x| (x.api, x.repo, x.files.is_none()))
            .collect();
        let v = |s: &str| Known::Values(vec![s.to_string()]);
        assert_eq!(
            got,
            [
                ("huggingface_hub.hf_hub_download".into(), v("o/a"), false),
                ("huggingface_hub.snapshot_download".into(), v("o/b"), true),
                ("huggingface_hub.hf_hub_download".into(), v("o/c"), false),
                ("huggingface_hub.hf_hub_download".into(), v("o/d"), false),
            ]
        );
        assert!(one("x = 1\n").is_empty());
    }
}
