//! Constant folding of string expressions, as Python evaluates them: `"sys" + "tem"`,
//! `"".join(["o", "s"])`, `f"{'sy'}stem"`, `chr(111) + chr(115)`, `"metsys"[::-1]`,
//! `"%s%s" % ("sy", "stem")`, `"{}{}".format(..)`, `bytes.fromhex("..").decode()`,
//! `base64.b64decode("..")`, `codecs.decode("..", "rot13")`, `"".join(map(chr, [..]))`,
//! comprehensions over literal lists, and names a file assigns only from such expressions.
//!
//! Rules and catalogues read names as literals; an attacker writes the same name as an
//! expression that only run time folds. Folding it here lets a finding name what the code
//! reaches (issue 10 §3: unknown is never clean, and what can be known is named). Nothing is
//! executed: only these pure, bounded operations are evaluated, and anything else (a call,
//! an attribute, a name bound by other means) makes the expression unknown.

use std::ops::Range;

use base64::Engine as _;

use super::lex::{self, Kind, Token};

/// Longest string a fold builds (longer values are not names).
const MAX_LEN: usize = 4096;
/// Nesting of expressions and of names followed through assignments.
const MAX_DEPTH: usize = 16;
/// Atoms evaluated per fold: a bound on the work, whatever the input.
const MAX_STEPS: usize = 4000;

/// A folded expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Folded {
    pub value: String,
    /// Built by an operation (concatenation, join, decoding, a name's value), not written
    /// as one literal: the code computes a name it could have written.
    pub computed: bool,
    /// Token after the expression.
    pub end: usize,
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    Int(i64),
    List(Vec<Val>),
}

#[derive(Clone, Copy)]
struct Src<'a> {
    src: &'a [u8],
    toks: &'a [Token],
    /// The f-string nesting of the expression: operators and names of other levels are
    /// not its own (an f-string's fields, or the code around a field).
    nest: u8,
}

impl<'a> Src<'a> {
    fn text(&self, i: usize) -> &'a [u8] {
        self.toks.get(i).map_or(&[][..], |t| &self.src[t.range()])
    }
    fn kind(&self, i: usize) -> Option<Kind> {
        self.toks.get(i).map(|t| t.kind)
    }
    fn here(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(|t| t.nest == self.nest)
    }
    fn op(&self, i: usize, op: &[u8]) -> bool {
        self.here(i) && self.kind(i) == Some(Kind::Op) && self.text(i) == op
    }
    fn name(&self, i: usize) -> Option<&'a str> {
        (self.here(i) && self.kind(i) == Some(Kind::Name))
            .then(|| std::str::from_utf8(self.text(i)).ok())
            .flatten()
    }
}

/// A file's assignments: a name -> the value ranges assigned to it. Keyed by the file's
/// names (attacker-controlled): foldhash, seeded per map, is several times cheaper than
/// SipHash on short names, and the capability scan asks it about every new name.
/// The names are borrowed from the outline (no copy per assignment).
pub(crate) type Assigns<'a> = foldhash::HashMap<&'a str, Vec<Range<usize>>>;

/// Folds expressions of one file; `assigns` (a name -> the value ranges of its
/// assignments) lets names be followed.
pub(crate) struct Folder<'a> {
    file: Src<'a>,
    assigns: Option<&'a Assigns<'a>>,
    steps: usize,
    depth: usize,
    /// Names being followed (against cycles) and comprehension variables bound.
    active: Vec<String>,
    locals: Vec<(String, Val)>,
    computed: bool,
}

/// The value of the expression that starts at token `start` and ends before `end` (or
/// wherever it ends, with `whole == false`).
pub(crate) fn fold(
    src: &[u8],
    toks: &[Token],
    r: Range<usize>,
    assigns: Option<&Assigns<'_>>,
    whole: bool,
) -> Option<Folded> {
    let nest = toks.get(r.start)?.nest;
    let mut f = Folder {
        file: Src { src, toks, nest },
        assigns,
        steps: 0,
        depth: 0,
        active: Vec::new(),
        locals: Vec::new(),
        computed: false,
    };
    let s = f.file;
    let (v, end) = f.expr(s, r.start, r.end)?;
    if whole && end != r.end {
        return None;
    }
    match v {
        Val::Str(value) => Some(Folded {
            value,
            computed: f.computed,
            end,
        }),
        _ => None,
    }
}

/// Could an expression that folds to a computed value start at token `i`: a string that
/// something operates on, an f-string, a call of a decoder, or a name added to a string
/// (`head + "process"`), that does not continue an expression begun before it? Cheap: the
/// scan asks it for every token.
pub(crate) fn may_start(src: &[u8], toks: &[Token], i: usize) -> bool {
    let Some(t) = toks.get(i) else { return false };
    let text = |j: usize| toks.get(j).map_or(&[][..], |x| &src[x.range()]);
    let same = |j: usize| toks.get(j).is_some_and(|x| x.nest == t.nest);
    // The token's own test first: it fails for almost every token, and both are pure.
    let starts = match t.kind {
        // A fold is `computed` only when something follows the literal (another literal,
        // an operator, a method, a subscript) or it is an f-string (its fields); a plain
        // literal alone is what is written. Every caller wants a computed value.
        Kind::Str => {
            lex::is_fstring(text(i))
                || (same(i + 1)
                    && (toks[i + 1].kind == Kind::Str
                        || (toks[i + 1].kind == Kind::Op
                            && matches!(text(i + 1), b"+" | b"*" | b"%" | b"." | b"["))))
        }
        Kind::Name => {
            matches!(
                text(i),
                b"chr"
                    | b"bytes"
                    | b"bytearray"
                    | b"base64"
                    | b"codecs"
                    | b"binascii"
                    | b"b64decode"
                    | b"b32decode"
                    | b"b16decode"
                    | b"urlsafe_b64decode"
                    | b"unhexlify"
                    | b"a2b_hex"
                    | b"a2b_base64"
            ) || (same(i + 1)
                && matches!(text(i + 1), b"+" | b"%")
                && toks.get(i + 2).is_some_and(|x| x.kind == Kind::Str))
        }
        _ => false,
    };
    starts && !continues(src, toks, i)
}

/// Does token `i` continue an expression begun before it (after a literal, `+`, `*`, `%`
/// or `.` of its nesting)?
fn continues(src: &[u8], toks: &[Token], i: usize) -> bool {
    let Some(t) = toks.get(i) else { return false };
    i.checked_sub(1)
        .filter(|&p| toks[p].nest == t.nest)
        .is_some_and(|p| {
            let pk = toks[p].kind;
            pk == Kind::Str
                || (pk == Kind::Op && matches!(&src[toks[p].range()], b"+" | b"*" | b"%" | b"."))
        })
}

/// Stands for a part of a value that is not known statically, in [`pieces`].
pub(crate) const UNKNOWN: char = '\0';

/// The literal text of an expression that does not fold, with [`UNKNOWN`] where a part is
/// computed: each literal of a sum or an f-string kept, fields and other operands
/// replaced (`f"make {t} -f {p}"` is `make \0 -f \0`, `"-" + x` is `-\0`).
pub(crate) fn pieces(src: &[u8], toks: &[Token], r: Range<usize>) -> String {
    let Some(base) = toks.get(r.start).map(|t| t.nest) else {
        return String::new();
    };
    let mut out = String::new();
    let unknown = |out: &mut String| {
        if !out.ends_with(UNKNOWN) {
            out.push(UNKNOWN);
        }
    };
    for t in &toks[r.start..r.end.min(toks.len())] {
        if t.nest != base {
            continue;
        }
        let text = &src[t.range()];
        match t.kind {
            Kind::Str => match lex::string_value(text) {
                Some(v) if lex::is_fstring(text) => out.push_str(&blank_fields(&v)),
                Some(v) => out.push_str(&v),
                None => unknown(&mut out),
            },
            Kind::Op if text == b"+" => {}
            _ => unknown(&mut out),
        }
    }
    out
}

/// An f-string's text (fields as written) with each field replaced by [`UNKNOWN`].
fn blank_fields(v: &str) -> String {
    let mut out = String::new();
    let cs: Vec<char> = v.chars().collect();
    let mut j = 0;
    while j < cs.len() {
        let c = cs[j];
        if (c == '{' || c == '}') && cs.get(j + 1) == Some(&c) {
            out.push(c);
            j += 2;
            continue;
        }
        if c != '{' {
            out.push(c);
            j += 1;
            continue;
        }
        let mut depth = 0;
        while j < cs.len() {
            match cs[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        if !out.ends_with(UNKNOWN) {
            out.push(UNKNOWN);
        }
        j += 1;
    }
    out
}

fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

/// A bytes value (Latin-1 chars) decoded as UTF-8, as `.decode()` does.
fn utf8(s: &str) -> String {
    if s.chars().all(|c| (c as u32) < 0x100) {
        let b: Vec<u8> = s.chars().map(|c| c as u8).collect();
        String::from_utf8_lossy(&b).into_owned()
    } else {
        s.to_string()
    }
}

fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => (c as u8 + 13) as char,
            'n'..='z' | 'N'..='Z' => (c as u8 - 13) as char,
            _ => c,
        })
        .collect()
}

fn b64(s: &str, url: bool) -> Option<String> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let e = if url {
        &base64::engine::general_purpose::URL_SAFE
    } else {
        &base64::engine::general_purpose::STANDARD
    };
    let b = e
        .decode(clean.as_bytes())
        .or_else(|_| {
            let nopad = clean.trim_end_matches('=');
            if url {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(nopad)
            } else {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(nopad)
            }
        })
        .ok()?;
    Some(latin1(&b))
}

fn unhex(s: &str) -> Option<String> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).ok().map(|b| latin1(&b))
}

/// Python's slice of a sequence of `n` items: the indexes taken.
fn slice_indexes(n: usize, a: Option<i64>, b: Option<i64>, step: i64) -> Option<Vec<usize>> {
    if step == 0 {
        return None;
    }
    let n = n as i64;
    let norm = |x: i64, lo: i64, hi: i64| {
        let x = if x < 0 { x + n } else { x };
        x.clamp(lo, hi)
    };
    let mut out = Vec::new();
    if step > 0 {
        let a = a.map_or(0, |x| norm(x, 0, n));
        let b = b.map_or(n, |x| norm(x, 0, n));
        let mut i = a;
        while i < b {
            out.push(i as usize);
            i += step;
        }
    } else {
        let a = a.map_or(n - 1, |x| norm(x, -1, n - 1));
        let b = b.map_or(-1, |x| norm(x, -1, n - 1));
        let mut i = a;
        while i > b {
            out.push(i as usize);
            i += step;
        }
    }
    Some(out)
}

impl<'a> Folder<'a> {
    fn step(&mut self) -> Option<()> {
        self.steps += 1;
        (self.steps <= MAX_STEPS && self.depth <= MAX_DEPTH).then_some(())
    }

    fn close(&self, s: Src<'_>, open: usize) -> Option<usize> {
        lex::closing(s.toks, s.src, open)
    }

    /// Top-level comma-separated parts of `a..b`.
    fn parts(&self, s: Src<'_>, a: usize, b: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut depth = 0i32;
        let mut start = a;
        let nest = s.toks.get(a).map_or(0, |t| t.nest);
        for i in a..b {
            let t = s.toks[i];
            if t.kind != Kind::Op || t.nest != nest {
                continue;
            }
            match &s.src[t.range()] {
                b"(" | b"[" | b"{" => depth += 1,
                b")" | b"]" | b"}" => depth -= 1,
                b"," if depth == 0 => {
                    out.push(start..i);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if b > start {
            out.push(start..b);
        }
        out
    }

    /// A whole expression in `r`.
    fn whole(&mut self, s: Src<'_>, r: Range<usize>) -> Option<Val> {
        if r.is_empty() {
            return None;
        }
        let (v, end) = self.expr(s, r.start, r.end)?;
        (end == r.end).then_some(v)
    }

    /// `term (+ term)*`.
    fn expr(&mut self, s: Src<'_>, i: usize, end: usize) -> Option<(Val, usize)> {
        self.depth += 1;
        let out = self.sum(s, i, end);
        self.depth -= 1;
        out
    }

    fn sum(&mut self, s: Src<'_>, i: usize, end: usize) -> Option<(Val, usize)> {
        self.step()?;
        let (mut v, mut k) = self.term(s, i, end)?;
        while k < end && s.op(k, b"+") {
            let (w, next) = self.term(s, k + 1, end)?;
            self.computed = true;
            v = match (v, w) {
                (Val::Str(a), Val::Str(b)) if a.len() + b.len() <= MAX_LEN => Val::Str(a + &b),
                (Val::Int(a), Val::Int(b)) => Val::Int(a.checked_add(b)?),
                (Val::List(mut a), Val::List(b)) if a.len() + b.len() <= MAX_LEN => {
                    a.extend(b);
                    Val::List(a)
                }
                _ => return None,
            };
            k = next;
        }
        Some((v, k))
    }

    /// `postfix ((* | %) postfix)*`.
    fn term(&mut self, s: Src<'_>, i: usize, end: usize) -> Option<(Val, usize)> {
        let (mut v, mut k) = self.postfix(s, i, end)?;
        while k < end && (s.op(k, b"*") || s.op(k, b"%")) {
            let pct = s.op(k, b"%");
            let (w, next) = self.postfix(s, k + 1, end)?;
            self.computed = true;
            v = if pct {
                let Val::Str(f) = v else { return None };
                Val::Str(percent(&f, w)?)
            } else {
                match (v, w) {
                    (Val::Str(a), Val::Int(n)) | (Val::Int(n), Val::Str(a))
                        if n >= 0 && a.len().saturating_mul(n as usize) <= MAX_LEN =>
                    {
                        Val::Str(a.repeat(n as usize))
                    }
                    (Val::Int(a), Val::Int(b)) => Val::Int(a.checked_mul(b)?),
                    _ => return None,
                }
            };
            k = next;
        }
        Some((v, k))
    }

    /// An atom followed by method calls and subscripts.
    fn postfix(&mut self, s: Src<'_>, i: usize, end: usize) -> Option<(Val, usize)> {
        let (mut v, mut k) = self.atom(s, i, end)?;
        loop {
            self.step()?;
            if k + 2 < end && s.op(k, b".") && s.op(k + 2, b"(") {
                let method = s.name(k + 1)?;
                let close = self.close(s, k + 2).filter(|&c| c < end)?;
                let args = self.parts(s, k + 3, close);
                self.computed = true;
                v = self.method(s, v, method, &args)?;
                k = close + 1;
            } else if k < end && s.op(k, b"[") {
                let close = self.close(s, k).filter(|&c| c < end)?;
                self.computed = true;
                v = self.subscript(s, v, k + 1, close)?;
                k = close + 1;
            } else {
                return Some((v, k));
            }
        }
    }

    fn int_at(&mut self, s: Src<'_>, r: Range<usize>) -> Option<Option<i64>> {
        if r.is_empty() {
            return Some(None);
        }
        match self.whole(s, r)? {
            Val::Int(n) => Some(Some(n)),
            _ => None,
        }
    }

    fn subscript(&mut self, s: Src<'_>, v: Val, a: usize, b: usize) -> Option<Val> {
        let nest = s.toks.get(a)?.nest;
        let colons: Vec<usize> = (a..b)
            .filter(|&j| s.toks[j].nest == nest && s.op(j, b":"))
            .collect();
        let items: Vec<Val> = match &v {
            Val::Str(t) => t.chars().map(|c| Val::Str(c.to_string())).collect(),
            Val::List(l) => l.clone(),
            Val::Int(_) => return None,
        };
        let pick: Vec<Val> = if colons.is_empty() {
            let n = self.int_at(s, a..b)??;
            let idx = if n < 0 { n + items.len() as i64 } else { n };
            return items.get(usize::try_from(idx).ok()?).cloned();
        } else {
            if colons.len() > 2 {
                return None;
            }
            let lo = self.int_at(s, a..colons[0])?;
            let hi_end = colons.get(1).copied().unwrap_or(b);
            let hi = self.int_at(s, colons[0] + 1..hi_end)?;
            let st = match colons.get(1) {
                Some(&c) => self.int_at(s, c + 1..b)?.unwrap_or(1),
                None => 1,
            };
            slice_indexes(items.len(), lo, hi, st)?
                .into_iter()
                .filter_map(|j| items.get(j).cloned())
                .collect()
        };
        Some(match v {
            Val::Str(_) => Val::Str(
                pick.into_iter()
                    .map(|p| match p {
                        Val::Str(c) => c,
                        _ => String::new(),
                    })
                    .collect(),
            ),
            _ => Val::List(pick),
        })
    }

    fn method(&mut self, s: Src<'_>, v: Val, m: &str, args: &[Range<usize>]) -> Option<Val> {
        let Val::Str(t) = v else { return None };
        let mut vals = Vec::new();
        let mut kw: Vec<(String, Val)> = Vec::new();
        for a in args {
            if a.len() >= 3 && s.name(a.start).is_some() && s.op(a.start + 1, b"=") {
                let k = s.name(a.start)?.to_string();
                kw.push((k, self.whole(s, a.start + 2..a.end)?));
            } else if m == "join" && args.len() == 1 {
                // A generator argument without its own brackets.
                vals.push(self.iterable(s, a.clone())?);
            } else {
                vals.push(self.whole(s, a.clone())?);
            }
        }
        let str_arg = |j: usize| match vals.get(j) {
            Some(Val::Str(x)) => Some(x.clone()),
            _ => None,
        };
        let out = match m {
            "join" => {
                let items = match vals.first()? {
                    Val::List(l) => l.clone(),
                    Val::Str(x) => x.chars().map(|c| Val::Str(c.to_string())).collect(),
                    Val::Int(_) => return None,
                };
                let mut out = String::new();
                for (n, it) in items.iter().enumerate() {
                    let Val::Str(p) = it else { return None };
                    if n > 0 {
                        out.push_str(&t);
                    }
                    out.push_str(p);
                    if out.len() > MAX_LEN {
                        return None;
                    }
                }
                out
            }
            "decode" => {
                let codec = str_arg(0).unwrap_or_default().to_ascii_lowercase();
                match codec.as_str() {
                    "rot13" | "rot_13" => rot13(&t),
                    _ => utf8(&t),
                }
            }
            "encode" => {
                let codec = str_arg(0).unwrap_or_default().to_ascii_lowercase();
                match codec.as_str() {
                    "rot13" | "rot_13" => rot13(&t),
                    _ => latin1(t.as_bytes()),
                }
            }
            "upper" => t.to_uppercase(),
            "lower" | "casefold" => t.to_lowercase(),
            "strip" if vals.is_empty() => t.trim().to_string(),
            "lstrip" if vals.is_empty() => t.trim_start().to_string(),
            "rstrip" if vals.is_empty() => t.trim_end().to_string(),
            "strip" => {
                let cs = str_arg(0)?;
                t.trim_matches(|c| cs.contains(c)).to_string()
            }
            "replace" => t.replace(&str_arg(0)?, &str_arg(1)?),
            "removeprefix" => {
                let p = str_arg(0)?;
                t.strip_prefix(p.as_str()).unwrap_or(&t).to_string()
            }
            "removesuffix" => {
                let p = str_arg(0)?;
                t.strip_suffix(p.as_str()).unwrap_or(&t).to_string()
            }
            "format" => format(&t, &vals, &kw)?,
            "hex" => t
                .chars()
                .map(|c| format!("{:02x}", c as u32 & 0xff))
                .collect(),
            _ => return None,
        };
        (out.len() <= MAX_LEN).then_some(Val::Str(out))
    }

    /// The items of an iterable argument: an expression, or a bare generator
    /// (`x for x in [..]`).
    fn iterable(&mut self, s: Src<'_>, r: Range<usize>) -> Option<Val> {
        let nest = s.toks.get(r.start)?.nest;
        let mut depth = 0i32;
        for j in r.clone() {
            let t = s.toks[j];
            if t.nest != nest {
                continue;
            }
            if t.kind == Kind::Op {
                match &s.src[t.range()] {
                    b"(" | b"[" | b"{" => depth += 1,
                    b")" | b"]" | b"}" => depth -= 1,
                    _ => {}
                }
            }
            if depth == 0 && t.kind == Kind::Name && s.text(j) == b"for" {
                return self.comprehension(s, r.start..j, j, r.end);
            }
        }
        self.whole(s, r)
    }

    /// `elt for NAME in ITER` (no `if`, one `for`).
    fn comprehension(
        &mut self,
        s: Src<'_>,
        elt: Range<usize>,
        at_for: usize,
        end: usize,
    ) -> Option<Val> {
        let var = s.name(at_for + 1)?.to_string();
        if s.text(at_for + 2) != b"in" {
            return None;
        }
        let items = match self.whole(s, at_for + 3..end)? {
            Val::List(l) => l,
            Val::Str(t) => t.chars().map(|c| Val::Str(c.to_string())).collect(),
            Val::Int(_) => return None,
        };
        let mut out = Vec::new();
        for it in items {
            self.locals.push((var.clone(), it));
            let v = self.whole(s, elt.clone());
            self.locals.pop();
            out.push(v?);
        }
        self.computed = true;
        Some(Val::List(out))
    }

    /// A list, tuple, or comprehension between brackets `a..b`.
    fn sequence(&mut self, s: Src<'_>, a: usize, b: usize) -> Option<Val> {
        if a == b {
            return Some(Val::List(Vec::new()));
        }
        let parts = self.parts(s, a, b);
        if parts.len() == 1 {
            if let Val::List(l) = self.iterable(s, a..b)? {
                return Some(Val::List(l));
            }
            // Not a comprehension: one item.
            return Some(Val::List(vec![self.whole(s, a..b)?]));
        }
        let mut out = Vec::new();
        for p in parts {
            if s.op(p.start, b"*") {
                match self.whole(s, p.start + 1..p.end)? {
                    Val::List(l) => out.extend(l),
                    Val::Str(t) => out.extend(t.chars().map(|c| Val::Str(c.to_string()))),
                    Val::Int(_) => return None,
                }
            } else {
                out.push(self.whole(s, p)?);
            }
            if out.len() > MAX_LEN {
                return None;
            }
        }
        Some(Val::List(out))
    }

    fn atom(&mut self, s: Src<'_>, i: usize, end: usize) -> Option<(Val, usize)> {
        self.step()?;
        if i >= end {
            return None;
        }
        let t = *s.toks.get(i)?;
        match t.kind {
            Kind::Str => {
                let mut out = String::new();
                let mut k = i;
                let mut parts = 0;
                while k < end && s.toks[k].kind == Kind::Str && s.toks[k].nest == t.nest {
                    let text = s.text(k);
                    out.push_str(&self.string(text)?);
                    parts += 1;
                    k += 1;
                    // An f-string's expressions follow it, nested deeper.
                    while k < end && s.toks[k].nest > t.nest {
                        k += 1;
                    }
                    if out.len() > MAX_LEN {
                        return None;
                    }
                }
                if parts > 1 {
                    self.computed = true;
                }
                Some((Val::Str(out), k))
            }
            Kind::Number => {
                let text = std::str::from_utf8(s.text(i)).ok()?.replace('_', "");
                let n = if let Some(h) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
                    i64::from_str_radix(h, 16).ok()?
                } else if let Some(o) = text.strip_prefix("0o").or(text.strip_prefix("0O")) {
                    i64::from_str_radix(o, 8).ok()?
                } else if let Some(b) = text.strip_prefix("0b").or(text.strip_prefix("0B")) {
                    i64::from_str_radix(b, 2).ok()?
                } else {
                    text.parse().ok()?
                };
                Some((Val::Int(n), i + 1))
            }
            Kind::Op => {
                if s.op(i, b"-") {
                    let (v, k) = self.postfix(s, i + 1, end)?;
                    let Val::Int(n) = v else { return None };
                    return Some((Val::Int(n.checked_neg()?), k));
                }
                if s.op(i, b"(") || s.op(i, b"[") {
                    let close = self.close(s, i).filter(|&c| c < end)?;
                    let paren = s.op(i, b"(");
                    let parts = self.parts(s, i + 1, close);
                    let trailing = close > i + 1 && s.op(close - 1, b",");
                    let v = if paren && parts.len() == 1 && !trailing {
                        // `(expr)`, or a generator.
                        self.iterable(s, i + 1..close)?
                    } else {
                        self.sequence(s, i + 1, close)?
                    };
                    return Some((v, close + 1));
                }
                None
            }
            Kind::Name => self.name_atom(s, i, end),
        }
    }

    /// A name (a comprehension variable, or a name assigned only foldable values), or a
    /// call of a known pure function.
    fn name_atom(&mut self, s: Src<'_>, i: usize, end: usize) -> Option<(Val, usize)> {
        // The dotted callee of a decoder module (`base64.b64decode`, `bytes.fromhex`);
        // on any other name, `.m(..)` is a method of its value (`postfix`).
        let mut k = i;
        let mut path = s.name(k)?.to_string();
        if matches!(
            path.as_str(),
            "base64" | "codecs" | "binascii" | "bytes" | "bytearray"
        ) {
            while k + 2 < end && s.op(k + 1, b".") && s.name(k + 2).is_some() {
                path.push('.');
                path.push_str(s.name(k + 2)?);
                k += 2;
            }
        }
        if k + 1 < end && s.op(k + 1, b"(") {
            let close = self.close(s, k + 1).filter(|&c| c < end)?;
            let args = self.parts(s, k + 2, close);
            let v = self.call(s, &path, &args)?;
            self.computed = true;
            return Some((v, close + 1));
        }
        if k != i {
            return None;
        }
        let name = s.name(i)?;
        if let Some((_, v)) = self.locals.iter().rev().find(|(n, _)| n == name) {
            return Some((v.clone(), i + 1));
        }
        let v = self.lookup(name)?;
        self.computed = true;
        Some((v, i + 1))
    }

    /// A name's value: every assignment of it in the file folds to the same value.
    fn lookup(&mut self, name: &str) -> Option<Val> {
        let assigns = self.assigns?;
        let ranges = assigns.get(name)?;
        if ranges.is_empty() || ranges.len() > 4 || self.active.iter().any(|n| n == name) {
            return None;
        }
        self.active.push(name.to_string());
        self.depth += 1;
        let mut out: Option<Val> = None;
        let mut ok = true;
        for r in ranges {
            let file = Src {
                nest: self.file.toks.get(r.start).map_or(0, |t| t.nest),
                ..self.file
            };
            match self.whole(file, r.clone()) {
                Some(v) if out.as_ref().is_none_or(|o| *o == v) => out = Some(v),
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        self.depth -= 1;
        self.active.pop();
        if ok { out } else { None }
    }

    fn call(&mut self, s: Src<'_>, path: &str, args: &[Range<usize>]) -> Option<Val> {
        let last = path.rsplit('.').next().unwrap_or(path);
        let known = matches!(
            path,
            "map" | "chr" | "str" | "bytes" | "bytearray" | "list" | "tuple" | "reversed"
        ) || matches!(
            last,
            "fromhex"
                | "unhexlify"
                | "a2b_hex"
                | "b16decode"
                | "b64decode"
                | "decodebytes"
                | "a2b_base64"
                | "standard_b64decode"
                | "urlsafe_b64decode"
                | "b32decode"
        ) || matches!(path, "codecs.decode" | "codecs.encode");
        if !known {
            return None;
        }
        if path == "map" {
            let [f, it] = args else { return None };
            let fname = s.name(f.start).filter(|_| f.len() == 1)?;
            let items = match self.whole(s, it.clone())? {
                Val::List(l) => l,
                Val::Str(t) => t.chars().map(|c| Val::Str(c.to_string())).collect(),
                Val::Int(_) => return None,
            };
            let mut out = Vec::new();
            for x in items {
                out.push(apply(fname, x)?);
            }
            return Some(Val::List(out));
        }
        let pos: Vec<&Range<usize>> = args
            .iter()
            .filter(|a| !(a.len() >= 2 && s.name(a.start).is_some() && s.op(a.start + 1, b"=")))
            .collect();
        let first = match pos.first() {
            Some(a) if matches!(path, "list" | "tuple" | "reversed") => {
                self.iterable(s, (*a).clone())?
            }
            Some(a) => self.whole(s, (*a).clone())?,
            None => return None,
        };
        let second = match pos.get(1) {
            Some(a) => Some(self.whole(s, (*a).clone())?),
            None => None,
        };
        let text = |v: &Val| match v {
            Val::Str(t) => Some(t.clone()),
            _ => None,
        };
        match (path, last) {
            ("chr" | "str" | "bytes" | "bytearray" | "list" | "tuple" | "reversed", _) => {
                match (path, first) {
                    ("bytes" | "bytearray", Val::List(l)) => {
                        let mut out = String::new();
                        for x in l {
                            let Val::Int(n) = x else { return None };
                            out.push(char::from(u8::try_from(n).ok()?));
                        }
                        Some(Val::Str(out))
                    }
                    ("bytes" | "bytearray", Val::Str(t)) => Some(Val::Str(latin1(t.as_bytes()))),
                    (p, v) if p != "str" && p != "chr" => match v {
                        Val::List(mut l) => {
                            if p == "reversed" {
                                l.reverse();
                            }
                            Some(Val::List(l))
                        }
                        Val::Str(t) => {
                            let mut l: Vec<Val> =
                                t.chars().map(|c| Val::Str(c.to_string())).collect();
                            if p == "reversed" {
                                l.reverse();
                            }
                            Some(Val::List(l))
                        }
                        Val::Int(_) => None,
                    },
                    (p, v) => apply(p, v),
                }
            }
            (_, "fromhex") if path.starts_with("bytes") => unhex(&text(&first)?).map(Val::Str),
            (_, "unhexlify" | "a2b_hex" | "b16decode") => unhex(&text(&first)?).map(Val::Str),
            (_, "b64decode" | "decodebytes" | "a2b_base64" | "standard_b64decode") => {
                b64(&text(&first)?, false).map(Val::Str)
            }
            (_, "urlsafe_b64decode") => b64(&text(&first)?, true).map(Val::Str),
            (_, "b32decode") => {
                let b = base32(&text(&first)?)?;
                Some(Val::Str(latin1(&b)))
            }
            ("codecs.decode" | "codecs.encode", _) => {
                let t = text(&first)?;
                let codec = second.as_ref().and_then(text).unwrap_or_default();
                match codec.to_ascii_lowercase().replace('-', "_").as_str() {
                    "rot13" | "rot_13" => Some(Val::Str(rot13(&t))),
                    "hex" | "hex_codec" if last == "decode" => unhex(&t).map(Val::Str),
                    "base64" | "base64_codec" if last == "decode" => b64(&t, false).map(Val::Str),
                    "" | "utf8" | "utf_8" | "ascii" | "latin1" | "latin_1" => Some(Val::Str(t)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The value of one string literal token, f-string fields folded.
    fn string(&mut self, tok: &[u8]) -> Option<String> {
        let v = lex::string_value(tok)?;
        if !lex::is_fstring(tok) {
            return Some(v);
        }
        // Replacement fields are kept as written by `string_value`.
        let mut out = String::new();
        let cs: Vec<char> = v.chars().collect();
        let mut j = 0;
        while j < cs.len() {
            let c = cs[j];
            if c == '{' && cs.get(j + 1) == Some(&'{') {
                out.push('{');
                j += 2;
                continue;
            }
            if c == '}' && cs.get(j + 1) == Some(&'}') {
                out.push('}');
                j += 2;
                continue;
            }
            if c != '{' {
                out.push(c);
                j += 1;
                continue;
            }
            // The field: up to its matching brace (quotes inside skipped).
            let mut depth = 0;
            let mut q: Option<char> = None;
            let mut k = j;
            while k < cs.len() {
                let d = cs[k];
                match q {
                    Some(qc) if d == qc => q = None,
                    Some(_) => {}
                    None if d == '\'' || d == '"' => q = Some(d),
                    None if d == '{' || d == '[' || d == '(' => depth += 1,
                    None if d == '}' || d == ']' || d == ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    None => {}
                }
                k += 1;
            }
            let field: String = cs.get(j + 1..k)?.iter().collect();
            // `!s` and an empty format spec change nothing; `!r`, specs and `=` do.
            let field = field.strip_suffix("!s").unwrap_or(&field).to_string();
            if field.contains("!r") || field.contains("!a") || field.trim_end().ends_with('=') {
                return None;
            }
            let lx = lex::lex(field.as_bytes());
            let sub = Src {
                src: field.as_bytes(),
                toks: &lx.toks,
                nest: 0,
            };
            // A top-level `:` starts a format spec.
            if (0..lx.toks.len()).any(|t| lx.toks[t].nest == 0 && sub.op(t, b":")) {
                return None;
            }
            let v = self.whole(sub, 0..lx.toks.len())?;
            self.computed = true;
            match v {
                Val::Str(t) => out.push_str(&t),
                Val::Int(n) => out.push_str(&n.to_string()),
                Val::List(_) => return None,
            }
            j = k + 1;
        }
        Some(out)
    }
}

/// `chr`/`str` applied to one value.
fn apply(f: &str, v: Val) -> Option<Val> {
    match (f, v) {
        ("chr", Val::Int(n)) => Some(Val::Str(
            char::from_u32(u32::try_from(n).ok()?)?.to_string(),
        )),
        ("str", Val::Int(n)) => Some(Val::Str(n.to_string())),
        ("str", Val::Str(t)) => Some(Val::Str(t)),
        _ => None,
    }
}

/// `"%s%s" % ("a", "b")` with `%s`, `%c`, `%d` and `%%`.
fn percent(f: &str, args: Val) -> Option<String> {
    let args = match args {
        Val::List(l) => l,
        v => vec![v],
    };
    let mut it = args.into_iter();
    let mut out = String::new();
    let mut cs = f.chars();
    while let Some(c) = cs.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match (cs.next()?, it.next()) {
            ('%', a) => {
                out.push('%');
                if a.is_some() {
                    return None;
                }
            }
            ('s', Some(Val::Str(t))) => out.push_str(&t),
            ('s' | 'd', Some(Val::Int(n))) => out.push_str(&n.to_string()),
            ('c', Some(Val::Int(n))) => out.push(char::from_u32(u32::try_from(n).ok()?)?),
            ('c', Some(Val::Str(t))) if t.chars().count() == 1 => out.push_str(&t),
            _ => return None,
        }
    }
    it.next().is_none().then_some(out)
}

/// `"{}{0}{name}".format(..)` with plain fields only.
fn format(f: &str, pos: &[Val], kw: &[(String, Val)]) -> Option<String> {
    let mut out = String::new();
    let cs: Vec<char> = f.chars().collect();
    let mut auto = 0usize;
    let mut j = 0;
    let show = |v: &Val| match v {
        Val::Str(t) => Some(t.clone()),
        Val::Int(n) => Some(n.to_string()),
        Val::List(_) => None,
    };
    while j < cs.len() {
        let c = cs[j];
        if (c == '{' || c == '}') && cs.get(j + 1) == Some(&c) {
            out.push(c);
            j += 2;
            continue;
        }
        if c == '}' {
            return None;
        }
        if c != '{' {
            out.push(c);
            j += 1;
            continue;
        }
        let k = j + cs[j..].iter().position(|&d| d == '}')?;
        let field: String = cs[j + 1..k].iter().collect();
        let v = if field.is_empty() {
            auto += 1;
            pos.get(auto - 1)?
        } else if let Ok(n) = field.parse::<usize>() {
            pos.get(n)?
        } else {
            &kw.iter().find(|(n, _)| *n == field)?.1
        };
        out.push_str(&show(v)?);
        j = k + 1;
    }
    Some(out)
}

fn base32(s: &str) -> Option<Vec<u8>> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut n = 0u32;
    let mut out = Vec::new();
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHA.iter().position(|&a| a == c)? as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(src: &str) -> Option<(String, bool)> {
        let lx = lex::lex(src.as_bytes());
        let n = lx.toks.len();
        fold(src.as_bytes(), &lx.toks, 0..n, None, true).map(|f| (f.value, f.computed))
    }

    fn name(src: &str) -> Option<String> {
        folded(src).map(|(v, _)| v)
    }

    #[test]
    fn what_python_folds() {
        assert_eq!(name(r#""sys" + "tem""#).as_deref(), Some("system"));
        assert_eq!(
            name(r#""".join(["sy", "st", "em"])"#).as_deref(),
            Some("system")
        );
        assert_eq!(
            name(r#"".".join(("sub" + "process", "Po" + "pen"))"#).as_deref(),
            Some("subprocess.Popen")
        );
        assert_eq!(name(r#""metsys"[::-1]"#).as_deref(), Some("system"));
        assert_eq!(name(r#""xsxyxsxtxexm"[1::2]"#).as_deref(), Some("system"));
        assert_eq!(
            name("chr(115) + chr(0x79) + 'stem'").as_deref(),
            Some("system")
        );
        assert_eq!(
            name(r#""".join(map(chr, [115, 121, 115]))"#).as_deref(),
            Some("sys")
        );
        assert_eq!(
            name(r#""".join(chr(c) for c in [111, 115])"#).as_deref(),
            Some("os")
        );
        assert_eq!(name(r#""".join([chr(c - 1) for c in [112, 116]])"#), None);
        assert_eq!(
            name(r#"bytes.fromhex("6f733a73797374656d").decode()"#).as_deref(),
            Some("os:system")
        );
        assert_eq!(name(r#"__import__("base64").b64decode("c3lzdGVt")"#), None);
        assert_eq!(
            name(r#"base64.b64decode("c3lzdGVt").decode("utf-8")"#).as_deref(),
            Some("system")
        );
        assert_eq!(
            name(r#"codecs.decode("flfgrz", "rot13")"#).as_deref(),
            Some("system")
        );
        assert_eq!(
            name(r#"f"{'__glo'}bals__""#).as_deref(),
            Some("__globals__")
        );
        assert_eq!(
            name(r#""%s%s" % ("sys", "tem")"#).as_deref(),
            Some("system")
        );
        assert_eq!(
            name(r#""{}{}".format("sys", "tem")"#).as_deref(),
            Some("system")
        );
        assert_eq!(name(r#"bytes([111, 115]).decode()"#).as_deref(), Some("os"));
        assert_eq!(
            name(r#"("GIT_" "CONFIG_" + "PARAMETERS").upper()"#).as_deref(),
            Some("GIT_CONFIG_PARAMETERS")
        );
        assert_eq!(
            name(r#"".".join(reversed(["system", "os"]))"#).as_deref(),
            Some("os.system")
        );
        // A plain literal is not computed; anything unknown is not folded.
        assert_eq!(folded("'system'"), Some(("system".into(), false)));
        assert_eq!(folded("'a' 'b'"), Some(("ab".into(), true)));
        assert_eq!(name("prefix + 'tem'"), None);
        assert_eq!(name("f'{x}tem'"), None);
        assert_eq!(name("'a'.zfill(3)"), None);
        assert_eq!(name("os.sep.join(['a'])"), None);
        assert_eq!(name("'a' * 100000"), None);
    }

    #[test]
    fn literal_pieces_around_computed_parts() {
        let p = |src: &str| {
            let lx = lex::lex(src.as_bytes());
            pieces(src.as_bytes(), &lx.toks, 0..lx.toks.len()).replace(UNKNOWN, "?")
        };
        assert_eq!(p(r#"f"make {t} -f {os.path.join(d, 'M')}""#), "make ? -f ?");
        assert_eq!(p(r#""-" + x"#), "-?");
        assert_eq!(p(r#"f"{{x}} {a}{b}""#), "{x} ?");
        assert_eq!(p(r#"cuda + "/bin/nvcc -V""#), "?/bin/nvcc -V");
    }

    #[test]
    fn names_assigned_foldable_values() {
        let src = "a = 'sys'\nb = a + 'tem'\nc = b\nc = 'other'\nd = d + 'x'\nuse(b, c, d)\n";
        let lx = lex::lex(src.as_bytes());
        let o = super::super::outline::Outline::new(src.as_bytes());
        let mut assigns = Assigns::default();
        for a in &o.assigns {
            assigns
                .entry(a.target.as_str())
                .or_default()
                .push(a.value.clone());
        }
        let at = |n: &str| {
            (0..lx.toks.len())
                .rev()
                .find(|&i| &src.as_bytes()[lx.toks[i].range()] == n.as_bytes())
                .unwrap_or(0)
        };
        let f = |n: &str| {
            fold(
                src.as_bytes(),
                &lx.toks,
                at(n)..at(n) + 1,
                Some(&assigns),
                true,
            )
        };
        assert_eq!(
            f("b").map(|x| (x.value, x.computed)),
            Some(("system".into(), true))
        );
        // Two different values, or a cycle: unknown.
        assert_eq!(f("c"), None);
        assert_eq!(f("d"), None);
    }

    /// `may_start` turns down a literal only where no computed value can start: over every
    /// Python file of the test fixtures (redteam's adversarial repos included), every
    /// literal from which a fold is computed passes it, with and without the file's
    /// assignments to follow.
    #[test]
    fn may_start_keeps_every_literal_a_computed_fold_starts_at() {
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
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files = Vec::new();
        python_files(&root, &mut files);
        let (mut computed, mut turned_down) = (0, 0);
        for p in &files {
            let src = std::fs::read(p).unwrap();
            let o = super::super::outline::Outline::new(&src);
            let mut assigns = Assigns::default();
            for a in &o.assigns {
                assigns
                    .entry(a.target.as_str())
                    .or_default()
                    .push(a.value.clone());
            }
            let toks = &o.lexed.toks;
            for i in 0..toks.len() {
                if toks[i].kind != Kind::Str || continues(&src, toks, i) {
                    continue;
                }
                let start = may_start(&src, toks, i);
                if !start {
                    turned_down += 1;
                }
                for a in [None, Some(&assigns)] {
                    if fold(&src, toks, i..toks.len(), a, false).is_some_and(|f| f.computed) {
                        computed += 1;
                        assert!(start, "{}: token {i}", p.display());
                    }
                }
            }
        }
        assert!(
            files.len() > 300 && computed > 100,
            "{} {computed}",
            files.len()
        );
        assert!(turned_down > 10_000, "{turned_down}");
    }
}
