//! `terrace runs`: recent runs, newest first.

use crate::out::outln;
use std::process::ExitCode;

use terrace_store::RunFilter;

use crate::args::{Global, RunsArgs};
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
                r.id.to_string(),
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
