//! Embeds the built-in rules: lists `rules/` into `$OUT_DIR/builtin_{rules,metadata}.rs` so the
//! binary carries every rule file (the container image has no rules folder).
//! `BUILTIN_RULES` are the scanner's rule files (query, YARA, pickle lists);
//! `BUILTIN_METADATA` the metadata of rules whose logic is code (the folders in
//! `METADATA_DIRS`: policy, pickle, requirements, taint).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml" | "yar")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// Folders of `rules/` that hold only rule metadata (title, help, CWE, level).
const METADATA_DIRS: &[&str] = &[
    "rules/policy/",
    "rules/pickle/",
    "rules/requirements/",
    "rules/taint/",
];

fn main() -> io::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?);
    let rules = root.join("rules");
    println!("cargo:rerun-if-changed=rules");
    let mut files = Vec::new();
    if rules.is_dir() {
        collect(&rules, &mut files)?;
    }
    files.sort();
    let mut rules = String::from("pub static BUILTIN_RULES: &[(&str, &str)] = &[\n");
    let mut meta = String::from("pub static BUILTIN_METADATA: &[(&str, &str)] = &[\n");
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        println!("cargo:rerun-if-changed={}", f.display());
        let line = format!(
            "    ({rel:?}, include_str!({:?})),\n",
            f.display().to_string()
        );
        if METADATA_DIRS.iter().any(|d| rel.starts_with(d)) {
            meta.push_str(&line);
        } else {
            rules.push_str(&line);
        }
    }
    rules.push_str("];\n");
    meta.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(out.join("builtin_rules.rs"), rules)?;
    fs::write(out.join("builtin_metadata.rs"), meta)
}
