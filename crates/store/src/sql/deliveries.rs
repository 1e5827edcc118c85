//! Webhook deliveries kept for the work they ask: one row per delivery id, so a
//! redelivery (the same `X-GitHub-Delivery`) is recognised and does nothing twice.

use super::SqlStore;
use crate::control::{DeliveryRecord, NewDelivery};
use crate::db::value::now_db;
use crate::db::{Row, Stmt, Tx};
use crate::store::Result;

const T: &str = "webhook_deliveries";

fn from_row(mut r: Row) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        key: r.text(0)?,
        forge: r.text(1)?,
        event: r.text(2)?,
        summary: r.text(3)?,
        state: r.text(4)?,
        received_at: r.ts(5)?,
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
        "SELECT key, forge, event, summary, state, received_at FROM webhook_deliveries \
         ORDER BY received_at DESC, key DESC LIMIT $1",
    )
    .bind(limit)
    .doing("list webhook deliveries");
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}
