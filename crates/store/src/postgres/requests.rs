//! The durable request queue on PostgreSQL: the SQLite store's semantics, made safe for
//! many replicas. A claim locks its row with `FOR UPDATE SKIP LOCKED` (replicas never
//! wait on each other), and every change that may make a request claimable notifies.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use terrace_model::RunId;
use time::OffsetDateTime;

use super::codec::{col, int, json, json_opt, now_db, parsed, ts, ts_opt, ts_to_db};
use super::{advisory_lock, begin, commit, notify};
use crate::control::{NewRequest, Reaped, RequestFilter, RequestId, RequestRecord, RequestState};
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "requests";
const COLUMNS: &str = "id, project, environment, event, job, args, requested_by, state, reason, attempts, \
    max_attempts, owner, lease_expires_at, cancel_requested, run_ids, outcome, created_at, started_at, finished_at";
const DEFAULT_LIMIT: u32 = 100;

fn from_row(row: &PgRow) -> Result<RequestRecord> {
    Ok(RequestRecord {
        id: parsed(row, T, "id")?,
        project: col(row, T, "project")?,
        environment: col(row, T, "environment")?,
        event: parsed(row, T, "event")?,
        job: col(row, T, "job")?,
        args: json(row, T, "args")?,
        requested_by: col(row, T, "requested_by")?,
        state: parsed(row, T, "state")?,
        reason: col(row, T, "reason")?,
        attempts: int(row, T, "attempts")?,
        max_attempts: int(row, T, "max_attempts")?,
        owner: col(row, T, "owner")?,
        lease_expires_at: ts_opt(row, T, "lease_expires_at")?,
        cancel_requested: col(row, T, "cancel_requested")?,
        run_ids: json(row, T, "run_ids")?,
        outcome: json_opt(row, T, "outcome")?,
        created_at: ts(row, T, "created_at")?,
        started_at: ts_opt(row, T, "started_at")?,
        finished_at: ts_opt(row, T, "finished_at")?,
    })
}

pub(super) async fn enqueue(pool: &PgPool, req: NewRequest) -> Result<Option<RequestRecord>> {
    let mut tx = begin(pool).await?;
    // The check for a pending delete and the insert must not interleave with another
    // replica's enqueue for the same environment (SQLite's write lock does this there).
    advisory_lock(&mut tx, &format!("terrace-enqueue:{}/{}", req.project, req.environment)).await?;
    let deleting: Option<String> = sqlx::query_scalar(
        "SELECT id FROM requests WHERE project = $1 AND environment = $2 AND event = 'delete' \
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
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9) RETURNING {COLUMNS}"
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
    notify(&mut *tx, "enqueued").await?;
    commit(tx, "commit the request").await?;
    Ok(Some(record))
}

pub(super) async fn get(pool: &PgPool, id: RequestId) -> Result<Option<RequestRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM requests WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db_for("read request", id))?;
    row.as_ref().map(from_row).transpose()
}

pub(super) async fn list(pool: &PgPool, filter: &RequestFilter) -> Result<Vec<RequestRecord>> {
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM requests WHERE 1 = 1"));
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

/// The oldest queued request of an environment with nothing running and nothing older
/// queued becomes `running` under `owner`. Rows another replica is claiming are skipped,
/// not waited for; a request whose row changed meanwhile is re-checked by PostgreSQL
/// (`state = 'queued'`), and the partial unique index on running requests refuses a
/// second running request of one environment whatever the race.
pub(super) async fn claim(pool: &PgPool, owner: &str, lease_until: OffsetDateTime) -> Result<Option<RequestRecord>> {
    let mut tx = begin(pool).await?;
    let id: Option<String> = sqlx::query_scalar(
        "SELECT q.id FROM requests q WHERE q.state = 'queued' \
           AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.project = q.project \
               AND o.environment = q.environment AND o.state = 'running') \
           AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.project = q.project \
               AND o.environment = q.environment AND o.state = 'queued' \
               AND (o.created_at < q.created_at OR (o.created_at = q.created_at AND o.id < q.id))) \
         ORDER BY q.created_at, q.id LIMIT 1 FOR UPDATE OF q SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::db("look for a claimable request"))?;
    let Some(id) = id else {
        return Ok(None);
    };
    let claimed = sqlx::query(&format!(
        "UPDATE requests SET state = 'running', owner = $1, lease_expires_at = $2, attempts = attempts + 1, \
             started_at = COALESCE(started_at, GREATEST($3, (SELECT MAX(p.finished_at) FROM requests p \
                 WHERE p.project = requests.project AND p.environment = requests.environment))), \
             reason = NULL \
         WHERE id = $4 AND state = 'queued' RETURNING {COLUMNS}"
    ))
    .bind(owner)
    .bind(ts_to_db(lease_until)?)
    .bind(now_db()?)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await;
    let row = match claimed {
        Ok(row) => row,
        // Another replica got a request of this environment running first: nothing to
        // claim now; its end will notify.
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => return Ok(None),
        Err(e) => return Err(StoreError::Database { context: format!("claim request {id}"), source: e }),
    };
    let record = row.as_ref().map(from_row).transpose()?;
    commit(tx, "commit the claim").await?;
    Ok(record)
}

pub(super) async fn renew(pool: &PgPool, owner: &str, until: OffsetDateTime) -> Result<Vec<RequestId>> {
    let rows = sqlx::query(
        "UPDATE requests SET lease_expires_at = $1 WHERE owner = $2 AND state = 'running' \
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

pub(super) async fn set_runs(pool: &PgPool, id: RequestId, owner: &str, runs: &[RunId]) -> Result<()> {
    let text = serde_json::to_string(runs).map_err(|e| StoreError::Invalid(format!("run ids: {e}")))?;
    sqlx::query("UPDATE requests SET run_ids = $1 WHERE id = $2 AND owner = $3")
        .bind(text)
        .bind(id.to_string())
        .bind(owner)
        .execute(pool)
        .await
        .map_err(StoreError::db_for("record the runs of request", id))?;
    Ok(())
}

pub(super) async fn finish(
    pool: &PgPool,
    id: RequestId,
    owner: &str,
    state: RequestState,
    reason: Option<&str>,
    outcome: Option<&serde_json::Value>,
) -> Result<bool> {
    let mut tx = begin(pool).await?;
    let done = sqlx::query(
        "UPDATE requests SET state = $1, reason = $2, outcome = $3, finished_at = $4, owner = NULL, \
         lease_expires_at = NULL WHERE id = $5 AND owner = $6 AND state = 'running'",
    )
    .bind(state.as_str())
    .bind(reason)
    .bind(outcome.map(|o| o.to_string()))
    .bind(now_db()?)
    .bind(id.to_string())
    .bind(owner)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db_for("finish request", id))?;
    // The environment is free again: its next request may be claimed by any replica.
    notify(&mut *tx, "finished").await?;
    commit(tx, "commit the end of a request").await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn release(pool: &PgPool, id: RequestId, owner: &str, reason: &str) -> Result<()> {
    let mut tx = begin(pool).await?;
    sqlx::query(
        "UPDATE requests SET state = 'queued', attempts = GREATEST(attempts - 1, 0), owner = NULL, \
         lease_expires_at = NULL, reason = $1 WHERE id = $2 AND owner = $3 AND state = 'running'",
    )
    .bind(reason)
    .bind(id.to_string())
    .bind(owner)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db_for("release request", id))?;
    notify(&mut *tx, "released").await?;
    commit(tx, "commit the release of a request").await
}

pub(super) async fn cancel(pool: &PgPool, id: RequestId) -> Result<Option<RequestRecord>> {
    sqlx::query(
        "UPDATE requests SET cancel_requested = TRUE, \
             reason = CASE WHEN state = 'queued' THEN 'cancelled before it started' ELSE reason END, \
             finished_at = CASE WHEN state = 'queued' THEN $1 ELSE finished_at END, \
             state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END \
         WHERE id = $2 AND state IN ('queued', 'running')",
    )
    .bind(now_db()?)
    .bind(id.to_string())
    .execute(pool)
    .await
    .map_err(StoreError::db_for("cancel request", id))?;
    get(pool, id).await
}

pub(super) async fn reap(pool: &PgPool, now: OffsetDateTime, dead_owners: &[String]) -> Result<Vec<Reaped>> {
    let now = ts_to_db(now)?;
    let mut tx = begin(pool).await?;
    let rows = sqlx::query(
        "UPDATE requests SET \
           state = CASE WHEN cancel_requested THEN 'cancelled' \
                        WHEN attempts < max_attempts THEN 'queued' ELSE 'interrupted' END, \
           reason = 'interrupted: its server (' || COALESCE(owner, '?') || ') stopped before it finished' || \
                    CASE WHEN cancel_requested THEN '; it was being cancelled' \
                         WHEN attempts < max_attempts \
                           THEN '; re-queued after attempt ' || attempts || ' of ' || max_attempts \
                         ELSE '; all ' || max_attempts || ' attempts used' END, \
           finished_at = CASE WHEN NOT cancel_requested AND attempts < max_attempts THEN NULL ELSE $1 END, \
           owner = NULL, lease_expires_at = NULL \
         WHERE state = 'running' AND (lease_expires_at < $1 OR owner = ANY($2)) \
         RETURNING id, state, reason",
    )
    .bind(now)
    .bind(dead_owners)
    .fetch_all(&mut *tx)
    .await
    .map_err(StoreError::db("reap expired requests"))?;
    let reaped = rows
        .iter()
        .map(|row| {
            Ok(Reaped { id: parsed(row, T, "id")?, state: parsed(row, T, "state")?, reason: col(row, T, "reason")? })
        })
        .collect::<Result<Vec<_>>>()?;
    if !reaped.is_empty() {
        notify(&mut *tx, "reaped").await?;
    }
    commit(tx, "commit reaped requests").await?;
    Ok(reaped)
}

pub(super) async fn count(pool: &PgPool) -> Result<Vec<(RequestState, u64)>> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM requests GROUP BY state")
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("count requests"))?;
    rows.iter().map(|row| Ok((parsed(row, T, "state")?, int(row, T, "n")?))).collect()
}

pub(super) async fn count_runs(pool: &PgPool) -> Result<Vec<(String, u64)>> {
    let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM runs GROUP BY state")
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("count runs"))?;
    rows.iter().map(|row| Ok((col(row, "runs", "state")?, int(row, "runs", "n")?))).collect()
}
