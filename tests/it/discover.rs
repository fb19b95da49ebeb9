//! Discover stage and the `hubwarden inventory` command.

use std::path::Path;
use std::process::{Command, Output};

use hubwarden::discover::{DiscoverOptions, Discovery, Parsing, discover};
use hubwarden::model::LoadSite;

use crate::common::{bin, fixture};

fn project(name: &str) -> std::path::PathBuf {
    fixture(&format!("projects/{name}"))
}

fn run_on(dir: &Path, opts: &DiscoverOptions) -> Discovery {
    discover(dir, opts).expect("discover runs")
}

fn ids(d: &Discovery) -> Vec<String> {
    d.calls
        .iter()
        .map(|c| c.repo_id.clone().unwrap_or_else(|| "<null>".into()))
        .collect()
}

fn find<'a>(d: &'a Discovery, repo: &str) -> &'a LoadSite {
    d.calls
        .iter()
        .find(|c| c.repo_id.as_deref() == Some(repo))
        .unwrap_or_else(|| panic!("no call for {repo}: {:?}", ids(d)))
}

fn inventory(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("inventory")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("binary runs")
}

#[test]
fn json_of_every_loader_family() {
    let out = inventory(&[project("families").to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("families_json", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn text_of_every_loader_family() {
    let out = inventory(&[project("families").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    insta::assert_snapshot!("families_text", text);
}

#[test]
fn json_of_value_resolution() {
    let out = inventory(&[project("values").to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("values_json", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn json_root_matches_the_contract() {
    let out = inventory(&[project("families").to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert!(v["errors"].as_array().unwrap().is_empty());
    let call = &v["calls"][0];
    for key in [
        "path",
        "line",
        "column",
        "cell",
        "end_line",
        "platform",
        "api",
        "repo_id",
        "repo_type",
        "revision",
        "pinned",
        "gate",
        "resolution",
    ] {
        assert!(call.get(key).is_some(), "missing {key} in {call}");
    }
    // What discovery did, for benchmarks; nothing was fetched.
    let stats = &v["stats"];
    assert_eq!(stats["files_parsed"], 8, "{stats}");
    assert!(stats["resolution_steps"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["http_requests"], 0, "{stats}");
    for absent in ["target", "findings", "summary", "source_line", "suppress"] {
        assert!(
            call.get(absent).is_none() && v.get(absent).is_none(),
            "{absent} must not appear"
        );
    }
}

#[test]
fn torch_hub_ref_and_local_source() {
    let d = run_on(&project("families"), &DiscoverOptions::default());
    let vision = find(&d, "pytorch/vision");
    assert_eq!(vision.revision.as_deref(), Some("v0.10.0"));
    assert_eq!(vision.repo_type.as_str(), "github");
    assert_eq!(vision.gate, "absent");
    assert_eq!(find(&d, "acme/hubrepo").gate, "true");
    assert_eq!(find(&d, "acme/other").gate, "check");
    assert!(
        !ids(&d).iter().any(|i| i.contains("local/dir")),
        "source='local' is not remote"
    );
}

#[test]
fn pinned_revision_and_extra_args() {
    let d = run_on(&project("families"), &DiscoverOptions::default());
    let m = d
        .calls
        .iter()
        .find(|c| c.repo_id.as_deref() == Some("acme/chat-7b") && c.gate == "true")
        .unwrap();
    assert!(m.pinned);
    assert_eq!(m.line, 7);
    assert_eq!(m.end_line, 12);
    assert_eq!(
        m.args.get("code_revision").map(String::as_str),
        Some("main")
    );
    assert_eq!(
        m.source_line,
        "model = AutoModelForCausalLM.from_pretrained("
    );
    let community = d
        .calls
        .iter()
        .find(|c| c.args.get("custom_pipeline").map(String::as_str) == Some("lpw_stable_diffusion"))
        .unwrap();
    assert_eq!(
        community.gate, "absent",
        "community pipelines run without a flag"
    );
    assert!(
        !d.calls
            .iter()
            .any(|c| c.args.get("task").map(String::as_str) == Some("sentiment-analysis")),
        "a pipeline without a model uses the built-in default"
    );
    let plain_from_config = d
        .calls
        .iter()
        .filter(|c| c.api == "transformers.AutoModel.from_config")
        .count();
    assert_eq!(
        plain_from_config, 1,
        "from_config without trust_remote_code is not a load"
    );
}

#[test]
fn inline_suppression_comments() {
    let d = run_on(&project("families"), &DiscoverOptions::default());
    assert_eq!(
        find(&d, "acme/sampler").suppress,
        Some(vec!["unpinned-remote-code".to_string(), "x".to_string()])
    );
    assert_eq!(find(&d, "acme/weights").suppress, Some(Vec::new()));
    assert_eq!(find(&d, "acme/gen").suppress, None);
}

#[test]
fn snapshot_download_result_is_the_snapshots_repo() {
    let d = run_on(&project("values"), &DiscoverOptions::default());
    let fp = d
        .calls
        .iter()
        .find(|c| {
            c.api.starts_with("transformers.") && c.repo_id.as_deref() == Some("qwen/snap-model")
        })
        .unwrap();
    assert_eq!(fp.platform.as_str(), "modelscope");
    assert_eq!(fp.revision.as_deref(), Some("v2.0"));
    assert_eq!(
        fp.args.get("snapshot_of").map(String::as_str),
        Some("modelscope.snapshot_download")
    );
}

#[test]
fn one_entry_per_possible_id() {
    let d = run_on(&project("values"), &DiscoverOptions::default());
    for id in [
        "acme/list-a",
        "acme/list-b",
        "acme/comp-a",
        "acme/comp-b",
        "acme/param-default",
        "acme/call-site",
        "acme/call-kw",
        "acme/hub-a",
    ] {
        find(&d, id);
    }
    assert_eq!(find(&d, "acme/hub-b").revision.as_deref(), Some("v1"));
    let kw = find(&d, "acme/kwargs-model");
    assert_eq!(kw.gate, "true", "trust_remote_code from a **kwargs dict");
    assert_eq!(kw.revision.as_deref(), Some("v9"));
    assert!(
        !d.calls.iter().any(|c| c.api == "transformers.pipeline"),
        "a pipeline given a loaded model object is not a second load"
    );
    find(&d, "acme/obj-model");
    let unresolved = d.calls.iter().filter(|c| c.repo_id.is_none()).count();
    assert_eq!(
        unresolved, 3,
        "env without default, argparse without default, bare parameter"
    );
}

#[test]
fn text_in_comments_docstrings_and_strings_is_not_a_call() {
    let d = run_on(&project("traps/text_only.py"), &DiscoverOptions::default());
    assert!(d.calls.is_empty(), "{:?}", ids(&d));
    assert!(d.errors.is_empty());
}

#[test]
fn local_functions_shadow_library_names() {
    let d = run_on(&project("traps/shadowed.py"), &DiscoverOptions::default());
    assert_eq!(ids(&d), vec!["real/torch-repo"]);
}

#[test]
fn local_paths_are_not_hub_ids() {
    // `checkpoints/bert` exists in the scanned tree; the rest look like paths.
    let d = run_on(&project("traps"), &DiscoverOptions::default());
    let local: Vec<_> = d
        .calls
        .iter()
        .filter(|c| c.path == "local_paths.py")
        .map(|c| c.repo_id.clone())
        .collect();
    assert_eq!(local, vec![Some("acme/real-one".to_string())]);
}

#[test]
fn ignored_folders_are_skipped() {
    let d = run_on(&project("traps"), &DiscoverOptions::default());
    for c in &d.calls {
        assert!(
            !c.repo_id.as_deref().unwrap_or("").starts_with("ignored/"),
            "{} should be skipped",
            c.path
        );
    }
}

#[test]
fn bad_inputs_are_warnings_and_the_run_goes_on() {
    let out = inventory(&[project("traps").to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<String> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(errors, vec!["bad_utf8.py", "broken.py", "malformed.ipynb"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: bad_utf8.py: invalid UTF-8"),
        "{stderr}"
    );
    assert!(stderr.contains("warning: malformed.ipynb"), "{stderr}");
    // The valid part of a file with a syntax error is still read.
    assert!(
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["repo_id"] == "acme/before-error")
    );
}

#[test]
fn notebook_cells_with_magics() {
    let d = run_on(&project("traps/magics.ipynb"), &DiscoverOptions::default());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    assert_eq!(ids(&d), vec!["acme/notebook-model", "acme/nb-hub"]);
    let m = find(&d, "acme/notebook-model");
    assert_eq!((m.line, m.column, m.cell, m.end_line), (41, 9, Some(2), 43));
    assert_eq!(m.gate, "true");
    assert_eq!(m.resolution, "constant MODEL (line 37)");
    let h = find(&d, "acme/nb-hub");
    assert_eq!((h.line, h.cell), (63, Some(4)));
}

#[test]
fn exclude_globs() {
    let opts = DiscoverOptions {
        exclude: vec!["hf_*.py".into(), "torch_hub.py".into()],
        ..DiscoverOptions::default()
    };
    let d = run_on(&project("families"), &opts);
    assert!(
        d.calls
            .iter()
            .all(|c| !c.path.starts_with("hf_") && c.path != "torch_hub.py")
    );
    assert!(!d.calls.is_empty());
    let out = inventory(&[project("families").to_str().unwrap(), "--exclude", "a/[b"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_path_is_exit_2_with_one_line() {
    let out = inventory(&["/nonexistent/hubwarden-test-path"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does not exist"));
    let bad = inventory(&["--format", "yaml"]);
    assert_eq!(bad.status.code(), Some(2));
}

const LOADER: &str = "from transformers import AutoModel\nAutoModel.from_pretrained(\"acme/m\")\n";

#[test]
fn vcs_folders_oversized_files_and_outside_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/x.py"), LOADER).unwrap();
    std::fs::write(root.join("ok.py"), LOADER).unwrap();
    let mut big = LOADER.as_bytes().to_vec();
    big.resize(11 * 1024 * 1024, b'#');
    std::fs::write(root.join("big.py"), big).unwrap();
    let outside = tmp.path().join("outside.py");
    std::fs::write(&outside, LOADER).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, root.join("link_out.py")).unwrap();
        std::os::unix::fs::symlink(root.join("ok.py"), root.join("link_in.py")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).unwrap();
    }
    let d = run_on(&root, &DiscoverOptions::default());
    let paths: Vec<&str> = d.calls.iter().map(|c| c.path.as_str()).collect();
    #[cfg(unix)]
    assert_eq!(paths, vec!["link_in.py", "ok.py"]);
    assert_eq!(d.errors.len(), 1);
    assert_eq!(d.errors[0].path, "big.py");
    assert!(d.errors[0].message.contains("10 MB"));
}

#[test]
fn a_gitignore_works_outside_a_git_repository() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(".gitignore"), "gen/\n").unwrap();
    std::fs::create_dir(tmp.path().join("gen")).unwrap();
    std::fs::write(tmp.path().join("gen/x.py"), LOADER).unwrap();
    std::fs::write(tmp.path().join("y.py"), LOADER).unwrap();
    let d = run_on(tmp.path(), &DiscoverOptions::default());
    let paths: Vec<&str> = d.calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, vec!["y.py"]);
}

#[test]
fn a_single_file_path() {
    let out = inventory(&[
        project("families/torch_hub.py").to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls"][0]["path"], "torch_hub.py");
    assert_eq!(v["calls"].as_array().unwrap().len(), 4);
}

#[test]
fn the_example_project_has_loads_on_several_platforms() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/project");
    let d = run_on(&root, &DiscoverOptions::default());
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    let mut platforms: Vec<&str> = d.calls.iter().map(|c| c.platform.as_str()).collect();
    platforms.sort();
    platforms.dedup();
    assert!(platforms.len() >= 3, "{platforms:?}");
    assert!(
        d.calls.iter().any(|c| c.cell.is_some()),
        "the notebook is read"
    );
}

/// Adversarial files for value resolution, `n` units each: what once took
/// seconds per file (each reference re-resolved its whole history).
fn adversarial(kind: &str, n: usize) -> String {
    let mut s = String::from(
        "from transformers import AutoModel\nfrom huggingface_hub import snapshot_download\n",
    );
    match kind {
        // `model_path = snapshot_download(model_path)` over and over, a load after each.
        "self_reassignment" => {
            s.push_str("model_path = \"acme/base\"\n");
            for _ in 0..n {
                s.push_str("model_path = snapshot_download(model_path)\n");
                s.push_str("m = AutoModel.from_pretrained(model_path, trust_remote_code=True)\n");
            }
        }
        // A ring of helpers that call each other, each with a load and callers.
        "mutual_recursion" => {
            for i in 0..n {
                let next = (i + 1) % n;
                s.push_str(&format!(
                    "def load_{i}(path, flag):\n    AutoModel.from_pretrained(path, trust_remote_code=flag)\n    return load_{next}(path, flag) or load_{i}(path, flag)\n\n"
                ));
            }
            for i in 0..n {
                s.push_str(&format!("load_{i}(\"acme/m{}\", True)\n", i % 4));
            }
        }
        // One helper, a wrapper, and very many call sites of both.
        "many_call_sites" => {
            s.push_str("def load(path, rev=None):\n    return AutoModel.from_pretrained(path, revision=rev, trust_remote_code=True)\n\n");
            s.push_str("def wrap(path):\n    return load(path) or load(path, 'main')\n\n");
            for i in 0..n {
                s.push_str(&format!(
                    "load(\"acme/m{}\")\nwrap(\"acme/w{}\")\n",
                    i % 8,
                    i % 8
                ));
            }
        }
        // Each name is built twice from the one before (2^n paths without a memo),
        // and one deep concatenation.
        "deep_strings" => {
            s.push_str("p0 = \"acme\"\n");
            for i in 1..=n {
                let j = i - 1;
                if i % 2 == 0 {
                    s.push_str(&format!("p{i} = f\"{{p{j}}}/{{p{j}}}\"\n"));
                } else {
                    s.push_str(&format!("p{i} = p{j} + \"-\" + p{j}\n"));
                }
                s.push_str(&format!("AutoModel.from_pretrained(p{i})\n"));
            }
            let deep: Vec<String> = (0..n).map(|i| format!("\"s{i}\"")).collect();
            s.push_str(&format!(
                "q = {}{}\nAutoModel.from_pretrained(q)\n",
                deep.join(" + ("),
                ")".repeat(n - 1)
            ));
        }
        _ => unreachable!(),
    }
    s
}

/// Resolution steps and bytes of one adversarial file.
fn steps_of(src: &str) -> (u64, usize, Discovery) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.py"), src).unwrap();
    let d = run_on(tmp.path(), &DiscoverOptions::default());
    (d.stats.resolution_steps, src.len(), d)
}

#[test]
fn resolution_steps_grow_linearly_with_adversarial_files() {
    for kind in [
        "self_reassignment",
        "mutual_recursion",
        "many_call_sites",
        "deep_strings",
    ] {
        let (small, small_bytes, d) = steps_of(&adversarial(kind, 250));
        assert!(!d.calls.is_empty(), "{kind}: the loads are still found");
        assert!(d.errors.is_empty(), "{kind}: {:?}", d.errors);
        let (big, big_bytes, _) = steps_of(&adversarial(kind, 1000));
        println!("{kind}: {small_bytes} bytes {small} steps, {big_bytes} bytes {big} steps");
        // Four times the units: at most about four times the steps, and a small
        // constant number of steps per byte.
        let growth = big as f64 / small as f64;
        let size = big_bytes as f64 / small_bytes as f64;
        assert!(
            growth <= size * 1.25,
            "{kind}: {small} -> {big} steps for {small_bytes} -> {big_bytes} bytes"
        );
        assert!(
            big <= 2 * big_bytes as u64,
            "{kind}: {big} steps for {big_bytes} bytes"
        );
    }
}

#[test]
fn each_call_site_reports_each_repo_once_and_each_step_once() {
    let (_, _, d) = steps_of(&adversarial("self_reassignment", 30));
    for c in &d.calls {
        let same = d
            .calls
            .iter()
            .filter(|o| o.line == c.line && o.repo_id == c.repo_id)
            .count();
        assert_eq!(same, 1, "{c:?}");
        let steps: Vec<&str> = c.resolution.split(" <- ").collect();
        let mut unique = steps.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), steps.len(), "{}", c.resolution);
    }
    // The first load sees one snapshot of the base repo.
    let first = d
        .calls
        .iter()
        .find(|c| c.api.ends_with("from_pretrained"))
        .unwrap();
    assert_eq!(first.repo_id.as_deref(), Some("acme/base"));
    assert_eq!(
        first.args.get("snapshot_of").map(String::as_str),
        Some("huggingface_hub.snapshot_download")
    );
}

/// A notebook with one code cell per element, as Jupyter writes it.
fn notebook(cells: &[&[&str]]) -> String {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .map(|lines| {
            serde_json::json!({
                "cell_type": "code",
                "execution_count": null,
                "metadata": {},
                "outputs": [],
                "source": lines,
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "cells": cells,
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }))
    .unwrap()
}

/// The 1-based line of the .ipynb file that holds `needle`.
fn ipynb_line(text: &str, needle: &str) -> u32 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1
}

#[test]
fn notebook_escapes_magics_help_await_and_a_broken_statement() {
    let text = notebook(&[
        &[
            "!pip install \\\n",
            "    transformers \\\n",
            "    torch\n",
            "from transformers import AutoModel\n",
        ],
        &[
            "%%capture out\n",
            "m1 = AutoModel.from_pretrained('acme/capture')\n",
        ],
        &["%%time\n", "m2 = AutoModel.from_pretrained('acme/timed')\n"],
        &[
            "%%bash\n",
            "python -c \"AutoModel.from_pretrained('bash/cell')\"\n",
        ],
        &[
            "AutoModel.from_pretrained?\n",
            "??AutoModel\n",
            "x = await fetch()\n",
            "async with ctx() as c:\n",
            "    m3 = AutoModel.from_pretrained('acme/after-help')\n",
        ],
        &[
            "m4 = AutoModel.from_pretrained('acme/before-error')\n",
            "def broken(:\n",
            "    pass\n",
            "m5 = AutoModel.from_pretrained('acme/after-error')\n",
        ],
        &["m6 = AutoModel.from_pretrained('acme/next-cell')\n"],
    ]);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("nb.ipynb"), &text).unwrap();
    let d = run_on(tmp.path(), &DiscoverOptions::default());
    assert_eq!(
        ids(&d),
        [
            "acme/capture",
            "acme/timed",
            "acme/after-help",
            "acme/before-error",
            "acme/after-error",
            "acme/next-cell"
        ]
    );
    // Lines are the notebook file's, and the cell is the one written.
    let after = find(&d, "acme/after-error");
    assert_eq!(after.line, ipynb_line(&text, "acme/after-error"));
    assert_eq!(after.cell, Some(5));
    assert_eq!(
        find(&d, "acme/after-help").line,
        ipynb_line(&text, "acme/after-help")
    );
    // The syntax error is still reported, at the line the user wrote.
    let errors: Vec<&str> = d.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        errors,
        [format!(
            "syntax error at line {}; calls in the parsable parts are still listed",
            ipynb_line(&text, "def broken(:")
        )]
    );
}

fn with_parsing(parsing: Parsing) -> DiscoverOptions {
    DiscoverOptions {
        parsing,
        ..DiscoverOptions::default()
    }
}

#[test]
fn sliced_discovery_reports_the_whole_file_calls_on_every_fixture() {
    let root = fixture("");
    let whole = run_on(&root, &with_parsing(Parsing::Whole));
    let sliced = run_on(&root, &with_parsing(Parsing::SlicedAlways));
    let where_it_pays = run_on(&root, &with_parsing(Parsing::Sliced));
    assert!(whole.calls.len() > 100, "{}", whole.calls.len());
    assert_eq!(sliced.calls, whole.calls);
    assert_eq!(where_it_pays.calls, whole.calls);
    // The default parses every file whole.
    let default = run_on(&root, &DiscoverOptions::default());
    assert_eq!(default.calls, whole.calls);
    assert_eq!(default.stats, whole.stats);
    // Slicing did happen: fewer bytes parsed for the same files.
    assert_eq!(sliced.stats.files_parsed, whole.stats.files_parsed);
    assert!(
        sliced.stats.bytes_parsed < whole.stats.bytes_parsed,
        "{:?} vs {:?}",
        sliced.stats,
        whole.stats
    );
}

#[test]
fn sliced_discovery_follows_aliases_constants_call_sites_and_fields() {
    let src = "\
import argparse
from transformers import pipeline as make, AutoModel
from huggingface_hub import snapshot_download

BASE = 'acme'
NAME = BASE + '/model'
unrelated = [i for i in range(3)]
alias = make
again = alias


class Cfg:
    repo = 'acme/field'


def helper(path, rev='main'):
    return AutoModel.from_pretrained(path, revision=rev, trust_remote_code=True)


def other():
    return 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--model-name', default='acme/argparse')
    args = p.parse_args()
    again('text-generation', model=NAME)
    AutoModel.from_pretrained(args.model_name)
    AutoModel.from_pretrained(Cfg().repo)
    local = snapshot_download(NAME)
    AutoModel.from_pretrained(local)


helper('acme/from-call-site')
helper(NAME, 'v1')
";
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.py"), src).unwrap();
    let whole = run_on(tmp.path(), &with_parsing(Parsing::Whole));
    let sliced = run_on(tmp.path(), &with_parsing(Parsing::SlicedAlways));
    assert_eq!(sliced.calls, whole.calls);
    let mut got = ids(&sliced);
    got.sort();
    assert_eq!(
        got,
        [
            "acme/argparse",
            "acme/field",
            "acme/from-call-site",
            "acme/model",
            "acme/model",
            "acme/model",
            "acme/model"
        ]
    );
    assert!(sliced.stats.bytes_parsed < whole.stats.bytes_parsed);
    // The adversarial files too.
    for kind in [
        "self_reassignment",
        "mutual_recursion",
        "many_call_sites",
        "deep_strings",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("app.py"), adversarial(kind, 40)).unwrap();
        let whole = run_on(tmp.path(), &with_parsing(Parsing::Whole));
        let sliced = run_on(tmp.path(), &with_parsing(Parsing::SlicedAlways));
        assert_eq!(sliced.calls, whole.calls, "{kind}");
    }
}
