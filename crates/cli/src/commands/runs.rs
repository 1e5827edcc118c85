//! `terrace runs`: recent runs, newest first.

use crate::out::outln;
use std::process::ExitCode;

use terrace_store::RunFilter;

use crate::args::{Global, RunAction, RunsArgs};
use crate::context::session;
use crate::exit::CliError;
use crate::render::table::{self, dash, when};

pub async fn runs(g: &Global, a: &RunsArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let filter = RunFilter {
        project: Some(s.loaded.project.name.clone()),
        environment: a.env.clone(),
        job: a.job.clone(),
        state: None,
        limit: Some(a.limit),
        before: None,
    };
    let runs = s.store.list_runs(&filter).await?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        outln!("no runs yet");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = runs
        .iter()
        .map(|r| {
            let took = match (r.started_at, r.finished_at) {
                (Some(a), Some(b)) => format!("{:.1}s", (b - a).as_seconds_f64()),
                _ => "-".into(),
            };
            vec![
                r.short(),
                r.environment.clone(),
                r.job.clone(),
                format!("{}{}", r.event, if r.forced { " (forced)" } else { "" }),
                r.state.to_string(),
                r.attempts.to_string(),
                when(r.created_at),
                took,
                dash(r.reason.as_deref()),
            ]
        })
        .collect();
    table::print(&["RUN", "ENV", "JOB", "EVENT", "STATE", "ATTEMPTS", "CREATED", "TOOK", "REASON"], rows)?;
    Ok(ExitCode::SUCCESS)
}

/// `terrace run show RUN` in local mode; `run cancel` needs a server (a local run is
/// stopped from the terminal that runs it, with Ctrl-C).
pub async fn action(g: &Global, action: RunAction) -> Result<ExitCode, CliError> {
    match action {
        RunAction::Show { run, json } => {
            let s = session(g).await?;
            let record = terrace_engine::find_run(s.store.as_ref(), Some(&s.loaded.project.name), &run).await?;
            crate::client::admin::print_record(&serde_json::to_value(&record)?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        RunAction::Cancel { .. } => Err(CliError::usage(
            "a local run is stopped with Ctrl-C in the terminal running it; `terrace run cancel` talks to a terrace \
             server (pass --server URL or set TERRACE_SERVER)",
        )),
    }
}
