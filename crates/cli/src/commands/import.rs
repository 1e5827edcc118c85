//! `terrace import --database URL`: this project's local data folder moved into a
//! server's store (see `terrace_server::import`), and what moved, said.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use terrace_server::Database;
use terrace_store::crypto::MASTER_KEY_ENV;
use terrace_store::{Cipher, ControlStore, SqlStore};

use crate::args::{Global, ImportArgs};
use crate::context::{data_dir, load_project};
use crate::exit::CliError;
use crate::out::outln;

/// The data folder's store, opened with the key it was sealed with: its own `master.key`
/// (what local mode uses unless TERRACE_MASTER_KEY is set), else TERRACE_MASTER_KEY. The
/// store's master-key check tells which one that is; the environment's is tried only
/// when the folder's own key is refused.
async fn open_source(file: &Path, dir: &Path) -> Result<SqlStore, CliError> {
    let Some(own) = Cipher::from_key_file(dir)? else {
        return Ok(SqlStore::open_sqlite(file, Cipher::load_or_create(dir)?).await?);
    };
    match SqlStore::open_sqlite(file, own).await {
        Err(e) if e.is_wrong_master_key() && std::env::var_os(MASTER_KEY_ENV).is_some() => {
            Ok(SqlStore::open_sqlite(file, Cipher::load_or_create(dir)?).await?)
        }
        opened => Ok(opened?),
    }
}

pub async fn import(g: &Global, a: &ImportArgs) -> Result<ExitCode, CliError> {
    let loaded = load_project(g)?;
    let source = data_dir(g, &loaded.root);
    let file = source.join("terrace.db");
    if !file.is_file() {
        return Err(CliError::usage(format!(
            "no local store at {} (pass --data DIR, the folder `terrace up` kept its state in)",
            file.display()
        )));
    }
    let from = open_source(&file, &source).await?;
    let database = Database::parse(&a.database).map_err(|e| CliError::usage(e.to_string()))?;
    let key_dir: PathBuf = match &database {
        Database::Sqlite(path) => std::path::absolute(path)?.parent().map(Path::to_path_buf).unwrap_or_default(),
        Database::Postgres(_) if std::env::var_os(MASTER_KEY_ENV).is_none() => {
            return Err(CliError::usage(
                "set TERRACE_MASTER_KEY to the servers' master key: what is moved is sealed with it",
            ));
        }
        Database::Postgres(_) => source.clone(),
    };
    if database.sqlite_path().is_some_and(|p| std::path::absolute(p).ok() == std::path::absolute(&file).ok()) {
        return Err(CliError::usage("the server's store is the data folder's own: nothing to move"));
    }
    let to = terrace_server::open_store(&database, &key_dir).await?;
    let report = terrace_server::import::import(&from, to.0.as_ref(), &loaded.project.name).await?;
    // In the server's audit log like every other change of its secrets: counts, no names.
    let imported = report.environments.iter().filter(|e| e.reason.is_none()).count();
    let detail = format!(
        "from {}: {imported} environments, {} states, secrets {} moved, {} kept",
        source.display(),
        report.states.len(),
        report.secrets.moved,
        report.secrets.kept
    );
    let target = format!("project:{}", loaded.project.name);
    to.0.audit(&crate::context::local_actor(), "import", &target, Some(&detail)).await?;
    to.close().await;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    for e in &report.environments {
        match &e.reason {
            Some(why) => outln!("environment `{}`: {} ({why})", e.environment, e.outcome),
            None => outln!("environment `{}`: {}, {} runs, {} outputs", e.environment, e.outcome, e.runs, e.outputs),
        }
    }
    for (state, versions) in &report.states {
        outln!("state {state}: {versions} versions");
    }
    for state in &report.states_kept {
        outln!("state {state}: the server has it already, left as it is");
    }
    let secrets = &report.secrets;
    if secrets.moved + secrets.kept > 0 {
        outln!(
            "secrets: {} moved, {} kept (the server has them already, left as they are)",
            secrets.moved,
            secrets.kept
        );
    }
    if report.environments.is_empty() && report.states.is_empty() && secrets.moved + secrets.kept == 0 {
        outln!("nothing to move: {} holds no environment of project `{}`", source.display(), report.project);
    }
    Ok(ExitCode::SUCCESS)
}
