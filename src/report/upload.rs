//! SARIF upload to GitHub code scanning (`POST /repos/{o}/{r}/code-scanning/sarifs`)
//! through octocrab, then polling the processing status.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Where an upload goes; each falls back to the Actions environment.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GithubArgs {
    /// owner/name of the repository (default: $GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Commit the analysis is for (default: $GITHUB_SHA).
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Git ref, e.g. refs/heads/main or refs/pull/1/merge (default: $GITHUB_REF).
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
}

/// GitHub rejects larger gzipped uploads with 413.
const MAX_GZIP_BYTES: usize = 10 * 1000 * 1000;

/// Where the analysis goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    /// `owner/name`.
    pub repo: String,
    pub commit_sha: String,
    /// `refs/heads/<b>`, `refs/tags/<t>`, `refs/pull/<n>/merge` or `/head`.
    pub git_ref: String,
}

/// Polling behaviour (GitHub's own uploader polls every 5 s for up to 2 min).
#[derive(Debug, Clone)]
pub struct UploadOptions {
    pub poll_interval: Duration,
    pub max_wait: Duration,
    /// Sent as `tool_name`.
    pub tool_name: String,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            poll_interval: Duration::from_secs(5),
            max_wait: Duration::from_secs(120),
            tool_name: "hubwarden".to_string(),
        }
    }
}

/// How the upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadResult {
    pub sarif_id: String,
    /// `complete`, or `pending` when `max_wait` ran out first.
    pub processing_status: String,
    pub analyses_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Config(String),
    #[error(
        "GitHub refused the upload (403 Forbidden: {message}). Likely causes: code scanning \
(GitHub Code Security / Advanced Security) is not enabled for this private or internal repository, \
or the token is read-only (pull requests from forks and Dependabot get a read-only GITHUB_TOKEN). \
Fix: enable code scanning in the repository's Security settings, give the workflow \
`permissions: security-events: write`, and skip the upload for fork/Dependabot pull requests \
(the annotations and exit code still work)."
    )]
    Forbidden { message: String },
    #[error(
        "GitHub refused the upload: the SARIF is too large (413: {message}); the limit is 10 MB gzipped and 25,000 results a run"
    )]
    TooLarge { message: String },
    #[error("GitHub refused the upload ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("GitHub could not process the SARIF: {}", errors.join("; "))]
    ProcessingFailed {
        sarif_id: String,
        errors: Vec<String>,
    },
    #[error("upload request failed: {0}")]
    Http(String),
}

#[derive(Serialize)]
struct UploadBody<'a> {
    commit_sha: &'a str,
    #[serde(rename = "ref")]
    git_ref: &'a str,
    sarif: String,
    tool_name: &'a str,
}

#[derive(Deserialize)]
struct UploadAccepted {
    id: String,
}

#[derive(Deserialize)]
struct Status {
    processing_status: String,
    #[serde(default)]
    analyses_url: Option<String>,
    #[serde(default)]
    errors: Option<Vec<serde_json::Value>>,
}

/// base64(gzip(sarif_json)), the `sarif` field of the request.
pub fn encode_sarif(sarif_json: &str) -> Result<String, UploadError> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(sarif_json.as_bytes())
        .and_then(|_| enc.finish())
        .map(|gz| base64::engine::general_purpose::STANDARD.encode(gz))
        .map_err(|e| UploadError::Http(format!("gzip: {e}")))
}

fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(500).collect())
}

/// The upload's repository is checked as a GitHub repo id is everywhere else.
fn validate_repo(repo: &str) -> Result<(), UploadError> {
    crate::hub::validate_repo_id(crate::model::HubKind::Github, repo)
        .map_err(|_| UploadError::Config(format!("repository {repo:?} is not OWNER/NAME")))
}

/// Upload `sarif_json` and wait for GitHub to process it.
pub async fn upload(
    sarif_json: &str,
    target: &UploadTarget,
    api_base: &str,
    token: &str,
    opts: &UploadOptions,
) -> Result<UploadResult, UploadError> {
    validate_repo(&target.repo)?;
    let sarif = encode_sarif(sarif_json)?;
    if sarif.len() / 4 * 3 > MAX_GZIP_BYTES {
        return Err(UploadError::TooLarge {
            message: format!("{} bytes gzipped", sarif.len() / 4 * 3),
        });
    }
    let base = api_base.trim_end_matches('/');
    let octo = octocrab::Octocrab::builder()
        .base_uri(base)
        .map_err(|e| UploadError::Config(format!("bad GitHub API URL {base:?}: {e}")))?
        .personal_token(token.to_string())
        .build()
        .map_err(|e| UploadError::Http(e.to_string()))?;
    let url = format!("{base}/repos/{}/code-scanning/sarifs", target.repo);
    let body = UploadBody {
        commit_sha: &target.commit_sha,
        git_ref: &target.git_ref,
        sarif,
        tool_name: &opts.tool_name,
    };
    let resp = octo
        ._post(url.as_str(), Some(&body))
        .await
        .map_err(|e| UploadError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    let text = octo
        .body_to_string(resp)
        .await
        .map_err(|e| UploadError::Http(e.to_string()))?;
    match status {
        200..=299 => {}
        403 => {
            return Err(UploadError::Forbidden {
                message: error_message(&text),
            });
        }
        413 => {
            return Err(UploadError::TooLarge {
                message: error_message(&text),
            });
        }
        s => {
            return Err(UploadError::Rejected {
                status: s,
                message: error_message(&text),
            });
        }
    }
    let accepted: UploadAccepted = serde_json::from_str(&text)
        .map_err(|e| UploadError::Http(format!("unexpected upload response: {e}")))?;
    tracing::info!(sarif_id = %accepted.id, "SARIF accepted; waiting for processing");

    let status_url = format!(
        "{base}/repos/{}/code-scanning/sarifs/{}",
        target.repo,
        percent_encoding::utf8_percent_encode(&accepted.id, percent_encoding::NON_ALPHANUMERIC)
    );
    let started = std::time::Instant::now();
    loop {
        let resp = octo
            ._get(status_url.as_str())
            .await
            .map_err(|e| UploadError::Http(e.to_string()))?;
        let code = resp.status().as_u16();
        let text = octo
            .body_to_string(resp)
            .await
            .map_err(|e| UploadError::Http(e.to_string()))?;
        if code == 403 {
            return Err(UploadError::Forbidden {
                message: error_message(&text),
            });
        }
        if !(200..300).contains(&code) {
            return Err(UploadError::Rejected {
                status: code,
                message: error_message(&text),
            });
        }
        let st: Status = serde_json::from_str(&text)
            .map_err(|e| UploadError::Http(format!("unexpected status response: {e}")))?;
        match st.processing_status.as_str() {
            "complete" => {
                return Ok(UploadResult {
                    sarif_id: accepted.id,
                    processing_status: st.processing_status,
                    analyses_url: st.analyses_url,
                });
            }
            "failed" => {
                let errors = st
                    .errors
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| match e {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect();
                return Err(UploadError::ProcessingFailed {
                    sarif_id: accepted.id,
                    errors,
                });
            }
            _ => {}
        }
        if started.elapsed() >= opts.max_wait {
            tracing::warn!("SARIF still processing after {:?}", opts.max_wait);
            return Ok(UploadResult {
                sarif_id: accepted.id,
                processing_status: st.processing_status,
                analyses_url: st.analyses_url,
            });
        }
        tokio::time::sleep(opts.poll_interval).await;
    }
}

/// Environment lookups, injectable for tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Repository, commit and ref from the flags, else the Actions environment; for
/// `pull_request` events the PR's merge ref and its merge commit.
pub fn resolve_target(args: &GithubArgs, env: Env<'_>) -> Result<UploadTarget, UploadError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let repo = args
        .repo
        .clone()
        .or_else(|| get("GITHUB_REPOSITORY"))
        .ok_or_else(|| {
            UploadError::Config(
                "no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY".into(),
            )
        })?;
    let event = get("GITHUB_EVENT_NAME").unwrap_or_default();
    let pr = if event.starts_with("pull_request") {
        get("GITHUB_EVENT_PATH")
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("pull_request").cloned())
    } else {
        None
    };
    let pr_number = pr
        .as_ref()
        .and_then(|p| p.get("number"))
        .and_then(|n| n.as_u64());
    // pull_request: the merge ref, and GITHUB_SHA is its merge commit.
    // pull_request_target: GITHUB_SHA is the base branch's; the PR's head is
    // what was checked out and scanned (if the workflow did so).
    let (event_ref, event_sha) = match (event.as_str(), pr_number) {
        ("pull_request", Some(n)) => (Some(format!("refs/pull/{n}/merge")), None),
        ("pull_request_target", Some(n)) => (
            Some(format!("refs/pull/{n}/head")),
            pr.as_ref()
                .and_then(|p| p.pointer("/head/sha"))
                .and_then(|s| s.as_str())
                .map(str::to_string),
        ),
        _ => (None, None),
    };
    let git_ref = args
        .git_ref
        .clone()
        .or(event_ref)
        .or_else(|| get("GITHUB_REF"))
        .ok_or_else(|| UploadError::Config("no git ref: pass --ref or set GITHUB_REF".into()))?;
    let commit_sha = args
        .commit
        .clone()
        .or(event_sha)
        .or_else(|| get("GITHUB_SHA"))
        .ok_or_else(|| UploadError::Config("no commit: pass --commit or set GITHUB_SHA".into()))?;
    if !crate::hub::is_commit(&commit_sha) {
        return Err(UploadError::Config(format!(
            "commit {commit_sha:?} is not a 40-hex commit id"
        )));
    }
    if !git_ref.starts_with("refs/") {
        return Err(UploadError::Config(format!(
            "ref {git_ref:?} must be a full ref such as refs/heads/main or refs/pull/1/merge"
        )));
    }
    validate_repo(&repo)?;
    Ok(UploadTarget {
        repo,
        commit_sha,
        git_ref,
    })
}

/// The first `artifactLocation.uri` with a URI scheme other than `file:`.
pub fn first_remote_location(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m.iter().find_map(|(k, x)| {
            if k == "artifactLocation"
                && let Some(uri) = x.get("uri").and_then(|u| u.as_str())
                && let Some((scheme, _)) = uri.split_once(':')
                && !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !scheme.eq_ignore_ascii_case("file")
            {
                return Some(uri.to_string());
            }
            first_remote_location(x)
        }),
        serde_json::Value::Array(a) => a.iter().find_map(first_remote_location),
        _ => None,
    }
}

/// Upload SARIF text with the flags and environment given; the result is printed
/// on stderr. Blocking: runs on its own thread and runtime, so it may be called
/// from sync code or from inside another runtime (`scan --upload`).
pub fn upload_sarif_text(
    sarif_json: &str,
    gh: &GithubArgs,
    env: Env<'_>,
    opts: &UploadOptions,
) -> anyhow::Result<UploadResult> {
    let value: serde_json::Value =
        serde_json::from_str(sarif_json).context("the SARIF is not JSON")?;
    if let Some(uri) = first_remote_location(&value) {
        anyhow::bail!(
            "the SARIF has a location with the URI {uri:?}; GitHub rejects a whole upload with a non-file URI scheme in any location"
        );
    }
    let target = resolve_target(gh, env)?;
    let token = env("GITHUB_TOKEN")
        .or_else(|| env("GH_TOKEN"))
        .or_else(|| env("INPUT_TOKEN"))
        .filter(|t| !t.is_empty())
        .context(
            "no token: set GITHUB_TOKEN (the workflow needs `permissions: security-events: write`)",
        )?;
    let api = env("GITHUB_API_URL")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "https://api.github.com".to_string());
    let res = std::thread::scope(|s| {
        s.spawn(|| -> anyhow::Result<UploadResult> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            Ok(rt.block_on(upload(sarif_json, &target, &api, &token, opts))?)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the upload thread panicked"))?
    })?;
    tracing::info!(
        target: crate::STATUS,
        "SARIF uploaded to {} ({} {}): id {}, processing {}",
        target.repo,
        target.git_ref,
        target.commit_sha,
        res.sarif_id,
        res.processing_status
    );
    Ok(res)
}

/// Upload a SARIF file (see `upload_sarif_text`).
pub fn upload_file(
    file: &Path,
    gh: &GithubArgs,
    env: Env<'_>,
    opts: &UploadOptions,
) -> anyhow::Result<UploadResult> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read SARIF file {}", file.display()))?;
    upload_sarif_text(&text, gh, env, opts).with_context(|| format!("uploading {}", file.display()))
}
