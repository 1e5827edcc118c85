//! The durable request queue: enqueue, claim with a lease, renew, finish, cancel and
//! reap. A claim bumps the request's fencing token; every later write of the request is
//! fenced by it. Every change that may make a request claimable wakes the schedulers.

use terrace_model::RunId;
use time::OffsetDateTime;

use super::{SqlStore, fence};
use crate::control::{NewRequest, Reaped, RequestFilter, RequestId, RequestRecord, RequestState};
use crate::db::value::{now_db, text, ts, ts_from_db, ts_to_db};
use crate::db::{Db, Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::{Owner, RequestLease};
use crate::store::Result;

const T: &str = "requests";
const DEFAULT_LIMIT: u32 = 100;

macro_rules! columns {
    () => {
        "id, project, environment, event, job, args, requested_by, state, reason, attempts, max_attempts, owner, \
         lease_expires_at, cancel_requested, run_ids, outcome, created_at, started_at, finished_at, lease_token, origin, saved_plan"
    };
}

pub(super) fn from_row(mut r: Row) -> Result<RequestRecord> {
    Ok(RequestRecord {
        id: r.parsed(0)?,
        project: r.text(1)?,
        environment: r.text(2)?,
        event: r.parsed(3)?,
        job: r.text_opt(4)?,
        args: r.json(5)?,
        requested_by: r.text(6)?,
        state: r.parsed(7)?,
        reason: r.text_opt(8)?,
        attempts: r.num(9)?,
        max_attempts: r.num(10)?,
        owner: r.text_opt(11)?,
        lease_expires_at: r.ts_opt(12)?,
        cancel_requested: r.bool(13)?,
        run_ids: r.json(14)?,
        outcome: r.json_opt(15)?,
        created_at: r.ts(16)?,
        started_at: r.ts_opt(17)?,
        finished_at: r.ts_opt(18)?,
        lease_token: r.num(19)?,
        origin: r.json_opt(20)?,
        saved_plan: r.parsed_opt(21)?,
    })
}

fn first(mut rows: Vec<Row>) -> Result<Option<RequestRecord>> {
    rows.pop().map(from_row).transpose()
}

pub(super) fn push_notify(s: &SqlStore, tx: &mut Tx, why: &'static str) {
    if let Some(n) = s.db.notify_step(why) {
        tx.push(n);
    }
}

/// Commits the request, queued, unless a delete of the same environment is queued or
/// running: then nothing is written and `None` says so.
pub(super) async fn enqueue(s: &SqlStore, req: NewRequest) -> Result<Option<RequestRecord>> {
    let mut tx = Tx::new();
    let insert = push_enqueue(s, &mut tx, &req, "queued")?;
    push_notify(s, &mut tx, "enqueued");
    let mut outs = s.db.write(tx).await?;
    first(std::mem::take(&mut outs[insert].rows))
}

/// The insert of a request in `state` (`queued`, or `awaiting_approval`) into `tx`,
/// unless a delete of the same environment is queued or running; its index.
pub(super) fn push_enqueue(s: &SqlStore, tx: &mut Tx, req: &NewRequest, state: &'static str) -> Result<usize> {
    let args = serde_json::to_string(&req.args).map_err(|e| StoreError::Invalid(format!("request args: {e}")))?;
    let origin = match req.origin == Default::default() {
        true => None,
        false => Some(serde_json::to_string(&req.origin).map_err(|e| StoreError::Invalid(format!("origin: {e}")))?),
    };
    // The check for a pending delete and the insert must not interleave with another
    // replica's enqueue for the same environment.
    if let Some(lock) = s.db.lock_step(format!("terrace-enqueue:{}/{}", req.project, req.environment)) {
        tx.push(lock);
    }
    Ok(tx.push(
        Stmt::new(
            T,
            concat!(
                "INSERT INTO requests (id, project, environment, event, job, args, requested_by, state, max_attempts, \
                 created_at, origin, saved_plan) SELECT $1, $2, $3, $4, $5, $6, $7, $10, $8, $9, $11, $12 \
                 WHERE NOT EXISTS (SELECT 1 FROM requests WHERE project = $2 AND environment = $3 \
                     AND event = 'delete' AND job IS NULL AND state IN ('queued', 'running')) \
                 RETURNING ",
                columns!()
            ),
        )
        .bind(text(req.id))
        .bind(&req.project)
        .bind(&req.environment)
        .bind(req.event.as_str())
        .bind(req.job.as_deref())
        .bind(args)
        .bind(&req.requested_by)
        .bind(req.max_attempts.max(1))
        .bind(now_db()?)
        .bind(state)
        .bind(origin)
        .bind(req.saved_plan.map(text))
        .doing(format!("enqueue request {}", req.id)),
    ))
}

pub(super) async fn get(s: &SqlStore, id: RequestId) -> Result<Option<RequestRecord>> {
    let stmt = Stmt::new(T, concat!("SELECT ", columns!(), " FROM requests WHERE id = $1"))
        .bind(text(id))
        .doing(format!("read request {id}"));
    first(s.db.query(stmt).await?)
}

pub(super) async fn list(s: &SqlStore, filter: &RequestFilter) -> Result<Vec<RequestRecord>> {
    let mut q = Stmt::dynamic(T, concat!("SELECT ", columns!(), " FROM requests WHERE 1 = 1").to_string());
    if let Some(p) = &filter.project {
        q.push(" AND project = ").push_arg(p);
    }
    if let Some(e) = &filter.environment {
        q.push(" AND environment = ").push_arg(e);
    }
    if let Some(state) = filter.state {
        q.push(" AND state = ").push_arg(state.as_str());
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_arg(filter.limit.unwrap_or(DEFAULT_LIMIT));
    s.db.query(q.doing("list requests")).await?.into_iter().map(from_row).collect()
}

/// The claim, but for how the request to claim is picked: SQLite's one writer picks it
/// alone; PostgreSQL's replicas skip the rows another is claiming instead of waiting.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE requests SET state = 'running', owner = $1, lease_expires_at = $2, attempts = attempts + 1, \
                 lease_token = lease_token + 1, reason = NULL, \
                 started_at = COALESCE(started_at, (SELECT CASE WHEN $3 > m THEN $3 ELSE m END FROM \
                     (SELECT COALESCE(MAX(p.finished_at), 0) AS m FROM requests p \
                      WHERE p.project = requests.project AND p.environment = requests.environment) AS prev)) \
             WHERE state = 'queued' AND id = ( \
                 SELECT q.id FROM requests q WHERE q.state = 'queued' \
                   AND (q.event = 'plan' OR ( \
                   NOT EXISTS (SELECT 1 FROM requests o WHERE o.project = q.project \
                       AND o.environment = q.environment AND o.state = 'running' AND o.event <> 'plan') \
                   AND NOT EXISTS (SELECT 1 FROM requests o WHERE o.project = q.project \
                       AND o.environment = q.environment AND o.state = 'queued' AND o.event <> 'plan' \
                       AND (o.created_at < q.created_at OR (o.created_at = q.created_at AND o.id < q.id))))) \
                 ORDER BY q.created_at, q.id LIMIT 1",
            $lock,
            ") RETURNING ",
            columns!()
        )
    };
}

/// The oldest queued request of an environment with nothing running and nothing older
/// queued becomes `running` under `owner`, with the next fencing token. Its `started_at`
/// is never before the end of the environment's previous request (the time is read
/// before the statement waits for the lock, and that request may have ended meanwhile).
pub(super) async fn claim(s: &SqlStore, owner: &Owner, until: OffsetDateTime) -> Result<Option<RequestRecord>> {
    let sql = match s.db {
        Db::Sqlite(_) => claim_sql!(""),
        Db::Postgres(_) => claim_sql!(" FOR UPDATE OF q SKIP LOCKED"),
    };
    let mut tx = Tx::new();
    tx.push(Stmt::new(T, sql).bind(owner.as_str()).bind(ts(until)?).bind(now_db()?).doing("claim a request"));
    match s.db.write(tx).await {
        Ok(mut outs) => first(std::mem::take(&mut outs[0].rows)),
        // PostgreSQL: another replica got a request of this environment running first
        // (its partial unique index refuses a second); nothing to claim now, its end will
        // notify.
        Err(StoreError::Database { source, .. }) if source.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Extends the lease of the requests of `held` that `owner` still holds; the ids whose
/// cancellation was asked.
pub(super) async fn renew(
    s: &SqlStore,
    owner: &Owner,
    held: &[RequestId],
    until: OffsetDateTime,
) -> Result<Vec<RequestId>> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = Stmt::dynamic(
        T,
        "UPDATE requests SET lease_expires_at = $1 WHERE owner = $2 AND state = 'running' AND id IN (".to_string(),
    )
    .bind(ts(until)?)
    .bind(owner.as_str());
    for (i, id) in held.iter().enumerate() {
        if i > 0 {
            stmt.push(", ");
        }
        stmt.push_arg(text(id));
    }
    stmt.push(") RETURNING id, cancel_requested");
    let mut tx = Tx::new();
    tx.push(stmt.doing("renew request leases"));
    let mut cancelled = Vec::new();
    for mut row in s.db.write(tx).await?.remove(0).rows {
        let id: RequestId = row.parsed(0)?;
        if row.bool(1)? {
            cancelled.push(id);
        }
    }
    Ok(cancelled)
}

pub(super) async fn set_runs(s: &SqlStore, lease: &RequestLease, runs: &[RunId]) -> Result<()> {
    let ids = serde_json::to_string(runs).map_err(|e| StoreError::Invalid(format!("run ids: {e}")))?;
    let mut tx = Tx::new();
    fence::request(&mut tx, lease);
    tx.push(
        Stmt::new(T, "UPDATE requests SET run_ids = $1 WHERE id = $2")
            .bind(ids)
            .bind(text(lease.id))
            .doing(format!("record the runs of request {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}

pub(super) async fn finish(
    s: &SqlStore,
    lease: &RequestLease,
    state: RequestState,
    reason: Option<&str>,
    outcome: Option<&serde_json::Value>,
) -> Result<()> {
    let mut tx = Tx::new();
    fence::request(&mut tx, lease);
    tx.push(
        Stmt::new(
            T,
            "UPDATE requests SET state = $1, reason = $2, outcome = $3, finished_at = $4, owner = NULL, \
             lease_expires_at = NULL WHERE id = $5",
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(outcome.map(|o| o.to_string()))
        .bind(now_db()?)
        .bind(text(lease.id))
        .doing(format!("finish request {}", lease.id)),
    );
    // The environment is free again: its next request may be claimed by any replica.
    push_notify(s, &mut tx, "finished");
    s.db.write(tx).await.map(drop)
}

/// Gives a request back to the queue without counting the attempt (graceful stop).
pub(super) async fn release(s: &SqlStore, lease: &RequestLease, reason: &str) -> Result<()> {
    let mut tx = Tx::new();
    fence::request(&mut tx, lease);
    tx.push(
        Stmt::new(
            T,
            "UPDATE requests SET state = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             owner = NULL, lease_expires_at = NULL, reason = $1 WHERE id = $2",
        )
        .bind(reason)
        .bind(text(lease.id))
        .doing(format!("release request {}", lease.id)),
    );
    push_notify(s, &mut tx, "released");
    s.db.write(tx).await.map(drop)
}

/// Cancels a queued request at once, or asks its holder to cancel a running one.
pub(super) async fn cancel(s: &SqlStore, id: RequestId) -> Result<Option<RequestRecord>> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(
            T,
            "UPDATE requests SET cancel_requested = 1, \
                 reason = CASE WHEN state = 'running' THEN reason ELSE 'cancelled before it started' END, \
                 finished_at = CASE WHEN state = 'running' THEN finished_at ELSE $1 END, \
                 state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END \
             WHERE id = $2 AND state IN ('awaiting_approval', 'queued', 'running')",
        )
        .bind(now_db()?)
        .bind(text(id))
        .doing(format!("cancel request {id}")),
    );
    // A request that awaited approval no longer does.
    tx.push(
        Stmt::new(
            "approvals",
            "UPDATE approvals SET state = 'cancelled', reason = 'its request was cancelled' \
             WHERE subject_kind = 'request' AND subject_id = $1 AND state = 'awaiting_approval'",
        )
        .bind(text(id))
        .doing(format!("cancel the approval of request {id}")),
    );
    s.db.write(tx).await?;
    get(s, id).await
}

/// Takes back running requests whose lease ended before `now`, or whose holder is one of
/// `dead_owners` (processes of this host found dead): re-queued while attempts remain,
/// else interrupted; cancelled when their cancellation was asked. Each is taken only as
/// it was read (same token, still running), with its token bumped.
pub(super) async fn reap(s: &SqlStore, now: OffsetDateTime, dead_owners: &[String]) -> Result<Vec<Reaped>> {
    let now_nanos = ts_to_db(now)?;
    let mut find = Stmt::dynamic(
        T,
        "SELECT id, owner, lease_expires_at, lease_token, attempts, max_attempts, cancel_requested FROM requests \
         WHERE state = 'running' AND (lease_expires_at < $1"
            .to_string(),
    )
    .bind(now_nanos);
    for owner in dead_owners {
        find.push(" OR owner = ").push_arg(owner);
    }
    find.push(")");
    let found = s.db.query(find.doing("look for requests to take back")).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = Tx::new();
    let mut taken = Vec::new();
    for mut row in found {
        let id: RequestId = row.parsed(0)?;
        let owner = row.text_opt(1)?.map(|o| Owner::parse(&o));
        let lease_end = row.int_opt(2)?;
        let token = row.int(3)?;
        let (attempts, max_attempts): (u32, u32) = (row.num(4)?, row.num(5)?);
        let cancelling = row.bool(6)?;
        let holder = owner.as_ref().map_or_else(|| "its holder".to_string(), Owner::describe);
        let dead = owner.as_ref().is_some_and(|o| dead_owners.iter().any(|d| d == o.as_str()));
        let mut reason = match lease_end.map(|n| ts_from_db(n, "requests.lease_expires_at")).transpose()? {
            _ if dead => format!("interrupted: {holder} stopped before it finished (its process is gone)"),
            Some(end) => format!(
                "interrupted: {holder} stopped before it finished (its lease ended at {} without renewal)",
                crate::records::rfc3339(end)
            ),
            None => format!("interrupted: {holder} stopped before it finished"),
        };
        let state = if cancelling {
            reason.push_str("; it was being cancelled");
            RequestState::Cancelled
        } else if attempts < max_attempts {
            reason.push_str(&format!("; re-queued after attempt {attempts} of {max_attempts}"));
            RequestState::Queued
        } else {
            reason.push_str(&format!("; all {max_attempts} attempts used"));
            RequestState::Interrupted
        };
        let finished = (state != RequestState::Queued).then_some(now_nanos);
        let i = tx.push(
            Stmt::new(
                T,
                "UPDATE requests SET state = $1, reason = $2, finished_at = $3, owner = NULL, lease_expires_at = NULL, \
                 lease_token = lease_token + 1 WHERE id = $4 AND lease_token = $5 AND state = 'running'",
            )
            .bind(state.as_str())
            .bind(reason.as_str())
            .bind(finished)
            .bind(text(id))
            .bind(token)
            .doing(format!("take back request {id}")),
        );
        taken.push((i, Reaped { id, state, reason: Some(reason) }));
    }
    push_notify(s, &mut tx, "reaped");
    let outs = s.db.write(tx).await?;
    Ok(taken.into_iter().filter(|(i, _)| outs[*i].changed == 1).map(|(_, r)| r).collect())
}

/// Requests per state (for metrics).
pub(super) async fn count(s: &SqlStore) -> Result<Vec<(RequestState, u64)>> {
    let stmt = Stmt::new(T, "SELECT state, COUNT(*) FROM requests GROUP BY state").doing("count requests");
    s.db.query(stmt).await?.into_iter().map(|mut r| Ok((r.parsed(0)?, r.num(1)?))).collect()
}
