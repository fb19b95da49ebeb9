//! Benchmark driver for bench/pickle.sh: reads each weights file the way a remote read
//! does (the ranges the pickle readers ask for), scans it with the built-in rules and
//! prints one line per file: `path<TAB>verdict<TAB>rule ids`, where the verdict is
//! `unverified` (walker cap or unreadable container: reported at error), `error`,
//! `warning` or `clean`.
//!
//! `cargo run --release --example scan_pickles -- FILE_OR_DIR...`

use anyhow::Context;
use hubwarden::hub::checkpoint;
use hubwarden::model::{FileKind, Level};
use hubwarden::scan::{RuleSet, Scanner, pickle};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(!args.is_empty(), "usage: scan_pickles FILE_OR_DIR...");
    let rules = RuleSet::load(&[]).context("loading rules")?;
    let scanner = Scanner::new(&rules).context("compiling rules")?;
    let mut files = Vec::new();
    for a in &args {
        for entry in ignore::WalkBuilder::new(a).standard_filters(false).build() {
            let entry = entry?;
            if entry.file_type().is_some_and(|t| t.is_file()) {
                files.push(entry.into_path());
            }
        }
    }
    files.sort();
    for p in files {
        let bytes = std::fs::read(&p).with_context(|| p.display().to_string())?;
        let (verdict, ids) = match checkpoint::image_of_bytes(&bytes) {
            Err(e) => ("unverified".to_string(), format!("read: {e}")),
            Ok(image) => {
                let hits = scanner.scan_bytes(FileKind::Pickle, &image);
                let mut ids: Vec<&str> = hits.iter().map(|h| h.rule_id.as_str()).collect();
                ids.sort();
                ids.dedup();
                let verdict = if let Some(why) = pickle::unverified(&image) {
                    ids.push("unverified");
                    let _ = why;
                    "unverified"
                } else if hits.iter().any(|h| h.level == Level::Error) {
                    "error"
                } else if hits.is_empty() {
                    "clean"
                } else {
                    "warning"
                };
                (verdict.to_string(), ids.join(","))
            }
        };
        println!("{}\t{verdict}\t{ids}", p.display());
    }
    Ok(())
}
