//! Repo data files that fetched code unpickles while it loads (issue 10: "`.npy`/`.bin`
//! files of the repo whose contents reach an unpickler or `np.load(allow_pickle=True)`").
//!
//! `np.load(os.path.join(os.path.dirname(__file__), "x.npy"), allow_pickle=True)`,
//! `pickle.load(open(Path(__file__).with_name("x.pkl"), "rb"))`, `torch.load` and the
//! like name a file next to the code. When the path is built
//! statically from `__file__` (`dirname`, `abspath`, `join`, `Path(...)`, `/`, `.parent`,
//! `.with_name`, module constants, `with open(...) as f`), the file is the same repo at
//! the same commit as the code, so it is read through the hub layer and handed to the
//! pickle scanner. Paths that climb out of the repo or cannot be computed are left to
//! the taint pass, which reports them as data that could not be verified.

use tree_sitter::Node;

use crate::discover::python::{BindKind, Index};
use crate::discover::values::{Lit, Resolver, call_arg};
use crate::python::text;

/// Unpickling calls on a file: qualified names, what the argument is. `joblib.load` and
/// `pandas.read_pickle` are left out: they decompress (zlib, gzip, xz, ... by content or
/// extension), which the pickle walker does not, so a compressed payload would read as a
/// malformed pickle (a warning) while the call's error dropped to a note. Their calls stay
/// the taint pass's error.
const UNPICKLERS: &[(&[&str], Arg)] = &[
    (&["numpy.load"], Arg::Path(&["file"])),
    (
        &["torch.load", "torch.serialization.load"],
        Arg::Path(&["f"]),
    ),
    (
        &[
            "pickle.load",
            "_pickle.load",
            "cPickle.load",
            "dill.load",
            "cloudpickle.load",
            "pickle.Unpickler",
            "_pickle.Unpickler",
            "dill.Unpickler",
        ],
        Arg::Handle(&["file"]),
    ),
    (
        &[
            "pickle.loads",
            "_pickle.loads",
            "cPickle.loads",
            "dill.loads",
            "cloudpickle.loads",
        ],
        Arg::Bytes(&["data"]),
    ),
];

/// Words without which a file unpickles nothing (checked before parsing).
pub(super) const WORDS: &[&str] = &["load", "Unpickler", "read_pickle"];

#[derive(Clone, Copy)]
enum Arg {
    /// A path or an open file.
    Path(&'static [&'static str]),
    /// An open file.
    Handle(&'static [&'static str]),
    /// The bytes of a file (`open(p).read()`, `Path(p).read_bytes()`).
    Bytes(&'static [&'static str]),
}

/// One unpickling call on a file of the repo.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Unpickle {
    pub line: u32,
    pub end_line: u32,
    pub api: String,
    /// The repo-relative path, or why it leaves the repo.
    pub path: Result<String, String>,
}

/// Path calls that return their argument as a path (or join several).
const SAME: &[&str] = &[
    "os.path.abspath",
    "os.path.realpath",
    "os.path.normpath",
    "os.path.expanduser",
    "os.fspath",
    "posixpath.abspath",
    "posixpath.realpath",
    "posixpath.normpath",
    "pathlib.Path",
    "pathlib.PurePath",
    "pathlib.PosixPath",
    "pathlib.PurePosixPath",
];
const DIRNAME: &[&str] = &["os.path.dirname", "posixpath.dirname"];
const JOIN: &[&str] = &["os.path.join", "posixpath.join"];

/// The unpickling calls of one file (at `path` in its repo) on statically named files
/// next to the code.
pub(super) fn unpickles(src: &[u8], path: &str) -> Vec<Unpickle> {
    if !WORDS
        .iter()
        .any(|w| memchr::memmem::find(src, w.as_bytes()).is_some())
        || memchr::memmem::find(src, b"__file__").is_none()
    {
        return Vec::new();
    }
    super::with_resolver(src, |idx, r, src| {
        let p = Paths {
            idx,
            r,
            src,
            file: path,
        };
        let mut out = Vec::new();
        for &call in &idx.calls {
            let Some(f) = call.child_by_field_name("function") else {
                continue;
            };
            let quals = idx.qualify(f, 0);
            let Some((names, arg)) = UNPICKLERS
                .iter()
                .find(|(names, _)| quals.iter().any(|q| names.contains(&q.as_str())))
            else {
                continue;
            };
            let api = quals
                .iter()
                .find(|q| names.contains(&q.as_str()))
                .cloned()
                .unwrap_or_default();
            // Calls that do not unpickle: `np.load(p)` (allow_pickle defaults to False) and
            // `torch.load(p, weights_only=True)`.
            let kw = |k: &str| call_arg(call, src, None, &[k]).map(|n| text(n, src));
            if api == "numpy.load" && matches!(kw("allow_pickle"), None | Some("False")) {
                continue;
            }
            if api.starts_with("torch.") && kw("weights_only") == Some("True") {
                continue;
            }
            let found = match *arg {
                Arg::Path(kws) => call_arg(call, src, Some(0), kws).and_then(|a| {
                    p.handle(a, call, 0)
                        .or_else(|| p.path(a, 0).map(|c| c.map(|c| c.join("/"))))
                }),
                Arg::Handle(kws) => {
                    call_arg(call, src, Some(0), kws).and_then(|a| p.handle(a, call, 0))
                }
                Arg::Bytes(kws) => call_arg(call, src, Some(0), kws).and_then(|a| p.bytes(a, call)),
            };
            let Some(path) = found else {
                continue;
            };
            out.push(Unpickle {
                line: crate::python::line_of(call),
                end_line: u32::try_from(call.end_position().row + 1).unwrap_or(u32::MAX),
                api,
                path,
            });
        }
        out
    })
    .unwrap_or_default()
}

/// Path values within one file.
struct Paths<'a, 't, 'f> {
    idx: &'a Index<'t>,
    r: &'a Resolver<'a, 't>,
    src: &'t [u8],
    /// The file's own path in its repo.
    file: &'f str,
}

/// Repo-relative components, or why the path leaves the repo; `None` when the value
/// is not a path anchored at `__file__`.
type PathVal = Option<Result<Vec<String>, String>>;

const MAX_DEPTH: u32 = 16;

impl<'t> Paths<'_, 't, '_> {
    fn quals(&self, f: Node<'t>) -> Vec<String> {
        self.idx.qualify(f, 0)
    }

    fn is(&self, f: Node<'t>, names: &[&str]) -> bool {
        self.quals(f).iter().any(|q| names.contains(&q.as_str()))
    }

    /// A single statically known string.
    fn string(&self, n: Node<'t>) -> Option<String> {
        let v = self.r.resolve(n);
        match v.as_slice() {
            [one] => match &one.lit {
                Lit::Str(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// `base` joined with `more` (`/`-separated, `..` climbs, an absolute part
    /// restarts outside the repo).
    fn join(mut base: Vec<String>, more: &str) -> PathVal {
        if more.starts_with('/') || more.starts_with('~') {
            return None;
        }
        for part in more.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    if base.pop().is_none() {
                        return Some(Err(format!("`{more}` climbs out of the repo")));
                    }
                }
                p => base.push(p.to_string()),
            }
        }
        Some(Ok(base))
    }

    fn dirname(v: Vec<String>) -> PathVal {
        let mut v = v;
        if v.pop().is_none() {
            return Some(Err("the folder above the repo".into()));
        }
        Some(Ok(v))
    }

    /// The path an expression holds.
    fn path(&self, n: Node<'t>, depth: u32) -> PathVal {
        if depth > MAX_DEPTH {
            return None;
        }
        let src = self.src;
        match n.kind() {
            "identifier" => {
                let name = text(n, src);
                if name == "__file__" {
                    return Some(Ok(self.file.split('/').map(str::to_string).collect()));
                }
                match self.idx.lookup(name, n)?.kind {
                    BindKind::Assign(rhs) => self.path(rhs, depth + 1),
                    _ => None,
                }
            }
            "parenthesized_expression" => self.path(n.named_child(0)?, depth + 1),
            "attribute" => {
                let obj = n.child_by_field_name("object")?;
                match text(n.child_by_field_name("attribute")?, src) {
                    "parent" => Self::dirname(self.path(obj, depth + 1)?.ok()?),
                    _ => None,
                }
            }
            "subscript" => {
                // `Path(__file__).parents[k]`
                let value = n.child_by_field_name("value")?;
                let key: usize = text(n.child_by_field_name("subscript")?, src)
                    .parse()
                    .ok()?;
                if value.kind() != "attribute"
                    || text(value.child_by_field_name("attribute")?, src) != "parents"
                {
                    return None;
                }
                let mut v = self.path(value.child_by_field_name("object")?, depth + 1)?;
                for _ in 0..=key {
                    v = Self::dirname(v.ok()?)?;
                }
                Some(v)
            }
            "binary_operator" => {
                let op = text(n.child_by_field_name("operator")?, src);
                let left = n.child_by_field_name("left")?;
                let right = n.child_by_field_name("right")?;
                let base = self.path(left, depth + 1)?;
                let more = self.string(right)?;
                match op {
                    "/" => Self::join(base.ok()?, &more),
                    // `os.path.dirname(__file__) + "/x.npy"`
                    "+" => Self::join(base.ok()?, more.strip_prefix(['/', '\\'])?),
                    _ => None,
                }
            }
            "call" => self.call_path(n, depth),
            _ => None,
        }
    }

    fn call_path(&self, n: Node<'t>, depth: u32) -> PathVal {
        let src = self.src;
        let f = n.child_by_field_name("function")?;
        let args = n.child_by_field_name("arguments")?;
        let positional: Vec<Node<'t>> = {
            let mut c = args.walk();
            args.named_children(&mut c)
                .filter(|a| !matches!(a.kind(), "keyword_argument" | "comment"))
                .collect()
        };
        if self.is(f, DIRNAME) {
            return Self::dirname(self.path(*positional.first()?, depth + 1)?.ok()?);
        }
        if self.is(f, JOIN) || self.is(f, SAME) || text(f, src) == "str" {
            let (first, rest) = positional.split_first()?;
            let mut v = self.path(*first, depth + 1)?;
            for a in rest {
                v = Self::join(v.ok()?, &self.string(*a)?)?;
            }
            return Some(v);
        }
        // Methods of a path: `p.with_name("x")`, `p.joinpath("a", "b")`, `p.resolve()`.
        if f.kind() == "attribute" {
            let obj = f.child_by_field_name("object")?;
            let m = text(f.child_by_field_name("attribute")?, src);
            match m {
                "resolve" | "absolute" | "expanduser" | "as_posix" => {
                    return self.path(obj, depth + 1);
                }
                "with_name" => {
                    let base = Self::dirname(self.path(obj, depth + 1)?.ok()?)?;
                    return Self::join(base.ok()?, &self.string(*positional.first()?)?);
                }
                "with_suffix" => {
                    let mut v = self.path(obj, depth + 1)?.ok()?;
                    let suffix = self.string(*positional.first()?)?;
                    let last = v.pop()?;
                    let stem = match last.rfind('.') {
                        Some(i) if i > 0 => &last[..i],
                        _ => last.as_str(),
                    };
                    return Self::join(v, &format!("{stem}{suffix}"));
                }
                "joinpath" => {
                    let mut v = self.path(obj, depth + 1)?;
                    for a in &positional {
                        v = Self::join(v.ok()?, &self.string(*a)?)?;
                    }
                    return Some(v);
                }
                _ => {}
            }
        }
        None
    }

    /// The file an open handle reads: `open(P, "rb")`, `Path(P).open("rb")`, `io.open`,
    /// a name bound to one (`f = open(P)`, `with open(P, "rb") as f`).
    fn handle(&self, n: Node<'t>, at: Node<'t>, depth: u32) -> Option<Result<String, String>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let src = self.src;
        match n.kind() {
            "call" => {
                let f = n.child_by_field_name("function")?;
                let t = text(f, src);
                // `open` as imported from elsewhere (`from gzip import open`) decompresses.
                let builtin = self
                    .quals(f)
                    .iter()
                    .all(|q| matches!(q.as_str(), "builtins.open" | "io.open" | "codecs.open"));
                let opened = if builtin
                    && matches!(t, "open" | "io.open" | "builtins.open" | "codecs.open")
                {
                    call_arg(n, src, Some(0), &["file", "filename"])
                } else if f.kind() == "attribute"
                    && text(f.child_by_field_name("attribute")?, src) == "open"
                {
                    f.child_by_field_name("object")
                } else {
                    None
                }?;
                self.path(opened, depth + 1).map(|v| v.map(|c| c.join("/")))
            }
            "identifier" => {
                let name = text(n, src);
                match self.idx.lookup(name, at) {
                    Some(b) => match b.kind {
                        BindKind::Assign(rhs) => self.handle(rhs, rhs, depth + 1),
                        // `with open(P) as f:` around the call.
                        BindKind::Other => self.with_handle(name, at, depth),
                        _ => None,
                    },
                    None => None,
                }
            }
            "parenthesized_expression" => self.handle(n.named_child(0)?, at, depth + 1),
            _ => None,
        }
    }

    /// The `with open(P) as name:` enclosing `at`.
    fn with_handle(&self, name: &str, at: Node<'t>, depth: u32) -> Option<Result<String, String>> {
        let mut cur = at.parent();
        while let Some(n) = cur {
            if n.kind() == "with_statement" {
                let mut stack = vec![n.child(1)?];
                while let Some(x) = stack.pop() {
                    if x.kind() == "as_pattern"
                        && x.child_by_field_name("alias")
                            .is_some_and(|a| text(a, self.src).trim() == name)
                    {
                        return self.handle(x.named_child(0)?, x, depth + 1);
                    }
                    let mut c = x.walk();
                    stack.extend(x.named_children(&mut c));
                }
            }
            if matches!(
                n.kind(),
                "function_definition" | "class_definition" | "module"
            ) {
                break;
            }
            cur = n.parent();
        }
        None
    }

    /// The file whose bytes an expression holds: `open(P).read()`, `f.read()`,
    /// `Path(P).read_bytes()`.
    fn bytes(&self, n: Node<'t>, at: Node<'t>) -> Option<Result<String, String>> {
        if n.kind() != "call" {
            return None;
        }
        let f = n.child_by_field_name("function")?;
        if f.kind() != "attribute" {
            return None;
        }
        let obj = f.child_by_field_name("object")?;
        match text(f.child_by_field_name("attribute")?, self.src) {
            "read" => self.handle(obj, at, 0),
            "read_bytes" => self.path(obj, 0).map(|v| v.map(|c| c.join("/"))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(src: &str, file: &str) -> Vec<(String, Result<String, String>)> {
        unpickles(src.as_bytes(), file)
            .into_iter()
            .map(|u| (u.api, u.path))
            .collect()
    }

    #[test]
    fn files_next_to_the_code() {
        let src = r#"import os, pickle, joblib
import numpy as np
import torch
from pathlib import Path
from os.path import join, dirname
HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "data", "vocab.npy")
a = np.load(VOCAB, allow_pickle=True)
b = np.load(join(dirname(__file__), "plain.npy"))
c = pickle.load(open(Path(__file__).with_name("tok.pkl"), "rb"))
with open(Path(__file__).parent / "assets" / "m.pkl", "rb") as fh:
    d = pickle.load(fh)
e = torch.load(os.path.join(HERE, "w.pt"), weights_only=False)
f = torch.load(os.path.join(HERE, "safe.pt"), weights_only=True)
g = joblib.load(Path(__file__).parents[1] / "clf.joblib")
h = pickle.loads(Path(__file__).with_suffix(".pkl").read_bytes())
i = np.load(os.path.join(HERE, "../../../etc/x.npy"), allow_pickle=True)
j = pickle.load(open("cwd.pkl", "rb"))
import gzip
from gzip import open
with gzip.open(os.path.join(HERE, "z.pkl.gz")) as zf:
    l = pickle.load(zf)
m = pickle.load(open(os.path.join(HERE, "y.pkl.gz")))
k = np.load(os.path.join(HERE, NAME), allow_pickle=True)
"#;
        let got = paths(src, "pkg/sub/mod.py");
        let ok = |a: &str, p: &str| (a.to_string(), Ok(p.to_string()));
        assert_eq!(
            got[..6],
            [
                ok("numpy.load", "pkg/sub/data/vocab.npy"),
                ok("pickle.load", "pkg/sub/tok.pkl"),
                ok("pickle.load", "pkg/sub/assets/m.pkl"),
                ok("torch.load", "pkg/sub/w.pt"),
                ok("pickle.loads", "pkg/sub/mod.pkl"),
                (
                    "numpy.load".to_string(),
                    Err("`../../../etc/x.npy` climbs out of the repo".to_string())
                ),
            ],
            "{got:#?}"
        );
        // `joblib.load` decompresses: not followed (the taint error stays).
        assert_eq!(got.len(), 6, "{got:#?}");
        assert!(paths("x = 1\n", "m.py").is_empty());
    }
}
