//! PaddleHub: `Module(name=..., version=...)` installs the module archive's
//! folder as `MODULE_HOME/<moduleinfo name>`, pip-installs its
//! `requirements.txt` and imports `<name>.module` (so `<name>/__init__.py`
//! first) with `MODULE_HOME` on `sys.path`, with no trust gate; paddle
//! `hub.load` runs a GitHub `hubconf.py` like torch.hub, with `main` as
//! default and no gate.

use tree_sitter::{Node, Parser};

use super::closure::{Style, closure};
use super::pyimports::Root;
use super::torch_hub::{self, Hubconf};
use super::{Job, Outcome, ResolveError};
use crate::hub::{RepoSource, Snapshot};
use crate::model::{Assumed, FileKind, HubKind, RepoType};
use crate::python::{string_literal, text};

/// paddle `hub.load/list/help`: paddle uses `main` for GitHub with no detection.
pub(crate) async fn hubconf<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    torch_hub::hubconf(
        job,
        Hubconf {
            default_ref: Some("main"),
            trust_repo: false,
        },
    )
    .await
}

fn join(dir: &str, f: &str) -> String {
    if dir.is_empty() {
        f.to_string()
    } else {
        format!("{dir}/{f}")
    }
}

/// The folder of the snapshot that PaddleHub installs. An archive lists it
/// as its top folder (`hub/archive.rs`); a mirror may hold the folder or its
/// contents. `module_desc.pb` marks a legacy ModuleV1 folder.
fn module_dir(snap: &Snapshot) -> Option<String> {
    let is_module =
        |d: &str| snap.has(&join(d, "module.py")) || snap.has(&join(d, "module_desc.pb"));
    if is_module("") {
        return Some(String::new());
    }
    let mut tops: Vec<&str> = snap
        .files
        .iter()
        .filter_map(|f| f.split_once('/').map(|(t, _)| t))
        .filter(|t| is_module(t))
        .collect();
    tops.dedup();
    match tops.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// The module name `load_module_info` reads from `module.py` without running
/// it: the first top-level class with decorators, its first decorator
/// `moduleinfo(...)`, keyword `name` (`paddlehub/module/module.py:441-475`,
/// 2.4.0). `Err` says why it cannot be read statically (PaddleHub itself
/// raises on a decorator that is not a plain call).
fn moduleinfo_name(src: &[u8]) -> Result<String, &'static str> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .map_err(|_| "no Python parser")?;
    let tree = parser.parse(src, None).ok_or("module.py does not parse")?;
    let root = tree.root_node();
    let mut c = root.walk();
    for top in root.children(&mut c) {
        if top.kind() != "decorated_definition"
            || top
                .child_by_field_name("definition")
                .is_none_or(|d| d.kind() != "class_definition")
        {
            continue;
        }
        let mut dc = top.walk();
        for dec in top.children(&mut dc).filter(|n| n.kind() == "decorator") {
            // `_decorator.func.id`: a call of a bare name, else AttributeError.
            let Some(call) = dec.named_child(0).filter(|n| n.kind() == "call") else {
                return Err("a class decorator is not a call: PaddleHub raises reading it");
            };
            let Some(func) = call
                .child_by_field_name("function")
                .filter(|f| f.kind() == "identifier")
            else {
                return Err("a class decorator is not a call of a bare name");
            };
            if text(func, src) != "moduleinfo" {
                continue;
            }
            let Some(args) = call.child_by_field_name("arguments") else {
                return Err("moduleinfo has no arguments");
            };
            let mut ac = args.walk();
            for kw in args
                .named_children(&mut ac)
                .filter(|n| n.kind() == "keyword_argument")
            {
                let is_name = kw
                    .child_by_field_name("name")
                    .is_some_and(|n| text(n, src) == "name");
                if !is_name {
                    continue;
                }
                return kw
                    .child_by_field_name("value")
                    .and_then(|v| plain_string(v, src))
                    .ok_or("moduleinfo name is not a plain string literal");
            }
            return Err("moduleinfo has no name");
        }
    }
    Err("no class decorated with moduleinfo")
}

/// The value of a str literal as `ast` gives `Constant.s`; f-strings
/// (`JoinedStr`, no `.s`) and bytes are not a name.
fn plain_string(node: Node<'_>, src: &[u8]) -> Option<String> {
    let prefix: String = text(node, src)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_lowercase();
    if prefix.contains(['f', 'b']) {
        return None;
    }
    string_literal(node, src)
}

/// PaddleHub `Module(name=..., version=...)`: the installed folder's
/// `__init__.py` and `module.py`, what they import, and the
/// `requirements.txt` it pip-installs. There is no trust gate.
pub(crate) async fn module<S: RepoSource>(job: &mut Job<'_, S>) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let Some(name) = site.repo_id.clone() else {
        return Err(ResolveError::NotStatic("module name"));
    };
    // `source=`/`branch=` given but not as a literal (discovery says so):
    // which repository runs is unknown, and it is not the server's module.
    if site.args.contains_key("source_unresolved") {
        return Err(ResolveError::NotStatic("PaddleHub source= git URL"));
    }
    // A literal `None` is the default: the server.
    let source = site
        .args
        .get("source")
        .filter(|s| !s.eq_ignore_ascii_case("none"));
    if site.args.contains_key("branch_unresolved") && source.is_some() {
        return Err(ResolveError::NotStatic("PaddleHub git source branch="));
    }
    if let Some(src) = source {
        // `Module(name, source=<git url>)`: the server's module of the same
        // name never runs (`paddlehub/module/manager.py:188-189`, 2.4.0).
        let src = src.clone();
        return git_source(job, &name, &src).await;
    }
    let version = site.args.get("version").cloned().or(site.revision.clone());
    // `ignore_env_mismatch=True` (or a value not known statically) lets the
    // `/info` fallback install a version the environment does not meet
    // (`paddlehub/module/manager.py:267-300`, 2.4.0).
    let ignore_env = site
        .args
        .get("ignore_env_mismatch")
        .is_some_and(|g| !matches!(g.as_str(), "false" | "none" | "0" | "absent"));
    let rev = if ignore_env {
        Some(format!(
            "{}{}",
            version.as_deref().unwrap_or(""),
            crate::hub::paddlehub::IGNORE_ENV_MISMATCH
        ))
    } else {
        version.clone()
    };
    let snap = job
        .primary(HubKind::Paddlehub, RepoType::Module, &name, rev.as_deref())
        .await?;
    // The search item is the first one the installed paddle and paddlehub
    // can run (`server_source.py:89-107`); the hub filters by the declared
    // versions (`deps::paddle_env`). Say which ranges that took.
    let versions = job.opts.declared.versions(&site.path);
    let mut paddle = versions.known("paddlepaddle");
    let gpu = versions.known("paddlepaddle-gpu");
    if paddle.source().is_none() && gpu.source().is_some() {
        paddle = gpu;
    }
    let paddlehub = versions.known("paddlehub");
    let assumed: Vec<Assumed> = [(paddle, "paddle_version"), (paddlehub, "hub_version")]
        .into_iter()
        .map(|(k, field)| Assumed {
            assumption: format!(
                "PaddleHub installs the first search item for {name} whose {field} some {} version in this range meets",
                k.library
            ),
            library: k.library.clone(),
            range: k.range_text(),
            source: k.source(),
        })
        .collect();
    job.assume(assumed);
    let Some(dir) = module_dir(&snap) else {
        return Err(ResolveError::Content(format!(
            "PaddleHub module {name} has no folder with module.py"
        )));
    };
    // `HubModule.load` takes ModuleV1 first when `module_desc.pb` exists
    // (`paddlehub/module/module.py:416-419`, 2.4.0).
    if snap.has(&join(&dir, "module_desc.pb")) {
        module_v1(job, &snap, &dir).await?;
        return Ok(Outcome::Done);
    }
    let module_py = join(&dir, "module.py");
    let src = job.read(&snap, &module_py).await?;
    let folder = dir.rsplit('/').next().unwrap_or("");
    // `_install_from_directory` installs the folder as
    // `_get_normalized_name(module_info.name)` (`-` -> `_`), whatever the
    // archive called it (`paddlehub/module/manager.py:340-368,141-147`).
    let package = match moduleinfo_name(&src) {
        Ok(n) => n.replace('-', "_"),
        Err(why) => {
            let fallback = if folder.is_empty() {
                name.as_str()
            } else {
                folder
            };
            job.note(format!(
                "{module_py}: {why}; imports of the module's own package are read as `{fallback}`"
            ));
            fallback.to_string()
        }
    };
    if !folder.is_empty() && folder != package {
        job.note(format!(
            "{module_py} names the module `{package}`: PaddleHub installs folder {folder} as {package}"
        ));
    }
    let req = join(&dir, "requirements.txt");
    if snap.has(&req) {
        job.add_file(
            &snap,
            &req,
            FileKind::Requirements,
            "pip-installed by PaddleHub".into(),
        )
        .await?;
    }
    let mut entries = Vec::new();
    let init = join(&dir, "__init__.py");
    if snap.has(&init) {
        entries.push((init, format!("PaddleHub imports package {package} on load")));
    }
    entries.push((
        module_py,
        format!("PaddleHub imports {package}.module on load"),
    ));
    // `load_py_module(MODULE_HOME, "<name>.module")` puts MODULE_HOME on
    // `sys.path` (`paddlehub/utils/utils.py:234-253`): the module reaches its
    // own files as `<name>.x` or `.x`. Its own folder comes second: a module
    // that adds it to `sys.path` itself imports siblings bare (conservative).
    let roots = [
        Root::Package {
            name: &package,
            dir: &dir,
        },
        Root::Dir(&dir),
    ];
    closure(job, &snap, entries, Style::Python { roots: &roots }).await?;
    Ok(Outcome::Done)
}

/// A ModuleV1 folder: `ModuleV1.__init__` imports the processor that
/// `module_desc.pb` names with `<dir>/python` on `sys.path`
/// (`load_py_module(python_path, desc.processor_info)`,
/// `paddlehub/compat/module/module_v1.py:57-65`, 2.4.0); the name sits in a
/// protobuf hubwarden does not decode, so every `.py` under `python/` is an
/// entry (over-reports the ones never imported). `requirements.txt` is
/// pip-installed as for any module (`module/manager.py:382-398`).
async fn module_v1<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    dir: &str,
) -> Result<(), ResolveError> {
    let req = join(dir, "requirements.txt");
    if snap.has(&req) {
        job.add_file(
            snap,
            &req,
            FileKind::Requirements,
            "pip-installed by PaddleHub".into(),
        )
        .await?;
    }
    let python = join(dir, "python");
    let prefix = format!("{python}/");
    let entries: Vec<(String, String)> = snap
        .files
        .iter()
        .filter(|f| f.starts_with(&prefix) && f.ends_with(".py"))
        .map(|f| {
            (
                f.clone(),
                "ModuleV1 imports the processor module_desc.pb names from python/ (every python/*.py is read)".to_string(),
            )
        })
        .collect();
    job.note(format!(
        "{dir} is a ModuleV1 folder (module_desc.pb): its processor, named inside the protobuf, is one of {} file(s) under python/, all scanned",
        entries.len()
    ));
    if entries.is_empty() {
        return Ok(());
    }
    closure(
        job,
        snap,
        entries,
        Style::Python {
            roots: &[Root::Dir(&python)],
        },
    )
    .await
}

/// How many `module.py` files are read looking for the one that declares a
/// git-source module hubconf.py does not import directly.
const MAX_MODULE_PY_SEARCH: usize = 64;

/// Every `moduleinfo(name=...)` a file's top-level classes declare
/// (`@moduleinfo(...)` or `@<x>.moduleinfo(...)`), leniently.
fn moduleinfo_names(src: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(tree) = crate::python::parse(src) else {
        return out;
    };
    let root = tree.root_node();
    let mut c = root.walk();
    for top in root.children(&mut c) {
        if top.kind() != "decorated_definition" {
            continue;
        }
        let mut dc = top.walk();
        for dec in top.children(&mut dc).filter(|n| n.kind() == "decorator") {
            let Some(call) = dec.named_child(0).filter(|n| n.kind() == "call") else {
                continue;
            };
            let is_moduleinfo = call
                .child_by_field_name("function")
                .is_some_and(|f| text(f, src).rsplit('.').next() == Some("moduleinfo"));
            let Some(args) = call
                .child_by_field_name("arguments")
                .filter(|_| is_moduleinfo)
            else {
                continue;
            };
            let mut ac = args.walk();
            for kw in args
                .named_children(&mut ac)
                .filter(|n| n.kind() == "keyword_argument")
            {
                if kw
                    .child_by_field_name("name")
                    .is_some_and(|n| text(n, src) == "name")
                    && let Some(v) = kw
                        .child_by_field_name("value")
                        .and_then(|v| string_literal(v, src))
                {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// The folder of the first of `files` that declares module `name`.
async fn find_declaring<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &Snapshot,
    files: &[String],
    name: &str,
) -> Result<Option<String>, ResolveError> {
    for path in files {
        let body = job.read(snap, path).await?;
        if moduleinfo_names(&body).iter().any(|n| n == name) {
            return Ok(Some(
                path.rsplit_once('/')
                    .map_or(String::new(), |(d, _)| d.to_string()),
            ));
        }
    }
    Ok(None)
}

/// `owner/name` of a GitHub clone URL as git accepts it (`https://`,
/// `http://`, `git://`, `ssh://git@`, scp-like `git@github.com:`; `.git` and a
/// trailing `/` optional). Other hosts: None.
fn github_repo(url: &str) -> Option<String> {
    // Scheme and host are case-insensitive; the path keeps its case.
    let t = url.trim();
    let cut = t
        .to_ascii_lowercase()
        .find("github.com")
        .map_or(0, |i| i + "github.com".len());
    let u = format!("{}{}", t[..cut].to_ascii_lowercase(), &t[cut..]);
    let u = u.as_str();
    let rest = ["https://", "http://", "git://", "ssh://git@", "ssh://"]
        .iter()
        .find_map(|p| u.strip_prefix(p))
        .and_then(|r| {
            r.strip_prefix("github.com/")
                .or_else(|| r.strip_prefix("www.github.com/"))
        })
        .or_else(|| u.strip_prefix("git@github.com:"))?;
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let mut parts = rest.split('/');
    let (o, n) = (parts.next()?, parts.next()?);
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    (parts.next().is_none() && ok(o) && ok(n)).then(|| format!("{o}/{n}"))
}

/// What `GitSource.load_hub_modules` reads of hubconf.py before importing it
/// (`paddlehub/server/git_source.py:79-108`, 2.4.0): the top-level
/// `from X.module import ...` statements, each putting
/// `os.path.join(repo, ".".join(X.split(".")[:-1]))` on `sys.path` (a folder
/// literally named with dots), and whether a top-level plain `import` or a
/// relative `from . import` comes first (`_body.module` raises there, the
/// bare `except` swallows it and hubconf.py is never imported).
struct HubconfScan {
    /// Module paths `X.module` of the `from X.module import` statements.
    modules: Vec<String>,
    /// Every absolute `from X import` module path, in order.
    from_modules: Vec<String>,
    /// `sys.path` folders the statements add (dotted names kept).
    extra_paths: Vec<String>,
    /// Why the import never happens, if it does not.
    aborts: Option<String>,
}

fn scan_hubconf(src: &[u8]) -> HubconfScan {
    let mut out = HubconfScan {
        modules: Vec::new(),
        from_modules: Vec::new(),
        extra_paths: Vec::new(),
        aborts: None,
    };
    let Some(tree) = crate::python::parse(src) else {
        return out;
    };
    let root = tree.root_node();
    let mut c = root.walk();
    for top in root.children(&mut c) {
        let module = match top.kind() {
            "import_statement" => None,
            "import_from_statement" | "future_import_statement" => top
                .child_by_field_name("module_name")
                .filter(|m| m.kind() == "dotted_name")
                .map(|m| text(m, src).split_whitespace().collect::<String>())
                .or_else(|| (top.kind() == "future_import_statement").then(|| "__future__".into())),
            _ => continue,
        };
        let Some(module) = module else {
            out.aborts = Some(format!(
                "hubconf.py line {}: `{}` has no `.module`",
                top.start_position().row + 1,
                text(top, src).lines().next().unwrap_or("")
            ));
            break;
        };
        if module != "__future__" {
            out.from_modules.push(module.clone());
        }
        if !module.ends_with("module") {
            continue;
        }
        let parts: Vec<&str> = module.split('.').collect();
        let keep = parts.len().saturating_sub(2);
        out.extra_paths.push(parts[..keep].join("."));
        out.modules.push(module);
    }
    out
}

/// `Module(name=..., source=<git url>[, branch=...])`: `GitSource` clones the
/// repository, puts it on `sys.path` and imports its `hubconf.py`; a `branch`
/// is checked out after the clone and hubconf.py imported again
/// (`paddlehub/server/git_source.py:38-108`, `server/server.py:90-116`); the
/// folder of the file that defines the `RunModule` class named `name` is
/// copied to `MODULE_HOME/<name>`, its `requirements.txt` pip-installed and
/// `<name>.module` imported as for a server module
/// (`paddlehub/module/manager.py:302-338`, 2.4.0).
async fn git_source<S: RepoSource>(
    job: &mut Job<'_, S>,
    name: &str,
    src: &str,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let Some(repo) = github_repo(src) else {
        return Err(ResolveError::Unsupported(format!(
            "PaddleHub module {name} from git source {src}: only GitHub clones are fetched (the clone runs its hubconf.py)"
        )));
    };
    let branch = site
        .args
        .get("branch")
        .filter(|b| !b.eq_ignore_ascii_case("none"))
        .cloned();
    let head = crate::hub::CLONE_HEAD;
    let snap = job
        .primary(
            HubKind::Github,
            RepoType::Github,
            &repo,
            Some(branch.as_deref().unwrap_or(head)),
        )
        .await?;
    job.note(format!(
        "PaddleHub clones {src} and imports its hubconf.py with the repo on sys.path; the server's module {name} is not used"
    ));
    if branch.is_some() {
        // A fresh clone imports hubconf.py at the default branch before the
        // checkout: that one runs too.
        let first = job
            .snapshot(HubKind::Github, RepoType::Github, &repo, Some(head))
            .await?;
        if first.commit != snap.commit && first.has("hubconf.py") {
            let src_first = job.read(&first, "hubconf.py").await?;
            let hc = scan_hubconf(&src_first);
            let mut roots: Vec<Root<'_>> = hc
                .extra_paths
                .iter()
                .filter(|d| !d.is_empty())
                .map(|d| Root::Dir(d))
                .collect();
            roots.push(Root::Dir(""));
            closure(
                job,
                &first,
                vec![("hubconf.py".into(), format!("hubconf.py of the default branch {} (imported by the clone before the checkout)", first.resolved_ref))],
                Style::Python { roots: &roots },
            )
            .await?;
        }
    }
    if !snap.has("hubconf.py") {
        job.note(format!(
            "{}@{} has no hubconf.py: PaddleHub finds no module {name} there and raises",
            snap.repo_id, snap.commit
        ));
        return Ok(Outcome::Done);
    }
    let hub_src = job.read(&snap, "hubconf.py").await?;
    let hc = scan_hubconf(&hub_src);
    if let Some(why) = &hc.aborts {
        // Scanned all the same: a PaddleHub release that reads hubconf.py
        // differently would import it.
        job.note(format!(
            "{why}: PaddleHub 2.4 stops before importing hubconf.py and finds no module (scanned as if imported)"
        ));
    }
    // The class registered under `name` is the moduleinfo class of one of the
    // `X.module` files hubconf.py imports; its folder is what gets installed.
    // `search_resource` copies the folder of the file that defines the class
    // (`sys.modules[cls.__module__].__file__`, git_source.py:129-139): hubconf.py
    // itself, a module it imports from, else (found by no import) any
    // module.py of the repo that declares the name.
    let mut candidates = vec!["hubconf.py".to_string()];
    for m in &hc.from_modules {
        let base = m.replace('.', "/");
        for p in [format!("{base}.py"), format!("{base}/__init__.py")] {
            if snap.has(&p) && !candidates.contains(&p) {
                candidates.push(p);
            }
        }
    }
    let mut module_dir = find_declaring(job, &snap, &candidates, name).await?;
    if module_dir.is_none() {
        let others: Vec<String> = snap
            .files
            .iter()
            .filter(|f| *f == "module.py" || f.ends_with("/module.py"))
            .filter(|f| !candidates.contains(f))
            .take(MAX_MODULE_PY_SEARCH)
            .cloned()
            .collect();
        module_dir = find_declaring(job, &snap, &others, name).await?;
        if let Some(d) = &module_dir {
            job.note(format!(
                "{name} is declared in {}/module.py, which hubconf.py does not import directly: taken as the installed folder",
                if d.is_empty() { "." } else { d }
            ));
        }
    }
    let package = name.replace('-', "_");
    let mut roots: Vec<Root<'_>> = hc
        .extra_paths
        .iter()
        .filter(|d| !d.is_empty())
        .map(|d| Root::Dir(d))
        .collect();
    roots.push(Root::Dir(""));
    let mut entries = vec![(
        "hubconf.py".to_string(),
        "hubconf.py (imported by PaddleHub's git source)".to_string(),
    )];
    match &module_dir {
        Some(dir) => {
            let req = join(dir, "requirements.txt");
            if snap.has(&req) {
                job.add_file(
                    &snap,
                    &req,
                    FileKind::Requirements,
                    "pip-installed by PaddleHub".into(),
                )
                .await?;
            }
            if snap.has(&join(dir, "module_desc.pb")) {
                closure(job, &snap, entries, Style::Python { roots: &roots }).await?;
                module_v1(job, &snap, dir).await?;
                return Ok(Outcome::Done);
            }
            let init = join(dir, "__init__.py");
            if snap.has(&init) {
                entries.push((init, format!("PaddleHub imports package {package} on load")));
            }
            entries.push((
                join(dir, "module.py"),
                format!("PaddleHub installs {dir} as {package} and imports {package}.module"),
            ));
            roots.push(Root::Package {
                name: &package,
                dir,
            });
            roots.push(Root::Dir(dir));
        }
        None => job.note(format!(
            "no `from X.module import` of hubconf.py names a module.py whose moduleinfo name is {name}: PaddleHub raises HubModuleNotFoundError after importing hubconf.py"
        )),
    }
    closure(job, &snap, entries, Style::Python { roots: &roots }).await?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_clone_urls() {
        for u in [
            "https://github.com/o/r.git",
            "https://github.com/o/r",
            "https://github.com/o/r/",
            "git@github.com:o/r.git",
            "ssh://git@github.com/o/r.git",
            "git://github.com/o/r",
            "HTTPS://GitHub.com/o/r",
        ] {
            assert_eq!(github_repo(u).as_deref(), Some("o/r"), "{u}");
        }
        for u in [
            "https://gitee.com/o/r.git",
            "https://github.com/o/r/tree/x",
            "https://github.com/o",
            "https://github.com.evil/o/r",
            "https://github.com/../r",
        ] {
            assert_eq!(github_repo(u), None, "{u}");
        }
    }

    #[test]
    fn hubconf_as_load_hub_modules_reads_it() {
        let hc = scan_hubconf(
            b"from __future__ import annotations\nfrom modules.text.lac.module import Lac\nfrom a.b import c\n",
        );
        assert_eq!(hc.modules, ["modules.text.lac.module"]);
        assert_eq!(hc.from_modules, ["modules.text.lac.module", "a.b"]);
        assert_eq!(hc.extra_paths, ["modules.text"]);
        assert!(hc.aborts.is_none());
        let hc = scan_hubconf(b"import os\nfrom m.module import X\n");
        assert!(hc.aborts.is_some());
        assert!(hc.modules.is_empty());
    }

    #[test]
    fn moduleinfo_as_load_module_info_reads_it() {
        let src = b"import x\nclass Plain: pass\n@moduleinfo(name=\"lac-x\", version='1.0')\n@serving\nclass M(Base):\n    pass\n";
        assert_eq!(moduleinfo_name(src).unwrap(), "lac-x");
        assert!(moduleinfo_name(b"@serving\nclass M: pass\n").is_err());
        assert!(moduleinfo_name(b"@hub.moduleinfo(name='a')\nclass M: pass\n").is_err());
        assert!(moduleinfo_name(b"@moduleinfo(name=f'{a}')\nclass M: pass\n").is_err());
        assert_eq!(
            moduleinfo_name(b"@other(x=1)\n@moduleinfo(name='b')\nclass M: pass\n").unwrap(),
            "b"
        );
    }
}
