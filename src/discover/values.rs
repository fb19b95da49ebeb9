//! Static value resolution: what string (or flag) an argument expression can
//! hold, and how that was worked out, without running anything.
//!
//! Linear in the file: what a binding (scope, name, program point) or a field
//! name holds is worked out once and memoised, so a function with a thousand
//! call sites or a name rebound a thousand times costs one resolution each. A
//! binding met again while it is still being resolved (mutual recursion, a
//! field assigned from itself) is a cycle: that path adds no value of its own,
//! and the results that depended on the unfinished binding stay provisional
//! until it completes (then they are dropped and, if asked again, redone once
//! with its final value). Every step is counted (`Resolver::steps`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use tree_sitter::Node;

use super::catalogue::{self, Kind};
use super::python::{BindKind, Binding, Index, MODULE};
use crate::model::{Platform, RepoType};
use crate::python::{Segment, line_of, string_literal, string_parts, text, unescape};

/// Most values one expression may expand to (loops, call sites, f-string products).
const MAX_VALUES: usize = 32;
/// Longest string built by concatenation: ids and paths are short, and a name
/// built from itself twice per line would otherwise double in size each line.
const MAX_STR: usize = 1024;
/// Nesting of expressions and bindings followed for one value. Results cut
/// here are memoised like any other, so this bounds stack depth, not work.
const MAX_DEPTH: u32 = 24;

/// A `snapshot_download(...)` result: the local folder of that repo.
#[derive(Debug, Clone, PartialEq)]
pub struct Snap {
    pub repo_id: Option<String>,
    pub revision: Option<String>,
    pub platform: Platform,
    pub repo_type: RepoType,
    pub api: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Bool(bool),
    None,
    Num(String),
    /// Shared: a snapshot's values are handed out by every use of its name.
    Snap(Rc<Snap>),
    /// An object returned by another loader call (already reported there).
    Loaded(String),
    /// Not statically known.
    Unknown,
    /// The value of a binding that is still being resolved (a cycle): it adds
    /// nothing to that binding's values and never leaves the resolver.
    Cycle,
}

/// One possible value and how it was obtained.
///
/// Cheap to clone (the description is shared): memoised values are handed to
/// every use of a name, and most of them are only read or re-described.
#[derive(Debug, Clone, PartialEq)]
pub struct Val {
    pub lit: Lit,
    pub how: Rc<str>,
}

thread_local! {
    /// The description of every literal, shared rather than allocated per value.
    static LITERAL: Rc<str> = Rc::from("literal");
}

impl Val {
    fn new(lit: Lit, how: impl Into<Rc<str>>) -> Val {
        Val {
            lit,
            how: how.into(),
        }
    }
    fn literal(lit: Lit) -> Val {
        Val {
            lit,
            how: LITERAL.with(Rc::clone),
        }
    }
    fn unknown(how: impl Into<Rc<str>>) -> Val {
        Val::new(Lit::Unknown, how)
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.lit {
            Lit::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The value as the text reported in `gate` and `args`.
    pub fn display(&self) -> Option<String> {
        match &self.lit {
            Lit::Str(s) => Some(s.clone()),
            Lit::Bool(b) => Some(b.to_string()),
            Lit::None => Some("none".into()),
            Lit::Num(n) => Some(n.clone()),
            Lit::Snap(_) | Lit::Loaded(_) | Lit::Unknown | Lit::Cycle => None,
        }
    }
}

/// Wrap an inner description with the step that led to it.
fn chain(outer: String, inner: &str) -> Rc<str> {
    if inner == "literal" || inner.is_empty() {
        outer.into()
    } else {
        format!("{outer} <- {inner}").into()
    }
}

/// What a memoised resolution is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'t> {
    /// A binding: (name, scope, position where it takes effect).
    Bind(&'t str, usize, usize),
    /// Every assignment to a field or argparse option of this name.
    Attr(&'t str),
}

/// A result that depends on a binding still on the stack.
struct Provisional<'t> {
    key: Key<'t>,
    vals: Rc<[Val]>,
    /// Lowest stack index it depends on.
    low: usize,
}

pub struct Resolver<'a, 't> {
    idx: &'a Index<'t>,
    /// Line numbers shown in `how` strings go through this map (notebooks).
    line_map: &'a dyn Fn(u32) -> u32,
    /// Final results.
    memo: RefCell<HashMap<Key<'t>, Rc<[Val]>>>,
    /// Results that depend on a binding still being resolved, in creation order;
    /// reused until that binding completes, then dropped.
    provisional: RefCell<Vec<Provisional<'t>>>,
    /// Bindings being resolved, innermost last.
    stack: RefCell<Vec<Key<'t>>>,
    /// Lowest stack index the current computation ran into (a cycle).
    low: Cell<usize>,
    steps: Cell<u64>,
}

impl<'a, 't> Resolver<'a, 't> {
    pub fn new(idx: &'a Index<'t>, line_map: &'a dyn Fn(u32) -> u32) -> Self {
        Resolver {
            idx,
            line_map,
            memo: RefCell::new(HashMap::new()),
            provisional: RefCell::new(Vec::new()),
            stack: RefCell::new(Vec::new()),
            low: Cell::new(usize::MAX),
            steps: Cell::new(0),
        }
    }

    /// Resolution steps taken so far (expressions visited plus memo lookups).
    /// The file's index (bindings, for callers that follow a name to its call).
    pub fn index(&self) -> &'a Index<'t> {
        self.idx
    }

    pub fn steps(&self) -> u64 {
        self.steps.get()
    }
}

impl<'t> Resolver<'_, 't> {
    fn src(&self) -> &'t [u8] {
        self.idx.src
    }

    fn l(&self, n: Node<'_>) -> u32 {
        (self.line_map)(line_of(n))
    }

    fn step(&self) {
        self.steps.set(self.steps.get() + 1);
    }

    /// Every value `n` may hold (never empty).
    pub fn resolve(&self, n: Node<'t>) -> Vec<Val> {
        let mut v = self.res(n, 0);
        settle(&mut v, "no value reaches it except through itself");
        dedup(&mut v);
        v
    }

    /// The single value `n` holds, if it is statically known and unique.
    pub fn single(&self, n: Node<'t>) -> Option<Val> {
        self.single_at(n, 0)
    }

    fn single_at(&self, n: Node<'t>, depth: u32) -> Option<Val> {
        let mut v = self.res(n, depth);
        v.retain(|x| x.lit != Lit::Cycle);
        dedup(&mut v);
        if v.len() == 1 && v[0].lit != Lit::Unknown {
            v.into_iter().next()
        } else {
            None
        }
    }

    /// The values behind `key`, computed by `f` once.
    fn memoised(&self, key: Key<'t>, f: impl FnOnce() -> Vec<Val>) -> Vec<Val> {
        self.step();
        if let Some(v) = self.memo.borrow().get(&key) {
            return v.to_vec();
        }
        if let Some(p) = self
            .provisional
            .borrow()
            .iter()
            .rev()
            .find(|p| p.key == key)
        {
            self.low.set(self.low.get().min(p.low));
            return p.vals.to_vec();
        }
        let on_stack = self.stack.borrow().iter().position(|k| *k == key);
        if let Some(i) = on_stack {
            self.low.set(self.low.get().min(i));
            return vec![Val::new(Lit::Cycle, "cycle")];
        }
        let d = {
            let mut st = self.stack.borrow_mut();
            st.push(key);
            st.len() - 1
        };
        let outer_low = self.low.replace(usize::MAX);
        let provisional_mark = self.provisional.borrow().len();
        let mut v = f();
        self.stack.borrow_mut().pop();
        let low = self.low.get();
        if low >= d {
            // Complete: what depended on this binding while it was unfinished is
            // now out of date, and its own cycles add nothing.
            self.provisional.borrow_mut().truncate(provisional_mark);
            settle(&mut v, "no value reaches it except through itself");
            self.memo.borrow_mut().insert(key, v.clone().into());
            self.low.set(outer_low);
        } else {
            self.provisional.borrow_mut().push(Provisional {
                key,
                vals: v.clone().into(),
                low,
            });
            self.low.set(outer_low.min(low));
        }
        v
    }

    fn res(&self, n: Node<'t>, depth: u32) -> Vec<Val> {
        self.step();
        if depth > MAX_DEPTH {
            return vec![Val::unknown("too many indirections")];
        }
        let src = self.src();
        let mut out = match n.kind() {
            "string" => self.string(n, depth),
            "concatenated_string" => {
                let mut cursor = n.walk();
                let parts: Vec<Node<'t>> = n.named_children(&mut cursor).collect();
                let mut acc = vec![Val::literal(Lit::Str(String::new()))];
                for p in parts {
                    acc = concat(acc, self.res(p, depth + 1));
                }
                acc
            }
            "true" => vec![Val::literal(Lit::Bool(true))],
            "false" => vec![Val::literal(Lit::Bool(false))],
            "none" => vec![Val::literal(Lit::None)],
            "integer" | "float" => vec![Val::literal(Lit::Num(text(n, src).to_string()))],
            "parenthesized_expression" => match n.named_child(0) {
                Some(c) => self.res(c, depth + 1),
                None => vec![Val::unknown("empty expression")],
            },
            "identifier" => self.identifier(n, depth),
            "attribute" => self.attribute(n, depth),
            "call" => self.call(n, depth),
            "binary_operator" => {
                let op = n.child_by_field_name("operator").map(|o| text(o, src));
                match (
                    op,
                    n.child_by_field_name("left"),
                    n.child_by_field_name("right"),
                ) {
                    (Some("+"), Some(a), Some(b)) => {
                        let r = concat(self.res(a, depth + 1), self.res(b, depth + 1));
                        r.into_iter()
                            .map(|v| {
                                let how: Rc<str> = if &*v.how == "literal" {
                                    "concatenation".into()
                                } else if v.how.starts_with("concatenation") {
                                    v.how.clone()
                                } else {
                                    format!("concatenation of {}", v.how).into()
                                };
                                Val { how, ..v }
                            })
                            .collect()
                    }
                    // `Path(a) / "b"`: `/` of strings is a TypeError, so a
                    // string on either side means a path is being built.
                    (Some("/"), Some(a), Some(b)) => {
                        let (a, b) = (self.res(a, depth + 1), self.res(b, depth + 1));
                        if a.iter().chain(&b).any(|v| v.as_str().is_some()) {
                            combine(a, b, path_join)
                                .into_iter()
                                .map(|v| Val {
                                    how: chain("path join".into(), &v.how),
                                    ..v
                                })
                                .collect()
                        } else {
                            vec![Val::unknown(format!(
                                "expression `{}`",
                                short(text(n, src))
                            ))]
                        }
                    }
                    _ => vec![Val::unknown(format!(
                        "expression `{}`",
                        short(text(n, src))
                    ))],
                }
            }
            "boolean_operator" => {
                let op = n.child_by_field_name("operator").map(|o| text(o, src));
                match (
                    op,
                    n.child_by_field_name("left"),
                    n.child_by_field_name("right"),
                ) {
                    (Some("or"), Some(a), Some(b)) => {
                        let left = self.res(a, depth + 1);
                        let usable: Vec<Val> = left
                            .iter()
                            .filter(|v| {
                                matches!(&v.lit, Lit::Str(s) if !s.is_empty())
                                    || matches!(v.lit, Lit::Bool(true))
                            })
                            .cloned()
                            .collect();
                        if usable.len() == left.len() {
                            usable
                        } else {
                            let mut r = usable;
                            r.extend(self.res(b, depth + 1).into_iter().map(|v| Val {
                                how: chain("`or` fallback".into(), &v.how),
                                ..v
                            }));
                            r
                        }
                    }
                    _ => vec![Val::unknown(format!(
                        "expression `{}`",
                        short(text(n, src))
                    ))],
                }
            }
            "conditional_expression" => {
                let mut cursor = n.walk();
                let parts: Vec<Node<'t>> = n.named_children(&mut cursor).collect();
                // `a if cond else b`: both branches are possible.
                let mut r = Vec::new();
                if let Some(a) = parts.first() {
                    r.extend(self.res(*a, depth + 1));
                }
                if let Some(b) = parts.get(2) {
                    r.extend(self.res(*b, depth + 1));
                }
                if r.is_empty() {
                    r.push(Val::unknown("conditional expression"));
                }
                r
            }
            "subscript" => self.subscript(n, depth),
            "named_expression" => match n.child_by_field_name("value") {
                Some(v) => self.res(v, depth + 1),
                None => vec![Val::unknown("walrus")],
            },
            _ => vec![Val::unknown(format!(
                "expression `{}`",
                short(text(n, src))
            ))],
        };
        if out.is_empty() {
            out.push(Val::unknown(format!(
                "expression `{}`",
                short(text(n, src))
            )));
        }
        out.truncate(MAX_VALUES);
        out
    }

    fn string(&self, n: Node<'t>, depth: u32) -> Vec<Val> {
        let src = self.src();
        if let Some(s) = string_literal(n, src) {
            return vec![Val::literal(Lit::Str(s))];
        }
        let (prefix, segs) = string_parts(n, src);
        let mut acc = vec![Val::literal(Lit::Str(String::new()))];
        let mut hows = Vec::new();
        for s in segs {
            let part = match s {
                Segment::Text(t) => vec![Val::literal(Lit::Str(unescape(t, &prefix)))],
                Segment::Interp(e) => {
                    let r = self.res(e, depth + 1);
                    for v in &r {
                        if &*v.how != "literal" && !hows.contains(&v.how) {
                            hows.push(v.how.clone());
                        }
                    }
                    r
                }
            };
            acc = concat(acc, part);
        }
        let how: Rc<str> = if hows.is_empty() {
            "f-string".into()
        } else {
            format!("f-string of {}", hows.join(", ")).into()
        };
        acc.into_iter()
            .map(|v| {
                if v.lit == Lit::Unknown {
                    v
                } else {
                    Val {
                        how: how.clone(),
                        ..v
                    }
                }
            })
            .collect()
    }

    fn identifier(&self, n: Node<'t>, depth: u32) -> Vec<Val> {
        let src = self.src();
        let name = text(n, src);
        let Some(b) = self.idx.lookup(name, n) else {
            return vec![Val::unknown(format!("unresolved name {name}"))];
        };
        let b = *b;
        self.memoised(Key::Bind(name, b.scope, b.pos), || {
            self.binding(name, &b, depth)
        })
    }

    /// What one binding of `name` holds.
    fn binding(&self, name: &'t str, b: &Binding<'t>, depth: u32) -> Vec<Val> {
        let src = self.src();
        let bline = (self.line_map)(b.line);
        match b.kind {
            BindKind::Assign(rhs) => {
                let what = if b.scope == MODULE {
                    "constant"
                } else {
                    "variable"
                };
                self.res(rhs, depth + 1)
                    .into_iter()
                    .map(|v| Val {
                        how: chain(format!("{what} {name} (line {bline})"), &v.how),
                        ..v
                    })
                    .collect()
            }
            BindKind::For(iter) => match self.iterate(iter, depth + 1) {
                Some(items) => items
                    .into_iter()
                    .map(|v| Val {
                        how: chain(
                            format!("loop over {} (line {bline})", short(text(iter, src))),
                            &v.how,
                        ),
                        ..v
                    })
                    .collect(),
                None => vec![Val::unknown(format!(
                    "loop variable {name} over `{}` (line {bline})",
                    short(text(iter, src))
                ))],
            },
            BindKind::Param {
                func,
                index,
                default,
            } => self.param(name, func, index, default, depth),
            BindKind::Import(i) => {
                vec![Val::unknown(format!("imported name {}", self.idx.quals[i]))]
            }
            BindKind::Other => vec![Val::unknown(format!(
                "name {name} (line {bline}) is not a constant"
            ))],
        }
    }

    fn param(
        &self,
        name: &str,
        func: Node<'t>,
        index: Option<usize>,
        default: Option<Node<'t>>,
        depth: u32,
    ) -> Vec<Val> {
        let src = self.src();
        let fname = func
            .child_by_field_name("name")
            .map(|n| text(n, src))
            .unwrap_or("");
        let mut out = Vec::new();
        // A method called as `obj.f(x)`: `self`/`cls` takes position 0.
        let method_offset = func
            .child_by_field_name("parameters")
            .and_then(|p| p.named_child(0))
            .map(|p| matches!(text(p, src), "self" | "cls"))
            .unwrap_or(false);
        for call in self.idx.calls_named(fname) {
            let Some(f) = call.child_by_field_name("function") else {
                continue;
            };
            let (callee, via_attr) = match f.kind() {
                "identifier" => (text(f, src), false),
                "attribute" => (
                    f.child_by_field_name("attribute")
                        .map(|a| text(a, src))
                        .unwrap_or(""),
                    true,
                ),
                _ => continue,
            };
            if callee != fname || fname.is_empty() {
                continue;
            }
            let pos = index.map(|i| {
                if via_attr && method_offset {
                    i.saturating_sub(1)
                } else {
                    i
                }
            });
            if let Some(arg) = call_arg(call, src, pos, &[name]) {
                let at = self.l(call);
                out.extend(self.res(arg, depth + 1).into_iter().map(|v| Val {
                    how: chain(format!("argument {name} of {fname}() at line {at}"), &v.how),
                    ..v
                }));
            } else if let Some(d) = default
                && d.kind() != "none"
            {
                // This call site relies on the default.
                out.extend(self.default_of(name, fname, d, depth));
            }
        }
        if out.is_empty()
            && let Some(d) = default
            && d.kind() != "none"
        {
            out.extend(self.default_of(name, fname, d, depth));
        }
        if out.is_empty() {
            out.push(Val::unknown(format!(
                "parameter {name} of {fname}() (line {}) has no static value",
                self.l(func)
            )));
        }
        out
    }

    fn default_of(&self, name: &str, fname: &str, d: Node<'t>, depth: u32) -> Vec<Val> {
        let at = self.l(d);
        self.res(d, depth + 1)
            .into_iter()
            .map(|v| Val {
                how: chain(
                    format!("default of parameter {name} of {fname}() (line {at})"),
                    &v.how,
                ),
                ..v
            })
            .collect()
    }

    fn attribute(&self, n: Node<'t>, depth: u32) -> Vec<Val> {
        let src = self.src();
        let Some(attr) = n.child_by_field_name("attribute") else {
            return vec![Val::unknown("attribute")];
        };
        let a = text(attr, src);
        // Fields are assigned under their name, argparse options by a flag.
        self.idx.ask(a);
        self.idx.ask("add_argument");
        if !self.idx.argparse.contains_key(a) && !self.idx.attrs.contains_key(a) {
            return vec![Val::unknown(format!("attribute `{}`", short(text(n, src))))];
        }
        let out = self.memoised(Key::Attr(a), || self.field(a, depth));
        if out.is_empty() {
            return vec![Val::unknown(format!("attribute `{}`", short(text(n, src))))];
        }
        out
    }

    /// Every value assigned to fields or argparse options named `a`; empty when
    /// none is usable.
    fn field(&self, a: &'t str, depth: u32) -> Vec<Val> {
        let src = self.src();
        if let Some(opts) = self.idx.argparse.get(a) {
            let mut out = Vec::new();
            for o in opts {
                let at = (self.line_map)(o.line);
                match o.default {
                    Some(d) => out.extend(self.res(d, depth + 1).into_iter().map(|v| Val {
                        how: chain(format!("argparse {} default (line {at})", o.flag), &v.how),
                        ..v
                    })),
                    None => out.push(Val::unknown(format!(
                        "argparse {} without default (line {at})",
                        o.flag
                    ))),
                }
            }
            return out;
        }
        if let Some(fields) = self.idx.attrs.get(a) {
            let mut out = Vec::new();
            for (rhs, l) in fields {
                let at = (self.line_map)(*l);
                // dataclass `x: str = field(default="...")`.
                let rhs = match field_default(*rhs, src) {
                    Some(FieldDefault::Value(d)) => d,
                    Some(FieldDefault::Factory) => {
                        out.push(Val::unknown(format!(
                            "field {a} default_factory (line {at})"
                        )));
                        continue;
                    }
                    None => *rhs,
                };
                out.extend(self.res(rhs, depth + 1).into_iter().map(|v| Val {
                    how: chain(format!("field {a} (line {at})"), &v.how),
                    ..v
                }));
            }
            return out;
        }
        Vec::new()
    }

    fn call(&self, n: Node<'t>, depth: u32) -> Vec<Val> {
        let src = self.src();
        let Some(f) = n.child_by_field_name("function") else {
            return vec![Val::unknown("call")];
        };
        let ftext = text(f, src);
        if matches!(
            ftext,
            "os.environ.get" | "os.getenv" | "environ.get" | "getenv" | "os.environ.setdefault"
        ) {
            let var = call_arg(n, src, Some(0), &["key"])
                .and_then(|v| string_literal(v, src))
                .unwrap_or_else(|| "?".into());
            return match call_arg(n, src, Some(1), &["default"]) {
                Some(d) => self
                    .res(d, depth + 1)
                    .into_iter()
                    .map(|v| Val {
                        how: chain(format!("default of ${var}"), &v.how),
                        ..v
                    })
                    .collect(),
                None => vec![Val::unknown(format!(
                    "environment variable ${var} without default"
                ))],
            };
        }
        if ftext == "str"
            && let Some(a) = call_arg(n, src, Some(0), &[])
        {
            return self.res(a, depth + 1);
        }
        if let Some(FieldDefault::Value(d)) = field_default(n, src) {
            return self.res(d, depth + 1);
        }
        if let Some(v) = self.path_call(n, f, depth) {
            return v;
        }
        // A snapshot download's result is the local copy of that repo.
        for q in self.idx.qualify(f, 0) {
            if let Some((l, api, _)) = catalogue::lookup(&q) {
                if l.kind == Kind::Snapshot {
                    return self.snapshot(n, l, api, depth);
                }
                let at = self.l(n);
                return vec![Val::new(
                    Lit::Loaded(api.clone()),
                    format!("{api} result (line {at})"),
                )];
            }
        }
        vec![Val::unknown(format!("result of `{}`", short(ftext)))]
    }

    /// `Path(a, b)`, `os.path.join(a, b)`, `p.joinpath(b)`: the path they
    /// build, so that a load from a folder a download filled is linked to it
    /// (`local_dirs`). `None`: not a path call.
    fn path_call(&self, n: Node<'t>, f: Node<'t>, depth: u32) -> Option<Vec<Val>> {
        let src = self.src();
        let method = f.kind() == "attribute"
            && f.child_by_field_name("attribute").map(|a| text(a, src)) == Some("joinpath");
        let quals = if method {
            Vec::new()
        } else {
            self.idx.qualify(f, 0)
        };
        let ctor = quals.iter().any(|q| PATH_TYPES.contains(&q.as_str()));
        if !method && !ctor && !quals.iter().any(|q| PATH_JOINS.contains(&q.as_str())) {
            return None;
        }
        let args = n.child_by_field_name("arguments")?;
        let mut parts: Vec<Node<'t>> = Vec::new();
        if method {
            parts.push(f.child_by_field_name("object")?);
        }
        let mut cursor = args.walk();
        for a in args.named_children(&mut cursor) {
            match a.kind() {
                "comment" => {}
                // `*parts`, `**kw`: not statically a path.
                "keyword_argument" | "list_splat" | "dictionary_splat" => {
                    return Some(vec![Val::unknown(format!(
                        "path `{}`",
                        short(text(n, src))
                    ))]);
                }
                _ => parts.push(a),
            }
        }
        let Some((first, rest)) = parts.split_first() else {
            // `Path()` is the current folder.
            return Some(vec![Val::literal(Lit::Str(".".into()))]);
        };
        let mut acc = self.res(*first, depth + 1);
        for p in rest {
            acc = combine(acc, self.res(*p, depth + 1), path_join);
        }
        let at = self.l(n);
        Some(
            acc.into_iter()
                .map(|v| Val {
                    how: chain(format!("path (line {at})"), &v.how),
                    ..v
                })
                .collect(),
        )
    }

    fn snapshot(&self, n: Node<'t>, l: &catalogue::Loader, api: String, depth: u32) -> Vec<Val> {
        let src = self.src();
        let at = self.l(n);
        let revision = l
            .rev_kw
            .iter()
            .find_map(|k| call_arg(n, src, None, &[k]))
            .and_then(|r| self.single_at(r, depth + 1))
            .and_then(|v| v.as_str().map(str::to_string));
        let repo_type = call_arg(n, src, None, &["repo_type"])
            .and_then(|r| self.single_at(r, depth + 1))
            .and_then(|v| v.as_str().map(repo_type_of))
            .unwrap_or(l.repo_type);
        let ids = match call_arg(n, src, l.id_pos, l.id_kw) {
            Some(a) => self.res(a, depth + 1),
            None => vec![Val::unknown("no repo id argument")],
        };
        ids.into_iter()
            .map(|v| {
                let how = chain(format!("{api} result (line {at})"), &v.how);
                // `snapshot_download(path)` of a folder that is already a
                // snapshot: the same repo.
                // A cycle through it stays one: the same repo again.
                match v.lit {
                    Lit::Snap(s) => return Val::new(Lit::Snap(s), how),
                    Lit::Cycle => return Val::new(Lit::Cycle, how),
                    _ => {}
                }
                let snap = Snap {
                    repo_id: v.as_str().map(str::to_string),
                    revision: revision.clone(),
                    platform: l.platform,
                    repo_type,
                    api: api.clone(),
                };
                Val::new(Lit::Snap(Rc::new(snap)), how)
            })
            .collect()
    }

    fn subscript(&self, n: Node<'t>, depth: u32) -> Vec<Val> {
        let src = self.src();
        let (Some(value), Some(key)) = (
            n.child_by_field_name("value"),
            n.child_by_field_name("subscript"),
        ) else {
            return vec![Val::unknown("subscript")];
        };
        let Some(container) = self.container(value, depth) else {
            return vec![Val::unknown(format!("subscript `{}`", short(text(n, src))))];
        };
        let key = self.single_at(key, depth + 1);
        if container.kind() == "dictionary" {
            if let Some(k) = key.as_ref().and_then(|k| k.display())
                && let Some(v) = dict_get(container, src, &k)
            {
                return self.res(v, depth + 1);
            }
        } else if let Some(Lit::Num(i)) = key.map(|k| k.lit)
            && let Ok(i) = i.parse::<usize>()
        {
            let mut cursor = container.walk();
            if let Some(e) = container.named_children(&mut cursor).nth(i) {
                return self.res(e, depth + 1);
            }
        }
        vec![Val::unknown(format!("subscript `{}`", short(text(n, src))))]
    }

    /// The literal list/tuple/dict an expression names, if any.
    pub fn container(&self, n: Node<'t>, depth: u32) -> Option<Node<'t>> {
        if depth > MAX_DEPTH {
            return None;
        }
        match n.kind() {
            "list" | "tuple" | "set" | "dictionary" => Some(n),
            "parenthesized_expression" => {
                n.named_child(0).and_then(|c| self.container(c, depth + 1))
            }
            "identifier" => match self.idx.lookup(text(n, self.src()), n)?.kind {
                BindKind::Assign(rhs) => self.container(rhs, depth + 1),
                _ => None,
            },
            "call" => {
                // `dict(a=1)` is handled by callers that need keyword dicts.
                let f = n.child_by_field_name("function")?;
                let args = n.child_by_field_name("arguments")?;
                match text(f, self.src()) {
                    "list" | "tuple" | "set" | "sorted" => args
                        .named_child(0)
                        .and_then(|c| self.container(c, depth + 1)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Values a `for` loop takes over `iter`, when it is a literal collection.
    fn iterate(&self, iter: Node<'t>, depth: u32) -> Option<Vec<Val>> {
        let c = self.container(iter, depth)?;
        let mut out = Vec::new();
        let mut cursor = c.walk();
        for e in c.named_children(&mut cursor) {
            let e = if e.kind() == "pair" {
                e.child_by_field_name("key")?
            } else {
                e
            };
            if e.kind() == "comment" {
                continue;
            }
            out.extend(self.res(e, depth + 1));
        }
        (!out.is_empty()).then_some(out)
    }

    /// A `**kwargs` argument as a list of (key, value node) pairs, when it is a
    /// literal dict or `dict(...)` call.
    pub fn kwargs_dict(&self, n: Node<'t>, depth: u32) -> Vec<(String, Node<'t>)> {
        let src = self.src();
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        match n.kind() {
            "dictionary" => {
                let mut out = Vec::new();
                let mut cursor = n.walk();
                for p in n.named_children(&mut cursor) {
                    if p.kind() == "pair"
                        && let (Some(k), Some(v)) =
                            (p.child_by_field_name("key"), p.child_by_field_name("value"))
                        && let Some(k) = string_literal(k, src)
                    {
                        out.push((k, v));
                    } else if p.kind() == "dictionary_splat"
                        && let Some(inner) = p.named_child(0)
                    {
                        out.extend(self.kwargs_dict(inner, depth + 1));
                    }
                }
                out
            }
            "call" => {
                let f = n.child_by_field_name("function").map(|f| text(f, src));
                let Some(args) = n.child_by_field_name("arguments") else {
                    return Vec::new();
                };
                if f != Some("dict") {
                    return Vec::new();
                }
                let mut out = Vec::new();
                let mut cursor = args.walk();
                for a in args.named_children(&mut cursor) {
                    if a.kind() == "keyword_argument"
                        && let (Some(k), Some(v)) = (
                            a.child_by_field_name("name"),
                            a.child_by_field_name("value"),
                        )
                    {
                        out.push((text(k, src).to_string(), v));
                    } else if a.kind() == "dictionary" {
                        out.extend(self.kwargs_dict(a, depth + 1));
                    }
                }
                out
            }
            "identifier" => match self.idx.lookup(text(n, src), n).map(|b| b.kind) {
                Some(BindKind::Assign(rhs)) => self.kwargs_dict(rhs, depth + 1),
                _ => Vec::new(),
            },
            "parenthesized_expression" => n
                .named_child(0)
                .map(|c| self.kwargs_dict(c, depth + 1))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

enum FieldDefault<'t> {
    Value(Node<'t>),
    Factory,
}

/// `field(default=x)` / `dataclasses.field(default=x)`.
fn field_default<'t>(n: Node<'t>, src: &[u8]) -> Option<FieldDefault<'t>> {
    if n.kind() != "call" {
        return None;
    }
    let f = text(n.child_by_field_name("function")?, src);
    if f != "field" && f != "dataclasses.field" {
        return None;
    }
    if let Some(d) = call_arg(n, src, None, &["default"]) {
        return Some(FieldDefault::Value(d));
    }
    call_arg(n, src, None, &["default_factory"]).map(|_| FieldDefault::Factory)
}

fn dict_get<'t>(dict: Node<'t>, src: &[u8], key: &str) -> Option<Node<'t>> {
    let mut cursor = dict.walk();
    let pairs: Vec<Node<'t>> = dict.named_children(&mut cursor).collect();
    pairs.into_iter().rev().find_map(|p| {
        if p.kind() != "pair" {
            return None;
        }
        let k = p.child_by_field_name("key")?;
        (string_literal(k, src).as_deref() == Some(key)).then(|| p.child_by_field_name("value"))?
    })
}

/// An explicit argument of a call: by keyword (any of `kws`), else at `pos`.
pub fn call_arg<'t>(
    call: Node<'t>,
    src: &[u8],
    pos: Option<usize>,
    kws: &[&str],
) -> Option<Node<'t>> {
    let args = call.child_by_field_name("arguments")?;
    let mut cursor = args.walk();
    let mut positional = 0usize;
    let mut found = None;
    for a in args.named_children(&mut cursor) {
        match a.kind() {
            "keyword_argument" => {
                let name = a.child_by_field_name("name").map(|n| text(n, src));
                if name.is_some_and(|n| kws.contains(&n)) {
                    return a.child_by_field_name("value");
                }
            }
            "comment" | "dictionary_splat" => {}
            "list_splat" => {
                // After `*args` positions are unknown.
                positional = usize::MAX / 2;
            }
            _ => {
                if Some(positional) == pos && found.is_none() {
                    found = Some(a);
                }
                positional += 1;
            }
        }
    }
    found
}

pub fn repo_type_of(s: &str) -> RepoType {
    match s {
        "dataset" | "datasets" => RepoType::Dataset,
        "space" | "spaces" => RepoType::Space,
        _ => RepoType::Model,
    }
}

/// Path constructors: `Path(a, b)` joins its arguments as `os.path.join` does.
const PATH_TYPES: &[&str] = &[
    "pathlib.Path",
    "pathlib.PurePath",
    "pathlib.PosixPath",
    "pathlib.PurePosixPath",
];
const PATH_JOINS: &[&str] = &["os.path.join", "posixpath.join"];

/// `os.path.join(a, b)`: an absolute `b` replaces `a`.
pub fn path_join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

fn concat(a: Vec<Val>, b: Vec<Val>) -> Vec<Val> {
    combine(a, b, |p, q| format!("{p}{q}"))
}

/// Every pairing of `a` and `b` whose strings `join` combines (the rest unknown).
fn combine(a: Vec<Val>, b: Vec<Val>, join: impl Fn(&str, &str) -> String) -> Vec<Val> {
    let mut out = Vec::new();
    for x in &a {
        for y in &b {
            if out.len() >= MAX_VALUES {
                return out;
            }
            let lit = match (&x.lit, &y.lit) {
                (Lit::Str(p), Lit::Str(q)) if p.len() + q.len() <= MAX_STR => {
                    let j = join(p, q);
                    if j.len() <= MAX_STR {
                        Lit::Str(j)
                    } else {
                        Lit::Unknown
                    }
                }
                _ => Lit::Unknown,
            };
            let how: Rc<str> = match (&x.lit, &y.lit) {
                (Lit::Str(_), Lit::Str(_)) if lit == Lit::Unknown => {
                    format!("a string longer than {MAX_STR} bytes").into()
                }
                (Lit::Cycle, _) | (_, Lit::Cycle) => "a value built from itself".into(),
                (Lit::Unknown, _) => x.how.clone(),
                (_, Lit::Unknown) => y.how.clone(),
                (_, _) if &*x.how == "literal" => y.how.clone(),
                (_, _) if &*y.how == "literal" => x.how.clone(),
                _ => format!("{}, {}", x.how, y.how).into(),
            };
            out.push(Val { lit, how });
        }
    }
    out
}

/// A finished resolution: a cycle adds nothing when other values exist; a
/// cycle alone means no value reaches it.
fn settle(v: &mut Vec<Val>, why: &str) {
    if v.iter().any(|x| x.lit != Lit::Cycle) {
        v.retain(|x| x.lit != Lit::Cycle);
    } else if !v.is_empty() {
        *v = vec![Val::unknown(why)];
    }
}

fn dedup(v: &mut Vec<Val>) {
    let mut seen: Vec<Lit> = Vec::new();
    v.retain(|x| {
        if x.lit == Lit::Unknown {
            return true;
        }
        if seen.contains(&x.lit) {
            false
        } else {
            seen.push(x.lit.clone());
            true
        }
    });
    // Several unknowns carry no more information than the first.
    let mut unknown_seen = false;
    v.retain(|x| {
        if x.lit != Lit::Unknown {
            return true;
        }
        let keep = !unknown_seen;
        unknown_seen = true;
        keep
    });
}

fn short(s: &str) -> String {
    // Only the start is shown: a huge expression costs no more than a small one.
    let head = match s.char_indices().nth(400) {
        Some((i, _)) => &s[..i],
        None => s,
    };
    let one_line = head.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        let mut t: String = one_line.chars().take(57).collect();
        t.push_str("...");
        t
    } else {
        one_line
    }
}
