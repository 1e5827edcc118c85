//! The control plane's audit log: who did what, append-only.

use super::SqlStore;
use crate::control::AuditRecord;
use crate::db::value::now_db;
use crate::db::{Row, Stmt, Tx};
use crate::store::Result;

const T: &str = "audit_log";

fn from_row(mut r: Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.int(0)?,
        at: r.ts(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        target: r.text(4)?,
        detail: r.text_opt(5)?,
    })
}

pub(super) async fn record(s: &SqlStore, actor: &str, action: &str, target: &str, detail: Option<&str>) -> Result<()> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(T, "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(now_db()?)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(detail)
            .doing("write the audit log"),
    );
    s.db.write(tx).await.map(drop)
}

/// The newest `limit` entries, newest first.
pub(super) async fn list(s: &SqlStore, limit: u32) -> Result<Vec<AuditRecord>> {
    let stmt = Stmt::new(T, "SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1")
        .bind(limit)
        .doing("read the audit log");
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}
