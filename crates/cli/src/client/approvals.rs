//! `terrace approve | reject | approvals` against a server: the decision is the server's
//! (`POST /approvals/{id}/approve`); an approved request is then followed to its end and
//! its outcome printed, as local mode runs and prints it.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};
use terrace_store::Decision;

use super::{Client, project_name, seg};
use crate::args::{ApprovalsArgs, DecideArgs, Global};
use crate::exit::CliError;
use crate::out::{errln, outln};

pub async fn decide(client: &Client, a: DecideArgs, decision: Decision) -> Result<ExitCode, CliError> {
    let verb = match decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    };
    let body = json!({ "reason": a.reason });
    let path = format!("/approvals/{}/{verb}", seg(&a.id));
    let decided: Value = client.call(Method::POST, &path, Some(&body)).await?;
    let text = |k: &str| decided[k].as_str().unwrap_or("?").to_string();
    let by = text("decided_by");
    if decision == Decision::Reject {
        outln!("rejected approval {} ({}) as {by}", crate::commands::approvals::short(&decided), text("summary"));
        return Ok(ExitCode::SUCCESS);
    }
    errln!("approved approval {} ({}) as {by}", crate::commands::approvals::short(&decided), text("summary"));
    if text("subject_kind") == "promotion" {
        let ids: Vec<String> = decided["outcome"]["request_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let promotions: Vec<Value> = client
            .get(&format!(
                "/promotions?project={}&environment={}&limit=20",
                seg(&text("project")),
                seg(&text("environment"))
            ))
            .await?;
        let id = decided["outcome"]["promotion"].as_str();
        let p = promotions.into_iter().find(|p| p["id"].as_str() == id).unwrap_or_default();
        return super::promote::follow_redeploys(client, &p, &ids, &a.exec).await;
    }
    let request = match text("subject_kind").as_str() {
        "request" => decided["subject_id"].as_str(),
        _ => decided["outcome"]["request_id"].as_str(),
    };
    match request {
        Some(id) => super::events::follow(client, id, &a.exec).await,
        None => Ok(ExitCode::SUCCESS),
    }
}

pub async fn list(client: &Client, g: &Global, a: &ApprovalsArgs) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let mut path = format!("/approvals?project={}&limit={}", seg(&project), a.limit);
    if let Some(env) = &a.env {
        path.push_str(&format!("&environment={}", seg(env)));
    }
    if !a.all {
        path.push_str("&state=awaiting_approval");
    }
    let list: Vec<Value> = client.get(&path).await?;
    if let Some(env) = a.env.as_deref().filter(|_| list.is_empty()) {
        super::require_known(client, &project, env).await?;
    }
    crate::commands::approvals::print_list(&list, a.json, a.all)
}
