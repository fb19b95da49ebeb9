//! Profiling aid: the slowest files to parse, to YARA-scan and to fully scan (not a benchmark).
use std::time::Instant;

use hubwarden::model::FileKind;
use hubwarden::scan::{RuleSet, Scanner};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_default();
    let rules = RuleSet::load(&[])?;
    let scanner = Scanner::new(&rules)?;
    let mut files = Vec::new();
    for e in ignore::WalkBuilder::new(&dir)
        .standard_filters(false)
        .build()
    {
        let e = e?;
        if e.path().extension().is_some_and(|x| x == "py") {
            files.push((e.path().display().to_string(), std::fs::read(e.path())?));
        }
    }
    let mut p = tree_sitter::Parser::new();
    p.set_language(&tree_sitter_python::LANGUAGE.into())?;
    let mut rows = Vec::new();
    let (mut tp, mut ty, mut tf) = (0.0, 0.0, 0.0);
    for (name, f) in &files {
        let t = Instant::now();
        let _ = p.parse(f, None);
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        scanner.scan_bytes(FileKind::Other, f);
        let b = t.elapsed().as_secs_f64();
        let t = Instant::now();
        scanner.scan_bytes(FileKind::Python, f);
        let c = t.elapsed().as_secs_f64();
        tp += a;
        ty += b;
        tf += c;
        rows.push((c, a, b, f.len(), name.clone()));
    }
    println!("parse {tp:.2}s yara {ty:.2}s full {tf:.2}s");
    rows.sort_by(|x, y| y.0.total_cmp(&x.0));
    for r in rows.iter().take(8) {
        println!(
            "full {:.3} parse {:.3} yara {:.3} {} {}",
            r.0, r.1, r.2, r.3, r.4
        );
    }
    Ok(())
}
