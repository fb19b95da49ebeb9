//! Credentials the hub libraries read on the user's machine, in the libraries'
//! own order: environment variables first, then the token files that
//! `hf auth login`, `csghub-cli login` and `modelscope login` leave behind. Each
//! is returned for its own hub only; `HubOptions` sends it to that hub's
//! origin and nowhere else.

use std::path::{Path, PathBuf};

/// Longest token file read (a token is a few hundred bytes; a cookie jar a
/// few KiB).
const MAX_CREDENTIAL_FILE_BYTES: u64 = 256 * 1024;

/// A token and where it came from (a variable name or a file path), for messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub token: String,
    pub source: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("token", &"<set>")
            .field("source", &self.source)
            .finish()
    }
}

/// Where the libraries look: the environment and the home folder.
pub struct Lookup<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Lookup<'_> {
    /// `os.path.expandvars(os.path.expanduser(v))`: `~` and `$VAR`/`${VAR}`
    /// (an unset variable is left as written, as Python does).
    fn expand(&self, v: &str) -> PathBuf {
        let v = match (v.strip_prefix('~'), &self.home) {
            (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", h.display())
            }
            _ => v.to_string(),
        };
        let mut out = String::new();
        let mut rest = v.as_str();
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                match b.find('}') {
                    Some(j) => (&b[..j], &b[j + 1..]),
                    None => ("", after),
                }
            } else {
                let n = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..n], &after[n..])
            };
            match (!name.is_empty()).then(|| (self.var)(name)).flatten() {
                Some(val) => out.push_str(&val),
                None => out.push_str(&rest[i..rest.len() - tail.len()]),
            }
            rest = tail;
        }
        out.push_str(rest);
        PathBuf::from(out)
    }

    /// A variable that is set and not blank.
    fn nonempty(&self, k: &str) -> Option<String> {
        (self.var)(k).filter(|v| !v.trim().is_empty())
    }
}

/// `_clean_token`: `\r` and `\n` removed, then trimmed; empty is no token
/// (huggingface_hub `utils/_auth.py:453-460`, 2.4.0; pycsghub `_token.py:18-26`).
fn clean(token: &str) -> Option<String> {
    let t: String = token.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::new();
    f.take(MAX_CREDENTIAL_FILE_BYTES)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

fn token_file(path: &Path) -> Option<Credential> {
    let bytes = read_small(path)?;
    Some(Credential {
        token: clean(std::str::from_utf8(&bytes).ok()?)?,
        source: path.display().to_string(),
    })
}

/// The first of `names` that is set to a token (cleaned), with its name.
pub fn first_var(l: &Lookup<'_>, names: &[&str]) -> Option<Credential> {
    names.iter().find_map(|k| {
        (l.var)(k).and_then(|v| clean(&v)).map(|token| Credential {
            token,
            source: (*k).to_string(),
        })
    })
}

/// `HF_HUB_DISABLE_IMPLICIT_TOKEN` and friends: `{"1","ON","YES","TRUE"}`
/// upper-cased (huggingface_hub `constants.py:12-19`).
fn hf_true(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE"))
}

/// `HF_HOME`: the variable, else `$XDG_CACHE_HOME/huggingface`, else
/// `~/.cache/huggingface` (huggingface_hub `constants.py:158-167`).
pub fn hf_home(l: &Lookup<'_>) -> Option<PathBuf> {
    if let Some(h) = (l.var)("HF_HOME") {
        return Some(l.expand(&h));
    }
    let cache = match (l.var)("XDG_CACHE_HOME") {
        Some(x) => PathBuf::from(x),
        None => l.home.as_ref()?.join(".cache"),
    };
    Some(l.expand(&cache.join("huggingface").display().to_string()))
}

/// The hub cache `--offline` reads: `HF_HUB_CACHE`, else the legacy
/// `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub` (huggingface_hub `constants.py:169-181`).
pub fn hf_hub_cache(l: &Lookup<'_>) -> Option<PathBuf> {
    (l.var)("HF_HUB_CACHE")
        .or_else(|| (l.var)("HUGGINGFACE_HUB_CACHE"))
        .map(|v| l.expand(&v))
        .or_else(|| hf_home(l).map(|h| h.join("hub")))
}

/// huggingface_hub `get_token_to_send(None)` / `get_token`: nothing when
/// `HF_HUB_DISABLE_IMPLICIT_TOKEN` is true (`utils/_headers.py:147-154`),
/// else `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN` (`utils/_auth.py:147-149`),
/// else the file `HF_TOKEN_PATH`, default `$HF_HOME/token` (`:152-156`,
/// `constants.py:250-258`), 2.4.0. (The OIDC exchange of `HF_OIDC_RESOURCE`
/// and the Colab vault need a network or a notebook and are not read.)
pub fn huggingface(l: &Lookup<'_>) -> Option<Credential> {
    if hf_true((l.var)("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
        return None;
    }
    // `os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")`:
    // an empty HF_TOKEN falls through to the legacy name.
    for k in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if let Some(v) = (l.var)(k).filter(|v| !v.is_empty()) {
            return clean(&v).map(|token| Credential {
                token,
                source: k.to_string(),
            });
        }
    }
    let path = match (l.var)("HF_TOKEN_PATH") {
        Some(p) => l.expand(&p),
        None => hf_home(l)?.join("token"),
    };
    token_file(&path)
}

/// pycsghub `get_token_to_send(None)`: `CSGHUB_TOKEN`, else the file
/// `CSGHUB_TOKEN_PATH`, default `$CSGHUB_HOME/token` with `CSGHUB_HOME`
/// defaulting to `/home` (csghub-sdk 0.9.3 `utils.py:35-39`, `_token.py:7-15`,
/// `constants.py:23-24`).
pub fn opencsg(l: &Lookup<'_>) -> Option<Credential> {
    if let Some(t) = (l.var)("CSGHUB_TOKEN").and_then(|v| clean(&v)) {
        return Some(Credential {
            token: t,
            source: "CSGHUB_TOKEN".to_string(),
        });
    }
    let path = match (l.var)("CSGHUB_TOKEN_PATH") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from((l.var)("CSGHUB_HOME").unwrap_or_else(|| "/home".to_string()))
            .join("token"),
    };
    token_file(&path)
}

/// modelscope_hub `HubConfig` token: `MODELSCOPE_API_TOKEN` when it is in the
/// environment at all (an empty value means "no token" and stops the search),
/// else the `m_session_id` cookie saved by `modelscope login` in the pickled
/// cookie jar `<config dir>/credentials/cookies`, unless expired (modelscope-hub
/// 0.5.1 `config.py:139-160,254-330`). The config dir is `MODELSCOPE_HOME`,
/// default `~/.modelscope`; modelscope 1.40.2 bridges the legacy
/// `MODELSCOPE_CREDENTIALS_PATH` onto it (`modelscope/hub/__init__.py:16-40`).
/// The jar is read with a data-only pickle walk that never imports anything
/// (see [`cookie_from_pickle`]). `now` is the Unix time, for `expires`.
pub fn modelscope(l: &Lookup<'_>, now: i64) -> Option<Credential> {
    if let Some(v) = (l.var)("MODELSCOPE_API_TOKEN") {
        return clean(&v).map(|token| Credential {
            token,
            source: "MODELSCOPE_API_TOKEN".to_string(),
        });
    }
    let config_dir = match (l.var)("MODELSCOPE_CREDENTIALS_PATH") {
        Some(p) => {
            let p = l.expand(&p);
            let is_file =
                p.is_file() || (!p.exists() && p.file_name().is_some_and(|n| n == "credentials"));
            if is_file {
                p.parent().map(Path::to_path_buf)?
            } else {
                p
            }
        }
        None => match l.nonempty("MODELSCOPE_HOME") {
            Some(h) => l.expand(&h),
            None => l.home.as_ref()?.join(".modelscope"),
        },
    };
    let path = config_dir.join("credentials").join("cookies");
    let bytes = read_small(&path)?;
    let token = cookie_from_pickle(&bytes, "m_session_id", now)?;
    Some(Credential {
        token,
        source: path.display().to_string(),
    })
}

/// A value of the data-only pickle walk.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    Bytes,
    Float,
    List(Vec<Val>),
    Tuple(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    /// A `module.name` reference: never resolved, never imported.
    Global,
    /// An object made from a global (`NEWOBJ`/`REDUCE`) and its `BUILD` state.
    Obj(Box<Val>),
    Mark,
}

/// Most values, memo entries and nesting the walk accepts (a cookie jar holds
/// a handful of cookies).
const MAX_ITEMS: usize = 100_000;

/// The value of the cookie named `name` in a pickled `http.cookiejar` /
/// `requests.cookies.RequestsCookieJar`, unless it has expired. The pickle is
/// walked as data: globals are opaque markers, no class is looked up, no
/// `__reduce__` or `__setstate__` runs. Anything unexpected gives `None`.
pub fn cookie_from_pickle(bytes: &[u8], name: &str, now: i64) -> Option<String> {
    let root = walk_pickle(bytes)?;
    let mut found = None;
    find_cookie(&root, name, now, &mut found, 0);
    found
}

fn find_cookie(v: &Val, name: &str, now: i64, found: &mut Option<String>, depth: usize) {
    if found.is_some() || depth > 64 {
        return;
    }
    match v {
        Val::Dict(items) => {
            let get = |k: &str| {
                items
                    .iter()
                    .find(|(key, _)| *key == Val::Str(k.to_string()))
                    .map(|(_, v)| v)
            };
            if get("name") == Some(&Val::Str(name.to_string()))
                && let Some(Val::Str(value)) = get("value")
            {
                let expired = matches!(get("expires"), Some(Val::Int(e)) if *e <= now);
                if !expired {
                    *found = clean(value);
                }
                return;
            }
            for (k, v) in items {
                find_cookie(k, name, now, found, depth + 1);
                find_cookie(v, name, now, found, depth + 1);
            }
        }
        Val::List(xs) | Val::Tuple(xs) => {
            for x in xs {
                find_cookie(x, name, now, found, depth + 1);
            }
        }
        Val::Obj(state) => find_cookie(state, name, now, found, depth + 1),
        _ => {}
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn le(&mut self, n: usize) -> Option<u64> {
        let s = self.take(n)?;
        let mut v = 0u64;
        for (k, b) in s.iter().enumerate() {
            v |= u64::from(*b) << (8 * k);
        }
        Some(v)
    }
    fn line(&mut self) -> Option<&'a [u8]> {
        let rest = self.b.get(self.i..)?;
        let n = rest.iter().position(|&c| c == b'\n')?;
        self.i += n + 1;
        Some(&rest[..n])
    }
}

fn pop_mark(stack: &mut Vec<Val>) -> Option<Vec<Val>> {
    let m = stack.iter().rposition(|v| *v == Val::Mark)?;
    let items = stack.split_off(m + 1);
    stack.pop();
    Some(items)
}

fn pairs(items: Vec<Val>) -> Option<Vec<(Val, Val)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

/// Evaluate the data opcodes of a pickle (protocols 0-5) into `Val`s.
fn walk_pickle(bytes: &[u8]) -> Option<Val> {
    let mut r = Reader { b: bytes, i: 0 };
    let mut stack: Vec<Val> = Vec::new();
    let mut memo: Vec<Option<Val>> = Vec::new();
    let put = |memo: &mut Vec<Option<Val>>, idx: usize, v: Val| -> Option<()> {
        if idx >= MAX_ITEMS {
            return None;
        }
        if memo.len() <= idx {
            memo.resize(idx + 1, None);
        }
        memo[idx] = Some(v);
        Some(())
    };
    for _ in 0..MAX_ITEMS * 4 {
        if stack.len() > MAX_ITEMS {
            return None;
        }
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?; // PROTO
            }
            0x95 => {
                r.le(8)?; // FRAME
            }
            b'.' => return stack.pop(), // STOP
            b'(' => stack.push(Val::Mark),
            b'0' => {
                stack.pop()?;
            }
            b'1' => {
                pop_mark(&mut stack)?;
            }
            b'2' => {
                let top = stack.last()?.clone();
                stack.push(top);
            }
            b'N' => stack.push(Val::None),
            0x88 => stack.push(Val::Bool(true)),
            0x89 => stack.push(Val::Bool(false)),
            b'J' => stack.push(Val::Int(r.le(4)? as u32 as i32 as i64)),
            b'K' => stack.push(Val::Int(i64::from(r.u8()?))),
            b'M' => stack.push(Val::Int(r.le(2)? as i64)),
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = usize::from(r.u8()?);
                let s = r.take(n)?;
                if n > 8 {
                    stack.push(Val::Float); // too big to matter: opaque
                } else {
                    let mut v: i64 = 0;
                    for (k, b) in s.iter().enumerate() {
                        v |= i64::from(*b) << (8 * k);
                    }
                    if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    stack.push(Val::Int(v));
                }
            }
            b'I' | b'L' => {
                let line = std::str::from_utf8(r.line()?).ok()?;
                match line.trim_end_matches('L') {
                    "00" => stack.push(Val::Bool(false)),
                    "01" => stack.push(Val::Bool(true)),
                    s => stack.push(s.parse().map(Val::Int).unwrap_or(Val::Float)),
                }
            }
            b'G' => {
                r.take(8)?;
                stack.push(Val::Float);
            }
            b'F' => {
                r.line()?;
                stack.push(Val::Float);
            }
            0x8c => {
                let n = usize::from(r.u8()?);
                stack.push(Val::Str(String::from_utf8(r.take(n)?.to_vec()).ok()?));
            }
            b'X' => {
                let n = r.le(4)? as usize;
                stack.push(Val::Str(String::from_utf8(r.take(n)?.to_vec()).ok()?));
            }
            0x8d => {
                let n = usize::try_from(r.le(8)?).ok()?;
                stack.push(Val::Str(String::from_utf8(r.take(n)?.to_vec()).ok()?));
            }
            b'V' => {
                // Raw-unicode-escape text; a token is plain ASCII.
                let s = std::str::from_utf8(r.line()?).ok()?;
                stack.push(Val::Str(s.to_string()));
            }
            b'U' => {
                let n = usize::from(r.u8()?);
                stack.push(Val::Str(String::from_utf8_lossy(r.take(n)?).into_owned()));
            }
            b'T' => {
                let n = r.le(4)? as usize;
                stack.push(Val::Str(String::from_utf8_lossy(r.take(n)?).into_owned()));
            }
            b'S' => {
                let s = std::str::from_utf8(r.line()?).ok()?;
                stack.push(Val::Str(
                    s.trim_matches(|c| c == '\'' || c == '"').to_string(),
                ));
            }
            b'C' => {
                let n = usize::from(r.u8()?);
                r.take(n)?;
                stack.push(Val::Bytes);
            }
            b'B' => {
                let n = r.le(4)? as usize;
                r.take(n)?;
                stack.push(Val::Bytes);
            }
            0x8e | 0x96 => {
                let n = usize::try_from(r.le(8)?).ok()?;
                r.take(n)?;
                stack.push(Val::Bytes);
            }
            b')' => stack.push(Val::Tuple(Vec::new())),
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Val::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if stack.len() < n {
                    return None;
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Val::Tuple(items));
            }
            b']' => stack.push(Val::List(Vec::new())),
            b'l' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Val::List(items));
            }
            b'a' => {
                let v = stack.pop()?;
                match stack.last_mut()? {
                    Val::List(xs) if xs.len() < MAX_ITEMS => xs.push(v),
                    _ => {}
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                if let Val::List(xs) = stack.last_mut()? {
                    xs.extend(items);
                }
            }
            b'}' => stack.push(Val::Dict(Vec::new())),
            b'd' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Val::Dict(pairs(items)?));
            }
            b's' => {
                let v = stack.pop()?;
                let k = stack.pop()?;
                if let Val::Dict(items) = stack.last_mut()? {
                    items.push((k, v));
                }
            }
            b'u' => {
                let items = pairs(pop_mark(&mut stack)?)?;
                if let Val::Dict(d) = stack.last_mut()? {
                    d.extend(items);
                }
            }
            0x8f => stack.push(Val::List(Vec::new())), // EMPTY_SET
            0x90 => {
                let items = pop_mark(&mut stack)?;
                if let Val::List(xs) = stack.last_mut()? {
                    xs.extend(items);
                }
            }
            0x91 => {
                let items = pop_mark(&mut stack)?;
                stack.push(Val::List(items));
            }
            b'c' => {
                r.line()?;
                r.line()?;
                stack.push(Val::Global);
            }
            0x93 => {
                stack.pop()?;
                stack.pop()?;
                stack.push(Val::Global);
            }
            0x81 | b'R' => {
                // NEWOBJ (cls, args) / REDUCE (callable, args): an opaque object.
                stack.pop()?;
                stack.pop()?;
                stack.push(Val::Obj(Box::new(Val::None)));
            }
            0x92 => {
                // NEWOBJ_EX (cls, args, kwargs)
                stack.pop()?;
                stack.pop()?;
                stack.pop()?;
                stack.push(Val::Obj(Box::new(Val::None)));
            }
            b'b' => {
                // BUILD: keep the state next to the object, never apply it.
                let state = stack.pop()?;
                if let Some(Val::Obj(s)) = stack.last_mut() {
                    **s = state;
                }
            }
            b'p' => {
                let idx: usize = std::str::from_utf8(r.line()?).ok()?.parse().ok()?;
                put(&mut memo, idx, stack.last()?.clone())?;
            }
            b'q' => {
                let idx = usize::from(r.u8()?);
                put(&mut memo, idx, stack.last()?.clone())?;
            }
            b'r' => {
                let idx = r.le(4)? as usize;
                put(&mut memo, idx, stack.last()?.clone())?;
            }
            0x94 => {
                let idx = memo.len();
                put(&mut memo, idx, stack.last()?.clone())?;
            }
            b'g' => {
                let idx: usize = std::str::from_utf8(r.line()?).ok()?.parse().ok()?;
                stack.push(memo.get(idx)?.clone()?);
            }
            b'h' => {
                let idx = usize::from(r.u8()?);
                stack.push(memo.get(idx)?.clone()?);
            }
            b'j' => {
                let idx = r.le(4)? as usize;
                stack.push(memo.get(idx)?.clone()?);
            }
            // Anything else (persistent ids, extensions, buffers, INST/OBJ):
            // not a cookie jar this walk reads.
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A `RequestsCookieJar` with one `m_session_id` cookie, as
    /// `modelscope login` pickles it (`pickle.dumps`, protocol 4), generated
    /// by `tests/fixtures/gen/credential_fixtures.py`.
    const JAR: &[u8] = include_bytes!("../../tests/fixtures/credentials/modelscope-cookies.pkl");

    fn lookup<'a>(
        vars: &'a HashMap<&str, String>,
        home: &Path,
    ) -> (impl Fn(&str) -> Option<String> + 'a, PathBuf) {
        (move |k: &str| vars.get(k).cloned(), home.to_path_buf())
    }

    #[test]
    fn cookie_jar_is_read_as_data() {
        assert_eq!(
            cookie_from_pickle(JAR, "m_session_id", 1_700_000_000).as_deref(),
            Some("ms-fixture-token")
        );
        // Expired (`expires` in the past): no token, as `load_cookies` says.
        assert_eq!(cookie_from_pickle(JAR, "m_session_id", 4_000_000_000), None);
        assert_eq!(cookie_from_pickle(JAR, "other", 1_700_000_000), None);
        for old in [
            &include_bytes!("../../tests/fixtures/credentials/modelscope-cookies-p0.pkl")[..],
            &include_bytes!("../../tests/fixtures/credentials/modelscope-cookies-p2.pkl")[..],
        ] {
            assert_eq!(
                cookie_from_pickle(old, "m_session_id", 1_700_000_000).as_deref(),
                Some("ms-fixture-token")
            );
        }
        // Truncations and byte flips never panic and never invent a token.
        for cut in 0..JAR.len() {
            let t = cookie_from_pickle(&JAR[..cut], "m_session_id", 0);
            assert!(t.is_none() || t.as_deref() == Some("ms-fixture-token"));
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut b = JAR.to_vec();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = cookie_from_pickle(&b, "m_session_id", 0);
        }
    }

    #[test]
    fn huggingface_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        std::fs::create_dir_all(home.join(".cache/huggingface")).unwrap();
        std::fs::write(home.join(".cache/huggingface/token"), "hf_file\r\n").unwrap();
        let mut vars: HashMap<&str, String> = HashMap::new();
        let get = |vars: &HashMap<&str, String>| {
            let (var, home) = lookup(vars, home);
            huggingface(&Lookup {
                var: &var,
                home: Some(home),
            })
        };
        // The default token file under ~/.cache/huggingface.
        let c = get(&vars).unwrap();
        assert_eq!(c.token, "hf_file");
        assert!(
            c.source.ends_with(".cache/huggingface/token"),
            "{}",
            c.source
        );
        assert!(!format!("{c:?}").contains("hf_file"));
        // XDG_CACHE_HOME moves HF_HOME, HF_HOME moves the file, HF_TOKEN_PATH names it.
        vars.insert("XDG_CACHE_HOME", home.join("xdg").display().to_string());
        assert_eq!(get(&vars), None);
        std::fs::create_dir_all(home.join("xdg/huggingface")).unwrap();
        std::fs::write(home.join("xdg/huggingface/token"), " hf_xdg ").unwrap();
        assert_eq!(get(&vars).unwrap().token, "hf_xdg");
        vars.insert("HF_HOME", "~/.cache/huggingface".to_string());
        assert_eq!(get(&vars).unwrap().token, "hf_file");
        std::fs::write(home.join("elsewhere"), "hf_path").unwrap();
        vars.insert("HF_TOKEN_PATH", "${HOME_DIR}/elsewhere".to_string());
        vars.insert("HOME_DIR", home.display().to_string());
        assert_eq!(get(&vars).unwrap().token, "hf_path");
        // The environment wins; an empty HF_TOKEN falls through to the legacy name.
        vars.insert("HUGGING_FACE_HUB_TOKEN", "hf_legacy".to_string());
        assert_eq!(get(&vars).unwrap().token, "hf_legacy");
        vars.insert("HF_TOKEN", String::new());
        assert_eq!(get(&vars).unwrap().source, "HUGGING_FACE_HUB_TOKEN");
        vars.insert("HF_TOKEN", "hf_env\n".to_string());
        assert_eq!(get(&vars).unwrap().token, "hf_env");
        // No implicit token at all.
        vars.insert("HF_HUB_DISABLE_IMPLICIT_TOKEN", "yes".to_string());
        assert_eq!(get(&vars), None);
    }

    #[test]
    fn opencsg_and_modelscope_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let run = |vars: &HashMap<&str, String>| {
            let (var, h) = lookup(vars, home);
            let l = Lookup {
                var: &var,
                home: Some(h),
            };
            (opencsg(&l), modelscope(&l, 1_700_000_000))
        };
        let mut vars: HashMap<&str, String> = HashMap::new();
        vars.insert("CSGHUB_HOME", home.display().to_string());
        std::fs::write(home.join("token"), "csg_file\n").unwrap();
        let (csg, ms) = run(&vars);
        assert_eq!(csg.unwrap().token, "csg_file");
        assert_eq!(ms, None);
        std::fs::create_dir_all(home.join(".modelscope/credentials")).unwrap();
        std::fs::write(home.join(".modelscope/credentials/cookies"), JAR).unwrap();
        assert_eq!(run(&vars).1.unwrap().token, "ms-fixture-token");

        vars.insert("CSGHUB_TOKEN", " csg_env ".to_string());
        vars.insert("MODELSCOPE_API_TOKEN", String::new());
        let (csg, ms) = run(&vars);
        assert_eq!(csg.unwrap().source, "CSGHUB_TOKEN");
        // An explicitly empty MODELSCOPE_API_TOKEN means "no token", not the jar.
        assert_eq!(ms, None);

        // The legacy MODELSCOPE_CREDENTIALS_PATH naming the config folder.
        let mut vars: HashMap<&str, String> = HashMap::new();
        std::fs::create_dir_all(home.join("legacy/credentials")).unwrap();
        std::fs::write(home.join("legacy/credentials/cookies"), JAR).unwrap();
        vars.insert(
            "MODELSCOPE_CREDENTIALS_PATH",
            home.join("legacy").display().to_string(),
        );
        assert_eq!(run(&vars).1.unwrap().token, "ms-fixture-token");
    }
}
