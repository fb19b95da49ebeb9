//! Pickle scanner: reads a weights file the way `torch.load` reads it (zip checkpoints
//! through torch's own zip reader and, to catch archives built to fool scanners, through
//! Python's `zipfile` too; legacy pickle sequences; the pre-1.0 tar format), walks every
//! pickle that would be loaded without loading it, and checks each global it imports
//! against an exact `module.qualname` safe list: a global that runs (called, or handed
//! to a call) and is not on the list is an error; one that is only imported is a warning.

pub mod legacy;
pub mod npy;
pub mod source;
pub mod walker;
pub mod zip;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use self::source::{Missing, Source, Sparse, Whole};
use self::walker::{Budget, CAPS, End, StreamReport};
use super::Hit;
use super::error::RuleError;
use crate::model::{Engine, ExecContext, RuleMeta};

/// Most bytes of pickle streams read from the start of a legacy file.
pub const MAX_SEQUENCE_BYTES: u64 = 8 << 20;
/// Legacy `torch.load` unpickles five pickles before the raw storages.
const LEGACY_PICKLES: usize = 5;
/// Most members of one archive walked as pickles.
const MAX_MEMBERS: usize = 32;
/// Most members of an `.npz` read (each one's header decides whether it is a pickle).
const MAX_NPZ_MEMBERS: usize = 1024;

/// The safe list (exact `module.qualname`) and the deny list (`module.name` or
/// `module.*`), from `rules/pickle.yml` and any `--rules` folder.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickleLists {
    #[serde(default)]
    pub safe: Vec<String>,
    #[serde(default)]
    pub dangerous: Vec<String>,
    #[serde(skip)]
    safe_set: HashSet<String>,
}

impl PickleLists {
    pub(crate) fn merge(&mut self, origin: &str, text: &str) -> Result<(), RuleError> {
        let more: PickleLists = serde_yaml::from_str(text).map_err(|e| RuleError {
            file: origin.to_string(),
            line: e.location().map_or(0, |l| l.line()),
            message: e.to_string(),
        })?;
        let line_of = |p: &str| {
            text.lines()
                .position(|l| l.contains(p))
                .map_or(0, |i| i + 1)
        };
        for p in &more.safe {
            if p.is_empty()
                || p.contains(char::is_whitespace)
                || !p.contains('.')
                || p.contains('*')
            {
                return Err(RuleError {
                    file: origin.to_string(),
                    line: line_of(p),
                    message: format!(
                        "safe pickle global {p:?} must be an exact `module.qualname` (no wildcards: an attribute path through a safe name is not safe)"
                    ),
                });
            }
        }
        for p in &more.dangerous {
            if p.is_empty() || p.contains(char::is_whitespace) || !p.contains('.') {
                return Err(RuleError {
                    file: origin.to_string(),
                    line: line_of(p),
                    message: format!(
                        "dangerous pickle global {p:?} must be `module.name` or `module.*`"
                    ),
                });
            }
        }
        self.safe_set.extend(more.safe.iter().cloned());
        self.safe.extend(more.safe);
        self.dangerous.extend(more.dangerous);
        Ok(())
    }

    /// Dangerous wins over safe (a user's safe list cannot hide `os.system`).
    pub fn classify(&self, global: &str) -> Verdict {
        if self.dangerous.iter().any(|p| deny_matches(p, global)) {
            Verdict::Dangerous
        } else if self.safe_set.contains(global) || self.safe.iter().any(|s| s == global) {
            Verdict::Safe
        } else {
            Verdict::Unknown
        }
    }
}

/// Deny patterns: `module.*` covers the module, its submodules and any attribute path
/// through them; anything else is exact.
fn deny_matches(pattern: &str, global: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(module) => global
            .strip_prefix(module)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == global,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Safe,
    Unknown,
    Dangerous,
}

/// One pickle that the loader would unpickle, walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// `archive/data.pkl`, `legacy pickle 2 of 5`, `tar member pickle`, ...
    pub label: String,
    pub report: StreamReport,
    /// Read only if something before it fails (its breaks are expected and not reported).
    pub speculative: bool,
}

/// How a weights file reads, and what its pickles do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// `zip`, `tar`, `pickle` (a legacy sequence or a plain pickle).
    pub format: &'static str,
    pub streams: Vec<Stream>,
    /// Readers that disagree about the container (built on purpose to fool scanners).
    pub mismatches: Vec<String>,
    /// Why the file cannot be verified (a cap, an unreadable container).
    pub unverified: Option<String>,
    /// Ranges still needed (only for a sparse image being fetched).
    pub missing: Vec<Missing>,
}

impl Analysis {
    fn need(&mut self, m: Missing) {
        if !self.missing.contains(&m) {
            self.missing.push(m);
        }
    }
    fn cap(&mut self, why: String) {
        self.unverified.get_or_insert(why);
    }
}

/// Analyse the content the fetcher produced for a weights file: a serialised sparse
/// image of the ranges read, or the whole file.
pub fn analyze(bytes: &[u8]) -> Analysis {
    if Sparse::is_encoded(bytes) {
        match Sparse::decode(bytes) {
            Some(sp) => {
                let mut a = analyze_source(&sp);
                if !a.missing.is_empty() {
                    a.cap(format!(
                        "{} byte range(s) of the checkpoint were not fetched",
                        a.missing.len()
                    ));
                }
                a
            }
            None => Analysis {
                format: "pickle",
                unverified: Some("corrupt cached checkpoint image".to_string()),
                ..Analysis::default()
            },
        }
    } else {
        analyze_source(&Whole(bytes))
    }
}

/// Why a fetched weights file cannot be verified (walker caps, unreadable container).
pub fn unverified(bytes: &[u8]) -> Option<String> {
    analyze(bytes).unverified
}

/// Analyse any byte source; `missing` lists what a sparse source still lacks.
pub fn analyze_source<S: Source + ?Sized>(src: &S) -> Analysis {
    let mut a = Analysis {
        format: "pickle",
        ..Analysis::default()
    };
    let mut budget = Budget::default();
    let head = match src.get(0, 4) {
        Ok(h) => h,
        Err(m) => {
            a.need(m);
            return a;
        }
    };
    if head == b"PK\x03\x04" {
        // `numpy.load` reads an `.npz` (a zip of `.npy`), torch a zip with a data.pkl.
        let names = match zip::zipfile_dir(src) {
            Ok(es) => es.into_iter().map(|e| e.filename).collect(),
            // The torch reading below asks for its own ranges in the same round.
            Err(zip::ZErr::Missing(m)) => {
                a.need(m);
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let npy_members = names.iter().any(|n: &String| n.ends_with(".npy"));
        let torch = names
            .iter()
            .any(|n| n.to_ascii_lowercase().ends_with("data.pkl"));
        if npy_members && !torch {
            a.format = "npz";
            npz(src, &mut a, &mut budget);
            return a;
        }
        a.format = "zip";
        zip_checkpoint(src, &mut a, &mut budget);
        if npy_members {
            npz(src, &mut a, &mut budget);
        }
        return a;
    }
    match src.get(0, npy::MAGIC.len() as u64) {
        Ok(m) if m == npy::MAGIC => {
            a.format = "npy";
            npy_at(src, 0, "npy object array", &mut a, &mut budget);
            return a;
        }
        Ok(_) => {}
        Err(m) => {
            a.need(m);
            return a;
        }
    }
    match legacy::tar_members(src) {
        Err(m) => a.need(m),
        Ok(Some(members)) => {
            a.format = "tar";
            tar_checkpoint(src, &members, &mut a, &mut budget);
            // If the tar path raises a TarError later, torch reads the file again as
            // a pickle sequence: walk it too, without reporting its breaks.
            sequence(src, 0, "pickle", true, &mut a, &mut budget);
        }
        Ok(None) => sequence(src, 0, "pickle", false, &mut a, &mut budget),
    }
    a
}

/// A `.npy` at `base`: its object array's pickle walked, a plain array nothing.
fn npy_at<S: Source + ?Sized>(
    src: &S,
    base: u64,
    label: &str,
    a: &mut Analysis,
    budget: &mut Budget,
) {
    match npy::read(src, base) {
        Err(m) => a.need(m),
        // numpy raises before any unpickling; a plain array is raw numbers.
        Ok(npy::Npy::Rejected(_) | npy::Npy::Plain) => {}
        Ok(npy::Npy::Unverified(why)) => a.cap(why),
        Ok(npy::Npy::Pickle(at)) => {
            let limit = at.saturating_add(MAX_SEQUENCE_BYTES).min(src.size());
            if let Some(r) = walk_at(src, at, limit.max(at + 1), a, budget) {
                a.streams.push(Stream {
                    label: label.to_string(),
                    report: r,
                    speculative: false,
                });
            }
        }
    }
}

/// An `.npz` as `numpy.load` reads it (Python's `zipfile`): every member that starts
/// with the `.npy` magic is read as a `.npy`; others come back as raw bytes.
fn npz<S: Source + ?Sized>(src: &S, a: &mut Analysis, budget: &mut Budget) {
    let entries = match zip::zipfile_dir(src) {
        Ok(es) => es,
        Err(zip::ZErr::Missing(m)) => return a.need(m),
        Err(zip::ZErr::Capped(why)) => return a.cap(why),
        // numpy cannot open it: nothing is loaded.
        Err(zip::ZErr::Bad(_)) => return,
    };
    let mut names: Vec<&str> = entries.iter().map(|e| e.filename.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() > MAX_NPZ_MEMBERS {
        return a.cap(format!(
            "npz archive with more than {MAX_NPZ_MEMBERS} members"
        ));
    }
    for name in names {
        let Some(e) = zip::zipfile_lookup(&entries, name) else {
            continue;
        };
        match zip::zipfile_extract(src, e) {
            Ok(d) if d.starts_with(npy::MAGIC) => {
                // A member in memory never misses bytes.
                npy_at(
                    &Whole(&d),
                    0,
                    &format!("{name} (npy object array)"),
                    a,
                    budget,
                );
            }
            Ok(_) => {}
            Err(zip::ZErr::Missing(m)) => a.need(m),
            Err(zip::ZErr::Capped(why)) => a.cap(why),
            // numpy raises for this member when it is read.
            Err(zip::ZErr::Bad(_)) => {}
        }
    }
}

/// Walk one pickle starting at `at` in `src`; None when bytes are missing or capped.
fn walk_at<S: Source + ?Sized>(
    src: &S,
    at: u64,
    limit: u64,
    a: &mut Analysis,
    budget: &mut Budget,
) -> Option<StreamReport> {
    let run = match src.run_from(at) {
        Ok(r) => r,
        Err(m) => {
            a.need(Missing {
                start: m.start,
                len: limit.saturating_sub(m.start).max(1),
            });
            return None;
        }
    };
    let avail = (run.len() as u64).min(limit.saturating_sub(at));
    let r = walker::walk(&run[..avail as usize], at as usize, CAPS, budget);
    if let End::Truncated { .. } = r.end {
        let end = at + avail;
        if end < src.size() && end < limit {
            a.need(Missing {
                start: end,
                len: limit.min(src.size()) - end,
            });
            return None;
        }
        if end < src.size() {
            a.cap(format!(
                "a pickle at byte {at} runs past the {limit}-byte read cap"
            ));
        }
    }
    if let End::Capped(why) = &r.end {
        a.cap(why.clone());
    }
    Some(r)
}

/// Legacy `torch.load` (and `pickle.load`): pickles back to back from `start`.
fn sequence<S: Source + ?Sized>(
    src: &S,
    start: u64,
    what: &str,
    speculative: bool,
    a: &mut Analysis,
    budget: &mut Budget,
) {
    let limit = MAX_SEQUENCE_BYTES.min(src.size());
    let mut at = start;
    let mut legacy = false;
    for i in 0..LEGACY_PICKLES {
        if at >= src.size() {
            break;
        }
        let Some(r) = walk_at(src, at, limit.max(at + 1), a, budget) else {
            return;
        };
        if i == 0 {
            legacy = matches!(r.end, End::Stop(e) if src.get(at, e as u64 - at).is_ok_and(legacy::is_magic));
        }
        let next = match r.end {
            End::Stop(e) => Some(e as u64),
            _ => None,
        };
        // A stream after the first is read only by the legacy loader (after the magic
        // number) or by code that loads pickles in a loop: its breaks are not findings.
        let label = if i == 0 && !legacy {
            what.to_string()
        } else {
            format!("{what} {} of the legacy sequence", i + 1)
        };
        a.streams.push(Stream {
            label,
            report: r,
            speculative: speculative || (i > 0 && !legacy),
        });
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
}

/// The pre-1.0 tar format: `storages`, `tensors`, then `pickle`.
fn tar_checkpoint<S: Source + ?Sized>(
    src: &S,
    members: &[legacy::TarMember],
    a: &mut Analysis,
    budget: &mut Budget,
) {
    for name in ["storages", "tensors", "pickle"] {
        let Some(m) = legacy::member(members, name) else {
            // torch.load raises KeyError here: nothing after it is read.
            return;
        };
        let end = m.offset.saturating_add(m.size).min(src.size());
        let label = format!("tar member {name}");
        if name == "pickle" {
            if let Some(r) = walk_at(src, m.offset, end, a, budget) {
                a.streams.push(Stream {
                    label,
                    report: r,
                    speculative: false,
                });
            }
            return;
        }
        // A count, then per item a pickle followed by raw bytes.
        let Some(count_r) = walk_at(src, m.offset, end, a, budget) else {
            return;
        };
        let End::Stop(mut at) = count_r.end else {
            a.streams.push(Stream {
                label,
                report: count_r,
                speculative: false,
            });
            return;
        };
        let count_bytes = src
            .get(m.offset, at as u64 - m.offset)
            .ok()
            .map(<[u8]>::to_vec);
        a.streams.push(Stream {
            label: label.clone(),
            report: count_r,
            speculative: false,
        });
        let Some(count) = count_bytes.as_deref().and_then(legacy::simple_int) else {
            a.cap(format!(
                "tar member {name}: item count is not a plain integer"
            ));
            return;
        };
        for i in 0..count.min(1 << 20) {
            let Some(r) = walk_at(src, at as u64, end, a, budget) else {
                return;
            };
            let End::Stop(next) = r.end else {
                a.streams.push(Stream {
                    label: format!("{label} item {}", i + 1),
                    report: r,
                    speculative: false,
                });
                return;
            };
            let raw = if name == "storages" {
                let storage = r.imports.last().map(|g| g.name.clone()).unwrap_or_default();
                let Some(elem) = legacy::element_size(&storage) else {
                    a.cap(format!(
                        "tar member storages: storage type `{storage}` is not a known storage"
                    ));
                    a.streams.push(Stream {
                        label: format!("{label} item {}", i + 1),
                        report: r,
                        speculative: false,
                    });
                    return;
                };
                match src.get(next as u64, 8) {
                    Ok(b) if b.len() == 8 => {
                        let n = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                        8u64.saturating_add(n.saturating_mul(elem))
                    }
                    Ok(_) => return,
                    Err(m) => {
                        a.need(m);
                        return;
                    }
                }
            } else {
                match src.get(next as u64, 4) {
                    Ok(b) if b.len() == 4 => {
                        let ndim = u64::from(u32::from_le_bytes(b.try_into().unwrap_or([0; 4])));
                        8 + 16 * ndim + 8
                    }
                    Ok(_) => return,
                    Err(m) => {
                        a.need(m);
                        return;
                    }
                }
            };
            a.streams.push(Stream {
                label: format!("{label} item {}", i + 1),
                report: r,
                speculative: false,
            });
            at = next.saturating_add(raw as usize);
            if at as u64 >= end {
                break;
            }
        }
        if name == "storages" {
            // storage_views
            if let Some(r) = walk_at(src, at as u64, end, a, budget) {
                a.streams.push(Stream {
                    label: format!("{label} views"),
                    report: r,
                    speculative: false,
                });
            }
        }
    }
}

fn zip_checkpoint<S: Source + ?Sized>(src: &S, a: &mut Analysis, budget: &mut Budget) {
    let torch = zip::torch_read(src);
    let py = zip::zipfile_dir(src);
    for r in [torch.as_ref().err(), py.as_ref().err()]
        .into_iter()
        .flatten()
    {
        match r {
            zip::ZErr::Missing(m) => a.need(*m),
            zip::ZErr::Capped(why) => a.cap(why.clone()),
            zip::ZErr::Bad(_) => {}
        }
    }
    if !a.missing.is_empty() || a.unverified.is_some() {
        return;
    }
    // (label, bytes) of every member to walk, deduplicated by content.
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let add = |label: String, data: Vec<u8>, members: &mut Vec<(String, Vec<u8>)>| {
        if members.len() < MAX_MEMBERS && !members.iter().any(|(_, d)| *d == data) {
            members.push((label, data));
        }
    };
    let mut torch_reads: Vec<(String, Vec<u8>)> = Vec::new();
    if let Ok(t) = &torch {
        for ((record, found), cands) in t.records.iter().zip(&t.candidates) {
            let mut contents: Vec<Vec<u8>> = Vec::new();
            for &i in cands {
                let e = &t.entries[i];
                match zip::miniz_extract(src, e) {
                    Ok(d) => {
                        let label = if Some(i) == *found {
                            e.display()
                        } else {
                            format!("{} (duplicate entry {i})", e.display())
                        };
                        if Some(i) == *found {
                            torch_reads.push((e.display(), d.clone()));
                        }
                        if !contents.contains(&d) {
                            contents.push(d.clone());
                        }
                        add(label, d, &mut members);
                    }
                    Err(zip::ZErr::Missing(m)) => a.need(m),
                    Err(zip::ZErr::Capped(w)) => a.cap(w),
                    Err(zip::ZErr::Bad(w)) if Some(i) == *found => {
                        a.mismatches
                            .push(format!("torch cannot read {}: {w}", e.display()));
                    }
                    Err(zip::ZErr::Bad(_)) => {}
                }
            }
            if contents.len() > 1 {
                a.mismatches.push(format!(
                    "{} entries named {}/{record} (case-insensitively) with different contents; torch reads entry {}",
                    cands.len(),
                    t.folder,
                    found.map_or("none".to_string(), |i| i.to_string())
                ));
            }
            if *record == "data.pkl" && found.is_none() {
                a.mismatches.push(format!(
                    "torch finds no {}/data.pkl in this archive (the folder comes from its first entry, {})",
                    t.folder,
                    t.entries.first().map(zip::Entry::display).unwrap_or_default()
                ));
            }
        }
    }
    if let Ok(pe) = &py {
        // What a zipfile-based scanner reads for the same names.
        for (name, data) in &torch_reads {
            match zip::zipfile_lookup(pe, name) {
                None => a.mismatches.push(format!(
                    "Python's zipfile finds no member {name}, which torch unpickles"
                )),
                Some(e) => match zip::zipfile_extract(src, e) {
                    Ok(d) if d == *data => {}
                    Ok(d) => {
                        a.mismatches.push(format!(
                            "torch and Python's zipfile read different bytes for {name}"
                        ));
                        add(
                            format!("{name} (as Python's zipfile reads it)"),
                            d,
                            &mut members,
                        );
                    }
                    Err(zip::ZErr::Missing(m)) => a.need(m),
                    Err(zip::ZErr::Capped(w)) => a.cap(w),
                    Err(zip::ZErr::Bad(w)) => a.mismatches.push(format!(
                        "Python's zipfile cannot read {name}, which torch unpickles: {w}"
                    )),
                },
            }
        }
        // Every other pickle member zipfile lists (what scanners built on it read).
        let mut names: Vec<&str> = pe
            .iter()
            .map(|e| e.filename.as_str())
            .filter(|n| n.ends_with(".pkl"))
            .collect();
        names.dedup();
        for name in names {
            if torch_reads.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(e) = zip::zipfile_lookup(pe, name) {
                match zip::zipfile_extract(src, e) {
                    Ok(d) => add(
                        format!("{name} (as Python's zipfile reads it)"),
                        d,
                        &mut members,
                    ),
                    Err(zip::ZErr::Missing(m)) => a.need(m),
                    Err(_) => {}
                }
            }
        }
    }
    match (&torch, &py) {
        (Err(zip::ZErr::Bad(t)), Err(zip::ZErr::Bad(p))) => {
            a.cap(format!(
                "zip checkpoint that neither torch ({t}) nor Python's zipfile ({p}) can read"
            ));
        }
        (Err(zip::ZErr::Bad(t)), Ok(_)) => a.mismatches.push(format!(
            "torch cannot open this archive ({t}) but Python's zipfile can"
        )),
        (Ok(_), Err(zip::ZErr::Bad(p))) => a.mismatches.push(format!(
            "Python's zipfile cannot open this archive ({p}) but torch can: scanners built on zipfile skip it"
        )),
        _ => {}
    }
    if !a.missing.is_empty() {
        return;
    }
    if members.is_empty() && a.unverified.is_none() {
        a.cap("zip archive with no pickle that torch would unpickle".to_string());
    }
    for (label, data) in members {
        let r = walker::walk(&data, 0, CAPS, budget);
        if let End::Capped(w) = &r.end {
            a.cap(w.clone());
        }
        a.streams.push(Stream {
            label,
            report: r,
            speculative: false,
        });
    }
}

/// Every walked pickle member of a weights file's content (for tests and tools).
pub fn pickle_bytes(content: &[u8]) -> Vec<(String, Vec<u8>)> {
    let run = |src: &dyn Source| -> Vec<(String, Vec<u8>)> {
        let a = analyze_source(src);
        let mut out = Vec::new();
        if a.format == "zip"
            && let Ok(t) = zip::torch_read(src)
        {
            for (_, found) in &t.records {
                if let Some(i) = found
                    && let Ok(d) = zip::miniz_extract(src, &t.entries[*i])
                {
                    out.push((t.entries[*i].display(), d));
                }
            }
        } else if let Ok(run) = src.run_from(0) {
            out.push(("pickle".to_string(), run.to_vec()));
        }
        out
    };
    match Sparse::decode(content) {
        Some(sp) => run(&sp),
        None => run(&Whole(content)),
    }
}

pub(crate) const DANGEROUS: &str = "pickle-dangerous-global";
pub(crate) const UNKNOWN: &str = "pickle-unknown-global";
pub(crate) const BROKEN: &str = "pickle-malformed";
pub(crate) const MISMATCH: &str = "pickle-container-mismatch";

/// The findings of one weights file's content.
pub(crate) fn hits(
    lists: &PickleLists,
    metas: &BTreeMap<&'static str, RuleMeta>,
    content: &[u8],
) -> Vec<Hit> {
    let a = analyze(content);
    let mut out = Vec::new();
    let mut push = |id: &str, message: String, snippet: String| {
        if let Some(meta) = metas.get(id) {
            out.push(Hit::of(
                meta,
                message,
                super::cap(&snippet),
                ExecContext::Unpickle,
            ));
        }
    };
    // One finding per global name: the worst use over all streams.
    let mut by_name: HashMap<&str, (&Stream, &walker::Import)> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for s in &a.streams {
        for g in &s.report.imports {
            match by_name.get(g.name.as_str()) {
                Some((_, old)) if old.called.is_some() || g.called.is_none() => {}
                Some(_) => {
                    by_name.insert(&g.name, (s, g));
                }
                None => {
                    order.push(&g.name);
                    by_name.insert(&g.name, (s, g));
                }
            }
        }
    }
    for name in order {
        let Some((s, g)) = by_name.get(name) else {
            continue;
        };
        let unknowable = name.contains('?');
        let verdict = if unknowable {
            Verdict::Unknown
        } else {
            lists.classify(name)
        };
        let what = if unknowable {
            format!("a global whose name is computed at load time (`{name}`)")
        } else {
            format!("`{name}`")
        };
        let place = format!("{} at byte {} in {}", g.opcode, g.offset, s.label);
        let snippet = format!("{} {name}", g.opcode);
        match (&g.called, verdict) {
            (_, Verdict::Safe) => {}
            (Some(u), v) => push(
                DANGEROUS,
                format!(
                    "pickle imports {what} ({place}) and runs it: {} at byte {}; {}",
                    u.how,
                    u.offset,
                    if v == Verdict::Dangerous {
                        "it is on the deny list"
                    } else {
                        "it is not on the safe list"
                    }
                ),
                snippet,
            ),
            (None, Verdict::Dangerous) => push(
                DANGEROUS,
                format!(
                    "pickle imports {what} ({place}), which is on the deny list; importing it already runs module code"
                ),
                snippet,
            ),
            (None, Verdict::Unknown) => push(
                UNKNOWN,
                format!(
                    "pickle imports {what} ({place}) without calling it; it is not on the safe list"
                ),
                snippet,
            ),
        }
    }
    for s in &a.streams {
        for c in &s.report.computed {
            push(
                DANGEROUS,
                format!(
                    "pickle {} (byte {} in {}): a computed callable runs",
                    c.what, c.offset, s.label
                ),
                c.what.clone(),
            );
        }
    }
    for m in &a.mismatches {
        push(
            MISMATCH,
            format!("zip checkpoint read differently by torch and by Python's zipfile: {m}"),
            m.clone(),
        );
    }
    for s in a.streams.iter().filter(|s| !s.speculative) {
        let why = match &s.report.end {
            End::Broken { at, why } => format!("{why} at byte {at}"),
            End::Truncated { at } => format!("truncated at byte {at} without STOP"),
            End::Stop(_) | End::Capped(_) => continue,
        };
        push(
            BROKEN,
            format!(
                "pickle stream {} is malformed: {why}; the unpickler stops there and everything before it was scanned ({} globals)",
                s.label,
                s.report.imports.len()
            ),
            why,
        );
    }
    out
}

/// The pickle checks, as rules (metadata in `rules/pickle/<id>.yml`).
pub fn metas() -> Vec<RuleMeta> {
    crate::rulemeta::ordered(
        "pickle",
        Engine::Pickle,
        &[DANGEROUS, UNKNOWN, BROKEN, MISMATCH],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_list_is_exact() {
        let mut l = PickleLists::default();
        l.merge(
            "t",
            "safe: [torch._utils._rebuild_tensor_v2, numpy.dtype]\ndangerous: ['os.*', builtins.eval]",
        )
        .unwrap();
        assert_eq!(l.classify("os.path.join"), Verdict::Dangerous);
        assert_eq!(l.classify("osx.y"), Verdict::Unknown);
        assert_eq!(l.classify("torch._utils._rebuild_tensor_v2"), Verdict::Safe);
        assert_eq!(l.classify("numpy.dtype.__class__"), Verdict::Unknown);
        assert!(l.merge("t", "safe: ['numpy.int*']").is_err());
    }
}
