//! pip requirements files (`requirements*.txt`, `*.in`): PEP 508 lines, URL
//! and VCS lines, `-r`/`--requirement` includes and `-c`/`--constraint` files,
//! `-e` editables, line continuations, comments and per-line options.

use std::path::{Path, PathBuf};

use super::files::{Decl, FileDecls, Reader, Role};
use super::requirement::{self, Constraint, Requirement};

/// Deepest `-r` chain followed (pip has no limit; a cycle is caught separately).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Options that take a value and say nothing about versions.
const VALUE_OPTIONS: &[&str] = &[
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "--no-binary",
    "--only-binary",
    "--use-feature",
    "--config-settings",
    "--global-option",
    "--hash",
];

/// Parse a requirements file and what it includes, appending to `out`.
/// `role` is `Base` for a top-level file and `Constraint` inside `-c`.
pub fn parse_into(
    reader: &mut Reader<'_>,
    path: &Path,
    role: Role,
    out: &mut FileDecls,
    depth: usize,
) {
    let text = match reader.read(path, out) {
        Some(t) => t,
        None => return,
    };
    let rel = reader.display(path);
    for (line_no, line) in logical_lines(&text) {
        parse_line(reader, path, &rel, line_no, &line, role, out, depth);
    }
}

/// Read the file an option names (`-r x`, `file: x`), relative to `base`; a
/// target that cannot be read is a problem of the including line.
#[allow(clippy::too_many_arguments)]
pub fn include_file(
    reader: &mut Reader<'_>,
    rel: &str,
    line_no: u32,
    base: &Path,
    target: &str,
    role: Role,
    out: &mut FileDecls,
    depth: usize,
) {
    if target.is_empty() {
        out.problem_all(rel, line_no, "an include option without a file");
        return;
    }
    if target.contains("://") {
        out.problem_all(
            rel,
            line_no,
            &format!("includes {target}, which is not read (no network for declarations)"),
        );
        return;
    }
    if depth >= MAX_INCLUDE_DEPTH {
        out.problem_all(rel, line_no, "includes nested deeper than 16 files");
        return;
    }
    let target_path: PathBuf = base.join(target);
    if let Err(why) = reader.check(&target_path) {
        out.problem_all(rel, line_no, &format!("includes {target}: {why}"));
        return;
    }
    parse_into(reader, &target_path, role, out, depth + 1);
}

/// Lines with `\` continuations joined, comments removed; each with the
/// 1-based number of its first physical line.
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0u32;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u32 + 1;
        if current.is_empty() {
            start = n;
        }
        // pip: `#` at the start or after whitespace begins a comment.
        let line = strip_comment(raw);
        if let Some(cont) = line.strip_suffix('\\') {
            current.push_str(cont);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let joined = std::mem::take(&mut current);
        if !joined.trim().is_empty() {
            out.push((start, joined.trim().to_string()));
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_string()));
    }
    out
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    let bytes = line.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b'#' && bytes[i - 1].is_ascii_whitespace() {
            return line[..i].trim_end();
        }
    }
    line
}

/// `-r x`, `-rx`, `--requirement x`, `--requirement=x` -> `x`.
fn option_value<'a>(line: &'a str, short: &str, long: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix(long) {
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        if rest.is_empty()
            || rest.starts_with(|c: char| c.is_whitespace() || c == '=')
            || line.contains(&format!("{long}="))
        {
            return Some(rest.trim());
        }
        return None;
    }
    line.strip_prefix(short).map(str::trim)
}

#[allow(clippy::too_many_arguments)]
fn parse_line(
    reader: &mut Reader<'_>,
    path: &Path,
    rel: &str,
    line_no: u32,
    line: &str,
    role: Role,
    out: &mut FileDecls,
    depth: usize,
) {
    let base = path.parent().unwrap_or(Path::new("."));
    let include = |reader: &mut Reader<'_>, target: &str, role: Role, out: &mut FileDecls| {
        include_file(reader, rel, line_no, base, target, role, out, depth);
    };
    if let Some(target) = option_value(line, "-r", "--requirement") {
        include(reader, target, role, out);
        return;
    }
    if let Some(target) = option_value(line, "-c", "--constraint") {
        include(reader, target, Role::Constraint, out);
        return;
    }
    if let Some(target) = option_value(line, "-e", "--editable") {
        // An editable is a local checkout (the project itself) or a VCS URL.
        if let Some(name) = egg_name(target) {
            let constraint = requirement::constraint_of_url(&name, target);
            out.push(Decl::new(name, constraint, rel, line_no, role));
        }
        return;
    }
    if line.starts_with('-') {
        // Index, binary and hash options do not change which version is wanted.
        let known = VALUE_OPTIONS.iter().any(|o| line.starts_with(o))
            || [
                "--pre",
                "--no-index",
                "--prefer-binary",
                "--require-hashes",
                "--no-deps",
            ]
            .iter()
            .any(|o| line.starts_with(o));
        if !known {
            tracing::debug!(
                file = rel,
                line = line_no,
                "unknown pip option ignored: {line}"
            );
        }
        return;
    }
    // Per-requirement options (`--hash=...`) follow the requirement.
    let req_text = match line.find(" --") {
        Some(i) => line[..i].trim(),
        None => line,
    };
    if let Some(req) = bare_url_or_path(req_text) {
        if let Some((name, constraint)) = req {
            out.push(Decl::new(name, constraint, rel, line_no, role));
        }
        return;
    }
    match requirement::parse_requirement(req_text) {
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
            out.push(Decl::new(name, constraint, rel, line_no, role));
        }
        Err(e) => match e.name {
            Some(name) => out.problem_lib(rel, line_no, &name, &e.message),
            None => out.problem_all(rel, line_no, &e.message),
        },
    }
}

/// `#egg=name` of a VCS or archive URL.
fn egg_name(url: &str) -> Option<String> {
    let frag = url.split_once('#')?.1;
    frag.split('&')
        .find_map(|kv| kv.strip_prefix("egg="))
        .map(requirement::normalize_name)
        .filter(|n| !n.is_empty())
}

/// A line that is a URL or a local path rather than a PEP 508 string:
/// `Some(Some(..))` when it names a package, `Some(None)` for a local project.
fn bare_url_or_path(line: &str) -> Option<Option<(String, Constraint)>> {
    let is_vcs = ["git+", "hg+", "svn+", "bzr+"]
        .iter()
        .any(|p| line.starts_with(p));
    let is_url = is_vcs || (line.contains("://") && !line.contains('@'));
    let is_path = line.starts_with('.') || line.starts_with('/') || line.starts_with('~');
    if !is_url && !is_path {
        return None;
    }
    if let Some(name) = egg_name(line) {
        let c = requirement::constraint_of_url(&name, line);
        return Some(Some((name, c)));
    }
    if let Some((name, v)) = requirement::archive_file_version(line) {
        let name = requirement::normalize_name(&name);
        return Some(Some((
            name,
            Constraint::Range(super::range::VersionSet::exactly(v)),
        )));
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_and_comments() {
        let lines = logical_lines(
            "a>=1 \\\n  ,<2  # why\n# whole\n\nb @ https://x.invalid/b-1.0.tar.gz#frag\nc#notacomment\n",
        );
        assert_eq!(lines[0], (1, "a>=1    ,<2".to_string()));
        assert_eq!(lines[1].0, 5);
        assert_eq!(lines[2], (6, "c#notacomment".to_string()));
    }

    #[test]
    fn options_are_recognised() {
        assert_eq!(
            option_value("-r base.txt", "-r", "--requirement"),
            Some("base.txt")
        );
        assert_eq!(
            option_value("-rbase.txt", "-r", "--requirement"),
            Some("base.txt")
        );
        assert_eq!(
            option_value("--requirement=base.txt", "-r", "--requirement"),
            Some("base.txt")
        );
        assert_eq!(
            option_value("--requirement base.txt", "-r", "--requirement"),
            Some("base.txt")
        );
        assert_eq!(option_value("requests", "-r", "--requirement"), None);
        assert_eq!(
            egg_name("git+https://x.invalid/r.git@v1#egg=My_Pkg&subdirectory=p"),
            Some("my-pkg".into())
        );
    }
}
