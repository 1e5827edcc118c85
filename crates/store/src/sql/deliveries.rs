//! Webhook deliveries kept for the work they ask: one row per delivery id, so a
//! redelivery (the same `X-GitHub-Delivery`) is recognised and does nothing twice; then a
//! durable work queue: claimed under a lease with a fencing token, retried with backoff,
//! taken back when its replica's lease expired.

use time::OffsetDateTime;

use super::{SqlStore, fence};
use crate::control::{DeliveryEnd, DeliveryLease, DeliveryRecord, DeliveryWork, NewDelivery};
use crate::db::value::{now_db, text, ts};
use crate::db::{Db, Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::{Lease, Owner};
use crate::store::Result;

const T: &str = "webhook_deliveries";

macro_rules! columns {
    () => {
        "key, forge, event, summary, state, received_at, attempts, outcome, last_error, finished_at"
    };
}

fn from_row(r: &mut Row) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        key: r.text(0)?,
        forge: r.text(1)?,
        event: r.text(2)?,
        summary: r.text(3)?,
        state: r.text(4)?,
        received_at: r.ts(5)?,
        attempts: r.num(6)?,
        outcome: r.json_opt(7)?,
        last_error: r.text_opt(8)?,
        finished_at: r.ts_opt(9)?,
    })
}

pub(super) async fn record(s: &SqlStore, d: &NewDelivery) -> Result<bool> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(
            T,
            "INSERT INTO webhook_deliveries (key, forge, event, summary, body, state, received_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6) ON CONFLICT (key) DO NOTHING RETURNING key",
        )
        .bind(&d.key)
        .bind(&d.forge)
        .bind(&d.event)
        .bind(&d.summary)
        .bind(d.body.clone())
        .bind(now_db()?)
        .doing(format!("keep webhook delivery {}", d.key)),
    );
    let outs = s.db.write(tx).await?;
    Ok(!outs[i].rows.is_empty())
}

pub(super) async fn list(s: &SqlStore, limit: u32) -> Result<Vec<DeliveryRecord>> {
    let stmt = Stmt::new(
        T,
        concat!("SELECT ", columns!(), " FROM webhook_deliveries ORDER BY received_at DESC, key DESC LIMIT $1"),
    )
    .bind(limit)
    .doing("list webhook deliveries");
    s.db.query(stmt).await?.into_iter().map(|mut r| from_row(&mut r)).collect()
}

pub(super) async fn get(s: &SqlStore, key: &str) -> Result<Option<DeliveryRecord>> {
    let stmt = Stmt::new(T, concat!("SELECT ", columns!(), " FROM webhook_deliveries WHERE key = $1"))
        .bind(key)
        .doing(format!("read webhook delivery {key}"));
    s.db.query_opt(stmt).await?.map(|mut r| from_row(&mut r)).transpose()
}

/// Claimable: queued and due, or processing under a lease that expired.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE webhook_deliveries SET state = 'processing', owner = $1, lease_expires_at = $2, \
                 attempts = attempts + 1, lease_token = lease_token + 1 \
             WHERE ((state = 'queued' AND next_at <= $3) OR (state = 'processing' AND lease_expires_at < $3)) \
               AND key = (SELECT q.key FROM webhook_deliveries q \
                 WHERE (q.state = 'queued' AND q.next_at <= $3) \
                    OR (q.state = 'processing' AND q.lease_expires_at < $3) \
                 ORDER BY q.received_at, q.key LIMIT 1",
            $lock,
            ") RETURNING ",
            columns!(),
            ", body, progress, lease_token"
        )
    };
}

pub(super) async fn claim(s: &SqlStore, owner: &Owner, until: OffsetDateTime) -> Result<Option<DeliveryWork>> {
    let sql = match s.db {
        Db::Sqlite(_) => claim_sql!(""),
        Db::Postgres(_) => claim_sql!(" FOR UPDATE OF q SKIP LOCKED"),
    };
    let mut tx = Tx::new();
    tx.push(Stmt::new(T, sql).bind(owner.as_str()).bind(ts(until)?).bind(now_db()?).doing("claim a webhook delivery"));
    let mut outs = s.db.write(tx).await?;
    let Some(mut row) = outs[0].rows.pop() else { return Ok(None) };
    let record = from_row(&mut row)?;
    let body = row.blob(10)?;
    let progress = row.json_opt(11)?.unwrap_or_default();
    let token = row.num(12)?;
    let lease = Lease { id: record.key.clone(), owner: owner.clone(), token };
    Ok(Some(DeliveryWork { record, body, progress, lease }))
}

pub(super) async fn renew(s: &SqlStore, lease: &DeliveryLease, until: OffsetDateTime) -> Result<()> {
    let mut tx = Tx::new();
    fence::delivery(&mut tx, lease);
    tx.push(
        Stmt::new(T, "UPDATE webhook_deliveries SET lease_expires_at = $1 WHERE key = $2")
            .bind(ts(until)?)
            .bind(text(&lease.id))
            .doing(format!("renew the lease on webhook delivery {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}

pub(super) async fn set_progress(
    s: &SqlStore,
    lease: &DeliveryLease,
    progress: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let json = serde_json::to_string(progress).map_err(|e| StoreError::Invalid(format!("delivery progress: {e}")))?;
    let mut tx = Tx::new();
    fence::delivery(&mut tx, lease);
    tx.push(
        Stmt::new(T, "UPDATE webhook_deliveries SET progress = $1 WHERE key = $2")
            .bind(json)
            .bind(text(&lease.id))
            .doing(format!("record the progress of webhook delivery {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}

pub(super) async fn defer(s: &SqlStore, lease: &DeliveryLease, next_at: OffsetDateTime) -> Result<()> {
    let mut tx = Tx::new();
    fence::delivery(&mut tx, lease);
    tx.push(
        Stmt::new(
            T,
            "UPDATE webhook_deliveries SET state = 'queued', next_at = $1, owner = NULL, lease_expires_at = NULL, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE key = $2",
        )
        .bind(ts(next_at)?)
        .bind(text(&lease.id))
        .doing(format!("defer webhook delivery {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}

pub(super) async fn retry(s: &SqlStore, lease: &DeliveryLease, next_at: OffsetDateTime, error: &str) -> Result<()> {
    let mut tx = Tx::new();
    fence::delivery(&mut tx, lease);
    tx.push(
        Stmt::new(
            T,
            "UPDATE webhook_deliveries SET state = 'queued', next_at = $1, last_error = $2, owner = NULL, \
             lease_expires_at = NULL WHERE key = $3",
        )
        .bind(ts(next_at)?)
        .bind(error)
        .bind(text(&lease.id))
        .doing(format!("put webhook delivery {} back in the queue", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}

pub(super) async fn finish(
    s: &SqlStore,
    lease: &DeliveryLease,
    end: DeliveryEnd,
    outcome: &serde_json::Value,
    error: Option<&str>,
) -> Result<()> {
    let mut tx = Tx::new();
    fence::delivery(&mut tx, lease);
    tx.push(
        Stmt::new(
            T,
            "UPDATE webhook_deliveries SET state = $1, outcome = $2, last_error = $3, finished_at = $4, \
             owner = NULL, lease_expires_at = NULL WHERE key = $5",
        )
        .bind(end.as_str())
        .bind(outcome.to_string())
        .bind(error)
        .bind(now_db()?)
        .bind(text(&lease.id))
        .doing(format!("finish webhook delivery {}", lease.id)),
    );
    s.db.write(tx).await.map(drop)
}
