//! The one integration-test binary: each stage has a module here; fixtures live
//! under tests/fixtures/.

mod common;
mod scan;
