//! Which weight files a call unpickles: a pure decision from the repository listing,
//! the call's arguments (`subfolder`, `use_safetensors`, `variant`) and the loading
//! library's own file-name rules. transformers (and what loads through it) picks
//! `model.safetensors` / `model.safetensors.index.json` unless `use_safetensors=False`,
//! else `pytorch_model.bin` / `pytorch_model.bin.index.json`, with the variant inserted
//! before the extension; a sharded index's `weight_map` names the shards, whatever they
//! are called. An unrelated `*.safetensors` (an adapter, another folder) exempts nothing.
//! Loaders whose weights are chosen by code (ModelScope models, torch.hub entry points)
//! and downloads list every pickle-format file, because something will load them.

use serde_json::Value;

use crate::model::{LoadSite, Platform};

/// The library rules that pick the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    /// `from_pretrained` of transformers (also sentence-transformers, vLLM, the base
    /// model of a peft adapter).
    Transformers,
    /// diffusers: every component folder of a pipeline, or one `subfolder`.
    Diffusers,
    /// peft `PeftModel` / `AutoPeftModel*`: `adapter_model.safetensors`, else `.bin`.
    Peft,
    /// Weights chosen by code or by whoever uses a download: every pickle-format file.
    Any,
}

/// The call arguments that change the choice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub subfolder: String,
    /// `use_safetensors` as written (None: not given, the library default).
    pub use_safetensors: Option<bool>,
    pub variant: Option<String>,
}

impl Args {
    pub fn of(site: &LoadSite) -> Args {
        // Not a literal (`dynamic`, a variable): assume the value that loads pickles.
        let use_safetensors = match site
            .args
            .get("use_safetensors")
            .map(|v| v.to_ascii_lowercase())
        {
            None => None,
            Some(v) if v == "none" => None,
            Some(v) if v == "true" => Some(true),
            Some(_) => Some(false),
        };
        Args {
            subfolder: site.args.get("subfolder").cloned().unwrap_or_default(),
            use_safetensors,
            variant: site.args.get("variant").filter(|v| !v.is_empty()).cloned(),
        }
    }
}

/// The family of a call, from its API.
pub fn loader_of(site: &LoadSite) -> Loader {
    let api = site.api.as_str();
    if api.contains("snapshot_download")
        || api.contains("hf_hub_download")
        || api.contains("file_download")
    {
        return Loader::Any;
    }
    match site.platform {
        Platform::Huggingface if api.starts_with("diffusers.") => Loader::Diffusers,
        Platform::Huggingface if api.starts_with("peft.") => Loader::Peft,
        Platform::Huggingface => Loader::Transformers,
        _ => Loader::Any,
    }
}

/// What a call unpickles from one repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choice {
    /// (path, why) of pickle files that are loaded.
    pub files: Vec<(String, String)>,
    /// (index path, why): sharded checkpoints whose `weight_map` shards are loaded.
    pub indexes: Vec<(String, String)>,
    /// Facts for the report (which safetensors file is loaded instead, ...).
    pub notes: Vec<String>,
}

/// `transformers.modeling_utils._add_variant`: `pytorch_model.bin` -> `pytorch_model.fp16.bin`.
pub fn add_variant(name: &str, variant: Option<&str>) -> String {
    match (variant, name.rsplit_once('.')) {
        (Some(v), Some((stem, ext))) => format!("{stem}.{v}.{ext}"),
        _ => name.to_string(),
    }
}

fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Pickle-format weights by file name (what `torch.load` / `pickle.load` reads).
pub fn is_pickle_weight(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("pytorch_model") && lower.ends_with(".bin"))
        || (lower.starts_with("diffusion_pytorch_model") && lower.ends_with(".bin"))
        || lower == "adapter_model.bin"
        || lower == "training_args.bin"
        || [".pt", ".pth", ".ckpt", ".pkl", ".pickle"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

/// transformers' choice in one folder for the weight names `st` (safetensors) and
/// `pt` (pickle), e.g. `model` / `pytorch_model`.
fn hf_folder(
    has: &dyn Fn(&str) -> bool,
    dir: &str,
    st: &str,
    pt: &str,
    args: &Args,
    lib: &str,
    out: &mut Choice,
) -> bool {
    let v = args.variant.as_deref();
    let st_file = join(dir, &add_variant(&format!("{st}.safetensors"), v));
    let st_index = join(
        dir,
        &add_variant(&format!("{st}.safetensors.index.json"), v),
    );
    let pt_file = join(dir, &add_variant(&format!("{pt}.bin"), v));
    let pt_index = join(dir, &add_variant(&format!("{pt}.bin.index.json"), v));
    if args.use_safetensors != Some(false) {
        for f in [&st_file, &st_index] {
            if has(f) {
                out.notes
                    .push(format!("{lib} loads {f} (safetensors): no pickle"));
                return true;
            }
        }
        if args.use_safetensors == Some(true) {
            out.notes.push(format!(
                "use_safetensors=True and no {st_file}: {lib} refuses to load pickle weights"
            ));
            return true;
        }
    }
    let why = |what: &str| {
        let reason = if args.use_safetensors == Some(false) {
            "use_safetensors=False".to_string()
        } else {
            format!("no {st_file}")
        };
        format!("{what} loaded by {lib} ({reason})")
    };
    if has(&pt_file) {
        out.files.push((pt_file.clone(), why("pickle weights")));
        return true;
    }
    if has(&pt_index) {
        out.indexes
            .push((pt_index.clone(), why("sharded pickle weights")));
        return true;
    }
    false
}

/// The pickle files (and sharded indexes) that a call of `loader` unpickles from a
/// repository with `files`.
pub fn choose(loader: Loader, files: &[String], args: &Args) -> Choice {
    let set: std::collections::HashSet<&str> = files.iter().map(String::as_str).collect();
    let has = |p: &str| set.contains(p);
    let mut out = Choice::default();
    let dir = args.subfolder.trim_matches('/');
    match loader {
        Loader::Transformers | Loader::Peft => {
            let adapter = ["adapter_model.safetensors", "adapter_model.bin"]
                .iter()
                .any(|n| has(&join(dir, n)));
            if loader == Loader::Peft || (adapter && has(&join(dir, "adapter_config.json"))) {
                let st = join(dir, "adapter_model.safetensors");
                let bin = join(dir, "adapter_model.bin");
                if has(&st) {
                    out.notes
                        .push(format!("peft loads {st} (safetensors): no pickle"));
                } else if has(&bin) {
                    out.files.push((
                        bin,
                        "adapter weights loaded by peft (no adapter_model.safetensors)".to_string(),
                    ));
                }
                if adapter || loader == Loader::Peft {
                    return out;
                }
            }
            hf_folder(
                &has,
                dir,
                "model",
                "pytorch_model",
                args,
                "transformers",
                &mut out,
            );
        }
        Loader::Diffusers => {
            let mut dirs: Vec<String> = if dir.is_empty() {
                let mut d: Vec<String> = files
                    .iter()
                    .filter_map(|f| f.split_once('/').map(|(d, _)| d.to_string()))
                    .collect();
                d.push(String::new());
                d.sort();
                d.dedup();
                d
            } else {
                vec![dir.to_string()]
            };
            dirs.retain(|d| !d.starts_with('.'));
            for d in dirs {
                let mut tried = false;
                for (st, pt) in [
                    ("diffusion_pytorch_model", "diffusion_pytorch_model"),
                    ("model", "pytorch_model"),
                ] {
                    if hf_folder(&has, &d, st, pt, args, "diffusers", &mut out) {
                        tried = true;
                        break;
                    }
                }
                // diffusers falls back to the weights without the variant.
                if !tried && args.variant.is_some() {
                    let plain = Args {
                        variant: None,
                        ..args.clone()
                    };
                    for (st, pt) in [
                        ("diffusion_pytorch_model", "diffusion_pytorch_model"),
                        ("model", "pytorch_model"),
                    ] {
                        if hf_folder(&has, &d, st, pt, &plain, "diffusers", &mut out) {
                            break;
                        }
                    }
                }
            }
        }
        Loader::Any => {
            for f in files.iter().filter(|f| is_pickle_weight(f)) {
                out.files.push((
                    f.clone(),
                    "pickle-format file (loaded by code or by whoever uses the download)"
                        .to_string(),
                ));
            }
        }
    }
    out
}

/// The shard files a sharded index's `weight_map` names, relative to the repository
/// root (shards live next to the index).
pub fn shards(index_path: &str, index: &Value) -> Result<Vec<String>, String> {
    let map = index
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{index_path} has no weight_map object"))?;
    let dir = index_path.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out: Vec<String> = Vec::new();
    for v in map.values() {
        let Some(name) = v.as_str() else {
            return Err(format!(
                "{index_path}: a weight_map value is not a file name"
            ));
        };
        out.push(join(dir, name));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn transformers_prefers_safetensors_unless_told_not_to() {
        let repo = files(&["config.json", "model.safetensors", "pytorch_model.bin"]);
        let c = choose(Loader::Transformers, &repo, &Args::default());
        assert!(c.files.is_empty(), "{c:?}");
        let no = Args {
            use_safetensors: Some(false),
            ..Args::default()
        };
        let c = choose(Loader::Transformers, &repo, &no);
        assert_eq!(c.files[0].0, "pytorch_model.bin");
        assert!(c.files[0].1.contains("use_safetensors=False"));
    }

    #[test]
    fn an_unrelated_safetensors_exempts_nothing() {
        let repo = files(&[
            "adapter/adapter_model.safetensors",
            "pytorch_model.bin",
            "other.safetensors",
        ]);
        let c = choose(Loader::Transformers, &repo, &Args::default());
        assert_eq!(c.files[0].0, "pytorch_model.bin");
    }

    #[test]
    fn variants_and_shards() {
        let repo = files(&["model.safetensors", "pytorch_model.bin.index.fp16.json"]);
        let fp16 = Args {
            variant: Some("fp16".into()),
            ..Args::default()
        };
        let c = choose(Loader::Transformers, &repo, &fp16);
        assert_eq!(c.indexes[0].0, "pytorch_model.bin.index.fp16.json");
        let idx: Value =
            serde_json::json!({"weight_map": {"a": "w-1.dat", "b": "w-2.dat", "c": "w-1.dat"}});
        assert_eq!(
            shards("sub/pytorch_model.bin.index.json", &idx).unwrap(),
            ["sub/w-1.dat", "sub/w-2.dat"]
        );
    }
}
