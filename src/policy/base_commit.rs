//! Making the `--diff-base` commit available in a shallow checkout: a pull
//! request checked out with `actions/checkout`'s default depth has no base
//! commit. It is fetched from `origin` at depth 1, with the token the workflow
//! already granted passed to that one git command in its environment (never
//! written to `.git/config` or anywhere else) and scoped to the GitHub server,
//! so git cannot send it to another host.

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;

/// Credentials for the fetch: `token` goes only to `server` (e.g.
/// `https://github.com`, `$GITHUB_SERVER_URL`).
pub struct FetchAuth<'a> {
    pub server: &'a str,
    pub token: &'a str,
}

/// Why the base commit is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    #[error("{0} is not inside a git repository")]
    NotARepository(String),
    #[error("`git fetch --depth=1 origin {sha}` failed: {message}")]
    FetchFailed { sha: String, message: String },
    #[error("cannot run git: {0}")]
    NoGit(String),
}

/// What `ensure_base` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseState {
    /// The commit was in the checkout already.
    Present,
    /// It was fetched from `origin`.
    Fetched,
}

fn git_dir(root: &Path) -> &Path {
    if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    }
}

fn git() -> Command {
    let mut cmd = Command::new("git");
    // In a container action the workspace belongs to another uid.
    cmd.args(["-c", "safe.directory=*"])
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// Whether `rev` names a commit of the repository at `root`.
pub fn has_commit(root: &Path, rev: &str) -> Result<bool, BaseError> {
    let dir = git_dir(root);
    let inside = git()
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| BaseError::NoGit(e.to_string()))?;
    if !inside.success() {
        return Err(BaseError::NotARepository(dir.display().to_string()));
    }
    let spec = format!("{rev}^{{commit}}");
    let found = git()
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "--quiet", &spec])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| BaseError::NoGit(e.to_string()))?;
    Ok(found.success())
}

/// The environment that hands git an `Authorization` header for `server` only,
/// as command-scope configuration (`GIT_CONFIG_COUNT`/`KEY_n`/`VALUE_n`),
/// appended after any entries already in `existing_count`.
pub fn auth_env(auth: &FetchAuth<'_>, existing_count: usize) -> Vec<(String, String)> {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{}", auth.token));
    let server = auth.server.trim_end_matches('/');
    vec![
        (
            format!("GIT_CONFIG_KEY_{existing_count}"),
            format!("http.{server}/.extraheader"),
        ),
        (
            format!("GIT_CONFIG_VALUE_{existing_count}"),
            format!("AUTHORIZATION: basic {basic}"),
        ),
        ("GIT_CONFIG_COUNT".into(), (existing_count + 1).to_string()),
    ]
}

/// Make the commit `sha` available in the repository at `root`: present
/// already, or fetched from `origin` at depth 1 (with `auth`, when given).
/// `env` reads the current environment (for `GIT_CONFIG_COUNT`).
pub fn ensure_base(
    root: &Path,
    sha: &str,
    auth: Option<&FetchAuth<'_>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BaseState, BaseError> {
    if has_commit(root, sha)? {
        return Ok(BaseState::Present);
    }
    let dir = git_dir(root);
    let mut cmd = git();
    cmd.arg("-C")
        .arg(dir)
        // A stalled connection fails instead of hanging the job.
        .args([
            "-c",
            "http.lowSpeedLimit=1000",
            "-c",
            "http.lowSpeedTime=60",
        ])
        .args(["fetch", "--no-tags", "--no-recurse-submodules", "--depth=1"])
        .args(["origin", sha])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(auth) = auth.filter(|a| !a.token.is_empty()) {
        let count = env("GIT_CONFIG_COUNT")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        for (k, v) in auth_env(auth, count) {
            cmd.env(k, v);
        }
    }
    let out = cmd.output().map_err(|e| BaseError::NoGit(e.to_string()))?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr)
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("git exited with an error")
            .trim()
            .to_string();
        return Err(BaseError::FetchFailed {
            sha: sha.to_string(),
            message,
        });
    }
    if has_commit(root, sha)? {
        Ok(BaseState::Fetched)
    } else {
        Err(BaseError::FetchFailed {
            sha: sha.to_string(),
            message: "the fetch succeeded but the commit is still missing".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_scoped_to_the_server() {
        let env = auth_env(
            &FetchAuth {
                server: "https://github.com/",
                token: "t0k",
            },
            2,
        );
        assert_eq!(
            env[0],
            (
                "GIT_CONFIG_KEY_2".into(),
                "http.https://github.com/.extraheader".into()
            )
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode("x-access-token:t0k");
        assert_eq!(env[1].1, format!("AUTHORIZATION: basic {b64}"));
        assert_eq!(env[2], ("GIT_CONFIG_COUNT".into(), "3".into()));
    }
}
