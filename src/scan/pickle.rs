//! Pickle opcode scanner: walks protocol 0-5 streams (raw, legacy multi-pickle torch files,
//! or zip checkpoints' `data.pkl`) without unpickling, listing every imported global and
//! every call, and classifying globals with the allow/deny lists of `rules/pickle.yml`.

use std::io::Read;

use serde::Deserialize;

use super::rules::RuleError;
use crate::model::{Engine, Level, RuleMeta};

/// Cap on a decompressed `data.pkl` member and on the opcodes walked.
const MAX_PICKLE_BYTES: usize = 64 << 20;
const MAX_OPS: usize = 5_000_000;
/// Legacy torch files are several pickles back to back.
const MAX_STREAMS: usize = 8;

/// Allow (safe) and deny (dangerous) global patterns: `module.name` exactly, or
/// `module.*` for every name in a module and its submodules.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickleLists {
    #[serde(default)]
    pub safe: Vec<String>,
    #[serde(default)]
    pub dangerous: Vec<String>,
}

impl PickleLists {
    pub(crate) fn merge(&mut self, origin: &str, text: &str) -> Result<(), RuleError> {
        let more: PickleLists = serde_yaml::from_str(text).map_err(|e| RuleError {
            file: origin.to_string(),
            line: e.location().map_or(0, |l| l.line()),
            message: e.to_string(),
        })?;
        for p in more.safe.iter().chain(&more.dangerous) {
            if p.is_empty() || p.contains(char::is_whitespace) || !p.contains('.') {
                return Err(RuleError {
                    file: origin.to_string(),
                    line: text
                        .lines()
                        .position(|l| l.contains(p.as_str()))
                        .map_or(0, |i| i + 1),
                    message: format!("pickle pattern {p:?} must be `module.name` or `module.*`"),
                });
            }
        }
        self.safe.extend(more.safe);
        self.dangerous.extend(more.dangerous);
        Ok(())
    }

    /// Dangerous wins over safe (a user allow-list cannot hide `os.system`).
    pub fn classify(&self, global: &str) -> Verdict {
        if self.dangerous.iter().any(|p| pattern_matches(p, global)) {
            Verdict::Dangerous
        } else if self.safe.iter().any(|p| pattern_matches(p, global)) {
            Verdict::Safe
        } else {
            Verdict::Unknown
        }
    }
}

fn pattern_matches(pattern: &str, global: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(module) => global
            .strip_prefix(module)
            .is_some_and(|rest| rest.starts_with('.')),
        None => match pattern.split_once('*') {
            Some((pre, suf)) => {
                global.len() >= pre.len() + suf.len()
                    && global.starts_with(pre)
                    && global.ends_with(suf)
            }
            None => pattern == global,
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Safe,
    Unknown,
    Dangerous,
}

/// A global the pickle imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `module.name`; `?` parts when a STACK_GLOBAL operand is not a constant string.
    pub name: String,
    /// The opcode that imported it: GLOBAL, STACK_GLOBAL, INST or EXT.
    pub opcode: &'static str,
    pub offset: usize,
}

/// A call the pickle makes when loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, INST or OBJ.
    pub opcode: &'static str,
    /// The callee when it is a known global.
    pub callee: Option<String>,
    pub offset: usize,
}

/// What a pickle would do when loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickleReport {
    pub protocol: Option<u8>,
    pub globals: Vec<Global>,
    pub calls: Vec<Call>,
    /// Why the stream stopped early (truncated, unknown opcode, ...), with the offset.
    pub broken: Option<String>,
    /// The bytes were a zip checkpoint and this member was walked.
    pub member: Option<String>,
}

#[derive(Clone, Debug)]
enum V {
    Mark,
    Str(String),
    Global(String),
    Other,
}

struct Walker<'a> {
    b: &'a [u8],
    pos: usize,
    stack: Vec<V>,
    memo: std::collections::HashMap<u64, V>,
    report: PickleReport,
}

#[derive(Debug)]
struct Broken(String);

impl<'a> Walker<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Broken> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        match end {
            Some(end) => {
                let s = &self.b[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(Broken(format!(
                "truncated: needs {n} bytes at offset {}, stream has {}",
                self.pos,
                self.b.len()
            ))),
        }
    }

    fn uint(&mut self, n: usize) -> Result<u64, Broken> {
        let s = self.take(n)?;
        let mut v = 0u64;
        for (i, byte) in s.iter().enumerate() {
            v |= u64::from(*byte) << (8 * i);
        }
        Ok(v)
    }

    fn line(&mut self) -> Result<&'a [u8], Broken> {
        let rest = &self.b[self.pos..];
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let s = &rest[..i];
                self.pos += i + 1;
                Ok(s)
            }
            None => Err(Broken(format!(
                "truncated: unterminated line argument at offset {}",
                self.pos
            ))),
        }
    }

    fn counted(&mut self, width: usize) -> Result<&'a [u8], Broken> {
        let at = self.pos;
        let n = self.uint(width)?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.b.len())
            .ok_or_else(|| Broken(format!("length {n} at offset {at} exceeds the stream")))?;
        self.take(n)
    }

    fn pop(&mut self) -> V {
        self.stack.pop().unwrap_or(V::Other)
    }

    fn pop_mark(&mut self) -> Vec<V> {
        let mut items = Vec::new();
        while let Some(v) = self.stack.pop() {
            if matches!(v, V::Mark) {
                break;
            }
            items.push(v);
        }
        items.reverse();
        items
    }

    fn global(&mut self, name: String, opcode: &'static str, offset: usize) {
        self.report.globals.push(Global {
            name,
            opcode,
            offset,
        });
    }

    fn call(&mut self, opcode: &'static str, callee: &V, offset: usize) {
        let callee = match callee {
            V::Global(g) => Some(g.clone()),
            _ => None,
        };
        self.report.calls.push(Call {
            opcode,
            callee,
            offset,
        });
    }

    fn text(s: &[u8]) -> String {
        String::from_utf8_lossy(s).into_owned()
    }

    /// Walk one pickle (up to STOP). Returns Ok(true) at STOP.
    fn walk_one(&mut self, ops: &mut usize) -> Result<(), Broken> {
        loop {
            *ops += 1;
            if *ops > MAX_OPS {
                return Err(Broken(format!("more than {MAX_OPS} opcodes; stopped")));
            }
            let at = self.pos;
            let op = self.take(1).map_err(|_| {
                Broken(format!(
                    "truncated: stream ends at offset {at} without STOP"
                ))
            })?[0];
            match op {
                b'.' => return Ok(()),
                b'(' => self.stack.push(V::Mark),
                b'0' => {
                    self.pop();
                }
                b'1' => {
                    self.pop_mark();
                }
                b'2' => {
                    let top = self.stack.last().cloned().unwrap_or(V::Other);
                    self.stack.push(top);
                }
                b'F' | b'I' | b'L' => {
                    self.line()?;
                    self.stack.push(V::Other);
                }
                b'P' => {
                    self.line()?;
                    self.stack.push(V::Other);
                }
                b'Q' => {
                    self.pop();
                    self.stack.push(V::Other);
                }
                b'S' => {
                    let s = self.line()?;
                    let s = s.trim_ascii();
                    let inner = if s.len() >= 2
                        && (s[0] == b'\'' || s[0] == b'"')
                        && s[s.len() - 1] == s[0]
                    {
                        &s[1..s.len() - 1]
                    } else {
                        s
                    };
                    self.stack.push(V::Str(Self::text(inner)));
                }
                b'V' => {
                    let s = self.line()?;
                    self.stack.push(V::Str(Self::text(s)));
                }
                b'J' => {
                    self.take(4)?;
                    self.stack.push(V::Other);
                }
                b'K' => {
                    self.take(1)?;
                    self.stack.push(V::Other);
                }
                b'M' => {
                    self.take(2)?;
                    self.stack.push(V::Other);
                }
                b'G' => {
                    self.take(8)?;
                    self.stack.push(V::Other);
                }
                b'N' | 0x88 | 0x89 | b'}' | b']' | b')' | 0x8f | 0x97 => self.stack.push(V::Other),
                b'T' | b'X' => {
                    let s = self.counted(4)?;
                    self.stack.push(V::Str(Self::text(s)));
                }
                b'U' | 0x8c => {
                    let s = self.counted(1)?;
                    self.stack.push(V::Str(Self::text(s)));
                }
                0x8d => {
                    let s = self.counted(8)?;
                    self.stack.push(V::Str(Self::text(s)));
                }
                b'B' => {
                    self.counted(4)?;
                    self.stack.push(V::Other);
                }
                b'C' | 0x8a => {
                    self.counted(1)?;
                    self.stack.push(V::Other);
                }
                0x8b => {
                    self.counted(4)?;
                    self.stack.push(V::Other);
                }
                0x8e | 0x96 => {
                    self.counted(8)?;
                    self.stack.push(V::Other);
                }
                b'R' => {
                    self.pop();
                    let callable = self.pop();
                    self.call("REDUCE", &callable, at);
                    self.stack.push(V::Other);
                }
                b'b' => {
                    self.pop();
                    let target = self.stack.last().cloned().unwrap_or(V::Other);
                    self.call("BUILD", &target, at);
                }
                0x81 => {
                    self.pop();
                    let cls = self.pop();
                    self.call("NEWOBJ", &cls, at);
                    self.stack.push(V::Other);
                }
                0x92 => {
                    self.pop();
                    self.pop();
                    let cls = self.pop();
                    self.call("NEWOBJ_EX", &cls, at);
                    self.stack.push(V::Other);
                }
                b'c' => {
                    let module = Self::text(self.line()?);
                    let name = Self::text(self.line()?);
                    let g = format!("{}.{}", module.trim(), name.trim());
                    self.global(g.clone(), "GLOBAL", at);
                    self.stack.push(V::Global(g));
                }
                0x93 => {
                    let name = self.pop();
                    let module = self.pop();
                    let part = |v: &V| match v {
                        V::Str(s) => s.clone(),
                        _ => "?".to_string(),
                    };
                    let g = format!("{}.{}", part(&module), part(&name));
                    self.global(g.clone(), "STACK_GLOBAL", at);
                    self.stack.push(V::Global(g));
                }
                b'i' => {
                    let module = Self::text(self.line()?);
                    let name = Self::text(self.line()?);
                    let g = format!("{}.{}", module.trim(), name.trim());
                    self.global(g.clone(), "INST", at);
                    self.pop_mark();
                    self.call("INST", &V::Global(g), at);
                    self.stack.push(V::Other);
                }
                b'o' => {
                    let items = self.pop_mark();
                    let cls = items.first().cloned().unwrap_or(V::Other);
                    self.call("OBJ", &cls, at);
                    self.stack.push(V::Other);
                }
                0x82..=0x84 => {
                    let width = match op {
                        0x82 => 1,
                        0x83 => 2,
                        _ => 4,
                    };
                    let code = self.uint(width)?;
                    let g = format!("copyreg.extension_{code}");
                    self.global(g.clone(), "EXT", at);
                    self.stack.push(V::Global(g));
                }
                b'd' | b'l' | b't' | 0x91 => {
                    self.pop_mark();
                    self.stack.push(V::Other);
                }
                b'a' => {
                    self.pop();
                }
                b'e' | b'u' | 0x90 => {
                    self.pop_mark();
                }
                b's' => {
                    self.pop();
                    self.pop();
                }
                0x85..=0x87 => {
                    for _ in 0..(op - 0x84) {
                        self.pop();
                    }
                    self.stack.push(V::Other);
                }
                b'p' => {
                    let key = Self::text(self.line()?);
                    let key = key.trim().parse::<u64>().unwrap_or(u64::MAX);
                    self.put(key);
                }
                b'q' => {
                    let key = self.uint(1)?;
                    self.put(key);
                }
                b'r' => {
                    let key = self.uint(4)?;
                    self.put(key);
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.put(key);
                }
                b'g' => {
                    let key = Self::text(self.line()?);
                    let key = key.trim().parse::<u64>().unwrap_or(u64::MAX);
                    self.get(key);
                }
                b'h' => {
                    let key = self.uint(1)?;
                    self.get(key);
                }
                b'j' => {
                    let key = self.uint(4)?;
                    self.get(key);
                }
                0x80 => {
                    let p = self.uint(1)?;
                    self.report.protocol.get_or_insert(p as u8);
                }
                0x95 => {
                    self.take(8)?;
                }
                0x98 => {}
                other => {
                    return Err(Broken(format!(
                        "unknown opcode 0x{other:02x} at offset {at}"
                    )));
                }
            }
        }
    }

    fn put(&mut self, key: u64) {
        let top = self.stack.last().cloned().unwrap_or(V::Other);
        self.memo.insert(key, top);
    }

    fn get(&mut self, key: u64) {
        let v = self.memo.get(&key).cloned().unwrap_or(V::Other);
        self.stack.push(v);
    }
}

/// Walk a pickle stream (or the `data.pkl` of a zip checkpoint) without loading it.
pub fn analyze(bytes: &[u8]) -> PickleReport {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return match zip_member(bytes) {
            Ok((name, data)) => {
                let mut r = walk(&data);
                r.member = Some(name);
                r
            }
            Err(e) => PickleReport {
                broken: Some(format!("zip checkpoint: {e}")),
                ..PickleReport::default()
            },
        };
    }
    walk(bytes)
}

fn walk(bytes: &[u8]) -> PickleReport {
    let mut w = Walker {
        b: bytes,
        pos: 0,
        stack: Vec::new(),
        memo: std::collections::HashMap::new(),
        report: PickleReport::default(),
    };
    let mut ops = 0;
    for _ in 0..MAX_STREAMS {
        if let Err(Broken(e)) = w.walk_one(&mut ops) {
            w.report.broken = Some(e);
            break;
        }
        // Legacy torch.save files: several protocol-2 pickles, then raw storage bytes.
        if w.b.get(w.pos) != Some(&0x80) {
            break;
        }
        w.stack.clear();
        w.memo.clear();
    }
    w.report
}

fn le16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn le32(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// Extract the `data.pkl` member (`<dir>/data.pkl` in torch checkpoints) from a zip.
fn zip_member(b: &[u8]) -> Result<(String, Vec<u8>), String> {
    // End of central directory: scan back over the at most 64 KiB comment.
    let min = b.len().saturating_sub(22 + 65_535);
    let eocd = (min..b.len().saturating_sub(21))
        .rev()
        .find(|&i| b[i..].starts_with(b"PK\x05\x06"))
        .ok_or("no end of central directory (truncated archive?)")?;
    let entries = le16(b, eocd + 10).ok_or("bad end record")?;
    let mut at = le32(b, eocd + 16).ok_or("bad end record")?;
    for _ in 0..entries.min(100_000) {
        if b.get(at..at + 4) != Some(b"PK\x01\x02") {
            return Err(format!("bad central directory entry at offset {at}"));
        }
        let method = le16(b, at + 10).ok_or("bad entry")?;
        let csize = le32(b, at + 20).ok_or("bad entry")?;
        let usize_ = le32(b, at + 24).ok_or("bad entry")?;
        let nlen = le16(b, at + 28).ok_or("bad entry")?;
        let elen = le16(b, at + 30).ok_or("bad entry")?;
        let clen = le16(b, at + 32).ok_or("bad entry")?;
        let local = le32(b, at + 42).ok_or("bad entry")?;
        let name = b.get(at + 46..at + 46 + nlen).ok_or("bad entry name")?;
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + nlen + elen + clen;
        if !(name == "data.pkl" || name.ends_with("/data.pkl")) {
            continue;
        }
        if usize_ > MAX_PICKLE_BYTES {
            return Err(format!("{name} is {usize_} bytes, over the cap"));
        }
        let lnlen = le16(b, local + 26).ok_or("bad local header")?;
        let lelen = le16(b, local + 28).ok_or("bad local header")?;
        let start = local + 30 + lnlen + lelen;
        let data = b
            .get(start..start.saturating_add(csize).min(b.len()))
            .ok_or("member data out of range")?;
        return match method {
            0 => Ok((name, data.to_vec())),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .take(MAX_PICKLE_BYTES as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("{name}: {e}"))?;
                Ok((name, out))
            }
            m => Err(format!("{name}: unsupported compression method {m}")),
        };
    }
    Err("no data.pkl member".to_string())
}

pub(crate) const DANGEROUS: &str = "pickle-dangerous-global";
pub(crate) const UNKNOWN: &str = "pickle-unknown-global";
pub(crate) const BROKEN: &str = "pickle-malformed";

/// The pickle checks, as rules.
pub fn metas() -> Vec<RuleMeta> {
    let refs = "## References\n- https://docs.python.org/3/library/pickle.html\n- https://pytorch.org/docs/stable/generated/torch.load.html\n- https://cwe.mitre.org/data/definitions/502.html";
    let meta = |id: &str, title: &str, description: &str, why: &str, level, sev, conf: &str| {
        RuleMeta {
            id: id.to_string(),
            title: title.to_string(),
            description: description.to_string(),
            help: format!(
                "## What it does\n{description}\n\n## Why is this bad\n{why}\n\n## Example\nA pickle whose `__reduce__` returns `(os.system, (\"...\",))` imports `os.system` with GLOBAL or STACK_GLOBAL and calls it with REDUCE when `torch.load` or `pickle.load` reads the file.\n\n{refs}"
            ),
            cwe: vec!["CWE-502".to_string()],
            level,
            security_severity: sev,
            confidence: conf.to_string(),
            engine: Engine::Pickle,
            source: "builtin:rules/pickle.yml".to_string(),
        }
    };
    vec![
        meta(
            DANGEROUS,
            "Pickle imports a dangerous global",
            "Lists the globals a pickle imports (GLOBAL, STACK_GLOBAL, INST) without unpickling it and flags those on the deny-list, such as os.system, builtins.exec or subprocess.Popen.",
            "Unpickling imports and calls these objects: loading the file runs commands on the machine that loads it.",
            Level::Error,
            9.8,
            "high",
        ),
        meta(
            UNKNOWN,
            "Pickle imports a global that is not known to be safe",
            "Flags globals that are on neither the allow-list (tensor rebuild helpers, OrderedDict, numpy reconstruction) nor the deny-list.",
            "Any importable callable can be invoked by a pickle; an unknown global needs review before the weights are loaded.",
            Level::Warning,
            5.5,
            "medium",
        ),
        meta(
            BROKEN,
            "Pickle stream is truncated or malformed",
            "The opcode walker stopped before the end of the stream (truncated data, unknown opcode, bad zip member); everything up to the break was scanned.",
            "Malformed streams are a known trick to hide payloads from scanners that give up, while the unpickler may still run the part before the break.",
            Level::Warning,
            5.0,
            "medium",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol0_global_and_reduce() {
        let r = analyze(b"cos\nsystem\n(S'true'\ntR.");
        assert_eq!(r.globals[0].name, "os.system");
        assert_eq!(r.calls[0].opcode, "REDUCE");
        assert_eq!(r.calls[0].callee.as_deref(), Some("os.system"));
        assert_eq!(r.broken, None);
    }

    #[test]
    fn stack_global_through_memo() {
        // protocol 4: SHORT_BINUNICODE 'os', MEMOIZE, SHORT_BINUNICODE 'system', MEMOIZE,
        // STACK_GLOBAL, then a second STACK_GLOBAL from memo gets.
        let mut p = vec![0x80, 4];
        p.extend([0x8c, 2]);
        p.extend(b"os");
        p.push(0x94);
        p.extend([0x8c, 6]);
        p.extend(b"system");
        p.push(0x94);
        p.push(0x93);
        p.extend([b'h', 0, b'h', 1, 0x93]);
        p.extend([b')', b'R', b'.']);
        let r = analyze(&p);
        assert_eq!(r.protocol, Some(4));
        let names: Vec<_> = r.globals.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["os.system", "os.system"]);
        assert_eq!(r.calls[0].callee.as_deref(), Some("os.system"));
    }

    #[test]
    fn truncated_is_reported_with_what_came_before() {
        let r = analyze(b"cos\nsystem\n(S'tru");
        assert_eq!(r.globals[0].name, "os.system");
        assert!(r.broken.as_deref().unwrap().contains("truncated"));
    }

    #[test]
    fn patterns() {
        let l = PickleLists {
            safe: vec!["torch._utils.*".into(), "torch.*Storage".into()],
            dangerous: vec!["os.*".into(), "builtins.eval".into()],
        };
        assert_eq!(l.classify("os.path.join"), Verdict::Dangerous);
        assert_eq!(l.classify("osx.y"), Verdict::Unknown);
        assert_eq!(l.classify("torch._utils._rebuild_tensor_v2"), Verdict::Safe);
        assert_eq!(l.classify("torch.FloatStorage"), Verdict::Safe);
        assert_eq!(l.classify("builtins.eval"), Verdict::Dangerous);
    }
}
