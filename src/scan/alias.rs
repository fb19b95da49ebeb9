//! Follow renamed dangerous functions to their calls: after `from os import system as
//! configure`, `configure(cmd)` is an `os.system` call, and after `import pickle as pkl`,
//! `pkl.loads(b)` is a `pickle.loads` call. The query rules match call names as written,
//! so each call through such a name is matched again with its real name in front of its
//! own arguments, and reported where it is.
//!
//! Runs only on files where the `aliased-dangerous-import` rule found such an import
//! or assignment (`run = os.system`).

use std::collections::HashMap;

use tree_sitter::{Node, Tree};

use super::query::{QueryEngine, RawMatch, parse, preorder};
use crate::python::text;

/// The rule that finds the imports this module follows.
pub(crate) const RULE: &str = "aliased-dangerous-import";

/// Modules whose functions the rules know by their qualified names.
const MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "joblib",
    "marshal",
    "builtins",
    "__builtin__",
];

/// Is `module.name` a function that the rules match by name?
fn dangerous(module: &str, name: &str) -> bool {
    match module {
        "os" | "posix" | "nt" => {
            matches!(name, "system" | "popen" | "popen2" | "popen3" | "popen4")
                || name.starts_with("spawn")
                || name.starts_with("exec")
        }
        // `from subprocess import Popen, run` is everyday code; its shell=True calls are
        // matched by name as written.
        "subprocess" => matches!(name, "getoutput" | "getstatusoutput"),
        "pickle" | "cPickle" | "_pickle" | "dill" | "cloudpickle" | "joblib" | "marshal" => {
            matches!(name, "load" | "loads" | "Unpickler")
        }
        "builtins" | "__builtin__" => matches!(name, "exec" | "eval" | "compile" | "__import__"),
        _ => false,
    }
}

/// The name the rules know: `os.system`, or `exec` for a builtin.
fn qualified(module: &str, name: &str) -> String {
    if matches!(module, "builtins" | "__builtin__") {
        name.to_string()
    } else {
        format!("{module}.{name}")
    }
}

/// Local names bound to dangerous functions (`configure` -> `os.system`) and to
/// dangerous modules (`pkl` -> `pickle`), from every import statement in the file.
#[derive(Default)]
struct Names {
    functions: HashMap<String, String>,
    modules: HashMap<String, String>,
}

impl Names {
    fn add_import(&mut self, stmt: Node, src: &[u8]) {
        let mut c = stmt.walk();
        match stmt.kind() {
            "import_statement" => {
                for n in stmt.children_by_field_name("name", &mut c) {
                    if n.kind() != "aliased_import" {
                        continue;
                    }
                    let (Some(m), Some(a)) = (
                        n.child_by_field_name("name"),
                        n.child_by_field_name("alias"),
                    ) else {
                        continue;
                    };
                    let (m, a) = (text(m, src), text(a, src));
                    if MODULES.contains(&m) && m != a {
                        self.modules.insert(a.to_string(), m.to_string());
                    }
                }
            }
            "import_from_statement" => {
                let Some(module) = stmt
                    .child_by_field_name("module_name")
                    .filter(|m| m.kind() == "dotted_name")
                    .map(|m| text(m, src))
                    .filter(|m| MODULES.contains(m))
                else {
                    return;
                };
                let wildcard = stmt
                    .named_children(&mut c)
                    .any(|n| n.kind() == "wildcard_import");
                if wildcard {
                    // Every dangerous function of the module, under its own name.
                    for name in [
                        "system",
                        "popen",
                        "getoutput",
                        "getstatusoutput",
                        "load",
                        "loads",
                        "Unpickler",
                        "exec",
                        "eval",
                        "compile",
                    ] {
                        if dangerous(module, name) {
                            self.functions
                                .insert(name.to_string(), qualified(module, name));
                        }
                    }
                    return;
                }
                for n in stmt.children_by_field_name("name", &mut c) {
                    let (name, local) = match n.kind() {
                        "aliased_import" => (
                            n.child_by_field_name("name").map(|x| text(x, src)),
                            n.child_by_field_name("alias").map(|x| text(x, src)),
                        ),
                        _ => (Some(text(n, src)), Some(text(n, src))),
                    };
                    if let (Some(name), Some(local)) = (name, local)
                        && dangerous(module, name)
                        && local != qualified(module, name)
                    {
                        self.functions
                            .insert(local.to_string(), qualified(module, name));
                    }
                }
            }
            _ => {}
        }
    }

    /// `run = os.system`, `load = pkl.loads`, `go = exec`: one more name for the function.
    fn add_assignment(&mut self, stmt: Node, src: &[u8]) {
        let (Some(left), Some(right)) = (
            stmt.child_by_field_name("left")
                .filter(|l| l.kind() == "identifier"),
            stmt.child_by_field_name("right"),
        ) else {
            return;
        };
        let real = match right.kind() {
            "identifier" => {
                let name = text(right, src);
                match self.functions.get(name) {
                    Some(real) => Some(real.clone()),
                    None => dangerous("builtins", name).then(|| name.to_string()),
                }
            }
            "attribute" => {
                let written = text(right, src);
                written.split_once('.').and_then(|(head, rest)| {
                    let module = self.modules.get(head).map_or(head, String::as_str);
                    dangerous(module, rest).then(|| qualified(module, rest))
                })
            }
            _ => None,
        };
        if let Some(real) = real {
            self.functions.insert(text(left, src).to_string(), real);
        }
    }

    /// The qualified name a call's function stands for, if it goes through a rename.
    fn resolve(&self, function: Node, src: &[u8]) -> Option<String> {
        let written = text(function, src);
        match function.kind() {
            "identifier" => self.functions.get(written).cloned(),
            "attribute" => {
                let (head, rest) = written.split_once('.')?;
                let module = self.modules.get(head)?;
                Some(format!("{module}.{rest}"))
            }
            _ => None,
        }
    }
}

/// Matches of the query rules on calls made through renamed dangerous functions, placed
/// at those calls in `tree` (which must hold the whole file).
pub(crate) fn follow(
    engine: &QueryEngine,
    rules: &[usize],
    tree: &Tree,
    src: &[u8],
) -> Vec<RawMatch> {
    let mut names = Names::default();
    let mut calls = Vec::new();
    preorder(tree.root_node(), |n| {
        match n.kind() {
            "import_statement" | "import_from_statement" => names.add_import(n, src),
            "assignment" => names.add_assignment(n, src),
            "call" => calls.push(n),
            _ => {}
        }
        true
    });
    let mut out = Vec::new();
    for call in calls {
        let (Some(function), Some(args)) = (
            call.child_by_field_name("function"),
            call.child_by_field_name("arguments"),
        ) else {
            continue;
        };
        let Some(real) = names.resolve(function, src) else {
            continue;
        };
        // The call as the rules know it: the real name, then the call's own arguments.
        let mut snippet = real.into_bytes();
        snippet.extend_from_slice(&src[function.end_byte()..args.end_byte()]);
        let Some(snippet_tree) = parse(&snippet) else {
            continue;
        };
        for m in engine.run(&snippet_tree, &snippet, rules, None) {
            // Only what matches the call itself: its arguments were scanned in place.
            if m.start_byte != 0 {
                continue;
            }
            out.push(RawMatch {
                rule: m.rule,
                start_byte: call.start_byte(),
                end_byte: call.end_byte(),
                via: Some(text(function, src).to_string()),
            });
        }
    }
    out
}
