//! `hubwarden pin [PATH] [--write]`: rewrite every unpinned load to the commit
//! that was scanned, so that what runs tomorrow is what was checked today.
//!
//! It runs the whole scan first (a pin approves code, so the code is resolved,
//! fetched and scanned), then for each unpinned call writes the platform's
//! pinning keyword (`revision=`, `code_revision=` for cross-repository code,
//! `owner/repo:<sha>` for torch.hub, `model_revision=` for ModelScope pipelines,
//! `version=` for PaddleHub modules). It leaves, and lists, every load it must
//! not or cannot pin: code with an error-level finding (pinning would approve
//! it), targets that could not be verified, calls whose text it cannot rewrite,
//! files it could not parse. Each rewritten file is parsed again before it is
//! written; a notebook is edited inside its JSON strings, byte for byte
//! elsewhere, and its code is extracted again and compared with the intended
//! edit. With `--write` the files and `.hubwarden.lock` are written; without,
//! a unified diff goes to stdout.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, FromArgMatches};

use crate::Outcome;
use crate::cli::{PinArgs, ScanArgs};
use crate::commands::scan::{ScanEnv, discover_options, run_scan};
use crate::config::Config;
use crate::discover::{self, notebook};
use crate::model::{CallReport, Engine, Family, HubKind, InputError, Level, Report};
use crate::policy::callsrc::{pinned_call, pinned_components};
use crate::policy::lock::{LOCK_FILE, Lockfile};

/// One load rewritten to its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub path: String,
    pub line: u32,
    pub repo_id: String,
    /// The commit (PaddleHub: the module digest, whose version is written).
    pub commit: String,
    /// Cross-repository code pinned with `code_revision=`.
    pub code_commit: Option<String>,
}

/// A load left as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPinned {
    pub path: String,
    pub line: u32,
    pub repo_id: Option<String>,
    pub reason: String,
}

/// A file's text before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// Relative to the pinned root, `/` separators.
    pub path: String,
    pub old: String,
    pub new: String,
}

/// What `pin` would do.
#[derive(Debug)]
pub struct PinPlan {
    pub root: PathBuf,
    /// The root's folder as seen from the repository root (`sub/dir/`), for
    /// diff paths that `git apply` takes from the repository root.
    pub path_prefix: String,
    pub files: Vec<FileEdit>,
    pub pinned: Vec<Pinned>,
    pub not_pinned: Vec<NotPinned>,
    /// Source files that could not be parsed: never rewritten.
    pub unparsed: Vec<InputError>,
    /// Loads that were pinned already.
    pub already: usize,
    scan_args: ScanArgs,
    calls: Vec<CallReport>,
}

/// What `--write` did with the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockWrite {
    /// Written with this many calls.
    Written(usize),
    /// The lock file there is malformed: left as it is (the warning says how to fix it).
    KeptMalformed,
}

/// The `scan` options for `pin`'s flags (every other option at its default).
fn scan_args(args: &PinArgs) -> Result<ScanArgs> {
    let cmd = ScanArgs::augment_args(clap::Command::new("hubwarden pin"));
    let matches = cmd
        .try_get_matches_from(["hubwarden pin"])
        .context("the scan's default options")?;
    let mut s = ScanArgs::from_arg_matches(&matches).context("the scan's default options")?;
    s.path = args.path.clone();
    s.exclude = args.exclude.clone();
    s.offline = args.offline;
    s.mirror = args.mirror.clone();
    s.max_wait = args.max_wait;
    s.cache_dir = args.cache_dir.clone();
    s.rules = args.rules.clone();
    s.config = args.config.clone();
    s.assume = args.assume.clone();
    Ok(s)
}

/// The folder the scanned paths are relative to.
fn base_dir(root: &Path) -> &Path {
    if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    }
}

fn is_source(path: &str) -> bool {
    path.ends_with(".py") || path.ends_with(".ipynb")
}

/// The (hub, repo, commit) of every target whose code has an error-level
/// finding: no call to it is pinned.
fn blocked_targets(report: &Report) -> BTreeMap<(HubKind, String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(HubKind, String, String), BTreeSet<String>> = BTreeMap::new();
    for f in report.findings.iter().flatten() {
        if f.level != Level::Error || (f.engine == Engine::Policy && f.evidence.is_none()) {
            continue;
        }
        if let Some(e) = &f.evidence {
            out.entry((e.hub, e.repo_id.clone(), e.commit.clone()))
                .or_default()
                .insert(f.rule_id.clone());
        }
        let target = f
            .call
            .and_then(|i| report.calls.get(i))
            .and_then(|c| c.target.as_ref());
        if let Some(t) = target
            && let (Some(r), Some(c)) = (&t.repo_id, &t.commit)
        {
            out.entry((t.hub, r.clone(), c.clone()))
                .or_default()
                .insert(f.rule_id.clone());
        }
    }
    out
}

/// Whether the call loads something not pinned: its own repository, or
/// cross-repository code without `code_revision`.
fn needs_pin(c: &CallReport) -> bool {
    let s = &c.site;
    let t = c.target.as_ref();
    if t.is_some_and(|t| t.pinned_by.is_some()) {
        // Pinned elsewhere (kernels.lock): the call text stays as it is.
        return false;
    }
    let own = if s.family == Family::PaddleModule && crate::policy::callsrc::git_source(s).is_some()
    {
        // A git source is pinned by a commit as `branch=`.
        !s.args
            .get("branch")
            .is_some_and(|b| crate::hub::validate::is_commit(b))
    } else if s.family == Family::PaddleModule {
        !(s.args.contains_key("version") || s.revision.is_some())
    } else if crate::discover::catalogue::is_pipeline_method_api(&s.api) {
        // `pipe.load_components(...)`: the pipeline's own repo is pinned at
        // the call that made it (a `revision=` here goes to every component).
        false
    } else {
        !s.pinned
    };
    let code = t.is_some_and(|t| t.cross_repo_unpinned) && !s.args.contains_key("code_revision");
    let components = t.is_some_and(|t| !t.unpinned_components.is_empty());
    own || code || components
}

/// A pin to make.
struct Job {
    call: usize,
    commit: String,
    code_commit: Option<String>,
    /// Modular pipeline components read from a branch: (name, commit).
    components: Vec<(String, String)>,
}

impl Job {
    /// The call in `source` (at `site`) rewritten to what this job pins.
    fn rewrite(
        &self,
        source: &str,
        site: &crate::model::LoadSite,
    ) -> Result<(crate::callsite::CallSpan, String), crate::policy::callsrc::PinError> {
        if self.components.is_empty() {
            pinned_call(source, site, &self.commit, self.code_commit.as_deref())
        } else {
            pinned_components(source, site, &self.components)
        }
    }
}

/// A replacement of `start..end` (bytes) by `text`.
#[derive(Debug, Clone)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// The smallest edit turning `old` into `new`, at `base` in the file.
fn minimal_edit(old: &str, new: &str, base: usize) -> Edit {
    let pre: usize = old
        .chars()
        .zip(new.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let max_suf = (old.len() - pre).min(new.len() - pre);
    let suf: usize = old[pre..]
        .chars()
        .rev()
        .zip(new[pre..].chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .scan(0usize, |acc, n| {
            *acc += n;
            (*acc <= max_suf).then_some(n)
        })
        .sum();
    Edit {
        start: base + pre,
        end: base + old.len() - suf,
        text: new[pre..new.len() - suf].to_string(),
    }
}

/// Apply non-overlapping edits (sorted by start).
fn apply(text: &str, edits: &[Edit]) -> String {
    let mut out = text.to_string();
    for e in edits.iter().rev() {
        out.replace_range(e.start..e.end, &e.text);
    }
    out
}

/// Whether tree-sitter finds a syntax error in `code`.
fn has_syntax_error(code: &str) -> bool {
    crate::python::parse(code).is_none_or(|t| t.root_node().has_error())
}

/// Run the scan and work out every pin.
pub fn plan(args: &PinArgs, env: &ScanEnv) -> Result<PinPlan> {
    let sargs = scan_args(args)?;
    let result = run_scan(&sargs, env)?;
    let report = &result.report;
    let root = sargs.path.clone();
    let read = crate::policy::fs_sources(&root);
    let unparsed: Vec<InputError> = report
        .errors
        .iter()
        .filter(|e| is_source(&e.path))
        .cloned()
        .collect();
    let unparsed_paths: HashMap<&str, &str> = unparsed
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    let blocked = blocked_targets(report);

    let mut not_pinned = Vec::new();
    let mut already = 0usize;
    let skip = |c: &CallReport, reason: String| NotPinned {
        path: c.site.path.clone(),
        line: c.site.line,
        repo_id: c.site.repo_id.clone(),
        reason,
    };
    // Several calls at one position: a loop over ids, or one call whose id has
    // several possible values.
    let mut at: BTreeMap<(String, u32, u32), Vec<usize>> = BTreeMap::new();
    for (i, c) in report.calls.iter().enumerate() {
        at.entry((c.site.path.clone(), c.site.line, c.site.column))
            .or_default()
            .push(i);
    }
    let mut jobs: BTreeMap<String, Vec<Job>> = BTreeMap::new();
    for idxs in at.values() {
        let calls: Vec<&CallReport> = idxs.iter().map(|&i| &report.calls[i]).collect();
        if !calls.iter().any(|c| needs_pin(c)) || calls.iter().all(|c| loads_a_download(c)) {
            // A folder returned by `snapshot_download(...)` is pinned (or
            // listed) at that call.
            already += 1;
            continue;
        }
        let c = calls[0];
        let repos: BTreeSet<&str> = calls
            .iter()
            .filter_map(|c| c.site.repo_id.as_deref())
            .collect();
        if repos.len() > 1 {
            let list: Vec<&str> = repos.into_iter().collect();
            not_pinned.push(skip(
                c,
                format!(
                    "this call loads several repositories ({}): pin each where it is named",
                    list.join(", ")
                ),
            ));
            continue;
        }
        if let Some(msg) = unparsed_paths.get(c.site.path.as_str()) {
            not_pinned.push(skip(
                c,
                format!("its file could not be parsed ({msg}), so it is not rewritten"),
            ));
            continue;
        }
        if c.site.repo_id.is_none() {
            not_pinned.push(skip(
                c,
                "the repository id is not statically known".to_string(),
            ));
            continue;
        }
        let Some(t) = c.target.as_ref() else {
            not_pinned.push(skip(c, "it was not resolved".to_string()));
            continue;
        };
        let paddle = c.site.family == Family::PaddleModule;
        let Some(commit) = t.commit.clone().filter(|c| {
            crate::hub::validate::is_target_commit(c)
                || paddle && crate::policy::callsrc::module_version(c).is_some()
        }) else {
            let why = t.reason.as_deref().unwrap_or("no commit");
            not_pinned.push(skip(c, format!("it could not be verified ({why})")));
            continue;
        };
        let repo = t.repo_id.clone().unwrap_or_default();
        if let Some(rules) = blocked.get(&(t.hub, repo.clone(), commit.clone())) {
            let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
            not_pinned.push(skip(
                c,
                format!(
                    "its code at {} has error-level findings ({}): pinning would approve it; \
                     review the findings (`hubwarden scan`) or drop the load",
                    short(&commit),
                    rules.join(", ")
                ),
            ));
            continue;
        }
        if let Some(how) = overridable(&c.site.resolution) {
            not_pinned.push(skip(
                c,
                format!(
                    "its repository id can be changed when the code runs ({how}): \
                     a pin here would hold for {repo} only; pin where the id is chosen"
                ),
            ));
            continue;
        }
        let code_commit = if t.cross_repo_unpinned && !c.site.args.contains_key("code_revision") {
            let others: BTreeSet<(&str, &str)> = t
                .files
                .iter()
                .filter(|f| Some(f.repo_id.as_str()) != t.repo_id.as_deref())
                .map(|f| (f.repo_id.as_str(), f.commit.as_str()))
                .collect();
            if others.len() != 1 {
                not_pinned.push(skip(
                    c,
                    format!(
                        "its code comes from {} other repositories: code_revision pins only one",
                        others.len()
                    ),
                ));
                continue;
            }
            others.into_iter().next().map(|(_, c)| c.to_string())
        } else {
            None
        };
        let components = t
            .unpinned_components
            .iter()
            .map(|u| (u.name.clone(), u.commit.clone()))
            .collect();
        jobs.entry(c.site.path.clone()).or_default().push(Job {
            call: idxs[0],
            commit,
            code_commit,
            components,
        });
    }

    let mut files = Vec::new();
    let mut pinned = Vec::new();
    for (path, jobs) in jobs {
        let Some(text) = read(&path) else {
            for j in &jobs {
                not_pinned.push(skip(
                    &report.calls[j.call],
                    "its file cannot be read".into(),
                ));
            }
            continue;
        };
        let out = if path.ends_with(".ipynb") {
            notebook_edits(&text, &jobs, &report.calls)
        } else {
            python_edits(&text, &jobs, &report.calls)
        };
        for (j, why) in out.failed {
            not_pinned.push(skip(&report.calls[j], why));
        }
        for j in &jobs {
            if out.done.contains(&j.call) {
                let c = &report.calls[j.call];
                pinned.push(Pinned {
                    path: c.site.path.clone(),
                    line: c.site.line,
                    repo_id: c.site.repo_id.clone().unwrap_or_default(),
                    commit: j.commit.clone(),
                    code_commit: j.code_commit.clone(),
                });
            }
        }
        if let Some(new) = out.new_text
            && new != text
        {
            files.push(FileEdit {
                path: path.clone(),
                old: text,
                new,
            });
        }
    }
    not_pinned.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    pinned.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    Ok(PinPlan {
        path_prefix: result.render.path_prefix.clone(),
        root: root.clone(),
        files,
        pinned,
        not_pinned,
        unparsed,
        already,
        scan_args: sargs,
        calls: result.report.calls,
    })
}

/// Whether the call loads the local folder another call downloaded (its id is
/// that call's repository): the download's result, or a folder it fills
/// (`local_dir=`). A `revision=` on such a load is ignored.
fn loads_a_download(c: &CallReport) -> bool {
    c.site.args.contains_key("snapshot_of") || c.site.resolution.contains(" result (line ")
}

/// How a repository id came from outside the code (a command-line default, an
/// environment variable's default), when it did.
fn overridable(resolution: &str) -> Option<&str> {
    (resolution.contains("argparse") || resolution.contains("default of $")).then_some(resolution)
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The edits of one file.
struct FileOutcome {
    /// The new text, when at least one pin applies.
    new_text: Option<String>,
    /// Calls pinned.
    done: BTreeSet<usize>,
    /// Calls not pinned, and why.
    failed: Vec<(usize, String)>,
}

/// Keep the edits that do not overlap an earlier one; the others fail.
fn non_overlapping(
    mut edits: Vec<(usize, Edit)>,
    failed: &mut Vec<(usize, String)>,
) -> Vec<(usize, Edit)> {
    edits.sort_by_key(|(_, e)| (e.start, e.end));
    let mut kept: Vec<(usize, Edit)> = Vec::new();
    for (j, e) in edits {
        if kept.last().is_some_and(|(_, k)| e.start < k.end) {
            failed.push((
                j,
                "its rewrite overlaps another one in the same place: run `hubwarden pin` again"
                    .into(),
            ));
        } else {
            kept.push((j, e));
        }
    }
    kept
}

fn python_edits(text: &str, jobs: &[Job], calls: &[CallReport]) -> FileOutcome {
    let mut failed = Vec::new();
    let mut edits = Vec::new();
    for j in jobs {
        let site = &calls[j.call].site;
        match j.rewrite(text, site) {
            Ok((span, new_call)) => {
                let e = minimal_edit(&text[span.start..span.end], &new_call, span.start);
                if e.start == e.end && e.text.is_empty() {
                    failed.push((j.call, "the call already names this commit".into()));
                } else {
                    edits.push((j.call, e));
                }
            }
            Err(e) => failed.push((j.call, format!("it cannot be rewritten: {e}"))),
        }
    }
    let edits = non_overlapping(edits, &mut failed);
    if edits.is_empty() {
        return FileOutcome {
            new_text: None,
            done: BTreeSet::new(),
            failed,
        };
    }
    let plain: Vec<Edit> = edits.iter().map(|(_, e)| e.clone()).collect();
    let new = apply(text, &plain);
    if has_syntax_error(&new) && !has_syntax_error(text) {
        for (j, _) in edits {
            failed.push((
                j,
                "the rewritten file would not parse, so it is left as it is".into(),
            ));
        }
        return FileOutcome {
            new_text: None,
            done: BTreeSet::new(),
            failed,
        };
    }
    FileOutcome {
        new_text: Some(new),
        done: edits.into_iter().map(|(j, _)| j).collect(),
        failed,
    }
}

fn notebook_edits(raw: &str, jobs: &[Job], calls: &[CallReport]) -> FileOutcome {
    let fail_all = |why: &str| FileOutcome {
        new_text: None,
        done: BTreeSet::new(),
        failed: jobs.iter().map(|j| (j.call, why.to_string())).collect(),
    };
    let nb = match notebook::extract(raw.as_bytes()) {
        Ok(nb) => nb,
        Err(e) => return fail_all(&format!("the notebook could not be parsed ({e})")),
    };
    let code = nb.code.as_str();
    let mut failed = Vec::new();
    let mut edits: Vec<(usize, Edit)> = Vec::new();
    for j in jobs {
        let site = &calls[j.call].site;
        // The site's line is the .ipynb line; find the code line(s) stored there.
        let mut found: Vec<(crate::callsite::CallSpan, String, bool)> = Vec::new();
        for (i, (file_line, cell)) in nb.lines.iter().enumerate() {
            if *file_line != site.line || Some(*cell) != site.cell {
                continue;
            }
            let mut s = site.clone();
            s.line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            s.cell = None;
            if let Ok((span, new_call)) = j.rewrite(code, &s) {
                let callee = site.api.rsplit('.').next().unwrap_or_default();
                let named = code[span.start..span.open].contains(callee);
                found.push((span, new_call, named));
            }
        }
        if found.len() > 1 {
            found.retain(|f| f.2);
        }
        let [(span, new_call, _)] = found.as_slice() else {
            failed.push((
                j.call,
                "the call was not found in the notebook's code cells".into(),
            ));
            continue;
        };
        let e = minimal_edit(&code[span.start..span.end], new_call, span.start);
        if e.start == e.end && e.text.is_empty() {
            failed.push((j.call, "the call already names this commit".into()));
            continue;
        }
        edits.push((j.call, e));
    }
    let edits = non_overlapping(edits, &mut failed);
    let mut raw_edits = Vec::new();
    let mut code_edits = Vec::new();
    let mut done = BTreeSet::new();
    for (j, e) in edits {
        match raw_edit(raw, &nb, &e) {
            Some(r) => {
                raw_edits.push(r);
                code_edits.push(e);
                done.insert(j);
            }
            None => failed.push((
                j,
                "the edit spans several lines of the notebook's JSON, so it is left as it is"
                    .into(),
            )),
        }
    }
    if raw_edits.is_empty() {
        return FileOutcome {
            new_text: None,
            done: BTreeSet::new(),
            failed,
        };
    }
    raw_edits.sort_by_key(|e| e.start);
    let new_raw = apply(raw, &raw_edits);
    // The notebook's code after the JSON edit must be exactly the intended code.
    let expected = apply(code, &code_edits);
    let ok = notebook::extract(new_raw.as_bytes()).is_ok_and(|n| n.code == expected);
    if !ok {
        for j in done {
            failed.push((
                j,
                "the notebook's JSON could not be rewritten safely, so it is left as it is".into(),
            ));
        }
        return FileOutcome {
            new_text: None,
            done: BTreeSet::new(),
            failed,
        };
    }
    FileOutcome {
        new_text: Some(new_raw),
        done,
        failed,
    }
}

/// The edit `e` of the notebook's code, made in the JSON string that stores
/// that code line: byte offsets in `raw` and the JSON-escaped text.
fn raw_edit(raw: &str, nb: &notebook::NotebookSource, e: &Edit) -> Option<Edit> {
    let code = nb.code.as_str();
    let line_start = code[..e.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = code[e.start..]
        .find('\n')
        .map_or(code.len(), |i| e.start + i);
    if e.end > line_end || e.text.contains('\n') {
        return None;
    }
    let line_idx = code[..e.start].matches('\n').count();
    let line_text = &code[line_start..line_end];
    let key = *nb.lines.get(line_idx)?;
    // Identical lines stored on one JSON line: count which one this is.
    let rank = code
        .split('\n')
        .take(line_idx)
        .enumerate()
        .filter(|(i, l)| nb.lines.get(*i) == Some(&key) && *l == line_text)
        .count();
    let mut seen = 0usize;
    for (rs, re) in json_strings_on_line(raw, key.0) {
        let (decoded, map) = decode_json_string(&raw[rs..re])?;
        let mut off = 0usize;
        for piece in decoded.split('\n') {
            if piece.trim_end_matches('\r') == line_text {
                if seen == rank {
                    let ds = off + (e.start - line_start);
                    let de = off + (e.end - line_start);
                    return Some(Edit {
                        start: rs + *map.get(ds)?,
                        end: rs + *map.get(de)?,
                        text: json_escape(&e.text),
                    });
                }
                seen += 1;
            }
            off += piece.len() + 1;
        }
    }
    None
}

/// The byte ranges of the contents (between the quotes) of the JSON strings
/// that start on 1-based line `line` of `raw`.
fn json_strings_on_line(raw: &str, line: u32) -> Vec<(usize, usize)> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut cur = 1u32;
    let mut i = 0usize;
    while i < b.len() {
        match b[i] {
            b'\n' => cur += 1,
            b'"' => {
                let start = i + 1;
                let mut k = start;
                while k < b.len() && b[k] != b'"' {
                    k += if b[k] == b'\\' { 2 } else { 1 };
                }
                let end = k.min(b.len());
                if cur == line {
                    out.push((start, end));
                }
                // A JSON string holds no raw newline: the line count stays right.
                i = end + 1;
                continue;
            }
            _ => {}
        }
        if cur > line {
            break;
        }
        i += 1;
    }
    out
}

/// A JSON string's contents decoded, and for every decoded byte offset (and
/// the end) the offset in `s` where it starts.
fn decode_json_string(s: &str) -> Option<(String, Vec<usize>)> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len() + 1);
    let mut i = 0usize;
    while i < b.len() {
        let start = i;
        let ch: char = if b[i] == b'\\' {
            let esc = *b.get(i + 1)?;
            i += 2;
            match esc {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = |at: usize| -> Option<u32> {
                        u32::from_str_radix(s.get(at..at + 4)?, 16).ok()
                    };
                    let hi = hex(i)?;
                    i += 4;
                    if (0xD800..0xDC00).contains(&hi) && b.get(i) == Some(&b'\\') {
                        let lo = hex(i + 2)?;
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo.checked_sub(0xDC00)?))?
                    } else {
                        char::from_u32(hi)?
                    }
                }
                _ => return None,
            }
        } else {
            let c = s[i..].chars().next()?;
            i += c.len_utf8();
            c
        };
        for _ in 0..ch.len_utf8() {
            map.push(start);
        }
        out.push(ch);
    }
    map.push(b.len());
    Some((out, map))
}

/// `s` as JSON string contents.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The unified diff of every rewritten file, with `a/` and `b/` paths from the
/// repository root.
pub fn diff(plan: &PinPlan) -> String {
    let mut out = String::new();
    for f in &plan.files {
        let name = format!("{}{}", plan.path_prefix, f.path);
        let d = similar::TextDiff::from_lines(&f.old, &f.new);
        out.push_str(
            &d.unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string(),
        );
    }
    out
}

/// Write the rewritten files, then the lock of the calls as they now read.
pub fn write(plan: &PinPlan) -> Result<LockWrite> {
    let dir = base_dir(&plan.root);
    for f in &plan.files {
        let path = dir.join(&f.path);
        std::fs::write(&path, &f.new).with_context(|| format!("writing {}", path.display()))?;
    }
    let lock_path = dir.join(LOCK_FILE);
    if let Err(e) = Lockfile::read(dir) {
        tracing::warn!("{e}; it was left as it is");
        return Ok(LockWrite::KeptMalformed);
    }
    // The calls as they read now (the pins changed their text), each with the
    // target it had: same file, API and repository, in order.
    let config = Config::load(&plan.root, plan.scan_args.config.as_deref())?;
    let found = discover::discover(&plan.root, &discover_options(&plan.scan_args, &config))?;
    type Key = (String, String, Option<String>);
    let key =
        |s: &crate::model::LoadSite| -> Key { (s.path.clone(), s.api.clone(), s.repo_id.clone()) };
    let mut before: HashMap<Key, std::collections::VecDeque<&CallReport>> = HashMap::new();
    for c in &plan.calls {
        before.entry(key(&c.site)).or_default().push_back(c);
    }
    let now: Vec<CallReport> = found
        .calls
        .into_iter()
        .map(|site| {
            let target = before
                .get_mut(&key(&site))
                .and_then(|q| q.pop_front())
                .and_then(|c| c.target.clone());
            CallReport { site, target }
        })
        .collect();
    let lock = Lockfile::from_calls(&now, &plan.root);
    lock.write(dir)
        .with_context(|| format!("writing {}", lock_path.display()))?;
    Ok(LockWrite::Written(lock.calls.len()))
}

/// The `pin` command.
pub fn run(args: &PinArgs) -> Result<Outcome> {
    let plan = plan(args, &ScanEnv::default())?;
    for e in &plan.unparsed {
        tracing::warn!(
            "{}: not rewritten: it could not be parsed ({})",
            e.path,
            e.message
        );
    }
    for n in &plan.not_pinned {
        tracing::warn!(
            "{}:{}: {} not pinned: {}",
            n.path,
            n.line,
            n.repo_id.as_deref().unwrap_or("<unknown repository>"),
            n.reason
        );
    }
    let files = plan.files.len();
    let count = plan.pinned.len();
    if args.write {
        let lock = write(&plan)?;
        let lock_note = match lock {
            LockWrite::Written(n) => format!("; {LOCK_FILE} records {n} call(s)"),
            LockWrite::KeptMalformed => format!("; {LOCK_FILE} was not updated"),
        };
        tracing::info!(
            target: crate::STATUS,
            "pinned {count} load(s) in {files} file(s){lock_note}; {} not pinned, {} pinned already",
            plan.not_pinned.len(),
            plan.already
        );
        if lock == LockWrite::KeptMalformed {
            return Ok(Outcome::Findings);
        }
    } else {
        print!("{}", diff(&plan));
        tracing::info!(
            target: crate::STATUS,
            "would pin {count} load(s) in {files} file(s) (rerun with --write to rewrite them and update {LOCK_FILE}); {} not pinned, {} pinned already",
            plan.not_pinned.len(),
            plan.already
        );
    }
    Ok(if plan.not_pinned.is_empty() && plan.unparsed.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_edits_touch_only_what_changes() {
        let e = minimal_edit("f(\"a/b\")", "f(\"a/b\", revision=\"c0\")", 10);
        assert_eq!(
            (e.start, e.end, e.text.as_str()),
            (17, 17, ", revision=\"c0\"")
        );
        let e = minimal_edit("f(x, revision=R)", "f(x, revision=\"c0\")", 0);
        assert_eq!((e.start, e.end, e.text.as_str()), (14, 15, "\"c0\""));
        let e = minimal_edit("aa", "aaa", 0);
        assert_eq!((e.start, e.end, e.text.as_str()), (2, 2, "a"));
    }

    #[test]
    fn json_strings_decode_with_their_offsets() {
        let (d, map) = decode_json_string(r#"a\"b\u00e9\n"#).unwrap();
        assert_eq!(d, "a\"bé\n");
        assert_eq!(map[0], 0);
        assert_eq!(map[1], 1);
        assert_eq!(map[2], 3);
        assert_eq!(map[3], 4);
        assert_eq!(map[5], 10);
        assert_eq!(*map.last().unwrap(), 12);
        assert_eq!(json_escape("x=\"1\"\\"), r#"x=\"1\"\\"#);
        let line = "  \"a\": [\"x\\\"y\", 1]\n\"z\"";
        let got: Vec<&str> = json_strings_on_line(line, 1)
            .into_iter()
            .map(|(s, e)| &line[s..e])
            .collect();
        assert_eq!(got, ["a", "x\\\"y"]);
    }
}
