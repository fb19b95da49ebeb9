//! What one declaration file says: each library it names with a constraint,
//! where (file and line) and in which role, plus the problems that make part
//! of it unreadable. Reading is bounded (size, inside the project) and never
//! fails the run: a problem is recorded and the affected libraries fall back
//! to the worst case.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::model::InputError;

use super::requirement::Constraint;

/// Largest declaration file read (lock files of big monorepos run to megabytes).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// How a declaration combines with the others of its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Always installed with the project: all base declarations hold at once.
    Base,
    /// Installed in some setups only (an extra, a dependency group, an
    /// environment marker): one possibility among others.
    Alternative,
    /// Limits the version if the library gets installed (`-c`, uv constraints).
    Constraint,
    /// Replaces every other declaration (uv `override-dependencies`).
    Override,
    /// The exact version a lock file records.
    Locked,
}

/// One declaration of a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decl {
    /// PEP 503 normalised name.
    pub library: String,
    pub constraint: Constraint,
    /// `path:line`, the path relative to the scanned root.
    pub source: String,
    pub role: Role,
}

impl Decl {
    pub fn new(library: String, constraint: Constraint, rel: &str, line: u32, role: Role) -> Decl {
        Decl {
            library,
            constraint,
            source: format!("{rel}:{line}"),
            role,
        }
    }
}

/// Whether a file records what is installed (a lock) or what is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileClass {
    Manifest,
    Lock,
}

/// Everything one top-level declaration file (with its includes) says.
#[derive(Clone, Debug)]
pub struct FileDecls {
    /// Relative to the scanned root.
    pub rel: String,
    pub class: FileClass,
    pub decls: Vec<Decl>,
    /// The whole file could not be read: why (every library is unknown here).
    pub poison_all: Option<String>,
    /// Lines that could not be read but name their library: library -> why.
    pub poison_libs: BTreeMap<String, String>,
    /// What to tell the user (a warning and an `errors` entry each).
    pub problems: Vec<InputError>,
    /// A declaration whose value is computed (`install_requires=read(...)`):
    /// where. Libraries not declared by another file of the folder are unknown.
    pub computed: Option<String>,
}

impl FileDecls {
    pub fn new(rel: String, class: FileClass) -> FileDecls {
        FileDecls {
            rel,
            class,
            decls: Vec::new(),
            poison_all: None,
            poison_libs: BTreeMap::new(),
            problems: Vec::new(),
            computed: None,
        }
    }

    pub fn push(&mut self, decl: Decl) {
        self.decls.push(decl);
    }

    /// A problem that leaves every library of this file unknown.
    pub fn problem_all(&mut self, rel: &str, line: u32, message: &str) {
        let at = if line > 0 {
            format!("{rel}:{line}")
        } else {
            rel.to_string()
        };
        if self.poison_all.is_none() {
            self.poison_all = Some(format!("{at}: {message}"));
        }
        self.problems.push(InputError {
            path: rel.to_string(),
            message: if line > 0 {
                format!("line {line}: {message}; every library declared here is assumed at its worst case")
            } else {
                format!("{message}; every library declared here is assumed at its worst case")
            },
        });
    }

    /// A problem on a line that names its library: only that library is unknown.
    pub fn problem_lib(&mut self, rel: &str, line: u32, library: &str, message: &str) {
        self.poison_libs
            .entry(library.to_string())
            .or_insert_with(|| format!("{rel}:{line}: {message}"));
        self.problems.push(InputError {
            path: rel.to_string(),
            message: format!("line {line}: {message}; {library} is assumed at its worst case"),
        });
    }
}

/// Reads declaration files under the project's top folder, once each per
/// top-level file, with caps.
pub struct Reader<'a> {
    root: &'a Path,
    top: PathBuf,
    seen: HashSet<PathBuf>,
}

impl<'a> Reader<'a> {
    /// `top` bounds includes: nothing outside it is read.
    pub fn new(root: &'a Path, top: &Path) -> Reader<'a> {
        Reader {
            root,
            top: top.canonicalize().unwrap_or_else(|_| top.to_path_buf()),
            seen: HashSet::new(),
        }
    }

    /// Forget which files were read (a new top-level file starts).
    pub fn reset(&mut self) {
        self.seen.clear();
    }

    /// A path as the user sees it: relative to the scanned root (`../` above it).
    pub fn display(&self, path: &Path) -> String {
        display_path(self.root, path)
    }

    /// Whether `path` may be read: inside the project, a regular file, under
    /// the size cap. Returns its canonical path or why not.
    pub fn check(&self, path: &Path) -> Result<PathBuf, String> {
        let canonical = path
            .canonicalize()
            .map_err(|e| format!("cannot read it: {e}"))?;
        if !canonical.starts_with(&self.top) {
            return Err("it is outside the project and is not read".to_string());
        }
        let meta =
            std::fs::symlink_metadata(&canonical).map_err(|e| format!("cannot read it: {e}"))?;
        if !meta.is_file() {
            return Err("it is not a regular file".to_string());
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "it is larger than {} MiB and is not read",
                MAX_FILE_BYTES >> 20
            ));
        }
        Ok(canonical)
    }

    /// The text of `path`, or None with a problem recorded in `out` (None
    /// without a problem for a file already read in this chain).
    pub fn read(&mut self, path: &Path, out: &mut FileDecls) -> Option<String> {
        let rel = self.display(path);
        let canonical = match self.check(path) {
            Ok(c) => c,
            Err(why) => {
                out.problem_all(&rel, 0, &why);
                return None;
            }
        };
        if !self.seen.insert(canonical.clone()) {
            // Included twice (or a cycle): pip reads it again; its lines are already here.
            return None;
        }
        match std::fs::read(&canonical) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Some(
                    text.strip_prefix('\u{feff}')
                        .map(str::to_string)
                        .unwrap_or(text),
                ),
                Err(_) => {
                    out.problem_all(&rel, 0, "it is not UTF-8 text");
                    None
                }
            },
            Err(e) => {
                out.problem_all(&rel, 0, &format!("cannot read it: {e}"));
                None
            }
        }
    }
}

/// `path` relative to `root` with `/` separators, `..` where it lies above.
pub fn display_path(root: &Path, path: &Path) -> String {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let root_dir = if root.is_file() {
        root.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        root.to_path_buf()
    };
    let (r, p) = (abs(&root_dir), abs(path));
    let rc: Vec<Component<'_>> = r.components().collect();
    let pc: Vec<Component<'_>> = p.components().collect();
    let common = rc.iter().zip(&pc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return p.to_string_lossy().replace('\\', "/");
    }
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), rc.len() - common).collect();
    parts.extend(
        pc[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// 1-based line of a byte offset.
pub fn line_at(line_starts: &[usize], offset: usize) -> u32 {
    match line_starts.binary_search(&offset) {
        Ok(i) => i as u32 + 1,
        Err(i) => i as u32,
    }
}

/// Byte offsets where each line starts.
pub fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// Line of the first occurrence of `needle` at or after line `from` (1-based);
/// `from` itself when not found (formats without positions: YAML, JSON).
pub fn find_line(text: &str, needle: &str, from: u32) -> u32 {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i as u32 + 1)
        .unwrap_or(from.max(1))
}
