//! PEP 508 requirement strings (`transformers[torch]>=4.40,<5; python_version>"3.9"`,
//! `torch @ https://.../torch-2.1.0+cu118-...whl`) and package-name normalisation.

use std::sync::LazyLock;

use regex::Regex;

use super::range::{self, VersionSet};
use super::version::Version;

/// What a declaration says about a library's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// These versions.
    Range(VersionSet),
    /// A version that cannot be known from the text (a git branch, a local
    /// path, an environment variable): why.
    Unknown(String),
}

/// One parsed requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// PEP 503 normalised name (`huggingface-hub`).
    pub name: String,
    pub constraint: Constraint,
    /// The environment marker after `;`, as written (the requirement then holds
    /// only in some environments).
    pub marker: Option<String>,
}

/// A requirement string that could not be read; `name` when at least the
/// package name was readable (then only that library is affected).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadRequirement {
    pub name: Option<String>,
    pub message: String,
}

/// PEP 503: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*")
        .unwrap_or_else(|e| unreachable!("a valid regex: {e}"))
});

/// Parse one PEP 508 requirement.
pub fn parse_requirement(text: &str) -> Result<Requirement, BadRequirement> {
    let text = text.trim();
    if text.len() > 8192 {
        return Err(BadRequirement {
            name: None,
            message: "requirement longer than 8 KiB".to_string(),
        });
    }
    let caps = NAME.captures(text).ok_or_else(|| BadRequirement {
        name: None,
        message: format!("cannot read a package name in {text:?}"),
    })?;
    let name = normalize_name(&caps[1]);
    let rest = &text[caps.get(0).map(|m| m.end()).unwrap_or(0)..];
    let bad = |message: String| BadRequirement {
        name: Some(name.clone()),
        message,
    };
    if let Some(url) = rest.strip_prefix('@') {
        // `name @ url ; marker`: the marker needs a space before `;` (PEP 508).
        let (url, marker) = match url.find(" ;") {
            Some(i) => (&url[..i], Some(url[i + 2..].trim().to_string())),
            None => (url, None),
        };
        let url = url.trim();
        if url.is_empty() {
            return Err(bad(format!("`@` without a URL in {text:?}")));
        }
        return Ok(Requirement {
            constraint: constraint_of_url(&name, url),
            name,
            marker,
        });
    }
    let (spec, marker) = match rest.split_once(';') {
        Some((s, m)) => (s, Some(m.trim().to_string())),
        None => (rest, None),
    };
    let mut spec = spec.trim();
    if let Some(inner) = spec.strip_prefix('(') {
        spec = inner
            .strip_suffix(')')
            .ok_or_else(|| bad(format!("unbalanced parenthesis in {text:?}")))?
            .trim();
    }
    if spec.contains("${") {
        return Ok(Requirement {
            name,
            constraint: Constraint::Unknown(format!(
                "version from an environment variable ({spec})"
            )),
            marker,
        });
    }
    let set = range::parse_pep440(spec).map_err(|e| bad(e.to_string()))?;
    if set.is_empty() {
        return Err(bad(format!("no version satisfies {spec:?}")));
    }
    Ok(Requirement {
        name,
        constraint: Constraint::Range(set),
        marker: marker.filter(|m| !m.is_empty()),
    })
}

/// What a direct URL tells about the version: a wheel or sdist file name
/// carries it, a VCS ref that is a version tag (`@v4.40.0`) too; anything else
/// (a branch, a commit, a local path) is unknown.
pub fn constraint_of_url(name: &str, url: &str) -> Constraint {
    if let Some(v) = version_in_archive_url(name, url) {
        return Constraint::Range(VersionSet::exactly(v));
    }
    let base = url.split('#').next().unwrap_or(url);
    if base.starts_with("git+")
        || base.starts_with("hg+")
        || base.starts_with("svn+")
        || base.starts_with("bzr+")
    {
        let after_host = base.split_once("://").map(|(_, r)| r).unwrap_or(base);
        if let Some((_, rev)) = after_host.rsplit_once('@')
            && !rev.contains('/')
        {
            let tag = rev.trim_start_matches(['v', 'V']);
            if let Ok(v) = Version::parse(tag)
                && tag.contains('.')
            {
                return Constraint::Range(VersionSet::exactly(v));
            }
            return Constraint::Unknown(format!("installed from VCS ref {rev:?}"));
        }
        return Constraint::Unknown("installed from a VCS default branch".to_string());
    }
    Constraint::Unknown(format!("installed from {base}"))
}

/// `.../torch-2.1.0%2Bcu118-cp310-cp310-linux_x86_64.whl` -> 2.1.0+cu118, when
/// the file name is this package's.
pub fn version_in_archive_url(name: &str, url: &str) -> Option<Version> {
    let (file_name, v) = archive_file_version(url)?;
    (normalize_name(&file_name) == name).then_some(v)
}

/// The package name and version a wheel or sdist URL names.
pub fn archive_file_version(url: &str) -> Option<(String, Version)> {
    let path = url.split(['#', '?']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let file = percent_encoding::percent_decode_str(file)
        .decode_utf8()
        .ok()?;
    if let Some(stem) = file.strip_suffix(".whl") {
        let mut parts = stem.split('-');
        let n = parts.next()?;
        let v = parts.next()?;
        return Some((n.to_string(), Version::parse(v).ok()?));
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    let (n, v) = stem.rsplit_once('-')?;
    Some((n.to_string(), Version::parse(v).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }
    fn range(r: &Requirement) -> &VersionSet {
        match &r.constraint {
            Constraint::Range(s) => s,
            Constraint::Unknown(why) => panic!("unknown: {why}"),
        }
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalize_name("Huggingface_Hub"), "huggingface-hub");
        assert_eq!(
            normalize_name("sentence.transformers"),
            "sentence-transformers"
        );
        assert_eq!(normalize_name("a--_b"), "a-b");
    }

    #[test]
    fn reads_pep_508() {
        let r = parse_requirement(
            "Transformers[torch,sentencepiece] >= 4.40 , <5 ; python_version > \"3.9\"",
        )
        .unwrap();
        assert_eq!(r.name, "transformers");
        assert!(range(&r).contains(&v("4.57")) && !range(&r).contains(&v("5.0")));
        assert_eq!(r.marker.as_deref(), Some("python_version > \"3.9\""));
        let r = parse_requirement("torch (==2.1.0)").unwrap();
        assert!(range(&r).contains(&v("2.1.0+cu118")));
        let r = parse_requirement("kernels").unwrap();
        assert!(range(&r).is_any() && r.marker.is_none());
        let r = parse_requirement("vllm;sys_platform=='linux'").unwrap();
        assert_eq!(r.marker.as_deref(), Some("sys_platform=='linux'"));
    }

    #[test]
    fn reads_versions_from_urls() {
        let r = parse_requirement(
            "torch @ https://download.example.invalid/whl/cu118/torch-2.1.0%2Bcu118-cp310-cp310-linux_x86_64.whl",
        )
        .unwrap();
        assert!(range(&r).contains(&v("2.1.0+cu118")) && !range(&r).contains(&v("2.1.0")));
        let r = parse_requirement(
            "transformers @ git+https://github.com/huggingface/transformers@v4.40.0",
        )
        .unwrap();
        assert!(range(&r).contains(&v("4.40.0")));
        let r = parse_requirement("transformers @ git+https://github.com/huggingface/transformers")
            .unwrap();
        assert!(matches!(r.constraint, Constraint::Unknown(_)));
        let r = parse_requirement(
            "transformers @ git+https://github.com/huggingface/transformers@main",
        )
        .unwrap();
        assert!(matches!(r.constraint, Constraint::Unknown(_)));
        let r = parse_requirement("peft @ file:///src/peft ; python_version>'3'").unwrap();
        assert!(matches!(r.constraint, Constraint::Unknown(_)));
        assert_eq!(r.marker.as_deref(), Some("python_version>'3'"));
        // Another package's wheel tells nothing about this one.
        let r = parse_requirement("torch @ https://x.invalid/numpy-2.0-py3-none-any.whl").unwrap();
        assert!(matches!(r.constraint, Constraint::Unknown(_)));
    }

    #[test]
    fn malformed_requirements_name_the_package_when_they_can() {
        let e = parse_requirement("torch >=>2").unwrap_err();
        assert_eq!(e.name.as_deref(), Some("torch"));
        let e = parse_requirement("torch>=2,<1").unwrap_err();
        assert_eq!(e.name.as_deref(), Some("torch"));
        assert!(parse_requirement(">=2").unwrap_err().name.is_none());
        assert!(parse_requirement("torch (>=2").is_err());
        assert!(parse_requirement("torch @ ").is_err());
        let r = parse_requirement("torch==${TORCH_VERSION}").unwrap();
        assert!(matches!(r.constraint, Constraint::Unknown(_)));
    }
}
