//! `terrace secret set NAME --env ENV` (value from stdin) and `terrace secret list`.

use crate::out::{errln, outln};
use std::io::Read;
use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, project_name, seg};
use crate::args::Global;
use crate::exit::CliError;
use crate::render::table;
use crate::server_args::SecretCommand;

pub async fn secret(g: &Global, command: SecretCommand) -> Result<ExitCode, CliError> {
    let client = Client::from_global(g)?;
    let project = project_name(&client, g).await?;
    match command {
        SecretCommand::Set { name, env } => {
            let value = tokio::task::spawn_blocking(|| {
                let mut value = String::new();
                std::io::stdin().read_to_string(&mut value).map(|_| value)
            })
            .await
            .map_err(|e| CliError::Failed(e.to_string()))?
            .map_err(|e| CliError::usage(format!("cannot read the secret from stdin: {e}")))?;
            // A trailing newline from `echo` is not part of the secret.
            let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
            let path = format!("/projects/{}/environments/{}/secrets/{}", seg(&project), seg(&env), seg(&name));
            client.call::<Value>(Method::PUT, &path, Some(&json!({"value": value}))).await?;
            errln!("secret {name} set for environment `{env}`; its next runs get it");
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::List { env, json } => {
            let list: Vec<Value> =
                client.get(&format!("/projects/{}/environments/{}/secrets", seg(&project), seg(&env))).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let rows = list
                    .iter()
                    .map(|s| {
                        vec![
                            s["name"].as_str().unwrap_or("").to_string(),
                            s["updated_by"].as_str().unwrap_or("").to_string(),
                            s["updated_at"].as_str().unwrap_or("").to_string(),
                        ]
                    })
                    .collect();
                table::print(&["NAME", "SET BY", "UPDATED"], rows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
