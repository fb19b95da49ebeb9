//! diffusers modular pipelines load their components in a later method call
//! on the pipeline object: `pipe.load_components(trust_remote_code=True)`
//! (0.35+; with no names every `from_pretrained` component from 0.36) and
//! `pipe.load_default_components(...)` (0.35.x). The trust that runs a
//! component's code is the one given there, not the one given to
//! `ModularPipeline.from_pretrained` (diffusers v0.36.0
//! `modular_pipelines/modular_pipeline.py` L2103-2160: every kwarg goes to
//! `ComponentSpec.load`). This module finds such calls and the call that made
//! the receiver: a `*ModularPipeline.from_pretrained(repo)` or a
//! `blocks.init_pipeline(repo)` (L356-375), through names, `self.pipe = ...`
//! fields, the parameters of a helper the pipeline is passed to, the return
//! values of local functions, `.to(...)` (which returns the pipeline) and
//! `getattr(pipe, "load_components")`. A receiver that cannot be traced is
//! `Origin::Unknown`: the caller reports a trusting call anyway (worst case).

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use super::catalogue::{self, Family, Kind, Loader, PIPELINE_METHODS};
use super::python::BindKind;
use super::values::{Resolver, call_arg};
use crate::model::{Platform, RepoType};
use crate::python::{line_of, text};

/// `args` key of the component names a `load_components(names)` call loads,
/// comma-separated (absent: every `from_pretrained` component).
pub(crate) const ARG_NAMES: &str = "names";
/// `args` key prefix of the revisions a `load_components(revision=...)` call
/// gives: `component_revision.<name>`, `component_revision.default` (a plain
/// value is the default of every component).
pub(crate) const ARG_REVISION: &str = "component_revision.";

/// Nesting of names, fields, parameters and returns followed for one receiver.
const MAX_DEPTH: u32 = 12;

/// `blocks.init_pipeline(pretrained_model_name_or_path)`: a modular pipeline
/// reading that repo's `modular_model_index.json` (no revision argument).
pub static INIT_PIPELINE: Loader = Loader {
    pattern: "*.init_pipeline",
    api: "diffusers.ModularPipelineBlocks.init_pipeline",
    platform: Platform::Huggingface,
    family: Family::Diffusers,
    repo_type: RepoType::Model,
    kind: Kind::Plain,
    id_pos: Some(0),
    id_kw: &["pretrained_model_name_or_path"],
    gate_kw: None,
    rev_kw: &[],
    extra_kw: &[],
};

/// Is `api` the load of a modular pipeline (`diffusers.{X}ModularPipeline.from_pretrained`)?
pub fn is_modular_pipeline(api: &str) -> bool {
    api.strip_prefix("diffusers.")
        .and_then(|a| a.strip_suffix(".from_pretrained"))
        .is_some_and(|c| c.ends_with("ModularPipeline"))
}

/// A component-loading method call: its receiver and method name.
pub struct MethodCall<'t> {
    pub receiver: Node<'t>,
    pub method: &'static str,
}

/// `x.load_components(...)` or `getattr(x, "load_components")(...)` (the
/// name may be any expression with one static value).
pub fn method_call<'t>(r: &Resolver<'_, 't>, call: Node<'t>) -> Option<MethodCall<'t>> {
    let src = r.index().src;
    let f = call.child_by_field_name("function")?;
    let (receiver, name) = match f.kind() {
        "attribute" => (
            f.child_by_field_name("object")?,
            text(f.child_by_field_name("attribute")?, src).to_string(),
        ),
        "call" => {
            let g = f.child_by_field_name("function")?;
            if text(g, src) != "getattr" {
                return None;
            }
            let name = call_arg(f, src, Some(1), &["name"])?;
            // Cheap test first: most getattr calls fetch something else.
            let v = r.single(name)?;
            (call_arg(f, src, Some(0), &["o"])?, v.as_str()?.to_string())
        }
        _ => return None,
    };
    let method = PIPELINE_METHODS.iter().find(|m| **m == name)?;
    Some(MethodCall { receiver, method })
}

/// Where a receiver came from.
pub enum Origin<'t> {
    /// A modular pipeline made by `call` (whose repo id the loader reads).
    Made {
        call: Node<'t>,
        loader: &'static Loader,
        api: String,
        /// How the receiver reaches it, outermost first (`variable pipe (line 3)`).
        how: String,
    },
    /// The result of another loader (not a modular pipeline): no components.
    Other(String),
    /// Not statically known.
    Unknown(String),
}

/// Every call that may have made `receiver`.
pub fn origins<'t>(r: &Resolver<'_, 't>, receiver: Node<'t>) -> Vec<Origin<'t>> {
    let t = Tracker {
        r,
        defs: OnceCell::new(),
        seen: RefCell::new(HashSet::new()),
        out: RefCell::new(Vec::new()),
    };
    t.walk(receiver, 0, Vec::new());
    t.out.into_inner()
}

struct Tracker<'r, 'a, 't> {
    r: &'r Resolver<'a, 't>,
    /// Function definitions by name (methods included), built when first needed.
    defs: OnceCell<HashMap<&'t str, Vec<Node<'t>>>>,
    /// Nodes visited (one met again is a cycle: it adds no origin of its own).
    seen: RefCell<HashSet<usize>>,
    out: RefCell<Vec<Origin<'t>>>,
}

impl<'t> Tracker<'_, '_, 't> {
    fn push(&self, o: Origin<'t>) {
        self.out.borrow_mut().push(o);
    }

    fn unknown(&self, what: String, how: &[String]) {
        let mut h = how.to_vec();
        h.push(what);
        self.push(Origin::Unknown(h.join(" <- ")));
    }

    fn walk(&self, n: Node<'t>, depth: u32, how: Vec<String>) {
        let idx = self.r.index();
        let src = idx.src;
        if depth > MAX_DEPTH {
            self.unknown("too many indirections".into(), &how);
            return;
        }
        if !self.seen.borrow_mut().insert(n.id()) {
            return;
        }
        let step = |what: String| {
            let mut h = how.clone();
            h.push(what);
            h
        };
        match n.kind() {
            "parenthesized_expression" | "await" => {
                if let Some(c) = n.named_child(0) {
                    self.walk(c, depth + 1, how);
                }
            }
            "named_expression" => {
                if let Some(v) = n.child_by_field_name("value") {
                    self.walk(v, depth + 1, how);
                }
            }
            "conditional_expression" => {
                let mut cursor = n.walk();
                let parts: Vec<Node<'t>> = n.named_children(&mut cursor).collect();
                for p in [parts.first(), parts.get(2)].into_iter().flatten() {
                    self.walk(*p, depth + 1, how.clone());
                }
            }
            "identifier" => {
                let name = text(n, src);
                let Some(b) = idx.lookup(name, n).copied() else {
                    self.unknown(format!("unresolved name {name}"), &how);
                    return;
                };
                match b.kind {
                    BindKind::Assign(rhs) => self.walk(
                        rhs,
                        depth + 1,
                        step(format!("variable {name} (line {})", b.line)),
                    ),
                    BindKind::Param { func, index, .. } => {
                        self.param(name, func, index, depth, &how);
                    }
                    BindKind::Import(i) => {
                        self.unknown(format!("imported name {}", idx.quals[i]), &how);
                    }
                    BindKind::For(_) | BindKind::Other => self.unknown(
                        format!("name {name} (line {}) is not an assignment", b.line),
                        &how,
                    ),
                }
            }
            // `self.pipe`: every assignment to a field of that name.
            "attribute" => {
                let Some(a) = n.child_by_field_name("attribute").map(|a| text(a, src)) else {
                    return;
                };
                idx.ask(a);
                match idx.attrs.get(a) {
                    Some(fields) => {
                        for (rhs, l) in fields {
                            self.walk(*rhs, depth + 1, step(format!("field {a} (line {l})")));
                        }
                    }
                    None => self.unknown(format!("field {a} is never assigned here"), &how),
                }
            }
            "call" => self.call(n, depth, how),
            _ => self.unknown(
                format!("expression `{}` (line {})", short(text(n, src)), line_of(n)),
                &how,
            ),
        }
    }

    fn call(&self, n: Node<'t>, depth: u32, how: Vec<String>) {
        let idx = self.r.index();
        let src = idx.src;
        let Some(f) = n.child_by_field_name("function") else {
            return;
        };
        let at = line_of(n);
        for q in idx.qualify(f, 0) {
            if let Some((loader, api, _)) = catalogue::lookup(&q) {
                if is_modular_pipeline(&api) {
                    let mut h = how;
                    h.push(format!("the pipeline {api} makes (line {at})"));
                    self.push(Origin::Made {
                        call: n,
                        loader,
                        api,
                        how: h.join(" <- "),
                    });
                } else {
                    self.push(Origin::Other(api));
                }
                return;
            }
        }
        let attr = (f.kind() == "attribute")
            .then(|| f.child_by_field_name("attribute").map(|a| text(a, src)))
            .flatten();
        match attr {
            // The blocks' own pipeline, reading the repo it is given.
            Some("init_pipeline") => {
                let mut h = how;
                h.push(format!(
                    "the pipeline {} makes (line {at})",
                    INIT_PIPELINE.api
                ));
                self.push(Origin::Made {
                    call: n,
                    loader: &INIT_PIPELINE,
                    api: INIT_PIPELINE.api.to_string(),
                    how: h.join(" <- "),
                });
                return;
            }
            // `DiffusionPipeline.to` / `ModularPipeline.to` return the pipeline.
            Some("to") => {
                if let Some(o) = f.child_by_field_name("object") {
                    self.walk(o, depth + 1, how);
                }
                return;
            }
            _ => {}
        }
        let name = match f.kind() {
            "identifier" => Some(text(f, src)),
            _ => attr,
        };
        if let Some(nm) = name {
            // Sliced discovery parses the statements that define it.
            idx.ask(nm);
        }
        let defs: Vec<Node<'t>> = name
            .and_then(|nm| self.defs().get(nm).cloned())
            .unwrap_or_default();
        let mut found = false;
        for d in defs {
            let fname = name.unwrap_or("");
            for ret in returns(d) {
                found = true;
                let mut h = how.clone();
                h.push(format!(
                    "return of {fname}() (line {}) called at line {at}",
                    line_of(ret)
                ));
                self.walk(ret, depth + 1, h);
            }
        }
        if !found {
            let mut h = how;
            h.push(format!("result of `{}` (line {at})", short(text(f, src))));
            self.push(Origin::Unknown(h.join(" <- ")));
        }
    }

    /// A parameter: the argument at each call site of its function.
    fn param(
        &self,
        name: &'t str,
        func: Node<'t>,
        index: Option<usize>,
        depth: u32,
        how: &[String],
    ) {
        let idx = self.r.index();
        let src = idx.src;
        let fname = func
            .child_by_field_name("name")
            .map(|n| text(n, src))
            .unwrap_or("");
        // A method called as `obj.f(x)`: `self`/`cls` takes position 0.
        let method = func
            .child_by_field_name("parameters")
            .and_then(|p| p.named_child(0))
            .is_some_and(|p| matches!(text(p, src), "self" | "cls"));
        let mut any = false;
        if !fname.is_empty() {
            for call in idx.calls_named(fname) {
                let Some(f) = call.child_by_field_name("function") else {
                    continue;
                };
                let via_attr = f.kind() == "attribute";
                let pos = index.map(|i| {
                    if via_attr && method {
                        i.saturating_sub(1)
                    } else {
                        i
                    }
                });
                if let Some(arg) = call_arg(call, src, pos, &[name]) {
                    any = true;
                    let mut h = how.to_vec();
                    h.push(format!(
                        "argument {name} of {fname}() at line {}",
                        line_of(call)
                    ));
                    self.walk(arg, depth + 1, h);
                }
            }
        }
        if !any {
            let mut h = how.to_vec();
            h.push(format!(
                "parameter {name} of {fname}() (line {}) with no call site here",
                line_of(func)
            ));
            self.push(Origin::Unknown(h.join(" <- ")));
        }
    }

    fn defs(&self) -> &HashMap<&'t str, Vec<Node<'t>>> {
        self.defs.get_or_init(|| {
            let src = self.r.index().src;
            let mut out: HashMap<&'t str, Vec<Node<'t>>> = HashMap::new();
            let Some(root) = self.r.index().calls.first().map(|c| root_of(*c)) else {
                return out;
            };
            let mut cursor = root.walk();
            let mut stack = vec![root];
            while let Some(n) = stack.pop() {
                if n.kind() == "function_definition"
                    && let Some(name) = n.child_by_field_name("name")
                {
                    out.entry(text(name, src)).or_default().push(n);
                }
                stack.extend(n.named_children(&mut cursor));
            }
            out
        })
    }
}

fn root_of(n: Node<'_>) -> Node<'_> {
    let mut n = n;
    while let Some(p) = n.parent() {
        n = p;
    }
    n
}

/// The expressions a function returns (not those of functions nested in it).
fn returns(def: Node<'_>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let Some(body) = def.child_by_field_name("body") else {
        return out;
    };
    let mut cursor = body.walk();
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        match n.kind() {
            "function_definition" | "class_definition" | "lambda" => continue,
            "return_statement" => {
                if let Some(v) = n.named_child(0) {
                    out.push(v);
                }
                continue;
            }
            _ => {}
        }
        stack.extend(n.named_children(&mut cursor));
    }
    out
}

fn short(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}
