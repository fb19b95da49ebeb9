//! Validation of untrusted repo ids, revisions and file paths, and the size caps,
//! applied before any value reaches a URL or a cache path.

use std::ops::RangeInclusive;

use crate::hub::HubError;
use crate::model::HubKind;

/// Largest code/config file `read` returns.
pub const MAX_CODE_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Largest pickle stream `read_pickle` returns (raw pickle prefix or zip `data.pkl`).
pub const MAX_PICKLE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest zip central directory read for a checkpoint.
pub const MAX_ZIP_CENTRAL_DIR_BYTES: u64 = 4 * 1024 * 1024;
/// Most files a snapshot listing may hold.
pub const MAX_REPO_FILES: usize = 100_000;
/// Most files one target may fetch (enforced by the resolver).
pub const MAX_FILES_PER_TARGET: usize = 500;
/// Largest PaddleHub module archive downloaded (compressed; streamed to disk,
/// not held in memory: PaddleHub's diffusion modules are several GiB).
pub const MAX_ARCHIVE_DOWNLOAD_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// Most entries in a module archive.
pub const MAX_ARCHIVE_ENTRIES: usize = 10_000;
/// Most uncompressed bytes in a module archive (zip-bomb guard).
pub const MAX_ARCHIVE_TOTAL_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// Most bytes of archive members kept in memory (members over the per-file cap are listed, not kept).
pub const MAX_ARCHIVE_KEPT_BYTES: u64 = 128 * 1024 * 1024;
/// Deepest path (in segments) allowed inside an archive or a repo.
pub const MAX_PATH_DEPTH: usize = 32;
/// Longest path or id accepted.
pub const MAX_PATH_LEN: usize = 1024;
/// Most bytes of JSON an API answer may have.
pub const MAX_API_JSON_BYTES: u64 = 64 * 1024 * 1024;

fn invalid(s: &str) -> HubError {
    HubError::Invalid(s.to_string())
}

/// A single path segment of a repo id: `[A-Za-z0-9._-]+`, not `.`/`..`.
fn id_segment_ok(seg: &str) -> bool {
    !seg.is_empty()
        && seg != "."
        && seg != ".."
        && seg.len() <= 96
        && seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Check a repo id for `hub` (each hub's rules are in its own file).
pub fn validate_repo_id(hub: HubKind, id: &str) -> Result<(), HubError> {
    crate::hub::get(hub).validate_repo_id(id)
}

/// A repo id of `segments` `/`-separated parts, each `[A-Za-z0-9._-]+` and not
/// `.`/`..`: rejects URLs, userinfo, traversal, backslashes and control characters.
pub fn repo_id_segments(id: &str, segments: RangeInclusive<usize>) -> Result<(), HubError> {
    if id.is_empty() || id.len() > 200 {
        return Err(invalid(id));
    }
    let segs: Vec<&str> = id.split('/').collect();
    if !segments.contains(&segs.len()) || !segs.iter().all(|s| id_segment_ok(s)) {
        return Err(invalid(id));
    }
    Ok(())
}

/// Check a repo-relative file path: `/`-separated, no empty/`.`/`..` segment, not
/// absolute, no scheme, no `@`, no backslash, no control characters.
pub fn validate_path(path: &str) -> Result<(), HubError> {
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(invalid(path));
    }
    if path.contains(['\\', '@', ':', '?', '#', '%']) || path.chars().any(char::is_control) {
        return Err(invalid(path));
    }
    let segs: Vec<&str> = path.split('/').collect();
    if segs.len() > MAX_PATH_DEPTH {
        return Err(HubError::Cap(format!(
            "path {path:?} deeper than {MAX_PATH_DEPTH} segments"
        )));
    }
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(invalid(path));
    }
    Ok(())
}

/// Check a revision (branch, tag or commit). Slashes are allowed (`refs/pr/1`,
/// `feature/x`) because revisions are percent-encoded as one URL segment; the
/// cache only ever stores commits, which are checked separately.
pub fn validate_revision(rev: &str) -> Result<(), HubError> {
    if rev.is_empty()
        || rev.len() > 256
        || rev.starts_with('/')
        || rev.ends_with('/')
        || rev.contains(['\\', '@', ':', '?', '#', '%', ' '])
        || rev.chars().any(char::is_control)
        || rev
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(invalid(rev));
    }
    Ok(())
}

/// A full 40-hex (lowercase or uppercase) git commit id: what the git hubs,
/// GitHub and a pinned `revision=` use. The one commit check of the codebase.
pub fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A SHA-256 digest in hex (64 characters, either case): content digests in
/// listings, archive digests, CycloneDX hashes. The one digest check.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An immutable target commit: a git commit, or a PaddleHub module archive
/// digest `{version}+sha256:{64 hex}` (what `Target::commit` holds there).
pub fn is_target_commit(s: &str) -> bool {
    is_commit(s)
        || s.split_once("+sha256:")
            .is_some_and(|(v, h)| !v.is_empty() && is_sha256_hex(h))
}

/// A value safe as one cache/mirror path component.
pub fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_repo_id(HubKind::Huggingface, "acme/chat-7b").is_ok());
        assert!(validate_repo_id(HubKind::Huggingface, "gpt2").is_ok());
        assert!(validate_repo_id(HubKind::Github, "gpt2").is_err());
        assert!(validate_repo_id(HubKind::Paddlehub, "lac").is_ok());
        for bad in [
            "../x",
            "a/../b",
            "https://evil/x",
            "user@host/x",
            "a\\b",
            "a/b/c",
            "/a/b",
            "a//b",
            "a/b\n",
            "",
        ] {
            assert!(
                validate_repo_id(HubKind::Huggingface, bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths() {
        assert!(validate_path("modeling_x.py").is_ok());
        assert!(validate_path("sub/dir/a.py").is_ok());
        for bad in [
            "../a",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "http://x/y",
            "a\\b",
            "u@h",
            "a\0b",
            "",
            "./a",
        ] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            validate_path("a/".repeat(40).trim_end_matches('/')),
            Err(HubError::Cap(_))
        ));
    }

    #[test]
    fn revisions() {
        assert!(validate_revision("main").is_ok());
        assert!(validate_revision("refs/pr/1").is_ok());
        assert!(validate_revision("../x").is_err());
        assert!(validate_revision("http://x").is_err());
        assert!(is_commit(&"a".repeat(40)));
        assert!(!is_commit("main"));
    }
}
