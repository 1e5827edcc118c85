//! The audit trail of an environment on PostgreSQL: append-only, kept after the
//! environment is deleted.

use sqlx::PgPool;
use sqlx::postgres::PgRow;
use terrace_model::{EnvironmentId, RunId};

use super::codec::{col, now_db, parsed, parsed_opt, ts};
use crate::error::StoreError;
use crate::records::EventRecord;
use crate::store::Result;

const T: &str = "events";

fn from_row(row: &PgRow) -> Result<EventRecord> {
    Ok(EventRecord {
        id: col(row, T, "id")?,
        environment_id: parsed(row, T, "environment_id")?,
        run_id: parsed_opt(row, T, "run_id")?,
        kind: col(row, T, "kind")?,
        message: col(row, T, "message")?,
        at: ts(row, T, "at")?,
    })
}

pub(super) async fn record(
    pool: &PgPool,
    env: EnvironmentId,
    run: Option<RunId>,
    kind: &str,
    message: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO events (environment_id, run_id, kind, message, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(env.to_string())
        .bind(run.map(|r| r.to_string()))
        .bind(kind)
        .bind(message)
        .bind(now_db()?)
        .execute(pool)
        .await
        .map_err(StoreError::db_for("record an event of environment", env))?;
    Ok(())
}

/// The newest `limit` events, newest first.
pub(super) async fn list(pool: &PgPool, env: EnvironmentId, limit: u32) -> Result<Vec<EventRecord>> {
    sqlx::query(
        "SELECT id, environment_id, run_id, kind, message, at FROM events
         WHERE environment_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(env.to_string())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::db_for("read events of environment", env))?
    .iter()
    .map(from_row)
    .collect()
}
