//! Loads from a local folder that a download in the codebase fills:
//! `snapshot_download("org/m", local_dir="./m")` then
//! `from_pretrained("./m", trust_remote_code=True)` runs `org/m`'s code, so
//! the load is a load of that repo at the download's revision (pinned when the
//! download pins), never a local path to skip. A load is linked to downloads
//! of the same folder in its own file, else in any file of the scan (a
//! download script and the code that loads what it fetched both run from the
//! project's folder). A local folder no download fills stays a local path.

use std::collections::HashMap;

use tree_sitter::Node;

use super::catalogue::{Kind, Loader};
use super::values::{Lit, Resolver, Snap, call_arg, path_join};
use crate::model::{LoadSite, Platform};

/// A folder a download call fills, and with what.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    /// The folder as `normalise` writes it.
    pub folder: String,
    pub snap: Snap,
    /// The download's keyword that names the folder.
    pub kw: &'static str,
    /// The download call's file (relative to the scanned root) and line.
    pub path: String,
    pub line: u32,
}

/// A load from a string that no download in its own file fills as a folder.
#[derive(Debug, Clone)]
pub struct LocalLoad {
    /// The call as it would be reported, without its repo.
    pub site: LoadSite,
    /// The string as written.
    pub id: String,
    /// The folder as `normalise` writes it.
    pub folder: String,
    /// The string was reported as a hub id (it does not look like a path).
    pub as_id: bool,
}

/// The folders of one file's downloads, and its loads from folders none fills.
#[derive(Debug, Default)]
pub struct Links {
    pub downloads: Vec<Download>,
    pub unlinked: Vec<LocalLoad>,
}

/// Which loader kinds read a model folder as the repo id (downloads,
/// torch.hub, PaddleHub and OpenMMLab configs name folders otherwise).
pub fn reads_a_folder(kind: Kind) -> bool {
    matches!(kind, Kind::Plain | Kind::Pipeline | Kind::FromConfig)
}

/// A folder path written one way: `/` separators, no `.` or empty segments,
/// `a/../` folded, no trailing `/`; `None` for an empty path. Relative paths
/// stay relative (to the folder the program runs in, the same for every file).
pub fn normalise(p: &str) -> Option<String> {
    let p = p.trim();
    if p.is_empty() {
        return None;
    }
    let abs = p.starts_with(['/', '\\']);
    let mut segs: Vec<&str> = Vec::new();
    for s in p.split(['/', '\\']) {
        match s {
            "" | "." => {}
            ".." if segs.last().is_some_and(|l| *l != "..") => {
                segs.pop();
            }
            _ => segs.push(s),
        }
    }
    let body = segs.join("/");
    Some(match (abs, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    })
}

/// The folders the download `call` fills: `local_dir=` (huggingface_hub,
/// ModelScope, pycsghub), else ModelScope's `cache_dir=`, under which a model
/// lands in `<cache_dir>/<owner>/<name>` with `.` in the name written `___`
/// (`modelscope/hub/file_download.py` `create_temporary_directory_and_cache`).
pub fn downloads<'t>(
    r: &Resolver<'_, 't>,
    call: Node<'t>,
    loader: &Loader,
    path: &str,
    line: u32,
) -> Vec<Download> {
    if loader.kind != Kind::Snapshot {
        return Vec::new();
    }
    let src = r.index().src;
    let local = call_arg(call, src, None, &["local_dir"]);
    let cache = (loader.platform == Platform::Modelscope && local.is_none())
        .then(|| call_arg(call, src, None, &["cache_dir"]))
        .flatten();
    let Some((arg, kw)) = local
        .map(|a| (a, "local_dir"))
        .or(cache.map(|a| (a, "cache_dir")))
    else {
        return Vec::new();
    };
    let snaps: Vec<Snap> = r
        .resolve(call)
        .into_iter()
        .filter_map(|v| match v.lit {
            Lit::Snap(s) => Some(std::rc::Rc::unwrap_or_clone(s)),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for v in r.resolve(arg) {
        let Some(dir) = v.as_str() else { continue };
        // `for m in ids: snapshot_download(m, local_dir=f"models/{m}")`: the
        // folder that names a repo is that repo's, not every repo's of the loop.
        let named: Vec<&Snap> = snaps
            .iter()
            .filter(|s| s.repo_id.as_deref().is_some_and(|id| names_repo(dir, id)))
            .collect();
        let fills: Vec<&Snap> = if named.is_empty() {
            snaps.iter().collect()
        } else {
            named
        };
        for snap in fills {
            let folder = if kw == "cache_dir" {
                let Some((owner, name)) = snap.repo_id.as_deref().and_then(|i| i.split_once('/'))
                else {
                    continue;
                };
                path_join(&path_join(dir, owner), &name.replace('.', "___"))
            } else {
                dir.to_string()
            };
            let Some(folder) = normalise(&folder) else {
                continue;
            };
            let d = Download {
                folder,
                snap: snap.clone(),
                kw,
                path: path.to_string(),
                line,
            };
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// Does the folder `dir` name the repo `id` (its id, or its name as a whole
/// path segment)?
fn names_repo(dir: &str, id: &str) -> bool {
    let name = id.rsplit('/').next().unwrap_or(id);
    dir.contains(id) || dir.split(['/', '\\']).any(|seg| seg == name)
}

impl Links {
    /// The downloads (of this file) that fill `folder`, as written in the code.
    pub fn find(&self, folder: &str) -> Vec<&Download> {
        match normalise(folder) {
            Some(f) => self.downloads.iter().filter(|d| d.folder == f).collect(),
            None => Vec::new(),
        }
    }

    /// Keep a load from a string no download of its file fills as a folder,
    /// to link it across files (`link_across`); `as_id`: it is reported as a
    /// hub id meanwhile.
    pub fn keep(&mut self, site: LoadSite, id: &str, as_id: bool) {
        if let Some(folder) = normalise(id) {
            self.unlinked.push(LocalLoad {
                site,
                id: id.to_string(),
                folder,
                as_id,
            });
        }
    }
}

/// `site`, a load from `folder`, as the load of what `d` downloaded there.
pub fn link(site: &LoadSite, folder: &str, d: &Download) -> LoadSite {
    let mut s = site.clone();
    s.platform = d.snap.platform;
    s.repo_type = d.snap.repo_type;
    s.repo_id = d.snap.repo_id.clone();
    // The folder holds what the download fetched: its revision, or the
    // default branch; a `revision=` on the load is ignored for a folder.
    s.revision = d.snap.revision.clone();
    s.args.insert("snapshot_of".into(), d.snap.api.clone());
    let place = if d.path == site.path {
        format!("line {}", d.line)
    } else {
        format!("{} line {}", d.path, d.line)
    };
    let how = format!(
        "folder {folder} filled by {}({}=) ({place})",
        d.snap.api, d.kw
    );
    s.resolution = if site.resolution == "literal" || site.resolution.is_empty() {
        how
    } else {
        format!("{how} <- {}", site.resolution)
    };
    s
}

/// Link the loads from strings that no download in their own file fills to
/// the downloads of those folders in other files; `finish` completes a site
/// (its `pinned`). A string linked this way names a folder of the project,
/// so the hub id it was reported as goes; loads still unlinked stay as they
/// were (a hub id, or left out as a local path).
pub fn link_across(
    calls: &mut Vec<LoadSite>,
    unlinked: Vec<LocalLoad>,
    downloads: &[Download],
    finish: impl Fn(LoadSite) -> LoadSite,
) {
    let mut by_folder: HashMap<&str, Vec<&Download>> = HashMap::new();
    for d in downloads {
        by_folder.entry(d.folder.as_str()).or_default().push(d);
    }
    for l in unlinked {
        let Some(ds) = by_folder.get(l.folder.as_str()) else {
            continue;
        };
        let mut linked = ds.iter().filter(|d| d.path != l.site.path).peekable();
        if linked.peek().is_none() {
            continue;
        }
        let at = |c: &LoadSite| {
            (&c.path, c.line, c.column) == (&l.site.path, l.site.line, l.site.column)
        };
        if l.as_id {
            calls.retain(|c| !(at(c) && c.repo_id.as_deref() == Some(l.id.as_str())));
        }
        for d in linked {
            let s = finish(link(&l.site, &l.id, d));
            let dup = calls.iter().any(|c| {
                at(c)
                    && (&c.repo_id, &c.revision, c.platform, c.repo_type)
                        == (&s.repo_id, &s.revision, s.platform, s.repo_type)
            });
            if !dup {
                calls.push(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_written_one_way() {
        for (a, b) in [
            ("./m", "m"),
            ("m/", "m"),
            ("./models//m/.", "models/m"),
            ("models/x/../m", "models/m"),
            ("/abs/m/", "/abs/m"),
            ("../m", "../m"),
            ("../../m", "../../m"),
            (".", "."),
            ("./", "."),
            ("models\\m", "models/m"),
        ] {
            assert_eq!(normalise(a).as_deref(), Some(b), "{a}");
        }
        assert_eq!(normalise("  "), None);
    }
}
