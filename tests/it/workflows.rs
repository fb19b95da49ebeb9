//! The workflows users copy (examples/workflows/) and the reusable workflow: they
//! use only inputs the action declares, run on the events they promise, cache
//! where the action caches, the release job can pin the reusable workflow, the
//! org kit's glue scripts work on sample data, and the README shows each one
//! verbatim. `.ci/run` adds check-jsonschema and zizmor over the same files; the
//! e2e tests run the action with the examples' inputs.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&repo_file(rel)).unwrap()
}

const EXAMPLES: &[&str] = &[
    "examples/workflows/hubwarden.yml",
    "examples/workflows/hubwarden-drift.yml",
    "examples/workflows/hubwarden-required.yml",
    "examples/workflows/hubwarden-org.yml",
    ".github/workflows/hubwarden-reusable.yml",
];

fn steps(w: &Value) -> Vec<Value> {
    w["jobs"]
        .as_mapping()
        .unwrap()
        .values()
        .flat_map(|j| j["steps"].as_sequence().cloned().unwrap_or_default())
        .collect()
}

fn step_using<'a>(steps: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    steps
        .iter()
        .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)))
        .collect()
}

fn triggers(w: &Value) -> BTreeSet<String> {
    // serde_yaml reads the `on` key as a string.
    w["on"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_example_uses_only_inputs_the_action_declares() {
    let action = yaml("action.yml");
    let declared: BTreeSet<&str> = action["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    let mut seen = 0;
    for file in EXAMPLES {
        for step in step_using(&steps(&yaml(file)), "hubwarden/hubwarden@") {
            seen += 1;
            for key in step["with"].as_mapping().into_iter().flat_map(|m| m.keys()) {
                let key = key.as_str().unwrap();
                assert!(
                    declared.contains(key),
                    "{file}: input `{key}` is not in action.yml"
                );
            }
        }
    }
    assert!(seen >= 4, "only {seen} hubwarden steps");
}

/// The cache steps around the action: restore before, save after even when the
/// scan fails, both at the action's cache folder, the save under the key the
/// restore computed (recomputing it would hash the restored files too).
fn assert_cache_steps(file: &str, steps: &[Value]) {
    let hubwarden = steps
        .iter()
        .position(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("hubwarden/"))
        })
        .unwrap();
    let restore = steps
        .iter()
        .position(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache/restore@"))
        })
        .unwrap_or_else(|| panic!("{file}: no cache restore"));
    let save = steps
        .iter()
        .position(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache/save@"))
        })
        .unwrap_or_else(|| panic!("{file}: no cache save"));
    assert!(
        restore < hubwarden && hubwarden < save,
        "{file}: cache steps out of order"
    );
    for i in [restore, save] {
        assert_eq!(
            steps[i]["with"]["path"].as_str(),
            Some(hubwarden::action::DEFAULT_CACHE_DIR),
            "{file}"
        );
    }
    assert!(
        steps[save]["if"].as_str().unwrap().contains("always()"),
        "{file}"
    );
    let key = steps[restore]["with"]["key"].as_str().unwrap();
    if key.contains("hashFiles") {
        assert!(key.contains("**/.hubwarden.lock"), "{file}: {key}");
        assert!(key.contains("!.hubwarden-cache/**"), "{file}: {key}");
        assert_eq!(
            steps[save]["with"]["key"].as_str(),
            Some("${{ steps.cache.outputs.cache-primary-key }}"),
            "{file}"
        );
    }
}

#[test]
fn pull_request_example_covers_merge_queues_with_a_shallow_checkout_and_a_cache() {
    let file = "examples/workflows/hubwarden.yml";
    let w = yaml(file);
    let on = triggers(&w);
    for event in ["pull_request", "merge_group", "push"] {
        assert!(on.contains(event), "{file}: no {event}");
    }
    let steps = steps(&w);
    let checkout = step_using(&steps, "actions/checkout@");
    // actions/checkout's default depth: the e2e tests show the base is fetched.
    assert!(checkout[0]["with"]["fetch-depth"].is_null());
    assert_eq!(
        checkout[0]["with"]["persist-credentials"].as_bool(),
        Some(false)
    );
    assert_cache_steps(file, &steps);
}

#[test]
fn drift_and_reusable_workflows_cache_like_the_pull_request_one() {
    for file in [
        "examples/workflows/hubwarden-drift.yml",
        ".github/workflows/hubwarden-reusable.yml",
    ] {
        assert_cache_steps(file, &steps(&yaml(file)));
    }
    let drift = yaml("examples/workflows/hubwarden-drift.yml");
    assert!(triggers(&drift).contains("schedule"));
}

#[test]
fn the_reusable_workflow_is_required_on_pull_requests_and_merge_queues() {
    let reusable = yaml(".github/workflows/hubwarden-reusable.yml");
    assert_eq!(
        triggers(&reusable),
        BTreeSet::from(["workflow_call".to_string()])
    );
    let required = yaml("examples/workflows/hubwarden-required.yml");
    assert_eq!(
        triggers(&required),
        BTreeSet::from(["merge_group".to_string(), "pull_request".to_string()])
    );
    let job = &required["jobs"]["hubwarden"];
    assert!(
        job["uses"]
            .as_str()
            .unwrap()
            .starts_with("hubwarden/hubwarden/.github/workflows/hubwarden-reusable.yml@")
    );
    assert_eq!(
        job["permissions"]["security-events"].as_str(),
        Some("write")
    );
    // Every input and secret the reusable workflow takes reaches the action.
    let call = &reusable["on"]["workflow_call"];
    let reusable_steps = steps(&reusable);
    let with = &step_using(&reusable_steps, "hubwarden/hubwarden@")[0]["with"];
    let mut exposed = BTreeSet::new();
    for (kind, context) in [("inputs", "inputs"), ("secrets", "secrets")] {
        for name in call[kind].as_mapping().unwrap().keys() {
            let name = name.as_str().unwrap();
            assert_eq!(
                with[name].as_str(),
                Some(format!("${{{{ {context}.{name} }}}}").as_str()),
                "{kind}.{name}"
            );
            exposed.insert(name.to_string());
        }
    }
    // And every action input is one of them, but the two the workflow sets
    // itself: `token` (the job's own token, with the job's permissions) and
    // `cache-dir` (the folder its cache steps restore and save).
    let action = yaml("action.yml");
    let missing: Vec<&str> = action["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .filter(|k| !exposed.contains(*k) && !["token", "cache-dir"].contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "the reusable workflow does not pass {missing:?}"
    );
    assert!(exposed.contains("baseline"), "{exposed:?}");
}

/// The release job rewrites the reusable workflow's action line to the release
/// commit with this sed expression; it must match exactly one line.
#[test]
fn the_release_job_can_pin_the_reusable_workflow() {
    let release = repo_file(".github/workflows/release.yml");
    assert!(release.contains(
        r#"sed -i -E "s|uses: hubwarden/hubwarden@v1 # zizmor: ignore\[unpinned-uses\].*$|$pinned|" "$file""#
    ));
    let re =
        regex::Regex::new(r"uses: hubwarden/hubwarden@v1 # zizmor: ignore\[unpinned-uses\].*$")
            .unwrap();
    let reusable = repo_file(".github/workflows/hubwarden-reusable.yml");
    assert_eq!(reusable.lines().filter(|l| re.is_match(l)).count(), 1);
}

fn run_script(step: &Value) -> String {
    step["run"].as_str().unwrap().to_string()
}

/// The org matrix's glue, run on sample data: each scan job's counts step, then
/// the summary job's aggregate table and verdict.
#[test]
fn org_matrix_counts_and_aggregate_summary_work() {
    let w = yaml("examples/workflows/hubwarden-org.yml");
    let scan_steps = w["jobs"]["scan"]["steps"].as_sequence().unwrap().clone();
    let counts = scan_steps
        .iter()
        .find(|s| s["name"].as_str() == Some("This repository's counts"))
        .unwrap();
    let summary_steps = w["jobs"]["summary"]["steps"].as_sequence().unwrap().clone();
    let aggregate = summary_steps
        .iter()
        .find(|s| s["name"].as_str() == Some("Aggregate job summary"))
        .unwrap();
    // The matrix comes from the list job and every repository is counted.
    assert_eq!(
        w["jobs"]["scan"]["strategy"]["matrix"]["repo"].as_str(),
        Some("${{ fromJSON(needs.list.outputs.repos) }}")
    );
    assert_eq!(
        w["jobs"]["scan"]["strategy"]["fail-fast"].as_bool(),
        Some(false)
    );
    let hubwarden = step_using(&scan_steps, "hubwarden/hubwarden@")[0];
    assert_eq!(hubwarden["with"]["upload-sarif"].as_str(), Some("true"));
    assert!(
        hubwarden["with"]["token"]
            .as_str()
            .unwrap()
            .contains("steps.app.outputs.token")
    );
    assert!(
        hubwarden["with"]["extra-args"]
            .as_str()
            .unwrap()
            .contains("--repo ${{ matrix.repo }}")
    );

    let tmp = tempfile::tempdir().unwrap();
    let repos = [
        ("acme/models", "failure", "7", "2", "0"),
        ("acme/web", "success", "0", "0", "0"),
        ("acme/broken", "failure", "", "", ""),
    ];
    for (i, (repo, outcome, findings, errors, unverified)) in repos.iter().enumerate() {
        let dir = tmp.path().join(format!("counts/hubwarden-counts-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &run_script(counts)])
            .current_dir(&dir)
            .env("REPO", repo)
            .env("OUTCOME", outcome)
            .env("FINDINGS", findings)
            .env("ERRORS", errors)
            .env("UNVERIFIED", unverified)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(dir.join("hubwarden-counts.json").exists());
    }
    let summary = tmp.path().join("summary.md");
    let run = |dir: &Path| {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &run_script(aggregate)])
            .current_dir(dir)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_SERVER_URL", "https://github.example.invalid")
            .output()
            .unwrap()
    };
    let out = run(tmp.path());
    let md = std::fs::read_to_string(&summary).unwrap();
    // Red: one repository has errors, one could not be scanned.
    assert_eq!(out.status.code(), Some(1), "{md}");
    assert!(
        md.contains("| repository | errors | findings | unverified | scan |"),
        "{md}"
    );
    assert!(md.contains("[acme/models](https://github.example.invalid/acme/models/security/code-scanning?query=tool%3Ahubwarden) | 2 | 7 | 0 | failure |"), "{md}");
    assert!(md.contains("| ? | ? | ? | failure |"), "{md}");
    assert!(
        md.contains("3 repositories scanned, 2 with errors or a failed scan."),
        "{md}"
    );
    // Most errors first.
    assert!(md.find("acme/models").unwrap() < md.find("acme/web").unwrap());

    // Green when every repository is clean.
    let clean = tempfile::tempdir().unwrap();
    let dir = clean.path().join("counts/hubwarden-counts-0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        tmp.path()
            .join("counts/hubwarden-counts-1/hubwarden-counts.json"),
        dir.join("hubwarden-counts.json"),
    )
    .unwrap();
    std::fs::remove_file(&summary).unwrap();
    assert_eq!(run(clean.path()).status.code(), Some(0));
}

/// The README's user guide shows each example workflow verbatim, between
/// `<!-- example-workflow:start (copied from FILE ...) -->` markers.
#[test]
fn the_guide_shows_every_example_workflow_verbatim() {
    let guide = repo_file("README.md");
    let mut shown = BTreeSet::new();
    for block in guide
        .split("<!-- example-workflow:start (copied from ")
        .skip(1)
    {
        let (file, rest) = block.split_once(';').unwrap();
        let body = rest.split_once("```yaml\n").unwrap().1;
        let body = body.split_once("```\n").unwrap().0;
        assert_eq!(
            body,
            repo_file(file),
            "README block for {file} differs from the file"
        );
        shown.insert(file.to_string());
    }
    for file in EXAMPLES {
        if file.starts_with("examples/") {
            assert!(shown.contains(*file), "README does not show {file}");
        }
    }
}
