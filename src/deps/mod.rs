//! Declared library versions: what the scanned project says it installs, the
//! nearest declaration above each call, and the version ranges that decide
//! whether a remote-code path exists.
//!
//! Inputs (each malformed file is a warning and an `errors` entry, and every
//! library it could have declared falls back to the worst case):
//! `requirements*.txt` / `*.in` and `requirements/*.txt` (with `-r`/`-c`),
//! `pyproject.toml` (PEP 621, PEP 735 groups, Poetry, PDM, uv, setuptools
//! dynamic files), `Pipfile`, `setup.cfg`, literal `install_requires` in
//! `setup.py`, conda `environment*.yml`, and the locks `uv.lock`,
//! `poetry.lock`, `pdm.lock`, `Pipfile.lock`; plus `kernels.lock`.
//!
//! How a folder's files combine for one library: a lock wins (the union of
//! the versions it records); otherwise each manifest gives a range (its base
//! requirements together, or else the union of its extras, groups and
//! marker-guarded lines, narrowed by constraints) and the folder's range is
//! the union over its manifests (any of them may be the one installed). The
//! nearest folder above the call (up to the scanned root) that says anything
//! about the library decides; nothing declared means any version. `--assume`
//! overrides all of it.

mod conda;
mod files;
mod kernels_lock;
mod pipfile_lock;
pub mod range;
pub mod requirement;
mod requirements_txt;
pub mod rules;
mod setuptools;
mod toml_files;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

pub use crate::model::Assumed;
use crate::model::InputError;

use files::{Decl, FileClass, FileDecls, Reader, Role};
pub use kernels_lock::KernelLock;
pub use range::VersionSet;
use requirement::Constraint;
pub use version::Version;

/// `--assume NAME<specifier>`: the version of a library for this run,
/// whatever the project declares (`transformers==5.4.0`, `torch>=2.6`,
/// `kernels` for "installed, any version", `kernels=none` for "not installed").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assume {
    /// PEP 503 normalised name.
    pub library: String,
    pub set: VersionSet,
    /// As given on the command line.
    pub text: String,
}

impl FromStr for Assume {
    type Err = String;

    fn from_str(s: &str) -> Result<Assume, String> {
        let text = s.trim();
        let usage = "expected NAME followed by a PEP 440 specifier (transformers==5.4.0, torch>=2.6), a bare NAME (installed, any version) or NAME=none (not installed)";
        if let Some(name) = text.strip_suffix("=none").filter(|n| !n.ends_with('=')) {
            let library = requirement::normalize_name(name);
            if library.is_empty() || !valid_name(name) {
                return Err(format!("invalid --assume {s:?}: {usage}"));
            }
            return Ok(Assume {
                library,
                set: VersionSet::none(),
                text: text.to_string(),
            });
        }
        let req = requirement::parse_requirement(text)
            .map_err(|e| format!("invalid --assume {s:?}: {e}; {usage}"))?;
        if req.marker.is_some() {
            return Err(format!(
                "invalid --assume {s:?}: no environment markers here; {usage}"
            ));
        }
        match req.constraint {
            Constraint::Range(set) => Ok(Assume {
                library: req.name,
                set,
                text: text.to_string(),
            }),
            Constraint::Unknown(_) => Err(format!("invalid --assume {s:?}: {usage}")),
        }
    }
}

fn valid_name(name: &str) -> bool {
    let n = name.trim();
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
}

/// Where a library's range comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `--assume`.
    Assumed(String),
    /// Lock files (`path:line` each).
    Locked(Vec<String>),
    /// Manifests (`path:line` each).
    Declared(Vec<String>),
    /// A declaration that could not be read: where and why.
    Unreadable(String),
    /// Nothing above the call names the library.
    Undeclared,
}

/// What is known about one library for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub library: String,
    pub set: VersionSet,
    pub origin: Origin,
    /// Parts of the declaration whose version cannot be known (a git branch,
    /// a local path), each widening the range to any version.
    pub unknown_parts: Vec<String>,
}

impl Known {
    /// The source shown to users: files with lines, `--assume`, or null.
    pub fn source(&self) -> Option<String> {
        match &self.origin {
            Origin::Assumed(text) => Some(format!("--assume {text}")),
            Origin::Locked(s) | Origin::Declared(s) => Some(s.join(", ")),
            Origin::Unreadable(why) => Some(why.clone()),
            Origin::Undeclared => None,
        }
    }

    /// Whether some version in the range is also in `spec` (PEP 440).
    pub fn may_be(&self, spec: &str) -> bool {
        range::parse_pep440(spec)
            .map(|s| self.set.overlaps(&s))
            // A malformed built-in spec is a programming error; fail towards "may".
            .unwrap_or(true)
    }

    /// Whether every version in the range is in `spec` (false when not installed).
    pub fn surely(&self, spec: &str) -> bool {
        !self.set.is_empty()
            && range::parse_pep440(spec)
                .map(|s| self.set.is_subset(&s))
                .unwrap_or(false)
    }

    /// The range as users read it (`>=4.40, <5`, `==2.1.0`, `any`, `none`).
    pub fn range_text(&self) -> String {
        self.set.to_string()
    }
}

/// One manifest's range for a library: (range, sources, unknown parts).
type FilePart = (VersionSet, Vec<String>, Vec<String>);

/// What one folder's declaration files say.
#[derive(Debug, Default)]
struct DirDecls {
    lock_poison: Option<String>,
    locked: BTreeMap<String, Known>,
    poison: Option<String>,
    declared: BTreeMap<String, Known>,
    computed: Option<String>,
    kernel_locks: Option<Result<Vec<KernelLock>, String>>,
}

/// The declared versions of a project: every folder on the way from a call
/// up to the scanned root, read once.
#[derive(Debug, Default)]
pub struct Declared {
    root: PathBuf,
    dirs: BTreeMap<PathBuf, DirDecls>,
    assumes: Vec<Assume>,
    errors: Vec<InputError>,
}

/// The declaration files of one folder, by kind, in name order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Requirements,
    Pyproject,
    Pipfile,
    SetupCfg,
    SetupPy,
    Conda,
    TomlLock,
    PipfileLock,
    KernelsLock,
}

fn kind_of(name: &str, in_requirements_dir: bool) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    let is_req_ext = lower.ends_with(".txt") || lower.ends_with(".in");
    if in_requirements_dir {
        return is_req_ext.then_some(Kind::Requirements);
    }
    Some(match name {
        "pyproject.toml" => Kind::Pyproject,
        "Pipfile" => Kind::Pipfile,
        "Pipfile.lock" => Kind::PipfileLock,
        "uv.lock" | "poetry.lock" | "pdm.lock" => Kind::TomlLock,
        "setup.cfg" => Kind::SetupCfg,
        "setup.py" => Kind::SetupPy,
        "kernels.lock" => Kind::KernelsLock,
        _ if lower.contains("requirements") && is_req_ext => Kind::Requirements,
        _ if lower.starts_with("environment")
            && (lower.ends_with(".yml") || lower.ends_with(".yaml")) =>
        {
            Kind::Conda
        }
        _ => return None,
    })
}

/// Declaration files directly in `dir` (and in its `requirements/` folder).
fn declaration_files(dir: &Path) -> Vec<(PathBuf, Kind)> {
    let mut out = Vec::new();
    let list = |d: &Path, in_req: bool, out: &mut Vec<(PathBuf, Kind)>| {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                continue;
            }
            if let Some(k) = kind_of(&name, in_req) {
                out.push((e.path(), k));
            }
        }
    };
    list(dir, false, &mut out);
    list(&dir.join("requirements"), true, &mut out);
    out.sort();
    out
}

impl Declared {
    /// Read the declarations above every call path (relative to `root`, `/`
    /// separators) up to `root` itself. Problems become `errors()`.
    pub fn load<'a>(
        root: &Path,
        call_paths: impl IntoIterator<Item = &'a str>,
        assumes: &[Assume],
    ) -> Declared {
        let root_dir = if root.is_file() {
            root.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            root.to_path_buf()
        };
        let mut wanted: BTreeSet<PathBuf> = BTreeSet::new();
        for p in call_paths {
            let mut dir = start_dir(&root_dir, p);
            loop {
                if !wanted.insert(dir.clone()) {
                    break;
                }
                if dir == root_dir || !dir.starts_with(&root_dir) {
                    break;
                }
                match dir.parent() {
                    Some(parent) => dir = parent.to_path_buf(),
                    None => break,
                }
            }
        }
        let mut declared = Declared {
            root: root_dir.clone(),
            dirs: BTreeMap::new(),
            assumes: assumes.to_vec(),
            errors: Vec::new(),
        };
        for dir in wanted {
            let d = declared.load_dir(&dir);
            declared.dirs.insert(dir, d);
        }
        declared
            .errors
            .sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
        declared.errors.dedup();
        declared
    }

    /// Nothing declared: every library at its worst case unless assumed.
    pub fn assumed_only(assumes: &[Assume]) -> Declared {
        Declared {
            assumes: assumes.to_vec(),
            ..Declared::default()
        }
    }

    /// Malformed declaration files and contradictions, one entry each.
    pub fn errors(&self) -> &[InputError] {
        &self.errors
    }

    fn load_dir(&mut self, dir: &Path) -> DirDecls {
        let mut reader = Reader::new(&self.root, &self.root);
        let mut out = DirDecls::default();
        let mut manifests: Vec<FileDecls> = Vec::new();
        let mut locks: Vec<FileDecls> = Vec::new();
        for (path, kind) in declaration_files(dir) {
            reader.reset();
            let parsed = match kind {
                Kind::Requirements => {
                    let mut f = FileDecls::new(reader.display(&path), FileClass::Manifest);
                    requirements_txt::parse_into(&mut reader, &path, Role::Base, &mut f, 0);
                    f
                }
                Kind::Pyproject => toml_files::parse_pyproject(&mut reader, &path),
                Kind::Pipfile => toml_files::parse_pipfile(&mut reader, &path),
                Kind::SetupCfg => setuptools::parse_setup_cfg(&mut reader, &path),
                Kind::SetupPy => setuptools::parse_setup_py(&mut reader, &path),
                Kind::Conda => conda::parse(&mut reader, &path),
                Kind::TomlLock => toml_files::parse_toml_lock(&mut reader, &path),
                Kind::PipfileLock => pipfile_lock::parse(&mut reader, &path),
                Kind::KernelsLock => {
                    let (locks, problem) = kernels_lock::parse(&mut reader, &path);
                    if let Some(p) = problem {
                        self.errors.push(p.clone());
                        out.kernel_locks = Some(Err(format!("{}: {}", p.path, p.message)));
                    } else {
                        out.kernel_locks = Some(Ok(locks));
                    }
                    continue;
                }
            };
            self.errors.extend(parsed.problems.iter().cloned());
            match parsed.class {
                FileClass::Lock => locks.push(parsed),
                FileClass::Manifest => manifests.push(parsed),
            }
        }
        out.lock_poison = locks.iter().find_map(|f| f.poison_all.clone());
        let mut locked: BTreeMap<String, Vec<&Decl>> = BTreeMap::new();
        for f in &locks {
            for d in &f.decls {
                locked.entry(d.library.clone()).or_default().push(d);
            }
            for (lib, why) in &f.poison_libs {
                out.locked.insert(lib.clone(), unreadable(lib, why));
            }
        }
        for (lib, decls) in locked {
            if out.locked.contains_key(&lib) {
                continue;
            }
            let mut set = VersionSet::none();
            let mut unknown = Vec::new();
            for d in &decls {
                match &d.constraint {
                    Constraint::Range(s) => set = set.union(s),
                    Constraint::Unknown(why) => {
                        set = VersionSet::any();
                        unknown.push(format!("{}: {why}", d.source));
                    }
                }
            }
            out.locked.insert(
                lib.clone(),
                Known {
                    library: lib,
                    set,
                    origin: Origin::Locked(decls.iter().map(|d| d.source.clone()).collect()),
                    unknown_parts: unknown,
                },
            );
        }
        out.poison = manifests.iter().find_map(|f| f.poison_all.clone());
        out.computed = manifests.iter().find_map(|f| f.computed.clone());
        if let Some(c) = &out.computed {
            let path = c.split(':').next().unwrap_or(c).to_string();
            self.errors.push(InputError {
                path,
                message: format!(
                    "{}; libraries not declared by another file of this folder are assumed at their worst case",
                    c.split_once(": ").map(|(_, m)| m).unwrap_or(c)
                ),
            });
        }
        let mut per_lib: BTreeMap<String, Vec<FilePart>> = BTreeMap::new();
        let mut poisoned_libs: BTreeMap<String, String> = BTreeMap::new();
        for f in &manifests {
            for (lib, why) in &f.poison_libs {
                poisoned_libs
                    .entry(lib.clone())
                    .or_insert_with(|| why.clone());
            }
            let mut by_lib: BTreeMap<&str, Vec<&Decl>> = BTreeMap::new();
            for d in &f.decls {
                by_lib.entry(d.library.as_str()).or_default().push(d);
            }
            for (lib, decls) in by_lib {
                let (set, unknown) = file_range(&decls);
                let sources = decls.iter().map(|d| d.source.clone()).collect();
                per_lib
                    .entry(lib.to_string())
                    .or_default()
                    .push((set, sources, unknown));
            }
        }
        for (lib, why) in poisoned_libs {
            per_lib.remove(&lib);
            out.declared.insert(lib.clone(), unreadable(&lib, &why));
        }
        for (lib, parts) in per_lib {
            let mut set = VersionSet::none();
            let mut sources = Vec::new();
            let mut unknown = Vec::new();
            for (s, src, unk) in parts {
                if s.is_empty() {
                    let at = src.first().cloned().unwrap_or_default();
                    let path = at
                        .rsplit_once(':')
                        .map(|(p, _)| p.to_string())
                        .unwrap_or(at.clone());
                    self.errors.push(InputError {
                        path,
                        message: format!(
                            "the declarations of {lib} ({}) admit no version; {lib} is assumed at its worst case",
                            src.join(", ")
                        ),
                    });
                    set = VersionSet::any();
                } else {
                    set = set.union(&s);
                }
                for s in src {
                    if !sources.contains(&s) {
                        sources.push(s);
                    }
                }
                for u in unk {
                    if !unknown.contains(&u) {
                        unknown.push(u);
                    }
                }
            }
            out.declared.insert(
                lib.clone(),
                Known {
                    library: lib,
                    set,
                    origin: Origin::Declared(sources),
                    unknown_parts: unknown,
                },
            );
        }
        out
    }

    /// What the project declares for the call at `call_path` (relative to the root).
    pub fn versions(&self, call_path: &str) -> Versions<'_> {
        let mut chain = Vec::new();
        if !self.root.as_os_str().is_empty() {
            let mut dir = start_dir(&self.root, call_path);
            loop {
                if let Some(d) = self.dirs.get(&dir) {
                    chain.push(d);
                }
                if dir == self.root || !dir.starts_with(&self.root) {
                    break;
                }
                match dir.parent() {
                    Some(p) => dir = p.to_path_buf(),
                    None => break,
                }
            }
        }
        Versions {
            chain,
            assumes: &self.assumes,
        }
    }
}

/// The folder a call's file sits in (a path that tries to climb out stays at the root).
fn start_dir(root: &Path, call_path: &str) -> PathBuf {
    let mut dir = root.to_path_buf();
    let parts: Vec<&str> = call_path.split('/').collect();
    for p in &parts[..parts.len().saturating_sub(1)] {
        if p.is_empty() || *p == "." || *p == ".." {
            return root.to_path_buf();
        }
        dir.push(p);
    }
    dir
}

fn unreadable(lib: &str, why: &str) -> Known {
    Known {
        library: lib.to_string(),
        set: VersionSet::any(),
        origin: Origin::Unreadable(why.to_string()),
        unknown_parts: Vec::new(),
    }
}

/// The range one manifest gives a library: its base requirements together
/// (else the union of its alternatives, else any), narrowed by constraints;
/// an override replaces it.
fn file_range(decls: &[&Decl]) -> (VersionSet, Vec<String>) {
    let mut unknown = Vec::new();
    let mut set_of = |d: &Decl| match &d.constraint {
        Constraint::Range(s) => s.clone(),
        Constraint::Unknown(why) => {
            unknown.push(format!("{}: {why}", d.source));
            VersionSet::any()
        }
    };
    let mut base: Option<VersionSet> = None;
    let mut alts: Option<VersionSet> = None;
    let mut cons = VersionSet::any();
    let mut over: Option<VersionSet> = None;
    for d in decls {
        let s = set_of(d);
        match d.role {
            Role::Base | Role::Locked => base = Some(base.map_or(s.clone(), |b| b.intersect(&s))),
            Role::Alternative => alts = Some(alts.map_or(s.clone(), |a| a.union(&s))),
            Role::Constraint => cons = cons.intersect(&s),
            Role::Override => over = Some(over.map_or(s.clone(), |o| o.intersect(&s))),
        }
    }
    let set = match over {
        Some(o) => o,
        None => base
            .or(alts)
            .unwrap_or_else(VersionSet::any)
            .intersect(&cons),
    };
    (set, unknown)
}

/// The declarations that apply to one call, nearest folder first.
pub struct Versions<'a> {
    chain: Vec<&'a DirDecls>,
    assumes: &'a [Assume],
}

impl Versions<'_> {
    /// What is known about `library` (any spelling) for this call.
    pub fn known(&self, library: &str) -> Known {
        let lib = requirement::normalize_name(library);
        if let Some(a) = self.assumes.iter().rev().find(|a| a.library == lib) {
            return Known {
                library: lib,
                set: a.set.clone(),
                origin: Origin::Assumed(a.text.clone()),
                unknown_parts: Vec::new(),
            };
        }
        for d in &self.chain {
            if let Some(why) = &d.lock_poison {
                return unreadable(&lib, why);
            }
            if let Some(k) = d.locked.get(&lib) {
                return k.clone();
            }
            if let Some(why) = &d.poison {
                return unreadable(&lib, why);
            }
            if let Some(k) = d.declared.get(&lib) {
                return k.clone();
            }
            if let Some(why) = &d.computed {
                return unreadable(&lib, why);
            }
        }
        Known {
            library: lib,
            set: VersionSet::any(),
            origin: Origin::Undeclared,
            unknown_parts: Vec::new(),
        }
    }

    /// The commit `kernels.lock` (nearest above the call) pins for `repo_id`:
    /// `Ok(None)` when no lock names it, `Err` when the nearest lock is unreadable.
    pub fn kernel_lock(&self, repo_id: &str) -> Result<Option<KernelLock>, String> {
        for d in &self.chain {
            match &d.kernel_locks {
                Some(Ok(locks)) => {
                    if let Some(l) = locks
                        .iter()
                        .find(|l| l.repo_id.eq_ignore_ascii_case(repo_id))
                    {
                        return Ok(Some(l.clone()));
                    }
                    return Ok(None);
                }
                Some(Err(why)) => return Err(why.clone()),
                None => {}
            }
        }
        Ok(None)
    }
}

/// What PaddleHub's search filter needs to know of the installation: whether
/// some paddle (`paddlepaddle`, else `paddlepaddle-gpu`) and some paddlehub
/// version that the project declares above any of `call_paths` meets an
/// item's conditions (`server_source.py:89-107`, PaddleHub 2.4.0). An
/// undeclared library meets every condition.
pub fn paddle_env<'a>(
    declared: Arc<Declared>,
    call_paths: impl IntoIterator<Item = &'a str>,
) -> crate::hub::PaddleEnv {
    let paths: Vec<String> = call_paths.into_iter().map(str::to_string).collect();
    crate::hub::PaddleEnv(Arc::new(move |paddle: &[String], hub: &[String]| {
        let meets = |k: &Known, conds: &[String]| conds.is_empty() || k.may_be(&conds.join(", "));
        // No PaddleHub call (a library user of `Hubs`): nothing to narrow by.
        paths.is_empty()
            || paths.iter().any(|p| {
                let v = declared.versions(p);
                let mut pk = v.known("paddlepaddle");
                if pk.origin == Origin::Undeclared {
                    pk = v.known("paddlepaddle-gpu");
                }
                meets(&pk, paddle) && meets(&v.known("paddlehub"), hub)
            })
    }))
}
