//! `terrace promote` and `terrace promotions` against a server: the server checks the
//! version, moves the tag and records the promotion (or an approval), and queues each
//! consumer's redeploy; the client follows those requests and prints what local mode
//! prints.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, project_name, seg};
use crate::args::{Global, PromoteArgs, PromotionsArgs};
use crate::exit::CliError;
use crate::out::{errln, outln};

pub async fn promote(client: &Client, g: &Global, a: PromoteArgs) -> Result<ExitCode, CliError> {
    let mut body = json!({ "artifact": a.artifact, "skip_order": a.skip_order });
    match (&a.version, &a.from, a.previous) {
        (Some(v), None, false) => body["version"] = json!(v),
        (None, Some(e), false) => body["from"] = json!(e),
        (None, None, true) => body["previous"] = json!(true),
        _ => {
            return Err(CliError::usage(
                "say which version: exactly one of --version V, --from ENV or --previous (see terrace promote --help)",
            ));
        }
    }
    let project = project_name(client, g).await?;
    let path = format!("/projects/{}/environments/{}/promotions", seg(&project), seg(&a.to));
    let accepted: Value = client.call(Method::POST, &path, Some(&body)).await?;
    if let Some(approval) = accepted["approval_id"].as_str() {
        let approval: Value = client.get(&format!("/approvals/{}", seg(approval))).await?;
        crate::commands::approvals::print_awaiting_json(&approval, a.exec.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let ids: Vec<String> = accepted["request_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    follow_redeploys(client, &accepted["promotion"], &ids, &a.exec).await
}

/// Prints the promotion, then follows each redeploy request to its end.
pub(crate) async fn follow_redeploys(
    client: &Client,
    p: &Value,
    ids: &[String],
    flags: &crate::args::ExecFlags,
) -> Result<ExitCode, CliError> {
    let text = |k: &str| p[k].as_str().unwrap_or("?").to_string();
    if !flags.json {
        let tail = if ids.is_empty() {
            "; no job consumes it there".to_string()
        } else {
            format!("; redeploying ({} request(s))", ids.len())
        };
        outln!(
            "{} {} ({}) is now `{}` in `{}`{tail}",
            text("artifact"),
            text("version"),
            text("digest"),
            text("to_env"),
            text("to_env")
        );
    }
    let mut code = ExitCode::SUCCESS;
    let mut outcomes = Vec::new();
    for id in ids {
        let (ok, outcome) = super::events::wait(client, id, flags.quiet).await?;
        if !ok {
            code = ExitCode::from(1);
        }
        if !flags.json {
            crate::commands::lifecycle::print_summary(&outcome)?;
        }
        outcomes.push(outcome);
    }
    if flags.json {
        outln!("{}", serde_json::to_string_pretty(&json!({ "promotion": p, "redeployed": outcomes }))?);
    } else if code != ExitCode::SUCCESS {
        errln!(
            "the tag moved and the pin is recorded; a redeploy failed: run `terrace up {}` once fixed",
            text("to_env")
        );
    }
    Ok(code)
}

pub async fn list(client: &Client, g: &Global, a: &PromotionsArgs) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let mut path = format!("/promotions?project={}&limit={}", seg(&project), a.limit);
    if let Some(env) = &a.env {
        path.push_str(&format!("&environment={}", seg(env)));
    }
    if let Some(artifact) = &a.artifact {
        path.push_str(&format!("&artifact={}", seg(artifact)));
    }
    let list: Vec<Value> = client.get(&path).await?;
    if let Some(env) = a.env.as_deref().filter(|_| list.is_empty()) {
        super::require_known(client, &project, env).await?;
    }
    crate::commands::promote::print_list(&list, a.json)
}
