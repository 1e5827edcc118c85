//! `terrace env list | clone | delete` against a server, printed as local mode prints them.

use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, project_name, seg};
use crate::args::{EnvCommand, Global};
use crate::commands::envs::{EnvItem, print_created, print_list};
use crate::exit::CliError;
use crate::render::stream::PAGE;

pub async fn env(client: &Client, g: &Global, command: EnvCommand) -> Result<ExitCode, CliError> {
    let project = project_name(client, g).await?;
    let base = format!("/projects/{}/environments", seg(&project));
    match command {
        EnvCommand::List(a) => {
            let mut items = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut path = format!("{base}?limit={PAGE}");
                if let Some(after) = &after {
                    path.push_str(&format!("&after={}", seg(after)));
                }
                let page: Value = client.get(&path).await?;
                for e in page["items"].as_array().into_iter().flatten() {
                    items.push(item(e));
                }
                match page["next"].as_str() {
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
            print_list(&items, a.json)
        }
        EnvCommand::Clone { source, to, vars, json } => {
            let variables: serde_json::Map<String, Value> =
                vars.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let body = json!({"to": to, "variables": variables});
            let path = format!("{base}/{}/clone", seg(&source));
            let made: Value = client.call(Method::POST, &path, Some(&body)).await?;
            print_created(&to, &source, json, &made)
        }
        EnvCommand::Delete(a) => {
            let path = format!("{base}/{}", seg(&a.env));
            let accepted: Value = client.call(Method::DELETE, &path, None).await?;
            super::events::follow_accepted(client, &project, &a.env, &accepted, &a.exec).await
        }
        EnvCommand::Extend { .. } => super::listings::env(client, g, command).await,
    }
}

/// An environment of the API's list as `env list` shows it.
fn item(e: &Value) -> EnvItem {
    let text = |k: &str| e[k].as_str().map(str::to_string);
    EnvItem {
        name: text("name").unwrap_or_default(),
        origin: text("origin").unwrap_or_else(|| "declared".into()),
        source: text("source"),
        state: text("state").unwrap_or_else(|| "absent".into()),
        updated_at: e["updated_at"]
            .as_str()
            .and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
            .map(crate::render::table::when),
        reason: text("reason"),
    }
}
