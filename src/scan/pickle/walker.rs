//! One pickle stream walked opcode by opcode with the stack discipline of CPython's
//! `_pickle` unpickler (marks fence the stack, memo by reference), without loading it:
//! every imported global is recorded with how it is used (called, passed to a call,
//! or only imported), and any call of something that is not a plain global is noted.

use std::collections::HashMap;

/// Bounds on one file's walk. Over any of them the walk stops with `End::Capped`
/// (the target is unverified, never passed).
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Opcodes over all the streams of one file.
    pub ops: usize,
    /// Memo entries of one stream.
    pub memo: usize,
    /// Values on the stack of one stream.
    pub stack: usize,
    /// Open MARKs (nesting depth) of one stream.
    pub marks: usize,
    /// Objects tracked in one stream.
    pub objects: usize,
    /// Steps spent following what a call's arguments reach, over one file.
    pub trace: usize,
}

pub const CAPS: Caps = Caps {
    ops: 10_000_000,
    memo: 2_000_000,
    stack: 2_000_000,
    marks: 100_000,
    objects: 4_000_000,
    trace: 40_000_000,
};

/// Longest string kept as a possible STACK_GLOBAL operand; longer ones are
/// remembered as "a string" and make any global built from them unresolvable.
const MAX_KEPT_STR: usize = 4096;

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// STOP; the offset just after it (where a following pickle would start).
    Stop(usize),
    /// The unpickler raises here (unknown opcode, stack underflow, bad argument):
    /// nothing after this offset runs.
    Broken { at: usize, why: String },
    /// The bytes ran out before STOP.
    Truncated { at: usize },
    /// A walker cap was exceeded.
    Capped(String),
}

/// How a global is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    /// `called with REDUCE`, `passed to torch._utils._rebuild_tensor_v2 (REDUCE)`, ...
    pub how: String,
    pub offset: usize,
}

/// A global the stream imports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// `module.qualname` as the unpickler resolves it; `?` parts when an operand is
    /// not a constant string (the name is then unknowable statically).
    pub name: String,
    /// GLOBAL, STACK_GLOBAL, INST or EXT1/2/4.
    pub opcode: &'static str,
    pub offset: usize,
    /// The first use that makes it run (None: imported, never called or passed).
    pub called: Option<Use>,
}

/// A call of something that is not a global (the result of a call, a persistent id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computed {
    pub what: String,
    pub offset: usize,
}

/// The most the walk held at once (each stays within its cap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peak {
    pub stack: usize,
    pub marks: usize,
    pub memo: usize,
    pub objects: usize,
    pub links: usize,
}

/// What one stream does when loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamReport {
    pub protocol: Option<u8>,
    pub imports: Vec<Import>,
    pub computed: Vec<Computed>,
    pub end: End,
    pub peak: Peak,
}

const NONE: u32 = u32::MAX;
/// Object 0: any constant (number, None, bytes, a tuple of constants).
const CONST: u32 = 0;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Const,
    /// A str; index into `strs`, or NONE when too long to keep.
    Str(u32),
    /// An imported global (index into `imports`).
    Global(u32),
    /// The result of a call of a global (index) or of something computed (NONE).
    Result(u32),
    /// A list, dict, set or tuple that may hold globals.
    Bag,
}

#[derive(Clone, Copy, Debug)]
struct Obj {
    kind: Kind,
    /// First of the objects it holds (a link in `links`), NONE if none.
    head: u32,
}

/// Budget shared by the streams of one file.
#[derive(Debug, Default)]
pub struct Budget {
    pub ops: usize,
    pub trace: usize,
}

struct Walker<'a> {
    b: &'a [u8],
    /// Offset of `b[0]` in the file (for messages).
    base: usize,
    pos: usize,
    caps: Caps,
    stack: Vec<u32>,
    marks: Vec<usize>,
    memo: HashMap<u64, u32>,
    objs: Vec<Obj>,
    /// (child, next) links of the objects' contents.
    links: Vec<(u32, u32)>,
    strs: Vec<Box<str>>,
    /// Traversal epoch per object.
    seen: Vec<u32>,
    epoch: u32,
    report: StreamReport,
}

enum Stop {
    End(End),
}

type Step<T> = Result<T, Stop>;

fn broken<T>(at: usize, why: impl Into<String>) -> Step<T> {
    Err(Stop::End(End::Broken {
        at,
        why: why.into(),
    }))
}

/// Walk the pickle that starts at `b[0]` (`base` is its offset in the file).
pub fn walk(b: &[u8], base: usize, caps: Caps, budget: &mut Budget) -> StreamReport {
    let mut w = Walker {
        b,
        base,
        pos: 0,
        caps,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objs: vec![Obj {
            kind: Kind::Const,
            head: NONE,
        }],
        links: Vec::new(),
        strs: Vec::new(),
        seen: vec![0],
        epoch: 0,
        report: StreamReport {
            protocol: None,
            imports: Vec::new(),
            computed: Vec::new(),
            end: End::Truncated { at: base },
            peak: Peak::default(),
        },
    };
    let end = match w.run(budget) {
        Ok(end) => end,
        Err(Stop::End(e)) => e,
    };
    w.report.end = end;
    // The stack, memo and object table only grow until the end: their final sizes
    // are their peaks (marks are counted at each push).
    w.report.peak.stack = w.report.peak.stack.max(w.stack.len());
    w.report.peak.memo = w.memo.len();
    w.report.peak.objects = w.objs.len();
    w.report.peak.links = w.links.len();
    w.report
}

/// Python 2 names that `fix_imports` maps for protocols below 3 (the ones a safe list
/// can name; anything else stays unmapped and so unsafe).
fn fix_import(module: &str, name: &str) -> (String, String) {
    let mapped = match (module, name) {
        ("__builtin__", "xrange") => Some(("builtins", "range")),
        ("__builtin__", "unicode") | ("__builtin__", "basestring") => Some(("builtins", "str")),
        ("__builtin__", "long") => Some(("builtins", "int")),
        ("__builtin__", "unichr") => Some(("builtins", "chr")),
        ("__builtin__", "reduce") => Some(("functools", "reduce")),
        ("__builtin__", "intern") => Some(("sys", "intern")),
        _ => None,
    };
    if let Some((m, n)) = mapped {
        return (m.to_string(), n.to_string());
    }
    let m = match module {
        "__builtin__" | "exceptions" => "builtins",
        "copy_reg" => "copyreg",
        other => other,
    };
    (m.to_string(), name.to_string())
}

impl Walker<'_> {
    fn at(&self) -> usize {
        self.base + self.pos
    }

    fn take(&mut self, n: usize) -> Step<&[u8]> {
        match self.pos.checked_add(n).filter(|&e| e <= self.b.len()) {
            Some(end) => {
                let s = &self.b[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(Stop::End(End::Truncated { at: self.at() })),
        }
    }

    fn uint(&mut self, n: usize) -> Step<u64> {
        let s = self.take(n)?;
        Ok(s.iter()
            .enumerate()
            .fold(0u64, |v, (i, b)| v | (u64::from(*b) << (8 * i))))
    }

    /// A newline-terminated argument, without the newline.
    fn line(&mut self) -> Step<&[u8]> {
        match memchr::memchr(b'\n', &self.b[self.pos..]) {
            Some(i) => {
                let s = &self.b[self.pos..self.pos + i];
                self.pos += i + 1;
                Ok(s)
            }
            None => Err(Stop::End(End::Truncated {
                at: self.base + self.b.len(),
            })),
        }
    }

    /// A length-prefixed argument (`width` bytes of little-endian length).
    fn counted(&mut self, width: usize, at: usize) -> Step<&[u8]> {
        let n = self.uint(width)?;
        if width == 4 && n > i32::MAX as u64 {
            // BINSTRING/BINUNICODE/BINBYTES lengths are signed or checked by CPython.
            return broken(at, format!("negative or oversized length {n}"));
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        self.take(n)
    }

    fn new_obj(&mut self, kind: Kind) -> Step<u32> {
        if self.objs.len() >= self.caps.objects {
            return Err(Stop::End(End::Capped(format!(
                "more than {} objects in one pickle",
                self.caps.objects
            ))));
        }
        self.objs.push(Obj { kind, head: NONE });
        self.seen.push(0);
        Ok((self.objs.len() - 1) as u32)
    }

    fn push(&mut self, id: u32) -> Step<()> {
        if self.stack.len() >= self.caps.stack {
            return Err(Stop::End(End::Capped(format!(
                "more than {} values on the pickle stack",
                self.caps.stack
            ))));
        }
        self.stack.push(id);
        self.report.peak.stack = self.report.peak.stack.max(self.stack.len());
        Ok(())
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self, at: usize) -> Step<u32> {
        if self.stack.len() <= self.fence() {
            return broken(at, "unpickling stack underflow");
        }
        Ok(self.stack.pop().unwrap_or(CONST))
    }

    fn top(&self, at: usize) -> Step<u32> {
        if self.stack.len() <= self.fence() {
            return broken(at, "unpickling stack underflow");
        }
        Ok(self.stack.last().copied().unwrap_or(CONST))
    }

    /// Pop to the last MARK, returning the items above it (bottom first).
    fn pop_mark(&mut self, at: usize) -> Step<Vec<u32>> {
        let Some(m) = self.marks.pop() else {
            return broken(at, "could not find MARK");
        };
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    /// Whether an object may reach a global, now or after later SETITEMS/APPENDS.
    fn interesting(&self, id: u32) -> bool {
        !matches!(self.objs[id as usize].kind, Kind::Const | Kind::Str(_))
    }

    fn add_kid(&mut self, parent: u32, kid: u32) -> Step<()> {
        if parent == CONST || !self.interesting(kid) {
            return Ok(());
        }
        if self.links.len() >= self.caps.objects {
            return Err(Stop::End(End::Capped(format!(
                "more than {} contained objects in one pickle",
                self.caps.objects
            ))));
        }
        let head = self.objs[parent as usize].head;
        self.links.push((kid, head));
        self.objs[parent as usize].head = (self.links.len() - 1) as u32;
        Ok(())
    }

    /// A tuple or frozenset of `items`: a constant unless it holds something that may
    /// reach a global.
    fn frozen(&mut self, items: &[u32]) -> Step<u32> {
        if !items.iter().any(|&i| self.interesting(i)) {
            return Ok(CONST);
        }
        let bag = self.new_obj(Kind::Bag)?;
        for &i in items {
            self.add_kid(bag, i)?;
        }
        Ok(bag)
    }

    fn bag_of(&mut self, items: &[u32]) -> Step<u32> {
        let bag = self.new_obj(Kind::Bag)?;
        for &i in items {
            self.add_kid(bag, i)?;
        }
        Ok(bag)
    }

    fn global_name(&self, g: u32) -> &str {
        &self.report.imports[g as usize].name
    }

    fn describe(&self, id: u32) -> String {
        match self.objs[id as usize].kind {
            Kind::Global(g) => format!("`{}`", self.global_name(g)),
            Kind::Result(NONE) => "a computed object".to_string(),
            Kind::Result(g) => format!("an object made by `{}`", self.global_name(g)),
            Kind::Bag => "a container".to_string(),
            Kind::Str(_) => "a string".to_string(),
            Kind::Const => "a constant".to_string(),
        }
    }

    /// Mark every global that `roots` reach as run (`how`, first use wins).
    fn reach(&mut self, roots: &[u32], how: &str, at: usize, budget: &mut Budget) -> Step<()> {
        self.epoch = self.epoch.wrapping_add(1).max(1);
        let mut todo: Vec<u32> = roots.to_vec();
        while let Some(id) = todo.pop() {
            budget.trace += 1;
            if budget.trace > self.caps.trace {
                return Err(Stop::End(End::Capped(format!(
                    "more than {} steps following call arguments",
                    self.caps.trace
                ))));
            }
            let i = id as usize;
            if id == CONST || self.seen[i] == self.epoch {
                continue;
            }
            self.seen[i] = self.epoch;
            let o = self.objs[i];
            if let Kind::Global(g) = o.kind {
                let imp = &mut self.report.imports[g as usize];
                if imp.called.is_none() {
                    imp.called = Some(Use {
                        how: how.to_string(),
                        offset: at,
                    });
                }
            }
            let mut link = o.head;
            while link != NONE {
                let (kid, next) = self.links[link as usize];
                todo.push(kid);
                link = next;
            }
        }
        Ok(())
    }

    /// A call of `callee` with `args` by `opcode`; returns the result object.
    fn call(
        &mut self,
        callee: u32,
        args: &[u32],
        opcode: &'static str,
        at: usize,
        budget: &mut Budget,
    ) -> Step<u32> {
        let kind = self.objs[callee as usize].kind;
        let result_of = match kind {
            Kind::Global(g) => {
                self.reach(&[callee], &format!("called with {opcode}"), at, budget)?;
                g
            }
            Kind::Result(_) => {
                let what = format!("{opcode} calls {}", self.describe(callee));
                self.report.computed.push(Computed { what, offset: at });
                self.reach(&[callee], &format!("called with {opcode}"), at, budget)?;
                NONE
            }
            Kind::Const | Kind::Str(_) | Kind::Bag => {
                return broken(
                    at,
                    format!(
                        "{opcode} of {}, which is not callable",
                        self.describe(callee)
                    ),
                );
            }
        };
        let how = match kind {
            Kind::Global(g) => format!("passed to `{}` ({opcode})", self.global_name(g)),
            _ => format!("passed to a computed call ({opcode})"),
        };
        self.reach(args, &how, at, budget)?;
        self.new_obj(Kind::Result(result_of))
    }

    /// SETITEM(S)/APPEND(S)/ADDITEMS/BUILD into `target`.
    fn fill(
        &mut self,
        target: u32,
        items: &[u32],
        opcode: &'static str,
        at: usize,
        budget: &mut Budget,
    ) -> Step<()> {
        match self.objs[target as usize].kind {
            Kind::Bag => {}
            Kind::Result(g) => {
                if g == NONE || opcode == "BUILD" {
                    let owner = if g == NONE {
                        "a computed object".to_string()
                    } else {
                        format!("`{}`", self.global_name(g))
                    };
                    let how = format!("passed to {owner} ({opcode})");
                    if g == NONE && opcode == "BUILD" {
                        self.report.computed.push(Computed {
                            what: format!("BUILD sets the state of {}", self.describe(target)),
                            offset: at,
                        });
                    }
                    self.reach(items, &how, at, budget)?;
                }
            }
            Kind::Global(g) => {
                // A method of the global itself runs (`__setstate__`, `append`, ...),
                // or its attributes are overwritten.
                let what = format!("{opcode} on the global `{}` itself", self.global_name(g));
                self.report.computed.push(Computed { what, offset: at });
                self.reach(&[target], &format!("target of {opcode}"), at, budget)?;
                self.reach(items, &format!("passed to {opcode}"), at, budget)?;
            }
            Kind::Const | Kind::Str(_) => {
                return broken(at, format!("{opcode} into {}", self.describe(target)));
            }
        }
        if target != CONST {
            for &i in items {
                self.add_kid(target, i)?;
            }
        }
        Ok(())
    }

    fn text_str(&mut self, s: String) -> Step<u32> {
        if s.len() > MAX_KEPT_STR {
            return self.new_obj(Kind::Str(NONE));
        }
        self.strs.push(s.into_boxed_str());
        let i = (self.strs.len() - 1) as u32;
        self.new_obj(Kind::Str(i))
    }

    fn string_of(&self, id: u32) -> Option<Option<&str>> {
        match self.objs[id as usize].kind {
            Kind::Str(NONE) => Some(None),
            Kind::Str(i) => Some(Some(&self.strs[i as usize])),
            _ => None,
        }
    }

    fn import(&mut self, module: &str, name: &str, opcode: &'static str, at: usize) -> Step<u32> {
        // `fix_imports` applies below protocol 3; mapping always only turns a
        // Python 2 name that would fail to import into the object it names there.
        let (module, name) = fix_import(module, name);
        self.report.imports.push(Import {
            name: format!("{module}.{name}"),
            opcode,
            offset: at,
            called: None,
        });
        let g = (self.report.imports.len() - 1) as u32;
        self.new_obj(Kind::Global(g))
    }

    fn utf8<'b>(s: &'b [u8], at: usize, what: &str) -> Step<&'b str> {
        std::str::from_utf8(s).or_else(|_| broken(at, format!("{what} is not UTF-8")))
    }

    fn memo_put(&mut self, key: u64, at: usize) -> Step<()> {
        let v = self.top(at)?;
        if self.memo.len() >= self.caps.memo && !self.memo.contains_key(&key) {
            return Err(Stop::End(End::Capped(format!(
                "more than {} memo entries",
                self.caps.memo
            ))));
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u64, at: usize) -> Step<()> {
        match self.memo.get(&key) {
            Some(&v) => self.push(v),
            None => broken(at, format!("memo value not found at index {key}")),
        }
    }

    fn decimal_key(s: &[u8], at: usize) -> Step<u64> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map_or_else(|| broken(at, "bad memo index"), Ok)
    }

    fn run(&mut self, budget: &mut Budget) -> Step<End> {
        loop {
            budget.ops += 1;
            if budget.ops > self.caps.ops {
                return Ok(End::Capped(format!("more than {} opcodes", self.caps.ops)));
            }
            let at = self.at();
            let op = match self.take(1) {
                Ok(s) => s[0],
                Err(e) => return Err(e),
            };
            match op {
                b'.' => {
                    self.pop(at)?;
                    return Ok(End::Stop(self.at()));
                }
                b'(' => {
                    if self.marks.len() >= self.caps.marks {
                        return Ok(End::Capped(format!(
                            "more than {} nested MARKs",
                            self.caps.marks
                        )));
                    }
                    self.marks.push(self.stack.len());
                    self.report.peak.marks = self.report.peak.marks.max(self.marks.len());
                }
                b'0' => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop(at)?;
                    }
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let v = self.top(at)?;
                    self.push(v)?;
                }
                b'F' | b'I' | b'L' => {
                    self.line()?;
                    self.push(CONST)?;
                }
                b'J' => {
                    self.take(4)?;
                    self.push(CONST)?;
                }
                b'K' => {
                    self.take(1)?;
                    self.push(CONST)?;
                }
                b'M' => {
                    self.take(2)?;
                    self.push(CONST)?;
                }
                b'G' => {
                    self.take(8)?;
                    self.push(CONST)?;
                }
                0x8a => {
                    self.counted(1, at)?;
                    self.push(CONST)?;
                }
                0x8b => {
                    self.counted(4, at)?;
                    self.push(CONST)?;
                }
                b'N' | 0x88 | 0x89 | b')' => self.push(CONST)?,
                b'S' => {
                    let s = self.line()?.to_vec();
                    let s = unquote(&s).map_or_else(
                        || broken(at, "the STRING opcode argument must be quoted"),
                        Ok,
                    )?;
                    let id = self.text_str(String::from_utf8_lossy(&s).into_owned())?;
                    self.push(id)?;
                }
                b'T' | b'X' => {
                    let s = self.counted(4, at)?;
                    let t = if op == b'X' {
                        Self::utf8(s, at, "BINUNICODE")?.to_string()
                    } else {
                        String::from_utf8_lossy(s).into_owned()
                    };
                    let id = self.text_str(t)?;
                    self.push(id)?;
                }
                b'U' | 0x8c => {
                    let s = self.counted(1, at)?;
                    let t = if op == 0x8c {
                        Self::utf8(s, at, "SHORT_BINUNICODE")?.to_string()
                    } else {
                        String::from_utf8_lossy(s).into_owned()
                    };
                    let id = self.text_str(t)?;
                    self.push(id)?;
                }
                0x8d => {
                    let s = self.counted(8, at)?;
                    let t = Self::utf8(s, at, "BINUNICODE8")?.to_string();
                    let id = self.text_str(t)?;
                    self.push(id)?;
                }
                b'V' => {
                    let s = self.line()?.to_vec();
                    let id = self.text_str(raw_unicode_escape(&s))?;
                    self.push(id)?;
                }
                b'B' => {
                    self.counted(4, at)?;
                    self.push(CONST)?;
                }
                b'C' => {
                    self.counted(1, at)?;
                    self.push(CONST)?;
                }
                0x8e | 0x96 => {
                    self.counted(8, at)?;
                    self.push(CONST)?;
                }
                b']' | b'}' | 0x8f => {
                    let id = self.new_obj(Kind::Bag)?;
                    self.push(id)?;
                }
                b'l' => {
                    let items = self.pop_mark(at)?;
                    let id = self.bag_of(&items)?;
                    self.push(id)?;
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    if items.len() % 2 != 0 {
                        return broken(at, "odd number of items for DICT");
                    }
                    let id = self.bag_of(&items)?;
                    self.push(id)?;
                }
                b't' | 0x91 => {
                    let items = self.pop_mark(at)?;
                    let id = self.frozen(&items)?;
                    self.push(id)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at)?);
                    }
                    items.reverse();
                    let id = self.frozen(&items)?;
                    self.push(id)?;
                }
                b'a' => {
                    let v = self.pop(at)?;
                    let list = self.top(at)?;
                    self.fill(list, &[v], "APPEND", at, budget)?;
                }
                b'e' | b'u' | 0x90 => {
                    let items = self.pop_mark(at)?;
                    if op == b'u' && items.len() % 2 != 0 {
                        return broken(at, "odd number of items for SETITEMS");
                    }
                    let target = self.top(at)?;
                    let name = match op {
                        b'e' => "APPENDS",
                        b'u' => "SETITEMS",
                        _ => "ADDITEMS",
                    };
                    self.fill(target, &items, name, at, budget)?;
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let d = self.top(at)?;
                    self.fill(d, &[k, v], "SETITEM", at, budget)?;
                }
                b'p' => {
                    let s = self.line()?.to_vec();
                    let key = Self::decimal_key(&s, at)?;
                    self.memo_put(key, at)?;
                }
                b'q' => {
                    let key = self.uint(1)?;
                    self.memo_put(key, at)?;
                }
                b'r' => {
                    let key = self.uint(4)?;
                    self.memo_put(key, at)?;
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key, at)?;
                }
                b'g' => {
                    let s = self.line()?.to_vec();
                    let key = Self::decimal_key(&s, at)?;
                    self.memo_get(key, at)?;
                }
                b'h' => {
                    let key = self.uint(1)?;
                    self.memo_get(key, at)?;
                }
                b'j' => {
                    let key = self.uint(4)?;
                    self.memo_get(key, at)?;
                }
                b'c' | b'i' => {
                    let module = self.line()?.to_vec();
                    let name = self.line()?.to_vec();
                    if module.is_empty() || name.is_empty() {
                        return broken(at, "pickle data was truncated (empty GLOBAL argument)");
                    }
                    let module = Self::utf8(&module, at, "GLOBAL module")?.to_string();
                    let name = Self::utf8(&name, at, "GLOBAL name")?.to_string();
                    if op == b'c' {
                        let g = self.import(&module, &name, "GLOBAL", at)?;
                        self.push(g)?;
                    } else {
                        let args = self.pop_mark(at)?;
                        let g = self.import(&module, &name, "INST", at)?;
                        let r = self.call(g, &args, "INST", at, budget)?;
                        self.push(r)?;
                    }
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (m, n) = match (self.string_of(module), self.string_of(name)) {
                        (Some(m), Some(n)) => {
                            (m.unwrap_or("?").to_string(), n.unwrap_or("?").to_string())
                        }
                        (m, n) => {
                            // Strings made at load time (by a call) are strings to the
                            // unpickler but unknowable here; anything else is rejected.
                            let dynamic = |id: u32, s: Option<Option<&str>>| match s {
                                Some(s) => Some(s.unwrap_or("?").to_string()),
                                None if matches!(self.objs[id as usize].kind, Kind::Result(_)) => {
                                    Some("?".to_string())
                                }
                                None => None,
                            };
                            match (dynamic(module, m), dynamic(name, n)) {
                                (Some(m), Some(n)) => (m, n),
                                _ => return broken(at, "STACK_GLOBAL requires str"),
                            }
                        }
                    };
                    let g = self.import(&m, &n, "STACK_GLOBAL", at)?;
                    self.push(g)?;
                }
                0x82..=0x84 => {
                    let width = match op {
                        0x82 => 1,
                        0x83 => 2,
                        _ => 4,
                    };
                    let code = self.uint(width)?;
                    let opcode = ["EXT1", "EXT2", "EXT4"][usize::from(op - 0x82)];
                    // The copyreg extension registry is empty unless some import fills
                    // it: the global is unknowable here.
                    let g = self.import(&format!("?copyreg-extension-{code}"), "?", opcode, at)?;
                    self.push(g)?;
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let callee = self.pop(at)?;
                    let r = self.call(callee, &[args], "REDUCE", at, budget)?;
                    self.push(r)?;
                }
                0x81 => {
                    let args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let r = self.call(cls, &[args], "NEWOBJ", at, budget)?;
                    self.push(r)?;
                }
                0x92 => {
                    let kwargs = self.pop(at)?;
                    let args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let r = self.call(cls, &[args, kwargs], "NEWOBJ_EX", at, budget)?;
                    self.push(r)?;
                }
                b'o' => {
                    let items = self.pop_mark(at)?;
                    let Some((&cls, args)) = items.split_first() else {
                        return broken(at, "unpickling stack underflow (OBJ)");
                    };
                    let r = self.call(cls, args, "OBJ", at, budget)?;
                    self.push(r)?;
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let inst = self.top(at)?;
                    self.fill(inst, &[state], "BUILD", at, budget)?;
                }
                b'P' | b'Q' => {
                    let pid = if op == b'P' {
                        self.line()?;
                        CONST
                    } else {
                        self.pop(at)?
                    };
                    // torch's persistent_load may hand back a global from the id
                    // (legacy `module` records): the result is a computed object.
                    self.reach(&[pid], "passed to persistent_load", at, budget)?;
                    let r = self.new_obj(Kind::Result(NONE))?;
                    self.add_kid(r, pid)?;
                    self.push(r)?;
                }
                0x80 => {
                    let p = self.uint(1)? as u8;
                    if p > 5 {
                        return broken(at, format!("unsupported pickle protocol: {p}"));
                    }
                    self.report.protocol.get_or_insert(p);
                }
                0x95 => {
                    self.take(8)?;
                }
                0x97 => self.push(CONST)?,
                0x98 => {
                    self.top(at)?;
                }
                other => {
                    return broken(at, format!("invalid load key 0x{other:02x}"));
                }
            }
        }
    }
}

/// The body of a protocol-0 STRING argument: quoted, with Python's bytes escapes.
fn unquote(s: &[u8]) -> Option<Vec<u8>> {
    let q = *s.first()?;
    if s.len() < 2 || (q != b'\'' && q != b'"') || s[s.len() - 1] != q {
        return None;
    }
    Some(bytes_unescape(&s[1..s.len() - 1]))
}

/// `codecs.escape_decode`: `\\`, `\'`, `\"`, `\n`-style, `\xHH` and octal escapes.
fn bytes_unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 >= s.len() {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let c = s[i + 1];
        i += 2;
        match c {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(c),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'x' => {
                let hex = s.get(i..i + 2).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.extend_from_slice(b"\\x"),
                }
            }
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    out
}

/// `raw-unicode-escape` decoding of a protocol-0 UNICODE argument.
fn raw_unicode_escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() && (s[i + 1] == b'u' || s[i + 1] == b'U') {
            let n = if s[i + 1] == b'u' { 4 } else { 8 };
            let hex = s
                .get(i + 2..i + 2 + n)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(c) = hex
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
            {
                out.push(c);
                i += 2 + n;
                continue;
            }
        }
        out.push(char::from(s[i]));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(b: &[u8]) -> StreamReport {
        walk(b, 0, CAPS, &mut Budget::default())
    }

    #[test]
    fn reduce_marks_the_callee_called() {
        let r = run(b"cos\nsystem\n(S'true'\ntR.");
        assert_eq!(r.imports[0].name, "os.system");
        assert_eq!(
            r.imports[0].called.as_ref().unwrap().how,
            "called with REDUCE"
        );
        assert_eq!(r.end, End::Stop(23));
    }

    #[test]
    fn globals_passed_in_arguments_are_called() {
        // copyreg._reconstructor(os.system, object, None): the class argument is called.
        let r = run(b"ccopy_reg\n_reconstructor\n(cos\nsystem\nc__builtin__\nobject\nNtR.");
        let names: Vec<_> = r.imports.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["copyreg._reconstructor", "os.system", "builtins.object"]
        );
        assert!(
            r.imports[1]
                .called
                .as_ref()
                .unwrap()
                .how
                .contains("passed to `copyreg._reconstructor`")
        );
    }

    #[test]
    fn a_global_in_a_list_filled_after_it_was_passed_is_found() {
        // L = []; t = (L,); L.append(os.system); OrderedDict(t)
        let r = run(b"ccollections\nOrderedDict\n]q\x00\x85h\x00cos\nsystem\na0R.");
        let how = &r.imports[1].called.as_ref().unwrap().how;
        assert!(how.contains("passed to `collections.OrderedDict`"), "{how}");
    }

    #[test]
    fn unused_global_is_only_imported() {
        let r = run(b"cos\nsystem\n0N.");
        assert_eq!(r.imports[0].called, None);
    }

    #[test]
    fn escapes_in_protocol0_strings_are_decoded() {
        let r = run(b"S'\\x6fs'\nS'sys\\164em'\n\x93)R.");
        assert_eq!(r.imports[0].name, "os.system");
        let r = run(b"V\\u006fs\nVsystem\n\x93)R.");
        assert_eq!(r.imports[0].name, "os.system");
    }

    #[test]
    fn marks_fence_the_stack() {
        let r = run(b"cos\nsystem\n(R.");
        assert!(matches!(r.end, End::Broken { .. }), "{r:?}");
    }

    #[test]
    fn calling_a_call_result_is_computed() {
        let r = run(b"\x80\x04\x8c\x08builtins\x8c\x07getattr\x93)R)R.");
        assert_eq!(r.computed.len(), 1);
    }
}
