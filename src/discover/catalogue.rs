//! The loader catalogue as data: which qualified call names load from a model hub,
//! and where each takes its repo id, revision and remote-code gate.

use crate::model::{Platform, RepoType};

/// How a loader's arguments are interpreted beyond the common table columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Class.from_pretrained(id, ...)` and plain constructors taking an id.
    Plain,
    /// `AutoModel*.from_config(cfg, trust_remote_code=...)`: reported only when the gate is given.
    FromConfig,
    /// `pipeline(task, model=...)`: the task is recorded; no model means a built-in default.
    Pipeline,
    /// A download-only call whose result may be passed to `from_pretrained`.
    Snapshot,
    /// `torch.hub.load('owner/repo[:ref]', ...)` and paddle's `hub.load`.
    GithubHub,
    /// `paddlehub.Module(name=...)`.
    PaddleModule,
    /// `mmengine.Config.fromfile(path)`: a local config file that is evaluated.
    MmConfig,
}

/// One loader entry point.
#[derive(Debug, Clone, Copy)]
pub struct Loader {
    /// Normalised qualified name (see [`normalise`]); `*` stands for one class
    /// segment starting with an upper-case letter.
    pub pattern: &'static str,
    /// The reported API; `{}` is replaced by the class name.
    pub api: &'static str,
    pub platform: Platform,
    pub repo_type: RepoType,
    pub kind: Kind,
    /// Positional index of the repo id, if it may be positional.
    pub id_pos: Option<usize>,
    /// Keyword names of the repo id.
    pub id_kw: &'static [&'static str],
    /// The remote-code gate keyword; `None` = the platform has no gate ("absent").
    pub gate_kw: Option<&'static str>,
    /// Keywords holding the requested revision, first found wins.
    pub rev_kw: &'static [&'static str],
    /// Other keywords recorded in `LoadSite::args` when statically known.
    pub extra_kw: &'static [&'static str],
}

const HF_EXTRA: &[&str] = &["code_revision", "subfolder", "tokenizer", "variant"];

macro_rules! loader {
    ($pat:expr, $api:expr, $plat:ident, $rt:ident, $kind:ident, $pos:expr, $kw:expr, $gate:expr, $rev:expr, $extra:expr) => {
        Loader {
            pattern: $pat,
            api: $api,
            platform: Platform::$plat,
            repo_type: RepoType::$rt,
            kind: Kind::$kind,
            id_pos: $pos,
            id_kw: $kw,
            gate_kw: $gate,
            rev_kw: $rev,
            extra_kw: $extra,
        }
    };
}

const TRC: Option<&str> = Some("trust_remote_code");
const REV: &[&str] = &["revision"];
const MS_REV: &[&str] = &["revision", "model_revision"];
const PRETRAINED: &[&str] = &["pretrained_model_name_or_path"];

/// The catalogue, most specific entries first.
pub static LOADERS: &[Loader] = &[
    // Hugging Face transformers.
    loader!(
        "transformers.pipeline",
        "transformers.pipeline",
        Huggingface,
        Model,
        Pipeline,
        Some(1),
        &["model"],
        TRC,
        REV,
        &["code_revision", "tokenizer", "task"]
    ),
    loader!(
        "transformers.*.from_pretrained",
        "transformers.{}.from_pretrained",
        Huggingface,
        Model,
        Plain,
        Some(0),
        PRETRAINED,
        TRC,
        REV,
        HF_EXTRA
    ),
    loader!(
        "transformers.*.from_config",
        "transformers.{}.from_config",
        Huggingface,
        Model,
        FromConfig,
        None,
        &[],
        TRC,
        REV,
        HF_EXTRA
    ),
    // datasets.
    loader!(
        "datasets.load_dataset",
        "datasets.load_dataset",
        Huggingface,
        Dataset,
        Plain,
        Some(0),
        &["path"],
        TRC,
        REV,
        &[]
    ),
    loader!(
        "datasets.get_dataset_config_names",
        "datasets.get_dataset_config_names",
        Huggingface,
        Dataset,
        Plain,
        Some(0),
        &["path"],
        TRC,
        REV,
        &[]
    ),
    loader!(
        "datasets.load_dataset_builder",
        "datasets.load_dataset_builder",
        Huggingface,
        Dataset,
        Plain,
        Some(0),
        &["path"],
        TRC,
        REV,
        &[]
    ),
    // diffusers.
    loader!(
        "diffusers.*.from_pretrained",
        "diffusers.{}.from_pretrained",
        Huggingface,
        Model,
        Plain,
        Some(0),
        PRETRAINED,
        TRC,
        REV,
        &["custom_pipeline", "custom_revision", "subfolder", "variant",]
    ),
    // sentence-transformers.
    loader!(
        "sentence_transformers.SentenceTransformer",
        "sentence_transformers.SentenceTransformer",
        Huggingface,
        Model,
        Plain,
        Some(0),
        &["model_name_or_path"],
        TRC,
        REV,
        &[]
    ),
    loader!(
        "sentence_transformers.CrossEncoder",
        "sentence_transformers.CrossEncoder",
        Huggingface,
        Model,
        Plain,
        Some(0),
        &["model_name_or_path", "model_name"],
        TRC,
        REV,
        &[]
    ),
    loader!(
        "sentence_transformers.SparseEncoder",
        "sentence_transformers.SparseEncoder",
        Huggingface,
        Model,
        Plain,
        Some(0),
        &["model_name_or_path"],
        TRC,
        REV,
        &[]
    ),
    // vLLM.
    loader!(
        "vllm.LLM",
        "vllm.LLM",
        Huggingface,
        Model,
        Plain,
        Some(0),
        &["model"],
        TRC,
        REV,
        &["code_revision", "tokenizer", "tokenizer_revision"]
    ),
    loader!(
        "vllm.EngineArgs",
        "vllm.EngineArgs",
        Huggingface,
        Model,
        Plain,
        Some(0),
        &["model"],
        TRC,
        REV,
        &["code_revision", "tokenizer", "tokenizer_revision"]
    ),
    loader!(
        "vllm.AsyncEngineArgs",
        "vllm.AsyncEngineArgs",
        Huggingface,
        Model,
        Plain,
        Some(0),
        &["model"],
        TRC,
        REV,
        &["code_revision", "tokenizer", "tokenizer_revision"]
    ),
    // peft: PeftModel takes the base model first.
    loader!(
        "peft.PeftModel.from_pretrained",
        "peft.PeftModel.from_pretrained",
        Huggingface,
        Model,
        Plain,
        Some(1),
        &["model_id"],
        TRC,
        REV,
        &["subfolder"]
    ),
    loader!(
        "peft.*.from_pretrained",
        "peft.{}.from_pretrained",
        Huggingface,
        Model,
        Plain,
        Some(0),
        PRETRAINED,
        TRC,
        REV,
        &["subfolder"]
    ),
    // huggingface_hub (download only).
    loader!(
        "huggingface_hub.snapshot_download",
        "huggingface_hub.snapshot_download",
        Huggingface,
        Model,
        Snapshot,
        Some(0),
        &["repo_id"],
        None,
        REV,
        &[]
    ),
    loader!(
        "huggingface_hub.hf_hub_download",
        "huggingface_hub.hf_hub_download",
        Huggingface,
        Model,
        Snapshot,
        Some(0),
        &["repo_id"],
        None,
        REV,
        &["filename", "subfolder"]
    ),
    // PyTorch Hub.
    loader!(
        "torch.hub.load",
        "torch.hub.load",
        PytorchHub,
        Github,
        GithubHub,
        Some(0),
        &["repo_or_dir", "github"],
        Some("trust_repo"),
        &[],
        &["source", "model"]
    ),
    loader!(
        "torch.hub.list",
        "torch.hub.list",
        PytorchHub,
        Github,
        GithubHub,
        Some(0),
        &["github"],
        Some("trust_repo"),
        &[],
        &[]
    ),
    loader!(
        "torch.hub.help",
        "torch.hub.help",
        PytorchHub,
        Github,
        GithubHub,
        Some(0),
        &["github"],
        Some("trust_repo"),
        &[],
        &["model"]
    ),
    // ModelScope.
    loader!(
        "modelscope.pipeline",
        "modelscope.pipeline",
        Modelscope,
        Model,
        Pipeline,
        Some(1),
        &["model"],
        TRC,
        MS_REV,
        &["task"]
    ),
    loader!(
        "modelscope.snapshot_download",
        "modelscope.snapshot_download",
        Modelscope,
        Model,
        Snapshot,
        Some(0),
        &["model_id", "repo_id"],
        None,
        MS_REV,
        &[]
    ),
    loader!(
        "modelscope.model_file_download",
        "modelscope.model_file_download",
        Modelscope,
        Model,
        Snapshot,
        Some(0),
        &["model_id"],
        None,
        MS_REV,
        &["file_path"]
    ),
    loader!(
        "modelscope.MsDataset.load",
        "modelscope.MsDataset.load",
        Modelscope,
        Dataset,
        Plain,
        Some(0),
        &["dataset_name"],
        TRC,
        &["version", "revision"],
        &[]
    ),
    loader!(
        "modelscope.*.from_pretrained",
        "modelscope.{}.from_pretrained",
        Modelscope,
        Model,
        Plain,
        Some(0),
        &["model_name_or_path", "pretrained_model_name_or_path"],
        TRC,
        MS_REV,
        HF_EXTRA
    ),
    // OpenCSG.
    loader!(
        "pycsghub.*.from_pretrained",
        "pycsghub.repo_reader.{}.from_pretrained",
        Opencsg,
        Model,
        Plain,
        Some(0),
        PRETRAINED,
        TRC,
        REV,
        HF_EXTRA
    ),
    loader!(
        "pycsghub.load_dataset",
        "pycsghub.repo_reader.load_dataset",
        Opencsg,
        Dataset,
        Plain,
        Some(0),
        &["path"],
        TRC,
        REV,
        &[]
    ),
    loader!(
        "pycsghub.snapshot_download",
        "pycsghub.snapshot_download",
        Opencsg,
        Model,
        Snapshot,
        Some(0),
        &["repo_id"],
        None,
        REV,
        &[]
    ),
    // PaddleHub and paddle.hub (no gate at all).
    loader!(
        "paddlehub.Module",
        "paddlehub.Module",
        Paddlehub,
        Module,
        PaddleModule,
        Some(0),
        &["name"],
        None,
        &["version"],
        &["version", "source", "branch"]
    ),
    loader!(
        "paddlehub.load",
        "paddle.hub.load",
        Paddlehub,
        Github,
        GithubHub,
        Some(0),
        &["repo_dir"],
        None,
        &[],
        &["source", "model"]
    ),
    loader!(
        "paddlehub.list",
        "paddle.hub.list",
        Paddlehub,
        Github,
        GithubHub,
        Some(0),
        &["repo_dir"],
        None,
        &[],
        &["source"]
    ),
    loader!(
        "paddlehub.help",
        "paddle.hub.help",
        Paddlehub,
        Github,
        GithubHub,
        Some(0),
        &["repo_dir"],
        None,
        &[],
        &["source", "model"]
    ),
    loader!(
        "paddle.hub.load",
        "paddle.hub.load",
        Paddlehub,
        Github,
        GithubHub,
        Some(0),
        &["repo_dir"],
        None,
        &[],
        &["source", "model"]
    ),
    loader!(
        "paddle.hub.list",
        "paddle.hub.list",
        Paddlehub,
        Github,
        GithubHub,
        Some(0),
        &["repo_dir"],
        None,
        &[],
        &["source"]
    ),
    loader!(
        "paddle.hub.help",
        "paddle.hub.help",
        Paddlehub,
        Github,
        GithubHub,
        Some(0),
        &["repo_dir"],
        None,
        &[],
        &["source", "model"]
    ),
    // OpenMMLab: configs are Python that gets evaluated.
    loader!(
        "mmengine.Config.fromfile",
        "mmengine.Config.fromfile",
        Openmmlab,
        Model,
        MmConfig,
        Some(0),
        &["filename"],
        None,
        &[],
        &[]
    ),
    loader!(
        "mmcv.Config.fromfile",
        "mmcv.Config.fromfile",
        Openmmlab,
        Model,
        MmConfig,
        Some(0),
        &["filename"],
        None,
        &[],
        &[]
    ),
];

/// Method names that keep their class segment when a qualified name is normalised.
const METHODS: &[&str] = &[
    "from_pretrained",
    "from_config",
    "load",
    "list",
    "help",
    "fromfile",
];

/// The byte prefilter, as data: a file is parsed only if it imports one of
/// these libraries (at the start of a line, not via a relative import) and
/// also contains one of that library's loader words (a regex). Names are only
/// resolved through imports, so a file failing this cannot yield a call.
pub const PREFILTER: &[(&str, &str)] = &[
    ("transformers", HF_WORDS),
    ("diffusers", HF_WORDS),
    ("peft", HF_WORDS),
    ("modelscope", HF_WORDS),
    ("pycsghub", HF_WORDS),
    ("datasets", "load_dataset|get_dataset_config_names"),
    (
        "sentence_transformers",
        "SentenceTransformer|CrossEncoder|SparseEncoder",
    ),
    ("vllm", "LLM|EngineArgs"),
    ("huggingface_hub", "snapshot_download|hf_hub_download"),
    ("torch", r"\bhub\b"),
    ("paddle", r"\bhub\b"),
    ("paddlehub", r"\bhub\b|Module|\bload\b|\blist\b|\bhelp\b"),
    ("mmengine", "fromfile"),
    ("mmcv", "fromfile"),
];

// `pipeline` as a whole word: loaders are called by whole identifiers, and
// diffusers' `pipeline_utils` modules would otherwise let most of diffusers through.
const HF_WORDS: &str = r"from_pretrained|from_config|\bpipeline\b|snapshot_download|model_file_download|MsDataset|load_dataset|get_dataset_config_names";

/// A call recognised without any import (`model.generate(custom_generate=...)`).
pub const IMPORT_FREE_WORD: &str = "custom_generate";

/// Could `name` be the last segment of a loader's qualified name? (`generate`
/// is the import-free `custom_generate` call.)
pub fn is_final_name(name: &str) -> bool {
    name == "generate"
        || LOADERS
            .iter()
            .any(|l| l.pattern.rsplit('.').next() == Some(name))
}

/// Reduce a qualified name to the catalogue's key: the root package, then the
/// class (for methods in [`METHODS`]) and the function. Submodule paths vary
/// between versions (`transformers.models.auto.AutoModel`), the public names do not.
pub fn normalise(qual: &str) -> Option<(String, Option<&str>)> {
    let segs: Vec<&str> = qual.split('.').collect();
    let n = segs.len();
    if n < 2 {
        return None;
    }
    let root = segs[0];
    let last = segs[n - 1];
    if n >= 3 && METHODS.contains(&last) {
        let class = segs[n - 2];
        // `torch.hub.load` / `paddle.hub.load`: the "class" is the hub module.
        if class == "hub" {
            return Some((format!("{root}.hub.{last}"), None));
        }
        return Some((format!("{root}.{class}.{last}"), Some(class)));
    }
    Some((format!("{root}.{last}"), None))
}

/// Find the loader for a qualified callee name; returns the entry and its API string.
pub fn lookup(qual: &str) -> Option<(&'static Loader, String, Option<String>)> {
    let (key, class) = normalise(qual)?;
    for l in LOADERS {
        if l.pattern == key {
            return Some((l, l.api.to_string(), class.map(str::to_string)));
        }
        if let Some(class) = class
            && class.starts_with(|c: char| c.is_ascii_uppercase())
        {
            let wild = l.pattern.replacen('*', class, 1);
            if l.pattern.contains('*') && wild == key {
                return Some((l, l.api.replacen("{}", class, 1), Some(class.to_string())));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submodule_paths_normalise_to_public_names() {
        let (l, api, class) =
            lookup("transformers.models.auto.modeling_auto.AutoModelForCausalLM.from_pretrained")
                .unwrap();
        assert_eq!(api, "transformers.AutoModelForCausalLM.from_pretrained");
        assert_eq!(class.as_deref(), Some("AutoModelForCausalLM"));
        assert_eq!(l.kind, Kind::Plain);
        assert_eq!(lookup("torch.hub.load").unwrap().1, "torch.hub.load");
        assert_eq!(
            lookup("modelscope.hub.snapshot_download.snapshot_download")
                .unwrap()
                .1,
            "modelscope.snapshot_download"
        );
        assert_eq!(lookup("paddlehub.Module").unwrap().1, "paddlehub.Module");
        assert!(lookup("transformers.utils.logging").is_none());
        assert!(lookup("torch.load").is_none());
        assert!(lookup("transformers.config.from_pretrained").is_none());
    }
}
