//! `terrace status [ENV]`: environments and their state; with ENV, each job's last run.
//! Both modes print the API's views (`render::views`): one JSON shape, one text.

use std::process::ExitCode;

use terrace_model::Project;
use terrace_server::app::environments::{summary, view};
use terrace_store::{EnvPage, Store};

use crate::args::{Global, StatusArgs};
use crate::context::session;
use crate::exit::CliError;
use crate::render::stream::{Listing, PAGE, write_failed};
use crate::render::views::{SUMMARY_HEADER, print_environment, summary_row};

/// Every environment with a record, read and written one page at a time.
async fn list(store: &dyn Store, project: &Project, json: bool) -> Result<ExitCode, CliError> {
    let mut out = Listing::stdout(json, &SUMMARY_HEADER);
    let mut page = EnvPage::first(PAGE);
    loop {
        let envs = store.list_environments(&project.name, &page).await?;
        let items: Vec<_> = envs.iter().map(|record| summary(project, &record.name, Some(record))).collect();
        if let Err(e) = out.page(&items, summary_row) {
            return write_failed(e);
        }
        match envs.last() {
            Some(last) if envs.len() == PAGE as usize => page.after = Some(last.name.clone()),
            _ => break,
        }
    }
    let name = &project.name;
    match out.finish(|| format!("project `{name}` has no environment yet (start one with `terrace up ENV`)")) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => write_failed(e),
    }
}

pub async fn status(g: &Global, a: &StatusArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let project = &s.loaded.project;
    let Some(name) = &a.env else {
        return list(&*s.store, project, a.json).await;
    };
    let record = s.store.get_environment(&project.name, name).await?;
    if record.is_none() && project.environment(name).is_none() {
        // Neither declared nor made at run time: a usage error, as through a server.
        return Err(CliError::usage(project.unknown_environment(name)));
    }
    let now = super::timed::clock()?.now();
    let view = view(s.sql.as_ref(), project, name, record.as_ref(), false, now).await?;
    let jobs: Vec<String> = project.jobs.keys().cloned().collect();
    print_environment(&view, &jobs, a.json)?;
    Ok(ExitCode::SUCCESS)
}
