//! `terrace status | runs | outputs` against a server, printed as local mode prints them.

use crate::out::outln;
use std::process::ExitCode;

use serde_json::Value;

use super::{Client, project_name, seg};
use crate::args::{Global, OutputsArgs, RunsArgs, StatusArgs};
use crate::exit::CliError;
use crate::render::stream::{Listing, PAGE, write_failed};
use crate::render::table::{self, dash};

/// One page of the API's run list (`terrace runs` shows the first, `--limit` long).
#[derive(serde::Deserialize)]
struct RunPage {
    items: Vec<Value>,
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| "-".into())
}

/// A run's short form, `dev#17`, as local mode shows it.
fn short(r: &Value) -> String {
    terrace_store::short_ref(r["environment"].as_str().unwrap_or("?"), r["number"].as_u64().unwrap_or(0))
}

/// An RFC 3339 time from the API as `2026-11-22 14:03:07`, like local mode.
fn at(v: &Value) -> String {
    v.as_str()
        .and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
        .map(table::when)
        .unwrap_or_else(|| "-".into())
}

/// One page of the API's environment list.
#[derive(serde::Deserialize)]
struct EnvPage {
    items: Vec<Value>,
    next: Option<String>,
}

/// The environments with a record, one page of the API at a time, as local mode lists them.
async fn list(client: &Client, project: &str, json: bool) -> Result<ExitCode, CliError> {
    let mut out = Listing::stdout(json, &["ENVIRONMENT", "STATE", "UPDATED", "REASON"]);
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/projects/{}/environments?limit={PAGE}", seg(project));
        if let Some(after) = &after {
            path.push_str(&format!("&after={}", seg(after)));
        }
        let page: EnvPage = client.get(&path).await?;
        let envs: Vec<Value> = page.items.into_iter().filter(|e| e["state"] != "absent").collect();
        let row =
            |e: &Value| vec![text(&e["name"]), text(&e["state"]), at(&e["updated_at"]), dash(e["reason"].as_str())];
        if let Err(e) = out.page(&envs, row) {
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

pub async fn status(client: &Client, g: &Global, a: &StatusArgs) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let Some(name) = &a.env else {
        return list(client, &project, a.json).await;
    };
    let env: Value = client.get(&format!("/projects/{}/environments/{}", seg(&project), seg(name))).await?;
    let approvals = env["approvals"].as_array().cloned().unwrap_or_default();
    if env["state"] == "absent" {
        if a.json {
            outln!("{}", serde_json::json!({"name": name, "state": "absent", "jobs": [], "approvals": approvals}));
        } else {
            outln!("environment `{name}` has no record (never started, or deleted)");
            crate::commands::approvals::print_pending(&approvals)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&env)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("environment `{name}`: {} (since {})", text(&env["state"]), at(&env["updated_at"]));
    if let Some(reason) = env["reason"].as_str() {
        outln!("  {reason}");
    }
    crate::commands::approvals::print_pending(&approvals)?;
    if let Ok(Some(t)) = serde_json::from_value::<Option<terrace_engine::timed::ttl::TtlStatus>>(env["ttl"].clone()) {
        outln!("{}", crate::commands::timed::ttl_line(&t));
    }
    type Schedules = Vec<terrace_engine::timed::schedule::ScheduleStatus>;
    if let Ok(schedules) = serde_json::from_value::<Schedules>(env["schedules"].clone()) {
        for line in crate::commands::timed::schedule_lines(&schedules) {
            outln!("{line}");
        }
    }
    if let Ok(Some(d)) =
        serde_json::from_value::<Option<terrace_engine::timed::drift::DriftStatus>>(env["drift"].clone())
    {
        outln!("{}", crate::commands::drift::status_line(&d));
    }
    let info: Value = client.get(&format!("/projects/{}", seg(&project))).await?;
    let runs = env["jobs"].as_array().cloned().unwrap_or_default();
    let mut rows: Vec<Vec<String>> = info["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|job| match runs.iter().find(|r| r["job"] == *job) {
            Some(r) => vec![
                text(job),
                text(&r["event"]),
                text(&r["state"]),
                if r["finished_at"].is_null() { at(&r["started_at"]) } else { at(&r["finished_at"]) },
                short(r),
                dash(r["reason"].as_str()),
            ],
            None => vec![text(job), "-".into(), "never run".into(), "-".into(), "-".into(), "-".into()],
        })
        .collect();
    let removed = env["removed_jobs"].as_array().cloned().unwrap_or_default();
    rows.extend(removed.iter().map(|r| {
        let note = terrace_engine::removed::STATUS_NOTE.to_string();
        let by = format!("applied by run {}", text(&r["applied_by_ref"]));
        vec![text(&r["job"]), "-".into(), note, at(&r["applied_at"]), "-".into(), by]
    }));
    table::print(&["JOB", "EVENT", "LAST RUN", "AT", "RUN", "REASON"], rows)?;
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
    let runs: Vec<Value> = client.get::<RunPage>(&query).await?.items;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        outln!("no runs yet");
        return Ok(ExitCode::SUCCESS);
    }
    let parse = |v: &Value| {
        v.as_str().and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
    };
    let rows = runs
        .iter()
        .map(|r| {
            let took = match (parse(&r["started_at"]), parse(&r["finished_at"])) {
                (Some(a), Some(b)) => format!("{:.1}s", (b - a).as_seconds_f64()),
                _ => "-".into(),
            };
            vec![
                short(r),
                text(&r["environment"]),
                text(&r["job"]),
                format!("{}{}", text(&r["event"]), if r["forced"] == true { " (forced)" } else { "" }),
                text(&r["state"]),
                r["attempts"].to_string(),
                at(&r["created_at"]),
                took,
                dash(r["reason"].as_str()),
            ]
        })
        .collect();
    table::print(&["RUN", "ENV", "JOB", "EVENT", "STATE", "ATTEMPTS", "CREATED", "TOOK", "REASON"], rows)?;
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
