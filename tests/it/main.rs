//! The one integration-test binary: each stage has a module here; fixtures live
//! under tests/fixtures/.

mod action;
mod common;
mod conformance;
mod deps;
mod discover;
mod docs;
mod e2e;
mod fakegithub;
mod fakehub;
mod hub;
mod kernels;
mod pickle_fuzz;
mod pickles;
mod report;
mod resolve;
mod scan;
mod workflows;
