//! Helpers shared by the store tests.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use terrace_store::{Cipher, EnvironmentRecord, NewRun, RunRecord, SqliteStore, Store};

pub const KEY: [u8; 32] = [42; 32];

pub struct Fixture {
    pub dir: TempDir,
    pub store: SqliteStore,
}

impl Fixture {
    pub fn db_path(&self) -> PathBuf {
        db_path(self.dir.path())
    }

    /// A second handle on the same file, as another `terrace` process would open it.
    pub async fn reopen(&self) -> SqliteStore {
        SqliteStore::open(&self.db_path(), Cipher::new(KEY)).await.unwrap()
    }
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("terrace.db")
}

pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(dir.path()), Cipher::new(KEY)).await.unwrap();
    Fixture { dir, store }
}

pub async fn env(store: &dyn Store, name: &str) -> EnvironmentRecord {
    store.ensure_environment("shop", name).await.unwrap()
}

pub fn new_run(env: &EnvironmentRecord, job: &str, event: Event, pipeline: Option<PipelineId>) -> NewRun {
    NewRun {
        id: RunId::new(),
        pipeline_id: pipeline,
        environment_id: env.id,
        project: env.project.clone(),
        environment: env.name.clone(),
        job: job.into(),
        event,
        forced: false,
        trigger: "cli:test".into(),
    }
}

pub async fn run(store: &dyn Store, env: &EnvironmentRecord, job: &str) -> RunRecord {
    store.create_run(new_run(env, job, Event::Start, None)).await.unwrap()
}

pub fn unknown_env() -> EnvironmentId {
    EnvironmentId::new()
}
