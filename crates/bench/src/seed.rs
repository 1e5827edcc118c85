//! FIXTURE LOADER, benchmark only: fills a store with environments and finished runs
//! by inserting rows straight into its SQLite schema in one transaction (seconds, where
//! 100,000 runs through the `Store` trait, two commits each, would take minutes). The
//! store is opened with `SqliteStore::open` first, so the schema is the shipped one,
//! and the smoke test reads the rows back through the trait, so a schema change that
//! breaks this loader fails there.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use terrace_model::{EnvironmentId, Event, RunId};
use terrace_store::{EnvState, RunState};

pub const PROJECT: &str = "bench";

pub fn env_name(i: usize) -> String {
    format!("env-{i:05}")
}

/// `envs` environments in state running, each with `runs_per_env` succeeded start runs
/// of jobs `j0`..`j9` (round robin), an hour of history spread over the runs.
pub async fn seed(db: &Path, envs: usize, runs_per_env: usize) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db)).await?;
    let mut tx = conn.begin().await?;
    let base = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 - 3_600_000_000_000;
    let step = 3_600_000_000_000 / (envs * runs_per_env).max(1) as i64;
    let mut at = base;
    for e in 0..envs {
        let env_id = EnvironmentId::new().to_string();
        let name = env_name(e);
        sqlx::query(
            "INSERT INTO environments (id, project, name, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&env_id)
        .bind(PROJECT)
        .bind(&name)
        .bind(EnvState::Running.as_str())
        .bind(at)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        for r in 0..runs_per_env {
            at += step;
            sqlx::query(
                "INSERT INTO runs (id, environment_id, project, environment, job, event, forced, trigger, state,
                                   exit_code, attempts, created_at, started_at, finished_at)
                 VALUES (?, ?, ?, ?, ?, ?, 0, 'bench-seed', ?, 0, 1, ?, ?, ?)",
            )
            .bind(RunId::new().to_string())
            .bind(&env_id)
            .bind(PROJECT)
            .bind(&name)
            .bind(format!("j{}", r % 10))
            .bind(Event::Start.as_str())
            .bind(RunState::Succeeded.as_str())
            .bind(at)
            .bind(at + 1_000_000)
            .bind(at + 2_000_000)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}
