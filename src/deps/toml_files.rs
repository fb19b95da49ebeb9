//! The TOML declaration files: `pyproject.toml` (PEP 621 dependencies and
//! extras, PEP 735 dependency groups, Poetry, PDM, uv, setuptools' dynamic
//! `file:` dependencies), `Pipfile`, and the lock files `uv.lock`,
//! `poetry.lock` and `pdm.lock`.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::files::{Decl, FileClass, FileDecls, Reader, Role, line_at, line_starts};
use super::range;
use super::requirement::{self, Constraint, Requirement};
use super::requirements_txt;

type Table<'i> = DeTable<'i>;

/// A parsed document with its line index.
struct Doc<'i> {
    root: Spanned<Table<'i>>,
    lines: Vec<usize>,
}

impl<'i> Doc<'i> {
    fn line(&self, span: std::ops::Range<usize>) -> u32 {
        line_at(&self.lines, span.start)
    }
}

fn parse_doc<'i>(text: &'i str, rel: &str, out: &mut FileDecls) -> Option<Doc<'i>> {
    match DeTable::parse(text) {
        Ok(root) => Some(Doc {
            root,
            lines: line_starts(text),
        }),
        Err(e) => {
            let line = e
                .span()
                .map(|s| line_at(&line_starts(text), s.start))
                .unwrap_or(0);
            let msg = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            out.problem_all(rel, line, &format!("invalid TOML: {msg}"));
            None
        }
    }
}

fn get<'a, 'i>(t: &'a Table<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    t.iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

fn table<'a, 'i>(v: &'a Spanned<DeValue<'i>>) -> Option<&'a Table<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

/// Follow a dotted path of tables.
fn path<'a, 'i>(t: &'a Table<'i>, keys: &[&str]) -> Option<&'a Spanned<DeValue<'i>>> {
    let (first, rest) = keys.split_first()?;
    let v = get(t, first)?;
    if rest.is_empty() {
        return Some(v);
    }
    path(table(v)?, rest)
}

fn string<'a>(v: &'a Spanned<DeValue<'_>>) -> Option<&'a str> {
    match v.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        _ => None,
    }
}

/// A PEP 508 string at `line`, into `out` with `role` (a marker makes a base
/// requirement an alternative).
fn push_pep508(out: &mut FileDecls, rel: &str, line: u32, text: &str, role: Role) {
    match requirement::parse_requirement(text) {
        Ok(Requirement {
            name,
            constraint,
            marker,
        }) => {
            let role = if marker.is_some() && role == Role::Base {
                Role::Alternative
            } else {
                role
            };
            out.push(Decl::new(name, constraint, rel, line, role));
        }
        Err(e) => match e.name {
            Some(name) => out.problem_lib(rel, line, &name, &e.message),
            None => out.problem_all(rel, line, &e.message),
        },
    }
}

/// An array of PEP 508 strings (PEP 621 lists, uv and PDM lists, groups).
fn pep508_array(
    doc: &Doc<'_>,
    v: &Spanned<DeValue<'_>>,
    out: &mut FileDecls,
    rel: &str,
    role: Role,
    what: &str,
) {
    let DeValue::Array(items) = v.get_ref() else {
        out.problem_all(rel, doc.line(v.span()), &format!("{what} is not a list"));
        return;
    };
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) => {
                let s = s.as_ref().trim();
                // PDM and uv accept editable entries: a local checkout.
                if s.starts_with("-e ") {
                    continue;
                }
                push_pep508(out, rel, doc.line(item.span()), s, role);
            }
            // PEP 735 `{include-group = "x"}`: that group is read on its own.
            DeValue::Table(t) if get(t, "include-group").is_some() => {}
            _ => out.problem_all(
                rel,
                doc.line(item.span()),
                &format!("an entry of {what} is not a string"),
            ),
        }
    }
}

/// `pyproject.toml`.
pub fn parse_pyproject(reader: &mut Reader<'_>, file: &Path) -> FileDecls {
    let rel = reader.display(file);
    let mut out = FileDecls::new(rel.clone(), FileClass::Manifest);
    let Some(text) = reader.read(file, &mut out) else {
        return out;
    };
    let Some(doc) = parse_doc(&text, &rel, &mut out) else {
        return out;
    };
    let root = doc.root.get_ref();
    if let Some(v) = path(root, &["project", "dependencies"]) {
        pep508_array(&doc, v, &mut out, &rel, Role::Base, "project.dependencies");
    }
    if let Some(extras) = path(root, &["project", "optional-dependencies"]).and_then(table) {
        for (name, v) in extras.iter() {
            let what = format!("project.optional-dependencies.{}", name.get_ref());
            pep508_array(&doc, v, &mut out, &rel, Role::Alternative, &what);
        }
    }
    if let Some(groups) = get(root, "dependency-groups").and_then(table) {
        for (name, v) in groups.iter() {
            let what = format!("dependency-groups.{}", name.get_ref());
            pep508_array(&doc, v, &mut out, &rel, Role::Alternative, &what);
        }
    }
    // Poetry.
    if let Some(deps) = path(root, &["tool", "poetry", "dependencies"]).and_then(table) {
        poetry_table(&doc, deps, &mut out, &rel, Role::Base);
    }
    if let Some(deps) = path(root, &["tool", "poetry", "dev-dependencies"]).and_then(table) {
        poetry_table(&doc, deps, &mut out, &rel, Role::Alternative);
    }
    if let Some(groups) = path(root, &["tool", "poetry", "group"]).and_then(table) {
        for (_, g) in groups.iter() {
            if let Some(deps) = table(g)
                .and_then(|g| get(g, "dependencies"))
                .and_then(table)
            {
                poetry_table(&doc, deps, &mut out, &rel, Role::Alternative);
            }
        }
    }
    // PDM.
    if let Some(groups) = path(root, &["tool", "pdm", "dev-dependencies"]).and_then(table) {
        for (name, v) in groups.iter() {
            let what = format!("tool.pdm.dev-dependencies.{}", name.get_ref());
            pep508_array(&doc, v, &mut out, &rel, Role::Alternative, &what);
        }
    }
    // uv.
    for (key, role) in [
        ("dev-dependencies", Role::Alternative),
        ("constraint-dependencies", Role::Constraint),
        ("override-dependencies", Role::Override),
    ] {
        if let Some(v) = path(root, &["tool", "uv", key]) {
            pep508_array(&doc, v, &mut out, &rel, role, &format!("tool.uv.{key}"));
        }
    }
    // setuptools: `dynamic = ["dependencies"]` read from requirement files.
    if let Some(dynamic) = path(root, &["tool", "setuptools", "dynamic"]).and_then(table) {
        let base = file.parent().unwrap_or(Path::new("."));
        if let Some(v) = get(dynamic, "dependencies") {
            dynamic_files(reader, &doc, v, base, &mut out, &rel, Role::Base);
        }
        if let Some(extras) = get(dynamic, "optional-dependencies").and_then(table) {
            for (_, v) in extras.iter() {
                dynamic_files(reader, &doc, v, base, &mut out, &rel, Role::Alternative);
            }
        }
    }
    out
}

/// `{file = "requirements.txt"}` or `{file = ["a.txt", "b.txt"]}`.
fn dynamic_files(
    reader: &mut Reader<'_>,
    doc: &Doc<'_>,
    v: &Spanned<DeValue<'_>>,
    base: &Path,
    out: &mut FileDecls,
    rel: &str,
    role: Role,
) {
    let Some(file) = table(v).and_then(|t| get(t, "file")) else {
        return;
    };
    let names: Vec<String> = match file.get_ref() {
        DeValue::String(s) => vec![s.to_string()],
        DeValue::Array(a) => a
            .iter()
            .filter_map(|i| string(i).map(str::to_string))
            .collect(),
        _ => {
            out.problem_all(
                rel,
                doc.line(file.span()),
                "tool.setuptools.dynamic file is not a path",
            );
            return;
        }
    };
    let line = doc.line(file.span());
    for name in names {
        requirements_txt::include_file(reader, rel, line, base, &name, role, out, 0);
    }
}

/// Poetry's `name = "^1.2"`, `name = {version = "..", optional = true}`,
/// `name = [{version = "..", markers = ".."}, ...]`, `name = {git = ".."}`.
fn poetry_table(doc: &Doc<'_>, deps: &Table<'_>, out: &mut FileDecls, rel: &str, role: Role) {
    for (name, v) in deps.iter() {
        let raw = name.get_ref().as_ref();
        if raw.eq_ignore_ascii_case("python") {
            continue;
        }
        let lib = requirement::normalize_name(raw);
        let line = doc.line(name.span());
        match v.get_ref() {
            DeValue::Array(alts) => {
                // Several constraints, each for some environments.
                for alt in alts.iter() {
                    poetry_value(doc, &lib, alt, out, rel, Role::Alternative.min(role), line);
                }
            }
            _ => poetry_value(doc, &lib, v, out, rel, role, line),
        }
    }
}

fn poetry_value(
    doc: &Doc<'_>,
    lib: &str,
    v: &Spanned<DeValue<'_>>,
    out: &mut FileDecls,
    rel: &str,
    role: Role,
    line: u32,
) {
    let line = line.max(doc.line(v.span()));
    match v.get_ref() {
        DeValue::String(s) => match range::parse_poetry(s) {
            Ok(set) => out.push(Decl::new(
                lib.to_string(),
                Constraint::Range(set),
                rel,
                line,
                role,
            )),
            Err(e) => out.problem_lib(rel, line, lib, &e.to_string()),
        },
        DeValue::Table(t) => {
            let conditional = get(t, "optional")
                .is_some_and(|o| matches!(o.get_ref(), DeValue::Boolean(true)))
                || get(t, "markers").is_some()
                || get(t, "python").is_some()
                || get(t, "platform").is_some();
            let role = if conditional && role == Role::Base {
                Role::Alternative
            } else {
                role
            };
            if let Some(ver) = get(t, "version") {
                match string(ver).map(range::parse_poetry) {
                    Some(Ok(set)) => out.push(Decl::new(
                        lib.to_string(),
                        Constraint::Range(set),
                        rel,
                        line,
                        role,
                    )),
                    Some(Err(e)) => out.problem_lib(rel, line, lib, &e.to_string()),
                    None => out.problem_lib(rel, line, lib, "version is not a string"),
                }
            } else if let Some(git) = get(t, "git").and_then(string) {
                let reference = ["tag", "rev", "branch"]
                    .iter()
                    .find_map(|k| get(t, k).and_then(string));
                let url = match reference {
                    Some(r) => format!("git+{git}@{r}"),
                    None => format!("git+{git}"),
                };
                out.push(Decl::new(
                    lib.to_string(),
                    requirement::constraint_of_url(lib, &url),
                    rel,
                    line,
                    role,
                ));
            } else if let Some(src) = get(t, "url").or_else(|| get(t, "path")).and_then(string) {
                out.push(Decl::new(
                    lib.to_string(),
                    requirement::constraint_of_url(lib, src),
                    rel,
                    line,
                    role,
                ));
            } else {
                // No version key: any version.
                out.push(Decl::new(
                    lib.to_string(),
                    Constraint::Range(range::VersionSet::any()),
                    rel,
                    line,
                    role,
                ));
            }
        }
        _ => out.problem_lib(
            rel,
            line,
            lib,
            "a dependency is neither a string nor a table",
        ),
    }
}

impl Role {
    /// The weaker of two roles for an entry nested in another (an alternative
    /// inside the base list is still an alternative).
    fn min(self, other: Role) -> Role {
        if self == Role::Alternative || other == Role::Alternative {
            Role::Alternative
        } else {
            other
        }
    }
}

/// `Pipfile`: `[packages]` and `[dev-packages]`.
pub fn parse_pipfile(reader: &mut Reader<'_>, file: &Path) -> FileDecls {
    let rel = reader.display(file);
    let mut out = FileDecls::new(rel.clone(), FileClass::Manifest);
    let Some(text) = reader.read(file, &mut out) else {
        return out;
    };
    let Some(doc) = parse_doc(&text, &rel, &mut out) else {
        return out;
    };
    for (section, role) in [
        ("packages", Role::Base),
        ("dev-packages", Role::Alternative),
    ] {
        let Some(deps) = get(doc.root.get_ref(), section).and_then(table) else {
            continue;
        };
        for (name, v) in deps.iter() {
            let lib = requirement::normalize_name(name.get_ref());
            let line = doc.line(name.span());
            let spec = match v.get_ref() {
                DeValue::String(s) => Some(s.to_string()),
                DeValue::Table(t) => get(t, "version").and_then(string).map(str::to_string),
                _ => None,
            };
            match spec {
                Some(s) => match if s.trim() == "*" {
                    Ok(range::VersionSet::any())
                } else {
                    range::parse_pep440(&s)
                } {
                    Ok(set) => out.push(Decl::new(lib, Constraint::Range(set), &rel, line, role)),
                    Err(e) => out.problem_lib(&rel, line, &lib, &e.to_string()),
                },
                None => out.push(Decl::new(
                    lib,
                    Constraint::Unknown("no version in Pipfile (a VCS or path entry)".to_string()),
                    &rel,
                    line,
                    role,
                )),
            }
        }
    }
    out
}

/// `uv.lock`, `poetry.lock`, `pdm.lock`: `[[package]]` tables with `name` and `version`.
pub fn parse_toml_lock(reader: &mut Reader<'_>, file: &Path) -> FileDecls {
    let rel = reader.display(file);
    let mut out = FileDecls::new(rel.clone(), FileClass::Lock);
    let Some(text) = reader.read(file, &mut out) else {
        return out;
    };
    let Some(doc) = parse_doc(&text, &rel, &mut out) else {
        return out;
    };
    let Some(packages) = get(doc.root.get_ref(), "package") else {
        // A lock with no packages locks nothing (an empty project).
        return out;
    };
    let DeValue::Array(items) = packages.get_ref() else {
        out.problem_all(
            &rel,
            doc.line(packages.span()),
            "`package` is not an array of tables",
        );
        return out;
    };
    for item in items.iter() {
        let line = doc.line(item.span());
        let Some(t) = table(item) else {
            out.problem_all(&rel, line, "a `package` entry is not a table");
            continue;
        };
        let Some(name) = get(t, "name").and_then(string) else {
            out.problem_all(&rel, line, "a `package` entry has no name");
            continue;
        };
        let lib = requirement::normalize_name(name);
        let line = get(t, "name").map(|n| doc.line(n.span())).unwrap_or(line);
        match get(t, "version").and_then(string) {
            Some(v) => match super::version::Version::parse(v) {
                Ok(v) => out.push(Decl::new(
                    lib,
                    Constraint::Range(range::VersionSet::exactly(v)),
                    &rel,
                    line,
                    Role::Locked,
                )),
                Err(e) => out.problem_lib(&rel, line, &lib, &e.to_string()),
            },
            None => out.push(Decl::new(
                lib,
                Constraint::Unknown(
                    "locked without a version (a dynamic or source package)".to_string(),
                ),
                &rel,
                line,
                Role::Locked,
            )),
        }
    }
    out
}
