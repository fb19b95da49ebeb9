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
    if let Some(src) = site.args.get("source") {
        // `Module(name, source=<git url>)` clones that repository and imports
        // its hubconf.py (`paddlehub/server/git_source.py:38-108`, 2.4.0): the
        // server's module of the same name never runs.
        return Err(ResolveError::Unsupported(format!(
            "PaddleHub module from git source {src}: not resolved (the server's module {name} is not what runs)"
        )));
    }
    let version = site.args.get("version").cloned().or(site.revision.clone());
    let snap = job
        .primary(
            HubKind::Paddlehub,
            RepoType::Module,
            &name,
            version.as_deref(),
        )
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
    // (`paddlehub/module/module.py:413-416`, 2.4.0).
    if snap.has(&join(&dir, "module_desc.pb")) {
        return Err(ResolveError::Unsupported(
            "legacy PaddleHub ModuleV1 archive (module_desc.pb): not resolved".to_string(),
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

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
