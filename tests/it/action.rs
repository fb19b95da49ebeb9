//! The Action's code path without the scan: `INPUT_*`/`GITHUB_*` -> plan, and
//! the `$GITHUB_OUTPUT` format.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hubwarden::action::{
    ActionError, SARIF_FILE_NAME, UploadMode, format_output, input_var, plan_from_env, split_args,
    write_outputs,
};
use hubwarden::cli::ScanFormat;
use hubwarden::model::{HubKind, Level};

use crate::common::{bin, fixture};

const WS: &str = "/github/workspace";
const BASE_SHA: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

/// The variables the runner sets for a push to main with the action's defaults
/// (action.yml defaults: upload-sarif auto, category hubwarden, diff-base auto,
/// offline false, token = github.token; the rest empty).
fn push_env() -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("GITHUB_WORKSPACE", WS),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REPOSITORY", "octo-org/app"),
        ("GITHUB_SHA", "1111111111111111111111111111111111111111"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_OUTPUT", "/github/file_commands/set_output_1"),
        (
            "GITHUB_STEP_SUMMARY",
            "/github/file_commands/step_summary_1",
        ),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("INPUT_PATH", "."),
        ("INPUT_FAIL-ON", ""),
        ("INPUT_CONFIG", ""),
        ("INPUT_UPLOAD-SARIF", "auto"),
        ("INPUT_CATEGORY", "hubwarden"),
        ("INPUT_DIFF-BASE", "auto"),
        ("INPUT_OFFLINE", "false"),
        ("INPUT_TOKEN", "ghs_workflowtoken"),
        ("INPUT_HF-TOKEN", ""),
        ("INPUT_MODELSCOPE-TOKEN", ""),
        ("INPUT_CSGHUB-TOKEN", ""),
        ("INPUT_EXTRA-ARGS", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.insert(
        "GITHUB_EVENT_PATH".into(),
        fixture("action/push.json").display().to_string(),
    );
    env
}

fn pr_env(payload: &str) -> HashMap<String, String> {
    let mut env = push_env();
    env.insert("GITHUB_EVENT_NAME".into(), "pull_request".into());
    env.insert(
        "GITHUB_EVENT_PATH".into(),
        fixture(payload).display().to_string(),
    );
    env.insert("GITHUB_REF".into(), "refs/pull/7/merge".into());
    env
}

fn set(env: &mut HashMap<String, String>, k: &str, v: &str) {
    env.insert(k.to_string(), v.to_string());
}

fn plan(env: &HashMap<String, String>) -> Result<hubwarden::action::ActionPlan, ActionError> {
    plan_from_env(&|k: &str| env.get(k).cloned())
}

fn ws(rel: &str) -> PathBuf {
    Path::new(WS).join(rel)
}

#[test]
fn input_variable_names_keep_hyphens() {
    assert_eq!(input_var("fail-on"), "INPUT_FAIL-ON");
    assert_eq!(input_var("extra-args"), "INPUT_EXTRA-ARGS");
    assert_eq!(input_var("hf-token"), "INPUT_HF-TOKEN");
}

#[test]
fn push_with_defaults() {
    let p = plan(&push_env()).unwrap();
    assert_eq!(p.workspace, Path::new(WS));
    assert_eq!(p.scan.path, Path::new(WS));
    assert_eq!(p.scan.format, ScanFormat::Github);
    assert_eq!(p.scan.sarif.as_deref(), Some(ws(SARIF_FILE_NAME).as_path()));
    assert_eq!(p.sarif_file, ws(SARIF_FILE_NAME));
    assert_eq!(p.sarif_output, SARIF_FILE_NAME);
    assert_eq!(p.scan.category, "hubwarden");
    assert_eq!(
        p.scan.fail_on, None,
        "empty fail-on leaves the config file in charge"
    );
    assert!(!p.scan.offline);
    assert!(!p.scan.upload, "the action uploads itself, per `upload`");
    assert_eq!(p.scan.diff_base, None, "diff-base auto is none on push");
    assert!(p.git_safe_directories.is_empty());
    assert_eq!(p.upload, UploadMode::Auto);
    assert!(p.notices.is_empty(), "{:?}", p.notices);
    assert_eq!(p.scan.github.repo.as_deref(), Some("octo-org/app"));
    assert_eq!(
        p.scan.github.commit.as_deref(),
        Some("1111111111111111111111111111111111111111")
    );
    assert_eq!(p.scan.github.git_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        p.outputs_file.as_deref(),
        Some(Path::new("/github/file_commands/set_output_1"))
    );
    assert_eq!(
        p.summary_file.as_deref(),
        Some(Path::new("/github/file_commands/step_summary_1"))
    );
    assert_eq!(p.api_url, "https://api.github.com");
    assert_eq!(p.event.name.as_deref(), Some("push"));
    assert_eq!(p.event.pr_number, None);
}

#[test]
fn hyphenated_inputs_are_read() {
    let mut env = push_env();
    set(&mut env, "INPUT_FAIL-ON", "Warning");
    set(&mut env, "INPUT_UPLOAD-SARIF", "false");
    set(&mut env, "INPUT_DIFF-BASE", "origin/main");
    set(&mut env, "INPUT_EXTRA-ARGS", "--exclude 'tests/**'");
    set(&mut env, "INPUT_HF-TOKEN", "hf_abc");
    set(&mut env, "INPUT_MODELSCOPE-TOKEN", "ms_abc");
    set(&mut env, "INPUT_CSGHUB-TOKEN", "csg_abc");
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.fail_on, Some(Level::Warning));
    assert_eq!(p.upload, UploadMode::Never);
    assert_eq!(p.scan.diff_base.as_deref(), Some("origin/main"));
    assert_eq!(p.scan.exclude, vec!["tests/**".to_string()]);
    let vars = p.tokens.by_hub();
    assert_eq!(
        vars,
        vec![
            (HubKind::Github, "ghs_workflowtoken"),
            (HubKind::Huggingface, "hf_abc"),
            (HubKind::Modelscope, "ms_abc"),
            (HubKind::Opencsg, "csg_abc"),
        ]
    );
}

#[test]
fn underscore_spellings_are_not_inputs() {
    // A shell-friendly spelling is not what the runner sets; reading it would
    // hide a misspelled input in a hand-written environment.
    let mut env = push_env();
    set(&mut env, "INPUT_FAIL_ON", "note");
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.fail_on, None);
}

#[test]
fn empty_and_blank_inputs_mean_unset() {
    let mut env = push_env();
    for k in [
        "INPUT_PATH",
        "INPUT_UPLOAD-SARIF",
        "INPUT_CATEGORY",
        "INPUT_DIFF-BASE",
        "INPUT_OFFLINE",
        "INPUT_HF-TOKEN",
    ] {
        set(&mut env, k, "  ");
    }
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.path, Path::new(WS));
    assert_eq!(p.upload, UploadMode::Auto);
    assert_eq!(p.scan.category, "hubwarden");
    assert_eq!(p.scan.diff_base, None);
    assert!(!p.scan.offline);
    assert_eq!(p.tokens.huggingface, None);
}

#[test]
fn paths_are_relative_to_the_workspace() {
    let mut env = push_env();
    set(&mut env, "INPUT_PATH", "./services/api");
    set(&mut env, "INPUT_CONFIG", "ci/hubwarden.yml");
    set(
        &mut env,
        "INPUT_EXTRA-ARGS",
        "--mirror examples/mirror --rules ./my-rules --rules /opt/rules --json out/report.json",
    );
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.path, ws("services/api"));
    assert_eq!(p.scan.config, Some(ws("ci/hubwarden.yml")));
    assert_eq!(p.scan.mirror, Some(ws("examples/mirror")));
    assert_eq!(
        p.scan.rules,
        vec![ws("my-rules"), PathBuf::from("/opt/rules")]
    );
    assert_eq!(p.scan.json, Some(ws("out/report.json")));
}

#[test]
fn absolute_path_input_is_kept() {
    let mut env = push_env();
    set(&mut env, "INPUT_PATH", "/src/app");
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.path, Path::new("/src/app"));
}

#[test]
fn workspace_defaults_to_the_current_directory() {
    let mut env = push_env();
    env.remove("GITHUB_WORKSPACE");
    let p = plan(&env).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(p.workspace, cwd);
    assert_eq!(p.sarif_file, cwd.join(SARIF_FILE_NAME));
    assert_eq!(p.sarif_output, SARIF_FILE_NAME);
}

#[test]
fn pull_request_diff_base_auto_is_the_base_commit() {
    let p = plan(&pr_env("action/pull_request.json")).unwrap();
    assert_eq!(p.scan.diff_base.as_deref(), Some(BASE_SHA));
    assert_eq!(p.event.pr_number, Some(7));
    assert_eq!(p.event.base_sha.as_deref(), Some(BASE_SHA));
    assert!(!p.event.from_fork);
    assert_eq!(p.scan.github.git_ref.as_deref(), Some("refs/pull/7/merge"));
    assert_eq!(p.upload, UploadMode::Auto);
    assert_eq!(p.git_safe_directories, vec![PathBuf::from(WS)]);
}

#[test]
fn pull_request_merge_ref_comes_from_the_payload() {
    let mut env = pr_env("action/pull_request.json");
    // The payload's number wins over a GITHUB_REF that disagrees.
    set(&mut env, "GITHUB_REF", "refs/heads/new-tokenizer");
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.github.git_ref.as_deref(), Some("refs/pull/7/merge"));
}

#[test]
fn diff_base_none_and_explicit() {
    let mut env = pr_env("action/pull_request.json");
    set(&mut env, "INPUT_DIFF-BASE", "none");
    assert_eq!(plan(&env).unwrap().scan.diff_base, None);
    set(&mut env, "INPUT_DIFF-BASE", "v1.2.0");
    assert_eq!(
        plan(&env).unwrap().scan.diff_base.as_deref(),
        Some("v1.2.0")
    );
    set(&mut env, "INPUT_DIFF-BASE", "--output=/etc/passwd");
    let err = plan(&env).unwrap_err().to_string();
    assert!(err.contains("diff-base"), "{err}");
}

#[test]
fn pull_request_without_base_sha_fails_closed() {
    let err = plan(&pr_env("action/pull_request_no_base.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("pull_request.base.sha"), "{err}");
}

#[test]
fn pull_request_without_payload_file_is_an_error() {
    let mut env = pr_env("action/pull_request.json");
    set(&mut env, "GITHUB_EVENT_PATH", "/nonexistent/event.json");
    let err = plan(&env).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/event.json"), "{err}");
}

#[test]
fn push_ignores_the_payload() {
    let mut env = push_env();
    set(&mut env, "GITHUB_EVENT_PATH", "/nonexistent/event.json");
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.diff_base, None);
}

#[test]
fn bad_fail_on_names_the_input() {
    let mut env = push_env();
    set(&mut env, "INPUT_FAIL-ON", "critical");
    let err = plan(&env).unwrap_err();
    assert!(matches!(
        &err,
        ActionError::InvalidInput {
            input: "fail-on",
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("`fail-on`") && msg.contains("critical"),
        "{msg}"
    );
    assert!(msg.contains("note, warning or error"), "{msg}");
}

#[test]
fn bad_booleans_name_the_input() {
    let mut env = push_env();
    set(&mut env, "INPUT_OFFLINE", "yes please");
    let msg = plan(&env).unwrap_err().to_string();
    assert!(msg.contains("`offline`"), "{msg}");

    let mut env = push_env();
    set(&mut env, "INPUT_UPLOAD-SARIF", "maybe");
    let msg = plan(&env).unwrap_err().to_string();
    assert!(
        msg.contains("`upload-sarif`") && msg.contains("auto, true or false"),
        "{msg}"
    );
}

#[test]
fn offline_and_category() {
    let mut env = push_env();
    set(&mut env, "INPUT_OFFLINE", "TRUE");
    set(&mut env, "INPUT_CATEGORY", "hubwarden-services");
    let p = plan(&env).unwrap();
    assert!(p.scan.offline);
    assert_eq!(p.scan.category, "hubwarden-services");
}

#[test]
fn extra_args_are_split_and_override_inputs() {
    let mut env = push_env();
    set(&mut env, "INPUT_FAIL-ON", "error");
    set(
        &mut env,
        "INPUT_EXTRA-ARGS",
        "--exclude 'tests/**'\n--exclude \"docs dir/**\" --fail-on warning --format text -v",
    );
    // -v is not a scan flag: rejected with clap's message.
    let err = plan(&env).unwrap_err().to_string();
    assert!(err.contains("extra-args") && err.contains("-v"), "{err}");

    set(
        &mut env,
        "INPUT_EXTRA-ARGS",
        "--exclude 'tests/**'\n--exclude \"docs dir/**\" --fail-on warning --format text",
    );
    let p = plan(&env).unwrap();
    assert_eq!(p.scan.exclude, vec!["tests/**", "docs dir/**"]);
    assert_eq!(p.scan.fail_on, Some(Level::Warning));
    assert_eq!(p.scan.format, ScanFormat::Text);
}

#[test]
fn extra_args_can_move_the_sarif_file() {
    let mut env = push_env();
    set(&mut env, "INPUT_EXTRA-ARGS", "--sarif reports/hw.sarif");
    let p = plan(&env).unwrap();
    assert_eq!(p.sarif_file, ws("reports/hw.sarif"));
    assert_eq!(p.sarif_output, "reports/hw.sarif");
}

#[test]
fn extra_args_errors() {
    let mut env = push_env();
    set(&mut env, "INPUT_EXTRA-ARGS", "--exclude 'tests/**");
    let err = plan(&env).unwrap_err().to_string();
    assert!(
        err.contains("extra-args") && err.contains("unterminated"),
        "{err}"
    );

    set(&mut env, "INPUT_EXTRA-ARGS", "--upload");
    let err = plan(&env).unwrap_err().to_string();
    assert!(err.contains("upload-sarif"), "{err}");

    set(&mut env, "INPUT_EXTRA-ARGS", "other/dir");
    let err = plan(&env).unwrap_err().to_string();
    assert!(
        err.contains("extra-args") && err.contains("other/dir"),
        "{err}"
    );
}

#[test]
fn split_args_like_a_shell() {
    let ok = |s: &str| split_args(s).unwrap();
    assert_eq!(ok(""), Vec::<String>::new());
    assert_eq!(ok("  a   b\n\tc "), vec!["a", "b", "c"]);
    assert_eq!(ok("'a b' \"c d\""), vec!["a b", "c d"]);
    assert_eq!(ok("--x='a b'c"), vec!["--x=a bc"]);
    assert_eq!(ok(r#""a \"q\" \\ \$HOME \n""#), vec![r#"a "q" \ $HOME \n"#]);
    assert_eq!(ok(r"'$HOME \n'"), vec![r"$HOME \n"]);
    assert_eq!(ok(r"a\ b c\\d"), vec!["a b", r"c\d"]);
    assert_eq!(ok("''"), vec![""]);
    assert_eq!(ok("a \\\nb"), vec!["a", "b"]);
    assert!(split_args("'open").is_err());
    assert!(split_args("\"open").is_err());
    assert!(split_args("trailing\\").is_err());
}

#[test]
fn upload_auto_skips_without_a_token() {
    let mut env = push_env();
    set(&mut env, "INPUT_TOKEN", "");
    let p = plan(&env).unwrap();
    assert_eq!(p.upload, UploadMode::Never);
    assert_eq!(p.notices.len(), 1);
    assert!(p.notices[0].contains("`token`"), "{:?}", p.notices);
}

#[test]
fn upload_true_without_a_token_is_an_error() {
    let mut env = push_env();
    set(&mut env, "INPUT_TOKEN", "");
    set(&mut env, "INPUT_UPLOAD-SARIF", "true");
    let err = plan(&env).unwrap_err().to_string();
    assert!(
        err.contains("upload-sarif") && err.contains("`token`"),
        "{err}"
    );
}

#[test]
fn upload_true_without_a_repository_is_an_error() {
    let mut env = push_env();
    env.remove("GITHUB_REPOSITORY");
    set(&mut env, "INPUT_UPLOAD-SARIF", "true");
    let err = plan(&env).unwrap_err().to_string();
    assert!(err.contains("GITHUB_REPOSITORY"), "{err}");
}

#[test]
fn upload_auto_skips_on_fork_pull_requests() {
    let p = plan(&pr_env("action/pull_request_fork.json")).unwrap();
    assert!(p.event.from_fork);
    assert_eq!(p.upload, UploadMode::Never);
    assert!(
        p.notices.iter().any(|n| n.contains("fork")),
        "{:?}",
        p.notices
    );
    assert_eq!(p.scan.diff_base.as_deref(), Some(BASE_SHA));
    assert_eq!(p.scan.github.git_ref.as_deref(), Some("refs/pull/12/merge"));
}

#[test]
fn upload_true_is_attempted_on_forks() {
    let mut env = pr_env("action/pull_request_fork.json");
    set(&mut env, "INPUT_UPLOAD-SARIF", "true");
    let p = plan(&env).unwrap();
    assert_eq!(p.upload, UploadMode::Always);
    assert!(p.notices.is_empty());
}

#[test]
fn upload_auto_skips_for_dependabot() {
    let mut env = push_env();
    set(&mut env, "GITHUB_ACTOR", "dependabot[bot]");
    let p = plan(&env).unwrap();
    assert_eq!(p.upload, UploadMode::Never);
    assert!(p.notices.iter().any(|n| n.contains("Dependabot")));
}

#[test]
fn upload_false_is_silent() {
    let mut env = pr_env("action/pull_request_fork.json");
    set(&mut env, "INPUT_UPLOAD-SARIF", "False");
    let p = plan(&env).unwrap();
    assert_eq!(p.upload, UploadMode::Never);
    assert!(p.notices.is_empty());
}

#[test]
fn tokens_stay_out_of_debug_output() {
    let mut env = push_env();
    set(&mut env, "INPUT_HF-TOKEN", "hf_supersecret");
    let p = plan(&env).unwrap();
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("hf_supersecret") && !dbg.contains("ghs_workflowtoken"));
}

#[test]
fn tokens_reach_the_hub_options_and_git_trusts_the_workspace() {
    let mut env = pr_env("action/pull_request.json");
    set(&mut env, "INPUT_HF-TOKEN", "hf_abc");
    let p = plan(&env).unwrap();
    // The inputs win over the runner's variables; nothing goes through the
    // process environment.
    let runner = |k: &str| match k {
        "HF_TOKEN" => Some("from-env".to_string()),
        "MODELSCOPE_API_TOKEN" => Some("ms-env".to_string()),
        _ => None,
    };
    let hub = p.hub_options(&runner);
    assert_eq!(hub.tokens.get(HubKind::Huggingface), Some("hf_abc"));
    assert_eq!(hub.tokens.get(HubKind::Github), Some("ghs_workflowtoken"));
    assert_eq!(hub.tokens.get(HubKind::Modelscope), Some("ms-env"));
    assert_eq!(hub.tokens.get(HubKind::Opencsg), None);

    let current = |k: &str| (k == "GIT_CONFIG_COUNT").then(|| "2".to_string());
    let vars = p.git_env(&current);
    let get = |k: &str| {
        vars.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    assert!(vars.iter().all(|(k, _)| k.starts_with("GIT_CONFIG")));
    // Appended after the two entries already configured.
    assert_eq!(get("GIT_CONFIG_KEY_2"), Some("safe.directory"));
    assert_eq!(get("GIT_CONFIG_VALUE_2"), Some(WS));
    assert_eq!(get("GIT_CONFIG_COUNT"), Some("3"));

    // Without diff-base, git is not involved.
    let vars = plan(&push_env()).unwrap().git_env(&|_| None);
    assert!(vars.iter().all(|(k, _)| !k.starts_with("GIT_CONFIG")));
}

#[test]
fn outputs_file_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("github_output");
    std::fs::write(&out, "earlier=1\n").unwrap();
    write_outputs(&out, "hubwarden-results.sarif", 3, 1, 2).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "earlier=1\n\
         sarif-file=hubwarden-results.sarif\n\
         findings=3\n\
         errors=1\n\
         unverified=2\n"
    );
}

#[test]
fn multiline_output_values_cannot_inject_outputs() {
    assert_eq!(format_output("a", "b"), "a=b\n");
    assert_eq!(
        format_output("a", "x\nerrors=0"),
        "a<<HUBWARDEN_EOF\nx\nerrors=0\nHUBWARDEN_EOF\n"
    );
    // A value that contains the delimiter gets a longer one.
    assert_eq!(
        format_output("a", "x\nHUBWARDEN_EOF\nerrors=0"),
        "a<<HUBWARDEN_EOF_\nx\nHUBWARDEN_EOF\nerrors=0\nHUBWARDEN_EOF_\n"
    );
}

#[test]
fn binary_exits_2_on_a_bad_input() {
    let out = Command::new(bin())
        .arg("action")
        .env_clear()
        .env("GITHUB_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
        .env("GITHUB_EVENT_NAME", "push")
        .env("INPUT_FAIL-ON", "critical")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`fail-on`") && stderr.contains("critical"),
        "{stderr}"
    );
}

// ---- The shipped files: action.yml, Dockerfile, workflows and the guide agree.

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn action_yml() -> serde_yaml::Value {
    serde_yaml::from_str(&repo_file("action.yml")).unwrap()
}

fn keys(v: &serde_yaml::Value) -> Vec<String> {
    v.as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn action_yml_declares_exactly_the_inputs_the_binary_reads() {
    let action = action_yml();
    assert_eq!(keys(&action["inputs"]), hubwarden::action::INPUTS);
    for name in hubwarden::action::INPUTS {
        let input = &action["inputs"][*name];
        let description = input["description"].as_str().unwrap();
        assert!(
            description.contains("Default:"),
            "input {name}: the description must state the default"
        );
        assert_ne!(input["required"].as_bool(), Some(true), "input {name}");
    }
    assert_eq!(
        action["inputs"]["token"]["default"].as_str(),
        Some("${{ github.token }}")
    );
    // Empty, so that the config file's fail-on applies unless the user sets one.
    assert_eq!(action["inputs"]["fail-on"]["default"].as_str(), Some(""));
    assert_eq!(
        keys(&action["outputs"]),
        [
            "sarif-file",
            "findings",
            "errors",
            "unverified",
            "cyclonedx-file"
        ]
    );
    assert_eq!(
        action["inputs"]["cache-dir"]["default"].as_str(),
        Some(hubwarden::action::DEFAULT_CACHE_DIR)
    );
}

#[test]
fn action_yml_runs_the_container_with_the_action_subcommand() {
    let action = action_yml();
    let runs = &action["runs"];
    assert_eq!(runs["using"].as_str(), Some("docker"));
    // The release workflow rewrites exactly this line to the digest-pinned image.
    assert!(repo_file("action.yml").contains("\n  image: Dockerfile\n"));
    assert_eq!(
        runs["args"],
        serde_yaml::from_str::<serde_yaml::Value>("[action]").unwrap()
    );
    assert!(runs.get("entrypoint").is_none());
}

#[test]
fn dockerfile_follows_the_container_action_rules() {
    let dockerfile = repo_file("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for l in &instructions {
        let word = l.split_whitespace().next().unwrap().to_ascii_uppercase();
        assert!(
            word != "USER" && word != "WORKDIR",
            "container actions must run as root in the runner's workdir: {l}"
        );
    }
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        last_stage.contains("\nENTRYPOINT [\"/usr/local/bin/hubwarden\"]\n"),
        "exec-form ENTRYPOINT with an absolute path in the runtime stage"
    );
    assert!(last_stage.contains("\nCMD [\"action\"]\n"));
    assert!(last_stage.contains("COPY --from=build /hubwarden /usr/local/bin/hubwarden"));
    assert!(dockerfile.contains("cargo build --release --locked"));
    let ignore = repo_file(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
}

/// The `uses:` of every step in a workflow, each with the comment on its line.
fn uses_lines(text: &str) -> Vec<(String, String)> {
    let workflow: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    let mut found = Vec::new();
    for job in workflow["jobs"].as_mapping().unwrap().values() {
        for step in job["steps"].as_sequence().into_iter().flatten() {
            let Some(reference) = step["uses"].as_str() else {
                continue;
            };
            let line = text
                .lines()
                .find(|l| l.contains(&format!("uses: {reference}")))
                .unwrap();
            let comment = line.split_once('#').map_or("", |(_, c)| c.trim());
            found.push((reference.to_string(), comment.to_string()));
        }
    }
    found
}

#[test]
fn workflows_pin_every_action_by_commit() {
    let dirs = [".github/workflows", "examples/workflows"];
    let mut seen = 0;
    for dir in dirs {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(&full).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for (reference, comment) in uses_lines(&text) {
                seen += 1;
                if reference == "$/" || reference == "hubwarden/hubwarden@v1" {
                    continue;
                }
                let (_, rev) = reference.split_once('@').unwrap_or((&reference, ""));
                let is_sha = rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
                assert!(
                    is_sha && comment.starts_with('v'),
                    "{}: `{reference}` must be pinned by commit with a `# vX.Y.Z` comment",
                    path.display()
                );
            }
        }
    }
    assert!(seen >= 5, "found only {seen} uses: lines");
}

#[test]
fn the_guide_shows_the_example_workflow_verbatim() {
    let guide = repo_file("README.md");
    let example = repo_file("examples/workflows/hubwarden.yml");
    let start = guide.find("<!-- example-workflow:start").unwrap();
    let block = &guide[start..];
    let body = block.split_once("```yaml\n").unwrap().1;
    let body = body.split_once("```\n").unwrap().0;
    assert_eq!(body, example);
}

#[test]
fn the_guide_documents_every_input_and_output() {
    let guide = repo_file("README.md");
    let action = action_yml();
    for name in keys(&action["inputs"])
        .iter()
        .chain(&keys(&action["outputs"]))
    {
        assert!(
            guide.contains(&format!("\n| `{name}` |")),
            "README.md has no table row for `{name}`"
        );
    }
}
