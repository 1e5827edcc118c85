//! `terrace server`: resolves the settings (flags, environment, config file) and runs
//! the server until SIGTERM or Ctrl-C.

use crate::out::out;
use std::process::ExitCode;

use terrace_server::{ConfigLayer, ServerConfig};

use crate::args::Global;
use crate::exit::CliError;
use crate::server_args::ServerArgs;

pub async fn server(g: &Global, a: ServerArgs) -> Result<ExitCode, CliError> {
    if a.openapi {
        out!("{}", terrace_server::openapi_json());
        return Ok(ExitCode::SUCCESS);
    }
    let mut projects: Vec<_> = g.project.iter().cloned().collect();
    projects.extend(a.projects);
    let top = ConfigLayer {
        listen: a.listen,
        database: a.database,
        data: g.data.clone(),
        projects: Some(projects),
        max_runs: a.max_runs,
        max_drift_checks: a.max_drift_checks,
        parallel: a.parallel,
        max_attempts: a.max_attempts,
        lease: a.lease,
        poll: a.poll,
        shutdown_grace: a.shutdown_grace,
        kill_grace: a.kill_grace,
        allow_env: Some(a.allow_env),
        header_timeout: a.header_timeout,
        idle_timeout: a.idle_timeout,
        request_timeout: a.request_timeout,
        max_connections: a.max_connections,
        rate_limit: a.rate_limit,
        rate_burst: a.rate_burst,
        github_webhook_secret: a.github_webhook_secret,
        gitlab_webhook_token: a.gitlab_webhook_token,
        github_token: a.github_token,
        gitlab_token: a.gitlab_token,
        github_api_url: a.github_api_url,
        gitlab_api_url: a.gitlab_api_url,
        public_url: a.public_url,
        kubernetes: Some(terrace_server::config::KubernetesLayer {
            helper_image: a.kubernetes_helper_image,
            server_url: a.kubernetes_server_url,
        }),
    };
    let config = ServerConfig::resolve(top, a.config.as_deref()).map_err(|e| CliError::usage(e.to_string()))?;
    terrace_server::serve(config, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
