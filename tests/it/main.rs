//! The one integration-test binary: each stage has a module here; fixtures live
//! under tests/fixtures/.

// A test panics on purpose: an `unwrap` that fails is a failed assertion, and
// what a test prints on stderr is shown only when it fails.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod action;
mod adversarial;
mod archive_fuzz;
mod cache;
mod chains;
mod check;
mod common;
mod conformance;
mod deps;
mod discover;
mod docs;
mod e2e;
mod fakegithub;
mod fakehub;
mod follow;
mod hub;
mod kernels;
mod local_dirs;
mod pickle_fuzz;
mod pickles;
mod pin;
mod progress;
mod report;
mod resolve;
mod scan;
mod taint;
mod workflows;
