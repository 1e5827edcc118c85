//! The API operations that are not an environment event or a listing of local mode:
//! `terrace run show|cancel`, `terrace request list|show|cancel`, `terrace project
//! list|show|register`, `terrace audit`. Each prints a table (or key: value lines) and
//! `--json` prints the API's JSON.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::Value;

use super::{Client, project_name, seg};
use crate::args::{Global, RunAction};
use crate::exit::CliError;
use crate::out::outln;
use crate::render::table::{self, dash};
use crate::server_args::{AuditArgs, ProjectCommand, RequestCommand};

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A record as `key: value` lines, nested values as compact JSON.
pub fn print_record(v: &Value, json: bool) -> Result<(), CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(v)?);
        return Ok(());
    }
    for (k, v) in v.as_object().into_iter().flatten() {
        outln!("{k}: {}", text(v));
    }
    Ok(())
}

pub async fn run(client: &Client, g: &Global, action: RunAction) -> Result<ExitCode, CliError> {
    match action {
        RunAction::Show { run, json } => {
            let scope = super::run_scope(client, g, &run).await;
            let view: terrace_server::app::views::RunView = client.get(&format!("/runs/{}?{scope}", seg(&run))).await?;
            crate::render::views::print_run(&view, json)?
        }
        RunAction::Cancel { run } => {
            let scope = super::run_scope(client, g, &run).await;
            let path = format!("/runs/{}/cancel?{scope}", seg(&run));
            let request: Value = client.call(Method::POST, &path, None).await?;
            outln!(
                "request {} of run {run}: cancel asked; its jobs stop and their runs end cancelled",
                text(&request["id"])
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn request(client: &Client, g: &Global, command: RequestCommand) -> Result<ExitCode, CliError> {
    match command {
        RequestCommand::List { env, state, limit, json } => {
            let project = project_name(client, g).await?;
            let mut path = format!("/requests?project={}&limit={limit}", seg(&project));
            if let Some(env) = env {
                path.push_str(&format!("&environment={}", seg(&env)));
            }
            if let Some(state) = state {
                path.push_str(&format!("&state={}", seg(&state)));
            }
            let list: Vec<Value> = client.get(&path).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                outln!("no requests");
                return Ok(ExitCode::SUCCESS);
            }
            let rows = list
                .iter()
                .map(|r| {
                    ["id", "environment", "event", "job", "state", "requested_by", "created_at"]
                        .iter()
                        .map(|k| text(&r[*k]))
                        .chain([dash(r["reason"].as_str())])
                        .collect()
                })
                .collect();
            table::print(&["REQUEST", "ENV", "EVENT", "JOB", "STATE", "BY", "CREATED", "REASON"], rows)?;
        }
        RequestCommand::Show { id, json } => {
            print_record(&client.get(&format!("/requests/{}", seg(&id))).await?, json)?
        }
        RequestCommand::Cancel { id } => {
            let r: Value = client.call(Method::POST, &format!("/requests/{}/cancel", seg(&id)), None).await?;
            outln!("request {id}: {}", text(&r["state"]));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn project(client: &Client, command: ProjectCommand) -> Result<ExitCode, CliError> {
    match command {
        ProjectCommand::List { json } => {
            let list: Vec<Value> = client.get("/projects").await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let rows = list
                .iter()
                .map(|p| {
                    let count = |k: &str| p[k].as_array().map_or(0, Vec::len).to_string();
                    vec![text(&p["name"]), text(&p["path"]), count("environments"), count("jobs")]
                })
                .collect();
            table::print(&["PROJECT", "PATH", "ENVIRONMENTS", "JOBS"], rows)?;
        }
        ProjectCommand::Show { name, json } => {
            print_record(&client.get(&format!("/projects/{}", seg(&name))).await?, json)?
        }
        ProjectCommand::Register { path, git: Some(url), branch, folder, token_file, ssh_key_file } => {
            let _ = path;
            let mut body = serde_json::json!({ "git": url, "branch": branch, "path": folder.unwrap_or_default() });
            if let Some(file) = token_file {
                body["token"] = Value::String(read_secret_file(&file, "--token-file")?.trim().to_string());
            }
            if let Some(file) = ssh_key_file {
                body["ssh_key"] = Value::String(read_secret_file(&file, "--ssh-key-file")?);
            }
            let p: Value = client.call(Method::POST, "/projects", Some(&body)).await?;
            let commit: String = text(&p["git"]["commit"]).chars().take(12).collect();
            outln!("project `{}` registered from {url} branch {branch} at {commit}", text(&p["name"]));
        }
        ProjectCommand::Register { path, .. } => {
            let body = serde_json::json!({ "path": path.unwrap_or_default() });
            let p: Value = client.call(Method::POST, "/projects", Some(&body)).await?;
            outln!("project `{}` registered from {}", text(&p["name"]), text(&p["path"]));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A credential's file (read whole; its content never shows in an error).
fn read_secret_file(file: &std::path::Path, flag: &str) -> Result<String, CliError> {
    std::fs::read_to_string(file).map_err(|e| CliError::usage(format!("{flag} {}: {e}", file.display())))
}

pub async fn audit(client: &Client, a: AuditArgs) -> Result<ExitCode, CliError> {
    let list: Vec<Value> = client.get(&format!("/audit?limit={}", a.limit)).await?;
    print_audit(&list, a.json)
}

/// The audit listing both modes print.
pub fn print_audit(list: &[Value], json: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = list
        .iter()
        .map(|e| vec![text(&e["at"]), text(&e["actor"]), text(&e["action"]), text(&e["target"]), text(&e["detail"])])
        .collect();
    table::print(&["AT", "ACTOR", "ACTION", "TARGET", "DETAIL"], rows)?;
    Ok(ExitCode::SUCCESS)
}
