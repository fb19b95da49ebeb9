//! The pickle corpus (tests/fixtures/pickles, made by tests/fixtures/gen/pickle_corpus.py):
//! every malicious file is reported at error (or leaves the target unverified, which is
//! reported at error), every benign checkpoint passes with no finding at all. Each file
//! goes through the same range reads as a remote checkpoint.

use hubwarden::hub::checkpoint;
use hubwarden::model::{FileKind, Level};
use hubwarden::scan::{RuleSet, Scanner, pickle};

use crate::common::fixture;

struct Row {
    file: String,
    malicious: bool,
    class: String,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(fixture("pickles/manifest.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].to_string(),
                malicious: f[1] == "malicious",
                class: f[2].to_string(),
            }
        })
        .collect()
}

#[test]
fn corpus_malicious_at_error_and_benign_clean() {
    let rules = RuleSet::load(&[]).unwrap();
    let scanner = Scanner::new(&rules).unwrap();
    let rows = manifest();
    assert!(rows.iter().filter(|r| r.malicious).count() >= 40);
    assert!(rows.iter().filter(|r| !r.malicious).count() >= 10);
    let mut missed = Vec::new();
    for r in &rows {
        let bytes = std::fs::read(fixture(&format!("pickles/{}", r.file))).unwrap();
        let image = checkpoint::image_of_bytes(&bytes).unwrap();
        let hits = scanner.scan_bytes(FileKind::Pickle, &image);
        let unverified = pickle::unverified(&image);
        if r.malicious {
            let caught = unverified.is_some() || hits.iter().any(|h| h.level == Level::Error);
            if !caught {
                missed.push(format!("{} ({}): {hits:?}", r.file, r.class));
            }
            if r.class == "caps" {
                assert!(
                    unverified.is_some(),
                    "{}: caps make the target unverified",
                    r.file
                );
                assert!(
                    !hits.iter().any(|h| h.rule_id == "pickle-malformed"),
                    "{}: a cap is never a malformed warning: {hits:?}",
                    r.file
                );
            }
        } else if !hits.is_empty() || unverified.is_some() {
            missed.push(format!(
                "benign {} flagged: {unverified:?} {hits:?}",
                r.file
            ));
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
}

#[test]
fn zip_disagreements_are_reported_as_such() {
    let rules = RuleSet::load(&[]).unwrap();
    let scanner = Scanner::new(&rules).unwrap();
    for (file, needle) in [
        ("zip-bad-crc.pt", "Bad CRC-32"),
        (
            "zip-local-name-mismatch.pt",
            "file name in directory and header differ",
        ),
        ("zip-zip64-locator.pt", "Python's zipfile cannot open"),
        ("zip-prepended-offset.pt", "different bytes"),
        ("zip-fake-eocd-short.pt", "cannot open this archive"),
        ("zip-duplicate-last-benign.pt", "different contents"),
    ] {
        let bytes = std::fs::read(fixture(&format!("pickles/{file}"))).unwrap();
        let image = checkpoint::image_of_bytes(&bytes).unwrap();
        let hits = scanner.scan_bytes(FileKind::Pickle, &image);
        let m = hits
            .iter()
            .find(|h| h.rule_id == "pickle-container-mismatch")
            .unwrap_or_else(|| panic!("{file}: {hits:#?}"));
        assert_eq!(m.level, Level::Error);
        assert!(m.message.contains(needle), "{file}: {}", m.message);
        // The pickle torch loads is scanned whatever zipfile shows.
        assert!(
            hits.iter()
                .any(|h| h.rule_id == "pickle-dangerous-global" && h.message.contains("os.system")),
            "{file}: {hits:#?}"
        );
    }
}
