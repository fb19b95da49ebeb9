//! Scan: rules as data (tree-sitter queries, YARA-X signatures) and a pickle scanner,
//! run over the remote files that a load would execute.

mod alias;
mod capability;
mod catalogue;
mod error;
mod fold;
mod lex;
mod outline;
pub mod pickle;
mod query;
mod reach;
mod rules;
mod slice;
mod taint;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

pub use self::error::RuleError;
use self::outline::Outline;
pub use self::reach::Load;
pub use self::rules::{Examples, RuleSet};
use crate::callsite::Positions;
use crate::model::{Engine, ExecContext, FileKind, Level, RemoteFile, RuleMeta};

/// Files larger than this are not parsed (signatures still run on the first bytes).
const MAX_PARSE_BYTES: usize = 8 << 20;
const MAX_YARA_BYTES: usize = 32 << 20;
const SNIPPET_CHARS: usize = 200;

/// One rule match in one remote file.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub rule_id: String,
    pub level: Level,
    pub security_severity: f32,
    pub cwe: Vec<String>,
    pub title: String,
    pub message: String,
    pub engine: Engine,
    /// 1-based line in the remote file; 0 when not tied to a line (pickles).
    pub line: u32,
    pub column: u32,
    /// The matched line(s), trimmed, at most ~200 characters.
    pub snippet: String,
    pub context: ExecContext,
}

impl Hit {
    /// A hit of the rule that `meta` describes, at the rule's level and engine and not
    /// tied to a line; callers set what differs.
    fn of(meta: &RuleMeta, message: String, snippet: String, context: ExecContext) -> Hit {
        Hit {
            rule_id: meta.id.clone(),
            level: meta.level,
            security_severity: meta.security_severity,
            cwe: meta.cwe.clone(),
            title: meta.title.clone(),
            message,
            engine: meta.engine,
            line: 0,
            column: 0,
            snippet,
            context,
        }
    }
}

/// What one file holds on its own, before the target's call graph places it.
#[derive(Default)]
pub struct FileFacts {
    /// Query rule matches, not yet placed.
    query: Vec<query::RawMatch>,
    /// YARA matches (namespace:identifier, range), not yet placed.
    yara: Vec<(String, usize, usize)>,
    /// Hits that need no context (pickles, requirements).
    fixed: Vec<Hit>,
    outline: Option<Outline>,
    /// A Python file whose outline is built only if another file of its target needs
    /// the call graph.
    outline_later: bool,
}

/// One file of a target, for `Scanner::verdicts`.
pub struct Part<'a> {
    /// Path in the remote repository.
    pub path: &'a str,
    pub kind: FileKind,
    pub src: &'a [u8],
    pub facts: &'a FileFacts,
    /// The library imports this file itself (rather than through another file).
    pub entry: bool,
}

/// One level lower (a finding in code that nothing runs).
fn lower(level: Level) -> Level {
    match level {
        Level::Error => Level::Warning,
        _ => Level::Note,
    }
}

struct Inner {
    /// Unique per scanner (the leaked YARA rules' address), keys the per-thread YARA scanners.
    key: usize,
    engine: query::QueryEngine,
    query_rules: Vec<(RuleMeta, Level, String)>,
    /// The rule whose matches say that calls go through renamed dangerous functions.
    alias_rule: Option<usize>,
    yara: &'static yara_x::Rules,
    /// YARA identifier -> rule metadata.
    yara_meta: HashMap<String, RuleMeta>,
    pickle: pickle::PickleLists,
    pickle_meta: BTreeMap<&'static str, RuleMeta>,
    catalogue: catalogue::Catalogue,
    caps: capability::Compiled,
    /// Metadata of the capability rules (`rules/capability/`).
    cap_meta: HashMap<String, RuleMeta>,
    /// Metadata of the data-flow rule (`rules/taint/`).
    taint_meta: RuleMeta,
}

/// Compiled rules for a run; cheap to clone and usable from many threads.
#[derive(Clone)]
pub struct Scanner {
    inner: Arc<Inner>,
    /// Parse only the top-level statements that a rule can match (see `slice`).
    slicing: bool,
}

thread_local! {
    /// YARA-X scanners hold a WASM store and are not `Send`: one per thread and rule set.
    static YARA: RefCell<Vec<(usize, yara_x::Scanner<'static>)>> = const { RefCell::new(Vec::new()) };
}

/// A snippet starts at its line's start when the match is at most this many bytes into
/// the line, and at the match otherwise: in a long line (minified code) the line's
/// start says nothing about the match, and reading up to it for every hit of such a
/// line made scans quadratic.
const SNIPPET_LOOKBACK: usize = 1024;
/// The bytes read for a snippet, from where it starts: enough for `SNIPPET_CHARS` code
/// points of at most 4 bytes after up to `SNIPPET_LOOKBACK` bytes of indentation.
const SNIPPET_WINDOW: usize = SNIPPET_LOOKBACK + 4 * (SNIPPET_CHARS + 1);

/// The trimmed source line(s) of a match at `start..end`, whose line starts at
/// `line_start` (see `SNIPPET_LOOKBACK`).
fn snippet_at(src: &[u8], line_start: usize, start: usize, end: usize) -> String {
    let start = start.min(src.len());
    let line_start = line_start.min(start);
    let from = if start - line_start <= SNIPPET_LOOKBACK {
        line_start
    } else {
        start
    };
    let limit = (from + SNIPPET_WINDOW).min(src.len());
    let end = end.clamp(start, limit);
    // The start line, plus up to two more lines when the match spans them.
    let mut line_end = memchr::memchr(b'\n', &src[start..limit]).map_or(limit, |i| start + i);
    for _ in 0..2 {
        if line_end >= end || line_end >= limit {
            break;
        }
        line_end =
            memchr::memchr(b'\n', &src[line_end + 1..limit]).map_or(limit, |i| line_end + 1 + i);
    }
    let text = String::from_utf8_lossy(&src[from..line_end]);
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    cap(&joined)
}

/// Line, column and snippet of a match at `start..end` of the source of `pos`.
fn locate(pos: &mut Positions<'_>, src: &[u8], start: usize, end: usize) -> (u32, u32, String) {
    let (line, column) = pos.at(start);
    (line, column, snippet_at(src, pos.line_start(), start, end))
}

fn cap(s: &str) -> String {
    if s.chars().count() <= SNIPPET_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(SNIPPET_CHARS).collect();
    out.push('…');
    out
}

impl Scanner {
    /// Compile every rule once for a run.
    pub fn new(rules: &RuleSet) -> Result<Scanner, RuleError> {
        let engine = query::QueryEngine::new(&rules.query)?;
        let query_rules: Vec<(RuleMeta, Level, String)> = rules
            .query
            .iter()
            .map(|r| (r.meta.clone(), r.import_time_level, r.message.clone()))
            .collect();
        let alias_rule = query_rules.iter().position(|(m, _, _)| m.id == alias::RULE);
        let yara_meta = rules
            .yara
            .iter()
            .map(|r| (format!("{}:{}", r.meta.id, r.ident), r.meta.clone()))
            .collect();
        let pickle_meta = pickle::metas()
            .into_iter()
            .filter_map(|m| {
                [
                    pickle::DANGEROUS,
                    pickle::UNKNOWN,
                    pickle::BROKEN,
                    pickle::MISMATCH,
                ]
                .into_iter()
                .find(|id| *id == m.id)
                .map(|id| (id, m))
            })
            .collect();
        Ok(Scanner {
            inner: Arc::new(Inner {
                key: rules.yara_rules as *const yara_x::Rules as usize,
                engine,
                query_rules,
                alias_rule,
                yara: rules.yara_rules,
                yara_meta,
                pickle: rules.pickle.clone(),
                pickle_meta,
                catalogue: rules.catalogue.clone(),
                caps: capability::Compiled::new(&rules.catalogue),
                cap_meta: capability_metas()
                    .into_iter()
                    .map(|m| (m.id.clone(), m))
                    .collect(),
                taint_meta: taint_meta(),
            }),
            slicing: true,
        })
    }

    /// The same scanner, parsing every Python file whole: the reference that the
    /// tests and the benchmark compare the default (sliced) scan against.
    pub fn whole_files(mut self) -> Scanner {
        self.slicing = false;
        self
    }

    /// Every hit in one remote file scanned on its own (every loader family's hooks
    /// apply), sorted by line. Never executes or unpickles anything.
    pub fn scan(&self, file: &RemoteFile) -> Vec<Hit> {
        self.scan_bytes(file.kind, &file.content)
    }

    /// Same as `scan`, for bytes of a given kind.
    pub fn scan_bytes(&self, kind: FileKind, src: &[u8]) -> Vec<Hit> {
        let facts = self.analyze_bytes(kind, src);
        let part = Part {
            path: "x.py",
            kind,
            src,
            facts: &facts,
            entry: true,
        };
        self.verdicts(&[part], &Load::generic())
            .pop()
            .unwrap_or_default()
    }

    /// What one file holds on its own (rule matches, its outline), to be combined with
    /// the other files of a target by `verdicts`. Computed once per distinct file.
    pub fn analyze(&self, file: &RemoteFile) -> FileFacts {
        self.analyze_bytes(file.kind, &file.content)
    }

    fn analyze_bytes(&self, kind: FileKind, src: &[u8]) -> FileFacts {
        let mut facts = FileFacts::default();
        let yara = self.yara_matches(src);
        let python = kind == FileKind::Python && src.len() <= MAX_PARSE_BYTES;
        // Parsing dominates the cost: only parse when a rule can match.
        let wanted = if python {
            self.inner.engine.wanted(src)
        } else {
            Vec::new()
        };
        let per_rule =
            (python && self.slicing).then(|| self.inner.engine.occurrences(src, &wanted));
        let ranges = per_rule.as_deref();
        let mut parsed = if python && !wanted.is_empty() {
            self.parse(
                src,
                ranges,
                self.inner.engine.inline(&wanted),
                self.inner.engine.displays(&wanted),
            )
        } else {
            None
        };
        let mut matches = parsed
            .as_ref()
            .map(|(t, _)| self.inner.engine.run(t, src, &wanted, ranges))
            .unwrap_or_default();
        if let Some(rule) = self.inner.alias_rule
            && matches.iter().any(|m| m.rule == rule)
        {
            // Calls through the renamed functions can be anywhere in the file.
            if parsed.as_ref().is_some_and(|(_, partial)| *partial) {
                parsed = query::parse(src).map(|t| (t, false));
            }
            if let Some((tree, _)) = &parsed {
                let others: Vec<usize> = (0..self.inner.engine.len())
                    .filter(|&r| r != rule)
                    .collect();
                matches.extend(alias::follow(&self.inner.engine, &others, tree, src));
                // A call that its rule also matches as written is reported once.
                matches.sort_by_key(|m| (m.start_byte, m.rule));
                matches.dedup_by_key(|m| (m.start_byte, m.rule));
            }
        }
        facts.query = matches;
        if kind == FileKind::Pickle {
            self.pickle_hits(src, &mut facts.fixed);
        }
        if kind == FileKind::Requirements {
            requirements_hits(src, &mut facts.fixed);
        }
        facts.yara = yara;
        if python
            && (!facts.query.is_empty() || !facts.yara.is_empty() || self.inner.caps.wanted(src))
        {
            facts.outline = Some(Outline::new(src));
        } else if python {
            facts.outline_later = true;
        }
        facts
    }

    /// The hits of every file of one target, given how the library loads it: each match
    /// gets the context the target's call graph gives it, and the level that follows.
    pub fn verdicts(&self, parts: &[Part<'_>], load: &Load) -> Vec<Vec<Hit>> {
        // The call graph needs every Python file's outline, and only when a match needs
        // a context.
        let needed = parts.iter().any(|p| p.facts.outline.is_some());
        let late: Vec<Option<Outline>> = parts
            .iter()
            .map(|p| (needed && p.facts.outline_later).then(|| Outline::new(p.src)))
            .collect();
        let outlines: Vec<Option<&Outline>> = parts
            .iter()
            .zip(&late)
            .map(|(p, l)| p.facts.outline.as_ref().or(l.as_ref()))
            .collect();
        let mut index = Vec::new();
        let mut units = Vec::new();
        for (i, (p, o)) in parts.iter().zip(&outlines).enumerate() {
            if let Some(o) = o {
                index.push(Some(units.len()));
                units.push(reach::Unit {
                    path: p.path,
                    src: p.src,
                    outline: o,
                    entry: p.entry,
                });
            } else {
                index.push(None);
                let _ = i;
            }
        }
        // Built for the first hit that needs a context: many closures with an outline
        // hold none (a capability's word that no call of it follows).
        let graph = std::cell::OnceCell::new();
        let mut caps = if needed {
            capability::scan(&units, &self.inner.caps)
        } else {
            Vec::new()
        };
        // Source-to-sink flows over the same closure (src/scan/taint.rs).
        let flows = if needed {
            taint::flows(&units)
        } else {
            Vec::new()
        };
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut hits = p.facts.fixed.clone();
                let mut pos = Positions::new(p.src);
                let place = |start: usize| -> (ExecContext, String) {
                    match (needed, index[i], outlines[i]) {
                        (true, Some(u), Some(o)) => {
                            let g = graph.get_or_init(|| {
                                reach::Reach::new(&units, load, &self.inner.catalogue)
                            });
                            let scope = o.scope_at(start);
                            let detail = o.token_at(start).and_then(|t| o.detail(scope, t));
                            (g.context(u, scope), g.explain(u, scope, detail))
                        }
                        _ => (ExecContext::File, "in the file".to_string()),
                    }
                };
                // Byte spans of the query hits, to report a capability use that a rule
                // already matched once.
                let mut spans: Vec<(usize, usize, usize)> = Vec::new();
                for m in &p.facts.query {
                    let (meta, import_level, message) = &self.inner.query_rules[m.rule];
                    let (context, why) = place(m.start_byte);
                    spans.push((m.start_byte, m.end_byte, hits.len()));
                    let level = match context {
                        ExecContext::ImportTime | ExecContext::LoadTime => *import_level,
                        ExecContext::Unreached => lower(meta.level),
                        _ => meta.level,
                    };
                    let message = match &m.via {
                        Some(via) => {
                            format!("{message} (called as `{via}`, a renamed import); {why}")
                        }
                        None => format!("{message}; {why}"),
                    };
                    // Columns count code points, as for every other hit (the
                    // unit the SARIF declares), not tree-sitter's bytes.
                    let (line, column, snippet) = locate(&mut pos, p.src, m.start_byte, m.end_byte);
                    hits.push(Hit {
                        level,
                        line,
                        column,
                        ..Hit::of(meta, message, snippet, context)
                    });
                }
                let found = index[i]
                    .and_then(|u| caps.get_mut(u))
                    .map(std::mem::take)
                    .unwrap_or_default();
                for c in found {
                    let Some(meta) = self.inner.cap_meta.get(&c.rule) else {
                        continue;
                    };
                    let (context, why) = place(c.start);
                    let level = match context {
                        ExecContext::ImportTime | ExecContext::LoadTime => c.load_level,
                        ExecContext::CallTime => lower(c.load_level),
                        _ => Level::Note,
                    };
                    let (line, column, snippet) = locate(&mut pos, p.src, c.start, c.end);
                    let hit = Hit {
                        level,
                        line,
                        column,
                        ..Hit::of(
                            meta,
                            format!("{}: `{}`{}; {why}", meta.title, c.what, c.note),
                            snippet,
                            context,
                        )
                    };
                    // One finding per call: a rule that matched it keeps it, at the
                    // capability's level when that is higher.
                    // A capability verdict lowered by what the call names (a build tool,
                    // a system library) replaces the rule's.
                    let same = spans
                        .iter()
                        .find(|(s, _, _)| *s == c.start)
                        .map(|&(_, _, k)| k);
                    match same {
                        Some(k) if hits[k].level >= level && !c.lowered => {}
                        Some(k) => hits[k] = hit,
                        None => hits.push(hit),
                    }
                }
                // An unpickled repo file is not lowered here by its name: another part
                // with the same name says nothing about what *this* call reads (a
                // computed folder may hold another `x.npy`). The follow record of the
                // call site decides (`commands::scan::followed`).
                for fl in index[i].and_then(|u| flows.get(u)).into_iter().flatten() {
                    hits.push(self.flow_hit(fl, p.src, &mut pos, &place));
                }
                self.yara_hits(&p.facts.yara, p.src, &mut pos, p.kind, &place, &mut hits);
                hits.sort_by(|a, b| {
                    (a.line, a.column, &a.rule_id).cmp(&(b.line, b.column, &b.rule_id))
                });
                hits
            })
            .collect()
    }

    /// The tree to run the wanted rules on, and whether it holds only the statements
    /// (or, when every wanted rule matches within one logical line, the logical lines)
    /// that contain a prefilter occurrence.
    fn parse(
        &self,
        src: &[u8],
        ranges: Option<&[Option<Vec<Range<usize>>>]>,
        inline: bool,
        displays: bool,
    ) -> Option<(tree_sitter::Tree, bool)> {
        let occurrences: Option<Vec<Range<usize>>> = ranges.and_then(|per_rule| {
            let mut all = Vec::new();
            for found in per_rule {
                all.extend(found.as_ref()?.iter().cloned());
            }
            Some(all)
        });
        if let Some(occurrences) = occurrences
            && let Some(ranges) = if inline {
                slice::plan_nested(src, &occurrences, displays)
                    .or_else(|| slice::plan(src, &occurrences))
            } else {
                slice::plan(src, &occurrences)
            }
            && let Some(tree) = query::parse_ranges(src, &ranges)
            // A statement that does not parse on its own may have been cut wrong by
            // the lexer: the whole file decides.
            && !tree.root_node().has_error()
        {
            return Some((tree, true));
        }
        query::parse(src).map(|t| (t, false))
    }

    /// (namespace:identifier, first match range) of each matching YARA rule.
    fn yara_matches(&self, src: &[u8]) -> Vec<(String, usize, usize)> {
        let inner = &self.inner;
        YARA.with(|cell| {
            let mut pool = cell.borrow_mut();
            let idx = match pool.iter().position(|(k, _)| *k == inner.key) {
                Some(i) => i,
                None => {
                    if pool.len() >= 4 {
                        pool.remove(0);
                    }
                    let mut s = yara_x::Scanner::new(inner.yara);
                    s.set_timeout(Duration::from_secs(20));
                    s.max_scan_size(MAX_YARA_BYTES);
                    pool.push((inner.key, s));
                    pool.len() - 1
                }
            };
            let scanner = &mut pool[idx].1;
            let data = &src[..src.len().min(MAX_YARA_BYTES)];
            match scanner.scan(data) {
                Ok(res) => res
                    .matching_rules()
                    .map(|r| {
                        let first = r
                            .patterns()
                            .flat_map(|p| p.matches().map(|m| m.range()).collect::<Vec<_>>())
                            .min_by_key(|r| r.start)
                            .unwrap_or(0..0);
                        (
                            format!("{}:{}", r.namespace(), r.identifier()),
                            first.start,
                            first.end,
                        )
                    })
                    .collect(),
                Err(e) => {
                    tracing::warn!("yara scan failed: {e}");
                    Vec::new()
                }
            }
        })
    }

    fn yara_hits(
        &self,
        found: &[(String, usize, usize)],
        src: &[u8],
        pos: &mut Positions<'_>,
        kind: FileKind,
        place: &dyn Fn(usize) -> (ExecContext, String),
        hits: &mut Vec<Hit>,
    ) {
        let inner = &self.inner;
        for (key, start, end) in found {
            let (start, end) = (*start, *end);
            let Some(meta) = inner.yara_meta.get(key) else {
                continue;
            };
            let (line, column, snippet, context, why) = if kind == FileKind::Pickle {
                (
                    0,
                    0,
                    cap(&String::from_utf8_lossy(&src[start..end])),
                    ExecContext::Unpickle,
                    "in pickle data".to_string(),
                )
            } else {
                let (line, column, snippet) = locate(pos, src, start, end);
                let (context, why) = if kind == FileKind::Python {
                    place(start)
                } else {
                    (ExecContext::File, "in the file".to_string())
                };
                (line, column, snippet, context, why)
            };
            let message = format!("{} (signature); {why}", meta.title);
            hits.push(Hit {
                line,
                column,
                ..Hit::of(meta, message, snippet, context)
            });
        }
    }

    /// A source-to-sink flow as a hit: an error where the sink runs at import or load time.
    fn flow_hit(
        &self,
        fl: &taint::Flow,
        src: &[u8],
        pos: &mut Positions<'_>,
        place: &dyn Fn(usize) -> (ExecContext, String),
    ) -> Hit {
        let (context, why) = place(fl.start);
        let level = match context {
            ExecContext::ImportTime | ExecContext::LoadTime => Level::Error,
            ExecContext::Unreached => Level::Note,
            _ => Level::Warning,
        };
        let (meta, message) = match fl.rule {
            taint::PERSISTENCE => (
                self.inner
                    .query_rules
                    .iter()
                    .map(|(m, _, _)| m)
                    .find(|m| m.id == taint::PERSISTENCE)
                    .cloned()
                    .unwrap_or_else(|| crate::rulemeta::missing(taint::PERSISTENCE, Engine::Query)),
                format!(
                    "Writes where code persists: {} ({}); {why}",
                    fl.what, fl.path
                ),
            ),
            taint::UNVERIFIED => {
                let meta = self
                    .inner
                    .cap_meta
                    .get(taint::UNVERIFIED)
                    .cloned()
                    .unwrap_or_else(|| crate::rulemeta::missing(taint::UNVERIFIED, Engine::Query));
                (meta, format!("{}; {why}", fl.what))
            }
            _ => (
                self.inner.taint_meta.clone(),
                format!("Data flow: {} ({}); {why}", fl.what, fl.path),
            ),
        };
        let (line, column, snippet) = locate(pos, src, fl.start, fl.end);
        Hit {
            level,
            line,
            column,
            ..Hit::of(&meta, message, snippet, context)
        }
    }

    fn pickle_hits(&self, src: &[u8], hits: &mut Vec<Hit>) {
        hits.extend(pickle::hits(
            &self.inner.pickle,
            &self.inner.pickle_meta,
            src,
        ));
    }
}

/// The capability rules (metadata in `rules/capability/`; the catalogue that decides when
/// they fire is `rules/genre/capabilities.yml`).
pub(crate) fn capability_metas() -> Vec<RuleMeta> {
    crate::rulemeta::builtin("capability", Engine::Query)
}

/// The data-flow rule (metadata in `rules/taint/`).
pub(crate) fn taint_meta() -> RuleMeta {
    crate::rulemeta::ordered("taint", Engine::Query, &[taint::RULE])
        .pop()
        .unwrap_or_else(|| crate::rulemeta::missing(taint::RULE, Engine::Query))
}

pub(crate) const REQUIREMENTS: &str = "requirements-remote-source";

/// The requirements check, as a rule (metadata in `rules/requirements/`).
pub(crate) fn requirements_meta() -> RuleMeta {
    crate::rulemeta::ordered("requirements", Engine::Query, &[REQUIREMENTS])
        .pop()
        .unwrap_or_else(|| crate::rulemeta::missing(REQUIREMENTS, Engine::Query))
}

fn requirements_hits(src: &[u8], hits: &mut Vec<Hit>) {
    let meta = requirements_meta();
    let text = String::from_utf8_lossy(src);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or(raw).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        let why = if [
            "--index-url",
            "--extra-index-url",
            "-i ",
            "--trusted-host",
            "--find-links",
            "-f ",
        ]
        .iter()
        .any(|o| lower.starts_with(o))
        {
            "changes where pip looks for packages"
        } else if lower.starts_with("-e ") || lower.starts_with("--editable") {
            "installs an editable project"
        } else if lower.contains("git+") || lower.contains("hg+") || lower.contains("svn+") {
            "installs from a VCS link"
        } else if lower.contains("http://") || lower.contains("https://") || lower.contains("file:")
        {
            "installs from a direct URL"
        } else {
            continue;
        };
        hits.push(Hit {
            line: i as u32 + 1,
            column: 1,
            ..Hit::of(
                &meta,
                format!("pip install {why}; runs when the requirements are installed"),
                cap(line),
                ExecContext::File,
            )
        });
    }
}
