//! NumPy `.npy` files (and the `.npy` members of an `.npz`) read as `numpy.load` reads
//! them: the magic, the format version, the header (a Python dict literal with `descr`,
//! `fortran_order` and `shape`), then the array. An array whose dtype may hold Python
//! objects is stored as one pickle right after the header, which
//! `np.load(..., allow_pickle=True)` unpickles; that pickle is what the walker reads.
//!
//! The header parser accepts the literals `np.save` writes (and the Python-2 `L`
//! suffix numpy still filters). Anything else cannot be judged without Python's
//! `ast.literal_eval`, so it makes the file unverified rather than clean.

use super::source::{Missing, Source};

/// The six bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Largest header read. numpy drops its own header cap when pickles are allowed, so
/// a longer one is not rejected by numpy: it is unverified here.
pub const MAX_HEADER: u64 = 1 << 20;
/// Deepest nesting of the header literal.
const MAX_DEPTH: usize = 32;

/// What `numpy.load` does with a `.npy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Npy {
    /// numpy raises before reading the array: nothing is unpickled.
    Rejected(String),
    /// A plain array: raw bytes, no pickle.
    Plain,
    /// An object array: the pickle that numpy unpickles starts at this offset.
    Pickle(u64),
    /// The header is outside what can be judged here.
    Unverified(String),
}

/// Read the `.npy` starting at `base` of `src` (which starts with [`MAGIC`]).
pub fn read<S: Source + ?Sized>(src: &S, base: u64) -> Result<Npy, Missing> {
    let pre = src.get(base, 12)?;
    if pre.len() < 10 || pre[..6] != *MAGIC {
        return Ok(Npy::Rejected("not a .npy file (short magic)".into()));
    }
    let (major, minor) = (pre[6], pre[7]);
    let (len_bytes, utf8) = match (major, minor) {
        (1, 0) => (2u64, false),
        (2, 0) | (3, 0) => (4, major == 3),
        _ => {
            return Ok(Npy::Rejected(format!(
                "format version {major}.{minor}, which numpy does not read"
            )));
        }
    };
    if (pre.len() as u64) < 8 + len_bytes {
        return Ok(Npy::Rejected("the header length runs past the end".into()));
    }
    let hlen = if len_bytes == 2 {
        u64::from(u16::from_le_bytes([pre[8], pre[9]]))
    } else {
        u64::from(u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]))
    };
    if hlen > MAX_HEADER {
        return Ok(Npy::Unverified(format!(
            ".npy header of {hlen} bytes (over the {MAX_HEADER}-byte cap)"
        )));
    }
    let start = base + 8 + len_bytes;
    let header = src.get(start, hlen)?;
    if (header.len() as u64) < hlen {
        return Ok(Npy::Rejected(
            "the header runs past the end of the file".into(),
        ));
    }
    if utf8 && std::str::from_utf8(header).is_err() {
        return Ok(Npy::Rejected("a version-3 header that is not UTF-8".into()));
    }
    let data = start + hlen;
    let mut p = Parser {
        b: header,
        at: 0,
        py2_long: major < 3,
    };
    let value = match p.value(0).and_then(|v| p.end().map(|()| v)) {
        Ok(v) => v,
        Err(why) => {
            return Ok(Npy::Unverified(format!(
                ".npy header not understood ({why} at byte {})",
                p.at
            )));
        }
    };
    Ok(judge(&value, data))
}

/// numpy's checks of the header dict, then whether the dtype may hold objects.
fn judge(v: &Lit, data: u64) -> Npy {
    let Lit::Dict(items) = v else {
        return Npy::Rejected("the header is not a dict".into());
    };
    let get = |k: &str| {
        items
            .iter()
            .rev()
            .find(|(key, _)| matches!(key, Lit::Str(s) if s == k))
            .map(|(_, v)| v)
    };
    let mut keys: Vec<&str> = items
        .iter()
        .filter_map(|(k, _)| match k {
            Lit::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys != ["descr", "fortran_order", "shape"] || keys.len() != distinct(items) {
        return Npy::Rejected("the header keys are not descr, fortran_order, shape".into());
    }
    match get("shape") {
        Some(Lit::Tuple(dims)) if dims.iter().all(|d| matches!(d, Lit::Int)) => {}
        _ => return Npy::Rejected("shape is not a tuple of ints".into()),
    }
    if !matches!(get("fortran_order"), Some(Lit::Bool)) {
        return Npy::Rejected("fortran_order is not a bool".into());
    }
    match get("descr") {
        Some(d) if plain(d, 0) => Npy::Plain,
        _ => Npy::Pickle(data),
    }
}

/// Distinct keys of a dict literal (a repeated key counts once, as in Python).
fn distinct(items: &[(Lit, Lit)]) -> usize {
    let mut seen: Vec<&Lit> = Vec::new();
    for (k, _) in items {
        if !seen.contains(&k) {
            seen.push(k);
        }
    }
    seen.len()
}

/// Whether a `descr` certainly holds no Python object. Only the forms `np.save`
/// writes count: a type string such as `<f4`, `|S10` or `<M8[ns]`, a list of
/// `(name, descr[, shape])` fields, a `(descr, shape)` subarray. Anything else
/// (`|O`, `object`, `i4,O`, a dict) is read as an object array.
fn plain(d: &Lit, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match d {
        Lit::Str(s) => plain_type(s),
        Lit::List(fields) => fields.iter().all(|f| match f {
            Lit::Tuple(t) if t.len() == 2 || t.len() == 3 => {
                let name_ok = match &t[0] {
                    Lit::Str(_) => true,
                    Lit::Tuple(tn) => tn.len() == 2 && tn.iter().all(|x| matches!(x, Lit::Str(_))),
                    _ => false,
                };
                name_ok && plain(&t[1], depth + 1)
            }
            _ => false,
        }),
        Lit::Tuple(t) if t.len() == 2 => plain(&t[0], depth + 1),
        _ => false,
    }
}

/// `[<>|=]?` kind `[0-9]*` (`[unit]` for dates): the array-protocol type strings.
fn plain_type(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'<' | b'>' | b'|' | b'=')));
    let Some(&kind) = b.get(i) else {
        return false;
    };
    if !b"biufcSUVamM?".contains(&kind) {
        return false;
    }
    i += 1;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if matches!(kind, b'm' | b'M') && b.get(i) == Some(&b'[') {
        let Some(close) = b[i..].iter().position(|&c| c == b']') else {
            return false;
        };
        if !b[i + 1..i + close].iter().all(u8::is_ascii_alphanumeric) {
            return false;
        }
        i += close + 1;
    }
    i == b.len()
}

/// A header literal; only what the checks need is kept.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Int,
    Bool,
    Nothing,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
    /// Headers of versions 1 and 2 may carry Python-2 longs (`3L`), which numpy filters.
    py2_long: bool,
}

type P<T> = Result<T, &'static str>;

impl Parser<'_> {
    fn ws(&mut self) {
        while self
            .b
            .get(self.at)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.at).copied()
    }

    fn end(&mut self) -> P<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err("text after the literal"),
        }
    }

    fn value(&mut self, depth: usize) -> P<Lit> {
        if depth > MAX_DEPTH {
            return Err("nesting too deep");
        }
        match self.peek().ok_or("unexpected end")? {
            b'{' => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        return Ok(Lit::Dict(items));
                    }
                    let k = self.value(depth + 1)?;
                    if self.peek() != Some(b':') {
                        return Err("expected `:`");
                    }
                    self.at += 1;
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {}
                        _ => return Err("expected `,` or `}`"),
                    }
                }
            }
            open @ (b'(' | b'[') => {
                self.at += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut comma = false;
                loop {
                    if self.peek() == Some(close) {
                        self.at += 1;
                        // `(x)` is x; `(x,)` and `()` are tuples.
                        return Ok(if open == b'[' {
                            Lit::List(items)
                        } else if items.len() == 1 && !comma {
                            items.pop().ok_or("empty")?
                        } else {
                            Lit::Tuple(items)
                        });
                    }
                    items.push(self.value(depth + 1)?);
                    comma = false;
                    match self.peek() {
                        Some(b',') => {
                            self.at += 1;
                            comma = true;
                        }
                        Some(c) if c == close => {}
                        _ => return Err("expected `,` or a closing bracket"),
                    }
                }
            }
            q @ (b'\'' | b'"') => {
                self.at += 1;
                let start = self.at;
                while let Some(&c) = self.b.get(self.at) {
                    if c == q {
                        let s = &self.b[start..self.at];
                        self.at += 1;
                        // Implicit concatenation (`'a' 'b'`) is not what np.save writes.
                        if matches!(self.peek(), Some(b'\'' | b'"')) {
                            return Err("adjacent string literals");
                        }
                        // Latin-1 (versions 1 and 2) maps each byte to one char.
                        return Ok(Lit::Str(s.iter().map(|&c| char::from(c)).collect()));
                    }
                    if matches!(c, b'\\' | b'\n' | b'\r') {
                        return Err("an escape or line break in a string");
                    }
                    self.at += 1;
                }
                Err("unterminated string")
            }
            b'0'..=b'9' => {
                while self.b.get(self.at).is_some_and(u8::is_ascii_digit) {
                    self.at += 1;
                }
                if self.py2_long && matches!(self.b.get(self.at), Some(b'L' | b'l')) {
                    self.at += 1;
                }
                if self
                    .b
                    .get(self.at)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_'))
                {
                    return Err("a number that is not a plain int");
                }
                Ok(Lit::Int)
            }
            _ => {
                for (word, lit) in [
                    ("True", Lit::Bool),
                    ("False", Lit::Bool),
                    ("None", Lit::Nothing),
                ] {
                    let w = word.as_bytes();
                    if self.b[self.at..].starts_with(w)
                        && !self
                            .b
                            .get(self.at + w.len())
                            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    {
                        self.at += w.len();
                        return Ok(lit);
                    }
                }
                Err("a token outside the header grammar")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::source::Whole;
    use super::*;

    fn npy(header: &str, version: u8) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend([version, 0]);
        if version == 1 {
            b.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
        } else {
            b.extend(u32::try_from(header.len()).unwrap().to_le_bytes());
        }
        b.extend(header.as_bytes());
        b
    }

    fn judge_of(header: &str) -> Npy {
        read(&Whole(&npy(header, 1)), 0).unwrap()
    }

    #[test]
    fn plain_and_object_arrays() {
        let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n";
        assert_eq!(judge_of(h), Npy::Plain);
        let h = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }\n";
        assert_eq!(judge_of(h), Npy::Pickle(10 + h.len() as u64));
        assert_eq!(
            read(&Whole(&npy(h, 2)), 0).unwrap(),
            Npy::Pickle(12 + h.len() as u64)
        );
        // Structured: an object field anywhere makes the whole array a pickle.
        let h = "{'descr': [('a', '<i4'), ('b', '|O')], 'fortran_order': False, 'shape': (1,)}";
        assert!(matches!(judge_of(h), Npy::Pickle(_)));
        let h = "{'descr': [('O', '<i4'), (('t', 'n'), '<M8[ns]', (2,))], 'fortran_order': False, 'shape': ()}";
        assert_eq!(judge_of(h), Npy::Plain);
        for d in [
            "'object'",
            "'i4,O'",
            "'O8'",
            "('O', (2,))",
            "{'names': ['a']}",
            "'<M8[n s]'",
        ] {
            let h = format!("{{'descr': {d}, 'fortran_order': False, 'shape': (1,)}}");
            assert!(matches!(judge_of(&h), Npy::Pickle(_)), "{d}");
        }
        // Python-2 longs in a version-1 header.
        let h = "{'descr': '<i8', 'fortran_order': False, 'shape': (3L,), }";
        assert_eq!(judge_of(h), Npy::Plain);
    }

    #[test]
    fn rejected_and_unverified_headers() {
        let ok = "{'descr': '|O', 'fortran_order': False, 'shape': (2,)}";
        let mut v4 = npy(ok, 1);
        v4[6] = 4;
        assert!(matches!(read(&Whole(&v4), 0).unwrap(), Npy::Rejected(_)));
        assert!(matches!(
            judge_of("{'descr': '|O', 'shape': (2,)}"),
            Npy::Rejected(_)
        ));
        assert!(matches!(
            judge_of("{'descr': '|O', 'fortran_order': 0, 'shape': (2,)}"),
            Npy::Rejected(_)
        ));
        for h in [
            "{'descr': '\\x7cO', 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '|' 'O', 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '|O', 'fortran_order': False, 'shape': (2,)} junk",
            "{'descr': dict(), 'fortran_order': False, 'shape': (2,)}",
        ] {
            assert!(matches!(judge_of(h), Npy::Unverified(_)), "{h}");
        }
        // A header longer than the file, or than the cap.
        let mut short = npy(ok, 1);
        short.truncate(20);
        assert!(matches!(read(&Whole(&short), 0).unwrap(), Npy::Rejected(_)));
        let mut big = npy(ok, 2);
        big[8..12].copy_from_slice(&(2u32 << 20).to_le_bytes());
        assert!(matches!(read(&Whole(&big), 0).unwrap(), Npy::Unverified(_)));
    }
}
