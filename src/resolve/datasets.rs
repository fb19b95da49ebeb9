//! datasets `load_dataset` (also pycsghub's): the `{name}.py` loading script at
//! the repo root and its direct relative imports, found with datasets' own
//! line rules; the gate depends on the installed datasets major version.

use std::sync::LazyLock;

use regex::Regex;

use super::gate::{self, Gate};
use super::{Job, Outcome, ResolveError};
use crate::hub::RepoSource;
use crate::model::{FileKind, HubKind, Platform, RepoType};

static RE_DS_IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a literal pattern that compiles.
    #[allow(clippy::unwrap_used)]
    Regex::new(r"^import\s+(\.?)([^\s\.]+)[^#\r\n]*(?:#\s+From:\s+)?([^\r\n]*)").unwrap()
});
static RE_DS_FROM: LazyLock<Regex> = LazyLock::new(|| {
    // Invariant: a literal pattern that compiles.
    #[allow(clippy::unwrap_used)]
    Regex::new(r"^from\s+(\.?)([^\s\.]+)(?:[^\s]*)\s+import\s+[^#\r\n]*(?:#\s+From:\s+)?([^\r\n]*)")
        .unwrap()
});

/// A datasets `get_imports` entry: a sibling module, or code fetched from a URL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DsImport {
    Internal(String),
    External(String, String),
}

/// datasets `get_imports`: line by line, skipping lines inside a docstring
/// (toggled by a line with exactly one `"""`), only relative imports matter.
pub(crate) fn datasets_imports(text: &str) -> Vec<DsImport> {
    let mut out: Vec<DsImport> = Vec::new();
    let mut in_doc = false;
    for line in text.split_inclusive('\n') {
        if line.matches("\"\"\"").count() == 1 {
            in_doc = !in_doc;
        }
        if in_doc {
            continue;
        }
        let caps = RE_DS_IMPORT
            .captures(line)
            .or_else(|| RE_DS_FROM.captures(line));
        let Some(c) = caps else { continue };
        let dot = c.get(1).is_some_and(|m| !m.as_str().is_empty());
        if !dot {
            continue;
        }
        let name = c.get(2).map(|m| m.as_str().to_string()).unwrap_or_default();
        let url = c.get(3).map(|m| m.as_str().to_string()).unwrap_or_default();
        let known = out.iter().any(|i| match i {
            DsImport::Internal(n) | DsImport::External(n, _) => *n == name,
        });
        if known {
            continue;
        }
        if url.is_empty() {
            out.push(DsImport::Internal(name));
        } else {
            out.push(DsImport::External(name, url));
        }
    }
    out
}

/// datasets `_PACKAGED_DATASETS_MODULES`: `load_dataset("csv", ...)` runs
/// installed code, whatever the hub holds under that name.
const PACKAGED_BUILDERS: [&str; 18] = [
    "arrow",
    "audiofolder",
    "cache",
    "csv",
    "eval",
    "generator",
    "hdf5",
    "imagefolder",
    "json",
    "lance",
    "pandas",
    "parquet",
    "pdffolder",
    "spark",
    "sql",
    "text",
    "videofolder",
    "webdataset",
];

/// How the declared datasets versions treat a loading script: `None` when
/// none of them runs scripts (4.0 removed them, PR #7592); `Run` when some
/// version below 3 may be installed (2.x runs scripts, with a warning at
/// most); else the 3.x prompt. An open or unknown range takes the worst case,
/// recorded in `target.assumed`.
fn script_gate<S: RepoSource>(job: &mut Job<'_, S>) -> Option<Gate> {
    use crate::deps::rules;
    let site = job.site;
    let versions = job.opts.declared.versions(&site.path);
    let decision = versions.decide(&rules::DATASETS_SCRIPTS);
    let known = versions.known("datasets");
    let happens = decision.happens();
    job.assume(decision.assumed);
    if !happens {
        return None;
    }
    if known.may_be("<3") {
        job.note("datasets<3 may be installed: it runs loading scripts without trust_remote_code");
        Some(Gate::Run)
    } else {
        Some(gate::prompting(&site.gate, gate::DATASETS_PROMPT))
    }
}

/// datasets `load_dataset`: the `{name}.py` script at the repo root and its
/// direct relative imports.
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    // pycsghub's `load_dataset` always reads `main`, whatever revision it is given.
    let forced_rev = (site.platform == Platform::Opencsg).then_some("main");
    let o = job.origin(hub)?;
    let rev = match forced_rev {
        Some(r) => {
            if let Some(given) = o.revision.as_deref().filter(|g| *g != r) {
                job.note(format!(
                    "revision={given} is ignored: this wrapper always reads {r}"
                ));
            }
            Some(r.to_string())
        }
        None => o.revision.clone(),
    };
    if !o.repo_id.contains('/') && PACKAGED_BUILDERS.contains(&o.repo_id.as_str()) {
        job.note(format!(
            "{} is a datasets packaged builder (installed code), not a hub repo",
            o.repo_id
        ));
        return Ok(Outcome::Done);
    }
    let snap = job
        .primary(o.hub, RepoType::Dataset, &o.repo_id, rev.as_deref())
        .await?;
    let name = o.repo_id.rsplit('/').next().unwrap_or(&o.repo_id);
    let script = format!("{name}.py");
    if !snap.has(&script) {
        return Ok(Outcome::Done);
    }
    let gate = match script_gate(job) {
        Some(g) => g,
        None => {
            job.set_refused();
            job.note(format!(
                "datasets>=4 rejects loading scripts: {script} is not run (the load fails)"
            ));
            return Ok(Outcome::Done);
        }
    };
    match gate {
        Gate::Refuse => {
            job.set_refused();
            job.note(format!(
                "{}@{} has the loading script {script}, which this call refuses; not fetched",
                snap.repo_id, snap.commit
            ));
            return Ok(Outcome::Done);
        }
        Gate::Prompt(m) => {
            job.set_refused();
            job.note(m);
        }
        Gate::Run => {}
    }
    let Some(bytes) = job
        .add_file(
            &snap,
            &script,
            FileKind::Python,
            "datasets loading script".into(),
        )
        .await?
    else {
        return Ok(Outcome::Done);
    };
    for imp in datasets_imports(&String::from_utf8_lossy(&bytes)) {
        match imp {
            DsImport::Internal(m) => {
                let path = format!("{m}.py");
                if snap.has(&path) {
                    job.add_file(
                        &snap,
                        &path,
                        FileKind::Python,
                        format!("relative import in {script}"),
                    )
                    .await?;
                } else {
                    job.note(format!(
                        "{path} (imported by {script}) is not in the repo: the load fails there"
                    ));
                }
            }
            DsImport::External(m, url) => {
                job.mark_unverified(format!(
                    "{script} imports {m} from an external source ({url}); not fetched"
                ));
            }
        }
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_import_quirks() {
        let src = "import os\nfrom .utils import x\nfrom .a.b import c\nfrom . import y\n  from .indented import z\n\"\"\"\nfrom .indoc import w\n\"\"\"\nfrom .remote import r  # From: https://example.invalid/r.py\n";
        assert_eq!(
            datasets_imports(src),
            vec![
                DsImport::Internal("utils".into()),
                DsImport::Internal("a".into()),
                DsImport::External("remote".into(), "https://example.invalid/r.py".into()),
            ]
        );
    }
}
