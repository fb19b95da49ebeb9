//! `Pipfile.lock` (JSON): `default` and `develop` map each package to its
//! locked `version` (`==1.2.3`); VCS and path entries have none.

use std::path::Path;

use super::files::{Decl, FileClass, FileDecls, Reader, Role, find_line};
use super::range;
use super::requirement::{self, Constraint};

pub fn parse(reader: &mut Reader<'_>, file: &Path) -> FileDecls {
    let rel = reader.display(file);
    let mut out = FileDecls::new(rel.clone(), FileClass::Lock);
    let Some(text) = reader.read(file, &mut out) else {
        return out;
    };
    let doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            out.problem_all(&rel, e.line() as u32, &format!("invalid JSON: {e}"));
            return out;
        }
    };
    let Some(obj) = doc.as_object() else {
        out.problem_all(&rel, 1, "not a JSON object");
        return out;
    };
    if !obj.contains_key("default") && !obj.contains_key("develop") {
        out.problem_all(&rel, 1, "neither `default` nor `develop` is present");
        return out;
    }
    for section in ["default", "develop"] {
        let Some(pkgs) = obj.get(section) else {
            continue;
        };
        let Some(pkgs) = pkgs.as_object() else {
            out.problem_all(
                &rel,
                find_line(&text, &format!("\"{section}\""), 1),
                &format!("`{section}` is not an object"),
            );
            continue;
        };
        let section_line = find_line(&text, &format!("\"{section}\""), 1);
        for (name, entry) in pkgs {
            let lib = requirement::normalize_name(name);
            let line = find_line(&text, &format!("\"{name}\""), section_line);
            match entry.get("version") {
                Some(serde_json::Value::String(v)) => match range::parse_pep440(v) {
                    Ok(set) => out.push(Decl::new(
                        lib,
                        Constraint::Range(set),
                        &rel,
                        line,
                        Role::Locked,
                    )),
                    Err(e) => out.problem_lib(&rel, line, &lib, &e.to_string()),
                },
                Some(_) => out.problem_lib(&rel, line, &lib, "`version` is not a string"),
                None if entry.is_object() => out.push(Decl::new(
                    lib,
                    Constraint::Unknown(
                        "locked without a version (a VCS or path entry)".to_string(),
                    ),
                    &rel,
                    line,
                    Role::Locked,
                )),
                None => out.problem_lib(&rel, line, &lib, "the entry is not an object"),
            }
        }
    }
    out
}
