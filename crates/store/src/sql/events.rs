//! The audit trail of an environment: append-only, kept after the environment is
//! deleted.

use terrace_model::{EnvironmentId, RunId};

use super::SqlStore;
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::records::EventRecord;
use crate::store::Result;

const T: &str = "events";

fn from_row(mut r: Row) -> Result<EventRecord> {
    Ok(EventRecord {
        id: r.int(0)?,
        environment_id: r.parsed(1)?,
        run_id: r.parsed_opt(2)?,
        kind: r.text(3)?,
        message: r.text(4)?,
        at: r.ts(5)?,
    })
}

pub(super) fn insert(env: EnvironmentId, run: Option<RunId>, kind: &str, message: &str) -> Result<Stmt> {
    Ok(Stmt::new(T, "INSERT INTO events (environment_id, run_id, kind, message, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(text(env))
        .bind(run.map(text))
        .bind(kind)
        .bind(message)
        .bind(now_db()?)
        .doing(format!("record an event of environment {env}")))
}

pub(super) async fn record(
    s: &SqlStore,
    env: EnvironmentId,
    run: Option<RunId>,
    kind: &str,
    message: &str,
) -> Result<()> {
    let mut tx = Tx::new();
    tx.push(insert(env, run, kind, message)?);
    s.db.write(tx).await.map(drop)
}

/// The newest `limit` events, newest first.
pub(super) async fn list(s: &SqlStore, env: EnvironmentId, limit: u32) -> Result<Vec<EventRecord>> {
    let stmt = Stmt::new(
        T,
        "SELECT id, environment_id, run_id, kind, message, at FROM events \
         WHERE environment_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(text(env))
    .bind(limit)
    .doing(format!("read the events of environment {env}"));
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}
