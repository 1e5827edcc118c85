//! `terrace runs`: recent runs, newest first; `terrace run show RUN`: one run. Both print
//! the API's run view, as client mode does.

use std::process::ExitCode;

use terrace_server::app::views::RunView;
use terrace_store::RunFilter;

use crate::args::{Global, RunAction, RunsArgs};
use crate::context::session;
use crate::exit::CliError;
use crate::render::views::{print_run, print_runs};

pub async fn runs(g: &Global, a: &RunsArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let project = &s.loaded.project;
    let filter = RunFilter {
        project: Some(project.name.clone()),
        environment: a.env.clone(),
        job: a.job.clone(),
        state: None,
        limit: Some(a.limit),
        before: None,
    };
    let runs: Vec<RunView> = s.store.list_runs(&filter).await?.into_iter().map(RunView::from).collect();
    if runs.is_empty() {
        // No run of a name the project does not have is a typo, not an empty history
        // (an environment or job that had runs and left the file still lists them).
        if let Some(env) = &a.env {
            s.require_known(env).await?;
        }
        if let Some(job) = a.job.as_deref().filter(|j| !project.jobs.contains_key(*j)) {
            return Err(CliError::usage(project.unknown_job(job)));
        }
    }
    print_runs(&runs, a.json)?;
    Ok(ExitCode::SUCCESS)
}

/// `terrace run show RUN` in local mode; `run cancel` needs a server (a local run is
/// stopped from the terminal that runs it, with Ctrl-C).
pub async fn action(g: &Global, action: RunAction) -> Result<ExitCode, CliError> {
    match action {
        RunAction::Show { run, json } => {
            let s = session(g).await?;
            let record = terrace_engine::find_run(s.store.as_ref(), Some(&s.loaded.project.name), &run).await?;
            print_run(&RunView::from(record), json)?;
            Ok(ExitCode::SUCCESS)
        }
        RunAction::Cancel { .. } => Err(CliError::usage(
            "a local run is stopped with Ctrl-C in the terminal running it; `terrace run cancel` talks to a terrace \
             server (pass --server URL or set TERRACE_SERVER)",
        )),
    }
}
