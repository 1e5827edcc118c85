//! `terrace secret set NAME [--env ENV]` (value from stdin), `list` and `delete`, through a
//! backend: the server's API with `--server`, else the store of local mode (the data
//! folder's, encrypted under its master key), which `${secret:NAME}` reads in both modes.
//! Without `--env` a secret is the project's (every environment reads it); with it, the
//! environment's (over the project's of that name). The same checks and output either way.

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

/// The largest secret value accepted (as the API's).
const MAX_VALUE: usize = 64 * 1024;

/// Where secrets are kept.
enum Backend {
    Server { client: Client, project: String },
    Local { session: Box<crate::context::Session>, actor: String },
}

impl Backend {
    async fn open(g: &Global) -> Result<Backend, CliError> {
        if g.server.is_none() {
            let session = Box::new(crate::context::session(g).await?);
            let actor = crate::context::local_actor();
            return Ok(Backend::Local { session, actor });
        }
        let client = Client::from_global(g)?;
        let project = project_name(&client, g).await?;
        Ok(Backend::Server { client, project })
    }

    /// The API's path of the project's secrets, or the environment's with `env`.
    fn path(project: &str, env: Option<&str>, name: Option<&str>) -> String {
        let base = match env {
            Some(env) => format!("/projects/{}/environments/{}/secrets", seg(project), seg(env)),
            None => format!("/projects/{}/secrets", seg(project)),
        };
        name.map_or(base.clone(), |n| format!("{base}/{}", seg(n)))
    }

    /// Local mode: the environment must be one of the project file's (as the API checks).
    fn known(session: &crate::context::Session, env: &str) -> Result<(), CliError> {
        let project = &session.loaded.project;
        if project.environment(env).is_some() {
            return Ok(());
        }
        Err(CliError::usage(project.unknown_environment(env)))
    }

    async fn set(&self, env: Option<&str>, name: &str, value: &str) -> Result<(), CliError> {
        match self {
            Backend::Server { client, project } => {
                let body = json!({"value": value});
                client.call::<Value>(Method::PUT, &Self::path(project, env, Some(name)), Some(&body)).await?;
            }
            Backend::Local { session, actor } => {
                let project = &session.loaded.project.name;
                match env {
                    Some(env) => {
                        Self::known(session, env)?;
                        session.control.put_secret(project, env, name, value, actor).await?;
                    }
                    None => session.control.put_project_secret(project, name, value, actor).await?,
                }
                session.control.audit(actor, "secret.set", &audit_target(project, env, name), None).await?;
            }
        }
        Ok(())
    }

    async fn list(&self, env: Option<&str>) -> Result<Vec<Value>, CliError> {
        match self {
            Backend::Server { client, project } => client.get(&Self::path(project, env, None)).await,
            Backend::Local { session, .. } => {
                let project = &session.loaded.project.name;
                let list = match env {
                    Some(env) => {
                        Self::known(session, env)?;
                        session.control.list_secrets(project, env).await?
                    }
                    None => session.control.list_project_secrets(project).await?,
                };
                Ok(list.iter().map(serde_json::to_value).collect::<Result<_, _>>()?)
            }
        }
    }

    async fn delete(&self, env: Option<&str>, name: &str) -> Result<(), CliError> {
        match self {
            Backend::Server { client, project } => {
                client.call::<Value>(Method::DELETE, &Self::path(project, env, Some(name)), None).await?;
            }
            Backend::Local { session, actor } => {
                let project = &session.loaded.project.name;
                let deleted = match env {
                    Some(env) => session.control.delete_secret(project, env, name).await?,
                    None => session.control.delete_project_secret(project, name).await?,
                };
                if !deleted {
                    return Err(CliError::usage(format!("no secret {name} in {}", scope(env))));
                }
                session.control.audit(actor, "secret.delete", &audit_target(project, env, name), None).await?;
            }
        }
        Ok(())
    }
}

/// The audit log's target, as the API writes it.
fn audit_target(project: &str, env: Option<&str>, name: &str) -> String {
    match env {
        Some(env) => format!("secret:{project}/{env}/{name}"),
        None => format!("secret:{project}/{name}"),
    }
}

/// The scope as the messages name it.
fn scope(env: Option<&str>) -> String {
    env.map_or_else(|| "the project".to_string(), |env| format!("environment `{env}`"))
}

/// A secret's name must be a variable name; checked before anything is read or sent.
fn check_name(name: &str) -> Result<(), CliError> {
    if terrace_model::names::is_valid_variable_name(name) && name.len() <= 128 {
        Ok(())
    } else {
        let shown: String = name.chars().take(80).collect();
        Err(CliError::usage(format!(
            "`{shown}` is not a variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128 characters)"
        )))
    }
}

pub async fn secret(g: &Global, command: SecretCommand) -> Result<ExitCode, CliError> {
    let backend = Backend::open(g).await?;
    match command {
        SecretCommand::Set { name, env } => {
            check_name(&name)?;
            let value = tokio::task::spawn_blocking(|| {
                let mut value = String::new();
                std::io::stdin().read_to_string(&mut value).map(|_| value)
            })
            .await
            .map_err(|e| CliError::Failed(e.to_string()))?
            .map_err(|e| CliError::usage(format!("cannot read the secret from stdin: {e}")))?;
            // A trailing newline from `echo` is not part of the secret.
            let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
            if value.len() > MAX_VALUE {
                return Err(CliError::usage(format!("a secret value is at most {MAX_VALUE} bytes")));
            }
            let env = env.as_deref();
            backend.set(env, &name, value).await?;
            match env {
                Some(env) => errln!("secret {name} set for environment `{env}`; its next runs get it"),
                None => errln!(
                    "secret {name} set for the project; the next runs of every environment get it (unless it has its own)"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::List { env, json } => {
            let list = backend.list(env.as_deref()).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let rows = list
                    .iter()
                    .map(|s| {
                        vec![
                            s["name"].as_str().unwrap_or("").to_string(),
                            s["scope"].as_str().unwrap_or("").to_string(),
                            s["updated_by"].as_str().unwrap_or("").to_string(),
                            s["updated_at"].as_str().unwrap_or("").to_string(),
                        ]
                    })
                    .collect();
                table::print(&["NAME", "SCOPE", "SET BY", "UPDATED"], rows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretCommand::Delete { name, env } => {
            check_name(&name)?;
            let env = env.as_deref();
            backend.delete(env, &name).await?;
            let whose = if env.is_some() { "its" } else { "its environments'" };
            errln!("secret {name} deleted from {}; {whose} next runs no longer get it", scope(env));
            Ok(ExitCode::SUCCESS)
        }
    }
}
