//! Capabilities, not spellings: every name a fetched file uses is resolved to what it really
//! is, across the files of the target (imports under any name, `from x import *`, relative
//! imports of fetched modules, assignments, `__import__`/`importlib.import_module` of
//! literal names, `getattr`/`vars`/`__dict__`/`sys.modules` lookups with literal names), and
//! each reference to an API of the capability catalogue (`rules/genre/capabilities.yml`) is
//! reported under the capability's rule, with the level it has at import or load time.
//! Lookups by computed names on dangerous objects are the reflection capability, imports of
//! computed names the dynamic-code one. Imports of modules outside the genre profile
//! (`rules/genre/profile.yml`) are reported too: what is unknown is never silently clean.
//!
//! Works on the tokens and outlines of the files (no tree-sitter), like the call graph.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher as _;
use std::ops::Range;
use std::rc::Rc;

use super::catalogue::Catalogue;
use super::fold;
use super::lex::{self, Kind};
use super::outline::{ImportKind, Outline, ScopeKind};
use super::reach::{Unit, module_name};
use crate::model::Level;

/// Maps and sets keyed by a file's names (attacker-controlled): foldhash, seeded per map, is
/// several times cheaper than SipHash on short names, and the scan hashes a name or two per
/// token ([`fold::Assigns`] is one too).
type Map<K, V> = foldhash::HashMap<K, V>;
type Set<T> = foldhash::HashSet<T>;

/// The rule of imports outside the genre profile.
pub(crate) const OUT_OF_PROFILE: &str = "out-of-profile-import";

/// Builtins whose use the catalogue can name (`builtins.exec`); any other unbound name is
/// a local or unknown value.
const BUILTINS: &[&str] = &[
    "exec",
    "eval",
    "compile",
    "__import__",
    "breakpoint",
    "getattr",
    "vars",
    "globals",
    "locals",
    "open",
    "object",
    "type",
];

/// Capability of a resolved name.
#[derive(Clone, Debug)]
struct Cap {
    key: String,
    rule: String,
    build_tools: Vec<String>,
    /// Tool -> arguments with which it runs more than a build.
    build_tool_unsafe_args: BTreeMap<String, Vec<String>>,
    system_libraries: Vec<regex::Regex>,
    standard_files: Vec<String>,
    data_extensions: Vec<String>,
}

/// The catalogue, compiled for matching.
#[derive(Clone, Debug, Default)]
pub(crate) struct Compiled {
    caps: Vec<Cap>,
    /// API patterns as segments (`*` globs within a segment), with their capability.
    apis: Vec<(Vec<String>, usize)>,
    /// Indexes in `apis` by first segment (`classify` tries only those), in order.
    by_first: Map<String, Vec<usize>>,
    /// Indexes in `apis` of patterns whose first segment is a glob.
    first_globs: Vec<usize>,
    /// `*.name` patterns: the segments after the leading `*`.
    suffixes: Vec<(Vec<String>, usize)>,
    /// Module -> (capability, attributes that are not the capability).
    modules: Map<String, (usize, Set<String>)>,
    /// The first segments of `modules`: a name that starts otherwise is below no module
    /// (`classify` joins a parent's segments only for the others).
    module_heads: Set<String>,
    reflection_targets: Set<String>,
    /// `functools.partial` and the like (see [`V::Partial`]).
    binders: Set<String>,
    /// Last segments (globs) of the process and dynamic-code APIs of the reflection
    /// targets (`system`, `spawn*`, `exec`): what a getter must not name.
    dangerous_names: Vec<String>,
    reflection: Option<usize>,
    dynamic: Option<usize>,
    /// The capability of names built at run time (`computed-name`), and those names.
    computed: Option<usize>,
    names: Set<String>,
    profile: Vec<String>,
    /// Words one of which a file must contain for a capability to be reachable from it.
    prefilter: Option<regex::bytes::Regex>,
}

/// One capability use (or out-of-profile import) in a file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CapHit {
    /// The rule (a capability's, or `out-of-profile-import`).
    pub rule: String,
    pub start: usize,
    pub end: usize,
    /// What it is: the resolved API, or the module imported.
    pub what: String,
    /// The level where it runs at import or load time.
    pub load_level: Level,
    /// Why that level, or what the reference goes through; may be empty.
    pub note: String,
    /// The level is lower than the capability's because of what the call names (a build
    /// tool, a system library, a data file): this verdict replaces a rule's for the call.
    pub lowered: bool,
    /// Names the call's arguments mention (assignments of a named command followed).
    pub mentions: Vec<String>,
}

fn glob(p: &str, s: &str) -> bool {
    if p == "*" {
        return true;
    }
    if let Some(rest) = p.strip_prefix('*') {
        return s.ends_with(rest);
    }
    match p.strip_suffix('*') {
        Some(pre) => s.starts_with(pre),
        None => p == s,
    }
}

fn segs(s: &str) -> Vec<String> {
    s.split('.').map(str::to_string).collect()
}

impl Compiled {
    pub(crate) fn new(cat: &Catalogue) -> Compiled {
        let mut c = Compiled {
            profile: cat.profile.clone(),
            ..Compiled::default()
        };
        let mut words: BTreeSet<String> = BTreeSet::new();
        // `operator` getters name what they look up (`methodcaller("system")`).
        for w in ["__builtins__", "__builtin__", "operator"] {
            words.insert(w.to_string());
        }
        for w in BUILTINS {
            if !matches!(
                *w,
                "open" | "vars" | "globals" | "locals" | "getattr" | "object" | "type"
            ) {
                words.insert(w.to_string());
            }
        }
        for (key, cap) in &cat.capabilities {
            let idx = c.caps.len();
            c.caps.push(Cap {
                key: key.clone(),
                rule: cap.rule.clone(),
                build_tools: cap.build_tools.clone(),
                build_tool_unsafe_args: cap.build_tool_unsafe_args.clone(),
                // Validated when the catalogue was loaded.
                system_libraries: cap
                    .system_libraries
                    .iter()
                    .filter_map(|r| regex::Regex::new(r).ok())
                    .collect(),
                standard_files: cap.standard_files.clone(),
                data_extensions: cap.data_extensions.clone(),
            });
            if !cap.reflection_targets.is_empty() {
                c.reflection = Some(idx);
                c.reflection_targets
                    .extend(cap.reflection_targets.iter().cloned());
            }
            c.binders.extend(cap.binders.iter().cloned());
            if !cap.names.is_empty() {
                c.computed = Some(idx);
                c.names.extend(cap.names.iter().cloned());
                // The decoders a fold reads (a file that only splits its strings has
                // other words of the catalogue: what it calls).
                for w in ["chr", "join", "decode", "fromhex", "codecs", "binascii"] {
                    words.insert(w.to_string());
                }
            }
            if key == "dynamic-code" {
                c.dynamic = Some(idx);
            }
            for api in &cap.apis {
                let s = segs(api);
                // A use needs the module's name in the file (an import), or a suffix
                // pattern's name.
                let w = if s[0] == "*" { s.last() } else { s.first() };
                if let Some(w) = w {
                    let w = w.trim_matches('*').trim_end_matches("()");
                    if !w.is_empty() {
                        words.insert(w.to_string());
                    }
                }
                if s[0] == "*" {
                    c.suffixes.push((s[1..].to_vec(), idx));
                } else {
                    c.apis.push((s, idx));
                }
            }
            for (m, safe) in &cap.modules {
                words.insert(m.split('.').next().unwrap_or(m).to_string());
                c.module_heads
                    .insert(m.split('.').next().unwrap_or(m).to_string());
                c.modules
                    .insert(m.clone(), (idx, safe.iter().cloned().collect()));
            }
        }
        for (k, (p, _)) in c.apis.iter().enumerate() {
            if p[0].contains('*') {
                c.first_globs.push(k);
            } else {
                c.by_first.entry(p[0].clone()).or_default().push(k);
            }
        }
        for (p, cap) in &c.apis {
            let key = c.caps[*cap].key.as_str();
            if matches!(key, "process" | "dynamic-code")
                && c.reflection_targets.contains(&p[0])
                && let Some(last) = p.last()
                && !last.contains("()")
                && !c.dangerous_names.contains(last)
            {
                c.dangerous_names.push(last.clone());
            }
        }
        // Every attribute of a process module is the capability (`subprocess.run`).
        c.dangerous_names.extend(
            [
                "Popen",
                "run",
                "call",
                "check_call",
                "check_output",
                "getoutput",
                "getstatusoutput",
            ]
            .map(String::from),
        );
        let alternation = words
            .iter()
            .map(|w| regex::escape(w))
            .collect::<Vec<_>>()
            .join("|");
        // A relative import may bring a capability from another fetched file.
        c.prefilter = regex::bytes::Regex::new(&format!(r"\b(?:{alternation})\b|from\s+\.")).ok();
        c
    }

    /// Can a capability be reached from this file on its own (a word of the catalogue
    /// appears), or does it import a module outside the profile? Cheap, on the bytes.
    pub(crate) fn wanted(&self, src: &[u8]) -> bool {
        self.prefilter.as_ref().is_none_or(|r| r.is_match(src)) || self.foreign_import(src)
    }

    /// A line `import x` / `from x import` with `x` outside the profile.
    fn foreign_import(&self, src: &[u8]) -> bool {
        for line in src.split(|&b| b == b'\n') {
            let t = line.trim_ascii_start();
            let rest = if let Some(r) = t.strip_prefix(b"import ") {
                r
            } else if let Some(r) = t.strip_prefix(b"from ") {
                r
            } else {
                continue;
            };
            let rest = rest.trim_ascii_start();
            if rest.first() == Some(&b'.') {
                continue;
            }
            let end = rest
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.'))
                .unwrap_or(rest.len());
            let name = String::from_utf8_lossy(&rest[..end]);
            if !name.is_empty() && !self.in_profile(&name) {
                return true;
            }
        }
        false
    }

    /// Does a getter's literal name name a dangerous function (`system`, `spawnv`)?
    fn dangerous_name(&self, name: &str) -> bool {
        self.dangerous_names.iter().any(|p| glob(p, name))
    }

    /// Is a module (or one of its parents) in the genre profile?
    pub(crate) fn in_profile(&self, module: &str) -> bool {
        self.profile.iter().any(|p| {
            module == p
                || module
                    .strip_prefix(p.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        })
    }

    /// The capability key of a dotted (or `module:attr`) API name, as written in a string.
    fn named_capability(&self, v: &str) -> Option<String> {
        if v.matches(':').count() > 1 || !v.contains(['.', ':']) {
            return None;
        }
        let q = v.replacen(':', ".", 1);
        let dotted = q.split('.').all(|p| {
            p.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if !dotted {
            return None;
        }
        self.classify(&q, true).map(|k| self.caps[k].key.clone())
    }

    /// The capability a module belongs to (for the out-of-profile message).
    fn module_capability(&self, module: &str) -> Option<&str> {
        let mut m = module;
        loop {
            if let Some((c, _)) = self.modules.get(m) {
                return Some(&self.caps[*c].key);
            }
            // The first pattern whose first segment is `m`: from the index, and among the
            // globbed first segments (which a module name cannot spell, but as written).
            let named = self.by_first.get(m).and_then(|ks| ks.first().copied());
            let globbed = self
                .first_globs
                .iter()
                .copied()
                .find(|&k| self.apis[k].0[0] == m);
            if let Some(k) = named.into_iter().chain(globbed).min() {
                return Some(&self.caps[self.apis[k].1].key);
            }
            m = m.rsplit_once('.')?.0;
        }
    }

    /// The capability of a resolved dotted name, if it is one.
    fn classify(&self, q: &str, resolved: bool) -> Option<usize> {
        let s: Vec<&str> = q.split('.').collect();
        self.classify_segs(&s, resolved)
    }

    /// [`Compiled::classify`] of the dotted name whose segments are `s`.
    fn classify_segs(&self, s: &[&str], resolved: bool) -> Option<usize> {
        if resolved {
            // The first pattern in catalogue order that matches.
            let matches = |&k: &usize| {
                let p = &self.apis[k].0;
                p.len() == s.len() && p.iter().zip(s).all(|(a, b)| glob(a, b))
            };
            let named = self
                .by_first
                .get(s[0])
                .and_then(|ks| ks.iter().copied().find(|k| matches(k)));
            let globbed = self.first_globs.iter().copied().find(|k| matches(k));
            let first = match (named, globbed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(k) = first {
                return Some(self.apis[k].1);
            }
            // `module.attr`, one segment below a capability module, not a safe name.
            if s.len() >= 2 && self.module_heads.contains(s[0]) {
                let (m, attr) = (s[..s.len() - 1].join("."), s[s.len() - 1]);
                if let Some((c, safe)) = self.modules.get(m.as_str()) {
                    let attr = attr.trim_end_matches("()");
                    // `AF_INET`, `SOCK_STREAM` (not `CDLL` or `FFI`, which are classes).
                    let constant = attr.contains('_')
                        && attr
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                    if !safe.contains(attr) && !constant && !attr.starts_with("__") {
                        return Some(*c);
                    }
                }
            }
        }
        // `torch.hub.os.system`: a module re-exports the modules it imported, so a
        // dangerous module reached as an attribute of another is that module.
        if resolved && s.len() > 2 {
            for k in 1..s.len() - 1 {
                if (self.reflection_targets.contains(s[k]) || self.modules.contains_key(s[k]))
                    && let Some(c) = self.classify_segs(&s[k..], true)
                {
                    return Some(c);
                }
            }
        }
        for (p, c) in &self.suffixes {
            if s.len() > p.len()
                && p.iter()
                    .zip(&s[s.len() - p.len()..])
                    .all(|(a, b)| glob(a, b))
            {
                return Some(*c);
            }
        }
        None
    }
}

/// What a name or expression stands for. Small and `Copy`: values are copied into every
/// step of every chain and every cache hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum V {
    /// A name outside the fetched files, fully qualified (`subprocess.Popen`, a
    /// [`Paths`] id); `bound`: the head came through an assignment (its own line reports
    /// it).
    Ext { q: u32, bound: usize },
    /// A fetched module.
    Unit(usize),
    /// Something of the fetched code, or unknown: nothing to report.
    Opaque,
    /// A local value reached by attribute access: `x.y` as written (for `*.name` entries,
    /// a [`Paths`] id).
    Raw(u32),
    /// `operator.attrgetter(name)` / `methodcaller(name, ...)` / `itemgetter(key)`: a
    /// function that looks `name` up on what it is given (`None`: a computed name; else
    /// an id of `Resolver::strs`).
    Getter { name: Option<u32>, item: bool },
    /// A `functools.partial(...)`: an id of `Resolver::partials`.
    Partial(u32),
}

/// `functools.partial(func, *args)` written in unit `unit`: calling it calls `func` with
/// `args` (token ranges of that unit) before the new ones.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Partial {
    unit: usize,
    func: V,
    args: Vec<Range<usize>>,
}

/// One file's bindings, borrowed from its outline.
#[derive(Default)]
struct Env<'a> {
    imports: Map<&'a str, Vec<&'a ImportKind>>,
    assigns: fold::Assigns<'a>,
    /// The `x` of the assigned names `self.x` and `cls.x` (`Resolver::chain` asks about
    /// every `self.x` it meets without building the name).
    own: [Set<&'a str>; 2],
    /// Functions and classes defined at module or function level.
    defs: Set<&'a str>,
    stars: Vec<(usize, &'a str)>,
}

struct Resolver<'a> {
    units: &'a [Unit<'a>],
    /// Each unit's source as text when it is valid UTF-8 (once per file, instead of
    /// validating every name token a chain reads).
    texts: Vec<Option<&'a str>>,
    c: &'a Compiled,
    envs: Vec<Env<'a>>,
    modules: Map<String, usize>,
    /// Hits found while evaluating (computed imports, reflective lookups), per unit.
    side: Vec<Vec<CapHit>>,
    /// Evaluations in progress (name ids, see `ids`), against cycles.
    active: Vec<u32>,
    /// Names as small numbers, per unit (for `active` and the footprints).
    ids: Vec<Map<String, u32>>,
    next_id: u32,
    /// For each evaluation in progress, the names that asked about so far got past the
    /// depth limit: the names whose being in progress or not could change its value.
    footprints: Vec<Bits>,
    /// Values of names whose evaluation met a cycle back to itself or to what was in
    /// progress, by name id: see [`Cyclic`].
    cyclic: Map<u32, Vec<Cyclic>>,
    /// Values of names looked up from a file's own code (depth 0, where nothing is in
    /// progress), by name id.
    cache: Vec<Option<Vec<V>>>,
    /// `head` of a name at depth 0, by name id: every use of a name in the file starts a
    /// chain there, and asking again only repeats the same lookups (see `head`).
    heads: Vec<Option<Vec<V>>>,
    /// Does the file bind the name (an import, an assignment, a definition), by name id.
    binds: Vec<bool>,
    /// Values of names whose evaluation met no depth limit and no cycle, by name id, with
    /// how many levels below it the evaluation went (see `name_value`).
    memo: Vec<Option<(Vec<V>, usize)>>,
    /// Values of names whose evaluation met a depth limit but no cycle back to what was in
    /// progress, by name id, by the depth they were asked at.
    at_depth: Vec<Option<Vec<Option<Vec<V>>>>>,
    /// Depth limits met so far: an evaluation during which this grows depends on the
    /// depth it was asked at, and is not memoised.
    cuts: usize,
    /// The lowest position in `active` that a cycle met by the evaluations in progress
    /// went back to (a name referring to itself directly excepted): an evaluation at or
    /// above it depends on what was in progress, and is not memoised.
    low: usize,
    /// The deepest depth an evaluation in progress has reached.
    deepest: usize,
    /// Names evaluated (not taken from a cache): the work, for the tests' bounds.
    evals: usize,
    /// `closers` of each unit: chains are walked from every name, and scanning for the
    /// closing bracket each time is quadratic in nested or long calls.
    closers: Vec<Vec<u32>>,
    /// The dotted names of `V::Ext` and `V::Raw`.
    paths: Paths,
    /// Ids of the names `call` treats apart from an ordinary call (see `call`).
    special: Set<u32>,
    /// The getters' names (`V::Getter`), interned: equal ids are equal names.
    strs: Vec<String>,
    str_ids: Map<String, u32>,
    /// The partials (`V::Partial`), interned: equal ids are equal partials.
    partials: Vec<Partial>,
    partial_ids: Map<Partial, u32>,
    builtins: u32,
    /// `builtins.__import__`, `importlib.import_module`, `importlib.__import__`.
    import_fns: [u32; 3],
    /// The steps of the last use's chain (`chain` with `steps`), reused from use to use:
    /// the values after each step lie in `step_vals`.
    steps: Vec<Step>,
    step_vals: Vec<V>,
    /// The values of the last use's chain, kept for the next one's (see `chain`).
    use_vals: Vec<V>,
}

/// Names whose call is not just `name()` (see `Resolver::call`), besides the binders and
/// the `__getattribute__`/`__dict__.get`/`sys.modules.get` lookups.
const SPECIAL_CALLS: &[&str] = &[
    "operator.attrgetter",
    "operator.methodcaller",
    "operator.itemgetter",
    "builtins.object.__getattribute__",
    "builtins.type.__getattribute__",
    "inspect.getattr_static",
    "builtins.__import__",
    "importlib.import_module",
    "importlib.__import__",
    "builtins.getattr",
    "builtins.vars",
    "builtins.globals",
    "builtins.locals",
    "pydoc.locate",
    "pkgutil.resolve_name",
];

/// A name's value from an evaluation that met a cycle back to itself or to an evaluation
/// in progress, with what it depends on.
struct Cyclic {
    depth: usize,
    /// The names asked about during the evaluation (see `Resolver::footprints`).
    footprint: Bits,
    /// Those of them that were in progress (the cycles it met below itself).
    met: Vec<u32>,
    vals: Vec<V>,
    /// It met a depth limit.
    cut: bool,
    /// The deepest depth it reached.
    deepest: usize,
}

/// A set of name ids.
#[derive(Clone, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn insert(&mut self, i: u32) {
        let (w, b) = (i as usize / 64, i % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << b;
    }

    fn contains(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn union(&mut self, o: &Bits) {
        if self.0.len() < o.0.len() {
            self.0.resize(o.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }
}

/// Dotted names (`subprocess.Popen`, `x.y()`) as ids of an arena of (parent, segment):
/// every attribute step of every chain makes one, and as Strings each step formatted a
/// new name for each value and every cached value was cloned text. The arena is
/// canonical (a text has one id: its segments split at `.`, empty ones too), so equal ids
/// are equal texts and what depends only on the text (its capability) is kept per id.
#[derive(Default)]
struct Paths {
    nodes: Vec<PathNode>,
    /// Segment texts, interned.
    seg_ids: Map<Rc<str>, u32>,
    /// The same texts as `seg_ids`' keys (one allocation per segment).
    segs: Vec<Rc<str>>,
    /// (parent or [`ROOT`], segment) -> id, keyed `parent << 32 | segment`.
    children: HashMap<u64, u32, IdHash>,
}

/// Hashes the arena's own keys (numbers it hands out in the order the file's names come):
/// a seeded 64-bit finaliser instead of SipHash over the bytes. The seed is random per
/// resolver, so a file cannot arrange for its names to collide.
#[derive(Clone)]
struct IdHash(u64);

impl Default for IdHash {
    fn default() -> IdHash {
        IdHash(std::hash::RandomState::new().hash_one(0x5eed_u64))
    }
}

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.0)
    }
}

struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    /// MurmurHash3's `fmix64`: every bit of the key moves every bit of the hash.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

struct PathNode {
    parent: u32,
    seg: u32,
    /// Segments in the text (`q.split('.').count()`).
    len: u32,
    /// The id of the text with `()` appended (a call), once asked.
    called: u32,
    /// `Compiled::classify` of the text, resolved and not: `None` until asked.
    class: [Option<Option<usize>>; 2],
}

/// The parent of a one-segment path.
const ROOT: u32 = u32::MAX;

impl Paths {
    fn seg(&mut self, s: &str) -> u32 {
        if let Some(&k) = self.seg_ids.get(s) {
            return k;
        }
        let k = self.segs.len() as u32;
        let text: Rc<str> = s.into();
        self.segs.push(Rc::clone(&text));
        self.seg_ids.insert(text, k);
        k
    }

    /// The path `parent.seg` (`seg` holds no `.`).
    fn child(&mut self, parent: u32, seg: &str) -> u32 {
        let s = self.seg(seg);
        self.child_seg(parent, s)
    }

    /// [`Paths::child`] with the segment interned already (`seg`'s id).
    fn child_seg(&mut self, parent: u32, s: u32) -> u32 {
        let key = u64::from(parent) << 32 | u64::from(s);
        if let Some(&id) = self.children.get(&key) {
            return id;
        }
        let id = self.nodes.len() as u32;
        let len = if parent == ROOT {
            1
        } else {
            self.nodes[parent as usize].len + 1
        };
        self.nodes.push(PathNode {
            parent,
            seg: s,
            len,
            called: ROOT,
            class: [None, None],
        });
        self.children.insert(key, id);
        id
    }

    /// The path `q` names (`format!("{q}.{more}")` is `append(id of q, more)`).
    fn append(&mut self, mut id: u32, more: &str) -> u32 {
        for s in more.split('.') {
            id = self.child(id, s);
        }
        id
    }

    fn intern(&mut self, q: &str) -> u32 {
        self.append(ROOT, q)
    }

    /// `q()`: the last segment with the call appended.
    fn called(&mut self, id: u32) -> u32 {
        let n = &self.nodes[id as usize];
        if n.called != ROOT {
            return n.called;
        }
        let (parent, seg) = (n.parent, n.seg);
        let text = format!("{}()", self.segs[seg as usize]);
        let c = self.child(parent, &text);
        self.nodes[id as usize].called = c;
        c
    }

    fn len(&self, id: u32) -> usize {
        self.nodes[id as usize].len as usize
    }

    fn last(&self, id: u32) -> &str {
        &self.segs[self.nodes[id as usize].seg as usize]
    }

    /// [`Compiled::classify`] of path `id`, on the arena's segments (its text split at `.`)
    /// without building the text.
    fn class(&self, c: &Compiled, id: u32, resolved: bool) -> Option<usize> {
        if resolved {
            c.classify_segs(&self.segments(id), true)
        } else {
            self.unresolved_class(id, &c.suffixes)
        }
    }

    /// [`Compiled::classify`] of an unresolved path, where only the `*.name` patterns
    /// apply: matched on the arena's segments, without building the text.
    fn unresolved_class(&self, id: u32, suffixes: &[(Vec<String>, usize)]) -> Option<usize> {
        let n = self.len(id);
        suffixes
            .iter()
            .find(|(p, _)| n > p.len() && self.ends_with(id, p))
            .map(|&(_, c)| c)
    }

    /// Do the last segments of path `id` match the globs `p` (`p.len()` below its length)?
    fn ends_with(&self, mut id: u32, p: &[String]) -> bool {
        for pat in p.iter().rev() {
            let n = &self.nodes[id as usize];
            if !glob(pat, &self.segs[n.seg as usize]) {
                return false;
            }
            id = n.parent;
        }
        true
    }

    /// The segments of path `id`, in order.
    fn segments(&self, mut id: u32) -> Vec<&str> {
        let mut parts = Vec::with_capacity(self.len(id));
        loop {
            let n = &self.nodes[id as usize];
            parts.push(&*self.segs[n.seg as usize]);
            if n.parent == ROOT {
                break;
            }
            id = n.parent;
        }
        parts.reverse();
        parts
    }

    fn text(&self, id: u32) -> String {
        self.segments(id).join(".")
    }
}

/// Evaluations deeper than this are opaque.
const MAX_DEPTH: usize = 8;

fn tok_text<'s>(u: &Unit<'s>, i: usize) -> &'s [u8] {
    u.outline
        .lexed
        .toks
        .get(i)
        .map_or(&[][..], |t| &u.src[t.range()])
}

fn tok_str<'s>(u: &Unit<'s>, i: usize) -> &'s str {
    std::str::from_utf8(tok_text(u, i)).unwrap_or("")
}

fn is_name(u: &Unit<'_>, i: usize) -> bool {
    u.outline
        .lexed
        .toks
        .get(i)
        .is_some_and(|t| t.kind == Kind::Name)
}

fn is_op(u: &Unit<'_>, i: usize, op: &[u8]) -> bool {
    u.outline
        .lexed
        .toks
        .get(i)
        .is_some_and(|t| t.kind == Kind::Op)
        && tok_text(u, i) == op
}

/// For each token, the bracket closing it when it opens one (same f-string nesting):
/// what [`lex::closing`] finds, for every bracket in one pass.
fn closers(u: &Unit<'_>) -> Vec<u32> {
    let toks = &u.outline.lexed.toks;
    let mut out = vec![u32::MAX; toks.len()];
    // Open brackets per nesting level.
    let mut open: Vec<Vec<usize>> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Op {
            continue;
        }
        let nest = t.nest as usize;
        if open.len() <= nest {
            open.resize_with(nest + 1, Vec::new);
        }
        match &u.src[t.range()] {
            b"(" | b"[" | b"{" => open[nest].push(i),
            b")" | b"]" | b"}" => {
                if let Some(o) = open[nest].pop() {
                    out[o] = i as u32;
                }
            }
            _ => {}
        }
    }
    out
}

/// Top-level comma-separated parts of `range` (keyword arguments included).
fn split_args(u: &Unit<'_>, range: Range<usize>) -> Vec<Range<usize>> {
    let toks = &u.outline.lexed.toks;
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = range.start;
    let nest = toks.get(range.start).map_or(0, |t| t.nest);
    for i in range.clone() {
        let t = toks[i];
        if t.kind != Kind::Op || t.nest != nest {
            continue;
        }
        match &u.src[t.range()] {
            b"(" | b"[" | b"{" => depth += 1,
            b")" | b"]" | b"}" => depth -= 1,
            b"," if depth == 0 => {
                if i > start {
                    out.push(start..i);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if range.end > start {
        out.push(start..range.end);
    }
    out
}

/// Positional arguments (those not written `name=`), and keyword ones by name.
fn positional(u: &Unit<'_>, args: &[Range<usize>]) -> Vec<Range<usize>> {
    args.iter()
        .filter(|a| !(a.len() >= 2 && is_name(u, a.start) && is_op(u, a.start + 1, b"=")))
        .filter(|a| !is_op(u, a.start, b"*") && !is_op(u, a.start, b"**"))
        .cloned()
        .collect()
}

fn keyword(u: &Unit<'_>, args: &[Range<usize>], name: &str) -> Option<Range<usize>> {
    args.iter()
        .find(|a| a.len() >= 3 && tok_str(u, a.start) == name && is_op(u, a.start + 1, b"="))
        .map(|a| a.start + 2..a.end)
}

/// The value of a literal string expression (adjacent literals concatenated; no f-string
/// fields).
fn literal(u: &Unit<'_>, r: Range<usize>) -> Option<String> {
    if r.is_empty() {
        return None;
    }
    let toks = &u.outline.lexed.toks;
    let nest = toks.get(r.start)?.nest;
    let mut out = String::new();
    for i in r {
        let t = toks[i];
        if t.kind != Kind::Str || t.nest != nest {
            return None;
        }
        let text = &u.src[t.range()];
        if lex::is_fstring(text) && toks.get(i + 1).is_some_and(|n| n.nest > t.nest) {
            return None;
        }
        out.push_str(&lex::string_value(text)?);
    }
    Some(out)
}

/// The literal text a command starts with: the string itself, the start of an f-string or
/// of a `"...".format(...)`, or the last literal of `dir + "/bin/nvcc"`.
fn leading_literal(u: &Unit<'_>, r: Range<usize>) -> Option<String> {
    let toks = &u.outline.lexed.toks;
    let first = *toks.get(r.start)?;
    if first.kind == Kind::Str {
        let text = &u.src[first.range()];
        let v = lex::string_value(text)?;
        let v = if lex::is_fstring(text) {
            v.split('{').next().unwrap_or("").to_string()
        } else {
            v
        };
        return Some(v);
    }
    // `prefix + "/bin/nvcc"`: the program's name is the last literal of the sum.
    r.clone()
        .rev()
        .find(|&i| toks[i].kind == Kind::Str && toks[i].nest == first.nest)
        .and_then(|i| lex::string_value(&u.src[toks[i].range()]))
        .filter(|v| v.contains('/'))
}

/// Does a command word match an unsafe-argument entry? A word equal to it, or for an
/// option its attached forms (`-B/tmp/x`, `-fplugin=x.so`, `--file=Makefile`).
fn build_arg_matches(entry: &str, word: &str) -> bool {
    if word == entry {
        return true;
    }
    if !entry.starts_with('-') {
        return false;
    }
    let Some(rest) = word.strip_prefix(entry) else {
        return false;
    };
    rest.starts_with('=') || (entry.len() == 2 && !rest.is_empty())
}

/// `build_arg_matches`, for a word with computed parts ([`fold::UNKNOWN`]): it may match
/// when its literal start could still become the entry (`"-" + x`, `"con" + x`), or names
/// the option before its `=` (`"--file=" + p`). A word with no literal start is a value
/// (a path), not an option.
fn build_arg_may_match(entry: &str, word: &str) -> bool {
    let Some((lit, _)) = word.split_once(fold::UNKNOWN) else {
        return build_arg_matches(entry, word);
    };
    if lit.is_empty() {
        return false;
    }
    match lit.split_once('=') {
        Some((opt, _)) => entry == opt || build_arg_matches(entry, lit),
        None => entry.starts_with(lit) || build_arg_matches(entry, lit),
    }
}

fn basename(cmd: &str) -> &str {
    let word = cmd.split_whitespace().next().unwrap_or("");
    word.rsplit(['/', '\\']).next().unwrap_or(word)
}

impl<'a> Resolver<'a> {
    fn new(units: &'a [Unit<'a>], c: &'a Compiled) -> Resolver<'a> {
        let mut modules = Map::default();
        for (f, u) in units.iter().enumerate() {
            modules.insert(module_name(u.path), f);
        }
        let envs = units.iter().map(build_env).collect();
        let mut paths = Paths::default();
        let special = SPECIAL_CALLS
            .iter()
            .copied()
            .chain(c.binders.iter().map(String::as_str))
            .map(|q| paths.intern(q))
            .collect();
        let builtins = paths.intern("builtins");
        let import_fns = [
            "builtins.__import__",
            "importlib.import_module",
            "importlib.__import__",
        ]
        .map(|q| paths.intern(q));
        Resolver {
            units,
            texts: units
                .iter()
                .map(|u| std::str::from_utf8(u.src).ok())
                .collect(),
            c,
            envs,
            modules,
            side: vec![Vec::new(); units.len()],
            active: Vec::new(),
            ids: units.iter().map(|_| Map::default()).collect(),
            next_id: 0,
            footprints: Vec::new(),
            cyclic: Map::default(),
            cache: Vec::new(),
            heads: Vec::new(),
            binds: Vec::new(),
            memo: Vec::new(),
            at_depth: Vec::new(),
            cuts: 0,
            low: usize::MAX,
            deepest: 0,
            evals: 0,
            closers: units.iter().map(closers).collect(),
            paths,
            special,
            strs: Vec::new(),
            str_ids: Map::default(),
            partials: Vec::new(),
            partial_ids: Map::default(),
            builtins,
            import_fns,
            steps: Vec::new(),
            step_vals: Vec::new(),
            use_vals: Vec::new(),
        }
    }

    /// [`tok_str`] of token `i` of unit `f`: a slice of the unit's text when it is valid
    /// UTF-8 (a slice at char boundaries of valid UTF-8 is valid, and one that is not at
    /// boundaries is not, which `str::get` tells without reading the bytes).
    fn tok_str(&self, f: usize, i: usize) -> &'a str {
        let u = &self.units[f];
        match self.texts[f] {
            Some(s) => u
                .outline
                .lexed
                .toks
                .get(i)
                .and_then(|t| s.get(t.range()))
                .unwrap_or(""),
            None => tok_str(u, i),
        }
    }

    fn str_id(&mut self, s: String) -> u32 {
        if let Some(&k) = self.str_ids.get(&s) {
            return k;
        }
        let k = self.strs.len() as u32;
        self.strs.push(s.clone());
        self.str_ids.insert(s, k);
        k
    }

    fn partial(&mut self, p: Partial) -> V {
        if let Some(&k) = self.partial_ids.get(&p) {
            return V::Partial(k);
        }
        let k = self.partials.len() as u32;
        self.partials.push(p.clone());
        self.partial_ids.insert(p, k);
        V::Partial(k)
    }

    fn ext(&mut self, q: &str, bound: usize) -> V {
        V::Ext {
            q: self.paths.intern(q),
            bound,
        }
    }

    /// [`Compiled::classify`] of path `id`, once per path.
    fn classify(&mut self, id: u32, resolved: bool) -> Option<usize> {
        if let Some(c) = self.paths.nodes[id as usize].class[usize::from(resolved)] {
            return c;
        }
        let c = self.paths.class(self.c, id, resolved);
        self.paths.nodes[id as usize].class[usize::from(resolved)] = Some(c);
        c
    }

    /// [`lex::closing`], from the table.
    fn close(&self, f: usize, open: usize) -> Option<usize> {
        self.closers[f]
            .get(open)
            .filter(|&&c| c != u32::MAX)
            .map(|&c| c as usize)
    }

    /// A name argument that is not one literal but folds (`"sys" + "tem"`, a join, a
    /// decoder, names assigned literals): what the computed name is, to follow it and
    /// say what it names. It stays a computed name for the verdict.
    fn folded(&self, f: usize, a: &Range<usize>) -> Option<String> {
        let u = &self.units[f];
        fold::fold(
            u.src,
            &u.outline.lexed.toks,
            a.clone(),
            Some(&self.envs[f].assigns),
            true,
        )
        .map(|x| x.value)
        .filter(|v| !v.is_empty() && v.len() <= 200)
    }

    /// The fetched module an import names from file `f`, if any.
    fn fetched(&self, f: usize, level: usize, module: &str) -> Option<usize> {
        let path = self.units[f].path;
        let mut pkg: Vec<&str> = path.split('/').collect();
        pkg.pop();
        let mut cands = Vec::new();
        if level == 0 {
            cands.push(module.to_string());
            // Remote code imports its siblings by bare name too (`sys.path` hacks).
            if !pkg.is_empty() {
                cands.push(format!("{}.{module}", pkg.join(".")));
            }
        } else {
            let keep = pkg.len().saturating_sub(level - 1);
            let mut t: Vec<&str> = pkg[..keep].to_vec();
            t.extend(module.split('.').filter(|s| !s.is_empty()));
            cands.push(t.join("."));
        }
        cands
            .iter()
            .find_map(|m| self.modules.get(m.as_str()).copied())
    }

    /// What an import binds its local name to.
    fn import_value(&mut self, f: usize, kind: &ImportKind, depth: usize) -> Vec<V> {
        match kind {
            ImportKind::Module { module, .. } => match self.fetched(f, 0, module) {
                Some(m) => vec![V::Unit(m)],
                None => vec![self.ext(module, 0)],
            },
            ImportKind::From {
                level,
                module,
                name,
                ..
            } => {
                let full = if module.is_empty() {
                    name.clone()
                } else {
                    format!("{module}.{name}")
                };
                if let Some(m) = self.fetched(f, *level, &full) {
                    return vec![V::Unit(m)];
                }
                match self.fetched(f, *level, module) {
                    Some(m) => self.member(m, name, depth + 1),
                    None if *level > 0 => vec![V::Opaque],
                    None => vec![self.ext(&full, 0)],
                }
            }
            ImportKind::Star { .. } => Vec::new(),
        }
    }

    /// What fetched module `m` binds `name` to.
    fn member(&mut self, m: usize, name: &str, depth: usize) -> Vec<V> {
        let sub = format!("{}.{name}", module_name(self.units[m].path));
        if let Some(&s) = self.modules.get(&sub) {
            return vec![V::Unit(s)];
        }
        let mut out = self.name_value(m, name, depth);
        // A name the module defines itself is fetched code.
        if out.is_empty() {
            out.push(V::Opaque);
        }
        out
    }

    /// The id of name `name` of unit `f`.
    fn id(&mut self, f: usize, name: &str) -> u32 {
        if let Some(&id) = self.ids[f].get(name) {
            return id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ids[f].insert(name.to_string(), id);
        let env = &self.envs[f];
        self.binds.push(
            env.imports.contains_key(name)
                || env.assigns.contains_key(name)
                || env.defs.contains(name),
        );
        self.cache.push(None);
        self.heads.push(None);
        self.memo.push(None);
        self.at_depth.push(None);
        id
    }

    /// Every value name `name` may have in file `f` (imports, assignments, definitions;
    /// then star imports); empty if it binds nothing there.
    fn name_value(&mut self, f: usize, name: &str, depth: usize) -> Vec<V> {
        if depth > MAX_DEPTH {
            self.cuts += 1;
            return vec![V::Opaque];
        }
        let id = self.id(f, name);
        self.name_value_of(f, id, name, depth)
    }

    /// `name_value` of the name whose id is `id` (`depth` within the limit).
    fn name_value_of(&mut self, f: usize, id: u32, name: &str, depth: usize) -> Vec<V> {
        if let Some(fp) = self.footprints.last_mut() {
            fp.insert(id);
        }
        if let Some(at) = self.active.iter().position(|&a| a == id) {
            // `x = x.strip()` always meets itself, wherever it is asked from.
            if at + 1 < self.active.len() {
                self.low = self.low.min(at);
            }
            return vec![V::Opaque];
        }
        let slot = id as usize;
        if depth == 0
            && let Some(v) = &self.cache[slot]
        {
            return v.clone();
        }
        // Without memoising, every use of a name re-walks the assignments it comes from,
        // and theirs, to the depth limit: exponential in the length of assignment chains.
        // A value computed without meeting a depth limit, or a cycle back to it or to what
        // was in progress, is the same from any caller that leaves it the levels it used
        // (a cycle through a caller in progress would have come back to this name while
        // computing it), so it is reused; evaluating it again would only push the same
        // side hits again.
        if let Some((v, height)) = &self.memo[slot]
            && depth + height <= MAX_DEPTH
        {
            self.deepest = self.deepest.max(depth + height);
            return v.clone();
        }
        // A value cut by the depth limit depends on the depth only: the same from any
        // caller at that depth (the depth is part of the key).
        if let Some(Some(v)) = self.at_depth[slot].as_ref().and_then(|d| d.get(depth)) {
            let v = v.clone();
            self.cuts += 1;
            return v;
        }
        if let Some(v) = self.cyclic_value(id, depth) {
            return v;
        }
        let (cuts, deepest, low) = (self.cuts, self.deepest, self.low);
        let at = self.active.len();
        self.deepest = depth;
        self.low = usize::MAX;
        self.active.push(id);
        self.footprints.push(Bits::default());
        let out = self.name_value_uncached(f, name, depth);
        self.active.pop();
        let fp = self.footprints.pop().unwrap_or_default();
        if let Some(parent) = self.footprints.last_mut() {
            parent.union(&fp);
        }
        if self.cuts == cuts && self.low > at {
            self.memo[slot] = Some((out.clone(), self.deepest - depth));
        } else if self.low > at {
            let slots = self.at_depth[slot].get_or_insert_with(|| vec![None; MAX_DEPTH + 1]);
            if let Some(slot) = slots.get_mut(depth) {
                *slot = Some(out.clone());
            }
        } else {
            let met = self
                .active
                .iter()
                .copied()
                .filter(|&a| fp.contains(a))
                .collect();
            self.cyclic.entry(id).or_default().push(Cyclic {
                depth,
                footprint: fp,
                met,
                vals: out.clone(),
                cut: self.cuts > cuts,
                deepest: self.deepest,
            });
        }
        self.deepest = self.deepest.max(deepest);
        self.low = self.low.min(low);
        if depth == 0 {
            self.cache[slot] = Some(out.clone());
        }
        out
    }

    /// The value of name `id` at `depth` from an evaluation that met a cycle, if one was
    /// made where the same names of its footprint were in progress: evaluating it again
    /// would ask the same questions and get the same answers (a name in progress is
    /// opaque, any other is evaluated or taken from a memo), so it would give the same
    /// value and push the same side hits again. Without this, names in one cycle of
    /// assignments (`f = per(f)`, `per = f.per` across a file's functions) are walked
    /// again for every assignment that reads them.
    fn cyclic_value(&mut self, id: u32, depth: usize) -> Option<Vec<V>> {
        let entries = self.cyclic.get(&id)?;
        let e = entries.iter().find(|e| {
            e.depth == depth && {
                let mut met = 0;
                self.active.iter().all(|&a| {
                    !e.footprint.contains(a) || {
                        met += 1;
                        e.met.contains(&a)
                    }
                }) && met == e.met.len()
            }
        })?;
        // What its evaluation did to the evaluations in progress: the cycles back to
        // them, the depth limits it met, how deep it went.
        let low = self
            .active
            .iter()
            .position(|a| e.met.contains(a))
            .unwrap_or(usize::MAX);
        let (vals, cut, deepest) = (e.vals.clone(), e.cut, e.deepest);
        if let Some(parent) = self.footprints.last_mut() {
            parent.union(&e.footprint);
        }
        self.low = self.low.min(low);
        if cut {
            self.cuts += 1;
        }
        self.deepest = self.deepest.max(deepest);
        Some(vals)
    }

    fn name_value_uncached(&mut self, f: usize, name: &str, depth: usize) -> Vec<V> {
        self.evals += 1;
        let mut out = Vec::new();
        let imports = self.envs[f].imports.get(name).cloned().unwrap_or_default();
        for k in &imports {
            out.extend(self.import_value(f, k, depth));
        }
        let assigns = self.envs[f].assigns.get(name).cloned().unwrap_or_default();
        for r in assigns {
            for v in self.eval(f, r, depth + 1) {
                out.push(match v {
                    V::Ext { q, .. } => V::Ext {
                        bound: self.paths.len(q),
                        q,
                    },
                    other => other,
                });
            }
        }
        if self.envs[f].defs.contains(name) {
            out.push(V::Opaque);
        }
        if out.is_empty() {
            let stars = self.envs[f].stars.clone();
            for (level, module) in stars {
                match self.fetched(f, level, module) {
                    Some(m) => {
                        let v = self.name_value(m, name, depth + 1);
                        out.extend(v);
                    }
                    None if level == 0 => {
                        let m = self.paths.intern(module);
                        let q = self.paths.append(m, name);
                        out.push(V::Ext { q, bound: 0 });
                    }
                    None => {}
                }
            }
        }
        out
    }

    /// The values of a head name in file `f`, in `out` (empty; a use's chain passes the
    /// buffer the last use left, so that a cached head costs no allocation).
    fn head(&mut self, f: usize, name: &str, depth: usize, mut out: Vec<V>) -> Vec<V> {
        if name == "__builtins__" || name == "__builtin__" {
            out.push(V::Ext {
                q: self.builtins,
                bound: 0,
            });
            return out;
        }
        let id = self.id(f, name);
        // At depth 0 (a use in the file's own code; nothing is in progress) the value is
        // the same at every use: the first use's lookup fills `cache` (or finds a memo
        // that stays), interns the same paths, and leaves the side hits of that first
        // evaluation; later ones only repeated those lookups.
        if depth == 0
            && let Some(v) = &self.heads[id as usize]
        {
            out.extend_from_slice(v);
            return out;
        }
        let binds = self.binds[id as usize];
        if depth > MAX_DEPTH {
            self.cuts += 1;
            out.push(V::Opaque);
        } else {
            out.extend(self.name_value_of(f, id, name, depth));
        }
        // A star import may bind the name or not: the builtin stays a candidate.
        if !binds && BUILTINS.contains(&name) {
            let q = self.paths.child(self.builtins, name);
            out.push(V::Ext { q, bound: 0 });
        }
        if out.is_empty() {
            out.push(V::Raw(self.paths.intern(name)));
        }
        if depth == 0 {
            self.heads[id as usize] = Some(out.clone());
        }
        out
    }

    /// The value of an expression that is one chain (`a.b(c)[d].e`), else opaque.
    fn eval(&mut self, f: usize, r: Range<usize>, depth: usize) -> Vec<V> {
        if depth > MAX_DEPTH {
            self.cuts += 1;
            return vec![V::Opaque];
        }
        self.deepest = self.deepest.max(depth);
        if r.is_empty() {
            return vec![V::Opaque];
        }
        let u = &self.units[f];
        if !is_name(u, r.start) {
            return vec![V::Opaque];
        }
        let chain = self.chain(f, r.start, depth, false);
        if chain.end != r.end {
            return vec![V::Opaque];
        }
        chain.vals
    }

    /// Walk the chain that starts at name token `i` (with the values after each step in
    /// `self.steps` if `steps`: only a use's chain needs them, for `best_hit`; a use's
    /// chain is never walked inside another's, and its `vals` come back empty).
    fn chain(&mut self, f: usize, i: usize, depth: usize, steps: bool) -> Chain {
        let keep = steps;
        let units = self.units;
        let u = &units[f];
        let name = self.tok_str(f, i);
        let mut k = i + 1;
        let own = match name {
            "self" => Some(0),
            "cls" => Some(1),
            _ => None,
        }
        .filter(|&k| {
            is_op(u, i + 1, b".")
                && is_name(u, i + 2)
                && self.envs[f].own[k].contains(self.tok_str(f, i + 2))
        })
        .map(|_| format!("{name}.{}", self.tok_str(f, i + 2)));
        let mut vals = if let Some(own) = own {
            // `self.run = subprocess.Popen`, then `self.run(...)`.
            k = i + 3;
            self.name_value(f, &own, depth + 1)
        } else {
            // A use's chain (`keep`) is walked for its steps only: its values go back to
            // `use_vals` for the next use instead of being freed.
            let buf = if keep {
                let mut b = std::mem::take(&mut self.use_vals);
                b.clear();
                b
            } else {
                Vec::new()
            };
            self.head(f, name, depth, buf)
        };
        if keep {
            self.steps.clear();
            self.step_vals.clear();
            self.push_step(&vals, k);
        }
        loop {
            if is_op(u, k, b".") && is_name(u, k + 1) {
                // A name token holds no `.`: the step is one segment (`child`).
                let attr = self.tok_str(f, k + 1);
                if vals.iter().any(|v| matches!(v, V::Unit(_))) {
                    let mut next = Vec::new();
                    for v in &vals {
                        match v {
                            V::Ext { q, bound } => next.push(V::Ext {
                                q: self.paths.child(*q, attr),
                                bound: *bound,
                            }),
                            V::Raw(q) => next.push(V::Raw(self.paths.child(*q, attr))),
                            V::Unit(m) => next.extend(self.member(*m, attr, depth + 1)),
                            V::Opaque | V::Getter { .. } | V::Partial(_) => {
                                next.push(V::Opaque);
                            }
                        }
                    }
                    vals = next;
                } else {
                    // One value per value, in order: in place, the segment interned once
                    // for the step (at its first path, as `child` would).
                    let mut seg = None;
                    for v in &mut vals {
                        *v = match *v {
                            V::Ext { q, bound } => {
                                let s = *seg.get_or_insert_with(|| self.paths.seg(attr));
                                V::Ext {
                                    q: self.paths.child_seg(q, s),
                                    bound,
                                }
                            }
                            V::Raw(q) => {
                                let s = *seg.get_or_insert_with(|| self.paths.seg(attr));
                                V::Raw(self.paths.child_seg(q, s))
                            }
                            _ => V::Opaque,
                        };
                    }
                }
                dedup(&mut vals);
                k += 2;
            } else if is_op(u, k, b"(") {
                let Some(close) = self.close(f, k) else { break };
                if vals.iter().all(|v| self.plain_call(v)) {
                    // What `call` gives these, one value per value, without the arguments.
                    for v in &mut vals {
                        *v = self.call_plain(*v);
                    }
                } else {
                    // Only opaque values, fetched modules and local values (`Raw`) ignore
                    // the arguments of a call (see `call`).
                    let args = if vals
                        .iter()
                        .any(|v| !matches!(v, V::Opaque | V::Unit(_) | V::Raw(_)))
                    {
                        split_args(u, k + 1..close)
                    } else {
                        Vec::new()
                    };
                    let mut next = Vec::new();
                    for v in &vals {
                        next.extend(self.call(f, v, &args, i, close, depth));
                    }
                    vals = next;
                }
                dedup(&mut vals);
                k = close + 1;
            } else if is_op(u, k, b"[") {
                let Some(close) = self.close(f, k) else { break };
                let mut next = Vec::new();
                for v in &vals {
                    next.extend(self.subscript(f, v, k + 1..close, i, close, depth));
                }
                vals = next;
                dedup(&mut vals);
                k = close + 1;
            } else {
                break;
            }
            if keep {
                self.push_step(&vals, k);
            }
            if vals.iter().all(|v| *v == V::Opaque) {
                break;
            }
        }
        if keep {
            self.use_vals = vals;
            return Chain {
                vals: Vec::new(),
                end: k,
            };
        }
        Chain { vals, end: k }
    }

    fn push_step(&mut self, vals: &[V], end: usize) {
        let start = self.step_vals.len();
        self.step_vals.extend_from_slice(vals);
        self.steps.push(Step {
            vals: start..self.step_vals.len(),
            end,
        });
    }

    /// Is calling `v` what `call_plain` says (its arguments play no part)?
    fn plain_call(&self, v: &V) -> bool {
        match v {
            V::Getter { .. } | V::Partial(_) => false,
            V::Ext { q, .. } => {
                !self.special.contains(q)
                    && !matches!(self.paths.last(*q), "__getattribute__" | "get")
            }
            V::Opaque | V::Unit(_) | V::Raw(_) => true,
        }
    }

    /// `call` of a value for which `plain_call` holds: the name called as itself (`q()`),
    /// or opaque.
    fn call_plain(&mut self, v: V) -> V {
        match v {
            V::Ext { q, bound } => V::Ext {
                q: self.paths.called(q),
                bound,
            },
            V::Raw(q) => V::Raw(self.paths.called(q)),
            _ => V::Opaque,
        }
    }

    fn side_hit(
        &mut self,
        f: usize,
        cap: Option<usize>,
        start_tok: usize,
        end_tok: usize,
        what: String,
        note: &str,
    ) {
        let Some(c) = cap else { return };
        let u = &self.units[f];
        let toks = &u.outline.lexed.toks;
        let start = toks[start_tok].start as usize;
        let end = toks[end_tok.min(toks.len() - 1)].end as usize;
        self.side[f].push(CapHit {
            rule: self.c.caps[c].rule.clone(),
            start,
            end,
            what,
            load_level: Level::Error,
            note: note.to_string(),
            lowered: false,
            mentions: Vec::new(),
        });
    }

    fn module_value(&mut self, f: usize, name: &str) -> V {
        match self.fetched(f, 0, name) {
            Some(m) => V::Unit(m),
            None => self.ext(name, 0),
        }
    }

    /// Calling value `v` with `args` (the chain starts at token `head`, the call closes at
    /// `close`).
    fn call(
        &mut self,
        f: usize,
        v: &V,
        args: &[Range<usize>],
        head: usize,
        close: usize,
        depth: usize,
    ) -> Vec<V> {
        let u = &self.units[f];
        if let V::Getter { name, item } = *v {
            let name = name.map(|k| self.strs[k as usize].clone());
            return self.apply_getter(f, name.as_deref(), item, args, head, close, depth);
        }
        if let V::Partial(k) = *v {
            let Partial {
                unit,
                func,
                args: bound,
            } = self.partials[k as usize].clone();
            // Bound ranges are tokens of the unit that wrote the partial.
            // A depth cut, counted like the others (the memo must not keep its value).
            if depth > MAX_DEPTH {
                self.cuts += 1;
                return vec![V::Opaque];
            }
            self.deepest = self.deepest.max(depth);
            if unit != f {
                return vec![V::Opaque];
            }
            let all: Vec<Range<usize>> = bound.iter().chain(args).cloned().collect();
            return self.call(f, &func, &all, head, close, depth + 1);
        }
        // Any other name is called as itself: `q()` (the `_` arm below).
        if self.plain_call(v) {
            return vec![self.call_plain(*v)];
        }
        // Only a special name is left (getters and partials were above).
        let V::Ext { q: id, bound } = v else {
            return vec![V::Opaque];
        };
        let id = *id;
        let q = self.paths.text(id);
        let pos = positional(u, args);
        // `os.__getattribute__("system")`, `vars(os).get("system")`, `sys.modules.get("os")`:
        // getattr and subscripts under other names.
        if let Some(base) = q
            .strip_suffix(".__getattribute__")
            .or_else(|| q.strip_suffix(".__dict__.get"))
            .filter(|b| !b.starts_with("builtins.object") && !b.starts_with("builtins.type"))
        {
            let base = base.to_string();
            return match pos.first().and_then(|a| literal(u, a.clone())) {
                Some(name) => vec![self.ext(&format!("{base}.{name}"), *bound)],
                None => {
                    let named = pos.first().and_then(|a| self.folded(f, a));
                    let obj = self.ext(&base, 0);
                    self.reflect(f, &[obj], head, close, "a lookup by a computed name");
                    match named {
                        Some(name) => vec![self.ext(&format!("{base}.{name}"), *bound)],
                        None => vec![V::Opaque],
                    }
                }
            };
        }
        if q == "sys.modules.get" {
            return match pos.first().and_then(|a| literal(u, a.clone())) {
                Some(k) => vec![self.module_value(f, &k)],
                None => {
                    let named = pos.first().and_then(|a| self.folded(f, a));
                    let obj = self.ext("sys", 0);
                    self.reflect(f, &[obj], head, close, "a lookup by a computed name");
                    match named {
                        Some(k) => vec![self.module_value(f, &k)],
                        None => vec![V::Opaque],
                    }
                }
            };
        }
        if self.c.binders.contains(q.as_str())
            && let Some((callee, bound)) = pos.split_first()
        {
            let bound = bound.to_vec();
            return self
                .eval(f, callee.clone(), depth + 1)
                .into_iter()
                .map(|func| {
                    self.partial(Partial {
                        unit: f,
                        func,
                        args: bound.clone(),
                    })
                })
                .collect();
        }
        match q.as_str() {
            "operator.attrgetter" | "operator.methodcaller" | "operator.itemgetter" => {
                let name = pos
                    .first()
                    .and_then(|a| literal(u, a.clone()).or_else(|| self.folded(f, a)));
                if let Some(n) = &name
                    && self.c.dangerous_name(n.rsplit('.').next().unwrap_or(n))
                {
                    // Named here, applied elsewhere (`map(methodcaller("system", c), [os])`).
                    let r = self.c.reflection;
                    self.side_hit(
                        f,
                        r,
                        head,
                        close,
                        format!("{q}({n:?})"),
                        " (names a dangerous function)",
                    );
                }
                return vec![V::Getter {
                    name: name.map(|n| self.str_id(n)),
                    item: q == "operator.itemgetter",
                }];
            }
            // `object.__getattribute__(os, "system")`, `inspect.getattr_static(os, name)`.
            "builtins.object.__getattribute__"
            | "builtins.type.__getattribute__"
            | "inspect.getattr_static" => {
                let getattr = self.ext("builtins.getattr", 0);
                return self.call(f, &getattr, args, head, close, depth);
            }
            _ => {}
        }
        match q.as_str() {
            "builtins.__import__" | "importlib.import_module" | "importlib.__import__" => {
                match pos.first().and_then(|a| literal(u, a.clone())) {
                    Some(name) => {
                        if self.fetched(f, 0, &name).is_none() && !self.c.in_profile(&name) {
                            let toks = &u.outline.lexed.toks;
                            let cap = self.c.module_capability(&name).map(str::to_string);
                            self.side[f].push(CapHit {
                                rule: OUT_OF_PROFILE.to_string(),
                                start: toks[head].start as usize,
                                end: toks[close].end as usize,
                                what: name.clone(),
                                load_level: Level::Warning,
                                note: cap.map(|c| format!(" ({c} module)")).unwrap_or_default(),
                                lowered: false,
                                mentions: Vec::new(),
                            });
                        }
                        // `__import__("a.b")` returns `a`.
                        let name = if q == "builtins.__import__" {
                            name.split('.').next().unwrap_or("").to_string()
                        } else {
                            name
                        };
                        vec![self.module_value(f, &name)]
                    }
                    None => {
                        let d = self.c.dynamic;
                        let named = pos.first().and_then(|a| self.folded(f, a));
                        let what = match &named {
                            Some(n) => format!("{q}({n:?})"),
                            None => format!("{q}(<computed name>)"),
                        };
                        let note = if named.is_some() {
                            " of a name built at run time"
                        } else {
                            " of a computed name"
                        };
                        self.side_hit(f, d, head, close, what, note);
                        match named {
                            // `__import__("a.b")` returns `a`.
                            Some(n) if q == "builtins.__import__" => {
                                vec![self.module_value(f, n.split('.').next().unwrap_or(""))]
                            }
                            Some(n) => vec![self.module_value(f, &n)],
                            None => vec![V::Opaque],
                        }
                    }
                }
            }
            "builtins.getattr" => {
                let (Some(obj), Some(attr)) = (pos.first(), pos.get(1)) else {
                    return vec![V::Opaque];
                };
                let objs = self.eval(f, obj.clone(), depth + 1);
                match literal(u, attr.clone()) {
                    Some(name) => objs
                        .into_iter()
                        .map(|o| match o {
                            V::Ext { q, bound } => V::Ext {
                                q: self.paths.append(q, &name),
                                bound,
                            },
                            V::Unit(m) => {
                                self.member(m, &name, depth + 1).pop().unwrap_or(V::Opaque)
                            }
                            _ => V::Opaque,
                        })
                        .collect(),
                    None => {
                        self.reflect(f, &objs, head, close, "getattr with a computed name");
                        match self.folded(f, attr) {
                            Some(name) => objs
                                .into_iter()
                                .map(|o| match o {
                                    V::Ext { q, bound } => V::Ext {
                                        q: self.paths.append(q, &name),
                                        bound,
                                    },
                                    _ => V::Opaque,
                                })
                                .collect(),
                            None => vec![V::Opaque],
                        }
                    }
                }
            }
            "builtins.vars" => {
                let Some(obj) = pos.first() else {
                    return vec![self.ext("builtins.globals()", 0)];
                };
                self.eval(f, obj.clone(), depth + 1)
                    .into_iter()
                    .map(|o| match o {
                        V::Ext { q, bound } => V::Ext {
                            q: self.paths.child(q, "__dict__"),
                            bound,
                        },
                        _ => V::Opaque,
                    })
                    .collect()
            }
            "builtins.globals" | "builtins.locals" => vec![self.ext("builtins.globals()", 0)],
            "pydoc.locate" | "pkgutil.resolve_name" => {
                match pos
                    .first()
                    .and_then(|a| literal(u, a.clone()).or_else(|| self.folded(f, a)))
                {
                    Some(name) => vec![self.ext(&name.replacen(':', ".", 1), 0)],
                    None => vec![V::Opaque],
                }
            }
            _ => vec![V::Ext {
                q: self.paths.called(id),
                bound: *bound,
            }],
        }
    }

    /// A getter applied to its object: what it looks up there.
    #[allow(clippy::too_many_arguments)]
    fn apply_getter(
        &mut self,
        f: usize,
        name: Option<&str>,
        item: bool,
        args: &[Range<usize>],
        head: usize,
        close: usize,
        depth: usize,
    ) -> Vec<V> {
        let u = &self.units[f];
        let pos = positional(u, args);
        let Some(obj) = pos.first() else {
            return vec![V::Opaque];
        };
        let objs = self.eval(f, obj.clone(), depth + 1);
        let Some(name) = name else {
            self.reflect(f, &objs, head, close, "a getter of a computed name");
            return vec![V::Opaque];
        };
        objs.into_iter()
            .map(|o| match o {
                V::Ext { q, bound } if item => {
                    let q = self.paths.text(q);
                    if q == "sys.modules" {
                        self.module_value(f, name)
                    } else if let Some(b) = q.strip_suffix(".__dict__") {
                        self.ext(&format!("{b}.{name}"), bound)
                    } else {
                        V::Opaque
                    }
                }
                V::Ext { q, bound } => V::Ext {
                    q: self.paths.append(q, name),
                    bound,
                },
                V::Unit(m) if !item => self.member(m, name, depth + 1).pop().unwrap_or(V::Opaque),
                _ => V::Opaque,
            })
            .collect()
    }

    fn subscript(
        &mut self,
        f: usize,
        v: &V,
        inner: Range<usize>,
        head: usize,
        close: usize,
        _depth: usize,
    ) -> Vec<V> {
        let u = &self.units[f];
        let V::Ext { q: id, bound } = v else {
            return vec![V::Opaque];
        };
        // Only these names (`sys.modules`, `builtins`, `x.__dict__`, `libc()`,
        // `builtins.globals()`) have items below.
        let last = self.paths.last(*id);
        if !matches!(last, "modules" | "builtins" | "__dict__") && !last.ends_with("()") {
            return vec![V::Opaque];
        }
        let q = self.paths.text(*id);
        let key = literal(u, inner.clone());
        let base = if q == "sys.modules" {
            None
        } else if q == "builtins" {
            Some("builtins".to_string())
        } else if let Some(b) = q.strip_suffix(".__dict__") {
            Some(b.to_string())
        } else if q.ends_with("()") && (q.starts_with("ctypes.") || q.starts_with("_ctypes.")) {
            // `libc["system"]`: a loaded library's item is its function of that name.
            Some(q.clone())
        } else if q == "builtins.globals()" {
            return match key.as_deref() {
                Some("__builtins__") => vec![V::Ext {
                    q: self.builtins,
                    bound: 0,
                }],
                _ => vec![V::Opaque],
            };
        } else {
            return vec![V::Opaque];
        };
        match (key, base) {
            (Some(k), None) => vec![self.module_value(f, &k)],
            (Some(k), Some(b)) => vec![self.ext(&format!("{b}.{k}"), *bound)],
            (None, base) => {
                let named = self.folded(f, &inner);
                let obj = self.ext(base.as_deref().unwrap_or("sys"), 0);
                self.reflect(f, &[obj], head, close, "a lookup by a computed name");
                match (named, base) {
                    (Some(k), None) => vec![self.module_value(f, &k)],
                    (Some(k), Some(b)) => vec![self.ext(&format!("{b}.{k}"), *bound)],
                    (None, _) => vec![V::Opaque],
                }
            }
        }
    }

    /// A reflective lookup on `objs`: the reflection capability when one is a dangerous
    /// object.
    fn reflect(&mut self, f: usize, objs: &[V], head: usize, close: usize, how: &str) {
        for o in objs {
            if let V::Ext { q, .. } = o {
                let q = self.paths.text(*q);
                // `os` itself, or `logging.os`: a dangerous module reached through
                // another's globals.
                let reached = !q.contains("()")
                    && q.split('.')
                        .any(|seg| self.c.reflection_targets.contains(seg));
                if self.c.reflection_targets.contains(q.as_str()) || reached {
                    let r = self.c.reflection;
                    self.side_hit(
                        f,
                        r,
                        head,
                        close,
                        format!("{q}.<computed>"),
                        &format!(" ({how})"),
                    );
                    return;
                }
            }
        }
    }
}

/// Keeps the first 16 distinct values, in order (in place: most steps have one value).
fn dedup(v: &mut Vec<V>) {
    if v.len() <= 1 {
        return;
    }
    let mut n = 0;
    for j in 0..v.len() {
        if n == 16 {
            break;
        }
        let x = v[j];
        if !v[..n].contains(&x) {
            v[n] = x;
            n += 1;
        }
    }
    v.truncate(n);
}

struct Step {
    /// Its values, in `Resolver::step_vals`.
    vals: Range<usize>,
    /// Token after the step.
    end: usize,
}

struct Chain {
    vals: Vec<V>,
    end: usize,
}

fn build_env<'a>(u: &Unit<'a>) -> Env<'a> {
    let o: &'a Outline = u.outline;
    let mut env = Env::default();
    for imp in &o.imports {
        match &imp.kind {
            ImportKind::Module { local, .. } | ImportKind::From { local, .. } => {
                env.imports
                    .entry(local.as_str())
                    .or_default()
                    .push(&imp.kind);
            }
            ImportKind::Star { level, module } => env.stars.push((*level, module.as_str())),
        }
    }
    for a in &o.assigns {
        for (k, head) in ["self.", "cls."].iter().enumerate() {
            if let Some(attr) = a.target.strip_prefix(head) {
                env.own[k].insert(attr);
            }
        }
        env.assigns
            .entry(a.target.as_str())
            .or_default()
            .push(a.value.clone());
    }
    for s in &o.scopes {
        if matches!(s.kind, ScopeKind::Function | ScopeKind::Class)
            && o.scopes[s.parent].kind != ScopeKind::Class
        {
            env.defs.insert(s.name.as_str());
        }
    }
    env
}

/// Tokens of import statements (their names bind, they are not uses).
fn import_tokens(u: &Unit<'_>) -> Vec<bool> {
    let toks = &u.outline.lexed.toks;
    let mut out = vec![false; toks.len()];
    for line in &u.outline.lexed.lines {
        // A statement marks its tokens only if an `import` is among them: a line without
        // one (almost every line) marks nothing.
        if !line.toks.clone().any(|j| tok_text(u, j) == b"import") {
            continue;
        }
        let mut start = line.toks.start;
        let mut depth = 0i32;
        let mut i = line.toks.start;
        while i <= line.toks.end {
            let at_end = i == line.toks.end;
            let t = if at_end { &b""[..] } else { tok_text(u, i) };
            if !at_end && toks[i].kind == Kind::Op && toks[i].nest == 0 {
                match t {
                    b"(" | b"[" | b"{" => depth += 1,
                    b")" | b"]" | b"}" => depth -= 1,
                    _ => {}
                }
            }
            if at_end || (t == b";" && depth == 0) {
                let first = tok_text(u, start);
                if first == b"import"
                    || (first == b"from" && (start..i).any(|j| tok_text(u, j) == b"import"))
                {
                    for o in &mut out[start..i] {
                        *o = true;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
    }
    out
}

/// Is token `i` a name that binds rather than uses (a keyword argument's name, a parameter,
/// a `def`/`class` name)?
fn binding_name(u: &Unit<'_>, i: usize) -> bool {
    let prev = i.checked_sub(1).map(|p| tok_text(u, p)).unwrap_or(b"");
    if matches!(prev, b"def" | b"class" | b"as" | b"global" | b"nonlocal") {
        return true;
    }
    let next = tok_text(u, i + 1);
    if next == b"=" && matches!(prev, b"(" | b",") {
        // A keyword argument or a parameter default.
        return true;
    }
    if prev == b"lambda" {
        return true;
    }
    false
}

/// Every capability use and out-of-profile import of every file.
pub(crate) fn scan(units: &[Unit<'_>], c: &Compiled) -> Vec<Vec<CapHit>> {
    scan_counted(units, c).0
}

/// `scan`, and how many names it evaluated.
fn scan_counted(units: &[Unit<'_>], c: &Compiled) -> (Vec<Vec<CapHit>>, usize) {
    let mut r = Resolver::new(units, c);
    let mut out: Vec<Vec<CapHit>> = vec![Vec::new(); units.len()];
    for (f, u) in units.iter().enumerate() {
        let toks = &u.outline.lexed.toks;
        let skip = import_tokens(u);
        // Imports outside the profile.
        for imp in &u.outline.imports {
            let module = match &imp.kind {
                ImportKind::Module { whole, .. } => whole.clone(),
                ImportKind::From {
                    level: 0, module, ..
                }
                | ImportKind::Star { level: 0, module } => module.clone(),
                _ => continue,
            };
            if module.is_empty() || c.in_profile(&module) || r.fetched(f, 0, &module).is_some() {
                continue;
            }
            let end = (imp.tok..toks.len())
                .take_while(|&j| skip[j])
                .last()
                .unwrap_or(imp.tok);
            out[f].push(CapHit {
                rule: OUT_OF_PROFILE.to_string(),
                start: toks[imp.tok].start as usize,
                end: toks[end].end as usize,
                what: module.clone(),
                load_level: Level::Warning,
                note: c
                    .module_capability(&module)
                    .map(|k| format!(" ({k} module)"))
                    .unwrap_or_default(),
                lowered: false,
                mentions: Vec::new(),
            });
        }
        let mut i = 0;
        while i < toks.len() {
            let t = toks[i];
            // Only a literal or a name starts a fold.
            if matches!(t.kind, Kind::Str | Kind::Name)
                && !skip[i]
                && fold::may_start(u.src, toks, i)
            {
                out[f].extend(computed_name(u, c, &r.envs[f].assigns, i));
            }
            if t.kind == Kind::Str && !skip[i] {
                out[f].extend(named_api(u, c, i));
                i += 1;
                continue;
            }
            if t.kind != Kind::Name
                || skip[i]
                || (i > 0 && is_op(u, i - 1, b"."))
                || binding_name(u, i)
            {
                i += 1;
                continue;
            }
            r.chain(f, i, 0, true);
            let (steps, vals) = (
                std::mem::take(&mut r.steps),
                std::mem::take(&mut r.step_vals),
            );
            if let Some(h) = best_hit(&mut r, f, i, &steps, &vals) {
                out[f].push(h);
            }
            (r.steps, r.step_vals) = (steps, vals);
            i += 1;
        }
        let side = std::mem::take(&mut r.side[f]);
        out[f].extend(side);
    }
    // Hits found while resolving names for another file belong to theirs.
    for (f, s) in r.side.iter_mut().enumerate() {
        out[f].append(s);
    }
    for (f, hits) in out.iter_mut().enumerate() {
        hits.sort_by(|a, b| (a.start, &a.rule).cmp(&(b.start, &b.rule)));
        hits.dedup_by(|a, b| a.start == b.start && a.rule == b.rule);
        built_libraries(&units[f], c, hits);
    }
    (out, r.evals)
}

/// An expression starting at token `i` that folds (`"sys" + "tem"`, a join, a decoder, an
/// f-string of literals, names assigned such values) to a name remote code has no reason
/// to build at run time: one of the `computed-name` names, or a process, dynamic-code,
/// network or native API of the catalogue (`"os" + ":system"`).
fn computed_name(u: &Unit<'_>, c: &Compiled, assigns: &fold::Assigns, i: usize) -> Option<CapHit> {
    let cap = c.computed?;
    let toks = &u.outline.lexed.toks;
    let fd = fold::fold(u.src, toks, i..toks.len(), Some(assigns), false)?;
    if !fd.computed || fd.value.is_empty() || fd.value.len() > 200 {
        return None;
    }
    let v = fd.value.trim();
    let api = c.named_capability(v).filter(|k| {
        matches!(
            k.as_str(),
            "process" | "dynamic-code" | "network" | "native"
        )
    });
    let why = match api {
        Some(k) => format!("a {k} API"),
        None if c.names.contains(v) => "a name the rules read as a literal".to_string(),
        None => return None,
    };
    let end = toks.get(fd.end.checked_sub(1)?)?.end as usize;
    Some(CapHit {
        rule: c.caps[cap].rule.clone(),
        start: toks[i].start as usize,
        end,
        what: format!("{v:?}"),
        load_level: Level::Error,
        note: format!(" (built at run time from pieces; it is {why})"),
        lowered: false,
        mentions: Vec::new(),
    })
}

/// A string that is exactly the dotted (or `module:attr`) name of a process or dynamic-code
/// API (`"subprocess.Popen"`, `"os:system"`): libraries resolve such names and call what
/// they name (`logging.config.dictConfig`'s `"()"` and `"class"`, entry points,
/// `pydoc.locate`, hydra's `_target_`), so the string is reflection on that API.
fn named_api(u: &Unit<'_>, c: &Compiled, i: usize) -> Option<CapHit> {
    let t = u.outline.lexed.toks[i];
    let text = &u.src[t.range()];
    if lex::is_fstring(text) {
        return None;
    }
    // The value is the text between the quotes with its escapes decoded: without a `.`,
    // `:` or backslash there, it names no API (`named_capability`), and most strings are not
    // worth decoding.
    if !text.iter().any(|b| matches!(b, b'.' | b':' | b'\\')) {
        return None;
    }
    let v = lex::string_value(text)?;
    if v.len() > 80 {
        return None;
    }
    let key = c.named_capability(&v)?;
    if !matches!(key.as_str(), "process" | "dynamic-code") {
        return None;
    }
    let q = v.replacen(':', ".", 1);
    let r = c.reflection?;
    Some(CapHit {
        rule: c.caps[r].rule.clone(),
        start: t.start as usize,
        end: t.end as usize,
        what: format!("{v:?}"),
        load_level: Level::Error,
        note: format!(
            " (a string naming `{q}`: libraries that resolve names call it, such as logging.config, entry points and pydoc.locate)"
        ),
        lowered: false,
        mentions: Vec::new(),
    })
}

/// A library loaded from a computed path that a build tool in the same function wrote
/// (`gcc ... -o {so}`, then `ctypes.CDLL(so)`) is the kernel the build produced: a
/// warning, like the build.
fn built_libraries(u: &Unit<'_>, c: &Compiled, hits: &mut [CapHit]) {
    let builds: Vec<(usize, Vec<String>)> = hits
        .iter()
        .filter(|h| {
            h.lowered
                && c.caps
                    .iter()
                    .any(|k| k.rule == h.rule && !k.build_tools.is_empty())
        })
        .map(|h| (u.outline.scope_at(h.start), h.mentions.clone()))
        .collect();
    for h in hits.iter_mut() {
        let native = c
            .caps
            .iter()
            .any(|k| k.rule == h.rule && !k.system_libraries.is_empty());
        if !native || h.load_level != Level::Error {
            continue;
        }
        let Some(lib) = h.mentions.first() else {
            continue;
        };
        let scope = u.outline.scope_at(h.start);
        if builds.iter().any(|(s, m)| *s == scope && m.contains(lib)) {
            h.load_level = Level::Warning;
            h.lowered = true;
            h.note = format!(" (loads `{lib}`, which a build tool above produced)");
        }
    }
}

/// The most specific catalogue match along a chain, as a hit.
fn best_hit(
    r: &mut Resolver<'_>,
    f: usize,
    head: usize,
    steps: &[Step],
    step_vals: &[V],
) -> Option<CapHit> {
    let units = r.units;
    let u = &units[f];
    let toks = &u.outline.lexed.toks;
    let mut best: Option<(usize, usize, u32, usize)> = None; // (cap, step, what, segments)
    for (si, step) in steps.iter().enumerate() {
        for v in &step_vals[step.vals.clone()] {
            let (q, resolved, bound) = match v {
                V::Ext { q, bound } => (*q, true, *bound),
                V::Raw(q) => (*q, false, 0),
                _ => continue,
            };
            let n = r.paths.len(q);
            // A value bound by an assignment is reported where it is assigned.
            if resolved && n <= bound {
                continue;
            }
            // Only a longer match replaces the best so far.
            if best.as_ref().is_some_and(|b| n <= b.3) {
                continue;
            }
            // A call of an import function is followed to what it imports (a computed
            // name is reported while resolving); a reference to it is dynamic code.
            if r.import_fns.contains(&q) && is_op(u, step.end, b"(") {
                continue;
            }
            if let Some(cap) = r.classify(q, resolved) {
                best = Some((cap, si, q, n));
            }
        }
    }
    let (cap, si, what, _) = best?;
    let what = r.paths.text(what);
    let step_end = steps[si].end;
    // The first call at or after the matched step (`ctypes.cdll.LoadLibrary(...)`), for
    // its arguments.
    let args = steps[si..]
        .iter()
        .find(|s| is_op(u, s.end, b"("))
        .and_then(|s| r.close(f, s.end).map(|c| split_args(u, s.end + 1..c)))
        .unwrap_or_default();
    let end_tok = if is_op(u, step_end, b"(") {
        r.close(f, step_end).unwrap_or(step_end - 1)
    } else {
        step_end - 1
    };
    let (load_level, note) = r.level_of(f, cap, &what, &args)?;
    let mut mentions = Vec::new();
    for a in &args {
        for j in a.clone() {
            if is_name(u, j) {
                let n = tok_str(u, j);
                mentions.push(n.to_string());
                for v in r.envs[f].assigns.get(n).into_iter().flatten() {
                    mentions.extend(
                        v.clone()
                            .filter(|&k| is_name(u, k))
                            .map(|k| tok_str(u, k).to_string()),
                    );
                }
            }
        }
    }
    Some(CapHit {
        mentions,
        rule: r.c.caps[cap].rule.clone(),
        start: toks[head].start as usize,
        end: toks[end_tok.min(toks.len() - 1)].end as usize,
        what,
        lowered: load_level < Level::Error,
        load_level,
        note,
    })
}

impl Resolver<'_> {
    /// The level a use has at load time, and why; `None`: not a use after all.
    fn level_of(
        &self,
        f: usize,
        cap: usize,
        what: &str,
        args: &[Range<usize>],
    ) -> Option<(Level, String)> {
        let u = &self.units[f];
        let c = &self.c.caps[cap];
        let pos = positional(u, args);
        if !c.build_tools.is_empty() {
            // The extension builders themselves, not a module they import
            // (`torch.utils.cpp_extension.subprocess.Popen`).
            if what
                .strip_prefix("torch.utils.cpp_extension.")
                .is_some_and(|r| !r.contains('.'))
            {
                return Some((
                    Level::Warning,
                    " (builds a kernel with the compiler toolchain)".into(),
                ));
            }
            let first = pos
                .first()
                .cloned()
                .or_else(|| keyword(u, args, "args"))
                .or_else(|| keyword(u, args, "command"));
            if let Some(a) = first
                && let Some(prog) = self.program(f, a.clone(), 0)
                && c.build_tools.iter().any(|t| t == basename(&prog))
                // One command, not a shell line that runs more.
                && !prog.contains([';', '|', '&', '`', '$', '<', '>', '\n'])
            {
                let tool = basename(&prog);
                if let Some(arg) = self.unsafe_build_arg(f, c, tool, a, args) {
                    return Some((
                        Level::Error,
                        format!(
                            " (runs `{tool}` with `{arg}`, which makes it run more than a build)"
                        ),
                    ));
                }
                return Some((
                    Level::Warning,
                    format!(
                        " (runs `{}`, a build tool named by a literal)",
                        basename(&prog)
                    ),
                ));
            }
            return Some((Level::Error, String::new()));
        }
        if !c.system_libraries.is_empty() {
            if let Some(a) = pos.first() {
                let lit = literal(u, a.clone());
                let none = a.len() == 1 && tok_text(u, a.start) == b"None";
                let find =
                    is_name(u, a.start) && (a.clone()).any(|j| tok_text(u, j) == b"find_library");
                if none
                    || find
                    || lit
                        .as_deref()
                        .is_some_and(|l| c.system_libraries.iter().any(|re| re.is_match(l)))
                {
                    return Some((
                        Level::Warning,
                        format!(
                            " (loads `{}`, a system library)",
                            lit.unwrap_or_else(|| if none {
                                "the process itself".into()
                            } else {
                                "a library found by name".into()
                            })
                        ),
                    ));
                }
            }
            return Some((Level::Error, String::new()));
        }
        if !c.standard_files.is_empty() {
            if what.starts_with("sys.path.") {
                // The file's own folder on `sys.path` is how remote code imports its siblings.
                let own = args.iter().all(|a| {
                    a.clone()
                        .any(|j| matches!(tok_text(u, j), b"__file__" | b"getcwd"))
                        || literal(u, a.clone()).is_some_and(|l| l.parse::<i64>().is_ok())
                        || (a.len() == 1 && toks_is_number(u, a.start))
                });
                if own {
                    return None;
                }
                return Some((Level::Error, " (puts a path on `sys.path`)".into()));
            }
            return Some(self.fetch_level(f, c, args));
        }
        Some((Level::Error, String::new()))
    }

    /// A warning when the call fetches only data files or the library's own file-name
    /// constants; an error when it may fetch code.
    fn fetch_level(&self, f: usize, c: &Cap, args: &[Range<usize>]) -> (Level, String) {
        let u = &self.units[f];
        let mut data = false;
        for a in args {
            let body = if a.len() >= 3 && is_name(u, a.start) && is_op(u, a.start + 1, b"=") {
                let k = tok_str(u, a.start);
                if !matches!(k, "filename" | "path_or_repo_id" | "filenames" | "path") {
                    continue;
                }
                a.start + 2..a.end
            } else {
                a.clone()
            };
            if let Some(l) = literal(u, body.clone()) {
                let ext = l.rsplit('.').next().unwrap_or("");
                if l.contains('.') && c.data_extensions.iter().any(|e| e == ext) {
                    data = true;
                } else if l.contains('.') && !l.contains('/') || l.ends_with(".py") {
                    return (Level::Error, format!(" (fetches `{l}`)"));
                }
                continue;
            }
            if body.len() == 1 && is_name(u, body.start) {
                let name = tok_str(u, body.start);
                let mut stack = vec![name.to_string()];
                let mut names = Vec::new();
                // The name, or what it is assigned from in this file (loop variables too).
                while let Some(n) = stack.pop() {
                    if names.len() > 16 {
                        break;
                    }
                    if let Some(rs) = self.envs[f].assigns.get(n.as_str()) {
                        for r in rs {
                            if r.len() == 1 && is_name(u, r.start) {
                                stack.push(tok_str(u, r.start).to_string());
                            } else if let Some(l) = literal(u, r.clone()) {
                                names.push(l);
                            }
                        }
                    } else {
                        names.push(n);
                    }
                }
                if !names.is_empty()
                    && names.iter().all(|n| {
                        c.standard_files.iter().any(|s| s == n)
                            || c.data_extensions
                                .iter()
                                .any(|e| n.ends_with(&format!(".{e}")))
                    })
                {
                    data = true;
                }
            }
        }
        if data {
            (
                Level::Warning,
                " (fetches the model's own data or weight files by name)".into(),
            )
        } else {
            (
                Level::Error,
                " (what it fetches is not known statically)".into(),
            )
        }
    }

    /// An argument with which a build tool runs what it is told rather than a build
    /// (`git -c`, `gcc -wrapper`, `make -C <folder>`: `build-tool-unsafe-args`), among
    /// the literal words of its command, or the `cwd=` of a tool that reads the build
    /// file of its folder.
    fn unsafe_build_arg(
        &self,
        f: usize,
        c: &Cap,
        tool: &str,
        cmd: Range<usize>,
        args: &[Range<usize>],
    ) -> Option<String> {
        let unsafe_args = c.build_tool_unsafe_args.get(tool)?;
        if unsafe_args.iter().any(|x| x == "cwd=") && keyword(&self.units[f], args, "cwd").is_some()
        {
            return Some("cwd=".into());
        }
        self.command_words(f, cmd, 0)
            .into_iter()
            .skip(1)
            .find(|w| unsafe_args.iter().any(|x| build_arg_may_match(x, w)))
            .map(|w| w.replace(fold::UNKNOWN, "…"))
    }

    /// The words of a command as far as they are known: the items of an argument list
    /// (folded: `"-" + "c"` is `-c`; `*extra` spreads the list `extra` is assigned), or the
    /// words of a command line (folded whole, else its literal pieces around the computed
    /// parts, `f"make {t} -f {p}"`), following assignments as `program` does. A computed
    /// part is [`fold::UNKNOWN`] (`"-" + x` is the word `-\0`).
    fn command_words(&self, f: usize, a: Range<usize>, depth: usize) -> Vec<String> {
        let u = &self.units[f];
        let toks = &u.outline.lexed.toks;
        if depth > 3 || a.is_empty() {
            return Vec::new();
        }
        let first = tok_text(u, a.start);
        if first == b"[" || first == b"(" {
            let Some(close) = self.close(f, a.start) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for it in split_args(u, a.start + 1..close) {
                if is_op(u, it.start, b"*") {
                    out.extend(self.command_words(f, it.start + 1..it.end, depth + 1));
                    continue;
                }
                out.push(
                    literal(u, it.clone())
                        .or_else(|| self.folded(f, &it))
                        .unwrap_or_else(|| fold::pieces(u.src, toks, it)),
                );
            }
            return out;
        }
        if a.len() == 1 && is_name(u, a.start) {
            let n = tok_str(u, a.start);
            return self.envs[f]
                .assigns
                .get(n)
                .into_iter()
                .flatten()
                .flat_map(|r| self.command_words(f, r.clone(), depth + 1))
                .collect();
        }
        let line = self
            .folded(f, &a)
            .unwrap_or_else(|| fold::pieces(u.src, toks, a));
        line.split_whitespace().map(str::to_string).collect()
    }

    /// The literal program a command argument starts with (following one assignment).
    fn program(&self, f: usize, a: Range<usize>, depth: usize) -> Option<String> {
        let u = &self.units[f];
        if depth > 3 || a.is_empty() {
            return None;
        }
        let first = tok_text(u, a.start);
        if first == b"[" || first == b"(" {
            let close = self.close(f, a.start)?;
            let items = split_args(u, a.start + 1..close);
            return self.program(f, items.first()?.clone(), depth + 1);
        }
        if a.len() == 1 && is_name(u, a.start) {
            let n = tok_str(u, a.start);
            let rs = self.envs[f].assigns.get(n)?;
            let progs: Vec<Option<String>> = rs
                .iter()
                .map(|r| self.program(f, r.clone(), depth + 1))
                .collect();
            let first = progs.first()?.clone()?;
            // Every assignment must name a build tool (`gcc` here, `clang` on macOS).
            let tools = &self
                .c
                .caps
                .iter()
                .find(|c| !c.build_tools.is_empty())?
                .build_tools;
            let all = progs.iter().all(|p| {
                p.as_deref().is_some_and(|p| {
                    tools.iter().any(|t| t == basename(p))
                        && !p.contains([';', '|', '&', '`', '$', '<', '>', '\n'])
                })
            });
            return all.then_some(first);
        }
        leading_literal(u, a)
    }
}

fn toks_is_number(u: &Unit<'_>, i: usize) -> bool {
    u.outline
        .lexed
        .toks
        .get(i)
        .is_some_and(|t| t.kind == Kind::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled() -> Compiled {
        let mut cat = Catalogue::default();
        cat.merge(
            "rules/genre/capabilities.yml",
            include_str!("../../rules/genre/capabilities.yml"),
        )
        .unwrap();
        cat.merge(
            "rules/genre/profile.yml",
            include_str!("../../rules/genre/profile.yml"),
        )
        .unwrap();
        Compiled::new(&cat)
    }

    /// A name assigned `fan` times at each of `levels` levels from the level below: every
    /// use of the top name has `fan^levels` assignment paths to walk.
    fn fanned(levels: usize, fan: usize) -> String {
        let mut src = String::from("import subprocess as a0\n");
        for k in 1..=levels {
            for j in 0..fan {
                src.push_str(&format!(
                    "def f{k}_{j}():\n    global a{k}\n    a{k} = a{}\n",
                    k - 1
                ));
            }
        }
        for _ in 0..50 {
            src.push_str(&format!("a{levels}.Popen(['true'])\n"));
        }
        src
    }

    /// `names` names that are all assigned from each other (in `names - 1` functions each),
    /// one of them also from `subprocess`, and `users` other names assigned from them,
    /// whose `Popen` is called: one cycle of assignments, as in a file whose methods all rebind
    /// `f`, `g` and `per` from each other.
    fn cycle(names: usize, users: usize) -> String {
        let mut src = String::from("import subprocess\n");
        for k in 0..names {
            for j in (0..names).filter(|&j| j != k) {
                src.push_str(&format!("def d{k}_{j}(c{j}):\n    c{k} = c{j}\n"));
            }
        }
        src.push_str("def start():\n    c0 = subprocess\n");
        for i in 0..users {
            src.push_str(&format!("u{i} = c{}\nu{i}.Popen(['true'])\n", i % names));
        }
        src
    }

    /// The arena's classification (segments walked, no text) is the text's, for the
    /// catalogue's own names and names around them.
    #[test]
    fn paths_are_classified_as_their_text() {
        let c = compiled();
        let mut names: Vec<String> = [
            "os.system",
            "subprocess.Popen()",
            "torch.hub.os.system",
            "logging.os.system()",
            "a.b.exec_module",
            "x.create_connection",
            "loop.subprocess_exec()",
            "socket.AF_INET",
            "socket.socket",
            "ctypes.CDLL",
            "ctypes.cdll.LoadLibrary()",
            "os.path.join",
            "builtins.exec",
            "builtins.__import__",
            "importlib.util.spec_from_file_location",
            "self.exec_module",
            "exec_module",
            "a..b",
        ]
        .map(String::from)
        .to_vec();
        for (p, _) in c.apis.iter().chain(&c.suffixes) {
            let q = p.join(".").replace('*', "x");
            names.extend([
                q.clone(),
                format!("{q}()"),
                format!("m.{q}"),
                format!("{q}.y"),
            ]);
        }
        for m in c.modules.keys() {
            names.extend([
                m.clone(),
                format!("{m}.run"),
                format!("{m}.SOME_CONST"),
                format!("{m}.__x"),
                format!("pkg.{m}.run"),
            ]);
        }
        let mut paths = Paths::default();
        for q in &names {
            let id = paths.intern(q);
            assert_eq!(paths.text(id), *q);
            for resolved in [false, true] {
                assert_eq!(
                    paths.class(&c, id, resolved),
                    c.classify(q, resolved),
                    "{q} {resolved}"
                );
            }
        }
    }

    #[test]
    fn names_in_one_cycle_of_assignments_are_evaluated_once_per_context() {
        let c = compiled();
        let src = cycle(6, 60);
        let o = Outline::new(src.as_bytes());
        let units = [Unit {
            path: "m.py",
            src: src.as_bytes(),
            outline: &o,
            entry: true,
        }];
        let (hits, evals) = scan_counted(&units, &c);
        // Every user resolves through the cycle to `subprocess.Popen`, whichever of the
        // names it reads.
        let popen: Vec<&CapHit> = hits[0]
            .iter()
            .filter(|h| h.what == "subprocess.Popen" && h.rule == "process-creation")
            .collect();
        assert_eq!(popen.len(), 60, "{hits:?}");
        // Every simple path through the cycle is walked once, not once per user.
        // 446 here; 21,578 when a name in a cycle was walked again for every use.
        assert!(evals <= 1_000, "{evals} name evaluations");
    }

    #[test]
    fn names_cut_by_the_depth_limit_are_evaluated_once_per_depth() {
        let c = compiled();
        // Twelve levels: the top names are cut by the depth limit, their values depend on
        // the depth they are asked at.
        let src = fanned(12, 3);
        let o = Outline::new(src.as_bytes());
        let units = [Unit {
            path: "m.py",
            src: src.as_bytes(),
            outline: &o,
            entry: true,
        }];
        let (hits, evals) = scan_counted(&units, &c);
        // Beyond the depth limit the name is not followed to `subprocess` (as before).
        assert!(
            !hits[0].iter().any(|h| h.what == "subprocess.Popen"),
            "{hits:?}"
        );
        // At most one evaluation per name and depth (13 names, 9 depths), not 3^8 per use.
        assert!(evals <= 13 * 9 + 20, "{evals} name evaluations");
    }

    #[test]
    fn the_bracket_table_agrees_with_the_scan_for_every_bracket() {
        let src = "x = f(a[1], {b: (c)}, g(h(i)))\ny = f\"{d(e[0])}{ {1: 2}[1] }\" + k(\n  [1, (2\n)\nz = (1, [2)\nw = )( (\n";
        let o = Outline::new(src.as_bytes());
        let u = Unit {
            path: "m.py",
            src: src.as_bytes(),
            outline: &o,
            entry: true,
        };
        let table = closers(&u);
        let mut brackets = 0;
        for (i, t) in o.lexed.toks.iter().enumerate() {
            if t.kind == Kind::Op && matches!(&u.src[t.range()], b"(" | b"[" | b"{") {
                brackets += 1;
                let want = lex::closing(&o.lexed.toks, u.src, i);
                let got = Some(table[i] as usize).filter(|_| table[i] != u32::MAX);
                assert_eq!(got, want, "bracket at token {i}");
            }
        }
        assert!(brackets >= 15);
    }

    #[test]
    fn names_are_evaluated_once_however_many_paths_lead_to_them() {
        let c = compiled();
        let src = fanned(8, 4);
        let o = Outline::new(src.as_bytes());
        let units = [Unit {
            path: "m.py",
            src: src.as_bytes(),
            outline: &o,
            entry: true,
        }];
        let (hits, evals) = scan_counted(&units, &c);
        // Every use resolves through the eight levels of assignments to `subprocess.Popen`.
        let popen: Vec<&CapHit> = hits[0]
            .iter()
            .filter(|h| h.what == "subprocess.Popen")
            .collect();
        assert_eq!(popen.len(), 50, "{hits:?}");
        assert!(popen.iter().all(|h| h.rule == "process-creation"));
        // Nine names (and the few builtins and locals the file mentions), each evaluated
        // about once, not 4^8 = 65,536 walks per use.
        assert!(evals <= 40, "{evals} name evaluations");
    }
}
