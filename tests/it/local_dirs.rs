//! A load from a local folder that a download in the codebase fills is a load
//! of the downloaded repo (`discover::local_dirs`): `snapshot_download(...,
//! local_dir="./m")` then `from_pretrained("./m", trust_remote_code=True)`
//! runs that repo's code, so it is resolved and scanned like a hub id.

use std::path::Path;
use std::process::Command;

use hubwarden::discover::{DiscoverOptions, Parsing, discover};
use hubwarden::model::{HubKind, LoadSite, Platform};

use crate::common::bin;
use crate::fakehub::{FakeHub, FakeHubOptions};

const SHA: &str = "77845868a736f5085b9cd43cc2f52cbfd87e9d36";

/// Write `files` under a fresh folder and discover it, whole and sliced (both
/// must agree); the calls at `file`.
fn calls_of(files: &[(&str, &str)]) -> Vec<LoadSite> {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = tmp.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let run = |parsing| {
        discover(
            tmp.path(),
            &DiscoverOptions {
                parsing,
                ..Default::default()
            },
        )
        .unwrap()
        .calls
    };
    let whole = run(Parsing::Whole);
    assert_eq!(run(Parsing::SlicedAlways), whole, "sliced and whole differ");
    whole
}

/// (line, repo id, revision, pinned) of the non-download calls.
fn loads(calls: &[LoadSite]) -> Vec<(u32, Option<String>, Option<String>, bool)> {
    calls
        .iter()
        .filter(|c| !c.api.contains("download"))
        .map(|c| (c.line, c.repo_id.clone(), c.revision.clone(), c.pinned))
        .collect()
}

fn load(line: u32, repo: &str, rev: Option<&str>) -> (u32, Option<String>, Option<String>, bool) {
    (
        line,
        Some(repo.to_string()),
        rev.map(str::to_string),
        rev.is_some_and(|r| r.len() == 40),
    )
}

#[test]
fn a_folder_filled_by_a_download_is_that_repo_however_it_is_spelled() {
    let src = format!(
        r#"import os
from pathlib import Path
from huggingface_hub import snapshot_download, hf_hub_download
from transformers import AutoModel, AutoTokenizer, pipeline

snapshot_download("acme/remote-code", local_dir="./m")
AutoModel.from_pretrained("./m", trust_remote_code=True)
AutoModel.from_pretrained("m/", trust_remote_code=True)
AutoTokenizer.from_pretrained(Path("m"), trust_remote_code=True)

base = "models"
snapshot_download(repo_id="acme/pinned", revision="{SHA}", local_dir=os.path.join(base, "p"))
AutoModel.from_pretrained(Path(base) / "p", trust_remote_code=True)
pipeline("text-generation", model=os.path.join(".", base, "p"), trust_remote_code=True)

d = "/srv/weights/x"
hf_hub_download("acme/file", "modeling.py", local_dir=d)
AutoModel.from_pretrained(d + "/", trust_remote_code=True)

AutoModel.from_pretrained("./nothing-fills-it", trust_remote_code=True)
"#
    );
    let calls = calls_of(&[("app.py", &src)]);
    assert_eq!(
        loads(&calls),
        vec![
            load(7, "acme/remote-code", None),
            load(8, "acme/remote-code", None),
            load(9, "acme/remote-code", None),
            load(13, "acme/pinned", Some(SHA)),
            load(14, "acme/pinned", Some(SHA)),
            load(18, "acme/file", None),
        ],
        "{calls:#?}"
    );
    let first = calls.iter().find(|c| c.line == 7).unwrap();
    assert_eq!(
        first.resolution,
        "folder ./m filled by huggingface_hub.snapshot_download(local_dir=) (line 6)"
    );
    assert_eq!(
        first.args.get("snapshot_of").map(String::as_str),
        Some("huggingface_hub.snapshot_download")
    );
    assert_eq!(first.gate, "true");
}

#[test]
fn the_download_decides_the_revision_not_the_load() {
    let src = format!(
        r#"from huggingface_hub import snapshot_download
from transformers import AutoModel

snapshot_download("acme/a", local_dir="a")
AutoModel.from_pretrained("a", revision="{SHA}", trust_remote_code=True)
snapshot_download("acme/b", revision="main", local_dir="b")
AutoModel.from_pretrained("./b", trust_remote_code=True)
"#
    );
    // The load's own `revision=` is ignored for a folder: not a pin.
    assert_eq!(
        loads(&calls_of(&[("app.py", &src)])),
        vec![load(5, "acme/a", None), load(7, "acme/b", Some("main"))]
    );
}

#[test]
fn a_loop_of_downloads_fills_one_folder_per_repo() {
    let src = r#"from huggingface_hub import snapshot_download
from transformers import AutoModel

for m in ["acme/a", "acme/b"]:
    snapshot_download(m, local_dir=f"w/{m}")
    AutoModel.from_pretrained(f"./w/{m}", trust_remote_code=True)
AutoModel.from_pretrained("w/acme/b", trust_remote_code=True)
"#;
    let calls = calls_of(&[("app.py", src)]);
    // Each folder is its own repo's, not every repo's of the loop.
    assert_eq!(
        loads(&calls),
        vec![
            load(6, "acme/a", None),
            load(6, "acme/b", None),
            load(7, "acme/b", None)
        ],
        "{calls:#?}"
    );
}

#[test]
fn modelscope_cache_dir_and_local_dir_fill_their_folders() {
    let src = r#"from modelscope import snapshot_download, AutoModelForCausalLM

snapshot_download("qwen/Qwen2.5-7B", cache_dir="/root/cache")
AutoModelForCausalLM.from_pretrained("/root/cache/qwen/Qwen2___5-7B", trust_remote_code=True)
snapshot_download(model_id="acme/ms", cache_dir="c", local_dir="./ms")
AutoModelForCausalLM.from_pretrained("ms", trust_remote_code=True)
AutoModelForCausalLM.from_pretrained("./c/acme/ms", trust_remote_code=True)
"#;
    let calls = calls_of(&[("app.py", src)]);
    assert_eq!(
        loads(&calls),
        // With `local_dir=` ModelScope ignores `cache_dir=`: line 7 names a
        // folder nothing fills.
        vec![load(4, "qwen/Qwen2.5-7B", None), load(6, "acme/ms", None)],
        "{calls:#?}"
    );
    assert!(calls.iter().all(|c| c.platform == Platform::Modelscope));
}

#[test]
fn a_download_script_fills_the_folder_another_file_loads() {
    let dl = r#"from huggingface_hub import snapshot_download

def fetch(local_dir="./weights/chat"):
    snapshot_download("acme/remote-code", local_dir=local_dir)
"#;
    let train = r#"from transformers import AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained("weights/chat", trust_remote_code=True)
"#;
    let calls = calls_of(&[("scripts/download.py", dl), ("train.py", train)]);
    let linked: Vec<&LoadSite> = calls.iter().filter(|c| c.path == "train.py").collect();
    assert_eq!(linked.len(), 1, "{calls:#?}");
    assert_eq!(linked[0].repo_id.as_deref(), Some("acme/remote-code"));
    assert_eq!(
        linked[0].resolution,
        "folder weights/chat filled by huggingface_hub.snapshot_download(local_dir=) (scripts/download.py line 4)"
    );
    // A file of its own with a folder of the same name is linked there first.
    let own = r#"from huggingface_hub import snapshot_download
from transformers import AutoModelForCausalLM

snapshot_download("acme/other", local_dir="weights/chat")
AutoModelForCausalLM.from_pretrained("weights/chat", trust_remote_code=True)
"#;
    let calls = calls_of(&[("scripts/download.py", dl), ("train.py", own)]);
    assert_eq!(loads(&calls), vec![load(5, "acme/other", None)]);
}

/// The miss end to end: the folder's remote code is fetched from the hub at
/// the download's commit, scanned, and fails the run.
#[tokio::test(flavor = "multi_thread")]
async fn a_load_from_a_downloaded_folder_is_resolved_and_scanned() {
    let fake = FakeHub::start(crate::common::fixture("hub"), FakeHubOptions::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("app.py"),
        format!(
            "from huggingface_hub import snapshot_download\nfrom transformers import AutoModel\n\n\
             snapshot_download(\"acme/remote-code\", revision=\"{SHA}\", local_dir=\"./m\")\n\
             model = AutoModel.from_pretrained(\"./m\", trust_remote_code=True)\n"
        ),
    )
    .unwrap();
    let out = run_scan(&fake, &project, tmp.path());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let call = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["line"] == 5)
        .unwrap_or_else(|| panic!("the load is reported: {report:#}"));
    assert_eq!(call["repo_id"], "acme/remote-code", "{call:#}");
    assert_eq!(call["pinned"], true, "{call:#}");
    assert_eq!(call["target"]["commit"], SHA, "{call:#}");
    let files: Vec<&str> = call["target"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(files.contains(&"modeling_acme.py"), "{files:?}");
    let rules = crate::kernels::rules_at(&report, 5);
    assert!(
        !rules.contains(&"remote-code-unpinned".to_string()),
        "{rules:?}"
    );
    assert_eq!(out.status.code(), Some(1), "the payload fails the run");
}

fn run_scan(fake: &FakeHub, project: &Path, home: &Path) -> std::process::Output {
    Command::new(bin())
        .args(["scan", "--format", "json", "--cache-dir"])
        .arg(home.join("cache"))
        .arg(project)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("HF_ENDPOINT", fake.url(HubKind::Huggingface))
        .output()
        .unwrap()
}
