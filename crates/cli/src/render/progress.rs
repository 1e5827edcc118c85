//! Live progress of a pipeline: on a terminal, a spinner line per job (running, done,
//! failed) with log lines printed above; elsewhere, plain timestamped lines.

use crate::out::errln;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use terrace_engine::{Observer, Progress};
use terrace_model::log::Stream;
use terrace_store::RunState;

pub trait Display: Observer {
    /// Clears live lines before the summary is printed.
    fn finish(&self);

    /// An event that happened at `at` (client mode replays them): shown with that time.
    fn observe_at(&self, event: Progress, _at: time::OffsetDateTime) {
        self.observe(event)
    }
}

pub fn observer(quiet: bool) -> Arc<dyn Display> {
    if std::io::stderr().is_terminal() { Arc::new(Live::new(quiet)) } else { Arc::new(Plain { quiet }) }
}

fn prefix(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "",
        Stream::Stderr => "! ",
        Stream::Terrace => "» ",
    }
}

fn ended(state: RunState, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("{state}: {r}"),
        None => state.to_string(),
    }
}

/// Lines for logs and CI.
struct Plain {
    quiet: bool,
}

impl Observer for Plain {
    fn observe(&self, event: Progress) {
        self.print(event, time::OffsetDateTime::now_utc())
    }
}

impl Plain {
    fn print(&self, event: Progress, at: time::OffsetDateTime) {
        let now = super::table::when(at);
        match event {
            Progress::Opened { .. } => {}
            Progress::Planned { jobs } => errln!(
                "[{now}] plan: {}",
                if jobs.is_empty() { "no job runs on this event".into() } else { jobs.join(" → ") }
            ),
            Progress::Started { job, short, attempt, .. } => {
                errln!("[{now}] {job}: started (run {short}, attempt {attempt})")
            }
            Progress::Lines { job, batches } if !self.quiet => {
                for b in batches.iter() {
                    for l in b.lines() {
                        errln!("{job} | {}{l}", prefix(b.stream));
                    }
                }
            }
            Progress::Lines { .. } => {}
            Progress::Retrying { job, attempt, reason } => {
                errln!("[{now}] {job}: retrying (attempt {attempt}) after: {reason}")
            }
            Progress::Finished { job, state, reason, .. } => {
                errln!("[{now}] {job}: {}", ended(state, reason.as_deref()))
            }
        }
    }
}

impl Display for Plain {
    fn finish(&self) {}

    fn observe_at(&self, event: Progress, at: time::OffsetDateTime) {
        self.print(event, at)
    }
}

/// Spinners on a terminal.
struct Live {
    quiet: bool,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Live {
    fn new(quiet: bool) -> Self {
        Live {
            quiet,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, job: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(job).cloned()
    }
}

impl Observer for Live {
    fn observe(&self, event: Progress) {
        match event {
            Progress::Opened { .. } => {}
            Progress::Planned { jobs } => {
                let Ok(mut bars) = self.bars.lock() else { return };
                let width = jobs.iter().map(String::len).max().unwrap_or(0);
                for job in jobs {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    let style = ProgressStyle::with_template(&format!("{{spinner}} {{prefix:{width}}}  {{msg}}"))
                        .unwrap_or_else(|_| ProgressStyle::default_spinner());
                    bar.set_style(style);
                    bar.set_prefix(job.clone());
                    bar.set_message("waiting");
                    bar.tick();
                    bars.insert(job, bar);
                }
            }
            Progress::Started { job, attempt, .. } => {
                if let Some(b) = self.bar(&job) {
                    b.set_message(if attempt > 1 { format!("running (attempt {attempt})") } else { "running".into() });
                    b.enable_steady_tick(Duration::from_millis(120));
                }
            }
            Progress::Lines { job, batches } if !self.quiet => {
                for b in batches.iter() {
                    for l in b.lines() {
                        let _ = self.multi.println(format!("{job} | {}{l}", prefix(b.stream)));
                    }
                }
            }
            Progress::Lines { .. } => {}
            Progress::Retrying { job, attempt, reason } => {
                if let Some(b) = self.bar(&job) {
                    b.set_message(format!("retrying (attempt {attempt}) after: {reason}"));
                }
            }
            Progress::Finished { job, state, reason, .. } => {
                if let Some(b) = self.bar(&job) {
                    let mark = match state {
                        RunState::Succeeded => "✔",
                        RunState::Skipped => "↷",
                        _ => "✘",
                    };
                    b.set_style(
                        ProgressStyle::with_template("{prefix} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(format!("{mark} {job}"));
                    b.finish_with_message(ended(state, reason.as_deref()));
                }
            }
        }
    }
}

impl Display for Live {
    fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            bars.values().filter(|b| !b.is_finished()).for_each(ProgressBar::finish_and_clear);
        }
    }
}
