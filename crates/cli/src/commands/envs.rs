//! `terrace env list | clone | delete` in local mode: environments declared in
//! terrace.yaml and those made at run time (kept in the store), listed alike; a clone made
//! through the engine's one entry point; a delete that is the environment's `delete` event.

use crate::out::outln;
use std::process::ExitCode;

use serde::Serialize;
use terrace_engine::runtime_env::{NewEnvironment, create_runtime_environment, provenance};
use terrace_model::Event;
use terrace_store::{EnvPage, EnvironmentRecord};

use crate::args::{EnvCommand, EventArgs, Global};
use crate::context::{local_actor, session};
use crate::exit::CliError;
use crate::render::stream::PAGE;
use crate::render::table::{self, dash, when};

pub async fn env(g: &Global, command: EnvCommand) -> Result<ExitCode, CliError> {
    match command {
        EnvCommand::List(a) => list(g, a.json).await,
        EnvCommand::Clone { source, to, vars, json } => clone(g, source, to, vars, json).await,
        EnvCommand::Delete(a) => delete(g, a).await,
        extend @ EnvCommand::Extend { .. } => super::timed::env(g, extend).await,
    }
}

/// One line of `terrace env list`, the same in local and client mode.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct EnvItem {
    pub name: String,
    /// `declared`, `clone`, `preview`, ... or `undeclared`.
    pub origin: String,
    /// The environment it was made from (runtime environments).
    pub source: Option<String>,
    /// Its state, or `absent` (declared, no record: never started or destroyed).
    pub state: String,
    pub updated_at: Option<String>,
    pub reason: Option<String>,
}

pub fn print_list(items: &[EnvItem], json: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(items)?);
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        outln!("no environment: declare one under `environments:` in terrace.yaml");
        return Ok(ExitCode::SUCCESS);
    }
    let rows = items
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.state.clone(),
                e.origin.clone(),
                dash(e.source.as_deref()),
                e.updated_at.clone().unwrap_or_else(|| "-".into()),
                dash(e.reason.as_deref()),
            ]
        })
        .collect();
    table::print(&["ENVIRONMENT", "STATE", "ORIGIN", "FROM", "UPDATED", "REASON"], rows)?;
    Ok(ExitCode::SUCCESS)
}

async fn list(g: &Global, json: bool) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let project = &s.loaded.project;
    let mut records: Vec<EnvironmentRecord> = Vec::new();
    let mut page = EnvPage::first(PAGE);
    loop {
        let batch = s.store.list_environments(&project.name, &page).await?;
        let full = batch.len() == PAGE as usize;
        page.after = batch.last().map(|r| r.name.clone());
        records.extend(batch);
        if !full {
            break;
        }
    }
    let mut names: Vec<&str> = project.environments.keys().map(String::as_str).collect();
    names.extend(records.iter().map(|r| r.name.as_str()));
    names.sort_unstable();
    names.dedup();
    let items: Vec<EnvItem> = names
        .into_iter()
        .map(|name| {
            let record = records.iter().find(|r| r.name == name);
            let (origin, source) = provenance(project, name, record);
            EnvItem {
                name: name.to_string(),
                origin,
                source,
                state: record.map(|r| r.state.to_string()).unwrap_or_else(|| "absent".into()),
                updated_at: record.map(|r| when(r.updated_at)),
                reason: record.and_then(|r| r.reason.clone()),
            }
        })
        .collect();
    print_list(&items, json)
}

async fn clone(
    g: &Global,
    from: String,
    to: String,
    vars: Vec<(String, String)>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    s.require_known(&from).await?;
    let new =
        NewEnvironment { from, to, variables: vars.into_iter().collect(), origin: "clone".into(), by: local_actor() };
    let record = create_runtime_environment(&s.loaded.project, s.store.as_ref(), new).await?;
    // The API's answer to a clone (its summary), as client mode prints it.
    let mut with_new = s.loaded.project.clone();
    terrace_engine::runtime_env::add(&mut with_new, std::slice::from_ref(&record));
    let made = terrace_server::app::environments::summary(&with_new, &record.name, Some(&record));
    print_created(&record.name, made.source.as_deref().unwrap_or("?"), json, &made)
}

pub fn print_created(name: &str, source: &str, json: bool, record: &impl Serialize) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(record)?);
    } else {
        outln!("environment `{name}` created from `{source}` (stopped): start it with `terrace up {name}`");
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(g: &Global, a: EventArgs) -> Result<ExitCode, CliError> {
    let s = session(g).await?;
    let record = s.store.get_environment(&s.loaded.project.name, &a.env).await?;
    refuse_declared(&s.loaded.project, &a.env, record.as_ref())?;
    let req = terrace_engine::Request {
        env: a.env,
        event: Event::Delete,
        job: None,
        raw_args: vec![],
        secrets: Default::default(),
        commit: None,
        saved_plan: None,
        origin: terrace_engine::Origin { command: Some("env delete".into()), ..Default::default() },
        resume: Default::default(),
    };
    let gate = crate::commands::lifecycle::Gate::Check;
    Ok(crate::commands::lifecycle::execute(s, &a.exec, req, gate).await?.0)
}

/// `env delete` is for environments made at run time: a declared one is destroyed with
/// `destroy` and stays declared.
pub fn refuse_declared(
    project: &terrace_model::Project,
    env: &str,
    record: Option<&EnvironmentRecord>,
) -> Result<(), CliError> {
    match record {
        Some(r) if r.runtime.is_some() => Ok(()),
        None if project.environment(env).is_none() => Err(CliError::usage(project.unknown_environment(env))),
        _ => Err(CliError::usage(terrace_engine::runtime_env::declared_delete(env))),
    }
}
