//! The life of a run once created: attempts, their processes, the run's end, lease
//! renewals and take-backs. Every write is fenced by the writer's lease (`fence`) and is
//! one transaction, with the log lines that go with it when they fit in rows.

use std::sync::Arc;

use terrace_model::RunId;
use terrace_model::log::LogBatch;
use time::OffsetDateTime;

use super::logs::{self, AttemptNo};
use super::{SqlStore, fence};
use crate::db::value::{now_db, text, ts, ts_to_db};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::RunLease;
use crate::records::{AttemptRecord, Ending};
use crate::store::Result;

const T: &str = "attempts";

fn from_row(mut r: Row) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        run_id: r.parsed(0)?,
        number: r.num(1)?,
        state: r.parsed(2)?,
        exit_code: r.num_opt(3)?,
        reason: r.text_opt(4)?,
        executor: r.text_opt(5)?,
        handle: r.text_opt(6)?,
        started_at: r.ts(7)?,
        finished_at: r.ts_opt(8)?,
        phase: r.text_opt(9)?,
    })
}

pub(super) async fn list(s: &SqlStore, run: RunId) -> Result<Vec<AttemptRecord>> {
    let stmt = Stmt::new(
        T,
        "SELECT run_id, number, state, exit_code, reason, executor, handle, started_at, finished_at, phase \
         FROM attempts WHERE run_id = $1 ORDER BY number",
    )
    .bind(text(run))
    .doing(format!("list the attempts of run {run}"));
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}

/// Starts a new attempt (the run `running`, its lease extended) with its opening log
/// lines: one transaction, one hop to SQLite's writer. Returns the attempt's number.
pub(super) async fn start(
    s: &SqlStore,
    lease: &RunLease,
    until: OffsetDateTime,
    inputs_hash: Option<&str>,
    log: Arc<[LogBatch]>,
) -> Result<u32> {
    let run = lease.id;
    let inline = logs::fits_inline(s, &log);
    let now = now_db()?;
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    let update = tx.push(
        Stmt::new(
            "runs",
            "UPDATE runs SET attempts = attempts + 1, state = 'running', lease_expires_at = $2, \
             started_at = COALESCE(started_at, $3), inputs_hash = COALESCE($4, inputs_hash) \
             WHERE id = $1 RETURNING attempts",
        )
        .bind(text(run))
        .bind(ts(until)?)
        .bind(now)
        .bind(inputs_hash)
        .doing(format!("start an attempt of run {run}")),
    );
    tx.push(
        Stmt::new(
            T,
            "INSERT INTO attempts (run_id, number, state, started_at) \
             SELECT id, attempts, 'running', $2 FROM runs WHERE id = $1",
        )
        .bind(text(run))
        .bind(now)
        .doing(format!("record an attempt of run {run}")),
    );
    if inline {
        logs::inline_rows(&mut tx, run, AttemptNo::Current, &log)?;
    }
    let mut outs = s.db.write(tx).await?;
    let number: u32 = match outs[update].rows.first_mut() {
        Some(row) => row.num(0)?,
        None => return Err(StoreError::not_found("run", run)),
    };
    if !inline {
        logs::append(s, lease, number, log).await?;
    }
    Ok(number)
}

pub(super) async fn record_handle(
    s: &SqlStore,
    lease: &RunLease,
    attempt: u32,
    executor: &str,
    handle: &str,
    phase: &str,
) -> Result<()> {
    let run = lease.id;
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.one(
        Stmt::new(T, "UPDATE attempts SET executor = $1, handle = $2, phase = $3 WHERE run_id = $4 AND number = $5")
            .bind(executor)
            .bind(handle)
            .bind(phase)
            .bind(text(run))
            .bind(attempt)
            .doing(format!("record the step handle of run {run}")),
        move || StoreError::not_found("attempt", format!("{run}#{attempt}")),
    );
    s.db.write(tx).await.map(drop)
}

/// The statements ending the run (and an attempt still running, whose process died with
/// its owner) in `end`'s state; the run's lease is released.
fn end_run(tx: &mut Tx, run: RunId, end: &Ending, now: i64) {
    tx.one(
        Stmt::new(
            "runs",
            "UPDATE runs SET state = $1, exit_code = $2, reason = $3, finished_at = $4, owner = NULL, \
             lease_expires_at = NULL WHERE id = $5",
        )
        .bind(end.state.as_str())
        .bind(end.exit_code)
        .bind(end.reason.as_deref())
        .bind(now)
        .bind(text(run))
        .doing(format!("finish run {run}")),
        move || StoreError::not_found("run", run),
    );
    tx.push(
        Stmt::new(
            T,
            "UPDATE attempts SET state = $1, exit_code = COALESCE(exit_code, $2), reason = $3, finished_at = $4 \
             WHERE run_id = $5 AND state = 'running'",
        )
        .bind(end.state.as_str())
        .bind(end.exit_code)
        .bind(end.reason.as_deref())
        .bind(now)
        .bind(text(run))
        .doing(format!("finish the running attempt of run {run}")),
    );
    // A state lock lives no longer than its run (a killed `terraform` leaves one).
    tx.push(super::tf_state::release_locks_of(run));
}

/// Ends an attempt with its summary lines and, with `run_end`, the run: one transaction.
pub(super) async fn end(
    s: &SqlStore,
    lease: &RunLease,
    attempt: u32,
    end: &Ending,
    log: Arc<[LogBatch]>,
    run_end: Option<&Ending>,
) -> Result<()> {
    let tx = end_tx(s, lease, attempt, end, log, run_end).await?;
    s.db.write(tx).await.map(drop)
}

/// The transaction of [`end`], for a caller that adds its own statements to it (they run
/// after the lease check, in the same commit).
pub(super) async fn end_tx(
    s: &SqlStore,
    lease: &RunLease,
    attempt: u32,
    end: &Ending,
    log: Arc<[LogBatch]>,
    run_end: Option<&Ending>,
) -> Result<Tx> {
    let run = lease.id;
    // A long log goes to its file first (under the same lease); a short one into the
    // same transaction.
    let inline = logs::fits_inline(s, &log);
    if !inline {
        logs::append(s, lease, attempt, log.clone()).await?;
    }
    let now = now_db()?;
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.one(
        Stmt::new(
            T,
            "UPDATE attempts SET state = $1, exit_code = $2, reason = $3, finished_at = $4 \
             WHERE run_id = $5 AND number = $6",
        )
        .bind(end.state.as_str())
        .bind(end.exit_code)
        .bind(end.reason.as_deref())
        .bind(now)
        .bind(text(run))
        .bind(attempt)
        .doing(format!("finish attempt {attempt} of run {run}")),
        move || StoreError::not_found("attempt", format!("{run}#{attempt}")),
    );
    if inline {
        logs::inline_rows(&mut tx, run, AttemptNo::Number(attempt), &log)?;
    }
    if let Some(e) = run_end {
        end_run(&mut tx, run, e, now);
    }
    Ok(tx)
}

/// Ends the run (and any attempt still running) in a final state; releases its lease.
pub(super) async fn finish_run(s: &SqlStore, lease: &RunLease, end: &Ending) -> Result<()> {
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    end_run(&mut tx, lease.id, end, now_db()?);
    s.db.write(tx).await.map(drop)
}

/// Extends the leases still held; returns the runs whose lease is no longer ours.
pub(super) async fn renew(s: &SqlStore, leases: &[RunLease], until: OffsetDateTime) -> Result<Vec<RunId>> {
    let until = ts_to_db(until)?;
    let mut tx = Tx::new();
    for l in leases {
        tx.push(
            Stmt::new(
                "runs",
                "UPDATE runs SET lease_expires_at = $1 \
                 WHERE id = $2 AND owner = $3 AND lease_token = $4 AND state IN ('queued', 'running')",
            )
            .bind(until)
            .bind(text(l.id))
            .bind(l.owner.as_str())
            .bind(i64::try_from(l.token).unwrap_or(i64::MAX))
            .doing(format!("renew the lease on run {}", l.id)),
        );
    }
    let outs = s.db.write(tx).await?;
    Ok(leases.iter().zip(outs).filter(|(_, out)| out.changed == 0).map(|(l, _)| l.id).collect())
}

/// Ends an active run whose holder can no longer finish it, as `interrupted`, provided
/// it is still as seen: the same lease token and, with `expired_before`, a lease that
/// ended before then (a renewal that came meanwhile wins). The token is bumped, so the
/// old holder's every later write is refused.
pub(super) async fn take_back(
    s: &SqlStore,
    run: RunId,
    token: u64,
    expired_before: Option<OffsetDateTime>,
    reason: &str,
) -> Result<bool> {
    let now = now_db()?;
    let token = i64::try_from(token).unwrap_or(i64::MAX);
    let mut stmt = Stmt::dynamic(
        "runs",
        "UPDATE runs SET state = 'interrupted', reason = $1, finished_at = $2, owner = NULL, lease_expires_at = NULL, \
         lease_token = lease_token + 1 WHERE id = $3 AND lease_token = $4 AND state IN ('queued', 'running')"
            .to_string(),
    )
    .bind(reason)
    .bind(now)
    .bind(text(run))
    .bind(token);
    if let Some(t) = expired_before {
        stmt.push(" AND (lease_expires_at IS NULL OR lease_expires_at < ").push_arg(ts_to_db(t)?).push(")");
    }
    let mut tx = Tx::new();
    // Nothing more to do when the run moved on meanwhile: the guard stops here.
    tx.guarded(stmt.doing(format!("take back run {run}")), move |out| {
        if out.changed == 1 { Ok(()) } else { Err(StoreError::not_found("run to take back", run)) }
    });
    tx.push(
        Stmt::new(
            T,
            "UPDATE attempts SET state = 'interrupted', reason = $1, finished_at = $2 \
             WHERE run_id = $3 AND state = 'running'",
        )
        .bind(reason)
        .bind(now)
        .bind(text(run))
        .doing(format!("end the running attempt of run {run}")),
    );
    tx.push(super::tf_state::release_locks_of(run));
    match s.db.write(tx).await {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound { what: "run to take back", .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs per state (for metrics).
pub(super) async fn count_by_state(s: &SqlStore) -> Result<Vec<(String, u64)>> {
    let stmt = Stmt::new("runs", "SELECT state, COUNT(*) FROM runs GROUP BY state").doing("count runs");
    s.db.query(stmt).await?.into_iter().map(|mut r| Ok((r.text(0)?, r.num(1)?))).collect()
}
