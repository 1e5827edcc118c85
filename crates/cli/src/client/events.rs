//! `terrace up | down | destroy | plan | run` against a server: the event is queued, then
//! the request is polled until it ends, and the same summary as local mode is printed.

use crate::out::errln;
use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};
use terrace_engine::{JobResult, PipelineOutcome};
use terrace_model::Event;

use super::{Client, project_name, seg};
use crate::args::{EventArgs, EventName, ExecFlags, Global, JobDeleteArgs, RunArgs};
use crate::commands::lifecycle::print_outcome;
use crate::exit::CliError;

pub async fn event(client: &Client, g: &Global, a: EventArgs, event: Event) -> Result<ExitCode, CliError> {
    crate::commands::lifecycle::check_keep_removed(&a, event)?;
    let mut body = json!({"event": event.as_str()});
    if a.keep_removed {
        body["keep_removed"] = json!(true);
    }
    submit(client, g, &a.env, body, &a.exec).await
}

/// `terrace job delete JOB --env ENV` through the server: a force run of `delete`.
pub async fn job_delete(client: &Client, g: &Global, a: JobDeleteArgs) -> Result<ExitCode, CliError> {
    submit(client, g, &a.env, json!({"event": "delete", "job": a.job}), &a.exec).await
}

pub async fn force_run(client: &Client, g: &Global, a: RunArgs) -> Result<ExitCode, CliError> {
    let (job, env, event) = a.forced()?;
    if a.plan.is_some() && !matches!(event, EventName::Start) {
        return Err(CliError::usage("--plan applies a saved plan: use it with --event start"));
    }
    let event = match event {
        EventName::Start => "start",
        EventName::Stop => "stop",
        EventName::Delete => "delete",
        EventName::Plan => "plan",
        EventName::Raw => "raw",
        EventName::Redeploy => "redeploy",
        EventName::Debug => {
            return Err(CliError::usage(
                "`--event debug` opens a shell on this machine: run it without --server, in the project's folder",
            ));
        }
    };
    let mut body = json!({"event": event, "job": job, "args": a.args});
    if let Some(plan) = &a.plan {
        body["plan"] = json!(plan);
    }
    submit(client, g, &env, body, &a.exec).await
}

pub(crate) async fn submit(
    client: &Client,
    g: &Global,
    env: &str,
    mut body: Value,
    flags: &ExecFlags,
) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let path = format!("/projects/{}/environments/{}/events", seg(&project), seg(env));
    if flags.no_wait {
        body["wait"] = Value::Bool(false);
    }
    let accepted: Value = match client.call(Method::POST, &path, Some(&body)).await {
        Err(CliError::Failed(m)) if flags.no_wait && m.contains("is busy") => {
            return Err(CliError::Failed(format!("{m} (or run without --no-wait to wait for it)")));
        }
        other => other?,
    };
    follow_accepted(client, &project, env, &accepted, flags).await
}

/// What an accepted event request leads to: the approval it waits for, or its outcome.
pub(crate) async fn follow_accepted(
    client: &Client,
    project: &str,
    env: &str,
    accepted: &Value,
    flags: &ExecFlags,
) -> Result<ExitCode, CliError> {
    let id = accepted["request_id"].as_str().unwrap_or_default().to_string();
    if accepted["state"] == "awaiting_approval" {
        let approval = accepted["approval_id"].as_str().unwrap_or_default();
        let a: Value = client.get(&format!("/approvals/{}", seg(approval))).await?;
        crate::commands::approvals::print_awaiting_json(&a, flags.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(who) = ahead(client, project, env, &id).await? {
        errln!("{}", crate::commands::lifecycle::waiting(env, &who));
    }
    follow(client, &id, flags).await
}

/// `terrace plan --all` against a server: each environment the server's project file
/// declares is planned, one request after the other, and the table of local mode printed.
pub async fn plan_all(client: &Client, g: &Global, flags: &ExecFlags) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let view: Value = client.get(&format!("/projects/{}", seg(&project))).await?;
    let envs: Vec<String> = view["environments"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if envs.is_empty() {
        return Err(CliError::usage(format!("project `{project}` on the server declares no environment")));
    }
    let mut plans = Vec::new();
    for env in envs {
        let path = format!("/projects/{}/environments/{}/events", seg(&project), seg(&env));
        let planned = async {
            let accepted: Value = client.call(Method::POST, &path, Some(&json!({"event": "plan"}))).await?;
            let id = accepted["request_id"].as_str().unwrap_or_default();
            wait(client, id, flags.quiet).await.map(|(_, outcome)| outcome)
        }
        .await
        .map_err(|e| e.to_string());
        plans.push((env, planned));
    }
    crate::commands::plan_all::print(&plans, flags.json)
}

/// Follows a request until it ends and prints its outcome, as local mode prints it.
pub(crate) async fn follow(client: &Client, id: &str, flags: &ExecFlags) -> Result<ExitCode, CliError> {
    let interrupt = spawn_cancel_on_interrupt(client.clone(), id.to_string());
    let waited = wait(client, id, flags.quiet).await;
    interrupt.abort();
    let (ok, outcome) = waited?;
    print_outcome(&outcome, flags.json)?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Shows a request's progress until it ends: whether it succeeded, and its outcome (an
/// error when it ended without one).
pub(crate) async fn wait(client: &Client, id: &str, quiet: bool) -> Result<(bool, PipelineOutcome), CliError> {
    let request = super::progress::follow(client, id, quiet).await?;
    let state = request["state"].as_str().unwrap_or("");
    let Some(outcome) = request.get("outcome").filter(|o| !o.is_null()) else {
        let reason = request["reason"].as_str().unwrap_or("no reason given");
        return Err(CliError::Failed(format!("request {id} ended {state}: {reason}")));
    };
    Ok((state == "succeeded", to_outcome(outcome)?))
}

/// The request this one waits for, if any, as the waiting message names it.
async fn ahead(client: &Client, project: &str, env: &str, mine: &str) -> Result<Option<String>, CliError> {
    for state in ["running", "queued"] {
        let path = format!("/requests?project={}&environment={}&state={state}&limit=5", seg(project), seg(env));
        let list: Vec<Value> = client.get(&path).await?;
        if let Some(r) = list.iter().find(|r| r["id"].as_str() != Some(mine)) {
            let text = |k: &str| r[k].as_str().unwrap_or("?").to_string();
            return Ok(Some(format!(
                "request {} (`{}` by {}) is {state} on the server",
                text("id"),
                text("event"),
                text("requested_by")
            )));
        }
    }
    Ok(None)
}

/// Ctrl-C or SIGTERM while waiting: cancel the request on the server (its jobs stop and the
/// summary follows), as local mode stops its jobs. Again: leave, the request goes on.
fn spawn_cancel_on_interrupt(client: Client, id: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 1 {
                errln!("terrace: leaving; request {id} goes on on the server (terrace runs / status)");
                std::process::exit(130);
            }
            errln!("terrace: cancelling request {id} on the server (interrupt again to leave at once)");
            if let Err(e) = client.call::<Value>(Method::POST, &format!("/requests/{}/cancel", seg(&id)), None).await {
                errln!("{e}");
            }
        }
    })
}

/// The outcome the server stored, as the engine's type (to print the same summary).
fn to_outcome(v: &Value) -> Result<PipelineOutcome, CliError> {
    let bad = |what: &str| CliError::Failed(format!("unexpected outcome from the server: {what}"));
    let parse = |v: &Value, what: &str| v.as_str().ok_or_else(|| bad(what)).map(str::to_string);
    let jobs = v["jobs"]
        .as_array()
        .ok_or_else(|| bad("jobs"))?
        .iter()
        .map(|j| {
            Ok(JobResult {
                job: parse(&j["job"], "job")?,
                run_id: parse(&j["run_id"], "run_id")?.parse().map_err(|_| bad("run_id"))?,
                number: j["number"].as_u64().unwrap_or(0),
                state: serde_json::from_value(j["state"].clone()).map_err(|_| bad("state"))?,
                reason: j["reason"].as_str().map(str::to_string),
                plan: j.get("plan").cloned().filter(|p| !p.is_null()),
            })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    Ok(PipelineOutcome {
        environment: parse(&v["environment"], "environment")?,
        event: serde_json::from_value(v["event"].clone()).map_err(|_| bad("event"))?,
        pipeline_id: v["pipeline_id"].as_str().map(|p| p.parse()).transpose().map_err(|_| bad("pipeline_id"))?,
        environment_state: serde_json::from_value(v["environment_state"].clone())
            .map_err(|_| bad("environment_state"))?,
        failed_job: v["failed_job"].as_str().map(str::to_string),
        jobs,
        duration_ms: v["duration_ms"].as_u64().unwrap_or(0),
        inputs: serde_json::from_value(v["inputs"].clone()).unwrap_or_default(),
        on_failure: v.get("on_failure").filter(|f| !f.is_null()).and_then(|f| serde_json::from_value(f.clone()).ok()),
        removed: v.get("removed").and_then(|r| serde_json::from_value(r.clone()).ok()).unwrap_or_default(),
    })
}
