//! Report: text, JSON, SARIF, GitHub annotations and job summary, upload.

pub mod baseline;
pub mod cyclonedx;
pub mod fingerprint;
pub mod github;
pub mod inventory;
pub mod rule_ids;
pub mod sarif;
pub mod targets;
pub mod text;
pub mod upload;

use std::path::PathBuf;

use crate::model::{CallReport, Finding, HubKind, RepoType, Report, RuleMeta};

/// Output formats of `inventory` and `rules`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InventoryFormat {
    #[default]
    Text,
    Json,
}

/// Output formats of `scan`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScanFormat {
    #[default]
    Text,
    Json,
    Sarif,
    Github,
    /// A CycloneDX 1.6 ML-BOM of the remote code the codebase runs.
    Cyclonedx,
}

pub use github::summary_markdown;

/// Options shared by the renderers.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// SARIF category (`runs[].automationDetails.id`; a trailing `/` is added).
    pub category: String,
    /// ANSI colour in the text output (only on a terminal).
    pub color: bool,
    /// The scanned root: call-site files are read from here for fingerprints.
    pub root: Option<PathBuf>,
    /// Prepended to call paths in SARIF and annotations when the scanned root is
    /// a sub-folder of the repository (e.g. `services/api/`), else empty.
    pub path_prefix: String,
    /// Results a SARIF run may hold (GitHub: 25,000).
    pub max_results: usize,
    /// Gzipped SARIF size cap in bytes (GitHub: 10 MB).
    pub max_gzip_bytes: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            category: "hubwarden".to_string(),
            color: false,
            root: None,
            path_prefix: String::new(),
            max_results: sarif::MAX_RESULTS,
            max_gzip_bytes: sarif::MAX_GZIP_BYTES,
        }
    }
}

impl RenderOptions {
    /// Whether text on stdout should be coloured: a terminal, and `NO_COLOR` unset.
    pub fn stdout_color() -> bool {
        use std::io::IsTerminal;
        std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    }

    /// `path` as seen from the repository root.
    pub fn repo_path(&self, path: &str) -> String {
        if self.path_prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{}", self.path_prefix.trim_end_matches('/'), path)
        }
    }

    /// What the CycloneDX writer needs: the scanned folder's name as the BOM's
    /// subject, and the SARIF file written alongside, if any.
    pub fn bom_options(&self, sarif: Option<String>) -> cyclonedx::BomOptions {
        let subject = self
            .root
            .as_deref()
            .and_then(|r| r.canonicalize().ok().or_else(|| Some(r.to_path_buf())))
            .and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        cyclonedx::BomOptions {
            subject,
            sarif,
            ..Default::default()
        }
    }

    /// Read a call-site file relative to the scanned root.
    pub fn read_source(&self, path: &str) -> Option<String> {
        let root = self.root.as_deref()?;
        crate::policy::fs_sources(root)(path)
    }
}

/// Render the report in `format`.
pub fn render(
    format: ScanFormat,
    report: &Report,
    rules: &[RuleMeta],
    opts: &RenderOptions,
) -> String {
    match format {
        ScanFormat::Text => text::render(report, rules, opts),
        ScanFormat::Json => render_json(report),
        ScanFormat::Sarif => sarif::render(report, rules, opts),
        ScanFormat::Github => github::workflow_commands(report, opts),
        ScanFormat::Cyclonedx => cyclonedx::render(report, &opts.bom_options(None)),
    }
}

/// The JSON contract: `model::Report` as pretty JSON with a trailing newline.
pub fn render_json(report: &Report) -> String {
    // Serializing plain data with string keys cannot fail.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// The findings of a report (empty when it has none).
pub(crate) fn findings(report: &Report) -> &[Finding] {
    report.findings.as_deref().unwrap_or(&[])
}

/// Index of calls, to attach findings to their call.
pub(crate) fn calls_by_site(report: &Report) -> crate::policy::SiteIndex<'_> {
    crate::policy::SiteIndex::new(&report.calls)
}

/// Most severe first: level, then security-severity, then position.
pub(crate) fn severity_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.level
        .cmp(&a.level)
        .then(
            b.security_severity
                .partial_cmp(&a.security_severity)
                .unwrap_or(std::cmp::Ordering::Equal),
        )
        .then_with(|| {
            (a.path.as_str(), a.line, a.column, a.rule_id.as_str()).cmp(&(
                b.path.as_str(),
                b.line,
                b.column,
                b.rule_id.as_str(),
            ))
        })
}

/// A browser link to a remote file at a commit (and line, where the hub supports
/// line anchors), or None for hubs without a file viewer (PaddleHub).
pub fn remote_link(
    hub: HubKind,
    repo_type: RepoType,
    repo: &str,
    commit: &str,
    file: &str,
    line: Option<u32>,
) -> Option<String> {
    let enc = |s: &str| {
        s.split('/')
            .map(|p| percent_encoding::utf8_percent_encode(p, PATH_SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/")
    };
    crate::hub::get(hub).web_url(repo_type, &enc(repo), &enc(commit), &enc(file), line)
}

const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']');

/// The repo type of the evidence's repository, from the call's target.
pub(crate) fn repo_type_of(call: Option<&CallReport>) -> RepoType {
    call.and_then(|c| c.target.as_ref())
        .map(|t| t.repo_type)
        .unwrap_or(RepoType::Model)
}

/// The JSON spelling of an execution context (`import-time`, ...).
pub(crate) fn context_str(c: crate::model::ExecContext) -> &'static str {
    use crate::model::ExecContext;
    match c {
        ExecContext::ImportTime => "import-time",
        ExecContext::LoadTime => "load-time",
        ExecContext::CallTime => "call-time",
        ExecContext::Unreached => "unreached",
        ExecContext::Unpickle => "unpickle",
        ExecContext::File => "file",
    }
}

/// `hub:repo@commit/file:line`, the plain-text form of a remote location.
pub(crate) fn remote_ref(e: &crate::model::Evidence) -> String {
    format!("{}:{}@{}/{}:{}", e.hub, e.repo_id, e.commit, e.file, e.line)
}
