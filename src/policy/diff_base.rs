//! `--diff-base REF`: keep only the calls a change brings (added or edited since REF),
//! plus calls whose remote target now resolves to another commit than at REF.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use crate::callsite::CallKey;
use crate::model::{CallReport, Finding, LoadSite};

#[derive(Debug, thiserror::Error)]
pub enum DiffBaseError {
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
    #[error("cannot unpack the tree of {base}: {source}")]
    Unpack {
        base: String,
        source: std::io::Error,
    },
    #[error("discovery on the base tree failed: {0:#}")]
    Discover(anyhow::Error),
    #[error(
        "{base} is not a commit of this checkout (a shallow clone?): fetch it \
         (`git fetch --depth=1 origin {base}`) or clone with full history \
         (actions/checkout: `fetch-depth: 0`)"
    )]
    MissingBase { base: String },
    #[error("{0}")]
    Checkout(crate::policy::base_commit::BaseError),
}

/// The calls found in the tree at `base`.
#[derive(Debug, Default)]
pub struct BaseCalls {
    pub keys: HashSet<CallKey>,
    pub sites: Vec<(CallKey, LoadSite)>,
    /// The commits recorded in the base tree's `.hubwarden.lock`, if any.
    pub locked: HashMap<CallKey, String>,
}

/// The outcome of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffOutcome {
    /// The current calls to report, in their original order.
    pub kept: Vec<CallReport>,
    /// How many current calls were left out as unchanged.
    pub unchanged: usize,
}

fn git(
    root: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> Result<std::process::Output, DiffBaseError> {
    // `safe.directory=*`: in a container action the workspace belongs to another uid.
    let out = Command::new("git")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("-c")
        .arg("safe.directory=*")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DiffBaseError::Git {
            args: args.join(" "),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(DiffBaseError::Git {
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

static TEMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Materialize `base` (with `git archive`, so the work tree is untouched) and run
/// `discover` on the same sub-folder of it that `root` is of the repository.
pub fn base_calls(
    root: &Path,
    base: &str,
    discover: &dyn Fn(&Path) -> anyhow::Result<Vec<LoadSite>>,
) -> Result<BaseCalls, DiffBaseError> {
    base_calls_with_env(root, base, &[], discover)
}

/// [`base_calls`], with extra variables for the git commands (`env`).
pub fn base_calls_with_env(
    root: &Path,
    base: &str,
    env: &[(String, String)],
    discover: &dyn Fn(&Path) -> anyhow::Result<Vec<LoadSite>>,
) -> Result<BaseCalls, DiffBaseError> {
    let dir = if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    };
    match crate::policy::base_commit::has_commit(dir, base) {
        Ok(true) => {}
        Ok(false) => {
            return Err(DiffBaseError::MissingBase {
                base: base.to_string(),
            });
        }
        Err(e) => return Err(DiffBaseError::Checkout(e)),
    }
    let spec = format!("{base}^{{commit}}");
    let commit = git(dir, env, &["rev-parse", "--verify", "--quiet", &spec])?;
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
    let n = TEMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = TempDir(std::env::temp_dir().join(format!(
        "hubwarden-base-{}-{n}-{}",
        std::process::id(),
        &commit[..commit.len().min(12)]
    )));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0).map_err(|source| DiffBaseError::Unpack {
        base: base.to_string(),
        source,
    })?;
    // The scanned folder may not exist at REF: then every call is new.
    let prefix = git(dir, env, &["rev-parse", "--show-prefix"])?;
    let prefix = String::from_utf8_lossy(&prefix.stdout).trim().to_string();
    if !prefix.is_empty() {
        let object = format!("{commit}:{}", prefix.trim_end_matches('/'));
        if git(dir, env, &["cat-file", "-e", &object]).is_err() {
            return Ok(BaseCalls::default());
        }
    }
    // Run from `dir`: in a sub-folder, `git archive` holds only that sub-tree,
    // with paths relative to it, which is what discovery expects. Streamed, so a
    // big repository is never held in memory.
    let git_err = |message: String| DiffBaseError::Git {
        args: format!("archive {commit}"),
        message,
    };
    let mut child = Command::new("git")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("-c")
        .arg("safe.directory=*")
        .arg("-C")
        .arg(dir)
        .args(["archive", "--format=tar", commit.as_str()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_err(e.to_string()))?;
    let unpacked = match child.stdout.take() {
        // The tar crate refuses entries that would escape the destination.
        Some(out) => tar::Archive::new(out).unpack(&tmp.0),
        None => Err(std::io::Error::other("no stdout")),
    };
    let status = child
        .wait_with_output()
        .map_err(|e| git_err(e.to_string()))?;
    if !status.status.success() {
        return Err(git_err(
            String::from_utf8_lossy(&status.stderr).trim().to_string(),
        ));
    }
    unpacked.map_err(|source| DiffBaseError::Unpack {
        base: base.to_string(),
        source,
    })?;
    let base_root = if root.is_file() {
        tmp.0.join(root.file_name().unwrap_or_default())
    } else {
        tmp.0.clone()
    };
    if !base_root.exists() {
        // The scanned folder did not exist at REF: every call is new.
        return Ok(BaseCalls::default());
    }
    let sites = discover(&base_root).map_err(DiffBaseError::Discover)?;
    let read = crate::policy::fs_sources(&base_root);
    let sites: Vec<(CallKey, LoadSite)> = sites
        .into_iter()
        .map(|s| {
            let src = read(&s.path);
            (CallKey::of(&s, src.as_deref()), s)
        })
        .collect();
    // A malformed lock at the base would hide every moved target (on a
    // scheduled drift run: everything), so it fails closed: every call is
    // reported, with a warning that names the file, the line and the fix.
    // A single scanned file's lock is in its folder, as `--write-lock` writes it.
    let lock_dir = if root.is_file() { &tmp.0 } else { &base_root };
    let lock_path = lock_dir.join(crate::policy::lock::LOCK_FILE);
    let lock_name = format!("{base}:{prefix}{}", crate::policy::lock::LOCK_FILE);
    let lock = match std::fs::read_to_string(&lock_path) {
        Ok(text) => crate::policy::lock::Lockfile::parse(&text, &lock_name).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(crate::policy::lock::LockError::Read {
            path: lock_name.clone(),
            source,
        }),
    };
    let locked = match lock {
        Ok(lock) => lock.map(|l| l.commits()).unwrap_or_default(),
        Err(e) => {
            tracing::warn!("--diff-base {base}: {e}; every call is reported, as if it were new");
            return Ok(BaseCalls::default());
        }
    };
    Ok(BaseCalls {
        keys: sites.iter().map(|(k, _)| k.clone()).collect(),
        sites,
        locked,
    })
}

/// Keep the current calls that are new or edited since `base`, plus those whose
/// target commit differs from `base_commits` (what the same call resolved to at
/// `base`, when the caller knows it, e.g. from a previous JSON report) or from the
/// base tree's `.hubwarden.lock`.
pub fn changed_calls(
    root: &Path,
    base: &str,
    current: &[CallReport],
    discover: &dyn Fn(&Path) -> anyhow::Result<Vec<LoadSite>>,
    base_commits: &HashMap<CallKey, String>,
) -> Result<DiffOutcome, DiffBaseError> {
    let mut base = base_calls(root, base, discover)?;
    for (k, v) in base_commits {
        base.locked.insert(k.clone(), v.clone());
    }
    Ok(select(root, current, &base))
}

/// The comparison itself. A call that is unchanged but has a recorded commit and
/// no target yet is kept, so that it gets resolved and compared: run `select`
/// again after resolution to drop those whose commit did not move.
pub fn select(root: &Path, current: &[CallReport], base: &BaseCalls) -> DiffOutcome {
    let read = crate::policy::fs_sources(root);
    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    let mut kept = Vec::new();
    let mut unchanged = 0usize;
    for c in current {
        let src = cache
            .entry(c.site.path.clone())
            .or_insert_with(|| read(&c.site.path));
        let key = CallKey::of(&c.site, src.as_deref());
        let moved = match (
            base.locked.get(&key),
            c.target.as_ref().map(|t| t.commit.as_ref()),
        ) {
            (Some(old), Some(Some(new))) => old != new,
            // Resolved but without a commit (unverified): policy reports it anyway.
            (Some(_), Some(None)) => true,
            // Not resolved yet: keep it so that it is.
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !base.keys.contains(&key) || moved {
            let mut c = c.clone();
            // Say what moved, so that a drift report explains itself.
            if let (Some(old), Some(t)) = (base.locked.get(&key), c.target.as_mut())
                && let Some(new) = t.commit.clone().filter(|new| new != old)
            {
                t.notes.push(format!(
                    "drift: {} locks {old}; it now resolves to {new}",
                    crate::policy::lock::LOCK_FILE
                ));
            }
            kept.push(c);
        } else {
            unchanged += 1;
        }
    }
    DiffOutcome { kept, unchanged }
}

/// The findings located at one of `kept`'s call sites (the rest belong to calls
/// that `--diff-base` left out).
pub fn retain_findings(findings: Vec<Finding>, kept: &[CallReport]) -> Vec<Finding> {
    let sites: HashSet<(&str, u32)> = kept
        .iter()
        .map(|c| (c.site.path.as_str(), c.site.line))
        .collect();
    findings
        .into_iter()
        .filter(|f| sites.contains(&(f.path.as_str(), f.line)))
        .collect()
}
