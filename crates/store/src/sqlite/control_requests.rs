//! The durable request queue: enqueue, claim with a lease, renew, finish, cancel and
//! reap. Every state change is one statement guarded by the state it expects, so a
//! PostgreSQL store can run the same logic with `FOR UPDATE SKIP LOCKED`.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use terrace_model::RunId;
use time::OffsetDateTime;

use super::codec::{col, int, now_db, parsed, ts, ts_opt, ts_to_db};
use super::{begin_write, commit};
use crate::control::{NewRequest, Reaped, RequestFilter, RequestId, RequestRecord, RequestState};
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "requests";
const COLUMNS: &str = "id, project, environment, event, job, args, requested_by, state, reason, attempts, \
    max_attempts, owner, lease_expires_at, cancel_requested, run_ids, outcome, created_at, started_at, finished_at";
const DEFAULT_LIMIT: u32 = 100;

fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, column: &str) -> Result<T> {
    let text: String = col(row, T, column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{T}.{column}: {e}")))
}

fn from_row(row: &SqliteRow) -> Result<RequestRecord> {
    let outcome: Option<String> = col(row, T, "outcome")?;
    Ok(RequestRecord {
        id: parsed(row, T, "id")?,
        project: col(row, T, "project")?,
        environment: col(row, T, "environment")?,
        event: parsed(row, T, "event")?,
        job: col(row, T, "job")?,
        args: json_col(row, "args")?,
        requested_by: col(row, T, "requested_by")?,
        state: parsed(row, T, "state")?,
        reason: col(row, T, "reason")?,
        attempts: int(row, T, "attempts")?,
        max_attempts: int(row, T, "max_attempts")?,
        owner: col(row, T, "owner")?,
        lease_expires_at: ts_opt(row, T, "lease_expires_at")?,
        cancel_requested: col(row, T, "cancel_requested")?,
        run_ids: json_col(row, "run_ids")?,
        outcome: outcome
            .map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{T}.outcome: {e}"))))
            .transpose()?,
        created_at: ts(row, T, "created_at")?,
        started_at: ts_opt(row, T, "started_at")?,
        finished_at: ts_opt(row, T, "finished_at")?,
    })
}

pub(super) async fn enqueue(pool: &SqlitePool, req: NewRequest) -> Result<Option<RequestRecord>> {
    let mut tx = begin_write(pool).await?;
    let deleting: Option<String> = sqlx::query_scalar(
        "SELECT id FROM requests WHERE project = ? AND environment = ? AND event = 'delete' \
         AND job IS NULL AND state IN ('queued', 'running') LIMIT 1",
    )
    .bind(&req.project)
    .bind(&req.environment)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::db("look for a pending delete"))?;
    if deleting.is_some() {
        return Ok(None);
    }
    let args = serde_json::to_string(&req.args).map_err(|e| StoreError::Invalid(format!("request args: {e}")))?;
    let row = sqlx::query(&format!(
        "INSERT INTO requests (id, project, environment, event, job, args, requested_by, state, max_attempts, \
         created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(req.id.to_string())
    .bind(&req.project)
    .bind(&req.environment)
    .bind(req.event.as_str())
    .bind(&req.job)
    .bind(args)
    .bind(&req.requested_by)
    .bind(i64::from(req.max_attempts.max(1)))
    .bind(now_db()?)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::db_for("enqueue request", req.id))?;
    let record = from_row(&row)?;
    commit(tx, "commit the request").await?;
    Ok(Some(record))
}

pub(super) async fn get(pool: &SqlitePool, id: RequestId) -> Result<Option<RequestRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM requests WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db_for("read request", id))?;
    row.as_ref().map(from_row).transpose()
}

pub(super) async fn list(pool: &SqlitePool, filter: &RequestFilter) -> Result<Vec<RequestRecord>> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM requests WHERE 1 = 1"));
    if let Some(p) = &filter.project {
        q.push(" AND project = ").push_bind(p.clone());
    }
    if let Some(e) = &filter.environment {
        q.push(" AND environment = ").push_bind(e.clone());
    }
    if let Some(s) = filter.state {
        q.push(" AND state = ").push_bind(s.as_str());
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(filter.limit.unwrap_or(DEFAULT_LIMIT)));
    let rows = q.build().fetch_all(pool).await.map_err(StoreError::db("list requests"))?;
    rows.iter().map(from_row).collect()
}

/// One statement: the oldest queued request of an environment with nothing running and
/// nothing older queued becomes `running` under `owner`.
/// `started_at` is never before the end of the environment's previous request: the
/// time is read before the statement waits for the write lock, and the request it
/// waited for may have ended meanwhile.
pub(super) async fn claim(
    pool: &SqlitePool,
    owner: &str,
    lease_until: OffsetDateTime,
) -> Result<Option<RequestRecord>> {
    let row = sqlx::query(&format!(
        "UPDATE requests SET state = 'running', owner = ?1, lease_expires_at = ?2, attempts = attempts + 1, \
             started_at = COALESCE(started_at, MAX(?3, COALESCE((SELECT MAX(p.finished_at) FROM requests p \
                 WHERE p.project = requests.project AND p.environment = requests.environment), 0))), \
             reason = NULL \
         WHERE state = 'queued' AND id = ( \
             SELECT q.id FROM requests q WHERE q.state = 'queued' \
               AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.project = q.project \
                   AND o.environment = q.environment AND o.state = 'running') \
               AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.project = q.project \
                   AND o.environment = q.environment AND o.state = 'queued' \
                   AND (o.created_at < q.created_at OR (o.created_at = q.created_at AND o.id < q.id))) \
             ORDER BY q.created_at, q.id LIMIT 1) \
         RETURNING {COLUMNS}"
    ))
    .bind(owner)
    .bind(ts_to_db(lease_until)?)
    .bind(now_db()?)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::db("claim a request"))?;
    row.as_ref().map(from_row).transpose()
}

pub(super) async fn renew(pool: &SqlitePool, owner: &str, until: OffsetDateTime) -> Result<Vec<RequestId>> {
    let rows = sqlx::query(
        "UPDATE requests SET lease_expires_at = ? WHERE owner = ? AND state = 'running' \
         RETURNING id, cancel_requested",
    )
    .bind(ts_to_db(until)?)
    .bind(owner)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("renew request leases"))?;
    let mut cancelled = Vec::new();
    for row in &rows {
        if col::<bool>(row, T, "cancel_requested")? {
            cancelled.push(parsed(row, T, "id")?);
        }
    }
    Ok(cancelled)
}

pub(super) async fn set_runs(pool: &SqlitePool, id: RequestId, owner: &str, runs: &[RunId]) -> Result<()> {
    let text = serde_json::to_string(runs).map_err(|e| StoreError::Invalid(format!("run ids: {e}")))?;
    sqlx::query("UPDATE requests SET run_ids = ? WHERE id = ? AND owner = ?")
        .bind(text)
        .bind(id.to_string())
        .bind(owner)
        .execute(pool)
        .await
        .map_err(StoreError::db_for("record the runs of request", id))?;
    Ok(())
}

pub(super) async fn finish(
    pool: &SqlitePool,
    id: RequestId,
    owner: &str,
    state: RequestState,
    reason: Option<&str>,
    outcome: Option<&serde_json::Value>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE requests SET state = ?, reason = ?, outcome = ?, finished_at = ?, owner = NULL, \
         lease_expires_at = NULL WHERE id = ? AND owner = ? AND state = 'running'",
    )
    .bind(state.as_str())
    .bind(reason)
    .bind(outcome.map(|o| o.to_string()))
    .bind(now_db()?)
    .bind(id.to_string())
    .bind(owner)
    .execute(pool)
    .await
    .map_err(StoreError::db_for("finish request", id))?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn release(pool: &SqlitePool, id: RequestId, owner: &str, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET state = 'queued', attempts = MAX(attempts - 1, 0), owner = NULL, \
         lease_expires_at = NULL, reason = ? WHERE id = ? AND owner = ? AND state = 'running'",
    )
    .bind(reason)
    .bind(id.to_string())
    .bind(owner)
    .execute(pool)
    .await
    .map_err(StoreError::db_for("release request", id))?;
    Ok(())
}

pub(super) async fn cancel(pool: &SqlitePool, id: RequestId) -> Result<Option<RequestRecord>> {
    sqlx::query(
        "UPDATE requests SET cancel_requested = 1, \
             reason = CASE WHEN state = 'queued' THEN 'cancelled before it started' ELSE reason END, \
             finished_at = CASE WHEN state = 'queued' THEN ?1 ELSE finished_at END, \
             state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END \
         WHERE id = ?2 AND state IN ('queued', 'running')",
    )
    .bind(now_db()?)
    .bind(id.to_string())
    .execute(pool)
    .await
    .map_err(StoreError::db_for("cancel request", id))?;
    get(pool, id).await
}

pub(super) async fn reap(pool: &SqlitePool, now: OffsetDateTime, dead_owners: &[String]) -> Result<Vec<Reaped>> {
    let now = ts_to_db(now)?;
    let mut q = QueryBuilder::<Sqlite>::new(
        "UPDATE requests SET \
           state = CASE WHEN cancel_requested = 1 THEN 'cancelled' \
                        WHEN attempts < max_attempts THEN 'queued' ELSE 'interrupted' END, \
           reason = 'interrupted: its server (' || COALESCE(owner, '?') || ') stopped before it finished' || \
                    CASE WHEN cancel_requested = 1 THEN '; it was being cancelled' \
                         WHEN attempts < max_attempts THEN '; re-queued after attempt ' || attempts || ' of ' || max_attempts \
                         ELSE '; all ' || max_attempts || ' attempts used' END, \
           finished_at = CASE WHEN cancel_requested = 0 AND attempts < max_attempts THEN NULL ELSE ",
    );
    q.push_bind(now);
    q.push(" END, owner = NULL, lease_expires_at = NULL WHERE state = 'running' AND (lease_expires_at < ");
    q.push_bind(now);
    if !dead_owners.is_empty() {
        q.push(" OR owner IN (");
        let mut sep = q.separated(", ");
        for o in dead_owners {
            sep.push_bind(o.clone());
        }
        q.push(")");
    }
    q.push(") RETURNING id, state, reason");
    let rows = q.build().fetch_all(pool).await.map_err(StoreError::db("reap expired requests"))?;
    rows.iter()
        .map(|row| {
            Ok(Reaped { id: parsed(row, T, "id")?, state: parsed(row, T, "state")?, reason: col(row, T, "reason")? })
        })
        .collect()
}

pub(super) async fn count(pool: &SqlitePool) -> Result<Vec<(RequestState, u64)>> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM requests GROUP BY state")
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("count requests"))?;
    rows.iter().map(|row| Ok((parsed(row, T, "state")?, int(row, T, "n")?))).collect()
}

pub(super) async fn count_runs(pool: &SqlitePool) -> Result<Vec<(String, u64)>> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM runs GROUP BY state")
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("count runs"))?;
    rows.iter().map(|row| Ok((col(row, "runs", "state")?, int(row, "runs", "n")?))).collect()
}
