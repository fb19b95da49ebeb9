//! Remote-code gates: how a library's `trust_remote_code` (or lack of one)
//! treats the code a call would run, per the gate value discovery recorded.

/// How a call's remote-code gate behaves for the code it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// The code runs.
    Run,
    /// The library asks on a terminal: refused with no TTY (CI), runs on "y".
    /// The files are fetched and scanned, and `refused_remote_code` is set.
    Prompt(&'static str),
    /// The code is refused: flagged, never fetched.
    Refuse,
}

pub(crate) const TRANSFORMERS_PROMPT: &str = "trust_remote_code not given: transformers asks (y/N) on a terminal, so with no TTY (CI) the load fails, but an interactive \"y\" runs these files; they were fetched and scanned";
pub(crate) const DATASETS_PROMPT: &str = "trust_remote_code not given: datasets 3.x asks (y/N) on a terminal, so with no TTY (CI) the load fails, but an interactive \"y\" runs the script; it was fetched and scanned";
pub(crate) const TORCH_PROMPT: &str = "trust_repo asks (y/N) on a terminal for this repo, so with no TTY (CI) the load fails, but an interactive \"y\" runs hubconf.py; it was fetched and scanned";

/// `trust_remote_code` where `None` means a prompt (transformers and its
/// wrappers, peft which forwards it, datasets 3.x).
pub(crate) fn prompting(gate: &str, prompt: &'static str) -> Gate {
    match gate {
        "false" | "False" | "0" => Gate::Refuse,
        "absent" | "None" | "none" => Gate::Prompt(prompt),
        // "true", "dynamic" (may be true) and any other truthy literal.
        _ => Gate::Run,
    }
}

/// `trust_remote_code=False` by default (diffusers, sentence-transformers,
/// vLLM, ModelScope native).
pub(crate) fn default_false(gate: &str) -> Gate {
    match gate {
        "false" | "False" | "0" | "absent" | "None" | "none" => Gate::Refuse,
        _ => Gate::Run,
    }
}
