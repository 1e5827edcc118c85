//! `terrace status [ENV]`: environments and their state; with ENV, each job's last run.

use crate::out::outln;
use std::process::ExitCode;

use terrace_engine::runtime_env::provenance;
use terrace_model::Project;
use terrace_store::{EnvPage, EnvironmentRecord, Store};

use crate::args::{Global, StatusArgs};
use crate::commands::approvals::{pending, print_pending};
use crate::context::session;
use crate::exit::CliError;
use crate::render::stream::{Listing, PAGE, write_failed};
use crate::render::table::{self, dash, when};

/// One environment of the listing: its record, and where it comes from (`defined`,
/// `origin`, `source`), as a server's listing has them.
#[derive(serde::Serialize)]
struct Item<'a> {
    #[serde(flatten)]
    record: &'a EnvironmentRecord,
    defined: bool,
    origin: String,
    source: Option<String>,
}

/// Every environment with a record, read and written one page at a time.
async fn list(store: &dyn Store, project: &Project, json: bool) -> Result<ExitCode, CliError> {
    let mut out = Listing::stdout(json, &["ENVIRONMENT", "STATE", "UPDATED", "REASON"]);
    let mut page = EnvPage::first(PAGE);
    loop {
        let envs = store.list_environments(&project.name, &page).await?;
        let items: Vec<Item> = envs
            .iter()
            .map(|record| {
                let (origin, source) = provenance(project, &record.name, Some(record));
                Item { record, defined: origin == "declared", origin, source }
            })
            .collect();
        let row = |i: &Item| {
            let e = i.record;
            vec![e.name.clone(), e.state.to_string(), when(e.updated_at), dash(e.reason.as_deref())]
        };
        if let Err(e) = out.page(&items, row) {
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
    let approvals = pending(s.store.as_ref(), s.control.as_ref(), &project.name, name).await?;
    let pins = crate::commands::promote::pins(&s, name).await?;
    let Some(env) = s.store.get_environment(&project.name, name).await? else {
        if project.environment(name).is_none() {
            // Neither declared nor made at run time: a usage error, as through a server.
            let known: Vec<&str> = project.environments.keys().map(String::as_str).collect();
            return Err(CliError::usage(format!(
                "environment `{name}` is not defined in the project file (defined: {})",
                known.join(", ")
            )));
        }
        if a.json {
            let absent = serde_json::json!({"name": name, "state": "absent", "jobs": [], "approvals": approvals, "artifacts": pins});
            outln!("{absent}");
        } else {
            outln!("environment `{name}` has no record (never started, or deleted)");
            print_pending(&approvals)?;
            crate::commands::promote::print_pins(&pins)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let runs = s.store.last_runs(env.id).await?;
    let ttl = terrace_engine::timed::ttl::status(project, &env, s.timed.as_ref()).await?;
    let now = super::timed::clock()?.now();
    let schedules = terrace_engine::timed::schedule::status(project, &env, s.timed.as_ref(), now).await?;
    let drift = terrace_engine::timed::drift::status(project, &env, s.timed.as_ref(), now).await?;
    let removed = terrace_engine::removed::summaries(project, s.store.as_ref(), &env).await?;
    if a.json {
        let mut v = serde_json::to_value(&env)?;
        v["jobs"] = serde_json::to_value(&runs)?;
        v["approvals"] = serde_json::Value::Array(approvals);
        v["artifacts"] = serde_json::Value::Array(pins);
        v["ttl"] = serde_json::to_value(&ttl)?;
        v["schedules"] = serde_json::to_value(&schedules)?;
        v["drift"] = serde_json::to_value(&drift)?;
        v["removed_jobs"] = serde_json::to_value(&removed)?;
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("environment `{}`: {} (since {})", env.name, env.state, when(env.updated_at));
    if let Some(reason) = &env.reason {
        outln!("  {reason}");
    }
    print_pending(&approvals)?;
    crate::commands::promote::print_pins(&pins)?;
    if let Some(t) = &ttl {
        outln!("{}", super::timed::ttl_line(t));
    }
    for line in super::timed::schedule_lines(&schedules) {
        outln!("{line}");
    }
    if let Some(d) = &drift {
        outln!("{}", super::drift::status_line(d));
    }
    let mut rows: Vec<Vec<String>> = project
        .jobs
        .keys()
        .map(|job| match runs.iter().find(|r| &r.job == job) {
            Some(r) => vec![
                job.clone(),
                r.event.to_string(),
                r.state.to_string(),
                r.finished_at.or(r.started_at).map(when).unwrap_or_else(|| "-".into()),
                r.short(),
                dash(r.reason.as_deref()),
            ],
            None => vec![job.clone(), "-".into(), "never run".into(), "-".into(), "-".into(), "-".into()],
        })
        .collect();
    rows.extend(removed.iter().map(|r| {
        let note = terrace_engine::removed::STATUS_NOTE.to_string();
        vec![
            r.job.clone(),
            "-".into(),
            note,
            when(r.applied_at),
            "-".into(),
            format!("applied by run {}", r.applied_by_ref),
        ]
    }));
    table::print(&["JOB", "EVENT", "LAST RUN", "AT", "RUN", "REASON"], rows)?;
    Ok(ExitCode::SUCCESS)
}
