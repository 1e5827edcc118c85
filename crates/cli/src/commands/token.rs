//! `terrace token create | list | revoke`: through the API with `--server`, or directly on the
//! server's store (how the first admin token is made).

use crate::out::{errln, outln};
use std::path::PathBuf;
use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Value, json};
use terrace_store::control::Role;

use crate::args::Global;
use crate::client::Client;
use crate::exit::CliError;
use crate::render::table;
use crate::server_args::{RoleArg, TokenCommand};

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Viewer => Role::Viewer,
        RoleArg::Operator => Role::Operator,
        RoleArg::Admin => Role::Admin,
    }
}

/// The server's store, from `--database` (a SQLite file or a PostgreSQL URL) or `DATA/terrace.db` (DATA as the server picks it:
/// `--data`, or `.terrace/` beside `--project`, or in the current folder).
async fn store(g: &Global, database: Option<String>) -> Result<terrace_server::OpenedStore, CliError> {
    let projects = Some(g.project.iter().cloned().collect());
    let layer = terrace_server::ConfigLayer { database, data: g.data.clone(), projects, ..Default::default() };
    let config = terrace_server::ServerConfig::resolve(layer, None).map_err(|e| CliError::usage(e.to_string()))?;
    let data: PathBuf = match &g.data {
        Some(d) => d.clone(),
        // Without --data the key lives beside the database file.
        None => config.database.sqlite_path().and_then(|p| p.parent()).map(PathBuf::from).unwrap_or(config.data_dir),
    };
    Ok(terrace_server::open_store(&config.database, &data).await?)
}

pub async fn token(g: &Global, command: TokenCommand) -> Result<ExitCode, CliError> {
    match command {
        TokenCommand::Create { pool: Some(pool), name, database, .. } => {
            let store = store(g, database).await?;
            let made = terrace_server::app::access::bootstrap_pool_token(store.agents(), &name, &pool).await;
            store.close().await;
            let (token, _) = made.map_err(|e| CliError::usage(e.to_string()))?;
            outln!("{token}");
            errln!(
                "pool token `{name}` of pool `{pool}` created; it is shown only this once: \
                 TERRACE_AGENT_TOKEN=... terrace agent --server URL --pool {pool}"
            );
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Create { role: role_arg, name, database, pool: None } => {
            let r = role_arg.ok_or_else(|| CliError::usage("give --role (an API token) or --pool (a pool token)"))?;
            let (token, record) = if g.server.is_some() && database.is_none() {
                let client = Client::from_global(g)?;
                let created: Value = client
                    .call(Method::POST, "/tokens", Some(&json!({"name": name, "role": role(r).as_str()})))
                    .await?;
                (created["token"].as_str().unwrap_or_default().to_string(), created)
            } else {
                let store = store(g, database).await?;
                let made = terrace_server::app::access::bootstrap_token(store.control(), &name, role(r)).await;
                store.close().await;
                let (token, record) = made.map_err(|e| CliError::usage(e.to_string()))?;
                (token, serde_json::to_value(&record)?)
            };
            outln!("{token}");
            errln!(
                "token `{}` ({}) created; it is shown only this once: export TERRACE_TOKEN=...",
                record["name"].as_str().unwrap_or(&name),
                record["role"].as_str().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List { database, json } => {
            let tokens: Vec<Value> = if g.server.is_some() && database.is_none() {
                Client::from_global(g)?.get("/tokens").await?
            } else {
                let store = store(g, database).await?;
                let list = store.control().list_tokens().await;
                store.close().await;
                list?.into_iter().map(|t| serde_json::to_value(&t)).collect::<Result<_, _>>()?
            };
            if json {
                outln!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                let rows = tokens
                    .iter()
                    .map(|t| {
                        ["id", "name", "role", "created_at", "revoked_at"]
                            .iter()
                            .map(|k| t[*k].as_str().unwrap_or("-").to_string())
                            .collect()
                    })
                    .collect();
                table::print(&["ID", "NAME", "ROLE", "CREATED", "REVOKED"], rows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id, database } => {
            if g.server.is_some() && database.is_none() {
                Client::from_global(g)?
                    .call::<Value>(Method::DELETE, &format!("/tokens/{}", crate::client::seg(&id)), None)
                    .await?;
            } else {
                let parsed = id
                    .parse()
                    .map_err(|_| CliError::usage(format!("`{id}` is not a token id (see `terrace token list`)")))?;
                let store = store(g, database).await?;
                let revoked = store.control().revoke_token(parsed).await;
                store.close().await;
                if !revoked? {
                    return Err(CliError::usage(format!("no live token with id {id} (see `terrace token list`)")));
                }
            }
            errln!("token {id} revoked");
            Ok(ExitCode::SUCCESS)
        }
    }
}
