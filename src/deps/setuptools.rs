//! setuptools declarations: `setup.cfg` (`[options] install_requires`,
//! `[options.extras_require]`, `file:` directives) and literal
//! `install_requires` / `extras_require` in `setup.py` (read with tree-sitter,
//! never run).

use std::path::Path;

use tree_sitter::Node;

use super::files::{Decl, FileClass, FileDecls, Reader, Role};
use super::requirement;
use super::requirements_txt;
use crate::python::{line_of, string_literal, text};

fn push_requirement(out: &mut FileDecls, rel: &str, line: u32, req: &str, role: Role) {
    match requirement::parse_requirement(req) {
        Ok(r) => {
            let role = if r.marker.is_some() && role == Role::Base {
                Role::Alternative
            } else {
                role
            };
            out.push(Decl::new(r.name, r.constraint, rel, line, role));
        }
        Err(e) => match e.name {
            Some(n) => out.problem_lib(rel, line, &n, &e.message),
            None => out.problem_all(rel, line, &e.message),
        },
    }
}

/// (section, key, [(line, value line)]) of one `setup.cfg` key.
type CfgEntry = (String, String, Vec<(u32, String)>);

/// `setup.cfg`.
pub fn parse_setup_cfg(reader: &mut Reader<'_>, file: &Path) -> FileDecls {
    let rel = reader.display(file);
    let mut out = FileDecls::new(rel.clone(), FileClass::Manifest);
    let Some(src) = reader.read(file, &mut out) else {
        return out;
    };
    let mut entries: Vec<CfgEntry> = Vec::new();
    let mut section = String::new();
    for (i, raw) in src.lines().enumerate() {
        let n = i as u32 + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with(char::is_whitespace) {
            if let Some(last) = entries.last_mut() {
                last.2.push((n, trimmed.to_string()));
                continue;
            }
            out.problem_all(&rel, n, "an indented line outside any key");
            return out;
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            match name.strip_suffix(']') {
                Some(s) => section = s.trim().to_string(),
                None => {
                    out.problem_all(&rel, n, "a section header without `]`");
                    return out;
                }
            }
            continue;
        }
        let Some(pos) = trimmed.find(['=', ':']) else {
            out.problem_all(
                &rel,
                n,
                "a line that is neither `key = value` nor a section",
            );
            return out;
        };
        let key = trimmed[..pos].trim().to_ascii_lowercase().replace('-', "_");
        let value = trimmed[pos + 1..].trim();
        let mut lines = Vec::new();
        if !value.is_empty() {
            lines.push((n, value.to_string()));
        }
        entries.push((section.clone(), key, lines));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    for (section, key, lines) in entries {
        let role = match (section.as_str(), key.as_str()) {
            ("options", "install_requires") => Role::Base,
            ("options.extras_require", _) => Role::Alternative,
            _ => continue,
        };
        for (n, value) in lines {
            let value = match value.find(" #") {
                Some(i) => value[..i].trim().to_string(),
                None => value,
            };
            if let Some(files) = value.strip_prefix("file:") {
                for f in files.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    requirements_txt::include_file(reader, &rel, n, base, f, role, &mut out, 0);
                }
                continue;
            }
            push_requirement(&mut out, &rel, n, &value, role);
        }
    }
    out
}

/// Largest `setup.py` parsed.
const MAX_SETUP_PY: usize = 2 * 1024 * 1024;

/// `setup.py`: the literal lists given to `setup(install_requires=...,
/// extras_require=...)`, directly or through a module-level name. A computed
/// value is recorded in `computed` (libraries it may declare are unknown).
pub fn parse_setup_py(reader: &mut Reader<'_>, file: &Path) -> FileDecls {
    let rel = reader.display(file);
    let mut out = FileDecls::new(rel.clone(), FileClass::Manifest);
    let Some(src) = reader.read(file, &mut out) else {
        return out;
    };
    if src.len() > MAX_SETUP_PY {
        out.problem_all(&rel, 0, "setup.py is larger than 2 MiB and is not parsed");
        return out;
    }
    let mut parser = tree_sitter::Parser::new();
    if parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .is_err()
    {
        out.problem_all(&rel, 0, "the Python grammar could not be loaded");
        return out;
    }
    let Some(tree) = parser.parse(src.as_bytes(), None) else {
        out.problem_all(&rel, 0, "setup.py could not be parsed");
        return out;
    };
    let bytes = src.as_bytes();
    let root = tree.root_node();
    let mut calls = Vec::new();
    collect_setup_calls(root, bytes, &mut calls);
    for call in calls {
        let Some(args) = call.child_by_field_name("arguments") else {
            continue;
        };
        let mut cursor = args.walk();
        for arg in args.named_children(&mut cursor) {
            if arg.kind() != "keyword_argument" {
                continue;
            }
            let (Some(name), Some(value)) = (
                arg.child_by_field_name("name"),
                arg.child_by_field_name("value"),
            ) else {
                continue;
            };
            match text(name, bytes) {
                "install_requires" => {
                    let value = resolve_name(root, value, bytes);
                    read_list(value, bytes, &rel, Role::Base, &mut out);
                }
                "extras_require" => {
                    let value = resolve_name(root, value, bytes);
                    if value.kind() != "dictionary" {
                        computed(&mut out, value, "extras_require");
                        continue;
                    }
                    let mut c = value.walk();
                    for pair in value.named_children(&mut c) {
                        if let Some(v) = pair.child_by_field_name("value") {
                            let v = resolve_name(root, v, bytes);
                            read_list(v, bytes, &rel, Role::Alternative, &mut out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn computed(out: &mut FileDecls, n: Node<'_>, what: &str) {
    if out.computed.is_none() {
        out.computed = Some(format!("{}:{}: {what} is computed", out.rel, line_of(n)));
    }
}

/// Calls of `setup(...)` or `<module>.setup(...)`.
fn collect_setup_calls<'t>(n: Node<'t>, src: &[u8], out: &mut Vec<Node<'t>>) {
    if n.kind() == "call"
        && let Some(f) = n.child_by_field_name("function")
    {
        let name = text(f, src);
        if name == "setup" || name.ends_with(".setup") {
            out.push(n);
        }
    }
    let mut cursor = n.walk();
    for c in n.named_children(&mut cursor) {
        collect_setup_calls(c, src, out);
    }
}

/// A bare name given to `setup()` -> the list or dict it was last assigned at
/// module level; anything else is returned as is.
fn resolve_name<'t>(root: Node<'t>, value: Node<'t>, src: &[u8]) -> Node<'t> {
    if value.kind() != "identifier" {
        return value;
    }
    let wanted = text(value, src);
    let mut found = value;
    let mut cursor = root.walk();
    for stmt in root.named_children(&mut cursor) {
        if stmt.kind() != "expression_statement" {
            continue;
        }
        let Some(assign) = stmt.named_child(0).filter(|a| a.kind() == "assignment") else {
            continue;
        };
        let (Some(left), Some(right)) = (
            assign.child_by_field_name("left"),
            assign.child_by_field_name("right"),
        ) else {
            continue;
        };
        if left.kind() == "identifier"
            && text(left, src) == wanted
            && stmt.start_byte() < value.start_byte()
        {
            found = right;
        }
    }
    found
}

fn read_list(value: Node<'_>, src: &[u8], rel: &str, role: Role, out: &mut FileDecls) {
    match value.kind() {
        "list" | "tuple" => {
            let mut cursor = value.walk();
            for item in value.named_children(&mut cursor) {
                match string_literal(item, src) {
                    Some(s) => push_requirement(out, rel, line_of(item), &s, role),
                    None => computed(out, item, "an install_requires entry"),
                }
            }
        }
        // A single requirement string is accepted by setuptools too.
        "string" => match string_literal(value, src) {
            Some(s) => {
                for (i, line) in s.lines().enumerate() {
                    if !line.trim().is_empty() && !line.trim().starts_with('#') {
                        push_requirement(out, rel, line_of(value) + i as u32, line.trim(), role);
                    }
                }
            }
            None => computed(out, value, "install_requires"),
        },
        _ => computed(out, value, "install_requires"),
    }
}
