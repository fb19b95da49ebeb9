//! hubwarden: discover -> resolve -> fetch -> scan -> policy -> report, in-process.
//!
//! `run()` is the whole pipeline; the binary and the tests both call it.

pub mod action;
pub mod callsite;
pub mod cli;
pub mod config;
pub mod deps;
pub mod discover;
pub mod hub;
mod memo;
pub mod model;
pub mod pipeline;
pub mod policy;
pub(crate) mod pylex;
pub mod report;
pub mod resolve;
pub mod scan;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command};

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

/// Parse the process arguments, run, and map errors to exit code 2.
pub fn main_entry() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FAILURE } else { 0 };
            // clap renders help/version to stdout and errors to stderr itself.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("hubwarden: error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Run one command.
pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Inventory(args) => report::inventory::run(&args),
        Command::Scan(args) => pipeline::scan_command(&args),
        Command::Rules(args) => scan::rules_command(&args),
        Command::Upload(args) => report::upload::run(&args),
        Command::Action => action::run(),
    }
}
