//! Finding the project file and the data folder, opening the store, and building the
//! engine: what every command needs before it can do anything.

use crate::out::errln;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use terrace_engine::project_file::{self, ProjectFileError};
use terrace_engine::{Engine, EnvAccess, SecretValues, recovery};
use terrace_model::Project;
use terrace_store::control::ControlStore;
use terrace_store::{Cipher, SqlStore, Store};

use crate::args::Global;
use crate::exit::CliError;

pub struct Loaded {
    pub project: Project,
    pub root: PathBuf,
}

/// The project file: `--project`, or `terrace.yaml` in the current folder.
pub fn project_file(g: &Global) -> Result<PathBuf, CliError> {
    let file = g.project.clone().unwrap_or_else(|| PathBuf::from("terrace.yaml"));
    let file = if file.is_dir() { file.join("terrace.yaml") } else { file };
    if !file.is_file() {
        return Err(CliError::usage(format!(
            "no project file at {} (run terrace in the folder holding terrace.yaml, or pass --project PATH)",
            file.display()
        )));
    }
    std::path::absolute(&file).map_err(|e| CliError::usage(format!("{}: {e}", file.display())))
}

/// Reads and validates the project file; every problem is reported at once.
pub fn load_project(g: &Global) -> Result<Loaded, CliError> {
    let file = project_file(g)?;
    let project = project_file::load(&file, &display_name(&file)).map_err(usage)?;
    let root = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    Ok(Loaded { project, root })
}

/// A project file that cannot be used is a configuration error (exit 2).
pub fn usage(e: ProjectFileError) -> CliError {
    CliError::Usage(e.to_string())
}

/// The file as the user would name it: relative to the current folder when inside it.
pub fn display_name(file: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| file.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| file.to_path_buf())
        .display()
        .to_string()
}

/// The data folder, made absolute once here: jobs run in their own working copies, so a
/// path relative to where `terrace` was started would point nowhere for them.
pub fn data_dir(g: &Global, root: &Path) -> PathBuf {
    let dir = g.data.clone().unwrap_or_else(|| root.join(".terrace"));
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Opens the store and resolves whatever a dead process left running.
pub async fn open_store(data: &Path) -> Result<Arc<dyn Store>, CliError> {
    Ok(open_stores(data).await?.0)
}

/// The store, and the same store's control side (secrets).
async fn open_stores(data: &Path) -> Result<(Arc<dyn Store>, Arc<SqlStore>), CliError> {
    terrace_store::data_dir::prepare(data)
        .map_err(|e| CliError::Failed(format!("cannot create the data folder {}: {e}", data.display())))?;
    let cipher = Cipher::load_or_create(data)?;
    let sqlite = Arc::new(SqlStore::open_sqlite(&data.join("terrace.db"), cipher).await?);
    let store: Arc<dyn Store> = sqlite.clone();
    let executors = terrace_exec::Executors::builtin();
    for r in recovery::recover(store.as_ref(), data, &terrace_engine::local_owner(), &executors).await? {
        errln!("note: run {} (job `{}` in `{}`) marked interrupted: {}", r.run, r.job, r.environment, r.reason);
    }
    Ok((store, sqlite))
}

/// Who runs this command, as runs, approvals and the audit log record it: `cli:<user>`.
pub fn local_actor() -> String {
    format!("cli:{}", ACTOR.get_or_init(user_name))
}

static ACTOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Reads who runs this process once, before the async runtime starts: the account lookup
/// may read files (or ask NSS), which no async worker should wait on.
pub fn init_actor() {
    ACTOR.get_or_init(user_name);
}

/// `$USER`, else `$LOGNAME`, else the account of this process's uid (cron, `env -i` and
/// containers often set neither), else `uid:N`: never one name shared by every user.
fn user_name() -> String {
    let from_env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if let Some(name) = from_env("USER").or_else(|| from_env("LOGNAME")) {
        return name;
    }
    let uid = nix::unistd::Uid::current();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) if !user.name.is_empty() => user.name,
        _ => format!("uid:{uid}"),
    }
}

pub struct Session {
    pub loaded: Loaded,
    pub store: Arc<dyn Store>,
    pub control: Arc<dyn ControlStore>,
    /// Destroy times, schedules, drift checks, notifications.
    pub timed: Arc<dyn terrace_store::ScheduleStore>,
    /// Preview environments of pull requests.
    pub previews: Arc<dyn terrace_store::PreviewStore>,
    /// All of the store at once, for what reads it as a server does (the API's views).
    pub sql: Arc<SqlStore>,
    pub data: PathBuf,
}

pub async fn session(g: &Global) -> Result<Session, CliError> {
    let mut loaded = load_project(g)?;
    let data = data_dir(g, &loaded.root);
    let (store, sqlite) = open_stores(&data).await?;
    // Environments created at run time (clones, previews) join the declared ones.
    terrace_engine::runtime_env::load(&mut loaded.project, store.as_ref()).await?;
    Ok(Session {
        loaded,
        store,
        control: sqlite.clone(),
        timed: sqlite.clone(),
        previews: sqlite.clone(),
        sql: sqlite,
        data,
    })
}

impl Session {
    /// The environment's record, when the project knows `env` (declared, or with a record):
    /// else the usage error both modes give for an unknown environment (the API's 404).
    pub async fn require_known(&self, env: &str) -> Result<Option<terrace_store::EnvironmentRecord>, CliError> {
        let project = &self.loaded.project;
        let record = self.store.get_environment(&project.name, env).await?;
        if record.is_none() && project.environment(env).is_none() {
            return Err(CliError::usage(project.unknown_environment(env)));
        }
        Ok(record)
    }

    /// The store's secrets of `env`, for `${secret:NAME}` (the same store a server on this
    /// data folder keeps them in).
    pub async fn secrets(&self, env: &str) -> Result<SecretValues, CliError> {
        Ok(SecretValues(self.control.secret_values(&self.loaded.project.name, env).await?))
    }

    pub fn engine(self, exec: &crate::args::ExecFlags) -> Engine {
        let parallel = exec.parallel;
        let parallel = parallel
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
        Engine {
            project: self.loaded.project,
            project_root: self.loaded.root,
            data_dir: self.data,
            // Terraform's state in the store, served on 127.0.0.1 once a run needs it.
            state_backend: Some(terrace_server::state_backend::LocalStateBackend::new(self.store.clone())),
            store: self.store,
            executors: terrace_exec::Executors::builtin(),
            parallel,
            invoking_env: Arc::new(std::env::vars().collect()),
            env_access: EnvAccess::Invoking,
            trigger: local_actor(),
            owner: terrace_engine::local_owner(),
            lease: terrace_engine::LEASE,
            kill_grace: exec.kill_grace,
        }
    }
}
