//! Where code runs: a call graph over the whole fetched closure of a target, from the
//! outlines of its files, and the context of every scope in it.
//!
//! - `import-time`: the module code of the files the library imports, what that code
//!   imports, class bodies, decorators and default arguments, and everything they reach.
//! - `load-time`: reached from what the loader family's library calls while it loads the
//!   target (`rules/genre/load-hooks.yml`).
//! - `call-time`: reached only from methods of classes the load creates, which run when
//!   the user calls them.
//! - `unreached`: nothing reaches it.
//!
//! Edges over-approximate on purpose: a scope that mentions a name reaches every function
//! of the closure with that name (whatever the receiver: `self.x()`, `obj.x()`, a callback
//! `Thread(target=x)` or `atexit.register(x)`), and a class that is called or passed around
//! is constructed, which runs all its dunder methods. A scope that looks names up by
//! reflection reaches the functions its identifier-like strings name. What an attacker
//! can hide from this is a name computed at run time, which the capability rules report.

use std::collections::VecDeque;

// Seeded per map: the keys are names the fetched code chooses.
use foldhash::{HashMap, HashMapExt};

use super::catalogue::{Catalogue, Hooks};
use super::outline::{ImportKind, Outline, ScopeKind};
use crate::model::ExecContext;
use crate::model::Family;

/// One file of the closure.
pub(crate) struct Unit<'a> {
    /// Path in the repository (`pkg/mod.py`).
    pub path: &'a str,
    pub src: &'a [u8],
    pub outline: &'a Outline,
    /// The library imports this file itself (not only through another file).
    pub entry: bool,
}

/// How the library loads the target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Load {
    /// `None`: not known (a file scanned on its own), every library's hooks apply.
    pub family: Option<Family>,
    /// The entry point the call names (torch.hub's second argument).
    pub entry: Option<String>,
}

impl Load {
    /// A file scanned on its own.
    pub fn generic() -> Load {
        Load {
            family: None,
            entry: None,
        }
    }

    pub fn of(site: &crate::model::LoadSite) -> Load {
        let entry = matches!(site.family, Family::TorchHub | Family::PaddleHubconf)
            .then(|| site.args.get("model").cloned())
            .flatten();
        Load {
            family: Some(site.family),
            entry,
        }
    }
}

#[derive(Clone, Debug)]
enum Why {
    /// Module code of a file the library imports.
    ImportRoot,
    /// Module code of a file imported by this node.
    Imported(usize),
    /// A class body, run by the scope that defines the class.
    ClassBody(usize),
    /// Mentioned (called, passed, looked up) by this node.
    Called(usize),
    /// A dunder method of a class this node constructs.
    Constructed(usize),
    /// A class-creation hook (`__init_subclass__`, the metaclass) of a class this node defines.
    Defined(usize),
    /// Called by a decorator (a fetched function) that this node applied.
    Decorated(usize),
    /// What the library calls on load: `Class.method` or the entry function.
    LoadRoot,
    /// A method of a class the load creates.
    CallRoot,
}

/// The context of every scope of a closure.
pub(crate) struct Reach<'a> {
    offsets: Vec<usize>,
    ctx: Vec<Option<ExecContext>>,
    why: Vec<Option<Why>>,
    /// Path and outline of each file, and (file, scope) of each node: a node's name for
    /// a message is spelt out only when a message asks for it (few nodes ever are).
    files: Vec<(&'a str, &'a Outline)>,
    at: Vec<(usize, usize)>,
    /// Node is the module scope / a main guard.
    kinds: Vec<ScopeKind>,
    library: String,
}

fn dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

/// Does a catalogue base match a (qualified) base name? `PreTrainedModel` matches any
/// name ending in that segment; `paddlehub.Module` matches a name of the `paddlehub`
/// package ending in `Module`.
fn base_matches(entry: &str, name: &str) -> bool {
    match entry.split_once('.') {
        None => last(name) == entry,
        Some((pkg, _)) => name.split('.').next() == Some(pkg) && last(name) == last(entry),
    }
}

/// The last segment of a dotted name (all of it without a dot).
pub(crate) fn last(dotted: &str) -> &str {
    // A byte scan: names are short, and `rsplit` sets up a searcher per call (the graph
    // and the taint analysis ask for a last segment ~100,000 times on 430 files).
    match dotted.bytes().rposition(|b| b == b'.') {
        Some(i) => &dotted[i + 1..],
        None => dotted,
    }
}

/// `pkg/sub/mod.py` -> `pkg.sub.mod`; `pkg/__init__.py` -> `pkg`.
pub(crate) fn module_name(path: &str) -> String {
    let p = path.strip_suffix(".py").unwrap_or(path);
    let p = p.strip_suffix("/__init__").unwrap_or(p);
    p.replace('/', ".")
}

struct Graph<'a> {
    units: &'a [Unit<'a>],
    offsets: Vec<usize>,
    /// (file, scope) of each node.
    at: Vec<(usize, usize)>,
    funcs: HashMap<&'a str, Vec<usize>>,
    classes: HashMap<&'a str, Vec<usize>>,
    /// Direct children of each node.
    children: Vec<Vec<usize>>,
    /// Fetched classes each class derives from, transitively (itself excluded).
    ancestors: HashMap<usize, Vec<usize>>,
    /// Module node of each file by module name.
    modules: HashMap<String, usize>,
    /// Functions and classes a fetched decorator function is applied to.
    decorates: HashMap<usize, Vec<usize>>,
    /// `from .m import name as local`, in any file: `local` -> the names it renames.
    /// Global like the name edges, so a rename re-exported by a package's `__init__`
    /// and imported again under its new name still reaches the body.
    renames: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Graph<'a> {
    fn new(units: &'a [Unit<'a>]) -> Graph<'a> {
        let mut offsets = Vec::with_capacity(units.len());
        let mut at = Vec::new();
        for (f, u) in units.iter().enumerate() {
            offsets.push(at.len());
            for s in 0..u.outline.scopes.len() {
                at.push((f, s));
            }
        }
        let mut g = Graph {
            units,
            offsets,
            children: vec![Vec::new(); at.len()],
            at,
            funcs: HashMap::new(),
            classes: HashMap::new(),
            ancestors: HashMap::new(),
            modules: HashMap::new(),
            decorates: HashMap::new(),
            renames: HashMap::new(),
        };
        for n in 0..g.at.len() {
            let sc = g.scope(n);
            if n != g.node(g.at[n].0, 0) || sc.kind != ScopeKind::Module {
                let parent = g.node(g.at[n].0, sc.parent);
                if parent != n {
                    g.children[parent].push(n);
                }
            }
            match sc.kind {
                ScopeKind::Function => g.funcs.entry(sc.name.as_str()).or_default().push(n),
                ScopeKind::Class => g.classes.entry(sc.name.as_str()).or_default().push(n),
                _ => {}
            }
        }
        for (f, u) in units.iter().enumerate() {
            g.modules.insert(module_name(u.path), g.node(f, 0));
            for imp in &u.outline.imports {
                if let ImportKind::From { name, local, .. } = &imp.kind
                    && name != local
                {
                    let to = g.renames.entry(local.as_str()).or_default();
                    if !to.contains(&name.as_str()) {
                        to.push(name.as_str());
                    }
                }
            }
        }
        let class_nodes: Vec<usize> = g.classes.values().flatten().copied().collect();
        for c in class_nodes {
            let mut seen = vec![c];
            let mut work = vec![c];
            while let Some(k) = work.pop() {
                for b in &g.scope(k).bases {
                    for &bn in g.classes.get(last(b)).into_iter().flatten() {
                        if !seen.contains(&bn) {
                            seen.push(bn);
                            work.push(bn);
                        }
                    }
                }
            }
            seen.remove(0);
            g.ancestors.insert(c, seen);
        }
        for n in 0..g.at.len() {
            for d in &g.scope(n).decorator_names {
                for &dn in g.funcs.get(last(d)).into_iter().flatten() {
                    g.decorates.entry(dn).or_default().push(n);
                }
            }
        }
        g
    }

    fn node(&self, file: usize, scope: usize) -> usize {
        self.offsets[file] + scope
    }

    fn scope(&self, n: usize) -> &'a super::outline::Scope {
        let (f, s) = self.at[n];
        &self.units[f].outline.scopes[s]
    }

    /// Methods named `name` of class `c` or its fetched ancestors.
    fn methods(&self, c: usize, pred: impl Fn(&str) -> bool) -> Vec<usize> {
        let mut out = Vec::new();
        let anc = self
            .ancestors
            .get(&c)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for &k in std::iter::once(&c).chain(anc) {
            for &m in &self.children[k] {
                let sc = self.scope(m);
                if sc.kind == ScopeKind::Function && pred(&sc.name) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// The module nodes an import statement loads.
    fn imported(&self, file: usize, kind: &ImportKind) -> Vec<usize> {
        let path = self.units[file].path;
        let mut pkg: Vec<&str> = path.split('/').collect();
        pkg.pop();
        let (level, module, names): (usize, &str, Vec<&str>) = match kind {
            ImportKind::Module { whole, .. } => (0, whole.as_str(), Vec::new()),
            ImportKind::From {
                level,
                module,
                name,
                ..
            } => (*level, module.as_str(), vec![name.as_str()]),
            ImportKind::Star { level, module } => (*level, module.as_str(), Vec::new()),
        };
        let base: Vec<String> = if level == 0 {
            Vec::new()
        } else {
            let keep = pkg.len().saturating_sub(level - 1);
            pkg[..keep].iter().map(|s| s.to_string()).collect()
        };
        let mut target = base;
        target.extend(
            module
                .split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        let mut out = Vec::new();
        // The packages on the way are imported too.
        for k in 1..=target.len() {
            if let Some(&m) = self.modules.get(&target[..k].join(".")) {
                out.push(m);
            }
        }
        for n in names {
            let mut sub = target.clone();
            sub.push(n.to_string());
            if let Some(&m) = self.modules.get(&sub.join(".")) {
                out.push(m);
            }
        }
        out
    }

    /// Where node `n` leads, with the reason the target is reached.
    fn edges(&self, n: usize, out: &mut Vec<(usize, Why)>) {
        let (f, s) = self.at[n];
        let sc = self.scope(n);
        for &c in &self.children[n] {
            let child = self.scope(c);
            if child.kind == ScopeKind::Class {
                out.push((c, Why::ClassBody(n)));
                // Defining a class runs its fetched bases' `__init_subclass__` and its
                // metaclass.
                for b in &child.bases {
                    for &bn in self.classes.get(last(b)).into_iter().flatten() {
                        for m in self.methods(bn, |m| m == "__init_subclass__") {
                            out.push((m, Why::Defined(n)));
                        }
                    }
                }
                if let Some(meta) = &child.metaclass {
                    for &mn in self.classes.get(last(meta)).into_iter().flatten() {
                        for m in self.methods(mn, dunder) {
                            out.push((m, Why::Defined(n)));
                        }
                    }
                }
            }
        }
        for imp in &self.units[f].outline.imports {
            if imp.scope == s {
                for m in self.imported(f, &imp.kind) {
                    out.push((m, Why::Imported(n)));
                }
            }
        }
        // A module's own `__getattr__` (PEP 562) runs whenever an importer asks it for a
        // name it does not bind (`from .tables import X`), which the mentions cannot see:
        // it runs with the module code.
        if sc.kind == ScopeKind::Module {
            for &c in &self.children[n] {
                let child = self.scope(c);
                if child.kind == ScopeKind::Function && child.name == "__getattr__" {
                    out.push((c, Why::Called(n)));
                }
            }
        }
        for name in self.renamed(sc.mentions.iter().chain(&sc.strings)) {
            if dunder(name) {
                continue;
            }
            for &t in self.funcs.get(name).into_iter().flatten() {
                out.push((t, Why::Called(n)));
            }
            for &c in self.classes.get(name).into_iter().flatten() {
                for m in self.methods(c, |m| dunder(m) && m != "__call__") {
                    out.push((m, Why::Constructed(n)));
                }
            }
        }
        for &t in self.decorates.get(&n).into_iter().flatten() {
            match self.scope(t).kind {
                ScopeKind::Class => {
                    for m in self.methods(t, |m| dunder(m) && m != "__call__") {
                        out.push((m, Why::Decorated(n)));
                    }
                }
                _ => out.push((t, Why::Decorated(n))),
            }
        }
    }

    /// The names mentioned, plus what imports renamed them from (`h` of
    /// `from .utils import helper as h` also names `helper`), through chains of renames.
    fn renamed<'s>(&'s self, names: impl Iterator<Item = &'s String>) -> Vec<&'s str> {
        let mut out: Vec<&str> = names.map(String::as_str).collect();
        if self.renames.is_empty() {
            return out;
        }
        // Mentions are unique; only the names renames add are checked for repeats.
        let mut added: Vec<&str> = Vec::new();
        let mut work: Vec<&str> = out
            .iter()
            .filter(|n| self.renames.contains_key(*n))
            .copied()
            .collect();
        while let Some(n) = work.pop() {
            for &to in self.renames.get(n).into_iter().flatten() {
                if !added.contains(&to) && !out.contains(&to) {
                    added.push(to);
                    work.push(to);
                }
            }
        }
        out.extend(added);
        out
    }

    /// A dotted name of file `f` with its head replaced by what the module imports or
    /// assigns under that name (`PM` -> `transformers.PreTrainedModel`).
    fn qualified(&self, f: usize, dotted: &str, depth: usize) -> String {
        let o = self.units[f].outline;
        let (head, rest) = match dotted.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (dotted, None),
        };
        let join = |base: String| match rest {
            Some(r) => format!("{base}.{r}"),
            None => base,
        };
        for imp in o.imports.iter().filter(|i| i.scope == 0) {
            match &imp.kind {
                ImportKind::Module { local, module, .. } if local == head => {
                    return join(module.clone());
                }
                ImportKind::From {
                    level: 0,
                    module,
                    name,
                    local,
                } if local == head => return join(format!("{module}.{name}")),
                _ => {}
            }
        }
        if depth < 4
            && let Some(a) = o.assigns.iter().find(|a| a.scope == 0 && a.target == head)
            && !a.value.is_empty()
        {
            let src = self.units[f].src;
            let toks = &o.lexed.toks[a.value.clone()];
            let text: String = toks
                .iter()
                .map(|t| String::from_utf8_lossy(&src[t.range()]).into_owned())
                .collect();
            if text
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
            {
                return join(self.qualified(f, &text, depth + 1));
            }
        }
        dotted.to_string()
    }

    /// The bases of every class node as [`Self::qualified`] reads them (empty for other
    /// nodes): the same for every family's hooks, so computed once.
    fn qualified_bases(&self) -> Vec<Vec<String>> {
        (0..self.at.len())
            .map(|k| {
                let f = self.at[k].0;
                self.scope(k)
                    .bases
                    .iter()
                    .map(|b| self.qualified(f, b, 0))
                    .collect()
            })
            .collect()
    }

    /// Classes the library loads, for one family's hooks (`qbases`: of
    /// [`Self::qualified_bases`]).
    fn loaded_classes(&self, hooks: &Hooks<'_>, qbases: &[Vec<String>]) -> Vec<usize> {
        let mut out = Vec::new();
        for (&_, nodes) in &self.classes {
            for &c in nodes {
                let anc = self
                    .ancestors
                    .get(&c)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let line: Vec<usize> = std::iter::once(c).chain(anc.iter().copied()).collect();
                let by_base = line.iter().any(|&k| {
                    qbases[k]
                        .iter()
                        .any(|q| hooks.of.bases.iter().any(|h| base_matches(h, q)))
                });
                let by_hook = !hooks.of.class_hooks.is_empty()
                    && !self
                        .methods(c, |m| hooks.of.class_hooks.iter().any(|h| h == m))
                        .is_empty();
                let by_decorator = line.iter().any(|&k| {
                    self.scope(k)
                        .decorator_names
                        .iter()
                        .any(|d| hooks.of.decorators.iter().any(|h| h == last(d)))
                });
                let (f, s) = self.at[c];
                let by_file = hooks.all_classes_of_entry_files
                    && self.units[f].entry
                    && self.units[f].outline.scopes[s].parent == 0;
                if by_base || by_hook || by_decorator || by_file {
                    out.push(c);
                }
            }
        }
        out.sort_unstable();
        out
    }
}

impl<'a> Reach<'a> {
    pub(crate) fn new(units: &[Unit<'a>], load: &Load, catalogue: &Catalogue) -> Reach<'a> {
        let g = Graph::new(units);
        let total = g.at.len();
        let mut ctx: Vec<Option<ExecContext>> = vec![None; total];
        let mut why: Vec<Option<Why>> = vec![None; total];
        let hooks = catalogue.hooks_for(load.family);
        let library = match load.family {
            None => "the loading library".to_string(),
            Some(_) => hooks
                .first()
                .map_or("the loading library".to_string(), |h| h.of.library.clone()),
        };

        // Import time: module code of the files the library imports (all of them when
        // none is marked).
        let any_entry = units.iter().any(|u| u.entry);
        let import_roots: Vec<(usize, Why)> = (0..units.len())
            .filter(|&f| units[f].entry || !any_entry)
            .map(|f| (g.node(f, 0), Why::ImportRoot))
            .collect();

        // Load time: the hooks of the classes the library loads, and the entry function.
        let mut load_roots: Vec<(usize, Why)> = Vec::new();
        // Classes whose instances exist after the load: their methods are call-time.
        let mut constructed: Vec<usize> = Vec::new();
        let qbases = if hooks.is_empty() {
            Vec::new()
        } else {
            g.qualified_bases()
        };
        for h in &hooks {
            for c in g.loaded_classes(h, &qbases) {
                constructed.push(c);
                for m in g.methods(c, |m| h.of.hooks.iter().any(|x| x == m)) {
                    load_roots.push((m, Why::LoadRoot));
                }
            }
            if h.of.entry_function {
                for (f, u) in units.iter().enumerate() {
                    if !u.entry {
                        continue;
                    }
                    for &c in &g.children[g.node(f, 0)] {
                        let sc = g.scope(c);
                        let named = match &load.entry {
                            Some(e) => sc.name == *e,
                            None => !sc.name.starts_with('_'),
                        };
                        if !named || sc.kind == ScopeKind::MainGuard {
                            continue;
                        }
                        match sc.kind {
                            ScopeKind::Function => load_roots.push((c, Why::LoadRoot)),
                            ScopeKind::Class => {
                                for m in g.methods(c, dunder) {
                                    load_roots.push((m, Why::LoadRoot));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        // A module `__getattr__` (PEP 562) runs when the library looks a class up.
        for (f, u) in units.iter().enumerate() {
            if u.entry || !any_entry {
                for &c in &g.children[g.node(f, 0)] {
                    if g.scope(c).name == "__getattr__" && g.scope(c).kind == ScopeKind::Function {
                        load_roots.push((c, Why::LoadRoot));
                    }
                }
            }
        }

        let bfs = |roots: Vec<(usize, Why)>,
                   c: ExecContext,
                   ctx: &mut Vec<Option<ExecContext>>,
                   why: &mut Vec<Option<Why>>,
                   constructed: &mut Vec<usize>| {
            let mut queue: VecDeque<usize> = VecDeque::new();
            for (n, w) in roots {
                if ctx[n].is_none() {
                    ctx[n] = Some(c);
                    why[n] = Some(w);
                    queue.push_back(n);
                }
            }
            let mut edges = Vec::new();
            while let Some(n) = queue.pop_front() {
                edges.clear();
                g.edges(n, &mut edges);
                for (t, w) in edges.drain(..) {
                    if matches!(w, Why::Constructed(_) | Why::Decorated(_)) {
                        let (f, s) = g.at[t];
                        if let Some(cls) = units[f].outline.class_of(s) {
                            constructed.push(g.node(f, cls));
                        }
                    }
                    if ctx[t].is_none() {
                        ctx[t] = Some(c);
                        why[t] = Some(w);
                        queue.push_back(t);
                    }
                }
            }
        };
        bfs(
            import_roots,
            ExecContext::ImportTime,
            &mut ctx,
            &mut why,
            &mut constructed,
        );
        for (n, _) in &load_roots {
            if let Some(cls) = units[g.at[*n].0].outline.class_of(g.at[*n].1) {
                constructed.push(g.node(g.at[*n].0, cls));
            }
        }
        bfs(
            load_roots,
            ExecContext::LoadTime,
            &mut ctx,
            &mut why,
            &mut constructed,
        );
        // Call time: methods of the classes that exist after the load, until no more
        // classes get constructed.
        let mut done = 0;
        loop {
            constructed.sort_unstable();
            constructed.dedup();
            let fresh: Vec<usize> = constructed.clone();
            if fresh.len() == done {
                break;
            }
            done = fresh.len();
            let roots: Vec<(usize, Why)> = fresh
                .iter()
                .flat_map(|&c| g.methods(c, |_| true))
                .map(|m| (m, Why::CallRoot))
                .collect();
            bfs(
                roots,
                ExecContext::CallTime,
                &mut ctx,
                &mut why,
                &mut constructed,
            );
        }

        let kinds =
            g.at.iter()
                .map(|&(f, s)| units[f].outline.scopes[s].kind)
                .collect();
        Reach {
            offsets: g.offsets,
            ctx,
            why,
            files: units.iter().map(|u| (u.path, u.outline)).collect(),
            at: g.at,
            kinds,
            library,
        }
    }

    /// `Qual.name` of node `n`, or its file's path for a module.
    fn name(&self, n: usize) -> String {
        let (f, s) = self.at[n];
        let (path, o) = self.files[f];
        let q = o.qualname(s);
        if q.is_empty() { path.to_string() } else { q }
    }

    fn node(&self, file: usize, scope: usize) -> usize {
        self.offsets[file] + scope
    }

    /// The context of scope `scope` of file `file`.
    pub(crate) fn context(&self, file: usize, scope: usize) -> ExecContext {
        self.ctx[self.node(file, scope)].unwrap_or(ExecContext::Unreached)
    }

    /// Why code in that scope runs, as a phrase for a finding's message. `detail` says
    /// where in the scope the code sits (`decorator`, `default argument`, `class body`).
    pub(crate) fn explain(&self, file: usize, scope: usize, detail: Option<&str>) -> String {
        let n = self.node(file, scope);
        let ctx = self.context(file, scope);
        if self.kinds[n] == ScopeKind::MainGuard {
            return "under `if __name__ == \"__main__\"`, runs only as a script".to_string();
        }
        // The chain of named scopes back to the root, skipping class bodies and modules.
        let mut chain: Vec<usize> = Vec::new();
        let root;
        let mut cur = n;
        let mut steps = 0;
        loop {
            steps += 1;
            match &self.why[cur] {
                Some(
                    Why::Called(p) | Why::Constructed(p) | Why::Decorated(p) | Why::Defined(p),
                ) if steps < 64 => {
                    chain.push(cur);
                    cur = *p;
                }
                Some(Why::ClassBody(p) | Why::Imported(p)) if steps < 64 => cur = *p,
                _ => {
                    root = cur;
                    break;
                }
            }
        }
        let named = |k: usize| format!("`{}`", self.name(k));
        let via = |chain: &[usize]| -> String {
            let shown: Vec<String> = chain.iter().take(4).map(|&k| named(k)).collect();
            let mut s = shown.join(", called by ");
            if chain.len() > 4 {
                s.push_str(", called by …");
            }
            s
        };
        match ctx {
            ExecContext::ImportTime => {
                let place = detail.unwrap_or(if self.kinds[n] == ScopeKind::Class {
                    "class body"
                } else {
                    "module top level"
                });
                if chain.is_empty() {
                    let from = match &self.why[n] {
                        Some(Why::Imported(p)) => format!(", imported by {}", self.name(*p)),
                        _ => String::new(),
                    };
                    return format!("runs at import time ({place}{from})");
                }
                let kind = if self.kinds[chain[0]] == ScopeKind::Class {
                    "class"
                } else {
                    "function"
                };
                let in_file = if self.kinds[root] == ScopeKind::Module
                    && matches!(self.why[root], Some(Why::Imported(_)))
                {
                    format!(" of {}", self.name(root))
                } else {
                    String::new()
                };
                let tail = if chain.len() == 1 {
                    format!(
                        "{kind} {} is called from module-level code{in_file}",
                        named(chain[0])
                    )
                } else {
                    format!(
                        "{kind} {}, which is called from module-level code{in_file}",
                        via(&chain)
                    )
                    .replacen(", called by ", " is called by ", 1)
                };
                format!("runs at import time ({tail})")
            }
            ExecContext::LoadTime => {
                let lib = &self.library;
                if chain.is_empty() {
                    format!(
                        "runs at load time ({}, which {lib} calls on load)",
                        named(root)
                    )
                } else {
                    let mut all = chain.clone();
                    all.push(root);
                    format!(
                        "runs at load time ({}, which {lib} calls on load)",
                        via(&all)
                    )
                    .replacen(", called by ", " is called by ", 1)
                }
            }
            ExecContext::CallTime => {
                let mut s = format!("runs only when the user calls {}", named(root));
                for &k in chain.iter().rev().take(4) {
                    s.push_str(&format!(", which calls {}", named(k)));
                }
                s
            }
            _ => format!("unreached: nothing in the fetched code calls {}", named(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Catalogue {
        let mut c = Catalogue::default();
        c.merge(
            "rules/genre/load-hooks.yml",
            include_str!("../../rules/genre/load-hooks.yml"),
        )
        .unwrap();
        c
    }

    fn contexts(
        files: &[(&str, &str, bool)],
        load: &Load,
    ) -> HashMap<String, (ExecContext, String)> {
        let outlines: Vec<Outline> = files
            .iter()
            .map(|(_, s, _)| Outline::new(s.as_bytes()))
            .collect();
        let units: Vec<Unit> = files
            .iter()
            .zip(&outlines)
            .map(|((p, src, e), o)| Unit {
                path: p,
                src: src.as_bytes(),
                outline: o,
                entry: *e,
            })
            .collect();
        let r = Reach::new(&units, load, &catalogue());
        let mut out = HashMap::new();
        for (f, u) in units.iter().enumerate() {
            for s in 0..u.outline.scopes.len() {
                out.insert(
                    format!("{}:{}", u.path, u.outline.qualname(s)),
                    (r.context(f, s), r.explain(f, s, None)),
                );
            }
        }
        out
    }

    #[test]
    fn import_load_call_and_unreached() {
        let modeling = "from transformers import PreTrainedModel\nfrom .util import helper\nimport threading\n\ndef _bg():\n    pass\n\nthreading.Thread(target=_bg).start()\n\nclass ChatModel(PreTrainedModel):\n    def __init__(self, config):\n        super().__init__(config)\n        self.setup()\n    def setup(self):\n        helper()\n    def chat(self, q):\n        return self.answer(q)\n    def answer(self, q):\n        return q\n\ndef dead():\n    pass\n\nif __name__ == '__main__':\n    dead()\n";
        let util = "def helper():\n    pass\n\ndef other():\n    pass\n";
        let c = contexts(
            &[("modeling_x.py", modeling, true), ("util.py", util, false)],
            &Load {
                family: Some(Family::Transformers),
                entry: None,
            },
        );
        let get = |k: &str| c.get(k).unwrap_or_else(|| panic!("{k}: {:?}", c.keys()));
        assert_eq!(get("modeling_x.py:_bg").0, ExecContext::ImportTime);
        assert_eq!(get("util.py:").0, ExecContext::ImportTime);
        assert!(
            get("util.py:").1.contains("imported by modeling_x.py"),
            "{}",
            get("util.py:").1
        );
        assert_eq!(
            get("modeling_x.py:ChatModel.__init__").0,
            ExecContext::LoadTime,
            "{:?}",
            get("modeling_x.py:ChatModel.__init__")
        );
        let (ctx, why) = get("util.py:helper");
        assert_eq!(*ctx, ExecContext::LoadTime);
        assert!(
            why.contains("`helper` is called by `ChatModel.setup`, called by `ChatModel.__init__`, which transformers calls on load"),
            "{why}"
        );
        assert_eq!(get("modeling_x.py:ChatModel.chat").0, ExecContext::CallTime);
        let (ctx, why) = get("modeling_x.py:ChatModel.answer");
        assert_eq!(*ctx, ExecContext::CallTime);
        assert!(why.contains("the user calls `ChatModel.answer`"), "{why}");
        assert_eq!(get("modeling_x.py:dead").0, ExecContext::Unreached);
        assert_eq!(get("util.py:other").0, ExecContext::Unreached);
        assert!(get("modeling_x.py:__main__").1.contains("only as a script"));
    }

    #[test]
    fn torch_hub_entry_point_and_lifecycle_hooks() {
        let hubconf = "def resnet(pretrained=False):\n    return _load()\n\ndef other():\n    pass\n\ndef _load():\n    pass\n\nclass Meta(type):\n    def __new__(m, n, b, d):\n        return super().__new__(m, n, b, d)\n\nclass Base:\n    def __init_subclass__(cls):\n        pass\n    def __init__(self):\n        pass\n\nclass Sub(Base, metaclass=Meta):\n    pass\n\nclass Held:\n    def __del__(self):\n        pass\n\n_h = Held()\n";
        let c = contexts(
            &[("hubconf.py", hubconf, true)],
            &Load {
                family: Some(Family::TorchHub),
                entry: Some("resnet".into()),
            },
        );
        let ctx = |k: &str| c[k].0;
        assert_eq!(ctx("hubconf.py:resnet"), ExecContext::LoadTime);
        assert!(c["hubconf.py:_load"].1.contains("torch.hub calls on load"));
        assert_eq!(ctx("hubconf.py:_load"), ExecContext::LoadTime);
        assert_eq!(ctx("hubconf.py:other"), ExecContext::Unreached);
        assert_eq!(ctx("hubconf.py:Meta.__new__"), ExecContext::ImportTime);
        assert_eq!(
            ctx("hubconf.py:Base.__init_subclass__"),
            ExecContext::ImportTime
        );
        // Defining a subclass does not construct the base.
        assert_eq!(ctx("hubconf.py:Base.__init__"), ExecContext::Unreached);
        assert_eq!(ctx("hubconf.py:Held.__del__"), ExecContext::ImportTime);
    }

    #[test]
    fn reflection_strings_and_decorators_reach() {
        let src = "import atexit\n\ndef register(fn):\n    fn()\n    return fn\n\n@register\ndef payload():\n    pass\n\ndef hidden():\n    pass\n\nNAME = 'hidden'\ngetattr(__import__(__name__), NAME)()\n";
        let c = contexts(&[("m.py", src, true)], &Load::generic());
        assert_eq!(c["m.py:payload"].0, ExecContext::ImportTime);
        assert_eq!(c["m.py:hidden"].0, ExecContext::ImportTime);
    }

    #[test]
    fn renamed_imports_reach_across_files() {
        let modeling = "from transformers import PreTrainedModel\nfrom .utils import helper as h, later as l8r\nfrom . import tools as t\nfrom .pkg import run_it as go\nfrom .utils import Builder as B\n\n_b = B()\n\nclass ChatModel(PreTrainedModel):\n    def __init__(self, config):\n        super().__init__(config)\n        h()\n        t.prep()\n        go()\n    def forward(self, x):\n        return l8r(x)\n";
        let utils = "def helper():\n    pass\n\ndef later(x):\n    return x\n\ndef unused():\n    pass\n\nclass Builder:\n    def __init__(self):\n        pass\n";
        let tools = "def prep():\n    pass\n";
        let pkg = "from .impl import payload as run_it\n";
        let imp = "def payload():\n    pass\n";
        let c = contexts(
            &[
                ("modeling_x.py", modeling, true),
                ("utils.py", utils, false),
                ("tools.py", tools, false),
                ("pkg/__init__.py", pkg, false),
                ("pkg/impl.py", imp, false),
            ],
            &Load {
                family: Some(Family::Transformers),
                entry: None,
            },
        );
        let get = |k: &str| c.get(k).unwrap_or_else(|| panic!("{k}: {:?}", c.keys()));
        let (ctx, why) = get("utils.py:helper");
        assert_eq!(*ctx, ExecContext::LoadTime, "{why}");
        assert!(why.contains("ChatModel.__init__"), "{why}");
        assert_eq!(get("tools.py:prep").0, ExecContext::LoadTime);
        // Renamed twice: by the package's `__init__`, then by the importer.
        assert_eq!(get("pkg/impl.py:payload").0, ExecContext::LoadTime);
        assert_eq!(get("utils.py:Builder.__init__").0, ExecContext::ImportTime);
        assert_eq!(get("utils.py:later").0, ExecContext::CallTime);
        assert_eq!(get("utils.py:unused").0, ExecContext::Unreached);

        // `import a.b as z` then `z.f()` at module level (torch.hub: absolute imports).
        let hubconf = "import ops.kern as k\nfrom ops.kern import boot as start\n\nk.launch()\n\ndef model():\n    start()\n";
        let kern = "def launch():\n    pass\n\ndef boot():\n    pass\n";
        let c = contexts(
            &[
                ("hubconf.py", hubconf, true),
                ("ops/__init__.py", "", false),
                ("ops/kern.py", kern, false),
            ],
            &Load {
                family: Some(Family::TorchHub),
                entry: Some("model".into()),
            },
        );
        assert_eq!(c["ops/kern.py:launch"].0, ExecContext::ImportTime);
        assert_eq!(c["ops/kern.py:boot"].0, ExecContext::LoadTime);
    }
}
