//! The life of a run once claimed: attempts, their processes, leases and the final
//! state. Each change is one transaction.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use terrace_model::RunId;
use terrace_model::log::LogBatch;
use time::OffsetDateTime;

use super::codec::{col, int, int_opt, now_db, parsed, ts, ts_opt, ts_to_db};
use super::{begin_write, commit, logs};
use crate::error::StoreError;
use crate::log_body;
use crate::records::{AttemptRecord, Ending, RunState};
use crate::store::Result;

const T: &str = "attempts";

fn from_row(row: &SqliteRow) -> Result<AttemptRecord> {
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

pub(super) async fn record_handle(
    pool: &SqlitePool,
    run: RunId,
    attempt: u32,
    executor: &str,
    handle: &str,
) -> Result<()> {
    let done = sqlx::query("UPDATE attempts SET executor = ?, handle = ? WHERE run_id = ? AND number = ?")
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
    pool: &SqlitePool,
    run: RunId,
    attempt: u32,
    state: RunState,
    exit_code: Option<i32>,
    reason: Option<&str>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE attempts SET state = ?, exit_code = ?, reason = ?, finished_at = ? WHERE run_id = ? AND number = ?",
    )
    .bind(state.as_str())
    .bind(exit_code)
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
    pool: &SqlitePool,
    run: RunId,
    state: RunState,
    exit_code: Option<i32>,
    reason: Option<&str>,
) -> Result<()> {
    let now = now_db()?;
    let mut tx = begin_write(pool).await?;
    let done = sqlx::query(
        "UPDATE runs SET state = ?, exit_code = ?, reason = ?, finished_at = ?, owner = NULL, lease_expires_at = NULL
         WHERE id = ?",
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
        "UPDATE attempts SET state = ?, exit_code = COALESCE(exit_code, ?), reason = ?, finished_at = ?
         WHERE run_id = ? AND state = ?",
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

pub(super) async fn list(pool: &SqlitePool, run: RunId) -> Result<Vec<AttemptRecord>> {
    sqlx::query(
        "SELECT run_id, number, state, exit_code, reason, executor, handle, started_at, finished_at
         FROM attempts WHERE run_id = ? ORDER BY number",
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
pub(super) async fn renew_leases(pool: &SqlitePool, owner: &str, until: OffsetDateTime) -> Result<()> {
    sqlx::query("UPDATE runs SET lease_expires_at = ? WHERE owner = ? AND state = ?")
        .bind(ts_to_db(until)?)
        .bind(owner)
        .bind(RunState::Running.as_str())
        .execute(pool)
        .await
        .map_err(StoreError::db_for("renew leases of owner", owner))?;
    Ok(())
}

/// Starts a new attempt (the run `running`, held by `owner`) with its opening log lines
/// (none for a plain `start_attempt`), in one transaction whose statements go to SQLite
/// in one query: three round trips to the connection's thread where separate calls took
/// five (each a wake-up of two threads; docs/PERFORMANCE.md, B).
pub(super) async fn start(
    pool: &SqlitePool,
    run: RunId,
    owner: &str,
    lease_until: OffsetDateTime,
    inputs_hash: Option<&str>,
    log: &[LogBatch],
) -> Result<u32> {
    let rows = log_body::new_chunks(log, 0)?;
    // ?1 run, ?2 state, ?3 owner, ?4 lease, ?5 now, ?6 inputs hash; log rows from ?7.
    let mut sql = String::from(
        "UPDATE runs SET attempts = attempts + 1, state = ?2, owner = ?3, lease_expires_at = ?4,
                         started_at = COALESCE(started_at, ?5), inputs_hash = COALESCE(?6, inputs_hash)
         WHERE id = ?1 RETURNING attempts;
         INSERT INTO attempts (run_id, number, state, started_at) SELECT id, attempts, ?2, ?5 FROM runs WHERE id = ?1;",
    );
    if !rows.is_empty() {
        let attempt = "(SELECT attempts FROM runs WHERE id = ?1)";
        // Nothing to insert for an unknown run: the error is that it is not found.
        sql.push_str(&logs::inline_insert_sql(1, attempt, 7, rows.len(), "EXISTS (SELECT 1 FROM runs WHERE id = ?1)"));
    }
    let now = now_db()?;
    let query = sqlx::query(&sql)
        .bind(run.to_string())
        .bind(RunState::Running.as_str())
        .bind(owner)
        .bind(ts_to_db(lease_until)?)
        .bind(now)
        .bind(inputs_hash);
    let mut tx = begin_write(pool).await?;
    // `fetch_all` runs every statement; only the first returns a row.
    let returned = logs::bind_rows(query, &rows)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::db_for("start an attempt of run", run))?;
    let Some(row) = returned.first() else {
        return Err(StoreError::not_found("run", run)); // the transaction rolls back on drop
    };
    let number: u32 = int(row, "runs", "attempts")?;
    commit(tx, "commit the start of an attempt").await?;
    Ok(number)
}

/// `finish`, the closing log lines and, with `run_end`, `finish_run`: one transaction,
/// its statements in one query (three round trips where separate calls took six).
pub(super) async fn end(
    pool: &SqlitePool,
    run: RunId,
    attempt: u32,
    end: &Ending,
    log: &[LogBatch],
    run_end: Option<&Ending>,
) -> Result<()> {
    let rows = log_body::new_chunks(log, 0)?;
    // ?1 run, ?2 attempt, ?3..?5 its state, exit code, reason, ?6 now, ?7..?9 the run's,
    // ?10 'running'; log rows from ?11.
    let mut sql = String::from(
        "UPDATE attempts SET state = ?3, exit_code = ?4, reason = ?5, finished_at = ?6
         WHERE run_id = ?1 AND number = ?2 RETURNING 'attempt';",
    );
    if !rows.is_empty() {
        let attempt_exists = "EXISTS (SELECT 1 FROM attempts WHERE run_id = ?1 AND number = ?2)";
        sql.push_str(&logs::inline_insert_sql(1, "?2", 11, rows.len(), attempt_exists));
        sql.push(';');
    }
    if run_end.is_some() {
        // An attempt left running (its process died with its owner) ends with the run.
        sql.push_str(
            "UPDATE runs SET state = ?7, exit_code = ?8, reason = ?9, finished_at = ?6, owner = NULL,
                             lease_expires_at = NULL
             WHERE id = ?1 RETURNING 'run';
             UPDATE attempts SET state = ?7, exit_code = COALESCE(exit_code, ?8), reason = ?9, finished_at = ?6
             WHERE run_id = ?1 AND state = ?10;",
        );
    }
    let query = sqlx::query(&sql)
        .bind(run.to_string())
        .bind(i64::from(attempt))
        .bind(end.state.as_str())
        .bind(end.exit_code)
        .bind(end.reason.as_deref())
        .bind(now_db()?)
        .bind(run_end.map(|e| e.state.as_str()))
        .bind(run_end.and_then(|e| e.exit_code))
        .bind(run_end.and_then(|e| e.reason.as_deref()))
        .bind(RunState::Running.as_str());
    let mut tx = begin_write(pool).await?;
    let returned = logs::bind_rows(query, &rows)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::db_for("finish an attempt of run", run))?;
    // The transaction rolls back on drop when the attempt or the run is unknown.
    let matched = |what: &str| returned.iter().any(|r| r.try_get::<String, _>(0).is_ok_and(|v| v == what));
    if !matched("attempt") {
        return Err(StoreError::not_found("attempt", format!("{run}#{attempt}")));
    }
    if run_end.is_some() && !matched("run") {
        return Err(StoreError::not_found("run", run));
    }
    commit(tx, "commit the end of an attempt").await
}
