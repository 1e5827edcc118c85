//! The application layer: what the API can do, in terms of projects, environments,
//! events, runs, secrets and tokens. Handlers call these functions; only the store
//! implementations hold SQL.

pub mod access;
pub mod approvals;
pub mod checkouts;
pub mod deliveries;
pub mod environments;
pub mod error;
pub mod events;
pub mod git_projects;
pub mod hooks;
pub mod pool_tokens;
pub mod previews;
pub mod projects;
pub mod promotions;
pub mod recent;
pub mod repo_credentials;
pub mod runs;
pub mod secrets;
pub mod state_summary;
pub mod states;
pub mod views;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use terrace_store::{AgentStore, ControlStore, OutputTicketStore, PreviewStore, ScheduleStore, Store};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

pub use access::Caller;
pub use error::AppError;

/// The store the server needs: the engine's `Store`, the control plane's tables and the
/// time half's (destroy times, schedules, drift, notifications), preview environments and
/// the agents' queue, and the tickets Kubernetes pods send their output files with.
pub trait ServerStore: Store + ControlStore + ScheduleStore + PreviewStore + AgentStore + OutputTicketStore {}
impl<T: Store + ControlStore + ScheduleStore + PreviewStore + AgentStore + OutputTicketStore> ServerStore for T {}

pub type AppResult<T> = Result<T, AppError>;

/// Settings the application layer reads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Work folders, environment locks and the master key live here.
    pub data_dir: PathBuf,
    /// How many times a request may be claimed (a server killed mid-run uses one).
    pub max_attempts: u32,
    /// How often a followed log is polled for new lines.
    pub log_poll: Duration,
    /// The server's environment variables jobs may read (`${env:NAME}`, `passthrough`).
    pub allow_env: Vec<String>,
    /// GitHub and GitLab: webhook secrets, API tokens and base URLs.
    pub forges: crate::config::Forges,
    /// What time it is for TTL destroys, schedules and drift (shifted in tests only).
    pub clock: terrace_engine::timed::Clock,
    /// Drift checks queued or running at once, of all projects.
    pub max_drift_checks: usize,
    /// How long an agent holds a step unless it renews (every third of it).
    pub agent_lease: Duration,
    /// How the kubernetes executor's pods send their output files back.
    pub kubernetes: crate::config::Kubernetes,
}

/// What every part of the server shares: the store, settings, and a way to wake the
/// scheduler when a request is queued.
pub struct App {
    pub store: Arc<dyn ServerStore>,
    pub settings: Settings,
    pub wake_scheduler: Notify,
    /// Wakes the delivery worker when a webhook delivery is kept.
    pub wake_deliveries: Notify,
    /// Wakes the preview reconciler (a pull request's wish changed).
    pub wake_previews: Notify,
    /// This server, the owner of the requests and runs it holds.
    pub instance: terrace_store::Owner,
    pub metrics: Metrics,
    /// Cancelled when the server stops: followed logs end.
    pub shutdown: CancellationToken,
    /// Project files already parsed, re-read when they change.
    pub projects: projects::ProjectCache,
    /// Tokens (by hash) and project records looked up in the last second.
    pub recent_tokens: recent::Recent<access::Caller>,
    pub recent_projects: recent::Recent<terrace_store::control::ProjectRecord>,
    /// Where this server's jobs reach Terraform's state backend, once it listens.
    pub state_url: std::sync::OnceLock<String>,
    /// Wakes the agents' pulls waiting on this server when a step is queued.
    pub agent_wake: Arc<Notify>,
}

impl App {
    pub fn new(store: Arc<dyn ServerStore>, settings: Settings, instance: terrace_store::Owner) -> Arc<App> {
        Arc::new(App {
            store,
            settings,
            wake_scheduler: Notify::new(),
            wake_deliveries: Notify::new(),
            wake_previews: Notify::new(),
            instance,
            metrics: Metrics::new(),
            shutdown: CancellationToken::new(),
            projects: projects::ProjectCache::default(),
            recent_tokens: recent::Recent::default(),
            recent_projects: recent::Recent::default(),
            state_url: std::sync::OnceLock::new(),
            agent_wake: Arc::new(Notify::new()),
        })
    }

    /// The executors this server's engine uses: the built-in ones, `agent` and
    /// `agent-docker`; `kubernetes` returns outputs by upload when pods can reach this
    /// server (`kubernetes.server_url`).
    pub fn executors(&self) -> terrace_exec::Executors {
        let store = self.store.clone() as Arc<dyn terrace_store::AgentStore>;
        let agents = crate::agents::AgentExecutor::new(store.clone(), self.agent_wake.clone());
        let containers = crate::agents::AgentExecutor::containers(store, self.agent_wake.clone());
        let mut executors = terrace_exec::Executors::builtin().with(Arc::new(agents)).with(Arc::new(containers));
        if let Some(base_url) = &self.settings.kubernetes.server_url {
            let inbox = crate::attempt_outputs::StoreInbox {
                store: self.store.clone() as Arc<dyn OutputTicketStore>,
                base_url: base_url.clone(),
            };
            let images = terrace_registry::Client::new().ok().map(|client| {
                Arc::new(crate::attempt_outputs::RegistryCommands { client })
                    as Arc<dyn terrace_exec::kubernetes::upload::ImageCommands>
            });
            let uploads = terrace_exec::kubernetes::upload::Uploads {
                inbox: Arc::new(inbox),
                helper_image: self.settings.kubernetes.helper_image.clone(),
                images,
            };
            executors = executors.with(Arc::new(terrace_exec::KubernetesExecutor::new().with_uploads(uploads)));
        }
        executors
    }
}
