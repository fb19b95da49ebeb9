//! The outline of one Python file, from its tokens: the scopes where code runs (module,
//! classes, functions, the `__main__` guard), which scope each token runs in, the names
//! each scope mentions, and the imports and simple assignments that bind names.
//!
//! Decorators, default arguments and class bases run in the enclosing scope; a class body
//! runs with its enclosing scope (it is a scope of its own only to say "class body").

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use foldhash::fast::RandomState;

use super::fold;
use super::lex::{self, Kind, Lexed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScopeKind {
    Module,
    Class,
    Function,
    /// The body of `if __name__ == "__main__":`, which an import never runs.
    MainGuard,
}

#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub kind: ScopeKind,
    /// Function or class name (`<module>`, `__main__` for the others).
    pub name: String,
    /// Enclosing scope (the module is its own parent).
    pub parent: usize,
    /// Tokens of the decorators (before the header).
    pub decorators: Range<usize>,
    /// Tokens of the header, `def`/`class` through its colon.
    pub header: Range<usize>,
    /// Tokens of the body.
    pub body: Range<usize>,
    /// Class bases as written (dotted names; keywords excluded).
    pub bases: Vec<String>,
    /// `metaclass=M` of a class.
    pub metaclass: Option<String>,
    /// The callee of each decorator (`register` for `@register(...)`).
    pub decorator_names: Vec<String>,
    /// Names this scope's own code mentions (attribute names included), sorted and
    /// distinct.
    pub mentions: Vec<String>,
    /// Identifier-like strings in this scope's code, when the scope also does reflective
    /// lookups (`getattr`, `globals()[...]`): they may name what it reaches.
    pub strings: BTreeSet<String>,
}

/// What an import statement binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ImportKind {
    /// `import a.b.c` (local `a`, module `a`, whole `a.b.c`) or `import a.b as m`
    /// (local `m`, module `a.b`, whole `a.b`).
    Module {
        local: String,
        module: String,
        whole: String,
    },
    /// `from .mod import name as local` (`level` leading dots).
    From {
        level: usize,
        module: String,
        name: String,
        local: String,
    },
    /// `from mod import *`.
    Star { level: usize, module: String },
}

#[derive(Clone, Debug)]
pub(crate) struct Import {
    pub scope: usize,
    /// First token of the statement.
    pub tok: usize,
    pub kind: ImportKind,
}

/// `target = value` (also `a = b = value`, `x: T = value`, `with value as target`).
#[derive(Clone, Debug)]
pub(crate) struct Assign {
    pub scope: usize,
    /// A name, or `self.name` / `cls.name`.
    pub target: String,
    /// Tokens of the value expression.
    pub value: Range<usize>,
}

#[derive(Debug)]
pub(crate) struct Outline {
    pub lexed: Lexed,
    pub scopes: Vec<Scope>,
    /// Scope each token runs in.
    pub owner: Vec<u32>,
    pub imports: Vec<Import>,
    pub assigns: Vec<Assign>,
}

/// What [`keyword`] decides (its test checks it against this list).
#[cfg(test)]
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "self", "cls",
];

const REFLECTIVE: &[&str] = &[
    "getattr",
    "setattr",
    "globals",
    "locals",
    "vars",
    "__dict__",
    "attrgetter",
    "methodcaller",
    "__getattribute__",
    "getattr_static",
    "import_module",
    "__import__",
];

/// A Python keyword (or `self`, `cls`): never a mention. Decided on the length first:
/// every distinct name of every scope is checked, and scanning the list of 37 for each
/// cost a tenth of the outline.
fn keyword(name: &str) -> bool {
    match name.len() {
        2 => matches!(name, "as" | "if" | "in" | "is" | "or"),
        3 => matches!(name, "and" | "def" | "del" | "for" | "not" | "try" | "cls"),
        4 => matches!(
            name,
            "None" | "True" | "elif" | "else" | "from" | "pass" | "with" | "self"
        ),
        5 => matches!(
            name,
            "False" | "async" | "await" | "break" | "class" | "raise" | "while" | "yield"
        ),
        6 => matches!(
            name,
            "assert" | "except" | "global" | "import" | "lambda" | "return"
        ),
        7 => name == "finally",
        8 => matches!(name, "continue" | "nonlocal"),
        _ => false,
    }
}

/// A name of [`REFLECTIVE`]; its first byte rules out most names before the list is read.
fn reflective_name(name: &str) -> bool {
    matches!(
        name.as_bytes().first(),
        Some(b'g' | b's' | b'l' | b'v' | b'_' | b'a' | b'm' | b'i')
    ) && REFLECTIVE.contains(&name)
}

impl Outline {
    pub(crate) fn new(src: &[u8]) -> Outline {
        let lexed = lex::lex(src);
        Builder::new(src, lexed).build()
    }

    /// The token at or before byte `at` (the one a match starting there belongs to).
    pub(crate) fn token_at(&self, at: usize) -> Option<usize> {
        let toks = &self.lexed.toks;
        let i = toks.partition_point(|t| (t.start as usize) <= at);
        // Tokens of f-string fields come after their string token but lie inside it:
        // prefer the innermost token that contains `at`.
        let cand = i.checked_sub(1)?;
        let mut best = cand;
        let mut k = cand;
        while k > 0 && toks[k].nest > 0 {
            k -= 1;
        }
        if toks[k].kind == Kind::Str && (toks[k].end as usize) > at {
            // `at` is inside a string: an f-string field token if one holds it.
            best = (k..=cand)
                .rev()
                .find(|&j| toks[j].range().contains(&at))
                .unwrap_or(k);
        }
        Some(best)
    }

    /// The scope whose code contains byte `at`.
    pub(crate) fn scope_at(&self, at: usize) -> usize {
        self.token_at(at)
            .and_then(|t| self.owner.get(t))
            .map_or(0, |&s| s as usize)
    }

    /// Where in scope `s` token `t` sits, when that is notable: in a decorator or the
    /// header (default arguments) of a function defined in `s`, or in a class body.
    pub(crate) fn detail(&self, s: usize, t: usize) -> Option<&'static str> {
        for child in &self.scopes {
            if child.parent != s || child.kind != ScopeKind::Function {
                continue;
            }
            if child.decorators.contains(&t) {
                return Some("decorator");
            }
            if child.header.contains(&t) {
                return Some("default argument");
            }
        }
        (self.scopes[s].kind == ScopeKind::Class).then_some("class body")
    }

    /// Qualified name of scope `s` (`Outer.method`).
    pub(crate) fn qualname(&self, s: usize) -> String {
        let mut parts = Vec::new();
        let mut cur = s;
        while cur != 0 {
            let sc = &self.scopes[cur];
            if sc.kind != ScopeKind::MainGuard || cur == s {
                parts.push(sc.name.as_str());
            }
            cur = sc.parent;
        }
        parts.reverse();
        parts.join(".")
    }

    /// The nearest enclosing class of scope `s` when `s` is a method (directly in it).
    pub(crate) fn class_of(&self, s: usize) -> Option<usize> {
        let p = self.scopes[s].parent;
        (s != 0 && self.scopes[p].kind == ScopeKind::Class).then_some(p)
    }
}

struct Builder<'s> {
    src: &'s [u8],
    lexed: Lexed,
    scopes: Vec<Scope>,
    imports: Vec<Import>,
    assigns: Vec<Assign>,
    /// Tokens that name a type or a base rather than use a value (annotations, class
    /// bases): not mentions, so that an annotation does not construct a class.
    not_mention: Vec<bool>,
    /// Per operator of [`SEPS`], its code tokens in order, each with the bracket depth
    /// before it (see [`Builder::find_op`]).
    seps: [Vec<(u32, i32)>; SEPS.len()],
    /// Bracket depth before each token, and after the last: the sum of the code
    /// brackets before it (never clamped, as `find_op` counts).
    depth: Vec<i32>,
}

/// The operators and keywords `find_op` looks for: statements were searched for them
/// token by token, several times each (a sixth of the outline); their positions are
/// listed once per file instead.
const SEPS: [&[u8]; 6] = [b":", b";", b"=", b",", b"in", b"as"];

impl<'s> Builder<'s> {
    fn new(src: &'s [u8], lexed: Lexed) -> Self {
        let n = lexed.toks.len();
        Builder {
            src,
            lexed,
            scopes: vec![Scope {
                kind: ScopeKind::Module,
                name: "<module>".to_string(),
                parent: 0,
                decorators: 0..0,
                header: 0..0,
                body: 0..n,
                bases: Vec::new(),
                metaclass: None,
                decorator_names: Vec::new(),
                mentions: Vec::new(),
                strings: BTreeSet::new(),
            }],
            imports: Vec::new(),
            assigns: Vec::new(),
            not_mention: vec![false; n],
            seps: Default::default(),
            depth: Vec::new(),
        }
    }

    /// Fill `seps` and `depth` in one pass over the tokens.
    fn index_seps(&mut self) {
        let src = self.src;
        let toks = &self.lexed.toks;
        let mut depth = Vec::with_capacity(toks.len() + 1);
        let mut d = 0i32;
        for (i, tok) in toks.iter().enumerate() {
            depth.push(d);
            if tok.nest > 0 {
                continue;
            }
            let x = &src[tok.range()];
            let slot = match (tok.kind, x) {
                (Kind::Op, [b'(' | b'[' | b'{']) => {
                    d += 1;
                    continue;
                }
                (Kind::Op, [b')' | b']' | b'}']) => {
                    d -= 1;
                    continue;
                }
                (Kind::Op, b":") => 0,
                (Kind::Op, b";") => 1,
                (Kind::Op, b"=") => 2,
                (Kind::Op, b",") => 3,
                (Kind::Name, b"in") => 4,
                (Kind::Name, b"as") => 5,
                _ => continue,
            };
            self.seps[slot].push((i as u32, d));
        }
        depth.push(d);
        self.depth = depth;
    }

    fn t(&self, i: usize) -> &'s [u8] {
        let src = self.src;
        self.lexed.toks.get(i).map_or(&[][..], |t| &src[t.range()])
    }

    fn s(&self, i: usize) -> &'s str {
        std::str::from_utf8(self.t(i)).unwrap_or("")
    }

    fn kind(&self, i: usize) -> Option<Kind> {
        self.lexed.toks.get(i).map(|t| t.kind)
    }

    /// Index of the first top-level (bracket depth 0, code) operator or keyword in
    /// `range` written `op`. Depth counts from the start of `range`: a token is at depth
    /// 0 when the brackets between the start and it balance, so for the operators of
    /// [`SEPS`] the answer is the first listed one in `range` whose depth before it is the
    /// depth at the start.
    ///
    /// Inlined so that the slot of a literal `op` is decided at compile time: looking it
    /// up in [`SEPS`] at each of the ~500 searches per file cost a fifth of the search.
    #[inline(always)]
    fn find_op(&self, range: Range<usize>, op: &[u8]) -> Option<usize> {
        let slot = match op {
            b":" => 0,
            b";" => 1,
            b"=" => 2,
            b"," => 3,
            b"in" => 4,
            b"as" => 5,
            _ => return self.find_op_scan(range, op),
        };
        self.find_sep(range, slot)
    }

    /// [`Builder::find_op`] for the operator `SEPS[slot]`.
    fn find_sep(&self, range: Range<usize>, slot: usize) -> Option<usize> {
        if range.is_empty() {
            return None;
        }
        let base = *self.depth.get(range.start)?;
        let at = &self.seps[slot];
        let from = at.partition_point(|&(t, _)| (t as usize) < range.start);
        at[from..]
            .iter()
            .take_while(|&&(t, _)| (t as usize) < range.end)
            .find(|&&(_, d)| d == base)
            .map(|&(t, _)| t as usize)
    }

    /// [`Builder::find_op`] token by token, for any operator.
    fn find_op_scan(&self, range: Range<usize>, op: &[u8]) -> Option<usize> {
        let mut depth = 0i32;
        for i in range {
            let tok = self.lexed.toks[i];
            if tok.nest > 0 {
                continue;
            }
            let x = self.t(i);
            // Brackets are one-byte operators: the byte decides, with no slice compare.
            if tok.kind == Kind::Op && x.len() == 1 {
                match x[0] {
                    b'(' | b'[' | b'{' => {
                        depth += 1;
                        continue;
                    }
                    b')' | b']' | b'}' => {
                        depth -= 1;
                        continue;
                    }
                    _ => {}
                }
            }
            if depth == 0 && tok.kind != Kind::Str && x == op {
                return Some(i);
            }
        }
        None
    }

    /// The bracket closing the one at token `open` (code tokens only).
    pub(crate) fn closing(&self, open: usize, end: usize) -> Option<usize> {
        let mut depth = 0i32;
        for i in open..end {
            let tok = self.lexed.toks[i];
            if tok.nest > 0 || tok.kind != Kind::Op {
                continue;
            }
            match self.t(i) {
                b"(" | b"[" | b"{" => depth += 1,
                b")" | b"]" | b"}" => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// A dotted name starting at token `i` (`a.b.c`), and the index after it.
    fn dotted(&self, mut i: usize, end: usize) -> Option<(String, usize)> {
        if i >= end || self.kind(i) != Some(Kind::Name) {
            return None;
        }
        let mut name = self.s(i).to_string();
        i += 1;
        while i + 1 < end && self.t(i) == b"." && self.kind(i + 1) == Some(Kind::Name) {
            name.push('.');
            name.push_str(self.s(i + 1));
            i += 2;
        }
        Some((name, i))
    }

    fn build(mut self) -> Outline {
        self.index_seps();
        let owner = self.scopes_and_owner();
        // Names each scope mentions, and identifier-like strings where it reflects.
        let mut reflective = vec![false; self.scopes.len()];
        for (s, names) in self.mention_lists(&owner) {
            reflective[s] = names.iter().any(|n| reflective_name(n));
            self.scopes[s].mentions = names;
        }
        // Most files look nothing up reflectively: their tokens need no second look.
        let looked_at: &[lex::Token] = if reflective.contains(&true) {
            &self.lexed.toks
        } else {
            &[]
        };
        for (i, tok) in looked_at.iter().enumerate() {
            let s = owner[i] as usize;
            if tok.kind == Kind::Str
                && reflective[s]
                && !lex::is_fstring(&self.src[tok.range()])
                && let Some(v) = lex::string_value(&self.src[tok.range()])
                && !v.is_empty()
                && identifier(&v)
            {
                self.scopes[s].strings.insert(v);
            }
            // A name built from literal pieces (`getattr(helpers, "_fl" + "ush")`) is
            // the name it folds to: the pieces alone name nothing.
            if reflective[s]
                && fold::may_start(self.src, &self.lexed.toks, i)
                && let Some(fd) = fold::fold(
                    self.src,
                    &self.lexed.toks,
                    i..self.lexed.toks.len(),
                    None,
                    false,
                )
                && fd.computed
                && identifier(&fd.value)
            {
                self.scopes[s].strings.insert(fd.value);
            }
        }
        // Statements nested in functions were recorded with the scope of their line;
        // re-home imports and assignments to the owner of their first token.
        for imp in &mut self.imports {
            imp.scope = owner.get(imp.tok).map_or(imp.scope, |&o| o as usize);
        }
        for a in &mut self.assigns {
            a.scope = owner
                .get(a.value.start.saturating_sub(1))
                .map_or(a.scope, |&o| o as usize);
        }
        Outline {
            lexed: self.lexed,
            scopes: self.scopes,
            owner,
            imports: self.imports,
            assigns: self.assigns,
        }
    }

    /// The scopes, imports and assignments of the file (and which tokens are no
    /// mentions), and the scope each token runs in.
    fn scopes_and_owner(&mut self) -> Vec<u32> {
        let lines = std::mem::take(&mut self.lexed.lines);
        // Open scopes: (header indent, scope); the module never closes.
        let mut stack: Vec<(u32, usize)> = Vec::new();
        let mut decorators: Option<(usize, Vec<String>)> = None;
        for (li, line) in lines.iter().enumerate() {
            while stack.last().is_some_and(|&(ind, _)| ind >= line.indent) {
                if let Some((_, s)) = stack.pop() {
                    // The body ends with the last line before this one.
                    let end = lines[li - 1].toks.end;
                    let b = &mut self.scopes[s].body;
                    b.end = b.end.max(end);
                }
            }
            let scope = stack.last().map_or(0, |&(_, s)| s);
            let toks = line.toks.clone();
            let first = self.t(toks.start);
            if first == b"@" {
                let name = self
                    .dotted(toks.start + 1, toks.end)
                    .map(|(n, _)| n)
                    .unwrap_or_default();
                match &mut decorators {
                    Some((_, names)) => names.push(name),
                    None => decorators = Some((toks.start, vec![name])),
                }
                continue;
            }
            let decos = decorators.take();
            let mut k = toks.start;
            if first == b"async" {
                k += 1;
            }
            let head = self.t(k);
            if (head == b"def" || head == b"class") && self.kind(k + 1) == Some(Kind::Name) {
                let colon = if head == b"def" {
                    // The colon after the parameters (and any return annotation).
                    self.closing(k + 2, toks.end)
                        .and_then(|close| self.find_op(close + 1..toks.end, b":"))
                } else {
                    self.find_op(k + 2..toks.end, b":")
                };
                let Some(colon) = colon else {
                    continue;
                };
                let mut sc = Scope {
                    kind: if head == b"def" {
                        ScopeKind::Function
                    } else {
                        ScopeKind::Class
                    },
                    name: self.s(k + 1).to_string(),
                    parent: scope,
                    decorators: decos
                        .as_ref()
                        .map_or(toks.start..toks.start, |(d, _)| *d..toks.start),
                    header: toks.start..colon + 1,
                    body: colon + 1..toks.end,
                    bases: Vec::new(),
                    metaclass: None,
                    decorator_names: decos.map(|(_, n)| n).unwrap_or_default(),
                    mentions: Vec::new(),
                    strings: BTreeSet::new(),
                };
                if head == b"class" && self.t(k + 2) == b"(" {
                    self.class_args(k + 3, colon, &mut sc);
                    self.mark_bases(k + 3, colon);
                } else if head == b"def" {
                    self.mark_param_annotations(k + 2, colon);
                }
                // The defined name is a binding, not a mention.
                self.not_mention[k + 1] = true;
                let inline = colon + 1 < toks.end;
                self.scopes.push(sc);
                let new = self.scopes.len() - 1;
                if inline {
                    self.statement(new, colon + 1..toks.end);
                } else {
                    stack.push((line.indent, new));
                }
                continue;
            }
            if first == b"if" && self.main_guard(toks.start + 1, toks.end) {
                let colon = toks.start + 4;
                self.scopes.push(Scope {
                    kind: ScopeKind::MainGuard,
                    name: "__main__".to_string(),
                    parent: scope,
                    decorators: toks.start..toks.start,
                    header: toks.start..colon + 1,
                    body: colon + 1..toks.end,
                    bases: Vec::new(),
                    metaclass: None,
                    decorator_names: Vec::new(),
                    mentions: Vec::new(),
                    strings: BTreeSet::new(),
                });
                let new = self.scopes.len() - 1;
                if colon + 1 >= toks.end {
                    stack.push((line.indent, new));
                } else {
                    self.statement(new, colon + 1..toks.end);
                }
                continue;
            }
            self.statement(scope, toks);
        }
        self.lexed.lines = lines;
        let n = self.lexed.toks.len();
        while let Some((_, s)) = stack.pop() {
            self.scopes[s].body.end = n;
        }
        // Owners: parents are created before their children, so later writes are inner.
        let mut owner = vec![0u32; n];
        for (s, sc) in self.scopes.iter().enumerate().skip(1) {
            for o in &mut owner[sc.body.clone()] {
                *o = s as u32;
            }
        }
        owner
    }

    /// The sorted distinct names each scope mentions (keywords left out), for the scopes
    /// that mention any. Each distinct name of the file gets an id (seeded hashing: the
    /// names are the file author's) and is checked as UTF-8, against the keywords and
    /// sorted once; a scope's names are then the sorted, deduplicated (scope, rank) pairs
    /// of its tokens, integers, where sorting (scope, name) pairs compared their text.
    fn mention_lists(&self, owner: &[u32]) -> Vec<(usize, Vec<String>)> {
        let src = self.src;
        let toks = &self.lexed.toks;
        let mut ids: HashMap<&[u8], u32, RandomState> =
            HashMap::with_capacity_and_hasher(toks.len() / 8, RandomState::default());
        let mut names: Vec<&[u8]> = Vec::with_capacity(toks.len() / 8);
        // The scope each name was last paired with: a scope's tokens mostly come in one
        // stretch, so most repeats are dropped here, before the sort.
        let mut last: Vec<u32> = Vec::with_capacity(toks.len() / 8);
        let mut pairs: Vec<u64> = Vec::with_capacity(toks.len() / 4);
        for (i, tok) in toks.iter().enumerate() {
            if tok.kind != Kind::Name || self.not_mention[i] {
                continue;
            }
            let name = &src[tok.range()];
            let id = *ids.entry(name).or_insert_with(|| {
                names.push(name);
                last.push(u32::MAX);
                (names.len() - 1) as u32
            }) as usize;
            if last[id] != owner[i] {
                last[id] = owner[i];
                pairs.push(u64::from(owner[i]) << 32 | id as u64);
            }
        }
        // Names that are not UTF-8 read as "": equal texts share a rank.
        let texts: Vec<&str> = names
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap_or(""))
            .collect();
        // Sorted on the first eight bytes as an integer, then on the text: a name has
        // no NUL byte, so the zero padding of a shorter name sorts it first, as `str`
        // order does.
        let mut order: Vec<(u64, u32)> = (0..texts.len() as u32)
            .filter(|&id| !keyword(texts[id as usize]))
            .map(|id| (prefix_key(texts[id as usize].as_bytes()), id))
            .collect();
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| texts[a.1 as usize].cmp(texts[b.1 as usize]))
        });
        let mut rank = vec![u32::MAX; texts.len()];
        let mut sorted: Vec<&str> = Vec::with_capacity(order.len());
        for &(_, id) in &order {
            let text = texts[id as usize];
            if sorted.last() != Some(&text) {
                sorted.push(text);
            }
            rank[id as usize] = (sorted.len() - 1) as u32;
        }
        let mut ranked: Vec<u64> = pairs
            .iter()
            .filter_map(|&p| {
                let r = rank[(p & u64::from(u32::MAX)) as usize];
                (r != u32::MAX).then_some(p & !u64::from(u32::MAX) | u64::from(r))
            })
            .collect();
        ranked.sort_unstable();
        ranked.dedup();
        ranked
            .chunk_by(|a, b| a >> 32 == b >> 32)
            .map(|run| {
                let names = run
                    .iter()
                    .map(|&p| sorted[(p & u64::from(u32::MAX)) as usize].to_string())
                    .collect();
                ((run[0] >> 32) as usize, names)
            })
            .collect()
    }

    /// `__name__ == "__main__"` (either order) followed by `:`.
    fn main_guard(&self, i: usize, end: usize) -> bool {
        if i + 3 >= end || self.t(i + 1) != b"==" || self.t(i + 3) != b":" {
            return false;
        }
        let main = |j: usize| {
            self.kind(j) == Some(Kind::Str)
                && lex::string_value(self.t(j)).as_deref() == Some("__main__")
        };
        (self.t(i) == b"__name__" && main(i + 2)) || (main(i) && self.t(i + 2) == b"__name__")
    }

    /// Bases and `metaclass=` of a class header, between its parentheses.
    fn class_args(&self, mut i: usize, end: usize, sc: &mut Scope) {
        while i < end {
            if self.kind(i) == Some(Kind::Name) && self.t(i + 1) == b"=" {
                if self.t(i) == b"metaclass"
                    && let Some((m, _)) = self.dotted(i + 2, end)
                {
                    sc.metaclass = Some(m);
                }
            } else if let Some((b, next)) = self.dotted(i, end)
                && matches!(self.t(next), b"," | b")" | b"[")
            {
                sc.bases.push(b);
            }
            // To the next top-level comma.
            match self.find_op(i..end, b",") {
                Some(c) => i = c + 1,
                None => break,
            }
        }
    }

    /// Imports and assignments of one simple-statement line (`;` separates statements).
    fn statement(&mut self, scope: usize, toks: Range<usize>) {
        let mut start = toks.start;
        while start < toks.end {
            let end = self.find_op(start..toks.end, b";").unwrap_or(toks.end);
            self.simple(scope, start..end);
            start = end + 1;
        }
    }

    fn simple(&mut self, scope: usize, toks: Range<usize>) {
        if toks.is_empty() {
            return;
        }
        let first = self.t(toks.start);
        match first {
            b"import" => self.import(scope, toks),
            b"from" => self.import_from(scope, toks),
            b"with" | b"async" => self.with_items(scope, toks),
            // A compound header with an inline body (`if x: y = 1`): the body is a statement.
            b"if" | b"elif" | b"else" | b"for" | b"while" | b"try" | b"except" | b"finally" => {
                if let Some(c) = self.find_op(toks.clone(), b":") {
                    if first == b"for" {
                        self.for_items(scope, toks.start + 1..c);
                    }
                    self.simple(scope, c + 1..toks.end);
                }
            }
            _ => {
                self.mark_annotation(toks.clone());
                self.assignment(scope, toks)
            }
        }
    }

    /// Base names of a class header (a call such as `make_base()` stays a mention).
    fn mark_bases(&mut self, from: usize, colon: usize) {
        for i in from..colon {
            if self.kind(i) != Some(Kind::Name) {
                continue;
            }
            let mut j = i + 1;
            while self.t(j) == b"." && self.kind(j + 1) == Some(Kind::Name) {
                j += 2;
            }
            if self.t(j) != b"(" {
                self.not_mention[i] = true;
            }
        }
    }

    /// Parameter annotations and the return annotation of a `def` header (from its `(`).
    fn mark_param_annotations(&mut self, open: usize, colon: usize) {
        let Some(close) = self.closing(open, colon + 1) else {
            return;
        };
        let mut depth = 0i32;
        let mut in_ann = false;
        for i in open + 1..close {
            match self.t(i) {
                b"(" | b"[" | b"{" => depth += 1,
                b")" | b"]" | b"}" => depth -= 1,
                b":" if depth == 0 => in_ann = true,
                b"," | b"=" if depth == 0 => in_ann = false,
                _ => {}
            }
            if in_ann {
                self.not_mention[i] = true;
            }
        }
        for m in close + 1..colon {
            self.not_mention[m] = true;
        }
    }

    /// `x: T = v` and `x: T`: the annotation `T`.
    fn mark_annotation(&mut self, toks: Range<usize>) {
        if self.kind(toks.start) != Some(Kind::Name) {
            return;
        }
        let Some(c) = self.find_op(toks.clone(), b":") else {
            return;
        };
        if let Some(eq) = self.find_op(toks.clone(), b"=")
            && eq < c
        {
            return;
        }
        if matches!(
            self.t(toks.start),
            b"lambda" | b"match" | b"case" | b"return" | b"yield" | b"await" | b"assert" | b"raise"
        ) {
            return;
        }
        let end = self.find_op(c..toks.end, b"=").unwrap_or(toks.end);
        for i in c + 1..end {
            self.not_mention[i] = true;
        }
    }

    fn import(&mut self, scope: usize, toks: Range<usize>) {
        // Imports bind names; they do not use them.
        for m in &mut self.not_mention[toks.clone()] {
            *m = true;
        }
        let mut i = toks.start + 1;
        while i < toks.end {
            let Some((whole, next)) = self.dotted(i, toks.end) else {
                break;
            };
            let (local, module, after) =
                if self.t(next) == b"as" && self.kind(next + 1) == Some(Kind::Name) {
                    (self.s(next + 1).to_string(), whole.clone(), next + 2)
                } else {
                    let head = whole.split('.').next().unwrap_or("").to_string();
                    (head.clone(), head, next)
                };
            self.imports.push(Import {
                scope,
                tok: toks.start,
                kind: ImportKind::Module {
                    local,
                    module,
                    whole,
                },
            });
            if self.t(after) != b"," {
                break;
            }
            i = after + 1;
        }
    }

    fn import_from(&mut self, scope: usize, toks: Range<usize>) {
        for m in &mut self.not_mention[toks.clone()] {
            *m = true;
        }
        let mut i = toks.start + 1;
        let mut level = 0;
        while i < toks.end && matches!(self.t(i), b"." | b"...") {
            level += self.t(i).len();
            i += 1;
        }
        let (module, next) = match self.dotted(i, toks.end) {
            Some((m, n)) if self.t(i) != b"import" => (m, n),
            _ => (String::new(), i),
        };
        if self.t(next) != b"import" {
            return;
        }
        let mut i = next + 1;
        if self.t(i) == b"*" {
            self.imports.push(Import {
                scope,
                tok: toks.start,
                kind: ImportKind::Star { level, module },
            });
            return;
        }
        while i < toks.end {
            match self.t(i) {
                b"(" | b")" | b"," => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if self.kind(i) != Some(Kind::Name) {
                break;
            }
            let name = self.s(i).to_string();
            let (local, after) = if self.t(i + 1) == b"as" && self.kind(i + 2) == Some(Kind::Name) {
                (self.s(i + 2).to_string(), i + 3)
            } else {
                (name.clone(), i + 1)
            };
            self.imports.push(Import {
                scope,
                tok: toks.start,
                kind: ImportKind::From {
                    level,
                    module: module.clone(),
                    name,
                    local,
                },
            });
            i = after;
        }
    }

    /// `for NAME in [a, b, ...]:` binds NAME to each element of a literal list or tuple
    /// (the loop over file-name constants that a loader tries in turn).
    fn for_items(&mut self, scope: usize, toks: Range<usize>) {
        let Some(inn) = self.find_op(toks.clone(), b"in") else {
            return;
        };
        let names = self.targets(toks.start..inn);
        let [name] = names.as_slice() else {
            return;
        };
        let open = inn + 1;
        if !matches!(self.t(open), b"[" | b"(")
            || self.closing(open, toks.end) != Some(toks.end - 1)
        {
            return;
        }
        for v in self.split_commas(open + 1..toks.end - 1) {
            self.assigns.push(Assign {
                scope,
                target: name.clone(),
                value: v,
            });
        }
    }

    /// `with EXPR as NAME, ...:` binds NAME to EXPR (and the body may be inline).
    fn with_items(&mut self, scope: usize, toks: Range<usize>) {
        let mut i = toks.start;
        if self.t(i) == b"async" {
            i += 1;
        }
        if self.t(i) != b"with" {
            // `async for`, `async def` (handled elsewhere): look for an inline body.
            if let Some(c) = self.find_op(toks.clone(), b":") {
                self.simple(scope, c + 1..toks.end);
            }
            return;
        }
        let Some(colon) = self.find_op(i + 1..toks.end, b":") else {
            return;
        };
        let mut item = i + 1;
        while item < colon {
            let end = self.find_op(item..colon, b",").unwrap_or(colon);
            if let Some(a) = self.find_op(item..end, b"as")
                && self.kind(a + 1) == Some(Kind::Name)
            {
                self.assigns.push(Assign {
                    scope,
                    target: self.s(a + 1).to_string(),
                    value: item..a,
                });
            }
            item = end + 1;
        }
        self.simple(scope, colon + 1..toks.end);
    }

    fn assignment(&mut self, scope: usize, toks: Range<usize>) {
        // Split at top-level `=`: every part but the last is a target.
        let mut parts = Vec::new();
        let mut start = toks.start;
        while let Some(eq) = self.find_op(start..toks.end, b"=") {
            parts.push(start..eq);
            start = eq + 1;
        }
        if parts.is_empty() {
            return;
        }
        let value = start..toks.end;
        for target in parts {
            // `x: T = v`: drop the annotation.
            let target = match self.find_op(target.clone(), b":") {
                Some(c) => target.start..c,
                None => target,
            };
            let names = self.targets(target.clone());
            // The value is split only for several names (`a, b = x, y`).
            let values = if names.len() > 1 {
                self.split_commas(value.clone())
            } else {
                Vec::new()
            };
            if names.len() > 1 && names.len() == values.len() {
                for (n, v) in names.into_iter().zip(values) {
                    self.assigns.push(Assign {
                        scope,
                        target: n,
                        value: v,
                    });
                }
            } else {
                for n in names {
                    self.assigns.push(Assign {
                        scope,
                        target: n,
                        value: value.clone(),
                    });
                }
            }
        }
    }

    /// The names (or `self.x`) of an assignment target list. A target's shape is
    /// checked on its tokens before its text is built: most targets are plain names,
    /// and the others (`a[i]`, `x.y.z`) are dropped.
    fn targets(&self, toks: Range<usize>) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = toks.start;
        while start < toks.end {
            let end = self.find_op(start..toks.end, b",").unwrap_or(toks.end);
            if end > start {
                let r = if self.t(start) == b"(" || self.t(start) == b"[" {
                    start + 1..end.saturating_sub(1)
                } else {
                    start..end
                };
                if let Some(name) = self.target(r) {
                    out.push(name);
                }
            }
            start = end + 1;
        }
        out
    }

    /// One target: exactly a name, or `self.name` / `cls.name`.
    fn target(&self, r: Range<usize>) -> Option<String> {
        if r.start >= r.end || self.kind(r.start) != Some(Kind::Name) {
            return None;
        }
        match r.end - r.start {
            1 => Some(self.s(r.start).to_string()),
            3 if matches!(self.s(r.start), "self" | "cls")
                && self.t(r.start + 1) == b"."
                && self.kind(r.start + 2) == Some(Kind::Name) =>
            {
                let mut name = self.s(r.start).to_string();
                name.push('.');
                name.push_str(self.s(r.start + 2));
                Some(name)
            }
            _ => None,
        }
    }

    fn split_commas(&self, toks: Range<usize>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = toks.start;
        while start < toks.end {
            let end = self.find_op(start..toks.end, b",").unwrap_or(toks.end);
            if end > start {
                out.push(start..end);
            }
            start = end + 1;
        }
        out
    }
}

/// The first eight bytes of `b` as a big-endian integer, zero-padded: for byte strings
/// without NUL bytes, comparing keys orders as comparing the strings, up to ties.
fn prefix_key(b: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    let n = b.len().min(8);
    k[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(k)
}

/// An identifier-like string a reflective scope may look up (ASCII, at most 64 bytes).
fn identifier(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !v.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_named<'a>(o: &'a Outline, name: &str) -> (usize, &'a Scope) {
        o.scopes
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
            .unwrap_or_else(|| panic!("no scope {name}"))
    }

    #[test]
    fn scopes_nest_by_indentation() {
        let src = "import os\n@deco(os.popen('x'))\ndef f(a=os.system('d')):\n    g()\n    class K(Base, metaclass=M):\n        y = h()\n        def m(self): return self.n()\n    after_k()\nz()\nif __name__ == '__main__':\n    main()\nelse:\n    other()\n";
        let o = Outline::new(src.as_bytes());
        let at = |needle: &str| o.scope_at(src.find(needle).unwrap());
        let (f, _) = scope_named(&o, "f");
        let (k, ks) = scope_named(&o, "K");
        let (m, _) = scope_named(&o, "m");
        let (g, _) = scope_named(&o, "__main__");
        assert_eq!(at("g()"), f);
        assert_eq!(at("y = h()"), k);
        assert_eq!(at("self.n()"), m);
        assert_eq!(at("after_k()"), f);
        assert_eq!(at("z()"), 0);
        assert_eq!(at("main()"), g);
        assert_eq!(at("other()"), 0);
        // Decorators and defaults run in the enclosing scope, and say so.
        assert_eq!(at("os.popen"), 0);
        assert_eq!(at("os.system"), 0);
        let t = o.token_at(src.find("os.popen").unwrap()).unwrap();
        assert_eq!(o.detail(0, t), Some("decorator"));
        let t = o.token_at(src.find("os.system").unwrap()).unwrap();
        assert_eq!(o.detail(0, t), Some("default argument"));
        assert_eq!(ks.bases, ["Base"]);
        assert_eq!(ks.metaclass.as_deref(), Some("M"));
        assert_eq!(o.qualname(m), "f.K.m");
        assert!(o.scopes[f].mentions.iter().any(|x| x == "after_k"));
        assert!(o.scopes[m].mentions.iter().any(|x| x == "n"));
        assert!(!o.scopes[f].mentions.iter().any(|x| x == "n"));
        assert_eq!(o.scopes[f].decorator_names, ["deco"]);
    }

    #[test]
    fn imports_and_assignments_bind_names() {
        let src = "import os.path, subprocess as sp\nfrom ..pkg.mod import (a, b as c)\nfrom . import x\nfrom os import *\nrun = sp.Popen; p: int = 3\na, b = os.system, 2\nwith open(f) as fh: pass\ndef f():\n    import socket\n    self.h = socket.socket\n";
        let o = Outline::new(src.as_bytes());
        let kinds: Vec<&ImportKind> = o.imports.iter().map(|i| &i.kind).collect();
        assert_eq!(
            kinds[0],
            &ImportKind::Module {
                local: "os".into(),
                module: "os".into(),
                whole: "os.path".into()
            }
        );
        assert_eq!(
            kinds[1],
            &ImportKind::Module {
                local: "sp".into(),
                module: "subprocess".into(),
                whole: "subprocess".into()
            }
        );
        assert_eq!(
            kinds[3],
            &ImportKind::From {
                level: 2,
                module: "pkg.mod".into(),
                name: "b".into(),
                local: "c".into()
            }
        );
        assert_eq!(
            kinds[4],
            &ImportKind::From {
                level: 1,
                module: "".into(),
                name: "x".into(),
                local: "x".into()
            }
        );
        assert_eq!(
            kinds[5],
            &ImportKind::Star {
                level: 0,
                module: "os".into()
            }
        );
        let (f, _) = scope_named(&o, "f");
        assert_eq!(o.imports[6].scope, f);
        let value = |target: &str| {
            let a = o
                .assigns
                .iter()
                .find(|a| a.target == target)
                .unwrap_or_else(|| panic!("{target}: {:?}", o.assigns));
            let s = o.lexed.toks[a.value.start].start as usize;
            let e = o.lexed.toks[a.value.end - 1].end as usize;
            (a.scope, &src[s..e])
        };
        assert_eq!(value("run"), (0, "sp.Popen"));
        assert_eq!(value("a"), (0, "os.system"));
        assert_eq!(value("fh"), (0, "open(f)"));
        assert_eq!(value("self.h"), (f, "socket.socket"));
    }

    #[test]
    fn inline_bodies_and_lambdas() {
        let src = "def f(): return os.system('x')\nclass K: y = 1\nq()\n";
        let o = Outline::new(src.as_bytes());
        let (f, _) = scope_named(&o, "f");
        assert_eq!(o.scope_at(src.find("os.system").unwrap()), f);
        assert_eq!(o.scope_at(src.find("q()").unwrap()), 0);
    }

    #[test]
    fn reflective_scopes_record_strings() {
        let src = "def f(o):\n    return getattr(o, 'payload')()\ndef g():\n    return 'payload2'\ndef h(m):\n    return getattr(m, '_warm' + '_cache')()\ndef k():\n    return 'a' + 'b'\n";
        let o = Outline::new(src.as_bytes());
        assert!(scope_named(&o, "f").1.strings.contains("payload"));
        assert!(scope_named(&o, "g").1.strings.is_empty());
        // A name split in pieces is recorded as the name it folds to.
        assert!(scope_named(&o, "h").1.strings.contains("_warm_cache"));
        assert!(scope_named(&o, "k").1.strings.is_empty());
    }

    #[test]
    fn annotations_and_bases_are_not_mentions() {
        let src = "class K(Base, mixin()):
    x: Cfg = make()
    def f(self, a: Ann = dflt(), *b: Star) -> Ret:
        y: Inner
";
        let o = Outline::new(src.as_bytes());
        let m = &o.scopes[0].mentions;
        assert!(
            m.iter().any(|x| x == "mixin") && !m.iter().any(|x| x == "K"),
            "{m:?}"
        );
        for n in ["Base", "Ann", "Star", "Ret"] {
            assert!(!m.iter().any(|x| x == n), "{n}: {m:?}");
        }
        let (k, ks) = scope_named(&o, "K");
        assert!(ks.mentions.iter().any(|x| x == "make") && ks.mentions.iter().any(|x| x == "dflt"));
        assert!(!ks.mentions.iter().any(|x| x == "Cfg") && !ks.mentions.iter().any(|x| x == "f"));
        let (f, fs) = scope_named(&o, "f");
        assert!(
            !fs.mentions.iter().any(|x| x == "Inner"),
            "{:?}",
            fs.mentions
        );
        assert_ne!(k, f);
    }

    /// The qualified scope of every identifier per tree-sitter (the innermost function,
    /// class or `__main__` guard body holding it), `.`-joined.
    fn tree_scopes(src: &[u8]) -> Vec<(usize, String)> {
        let tree = crate::scan::query::parse(src).expect("parses");
        let mut out = Vec::new();
        fn walk(
            n: tree_sitter::Node,
            src: &[u8],
            stack: &mut Vec<String>,
            out: &mut Vec<(usize, String)>,
        ) {
            if n.kind() == "identifier" {
                out.push((n.start_byte(), stack.join(".")));
            }
            let mut c = n.walk();
            for child in n.children(&mut c) {
                let pushed = match n.kind() {
                    "function_definition" | "class_definition"
                        if n.child_by_field_name("body").map(|b| b.id()) == Some(child.id()) =>
                    {
                        let name = n
                            .child_by_field_name("name")
                            .and_then(|x| x.utf8_text(src).ok())
                            .unwrap_or("?");
                        stack.push(name.to_string());
                        true
                    }
                    "if_statement"
                        if n.child_by_field_name("consequence").map(|b| b.id())
                            == Some(child.id())
                            && n.child_by_field_name("condition")
                                .and_then(|c| c.utf8_text(src).ok())
                                .is_some_and(|t| {
                                    let t: String =
                                        t.chars().filter(|c| !c.is_whitespace()).collect();
                                    t == "__name__==\"__main__\"" || t == "__name__=='__main__'"
                                }) =>
                    {
                        stack.push("__main__".to_string());
                        true
                    }
                    _ => false,
                };
                walk(child, src, stack, out);
                if pushed {
                    stack.pop();
                }
            }
        }
        walk(tree.root_node(), src, &mut Vec::new(), &mut out);
        out
    }

    /// Every Python file of the test fixtures and the examples.
    fn fixture_files() -> Vec<std::path::PathBuf> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        python_files(&root.join("tests/fixtures"), &mut files);
        python_files(&root.join("examples"), &mut files);
        files
    }

    fn python_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                python_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "py") {
                out.push(p);
            }
        }
    }

    /// `keyword` and `reflective_name` say what their lists say, for the lists and for
    /// every name of the fixtures and examples.
    #[test]
    fn keyword_and_reflective_follow_their_lists() {
        let files = fixture_files();
        let mut names: Vec<String> = KEYWORDS
            .iter()
            .chain(REFLECTIVE)
            .map(|s| s.to_string())
            .collect();
        for f in &files {
            let src = std::fs::read(f).unwrap();
            for t in lex::lex(&src).toks.iter().filter(|t| t.kind == Kind::Name) {
                names.push(String::from_utf8_lossy(&src[t.range()]).into_owned());
            }
        }
        assert!(names.len() > 1000, "{}", names.len());
        for n in &names {
            assert_eq!(keyword(n), KEYWORDS.contains(&n.as_str()), "{n}");
            assert_eq!(reflective_name(n), REFLECTIVE.contains(&n.as_str()), "{n}");
        }
    }

    /// The ranked (scope, name) pairs give each scope the names that deduplicating
    /// (scope, text) pairs and sorting them gives, for every fixture and example file.
    #[test]
    fn mention_lists_are_each_scopes_sorted_names() {
        let mut scopes = 0usize;
        for f in fixture_files() {
            let src = std::fs::read(&f).unwrap();
            let mut b = Builder::new(&src, lex::lex(&src));
            b.index_seps();
            let owner = b.scopes_and_owner();
            let mut want: Vec<BTreeSet<String>> = vec![BTreeSet::new(); b.scopes.len()];
            for (i, t) in b.lexed.toks.iter().enumerate() {
                let name = std::str::from_utf8(&src[t.range()]).unwrap_or("");
                if t.kind == Kind::Name && !b.not_mention[i] && !keyword(name) {
                    want[owner[i] as usize].insert(name.to_string());
                }
            }
            let mut got: Vec<Vec<String>> = vec![Vec::new(); b.scopes.len()];
            for (s, names) in b.mention_lists(&owner) {
                assert!(got[s].is_empty(), "{}: scope {s} twice", f.display());
                got[s] = names;
            }
            for (s, (g, w)) in got.iter().zip(&want).enumerate() {
                let w: Vec<String> = w.iter().cloned().collect();
                assert_eq!(g, &w, "{}: scope {s}", f.display());
                scopes += 1;
            }
        }
        assert!(scopes > 300, "{scopes}");
    }

    /// `find_op` from the per-file operator lists answers what the token-by-token scan
    /// answers, for every operator it lists, from every token of every logical line (and
    /// from inside brackets, where the depth at the start is not the line's).
    #[test]
    fn listed_operators_find_what_the_scan_finds() {
        let files = fixture_files();
        // `==` is not listed: the scan answers it.
        let ops: Vec<&[u8]> = SEPS.iter().copied().chain([&b"=="[..]]).collect();
        let mut checked = 0usize;
        for f in &files {
            let src = std::fs::read(f).unwrap();
            let mut b = Builder::new(&src, lex::lex(&src));
            b.index_seps();
            for line in &b.lexed.lines {
                let end = line.toks.end.min(line.toks.start + 64);
                for start in line.toks.start..=end {
                    for &op in &ops {
                        for stop in [end, line.toks.end] {
                            let want = b.find_op_scan(start..stop, op);
                            assert_eq!(
                                b.find_op(start..stop, op),
                                want,
                                "{}: {start}..{stop} {:?}",
                                f.display(),
                                String::from_utf8_lossy(op)
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    /// The outline puts every identifier in the scope tree-sitter puts it in, over every
    /// Python file of the test fixtures and examples (and a corpus named by
    /// `HUBWARDEN_OUTLINE_CORPUS`, for the benchmark).
    #[test]
    fn scopes_agree_with_tree_sitter() {
        let mut files = fixture_files();
        if let Some(extra) = std::env::var_os("HUBWARDEN_OUTLINE_CORPUS") {
            python_files(std::path::Path::new(&extra), &mut files);
        }
        assert!(files.len() > 30);
        let mut checked = 0;
        let mut bad = Vec::new();
        for f in &files {
            let src = std::fs::read(f).unwrap();
            let tree = crate::scan::query::parse(&src).unwrap();
            if tree.root_node().has_error() {
                continue;
            }
            let o = Outline::new(&src);
            for (at, want) in tree_scopes(&src) {
                let got = o.qualname(o.scope_at(at));
                checked += 1;
                if got != want {
                    bad.push(format!(
                        "{}:{at}: outline {got:?}, tree-sitter {want:?}",
                        f.display()
                    ));
                }
            }
        }
        assert!(checked > 1000, "{checked}");
        assert!(
            bad.is_empty(),
            "{} of {checked}:\n{}",
            bad.len(),
            bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}
