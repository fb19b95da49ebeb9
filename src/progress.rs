//! Progress on stderr while a run discovers, resolves and fetches, and scans:
//! an indicatif bar on a terminal, a plain status line every few seconds
//! elsewhere (CI logs), and nothing for a quick run.
//!
//! The stages feed process-wide counters where the work happens (discovery
//! counts files, `resolve_all` targets, the hub HTTP client requests and bytes
//! as they arrive), so no stage signature carries a handle. Only a command run
//! from `main_entry` ([`configure`]) draws them; a library caller or an
//! in-process test never sees output. stdout is never written: JSON and SARIF
//! go there.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// When progress is shown (`--progress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Never.
    Never,
    /// A bar on a terminal, a status line every 5 s elsewhere; nothing for a
    /// run shorter than that (the bar waits 2 s).
    #[default]
    Auto,
    /// From the start, however short the run, with a last line at the end
    /// when stderr is not a terminal.
    Always,
}

/// What the run is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    #[default]
    Start = 0,
    /// Finding the loads in the codebase (files).
    Discover = 1,
    /// Resolving each target to a commit and fetching its files (targets;
    /// requests and bytes grow here): the two interleave per target.
    Resolve = 2,
    /// Asking Hugging Face for its own scan results (`hub_scan`), per repo.
    HubScan = 3,
    /// Scanning the fetched remote files.
    Scan = 4,
}

impl Stage {
    fn from_u8(v: u8) -> Stage {
        match v {
            1 => Stage::Discover,
            2 => Stage::Resolve,
            3 => Stage::HubScan,
            4 => Stage::Scan,
            _ => Stage::Start,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Stage::Start => "loading rules",
            Stage::Discover => "discovering",
            Stage::Resolve => "resolving",
            Stage::HubScan => "reading the Hub's scans of",
            Stage::Scan => "scanning",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Stage::Start => "",
            Stage::Discover => "files",
            Stage::Resolve => "targets",
            Stage::HubScan => "repos",
            Stage::Scan => "remote files",
        }
    }
}

/// The counters the stages feed (one process-wide instance, [`COUNTERS`]).
#[derive(Debug)]
pub struct Counters {
    stage: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
    files: AtomicU64,
    targets: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// A consistent-enough reading of [`Counters`] for one line or one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub stage: Stage,
    /// Items of the current stage done, and their total.
    pub done: u64,
    pub total: u64,
    /// Files discovery looked at, targets resolution started (for the last line).
    pub files: u64,
    pub targets: u64,
    pub requests: u64,
    pub bytes: u64,
}

impl Counters {
    pub const fn new() -> Counters {
        Counters {
            stage: AtomicU8::new(0),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            files: AtomicU64::new(0),
            targets: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    pub fn begin(&self, stage: Stage, total: usize) {
        let total = total as u64;
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        match stage {
            Stage::Discover => self.files.store(total, Ordering::Relaxed),
            Stage::Resolve => self.targets.store(total, Ordering::Relaxed),
            Stage::Start | Stage::HubScan | Stage::Scan => {}
        }
        self.stage.store(stage as u8, Ordering::Relaxed);
    }

    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn received(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn reset(&self) {
        for c in [
            &self.done,
            &self.total,
            &self.files,
            &self.targets,
            &self.requests,
            &self.bytes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.stage.store(Stage::Start as u8, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            stage: Stage::from_u8(self.stage.load(Ordering::Relaxed)),
            done: self.done.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            targets: self.targets.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

/// The run's counters.
pub static COUNTERS: Counters = Counters::new();

/// A stage starts with `total` items (resets the done count).
pub fn begin(stage: Stage, total: usize) {
    COUNTERS.begin(stage, total);
}

/// `n` items of the current stage are done.
pub fn advance(n: u64) {
    COUNTERS.advance(n);
}

/// One HTTP request was sent (each attempt and redirect hop).
pub fn request() {
    COUNTERS.request();
}

/// `n` body bytes arrived (counted per chunk, so a long download moves the figure).
pub fn received(n: usize) {
    COUNTERS.received(n);
}

/// `45.2 MB` (decimal units, as download sizes are usually quoted).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// `resolving 12/40 targets, 183 requests, 45.2 MB` (no `hubwarden: ` prefix).
pub fn status_text(s: &Snapshot) -> String {
    let stage = s.stage;
    let mut text = stage.verb().to_string();
    if stage != Stage::Start {
        // No total yet (discovery still listing the files).
        if s.total == 0 {
            text.push_str(&format!(" {}", stage.unit()));
        } else {
            text.push_str(&format!(" {}/{} {}", s.done, s.total, stage.unit()));
        }
    }
    if s.requests > 0 || matches!(stage, Stage::Resolve | Stage::HubScan | Stage::Scan) {
        text.push_str(&traffic(s));
    }
    text
}

fn traffic(s: &Snapshot) -> String {
    format!(", {} requests, {}", s.requests, human_bytes(s.bytes))
}

/// `done in 12.3 s: 450 files, 40 targets, 183 requests, 45.2 MB`.
pub fn final_text(elapsed: Duration, s: &Snapshot) -> String {
    format!(
        "done in {:.1} s: {} files, {} targets{}",
        elapsed.as_secs_f64(),
        s.files,
        s.targets,
        traffic(s)
    )
}

/// How progress is drawn, from `--progress` and the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// An indicatif bar (stderr is a terminal that moves its cursor).
    Bar,
    /// Plain `hubwarden: ...` lines: CI logs, pipes, `TERM=dumb`.
    Lines,
}

/// `None`: draw nothing.
pub fn style(mode: Mode, stderr_is_terminal: bool, term: Option<&str>) -> Option<Style> {
    match mode {
        Mode::Never => None,
        Mode::Auto | Mode::Always if stderr_is_terminal && term != Some("dumb") => Some(Style::Bar),
        Mode::Auto | Mode::Always => Some(Style::Lines),
    }
}

/// When to draw.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Nothing is drawn before this (no flash for a quick run).
    pub grace: Duration,
    /// Lines mode: one line per interval.
    pub interval: Duration,
    /// Lines mode: a last line at the end even when none was printed.
    pub always: bool,
}

impl Timing {
    pub fn for_mode(mode: Mode) -> Timing {
        let always = mode == Mode::Always;
        Timing {
            grace: if always {
                Duration::ZERO
            } else {
                Duration::from_secs(2)
            },
            interval: Duration::from_secs(5),
            always,
        }
    }
}

/// Status lines for a log: at each `interval` once `grace` has passed, and
/// a last line when any was printed (or `always`). Driven by the caller's clock.
pub struct Lines<W: Write> {
    out: W,
    timing: Timing,
    last: Duration,
    printed: bool,
}

impl<W: Write> Lines<W> {
    pub fn new(out: W, timing: Timing) -> Self {
        Lines {
            out,
            timing,
            last: Duration::ZERO,
            printed: false,
        }
    }

    /// `now` is the time since the run started.
    pub fn tick(&mut self, now: Duration, s: &Snapshot) {
        if now >= self.timing.grace && now.saturating_sub(self.last) >= self.timing.interval {
            self.last = now;
            self.line(&status_text(s));
        }
    }

    pub fn finish(&mut self, now: Duration, s: &Snapshot) {
        if self.printed || self.timing.always {
            self.line(&final_text(now, s));
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, text: &str) {
        self.printed = true;
        // One write per line: a log line of another thread never lands inside it.
        let _ = self
            .out
            .write_all(format!("hubwarden: {text}\n").as_bytes())
            .and_then(|_| self.out.flush());
    }
}

/// The bar drawn on stderr while shown, for [`stderr_writer`].
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// An indicatif bar, hidden until `grace` has passed, cleared at the end.
pub struct Bar {
    bar: ProgressBar,
    grace: Duration,
    target: Option<Box<dyn FnOnce() -> ProgressDrawTarget + Send>>,
    stage: Option<Stage>,
}

impl Bar {
    /// `target` makes the draw target once the bar shows (stderr in a run).
    pub fn new(grace: Duration, target: Box<dyn FnOnce() -> ProgressDrawTarget + Send>) -> Bar {
        Bar {
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            grace,
            target: Some(target),
            stage: None,
        }
    }

    pub fn tick(&mut self, now: Duration, s: &Snapshot) {
        if now < self.grace {
            return;
        }
        if let Some(target) = self.target.take() {
            self.bar.set_draw_target(target());
            *SHOWN.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.bar.clone());
        }
        if self.stage != Some(s.stage) {
            self.stage = Some(s.stage);
            self.bar.set_style(bar_style(s.stage));
        }
        // One message per frame, not position and length apart: each setter
        // may draw, and a frame drawn between two would mix two stages.
        self.bar.set_message(bar_text(s));
        if s.stage == Stage::Start {
            self.bar.tick();
        }
    }

    pub fn finish(&mut self) {
        *SHOWN.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.bar.finish_and_clear();
    }
}

/// `resolving [=====>      ] 12/40 targets, 183 requests, 45.2 MB`.
fn bar_text(s: &Snapshot) -> String {
    let text = status_text(s);
    if s.stage == Stage::Start {
        return text;
    }
    const WIDTH: u64 = 20;
    let filled = (s.done.min(s.total) * WIDTH)
        .checked_div(s.total)
        .unwrap_or(0);
    let mut gauge = "=".repeat(filled as usize);
    if filled < WIDTH {
        gauge.push('>');
        gauge.push_str(&" ".repeat((WIDTH - filled - 1) as usize));
    }
    let rest = text.strip_prefix(s.stage.verb()).unwrap_or(&text);
    format!("{} [{gauge}]{rest}", s.stage.verb())
}

/// No colour codes in the template: NO_COLOR and plain terminals get the same
/// bar. `wide_msg` is cut to the terminal's width (a wrapped line would not be
/// redrawn in place), so the line is kept short: no `hubwarden:` prefix, which
/// the status lines of a log need and a terminal where the user typed the
/// command does not.
fn bar_style(stage: Stage) -> ProgressStyle {
    let template = match stage {
        Stage::Start => "{spinner} {wide_msg} [{elapsed}]",
        _ => "{wide_msg} [{elapsed}]",
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The mode `main_entry` chose; unset for a library caller (draws nothing).
static MODE: OnceLock<Mode> = OnceLock::new();

/// Set once by `main_entry` from `--progress` / `--quiet`.
pub fn configure(mode: Mode) {
    let _ = MODE.set(mode);
}

/// Draws progress until dropped; dropping clears the bar (or prints the last
/// line) before the command writes its report.
pub struct Guard {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Dropping the sender wakes the drawing thread at once.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often the drawing thread wakes (a status line's interval is counted in these).
const FRAME: Duration = Duration::from_millis(100);

/// Start drawing this run's progress as [`configure`] said; resets the counters.
pub fn start() -> Guard {
    let inert = Guard {
        stop: None,
        thread: None,
    };
    let Some(&mode) = MODE.get() else {
        return inert;
    };
    let term = std::env::var("TERM").ok();
    let Some(style) = style(
        mode,
        io::IsTerminal::is_terminal(&io::stderr()),
        term.as_deref(),
    ) else {
        return inert;
    };
    COUNTERS.reset();
    let timing = Timing::for_mode(mode);
    let (tx, rx) = mpsc::channel::<()>();
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || match style {
            Style::Lines => {
                let mut lines = Lines::new(io::stderr(), timing);
                drive(&rx, started, |now, s| lines.tick(now, s));
                lines.finish(started.elapsed(), &COUNTERS.snapshot());
            }
            Style::Bar => {
                let mut bar = Bar::new(timing.grace, Box::new(ProgressDrawTarget::stderr));
                drive(&rx, started, |now, s| bar.tick(now, s));
                bar.finish();
            }
        });
    match spawned {
        Ok(thread) => Guard {
            stop: Some(tx),
            thread: Some(thread),
        },
        Err(e) => {
            tracing::debug!("no progress: {e}");
            inert
        }
    }
}

fn drive(rx: &mpsc::Receiver<()>, started: Instant, mut tick: impl FnMut(Duration, &Snapshot)) {
    while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(FRAME) {
        tick(started.elapsed(), &COUNTERS.snapshot());
    }
}

/// stderr for log lines: while a bar is drawn, each line is written above it
/// (the bar steps aside) instead of through it.
pub fn stderr_writer() -> StderrWriter {
    StderrWriter
}

/// See [`stderr_writer`].
pub struct StderrWriter;

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let shown = SHOWN.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match shown {
            Some(bar) => bar.suspend(|| io::stderr().write(buf)),
            None => io::stderr().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let shown = SHOWN.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match shown {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf)),
            None => io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn s(stage: Stage, done: u64, total: u64, requests: u64, bytes: u64) -> Snapshot {
        Snapshot {
            stage,
            done,
            total,
            files: 450,
            targets: 40,
            requests,
            bytes,
        }
    }

    fn secs(f: f64) -> Duration {
        Duration::from_secs_f64(f)
    }

    fn text(lines: Lines<Vec<u8>>) -> String {
        String::from_utf8(lines.into_inner()).unwrap()
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 kB");
        assert_eq!(human_bytes(45_200_000), "45.2 MB");
        assert_eq!(human_bytes(3_100_000_000), "3.1 GB");
        assert_eq!(human_bytes(u64::MAX), "18446744.1 TB");
    }

    #[test]
    fn texts() {
        assert_eq!(
            status_text(&s(Stage::Resolve, 12, 40, 183, 45_200_000)),
            "resolving 12/40 targets, 183 requests, 45.2 MB"
        );
        assert_eq!(
            status_text(&s(Stage::Discover, 120, 450, 0, 0)),
            "discovering 120/450 files"
        );
        assert_eq!(
            status_text(&s(Stage::Scan, 3, 9, 183, 999)),
            "scanning 3/9 remote files, 183 requests, 999 B"
        );
        assert_eq!(status_text(&s(Stage::Start, 0, 0, 0, 0)), "loading rules");
        assert_eq!(
            status_text(&s(Stage::Discover, 0, 0, 0, 0)),
            "discovering files"
        );
        assert_eq!(
            status_text(&s(Stage::HubScan, 2, 5, 190, 46_000_000)),
            "reading the Hub's scans of 2/5 repos, 190 requests, 46.0 MB"
        );
        for stage in [
            Stage::Start,
            Stage::Discover,
            Stage::Resolve,
            Stage::HubScan,
            Stage::Scan,
        ] {
            assert_eq!(Stage::from_u8(stage as u8), stage);
        }
        assert_eq!(
            final_text(secs(12.34), &s(Stage::Scan, 9, 9, 183, 45_200_000)),
            "done in 12.3 s: 450 files, 40 targets, 183 requests, 45.2 MB"
        );
    }

    #[test]
    fn styles() {
        assert_eq!(style(Mode::Never, true, Some("xterm")), None);
        assert_eq!(style(Mode::Auto, true, Some("xterm")), Some(Style::Bar));
        assert_eq!(style(Mode::Auto, true, None), Some(Style::Bar));
        // A terminal that cannot move its cursor, and a CI log, get lines.
        assert_eq!(style(Mode::Auto, true, Some("dumb")), Some(Style::Lines));
        assert_eq!(style(Mode::Auto, false, Some("xterm")), Some(Style::Lines));
        assert_eq!(style(Mode::Always, false, None), Some(Style::Lines));
    }

    #[test]
    fn a_quick_run_prints_nothing() {
        let mut lines = Lines::new(Vec::new(), Timing::for_mode(Mode::Auto));
        let snap = s(Stage::Resolve, 1, 2, 3, 4);
        for ms in (0..1990).step_by(100) {
            lines.tick(Duration::from_millis(ms), &snap);
        }
        lines.finish(secs(1.99), &snap);
        assert_eq!(text(lines), "");
    }

    #[test]
    fn a_line_each_interval_then_a_last_line() {
        let mut lines = Lines::new(Vec::new(), Timing::for_mode(Mode::Auto));
        let mut snap = s(Stage::Discover, 0, 450, 0, 0);
        let mut now = Duration::ZERO;
        let mut step = |lines: &mut Lines<Vec<u8>>, until: f64, snap: &Snapshot| {
            while now < secs(until) {
                now += FRAME;
                lines.tick(now, snap);
            }
        };
        step(&mut lines, 4.9, &snap);
        assert!(
            lines.out.is_empty(),
            "{}",
            String::from_utf8_lossy(&lines.out)
        );
        snap.done = 120;
        step(&mut lines, 5.0, &snap);
        snap = s(Stage::Resolve, 12, 40, 183, 45_200_000);
        step(&mut lines, 9.9, &snap);
        step(&mut lines, 10.0, &snap);
        step(&mut lines, 14.9, &snap);
        snap.done = 40;
        lines.finish(secs(14.94), &snap);
        assert_eq!(
            text(lines),
            "hubwarden: discovering 120/450 files\n\
             hubwarden: resolving 12/40 targets, 183 requests, 45.2 MB\n\
             hubwarden: done in 14.9 s: 450 files, 40 targets, 183 requests, 45.2 MB\n"
        );
    }

    #[test]
    fn always_has_a_last_line_even_for_a_quick_run() {
        let mut lines = Lines::new(Vec::new(), Timing::for_mode(Mode::Always));
        let snap = s(Stage::Scan, 2, 2, 7, 2_500);
        lines.tick(secs(0.1), &snap);
        lines.finish(secs(0.3), &snap);
        assert_eq!(
            text(lines),
            "hubwarden: done in 0.3 s: 450 files, 40 targets, 7 requests, 2.5 kB\n"
        );
    }

    /// A terminal that records what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl Screen {
        fn text(&self) -> String {
            self.0.lock().unwrap().clone()
        }
        fn put(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.put(s)?;
            self.put("\n")
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.put(s)
        }
        fn clear_line(&self) -> io::Result<()> {
            self.put("<clear>")
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bar_shows_after_the_grace_and_is_cleared() {
        let screen = Screen::default();
        let term = screen.clone();
        let mut bar = Bar::new(
            Timing::for_mode(Mode::Auto).grace,
            Box::new(move || ProgressDrawTarget::term_like(Box::new(term))),
        );
        let snap = s(Stage::Resolve, 12, 40, 183, 45_200_000);
        bar.tick(secs(0.1), &snap);
        bar.tick(secs(1.9), &snap);
        assert_eq!(screen.text(), "");
        bar.tick(secs(2.0), &snap);
        let drawn = screen.text();
        assert!(
            drawn.contains("resolving [")
                && drawn.contains("] 12/40 targets, 183 requests, 45.2 MB"),
            "{drawn}"
        );
        assert!(!drawn.contains('\u{1b}'), "no colour codes: {drawn:?}");
        assert!(
            drawn.contains("resolving [======>             ] 12/40"),
            "{drawn}"
        );
        bar.finish();
        assert!(screen.text().ends_with("<clear>"), "{}", screen.text());
    }

    #[test]
    fn counters() {
        let c = Counters::new();
        c.begin(Stage::Discover, 3);
        c.advance(2);
        c.begin(Stage::Resolve, 5);
        c.advance(1);
        c.request();
        c.received(10);
        c.received(5);
        assert_eq!(
            c.snapshot(),
            Snapshot {
                stage: Stage::Resolve,
                done: 1,
                total: 5,
                files: 3,
                targets: 5,
                requests: 1,
                bytes: 15,
            }
        );
        c.reset();
        assert_eq!(c.snapshot(), Snapshot::default());
    }
}
