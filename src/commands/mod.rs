//! Command entry points: one module per subcommand, the argument parsing, the
//! exit code and the log output. The stages never see `cli`; these do.

pub mod action;
pub mod check;
mod inventory;
pub mod pin;
mod rules;
pub mod scan;
mod upload;

use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::{Cli, Command};
use crate::{EXIT_FAILURE, Outcome, STATUS};

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
    init_tracing(cli.verbose, cli.quiet);
    crate::progress::configure(if cli.quiet {
        crate::progress::Mode::Never
    } else {
        cli.progress
    });
    match run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            // The run's own failure is the command's answer, not a log line: it
            // is printed whatever RUST_LOG says.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("hubwarden: error: {e:#}");
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Run one command.
pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Inventory(args) => inventory::run(&args),
        Command::Scan(args) => scan::scan_command(&args),
        Command::Pin(args) => pin::run(&args),
        Command::Rules(args) => rules::run(&args),
        Command::Upload(args) => upload::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Action => action::run(),
    }
}

/// Logs on stderr as `hubwarden: warning: ...` (status lines as `hubwarden: ...`).
/// Warnings and status lines show by default; `-v` adds info, `-vv` debug;
/// `RUST_LOG` overrides; `--quiet` drops the status lines.
fn init_tracing(verbose: u8, quiet: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let status = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},{STATUS}={status}"))
    });
    // Escape codes only for a person at a terminal: a log file or a pipe (a
    // bench reading `RUST_LOG=...=debug` fields) gets plain `key=value`.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Lines go above a progress bar that is being drawn, not through it.
        .with_writer(crate::progress::stderr_writer)
        .with_ansi(ansi)
        .event_format(Plain)
        .try_init();
}

/// `hubwarden: <level>: <message> <fields>`, one line per event.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() == STATUS {
            write!(w, "hubwarden: ")?;
        } else {
            let level = match *meta.level() {
                Level::ERROR => "error",
                Level::WARN => "warning",
                Level::INFO => "info",
                Level::DEBUG => "debug",
                Level::TRACE => "trace",
            };
            write!(w, "hubwarden: {level}: ")?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}
