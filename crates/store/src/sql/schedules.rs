//! Cron schedules (`schedules`): a job's `schedule` and an environment's `drift`, each
//! with the next tick it fires at. A tick fires by moving `next_at` past it in the
//! statement that checks it, so of several replicas one fires each tick.

use time::OffsetDateTime;

use super::SqlStore;
use crate::db::value::ts;
use crate::db::{Row, Stmt, Tx};
use crate::store::Result;
use crate::timed::ScheduleRecord;

const T: &str = "schedules";

macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT key, kind, project, environment, job, cron, next_at, last_fired_at FROM schedules ", $rest)
    };
}

fn from_row(mut r: Row) -> Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        key: r.text(0)?,
        kind: r.parsed(1)?,
        project: r.text(2)?,
        environment: r.text(3)?,
        job: r.text_opt(4)?,
        cron: r.text(5)?,
        next_at: r.ts(6)?,
        last_fired_at: r.ts_opt(7)?,
    })
}

pub(super) async fn ensure(s: &SqlStore, rec: &ScheduleRecord) -> Result<ScheduleRecord> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(
            T,
            "INSERT INTO schedules (key, kind, project, environment, job, cron, next_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (key) DO UPDATE SET cron = excluded.cron, next_at = excluded.next_at \
             WHERE schedules.cron <> excluded.cron",
        )
        .bind(&rec.key)
        .bind(rec.kind.as_str())
        .bind(&rec.project)
        .bind(&rec.environment)
        .bind(rec.job.clone())
        .bind(&rec.cron)
        .bind(ts(rec.next_at)?)
        .doing(format!("record the schedule {}", rec.key)),
    );
    let read =
        tx.push(Stmt::new(T, select!("WHERE key = $1")).bind(&rec.key).doing(format!("read the schedule {}", rec.key)));
    let mut outs = s.db.write(tx).await?;
    let row = outs[read].rows.pop().ok_or_else(|| crate::error::StoreError::not_found("schedule", rec.key.clone()))?;
    from_row(row)
}

pub(super) async fn of(s: &SqlStore, project: &str) -> Result<Vec<ScheduleRecord>> {
    let stmt = Stmt::new(T, select!("WHERE project = $1 ORDER BY key"))
        .bind(project)
        .doing(format!("read the schedules of project {project}"));
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}

pub(super) async fn fire(
    s: &SqlStore,
    key: &str,
    seen: OffsetDateTime,
    next_at: OffsetDateTime,
    fired_at: OffsetDateTime,
) -> Result<bool> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(T, "UPDATE schedules SET next_at = $1, last_fired_at = $2 WHERE key = $3 AND next_at = $4")
            .bind(ts(next_at)?)
            .bind(ts(fired_at)?)
            .bind(key)
            .bind(ts(seen)?)
            .doing(format!("fire the schedule {key}")),
    );
    Ok(s.db.write(tx).await?[i].changed == 1)
}

pub(super) async fn delete(s: &SqlStore, key: &str) -> Result<()> {
    let mut tx = Tx::new();
    tx.push(Stmt::new(T, "DELETE FROM schedules WHERE key = $1").bind(key).doing(format!("forget the schedule {key}")));
    s.db.write(tx).await.map(drop)
}
