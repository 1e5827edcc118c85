//! `terrace server`: the HTTP API (`http`), the application layer it calls (`app`), and
//! the scheduler that claims queued event requests and runs them through the engine.
//! `serve` wires them: open the store, recover, listen, and stop gracefully.

pub mod app;
pub mod config;
pub mod database;
pub mod http;
pub mod metrics;
pub mod scheduler;

use std::future::Future;

use terrace_store::StoreError;
use tokio_util::sync::CancellationToken;

use crate::app::{App, Settings};
pub use crate::config::{ConfigError, ConfigLayer, Database, ServerConfig};
pub use crate::database::{OpenedStore, open_store};
pub use crate::http::openapi_json;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A project given at start could not be registered.
    #[error("project {path}: {message}")]
    Project { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the server until `shutdown` resolves, then stops claiming, lets running
/// requests finish within the grace period, and returns.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let store = open_store(&config.database, &config.data_dir).await?;
    let data_dir = std::path::absolute(&config.data_dir)
        .map_err(|source| ServerError::Io { context: format!("{}", config.data_dir.display()), source })?;
    let settings = Settings {
        data_dir,
        max_attempts: config.max_attempts,
        log_poll: std::time::Duration::from_millis(250),
        allow_env: config.allow_env.clone(),
    };
    let app = App::new(store.server_store(), settings, terrace_engine::owner_id());
    for path in &config.projects {
        let absolute = std::path::absolute(path)
            .map_err(|source| ServerError::Io { context: format!("{}", path.display()), source })?;
        let view = app::projects::register(&app, None, &absolute.display().to_string())
            .await
            .map_err(|e| ServerError::Project { path: path.display().to_string(), message: e.to_string() })?;
        tracing::info!(project = %view.name, path = %view.path, "project registered");
    }
    if let Err(e) = scheduler::reap(&app).await {
        tracing::warn!(error = %e, "could not look for requests of dead servers");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.listen, source })?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {addr}, reachable from other machines: put TLS in front (a reverse proxy) and \
             keep API tokens secret"
        );
    }
    eprintln!("terrace server listening on http://{addr}");
    let stop = CancellationToken::new();
    let sched_cfg = scheduler::SchedulerConfig {
        max_runs: config.max_runs,
        parallel: config.parallel,
        lease: config.lease,
        poll: config.poll,
        shutdown_grace: config.shutdown_grace,
        kill_grace: config.kill_grace,
    };
    let wakeups = match &store {
        OpenedStore::Postgres(pg) => {
            Some(tokio::spawn(scheduler::listen_for_wakeups(pg.clone(), app.clone(), config.poll, stop.clone())))
        }
        OpenedStore::Sqlite(_) => None,
    };
    let scheduler = tokio::spawn(scheduler::run(app.clone(), sched_cfg, stop.clone()));
    let graceful = {
        let (app, stop) = (app.clone(), stop.clone());
        async move {
            shutdown.await;
            eprintln!("terrace server stopping: no new requests are claimed; running ones may finish");
            stop.cancel();
            app.shutdown.cancel();
        }
    };
    let served = axum::serve(listener, http::router(app.clone())).with_graceful_shutdown(graceful).await;
    stop.cancel();
    let _ = scheduler.await;
    if let Some(wakeups) = wakeups {
        let _ = wakeups.await;
    }
    store.close().await;
    eprintln!("terrace server stopped");
    served.map_err(|source| ServerError::Io { context: "serve HTTP".into(), source })
}
