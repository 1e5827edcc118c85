//! FIXTURE LOADER, benchmark only: fills a store with environments and finished runs
//! by inserting rows straight into its SQLite schema in one transaction (seconds, where
//! 100,000 runs through the `Store` trait, two commits each, would take minutes). The
//! store is opened with `SqlStore::open` first, so the schema is the shipped one,
//! and the smoke test reads the rows back through the trait, so a schema change that
//! breaks this loader fails there.

use std::path::Path;

use terrace_model::{EnvironmentId, Event, RunId};
use terrace_store::{EnvState, RunState};

pub const PROJECT: &str = "bench";

pub fn env_name(i: usize) -> String {
    format!("env-{i:05}")
}

/// `envs` environments in state running, each with `runs_per_env` succeeded start runs
/// of jobs `j0`..`j9` (round robin), an hour of history spread over the runs.
pub async fn seed(db: &Path, envs: usize, runs_per_env: usize) -> anyhow::Result<()> {
    let db = db.to_path_buf();
    tokio::task::spawn_blocking(move || insert(&db, envs, runs_per_env)).await?
}

fn insert(db: &Path, envs: usize, runs_per_env: usize) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let tx = conn.transaction()?;
    let base = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 - 3_600_000_000_000;
    let step = 3_600_000_000_000 / (envs * runs_per_env).max(1) as i64;
    let mut at = base;
    {
        let mut env = tx.prepare(
            "INSERT INTO environments (id, project, name, state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )?;
        let mut run = tx.prepare(
            "INSERT INTO runs (id, environment_id, project, environment, job, event, forced, trigger, state,
                               exit_code, attempts, created_at, started_at, finished_at, number)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'bench-seed', ?7, 0, 1, ?8, ?9, ?10, ?11)",
        )?;
        let mut numbers = tx.prepare("INSERT INTO run_numbers (project, environment, newest) VALUES (?1, ?2, ?3)")?;
        for e in 0..envs {
            let env_id = EnvironmentId::new().to_string();
            let name = env_name(e);
            env.execute(rusqlite::params![env_id, PROJECT, name, EnvState::Running.as_str(), at])?;
            for r in 0..runs_per_env {
                at += step;
                run.execute(rusqlite::params![
                    RunId::new().to_string(),
                    env_id,
                    PROJECT,
                    name,
                    format!("j{}", r % 10),
                    Event::Start.as_str(),
                    RunState::Succeeded.as_str(),
                    at,
                    at + 1_000_000,
                    at + 2_000_000,
                    r as i64 + 1
                ])?;
            }
            numbers.execute(rusqlite::params![PROJECT, name, runs_per_env as i64])?;
        }
    }
    tx.commit()?;
    Ok(())
}
