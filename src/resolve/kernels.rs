//! Hub kernels (`kernels` library): which build variant of a kernel repo
//! would load, and the lock hash `kernels lock` records for a variant.
//!
//! A kernel repo holds `build/<variant>/<package>/...`; the library picks the
//! variant for the installed torch (major.minor, C++ ABI), the accelerator
//! (CUDA major equal and minor not above the system's; ROCm, XPU, CPU, ...),
//! the CPU and the OS, preferring arch variants over `torch-<backend>` noarch
//! ones (kernels `variants.py`). The platform is not known statically: every
//! variant compatible with the declared torch range is a candidate, which is
//! the worst case, and the report says which variants exist.

use sha2::{Digest, Sha256};

use super::{Job, Outcome, ResolveError};
use crate::deps::{Assumed, Known, Version, VersionSet};
use crate::hub::{HubError, RepoSource};
use crate::model::{FileKind, HubKind, RepoType};

/// The publisher whose kernels transformers loads without `allow_all_kernels`
/// (and the one the Hub marks as a trusted kernel publisher).
pub const COMMUNITY_ORG: &str = "kernels-community";

/// `kernels.get_kernel` / `get_locked_kernel` / `load_kernel` and the lazy
/// `LayerRepository` / `FuncRepository` (and `Locked*`) entries: the kernel repo at
/// the revision the call (or `kernels.lock`) names, every build variant that
/// may load under the declared torch range, its Python files (imported) and
/// its native libraries (loaded into the process).
pub(crate) async fn resolve<S: RepoSource>(
    job: &mut Job<'_, S>,
    hub: HubKind,
) -> Result<Outcome, ResolveError> {
    let site = job.site;
    let o = job.origin(hub)?;
    if let Some(via) = site.args.get("via")
        && !path_runs(job, via, &o.repo_id)
    {
        return Ok(Outcome::Done);
    }
    let versions = job.opts.declared.versions(&site.path);
    let locked_api = site.api.ends_with("get_locked_kernel")
        || site.api.starts_with("kernels.Locked")
        || (site.api.ends_with("load_kernel") && o.revision.is_none());
    let mut revision = kernel_revision(
        o.revision.as_deref(),
        site.args.get("version").map(String::as_str),
    );
    if locked_api {
        match versions.kernel_lock(&o.repo_id) {
            Ok(Some(lock)) => {
                job.note(format!("commit {} from {}", lock.sha, lock.source));
                job.set_pinned_by(lock.source.clone());
                revision = Some(lock.sha);
            }
            Ok(None) => {
                return Err(ResolveError::Hub(HubError::NotFound(format!(
                    "no kernels.lock above the call locks {}: the commit the installed package locks is unknown",
                    o.repo_id
                ))));
            }
            Err(why) => {
                return Err(ResolveError::Hub(HubError::Protocol(format!(
                    "kernels.lock cannot be read ({why}): the locked commit is unknown"
                ))));
            }
        }
    } else if revision.is_none() {
        job.note("no revision or version: kernels reads the default branch (main)");
    }
    let snap = job
        .primary(hub, RepoType::Kernel, &o.repo_id, revision.as_deref())
        .await?;
    let why = if site.api.ends_with("Repository") {
        format!("imported by kernelize() through {}", site.api)
    } else {
        format!("imported by {}", site.api)
    };
    add_variants(job, &snap, &why).await?;
    Ok(Outcome::Done)
}

/// Whether the library path that names this kernel (`args["via"]`, see
/// `discover::kernel_calls`) exists in the declared versions; the decision
/// and its assumptions are recorded either way.
fn path_runs<S: RepoSource>(job: &mut Job<'_, S>, via: &str, repo: &str) -> bool {
    use crate::deps::rules;
    use crate::discover::kernel_calls as kc;
    let site = job.site;
    let versions = job.opts.declared.versions(&site.path);
    let trusted = repo.split('/').next() == Some(COMMUNITY_ORG);
    let allow_all = site
        .args
        .get("allow_all_kernels")
        .is_some_and(|v| v.split('|').any(|x| matches!(x, "true" | "1" | "dynamic")));
    let (rule, what) = match via {
        kc::VIA_ATTN if trusted || allow_all => (
            &rules::TRANSFORMERS_ATTN_KERNEL,
            "attn_implementation names this Hub kernel",
        ),
        // 5.3+ refuses other publishers without allow_all_kernels=True.
        kc::VIA_ATTN => (
            &rules::TRANSFORMERS_KERNEL_FROM_CONFIG,
            "attn_implementation names a kernel outside kernels-community without allow_all_kernels=True",
        ),
        kc::VIA_FLASH => (
            &rules::TRANSFORMERS_FLASH_FALLBACK,
            "transformers loads this kernel for a flash_attention_* name when flash_attn is not installed",
        ),
        kc::VIA_USE_KERNELS => (
            &rules::TRANSFORMERS_USE_KERNELS,
            "use_kernels=True kernelizes the model's layers with transformers' built-in mapping",
        ),
        kc::VIA_KERNEL_CONFIG => (
            &rules::TRANSFORMERS_KERNEL_CONFIG,
            "the call's KernelConfig maps a layer to this kernel",
        ),
        kc::VIA_DIFFUSERS => (
            &rules::DIFFUSERS_HUB_ATTENTION,
            "the diffusers hub attention backend loads this kernel",
        ),
        other => {
            job.mark_unverified(format!("unknown kernel path {other:?}"));
            return true;
        }
    };
    let mut decision = versions.decide(rule);
    if via == kc::VIA_FLASH {
        // The fallback needs flash_attn to be missing: a declared flash-attn
        // (any version) means the package itself runs, not a Hub kernel.
        let fa = versions.known("flash-attn");
        if !fa.set.is_empty()
            && matches!(
                fa.origin,
                crate::deps::Origin::Declared(_)
                    | crate::deps::Origin::Locked(_)
                    | crate::deps::Origin::Assumed(_)
            )
        {
            decision.applies = rules::Applies::Never;
            decision.assumed.push(Assumed {
                library: fa.library.clone(),
                range: fa.range_text(),
                source: fa.source(),
                assumption: "flash_attn is installed: transformers uses it, no Hub kernel".into(),
            });
        } else {
            decision.assumed.push(Assumed {
                library: fa.library.clone(),
                range: fa.range_text(),
                source: fa.source(),
                assumption:
                    "flash_attn not declared: assumed missing, so the Hub kernel loads (worst case)"
                        .into(),
            });
        }
    }
    job.assume(decision.assumed.clone());
    if decision.happens() {
        job.note(format!("{what} ({})", rule.source));
        true
    } else {
        job.note(format!(
            "{what}, but not with the declared versions: {}",
            decision
                .assumed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ));
        false
    }
}

/// The framework part of a variant name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framework {
    /// `torch27`, `torch27-cxx11`: exactly that torch major.minor.
    Torch { major: u64, minor: u64 },
    /// `torch-stable-abi27`: torch at or above.
    StableAbi { major: u64, minor: u64 },
    /// `tvm-ffi01`.
    TvmFfi,
    /// `torch-<backend>`: any torch (used when no arch variant fits).
    Noarch,
}

/// One `build/<name>` folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub framework: Framework,
    /// `cu126`, `rocm63`, `xpu`, `cpu`, `metal`, `npu`, ...
    pub backend: String,
    /// `x86_64`, `aarch64` (None for noarch).
    pub cpu: Option<String>,
    /// `linux`, `darwin`, `windows` (None for noarch).
    pub os: Option<String>,
}

fn torch_xy(s: &str, prefix: &str) -> Option<(u64, u64)> {
    let digits = s.strip_prefix(prefix)?;
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // One digit of major, the rest minor (kernels' `torch(\d)(\d+)`).
    Some((digits[..1].parse().ok()?, digits[1..].parse().ok()?))
}

/// Parse a variant folder name as the `kernels` library does; None for
/// anything else (the library skips those with a warning).
pub fn parse_variant(name: &str) -> Option<Variant> {
    let parts: Vec<&str> = name.split('-').collect();
    let arch = |rest: &[&str], framework: Framework| -> Option<Variant> {
        if rest.len() != 3 || rest.iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Variant {
            name: name.to_string(),
            framework,
            backend: rest[0].to_string(),
            cpu: Some(rest[1].to_string()),
            os: Some(rest[2].to_string()),
        })
    };
    if name.starts_with("torch-stable-abi") {
        let (major, minor) = torch_xy(parts.get(2)?, "abi")?;
        return arch(&parts[3..], Framework::StableAbi { major, minor });
    }
    if parts.first() == Some(&"torch") {
        let backend = parts[1..].join("-");
        if backend.is_empty() {
            return None;
        }
        return Some(Variant {
            name: name.to_string(),
            framework: Framework::Noarch,
            backend,
            cpu: None,
            os: None,
        });
    }
    if parts.first() == Some(&"tvm") && parts.get(1).is_some_and(|p| p.starts_with("ffi")) {
        return arch(&parts[2..], Framework::TvmFfi);
    }
    let (major, minor) = torch_xy(parts.first()?, "torch")?;
    let rest = if matches!(parts.get(1), Some(&"cxx11") | Some(&"cxx98")) {
        &parts[2..]
    } else {
        &parts[1..]
    };
    arch(rest, Framework::Torch { major, minor })
}

/// The variant folders a repo listing holds (`build/<name>/...`), parsed; the
/// names that do not parse are returned apart.
pub fn variants_in(files: &[String]) -> (Vec<Variant>, Vec<String>) {
    let mut names: Vec<&str> = files
        .iter()
        .filter_map(|f| {
            let rest = f.strip_prefix("build/")?;
            let (dir, below) = rest.split_once('/')?;
            (!below.is_empty()).then_some(dir)
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for n in names {
        match parse_variant(n) {
            Some(v) => ok.push(v),
            None => bad.push(n.to_string()),
        }
    }
    (ok, bad)
}

fn minor_range(major: u64, minor: u64) -> VersionSet {
    let lo = Version::release(&[major, minor]).first_of_release();
    let hi = Version::release(&[major, minor + 1]).first_of_release();
    VersionSet::at_least(lo).intersect(&VersionSet::below(hi))
}

/// List what a kernel snapshot would import: the build variants that may load
/// under the declared torch range, their Python files and native libraries
/// (`why` says who imports them). Also used for kernels a config names.
pub(crate) async fn add_variants<S: RepoSource>(
    job: &mut Job<'_, S>,
    snap: &crate::hub::Snapshot,
    why: &str,
) -> Result<(), ResolveError> {
    let versions = job.opts.declared.versions(&job.site.path);
    let (variants, bad) = variants_in(&snap.files);
    if !bad.is_empty() {
        job.note(format!(
            "{}: build folders the kernels library skips: {}",
            snap.repo_id,
            bad.join(", ")
        ));
    }
    if variants.is_empty() {
        job.note(format!(
            "{} has no build variants: get_kernel fails and nothing is imported",
            snap.repo_id
        ));
        return Ok(());
    }
    let torch = versions.known("torch");
    let picked = candidates(&variants, &torch);
    let all: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    let chosen: Vec<String> = picked.iter().map(|v| v.name.clone()).collect();
    job.note(format!(
        "{} build variants: {}",
        snap.repo_id,
        all.join(", ")
    ));
    job.assume([Assumed {
        library: torch.library.clone(),
        range: torch.range_text(),
        source: torch.source(),
        assumption: if chosen.is_empty() {
            format!(
                "no build variant of {} fits this torch range: nothing is imported",
                snap.repo_id
            )
        } else {
            format!(
                "variants of {} that may load on some platform: {}",
                snap.repo_id,
                chosen.join(", ")
            )
        },
    }]);
    for v in picked {
        let prefix = format!("build/{}/", v.name);
        let files: Vec<String> = snap
            .files
            .iter()
            .filter(|f| f.starts_with(&prefix))
            .cloned()
            .collect();
        for f in files {
            if f.ends_with(".py") {
                job.add_file(
                    snap,
                    &f,
                    FileKind::Python,
                    format!("kernel build variant {} ({why})", v.name),
                )
                .await?;
            } else if is_native(&f) {
                let w = format!(
                    "native library of kernel variant {} (loaded into the process; {why})",
                    v.name
                );
                match job.add_file(snap, &f, FileKind::Other, w).await {
                    Ok(_) => {}
                    Err(ResolveError::Hub(HubError::Cap(c))) => {
                        job.note(format!(
                            "{f}: over the read cap, listed but not scanned ({c})"
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(())
}

/// The variants that may load for some platform under the declared torch
/// range (the worst case over platforms), in the library's order of
/// preference (arch variants first).
pub fn candidates<'v>(variants: &'v [Variant], torch: &Known) -> Vec<&'v Variant> {
    let mut arch: Vec<&Variant> = Vec::new();
    let mut noarch: Vec<&Variant> = Vec::new();
    for v in variants {
        let fits = match v.framework {
            Framework::Torch { major, minor } => torch.set.overlaps(&minor_range(major, minor)),
            Framework::StableAbi { major, minor } => torch.set.overlaps(&VersionSet::at_least(
                Version::release(&[major, minor]).first_of_release(),
            )),
            // tvm-ffi versions are not declared anywhere we read: worst case.
            Framework::TvmFfi => true,
            Framework::Noarch => !torch.set.is_empty(),
        };
        if fits {
            if v.framework == Framework::Noarch {
                noarch.push(v);
            } else {
                arch.push(v);
            }
        }
    }
    arch.extend(noarch);
    arch
}

/// The revision `get_kernel` loads: `revision`, else branch `v<version>`, else
/// the default branch (kernels before 0.12 did not require either).
pub fn kernel_revision(revision: Option<&str>, version: Option<&str>) -> Option<String> {
    match (revision, version) {
        (Some(r), _) => Some(r.to_string()),
        (None, Some(v)) => Some(format!("v{}", v.trim().trim_start_matches(['v', 'V']))),
        (None, None) => None,
    }
}

/// `kernels lock`'s variant hash (`git_lfs_concat`): sha256 over the variant's
/// files sorted by path (relative to the variant folder, `__pycache__` and
/// `.pyc` left out), each path's bytes followed by its git blob id or LFS
/// sha256 as raw bytes. `files` holds (path in repo, hex hash).
pub fn variant_lock_hash(variant: &str, files: &[(String, String)]) -> Option<String> {
    let prefix = format!("build/{variant}/");
    let mut entries: Vec<(&str, Vec<u8>)> = Vec::new();
    for (path, hash) in files {
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        if rel.ends_with(".pyc") || rel.split('/').any(|p| p == "__pycache__") {
            continue;
        }
        entries.push((rel, hex::decode(hash).ok()?));
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut h = Sha256::new();
    for (rel, hash) in entries {
        h.update(rel.as_bytes());
        h.update(&hash);
    }
    Some(format!("sha256-{}", hex::encode(h.finalize())))
}

/// Whether a path is a native library of a variant.
pub fn is_native(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".so")
        || name.contains(".so.")
        || name.ends_with(".dylib")
        || name.ends_with(".pyd")
        || name.ends_with(".dll")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::{Assume, Declared};

    #[test]
    fn variant_names_parse_as_the_library_reads_them() {
        let v = parse_variant("torch27-cxx11-cu126-x86_64-linux").unwrap();
        assert_eq!(v.framework, Framework::Torch { major: 2, minor: 7 });
        assert_eq!(
            (v.backend.as_str(), v.cpu.as_deref(), v.os.as_deref()),
            ("cu126", Some("x86_64"), Some("linux"))
        );
        let v = parse_variant("torch210-cu130-aarch64-linux").unwrap();
        assert_eq!(
            v.framework,
            Framework::Torch {
                major: 2,
                minor: 10
            }
        );
        assert_eq!(
            parse_variant("torch-stable-abi27-cu128-x86_64-linux")
                .unwrap()
                .framework,
            Framework::StableAbi { major: 2, minor: 7 }
        );
        assert_eq!(
            parse_variant("torch-cpu").unwrap().framework,
            Framework::Noarch
        );
        assert_eq!(
            parse_variant("tvm-ffi01-cu128-x86_64-linux")
                .unwrap()
                .framework,
            Framework::TvmFfi
        );
        for bad in [
            "torch",
            "torch2",
            "torch27-cu126",
            "foo-cu126-x86_64-linux",
            "torch27-cxx11-cu126-x86_64-linux-extra",
            "",
        ] {
            assert!(parse_variant(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn candidates_follow_the_declared_torch_range() {
        let files: Vec<String> = [
            "README.md",
            "build/torch27-cxx11-cu126-x86_64-linux/k/__init__.py",
            "build/torch28-cxx11-cu128-x86_64-linux/k/__init__.py",
            "build/torch-cpu/k/__init__.py",
            "build/not-a-variant/x.py",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (vs, bad) = variants_in(&files);
        assert_eq!(vs.len(), 3);
        assert_eq!(bad, vec!["not-a-variant"]);
        let known = |spec: &str| {
            let a: Vec<Assume> = vec![spec.parse().unwrap()];
            Declared::assumed_only(&a).versions("m.py").known("torch")
        };
        let names = |k: &Known| {
            candidates(&vs, k)
                .iter()
                .map(|v| v.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&known("torch==2.7.1+cu126")),
            vec!["torch27-cxx11-cu126-x86_64-linux", "torch-cpu"]
        );
        assert_eq!(
            names(&known("torch>=2.8")),
            vec!["torch28-cxx11-cu128-x86_64-linux", "torch-cpu"]
        );
        assert_eq!(names(&known("torch")).len(), 3);
        assert!(names(&known("torch=none")).is_empty());
    }

    #[test]
    fn revision_and_lock_hash() {
        assert_eq!(kernel_revision(None, Some("1")), Some("v1".into()));
        assert_eq!(kernel_revision(Some("abc"), Some("1")), Some("abc".into()));
        assert_eq!(kernel_revision(None, None), None);
        let files = vec![
            ("build/v/k/b.py".to_string(), "00".repeat(20)),
            ("build/v/k/a.py".to_string(), "11".repeat(20)),
            ("build/v/k/__pycache__/a.pyc".to_string(), "22".repeat(20)),
            ("build/w/k/a.py".to_string(), "33".repeat(20)),
        ];
        let mut h = Sha256::new();
        h.update(b"k/a.py");
        h.update([0x11u8; 20]);
        h.update(b"k/b.py");
        h.update([0u8; 20]);
        assert_eq!(
            variant_lock_hash("v", &files),
            Some(format!("sha256-{}", hex::encode(h.finalize())))
        );
        assert!(variant_lock_hash("v", &[("build/v/x".into(), "zz".into())]).is_none());
        assert!(is_native("build/v/k/_ops.abi3.so") && !is_native("build/v/k/__init__.py"));
    }
}
