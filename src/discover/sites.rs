//! Turn the loader calls of one parsed file into `LoadSite`s: match each call
//! against the catalogue, resolve its id, revision, gate and other arguments.

use std::collections::BTreeMap;
use std::path::Path;

use tree_sitter::{Node, Tree};

use super::catalogue::{self, Kind, Loader};
use super::local_dirs::{self, Links};
use super::pipeline_calls::{self, MethodCall, Origin};
use super::python::Index;
use super::values::{Lit, Resolver, Val, call_arg, repo_type_of};
use crate::model::LoadSite;
use crate::python::{line_of, text};

/// Where a parsed source came from, to map positions back to the file.
pub struct FileCtx<'a> {
    pub rel: &'a str,
    /// The scanned root (a directory there means a local path, not a hub id).
    pub root: &'a Path,
    /// The directory of the file.
    pub dir: &'a Path,
    /// For a notebook: per 0-based source line, (ipynb line, cell).
    pub notebook: Option<&'a [(u32, u32)]>,
}

impl FileCtx<'_> {
    /// 1-based source line -> reported line.
    fn map_line(&self, l: u32) -> u32 {
        match self.notebook {
            Some(map) => map
                .get(l.saturating_sub(1) as usize)
                .map(|(fl, _)| *fl)
                .filter(|fl| *fl > 0)
                .unwrap_or(l),
            None => l,
        }
    }

    fn cell(&self, l: u32) -> Option<u32> {
        self.notebook
            .and_then(|map| map.get(l.saturating_sub(1) as usize))
            .map(|(_, c)| *c)
    }
}

/// Is this string a local path rather than a hub id?
fn is_local_path(s: &str, ctx: &FileCtx<'_>) -> bool {
    let s = s.trim();
    if s.is_empty() {
        return false;
    }
    if s == "."
        || s == ".."
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with('/')
        || s.starts_with('~')
        || s.ends_with('/')
        || s.ends_with('\\')
        || s.contains('\\')
        || s.as_bytes().get(1) == Some(&b':')
    {
        return true;
    }
    // Hub ids never contain `..` or empty segments; a relative folder that exists is local.
    (!s.contains("..")) && (ctx.root.join(s).is_dir() || ctx.dir.join(s).is_dir())
}

/// Where each line of a source starts, so that a call's lines are found
/// without rescanning the file for every call (a file of many loader calls).
pub struct Lines(Vec<usize>);

impl Lines {
    pub fn new(src: &str) -> Lines {
        Lines(
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', src.as_bytes()).map(|i| i + 1))
                .collect(),
        )
    }

    /// Rows `first..=last` (0-based) with the last row's line ending.
    fn rows<'s>(&self, src: &'s str, first: usize, last: usize) -> &'s str {
        let Some(&s) = self.0.get(first) else {
            return "";
        };
        let e = self.0.get(last + 1).copied().unwrap_or(src.len());
        src.get(s..e).unwrap_or("")
    }

    /// One row as `str::lines` gives it (no `\n` or `\r\n`).
    fn row<'s>(&self, src: &'s str, row: usize) -> &'s str {
        let r = self.rows(src, row, row);
        match r.strip_suffix('\n') {
            Some(r) => r.strip_suffix('\r').unwrap_or(r),
            None => r,
        }
    }
}

/// Keyword argument lookup that also sees inside `**dict` splats of literals.
fn kwarg<'t>(
    r: &Resolver<'_, 't>,
    call: Node<'t>,
    src: &[u8],
    names: &[&str],
) -> Option<(Node<'t>, bool)> {
    if let Some(v) = call_arg(call, src, None, names) {
        return Some((v, false));
    }
    let args = call.child_by_field_name("arguments")?;
    let mut cursor = args.walk();
    let splats: Vec<Node<'t>> = args
        .named_children(&mut cursor)
        .filter(|a| a.kind() == "dictionary_splat")
        .collect();
    for s in splats {
        let Some(inner) = s.named_child(0) else {
            continue;
        };
        for (k, v) in r.kwargs_dict(inner, 0) {
            if names.contains(&k.as_str()) {
                return Some((v, true));
            }
        }
    }
    None
}

fn gate_of<'t>(r: &Resolver<'_, 't>, node: Option<Node<'t>>) -> String {
    let Some(n) = node else {
        return "absent".into();
    };
    let vals = r.resolve(n);
    let shown: Vec<Option<String>> = vals.iter().map(|v| v.display()).collect();
    match shown.first() {
        Some(Some(first)) if shown.iter().all(|s| s.as_ref() == Some(first)) => {
            first.to_lowercase()
        }
        _ => "dynamic".into(),
    }
}

fn single_str<'t>(r: &Resolver<'_, 't>, node: Option<Node<'t>>) -> Option<String> {
    let n = node?;
    let vals = r.resolve(n);
    if vals.len() != 1 {
        return None;
    }
    vals[0].display()
}

/// The loader calls of one parsed source.
pub struct FileSites {
    pub calls: Vec<LoadSite>,
    /// The folders its downloads fill, and its loads from folders none of
    /// them fills (linked across files by `local_dirs::link_across`).
    pub links: Links,
    /// Value-resolution steps taken.
    pub steps: u64,
    /// Names whose bindings, call sites or fields were consulted, and names
    /// that alias a loader: the words sliced discovery must parse around
    /// (empty unless `sliced`).
    pub asked: Vec<String>,
}

/// Find every loader call in one parsed file. `sliced`: the source is a slice
/// and the caller needs `FileSites::asked` to extend it.
pub fn sites(tree: &Tree, src: &str, ctx: &FileCtx<'_>, sliced: bool) -> FileSites {
    let bytes = src.as_bytes();
    let idx = Index::build(tree, bytes);
    if sliced {
        idx.track_asked();
    }
    let line_map = |l: u32| ctx.map_line(l);
    let r = Resolver::new(&idx, &line_map);
    let lines = Lines::new(src);
    let mut out = Vec::new();
    let mut hits = Vec::new();
    let mut links = Links::default();
    let mut methods = Vec::new();
    for &call in &idx.calls {
        let Some(f) = call.child_by_field_name("function") else {
            continue;
        };
        // `pipe.load_components(...)`: a method of a modular pipeline object.
        if let Some(m) = pipeline_calls::method_call(&r, call) {
            methods.push((call, m));
            continue;
        }
        // A loader's last name survives any aliasing of the names before it.
        if f.kind() == "attribute"
            && !f
                .child_by_field_name("attribute")
                .is_some_and(|a| catalogue::is_final_name(text(a, bytes)))
        {
            continue;
        }
        let mut hit = None;
        for q in idx.qualify(f, 0) {
            if let Some(h) = catalogue::lookup(&q) {
                hit = Some(h);
                break;
            }
        }
        if hit.is_none()
            && f.kind() == "attribute"
            && f.child_by_field_name("attribute").map(|a| text(a, bytes)) == Some("generate")
            && call_arg(call, bytes, None, &["custom_generate"]).is_some()
        {
            hit = Some((
                &catalogue::GENERATE,
                catalogue::GENERATE.api.to_string(),
                None,
            ));
        }
        if hit.is_none()
            && f.kind() == "attribute"
            && f.child_by_field_name("attribute").map(|a| text(a, bytes))
                == Some("set_attention_backend")
        {
            hit = Some((
                &catalogue::DIFFUSERS_SET_BACKEND,
                catalogue::DIFFUSERS_SET_BACKEND.api.to_string(),
                None,
            ));
        }
        let Some((loader, api, class)) = hit else {
            continue;
        };
        if loader.kind == Kind::Snapshot {
            let line = ctx.map_line(line_of(call));
            links
                .downloads
                .extend(local_dirs::downloads(&r, call, loader, ctx.rel, line));
        }
        hits.push((call, loader, api, class));
    }
    // Downloads first: a load may come before the download of its folder (a
    // helper defined above the code that fills the folder).
    for (call, loader, api, class) in hits {
        out.extend(one_call(
            &r,
            call,
            (src, &lines),
            ctx,
            (loader, api, class),
            &mut links,
        ));
    }
    for (call, m) in methods {
        out.extend(pipeline_method_sites(
            &r,
            call,
            m,
            (src, &lines),
            ctx,
            &mut links,
        ));
    }
    let mut asked = idx.asked();
    if sliced {
        for (name, quals) in idx.aliases() {
            if quals.iter().any(|q| catalogue::lookup(q).is_some()) {
                asked.push(name.to_string());
            }
        }
    }
    FileSites {
        calls: out,
        links,
        steps: r.steps(),
        asked,
    }
}

fn one_call<'t>(
    r: &Resolver<'_, 't>,
    call: Node<'t>,
    (src, lines): (&str, &Lines),
    ctx: &FileCtx<'_>,
    (loader, api, class): (&Loader, String, Option<String>),
    links: &mut Links,
) -> Vec<LoadSite> {
    let bytes = src.as_bytes();
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    if let Some(c) = &class
        && (api.ends_with(".from_pretrained") || api.ends_with(".from_config"))
    {
        args.insert("auto_class".into(), c.clone());
    }
    for k in loader.extra_kw {
        if let Some((n, _)) = kwarg(r, call, bytes, &[k])
            && let Some(v) = single_str(r, Some(n))
        {
            args.insert((*k).to_string(), v);
        }
    }
    // Whether pickle weights load at all (resolve::weights): a literal bool, or
    // `dynamic` (then the pickles that `False` would load are scanned).
    if let Some((n, _)) = kwarg(r, call, bytes, &["use_safetensors"]) {
        args.insert("use_safetensors".into(), gate_of(r, Some(n)));
    }
    // transformers `use_fast=` (v4 picks the slow tokenizer, image processors
    // their PIL backend): a literal bool or `dynamic`.
    if let Some((n, _)) = kwarg(r, call, bytes, &["use_fast"]) {
        args.insert("use_fast".into(), gate_of(r, Some(n)));
    }
    // peft `is_trainable=` (prompt tuning's text init loads a tokenizer only
    // when trainable): a literal bool or `dynamic`.
    if loader.family == catalogue::Family::Peft
        && let Some((n, _)) = kwarg(r, call, bytes, &["is_trainable"])
    {
        args.insert("is_trainable".into(), gate_of(r, Some(n)));
    }
    // sentence-transformers: `model_kwargs={"code_revision": ...}`.
    if let Some((mk, _)) = kwarg(r, call, bytes, &["model_kwargs"]) {
        for (k, v) in r.kwargs_dict(mk, 0) {
            if k == "code_revision"
                && let Some(v) = single_str(r, Some(v))
            {
                args.insert(k, v);
            }
        }
    }
    // PaddleHub `Module(..., ignore_env_mismatch=)`: whether the `/info`
    // fallback installs a module the environment does not meet.
    if loader.kind == Kind::PaddleModule
        && let Some((n, _)) = kwarg(r, call, bytes, &["ignore_env_mismatch"])
    {
        args.insert("ignore_env_mismatch".into(), gate_of(r, Some(n)));
    }
    // A `source=`/`branch=` that is not one literal decides where the code
    // comes from: the resolver must not fall back to the server's module.
    if loader.kind == Kind::PaddleModule {
        for k in ["source", "branch"] {
            if kwarg(r, call, bytes, &[k]).is_some() && !args.contains_key(k) {
                args.insert(format!("{k}_unresolved"), "true".into());
            }
        }
    }
    let source = args.get("source").cloned();
    match loader.kind {
        Kind::GithubHub if source.as_deref() == Some("local") => return Vec::new(),
        // `Module.__new__` takes `name` first and ignores `directory` then
        // (`paddlehub/module/module.py:392-404`, 2.4.0): only a call without
        // `name` loads local code.
        Kind::PaddleModule
            if kwarg(r, call, bytes, &["directory"]).is_some()
                && kwarg(r, call, bytes, &["name"]).is_none() =>
        {
            return Vec::new();
        }
        _ => {}
    }
    let gate_node = loader
        .gate_kw
        .and_then(|g| kwarg(r, call, bytes, &[g]))
        .map(|(n, _)| n);
    let mut gate = gate_of(r, gate_node);
    if loader.gate_kw.is_none() {
        gate = "absent".into();
    }
    // diffusers community pipelines (a bare name) run with no trust flag at all.
    if let Some(cp) = args.get("custom_pipeline")
        && !cp.contains('/')
        && !cp.ends_with(".py")
        && !is_local_path(cp, ctx)
    {
        gate = "absent".into();
    }
    let revision = loader
        .rev_kw
        .iter()
        .find_map(|k| kwarg(r, call, bytes, &[k]))
        .and_then(|(n, _)| single_str(r, Some(n)));
    let mut repo_type = loader.repo_type;
    if loader.kind == Kind::Snapshot
        && let Some(t) =
            kwarg(r, call, bytes, &["repo_type"]).and_then(|(n, _)| single_str(r, Some(n)))
    {
        repo_type = repo_type_of(&t);
    }
    match loader.kind {
        Kind::Pipeline => {
            if let Some(t) =
                call_arg(call, bytes, Some(0), &["task"]).and_then(|n| single_str(r, Some(n)))
            {
                args.insert("task".into(), t);
            }
        }
        Kind::GithubHub if !api.ends_with(".list") => {
            if let Some(m) =
                call_arg(call, bytes, Some(1), &["model"]).and_then(|n| single_str(r, Some(n)))
            {
                args.insert("model".into(), m);
            }
        }
        _ => {}
    }
    if loader.kind == Kind::PaddleModule
        && let Some(v) = &revision
    {
        args.insert("version".into(), v.clone());
    }

    // The column in code points, as everywhere (`callsite::line_col`), counted
    // on the call's own line: the file is not rescanned for every call.
    let start = call.start_position();
    let line_src = lines.row(src, start.row);
    let (_, column) = crate::callsite::line_col(line_src.as_bytes(), start.column);
    let sline = u32::try_from(start.row + 1).unwrap_or(u32::MAX);
    let end = call.end_position();
    let eline = u32::try_from(end.row + 1).unwrap_or(u32::MAX);
    let mut base = LoadSite {
        path: ctx.rel.to_string(),
        line: ctx.map_line(sline),
        column,
        cell: ctx.cell(sline),
        end_line: ctx.map_line(eline),
        platform: loader.platform,
        family: loader.family,
        api,
        repo_id: None,
        repo_type,
        revision: revision.clone(),
        pinned: false,
        gate,
        resolution: String::new(),
        args,
        source_line: line_src.trim().to_string(),
        // The call's own lines, renumbered from 1.
        suppress: crate::callsite::suppressions(
            lines.rows(src, start.row, end.row),
            1,
            eline.saturating_sub(sline) + 1,
        ),
    };

    let id_node = call_arg(call, bytes, loader.id_pos, loader.id_kw)
        .or_else(|| kwarg(r, call, bytes, loader.id_kw).map(|(n, _)| n));
    let vals: Vec<Val> = match (loader.kind, id_node) {
        (Kind::MmConfig, n) => {
            let mut s = base.clone();
            if let Some(p) = single_str(r, n) {
                s.args.insert("config".into(), p);
            }
            s.resolution = "local config file".into();
            return vec![finish(s)];
        }
        (Kind::Pipeline, None) => return Vec::new(),
        (Kind::FromConfig, None) => {
            if base.gate == "absent" || base.gate == "false" {
                return Vec::new();
            }
            // `from_config(cfg)` imports `cfg.auto_map` code from
            // `cfg._name_or_path` (`auto_factory.py` `from_config`): the repo of
            // the `X.from_pretrained(...)` that made `cfg`, when that is visible.
            match config_origin(r, call) {
                Some((vals, rev)) => {
                    base.revision = rev;
                    vals
                }
                None => {
                    let mut s = base.clone();
                    s.resolution = "from_config: the repo of the config object".into();
                    return vec![finish(s)];
                }
            }
        }
        (_, None) => vec![Val {
            lit: Lit::Unknown,
            how: "no repo id argument".into(),
        }],
        (_, Some(n)) => r.resolve(n),
    };

    let mut out = Vec::new();
    for v in vals {
        let mut s = base.clone();
        s.resolution = v.how.to_string();
        match v.lit {
            Lit::Str(id) => {
                // A folder a download fills is that download's repo, whatever
                // the folder's name looks like.
                if local_dirs::reads_a_folder(loader.kind) {
                    let filled = links.find(&id);
                    if !filled.is_empty() {
                        for d in filled {
                            push_new(&mut out, finish(local_dirs::link(&s, &id, d)));
                        }
                        continue;
                    }
                }
                let local = is_local_path(&id, ctx);
                if local_dirs::reads_a_folder(loader.kind) {
                    links.keep(s.clone(), &id, !local);
                }
                if local {
                    continue;
                }
                if loader.kind == Kind::GithubHub {
                    match id.split_once(':') {
                        Some((repo, rf)) => {
                            s.repo_id = Some(repo.to_string());
                            s.revision = Some(rf.to_string());
                        }
                        None => s.repo_id = Some(id),
                    }
                } else {
                    s.repo_id = Some(id);
                }
            }
            Lit::Snap(snap) => {
                s.platform = snap.platform;
                s.repo_type = snap.repo_type;
                s.repo_id = snap.repo_id.clone();
                // The folder holds what the download fetched: its revision,
                // or the default branch. A `revision=` on a load from a local
                // folder is ignored (transformers reads the folder as is), so
                // it never pins a download made without one.
                s.revision = snap.revision.clone();
                s.args.insert("snapshot_of".into(), snap.api.clone());
            }
            Lit::Unknown | Lit::Cycle => {
                s.resolution = format!("unresolved: {}", v.how);
            }
            // `pipeline(model=AutoModel.from_pretrained(...))`: that load is its own entry.
            Lit::Loaded(_) => continue,
            Lit::None => {
                s.resolution = format!("unresolved: {} is None", v.how);
            }
            Lit::Bool(_) | Lit::Num(_) => {
                s.resolution = format!("not a repo id: {}", v.how);
            }
        }
        push_new(&mut out, finish(s));
    }
    // Hub kernels the call loads through its arguments (`kernel_calls`).
    if loader.family == catalogue::Family::Kernels && base.api.starts_with("diffusers.") {
        out = out
            .into_iter()
            .filter_map(|s| match s.repo_id {
                None => Some(s),
                Some(_) => super::kernel_calls::diffusers_backend_site(s).map(finish),
            })
            .collect();
    }
    let model = out.first().cloned().unwrap_or(base);
    let kw = |names: &[&str]| kwarg(r, call, bytes, names).map(|(n, _)| n);
    out.extend(super::kernel_calls::transformers_kernels(r, &model, &kw));
    out
}

/// `pipe.load_components(...)` / `pipe.load_default_components(...)`: one
/// site per modular pipeline the receiver may be, with that pipeline's repo
/// and revision and this call's own `trust_remote_code` (the one diffusers
/// forwards to each component). A receiver that cannot be traced is still
/// reported when the call may trust remote code (its repo unknown: fail closed).
fn pipeline_method_sites<'t>(
    r: &Resolver<'_, 't>,
    call: Node<'t>,
    m: MethodCall<'t>,
    (src, lines): (&str, &Lines),
    ctx: &FileCtx<'_>,
    links: &mut Links,
) -> Vec<LoadSite> {
    let bytes = src.as_bytes();
    let gate = gate_of(
        r,
        kwarg(r, call, bytes, &["trust_remote_code"]).map(|(n, _)| n),
    );
    // Where this call is: the pipeline's sites are moved here.
    let here = {
        let start = call.start_position();
        let line_src = lines.row(src, start.row);
        let (_, column) = crate::callsite::line_col(line_src.as_bytes(), start.column);
        let sline = u32::try_from(start.row + 1).unwrap_or(u32::MAX);
        let eline = u32::try_from(call.end_position().row + 1).unwrap_or(u32::MAX);
        (
            ctx.map_line(sline),
            column,
            ctx.cell(sline),
            ctx.map_line(eline),
            line_src.trim().to_string(),
            crate::callsite::suppressions(
                lines.rows(src, start.row, call.end_position().row),
                1,
                eline.saturating_sub(sline) + 1,
            ),
        )
    };
    let move_here = |s: &mut LoadSite, api: String| {
        s.api = api;
        (s.line, s.column, s.cell, s.end_line) = (here.0, here.1, here.2, here.3);
        s.source_line = here.4.clone();
        s.suppress = here.5.clone();
        s.gate = gate.clone();
        s.family = catalogue::Family::Diffusers;
        s.args.remove("auto_class");
    };
    // `load_components(names)` and `revision=` (one value for every
    // component, or a dict by name with an optional "default").
    let mut extra: BTreeMap<String, String> = BTreeMap::new();
    if m.method == "load_components"
        && let Some(n) = call_arg(call, bytes, Some(0), &["names"])
        && let Some(names) = literal_names(r, n)
    {
        extra.insert(pipeline_calls::ARG_NAMES.into(), names.join(","));
    }
    if let Some((n, _)) = kwarg(r, call, bytes, &["revision"]) {
        let by_name = r.kwargs_dict(n, 0);
        if by_name.is_empty() {
            if let Some(v) = single_str(r, Some(n)) {
                extra.insert(format!("{}default", pipeline_calls::ARG_REVISION), v);
            }
        } else {
            for (k, v) in by_name {
                if let Some(v) = single_str(r, Some(v)) {
                    extra.insert(format!("{}{k}", pipeline_calls::ARG_REVISION), v);
                }
            }
        }
    }
    let method_api = |made: &str| {
        let class = made
            .strip_prefix("diffusers.")
            .and_then(|a| a.split('.').next())
            .filter(|c| c.ends_with("ModularPipeline"))
            .unwrap_or("ModularPipeline");
        format!("diffusers.{class}.{}", m.method)
    };
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for o in pipeline_calls::origins(r, m.receiver) {
        match o {
            Origin::Made {
                call: made,
                loader,
                api,
                how,
            } => {
                // The pipeline's own load is reported at its call; its folder
                // links are not kept twice.
                let kept = links.unlinked.len();
                let sites = one_call(
                    r,
                    made,
                    (src, lines),
                    ctx,
                    (loader, api.clone(), None),
                    links,
                );
                links.unlinked.truncate(kept);
                for mut s in sites.into_iter().filter(|s| s.api == api) {
                    move_here(&mut s, method_api(&api));
                    s.args.extend(extra.clone());
                    s.resolution = format!(
                        "receiver `{}` <- {how} <- {}",
                        text(m.receiver, bytes),
                        s.resolution
                    );
                    push_new(&mut out, finish(s));
                }
            }
            Origin::Other(_) => {}
            Origin::Unknown(how) => unknown.push(how),
        }
    }
    if out.is_empty() && !unknown.is_empty() && gate != "absent" && gate != "false" {
        let start = call.start_position();
        let mut s = LoadSite {
            path: ctx.rel.to_string(),
            line: 0,
            column: 0,
            cell: None,
            end_line: 0,
            platform: crate::model::Platform::Huggingface,
            family: catalogue::Family::Diffusers,
            api: String::new(),
            repo_id: None,
            repo_type: crate::model::RepoType::Model,
            revision: None,
            pinned: false,
            gate: String::new(),
            resolution: format!(
                "unresolved: the pipeline `{}` (line {}) is not a ModularPipeline.from_pretrained result seen in this file ({})",
                text(m.receiver, bytes),
                start.row + 1,
                unknown.join("; ")
            ),
            args: BTreeMap::new(),
            source_line: String::new(),
            suppress: None,
        };
        move_here(&mut s, method_api(""));
        out.push(finish(s));
    }
    out
}

/// A literal component name or list of names (`"unet"`, `["unet", "vae"]`).
fn literal_names<'t>(r: &Resolver<'_, 't>, n: Node<'t>) -> Option<Vec<String>> {
    if let Some(s) = r.single(n).and_then(|v| v.as_str().map(str::to_string)) {
        return Some(vec![s]);
    }
    let list = r.container(n, 0).filter(|c| c.kind() != "dictionary")?;
    let mut cursor = list.walk();
    let items: Vec<Node<'t>> = list.named_children(&mut cursor).collect();
    items
        .into_iter()
        .map(|i| r.single(i).and_then(|v| v.as_str().map(str::to_string)))
        .collect()
}

/// Add `s` unless the call already has it: two ways to one repo (a literal
/// and a snapshot of it, two call sites of a helper) are one call to check,
/// and so are two ways to an unknown one; the first way found is shown.
fn push_new(out: &mut Vec<LoadSite>, s: LoadSite) {
    if !out.iter().any(|o| {
        (&o.repo_id, &o.revision, o.platform, o.repo_type)
            == (&s.repo_id, &s.revision, s.platform, s.repo_type)
    }) {
        out.push(s);
    }
}

/// The repo id values and revision of the `*.from_pretrained(...)` call whose
/// result is the config passed to `from_config` (directly or through a name).
fn config_origin<'t>(r: &Resolver<'_, 't>, call: Node<'t>) -> Option<(Vec<Val>, Option<String>)> {
    let bytes = r.index().src;
    let mut n = call_arg(call, bytes, Some(0), &["config"])?;
    for _ in 0..6 {
        match n.kind() {
            "identifier" => match r.index().lookup(text(n, bytes), n)?.kind {
                super::python::BindKind::Assign(rhs) => n = rhs,
                _ => return None,
            },
            "parenthesized_expression" => n = n.named_child(0)?,
            _ => break,
        }
    }
    if n.kind() != "call" {
        return None;
    }
    let f = text(n.child_by_field_name("function")?, bytes);
    if !f.ends_with(".from_pretrained") {
        return None;
    }
    let id = call_arg(n, bytes, Some(0), &["pretrained_model_name_or_path"])?;
    let rev = call_arg(n, bytes, None, &["revision"]).and_then(|v| single_str(r, Some(v)));
    let vals = r
        .resolve(id)
        .into_iter()
        .map(|mut v| {
            v.how = format!(
                "from_config: the config from {f}() (line {}) <- {}",
                n.start_position().row + 1,
                v.how
            )
            .into();
            v
        })
        .collect();
    Some((vals, rev))
}

/// Complete a site: whether its revision pins it.
pub fn finish(mut s: LoadSite) -> LoadSite {
    s.pinned = if s.family == catalogue::Family::PaddleModule {
        // An exact module version names one immutable archive, whose digest
        // the lock records (the target's commit is `version+sha256:...`); a
        // range or no version takes whatever the server lists first, and a
        // git `source=` runs that repository's branch, not the version.
        !s.args.contains_key("source")
            && s.revision
                .as_deref()
                .is_some_and(crate::hub::paddlehub::is_exact_version)
    } else {
        s.revision.as_deref().is_some_and(crate::hub::is_commit)
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_what_str_lines_gives() {
        for src in [
            "a\nbc\r\n\nd",
            "a\n",
            "",
            "x\r\ny\r\n",
            "é\nf(1,\n  2)  # c\n",
        ] {
            let lines = Lines::new(src);
            let want: Vec<&str> = src.lines().collect();
            for (i, w) in want.iter().enumerate() {
                assert_eq!(lines.row(src, i), *w, "{src:?} row {i}");
            }
            assert_eq!(lines.row(src, want.len() + 1), "");
        }
        let src = "a\nf(  # hubwarden: ignore[x]\n  1)\nb\n";
        let lines = Lines::new(src);
        assert_eq!(lines.rows(src, 1, 2), "f(  # hubwarden: ignore[x]\n  1)\n");
        assert_eq!(
            crate::callsite::suppressions(lines.rows(src, 1, 2), 1, 2),
            crate::callsite::suppressions(src, 2, 3)
        );
    }
}
