//! The engine's pipeline semantics in process: a scripted executor (no process at all)
//! on an in-memory store. Order, skips, retries, delete and recovery, beside the
//! end-to-end tests of crates/cli that run the same on the real binary.

mod delete;
mod order;
mod recovery;
mod resume;
mod retries;
mod scripted;
mod skips;

use std::sync::Arc;
use std::time::Duration;

use scripted::Scripted;
use terrace_engine::{Engine, EnvAccess, PipelineOutcome, Request};
use terrace_exec::Executors;
use terrace_model::Event;
use terrace_store::{Cipher, SqlStore, Store};
use tokio_util::sync::CancellationToken;

pub struct Fixture {
    pub engine: Engine,
    pub executor: Scripted,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A project from `yaml`, in a temporary folder, on an in-memory store.
    pub async fn new(yaml: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let project = terrace_model::parse::parse_project("terrace.yaml", yaml).unwrap();
        let store: Arc<dyn Store> = Arc::new(SqlStore::open_in_memory(Cipher::new([7; 32])).await.unwrap());
        let executor = Scripted::new();
        let engine = Engine {
            project,
            project_root: dir.path().to_path_buf(),
            data_dir: dir.path().join(".terrace"),
            store: store.clone(),
            executors: Executors::empty().with(Arc::new(executor.clone())),
            parallel: 1,
            invoking_env: Arc::new(vec![("PATH".into(), "/usr/bin:/bin".into())]),
            env_access: EnvAccess::Invoking,
            trigger: "test".into(),
            owner: terrace_engine::local_owner(),
            lease: terrace_engine::LEASE,
            kill_grace: Duration::from_secs(1),
            state_backend: None,
        };
        Fixture { engine, executor, store, _dir: dir }
    }

    pub async fn run(&self, env: &str, event: Event) -> PipelineOutcome {
        self.request(env, event, None).await
    }

    pub async fn request(&self, env: &str, event: Event, job: Option<&str>) -> PipelineOutcome {
        let req = Request { job: job.map(str::to_string), ..Request::new(env, event) };
        let observer: Arc<dyn terrace_engine::Observer> = Arc::new(terrace_engine::progress::Silent);
        self.engine.run_event(req, observer, CancellationToken::new()).await.unwrap()
    }
}

/// The state of `job` in a pipeline's outcome, and its reason.
pub fn state_of(out: &PipelineOutcome, job: &str) -> (String, String) {
    let r = out.jobs.iter().find(|j| j.job == job).unwrap_or_else(|| panic!("no {job} in {out:?}"));
    (r.state.to_string(), r.reason.clone().unwrap_or_default())
}
