//! Remote code the call's own gate does not stop (issue 11): Hub kernels named
//! by a call's arguments (`attn_implementation`, `use_kernels`, `KernelConfig`,
//! diffusers hub attention backends), and config-driven chains of vLLM and
//! PEFT. Each path: a fixture repo in the fake hub's shape
//! (tests/fixtures/gen/chain_fixtures.py), a project call, a snapshot of what
//! the target chains to, and a version pair (one declared version where the
//! path runs, one where it does not).

use serde_json::{Value, json};

use crate::kernels::{call, files, rules_at, scan, scan_as};

/// The calls of the report whose API ends with `suffix`.
fn calls_via<'a>(r: &'a Value, suffix: &str) -> Vec<&'a Value> {
    r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["api"].as_str().unwrap_or("").ends_with(suffix))
        .collect()
}

/// What a user checks about a target: status, chain, assumptions, and which
/// remote files (repo, path, why) join it.
fn chain_view(c: &Value) -> Value {
    let t = &c["target"];
    json!({
        "api": c["api"],
        "repo_id": c["repo_id"],
        "status": t["status"],
        "chain": t["chain"],
        "assumed": t["assumed"],
        "files": t["files"].as_array().unwrap().iter().map(|f| json!([f["repo_id"], f["path"], f["why"]])).collect::<Vec<_>>(),
    })
}

const ATTN_APP: &str = "from transformers import AutoModelForCausalLM\n\nm = AutoModelForCausalLM.from_pretrained(\"cfg-chain/plain\", attn_implementation=\"evil-org/flash-attn-fast\")\n";

#[test]
fn attn_implementation_names_a_hub_kernel_that_is_resolved_and_scanned() {
    let req = "transformers==5.2.0\nkernels==0.10.0\ntorch==2.7.1\n";
    let on = scan(&[("requirements.txt", req), ("app.py", ATTN_APP)], &[]);
    let k = call(&on, "evil-org/flash-attn-fast");
    assert!(
        k["api"]
            .as_str()
            .unwrap()
            .ends_with("from_pretrained[attn_implementation]"),
        "{k}"
    );
    assert_eq!(k["target"]["repo_type"], "kernel");
    assert_eq!(k["target"]["status"], "resolved");
    assert!(files(k).iter().any(|f| f.ends_with(".abi3.so")));
    let rules = rules_at(&on, 3);
    for want in [
        "kernel-native-code",
        "kernel-untrusted-publisher",
        "reverse-shell",
        "remote-code-unpinned",
    ] {
        assert!(rules.iter().any(|r| r == want), "{want} missing: {rules:?}");
    }
    // The model load itself is still its own call, with no remote code.
    assert_eq!(
        call(&on, "cfg-chain/plain")["target"]["status"],
        "no-remote-code"
    );
    // The pin fix pins the kernel in the attn_implementation literal.
    let fix = on["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f["fix"]["replacement"].as_str())
        .expect("a pin fix");
    assert!(
        fix.contains("attn_implementation=\"evil-org/flash-attn-fast@9a08ec95dead11daa11e7ed87e5fa8f4b44b6416\""),
        "{fix}"
    );
    insta::assert_json_snapshot!("chain_attn_implementation", chain_view(k));

    // The version pair: 5.3 refuses publishers outside kernels-community...
    let off = scan(
        &[
            (
                "requirements.txt",
                "transformers==5.3.0\nkernels==0.10.0\ntorch==2.7.1\n",
            ),
            ("app.py", ATTN_APP),
        ],
        &[],
    );
    let k = call(&off, "evil-org/flash-attn-fast");
    assert_eq!(k["target"]["status"], "no-remote-code");
    assert!(rules_at(&off, 3).is_empty(), "{:?}", rules_at(&off, 3));
    // ... unless the call allows all kernels.
    let allowed = scan(
        &[
            (
                "requirements.txt",
                "transformers==5.3.0\nkernels==0.10.0\ntorch==2.7.1\n",
            ),
            (
                "app.py",
                &ATTN_APP.replace(")\n", ", allow_all_kernels=True)\n"),
            ),
        ],
        &[],
    );
    assert_eq!(
        call(&allowed, "evil-org/flash-attn-fast")["target"]["status"],
        "resolved"
    );
    // Undeclared versions: the worst case, said in target.assumed.
    let worst = scan(&[("app.py", ATTN_APP)], &[]);
    let k = call(&worst, "evil-org/flash-attn-fast");
    assert_eq!(k["target"]["status"], "resolved");
    assert!(
        k["target"]["assumed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["library"] == "transformers"
                && a["range"] == "any"
                && a["assumption"].as_str().unwrap().contains("worst case")),
        "{}",
        k["target"]["assumed"]
    );
}

const FLASH_APP: &str = "from transformers import AutoModelForCausalLM\n\nm = AutoModelForCausalLM.from_pretrained(\"cfg-chain/plain\", attn_implementation=\"flash_attention_2\")\n";

#[test]
fn flash_attention_2_falls_back_to_kernels_community_without_flash_attn() {
    let on = scan(
        &[
            (
                "requirements.txt",
                "transformers==5.4.0\nkernels\ntorch==2.7.1\n",
            ),
            ("app.py", FLASH_APP),
        ],
        &[],
    );
    let fa2 = call(&on, "kernels-community/flash-attn2");
    assert_eq!(fa2["target"]["status"], "resolved");
    assert!(
        fa2["target"]["assumed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["library"] == "flash-attn"
                && a["assumption"]
                    .as_str()
                    .unwrap()
                    .contains("assumed missing"))
    );
    // ROCm maps flash_attention_2 to aiter-flash-attn (5.25.0): also a candidate.
    assert!(
        calls_via(&on, "[attn_implementation]")
            .iter()
            .any(|c| c["repo_id"] == "kernels-community/aiter-flash-attn")
    );
    let rules = rules_at(&on, 3);
    assert!(rules.iter().any(|r| r == "kernel-native-code"), "{rules:?}");
    assert!(!rules.iter().any(|r| r == "kernel-untrusted-publisher"));
    // flash-attn installed: transformers uses it; transformers 4.55 has no fallback.
    for req in [
        "transformers==5.4.0\nkernels\nflash-attn==2.8.3\n",
        "transformers==4.55.4\nkernels\n",
    ] {
        let off = scan(&[("requirements.txt", req), ("app.py", FLASH_APP)], &[]);
        let c = call(&off, "kernels-community/flash-attn2");
        assert_eq!(c["target"]["status"], "no-remote-code", "{req}: {c}");
    }
    // kernels not declared: it may be installed, so the kernel may load (said).
    let worst = scan(
        &[
            (
                "requirements.txt",
                "transformers==5.4.0
",
            ),
            ("app.py", FLASH_APP),
        ],
        &[],
    );
    let c = call(&worst, "kernels-community/flash-attn2");
    assert_eq!(c["target"]["status"], "resolved");
    assert!(
        c["target"]["assumed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["library"] == "kernels" && a["range"] == "any")
    );
}

const USE_KERNELS_APP: &str = "from transformers import AutoModelForCausalLM, KernelConfig\n\nm = AutoModelForCausalLM.from_pretrained(\"cfg-chain/plain\", use_kernels=True)\ncfg = KernelConfig(kernel_mapping={\"RMSNorm\": {\"cuda\": \"evil-org/flash-attn-fast:RMSNorm\"}})\nn = AutoModelForCausalLM.from_pretrained(\"cfg-chain/plain\", kernel_config=cfg)\n";

#[test]
fn use_kernels_and_kernel_config_load_their_mapped_kernels() {
    let req = "transformers==5.4.0\nkernels==0.12.0\ntorch==2.7.1\n";
    let on = scan(
        &[("requirements.txt", req), ("app.py", USE_KERNELS_APP)],
        &[],
    );
    let builtin: Vec<&Value> = calls_via(&on, "[use_kernels]")
        .into_iter()
        .filter(|c| c["line"] == 3)
        .collect();
    assert_eq!(builtin.len(), 16, "every repo of the built-in mapping");
    assert!(
        builtin.iter().all(|c| c["target"]["status"] == "resolved"),
        "{builtin:?}"
    );
    // A pinned entry of the mapping is pinned; the ones outside kernels-community are said.
    let esm = builtin
        .iter()
        .find(|c| c["repo_id"] == "biohub/esmfold2-trimul")
        .unwrap();
    assert_eq!(esm["pinned"], true);
    assert_eq!(
        esm["target"]["commit"],
        "ab10a577bf38f385871eb9fc7c916ceadf3089a5"
    );
    let untrusted = on["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["line"] == 3
                && std::iter::once(*f)
                    .chain(f["merged"].as_array().into_iter().flatten())
                    .any(|m| m["rule_id"] == "kernel-untrusted-publisher")
        })
        .count();
    assert_eq!(untrusted, 4, "medmekk, ahadnagy, biohub, Atlas-Inference");
    // KernelConfig: its own kernel, plus the inherited built-in mapping.
    let kc = calls_via(&on, "[kernel_config]");
    assert_eq!(kc.len(), 1);
    assert_eq!(kc[0]["repo_id"], "evil-org/flash-attn-fast");
    assert!(rules_at(&on, 5).iter().any(|r| r == "reverse-shell"));
    assert_eq!(
        calls_via(&on, "[use_kernels]")
            .iter()
            .filter(|c| c["line"] == 5)
            .count(),
        16
    );
    insta::assert_json_snapshot!("chain_kernel_config", chain_view(kc[0]));

    // The pair: KernelConfig is 5.0+, use_kernels 4.53+; no kernels package, nothing.
    let old = scan(
        &[
            (
                "requirements.txt",
                "transformers==4.57.1\nkernels==0.12.0\n",
            ),
            ("app.py", USE_KERNELS_APP),
        ],
        &[],
    );
    assert_eq!(
        calls_via(&old, "[kernel_config]")[0]["target"]["status"],
        "no-remote-code"
    );
    assert!(
        calls_via(&old, "[use_kernels]")
            .iter()
            .all(|c| c["target"]["status"] == "resolved")
    );
    let none = scan(
        &[("app.py", USE_KERNELS_APP)],
        &["--assume", "kernels=none"],
    );
    assert!(
        none["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["repo_type"] == "kernel")
            .all(|c| c["target"]["status"] == "no-remote-code")
    );
}

const DIFFUSERS_APP: &str = "import diffusers\nfrom diffusers.models.attention_dispatch import attention_backend\n\n\ndef run(pipe):\n    pipe.transformer.set_attention_backend(\"sage_hub\")\n    pipe.transformer.set_attention_backend(\"flash\")\n    with attention_backend(\"flash_hub\"):\n        pipe()\n";

#[test]
fn diffusers_hub_attention_backends_load_their_kernels() {
    let on = scan(
        &[
            (
                "requirements.txt",
                "diffusers==0.42.1\nkernels==0.12.0\ntorch==2.7.1\n",
            ),
            ("app.py", DIFFUSERS_APP),
        ],
        &[],
    );
    let sage = call(&on, "SageAttention/sage-attention");
    assert_eq!(sage["line"], 6);
    assert_eq!(sage["target"]["status"], "resolved");
    assert!(
        rules_at(&on, 6)
            .iter()
            .any(|r| r == "kernel-untrusted-publisher")
    );
    assert_eq!(call(&on, "kernels-community/flash-attn2")["line"], 8);
    // A backend that is not a hub backend is no load.
    assert!(
        !on["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["line"] == 7)
    );
    insta::assert_json_snapshot!("chain_diffusers_backend", chain_view(sage));
    let off = scan(
        &[
            ("requirements.txt", "diffusers==0.35.0\nkernels==0.12.0\n"),
            ("app.py", DIFFUSERS_APP),
        ],
        &[],
    );
    assert_eq!(
        call(&off, "SageAttention/sage-attention")["target"]["status"],
        "no-remote-code"
    );
}

const VLLM_APP: &str = "from vllm import LLM\n\nllm = LLM(model=\"cfg-chain/vllm-automap\")\nvl = LLM(model=\"cfg-chain/nemotron-vl\")\n";

#[test]
fn vllm_runs_auto_map_code_with_the_gate_off_in_affected_versions() {
    let on = scan(
        &[("requirements.txt", "vllm==0.11.0\n"), ("app.py", VLLM_APP)],
        &[],
    );
    let c = call(&on, "cfg-chain/vllm-automap");
    let chain = c["target"]["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "{chain:?}");
    assert!(
        chain
            .iter()
            .all(|l| l["rule"] == "config-remote-code-without-gate")
    );
    assert!(files(c).iter().any(|f| f == "modeling_evil.py"));
    let f = on["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["line"] == 3 && f["rule_id"] == "config-remote-code-without-gate")
        .expect("an error at the call");
    assert_eq!(f["level"], "error");
    assert_eq!(f["evidence"]["file"], "config.json");
    assert!(rules_at(&on, 3).iter().any(|r| r == "os-system"));
    assert!(
        !rules_at(&on, 3)
            .iter()
            .any(|r| r == "gate-false-needs-remote-code")
    );
    // Nemotron VL: cross-repo vision code from another repo, no gate.
    let vl = call(&on, "cfg-chain/nemotron-vl");
    assert!(
        vl["target"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["repo_id"] == "cfg-chain/evil-vision" && f["path"] == "configuration_v.py")
    );
    insta::assert_json_snapshot!("chain_vllm_nemotron_vl", chain_view(vl));
    // vLLM 0.18 has all three fixes: the gate holds, the code is refused.
    let off = scan(
        &[("requirements.txt", "vllm==0.18.0\n"), ("app.py", VLLM_APP)],
        &[],
    );
    for repo in ["cfg-chain/vllm-automap", "cfg-chain/nemotron-vl"] {
        let c = call(&off, repo);
        assert!(c["target"]["chain"].is_null(), "{repo}: {c}");
    }
    assert!(
        rules_at(&off, 3)
            .iter()
            .any(|r| r == "gate-false-needs-remote-code")
    );
}

const PEFT_APP: &str = "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\nbase = AutoModelForCausalLM.from_pretrained(\"cfg-chain/plain\")\nm = PeftModel.from_pretrained(base, \"cfg-chain/prompt-adapter\", is_trainable=True)\n";

#[test]
fn peft_prompt_tuning_forwards_the_adapters_tokenizer_trust() {
    let on = scan(
        &[("requirements.txt", "peft==0.17.1\n"), ("app.py", PEFT_APP)],
        &[],
    );
    let c = call(&on, "cfg-chain/prompt-adapter");
    assert_eq!(
        c["target"]["chain"][0]["rule"],
        "config-forwards-trust-remote-code"
    );
    assert_eq!(c["target"]["chain"][0]["file"], "adapter_config.json");
    assert!(files(c).iter().any(|f| f == "tokenization_evil.py"));
    assert!(
        rules_at(&on, 5)
            .iter()
            .any(|r| r == "config-forwards-trust-remote-code")
    );
    insta::assert_json_snapshot!("chain_peft_prompt_tokenizer", chain_view(c));
    // peft 0.18 pops trust_remote_code; not trainable: no text init at all.
    let fixed = scan(
        &[("requirements.txt", "peft==0.18.0\n"), ("app.py", PEFT_APP)],
        &[],
    );
    assert!(call(&fixed, "cfg-chain/prompt-adapter")["target"]["chain"].is_null());
    let frozen = scan(
        &[
            ("requirements.txt", "peft==0.17.1\n"),
            ("app.py", &PEFT_APP.replace(", is_trainable=True", "")),
        ],
        &[],
    );
    assert!(call(&frozen, "cfg-chain/prompt-adapter")["target"]["chain"].is_null());
}

#[test]
fn generation_config_runs_no_remote_code_whatever_config_json_says() {
    let app = "from transformers import AutoConfig, GenerationConfig\n\ng = GenerationConfig.from_pretrained(\"cfg-chain/lightglue\", trust_remote_code=True)\nc = AutoConfig.from_pretrained(\"cfg-chain/lightglue\")\n";
    let r = scan(
        &[
            ("requirements.txt", "transformers==5.4.0\n"),
            ("app.py", app),
        ],
        &[],
    );
    let calls = r["calls"].as_array().unwrap();
    let g = calls
        .iter()
        .find(|c| c["api"] == "transformers.GenerationConfig.from_pretrained")
        .unwrap();
    assert_eq!(g["target"]["status"], "no-remote-code");
    assert!(g["target"]["chain"].is_null());
    assert!(rules_at(&r, 3).is_empty(), "{:?}", rules_at(&r, 3));
    // The same repo through AutoConfig does chain to the detector's code.
    assert!(
        rules_at(&r, 4)
            .iter()
            .any(|x| x == "config-forwards-trust-remote-code")
    );
}

#[test]
fn from_config_loads_the_code_of_the_config_objects_repo() {
    let app = "from transformers import AutoConfig, AutoModelForCausalLM\n\ncfg = AutoConfig.from_pretrained(\"cfg-chain/vllm-automap\", trust_remote_code=True)\nm = AutoModelForCausalLM.from_config(cfg, trust_remote_code=True)\n";
    let r = scan(&[("app.py", app)], &[]);
    let c = r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["api"] == "transformers.AutoModelForCausalLM.from_config")
        .unwrap();
    assert_eq!(c["repo_id"], "cfg-chain/vllm-automap");
    assert!(files(c).iter().any(|f| f == "modeling_evil.py"), "{c}");
    assert!(rules_at(&r, 4).iter().any(|x| x == "os-system"));
}

const HUB_APP: &str = "import torch\n\nm = torch.hub.load(\"acme/vision\", \"resnet\")\n";

#[test]
fn torch_hub_trust_repo_defaults_to_check_from_torch_2_11() {
    // torch 2.11+: an untrusted owner prompts (the load fails in CI).
    let on = scan(
        &[("requirements.txt", "torch==2.11.0\n"), ("app.py", HUB_APP)],
        &[],
    );
    let t = &call(&on, "acme/vision")["target"];
    assert_eq!(t["refused_remote_code"], true, "{t}");
    assert!(
        rules_at(&on, 3)
            .iter()
            .any(|r| r == "gate-false-needs-remote-code")
    );
    // torch 2.10 warns and runs; undeclared: the worst case (runs), said.
    let old = scan(
        &[("requirements.txt", "torch==2.10.0\n"), ("app.py", HUB_APP)],
        &[],
    );
    assert!(call(&old, "acme/vision")["target"]["refused_remote_code"].is_null());
    let worst = scan(&[("app.py", HUB_APP)], &[]);
    let t = &call(&worst, "acme/vision")["target"];
    assert!(t["refused_remote_code"].is_null());
    assert_eq!(t["assumed"][0]["library"], "torch");
    assert!(
        t["assumed"][0]["assumption"]
            .as_str()
            .unwrap()
            .contains("worst case")
    );
}

const PICKLE_APP: &str =
    "from transformers import AutoModel\n\nm = AutoModel.from_pretrained(\"sc-evil/pickle-rce\")\n";

#[test]
fn the_declared_torch_says_which_unpickler_reads_the_weights() {
    let msg = |r: &Value| -> String {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| std::iter::once(f).chain(f["merged"].as_array().into_iter().flatten()))
            .find(|f| f["rule_id"] == "pickle-weights")
            .map(|f| f["message"].as_str().unwrap().to_string())
            .expect("a pickle-weights finding")
    };
    let new = scan(
        &[
            ("requirements.txt", "torch==2.6.0\n"),
            ("app.py", PICKLE_APP),
        ],
        &[],
    );
    assert!(msg(&new).contains("weights_only=True"), "{}", msg(&new));
    let old = scan(
        &[
            ("requirements.txt", "torch==2.5.1\n"),
            ("app.py", PICKLE_APP),
        ],
        &[],
    );
    assert!(msg(&old).contains("runs everything"), "{}", msg(&old));
    // The malicious pickle is reported either way.
    for r in [&new, &old] {
        assert!(
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["engine"] == "pickle" && f["level"] == "error")
        );
    }
}

const SPAN_APP: &str = "from span_marker import SpanMarkerModel\n\nm = SpanMarkerModel.from_pretrained(\"cfg-chain/spanmarker\")\n";

#[test]
fn span_marker_forwards_the_encoder_configs_trust_to_the_encoder_repo() {
    // span-marker 1.8.0: SpanMarkerModel.__init__ passes the whole encoder
    // config (trust_remote_code=true) to AutoConfig.from_pretrained(encoder).
    let on = scan(
        &[
            ("requirements.txt", "span-marker==1.8.0\n"),
            ("app.py", SPAN_APP),
        ],
        &[],
    );
    let c = call(&on, "cfg-chain/spanmarker");
    assert_eq!(c["api"], "span_marker.SpanMarkerModel.from_pretrained");
    let link = &c["target"]["chain"][0];
    assert_eq!(link["rule"], "config-forwards-trust-remote-code");
    assert_eq!(link["file"], "config.json");
    assert_eq!(link["field"], "encoder.trust_remote_code");
    assert_eq!(link["applies"], "always");
    assert!(files(c).iter().any(|f| f == "configuration_enc.py"), "{c}");
    let rules = rules_at(&on, 3);
    for want in ["config-forwards-trust-remote-code", "os-system"] {
        assert!(rules.iter().any(|r| r == want), "{want}: {rules:?}");
    }
    insta::assert_json_snapshot!("chain_span_marker_encoder", chain_view(c));
    // 1.8.1 strips trust_remote_code from the encoder config (PR #87).
    let fixed = scan(
        &[
            ("requirements.txt", "span-marker==1.8.1\n"),
            ("app.py", SPAN_APP),
        ],
        &[],
    );
    let c = call(&fixed, "cfg-chain/spanmarker");
    assert!(c["target"]["chain"].is_null(), "{c}");
    assert!(!files(c).iter().any(|f| f == "configuration_enc.py"));
    assert!(rules_at(&fixed, 3).is_empty(), "{:?}", rules_at(&fixed, 3));
    // Undeclared: the worst case, said in target.assumed.
    let worst = scan(&[("app.py", SPAN_APP)], &[]);
    let c = call(&worst, "cfg-chain/spanmarker");
    assert_eq!(c["target"]["chain"][0]["applies"], "possibly");
    assert!(
        c["target"]["assumed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["library"] == "span-marker" && a["range"] == "any"),
        "{}",
        c["target"]["assumed"]
    );
}

#[test]
fn span_marker_loads_the_encoder_repos_tokenizer_with_the_callers_trust() {
    // Every version (1.8.1 included): the tokenizer comes from
    // encoder._name_or_path, another repo, with the call's kwargs.
    let app = "from span_marker import SpanMarkerModel\n\nm = SpanMarkerModel.from_pretrained(\"cfg-chain/spanmarker-tok\", trust_remote_code=True)\n";
    let req = "span-marker==1.8.1\n";
    let on = scan(&[("requirements.txt", req), ("app.py", app)], &[]);
    let c = call(&on, "cfg-chain/spanmarker-tok");
    let link = &c["target"]["chain"][0];
    assert_eq!(link["field"], "encoder._name_or_path");
    assert_eq!(link["value"], "cfg-chain/evil-tokenizer");
    assert!(
        link["why"].as_str().unwrap().contains("tokenizer"),
        "{link}"
    );
    assert!(files(c).iter().any(|f| f == "tokenization_evil.py"), "{c}");
    assert!(
        rules_at(&on, 3)
            .iter()
            .any(|r| r == "config-forwards-trust-remote-code")
    );
    insta::assert_json_snapshot!("chain_span_marker_tokenizer", chain_view(c));
    // The pair: without the caller's trust the tokenizer code is refused.
    let off = scan(
        &[
            ("requirements.txt", req),
            ("app.py", &app.replace(", trust_remote_code=True", "")),
        ],
        &[],
    );
    let c = call(&off, "cfg-chain/spanmarker-tok");
    assert!(c["target"]["chain"].is_null(), "{c}");
    assert!(!files(c).iter().any(|f| f == "tokenization_evil.py"));
}

#[test]
fn kernel_mapping_repositories_are_lazy_kernel_loads() {
    // kernels' LayerRepository / FuncRepository entries are imported by
    // kernelize() (`LayerRepository.load` -> get_kernel); Locked* read kernels.lock.
    let lock = "[{\"repo_id\": \"kernels-community/activation\", \"sha\": \"686f8c212f8ee4f672f9bbb74e5aa617b6be3a14\", \"variants\": {}}]";
    let app = "from kernels import LayerRepository, LockedLayerRepository, kernelize\n\nmapping = {\n    \"SiluAndMul\": {\n        \"cuda\": LayerRepository(\"evil-org/flash-attn-fast\", layer_name=\"SiluAndMul\", version=1),\n        \"rocm\": LockedLayerRepository(repo_id=\"kernels-community/activation\", layer_name=\"SiluAndMul\"),\n    }\n}\n";
    let r = scan(
        &[
            ("requirements.txt", "torch==2.7.1\n"),
            ("kernels.lock", lock),
            ("app.py", app),
        ],
        &[],
    );
    let evil = call(&r, "evil-org/flash-attn-fast");
    assert_eq!(evil["api"], "kernels.LayerRepository");
    assert_eq!(evil["target"]["status"], "resolved");
    assert!(files(evil).iter().any(|f| f.ends_with(".abi3.so")));
    let rules = rules_at(&r, 5);
    for want in [
        "kernel-native-code",
        "kernel-untrusted-publisher",
        "reverse-shell",
    ] {
        assert!(rules.iter().any(|x| x == want), "{want}: {rules:?}");
    }
    let locked = call(&r, "kernels-community/activation");
    assert_eq!(locked["api"], "kernels.LockedLayerRepository");
    assert_eq!(
        locked["target"]["commit"],
        "686f8c212f8ee4f672f9bbb74e5aa617b6be3a14"
    );
    assert_eq!(locked["target"]["pinned_by"], "kernels.lock:1");
    assert!(!rules_at(&r, 6).iter().any(|x| x == "remote-code-unpinned"));
}

const OV_APP: &str = "from optimum.intel import OVConfig, OVModelForCausalLM, OVQuantizer\n\ncfg = OVConfig.from_pretrained(\"cfg-chain/ov-quant\")\nmixed = OVConfig.from_pretrained(\"cfg-chain/ov-quant-mixed\")\n";

#[test]
fn optimum_intel_quantization_config_forwards_trust_to_its_tokenizer_repo() {
    let on = scan(
        &[
            ("requirements.txt", "optimum-intel==1.26.1\n"),
            ("app.py", OV_APP),
        ],
        &[],
    );
    let c = call(&on, "cfg-chain/ov-quant");
    assert_eq!(c["api"], "optimum.OVConfig.from_pretrained");
    let link = &c["target"]["chain"][0];
    assert_eq!(link["file"], "openvino_config.json");
    assert_eq!(link["field"], "quantization_config.tokenizer");
    assert_eq!(link["applies"], "always");
    assert!(files(c).iter().any(|f| f == "tokenization_evil.py"), "{c}");
    assert!(
        rules_at(&on, 3)
            .iter()
            .any(|r| r == "config-forwards-trust-remote-code")
    );
    insta::assert_json_snapshot!("chain_optimum_openvino_config", chain_view(c));
    // A mixed config merges its parts: the nested tokenizer is loaded with the
    // top-level flag.
    let m = call(&on, "cfg-chain/ov-quant-mixed");
    assert_eq!(
        m["target"]["chain"][0]["field"],
        "quantization_config.weight_quantization_config.tokenizer"
    );
    assert!(files(m).iter().any(|f| f == "tokenization_evil.py"), "{m}");
    // 1.27 takes OVQuantizer's own trust_remote_code (PR #1520).
    let fixed = scan(
        &[
            ("requirements.txt", "optimum-intel==1.27.0\n"),
            ("app.py", OV_APP),
        ],
        &[],
    );
    for repo in ["cfg-chain/ov-quant", "cfg-chain/ov-quant-mixed"] {
        let c = call(&fixed, repo);
        assert!(c["target"]["chain"].is_null(), "{c}");
        assert!(!files(c).iter().any(|f| f == "tokenization_evil.py"));
    }
    assert!(rules_at(&fixed, 3).is_empty(), "{:?}", rules_at(&fixed, 3));
}

const KERNEL_REQ: &str = "span-marker==1.8.1\ntransformers==5.2.0\nkernels==0.10.0\ntorch==2.7.1\n";
const SPAN_KERNEL_APP: &str = "from span_marker import SpanMarkerModel\n\nm = SpanMarkerModel.from_pretrained(\"cfg-chain/spanmarker-kernel\")\n";

#[test]
fn a_chained_repos_own_config_is_checked_again_span_marker_encoder_kernel() {
    // Two hops: the SpanMarker config names an encoder repo (every version
    // builds the encoder from that repo's config, trust or not), whose own
    // config.json names a Hub kernel in _attn_implementation_internal.
    let files_in = [
        ("requirements.txt", KERNEL_REQ),
        ("app.py", SPAN_KERNEL_APP),
    ];
    let on = scan(&files_in, &[]);
    let c = call(&on, "cfg-chain/spanmarker-kernel");
    let link = &c["target"]["chain"][0];
    assert_eq!(link["rule"], "config-hub-kernel");
    assert_eq!(link["repo_id"], "cfg-chain/kernel-config");
    assert_eq!(link["file"], "config.json");
    assert_eq!(link["line"], 7);
    let via = link["via"].as_array().expect("the hop that led there");
    assert_eq!(via.len(), 1);
    let hop = via[0].as_str().unwrap();
    assert!(
        hop.starts_with("cfg-chain/spanmarker-kernel@")
            && hop.ends_with(" config.json:8 encoder._name_or_path"),
        "{hop}"
    );
    assert!(files(c).iter().any(|f| f.ends_with(".abi3.so")), "{c}");
    let rules = rules_at(&on, 3);
    for want in ["config-hub-kernel", "reverse-shell"] {
        assert!(rules.iter().any(|r| r == want), "{want}: {rules:?}");
    }
    insta::assert_json_snapshot!("chain_two_hop_span_marker_kernel", chain_view(c));
    // The chain is in the text and SARIF messages too.
    for format in ["text", "sarif"] {
        let out = String::from_utf8(scan_as(&files_in, &[], format).stdout).unwrap();
        assert!(
            out.contains("reached via cfg-chain/spanmarker-kernel@")
                && out.contains("config.json:8 encoder._name_or_path"),
            "{format}: {out}"
        );
    }
    // The pair: transformers 5.3 refuses a kernel outside kernels-community.
    let off = scan(
        &[
            ("requirements.txt", &KERNEL_REQ.replace("5.2.0", "5.3.0")),
            ("app.py", SPAN_KERNEL_APP),
        ],
        &[],
    );
    let c = call(&off, "cfg-chain/spanmarker-kernel");
    assert!(c["target"]["chain"].is_null(), "{c}");
    assert!(!files(c).iter().any(|f| f.ends_with(".abi3.so")));
    assert!(
        !rules_at(&off, 3).iter().any(|r| r == "config-hub-kernel"),
        "{:?}",
        rules_at(&off, 3)
    );
}

#[test]
fn an_adapters_base_model_config_is_checked_in_peft_and_transformers() {
    // peft resolved the base model without its config's escalations before.
    let app = "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoModelForCausalLM\n\na = AutoPeftModelForCausalLM.from_pretrained(\"cfg-chain/kernel-adapter\")\nb = AutoModelForCausalLM.from_pretrained(\"cfg-chain/kernel-adapter\")\n";
    let r = scan(
        &[
            (
                "requirements.txt",
                "transformers==5.2.0\nkernels==0.10.0\npeft==0.17.1\ntorch==2.7.1\n",
            ),
            ("app.py", app),
        ],
        &[],
    );
    for (suffix, line) in [
        ("AutoPeftModelForCausalLM.from_pretrained", 4),
        ("transformers.AutoModelForCausalLM.from_pretrained", 5),
    ] {
        let c = calls_via(&r, suffix)
            .into_iter()
            .find(|c| c["repo_id"] == "cfg-chain/kernel-adapter")
            .unwrap_or_else(|| panic!("{suffix}: {r}"));
        let link = &c["target"]["chain"][0];
        assert_eq!(link["repo_id"], "cfg-chain/kernel-config", "{suffix}: {c}");
        assert_eq!(link["rule"], "config-hub-kernel");
        let hop = link["via"][0].as_str().unwrap();
        assert!(
            hop.starts_with("cfg-chain/kernel-adapter@")
                && hop.ends_with("adapter_config.json:6 base_model_name_or_path"),
            "{hop}"
        );
        assert!(files(c).iter().any(|f| f.ends_with(".abi3.so")), "{c}");
        assert!(
            rules_at(&r, line).iter().any(|x| x == "config-hub-kernel"),
            "{suffix}: {:?}",
            rules_at(&r, line)
        );
    }
}

#[test]
fn a_config_chain_that_comes_back_ends_and_runs_what_it_reached() {
    // A's LightGlue config forwards trust to B, B's to A: followed once each.
    let app = "from transformers import AutoModel\n\nm = AutoModel.from_pretrained(\"cfg-chain/lg-cycle-a\")\n";
    let r = scan(
        &[
            ("requirements.txt", "transformers==5.4.0\n"),
            ("app.py", app),
        ],
        &[],
    );
    let c = call(&r, "cfg-chain/lg-cycle-a");
    let chain = c["target"]["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "{c}");
    assert_eq!(chain[0]["repo_id"], "cfg-chain/lg-cycle-a");
    assert!(chain[0]["via"].is_null());
    assert_eq!(chain[1]["repo_id"], "cfg-chain/lg-cycle-b");
    assert_eq!(
        chain[1]["leads_to"],
        "AutoConfig code of cfg-chain/lg-cycle-a"
    );
    assert!(
        chain[1]["via"][0]
            .as_str()
            .unwrap()
            .starts_with("cfg-chain/lg-cycle-a@"),
        "{c}"
    );
    assert_ne!(c["target"]["status"], "unverified", "{c}");
    assert!(files(c).iter().any(|f| f == "configuration_evil.py"), "{c}");
    assert!(
        c["target"]["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("comes back to cfg-chain/lg-cycle-a@")),
        "{c}"
    );
    let rules = rules_at(&r, 3);
    for want in ["config-forwards-trust-remote-code", "os-system"] {
        assert!(rules.iter().any(|x| x == want), "{want}: {rules:?}");
    }
}

#[test]
fn a_config_chain_over_the_depth_cap_fails_closed() {
    let app = "from transformers import AutoModel\n\nm = AutoModel.from_pretrained(\"cfg-chain/lg-depth-1\")\nn = AutoModel.from_pretrained(\"cfg-chain/lg-depth-2\")\n";
    let r = scan(
        &[
            ("requirements.txt", "transformers==5.4.0\n"),
            ("app.py", app),
        ],
        &[],
    );
    // Five links from lg-depth-1: the fifth is not followed, the call is unverified.
    let deep = call(&r, "cfg-chain/lg-depth-1");
    assert_eq!(deep["target"]["status"], "unverified", "{deep}");
    let reason = deep["target"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("config chain longer than 4 links, not followed: cfg-chain/lg-depth-1@")
            && reason.contains(" -> cfg-chain/lg-depth-5@"),
        "{reason}"
    );
    assert_eq!(deep["target"]["chain"].as_array().unwrap().len(), 5);
    assert_eq!(
        deep["target"]["chain"][4]["via"].as_array().unwrap().len(),
        4
    );
    assert!(
        rules_at(&r, 3)
            .iter()
            .any(|x| x == "remote-code-unverified"),
        "{:?}",
        rules_at(&r, 3)
    );
    // Four links from lg-depth-2: within the cap.
    let within = call(&r, "cfg-chain/lg-depth-2");
    assert_ne!(within["target"]["status"], "unverified", "{within}");
    assert_eq!(within["target"]["chain"].as_array().unwrap().len(), 4);
}

const MODULAR_APP: &str = "from diffusers import ModularPipeline\n\npipe = ModularPipeline.from_pretrained(\"cfg-chain/modular-pipe\", trust_remote_code=True)\npipe.load_components(trust_remote_code=True)\n";

/// The `load_components` (or `load_default_components`) calls of a report.
fn component_loads(r: &Value) -> Vec<&Value> {
    let mut out = calls_via(r, ".load_components");
    out.extend(calls_via(r, ".load_default_components"));
    out
}

/// Every rule id reported at `path:line`, merged ones included.
fn rules_in(r: &Value, path: &str, line: u64) -> Vec<String> {
    let mut out = Vec::new();
    for f in r["findings"].as_array().unwrap() {
        if f["path"] == path && f["line"] == line {
            out.push(f["rule_id"].as_str().unwrap().to_string());
            for m in f["merged"].as_array().into_iter().flatten() {
                out.push(m["rule_id"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

/// The 1-based line of the first line of `src` containing `needle`.
fn line_with(src: &str, needle: &str) -> u64 {
    src.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {src}")) as u64
        + 1
}

fn notes(c: &Value) -> Vec<String> {
    c["target"]["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn modular_pipeline_components_in_other_repos_get_the_callers_trust_in_0_35_and_0_36() {
    let on = scan(
        &[
            ("requirements.txt", "diffusers==0.36.0\n"),
            ("app.py", MODULAR_APP),
        ],
        &[],
    );
    // The trust that runs a component's code is the one given to
    // load_components: the chain is at that call (line 4).
    let loads = component_loads(&on);
    assert_eq!(loads.len(), 1, "{on}");
    let c = loads[0];
    assert_eq!(c["api"], "diffusers.ModularPipeline.load_components");
    assert_eq!(c["repo_id"], "cfg-chain/modular-pipe");
    assert_eq!(c["line"], 4);
    assert_eq!(c["gate"], "true");
    // One link: the unet in another repo with an Auto type hint. The vae is
    // the pipeline's own repo, the text encoder a concrete class.
    let chain = c["target"]["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 1, "{c}");
    let link = &chain[0];
    assert_eq!(link["rule"], "config-forwards-trust-remote-code");
    assert_eq!(link["file"], "modular_model_index.json");
    assert_eq!(link["line"], 9);
    assert_eq!(link["field"], "unet.2.pretrained_model_name_or_path");
    assert_eq!(link["value"], "cfg-chain/evil-unet");
    assert_eq!(link["applies"], "always");
    assert_eq!(
        link["leads_to"],
        "AutoModel code of cfg-chain/evil-unet (subfolder unet)"
    );
    assert!(files(c).iter().any(|f| f == "unet/modeling_evil.py"), "{c}");
    let rules = rules_at(&on, 4);
    for want in ["config-forwards-trust-remote-code", "os-system"] {
        assert!(rules.iter().any(|r| r == want), "{want}: {rules:?}");
    }
    insta::assert_json_snapshot!("chain_diffusers_modular_component", chain_view(c));
    // The from_pretrained call (line 3) loads the blocks, not the components:
    // no chain there, a note that points at the method call.
    let made = calls_via(&on, ".from_pretrained")[0];
    assert!(made["target"]["chain"].is_null(), "{made}");
    assert!(
        notes(made)
            .iter()
            .any(|n| n.contains("unet.2.pretrained_model_name_or_path")
                && n.contains("reported there")),
        "{made}"
    );
    assert!(
        !rules_at(&on, 3)
            .iter()
            .any(|r| r == "config-forwards-trust-remote-code")
    );
    // Text and SARIF carry the chain at the load_components line.
    let text = String::from_utf8(
        scan_as(
            &[
                ("requirements.txt", "diffusers==0.36.0\n"),
                ("app.py", MODULAR_APP),
            ],
            &[],
            "text",
        )
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("app.py:4:1  diffusers.ModularPipeline.load_components (gate true)"),
        "{text}"
    );
    assert!(
        text.contains("-> AutoModel code of cfg-chain/evil-unet (subfolder unet)"),
        "{text}"
    );
    let sarif: Value = serde_json::from_slice(
        &scan_as(
            &[
                ("requirements.txt", "diffusers==0.36.0\n"),
                ("app.py", MODULAR_APP),
            ],
            &[],
            "sarif",
        )
        .stdout,
    )
    .unwrap();
    assert!(
        sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| {
                r["properties"]["hubwarden/rule"] == "config-forwards-trust-remote-code"
                    && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
                    && r["message"]["text"]
                        .as_str()
                        .unwrap()
                        .contains("-> AutoModel code of cfg-chain/evil-unet")
            }),
        "{}",
        sarif["runs"][0]["results"]
    );
    // 0.37.0 strips trust_remote_code for other repos (PR #13204): said, no error.
    let fixed = scan(
        &[
            ("requirements.txt", "diffusers==0.37.0\n"),
            ("app.py", MODULAR_APP),
        ],
        &[],
    );
    let c = component_loads(&fixed)[0];
    assert!(c["target"]["chain"].is_null(), "{c}");
    assert!(!files(c).iter().any(|f| f == "unet/modeling_evil.py"));
    assert!(
        notes(c)
            .iter()
            .any(|n| n.contains("unet.2.pretrained_model_name_or_path") && n.contains("not loaded")),
        "{c}"
    );
    assert!(
        !rules_at(&fixed, 4)
            .iter()
            .any(|r| r == "config-forwards-trust-remote-code")
    );
    // Undeclared: the worst case, said in target.assumed.
    let worst = scan(&[("app.py", MODULAR_APP)], &[]);
    let c = component_loads(&worst)[0];
    assert_eq!(c["target"]["chain"][0]["applies"], "possibly");
    assert!(
        c["target"]["assumed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["library"] == "diffusers"),
        "{}",
        c["target"]["assumed"]
    );
    // The real miss of the last version: a from_pretrained that does not
    // trust remote code, then a load_components that does. An error at line 4.
    let untrusted_made = scan(
        &[
            ("requirements.txt", "diffusers==0.36.0\n"),
            (
                "app.py",
                &MODULAR_APP.replace(", trust_remote_code=True)\npipe", ")\npipe"),
            ),
        ],
        &[],
    );
    let c = component_loads(&untrusted_made)[0];
    assert_eq!(c["target"]["chain"].as_array().unwrap().len(), 1, "{c}");
    let rules = rules_at(&untrusted_made, 4);
    for want in ["config-forwards-trust-remote-code", "os-system"] {
        assert!(rules.iter().any(|r| r == want), "{want}: {rules:?}");
    }
    // A load_components that does not trust remote code: not followed, said.
    let untrusted_load = scan(
        &[
            ("requirements.txt", "diffusers==0.36.0\n"),
            (
                "app.py",
                &MODULAR_APP.replace(
                    "load_components(trust_remote_code=True)",
                    "load_components(torch_dtype=None)",
                ),
            ),
        ],
        &[],
    );
    let c = component_loads(&untrusted_load)[0];
    assert_eq!(c["gate"], "absent");
    assert!(c["target"]["chain"].is_null(), "{c}");
    assert!(
        notes(c)
            .iter()
            .any(|n| n.contains("this call does not trust remote code")),
        "{c}"
    );
    assert!(!files(c).iter().any(|f| f == "unet/modeling_evil.py"));
    assert!(
        rules_at(&untrusted_load, 4).is_empty(),
        "{:?}",
        rules_at(&untrusted_load, 4)
    );
}

/// The variants an attacker (or a refactor) would use next: an alias of the
/// pipeline class, a subclass, the pipeline built in a helper and returned, a
/// `.to(...)` in between, passed to another helper, kept in `self.pipe`,
/// `getattr(pipe, "load_" + "components")`, the flag in a `**{...}` splat or
/// as a per-component dict, `blocks.init_pipeline(repo)` and 0.35's
/// `load_default_components`. None of the `from_pretrained` calls trusts
/// remote code: each method call is an error of its own.
const MODULAR_VARIANTS: &str = r#"from diffusers import ModularPipeline as MP
from diffusers import ModularPipelineBlocks
import diffusers

pipe = MP.from_pretrained("cfg-chain/modular-pipe")
pipe.load_components(trust_remote_code=True)  # alias


def build():
    return diffusers.StableDiffusionXLModularPipeline.from_pretrained("cfg-chain/modular-pipe").to("cpu")


def load_all(p):
    getattr(p, "load_" + "components")(**{"trust_remote_code": True})  # getattr


load_all(build())


class Runner:
    def __init__(self):
        self.pipe = MP.from_pretrained("cfg-chain/modular-pipe")

    def run(self):
        self.pipe.load_components(trust_remote_code={"unet": True})  # field


blocks = ModularPipelineBlocks.from_pretrained("cfg-chain/modular-pipe")
p2 = blocks.init_pipeline("cfg-chain/modular-pipe")
p2.load_default_components(trust_remote_code=True)  # init_pipeline
"#;

#[test]
fn load_components_is_found_through_aliases_helpers_fields_and_getattr() {
    let r = scan(
        &[
            ("requirements.txt", "diffusers==0.35.2\n"),
            ("app.py", MODULAR_VARIANTS),
        ],
        &[],
    );
    let loads = component_loads(&r);
    assert_eq!(loads.len(), 4, "{r}");
    for (marker, api) in [
        ("# alias", "diffusers.ModularPipeline.load_components"),
        (
            "# getattr",
            "diffusers.StableDiffusionXLModularPipeline.load_components",
        ),
        ("# field", "diffusers.ModularPipeline.load_components"),
        (
            "# init_pipeline",
            "diffusers.ModularPipeline.load_default_components",
        ),
    ] {
        let line = line_with(MODULAR_VARIANTS, marker);
        let c = loads
            .iter()
            .find(|c| c["line"] == line)
            .unwrap_or_else(|| panic!("no call at line {line} ({marker}): {r}"));
        assert_eq!(c["api"], api, "{c}");
        assert_eq!(c["repo_id"], "cfg-chain/modular-pipe", "{c}");
        assert_ne!(c["gate"], "absent", "{c}");
        assert_eq!(
            c["target"]["chain"][0]["value"], "cfg-chain/evil-unet",
            "{marker}: {c}"
        );
        let rules = rules_in(&r, "app.py", line);
        for want in ["config-forwards-trust-remote-code", "os-system"] {
            assert!(
                rules.iter().any(|x| x == want),
                "{marker} {want}: {rules:?}"
            );
        }
    }
    // How the receiver was traced is said in the call's resolution.
    let getattr = loads
        .iter()
        .find(|c| c["line"] == line_with(MODULAR_VARIANTS, "# getattr"))
        .unwrap();
    let how = getattr["resolution"].as_str().unwrap();
    assert!(
        how.contains("argument p of load_all()") && how.contains("return of build()"),
        "{how}"
    );
    // 0.35's load_default_components is gone in 0.36: said on that call.
    let default = loads
        .iter()
        .find(|c| {
            c["api"]
                .as_str()
                .unwrap()
                .ends_with("load_default_components")
        })
        .unwrap();
    assert!(
        notes(default).iter().any(|n| n.contains("0.35.x only")),
        "{default}"
    );
}

#[test]
fn load_components_on_a_pipeline_made_elsewhere_fails_closed() {
    // No diffusers import, no from_pretrained: the pipeline comes from
    // another module. A trusting call is reported with its repo unknown.
    let utils = "def finish(pipe):\n    pipe.load_components(trust_remote_code=True)\n\n\ndef quiet(pipe):\n    pipe.load_components(torch_dtype=None)\n";
    let r = scan(&[("utils.py", utils)], &[]);
    let loads = component_loads(&r);
    assert_eq!(loads.len(), 1, "{r}");
    let c = loads[0];
    assert_eq!(c["line"], 2);
    assert!(c["repo_id"].is_null(), "{c}");
    assert!(
        c["resolution"]
            .as_str()
            .unwrap()
            .contains("is not a ModularPipeline.from_pretrained result seen in this file"),
        "{c}"
    );
    assert_eq!(c["target"]["status"], "unverified");
    assert!(
        rules_in(&r, "utils.py", 2)
            .iter()
            .any(|x| x == "remote-code-unverified"),
        "{:?}",
        rules_in(&r, "utils.py", 2)
    );
}

#[test]
fn load_components_names_and_revisions_choose_what_loads() {
    let app = |args: &str| {
        format!(
            "from diffusers import ModularPipeline\n\npipe = ModularPipeline.from_pretrained(\"cfg-chain/modular-pipe\")\npipe.load_components({args})\n"
        )
    };
    let req = ("requirements.txt", "diffusers==0.36.0\n");
    // Only the vae (the pipeline's own repo, a concrete class): no link.
    let vae = scan(
        &[req, ("app.py", &app("[\"vae\"], trust_remote_code=True"))],
        &[],
    );
    let c = component_loads(&vae)[0];
    assert_eq!(c["args"]["names"], "vae");
    assert!(c["target"]["chain"].is_null(), "{c}");
    assert!(!rules_at(&vae, 4).iter().any(|x| x == "os-system"));
    // The unet by name (a keyword, one string).
    let unet = scan(
        &[
            req,
            ("app.py", &app("names=\"unet\", trust_remote_code=True")),
        ],
        &[],
    );
    let c = component_loads(&unet)[0];
    assert_eq!(c["target"]["chain"].as_array().unwrap().len(), 1, "{c}");
    // A revision per component is where its code is read (a commit the
    // fixture repo does not have: the target cannot be verified).
    let rev = scan(
        &[
            req,
            (
                "app.py",
                &app(
                    "trust_remote_code=True, revision={\"unet\": \"0000000000000000000000000000000000000000\"}",
                ),
            ),
        ],
        &[],
    );
    let c = component_loads(&rev)[0];
    assert_eq!(
        c["args"]["component_revision.unet"],
        "0000000000000000000000000000000000000000"
    );
    assert_eq!(c["target"]["status"], "unverified", "{c}");
    assert!(
        c["target"]["reason"]
            .as_str()
            .unwrap()
            .contains("cfg-chain/evil-unet"),
        "{c}"
    );
}

#[test]
fn diffusers_automodel_reads_its_code_module_from_the_subfolder() {
    let app = "from diffusers import AutoModel\n\nm = AutoModel.from_pretrained(\"cfg-chain/evil-unet\", subfolder=\"unet\", trust_remote_code=True)\n";
    let r = scan(&[("app.py", app)], &[]);
    let c = call(&r, "cfg-chain/evil-unet");
    assert_eq!(c["target"]["status"], "resolved", "{c}");
    assert!(files(c).iter().any(|f| f == "unet/modeling_evil.py"), "{c}");
    assert!(rules_at(&r, 3).iter().any(|x| x == "os-system"));
}

const OWN_PIPE: &str = "84fc2c426eeeafeb7535499a191ebb51c75470a9";
const CLEAN_NET: &str = "eaa8c4a7b0403c067ca56629b5f53642bac0e875";

fn own_app(load_args: &str) -> String {
    format!(
        "from diffusers import ModularPipeline\n\npipe = ModularPipeline.from_pretrained(\"cfg-chain/modular-own\", revision=\"{OWN_PIPE}\")\npipe.load_components({load_args})\n"
    )
}

/// (name, repo, commit) of each unpinned component of a call's target.
fn unpinned(c: &Value) -> Vec<(String, String, String)> {
    c["target"]["unpinned_components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_string(),
                u["repo_id"].as_str().unwrap().to_string(),
                u["commit"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_modular_pipelines_own_components_run_under_the_calls_trust_and_are_pinned_per_component() {
    let app = own_app("trust_remote_code=True");
    // 0.37: other repos lose the trust; the pipeline's own transformer keeps
    // it (its code runs), read at the default branch although from_pretrained
    // is pinned: the index names no revision for it.
    let r = scan(
        &[
            ("requirements.txt", "diffusers==0.37.0\n"),
            ("app.py", &app),
        ],
        &[],
    );
    let c = component_loads(&r)[0];
    assert!(c["target"]["chain"].is_null(), "{c}");
    let t = &c["target"]["files"].as_array().unwrap();
    let custom = t
        .iter()
        .find(|f| f["path"] == "transformer/modeling_custom.py")
        .unwrap_or_else(|| panic!("{c}"));
    assert_eq!(custom["repo_id"], "cfg-chain/modular-own");
    assert!(
        custom["why"]
            .as_str()
            .unwrap()
            .contains("component transformer (modular_model_index.json:9)"),
        "{custom}"
    );
    assert!(
        !files(c).iter().any(|f| f.starts_with("controlnet/")),
        "{c}"
    );
    assert_eq!(
        unpinned(c),
        vec![(
            "transformer".to_string(),
            "cfg-chain/modular-own".to_string(),
            OWN_PIPE.to_string()
        )]
    );
    // One unpinned finding at the call, whose fix pins the component there.
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["line"] == 4 && f["rule_id"] == "remote-code-unpinned")
        .unwrap_or_else(|| panic!("{}", r["findings"]));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("transformer from cfg-chain/modular-own at its default branch"),
        "{f}"
    );
    assert_eq!(
        f["fix"]["replacement"],
        format!(
            "pipe.load_components(trust_remote_code=True, revision={{\"transformer\": \"{OWN_PIPE}\"}})"
        )
    );
    // 0.36: the other repo's controlnet runs too (unpinned), its vae is
    // pinned by the index.
    let r36 = scan(
        &[
            ("requirements.txt", "diffusers==0.36.0\n"),
            ("app.py", &app),
        ],
        &[],
    );
    let c = component_loads(&r36)[0];
    assert_eq!(c["target"]["chain"].as_array().unwrap().len(), 2, "{c}");
    assert!(files(c).iter().any(|f| f == "vae/modeling_vae.py"), "{c}");
    assert_eq!(
        unpinned(c),
        vec![
            (
                "controlnet".to_string(),
                "cfg-chain/clean-net".to_string(),
                CLEAN_NET.to_string()
            ),
            (
                "transformer".to_string(),
                "cfg-chain/modular-own".to_string(),
                OWN_PIPE.to_string()
            ),
        ]
    );
    // A per-component revision on the call pins it: no finding left.
    let pinned = scan(
        &[
            ("requirements.txt", "diffusers==0.37.0\n"),
            (
                "app.py",
                &own_app(&format!(
                    "trust_remote_code=True, revision={{\"transformer\": \"{OWN_PIPE}\"}}"
                )),
            ),
        ],
        &[],
    );
    let c = component_loads(&pinned)[0];
    assert!(unpinned(c).is_empty(), "{c}");
    assert!(
        files(c)
            .iter()
            .any(|f| f == "transformer/modeling_custom.py")
    );
    assert!(
        !rules_at(&pinned, 4)
            .iter()
            .any(|x| x == "remote-code-unpinned"),
        "{:?}",
        rules_at(&pinned, 4)
    );
    // A load_components that does not trust remote code runs none of it.
    let quiet = scan(
        &[
            ("requirements.txt", "diffusers==0.37.0\n"),
            ("app.py", &own_app("")),
        ],
        &[],
    );
    let c = component_loads(&quiet)[0];
    assert!(files(c).is_empty(), "{c}");
    assert!(unpinned(c).is_empty(), "{c}");
    assert!(
        notes(c)
            .iter()
            .any(|n| n.contains("would run its AutoModel code (subfolder \"transformer\")")),
        "{c}"
    );
}

#[test]
fn hubwarden_pin_pins_modular_components_on_the_load_components_call() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("requirements.txt"), "diffusers==0.37.0\n").unwrap();
    std::fs::write(project.join("app.py"), own_app("trust_remote_code=True")).unwrap();
    let run = |sub: &str, extra: &[&str]| {
        std::process::Command::new(crate::common::bin())
            .arg(sub)
            .args(["--offline", "--mirror"])
            .arg(crate::common::fixture("hub"))
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(extra)
            .arg(&project)
            .env_remove("HUBWARDEN_MIRROR")
            .output()
            .unwrap()
    };
    let out = run("pin", &["--write"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let app = std::fs::read_to_string(project.join("app.py")).unwrap();
    assert!(
        app.contains(&format!(
            "pipe.load_components(trust_remote_code=True, revision={{\"transformer\": \"{OWN_PIPE}\"}})"
        )),
        "{app}\n{err}"
    );
    // The from_pretrained line (pinned already) is untouched.
    assert!(
        app.contains(&format!(
            "ModularPipeline.from_pretrained(\"cfg-chain/modular-own\", revision=\"{OWN_PIPE}\")\n"
        )),
        "{app}"
    );
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join(".hubwarden.lock")).unwrap())
            .unwrap();
    assert!(
        lock["calls"].as_array().unwrap().iter().any(|e| e["call"]
            .as_str()
            .unwrap()
            .contains(&format!("revision={{\"transformer\":\"{OWN_PIPE}\"}}"))),
        "{lock}"
    );
    // Scanned again: nothing left to pin.
    let again = run("scan", &["--format", "json"]);
    let r: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        !rules_at(&r, 4).iter().any(|x| x == "remote-code-unpinned"),
        "{:?}",
        r["findings"]
    );
    // An error in the component's code refuses the pin (0.36, other repo's
    // evil unet): pinning would approve it. The pipeline's repo is the same
    // target, so its from_pretrained is left too.
    std::fs::write(project.join("requirements.txt"), "diffusers==0.36.0\n").unwrap();
    std::fs::write(project.join("app.py"), MODULAR_APP).unwrap();
    let out = run("pin", &["--write"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        std::fs::read_to_string(project.join("app.py")).unwrap(),
        MODULAR_APP,
        "{err}"
    );
    assert!(err.contains("error-level findings"), "{err}");
    assert!(err.contains("os-system"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("app.py:4") || err.contains("app.py:4"),
        "{err}"
    );
}

#[test]
fn optimum_ort_ov_and_inc_models_run_the_repos_code_with_trust_remote_code() {
    // optimum exports the model through transformers' Auto classes: the
    // repo's auto_map code runs with the flag, and is refused without it.
    let app = "from optimum.onnxruntime import ORTModelForCausalLM\nfrom optimum.intel import INCModelForCausalLM, OVModelForCausalLM as OV\n\nort = ORTModelForCausalLM.from_pretrained(\"cfg-chain/vllm-automap\", export=True, trust_remote_code=True)\nov = OV.from_pretrained(\"cfg-chain/vllm-automap\", trust_remote_code=True)\ninc = INCModelForCausalLM.from_pretrained(\"cfg-chain/vllm-automap\", trust_remote_code=True)\nno = ORTModelForCausalLM.from_pretrained(\"cfg-chain/vllm-automap\", trust_remote_code=False)\n";
    let r = scan(&[("app.py", app)], &[]);
    for (line, api) in [
        (4, "optimum.ORTModelForCausalLM.from_pretrained"),
        (5, "optimum.OVModelForCausalLM.from_pretrained"),
        (6, "optimum.INCModelForCausalLM.from_pretrained"),
    ] {
        let c = r["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["line"] == line)
            .unwrap_or_else(|| panic!("no call at {line}: {r}"));
        assert_eq!(c["api"], api);
        assert!(files(c).iter().any(|f| f == "modeling_evil.py"), "{c}");
        let rules = rules_at(&r, line);
        for want in ["remote-code-enabled", "os-system"] {
            assert!(rules.iter().any(|x| x == want), "{line} {want}: {rules:?}");
        }
    }
    let refused = r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["line"] == 7)
        .unwrap();
    assert_eq!(refused["target"]["refused_remote_code"], true, "{refused}");
    assert!(!rules_at(&r, 7).iter().any(|x| x == "os-system"));
}

#[test]
fn load_components_unpickles_each_components_weights_trusted_or_not() {
    // A concrete text encoder runs no repo code, but its only weights are a
    // malicious pickle: load_components unpickles it without any flag.
    let app = "from diffusers import ModularPipeline\n\npipe = ModularPipeline.from_pretrained(\"cfg-chain/modular-pickle\")\npipe.load_components(torch_dtype=None)\n";
    let r = scan(
        &[
            ("requirements.txt", "diffusers==0.37.0\ntorch==2.5.1\n"),
            ("app.py", app),
        ],
        &[],
    );
    let c = component_loads(&r)[0];
    let f = c["target"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "pytorch_model.bin")
        .unwrap_or_else(|| panic!("{c}"));
    assert_eq!(f["repo_id"], "sc-evil/pickle-rce");
    assert!(
        f["why"]
            .as_str()
            .unwrap()
            .contains("component text_encoder"),
        "{f}"
    );
    let rules = rules_at(&r, 4);
    assert!(
        rules.iter().any(|x| x == "pickle-dangerous-global"),
        "{rules:?}"
    );
    // The from_pretrained call loads no weights.
    assert!(
        !rules_at(&r, 3)
            .iter()
            .any(|x| x == "pickle-dangerous-global")
    );
    // Not among the names loaded: not unpickled.
    let vae_only = scan(
        &[
            ("requirements.txt", "diffusers==0.37.0\ntorch==2.5.1\n"),
            ("app.py", &app.replace("torch_dtype=None", "[\"vae\"]")),
        ],
        &[],
    );
    assert!(files(component_loads(&vae_only)[0]).is_empty());
}
