//! Benchmark driver: scans every `.py` file under the given folders as a remote file
//! with the built-in rules (compiled once), in parallel, and prints totals.
//!
//! `cargo run --release --example scan_files -- [--whole-files] [--list] DIR...`
//! (used by bench/scan.sh). `--whole-files` parses every file whole instead of only
//! the statements a rule can match; `--list` prints every hit, to compare the two.

// The allocator of the `hubwarden` binary (src/main.rs), so the bench measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use hubwarden::model::{FileKind, HubKind, RemoteFile};
use hubwarden::scan::{RuleSet, Scanner};
use rayon::prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let whole = args.iter().any(|a| a == "--whole-files");
    let list = args.iter().any(|a| a == "--list");
    let dirs: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    anyhow::ensure!(
        !dirs.is_empty(),
        "usage: scan_files [--whole-files] [--list] DIR..."
    );
    let start = Instant::now();
    // The rules compile while the folders are walked (both are start-up, before any file
    // is scanned, and each keeps a core busy).
    let (scanner, files) = rayon::join(
        || -> anyhow::Result<(Scanner, std::time::Duration)> {
            let rules = RuleSet::load(&[]).context("loading rules")?;
            let mut scanner = Scanner::new(&rules).context("compiling rules")?;
            if whole {
                scanner = scanner.whole_files();
            }
            Ok((scanner, start.elapsed()))
        },
        || -> anyhow::Result<Vec<std::path::PathBuf>> {
            let mut files = Vec::new();
            for d in &dirs {
                for entry in ignore::WalkBuilder::new(d).standard_filters(false).build() {
                    let entry = entry?;
                    if entry.file_type().is_some_and(|t| t.is_file())
                        && entry.path().extension().is_some_and(|e| e == "py")
                    {
                        files.push(entry.into_path());
                    }
                }
            }
            Ok(files)
        },
    );
    let (scanner, compiled) = scanner?;
    let files = files?;
    let results: Vec<(u64, Vec<String>)> = files
        .par_iter()
        .map(|p| {
            let Ok(bytes) = std::fs::read(p) else {
                return (0, Vec::new());
            };
            let file = RemoteFile {
                hub: HubKind::Huggingface,
                repo_id: "bench/corpus".into(),
                commit: "0".repeat(40),
                path: p.display().to_string(),
                sha256: String::new(),
                bytes: bytes.len() as u64,
                why: "benchmark".into(),
                kind: FileKind::Python,
                content: Arc::new(bytes),
            };
            let hits = scanner.scan(&file);
            let shown = hits
                .into_iter()
                .map(|h| {
                    if list {
                        format!(
                            "{}:{}:{} {} {} {:?} {}",
                            file.path,
                            h.line,
                            h.column,
                            h.rule_id,
                            h.level.as_str(),
                            h.context,
                            h.message
                        )
                    } else {
                        h.rule_id
                    }
                })
                .collect();
            (file.bytes, shown)
        })
        .collect();
    if list {
        for (_, hits) in &results {
            for h in hits {
                println!("{h}");
            }
        }
        return Ok(());
    }
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut bytes = 0;
    for (b, ids) in &results {
        bytes += b;
        for id in ids {
            *by_rule.entry(id.clone()).or_default() += 1;
        }
    }
    let total: usize = by_rule.values().sum();
    println!(
        "files={} bytes={} hits={} rules_compile_ms={} total_ms={}",
        files.len(),
        bytes,
        total,
        compiled.as_millis(),
        start.elapsed().as_millis()
    );
    for (id, n) in by_rule {
        println!("  {id:<28} {n}");
    }
    Ok(())
}
