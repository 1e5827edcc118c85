//! `terrace secret set NAME --env ENV` (value from stdin), `list` and `delete`, through a
//! backend: the server's API today; a local backend (the store of local mode) is one more
//! variant of `Backend`, the command line staying the same.

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

/// Where secrets are kept.
enum Backend {
    Server { client: Client, project: String },
}

impl Backend {
    async fn open(g: &Global) -> Result<Backend, CliError> {
        let client = Client::from_global(g)?;
        let project = project_name(&client, g).await?;
        Ok(Backend::Server { client, project })
    }

    fn path(&self, env: &str, name: Option<&str>) -> String {
        let Backend::Server { project, .. } = self;
        let base = format!("/projects/{}/environments/{}/secrets", seg(project), seg(env));
        name.map_or(base.clone(), |n| format!("{base}/{}", seg(n)))
    }

    async fn set(&self, env: &str, name: &str, value: &str) -> Result<(), CliError> {
        let Backend::Server { client, .. } = self;
        client.call::<Value>(Method::PUT, &self.path(env, Some(name)), Some(&json!({"value": value}))).await?;
        Ok(())
    }

    async fn list(&self, env: &str) -> Result<Vec<Value>, CliError> {
        let Backend::Server { client, .. } = self;
        client.get(&self.path(env, None)).await
    }

    async fn delete(&self, env: &str, name: &str) -> Result<(), CliError> {
        let Backend::Server { client, .. } = self;
        client.call::<Value>(Method::DELETE, &self.path(env, Some(name)), None).await?;
        Ok(())
    }
}

pub async fn secret(g: &Global, command: SecretCommand) -> Result<ExitCode, CliError> {
    let backend = Backend::open(g).await?;
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
            backend.set(&env, &name, value).await?;
            errln!("secret {name} set for environment `{env}`; its next runs get it");
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::List { env, json } => {
            let list = backend.list(&env).await?;
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
        SecretCommand::Delete { name, env } => {
            backend.delete(&env, &name).await?;
            errln!("secret {name} deleted from environment `{env}`; its next runs no longer get it");
            Ok(ExitCode::SUCCESS)
        }
    }
}
