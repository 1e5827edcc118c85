//! The life of a run once claimed, on PostgreSQL: attempts, their processes, leases and
//! the final state. The attempt counter is bumped under the run's row lock, so two
//! handles starting attempts at once get different numbers.

use sqlx::PgPool;
use sqlx::postgres::PgRow;
use terrace_model::RunId;
use time::OffsetDateTime;

use super::codec::{col, int, int_opt, now_db, parsed, ts, ts_opt, ts_to_db};
use super::{begin, commit};
use crate::error::StoreError;
use crate::records::{AttemptRecord, RunState};
use crate::store::Result;

const T: &str = "attempts";

fn from_row(row: &PgRow) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        run_id: parsed(row, T, "run_id")?,
        number: int(row, T, "number")?,
        state: parsed(row, T, "state")?,
        exit_code: int_opt(row, T, "exit_code")?,
        reason: col(row, T, "reason")?,
        executor: col(row, T, "executor")?,
        handle: col(row, T, "handle")?,
        started_at: ts(row, T, "started_at")?,
        finished_at: ts_opt(row, T, "finished_at")?,
    })
}

pub(super) async fn start(
    pool: &PgPool,
    run: RunId,
    owner: &str,
    lease_until: OffsetDateTime,
    inputs_hash: Option<&str>,
) -> Result<u32> {
    let now = now_db()?;
    let lease = ts_to_db(lease_until)?;
    let mut tx = begin(pool).await?;
    let number: Option<i64> = sqlx::query_scalar(
        "UPDATE runs SET attempts = attempts + 1, state = $1, owner = $2, lease_expires_at = $3,
                         started_at = COALESCE(started_at, $4), inputs_hash = COALESCE($5, inputs_hash)
         WHERE id = $6 RETURNING attempts",
    )
    .bind(RunState::Running.as_str())
    .bind(owner)
    .bind(lease)
    .bind(now)
    .bind(inputs_hash)
    .bind(run.to_string())
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::db_for("start an attempt of run", run))?;
    let Some(number) = number else {
        return Err(StoreError::not_found("run", run));
    };
    sqlx::query("INSERT INTO attempts (run_id, number, state, started_at) VALUES ($1, $2, $3, $4)")
        .bind(run.to_string())
        .bind(number)
        .bind(RunState::Running.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db_for("record the attempt of run", run))?;
    commit(tx, "commit the start of an attempt").await?;
    u32::try_from(number).map_err(|_| StoreError::Corrupt(format!("runs.attempts: {number} out of range")))
}

pub(super) async fn record_handle(pool: &PgPool, run: RunId, attempt: u32, executor: &str, handle: &str) -> Result<()> {
    let done = sqlx::query("UPDATE attempts SET executor = $1, handle = $2 WHERE run_id = $3 AND number = $4")
        .bind(executor)
        .bind(handle)
        .bind(run.to_string())
        .bind(i64::from(attempt))
        .execute(pool)
        .await
        .map_err(StoreError::db_for("record the step handle of run", run))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("attempt", format!("{run}#{attempt}")));
    }
    Ok(())
}

pub(super) async fn finish(
    pool: &PgPool,
    run: RunId,
    attempt: u32,
    state: RunState,
    exit_code: Option<i32>,
    reason: Option<&str>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE attempts SET state = $1, exit_code = $2, reason = $3, finished_at = $4
         WHERE run_id = $5 AND number = $6",
    )
    .bind(state.as_str())
    .bind(exit_code.map(i64::from))
    .bind(reason)
    .bind(now_db()?)
    .bind(run.to_string())
    .bind(i64::from(attempt))
    .execute(pool)
    .await
    .map_err(StoreError::db_for("finish an attempt of run", run))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("attempt", format!("{run}#{attempt}")));
    }
    Ok(())
}

pub(super) async fn finish_run(
    pool: &PgPool,
    run: RunId,
    state: RunState,
    exit_code: Option<i32>,
    reason: Option<&str>,
) -> Result<()> {
    let now = now_db()?;
    let exit_code = exit_code.map(i64::from);
    let mut tx = begin(pool).await?;
    let done = sqlx::query(
        "UPDATE runs SET state = $1, exit_code = $2, reason = $3, finished_at = $4, owner = NULL,
                         lease_expires_at = NULL
         WHERE id = $5",
    )
    .bind(state.as_str())
    .bind(exit_code)
    .bind(reason)
    .bind(now)
    .bind(run.to_string())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db_for("finish run", run))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("run", run));
    }
    // An attempt left running (its process died with its owner) ends with the run.
    sqlx::query(
        "UPDATE attempts SET state = $1, exit_code = COALESCE(exit_code, $2), reason = $3, finished_at = $4
         WHERE run_id = $5 AND state = $6",
    )
    .bind(state.as_str())
    .bind(exit_code)
    .bind(reason)
    .bind(now)
    .bind(run.to_string())
    .bind(RunState::Running.as_str())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db_for("finish the running attempt of run", run))?;
    commit(tx, "commit the end of a run").await
}

pub(super) async fn list(pool: &PgPool, run: RunId) -> Result<Vec<AttemptRecord>> {
    sqlx::query(
        "SELECT run_id, number, state, exit_code, reason, executor, handle, started_at, finished_at
         FROM attempts WHERE run_id = $1 ORDER BY number",
    )
    .bind(run.to_string())
    .fetch_all(pool)
    .await
    .map_err(StoreError::db_for("list attempts of run", run))?
    .iter()
    .map(from_row)
    .collect()
}

/// Only running runs hold a lease; a finished run's lease stays cleared.
pub(super) async fn renew_leases(pool: &PgPool, owner: &str, until: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE runs SET lease_expires_at = $1 WHERE owner = $2 AND state = $3")
        .bind(ts_to_db(until)?)
        .bind(owner)
        .bind(RunState::Running.as_str())
        .execute(pool)
        .await
        .map_err(StoreError::db_for("renew leases of owner", owner))?;
    Ok(())
}
