//! The `hubwarden` binary: parse the command line, run, map the outcome to an exit code.

// Discovery and the scan allocate many small, short-lived strings and vectors on every
// rayon thread; mimalloc's per-thread free lists serve them faster than glibc's arenas
// (bench/scan.sh and bench/inventory.sh, figures in the README). ruff and uv do the same.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hubwarden::main_entry()
}
