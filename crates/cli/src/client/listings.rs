//! `terrace status | runs | outputs` against a server, printed as local mode prints them
//! (the same view types, the same renderers).

use crate::out::outln;
use std::process::ExitCode;

use serde_json::Value;

use terrace_model::project::undefined;
use terrace_server::app::views::{EnvironmentPage, EnvironmentView, ProjectView, RunPage};

use super::{Client, project_name, seg};
use crate::args::{Global, OutputsArgs, RunsArgs, StatusArgs};
use crate::exit::CliError;
use crate::render::stream::{Listing, PAGE, write_failed};
use crate::render::table;
use crate::render::views::{SUMMARY_HEADER, print_environment, print_runs, summary_row};

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| "-".into())
}

/// The environments with a record, one page of the API at a time, as local mode lists them.
async fn list(client: &Client, project: &str, json: bool) -> Result<ExitCode, CliError> {
    let mut out = Listing::stdout(json, &SUMMARY_HEADER);
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/projects/{}/environments?limit={PAGE}", seg(project));
        if let Some(after) = &after {
            path.push_str(&format!("&after={}", seg(after)));
        }
        let page: EnvironmentPage = client.get(&path).await?;
        let envs: Vec<_> = page.items.into_iter().filter(|e| e.state != "absent").collect();
        if let Err(e) = out.page(&envs, summary_row) {
            return write_failed(e);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    match out.finish(|| format!("project `{project}` has no environment yet (start one with `terrace up ENV`)")) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => write_failed(e),
    }
}

/// The project as the server has it (its environments and jobs).
async fn project_view(client: &Client, project: &str) -> Result<ProjectView, CliError> {
    client.get(&format!("/projects/{}", seg(project))).await
}

pub async fn status(client: &Client, g: &Global, a: &StatusArgs) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let Some(name) = &a.env else {
        return list(client, &project, a.json).await;
    };
    let view: EnvironmentView = client.get(&format!("/projects/{}/environments/{}", seg(&project), seg(name))).await?;
    let jobs = if a.json { vec![] } else { project_view(client, &project).await?.jobs };
    print_environment(&view, &jobs, a.json)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn runs(client: &Client, g: &Global, a: &RunsArgs) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let mut query = format!("/runs?project={}&limit={}", seg(&project), a.limit);
    if let Some(env) = &a.env {
        query.push_str(&format!("&environment={}", seg(env)));
    }
    if let Some(job) = &a.job {
        query.push_str(&format!("&job={}", seg(job)));
    }
    let runs = client.get::<RunPage>(&query).await?.items;
    if runs.is_empty() {
        // As local mode: a name the project does not have is an error, not "no runs".
        if let Some(env) = &a.env {
            super::require_known(client, &project, env).await?;
        }
        if let Some(job) = &a.job {
            let info = project_view(client, &project).await?;
            if !info.jobs.contains(job) {
                return Err(CliError::usage(undefined("job", job, info.jobs.iter().map(String::as_str))));
            }
        }
    }
    print_runs(&runs, a.json)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn outputs(client: &Client, g: &Global, a: &OutputsArgs) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let reveal = if a.reveal { "?reveal=true" } else { "" };
    let env: Value = client.get(&format!("/projects/{}/environments/{}{reveal}", seg(&project), seg(&a.env))).await?;
    if env["state"] == "absent" {
        return Err(CliError::usage(format!(
            "environment `{}` has no record yet (start it with `terrace up {}`)",
            a.env, a.env
        )));
    }
    let outputs = env["outputs"].as_array().cloned().unwrap_or_default();
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&outputs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if outputs.is_empty() {
        outln!("environment `{}` has no outputs", a.env);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = outputs
        .iter()
        .map(|o| {
            vec![
                text(&o["name"]),
                text(&o["value"]),
                text(&o["job"]),
                if o["sensitive"] == true { "yes".into() } else { "no".into() },
                text(&o["variable"]),
            ]
        })
        .collect();
    table::print(&["NAME", "VALUE", "JOB", "SECRET", "VARIABLE"], rows)?;
    Ok(ExitCode::SUCCESS)
}

/// `terrace drift ENV` against a server.
pub async fn drift(client: &Client, g: &Global, a: &crate::args::DriftArgs) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let path = format!("/projects/{}/environments/{}/drift?limit={}", seg(&project), seg(&a.env), a.limit);
    let history: terrace_engine::timed::drift::DriftHistory = client.get(&path).await?;
    crate::commands::drift::print(&history, a.json)
}

/// `terrace env extend ENV BY` against a server.
pub async fn env(client: &Client, g: &Global, command: crate::args::EnvCommand) -> Result<ExitCode, CliError> {
    let crate::args::EnvCommand::Extend { env, by, json } = command else {
        return Err(CliError::usage("terrace env extend ENV BY"));
    };
    let project = project_name(client, g).await?;
    let body = serde_json::json!({"by": humantime::format_duration(by).to_string()});
    let path = format!("/projects/{}/environments/{}/extend", seg(&project), seg(&env));
    let status: terrace_engine::timed::ttl::TtlStatus = client.call(reqwest::Method::POST, &path, Some(&body)).await?;
    crate::commands::timed::print_extended(&env, &status, json)
}
