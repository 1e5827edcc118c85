//! The engine: turns an environment event into a pipeline run over the job graph,
//! runs each job on the executor it names (a registry, never one hard-wired) with its
//! variables, limits and retries, records every step in the store, and recovers runs a
//! crashed process left behind, through the executors that ran them.

pub mod approvals;
pub mod approved_plans;
mod artifact_vars;
mod attempt;
mod commit;
mod debug;
mod env_lock;
pub mod error;
mod fingerprint;
mod git_source;
mod job_run;
mod lease;
mod locate;
pub mod notify;
mod on_failure;
mod orphans;
mod outputs;
mod pipeline;
pub mod progress;
pub mod project_file;
pub mod promote;
mod reattach;
pub mod recovery;
pub mod removed;
pub mod resume;
mod run_env;
pub mod run_ref;
pub mod runtime_env;
mod saved_plans;
mod secrets;
mod snapshot;
pub mod state_backend;
mod steps;
pub mod store_lock;
pub mod timed;
pub mod work;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use terrace_exec::Executors;
use terrace_model::Project;
use terrace_store::{Owner, Store};

pub use debug::DebugRequest;
pub use error::EngineError;
pub use lease::{LEASE, hostname, local_owner, replica_owner};
pub use on_failure::FollowUp;
pub use pipeline::{JobResult, PipelineOutcome, Request};
pub use progress::{Observer, Progress};
pub use run_env::{EnvAccess, SecretValues};
pub use run_ref::{RunRefError, find_run};
pub use runtime_env::{NewEnvironment, create_runtime_environment};
pub use state_backend::StateBackend;
pub use terrace_store::Origin;

/// Everything the engine needs to run one project's events.
pub struct Engine {
    pub project: Project,
    /// The folder holding `terrace.yaml`; job sources are relative to it.
    pub project_root: PathBuf,
    /// `.terrace/` or `--data`: work folders and locks live here.
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    /// Where jobs run, by the name a job's `executor:` gives (`Executors::builtin()`).
    pub executors: Executors,
    /// Independent jobs run at the same time, up to this many.
    pub parallel: usize,
    /// The invoking environment (for `${env:NAME}`, the allow-list and `passthrough`).
    pub invoking_env: Arc<Vec<(String, String)>>,
    /// What of `invoking_env` jobs may read: all of it locally, an allow-list on a server.
    pub env_access: EnvAccess,
    /// Who asked, recorded on every run (`cli:<user>`).
    pub trigger: String,
    /// Who holds the runs this engine creates (`local_owner`, `replica_owner`).
    pub owner: Owner,
    /// How long a run's lease lasts unless renewed (renewed every third of it). A run
    /// whose holder stops renewing is taken back by any other Terrace once it expires.
    pub lease: Duration,
    /// Between SIGTERM and SIGKILL when a job is stopped.
    pub kill_grace: Duration,
    /// Terraform's `http` backend for the state kept in the store; `None`: Terraform
    /// keeps a local state file per environment under the data folder.
    pub state_backend: Option<Arc<dyn StateBackend>>,
}

impl Engine {
    /// Every job `job` depends on, directly or not.
    pub(crate) fn upstream_of(&self, job: &str) -> std::collections::BTreeSet<&str> {
        self.project.upstream_of(job)
    }

    pub(crate) fn lookup_env(&self, name: &str) -> Option<String> {
        self.invoking_env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}
