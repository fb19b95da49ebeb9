//! Python source analysis with tree-sitter: one pass collects imports, aliases,
//! assignments, parameters, loops, argparse options, class fields and calls;
//! name lookups then follow Python's scoping closely enough to tell the
//! library's `pipeline` from a local function of the same name.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use tree_sitter::{Node, Tree};

use crate::python::{collect_identifiers, line_of, string_literal, text};

/// The module scope's id (tree-sitter node ids are addresses, never this value).
pub const MODULE: usize = usize::MAX;

/// What a name is bound to at one place.
#[derive(Debug, Clone, Copy)]
pub enum BindKind<'t> {
    /// An import; the string index points into `Index::quals`.
    Import(usize),
    /// `name = rhs` (also a walrus and element-wise tuple assignment).
    Assign(Node<'t>),
    /// `for name in iterable`.
    For(Node<'t>),
    /// A parameter of a function definition.
    Param {
        func: Node<'t>,
        /// Positional index, `None` for keyword-only and `*args`/`**kwargs`.
        index: Option<usize>,
        default: Option<Node<'t>>,
    },
    /// def, class, with-as, except-as, augmented assignment, unpacking...
    Other,
}

#[derive(Debug, Clone, Copy)]
pub struct Binding<'t> {
    pub scope: usize,
    /// Where the binding takes effect: the end of an assignment (its right side
    /// still sees the earlier value, so `x = f(x)` is no cycle), else the start
    /// of the binding statement.
    pub pos: usize,
    pub line: u32,
    pub kind: BindKind<'t>,
}

/// An argparse option: its default expression, flag and line.
#[derive(Debug, Clone)]
pub struct ArgOpt<'t> {
    pub default: Option<Node<'t>>,
    pub flag: String,
    pub line: u32,
}

/// Everything name resolution needs from one file.
pub struct Index<'t> {
    pub src: &'t [u8],
    /// Bindings per (name, scope), sorted by `pos`: a lookup is a binary search,
    /// however often one name is rebound.
    bindings: HashMap<(&'t str, usize), Vec<Binding<'t>>>,
    /// Names with an import or assignment binding anywhere (may be an alias).
    aliasable: HashSet<&'t str>,
    /// Names with any binding.
    bound: HashSet<&'t str>,
    pub quals: Vec<String>,
    pub calls: Vec<Node<'t>>,
    /// Indexes into `calls` by the callee's last name (`f(...)`, `obj.f(...)`).
    callees: HashMap<&'t str, Vec<usize>>,
    /// Every name whose bindings, call sites or fields were consulted (sliced
    /// discovery parses the statements that hold them); `None` unless
    /// [`Index::track_asked`]: a whole-file run has no use for it.
    asked: RefCell<Option<HashSet<&'t str>>>,
    pub argparse: HashMap<String, Vec<ArgOpt<'t>>>,
    /// Class-body assignments and `obj.attr = value`, by attribute name.
    pub attrs: HashMap<&'t str, Vec<(Node<'t>, u32)>>,
    pub stars: Vec<String>,
    /// Byte ranges of function, lambda and class bodies in source order, so that
    /// lookups need no `Node::parent` (which tree-sitter answers by descending
    /// from the root every time).
    scopes: Vec<ScopeRange>,
    scope_index: HashMap<usize, usize>,
}

#[derive(Debug, Clone, Copy)]
struct ScopeRange {
    start: usize,
    end: usize,
    id: usize,
    class: bool,
    /// Index of the enclosing scope in `Index::scopes`, `None` for the module.
    parent: Option<usize>,
}

/// Grammar ids of the node kinds the index walk dispatches on (comparing ids is
/// much cheaper than comparing kind names, which tree-sitter builds with strlen).
pub struct Kinds {
    call: u16,
    import_statement: u16,
    import_from_statement: u16,
    assignment: u16,
    augmented_assignment: u16,
    named_expression: u16,
    function_definition: u16,
    class_definition: u16,
    lambda: u16,
    for_statement: u16,
    for_in_clause: u16,
    as_pattern: u16,
    with_item: u16,
    comment: u16,
    string_content: u16,
    body: Option<std::num::NonZeroU16>,
}

static KINDS: LazyLock<Kinds> = LazyLock::new(|| {
    let lang: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
    let id = |name: &str| lang.id_for_node_kind(name, true);
    Kinds {
        call: id("call"),
        import_statement: id("import_statement"),
        import_from_statement: id("import_from_statement"),
        assignment: id("assignment"),
        augmented_assignment: id("augmented_assignment"),
        named_expression: id("named_expression"),
        function_definition: id("function_definition"),
        class_definition: id("class_definition"),
        lambda: id("lambda"),
        for_statement: id("for_statement"),
        for_in_clause: id("for_in_clause"),
        as_pattern: id("as_pattern"),
        with_item: id("with_item"),
        comment: id("comment"),
        string_content: id("string_content"),
        body: lang.field_id_for_name("body"),
    }
});

/// The enclosing node of the cursor's position during the index walk.
struct Frame {
    /// Scope of the parent node itself.
    outer: usize,
    /// The parent's own scope id when it is a def, class or lambda.
    inner: Option<usize>,
    lambda: bool,
}

impl<'t> Index<'t> {
    pub fn build(tree: &'t Tree, src: &'t [u8]) -> Index<'t> {
        let mut idx = Index {
            src,
            bindings: HashMap::new(),
            aliasable: HashSet::new(),
            bound: HashSet::new(),
            quals: Vec::new(),
            calls: Vec::new(),
            callees: HashMap::new(),
            asked: RefCell::new(None),
            argparse: HashMap::new(),
            attrs: HashMap::new(),
            stars: Vec::new(),
            scopes: Vec::new(),
            scope_index: HashMap::new(),
        };
        let mut classes: HashSet<usize> = HashSet::new();
        let k = &*KINDS;
        // One cursor for the whole walk (no recursion: deeply nested expressions
        // would overflow the thread stack; no per-node allocation).
        let mut frames: Vec<Frame> = Vec::new();
        let mut cursor = tree.walk();
        'walk: loop {
            let node = cursor.node();
            let scope = match frames.last() {
                None => MODULE,
                Some(f) => match f.inner {
                    Some(id) if f.lambda || (k.body.is_some() && cursor.field_id() == k.body) => id,
                    _ => f.outer,
                },
            };
            let kid = node.kind_id();
            let descend = idx.visit(node, kid, scope, &mut classes, k);
            if descend && cursor.goto_first_child() {
                let own =
                    kid == k.function_definition || kid == k.class_definition || kid == k.lambda;
                frames.push(Frame {
                    outer: scope,
                    inner: own.then(|| node.id()),
                    lambda: kid == k.lambda,
                });
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    continue 'walk;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
                frames.pop();
            }
        }
        for list in idx.bindings.values_mut() {
            // Stable: two bindings at one position keep their source order.
            list.sort_by_key(|b| b.pos);
        }
        idx
    }

    /// Record the names consulted from now on (`ask`, `asked`).
    pub fn track_asked(&self) {
        self.asked.borrow_mut().get_or_insert_with(HashSet::new);
    }

    /// Record that what `name` is bound to, called with or assigned was consulted.
    pub fn ask(&self, name: &'t str) {
        if let Some(asked) = self.asked.borrow_mut().as_mut() {
            asked.insert(name);
        }
    }

    /// The names consulted since `track_asked`.
    pub fn asked(&self) -> Vec<String> {
        self.asked
            .borrow()
            .iter()
            .flatten()
            .map(|s| s.to_string())
            .collect()
    }

    /// Names bound to an import or to another name or attribute, with what
    /// they may stand for (to find loader aliases such as `from transformers
    /// import pipeline as p`).
    pub fn aliases(&self) -> Vec<(&'t str, Vec<String>)> {
        let mut out = Vec::new();
        for (&(name, _), list) in &self.bindings {
            for b in list {
                let quals = match b.kind {
                    BindKind::Import(i) => vec![self.quals[i].clone()],
                    BindKind::Assign(rhs) if matches!(rhs.kind(), "identifier" | "attribute") => {
                        self.qualify(rhs, 0)
                    }
                    _ => continue,
                };
                if !quals.is_empty() {
                    out.push((name, quals));
                }
            }
        }
        out
    }

    /// The calls whose callee's last name is `name`.
    pub fn calls_named(&self, name: &'t str) -> impl Iterator<Item = Node<'t>> + '_ {
        self.ask(name);
        self.callees
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| self.calls[i])
    }

    /// Record what one node binds; false to skip its subtree.
    fn visit(
        &mut self,
        node: Node<'t>,
        kid: u16,
        scope: usize,
        classes: &mut HashSet<usize>,
        k: &Kinds,
    ) -> bool {
        let idx = self;
        if kid == k.function_definition || kid == k.class_definition || kid == k.lambda {
            let start = if kid == k.lambda {
                Some(node.start_byte())
            } else {
                node.child_by_field_name("body").map(|b| b.start_byte())
            };
            if let Some(start) = start {
                let parent = idx.scope_index.get(&scope).copied();
                idx.scopes.push(ScopeRange {
                    start,
                    end: node.end_byte(),
                    id: node.id(),
                    class: kid == k.class_definition,
                    parent,
                });
                idx.scope_index.insert(node.id(), idx.scopes.len() - 1);
            }
        }
        if kid == k.call {
            if let Some(name) = callee_name(node, idx.src) {
                idx.callees.entry(name).or_default().push(idx.calls.len());
            }
            idx.calls.push(node);
            idx.argparse_option(node);
        } else if kid == k.import_statement {
            idx.import(node, scope);
        } else if kid == k.import_from_statement {
            idx.import_from(node, scope);
        } else if kid == k.assignment {
            idx.assignment(node, scope, classes.contains(&scope));
        } else if kid == k.function_definition {
            if let Some(name) = node.child_by_field_name("name") {
                idx.bind(name, scope, node, BindKind::Other);
            }
            if let Some(params) = node.child_by_field_name("parameters") {
                idx.params(node, params);
            }
        } else if kid == k.lambda {
            if let Some(params) = node.child_by_field_name("parameters") {
                let mut ids = Vec::new();
                collect_identifiers(params, &mut ids);
                for id in ids {
                    idx.bind(id, node.id(), node, BindKind::Other);
                }
            }
        } else if kid == k.class_definition {
            if let Some(name) = node.child_by_field_name("name") {
                idx.bind(name, scope, node, BindKind::Other);
            }
            classes.insert(node.id());
        } else if kid == k.augmented_assignment {
            if let Some(left) = node.child_by_field_name("left")
                && left.kind() == "identifier"
            {
                idx.bind(left, scope, node, BindKind::Other);
            }
        } else if kid == k.named_expression {
            if let (Some(name), Some(value)) = (
                node.child_by_field_name("name"),
                node.child_by_field_name("value"),
            ) {
                idx.bind_at(name, scope, node, node.end_byte(), BindKind::Assign(value));
            }
        } else if kid == k.for_statement || kid == k.for_in_clause {
            if let (Some(left), Some(right)) = (
                node.child_by_field_name("left"),
                node.child_by_field_name("right"),
            ) {
                // A comprehension's clause follows its element expression.
                let stmt = if kid == k.for_in_clause {
                    node.parent().unwrap_or(node)
                } else {
                    node
                };
                if left.kind() == "identifier" {
                    idx.bind(left, scope, stmt, BindKind::For(right));
                } else {
                    let mut ids = Vec::new();
                    collect_identifiers(left, &mut ids);
                    for id in ids {
                        idx.bind(id, scope, stmt, BindKind::Other);
                    }
                }
            }
        } else if kid == k.as_pattern || kid == k.with_item {
            if let Some(alias) = node.child_by_field_name("alias") {
                let mut ids = Vec::new();
                collect_identifiers(alias, &mut ids);
                for id in ids {
                    idx.bind(id, scope, node, BindKind::Other);
                }
            }
        } else if kid == k.comment || kid == k.string_content {
            // Nothing callable lives in a comment or the text of a string;
            // f-string interpolations are siblings of the text and stay.
            return false;
        }
        true
    }

    fn bind(&mut self, name: Node<'t>, scope: usize, stmt: Node<'t>, kind: BindKind<'t>) {
        self.bind_at(name, scope, stmt, stmt.start_byte(), kind);
    }

    fn bind_at(
        &mut self,
        name: Node<'t>,
        scope: usize,
        stmt: Node<'t>,
        pos: usize,
        kind: BindKind<'t>,
    ) {
        let key = text(name, self.src);
        if key.is_empty() {
            return;
        }
        if matches!(kind, BindKind::Import(_) | BindKind::Assign(_)) {
            self.aliasable.insert(key);
        }
        self.bound.insert(key);
        self.bindings
            .entry((key, scope))
            .or_default()
            .push(Binding {
                scope,
                pos,
                line: line_of(stmt),
                kind,
            });
    }

    fn bind_import(&mut self, name: Node<'t>, scope: usize, stmt: Node<'t>, qual: String) {
        self.quals.push(qual);
        let i = self.quals.len() - 1;
        self.bind(name, scope, stmt, BindKind::Import(i));
    }

    fn import(&mut self, node: Node<'t>, scope: usize) {
        let mut cursor = node.walk();
        let names: Vec<Node<'t>> = node.children_by_field_name("name", &mut cursor).collect();
        for n in names {
            match n.kind() {
                "dotted_name" => {
                    // `import torch.hub` binds `torch`.
                    if let Some(first) = n.named_child(0) {
                        let q = text(first, self.src).to_string();
                        self.bind_import(first, scope, node, q);
                    }
                }
                "aliased_import" => {
                    if let (Some(full), Some(alias)) = (
                        n.child_by_field_name("name"),
                        n.child_by_field_name("alias"),
                    ) {
                        let q = text(full, self.src).to_string();
                        self.bind_import(alias, scope, node, q);
                    }
                }
                _ => {}
            }
        }
    }

    fn import_from(&mut self, node: Node<'t>, scope: usize) {
        let Some(module) = node.child_by_field_name("module_name") else {
            return;
        };
        let relative = module.kind() == "relative_import";
        let m = text(module, self.src).to_string();
        let mut cursor = node.walk();
        let names: Vec<Node<'t>> = node.children_by_field_name("name", &mut cursor).collect();
        for n in names {
            let (full, alias) = match n.kind() {
                "dotted_name" => (n, n),
                "aliased_import" => match (
                    n.child_by_field_name("name"),
                    n.child_by_field_name("alias"),
                ) {
                    (Some(a), Some(b)) => (a, b),
                    _ => continue,
                },
                _ => continue,
            };
            if relative {
                self.bind(alias, scope, node, BindKind::Other);
            } else {
                let q = format!("{m}.{}", text(full, self.src));
                self.bind_import(alias, scope, node, q);
            }
        }
        let mut c2 = node.walk();
        if !relative
            && node
                .children(&mut c2)
                .any(|c| c.kind() == "wildcard_import")
        {
            self.stars.push(m);
        }
    }

    fn params(&mut self, func: Node<'t>, params: Node<'t>) {
        let scope = func.id();
        let mut index = 0usize;
        let mut keyword_only = false;
        let mut cursor = params.walk();
        let list: Vec<Node<'t>> = params.named_children(&mut cursor).collect();
        for p in list {
            let (name, default, positional) = match p.kind() {
                "identifier" => (Some(p), None, true),
                "typed_parameter" => (
                    p.named_child(0).filter(|n| n.kind() == "identifier"),
                    None,
                    true,
                ),
                "default_parameter" | "typed_default_parameter" => (
                    p.child_by_field_name("name"),
                    p.child_by_field_name("value"),
                    true,
                ),
                "list_splat_pattern" | "dictionary_splat_pattern" => {
                    keyword_only = true;
                    (p.named_child(0), None, false)
                }
                "keyword_separator" => {
                    keyword_only = true;
                    continue;
                }
                _ => continue,
            };
            let Some(name) = name else { continue };
            let idx = (positional && !keyword_only).then_some(index);
            if positional && !keyword_only {
                index += 1;
            }
            self.bind(
                name,
                scope,
                func,
                BindKind::Param {
                    func,
                    index: idx,
                    default,
                },
            );
        }
    }

    fn assignment(&mut self, node: Node<'t>, scope: usize, in_class: bool) {
        let Some(left) = node.child_by_field_name("left") else {
            return;
        };
        let right = node.child_by_field_name("right");
        match left.kind() {
            "identifier" => {
                if let Some(r) = right {
                    self.bind_at(left, scope, node, node.end_byte(), BindKind::Assign(r));
                    if in_class {
                        let name = text(left, self.src);
                        self.attrs.entry(name).or_default().push((r, line_of(node)));
                    }
                }
            }
            "attribute" => {
                if let (Some(attr), Some(r)) = (left.child_by_field_name("attribute"), right) {
                    let name = text(attr, self.src);
                    self.attrs.entry(name).or_default().push((r, line_of(node)));
                }
            }
            "pattern_list" | "tuple_pattern" => {
                let mut cursor = left.walk();
                let lefts: Vec<Node<'t>> = left.named_children(&mut cursor).collect();
                let rights: Vec<Node<'t>> = match right {
                    Some(r) if matches!(r.kind(), "expression_list" | "tuple") => {
                        let mut c = r.walk();
                        r.named_children(&mut c).collect()
                    }
                    _ => Vec::new(),
                };
                for (i, l) in lefts.iter().enumerate() {
                    if l.kind() == "identifier" {
                        let kind = if rights.len() == lefts.len() {
                            BindKind::Assign(rights[i])
                        } else {
                            BindKind::Other
                        };
                        self.bind_at(*l, scope, node, node.end_byte(), kind);
                    }
                }
            }
            _ => {}
        }
    }

    /// `parser.add_argument("--model-name", default="x")` -> dest `model_name`.
    fn argparse_option(&mut self, call: Node<'t>) {
        let Some(f) = call.child_by_field_name("function") else {
            return;
        };
        if f.kind() != "attribute"
            || f.child_by_field_name("attribute")
                .map(|a| text(a, self.src))
                != Some("add_argument")
        {
            return;
        }
        let Some(args) = call.child_by_field_name("arguments") else {
            return;
        };
        let mut flags = Vec::new();
        let mut dest = None;
        let mut default = None;
        let mut cursor = args.walk();
        for a in args.named_children(&mut cursor) {
            match a.kind() {
                "string" => flags.push(string_literal(a, self.src).unwrap_or_default()),
                "keyword_argument" => {
                    let name = a.child_by_field_name("name").map(|n| text(n, self.src));
                    let value = a.child_by_field_name("value");
                    match name {
                        Some("default") => default = value,
                        Some("dest") => dest = value.and_then(|v| string_literal(v, self.src)),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        let long = flags
            .iter()
            .find(|f| f.starts_with("--"))
            .or_else(|| flags.first())
            .cloned();
        let Some(flag) = long else { return };
        let dest = dest.unwrap_or_else(|| flag.trim_start_matches('-').replace('-', "_"));
        self.argparse.entry(dest).or_default().push(ArgOpt {
            default,
            flag,
            line: line_of(call),
        });
    }

    /// The binding of `name` as seen from `at`, following Python's LEGB order
    /// (class bodies are not visible from their methods).
    pub fn lookup(&self, name: &'t str, at: Node<'t>) -> Option<&Binding<'t>> {
        self.ask(name);
        let pos = at.start_byte();
        // Scopes are in source (pre-)order: the innermost one containing `pos`
        // is the last one that starts at or before it and still contains it.
        let upto = self.scopes.partition_point(|r| r.start <= pos);
        let mut cur = self.scopes[..upto]
            .iter()
            .rposition(|r| r.start <= pos && pos < r.end);
        let mut first = true;
        let mut innermost = true;
        loop {
            let (scope, next) = match cur {
                Some(i) => {
                    let r = self.scopes[i];
                    // Class bodies are not visible from the methods inside them.
                    let visible = first || !r.class;
                    first = false;
                    if !visible {
                        cur = r.parent;
                        continue;
                    }
                    (r.id, r.parent)
                }
                None => (MODULE, None),
            };
            if let Some(here) = self.bindings.get(&(name, scope))
                && !here.is_empty()
            {
                if innermost {
                    let k = here.partition_point(|b| b.pos <= pos);
                    if k > 0 {
                        return here.get(k - 1);
                    }
                    if scope == MODULE {
                        // Used before any binding at module level: not this name.
                        return None;
                    }
                    return here.first();
                }
                // Seen from an inner function that runs later: the last binding.
                return here.last();
            }
            innermost = false;
            // The module scope was the last one.
            cur?;
            cur = next;
        }
    }

    /// The fully qualified names an expression may stand for (`Tok.from_pretrained`
    /// -> `transformers.AutoTokenizer.from_pretrained`).
    pub fn qualify(&self, n: Node<'t>, depth: u32) -> Vec<String> {
        if depth > 8 {
            return Vec::new();
        }
        match n.kind() {
            "identifier" => {
                let name = text(n, self.src);
                // The answer depends on every binding of the name in the file.
                self.ask(name);
                // Most callees are local functions or parameters: no lookup needed.
                let may_alias = self.aliasable.contains(name) || !self.bound.contains(name);
                if !may_alias {
                    return Vec::new();
                }
                match self.lookup(name, n) {
                    Some(b) => match b.kind {
                        BindKind::Import(i) => vec![self.quals[i].clone()],
                        BindKind::Assign(rhs)
                            if matches!(rhs.kind(), "identifier" | "attribute") =>
                        {
                            self.qualify(rhs, depth + 1)
                        }
                        _ => Vec::new(),
                    },
                    None => self.stars.iter().map(|m| format!("{m}.{name}")).collect(),
                }
            }
            "attribute" => {
                let (Some(obj), Some(attr)) = (
                    n.child_by_field_name("object"),
                    n.child_by_field_name("attribute"),
                ) else {
                    return Vec::new();
                };
                let a = text(attr, self.src);
                self.qualify(obj, depth + 1)
                    .into_iter()
                    .map(|q| format!("{q}.{a}"))
                    .collect()
            }
            "parenthesized_expression" => n
                .named_child(0)
                .map(|c| self.qualify(c, depth + 1))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// The last name of a call's callee: `f` in `f(...)` and `obj.f(...)`.
fn callee_name<'t>(call: Node<'t>, src: &'t [u8]) -> Option<&'t str> {
    let f = call.child_by_field_name("function")?;
    match f.kind() {
        "identifier" => Some(text(f, src)),
        "attribute" => f.child_by_field_name("attribute").map(|a| text(a, src)),
        _ => None,
    }
}
