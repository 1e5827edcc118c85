//! What `status`, `runs` and `run show` print, from the API's own view types: local mode
//! builds them from its store, client mode reads them from the server, and both print
//! them here, so the two modes cannot drift apart (keys, types, text).

use crate::out::outln;

use terrace_server::app::views::{EnvironmentSummary, EnvironmentView, RunView};
use time::OffsetDateTime;

use crate::exit::CliError;
use crate::render::table::{self, dash, when};

/// The columns of `terrace status` (no ENV).
pub const SUMMARY_HEADER: [&str; 4] = ["ENVIRONMENT", "STATE", "UPDATED", "REASON"];

pub fn summary_row(e: &EnvironmentSummary) -> Vec<String> {
    vec![e.name.clone(), e.state.clone(), at(e.updated_at), dash(e.reason.as_deref())]
}

fn at(t: Option<OffsetDateTime>) -> String {
    t.map(when).unwrap_or_else(|| "-".into())
}

/// A run's short form, `dev#17`.
pub fn short(r: &RunView) -> String {
    terrace_store::short_ref(&r.environment, r.number)
}

/// `terrace status ENV`: the view as JSON, or as text with a line per job of `jobs` (the
/// project's, in file order) and per removed job.
pub fn print_environment(view: &EnvironmentView, jobs: &[String], json: bool) -> Result<(), CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(view)?);
        return Ok(());
    }
    let env = &view.summary;
    let approvals: Vec<serde_json::Value> =
        view.approvals.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
    let pins: Vec<serde_json::Value> = view.artifacts.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
    if env.state == "absent" {
        outln!("environment `{}` has no record (never started, or deleted)", env.name);
        crate::commands::approvals::print_pending(&approvals)?;
        crate::commands::promote::print_pins(&pins)?;
        return Ok(());
    }
    outln!("environment `{}`: {} (since {})", env.name, env.state, at(env.updated_at));
    if let Some(reason) = &env.reason {
        outln!("  {reason}");
    }
    crate::commands::approvals::print_pending(&approvals)?;
    crate::commands::promote::print_pins(&pins)?;
    if let Some(t) = &view.ttl {
        outln!("{}", crate::commands::timed::ttl_line(t));
    }
    for line in crate::commands::timed::schedule_lines(&view.schedules) {
        outln!("{line}");
    }
    if let Some(d) = &view.drift {
        outln!("{}", crate::commands::drift::status_line(d));
    }
    let mut rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| match view.jobs.iter().find(|r| &r.job == job) {
            Some(r) => vec![
                job.clone(),
                r.event.to_string(),
                r.state.clone(),
                at(r.finished_at.or(r.started_at)),
                short(r),
                dash(r.reason.as_deref()),
            ],
            None => vec![job.clone(), "-".into(), "never run".into(), "-".into(), "-".into(), "-".into()],
        })
        .collect();
    rows.extend(view.removed_jobs.iter().map(|r| {
        let note = terrace_engine::removed::STATUS_NOTE.to_string();
        let by = format!("applied by run {}", r.applied_by_ref);
        vec![r.job.clone(), "-".into(), note, when(r.applied_at), "-".into(), by]
    }));
    table::print(&["JOB", "EVENT", "LAST RUN", "AT", "RUN", "REASON"], rows)
}

/// `terrace runs`: newest first.
pub fn print_runs(runs: &[RunView], json: bool) -> Result<(), CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(runs)?);
        return Ok(());
    }
    if runs.is_empty() {
        outln!("no runs yet");
        return Ok(());
    }
    let rows = runs
        .iter()
        .map(|r| {
            let took = match (r.started_at, r.finished_at) {
                (Some(a), Some(b)) => format!("{:.1}s", (b - a).as_seconds_f64()),
                _ => "-".into(),
            };
            vec![
                short(r),
                r.environment.clone(),
                r.job.clone(),
                format!("{}{}", r.event, if r.forced { " (forced)" } else { "" }),
                r.state.clone(),
                r.attempts.to_string(),
                when(r.created_at),
                took,
                dash(r.reason.as_deref()),
            ]
        })
        .collect();
    table::print(&["RUN", "ENV", "JOB", "EVENT", "STATE", "ATTEMPTS", "CREATED", "TOOK", "REASON"], rows)
}

/// `terrace run show RUN`: the run's public fields (no lease or owner: those are the
/// store's business), as JSON or `key: value` lines.
pub fn print_run(run: &RunView, json: bool) -> Result<(), CliError> {
    crate::client::admin::print_record(&serde_json::to_value(run)?, json)
}
