//! Version-dependent behaviour of the loading libraries, as data, and how a
//! declared range decides it: a path runs for sure (the whole range is
//! affected), never (no version in the range is), or possibly (the range
//! crosses the border, is open, or is unknown), in which case the worst case
//! is assumed and said.
//!
//! Each boundary was read in the libraries' released code; where that
//! disagrees with an advisory, the code wins and `source` says so.

use super::range::{self, VersionSet};
use super::{Assumed, Known, Origin, Versions};

/// One library condition: the library is installed at a version in `versions`
/// (a PEP 440 specifier; empty: any installed version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub library: &'static str,
    pub versions: &'static str,
}

/// A behaviour that exists only in some library versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRule {
    pub id: &'static str,
    /// All must hold.
    pub when: &'static [When],
    /// What happens when they hold, for humans.
    pub effect: &'static str,
    /// Where the boundary comes from.
    pub source: &'static str,
}

const fn w(library: &'static str, versions: &'static str) -> When {
    When { library, versions }
}

/// `datasets` runs a repo's loading script (gate permitting).
pub const DATASETS_SCRIPTS: VersionRule = VersionRule {
    id: "datasets-loading-scripts",
    when: &[w("datasets", "<4")],
    effect: "datasets runs a dataset repo's loading script",
    source: "huggingface/datasets PR #7592 (4.0.0 removed script loading)",
};

/// `torch.load` defaults to `weights_only=True` (restricted unpickler).
pub const TORCH_WEIGHTS_ONLY: VersionRule = VersionRule {
    id: "torch-weights-only-default",
    when: &[w("torch", ">=2.6")],
    effect: "torch.load defaults to weights_only=True",
    source: "torch 2.6 release notes; transformers PR #37785",
};

/// `torch.hub.load` without `trust_repo` prompts (and fails with no TTY).
pub const TORCH_HUB_TRUST_CHECK: VersionRule = VersionRule {
    id: "torch-hub-trust-check-default",
    when: &[w("torch", ">=2.11")],
    effect: "torch.hub trust_repo defaults to \"check\" (refused without a TTY unless trusted)",
    source: "pytorch PR #174101 (2.11.0)",
};

/// A Hub repo id in a remote `config.json` attention implementation is loaded
/// as a kernel, with no `trust_remote_code` check and no publisher check.
pub const TRANSFORMERS_KERNEL_FROM_CONFIG: VersionRule = VersionRule {
    id: "transformers-kernel-from-config",
    when: &[w("transformers", ">=4.52,<5.3"), w("kernels", "")],
    effect: "a Hub repo id in config.json attn_implementation/_attn_implementation_internal is downloaded and imported as a kernel",
    source: "CVE-2026-4372 / GHSA-29pf-2h5f-8g72 (advisory: 4.56.0 to 5.2.x); transformers' code has the path since 4.52.0 (`org/repo:fn` form only in 4.52-4.53), fixed in 5.3.0 by the kernels-community check",
};

/// From 5.3 a kernel outside `kernels-community` needs `allow_all_kernels=True`.
pub const TRANSFORMERS_KERNEL_PUBLISHER_CHECK: VersionRule = VersionRule {
    id: "transformers-kernel-publisher-check",
    when: &[w("transformers", ">=5.3")],
    effect: "kernels outside kernels-community load only with allow_all_kernels=True",
    source: "transformers integrations/hub_kernels.py get_kernel (5.3.0); PR #44395",
};

/// `from_pretrained(attn_implementation="org/repo[:fn]")` loads a Hub kernel.
pub const TRANSFORMERS_ATTN_KERNEL: VersionRule = VersionRule {
    id: "transformers-attn-kernel",
    when: &[w("transformers", ">=4.52"), w("kernels", "")],
    effect: "attn_implementation=\"org/repo\" downloads and imports a Hub kernel",
    source: "transformers modeling_utils (4.52.0: `org/repo:fn`; 4.54: `org/repo`; 4.56: `@rev`, is_kernel)",
};

/// `flash_attention_2`/`_3` fall back to a kernels-community kernel when
/// `flash_attn` is not installed.
pub const TRANSFORMERS_FLASH_FALLBACK: VersionRule = VersionRule {
    id: "transformers-flash-kernel-fallback",
    when: &[w("transformers", ">=4.56"), w("kernels", "")],
    effect: "flash_attention_2/3/4 load kernels-community kernels from the Hub when flash_attn is not installed",
    source: "transformers modeling_utils _check_and_adjust_attn_implementation (4.56.0: flash-attn; 4.57: + vllm-flash-attn3; 5.0: FLASH_ATTN_KERNEL_FALLBACK flash-attn2; 5.4: + flash-attn4)",
};

/// `from_pretrained(use_kernels=True)` kernelizes layers with Hub kernels.
pub const TRANSFORMERS_USE_KERNELS: VersionRule = VersionRule {
    id: "transformers-use-kernels",
    when: &[w("transformers", ">=4.53"), w("kernels", "")],
    effect: "use_kernels=True replaces layers with kernels from the Hub (transformers' built-in mapping or a KernelConfig)",
    source: "transformers modeling_utils from_pretrained use_kernels (4.53.0); KernelConfig (5.0.0)",
};

/// `KernelConfig(kernel_mapping={...})`.
pub const TRANSFORMERS_KERNEL_CONFIG: VersionRule = VersionRule {
    id: "transformers-kernel-config",
    when: &[w("transformers", ">=5.0"), w("kernels", "")],
    effect: "KernelConfig maps layers to Hub kernels `org/repo:layer`",
    source: "transformers utils/kernel_config.py (5.0.0)",
};

/// LightGlue's config forwards its own `trust_remote_code` to the keypoint
/// detector's `AutoConfig.from_pretrained(_name_or_path)`.
pub const TRANSFORMERS_LIGHTGLUE: VersionRule = VersionRule {
    id: "transformers-lightglue-remote-detector",
    when: &[w("transformers", ">=4.54,<5.5")],
    effect: "a LightGlue config.json with trust_remote_code=true loads the keypoint detector's remote config code",
    source: "CVE-2026-5241 / GHSA-fgcw-684q-jj6r (advisory: 5.2 to 5.4.x); transformers' code has it since 4.54.0, fixed in 5.5.0 (PR #45122)",
};

/// diffusers' `*_hub` attention backends load kernels from the Hub.
pub const DIFFUSERS_HUB_ATTENTION: VersionRule = VersionRule {
    id: "diffusers-hub-attention",
    when: &[w("diffusers", ">=0.36"), w("kernels", "")],
    effect: "set_attention_backend(\"..._hub\") / DIFFUSERS_ATTN_BACKEND load attention kernels from the Hub",
    source: "diffusers models/attention_dispatch.py _HUB_KERNELS_REGISTRY (0.36.0)",
};

/// From 0.41 diffusers refuses hub backends of untrusted publishers unless
/// `DIFFUSERS_TRUST_REMOTE_KERNELS` is set.
pub const DIFFUSERS_KERNEL_PUBLISHER_CHECK: VersionRule = VersionRule {
    id: "diffusers-kernel-publisher-check",
    when: &[w("diffusers", ">=0.41")],
    effect: "hub attention kernels of untrusted publishers need DIFFUSERS_TRUST_REMOTE_KERNELS=true",
    source: "diffusers models/attention_dispatch.py _maybe_download_kernel_for_backend (0.41.0)",
};

/// The `kernels` library refuses repos of publishers the Hub does not mark
/// `trustedKernelPublisher` unless `trust_remote_code=True`.
pub const KERNELS_PUBLISHER_CHECK: VersionRule = VersionRule {
    id: "kernels-publisher-check",
    when: &[w("kernels", ">=0.16")],
    effect: "get_kernel refuses publishers without trustedKernelPublisher unless trust_remote_code=True",
    source: "huggingface/kernels issue #508, PR #512; kernels utils._check_trust_remote_code (0.16.0)",
};

/// Every rule, for listings and documentation.
pub const ALL: &[VersionRule] = &[
    DATASETS_SCRIPTS,
    TORCH_WEIGHTS_ONLY,
    TORCH_HUB_TRUST_CHECK,
    TRANSFORMERS_KERNEL_FROM_CONFIG,
    TRANSFORMERS_KERNEL_PUBLISHER_CHECK,
    TRANSFORMERS_ATTN_KERNEL,
    TRANSFORMERS_FLASH_FALLBACK,
    TRANSFORMERS_USE_KERNELS,
    TRANSFORMERS_KERNEL_CONFIG,
    TRANSFORMERS_LIGHTGLUE,
    DIFFUSERS_HUB_ATTENTION,
    DIFFUSERS_KERNEL_PUBLISHER_CHECK,
    KERNELS_PUBLISHER_CHECK,
];

/// Whether a version-dependent behaviour happens for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Applies {
    Never,
    /// The declared range crosses the border, is open or unknown: assumed to happen.
    Possibly,
    Always,
}

/// A decision with the assumptions it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub applies: Applies,
    pub assumed: Vec<Assumed>,
}

impl Decision {
    /// Whether to act as if the behaviour happens (the worst case when possible).
    pub fn happens(&self) -> bool {
        self.applies != Applies::Never
    }
}

fn affected_set(when: &When) -> VersionSet {
    if when.versions.is_empty() {
        return VersionSet::any();
    }
    // The table is ours; a bad entry is caught by the tests below.
    range::parse_pep440(when.versions).unwrap_or_else(|_| VersionSet::any())
}

fn describe(known: &Known, when: &When, applies: Applies) -> String {
    let affected = if when.versions.is_empty() {
        "installed".to_string()
    } else {
        format!("in {}", affected_set(when))
    };
    let lib = &known.library;
    match (&known.origin, applies) {
        (_, Applies::Never) if known.set.is_empty() => format!("{lib} not installed"),
        (_, Applies::Never) => format!("no declared version is {affected}"),
        (_, Applies::Always) => format!("every declared version is {affected}"),
        (Origin::Undeclared, _) => format!("not declared: worst case assumed ({lib} {affected})"),
        (Origin::Unreadable(_), _) => {
            format!("declaration unreadable: worst case assumed ({lib} {affected})")
        }
        _ if !known.unknown_parts.is_empty() => format!(
            "version not knowable ({}): worst case assumed ({lib} {affected})",
            known.unknown_parts.join("; ")
        ),
        _ => format!("the declared range reaches versions {affected}: worst case assumed"),
    }
}

impl Versions<'_> {
    /// Decide `rule` for this call.
    pub fn decide(&self, rule: &VersionRule) -> Decision {
        let mut applies = Applies::Always;
        let mut assumed = Vec::new();
        for when in rule.when {
            let known = self.known(when.library);
            let affected = affected_set(when);
            let a = if known.set.is_empty() || !known.set.overlaps(&affected) {
                Applies::Never
            } else if known.set.is_subset(&affected)
                && known.unknown_parts.is_empty()
                && !matches!(known.origin, Origin::Undeclared | Origin::Unreadable(_))
            {
                Applies::Always
            } else {
                Applies::Possibly
            };
            applies = applies.min(a);
            assumed.push(Assumed {
                library: known.library.clone(),
                range: known.range_text(),
                source: known.source(),
                assumption: describe(&known, when, a),
            });
        }
        Decision { applies, assumed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_parses_and_is_listed_once() {
        let mut ids = std::collections::BTreeSet::new();
        for r in ALL {
            assert!(ids.insert(r.id), "duplicate {}", r.id);
            for w in r.when {
                if !w.versions.is_empty() {
                    range::parse_pep440(w.versions).unwrap_or_else(|e| panic!("{}: {e}", r.id));
                }
            }
        }
    }
}
