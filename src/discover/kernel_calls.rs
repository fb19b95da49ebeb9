//! Hub kernels that a call loads through an argument rather than through
//! `kernels.get_kernel` itself: transformers' `attn_implementation="org/repo"`
//! (and the flash-attention names it maps to kernels), `use_kernels=True`
//! (transformers' built-in layer mapping) and `KernelConfig`, and diffusers'
//! `*_hub` attention backends. Each kernel becomes its own `LoadSite` of the
//! kernels family at the call, so that it is resolved, scanned, pinned and
//! judged like a `get_kernel` call; `args["via"]` says which path it is, and
//! the resolver decides from the declared versions whether the path exists.
//!
//! The tables are the libraries' own, read in their released code (the
//! version each comes from is in its doc line).

use std::sync::LazyLock;

use regex::Regex;
use tree_sitter::Node;

use super::python::BindKind;
use super::values::{Lit, Resolver, call_arg};
use crate::model::{Family, LoadSite, RepoType};
use crate::python::text;

/// `args["via"]` values (the resolver picks its version rule by them).
pub const VIA_ATTN: &str = "attn_implementation";
pub const VIA_FLASH: &str = "attn_implementation-fallback";
pub const VIA_USE_KERNELS: &str = "use_kernels";
pub const VIA_KERNEL_CONFIG: &str = "kernel_config";
pub const VIA_DIFFUSERS: &str = "attention_backend";

/// One kernel a library names in its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub repo: &'static str,
    /// A commit or branch, when the table pins one.
    pub revision: Option<&'static str>,
    /// `version=N` (the `vN` branch).
    pub version: Option<u32>,
    /// What uses it (layer, device).
    pub what: &'static str,
}

const fn b(repo: &'static str, version: Option<u32>, what: &'static str) -> Builtin {
    Builtin {
        repo,
        revision: None,
        version,
        what,
    }
}

/// transformers' built-in `use_kernels=True` mapping, the union of the tables
/// of 5.4.0 (`integrations/hub_kernels.py` `_KERNEL_MAPPING`) and 5.25.0
/// (`_build_kernel_mapping`): which entries load depends on the model's
/// layers and the device, neither known statically, so every repo may load.
/// Where both name a repo, the newer entry's version is kept.
pub const TRANSFORMERS_USE_KERNELS: &[Builtin] = &[
    Builtin {
        repo: "biohub/esmfold2-trimul",
        revision: Some("ab10a577bf38f385871eb9fc7c916ceadf3089a5"),
        version: None,
        what: "EsmFold2TriangleMultiplication on CUDA, trust_remote_code=True in the mapping (5.25.0)",
    },
    Builtin {
        repo: "Atlas-Inference/gdn",
        revision: Some("531ae679ab5c13a3bf49607e1b6e6459300772e9"),
        version: None,
        what: "Qwen3_5GatedDeltaNet on CUDA sm121, trust_remote_code=True in the mapping (5.25.0)",
    },
    b(
        "kernels-community/fla",
        Some(3),
        "linear attention layers (5.25.0)",
    ),
    b(
        "kernels-community/mamba-ssm",
        Some(5),
        "Mamba layers (5.25.0)",
    ),
    b(
        "kernels-community/liger-kernels",
        Some(4),
        "RMSNorm on CUDA/ROCm (5.25.0)",
    ),
    b(
        "kernels-community/activation",
        Some(1),
        "GELU/SiLU layers (5.4.0, 5.25.0)",
    ),
    b(
        "kernels-community/rotary",
        Some(2),
        "rotary_pos_emb on CUDA/XPU (5.4.0 unversioned, 5.25.0 v2)",
    ),
    b(
        "kernels-community/aiter-rope",
        Some(3),
        "rotary_pos_emb on ROCm (5.25.0)",
    ),
    b(
        "kernels-community/deformable-detr",
        Some(2),
        "MultiScaleDeformableAttention (5.4.0 unversioned, 5.25.0 v2)",
    ),
    b(
        "kernels-community/moe",
        None,
        "Llama4TextMoe on CUDA (5.4.0)",
    ),
    b(
        "kernels-community/liger_kernels",
        None,
        "RMSNorm on CUDA/ROCm/NPU (5.4.0)",
    ),
    b("kernels-community/rmsnorm", None, "RMSNorm on XPU (5.4.0)"),
    b(
        "kernels-community/mlx_rmsnorm",
        None,
        "RMSNorm on MPS (5.4.0)",
    ),
    b(
        "kernels-community/megablocks",
        None,
        "MegaBlocksMoeMLP on CUDA/XPU/CPU (5.4.0)",
    ),
    b("medmekk/triton-llama-mlp", None, "MLP on CUDA (5.4.0)"),
    b(
        "ahadnagy/megablocks",
        None,
        "MegaBlocksMoeMLP on ROCm (5.4.0)",
    ),
];

/// The kernels transformers loads for `flash_attention_2/3/4` when the
/// `flash_attn` package is missing (`modeling_flash_attention_utils.py`
/// `FLASH_ATTN_KERNEL_FALLBACK`, 5.25.0: ROCm maps 2 and 3 to aiter-flash-attn;
/// 5.4.0 has the CUDA names only).
pub fn flash_fallbacks(name: &str) -> &'static [&'static str] {
    match name.rsplit('|').next().unwrap_or(name) {
        "flash_attention_2" => &[
            "kernels-community/flash-attn2",
            "kernels-community/aiter-flash-attn",
        ],
        "flash_attention_3" => &[
            "kernels-community/vllm-flash-attn3",
            "kernels-community/aiter-flash-attn",
        ],
        "flash_attention_4" => &["kernels-community/flash-attn4"],
        _ => &[],
    }
}

/// diffusers' hub attention backends (`models/attention_dispatch.py`
/// `_HUB_KERNELS_REGISTRY`, 0.42.1): backend name -> (repo, version).
pub fn diffusers_backend(name: &str) -> Option<(&'static str, u32)> {
    Some(match name {
        "flash_hub" | "flash_varlen_hub" => ("kernels-community/flash-attn2", 3),
        "_flash_3_hub" | "_flash_3_varlen_hub" => ("kernels-community/flash-attn3", 1),
        "flash_4_hub" => ("kernels-community/flash-attn4", 0),
        "aiter_fa2_hub" => ("kernels-community/aiter-flash-attn-ck", 1),
        "sage_hub" => ("SageAttention/sage-attention", 3),
        "sage_blackwell_hub" => ("SageAttention/sage-blackwell", 1),
        _ => return None,
    })
}

static KERNEL_ID: LazyLock<Regex> = LazyLock::new(|| {
    // transformers' `is_kernel` (integrations/hub_kernels.py, 4.56+).
    Regex::new(r"^[^/:]+/[^/:]+(?:@[^/:]+)?(?::[^/:]+)?$")
        .unwrap_or_else(|e| unreachable!("a valid regex: {e}"))
});

/// `[wrapper|]org/repo[@rev][:fn]` -> (repo, rev, fn), as transformers splits
/// it (`load_and_register_attn_kernel`); None for anything `is_kernel` rejects.
pub fn parse_kernel_id(value: &str) -> Option<(String, Option<String>, Option<String>)> {
    let v = value.rsplit('|').next().unwrap_or(value).trim();
    if !KERNEL_ID.is_match(v) {
        return None;
    }
    let (repo, func) = match v.split_once(':') {
        Some((r, f)) => (r, Some(f.trim().to_string())),
        None => (v, None),
    };
    let (repo, rev) = match repo.split_once('@') {
        Some((r, rev)) => (r.trim(), Some(rev.trim().to_string())),
        None => (repo.trim(), None),
    };
    Some((repo.to_string(), rev, func))
}

fn kernel_id(v: &str) -> Option<(String, Option<String>, Option<String>)> {
    parse_kernel_id(v)
}

/// The call node an expression names: the call itself, or the call assigned
/// to a name (`cfg = KernelConfig(...)`).
fn call_node<'t>(r: &Resolver<'_, 't>, n: Node<'t>, depth: u32) -> Option<Node<'t>> {
    if depth > 6 {
        return None;
    }
    match n.kind() {
        "call" => Some(n),
        "parenthesized_expression" => call_node(r, n.named_child(0)?, depth + 1),
        "identifier" => match r.index().lookup(text(n, r.index().src), n)?.kind {
            BindKind::Assign(rhs) => call_node(r, rhs, depth + 1),
            _ => None,
        },
        _ => None,
    }
}

/// Every string an expression may hold (a literal dict: its values), with
/// `false` when some value is not statically known.
fn strings<'t>(r: &Resolver<'_, 't>, n: Node<'t>) -> (Vec<String>, bool) {
    let dict = r.kwargs_dict(n, 0);
    if !dict.is_empty() {
        let mut out = Vec::new();
        let mut known = true;
        for (_, v) in dict {
            let (s, k) = strings(r, v);
            out.extend(s);
            known &= k;
        }
        return (out, known);
    }
    let mut out = Vec::new();
    let mut known = true;
    for v in r.resolve(n) {
        match v.lit {
            Lit::Str(s) => out.push(s),
            Lit::None => {}
            _ => known = false,
        }
    }
    (out, known)
}

fn derived(base: &LoadSite, api: String, repo: &str, via: &str) -> LoadSite {
    let mut s = base.clone();
    s.api = api;
    s.family = Family::Kernels;
    s.repo_type = RepoType::Kernel;
    s.repo_id = Some(repo.to_string());
    s.revision = None;
    s.gate = "absent".into();
    s.args.retain(|k, _| k == "allow_all_kernels");
    s.args.insert("via".into(), via.into());
    if let Some(model) = &base.repo_id {
        s.args.insert("model".into(), model.clone());
    }
    s
}

fn push(out: &mut Vec<LoadSite>, s: LoadSite) {
    let mut s = s;
    s.pinned = s.revision.as_deref().is_some_and(crate::hub::is_commit);
    if !out.iter().any(|o| {
        o.api == s.api && o.repo_id == s.repo_id && o.revision == s.revision && o.args == s.args
    }) {
        out.push(s);
    }
}

/// The kernels a transformers `from_pretrained` loads through its arguments,
/// as sites of the kernels family next to `base` (the model load itself).
pub fn transformers_kernels<'t>(
    r: &Resolver<'_, 't>,
    base: &LoadSite,
    kwarg: &dyn Fn(&[&str]) -> Option<Node<'t>>,
) -> Vec<LoadSite> {
    let mut out = Vec::new();
    if base.family != Family::Transformers || !base.api.ends_with(".from_pretrained") {
        return out;
    }
    let mut base = base.clone();
    if let Some(n) = kwarg(&["allow_all_kernels"]) {
        let v: Vec<String> = r
            .resolve(n)
            .iter()
            .map(|v| v.display().unwrap_or_else(|| "dynamic".into()))
            .collect();
        base.args
            .insert("allow_all_kernels".into(), v.join("|").to_lowercase());
    }
    let api_of = |what: &str| format!("{}[{what}]", base.api);
    if let Some(n) = kwarg(&["attn_implementation"]) {
        let (values, _) = strings(r, n);
        for v in values {
            if let Some((repo, rev, func)) = kernel_id(&v) {
                let mut s = derived(&base, api_of("attn_implementation"), &repo, VIA_ATTN);
                s.revision = rev;
                if let Some(f) = func {
                    s.args.insert("function".into(), f);
                }
                s.resolution = format!("attn_implementation={v:?}");
                push(&mut out, s);
            } else {
                for repo in flash_fallbacks(&v) {
                    let mut s = derived(&base, api_of("attn_implementation"), repo, VIA_FLASH);
                    s.args.insert("fallback_for".into(), v.clone());
                    s.resolution = format!(
                        "attn_implementation={v:?}: transformers' kernel fallback when flash_attn is not installed"
                    );
                    push(&mut out, s);
                }
            }
        }
    }
    let use_kernels = kwarg(&["use_kernels"]).map(|n| {
        r.resolve(n)
            .iter()
            .any(|v| !matches!(v.lit, Lit::Bool(false) | Lit::None))
    });
    let kernel_config = kwarg(&["kernel_config"]);
    // transformers turns use_kernels on when a kernel_config is given (5.x).
    if use_kernels == Some(true) || kernel_config.is_some() {
        if let Some(cfg) = kernel_config {
            let (repos, known) = kernel_config_repos(r, cfg);
            for (repo, layer) in repos {
                let mut s = derived(&base, api_of("kernel_config"), &repo, VIA_KERNEL_CONFIG);
                s.args.insert("layer".into(), layer);
                s.resolution = "KernelConfig kernel_mapping".into();
                push(&mut out, s);
            }
            if !known {
                let mut s = derived(&base, api_of("kernel_config"), "", VIA_KERNEL_CONFIG);
                s.repo_id = None;
                s.resolution =
                    "unresolved: the KernelConfig mapping is not statically known".into();
                push(&mut out, s);
            }
        }
        // The built-in mapping applies to every layer a KernelConfig does not
        // name (`use_local_kernel` defaults to False: the mapping is inherited).
        for k in TRANSFORMERS_USE_KERNELS {
            let mut s = derived(&base, api_of("use_kernels"), k.repo, VIA_USE_KERNELS);
            s.revision = k.revision.map(str::to_string);
            if let Some(v) = k.version {
                s.args.insert("version".into(), v.to_string());
            }
            s.args.insert("layer".into(), k.what.to_string());
            s.resolution = format!("transformers' built-in kernel mapping: {}", k.what);
            push(&mut out, s);
        }
    }
    out
}

/// The repos of `KernelConfig(kernel_mapping={layer: "org/repo:Layer" | {device: ...}})`.
fn kernel_config_repos<'t>(r: &Resolver<'_, 't>, n: Node<'t>) -> (Vec<(String, String)>, bool) {
    let src = r.index().src;
    let Some(c) = call_node(r, n, 0) else {
        return (Vec::new(), false);
    };
    let is_kc = c
        .child_by_field_name("function")
        .is_some_and(|f| text(f, src).ends_with("KernelConfig"));
    if !is_kc {
        return (Vec::new(), false);
    }
    let Some(mapping) = call_arg(c, src, Some(0), &["kernel_mapping"]) else {
        return (Vec::new(), true);
    };
    let pairs = r.kwargs_dict(mapping, 0);
    if pairs.is_empty() {
        return (Vec::new(), false);
    }
    let mut out = Vec::new();
    let mut known = true;
    for (layer, v) in pairs {
        let (values, k) = strings(r, v);
        known &= k;
        for s in values {
            match kernel_id(&s) {
                Some((repo, _, _)) => {
                    if !out.iter().any(|(r, _)| *r == repo) {
                        out.push((repo, layer.clone()));
                    }
                }
                None => known = false,
            }
        }
    }
    (out, known)
}

/// diffusers `X.set_attention_backend("flash_hub")` / `attention_backend("flash_hub")`:
/// the site discovery made with the backend name as its id becomes the
/// backend's kernel repo; a backend that is not a hub backend is no load.
pub fn diffusers_backend_site(mut s: LoadSite) -> Option<LoadSite> {
    let name = s.repo_id.take()?;
    let (repo, version) = diffusers_backend(&name)?;
    s.repo_id = Some(repo.to_string());
    s.repo_type = RepoType::Kernel;
    s.family = Family::Kernels;
    s.gate = "absent".into();
    s.args.insert("via".into(), VIA_DIFFUSERS.into());
    s.args.insert("backend".into(), name.clone());
    s.args.insert("version".into(), version.to_string());
    s.resolution = format!("diffusers hub attention backend {name:?}");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_name_valid_repo_ids() {
        for k in TRANSFORMERS_USE_KERNELS {
            assert!(kernel_id(k.repo).is_some(), "{}", k.repo);
        }
        for n in [
            "flash_attention_2",
            "paged|flash_attention_3",
            "flash_attention_4",
        ] {
            assert!(!flash_fallbacks(n).is_empty(), "{n}");
        }
        assert!(flash_fallbacks("sdpa").is_empty());
        assert_eq!(
            diffusers_backend("sage_hub"),
            Some(("SageAttention/sage-attention", 3))
        );
        assert_eq!(diffusers_backend("flash"), None);
    }
}
