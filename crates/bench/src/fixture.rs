//! A throw-away project for one scenario: a temp folder holding a generated
//! terrace.yaml (written as JSON, which is YAML), an empty job source folder, the data
//! folder with its SQLite store, and an `Engine` built the way the CLI builds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use terrace_engine::Engine;
use terrace_model::parse::parse_project;
use terrace_store::{Cipher, SqlStore, Store};

/// Where the scenarios find the programs they run.
#[derive(Clone, Debug)]
pub struct Programs {
    /// This benchmark's own binary: its `stamp` and `emit` modes are job programs.
    pub helper: PathBuf,
    /// The `terrace` CLI, for the scenarios that run it as a user would.
    pub terrace: Option<PathBuf>,
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub data: PathBuf,
}

/// A job of the generated project.
pub fn job(argv: &[String], depends_on: &[String]) -> Value {
    json!({
        "source": "src",
        "events": ["start"],
        "commands": {"start": argv},
        "depends_on": depends_on,
    })
}

impl Fixture {
    /// Writes `project` (a terrace.yaml as JSON) into a new temp folder.
    pub fn new(project: &Value) -> anyhow::Result<Fixture> {
        let dir = tempfile::Builder::new().prefix("terrace-bench-").tempdir()?;
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("src"))?;
        std::fs::write(root.join("terrace.yaml"), serde_json::to_string_pretty(project)?)?;
        let data = dir.path().join("data");
        Ok(Fixture { dir, root, data })
    }

    pub fn project_file(&self) -> PathBuf {
        self.root.join("terrace.yaml")
    }

    /// Opens the store as shipped (`SqlStore::open`: WAL, synchronous=NORMAL).
    pub async fn store(&self) -> anyhow::Result<Arc<SqlStore>> {
        open_store(&self.data).await
    }

    /// The engine as `terrace up` builds it, with `parallel` jobs at a time.
    pub async fn engine(&self, store: Arc<SqlStore>, parallel: usize) -> anyhow::Result<Engine> {
        let text = std::fs::read_to_string(self.project_file())?;
        let project = parse_project("terrace.yaml", &text).map_err(|e| anyhow::anyhow!("{e}"))?;
        // Only what a job inherits anyway: the engine passes PATH, HOME, LANG, TZ on.
        let invoking: Vec<(String, String)> =
            std::env::vars().filter(|(k, _)| matches!(k.as_str(), "PATH" | "HOME" | "LANG" | "TZ")).collect();
        Ok(Engine {
            project,
            project_root: self.root.clone(),
            data_dir: self.data.clone(),
            store: store as Arc<dyn Store>,
            executors: terrace_exec::Executors::builtin(),
            parallel,
            invoking_env: Arc::new(invoking),
            env_access: terrace_engine::EnvAccess::Invoking,
            trigger: "bench".into(),
            owner: terrace_engine::local_owner(),
            lease: terrace_engine::LEASE,
            kill_grace: Duration::from_secs(5),
            state_backend: None,
        })
    }
}

pub async fn open_store(data: &Path) -> anyhow::Result<Arc<SqlStore>> {
    std::fs::create_dir_all(data)?;
    let cipher = Cipher::load_or_create(data)?;
    let store = SqlStore::open_sqlite(&data.join("terrace.db"), cipher).await.context("opening the store")?;
    Ok(Arc::new(store))
}

/// PATH as the jobs get it, for floors that spawn the same programs.
pub fn path_var() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
}

/// `program` looked up in PATH, as the executor does before it spawns: given a path,
/// std spawns with posix_spawn; given a bare name beside a custom PATH, it falls back
/// to fork + exec, which would make the floor slower than Terrace's own spawn.
pub fn which(program: &str) -> PathBuf {
    std::env::split_paths(&path_var())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}
