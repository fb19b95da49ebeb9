//! The loader catalogue as data: which qualified call names load from a model hub,
//! and where each takes its repo id, revision and remote-code gate.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::model::{HubKind, Platform, RepoType};

/// Which library rules resolve a load (`resolve/<family>.rs`), carried in
/// `LoadSite::family`. Not part of the JSON contract: a `LoadSite` read back
/// from JSON gets it from its `api` ([`Family::of_api`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// transformers Auto and model classes (`from_pretrained`, `from_config`),
    /// also through the ModelScope and OpenCSG wrappers.
    #[default]
    Transformers,
    /// transformers `pipeline(task, model=...)`.
    TransformersPipeline,
    /// `model.generate(custom_generate="org/repo")`.
    CustomGenerate,
    /// datasets `load_dataset` and friends (also pycsghub's).
    Datasets,
    Diffusers,
    SentenceTransformers,
    Peft,
    Vllm,
    /// ModelScope's own `pipeline` and `Model` (`configuration.json` rules).
    Modelscope,
    /// ModelScope `MsDataset.load`.
    MsDataset,
    /// huggingface_hub, ModelScope and pycsghub downloads (nothing runs).
    HubDownload,
    /// `torch.hub.load/list/help`.
    TorchHub,
    /// paddle `hub.load/list/help` (GitHub `hubconf.py`, no gate).
    PaddleHubconf,
    /// `paddlehub.Module(name=...)`.
    PaddleModule,
    /// OpenMMLab `Config.fromfile` (a local config that is evaluated).
    MmConfig,
    /// Hub kernels: `kernels.get_kernel/get_locked_kernel/load_kernel`
    /// (a kernel repo's build variant is imported, native code included).
    Kernels,
    /// `span_marker.SpanMarkerModel.from_pretrained`: the SpanMarker config
    /// names an encoder repo whose config and tokenizer are loaded too.
    SpanMarker,
}

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

/// One loader entry point. Entries below use struct update syntax from a
/// per-library base (`..HF_CLASS`), so each names only what differs.
#[derive(Debug, Clone, Copy)]
pub struct Loader {
    /// Normalised qualified name (see [`normalise`]); `*` stands for one class
    /// segment starting with an upper-case letter.
    pub pattern: &'static str,
    /// The reported API; `{}` is replaced by the class name.
    pub api: &'static str,
    /// The library whose code performs the load (its hub is where ids live).
    pub platform: Platform,
    /// Which resolution rules the call follows (`resolve/<family>.rs`).
    pub family: Family,
    pub repo_type: RepoType,
    pub kind: Kind,
    /// Positional index of the repo id, if it may be positional.
    pub id_pos: Option<usize>,
    /// Keyword names of the repo id.
    pub id_kw: &'static [&'static str],
    /// The remote-code gate keyword; `None` = the loader has no gate ("absent").
    pub gate_kw: Option<&'static str>,
    /// Keywords holding the requested revision, first found wins.
    pub rev_kw: &'static [&'static str],
    /// Other keywords recorded in `LoadSite::args` when statically known.
    pub extra_kw: &'static [&'static str],
}

/// What the facts about a family say, written once here for every stage.
impl Family {
    /// The library runs the remote code when the call passes no flag at all:
    /// torch.hub (2.x warns and runs), paddle `hub.load` and PaddleHub modules
    /// (no gate), OpenMMLab configs (evaluated).
    pub fn runs_without_flag(self) -> bool {
        matches!(
            self,
            Family::TorchHub
                | Family::PaddleHubconf
                | Family::PaddleModule
                | Family::MmConfig
                | Family::Kernels
        )
    }

    /// The libraries whose load hooks (`rules/genre/load-hooks.yml` keys) run
    /// when this family loads remote code; `None`: none is specific to it, so
    /// the scan applies every library's hooks.
    pub fn hook_libraries(self) -> Option<&'static [&'static str]> {
        Some(match self {
            Family::Transformers
            | Family::TransformersPipeline
            | Family::CustomGenerate
            | Family::Peft
            | Family::Vllm
            | Family::SpanMarker => &["transformers"],
            Family::Datasets | Family::MsDataset => &["datasets"],
            Family::Diffusers => &["diffusers", "transformers"],
            Family::SentenceTransformers => &["sentence-transformers", "transformers"],
            Family::Modelscope => &["modelscope", "transformers"],
            Family::TorchHub | Family::PaddleHubconf => &["torch-hub"],
            Family::PaddleModule => &["paddlehub"],
            // A kernel package is imported; what calls into it later is call-time.
            Family::HubDownload | Family::MmConfig | Family::Kernels => return None,
        })
    }

    /// The family of a reported API string (for a `LoadSite` read back from
    /// JSON, where the family is not written): the catalogue entry it names.
    pub fn of_api(api: &str) -> Family {
        if api == GENERATE.api {
            return GENERATE.family;
        }
        // `pipe.load_components(...)` of a modular pipeline (`pipeline_calls`).
        if is_pipeline_method_api(api) {
            return Family::Diffusers;
        }
        if api == DIFFUSERS_SET_BACKEND.api
            || DERIVED_KERNEL_SUFFIXES.iter().any(|s| api.ends_with(s))
        {
            return Family::Kernels;
        }
        lookup(api).map_or(Family::Transformers, |(l, _, _)| l.family)
    }
}

impl Platform {
    /// The hub a platform's repo ids live on, unless the family says otherwise
    /// (paddle `hub.load` and torch.hub read GitHub, PaddleHub modules their own server).
    pub fn hub(self, family: Family) -> HubKind {
        match family {
            Family::TorchHub | Family::PaddleHubconf => return HubKind::Github,
            Family::PaddleModule => return HubKind::Paddlehub,
            _ => {}
        }
        match self {
            Platform::Huggingface => HubKind::Huggingface,
            Platform::Modelscope => HubKind::Modelscope,
            Platform::Opencsg => HubKind::Opencsg,
            Platform::PytorchHub | Platform::Paddlehub | Platform::Openmmlab => HubKind::Github,
        }
    }
}

const TRC: Option<&str> = Some("trust_remote_code");
const REV: &[&str] = &["revision"];
const MS_REV: &[&str] = &["revision", "model_revision"];
const PRETRAINED: &[&str] = &["pretrained_model_name_or_path"];
const HF_EXTRA: &[&str] = &[
    "code_revision",
    "subfolder",
    "tokenizer",
    "variant",
    "backend",
];

/// A Hugging Face `Class.from_pretrained(id, trust_remote_code=..., revision=...)`.
const HF_CLASS: Loader = Loader {
    pattern: "",
    api: "",
    platform: Platform::Huggingface,
    family: Family::Transformers,
    repo_type: RepoType::Model,
    kind: Kind::Plain,
    id_pos: Some(0),
    id_kw: PRETRAINED,
    gate_kw: TRC,
    rev_kw: REV,
    extra_kw: &[],
};

/// A download-only call (no gate).
const DOWNLOAD: Loader = Loader {
    family: Family::HubDownload,
    kind: Kind::Snapshot,
    id_kw: &["repo_id"],
    gate_kw: None,
    ..HF_CLASS
};

const MODELSCOPE: Loader = Loader {
    platform: Platform::Modelscope,
    rev_kw: MS_REV,
    ..HF_CLASS
};

const OPENCSG: Loader = Loader {
    platform: Platform::Opencsg,
    ..HF_CLASS
};

const TORCH_HUB: Loader = Loader {
    platform: Platform::PytorchHub,
    family: Family::TorchHub,
    repo_type: RepoType::Github,
    kind: Kind::GithubHub,
    id_kw: &["github"],
    gate_kw: Some("trust_repo"),
    rev_kw: &[],
    ..HF_CLASS
};

/// paddle `hub.load/list/help`: GitHub hubconf.py, no gate.
const PADDLE_HUB: Loader = Loader {
    platform: Platform::Paddlehub,
    family: Family::PaddleHubconf,
    repo_type: RepoType::Github,
    kind: Kind::GithubHub,
    id_kw: &["repo_dir"],
    gate_kw: None,
    rev_kw: &[],
    ..HF_CLASS
};

/// `kernels.get_kernel(repo_id, revision=..., version=..., trust_remote_code=...)`.
const KERNELS: Loader = Loader {
    family: Family::Kernels,
    repo_type: RepoType::Kernel,
    id_kw: &["repo_id"],
    extra_kw: &["version", "backend"],
    ..HF_CLASS
};

const MM_CONFIG: Loader = Loader {
    platform: Platform::Openmmlab,
    family: Family::MmConfig,
    kind: Kind::MmConfig,
    id_kw: &["filename"],
    gate_kw: None,
    rev_kw: &[],
    ..HF_CLASS
};

/// The catalogue, most specific entries first.
pub static LOADERS: &[Loader] = &[
    // Hugging Face transformers.
    Loader {
        pattern: "transformers.pipeline",
        api: "transformers.pipeline",
        family: Family::TransformersPipeline,
        kind: Kind::Pipeline,
        id_pos: Some(1),
        id_kw: &["model"],
        extra_kw: &["code_revision", "tokenizer", "task"],
        ..HF_CLASS
    },
    Loader {
        pattern: "transformers.*.from_pretrained",
        api: "transformers.{}.from_pretrained",
        extra_kw: HF_EXTRA,
        ..HF_CLASS
    },
    Loader {
        pattern: "transformers.*.from_config",
        api: "transformers.{}.from_config",
        kind: Kind::FromConfig,
        id_pos: None,
        id_kw: &[],
        extra_kw: HF_EXTRA,
        ..HF_CLASS
    },
    // datasets.
    Loader {
        pattern: "datasets.load_dataset",
        api: "datasets.load_dataset",
        family: Family::Datasets,
        repo_type: RepoType::Dataset,
        id_kw: &["path"],
        ..HF_CLASS
    },
    Loader {
        pattern: "datasets.get_dataset_config_names",
        api: "datasets.get_dataset_config_names",
        family: Family::Datasets,
        repo_type: RepoType::Dataset,
        id_kw: &["path"],
        ..HF_CLASS
    },
    Loader {
        pattern: "datasets.load_dataset_builder",
        api: "datasets.load_dataset_builder",
        family: Family::Datasets,
        repo_type: RepoType::Dataset,
        id_kw: &["path"],
        ..HF_CLASS
    },
    // diffusers.
    Loader {
        pattern: "diffusers.*.from_pretrained",
        api: "diffusers.{}.from_pretrained",
        family: Family::Diffusers,
        extra_kw: &["custom_pipeline", "custom_revision", "subfolder", "variant"],
        ..HF_CLASS
    },
    // sentence-transformers.
    Loader {
        pattern: "sentence_transformers.SentenceTransformer",
        api: "sentence_transformers.SentenceTransformer",
        family: Family::SentenceTransformers,
        id_kw: &["model_name_or_path"],
        ..HF_CLASS
    },
    Loader {
        pattern: "sentence_transformers.CrossEncoder",
        api: "sentence_transformers.CrossEncoder",
        family: Family::SentenceTransformers,
        id_kw: &["model_name_or_path", "model_name"],
        ..HF_CLASS
    },
    Loader {
        pattern: "sentence_transformers.SparseEncoder",
        api: "sentence_transformers.SparseEncoder",
        family: Family::SentenceTransformers,
        id_kw: &["model_name_or_path"],
        ..HF_CLASS
    },
    // vLLM.
    Loader {
        pattern: "vllm.LLM",
        api: "vllm.LLM",
        family: Family::Vllm,
        id_kw: &["model"],
        extra_kw: &["code_revision", "tokenizer", "tokenizer_revision"],
        ..HF_CLASS
    },
    Loader {
        pattern: "vllm.EngineArgs",
        api: "vllm.EngineArgs",
        family: Family::Vllm,
        id_kw: &["model"],
        extra_kw: &["code_revision", "tokenizer", "tokenizer_revision"],
        ..HF_CLASS
    },
    Loader {
        pattern: "vllm.AsyncEngineArgs",
        api: "vllm.AsyncEngineArgs",
        family: Family::Vllm,
        id_kw: &["model"],
        extra_kw: &["code_revision", "tokenizer", "tokenizer_revision"],
        ..HF_CLASS
    },
    // peft: PeftModel takes the base model first.
    Loader {
        pattern: "peft.PeftModel.from_pretrained",
        api: "peft.PeftModel.from_pretrained",
        family: Family::Peft,
        id_pos: Some(1),
        id_kw: &["model_id"],
        extra_kw: &["subfolder"],
        ..HF_CLASS
    },
    Loader {
        pattern: "peft.*.from_pretrained",
        api: "peft.{}.from_pretrained",
        family: Family::Peft,
        extra_kw: &["subfolder"],
        ..HF_CLASS
    },
    // huggingface_hub (download only).
    Loader {
        pattern: "huggingface_hub.snapshot_download",
        api: "huggingface_hub.snapshot_download",
        ..DOWNLOAD
    },
    Loader {
        pattern: "huggingface_hub.hf_hub_download",
        api: "huggingface_hub.hf_hub_download",
        extra_kw: &["filename", "subfolder"],
        ..DOWNLOAD
    },
    // PyTorch Hub.
    Loader {
        pattern: "torch.hub.load",
        api: "torch.hub.load",
        id_kw: &["repo_or_dir", "github"],
        extra_kw: &["source", "model"],
        ..TORCH_HUB
    },
    Loader {
        pattern: "torch.hub.list",
        api: "torch.hub.list",
        ..TORCH_HUB
    },
    Loader {
        pattern: "torch.hub.help",
        api: "torch.hub.help",
        extra_kw: &["model"],
        ..TORCH_HUB
    },
    // ModelScope: its own pipeline and `Model` run `configuration.json` rules;
    // its Auto classes are transformers' on ModelScope.
    Loader {
        pattern: "modelscope.pipeline",
        api: "modelscope.pipeline",
        family: Family::Modelscope,
        kind: Kind::Pipeline,
        id_pos: Some(1),
        id_kw: &["model"],
        extra_kw: &["task"],
        ..MODELSCOPE
    },
    Loader {
        pattern: "modelscope.snapshot_download",
        api: "modelscope.snapshot_download",
        platform: Platform::Modelscope,
        id_kw: &["model_id", "repo_id"],
        rev_kw: MS_REV,
        ..DOWNLOAD
    },
    Loader {
        pattern: "modelscope.model_file_download",
        api: "modelscope.model_file_download",
        platform: Platform::Modelscope,
        id_kw: &["model_id"],
        rev_kw: MS_REV,
        extra_kw: &["file_path"],
        ..DOWNLOAD
    },
    Loader {
        pattern: "modelscope.MsDataset.load",
        api: "modelscope.MsDataset.load",
        family: Family::MsDataset,
        repo_type: RepoType::Dataset,
        id_kw: &["dataset_name"],
        rev_kw: &["version", "revision"],
        ..MODELSCOPE
    },
    Loader {
        pattern: "modelscope.Model.from_pretrained",
        api: "modelscope.Model.from_pretrained",
        family: Family::Modelscope,
        id_kw: &["model_name_or_path", "pretrained_model_name_or_path"],
        extra_kw: HF_EXTRA,
        ..MODELSCOPE
    },
    Loader {
        pattern: "modelscope.*.from_pretrained",
        api: "modelscope.{}.from_pretrained",
        id_kw: &["model_name_or_path", "pretrained_model_name_or_path"],
        extra_kw: HF_EXTRA,
        ..MODELSCOPE
    },
    // OpenCSG.
    Loader {
        pattern: "pycsghub.*.from_pretrained",
        api: "pycsghub.repo_reader.{}.from_pretrained",
        extra_kw: HF_EXTRA,
        ..OPENCSG
    },
    Loader {
        pattern: "pycsghub.load_dataset",
        api: "pycsghub.repo_reader.load_dataset",
        family: Family::Datasets,
        repo_type: RepoType::Dataset,
        id_kw: &["path"],
        ..OPENCSG
    },
    Loader {
        pattern: "pycsghub.snapshot_download",
        api: "pycsghub.snapshot_download",
        platform: Platform::Opencsg,
        ..DOWNLOAD
    },
    // PaddleHub and paddle.hub (no gate at all).
    Loader {
        pattern: "paddlehub.Module",
        api: "paddlehub.Module",
        platform: Platform::Paddlehub,
        family: Family::PaddleModule,
        repo_type: RepoType::Module,
        kind: Kind::PaddleModule,
        id_kw: &["name"],
        gate_kw: None,
        rev_kw: &["version"],
        extra_kw: &["version", "source", "branch"],
        ..HF_CLASS
    },
    Loader {
        pattern: "paddlehub.load",
        api: "paddle.hub.load",
        extra_kw: &["source", "model"],
        ..PADDLE_HUB
    },
    Loader {
        pattern: "paddlehub.list",
        api: "paddle.hub.list",
        extra_kw: &["source"],
        ..PADDLE_HUB
    },
    Loader {
        pattern: "paddlehub.help",
        api: "paddle.hub.help",
        extra_kw: &["source", "model"],
        ..PADDLE_HUB
    },
    Loader {
        pattern: "paddle.hub.load",
        api: "paddle.hub.load",
        extra_kw: &["source", "model"],
        ..PADDLE_HUB
    },
    Loader {
        pattern: "paddle.hub.list",
        api: "paddle.hub.list",
        extra_kw: &["source"],
        ..PADDLE_HUB
    },
    Loader {
        pattern: "paddle.hub.help",
        api: "paddle.hub.help",
        extra_kw: &["source", "model"],
        ..PADDLE_HUB
    },
    // Hub kernels: the repo's build variant is imported (Python and native code).
    Loader {
        pattern: "kernels.get_kernel",
        api: "kernels.get_kernel",
        ..KERNELS
    },
    Loader {
        pattern: "kernels.get_locked_kernel",
        api: "kernels.get_locked_kernel",
        rev_kw: &[],
        extra_kw: &["local_files_only"],
        ..KERNELS
    },
    Loader {
        pattern: "kernels.load_kernel",
        api: "kernels.load_kernel",
        extra_kw: &["lockfile", "backend"],
        ..KERNELS
    },
    // Lazy loads: a repository entry of a kernel mapping, imported by
    // `kernelize()` (`LayerRepository.load` -> `get_kernel`, kernels
    // `layer/layer.py`, `layer/func.py`); the Locked ones read kernels.lock.
    Loader {
        pattern: "kernels.LayerRepository",
        api: "kernels.LayerRepository",
        extra_kw: &["version", "layer_name"],
        ..KERNELS
    },
    Loader {
        pattern: "kernels.FuncRepository",
        api: "kernels.FuncRepository",
        extra_kw: &["version", "func_name"],
        ..KERNELS
    },
    Loader {
        pattern: "kernels.LockedLayerRepository",
        api: "kernels.LockedLayerRepository",
        rev_kw: &[],
        extra_kw: &["lockfile", "layer_name"],
        ..KERNELS
    },
    Loader {
        pattern: "kernels.LockedFuncRepository",
        api: "kernels.LockedFuncRepository",
        rev_kw: &[],
        extra_kw: &["lockfile", "func_name"],
        ..KERNELS
    },
    // SpanMarker: the model's config names the encoder repo it also loads.
    Loader {
        pattern: "span_marker.SpanMarkerModel.from_pretrained",
        api: "span_marker.SpanMarkerModel.from_pretrained",
        family: Family::SpanMarker,
        extra_kw: HF_EXTRA,
        ..HF_CLASS
    },
    // optimum (ONNX Runtime, OpenVINO, Intel Neural Compressor): a `trust_remote_code`
    // load goes through transformers' Auto classes (the export runs the model code).
    Loader {
        pattern: "optimum.*.from_pretrained",
        api: "optimum.{}.from_pretrained",
        extra_kw: HF_EXTRA,
        ..HF_CLASS
    },
    // diffusers' hub attention backends: `attention_backend("flash_hub")` (a
    // context manager); the backend name becomes its kernel repo in discovery.
    Loader {
        pattern: "diffusers.attention_backend",
        api: "diffusers.attention_backend",
        ..DIFFUSERS_BACKEND
    },
    // OpenMMLab: configs are Python that gets evaluated.
    Loader {
        pattern: "mmengine.Config.fromfile",
        api: "mmengine.Config.fromfile",
        ..MM_CONFIG
    },
    Loader {
        pattern: "mmcv.Config.fromfile",
        api: "mmcv.Config.fromfile",
        ..MM_CONFIG
    },
];

/// `model.generate(custom_generate="org/repo")`: recognised without any import
/// (see [`IMPORT_FREE_WORD`]), so it is not in [`LOADERS`].
pub static GENERATE: Loader = Loader {
    pattern: "*.generate",
    api: "transformers.GenerationMixin.generate",
    family: Family::CustomGenerate,
    id_pos: None,
    id_kw: &["custom_generate"],
    ..HF_CLASS
};

/// Suffixes of the API of a kernel that a call loads through an argument
/// (`discover::kernel_calls`): `transformers.AutoModel.from_pretrained[use_kernels]`.
pub const DERIVED_KERNEL_SUFFIXES: &[&str] =
    &["[attn_implementation]", "[use_kernels]", "[kernel_config]"];

/// diffusers' hub attention backends (`models/attention_dispatch.py`, 0.36+):
/// the backend name is the "id"; discovery turns a `*_hub` name into the
/// kernel repo it loads (`kernel_calls::diffusers_backend_site`).
const DIFFUSERS_BACKEND: Loader = Loader {
    pattern: "",
    api: "",
    family: Family::Kernels,
    repo_type: RepoType::Kernel,
    id_pos: Some(0),
    id_kw: &["backend"],
    gate_kw: None,
    rev_kw: &[],
    ..HF_CLASS
};

/// `model.set_attention_backend("flash_hub")` (diffusers `ModelMixin`, also
/// through a pipeline's components): recognised by its method name, like
/// [`GENERATE`].
pub static DIFFUSERS_SET_BACKEND: Loader = Loader {
    pattern: "*.set_attention_backend",
    api: "diffusers.ModelMixin.set_attention_backend",
    ..DIFFUSERS_BACKEND
};

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
    (
        "diffusers",
        r"from_pretrained|from_config|\bpipeline\b|snapshot_download|model_file_download|MsDataset|load_dataset|get_dataset_config_names|attention_backend",
    ),
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
    (
        "kernels",
        "get_kernel|get_locked_kernel|load_kernel|LayerRepository|FuncRepository",
    ),
    ("optimum", HF_WORDS),
    ("span_marker", "SpanMarkerModel"),
    ("mmengine", "fromfile"),
    ("mmcv", "fromfile"),
];

// `pipeline` as a whole word: loaders are called by whole identifiers, and
// diffusers' `pipeline_utils` modules would otherwise let most of diffusers through.
const HF_WORDS: &str = r"from_pretrained|from_config|\bpipeline\b|snapshot_download|model_file_download|MsDataset|load_dataset|get_dataset_config_names";

/// A call recognised without any import (`model.generate(custom_generate=...)`).
pub const IMPORT_FREE_WORD: &str = "custom_generate";

/// Methods of a diffusers modular pipeline object that load its components
/// with the kwargs they are given, `trust_remote_code` included
/// (`pipeline_calls` finds them and the call that made the pipeline).
pub const PIPELINE_METHODS: &[&str] = &["load_components", "load_default_components"];

/// Is `api` such a method call (`diffusers.{X}ModularPipeline.load_components`)?
pub fn is_pipeline_method_api(api: &str) -> bool {
    api.starts_with("diffusers.")
        && PIPELINE_METHODS
            .iter()
            .any(|m| api.strip_suffix(m).is_some_and(|a| a.ends_with('.')))
}

/// Every word that makes a file worth parsing without an import: also a
/// modular pipeline's `load_components` on a pipeline made elsewhere
/// (`pipeline_calls`; reported with an unknown repo when it trusts remote code).
pub const IMPORT_FREE_WORDS: &[&str] = &[
    IMPORT_FREE_WORD,
    "load_components",
    "load_default_components",
];

/// Could `name` be the last segment of a loader's qualified name? (`generate`
/// is the import-free `custom_generate` call.)
pub fn is_final_name(name: &str) -> bool {
    name == "generate" || name == "set_attention_backend" || FINAL_NAMES.contains(name)
}

/// The last segments of the loaders' patterns: asked of every attribute call of
/// every parsed file, so built once.
static FINAL_NAMES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    LOADERS
        .iter()
        .filter_map(|l| l.pattern.rsplit('.').next())
        .collect()
});

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
        // `pre*post` with the class for the `*`, compared without building it.
        if let Some(class) = class
            && class.starts_with(|c: char| c.is_ascii_uppercase())
            && let Some((pre, post)) = l.pattern.split_once('*')
            && key
                .strip_prefix(pre)
                .and_then(|k| k.strip_prefix(class))
                .is_some_and(|k| k == post)
        {
            return Some((l, l.api.replacen("{}", class, 1), Some(class.to_string())));
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
