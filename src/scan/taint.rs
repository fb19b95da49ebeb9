//! Data flow in remote code: values from a source reaching a sink, within a function and
//! across the functions of the fetched closure (through arguments and return values).
//!
//! - Sources: network responses (and files fetched at load), decoded or decompressed blobs,
//!   secret environment variables and credential files (and the environment as a whole, the
//!   user and host names), values of the repo's own configuration (`config.x`, the config
//!   class's `kwargs`, JSON files read next to the code).
//! - Sinks: code execution (`exec`, `eval`, imports of computed names, unpicklers,
//!   `sys.path`), process creation, a file written and then made executable or run, and
//!   network sends.
//!
//! Which source matters for which sink: fetched, decoded or configured values reaching code
//! execution or a process (a dropper, config-driven code); secrets, the environment and the
//! machine's identity reaching the network or a process (exfiltration). A secret read alone
//! or a network call alone is no flow: the capability rules rank those.
//!
//! Works on the tokens and outlines of the files, like the call graph: an assignment taints
//! its targets, a call taints its result when an argument is tainted (so transformations
//! such as `.decode()`, `json.loads` or string building carry the taint), and a call to a
//! function of the closure carries taint into its parameters and out of its return value.
//! It over-approximates inside a function (no control flow, no kill on reassignment) and
//! stops at what it cannot name (a value stored in a container and read back elsewhere).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::rc::Rc;
use std::sync::LazyLock;

use super::lex::{self, Kind};
use super::outline::{ImportKind, Outline, ScopeKind};
use super::reach::{Unit, last as last_segment};
// Seeded per map: the keys are names the analysed code chooses.
use foldhash::{HashMap, HashMapExt, HashSet};

/// The rule of a source-to-sink flow (metadata in `rules/capability/taint-flow.yml`).
pub(crate) const RULE: &str = "taint-flow";
/// The rule of a write to a place where code persists (metadata in
/// `rules/python/persistence-write.yml`; its query matches literal mentions).
pub(crate) const PERSISTENCE: &str = "persistence-write";
/// The rule of data unpickled at load time from a file hubwarden did not scan (metadata in
/// `rules/capability/unverified-fetched-code.yml`).
pub(crate) const UNVERIFIED: &str = "unverified-fetched-code";

/// Rounds of the interprocedural fixpoint (a chain of helpers deeper than this is cut).
const ROUNDS: usize = 6;
/// Steps kept in a flow's path.
const MAX_STEPS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Source {
    /// A network response or a file fetched from a hub at load.
    Network,
    /// A decoded or decompressed blob.
    Decoded,
    /// A value of the repo's own configuration.
    Config,
    /// A secret environment variable or a credential file.
    Secret,
    /// The whole environment.
    Environment,
    /// The user or machine name.
    Identity,
    /// A path into a place that runs code later: shell start-up files, cron, systemd,
    /// launch agents, `authorized_keys`, git hooks, site-packages (`.pth`),
    /// `sitecustomize`/`usercustomize`.
    Startup,
}

impl Source {
    fn what(self) -> &'static str {
        match self {
            Source::Network => "fetched data",
            Source::Decoded => "a decoded blob",
            Source::Config => "a value of the repo's configuration",
            Source::Secret => "a secret",
            Source::Environment => "the environment",
            Source::Identity => "the user or host name",
            Source::Startup => "a path where code persists",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    Code,
    Process,
    Send,
    /// A file written, copied, moved or linked to a path.
    Write,
}

impl Sink {
    fn accepts(self, s: Source) -> bool {
        match self {
            Sink::Code => matches!(s, Source::Network | Source::Decoded | Source::Config),
            Sink::Process => matches!(
                s,
                Source::Network | Source::Decoded | Source::Config | Source::Secret
            ),
            Sink::Send => matches!(s, Source::Secret | Source::Environment | Source::Identity),
            // A persistence location, or a path hidden in a decoded or character-built
            // string (`"".join(map(chr, ...))`).
            Sink::Write => matches!(s, Source::Startup | Source::Decoded),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Sink::Code => "runs it as code",
            Sink::Process => "runs it as a process",
            Sink::Send => "sends it over the network",
            Sink::Write => "writes a file there",
        }
    }
}

/// A tainted value: where it came from and the steps it took.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Taint {
    source: Source,
    steps: Vec<String>,
    /// The value is the path of a file that holds tainted content (written here or fetched).
    file: bool,
}

impl Taint {
    fn new(source: Source, step: String) -> Taint {
        Taint {
            source,
            steps: vec![step],
            file: false,
        }
    }

    fn then(&self, step: &str) -> Taint {
        let mut t = self.clone();
        if t.steps.last().map(String::as_str) != Some(step) && t.steps.len() < MAX_STEPS {
            t.steps.push(step.to_string());
        }
        t
    }
}

/// One flow found: the sink call's bytes in its file, and what reached it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flow {
    pub start: usize,
    pub end: usize,
    /// `requests.get` → `open(..., "wb")` → `os.chmod` → `subprocess.Popen`.
    pub path: String,
    /// "fetched data reaches `subprocess.Popen`, which runs it as a process".
    pub what: String,
    /// The rule it is reported under: [`RULE`], [`PERSISTENCE`] or [`UNVERIFIED`].
    pub rule: &'static str,
    /// For an unpickled data file: its name as the code writes it (`rotary_cache.npy`),
    /// to find it among the target's scanned files.
    pub data_file: Option<String>,
}

const SECRET_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "SESSION",
];

const CREDENTIAL_FILES: &[&str] = &[
    ".ssh/",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    "authorized_keys",
    ".aws/",
    "huggingface/token",
    "/stored_tokens",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".docker/config.json",
    ".kube/config",
    ".gnupg",
    "gcloud/",
    "credentials",
    ".bash_history",
    "keychain",
    "/etc/shadow",
];

/// Calls whose result is fetched data (matched on the qualified name; `*.x` on the last
/// segment, whatever the receiver).
const NETWORK_SOURCES: &[&str] = &[
    "requests.get",
    "requests.post",
    "requests.put",
    "requests.request",
    "requests.Session().get",
    "httpx.get",
    "httpx.post",
    "httpx.request",
    "httpx.stream",
    "urllib.request.urlopen",
    "urllib2.urlopen",
    "urllib3.request",
    "aiohttp.request",
    "*.urlopen",
    "*.recv",
    "*.recvfrom",
    "*.recv_into",
    "*.getresponse",
    "*.iter_content",
    "huggingface_hub.hf_hub_download",
    "huggingface_hub.snapshot_download",
    "huggingface_hub.cached_download",
    "huggingface_hub.hf_hub_url",
    "transformers.utils.hub.cached_file",
    "transformers.utils.cached_file",
    "modelscope.snapshot_download",
    "torch.hub.download_url_to_file",
    "wget.download",
];

/// Calls that decode or decompress their argument: a constant blob passed to them is
/// a decoded source.
const DECODERS: &[&str] = &[
    "base64.b64decode",
    "base64.b32decode",
    "base64.b16decode",
    "base64.b85decode",
    "base64.a85decode",
    "base64.decodebytes",
    "base64.urlsafe_b64decode",
    "base64.standard_b64decode",
    "binascii.a2b_base64",
    "binascii.a2b_hex",
    "binascii.unhexlify",
    "bytes.fromhex",
    "bytearray.fromhex",
    "codecs.decode",
    "zlib.decompress",
    "bz2.decompress",
    "lzma.decompress",
    "gzip.decompress",
    "marshal.loads",
];

const CODE_SINKS: &[&str] = &[
    "exec",
    "eval",
    "compile",
    "builtins.exec",
    "builtins.eval",
    "builtins.compile",
    "__import__",
    "builtins.__import__",
    "importlib.import_module",
    "importlib.__import__",
    "runpy.run_path",
    "runpy.run_module",
    "pickle.loads",
    "pickle.load",
    "cPickle.loads",
    "dill.loads",
    "dill.load",
    "cloudpickle.loads",
    "joblib.load",
    "marshal.loads",
    "types.FunctionType",
    "types.CodeType",
    "sys.path.insert",
    "sys.path.append",
    "sys.path.extend",
    "site.addsitedir",
    "importlib.util.spec_from_file_location",
    "zipimport.zipimporter",
    "ctypes.CDLL",
    "ctypes.cdll.LoadLibrary",
    "ctypes.PyDLL",
];

const PROCESS_SINKS: &[&str] = &[
    "subprocess.Popen",
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "os.system",
    "os.popen",
    "os.spawnl",
    "os.spawnle",
    "os.spawnlp",
    "os.spawnlpe",
    "os.spawnv",
    "os.spawnve",
    "os.spawnvp",
    "os.spawnvpe",
    "os.execl",
    "os.execle",
    "os.execlp",
    "os.execlpe",
    "os.execv",
    "os.execve",
    "os.execvp",
    "os.execvpe",
    "os.posix_spawn",
    "os.posix_spawnp",
    "os.startfile",
    "pty.spawn",
    "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
    "commands.getoutput",
];

const SEND_SINKS: &[&str] = &[
    "requests.post",
    "requests.put",
    "requests.patch",
    "requests.get",
    "requests.request",
    "requests.delete",
    "httpx.post",
    "httpx.put",
    "httpx.get",
    "httpx.request",
    "urllib.request.urlopen",
    "urllib.request.Request",
    "urllib2.urlopen",
    "urllib2.Request",
    "*.urlopen",
    "*.sendall",
    "*.send",
    "*.sendto",
    "*.sendmail",
    "*.send_message",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.getaddrinfo",
    "socket.create_connection",
    "dns.resolver.resolve",
    "dns.resolver.query",
    "*.connect",
];

/// Keyword arguments that never carry the flowing value to the sink's effect (the
/// environment a build runs in, an auth header to the hub, timeouts).
const INERT_KEYWORDS: &[&str] = &[
    "env",
    "cwd",
    "timeout",
    "headers",
    "token",
    "use_auth_token",
    "auth",
    "stdout",
    "stderr",
    "stdin",
    "check",
    "text",
    "shell",
    "capture_output",
    "encoding",
    "errors",
    "verify",
    "universal_newlines",
    "close_fds",
    "daemon",
];

/// Bits of [`api_bits`], one per API table.
const NETWORK: u8 = 1;
const DECODER: u8 = 2;
const CODE: u8 = 4;
const PROCESS: u8 = 8;
const SEND: u8 = 16;

/// The API tables as two maps, built once: qualified name -> tables that list it, and
/// last segment -> tables that list it as `*.x`.
struct ApiIndex {
    exact: HashMap<&'static str, u8>,
    last: HashMap<&'static str, u8>,
}

static API_INDEX: LazyLock<ApiIndex> = LazyLock::new(|| {
    let mut index = ApiIndex {
        exact: HashMap::new(),
        last: HashMap::new(),
    };
    for (table, bit) in [
        (NETWORK_SOURCES, NETWORK),
        (DECODERS, DECODER),
        (CODE_SINKS, CODE),
        (PROCESS_SINKS, PROCESS),
        (SEND_SINKS, SEND),
    ] {
        for p in table {
            match p.strip_prefix("*.") {
                Some(suffix) => *index.last.entry(suffix).or_default() |= bit,
                None => *index.exact.entry(p).or_default() |= bit,
            }
        }
    }
    index
});

/// The tables whose entries match `name` (an entry `*.x` matches on the last segment,
/// whatever the receiver): one hash lookup each way instead of a scan of every table.
fn api_bits(name: &str) -> u8 {
    let last = last_segment(name);
    let index = &*API_INDEX;
    index.exact.get(name).copied().unwrap_or(0) | index.last.get(last).copied().unwrap_or(0)
}

/// A call in a file: the callee as qualified as the file's imports allow, its tokens.
#[derive(Clone, Debug)]
struct Call {
    name: String,
    /// The callee's first token.
    first: usize,
    /// Token of `(` and of its `)`.
    open: usize,
    close: usize,
}

/// What a file's names stand for.
#[derive(Default)]
struct Names {
    /// Local name -> qualified name (`ur` -> `urllib.request`, `Launcher` -> `subprocess.Popen`).
    alias: HashMap<String, String>,
}

/// Per-function facts for the interprocedural fixpoint.
#[derive(Clone, Debug, Default)]
struct Summary {
    params: Vec<String>,
    /// Taint of each parameter, from the call sites seen.
    param_taint: HashMap<usize, Taint>,
    returns: Option<Taint>,
    /// The function is a method (its first parameter is the receiver).
    method: bool,
}

struct File<'a> {
    src: &'a [u8],
    o: &'a Outline,
    names: Names,
    /// Logical lines of each scope, in order (a scope's own code only).
    lines: Vec<Vec<Range<usize>>>,
    /// Classes whose name says they are the configuration (`*Config`).
    config_class: Vec<bool>,
    /// The file's literals, joined as one path, name a place where code persists. The
    /// literals of any token range are a run of these, so without it no range's are.
    startup_literals: bool,
    /// Some name of the file is, or is bound to, a module or builtin that
    /// [`Analysis::startup_direct`] follows (`site`, `sysconfig`, `distutils`, `chr`, `map`).
    startup_names: bool,
    /// [`File::calls`] of each token range asked for.
    calls_memo: CallsMemo,
    /// [`Analysis::startup_direct`] of each token range asked for (when gated).
    startup_memo: RefCell<HashMap<(usize, usize), Option<Taint>>>,
}

/// [`File::calls`] by token range `(start, end)`: the fixpoint asks for the same ranges
/// every round.
type CallsMemo = RefCell<HashMap<(usize, usize), Rc<[Call]>>>;

/// Heads of the names [`Analysis::startup_direct`] follows.
fn startup_head(name: &str) -> bool {
    startup_word(name.split('.').next().unwrap_or("").as_bytes())
}

/// Is this a head of [`startup_head`] (a name token, which has no dot, as is)?
fn startup_word(head: &[u8]) -> bool {
    matches!(
        head,
        b"site" | b"sysconfig" | b"distutils" | b"chr" | b"map"
    )
}

impl<'a> File<'a> {
    fn t(&self, i: usize) -> &'a [u8] {
        let src = self.src;
        self.o
            .lexed
            .toks
            .get(i)
            .map_or(&[][..], |t| &src[t.range()])
    }

    fn s(&self, i: usize) -> &'a str {
        std::str::from_utf8(self.t(i)).unwrap_or("")
    }

    fn kind(&self, i: usize) -> Option<Kind> {
        self.o.lexed.toks.get(i).map(|t| t.kind)
    }

    fn is_op(&self, i: usize, op: &[u8]) -> bool {
        self.kind(i) == Some(Kind::Op) && self.t(i) == op
    }

    fn closing(&self, open: usize, end: usize) -> Option<usize> {
        let mut depth = 0i32;
        for i in open..end {
            if self.kind(i) != Some(Kind::Op) {
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

    /// First top-level token in `r` that is the operator `op`.
    fn find_top(&self, r: Range<usize>, op: &[u8]) -> Option<usize> {
        let mut depth = 0i32;
        for i in r {
            if self.kind(i) != Some(Kind::Op) {
                if depth == 0 && self.kind(i) == Some(Kind::Name) && self.t(i) == op {
                    return Some(i);
                }
                continue;
            }
            match self.t(i) {
                b"(" | b"[" | b"{" => depth += 1,
                b")" | b"]" | b"}" => depth -= 1,
                x if x == op && depth == 0 => return Some(i),
                _ => {}
            }
        }
        None
    }

    /// Split `r` at top-level commas.
    fn split_commas(&self, r: Range<usize>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut depth = 0i32;
        let mut start = r.start;
        for i in r.clone() {
            if self.kind(i) != Some(Kind::Op) {
                continue;
            }
            match self.t(i) {
                b"(" | b"[" | b"{" => depth += 1,
                b")" | b"]" | b"}" => depth -= 1,
                b"," if depth == 0 => {
                    out.push(start..i);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if start < r.end {
            out.push(start..r.end);
        }
        out
    }

    /// The bracket opening the one that closes at `close`, not before token `floor`.
    fn opening(&self, close: usize, floor: usize) -> Option<usize> {
        let mut depth = 0i32;
        let mut j = close;
        loop {
            if self.kind(j) == Some(Kind::Op) {
                match self.t(j) {
                    b")" | b"]" | b"}" => depth += 1,
                    b"(" | b"[" | b"{" => depth -= 1,
                    _ => {}
                }
            }
            if depth == 0 {
                return Some(j);
            }
            if j <= floor {
                return None;
            }
            j -= 1;
        }
    }

    /// The dotted name ending at token `i` (a Name), walking back over `.Name` and over
    /// calls (`a.b(...).c` -> `a.b().c`), never before token `floor`; its first token.
    fn dotted_back(&self, i: usize, floor: usize) -> (String, usize) {
        // (name, called) from the last part back.
        let mut parts: Vec<(&str, bool)> = vec![(self.s(i), false)];
        let mut k = i;
        while k >= floor + 2 && self.is_op(k - 1, b".") {
            let prev = k - 2;
            if self.kind(prev) == Some(Kind::Name) {
                parts.push((self.s(prev), false));
                k = prev;
                continue;
            }
            if !self.is_op(prev, b")") {
                break;
            }
            // `x.y(...).z`: back to the `(` of that call.
            let Some(j) = self.opening(prev, floor).filter(|&j| j > floor) else {
                break;
            };
            if self.kind(j - 1) != Some(Kind::Name) {
                break;
            }
            parts.push((self.s(j - 1), true));
            k = j - 1;
        }
        let mut name = String::new();
        for (p, called) in parts.iter().rev() {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(p);
            if *called {
                name.push_str("()");
            }
        }
        (name, k)
    }

    /// The name as the file's imports qualify it (`ur.urlopen` -> `urllib.request.urlopen`).
    fn qualify(&self, dotted: &str) -> String {
        self.qualified(dotted).into_owned()
    }

    /// [`Self::qualify`], borrowing the name when no import renames its head.
    fn qualified<'d>(&self, dotted: &'d str) -> Cow<'d, str> {
        // A byte search: a `char` pattern set costs more than the names are long.
        let (head, rest) = match dotted.bytes().position(|b| b == b'.' || b == b'(') {
            Some(i) => (&dotted[..i], &dotted[i..]),
            None => (dotted, ""),
        };
        match self.names.alias.get(head) {
            Some(q) => Cow::Owned(format!("{q}{rest}")),
            None => Cow::Borrowed(dotted),
        }
    }

    /// Every call in `r` (outermost first, by position of the callee), found once per
    /// range: they depend only on the tokens and the file's names, fixed by [`file_of`].
    fn calls(&self, r: Range<usize>) -> Rc<[Call]> {
        // The fixpoint reads the same ranges every round, and a line's value both for
        // its sinks and for the taint it binds.
        let key = (r.start, r.end);
        if let Some(found) = self.calls_memo.borrow().get(&key) {
            return Rc::clone(found);
        }
        let found: Rc<[Call]> = self.find_calls(r).into();
        self.calls_memo.borrow_mut().insert(key, Rc::clone(&found));
        found
    }

    fn find_calls(&self, r: Range<usize>) -> Vec<Call> {
        let mut out = Vec::new();
        for i in r.clone() {
            if !self.is_op(i, b"(") || i == r.start {
                continue;
            }
            let prev = i - 1;
            if self.kind(prev) != Some(Kind::Name) {
                continue;
            }
            // `def f(` and `class C(` are not calls.
            if prev > r.start && matches!(self.t(prev - 1), b"def" | b"class") {
                continue;
            }
            let (name, first) = self.dotted_back(prev, r.start);
            let Some(close) = self.closing(i, r.end) else {
                continue;
            };
            let renamed = match self.qualified(&name) {
                Cow::Owned(q) => Some(q),
                Cow::Borrowed(_) => None,
            };
            let name = renamed.unwrap_or(name);
            out.push(Call {
                name,
                first,
                open: i,
                close,
            });
        }
        out
    }

    fn string_at(&self, i: usize) -> Option<String> {
        (self.kind(i) == Some(Kind::Str) && !lex::is_fstring(self.t(i)))
            .then(|| lex::string_value(self.t(i)))
            .flatten()
    }

    /// Literal strings in `r` (code tokens).
    fn strings(&self, r: Range<usize>) -> Vec<String> {
        r.filter_map(|i| {
            if self.kind(i) == Some(Kind::Str) {
                lex::string_value(self.t(i))
            } else {
                None
            }
        })
        .collect()
    }
}

/// A literal naming a data file the repo ships next to its code (read as configuration).
fn data_file_name(s: &str) -> bool {
    s.ends_with(".json")
        || s.ends_with(".md")
        || s.ends_with(".txt")
        || s.ends_with(".yaml")
        || s.ends_with(".yml")
}

fn secret_key(s: &str) -> bool {
    let up = s.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| up.contains(w)) || up.ends_with("_KEY") || up == "KEY"
}

/// [`CREDENTIAL_FILES`] as one alternation of literals: a single pass over each string
/// (the source check runs it on every literal of a file).
static CREDENTIAL_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
    let alternation: Vec<String> = CREDENTIAL_FILES.iter().map(|c| regex::escape(c)).collect();
    // Escaped literals joined by `|` always compile.
    regex::Regex::new(&alternation.join("|")).unwrap_or_else(|e| unreachable!("{e}"))
});

fn credential_path(s: &str) -> bool {
    CREDENTIAL_RE.is_match(s)
}

/// The state of one function's (or module's) analysis.
struct Env {
    vars: HashMap<String, Taint>,
    /// File handles open for writing: handle name -> the path expression's names (and text).
    writers: HashMap<String, Vec<String>>,
    /// File handles open for reading: handle name -> the literals of the path expression
    /// (to name a file that is unpickled through its handle).
    readers: HashMap<String, Vec<String>>,
}

struct Analysis<'a> {
    files: Vec<File<'a>>,
    /// (file, scope) -> summary, for functions.
    summaries: HashMap<(usize, usize), Summary>,
    /// Function name -> its nodes.
    funcs: HashMap<String, Vec<(usize, usize)>>,
    /// Module-level and `self.x` taint per file (read by every scope of the file).
    globals: Vec<HashMap<String, Taint>>,
    flows: Vec<Vec<Flow>>,
    /// Changes made to the summaries and globals so far (a round without one is the last).
    changes: u64,
    /// Return values found so far (they only appear: a count says whether one did).
    returned: usize,
    /// [`Analysis::call_source`] of each call `(first, open)` met in the current outermost
    /// [`Analysis::taint_of`]: nested calls are read once per enclosing call (its
    /// arguments) and again as calls of the range. Nothing changes while an outermost
    /// evaluation runs (`&self`, `&Env`), so a result holds until it returns.
    call_memo: RefCell<HashMap<(usize, usize), Option<Taint>>>,
    /// Depth of [`Analysis::taint_of`] calls in progress (0: the next one is outermost).
    depth: Cell<usize>,
    /// Use `call_memo` (off only to test that it never changes a flow).
    memo: bool,
    /// Calls evaluated by [`Analysis::call_source`] (to test that the memo bounds them).
    #[cfg(test)]
    evaluated: Cell<usize>,
    /// Scopes evaluated (to test that settled scopes are not evaluated again).
    #[cfg(test)]
    scoped: Cell<usize>,
}

/// A scope's last evaluation: what it read ([`Analysis::inputs`]), and its flows.
type Settled = ((usize, usize, usize), Vec<Flow>);

/// Every source-to-sink flow in the closure, per unit.
pub(crate) fn flows(units: &[Unit<'_>]) -> Vec<Vec<Flow>> {
    // Most files hold no source at all: the fixpoint over every line of every scope
    // (up to `ROUNDS` times) would find nothing there.
    if !units.iter().any(|u| sink_words(u.src)) || !units.iter().any(may_hold_source) {
        return vec![Vec::new(); units.len()];
    }
    analyse(units, true)
}

/// [`flows`] without the checks that skip a closure that cannot hold a flow. `gated`:
/// skip the per-file work that the file's flags show cannot find anything, and read each
/// call's taint once per outermost evaluation (off only to test that neither changes a
/// flow).
fn analyse(units: &[Unit<'_>], gated: bool) -> Vec<Vec<Flow>> {
    analysed(units, gated).flows
}

/// [`analyse`], keeping the state (tests read its counts).
fn analysed<'a>(units: &[Unit<'a>], gated: bool) -> Analysis<'a> {
    let files: Vec<File<'a>> = units.iter().map(|u| file_of(u, gated)).collect();
    let mut a = Analysis {
        summaries: HashMap::new(),
        funcs: HashMap::new(),
        globals: vec![HashMap::new(); files.len()],
        flows: vec![Vec::new(); files.len()],
        changes: 0,
        returned: 0,
        call_memo: RefCell::new(HashMap::new()),
        depth: Cell::new(0),
        memo: gated,
        #[cfg(test)]
        evaluated: Cell::new(0),
        #[cfg(test)]
        scoped: Cell::new(0),
        files,
    };
    for (f, file) in a.files.iter().enumerate() {
        for (s, sc) in file.o.scopes.iter().enumerate() {
            if sc.kind != ScopeKind::Function {
                continue;
            }
            let (params, method) = params_of(file, s);
            a.summaries.insert(
                (f, s),
                Summary {
                    params,
                    method,
                    ..Summary::default()
                },
            );
            a.funcs.entry(sc.name.clone()).or_default().push((f, s));
        }
    }
    // Per scope: what its last evaluation read ([`Analysis::inputs`]) when that stood still
    // while it ran, and the flows it found. While they are still that, evaluating it again
    // would find the same flows and make only the changes it already made (every change
    // adds what is absent): a round runs only the scopes whose inputs grew since.
    let mut settled: Vec<Vec<Option<Settled>>> = a
        .files
        .iter()
        .map(|file| vec![None; file.o.scopes.len()])
        .collect();
    for _ in 0..ROUNDS {
        let round = a.changes;
        for (f, settled) in settled.iter_mut().enumerate() {
            a.flows[f].clear();
            let scopes = a.files[f].o.scopes.len();
            // Module and class code first: functions read its names.
            let mut order: Vec<usize> = (0..scopes)
                .filter(|&s| a.files[f].o.scopes[s].kind != ScopeKind::Function)
                .collect();
            order.extend(
                (0..scopes).filter(|&s| a.files[f].o.scopes[s].kind == ScopeKind::Function),
            );
            for s in order {
                let at = a.inputs(f, s);
                if let Some((read, found)) = &settled[s]
                    && *read == at
                {
                    a.flows[f].extend(found.iter().cloned());
                    continue;
                }
                let from = a.flows[f].len();
                a.scope(f, s);
                #[cfg(test)]
                a.scoped.set(a.scoped.get() + 1);
                // Off when ungated, so that the tests compare it with every scope evaluated.
                settled[s] =
                    (gated && a.inputs(f, s) == at).then(|| (at, a.flows[f][from..].to_vec()));
            }
        }
        if a.changes == round {
            break;
        }
    }
    for fl in &mut a.flows {
        // One flow per sink call: a sink nested in another's arguments
        // (`exec(compile(...))`) is the same flow.
        fl.sort_by_key(|x| (x.start, std::cmp::Reverse(x.end)));
        let mut kept: Vec<Flow> = Vec::new();
        for x in fl.drain(..) {
            if kept
                .iter()
                .any(|k| k.rule == x.rule && k.start <= x.start && x.start < k.end)
            {
                continue;
            }
            kept.push(x);
        }
        *fl = kept;
    }
    a
}

/// Names of which a file needs at least one for the analysis to start a taint or report
/// an unpickled file: every source and unpickler is matched on a qualified name, and each
/// segment of a qualified name is a name token of the file (the call as written, or the
/// import that binds it). One word per API: the rarest segment (`requests` for
/// `requests.get`, `platform` for `platform.node`, the last one for `*.recv`).
const SOURCE_NAMES: &[&str] = &[
    // Network (and files fetched at load).
    "requests",
    "httpx",
    "urlopen",
    "urllib3",
    "aiohttp",
    "recv",
    "recvfrom",
    "recv_into",
    "getresponse",
    "iter_content",
    "huggingface_hub",
    "cached_file",
    "modelscope",
    "download_url_to_file",
    "wget",
    // Identity (`platform.node` is in `SOURCE_PAIRS`: `sys.platform` is everywhere).
    "gethostname",
    "getuser",
    "getlogin",
    "getfqdn",
    "uname",
    // The environment and secrets in it.
    "environ",
    "getenv",
    // The repo's configuration (`config.x`, `self.config.x`) and its data files next to the
    // code (`__file__`) are checked with what must follow them.
    // Decoders.
    "b64decode",
    "b32decode",
    "b16decode",
    "b85decode",
    "a85decode",
    "decodebytes",
    "urlsafe_b64decode",
    "standard_b64decode",
    "a2b_base64",
    "a2b_hex",
    "unhexlify",
    "fromhex",
    "decompress",
    // Site-packages folders, paths built from character codes.
    "getsitepackages",
    "getusersitepackages",
    "USER_SITE",
    "PREFIXES",
    "get_paths",
    "get_path",
    "get_python_lib",
    "chr",
    // Unpicklers of files (`unpickles_file`).
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "joblib",
    "read_pickle",
    "shelve",
    "allow_pickle",
    "weights_only",
];

/// APIs whose rarest segment alone is common in code that holds no source: a file needs
/// both names (each segment of a qualified name is a name token of the file).
const SOURCE_PAIRS: &[(&str, &str)] = &[
    ("platform", "node"),
    ("codecs", "decode"),
    ("marshal", "loads"),
];

/// [`SOURCE_NAMES`] as a set, for a lookup per name token.
static SOURCE_NAME_SET: LazyLock<HashSet<&'static [u8]>> =
    LazyLock::new(|| SOURCE_NAMES.iter().map(|w| w.as_bytes()).collect());

/// Can a taint start in this file, or a file be unpickled? A name token that some source
/// or unpickler needs (see [`SOURCE_NAMES`]; `kwargs` only in a `*Config` class), a
/// string literal naming a credential file, or literals read as a place where code
/// persists. Necessary, not sufficient: a file without any of these holds no source, so
/// a closure without such a file holds no flow.
fn may_hold_source(u: &Unit<'_>) -> bool {
    let toks = &u.outline.lexed.toks;
    let mut kwargs = false;
    let mut config_class = false;
    let mut here = false;
    let mut pairs = [(false, false); SOURCE_PAIRS.len()];
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Name {
            continue;
        }
        let name = &u.src[t.range()];
        if SOURCE_NAME_SET.contains(name) || name.ends_with(b"urlretrieve") {
            return true;
        }
        match name {
            // `config.x`, `self.config.x`: the name goes on after a dot.
            b"config"
                if toks
                    .get(i + 1)
                    .is_some_and(|n| n.kind == Kind::Op && &u.src[n.range()] == b".") =>
            {
                return true;
            }
            b"__file__" => here = true,
            _ => {}
        }
        for ((a, b), seen) in SOURCE_PAIRS.iter().zip(&mut pairs) {
            seen.0 |= name == a.as_bytes();
            seen.1 |= name == b.as_bytes();
            if seen.0 && seen.1 {
                return true;
            }
        }
        kwargs |= name == b"kwargs";
        config_class |= name.ends_with(b"Config");
        if kwargs && config_class {
            return true;
        }
    }
    let strings: Vec<Cow<'_, str>> = toks
        .iter()
        .filter(|t| t.kind == Kind::Str)
        .filter_map(|t| lex::string_text(&u.src[t.range()]))
        .collect();
    // The repo's own data file read next to the code: `__file__` and the file's name.
    if here && strings.iter().any(|s| data_file_name(s)) {
        return true;
    }
    // `startup_direct` reads the literals of an expression joined by `/`: those of a
    // token range are a run of the file's literals, so their join is a stretch of this
    // one between two `/`, and `startup_location` only asks whether segments or
    // substrings are there (never that one is absent): true there, true here.
    strings.iter().any(|s| credential_path(s)) || startup_location(&strings.join("/")).is_some()
}

/// Words of which a file names at least one when it holds a sink (the callee's name, its
/// module or what its import binds).
const SINK_WORDS: &[&str] = &[
    "exec",
    "eval",
    "compile",
    "__import__",
    "import_module",
    "sys.path",
    "addsitedir",
    "load",
    "CDLL",
    "LoadLibrary",
    "subprocess",
    "system",
    "popen",
    "spawn",
    "pty",
    "send",
    "urlopen",
    "Request",
    "requests",
    "httpx",
    "gethostby",
    "getaddrinfo",
    "connect",
    "FunctionType",
    "CodeType",
    "run_path",
    "run_module",
    "write",
    "copy",
    "move",
    "rename",
    "replace",
    "link",
    "open",
    "os.open",
    "urlretrieve",
    "pickle",
    "joblib",
];

/// [`SINK_WORDS`] as one alternation of literals: one pass over the file instead of one
/// per word (every file with an outline is checked).
static SINK_WORDS_RE: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    let alternation: Vec<String> = SINK_WORDS.iter().map(|w| regex::escape(w)).collect();
    // Escaped literals joined by `|` always compile.
    regex::bytes::Regex::new(&alternation.join("|")).unwrap_or_else(|e| unreachable!("{e}"))
});

/// A closure can hold a flow only if one of its files names a sink.
fn sink_words(src: &[u8]) -> bool {
    SINK_WORDS_RE.is_match(src)
}

fn file_of<'a>(u: &Unit<'a>, gated: bool) -> File<'a> {
    let o = u.outline;
    let mut names = Names::default();
    for imp in &o.imports {
        match &imp.kind {
            ImportKind::Module { local, module, .. } => {
                names.alias.insert(local.clone(), module.clone());
            }
            ImportKind::From {
                level,
                module,
                name,
                local,
            } => {
                let q = if *level > 0 {
                    // A fetched module's name: keep the bare name (functions are found by name).
                    name.clone()
                } else if module.is_empty() {
                    name.clone()
                } else {
                    format!("{module}.{name}")
                };
                names.alias.insert(local.clone(), q);
            }
            ImportKind::Star { .. } => {}
        }
    }
    let mut lines = vec![Vec::new(); o.scopes.len()];
    for line in &o.lexed.lines {
        if line.toks.is_empty() {
            continue;
        }
        let s = o.owner.get(line.toks.start).copied().unwrap_or(0) as usize;
        if s < lines.len() {
            lines[s].push(line.toks.clone());
        }
    }
    let config_class = o
        .scopes
        .iter()
        .map(|sc| sc.kind == ScopeKind::Class && sc.name.ends_with("Config"))
        .collect();
    let strings: Vec<Cow<'_, str>> = o
        .lexed
        .toks
        .iter()
        .filter(|t| t.kind == Kind::Str)
        .filter_map(|t| lex::string_text(&u.src[t.range()]))
        .collect();
    let startup_literals = !gated || startup_location(&strings.join("/")).is_some();
    let mut file = File {
        src: u.src,
        o,
        names,
        lines,
        config_class,
        startup_literals,
        startup_names: false,
        calls_memo: RefCell::new(HashMap::new()),
        startup_memo: RefCell::new(HashMap::new()),
    };
    // Module-level aliases of dangerous callables (`_go = os.spawnv`, `Launcher = Popen`).
    let mut extra = Vec::new();
    for asg in &o.assigns {
        let v = asg.value.clone();
        if v.end == v.start + 1 && file.kind(v.start) == Some(Kind::Name) {
            let q = file.qualify(file.s(v.start));
            if q.contains('.') {
                extra.push((asg.target.clone(), q));
            }
        } else if v.end > v.start && file.kind(v.end - 1) == Some(Kind::Name) {
            let (d, first) = file.dotted_back(v.end - 1, v.start);
            if first == v.start && !d.contains("()") {
                let q = file.qualify(&d);
                if api_bits(&q) & (PROCESS | CODE) != 0 {
                    extra.push((asg.target.clone(), q));
                }
            }
        }
    }
    for (k, v) in extra {
        file.names.alias.entry(k).or_insert(v);
    }
    // A name's head as `startup_direct` reads it is the name or what it is bound to.
    file.startup_names = !gated
        || file.names.alias.values().any(|q| startup_head(q))
        || (0..o.lexed.toks.len()).any(|i| {
            // A name token has no dot: its head is all of it.
            file.kind(i) == Some(Kind::Name) && startup_word(file.t(i))
        });
    file
}

fn params_of(f: &File<'_>, s: usize) -> (Vec<String>, bool) {
    let h = f.o.scopes[s].header.clone();
    let Some(open) = (h.start..h.end).find(|&i| f.is_op(i, b"(")) else {
        return (Vec::new(), false);
    };
    let Some(close) = f.closing(open, h.end) else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    for part in f.split_commas(open + 1..close) {
        let Some(i) = part.clone().find(|&i| f.kind(i) == Some(Kind::Name)) else {
            continue;
        };
        out.push(f.s(i).to_string());
    }
    let method = f.o.class_of(s).is_some()
        && out
            .first()
            .is_some_and(|p| p == "self" || p == "cls" || p == "mcs" || p == "metacls");
    (out, method)
}

impl Analysis<'_> {
    /// What an evaluation of scope `s` of file `f` reads besides the fixed tokens and names,
    /// each of which only grows (entries are added, never replaced): the file's globals, the
    /// return values found (any file's functions may be its callees), its parameters' taint.
    fn inputs(&self, f: usize, s: usize) -> (usize, usize, usize) {
        let params = self
            .summaries
            .get(&(f, s))
            .map_or(0, |x| x.param_taint.len());
        (self.globals[f].len(), self.returned, params)
    }

    fn scope(&mut self, f: usize, s: usize) {
        let mut env = Env {
            vars: HashMap::new(),
            writers: HashMap::new(),
            readers: HashMap::new(),
        };
        if let Some(sum) = self.summaries.get(&(f, s)) {
            for (i, t) in &sum.param_taint {
                if let Some(p) = sum.params.get(*i) {
                    env.vars.insert(p.clone(), t.clone());
                }
            }
        }
        let lines = self.files[f].lines[s].clone();
        for r in lines {
            self.line(f, s, r, &mut env);
        }
        if self.files[f].o.scopes[s].kind != ScopeKind::Function {
            let g = &mut self.globals[f];
            for (k, v) in env.vars {
                if let std::collections::hash_map::Entry::Vacant(e) = g.entry(k) {
                    e.insert(v);
                    self.changes += 1;
                }
            }
        }
    }

    fn line(&mut self, f: usize, s: usize, r: Range<usize>, env: &mut Env) {
        if r.is_empty() {
            return;
        }
        let file = &self.files[f];
        let first = file.t(r.start);
        match first {
            b"def" | b"class" | b"import" | b"from" | b"@" | b"global" | b"nonlocal" => return,
            _ => {}
        }
        // Inline bodies (`if x: y = f()`, `try: ...`).
        let mut r = r;
        if matches!(
            first,
            b"if" | b"elif" | b"else" | b"while" | b"try" | b"except" | b"finally"
        ) {
            match self.files[f].find_top(r.clone(), b":") {
                Some(c) if c + 1 < r.end => {
                    // The condition may hold calls too (sinks in `if os.system(...)`).
                    self.sinks(f, s, r.start + 1..c, env);
                    r = c + 1..r.end;
                }
                Some(c) => {
                    self.sinks(f, s, r.start + 1..c, env);
                    return;
                }
                None => return,
            }
        }
        let file = &self.files[f];
        let first = file.t(r.start);
        if first == b"return" {
            let t = self.taint_of(f, s, r.start + 1..r.end, env);
            self.sinks(f, s, r.start + 1..r.end, env);
            if let Some(t) = t
                && let Some(sum) = self.summaries.get_mut(&(f, s))
                && sum.returns.is_none()
            {
                sum.returns = Some(t);
                self.changes += 1;
                self.returned += 1;
            }
            return;
        }
        if first == b"with" || (first == b"async" && file.t(r.start + 1) == b"with") {
            let start = if first == b"async" {
                r.start + 2
            } else {
                r.start + 1
            };
            let end = file.find_top(start..r.end, b":").unwrap_or(r.end);
            let items: Vec<_> = file
                .split_commas(start..end)
                .into_iter()
                .map(|item| match file.find_top(item.clone(), b"as") {
                    Some(a) => (item.start..a, Some(a + 1..item.end)),
                    None => (item, None),
                })
                .collect();
            for (value, target) in items {
                self.sinks(f, s, value.clone(), env);
                if let Some(tr) = target {
                    self.bind(f, s, tr.clone(), value.clone(), env);
                    self.writer(f, tr, value, env);
                }
            }
            return;
        }
        if first == b"for" || (first == b"async" && file.t(r.start + 1) == b"for") {
            let start = if first == b"async" {
                r.start + 2
            } else {
                r.start + 1
            };
            let end = file.find_top(start..r.end, b":").unwrap_or(r.end);
            if let Some(inn) = file.find_top(start..end, b"in") {
                self.sinks(f, s, inn + 1..end, env);
                self.bind(f, s, start..inn, inn + 1..end, env);
            }
            return;
        }
        // Assignments: the last top-level `=` splits targets from the value.
        let mut eqs = Vec::new();
        let mut aug = None;
        let mut depth = 0i32;
        for i in r.clone() {
            if file.kind(i) != Some(Kind::Op) {
                continue;
            }
            match file.t(i) {
                b"(" | b"[" | b"{" => depth += 1,
                b")" | b"]" | b"}" => depth -= 1,
                b"=" if depth == 0 => eqs.push(i),
                x if depth == 0
                    && x.len() >= 2
                    && x.ends_with(b"=")
                    && !matches!(x, b"==" | b"!=" | b"<=" | b">=") =>
                {
                    aug = Some(i)
                }
                _ => {}
            }
        }
        if let Some(&last) = eqs.last() {
            let value = last + 1..r.end;
            self.sinks(f, s, value.clone(), env);
            let mut start = r.start;
            for &e in &eqs {
                let target = start..e;
                // `x: T = v`: the name before the colon.
                let target = match self.files[f].find_top(target.clone(), b":") {
                    Some(c) => target.start..c,
                    None => target,
                };
                self.bind(f, s, target.clone(), value.clone(), env);
                self.writer(f, target, value.clone(), env);
                start = e + 1;
            }
            return;
        }
        if let Some(a) = aug {
            self.sinks(f, s, a + 1..r.end, env);
            self.bind(f, s, r.start..a, a + 1..r.end, env);
            return;
        }
        self.sinks(f, s, r, env);
    }

    /// Bind the names of `target` to the taint of `value`.
    fn bind(
        &mut self,
        f: usize,
        s: usize,
        target: Range<usize>,
        value: Range<usize>,
        env: &mut Env,
    ) {
        let Some(t) = self.taint_of(f, s, value, env) else {
            return;
        };
        let file = &self.files[f];
        let mut i = target.start;
        while i < target.end {
            if file.kind(i) == Some(Kind::Name) {
                let (d, _) = file.dotted_back_forward(i, target.end);
                let n = d.split('.').count();
                // The first taint bound to a name stays (every round binds it again).
                if !env.vars.contains_key(&*d) {
                    env.vars.insert(d.to_string(), t.clone());
                }
                if (d.starts_with("self.") || d.starts_with("cls."))
                    && !self.globals[f].contains_key(&*d)
                {
                    self.globals[f].insert(d.into_owned(), t.clone());
                    self.changes += 1;
                }
                i += 2 * n - 1;
            } else {
                i += 1;
            }
        }
    }

    /// `F = open(P, "w...")` / `with open(P, "wb") as F`: F writes to P.
    fn writer(&mut self, f: usize, target: Range<usize>, value: Range<usize>, env: &mut Env) {
        let file = &self.files[f];
        let calls = file.calls(value.clone());
        let Some(c) = calls.first() else {
            return;
        };
        if c.first != value.start || !matches!(c.name.as_str(), "open" | "io.open" | "os.fdopen") {
            // `Path(p).open("wb")`
            if !c.name.ends_with(".open") {
                return;
            }
        }
        let args = file.split_commas(c.open + 1..c.close);
        let mode = args
            .iter()
            .skip(1)
            .flat_map(|a| a.clone())
            .find_map(|i| file.string_at(i))
            .unwrap_or_default();
        if !mode.contains(['w', 'a', 'x', '+']) {
            if matches!(c.name.as_str(), "open" | "io.open")
                && let Some(h) =
                    (target.start..target.end).find(|&i| file.kind(i) == Some(Kind::Name))
            {
                let lits = args
                    .first()
                    .map(|a| file.strings(a.clone()))
                    .unwrap_or_default();
                env.readers.insert(file.s(h).to_string(), lits);
            }
            return;
        }
        let path: Vec<String> = if c.name.ends_with(".open") && c.name != "io.open" {
            // The receiver names the path.
            let (d, _) = file.dotted_back(c.open - 1, value.start);
            vec![d.rsplit_once('.').map_or(d.clone(), |(a, _)| a.to_string())]
        } else {
            args.first()
                .map(|a| names_in(file, a.clone()))
                .unwrap_or_default()
        };
        let Some(h) = (target.start..target.end).find(|&i| file.kind(i) == Some(Kind::Name)) else {
            return;
        };
        env.writers.insert(file.s(h).to_string(), path);
    }

    /// The taint of the expression in `r`, if any.
    fn taint_of(&self, f: usize, s: usize, r: Range<usize>, env: &Env) -> Option<Taint> {
        if r.is_empty() {
            return None;
        }
        let depth = self.depth.get();
        if depth == 0 {
            // Outermost: what was memoised may have changed since.
            self.call_memo.borrow_mut().clear();
        }
        self.depth.set(depth + 1);
        let t = self.taint_in(f, s, r, env);
        self.depth.set(depth);
        t
    }

    /// [`Self::call_source`], once per call within an outermost [`Self::taint_of`].
    fn call_source_memo(&self, f: usize, s: usize, c: &Call, env: &Env) -> Option<Taint> {
        if !self.memo {
            return self.call_source(f, s, c, env);
        }
        // The same `first` and `open` are the same callee tokens, so the same call.
        let key = (c.first, c.open);
        if let Some(t) = self.call_memo.borrow().get(&key) {
            return t.clone();
        }
        let t = self.call_source(f, s, c, env);
        self.call_memo.borrow_mut().insert(key, t.clone());
        t
    }

    /// [`Self::taint_of`] of a non-empty range.
    fn taint_in(&self, f: usize, s: usize, r: Range<usize>, env: &Env) -> Option<Taint> {
        let file = &self.files[f];
        // Calls first: sources, fetched functions, decoders of constants.
        let calls = file.calls(r.clone());
        for c in calls.iter() {
            if let Some(t) = self.call_source_memo(f, s, c, env) {
                return Some(t);
            }
        }
        let file = &self.files[f];
        let scope_is_config_method = file.o.class_of(s).is_some_and(|c| file.config_class[c]);
        // Names.
        let mut i = r.start;
        while i < r.end {
            if file.kind(i) != Some(Kind::Name) || (i > r.start && file.is_op(i - 1, b".")) {
                i += 1;
                continue;
            }
            let (d, next) = file.dotted_back_forward(i, r.end);
            // The longest prefix that is tainted (`self.x.y` -> `self.x`).
            let mut probe: &str = &d;
            loop {
                if let Some(t) = env.vars.get(probe).or_else(|| self.globals[f].get(probe)) {
                    return Some(t.clone());
                }
                match probe.rsplit_once('.') {
                    Some((a, _)) => probe = a,
                    None => break,
                }
            }
            let q = file.qualified(&d);
            // The repo's configuration.
            if (d.starts_with("config.") || d.starts_with("self.config."))
                && d.split('.').count() >= 2
            {
                return Some(Taint::new(Source::Config, format!("`{d}`")));
            }
            if scope_is_config_method && d == "kwargs" {
                return Some(Taint::new(Source::Config, "config `kwargs`".to_string()));
            }
            // The environment, as a whole or by a secret key.
            if q == "os.environ" || q.starts_with("os.environ.") {
                if file.is_op(next, b"[")
                    && let Some(key) = file.string_at(next + 1)
                {
                    if secret_key(&key) {
                        return Some(Taint::new(
                            Source::Secret,
                            format!("`os.environ[\"{key}\"]`"),
                        ));
                    }
                } else if q == "os.environ"
                    || matches!(
                        &*q,
                        "os.environ.copy"
                            | "os.environ.items"
                            | "os.environ.values"
                            | "os.environ.keys"
                    )
                {
                    // `os.environ.get(...)` is a call, handled with the sources.
                    if !(file.is_op(next, b".") && file.t(next + 1) == b"get") {
                        return Some(Taint::new(Source::Environment, "`os.environ`".to_string()));
                    }
                }
            }
            i = next.max(i + 1);
        }
        // Last: a path where code persists (only a write cares).
        self.startup_direct(f, r)
    }

    /// The taint of a call's result when the call is a source, a decoder of a constant, a
    /// fetched function returning taint, or any call with a tainted argument.
    fn call_source(&self, f: usize, s: usize, c: &Call, env: &Env) -> Option<Taint> {
        #[cfg(test)]
        self.evaluated.set(self.evaluated.get() + 1);
        let file = &self.files[f];
        let name = c.name.as_str();
        let args = c.open + 1..c.close;
        let bits = api_bits(name);
        if bits & NETWORK != 0 && !name.ends_with(".connect") {
            let mut t = Taint::new(Source::Network, format!("`{name}`"));
            t.file = matches!(
                last_segment(name),
                "hf_hub_download"
                    | "snapshot_download"
                    | "cached_download"
                    | "cached_file"
                    | "download_url_to_file"
                    | "download"
            );
            return Some(t);
        }
        if matches!(
            name,
            "socket.gethostname"
                | "platform.node"
                | "getpass.getuser"
                | "os.getlogin"
                | "socket.getfqdn"
                | "os.uname"
                | "platform.uname"
        ) {
            return Some(Taint::new(Source::Identity, format!("`{name}`")));
        }
        if matches!(
            name,
            "os.environ.get" | "os.getenv" | "os.environ.pop" | "os.environ.setdefault"
        ) {
            let key = (args.start..args.end).find_map(|i| file.string_at(i));
            if key.as_deref().is_some_and(secret_key) {
                return Some(Taint::new(
                    Source::Secret,
                    format!("`{name}(\"{}\")`", key.unwrap_or_default()),
                ));
            }
        }
        // A credential file read: `open("~/.ssh/id_rsa")`, `Path.home() / ".aws/credentials"`.
        let reads = matches!(name, "open" | "io.open" | "codecs.open")
            || name.ends_with(".read_text")
            || name.ends_with(".read_bytes")
            || name.ends_with(".read");
        if reads {
            let span = if name.ends_with(".read_text")
                || name.ends_with(".read_bytes")
                || name.ends_with(".read")
            {
                c.first..c.close
            } else {
                args.clone()
            };
            if let Some(p) = file
                .strings(span.clone())
                .into_iter()
                .find(|s| credential_path(s))
            {
                return Some(Taint::new(Source::Secret, format!("`{name}(\"{p}\")`")));
            }
            // The repo's own JSON/YAML file next to the code.
            let strings = file.strings(span.clone());
            let here = (span.start..span.end).any(|i| file.t(i) == b"__file__");
            if here && strings.iter().any(|s| data_file_name(s)) {
                let which = strings
                    .iter()
                    .find(|s| s.contains('.'))
                    .cloned()
                    .unwrap_or_default();
                return Some(Taint::new(
                    Source::Config,
                    format!("`{name}` of the repo's `{which}`"),
                ));
            }
        }
        if bits & DECODER != 0 || name.ends_with(".decompress") || name.ends_with(".b64decode") {
            // A constant blob decoded, or a tainted one carried on.
            let inner = self.taint_of_args(f, s, c, env);
            return Some(match inner {
                Some(t) => t.then(&format!("`{name}`")),
                None => Taint::new(Source::Decoded, format!("`{name}`")),
            });
        }
        // A fetched function: its return value.
        let last = last_segment(name);
        if let Some(nodes) = self.callees(f, name) {
            for n in nodes {
                if let Some(t) = self.summaries.get(&n).and_then(|x| x.returns.clone()) {
                    return Some(t.then(&format!("`{last}()`")));
                }
            }
        }
        // Any other call carries the taint of its arguments (and of its receiver).
        let inner = self.taint_of_args(f, s, c, env);
        if let Some(t) = inner {
            // `open(P)` of a file that holds tainted content: its content.
            if reads && t.file {
                let mut t = t.then(&format!("`{name}`"));
                t.file = false;
                return Some(t);
            }
            return Some(if notable(name) {
                t.then(&format!("`{name}`"))
            } else {
                t
            });
        }
        // The receiver: `resp.read()`, `_s.recv(...)` on a tainted object.
        if c.first + 2 < c.open
            && let Some(t) = self.taint_names(f, c.first..c.open - 2, env)
        {
            return Some(t);
        }
        None
    }

    fn taint_of_args(&self, f: usize, s: usize, c: &Call, env: &Env) -> Option<Taint> {
        let file = &self.files[f];
        let mut parts = file.split_commas(c.open + 1..c.close);
        parts.retain(|p| !inert(file, p.clone()));
        for p in parts {
            if let Some(t) = self.taint_of(f, s, p, env) {
                return Some(t);
            }
        }
        None
    }

    /// Taint of the plain names in `r` (no calls).
    fn taint_names(&self, f: usize, r: Range<usize>, env: &Env) -> Option<Taint> {
        let file = &self.files[f];
        for i in r.clone() {
            if file.kind(i) != Some(Kind::Name) || (i > r.start && file.is_op(i - 1, b".")) {
                continue;
            }
            let (d, _) = file.dotted_back_forward(i, r.end);
            let mut probe: &str = &d;
            loop {
                if let Some(t) = env.vars.get(probe).or_else(|| self.globals[f].get(probe)) {
                    return Some(t.clone());
                }
                match probe.rsplit_once('.') {
                    Some((a, _)) => probe = a,
                    None => break,
                }
            }
        }
        None
    }

    /// The sinks of the calls in `r`, and what they do to the environment (file writes,
    /// chmod, calls into fetched functions).
    fn sinks(&mut self, f: usize, s: usize, r: Range<usize>, env: &mut Env) {
        let calls = self.files[f].calls(r);
        for c in calls.iter() {
            let name = c.name.as_str();
            let args = c.open + 1..c.close;
            let last = last_segment(name);
            // A file created, copied, moved or linked where code persists.
            if let Some(target) = self.write_target(f, c)
                && let Some(t) = self.startup_of(f, s, target, env)
            {
                self.flow(f, c, &t, Sink::Write);
            }
            // Data unpickled from a file: fetched or decoded data is a flow below; any other
            // file is data hubwarden did not scan unless it is in the target's files.
            if let Some(what) = self.unpickles_file(f, c)
                && !self
                    .taint_of_args(f, s, c, env)
                    .is_some_and(|t| t.file || Sink::Code.accepts(t.source))
            {
                let file = &self.files[f];
                // The literals of the call, or of the `open(...)` of the handle it reads.
                let mut lits = file.strings(args.clone());
                if lits.is_empty()
                    && let Some(r) = env.readers.get(file.s(args.start))
                {
                    lits = r.clone();
                }
                let data_file = lits
                    .into_iter()
                    .rev()
                    .find(|x| x.contains('.') && !x.contains(' ') && x.len() > 2)
                    .map(|x| x.rsplit('/').next().unwrap_or(&x).to_string());
                let on = data_file
                    .as_deref()
                    .map(|d| format!(" `{d}`"))
                    .unwrap_or_else(|| " a file".to_string());
                let msg = format!(
                    "`{what}` unpickles{on} while the code runs: a pickle can run anything, and this file is not among the files hubwarden fetched and scanned"
                );
                self.push_flow(f, c, format!("`{what}`"), msg, UNVERIFIED, data_file);
            }
            let file = &self.files[f];
            // Writes through a handle: `F.write(X)`.
            if last == "write" || last == "writelines" {
                let (d, _) = file.dotted_back(c.open - 1, c.first);
                let handle = d
                    .rsplit_once('.')
                    .map(|(a, _)| a.to_string())
                    .unwrap_or_default();
                if let Some(paths) = env.writers.get(&handle).cloned()
                    && let Some(t) = self.taint_of(f, s, args.clone(), env)
                    && matches!(t.source, Source::Network | Source::Decoded)
                {
                    let mut t = t.then("`open(..., \"wb\")`");
                    t.file = true;
                    for p in paths {
                        env.vars.insert(p, t.clone());
                    }
                }
                continue;
            }
            // `Path(p).write_bytes(X)`, `urlretrieve(url, P)`, `extractall(D)`.
            if last == "write_bytes" || last == "write_text" {
                if let Some(t) = self.taint_of(f, s, args.clone(), env)
                    && matches!(t.source, Source::Network | Source::Decoded)
                {
                    let (d, _) = file.dotted_back(c.open - 1, c.first);
                    let recv = d
                        .rsplit_once('.')
                        .map(|(a, _)| a.to_string())
                        .unwrap_or_default();
                    let mut t = t.then(&format!("`{last}`"));
                    t.file = true;
                    env.vars.insert(recv, t);
                }
                continue;
            }
            if name.ends_with("urlretrieve") {
                let parts = file.split_commas(args.clone());
                if let Some(p) = parts.get(1) {
                    let mut t = Taint::new(Source::Network, format!("`{name}`"));
                    t.file = true;
                    for n in names_in(file, p.clone()) {
                        env.vars.insert(n, t.clone());
                    }
                }
                continue;
            }
            if last == "extractall" || last == "extract" || name.ends_with("unpack_archive") {
                // The archive: the receiver (`zipfile.ZipFile(io.BytesIO(r.content))`).
                let receiver_tainted = (c.first + 1 < c.open)
                    .then(|| self.taint_names(f, c.first..c.open - 1, env))
                    .flatten();
                let whole = self.taint_of(f, s, c.first..c.open, env);
                if let Some(t) = receiver_tainted.or(whole) {
                    let file = &self.files[f];
                    let mut t = t.then(&format!("`{last}`"));
                    t.file = true;
                    let parts = file.split_commas(args.clone());
                    let target = if name.ends_with("unpack_archive") {
                        parts.get(1)
                    } else {
                        parts.first()
                    };
                    if let Some(p) = target {
                        for n in names_in(file, p.clone()) {
                            env.vars.insert(n, t.clone());
                        }
                    }
                }
                continue;
            }
            if matches!(name, "os.chmod" | "os.fchmod" | "os.lchmod") || last == "chmod" {
                let file = &self.files[f];
                let parts = file.split_commas(args.clone());
                let target: Vec<String> = if last == "chmod" && !name.starts_with("os.") {
                    let (d, _) = file.dotted_back(c.open - 1, c.first);
                    vec![
                        d.rsplit_once('.')
                            .map(|(a, _)| a.to_string())
                            .unwrap_or_default(),
                    ]
                } else {
                    parts
                        .first()
                        .map(|p| names_in(file, p.clone()))
                        .unwrap_or_default()
                };
                for n in target {
                    if let Some(t) = env.vars.get(&n).cloned()
                        && t.file
                    {
                        env.vars.insert(n, t.then(&format!("`{name}`")));
                    }
                }
                continue;
            }
            let bits = api_bits(name);
            let sink = if bits & CODE != 0 {
                Some(Sink::Code)
            } else if bits & PROCESS != 0 {
                Some(Sink::Process)
            } else if bits & SEND != 0 {
                Some(Sink::Send)
            } else {
                None
            };
            if let Some(sink) = sink {
                // `np.load(x, allow_pickle=True)` is an unpickler too (handled below).
                if let Some(t) = self.taint_of_args(f, s, c, env)
                    && (sink.accepts(t.source) || (t.file && sink != Sink::Send))
                    && !(sink == Sink::Send && to_hub(&self.files[f], args.clone()))
                    && !(sink == Sink::Send
                        && dns(name)
                        && !self.files[f]
                            .strings(args.clone())
                            .iter()
                            .any(|x| !x.is_empty()))
                {
                    self.flow(f, c, &t, sink);
                }
                continue;
            }
            if (name.ends_with("np.load") || name == "numpy.load")
                && (args.start..args.end).any(|i| self.files[f].t(i) == b"allow_pickle")
                && let Some(t) = self.taint_of_args(f, s, c, env)
                && (t.file || Sink::Code.accepts(t.source))
            {
                self.flow(f, c, &t, Sink::Code);
                continue;
            }
            // Into a fetched function: its parameters.
            if let Some(nodes) = self.callees(f, name) {
                let file = &self.files[f];
                let parts = file.split_commas(args.clone());
                let mut tainted = Vec::new();
                for (i, p) in parts.iter().enumerate() {
                    let kw = (p.end > p.start + 1
                        && file.is_op(p.start + 1, b"=")
                        && file.kind(p.start) == Some(Kind::Name))
                    .then(|| file.s(p.start).to_string());
                    let value = if kw.is_some() {
                        p.start + 2..p.end
                    } else {
                        p.clone()
                    };
                    if let Some(t) = self.taint_of(f, s, value, env) {
                        tainted.push((i, kw, t));
                    }
                }
                for n in nodes {
                    let Some(sum) = self.summaries.get_mut(&n) else {
                        continue;
                    };
                    let shift = usize::from(sum.method && name.contains('.'));
                    for (i, kw, t) in &tainted {
                        let idx = match kw {
                            Some(k) => sum.params.iter().position(|p| p == k),
                            None => Some(i + shift),
                        };
                        if let Some(idx) = idx
                            && idx < sum.params.len()
                            && !sum.param_taint.contains_key(&idx)
                        {
                            sum.param_taint.insert(idx, t.then(&format!("`{last}()`")));
                            self.changes += 1;
                        }
                    }
                }
            }
        }
    }

    /// The fetched functions a call in file `f` may reach: a bare name (any file: imports
    /// of fetched modules bind bare names), or `self.`/`cls.` methods of the same file.
    /// `super().x` goes to the library's class and `obj.x` to an unknown receiver.
    fn callees(&self, f: usize, name: &str) -> Option<Vec<(usize, usize)>> {
        let nodes = self.funcs.get(last_segment(name))?;
        let head = name.split(['.', '(']).next().unwrap_or("");
        if !name.contains('.') && !name.contains('(') {
            return Some(nodes.clone());
        }
        if matches!(head, "self" | "cls") && name.matches('.').count() == 1 {
            return Some(nodes.iter().copied().filter(|n| n.0 == f).collect());
        }
        None
    }

    fn flow(&mut self, f: usize, c: &Call, t: &Taint, sink: Sink) {
        let t = t.then(&format!("`{}`", c.name));
        let what = format!(
            "{} reaches `{}`, which {}",
            if t.file {
                "a file written with fetched data"
            } else {
                t.source.what()
            },
            c.name,
            sink.what()
        );
        let rule = if sink == Sink::Write {
            PERSISTENCE
        } else {
            RULE
        };
        self.push_flow(f, c, t.steps.join(" → "), what, rule, None);
    }

    fn push_flow(
        &mut self,
        f: usize,
        c: &Call,
        path: String,
        what: String,
        rule: &'static str,
        data_file: Option<String>,
    ) {
        let file = &self.files[f];
        let toks = &file.o.lexed.toks;
        let start = toks[c.first].start as usize;
        let end = toks[c.close].end as usize;
        self.flows[f].push(Flow {
            start,
            end,
            path,
            what,
            rule,
            data_file,
        });
    }

    /// A path expression that points where code persists: a literal location (the
    /// literals of `os.path.join`/`/`/`+`/f-strings read as one path), a site-packages
    /// API, or a name that holds such a path (or a decoded one).
    fn startup_of(&self, f: usize, s: usize, r: Range<usize>, env: &Env) -> Option<Taint> {
        if r.is_empty() {
            return None;
        }
        if let Some(t) = self.startup_direct(f, r.clone()) {
            return Some(t);
        }
        let wanted = |t: &Taint| Sink::Write.accepts(t.source);
        if let Some(t) = self.taint_names(f, r.clone(), env).filter(wanted) {
            return Some(t);
        }
        self.taint_of(f, s, r, env).filter(wanted)
    }

    /// [`Self::startup_of`] on the expression's own tokens (no names followed).
    fn startup_direct(&self, f: usize, r: Range<usize>) -> Option<Taint> {
        if !self.memo {
            return self.startup_direct_uncached(f, r);
        }
        // It reads only the range's tokens and the file's names and flags, all fixed by
        // [`file_of`]; every evaluation of an expression ends here, and the fixpoint
        // evaluates the same ranges every round and again inside enclosing calls.
        let key = (r.start, r.end);
        let file = &self.files[f];
        if let Some(t) = file.startup_memo.borrow().get(&key) {
            return t.clone();
        }
        let t = self.startup_direct_uncached(f, r);
        file.startup_memo.borrow_mut().insert(key, t.clone());
        t
    }

    /// [`Self::startup_direct`], computed.
    fn startup_direct_uncached(&self, f: usize, r: Range<usize>) -> Option<Taint> {
        let file = &self.files[f];
        let strings = if file.startup_literals {
            file.strings(r.clone())
        } else {
            Vec::new()
        };
        if !strings.is_empty() {
            let joined = strings.join("/");
            if let Some(kind) = startup_location(&joined) {
                return Some(Taint::new(
                    Source::Startup,
                    format!("`{}` ({kind})", short(&joined)),
                ));
            }
        }
        if !file.startup_names {
            return None;
        }
        for i in r.clone() {
            if file.kind(i) != Some(Kind::Name) || (i > r.start && file.is_op(i - 1, b".")) {
                continue;
            }
            // Cheap first: only names that may be the site APIs or `chr` go further.
            let head = file.s(i);
            let module = file.names.alias.get(head).map_or(head, String::as_str);
            if !startup_head(module) {
                continue;
            }
            let (d, _) = file.dotted_back_forward(i, r.end);
            let q = file.qualify(&d);
            if SITE_APIS
                .iter()
                .any(|a| q == *a || q.starts_with(&format!("{a}.")))
            {
                return Some(Taint::new(
                    Source::Startup,
                    format!(
                        "`{q}` (site-packages, where `.pth` files and modules run at start-up)"
                    ),
                ));
            }
            if (q == "chr" && file.is_op(i + 1, b"(")) || (q == "map" && file.t(i + 2) == b"chr") {
                return Some(Taint::new(
                    Source::Decoded,
                    "a path built from character codes".to_string(),
                ));
            }
        }
        None
    }

    /// The unpickling call on a file, as written for the message (`numpy.load(...,
    /// allow_pickle=True)`), if `c` is one.
    fn unpickles_file(&self, f: usize, c: &Call) -> Option<String> {
        let file = &self.files[f];
        let name = c.name.as_str();
        let args = c.open + 1..c.close;
        let kw_value = |k: &[u8]| {
            (args.start..args.end)
                .find(|&i| file.t(i) == k && file.is_op(i + 1, b"="))
                .map(|i| file.t(i + 2))
        };
        let reads_file = || {
            (args.start..args.end).any(|i| {
                matches!(file.t(i), b"open" | b"read" | b"read_bytes" | b"__file__")
                    || file
                        .string_at(i)
                        .is_some_and(|x| x.contains('.') && !x.contains(' '))
            })
        };
        match name {
            "numpy.load" | "np.load" => match kw_value(b"allow_pickle") {
                Some(v) if v != b"False" => Some(format!("{name}(..., allow_pickle=True)")),
                _ => None,
            },
            "torch.load" => (kw_value(b"weights_only") == Some(b"False"))
                .then(|| "torch.load(..., weights_only=False)".to_string()),
            "pickle.load" | "_pickle.load" | "cPickle.load" | "dill.load" | "cloudpickle.load"
            | "joblib.load" | "pandas.read_pickle" | "pd.read_pickle" | "shelve.open"
            | "pickle.Unpickler" | "_pickle.Unpickler" | "cPickle.Unpickler" | "dill.Unpickler" => {
                Some(name.to_string())
            }
            "pickle.loads" | "_pickle.loads" | "cPickle.loads" | "dill.loads"
            | "cloudpickle.loads" => reads_file().then(|| name.to_string()),
            _ => None,
        }
    }

    /// The path a call writes to (creates, copies, moves or links a file there), if it is
    /// one of the writing APIs.
    fn write_target(&self, f: usize, c: &Call) -> Option<Range<usize>> {
        let file = &self.files[f];
        let name = c.name.as_str();
        let last = last_segment(name);
        // Every API below ends in one of these (most calls are none of them).
        if !matches!(
            last,
            "open"
                | "write_text"
                | "write_bytes"
                | "symlink_to"
                | "hardlink_to"
                | "copy"
                | "copy2"
                | "copyfile"
                | "copytree"
                | "move"
                | "rename"
                | "renames"
                | "replace"
                | "symlink"
                | "link"
                | "urlretrieve"
                | "unpack_archive"
                | "extractall"
        ) {
            return None;
        }
        let args = file.split_commas(c.open + 1..c.close);
        let positional: Vec<Range<usize>> = args
            .iter()
            .filter(|a| {
                let keyword = a.end > a.start + 1
                    && file.kind(a.start) == Some(Kind::Name)
                    && file.is_op(a.start + 1, b"=");
                let star = file.is_op(a.start, b"*") || file.is_op(a.start, b"**");
                !(keyword || star)
            })
            .cloned()
            .collect();
        let kw = |k: &str| {
            args.iter()
                .find(|a| {
                    a.end > a.start + 2 && file.s(a.start) == k && file.is_op(a.start + 1, b"=")
                })
                .map(|a| a.start + 2..a.end)
        };
        let writes_mode = |m: Option<Range<usize>>| {
            m.and_then(|m| (m.start..m.end).find_map(|i| file.string_at(i)))
                // A mode string, not any literal (`webbrowser.open(url)`).
                .is_some_and(|m| {
                    m.len() <= 3
                        && m.chars().all(|ch| "rwxabt+".contains(ch))
                        && m.contains(['w', 'a', 'x', '+'])
                })
        };
        // The receiver of a method call: `p` in `p.write_text(...)`, or a parenthesized
        // expression the callee's name does not reach (`(Path.home() / ".zshrc").open("a")`).
        let outer =
            (c.first >= 2 && file.is_op(c.first - 1, b".") && file.is_op(c.first - 2, b")"))
                .then(|| file.opening(c.first - 2, 0))
                .flatten()
                .map(|j| j..c.first - 1);
        if let Some(recv) = outer {
            return match name {
                "write_text" | "write_bytes" | "symlink_to" | "hardlink_to" => Some(recv),
                "open" => {
                    writes_mode(positional.first().cloned().or_else(|| kw("mode"))).then_some(recv)
                }
                _ => None,
            };
        }
        let receiver = (c.first + 2 <= c.open).then(|| c.first..c.open - 2);
        match name {
            "open" | "io.open" | "codecs.open" | "builtins.open" => {
                return writes_mode(positional.get(1).cloned().or_else(|| kw("mode")))
                    .then(|| positional.first().cloned().or_else(|| kw("file")))
                    .flatten();
            }
            "os.open" => {
                let flags = positional.get(1).cloned().or_else(|| kw("flags"))?;
                let writes = (flags.start..flags.end).any(|i| {
                    matches!(
                        file.t(i),
                        b"O_WRONLY" | b"O_RDWR" | b"O_CREAT" | b"O_APPEND" | b"O_TRUNC"
                    )
                });
                return writes.then(|| positional.first().cloned()).flatten();
            }
            "shutil.copy"
            | "shutil.copy2"
            | "shutil.copyfile"
            | "shutil.copytree"
            | "shutil.move"
            | "os.rename"
            | "os.renames"
            | "os.replace"
            | "os.symlink"
            | "os.link"
            | "urllib.request.urlretrieve" => {
                return positional.get(1).cloned().or_else(|| kw("dst"));
            }
            "shutil.unpack_archive" => {
                return positional.get(1).cloned().or_else(|| kw("extract_dir"));
            }
            _ => {}
        }
        match last {
            "write_text" | "write_bytes" | "symlink_to" | "hardlink_to" => receiver,
            "open" if !name.starts_with("os.") => {
                writes_mode(positional.first().cloned().or_else(|| kw("mode")))
                    .then_some(receiver)
                    .flatten()
            }
            // `Path.rename(target)` / `Path.replace(target)` (one argument, unlike
            // `str.replace(old, new)`).
            "rename" | "replace" if positional.len() == 1 && args.len() == 1 => {
                positional.first().cloned()
            }
            "extractall" => positional.first().cloned().or_else(|| kw("path")),
            _ => None,
        }
    }
}

/// Where code persists, from a path read as one string (literals joined by `/`): the kind
/// of place, for the message.
fn startup_location(path: &str) -> Option<&'static str> {
    let lower = path.replace('\\', "/").to_ascii_lowercase();
    // The checks below only ask whether a segment is there (or whether any is like
    // something): a set answers each at once, and building it hashes each segment once
    // where sorting compared them over and over (the source check joins every literal
    // of a file into one path).
    let segs: HashSet<&str> = lower
        .split('/')
        .map(|x| x.trim_start_matches('~'))
        .filter(|x| !x.is_empty())
        .collect();
    let has = |x: &str| segs.contains(x);
    let rc = STARTUP_FILES.iter().any(|x| has(x));
    if rc {
        return Some("a shell or interpreter start-up file");
    }
    // Tools' configurations that name a command to run: cargo's `rustc-wrapper` and
    // `runner`, ssh's `ProxyCommand`/`LocalCommand`.
    if has(".cargo") && (has("config") || has("config.toml")) {
        return Some("cargo's configuration, which names programs every build runs");
    }
    if has(".ssh") && has("config") {
        return Some("the SSH client configuration, whose ProxyCommand runs at every connection");
    }
    if has("authorized_keys")
        || has("authorized_keys2")
        || (has(".ssh") && (has("rc") || has("environment")))
    {
        return Some("SSH login keys or commands");
    }
    if segs
        .iter()
        .any(|x| x.starts_with("cron") || *x == "crontabs")
        || lower.contains("/var/spool/cron")
    {
        return Some("cron");
    }
    if has("systemd")
        || segs
            .iter()
            .any(|x| x.ends_with(".service") || x.ends_with(".timer"))
    {
        return Some("a systemd unit");
    }
    if has("autostart")
        || has("launchagents")
        || has("launchdaemons")
        || lower.contains("start menu/programs/startup")
    {
        return Some("a login item");
    }
    if (has(".git") && has("hooks")) || (has("hooks") && GIT_HOOKS.iter().any(|x| has(x))) {
        return Some("a git hook");
    }
    if has("site-packages") || has("dist-packages") {
        return Some("site-packages, where `.pth` files and modules run at start-up");
    }
    if segs
        .iter()
        .any(|x| x.starts_with("sitecustomize") || x.starts_with("usercustomize"))
    {
        return Some("a module Python runs at every start-up");
    }
    if has(".ipython") && has("startup") {
        return Some("an IPython start-up script");
    }
    // Configuration files that are programs: Jupyter and IPython configs are Python run
    // at every start, a Jupyter kernel spec names the command that starts the kernel.
    let py_config = segs.iter().any(|x| x.ends_with("_config.py"));
    if ((has(".jupyter") || has(".ipython")) && py_config) || (has("jupyter") && has("kernels")) {
        return Some("a Jupyter or IPython configuration, run as code at every start");
    }
    // Start-up files under XDG folders: fish sources every file of `conf.d`, git reads
    // `~/.config/git/config` like `~/.gitconfig`.
    if (has("fish") && has("conf.d")) || (has(".config") && has("git") && has("config")) {
        return Some("a shell or git start-up configuration");
    }
    // Other models' cached remote code: whatever is appended there runs when they load.
    if has("transformers_modules") || (has("huggingface") && has("modules")) {
        return Some("the cached remote code of other models, which runs when they load");
    }
    if PRELOAD.iter().any(|x| has(x)) {
        return Some("a preload or environment file the system reads at start");
    }
    if has("profile.d") || has("init.d") || has("rc.local") {
        return Some("a system start-up script");
    }
    None
}

/// File names that shells, Python, git and pip read at start-up (lowercase).
const STARTUP_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
    ".cshrc",
    ".tcshrc",
    ".kshrc",
    ".mkshrc",
    "config.fish",
    ".pythonrc",
    ".pythonrc.py",
    ".pythonstartup",
    ".gitconfig",
    "pip.conf",
    "pip.ini",
    ".pydistutils.cfg",
    ".condarc",
    ".npmrc",
    ".xprofile",
    ".xinitrc",
    ".xsessionrc",
    // Sourced by the files above (Debian's .bashrc sources .bash_aliases), or run by a
    // tool at its start: debuggers (pdb runs .pdbrc lines as commands, `!` is Python),
    // terminal multiplexers, editors, other interpreters' start-up files.
    ".bash_aliases",
    ".zlogout",
    ".xsession",
    ".pdbrc",
    ".gdbinit",
    ".lldbinit",
    ".screenrc",
    ".tmux.conf",
    ".vimrc",
    ".exrc",
    "init.vim",
    "init.lua",
    ".emacs",
    "init.el",
    ".rprofile",
    "startup.jl",
    ".irbrc",
    ".psqlrc",
    ".mavenrc",
    ".hgrc",
    ".pam_environment",
];

/// Git hook names (a file of that name under a `hooks` folder).
const GIT_HOOKS: &[&str] = &[
    "pre-commit",
    "post-commit",
    "pre-push",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "pre-rebase",
    "commit-msg",
    "prepare-commit-msg",
    "pre-receive",
    "post-receive",
    "update",
    "pre-auto-gc",
    "fsmonitor-watchman",
    "reference-transaction",
];

const PRELOAD: &[&str] = &["ld.so.preload", "ld.so.conf", "environment.d"];

/// APIs whose value is a site-packages folder: anything written there runs at start-up
/// (`.pth` lines) or shadows a module.
const SITE_APIS: &[&str] = &[
    "site.getsitepackages",
    "site.getusersitepackages",
    "site.USER_SITE",
    "site.PREFIXES",
    "sysconfig.get_paths",
    "sysconfig.get_path",
    "distutils.sysconfig.get_python_lib",
];

fn short(s: &str) -> String {
    if s.chars().count() <= 80 {
        return s.to_string();
    }
    let mut out: String = s.chars().take(80).collect();
    out.push('…');
    out
}

/// `a.b.c` starting at token `i` (forwards), and the index after it.
impl<'a> File<'a> {
    fn dotted_back_forward(&self, i: usize, end: usize) -> (Cow<'a, str>, usize) {
        let mut k = i + 1;
        while k + 1 < end && self.is_op(k, b".") && self.kind(k + 1) == Some(Kind::Name) {
            k += 2;
        }
        // Written without spaces (`a.b.c`), the name is its own source text: the joined
        // tokens are that text, and each token of valid UTF-8 text split at an ASCII `.`
        // is valid too (so `s` would not have blanked it).
        let toks = &self.o.lexed.toks;
        if let (Some(a), Some(b)) = (toks.get(i), toks.get(k - 1)) {
            let text = &self.src[a.start as usize..b.end as usize];
            if text.len() == (i..k).map(|j| self.t(j).len()).sum::<usize>()
                && let Ok(text) = std::str::from_utf8(text)
            {
                return (Cow::Borrowed(text), k);
            }
        }
        let mut name = self.s(i).to_string();
        for j in (i + 2..k).step_by(2) {
            name.push('.');
            name.push_str(self.s(j));
        }
        (Cow::Owned(name), k)
    }
}

/// The dotted names (not called) in `r`.
fn names_in(file: &File<'_>, r: Range<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = r.start;
    while i < r.end {
        if file.kind(i) == Some(Kind::Name) && !(i > r.start && file.is_op(i - 1, b".")) {
            let (d, next) = file.dotted_back_forward(i, r.end);
            if !file.is_op(next, b"(") {
                out.push(d.into_owned());
            }
            i = next.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// A keyword argument that does not carry the value to the sink's effect.
fn inert(file: &File<'_>, p: Range<usize>) -> bool {
    p.end > p.start + 1
        && file.kind(p.start) == Some(Kind::Name)
        && file.is_op(p.start + 1, b"=")
        && INERT_KEYWORDS.contains(&file.s(p.start))
}

/// A request to the hub itself (the token goes where it belongs).
fn to_hub(file: &File<'_>, args: Range<usize>) -> bool {
    file.strings(args).iter().any(|s| {
        s.contains("huggingface.co") || s.contains("hf.co/") || s.contains("modelscope.cn")
    })
}

/// A name lookup: it leaks what it is given only as part of a name in a domain the
/// attacker controls (`socket.gethostbyname(socket.gethostname())` is the machine asking
/// for its own address).
fn dns(name: &str) -> bool {
    matches!(
        name,
        "socket.gethostbyname"
            | "socket.gethostbyname_ex"
            | "socket.getaddrinfo"
            | "dns.resolver.resolve"
            | "dns.resolver.query"
    )
}

/// Calls worth naming in a flow's path.
fn notable(name: &str) -> bool {
    let last = last_segment(name);
    matches!(
        last,
        "loads"
            | "load"
            | "decode"
            | "decompress"
            | "b64decode"
            | "dumps"
            | "read"
            | "urlopen"
            | "Request"
    ) || name.starts_with("json.")
        || name.starts_with("zipfile.")
        || name.starts_with("tarfile.")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;

    fn unit<'a>(path: &'a str, src: &'a [u8], outline: &'a Outline) -> Unit<'a> {
        Unit {
            path,
            src,
            outline,
            entry: true,
        }
    }

    fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                python_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "py") {
                out.push(p);
            }
        }
    }

    /// Every `.py` file under tests/fixtures, sorted, with its bytes.
    fn fixture_sources() -> Vec<(String, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files = Vec::new();
        python_files(&root, &mut files);
        files.sort();
        files
            .iter()
            .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
            .collect()
    }

    /// Every fixture file on its own and every adversarial repo as one closure: where the
    /// source check skips the analysis, the whole analysis finds no flow either.
    #[test]
    fn the_source_check_never_hides_a_flow() {
        let srcs = fixture_sources();
        let outlines: Vec<Outline> = srcs.iter().map(|(_, s)| Outline::new(s)).collect();
        let none = |units: &[Unit<'_>]| analyse(units, true).iter().all(Vec::is_empty);
        let (mut skipped, mut kept) = (0, 0);
        let mut closures: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, (path, src)) in srcs.iter().enumerate() {
            let units = [unit(path, src, &outlines[i])];
            if may_hold_source(&units[0]) {
                kept += 1;
            } else {
                skipped += 1;
                assert!(none(&units), "{path}");
            }
            // `.../mirror/huggingface/models/<org>/<repo>/...`: one closure per repo.
            if let Some((_, rest)) = path.split_once("/mirror/huggingface/models/") {
                let repo: Vec<&str> = rest.splitn(3, '/').take(2).collect();
                closures.entry(repo.join("/")).or_default().push(i);
            }
        }
        assert!(skipped > 100 && kept > 100, "{skipped} {kept}");
        assert!(closures.len() > 100, "{}", closures.len());
        for (repo, members) in &closures {
            let units: Vec<Unit<'_>> = members
                .iter()
                .map(|&i| unit(&srcs[i].0, &srcs[i].1, &outlines[i]))
                .collect();
            if !units.iter().any(may_hold_source) {
                assert!(none(&units), "{repo}");
            }
        }
    }

    /// The per-file flags that skip `startup_direct`'s work never change a flow: every
    /// fixture file on its own and every adversarial repo as one closure give the same
    /// flows with the flags forced on. A literal `lex::string_text` borrows decodes to
    /// itself.
    #[test]
    fn the_file_flags_never_change_a_flow() {
        let srcs = fixture_sources();
        let outlines: Vec<Outline> = srcs.iter().map(|(_, s)| Outline::new(s)).collect();
        let (mut literals, mut found) = (0, 0);
        let mut closures: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, (path, src)) in srcs.iter().enumerate() {
            for t in outlines[i]
                .lexed
                .toks
                .iter()
                .filter(|t| t.kind == Kind::Str)
            {
                // A value `lex::string_text` borrows is what decoding it gives.
                let tok = &src[t.range()];
                if let Some(Cow::Borrowed(v)) = lex::string_text(tok) {
                    let raw = tok
                        .iter()
                        .take_while(|&&c| c != b'\'' && c != b'"')
                        .any(|c| matches!(c, b'r' | b'R'));
                    let prefix = if raw { "r" } else { "" };
                    assert_eq!(crate::python::unescape(v, prefix), v, "{path}");
                }
                literals += 1;
            }
            let units = [unit(path, src, &outlines[i])];
            let gated = analyse(&units, true);
            assert_eq!(gated, analyse(&units, false), "{path}");
            found += gated.iter().map(Vec::len).sum::<usize>();
            if let Some((_, rest)) = path.split_once("/mirror/huggingface/models/") {
                let repo: Vec<&str> = rest.splitn(3, '/').take(2).collect();
                closures.entry(repo.join("/")).or_default().push(i);
            }
        }
        assert!(literals > 1000 && found > 50, "{literals} {found}");
        for (repo, members) in &closures {
            let units: Vec<Unit<'_>> = members
                .iter()
                .map(|&i| unit(&srcs[i].0, &srcs[i].1, &outlines[i]))
                .collect();
            assert_eq!(analyse(&units, true), analyse(&units, false), "{repo}");
        }
    }

    /// A call nested in others is read once per outermost evaluation with the memo; without
    /// it, once per enclosing call and again as a call of each range (2^depth).
    #[test]
    fn nested_calls_are_read_once_per_evaluation() {
        let depth = 14;
        let src = format!("y = {}z{}\n", "g(".repeat(depth), ")".repeat(depth));
        let outline = Outline::new(src.as_bytes());
        let units = [unit("m.py", src.as_bytes(), &outline)];
        let (memo, plain) = (analysed(&units, true), analysed(&units, false));
        assert_eq!(memo.flows, plain.flows);
        let (memo, plain) = (memo.evaluated.get(), plain.evaluated.get());
        assert!(memo <= 2 * depth, "{memo}");
        assert!(plain >= (1 << depth) - 1, "{plain}");
    }

    /// The round after the last change evaluates only the scopes evaluated before that
    /// change: here the module's (its global changes in the first round), not the
    /// functions', whose flow is still found.
    #[test]
    fn settled_scopes_are_not_evaluated_again() {
        let src = "import requests\nDATA = requests.get(u)\n\ndef a():\n    x = 1\n\ndef b():\n    exec(DATA)\n\ndef c():\n    y = x\n";
        let outline = Outline::new(src.as_bytes());
        let units = [unit("m.py", src.as_bytes(), &outline)];
        let (gated, plain) = (analysed(&units, true), analysed(&units, false));
        assert_eq!(gated.flows, plain.flows);
        assert_eq!(gated.flows[0].len(), 1, "{:?}", gated.flows);
        let scopes = outline.scopes.len();
        assert_eq!(scopes, 4);
        assert_eq!(plain.scoped.get(), 2 * scopes);
        assert_eq!(gated.scoped.get(), scopes + 1);
    }

    /// The alternation finds a sink word exactly where some word's own search does.
    #[test]
    fn the_sink_word_alternation_is_each_word_searched() {
        let each = |src: &[u8]| {
            SINK_WORDS
                .iter()
                .any(|w| memchr::memmem::find(src, w.as_bytes()).is_some())
        };
        let mut srcs: Vec<Vec<u8>> = fixture_sources().into_iter().map(|(_, s)| s).collect();
        srcs.extend(SINK_WORDS.iter().map(|w| format!("x = {w}\n").into_bytes()));
        srcs.push(b"x = 1\n".to_vec());
        let found = srcs.iter().filter(|s| sink_words(s)).count();
        for src in &srcs {
            assert_eq!(sink_words(src), each(src));
        }
        assert!(found > SINK_WORDS.len() && found < srcs.len(), "{found}");
    }

    /// `SOURCE_NAMES` is a hand-picked word per API (the rarest segment): every source
    /// table must keep a word there, or the check would skip closures that hold a flow.
    #[test]
    fn every_source_table_entry_has_a_word_in_the_source_names() {
        for table in [NETWORK_SOURCES, DECODERS, SITE_APIS] {
            for api in table {
                let segs: Vec<&str> = api.split('.').map(|s| s.trim_end_matches("()")).collect();
                let covered = segs
                    .iter()
                    .any(|seg| SOURCE_NAMES.contains(seg) || seg.ends_with("urlretrieve"))
                    || SOURCE_PAIRS
                        .iter()
                        .any(|(a, b)| segs.contains(a) && segs.contains(b));
                assert!(covered, "{api} has no word in SOURCE_NAMES");
            }
        }
    }

    fn holds_source(src: &str) -> bool {
        let o = Outline::new(src.as_bytes());
        may_hold_source(&unit("m.py", src.as_bytes(), &o))
    }

    #[test]
    fn sources_spelt_any_way_pass_the_check_and_sinks_alone_do_not() {
        for src in [
            "from base64 import b64decode as d\nexec(d(B))\n",
            "import requests as r\nexec(r.get(u).text)\n",
            "k = open('\\x2essh/id_rsa').read()\n",
            "p = '~/.BASHRC'\n",
            "p = os.path.join(HOME, 'Start Menu', 'Programs\\\\Startup')\n",
            "class MyConfig:\n    def __init__(self, **kwargs):\n        exec(kwargs['c'])\n",
            "x = self.config.code\n",
            "from urllib.request import urlretrieve as fetch\n",
            "def my_urlretrieve(u, p): pass\n",
            "z = np.load(f, allow_pickle=True)\n",
            "n = ''.join(map(chr, [1]))\n",
            "p = os.path.join(home, '.cargo', 'config.toml')\n",
            "p = Path.home() / '.ssh' / 'config'\n",
            "import platform\nn = platform.node()\n",
            "from platform import node as host\n",
            "import codecs\nx = codecs.decode(b, 'rot13')\n",
            "from marshal import loads\n",
            "p = os.path.join(os.path.dirname(__file__), 'settings.json')\n",
        ] {
            assert!(holds_source(src), "{src}");
        }
        for src in [
            "import subprocess\nsubprocess.run(['ls'])\nexec(code)\nopen(p, 'w').write(x)\n",
            "# requests, os.environ and config only in a comment\nos.system(cmd)\n",
            "s = 'configuration'\nt = s.upper()\n",
            "if sys.platform == 'win32':\n    os.system(cmd)\n",
            "import codecs, marshal\nf = codecs.open(p)\nmarshal.dump(x, f)\n",
            "config = load()\nprint(config['x'], __file__)\nexec(code)\n",
        ] {
            assert!(!holds_source(src), "{src}");
        }
    }
}
