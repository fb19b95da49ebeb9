//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Absolute path of a fixture under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hubwarden"))
}
