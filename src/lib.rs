//! hubwarden: discover -> resolve -> fetch -> scan -> policy -> report, in-process.
//!
//! The public surface: the stages (`discover`, `resolve`, `hub`, `scan`,
//! `policy`, `report`), the data between them (`model`), their configuration
//! (`config`, `deps`, `cli`), and the command entry points ([`run`],
//! [`main_entry`], the Action's planning in [`action`], the scan pipeline in
//! [`pipeline`]). Plumbing shared between stages (call sites, the memo, the
//! Python lexer) stays private.

pub mod cli;
pub mod config;
pub mod deps;
pub mod discover;
pub mod hub;
pub mod model;
pub mod policy;
pub mod progress;
pub mod report;
pub mod resolve;
pub mod scan;

mod callsite;
mod commands;
mod memo;
mod python;
mod rulemeta;

pub use commands::{action, main_entry, pin, run, scan as pipeline};

use std::process::ExitCode;

/// How a run ended; mapped to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing at or above the threshold.
    Clean,
    /// Findings at or above the threshold.
    Findings,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Clean => ExitCode::from(0),
            Outcome::Findings => ExitCode::from(1),
        }
    }
}

/// Exit code for a run that failed (bad arguments, bad config, unusable rules).
pub const EXIT_FAILURE: u8 = 2;

/// The tracing target of status lines (shown by default, as `hubwarden: ...`),
/// as opposed to warnings and debug logs.
pub(crate) const STATUS: &str = "hubwarden_status";
