//! `hubwarden scan`: the pipeline in-process, discover -> resolve -> fetch -> scan
//! -> policy -> report (also run by the Action).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::Outcome;
use crate::cli::{ScanArgs, ScanFormat};
use crate::config::Config;
use crate::deps;
use crate::discover::{self, DiscoverOptions};
use crate::hub::{HubOptions, Hubs, RepoSource};
use crate::model::{
    CallReport, Evidence, FetchOutcome, Finding, HubKind, Level, LoadFetch, RemoteFile, Report,
    RuleMeta,
};
use crate::policy;
use crate::report::{self, RenderOptions};
use crate::resolve::{self, ResolveOptions};
use crate::scan::{FileFacts, Hit, Load, Part, RuleSet, Scanner};

/// Where the run happens, beyond the flags.
#[derive(Debug, Clone, Default)]
pub struct ScanEnv {
    /// Folder that SARIF and annotation paths are relative to (the checkout
    /// root). None: ask git for the scanned folder's prefix, else PATH itself.
    pub uri_root: Option<PathBuf>,
    /// Hub endpoints and tokens; None: read from the process environment.
    pub hub_options: Option<HubOptions>,
    /// Extra variables for the git commands the scan runs (`--diff-base`, the
    /// path prefix), e.g. `GIT_CONFIG_*` from the action.
    pub git_env: Vec<(String, String)>,
}

/// The capability rule of downloads in fetched code (`rules/capability/`).
const FETCH_RULE: &str = "unverified-fetched-code";
/// `np.load(.., allow_pickle=True)`: a warning until the file it loads is read and judged.
const NUMPY_PICKLE_RULE: &str = "numpy-allow-pickle";
/// A source-to-sink flow (`hf_hub_download` -> `np.load(.., allow_pickle=True)`).
const TAINT_RULE: &str = "taint-flow";

/// Everything a scan produced, ready to render.
#[derive(Debug)]
pub struct ScanResult {
    pub report: Report,
    pub outcome: Outcome,
    /// Every rule that can appear in the report (scanner rules + policy rules).
    pub rules: Vec<RuleMeta>,
    pub render: RenderOptions,
    /// Calls left out by `--diff-base` as unchanged.
    pub unchanged: usize,
}

/// Run a whole scan and return the report (rendering is `emit`'s).
pub fn run_scan(args: &ScanArgs, env: &ScanEnv) -> Result<ScanResult> {
    let root = &args.path;
    if !root.exists() {
        anyhow::bail!("path does not exist: {}", root.display());
    }
    // Dropped when this returns: the bar is gone before the report is written.
    let _progress = crate::progress::start();
    let mut config = Config::load(root, args.config.as_deref())?;
    config.fail_on = args.fail_on.or(config.fail_on);
    let offline = args.offline || config.offline.unwrap_or(false);
    let discover_opts = discover_options(args, &config);

    // Rules compile before any network work: a broken rule file fails the run fast.
    let ruleset = RuleSet::load(&args.rules).map_err(|e| anyhow::anyhow!("rules: {e}"))?;
    let scanner = Scanner::new(&ruleset).map_err(|e| anyhow::anyhow!("rules: {e}"))?;
    let mut rules = ruleset.metas();
    rules.extend(policy::rule_metas());

    let found = discover::discover(root, &discover_opts)?;
    for e in &found.errors {
        tracing::warn!("{}: {}", e.path, e.message);
    }
    let mut calls: Vec<CallReport> = found
        .calls
        .into_iter()
        .map(|site| CallReport { site, target: None })
        .collect();

    // --diff-base narrows the calls before anything is fetched; calls whose
    // commit is recorded in the base tree's lock file stay until resolved.
    let mut unchanged = 0;
    let base = match &args.diff_base {
        Some(base) => {
            let base_calls =
                policy::diff_base::base_calls_with_env(root, base, &env.git_env, &|dir: &Path| {
                    Ok(discover::discover(dir, &discover_opts)?.calls)
                })
                .with_context(|| format!("--diff-base {base}"))?;
            let pre = policy::diff_base::select(root, &calls, &base_calls);
            unchanged += pre.unchanged;
            calls = pre.kept;
            Some(base_calls)
        }
        None => None,
    };

    let hub_opts = env
        .hub_options
        .clone()
        .unwrap_or_else(HubOptions::from_env)
        .with_cli(offline, args.mirror.clone(), args.cache_dir.clone());
    let mut hub_opts = hub_opts;
    hub_opts.http.max_wait = args.max_wait;
    let sites: Vec<_> = calls.iter().map(|c| c.site.clone()).collect();
    for hint in hub_opts.token_hints(
        sites
            .iter()
            .filter_map(|s| Some((s.platform.hub(s.family), s.repo_id.as_deref()?))),
    ) {
        tracing::warn!("{hint}");
    }
    // Declared library versions above each call decide the version-dependent paths.
    let declared = Arc::new(deps::Declared::load(
        root,
        sites.iter().map(|s| s.path.as_str()),
        &args.assume,
    ));
    for e in declared.errors() {
        tracing::warn!("{}: {}", e.path, e.message);
    }
    // PaddleHub drops search items the installed paddle/paddlehub cannot run.
    hub_opts.paddle_env = Some(deps::paddle_env(
        declared.clone(),
        sites
            .iter()
            .filter(|s| s.family == crate::model::Family::PaddleModule)
            .map(|s| s.path.as_str()),
    ));
    let hubs = Hubs::new(hub_opts).context("setting up the hub clients")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let resolve_opts = ResolveOptions {
        declared: declared.clone(),
        ..ResolveOptions::default()
    };
    let mut targets = runtime.block_on(resolve::resolve_all(&hubs, &sites, &resolve_opts));
    // The hub's own scan results, next to ours (never lowering a verdict).
    runtime.block_on(crate::hub::hub_scan::annotate(&hubs, &mut targets));
    for (call, target) in calls.iter_mut().zip(targets) {
        call.target = Some(target);
    }
    let mut stats = hubs.stats();
    found.stats.fill(&mut stats);
    drop(runtime);
    if args.write_lock {
        let dir = if root.is_dir() {
            root.as_path()
        } else {
            root.parent().unwrap_or(Path::new("."))
        };
        policy::lock::Lockfile::from_calls(&calls, root)
            .write(dir)
            .with_context(|| format!("writing {}", dir.join(policy::lock::LOCK_FILE).display()))?;
    }
    if let Some(base) = &base {
        let post = policy::diff_base::select(root, &calls, base);
        unchanged += post.unchanged;
        calls = post.kept;
    }

    let mut findings = scan_targets(&scanner, &calls);
    let sources = policy::fs_sources(root);
    findings.extend(policy::policy_findings(&calls, &sources));
    let applied = policy::apply(&config, &calls, findings, &sources);
    let applied = policy::merge::merge_outcome(applied, &calls);

    let render = RenderOptions {
        category: args.category.clone(),
        color: RenderOptions::stdout_color(),
        root: Some(root.clone()),
        path_prefix: path_prefix(root, env.uri_root.as_deref(), &env.git_env),
        ..RenderOptions::default()
    };
    let mut errors = found.errors;
    errors.extend(declared.errors().iter().cloned());
    let mut report = Report {
        version: 1,
        calls,
        errors,
        stats: Some(stats),
        findings: Some(applied.findings),
        summary: Some(applied.summary),
    };
    apply_baseline(args, &mut report, &render)?;
    let truncated = report::sarif::truncated_count(&report, &rules, &render);
    if let Some(s) = report.summary.as_mut() {
        s.truncated = truncated;
    }
    let outcome = report
        .summary
        .as_ref()
        .map(policy::outcome)
        .unwrap_or(Outcome::Clean);
    Ok(ScanResult {
        report,
        outcome,
        rules,
        render,
        unchanged,
    })
}

/// What discovery skips: the config's and the command line's `exclude`, and a
/// cache folder inside the scanned tree (the Action's default), which holds
/// fetched remote code, not the codebase's own.
pub fn discover_options(args: &ScanArgs, config: &Config) -> DiscoverOptions {
    let root = &args.path;
    let mut exclude = config.exclude.clone();
    exclude.extend(args.exclude.iter().cloned());
    if let Some(rel) = args
        .cache_dir
        .as_deref()
        .and_then(|c| {
            relative_uri(
                &std::path::absolute(c).ok()?,
                &std::path::absolute(root).ok()?,
            )
        })
        .filter(|r| !r.is_empty())
    {
        exclude.push(format!("{rel}/**"));
    }
    DiscoverOptions {
        exclude,
        parsing: discover::Parsing::from_env(),
    }
}

/// `--write-baseline` (every finding) then `--baseline` (keep the new ones and
/// count the totals again). An unreadable baseline is a warning and changes nothing.
fn apply_baseline(args: &ScanArgs, report: &mut Report, render: &RenderOptions) -> Result<()> {
    if let Some(path) = &args.write_baseline {
        let baseline = report::baseline::Baseline::of(report, render);
        baseline
            .write(path)
            .with_context(|| format!("writing the baseline {}", path.display()))?;
        tracing::info!(
            target: crate::STATUS,
            "wrote {} finding(s) to the baseline {}",
            baseline.findings.len(),
            path.display()
        );
    }
    let Some(path) = &args.baseline else {
        return Ok(());
    };
    let baseline = match report::baseline::Baseline::read(path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("{e}");
            return Ok(());
        }
    };
    let (kept, accepted) = baseline.filter(report, render);
    if let Some(s) = report.summary.as_ref() {
        let mut summary =
            policy::summarize(&report.calls, &kept, s.suppressed, s.allowed, s.fail_on);
        summary.baselined = accepted;
        report.summary = Some(summary);
    }
    report.findings = Some(kept);
    Ok(())
}

/// Scan every distinct remote file once, then every distinct target (its files and
/// how the library loads it) once, in parallel, and attach the hits to each call whose
/// target it is: where code runs depends on the whole closure and on the loader.
fn scan_targets(scanner: &Scanner, calls: &[CallReport]) -> Vec<Finding> {
    type Key = (HubKind, String, String, String);
    let key =
        |f: &RemoteFile| -> Key { (f.hub, f.repo_id.clone(), f.commit.clone(), f.path.clone()) };
    // The library imports an entry file itself; the others are imported by them.
    let entry = |f: &RemoteFile| {
        !(f.why.starts_with("relative import in") || f.why.starts_with("imported by"))
    };
    let mut unique: HashMap<Key, &RemoteFile> = HashMap::new();
    type Closure = (Load, Vec<(Key, bool)>);
    let mut closures: HashMap<Closure, Vec<&RemoteFile>> = HashMap::new();
    let mut closure_of: Vec<Option<Closure>> = Vec::with_capacity(calls.len());
    for call in calls {
        let files: Vec<&RemoteFile> = call.target.iter().flat_map(|t| &t.files).collect();
        if files.is_empty() {
            closure_of.push(None);
            continue;
        }
        for f in &files {
            unique.entry(key(f)).or_insert(f);
        }
        let ck: Closure = (
            Load::of(&call.site),
            files.iter().map(|f| (key(f), entry(f))).collect(),
        );
        closures.entry(ck.clone()).or_insert(files);
        closure_of.push(Some(ck));
    }
    crate::progress::begin(crate::progress::Stage::Scan, unique.len());
    let facts: HashMap<Key, FileFacts> = unique
        .into_par_iter()
        .map(|(k, f)| {
            let facts = scanner.analyze(f);
            crate::progress::advance(1);
            (k, facts)
        })
        .collect();
    let hits: HashMap<Closure, Vec<Vec<Hit>>> = closures
        .into_par_iter()
        .map(|(ck, files)| {
            let parts: Vec<Part> = files
                .iter()
                .zip(&ck.1)
                .filter_map(|(f, (k, is_entry))| {
                    Some(Part {
                        path: &f.path,
                        kind: f.kind,
                        src: &f.content,
                        facts: facts.get(k)?,
                        entry: *is_entry,
                    })
                })
                .collect();
            let v = scanner.verdicts(&parts, &ck.0);
            (ck, v)
        })
        .collect();
    let mut out = Vec::new();
    for (index, (call, ck)) in calls.iter().zip(&closure_of).enumerate() {
        let site = &call.site;
        let Some(per_file) = ck.as_ref().and_then(|ck| hits.get(ck)) else {
            continue;
        };
        let files = call.target.iter().flat_map(|t| &t.files);
        let fetches = call
            .target
            .as_ref()
            .map(|t| t.fetched_at_load.as_slice())
            .unwrap_or_default();
        for (f, file_hits) in files.zip(per_file) {
            for h in file_hits {
                let (level, message) = followed(fetches, f, h);
                out.push(Finding {
                    rule_id: h.rule_id.clone(),
                    level,
                    security_severity: h.security_severity,
                    cwe: h.cwe.clone(),
                    title: h.title.clone(),
                    message,
                    engine: h.engine,
                    path: site.path.clone(),
                    line: site.line,
                    column: site.column,
                    evidence: Some(Evidence {
                        hub: f.hub,
                        repo_id: f.repo_id.clone(),
                        commit: f.commit.clone(),
                        file: f.path.clone(),
                        line: h.line,
                        snippet: h.snippet.clone(),
                        context: h.context,
                    }),
                    fix: None,
                    merged: Vec::new(),
                    call: Some(index),
                });
            }
        }
    }
    out
}

/// A download in fetched code that the resolver followed is no longer code that could not
/// be verified: what it fetched is in the closure and scanned. Pinned, it is a note;
/// unpinned, a warning (a later load may fetch other bytes); not followed, it stays.
fn followed(fetches: &[LoadFetch], f: &RemoteFile, h: &Hit) -> (Level, String) {
    let same = |x: &&LoadFetch| {
        x.hub == f.hub
            && x.repo_id == f.repo_id
            && x.commit == f.commit
            && x.file == f.path
            && (x.line..=x.end_line).contains(&h.line)
    };
    // `np.load(p, allow_pickle=True)` whose file this call's follow record read (the
    // call's own unpickle record, or the download in its arguments), and a flow from that
    // download (named as its source) to the call that loads it: the pickle scanner judged
    // the bytes it loads; pinned, they are notes.
    let from_download = |x: &LoadFetch| {
        h.rule_id != TAINT_RULE
            || (!x.api.ends_with(".load") && h.message.contains(&format!("`{}`", x.api)))
    };
    if h.rule_id == NUMPY_PICKLE_RULE || h.rule_id == TAINT_RULE {
        return match fetches.iter().find(same) {
            Some(x) if x.outcome == FetchOutcome::Pinned && from_download(x) => (
                Level::Note,
                format!(
                    "{} (the file it loads was followed: {})",
                    h.message, x.detail
                ),
            ),
            _ => (h.level, h.message.clone()),
        };
    }
    let Some(x) = (h.rule_id == FETCH_RULE)
        .then(|| fetches.iter().find(same))
        .flatten()
    else {
        return (h.level, h.message.clone());
    };
    // The scan says a file it unpickles is not among the fetched files; this call's
    // follow record says it now is (the pickle scanner judges it).
    let body = h
        .message
        .strip_prefix(h.title.as_str())
        .unwrap_or(&h.message)
        .replace(
            ", and this file is not among the files hubwarden fetched and scanned",
            "",
        );
    match x.outcome {
        FetchOutcome::Pinned => (
            Level::Note,
            format!("Code fetched at load, followed{body} ({})", x.detail),
        ),
        FetchOutcome::Unpinned => (
            h.level.min(Level::Warning),
            format!("Code fetched at load, followed{body} ({})", x.detail),
        ),
        FetchOutcome::Failed => (h.level, format!("{} ({})", h.message, x.detail)),
    }
}

/// The scanned folder as seen from the repository root (`sub/dir/`), so SARIF
/// URIs and annotations point at real files of the checkout.
fn path_prefix(root: &Path, uri_root: Option<&Path>, git_env: &[(String, String)]) -> String {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if let Some(base) = uri_root {
        return relative_uri(&abs(root), &abs(base))
            .filter(|s| !s.is_empty())
            .map(|s| format!("{s}/"))
            .unwrap_or_default();
    }
    let dir = if root.is_dir() {
        root.to_path_buf()
    } else {
        root.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    std::process::Command::new("git")
        .args(["-c", "safe.directory=*", "rev-parse", "--show-prefix"])
        .envs(git_env.iter().map(|(k, v)| (k, v)))
        .current_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &dir
        })
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `path` relative to `base` with `/` separators, when it is inside it.
pub fn relative_uri(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// Write what the flags ask for: stdout in `--format`, `--sarif FILE`,
/// `--json FILE`, and the job summary when `$GITHUB_STEP_SUMMARY` is set and the
/// format is `github`. Returns the SARIF text when one was rendered, so that an
/// upload sends the same bytes without building it again.
pub fn emit(
    args: &ScanArgs,
    result: &ScanResult,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>> {
    let ScanResult {
        report,
        rules,
        render,
        ..
    } = result;
    let sarif = (args.format == ScanFormat::Sarif || args.sarif.is_some())
        .then(|| report::sarif::render(report, rules, render));
    let mut out = match (&sarif, args.format) {
        (Some(text), ScanFormat::Sarif) => text.clone(),
        (_, ScanFormat::Cyclonedx) => report::cyclonedx::render(
            report,
            &render.bom_options(args.sarif.as_ref().map(|p| p.display().to_string())),
        ),
        _ => report::render(args.format, report, rules, render),
    };
    if result.unchanged > 0 && args.format == ScanFormat::Text {
        out.push_str(&format!(
            "{} unchanged call(s) left out by --diff-base\n",
            result.unchanged
        ));
    }
    print!("{out}");
    if let (Some(path), Some(text)) = (&args.sarif, &sarif) {
        write_file(path, text)?;
    }
    if let Some(path) = &args.json {
        write_file(path, &report::render_json(report))?;
    }
    if let Some(path) = &args.cyclonedx {
        let sarif = args.sarif.as_deref().map(|s| sibling_ref(path, s));
        write_file(
            path,
            &report::cyclonedx::render(report, &render.bom_options(sarif)),
        )?;
    }
    if args.format == ScanFormat::Github {
        let md = report::summary_markdown(report, rules);
        report::github::append_step_summary(&md, env).context("writing the job summary")?;
    }
    Ok(sarif)
}

/// How a file written next to `from` refers to `to`: relative to `from`'s folder
/// when `to` is inside it (the two travel together, e.g. as one artifact), else
/// `to` as given.
fn sibling_ref(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .ok()
            .map(|a| a.components().collect::<PathBuf>())
    };
    let dir = from.parent().and_then(abs);
    match (dir, abs(to)) {
        (Some(dir), Some(to_abs)) => to_abs
            .strip_prefix(&dir)
            .ok()
            .and_then(|rel| relative_uri(&dir.join(rel), &dir))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| to.display().to_string()),
        _ => to.display().to_string(),
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The `scan` command: run, write the outputs, upload when asked.
pub fn scan_command(args: &ScanArgs) -> Result<Outcome> {
    let env = |k: &str| std::env::var(k).ok();
    let result = run_scan(args, &ScanEnv::default())?;
    let rendered = emit(args, &result, &env)?;
    if args.upload {
        let sarif = rendered.unwrap_or_else(|| {
            report::sarif::render(&result.report, &result.rules, &result.render)
        });
        match report::upload::upload_sarif_text(
            &sarif,
            &args.github,
            &env,
            &report::upload::UploadOptions::default(),
        ) {
            // upload_sarif_text reports the upload itself.
            Ok(_) => {}
            // The findings still decide the exit code; the upload problem is reported.
            Err(e) => tracing::error!("upload failed: {e:#}"),
        }
    }
    Ok(result.outcome)
}
