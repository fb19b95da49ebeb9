//! Config-driven escalation: fields of a repo's own configs that make the
//! library run remote code the call did not ask for (a Hub kernel named by
//! `config.json`, a `trust_remote_code` that a config forwards to another
//! load, a reference to another repo whose code then runs). Each finding
//! carries the config file and line, the version decision it rests on, and
//! the remote code to follow as a new target (the chain).
//!
//! Every path here was read in the libraries' released code; the version
//! boundaries live in `deps::rules`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::deps::Versions;
use crate::deps::rules::{self, Decision, VersionRule};

/// What an escalation makes the library load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainTarget {
    /// A Hub kernel repo (`get_kernel(repo, revision=rev)`), `function` after `:`.
    Kernel {
        repo: String,
        revision: Option<String>,
        function: Option<String>,
    },
    /// Remote code of another model repo, loaded through `auto` (`AutoConfig`,
    /// `AutoTokenizer`, `AutoModel`, ...) with `trust_remote_code=True` in effect.
    RemoteCode {
        repo: String,
        revision: Option<String>,
        auto: &'static str,
    },
    /// A diffusers modular pipeline component in another repo, loaded with
    /// `class.from_pretrained(repo, subfolder=..., trust_remote_code=True)`;
    /// `diffusers`: diffusers' `AutoModel`, whose code module sits in the
    /// subfolder (transformers' Auto classes read it from the repo root).
    Component {
        repo: String,
        revision: Option<String>,
        subfolder: String,
        class: String,
        diffusers: bool,
    },
    /// One `auto_map` reference (`module.Class` or `repo--module.Class`) whose
    /// module runs; `repo` is where it is fetched from.
    AutoMapEntry {
        repo: Option<String>,
        reference: String,
        key: String,
    },
}

/// One escalation found in a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escalation {
    /// Policy rule id of the finding.
    pub rule: &'static str,
    /// The config file in the repo (`config.json`, `adapter_config.json`).
    pub file: String,
    /// 1-based line of the field.
    pub line: u32,
    /// Dotted JSON path of the field (`text_config.attn_implementation`).
    pub field: String,
    /// The field's value as written (truncated for display).
    pub value: String,
    /// Why this runs code, for humans.
    pub why: String,
    pub target: ChainTarget,
    /// Whether the declared library versions have the path.
    pub decision: Decision,
}

/// Rule ids of the findings (policy catalogue).
pub const RULE_CONFIG_KERNEL: &str = "config-hub-kernel";
pub const RULE_CONFIG_TRUST: &str = "config-forwards-trust-remote-code";
pub const RULE_CONFIG_GATELESS: &str = "config-remote-code-without-gate";

/// Largest config read for positions.
const MAX_CONFIG: usize = 16 * 1024 * 1024;

/// Dotted path -> 1-based line of each object key in a JSON text. A text that
/// is not JSON yields what was seen before the error (positions are a courtesy:
/// the values come from `serde_json`).
pub fn key_lines(text: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    if text.len() > MAX_CONFIG {
        return out;
    }
    let b = text.as_bytes();
    let mut line = 1u32;
    let mut i = 0usize;
    // Stack of (is_object, current key or index).
    let mut stack: Vec<(bool, String)> = Vec::new();
    let mut expect_key = false;
    let path = |stack: &[(bool, String)]| {
        stack
            .iter()
            .map(|(_, k)| k.as_str())
            .collect::<Vec<_>>()
            .join(".")
    };
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'{' => {
                if stack.len() >= 128 {
                    return out;
                }
                stack.push((true, String::new()));
                expect_key = true;
            }
            b'[' => {
                if stack.len() >= 128 {
                    return out;
                }
                stack.push((false, "0".to_string()));
            }
            b'}' | b']' => {
                stack.pop();
                expect_key = false;
            }
            b',' => {
                if let Some((is_obj, k)) = stack.last_mut() {
                    if *is_obj {
                        expect_key = true;
                    } else if let Ok(n) = k.parse::<usize>() {
                        *k = (n + 1).to_string();
                    }
                }
            }
            b'"' => {
                let start_line = line;
                let mut s = String::new();
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    s.push(b[i] as char);
                    i += 1;
                }
                if expect_key {
                    if let Some((true, k)) = stack.last_mut() {
                        *k = s;
                        let p = path(&stack);
                        out.entry(p).or_insert(start_line);
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

pub use crate::discover::kernel_calls::parse_kernel_id;

/// The kernel transformers substitutes for a standard attention name when
/// `flash_attn` is not installed (the newest mapping; see `deps::rules`).
pub fn flash_fallback(name: &str) -> Option<&'static str> {
    match name.rsplit('|').next().unwrap_or(name) {
        "flash_attention_2" => Some("kernels-community/flash-attn2"),
        "flash_attention_3" => Some("kernels-community/vllm-flash-attn3"),
        "flash_attention_4" => Some("kernels-community/flash-attn4"),
        _ => None,
    }
}

/// The publisher transformers trusts without `allow_all_kernels` (5.3+).
pub const TRUSTED_KERNEL_ORG: &str = "kernels-community";

fn short(v: &str) -> String {
    if v.chars().count() > 120 {
        format!("{}...", v.chars().take(117).collect::<String>())
    } else {
        v.to_string()
    }
}

/// What the scan knows about the call beyond the configs.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallFacts {
    /// The call's own gate is on (`trust_remote_code=True`).
    pub trusts: bool,
    /// A PEFT load with `is_trainable=True` (or not statically known).
    pub trainable: bool,
    /// The call passes `allow_all_kernels=True`.
    pub allow_all_kernels: bool,
}

/// Escalations in a transformers-family `config.json` (and its sub-configs).
pub fn in_model_config(
    file: &str,
    text: &str,
    config: &Value,
    versions: &Versions<'_>,
    facts: CallFacts,
) -> Vec<Escalation> {
    let lines = key_lines(text);
    let line_of = |p: &str| lines.get(p).copied().unwrap_or(1);
    let mut out = Vec::new();
    walk_attn(config, "", &mut |path, value| {
        let line = line_of(path);
        if let Some((repo, revision, function)) = parse_kernel_id(value) {
            let trusted = repo.split('/').next() == Some(TRUSTED_KERNEL_ORG);
            // 5.3+ refuses other publishers unless the call allows all kernels.
            let rule: &VersionRule = if trusted || facts.allow_all_kernels {
                &rules::TRANSFORMERS_ATTN_KERNEL
            } else {
                &rules::TRANSFORMERS_KERNEL_FROM_CONFIG
            };
            out.push(Escalation {
                rule: RULE_CONFIG_KERNEL,
                file: file.to_string(),
                line,
                field: path.to_string(),
                value: short(value),
                why: format!(
                    "{file} sets {path} to the Hub kernel {repo}: transformers downloads and imports it (native code) without trust_remote_code"
                ),
                target: ChainTarget::Kernel {
                    repo,
                    revision,
                    function,
                },
                decision: versions.decide(rule),
            });
        } else if let Some(kernel) = flash_fallback(value) {
            out.push(Escalation {
                rule: RULE_CONFIG_KERNEL,
                file: file.to_string(),
                line,
                field: path.to_string(),
                value: short(value),
                why: format!(
                    "{file} asks for {value}: without the flash_attn package transformers loads {kernel} from the Hub instead"
                ),
                target: ChainTarget::Kernel {
                    repo: kernel.to_string(),
                    revision: None,
                    function: None,
                },
                decision: versions.decide(&rules::TRANSFORMERS_FLASH_FALLBACK),
            });
        }
    });
    // LightGlue-style: the config carries its own `trust_remote_code` and hands
    // it to `AutoConfig.from_pretrained(<sub-config>._name_or_path)`.
    if config.get("trust_remote_code").and_then(Value::as_bool) == Some(true) {
        let mut found = false;
        if let Some(obj) = config.as_object() {
            for (key, sub) in obj {
                let Some(name) = sub.get("_name_or_path").and_then(Value::as_str) else {
                    continue;
                };
                found = true;
                let path = format!("{key}._name_or_path");
                out.push(Escalation {
                    rule: RULE_CONFIG_TRUST,
                    file: file.to_string(),
                    line: line_of("trust_remote_code"),
                    field: "trust_remote_code".to_string(),
                    value: "true".to_string(),
                    why: format!(
                        "{file} sets trust_remote_code=true and {path}={name}: the LightGlue config loads that repo's AutoConfig code with trust_remote_code=True"
                    ),
                    target: ChainTarget::RemoteCode {
                        repo: name.to_string(),
                        revision: None,
                        auto: "AutoConfig",
                    },
                    decision: versions.decide(&rules::TRANSFORMERS_LIGHTGLUE),
                });
            }
        }
        if !found && !facts.trusts {
            // A config that switches its own gate on is suspect even with no sub-load here.
            out.push(Escalation {
                rule: RULE_CONFIG_TRUST,
                file: file.to_string(),
                line: line_of("trust_remote_code"),
                field: "trust_remote_code".to_string(),
                value: "true".to_string(),
                why: format!("{file} sets trust_remote_code=true for the loads it makes"),
                target: ChainTarget::RemoteCode {
                    repo: String::new(),
                    revision: None,
                    auto: "AutoConfig",
                },
                decision: versions.decide(&rules::TRANSFORMERS_LIGHTGLUE),
            });
        }
    }
    // SpanMarker: `encoder` (with its `trust_remote_code`) goes to AutoConfig.from_pretrained.
    let is_span_marker = config.get("model_type").and_then(Value::as_str) == Some("span-marker");
    if let Some(enc) = config.get("encoder").filter(|_| is_span_marker)
        && let Some(name) = enc.get("_name_or_path").and_then(Value::as_str)
        && enc.get("trust_remote_code").and_then(Value::as_bool) == Some(true)
    {
        out.push(Escalation {
            rule: RULE_CONFIG_TRUST,
            file: file.to_string(),
            line: line_of("encoder.trust_remote_code"),
            field: "encoder.trust_remote_code".to_string(),
            value: "true".to_string(),
            why: format!(
                "{file}: SpanMarker passes the encoder config (trust_remote_code=true) to AutoConfig.from_pretrained({name})"
            ),
            target: ChainTarget::RemoteCode {
                repo: name.to_string(),
                revision: None,
                auto: "AutoConfig",
            },
            decision: versions.decide(&SPAN_MARKER_ENCODER),
        });
    }
    out
}

/// span-marker before 1.8.1 forwards the encoder's `trust_remote_code`.
pub const SPAN_MARKER_ENCODER: VersionRule = VersionRule {
    id: "span-marker-encoder-trust",
    when: &[rules::When {
        library: "span-marker",
        versions: "<1.8.1",
    }],
    effect: "span-marker loads the encoder config's remote code with the trust_remote_code it carries",
    source: "span_marker/modeling.py SpanMarkerModel.__init__ (1.0.0 to 1.8.0; 1.8.1 strips it, PR #87 for issue #85)",
};

/// Every span-marker: `from_pretrained` loads the tokenizer of the encoder
/// repo named by the SpanMarker config with the call's own keyword arguments
/// (`trust_remote_code` included).
pub const SPAN_MARKER_TOKENIZER: VersionRule = VersionRule {
    id: "span-marker-encoder-tokenizer",
    when: &[rules::When {
        library: "span-marker",
        versions: "",
    }],
    effect: "span-marker loads the tokenizer of config.json encoder._name_or_path with the call's trust_remote_code",
    source: "span_marker/modeling.py SpanMarkerModel.from_pretrained -> SpanMarkerTokenizer.from_pretrained(config.encoder[\"_name_or_path\"], **kwargs) -> tokenizer.py AutoTokenizer.from_pretrained (0.2.0 to 1.8.1, unchanged by PR #87)",
};

/// SpanMarker (`SpanMarkerModel.from_pretrained`) beyond what
/// [`in_model_config`] sees: the tokenizer comes from the repo that the
/// config's `encoder._name_or_path` names, loaded with the caller's
/// `trust_remote_code`. The config, not the caller, chooses which repo's
/// tokenizer code runs under the caller's trust (issue #85's second repo).
pub fn in_span_marker_config(
    file: &str,
    text: &str,
    config: &Value,
    own_repo: &str,
    versions: &Versions<'_>,
    facts: CallFacts,
) -> Vec<Escalation> {
    if !facts.trusts || config.get("model_type").and_then(Value::as_str) != Some("span-marker") {
        return Vec::new();
    }
    let Some(name) = config
        .pointer("/encoder/_name_or_path")
        .and_then(Value::as_str)
        .filter(|n| *n != own_repo && !n.is_empty())
    else {
        return Vec::new();
    };
    let lines = key_lines(text);
    vec![Escalation {
        rule: RULE_CONFIG_TRUST,
        file: file.to_string(),
        line: lines.get("encoder._name_or_path").copied().unwrap_or(1),
        field: "encoder._name_or_path".to_string(),
        value: short(name),
        why: format!(
            "{file}: SpanMarker loads the tokenizer of {name} (encoder._name_or_path), another repo, with the call's trust_remote_code=True"
        ),
        target: ChainTarget::RemoteCode {
            repo: name.to_string(),
            revision: None,
            auto: "AutoTokenizer",
        },
        decision: versions.decide(&SPAN_MARKER_TOKENIZER),
    }]
}

/// optimum-intel before 1.27: `OVQuantizer.quantize(ov_config=...)` loads
/// `quantization_config.tokenizer` / `.processor` with the config's own
/// `trust_remote_code`.
pub const OPTIMUM_INTEL_CONFIG_TRUST: VersionRule = VersionRule {
    id: "optimum-intel-quantization-config-trust",
    when: &[rules::When {
        library: "optimum-intel",
        versions: "<1.27",
    }],
    effect: "optimum-intel loads the quantization config's tokenizer/processor repo with the trust_remote_code the config carries",
    source: "optimum/intel/openvino/quantization.py (1.26.1 lines 663, 690, 861: AutoTokenizer/AutoProcessor.from_pretrained(config.tokenizer, trust_remote_code=config.trust_remote_code)); 1.27.0 takes OVQuantizer's own trust_remote_code (PR #1520 for issue #1510, PR #1558)",
};

/// Escalations in an optimum-intel `openvino_config.json` (`OVConfig`): the
/// `tokenizer` and `processor` repos anywhere in its quantization config, when
/// a `trust_remote_code: true` is anywhere in it. Mixed configs merge their
/// parts' fields (`OVMixedQuantizationConfig.__init__`, 1.26.1:
/// `tokenizer = tokenizer or wqc.tokenizer or fqc.tokenizer`, likewise
/// `trust_remote_code`), so a sibling's flag counts.
pub fn in_openvino_config(
    file: &str,
    text: &str,
    config: &Value,
    versions: &Versions<'_>,
) -> Vec<Escalation> {
    let lines = key_lines(text);
    let mut out = Vec::new();
    let Some(qc) = config.get("quantization_config") else {
        return out;
    };
    let mut trust: Option<String> = None;
    let mut repos: Vec<(String, &'static str, String)> = Vec::new();
    let mut stack: Vec<(&Value, String)> = vec![(qc, "quantization_config".to_string())];
    while let Some((v, path)) = stack.pop() {
        let Some(obj) = v.as_object() else {
            continue;
        };
        for (k, sub) in obj {
            let p = join(&path, k);
            match (k.as_str(), sub) {
                // The shortest path names the flag (deterministic over map order).
                ("trust_remote_code", Value::Bool(true))
                    if trust
                        .as_ref()
                        .is_none_or(|t| p.len() < t.len() || (p.len() == t.len() && p < *t)) =>
                {
                    trust = Some(p);
                }
                ("tokenizer", Value::String(r)) => repos.push((p, "AutoTokenizer", r.clone())),
                ("processor", Value::String(r)) => repos.push((p, "AutoProcessor", r.clone())),
                (_, Value::Object(_)) => stack.push((sub, p)),
                _ => {}
            }
        }
    }
    let Some(trust) = trust else {
        return out;
    };
    for (field, auto, repo) in repos {
        out.push(Escalation {
            rule: RULE_CONFIG_TRUST,
            file: file.to_string(),
            line: lines.get(&field).copied().unwrap_or(1),
            field: field.clone(),
            value: short(&repo),
            why: format!(
                "{file}: OVQuantizer.quantize loads {repo} ({field}) with {trust}=true from this config"
            ),
            target: ChainTarget::RemoteCode {
                repo,
                revision: None,
                auto,
            },
            decision: versions.decide(&OPTIMUM_INTEL_CONFIG_TRUST),
        });
    }
    out.sort_by(|a, b| a.line.cmp(&b.line).then(a.field.cmp(&b.field)));
    out
}

/// Visit every string value of an attention-implementation key, at any depth
/// (sub-configs: `text_config`, `vision_config`, ...), including the
/// per-sub-config dict form `{"text_config": "org/repo"}`.
fn walk_attn(v: &Value, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
    const KEYS: &[&str] = &[
        "_attn_implementation_internal",
        "attn_implementation",
        "_attn_implementation",
    ];
    let Some(obj) = v.as_object() else {
        if let Some(items) = v.as_array() {
            for (i, item) in items.iter().enumerate() {
                walk_attn(item, &join(prefix, &i.to_string()), f);
            }
        }
        return;
    };
    for (k, sub) in obj {
        let path = join(prefix, k);
        if KEYS.contains(&k.as_str()) {
            match sub {
                Value::String(s) => f(&path, s),
                Value::Object(m) => {
                    for (sk, sv) in m {
                        if let Some(s) = sv.as_str() {
                            f(&join(&path, sk), s);
                        }
                    }
                }
                _ => {}
            }
        } else {
            walk_attn(sub, &path, f);
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// PEFT before 0.18: prompt tuning's TEXT init loads `tokenizer_name_or_path`
/// with `tokenizer_kwargs` (a `trust_remote_code` there runs that repo's
/// tokenizer code) when the adapter is trainable.
pub const PEFT_TOKENIZER_KWARGS: VersionRule = VersionRule {
    id: "peft-prompt-tokenizer-kwargs",
    when: &[rules::When {
        library: "peft",
        versions: "<0.18",
    }],
    effect: "peft prompt tuning loads tokenizer_name_or_path with the adapter's tokenizer_kwargs (trust_remote_code included)",
    source: "peft tuners/prompt_tuning/model.py (0.7 to 0.17.1; 0.18.0 pops trust_remote_code; huggingface/peft issue #2888)",
};

/// diffusers 0.35.0 to 0.36.x: `ModularPipeline.load_components(**kwargs)`
/// hands every kwarg, `trust_remote_code` included, to each component's
/// `ComponentSpec.load`, whatever repo `modular_model_index.json` names.
pub const DIFFUSERS_MODULAR_COMPONENT_TRUST: VersionRule = VersionRule {
    id: "diffusers-modular-component-trust",
    when: &[rules::When {
        library: "diffusers",
        versions: ">=0.35,<0.37",
    }],
    effect: "diffusers' ModularPipeline.load_components forwards trust_remote_code to components in other repos",
    source: "diffusers modular_pipelines/modular_pipeline.py ModularPipeline.load_components (0.35.0 L1999-2040, 0.36.0 L2103-2160) -> modular_pipeline_utils.py ComponentSpec.load (0.36.0 L269-313); 0.37.0 strips it for other repos (PR #13204, commit 1fe688a651)",
};

/// One component of a diffusers `modular_model_index.json` (entries
/// `[library, class, {pretrained_model_name_or_path, subfolder, revision,
/// type_hint}]`) whose load may run code from its repo: a `type_hint` of an
/// Auto class, or none (diffusers' `AutoModel`); a concrete class imports no
/// code from the repo, whatever `trust_remote_code` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModularComponent {
    pub name: String,
    pub repo: String,
    pub subfolder: String,
    pub revision: Option<String>,
    /// The class whose `from_pretrained` loads it.
    pub class: String,
    /// diffusers' `AutoModel` (its code module sits in the subfolder).
    pub diffusers: bool,
    /// `unet.2.pretrained_model_name_or_path` and its 1-based line.
    pub field: String,
    pub line: u32,
}

/// A `from_pretrained` component of a modular index (concrete classes too),
/// whose weights load whatever `trust_remote_code` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentWeights {
    pub name: String,
    pub repo: String,
    pub subfolder: String,
    pub revision: Option<String>,
    pub variant: Option<String>,
    /// Loaded by a diffusers class (else transformers).
    pub diffusers: bool,
}

/// Every `from_pretrained` component of a modular index.
pub fn modular_index_weights(index: &Value) -> Vec<ComponentWeights> {
    let Some(map) = index.as_object() else {
        return Vec::new();
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    map.iter()
        .filter_map(|(name, entry)| {
            let spec = entry.get(2).filter(|v| v.is_object())?;
            let repo = s(spec, "pretrained_model_name_or_path").filter(|r| !r.is_empty())?;
            let lib = spec
                .get("type_hint")
                .and_then(Value::as_array)
                .and_then(|h| h.first())
                .and_then(Value::as_str)
                .or_else(|| entry.get(0).and_then(Value::as_str));
            Some(ComponentWeights {
                name: name.clone(),
                repo,
                subfolder: s(spec, "subfolder").unwrap_or_default(),
                revision: s(spec, "revision"),
                variant: s(spec, "variant"),
                diffusers: lib != Some("transformers"),
            })
        })
        .collect()
}

/// The components of a modular index that may run their repo's code.
pub fn modular_index_components(text: &str, index: &Value) -> Vec<ModularComponent> {
    let Some(map) = index.as_object() else {
        return Vec::new();
    };
    let lines = key_lines(text);
    let mut out = Vec::new();
    for (name, entry) in map {
        let Some(spec) = entry.get(2).filter(|v| v.is_object()) else {
            continue;
        };
        // An empty repo is skipped (HEAD) or raises (0.36): nothing loads.
        let Some(repo) = spec
            .get("pretrained_model_name_or_path")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        else {
            continue;
        };
        let hint = spec.get("type_hint").and_then(Value::as_array);
        let lib = hint.and_then(|h| h.first()).and_then(Value::as_str);
        let cls = hint.and_then(|h| h.get(1)).and_then(Value::as_str);
        let (class, diffusers) = match (lib, cls) {
            (None, _) | (_, None) => ("AutoModel".to_string(), true),
            (Some("diffusers"), Some(c)) if c == "AutoModel" => (c.to_string(), true),
            (Some("transformers"), Some(c)) if c.starts_with("Auto") => (c.to_string(), false),
            _ => continue,
        };
        let field = format!("{name}.2.pretrained_model_name_or_path");
        out.push(ModularComponent {
            name: name.clone(),
            repo: repo.to_string(),
            subfolder: spec
                .get("subfolder")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            revision: spec
                .get("revision")
                .and_then(Value::as_str)
                .map(str::to_string),
            class,
            diffusers,
            line: lines.get(&field).copied().unwrap_or(1),
            field,
        });
    }
    out
}

/// The components of a modular index in a repo other than `own_repo`, whose
/// code `load_components(trust_remote_code=True)` runs with the caller's
/// trust in diffusers 0.35.0 to 0.36.x. Only when the caller trusts remote
/// code (`facts.trusts`).
pub fn in_modular_index(
    file: &str,
    components: &[ModularComponent],
    own_repo: &str,
    versions: &Versions<'_>,
    facts: CallFacts,
) -> Vec<Escalation> {
    if !facts.trusts {
        return Vec::new();
    }
    components
        .iter()
        .filter(|c| c.repo != own_repo)
        .map(|c| Escalation {
            rule: RULE_CONFIG_TRUST,
            file: file.to_string(),
            line: c.line,
            field: c.field.clone(),
            value: short(&c.repo),
            why: format!(
                "{file}: component {} comes from another repo, {}; ModularPipeline.load_components(trust_remote_code=True) forwards the trust to its {}.from_pretrained (this load_components passes trust_remote_code=True)",
                c.name, c.repo, c.class
            ),
            target: ChainTarget::Component {
                repo: c.repo.clone(),
                revision: c.revision.clone(),
                subfolder: c.subfolder.clone(),
                class: c.class.clone(),
                diffusers: c.diffusers,
            },
            decision: versions.decide(&DIFFUSERS_MODULAR_COMPONENT_TRUST),
        })
        .collect()
}

/// Escalations in a PEFT `adapter_config.json`.
pub fn in_adapter_config(
    file: &str,
    text: &str,
    config: &Value,
    versions: &Versions<'_>,
    facts: CallFacts,
) -> Vec<Escalation> {
    let lines = key_lines(text);
    let mut out = Vec::new();
    let text_init = config
        .get("prompt_tuning_init")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("TEXT"));
    let trust = config
        .pointer("/tokenizer_kwargs/trust_remote_code")
        .and_then(Value::as_bool)
        == Some(true);
    if let (true, true, Some(repo)) = (
        text_init,
        trust,
        config.get("tokenizer_name_or_path").and_then(Value::as_str),
    ) {
        let mut decision = versions.decide(&PEFT_TOKENIZER_KWARGS);
        if !facts.trainable {
            // from_pretrained sets inference_mode = not is_trainable: no TEXT init.
            decision.applies = rules::Applies::Never;
        }
        out.push(Escalation {
            rule: RULE_CONFIG_TRUST,
            file: file.to_string(),
            line: lines.get("tokenizer_kwargs.trust_remote_code").copied().unwrap_or(1),
            field: "tokenizer_kwargs.trust_remote_code".to_string(),
            value: "true".to_string(),
            why: format!(
                "{file}: prompt tuning initialised from text loads the tokenizer {repo} with trust_remote_code=True"
            ),
            target: ChainTarget::RemoteCode {
                repo: repo.to_string(),
                revision: None,
                auto: "AutoTokenizer",
            },
            decision,
        });
    }
    out
}

/// vLLM: `auto_map` code of the model repo (transformers backend, no gate
/// before 0.14) and the Nemotron VL vision `auto_map` (cross-repo, no gate,
/// 0.10 to 0.11.0; hard-coded trust in the model 0.10 to 0.17).
pub const VLLM_TRANSFORMERS_BACKEND_AUTO_MAP: VersionRule = VersionRule {
    id: "vllm-transformers-backend-auto-map",
    when: &[rules::When {
        library: "vllm",
        versions: "<0.14",
    }],
    effect: "vLLM's transformers backend imports auto_map AutoConfig/AutoModel code whatever --trust-remote-code says (architecture without a vLLM implementation)",
    source: "CVE-2026-22807; vllm registry._try_resolve_transformers / model_loader.utils (0.8.5 to 0.13.x), fixed 0.14.0 (PR #32194, commit 78d13ea9)",
};

pub const VLLM_NEMOTRON_VL_CONFIG: VersionRule = VersionRule {
    id: "vllm-nemotron-vl-config-auto-map",
    when: &[rules::When {
        library: "vllm",
        versions: ">=0.10,<0.11.1",
    }],
    effect: "vLLM's Nemotron VL config imports vision_config.auto_map.AutoConfig (repo--module.Class) with no gate",
    source: "CVE-2025-66448 / GHSA-8fr4-5q9j-m8gm; vllm transformers_utils/configs/nemotron_vl.py (0.10.0 to 0.11.0)",
};

pub const VLLM_HARDCODED_TRUST: VersionRule = VersionRule {
    id: "vllm-hardcoded-trust-subcomponents",
    when: &[rules::When {
        library: "vllm",
        versions: ">=0.10,<0.18",
    }],
    effect: "vLLM's NemotronVL and KimiK25 load sub-components with trust_remote_code=True",
    source: "CVE-2026-4944 / GHSA-7972-pg2x-xr59; vllm models/nemotron_vl.py, kimi_k25.py (0.10.0 to 0.17.x), fixed 0.18.0 (PR #38319)",
};

/// Escalations of a vLLM call whose gate is off, in the model's `config.json`.
pub fn in_vllm_config(
    file: &str,
    text: &str,
    config: &Value,
    versions: &Versions<'_>,
    facts: CallFacts,
) -> Vec<Escalation> {
    if facts.trusts {
        return Vec::new();
    }
    let lines = key_lines(text);
    let line_of = |p: &str| lines.get(p).copied().unwrap_or(1);
    let mut out = Vec::new();
    if let Some(map) = config.get("auto_map").and_then(Value::as_object) {
        for (key, v) in map {
            if !(key.starts_with("AutoConfig") || key.starts_with("AutoModel")) {
                continue;
            }
            let Some(reference) = v.as_str().or_else(|| v.get(0).and_then(Value::as_str)) else {
                continue;
            };
            let (repo, reference) = split_cross_repo(reference);
            out.push(Escalation {
                rule: RULE_CONFIG_GATELESS,
                file: file.to_string(),
                line: line_of(&format!("auto_map.{key}")),
                field: format!("auto_map.{key}"),
                value: short(v.as_str().unwrap_or(&reference)),
                why: format!("{file}: vLLM imports auto_map {key} code although the call does not trust remote code"),
                target: ChainTarget::AutoMapEntry {
                    repo,
                    reference,
                    key: key.clone(),
                },
                decision: versions.decide(&VLLM_TRANSFORMERS_BACKEND_AUTO_MAP),
            });
        }
    }
    let nemotron =
        config.get("model_type").and_then(Value::as_str) == Some("Llama_Nemotron_Nano_VL");
    if nemotron
        && let Some(map) = config
            .pointer("/vision_config/auto_map")
            .and_then(Value::as_object)
    {
        for (key, v) in map {
            let Some(reference) = v.as_str() else {
                continue;
            };
            let (repo, reference_only) = split_cross_repo(reference);
            let rule = if key == "AutoConfig" {
                &VLLM_NEMOTRON_VL_CONFIG
            } else if key == "AutoModel" {
                &VLLM_HARDCODED_TRUST
            } else {
                continue;
            };
            out.push(Escalation {
                rule: RULE_CONFIG_GATELESS,
                file: file.to_string(),
                line: line_of(&format!("vision_config.auto_map.{key}")),
                field: format!("vision_config.auto_map.{key}"),
                value: short(reference),
                why: format!("{file}: vLLM's Nemotron VL loads vision_config auto_map {key} code with no trust check"),
                target: ChainTarget::AutoMapEntry {
                    repo,
                    reference: reference_only,
                    key: key.clone(),
                },
                decision: versions.decide(rule),
            });
        }
    }
    out
}

/// `repo--module.Class` -> (Some(repo), module.Class).
pub fn split_cross_repo(reference: &str) -> (Option<String>, String) {
    match reference.split_once("--") {
        Some((repo, r)) if repo.contains('/') => (Some(repo.to_string()), r.to_string()),
        _ => (None, reference.to_string()),
    }
}

/// Every version rule this module decides with, for listings.
pub const RULES: &[VersionRule] = &[
    SPAN_MARKER_ENCODER,
    SPAN_MARKER_TOKENIZER,
    OPTIMUM_INTEL_CONFIG_TRUST,
    DIFFUSERS_MODULAR_COMPONENT_TRUST,
    PEFT_TOKENIZER_KWARGS,
    VLLM_TRANSFORMERS_BACKEND_AUTO_MAP,
    VLLM_NEMOTRON_VL_CONFIG,
    VLLM_HARDCODED_TRUST,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::{Assume, Declared};

    fn fixture(repo: &str, file: &str) -> (String, Value) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/hub/huggingface/models")
            .join(repo);
        let refs: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("refs.json")).unwrap()).unwrap();
        let commit = refs["main"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join(commit).join(file)).unwrap();
        let v = serde_json::from_str(&text).unwrap();
        (text, v)
    }

    fn declared(assume: &[&str]) -> Declared {
        let a: Vec<Assume> = assume.iter().map(|s| s.parse().unwrap()).collect();
        Declared::assumed_only(&a)
    }

    #[test]
    fn version_rules_parse() {
        for r in RULES {
            for w in r.when {
                crate::deps::range::parse_pep440(w.versions).unwrap();
            }
        }
    }

    #[test]
    fn key_lines_follow_nesting() {
        let text = "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": \"x\\\"y\",\n    \"d\": [1, {\"e\": 2}]\n  }\n}\n";
        let l = key_lines(text);
        assert_eq!(l["a"], 2);
        assert_eq!(l["b.c"], 4);
        assert_eq!(l["b.d.1.e"], 5);
        // Never panics on garbage.
        for g in [
            "",
            "{",
            "}}}]]",
            "{\"a\":\"unterminated",
            "[[[[{\"x\"",
            "\"\\",
        ] {
            let _ = key_lines(g);
        }
    }

    #[test]
    fn kernel_ids_split_like_transformers() {
        assert_eq!(
            parse_kernel_id("paged|evil-org/fa@v1:fwd"),
            Some(("evil-org/fa".into(), Some("v1".into()), Some("fwd".into())))
        );
        assert_eq!(
            parse_kernel_id("kernels-community/flash-attn2"),
            Some(("kernels-community/flash-attn2".into(), None, None))
        );
        assert_eq!(parse_kernel_id("sdpa"), None);
        assert_eq!(parse_kernel_id("a/b/c"), None);
    }

    #[test]
    fn kernel_in_config_json_and_sub_config_with_the_version_pair() {
        let (text, v) = fixture("cfg-chain/kernel-config", "config.json");
        let d = declared(&["transformers==5.2.0", "kernels==0.10.0"]);
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &d.versions("m.py"),
            CallFacts::default(),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "_attn_implementation_internal");
        assert_eq!(e[0].line, 7);
        assert!(
            matches!(&e[0].target, ChainTarget::Kernel { repo, .. } if repo == "evil-org/flash-attn-fast")
        );
        assert!(e[0].decision.happens());
        // 5.3 refuses publishers other than kernels-community.
        let fixed = declared(&["transformers==5.3.0", "kernels==0.10.0"]);
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &fixed.versions("m.py"),
            CallFacts::default(),
        );
        assert!(!e[0].decision.happens());
        // Without kernels installed nothing is loaded.
        let no_kernels = declared(&["transformers==5.2.0", "kernels=none"]);
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &no_kernels.versions("m.py"),
            CallFacts::default(),
        );
        assert!(!e[0].decision.happens());

        let (text, v) = fixture("cfg-chain/kernel-subconfig", "config.json");
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &d.versions("m.py"),
            CallFacts::default(),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "text_config.attn_implementation");
        assert_eq!(
            e[0].target,
            ChainTarget::Kernel {
                repo: "evil-org/flash-attn-fast".into(),
                revision: Some("v1".into()),
                function: Some("flash_attn_varlen_func".into())
            }
        );
    }

    #[test]
    fn lightglue_spanmarker_peft_and_vllm_paths() {
        let (text, v) = fixture("cfg-chain/lightglue", "config.json");
        let on = declared(&["transformers==5.4.0"]);
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &on.versions("m.py"),
            CallFacts::default(),
        );
        assert_eq!(e.len(), 1);
        assert!(
            matches!(&e[0].target, ChainTarget::RemoteCode { repo, auto: "AutoConfig", .. } if repo == "cfg-chain/evil-detector")
        );
        assert!(e[0].decision.happens());
        let off = declared(&["transformers==5.5.0"]);
        assert!(
            !in_model_config(
                "config.json",
                &text,
                &v,
                &off.versions("m.py"),
                CallFacts::default()
            )[0]
            .decision
            .happens()
        );

        let (text, v) = fixture("cfg-chain/spanmarker", "config.json");
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &declared(&["span-marker==1.8.0"]).versions("m.py"),
            CallFacts::default(),
        );
        assert_eq!(e.len(), 1);
        assert!(e[0].decision.happens());
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &declared(&["span-marker==1.8.1"]).versions("m.py"),
            CallFacts::default(),
        );
        assert!(!e[0].decision.happens());

        let (text, v) = fixture("cfg-chain/prompt-adapter", "adapter_config.json");
        let trainable = CallFacts {
            trainable: true,
            ..CallFacts::default()
        };
        let e = in_adapter_config(
            "adapter_config.json",
            &text,
            &v,
            &declared(&["peft==0.17.1"]).versions("m.py"),
            trainable,
        );
        assert!(
            matches!(&e[0].target, ChainTarget::RemoteCode { repo, auto: "AutoTokenizer", .. } if repo == "cfg-chain/evil-tokenizer")
        );
        assert!(e[0].decision.happens());
        assert!(
            !in_adapter_config(
                "adapter_config.json",
                &text,
                &v,
                &declared(&["peft==0.18.0"]).versions("m.py"),
                trainable
            )[0]
            .decision
            .happens()
        );
        assert!(
            !in_adapter_config(
                "adapter_config.json",
                &text,
                &v,
                &declared(&["peft==0.17.1"]).versions("m.py"),
                CallFacts::default()
            )[0]
            .decision
            .happens()
        );

        let (text, v) = fixture("cfg-chain/vllm-automap", "config.json");
        let e = in_vllm_config(
            "config.json",
            &text,
            &v,
            &declared(&["vllm==0.13.0"]).versions("m.py"),
            CallFacts::default(),
        );
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|x| x.decision.happens()));
        let e = in_vllm_config(
            "config.json",
            &text,
            &v,
            &declared(&["vllm==0.14.0"]).versions("m.py"),
            CallFacts::default(),
        );
        assert!(e.iter().all(|x| !x.decision.happens()));

        let (text, v) = fixture("cfg-chain/nemotron-vl", "config.json");
        let e = in_vllm_config(
            "config.json",
            &text,
            &v,
            &declared(&["vllm==0.11.0"]).versions("m.py"),
            CallFacts::default(),
        );
        assert_eq!(e.len(), 2);
        assert!(
            matches!(&e[0].target, ChainTarget::AutoMapEntry { repo: Some(r), .. } if r == "cfg-chain/evil-vision")
        );
        assert!(e.iter().all(|x| x.decision.happens()));
        let e = in_vllm_config(
            "config.json",
            &text,
            &v,
            &declared(&["vllm==0.18.0"]).versions("m.py"),
            CallFacts::default(),
        );
        assert!(e.iter().all(|x| !x.decision.happens()));
    }

    #[test]
    fn openvino_config_trust_anywhere_in_the_quantization_config_counts() {
        // A sibling's flag: OVMixedQuantizationConfig merges wqc/fqc fields.
        let text = "{\"quantization_config\": {\"weight_quantization_config\": {\"processor\": \"evil/p\"},\n \"full_quantization_config\": {\"trust_remote_code\": true}}}";
        let v: Value = serde_json::from_str(text).unwrap();
        let d = declared(&["optimum-intel==1.26.1"]);
        let e = in_openvino_config("openvino_config.json", text, &v, &d.versions("m.py"));
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].field,
            "quantization_config.weight_quantization_config.processor"
        );
        assert!(
            matches!(&e[0].target, ChainTarget::RemoteCode { repo, auto: "AutoProcessor", .. } if repo == "evil/p")
        );
        assert!(
            e[0].why
                .contains("full_quantization_config.trust_remote_code")
        );
        assert!(e[0].decision.happens());
        // No flag anywhere: the repos load without trust, nothing to follow.
        let quiet: Value =
            serde_json::from_str("{\"quantization_config\": {\"tokenizer\": \"evil/t\"}}").unwrap();
        assert!(in_openvino_config("c", "", &quiet, &d.versions("m.py")).is_empty());
    }

    #[test]
    fn span_marker_tokenizer_follows_only_the_callers_trust_to_another_repo() {
        let (text, v) = fixture("cfg-chain/spanmarker-tok", "config.json");
        let d = declared(&["span-marker==1.8.1"]);
        let trusts = CallFacts {
            trusts: true,
            ..CallFacts::default()
        };
        let e = in_span_marker_config(
            "config.json",
            &text,
            &v,
            "cfg-chain/spanmarker-tok",
            &d.versions("m.py"),
            trusts,
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 8);
        assert!(e[0].decision.happens());
        let e = in_span_marker_config(
            "config.json",
            &text,
            &v,
            "cfg-chain/spanmarker-tok",
            &d.versions("m.py"),
            CallFacts::default(),
        );
        assert!(e.is_empty());
        // The encoder is the repo itself: its own tokenizer, no second repo.
        let e = in_span_marker_config(
            "config.json",
            &text,
            &v,
            "cfg-chain/evil-tokenizer",
            &d.versions("m.py"),
            trusts,
        );
        assert!(e.is_empty());
    }

    #[test]
    fn a_flash_attention_name_points_at_the_trusted_fallback() {
        let (text, v) = fixture("cfg-chain/flash2", "config.json");
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &declared(&["transformers==5.4.0"]).versions("m.py"),
            CallFacts::default(),
        );
        assert!(
            matches!(&e[0].target, ChainTarget::Kernel { repo, .. } if repo == "kernels-community/flash-attn2")
        );
        assert!(e[0].decision.happens(), "kernels undeclared: worst case");
        let e = in_model_config(
            "config.json",
            &text,
            &v,
            &declared(&["transformers==4.55.4"]).versions("m.py"),
            CallFacts::default(),
        );
        assert!(!e[0].decision.happens());
    }
}
