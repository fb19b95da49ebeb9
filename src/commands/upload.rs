//! `hubwarden upload FILE`: send a SARIF file to GitHub code scanning.

use crate::Outcome;
use crate::cli::UploadArgs;
use crate::report::upload::{UploadOptions, upload_file};

/// Exit 0 on success, 2 (an error) on failure.
pub fn run(args: &UploadArgs) -> anyhow::Result<Outcome> {
    let env = |k: &str| std::env::var(k).ok();
    upload_file(&args.file, &args.github, &env, &UploadOptions::default())?;
    Ok(Outcome::Clean)
}
