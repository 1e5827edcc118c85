//! `terrace server`: the HTTP API (`http`), the application layer it calls (`app`), and
//! the scheduler that claims queued event requests and runs them through the engine.
//! `serve` wires them: open the store, recover, listen, and stop gracefully.

pub mod agents;
pub mod app;
pub mod attempt_outputs;
pub mod config;
pub mod database;
pub mod gitops;
pub mod http;
pub mod import;
pub mod metrics;
pub mod previews;
pub mod scheduler;
pub mod state_backend;

use std::future::Future;
use std::time::Duration;

use terrace_store::StoreError;
use tokio_util::sync::CancellationToken;

use crate::app::{App, Settings};
pub use crate::config::{ConfigError, ConfigLayer, Database, HttpLimits, Rate, ServerConfig};
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
    /// `TERRACE_CLOCK_OFFSET` (tests only) could not be read.
    #[error("{0}")]
    Clock(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// How often the forge is asked whether pull requests with a preview are still open.
const PREVIEW_SWEEP: Duration = Duration::from_secs(300);

/// Runs the server until `shutdown` resolves, then stops claiming, lets running
/// requests finish within the grace period, and returns.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // FAILPOINTS=... makes chosen code fail, for tests only (see Cargo.toml's `failpoints`).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let store = open_store(&config.database, &config.data_dir).await?;
    let data_dir = std::path::absolute(&config.data_dir)
        .map_err(|source| ServerError::Io { context: format!("{}", config.data_dir.display()), source })?;
    let settings = Settings {
        data_dir,
        max_attempts: config.max_attempts,
        log_poll: std::time::Duration::from_millis(250),
        allow_env: config.allow_env.clone(),
        forges: config.forges.clone(),
        clock: terrace_engine::timed::Clock::from_env().map_err(ServerError::Clock)?,
        max_drift_checks: config.max_drift_checks,
        agent_lease: config.lease,
        kubernetes: config.kubernetes.clone(),
    };
    let app = App::new(store.server_store(), settings, terrace_engine::replica_owner());
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
    let mut limits = config.http.clone();
    limits.max_connections = fit_open_files(limits.max_connections);
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
    // Jobs run on this host: they reach the state backend through the listener.
    let _ = app.state_url.set(state_backend::local_url(addr));
    let stop = CancellationToken::new();
    let sched_cfg = scheduler::SchedulerConfig {
        max_runs: config.max_runs,
        parallel: config.parallel,
        lease: config.lease,
        poll: config.poll,
        shutdown_grace: config.shutdown_grace,
        kill_grace: config.kill_grace,
    };
    let wakeups = store
        .0
        .is_postgres()
        .then(|| tokio::spawn(scheduler::listen_for_wakeups(store.0.clone(), app.clone(), config.poll, stop.clone())));
    let timed = tokio::spawn(scheduler::timed::run(app.clone(), config.poll.max(Duration::from_secs(1)), stop.clone()));
    let notifier =
        tokio::spawn(scheduler::notify::run(app.clone(), config.poll.max(Duration::from_secs(1)), stop.clone()));
    let scheduler = tokio::spawn(scheduler::run(app.clone(), sched_cfg, stop.clone()));
    let deliveries = tokio::spawn(gitops::worker::run(
        app.clone(),
        gitops::worker::WorkerConfig::new(config.lease, config.poll),
        gitops::handlers(),
        stop.clone(),
    ));
    let previews = tokio::spawn(previews::run(
        app.clone(),
        config.poll.max(Duration::from_millis(500)),
        PREVIEW_SWEEP,
        stop.clone(),
    ));
    let stop_serving = CancellationToken::new();
    let graceful = {
        let (app, stop, stop_serving) = (app.clone(), stop.clone(), stop_serving.clone());
        async move {
            shutdown.await;
            eprintln!("terrace server stopping: no new requests are claimed; running ones may finish");
            stop.cancel();
            app.shutdown.cancel();
            stop_serving.cancel();
        }
    };
    let watcher = tokio::spawn(graceful);
    let limiter = limits.rate.map(http::limit::Limiter::new);
    if let Some(l) = &limiter {
        tokio::spawn(l.clone().forget_quiet_clients(stop_serving.clone()));
    }
    let router = http::router(app.clone(), limiter, limits.request_timeout);
    http::listen::serve(listener, router, limits, stop_serving.clone()).await;
    watcher.abort();
    stop.cancel();
    let _ = scheduler.await;
    let _ = timed.await;
    let _ = deliveries.await;
    let _ = previews.await;
    let _ = notifier.await;
    if let Some(wakeups) = wakeups {
        let _ = wakeups.await;
    }
    store.close().await;
    eprintln!("terrace server stopped");
    Ok(())
}

/// Files the process keeps for itself beside its connections: the store, logs, pipes of
/// running jobs, the listening socket.
const RESERVED_FILES: u64 = 256;

/// Raises the soft limit of open files to the hard one, and lowers `max_connections`
/// (with a warning) if the connections could still exhaust it: an `accept` that fails
/// with "Too many open files" would leave `/healthz` unanswered.
fn fit_open_files(max_connections: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return max_connections };
    let soft = if hard > soft && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() { hard } else { soft };
    let room = soft.saturating_sub(RESERVED_FILES).max(16) as usize;
    if max_connections > room {
        eprintln!(
            "warning: max_connections lowered from {max_connections} to {room}: this process may open {soft} files \
             (ulimit -n) and keeps {RESERVED_FILES} for itself"
        );
        return room;
    }
    max_connections
}
