//! The notification outbox (`notifications`): each message to one endpoint, kept until
//! delivered. A sender claims a message with a lease (compare-and-set: one sender at a
//! time); a failed delivery comes back after a backoff, until it runs out of attempts.

use time::OffsetDateTime;

use super::SqlStore;
use crate::db::value::{text, ts};
use crate::db::{Row, Stmt, Tx};
use crate::store::Result;
use crate::timed::{NewNotification, NotificationRecord};

const T: &str = "notifications";

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, project, kind, endpoint, body, state, attempts, next_at, last_error, created_at, delivered_at \
             FROM notifications ",
            $rest
        )
    };
}

fn from_row(mut r: Row) -> Result<NotificationRecord> {
    Ok(NotificationRecord {
        id: r.parsed(0)?,
        project: r.text(1)?,
        kind: r.text(2)?,
        endpoint: r.text(3)?,
        body: r.text(4)?,
        state: r.text(5)?,
        attempts: r.num(6)?,
        next_at: r.ts(7)?,
        last_error: r.text_opt(8)?,
        created_at: r.ts(9)?,
        delivered_at: r.ts_opt(10)?,
    })
}

pub(super) async fn enqueue(s: &SqlStore, items: &[NewNotification], now: OffsetDateTime) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut tx = Tx::new();
    for n in items {
        tx.push(
            Stmt::new(
                T,
                "INSERT INTO notifications (id, project, kind, endpoint, body, state, attempts, next_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
            )
            .bind(text(n.id))
            .bind(&n.project)
            .bind(&n.kind)
            .bind(&n.endpoint)
            .bind(&n.body)
            .bind(ts(now)?)
            .doing(format!("queue a notification to {}", n.endpoint)),
        );
    }
    s.db.write(tx).await.map(drop)
}

/// Up to `limit` pending messages due at `now` that no live sender holds, each taken
/// under a lease until `lease_until` by `owner`.
pub(super) async fn claim(
    s: &SqlStore,
    project: &str,
    owner: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> Result<Vec<NotificationRecord>> {
    let due = Stmt::new(
        T,
        select!(
            "WHERE project = $1 AND state = 'pending' AND next_at <= $2 \
             AND (lease_expires_at IS NULL OR lease_expires_at < $2) ORDER BY next_at, id LIMIT $3"
        ),
    )
    .bind(project)
    .bind(ts(now)?)
    .bind(limit)
    .doing("read the notifications due");
    let mut out = Vec::new();
    for n in s.db.query(due).await?.into_iter().map(from_row) {
        let n = n?;
        let mut tx = Tx::new();
        let i = tx.push(
            Stmt::new(
                T,
                "UPDATE notifications SET owner = $1, lease_expires_at = $2 WHERE id = $3 AND state = 'pending' \
                 AND attempts = $4 AND (lease_expires_at IS NULL OR lease_expires_at < $5)",
            )
            .bind(owner)
            .bind(ts(lease_until)?)
            .bind(text(n.id))
            .bind(n.attempts)
            .bind(ts(now)?)
            .doing(format!("claim the notification {}", n.id)),
        );
        if s.db.write(tx).await?[i].changed == 1 {
            out.push(n);
        }
    }
    Ok(out)
}

/// Ends a delivery `owner` held: delivered, or failed once more (again at `retry_at`,
/// or given up when None).
pub(super) async fn finish(
    s: &SqlStore,
    id: crate::timed::NotificationId,
    owner: &str,
    outcome: std::result::Result<OffsetDateTime, (String, Option<OffsetDateTime>)>,
) -> Result<bool> {
    let mut tx = Tx::new();
    let stmt = match outcome {
        Ok(at) => Stmt::new(
            T,
            "UPDATE notifications SET state = 'delivered', delivered_at = $1, attempts = attempts + 1, owner = NULL, \
             lease_expires_at = NULL, last_error = NULL WHERE id = $2 AND owner = $3 AND state = 'pending'",
        )
        .bind(ts(at)?)
        .bind(text(id))
        .bind(owner),
        Err((error, retry_at)) => {
            let (state, next) = match retry_at {
                Some(at) => ("pending", at),
                None => ("failed", OffsetDateTime::now_utc()),
            };
            Stmt::new(
                T,
                "UPDATE notifications SET state = $1, next_at = $2, attempts = attempts + 1, owner = NULL, \
                 lease_expires_at = NULL, last_error = $3 WHERE id = $4 AND owner = $5 AND state = 'pending'",
            )
            .bind(state)
            .bind(ts(next)?)
            .bind(error)
            .bind(text(id))
            .bind(owner)
        }
    };
    let i = tx.push(stmt.doing(format!("record the delivery of notification {id}")));
    Ok(s.db.write(tx).await?[i].changed == 1)
}

pub(super) async fn of(s: &SqlStore, project: &str, limit: u32) -> Result<Vec<NotificationRecord>> {
    let stmt = Stmt::new(T, select!("WHERE project = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
        .bind(project)
        .bind(limit)
        .doing(format!("read the notifications of project {project}"));
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}
