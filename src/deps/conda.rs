//! conda `environment.yml`: `dependencies` holds conda match specs
//! (`pytorch=2.1`, `conda-forge::transformers>=4.40`, `pytorch 2.1.* cuda*`,
//! `torch[version='>=2']`) and a `pip:` list of requirement lines.

use std::path::Path;

use super::files::{Decl, FileClass, FileDecls, Reader, Role, find_line};
use super::range;
use super::requirement::{self, Constraint};
use super::requirements_txt;

/// conda package names whose PyPI name differs.
fn pypi_name(conda: &str) -> String {
    match conda {
        "pytorch" | "pytorch-cpu" | "pytorch-gpu" => "torch".to_string(),
        other => requirement::normalize_name(other),
    }
}

/// A conda match spec -> (PyPI name, constraint), or an error message.
pub fn parse_match_spec(spec: &str) -> Result<(String, Constraint), (Option<String>, String)> {
    let spec = spec.trim();
    let spec = spec.rsplit_once("::").map(|(_, s)| s).unwrap_or(spec);
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..end];
    if name.is_empty() {
        return Err((None, format!("cannot read a package name in {spec:?}")));
    }
    let lib = pypi_name(&name.to_ascii_lowercase());
    let rest = spec[end..].trim();
    let err = |m: String| (Some(lib.clone()), m);
    if rest.is_empty() {
        return Ok((lib, Constraint::Range(range::VersionSet::any())));
    }
    // `name[version='>=2', build=...]`
    if let Some(inner) = rest.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| err(format!("unbalanced `[` in {spec:?}")))?;
        let version = inner.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == "version").then(|| v.trim().trim_matches(['\'', '"']).to_string())
        });
        return match version {
            Some(v) => range::parse_conda(&v)
                .map(|s| (lib.clone(), Constraint::Range(s)))
                .map_err(|e| err(e.to_string())),
            None => Ok((lib, Constraint::Range(range::VersionSet::any()))),
        };
    }
    // `name 2.1.* build`, `name=2.1=build`, `name>=2,<3`.
    let version = if let Some(r) = rest.strip_prefix("==") {
        format!("=={}", r.split('=').next().unwrap_or(r).trim())
    } else if let Some(r) = rest.strip_prefix('=') {
        format!("={}", r.split('=').next().unwrap_or(r).trim())
    } else {
        rest.split_whitespace().next().unwrap_or(rest).to_string()
    };
    range::parse_conda(&version)
        .map(|s| (lib.clone(), Constraint::Range(s)))
        .map_err(|e| err(e.to_string()))
}

pub fn parse(reader: &mut Reader<'_>, file: &Path) -> FileDecls {
    let rel = reader.display(file);
    let mut out = FileDecls::new(rel.clone(), FileClass::Manifest);
    let Some(text) = reader.read(file, &mut out) else {
        return out;
    };
    let doc: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line() as u32).unwrap_or(0);
            out.problem_all(&rel, line, &format!("invalid YAML: {e}"));
            return out;
        }
    };
    let Some(deps) = doc.get("dependencies") else {
        // An environment file without dependencies declares nothing.
        return out;
    };
    let Some(items) = deps.as_sequence() else {
        out.problem_all(
            &rel,
            find_line(&text, "dependencies", 1),
            "`dependencies` is not a list",
        );
        return out;
    };
    let mut cursor = find_line(&text, "dependencies", 1);
    for item in items {
        match item {
            serde_yaml::Value::String(s) => {
                let line = find_line(&text, s, cursor);
                cursor = line;
                match parse_match_spec(s) {
                    Ok((lib, c)) => out.push(Decl::new(lib, c, &rel, line, Role::Base)),
                    Err((Some(lib), m)) => out.problem_lib(&rel, line, &lib, &m),
                    Err((None, m)) => out.problem_all(&rel, line, &m),
                }
            }
            serde_yaml::Value::Mapping(m) => {
                let Some(pip) = m.get("pip") else {
                    continue;
                };
                let Some(lines) = pip.as_sequence() else {
                    out.problem_all(
                        &rel,
                        find_line(&text, "pip:", cursor),
                        "`pip` is not a list",
                    );
                    continue;
                };
                // The pip list is a requirements file in YAML: write it out as one.
                let body: Vec<String> = lines
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect();
                if body.len() != lines.len() {
                    out.problem_all(
                        &rel,
                        find_line(&text, "pip:", cursor),
                        "a `pip` entry is not a string",
                    );
                }
                for l in &body {
                    let line = find_line(&text, l, cursor);
                    cursor = line;
                    pip_line(reader, file, &rel, line, l, &mut out);
                }
            }
            _ => out.problem_all(
                &rel,
                cursor,
                "a dependency is neither a string nor a `pip:` list",
            ),
        }
    }
    out
}

/// One `pip:` entry: a requirement, or `-r file` relative to the environment file.
fn pip_line(
    reader: &mut Reader<'_>,
    file: &Path,
    rel: &str,
    line: u32,
    text: &str,
    out: &mut FileDecls,
) {
    let t = text.trim();
    for (short, long, role) in [
        ("-r", "--requirement", Role::Base),
        ("-c", "--constraint", Role::Constraint),
    ] {
        let target = t
            .strip_prefix(long)
            .or_else(|| t.strip_prefix(short))
            .map(|r| r.trim_start_matches('=').trim());
        if let Some(target) = target {
            let base = file.parent().unwrap_or(Path::new("."));
            requirements_txt::include_file(reader, rel, line, base, target, role, out, 0);
            return;
        }
    }
    if t.starts_with('-') {
        return;
    }
    match requirement::parse_requirement(t) {
        Ok(r) => {
            let role = if r.marker.is_some() {
                Role::Alternative
            } else {
                Role::Base
            };
            out.push(Decl::new(r.name, r.constraint, rel, line, role));
        }
        Err(e) => match e.name {
            Some(n) => out.problem_lib(rel, line, &n, &e.message),
            None => out.problem_all(rel, line, &e.message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::version::Version;

    fn set(spec: &str) -> range::VersionSet {
        match parse_match_spec(spec).unwrap().1 {
            Constraint::Range(s) => s,
            Constraint::Unknown(w) => panic!("{w}"),
        }
    }

    #[test]
    fn match_specs() {
        assert_eq!(parse_match_spec("pytorch=2.1").unwrap().0, "torch");
        assert!(set("pytorch=2.1").contains(&Version::parse("2.1.2").unwrap()));
        assert!(!set("pytorch=2.1").contains(&Version::parse("2.10").unwrap()));
        assert!(
            set("conda-forge::pytorch=2.1.0=py3.10_cuda11.8_0")
                .contains(&Version::parse("2.1.0").unwrap())
        );
        assert!(set("pytorch 2.1.* cuda*").contains(&Version::parse("2.1.1").unwrap()));
        assert!(set("transformers>=4.40,<5").contains(&Version::parse("4.57").unwrap()));
        assert!(set("torch[version='>=2.6']").contains(&Version::parse("2.6").unwrap()));
        assert!(set("python").is_any());
        assert_eq!(
            parse_match_spec("huggingface_hub==0.20.1").unwrap().0,
            "huggingface-hub"
        );
        assert!(parse_match_spec("torch>=>2").is_err());
        assert!(parse_match_spec("::").is_err());
    }
}
