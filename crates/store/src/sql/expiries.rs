//! Ephemeral environments' destroy times (`expiries`): recorded once from the
//! environment's creation, extended, warned about and destroyed under compare-and-set.

use terrace_model::EnvironmentId;
use time::OffsetDateTime;

use super::SqlStore;
use crate::db::value::{text, ts};
use crate::db::{Row, Stmt, Tx};
use crate::records::EnvironmentRecord;
use crate::store::Result;
use crate::timed::ExpiryRecord;

const T: &str = "expiries";

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT environment_id, project, environment, expires_at, warned_at, attempts, retry_at, last_error \
             FROM expiries ",
            $rest
        )
    };
}

fn from_row(mut r: Row) -> Result<ExpiryRecord> {
    Ok(ExpiryRecord {
        environment_id: r.parsed(0)?,
        project: r.text(1)?,
        environment: r.text(2)?,
        expires_at: r.ts(3)?,
        warned_at: r.ts_opt(4)?,
        attempts: r.num(5)?,
        retry_at: r.ts_opt(6)?,
        last_error: r.text_opt(7)?,
    })
}

fn by_name(project: &str, env: &str) -> Stmt {
    Stmt::new(T, select!("WHERE project = $1 AND environment = $2"))
        .bind(project)
        .bind(env)
        .doing(format!("read the destroy time of {project}/{env}"))
}

pub(super) async fn ensure(s: &SqlStore, env: &EnvironmentRecord, expires_at: OffsetDateTime) -> Result<ExpiryRecord> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(
            T,
            "INSERT INTO expiries (environment_id, project, environment, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(text(env.id))
        .bind(&env.project)
        .bind(&env.name)
        .bind(ts(expires_at)?)
        .doing(format!("record the destroy time of {}/{}", env.project, env.name)),
    );
    let read = tx.push(by_name(&env.project, &env.name));
    let mut outs = s.db.write(tx).await?;
    let row = outs[read]
        .rows
        .pop()
        .ok_or_else(|| crate::error::StoreError::not_found("destroy time", format!("{}/{}", env.project, env.name)))?;
    from_row(row)
}

pub(super) async fn get(s: &SqlStore, project: &str, env: &str) -> Result<Option<ExpiryRecord>> {
    s.db.query_opt(by_name(project, env)).await?.map(from_row).transpose()
}

pub(super) async fn until(s: &SqlStore, until: OffsetDateTime, limit: u32) -> Result<Vec<ExpiryRecord>> {
    let stmt = Stmt::new(T, select!("WHERE expires_at <= $1 ORDER BY expires_at, environment_id LIMIT $2"))
        .bind(ts(until)?)
        .bind(limit)
        .doing("read the destroy times due");
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}

pub(super) async fn extend(
    s: &SqlStore,
    project: &str,
    env: &str,
    expires_at: OffsetDateTime,
) -> Result<Option<ExpiryRecord>> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(
            T,
            "UPDATE expiries SET expires_at = $1, warned_at = NULL, attempts = 0, retry_at = NULL, last_error = NULL \
             WHERE project = $2 AND environment = $3",
        )
        .bind(ts(expires_at)?)
        .bind(project)
        .bind(env)
        .doing(format!("extend the destroy time of {project}/{env}")),
    );
    let read = tx.push(by_name(project, env));
    let mut outs = s.db.write(tx).await?;
    outs[read].rows.pop().map(from_row).transpose()
}

/// One compare-and-set update; whether it changed the row.
async fn changed(s: &SqlStore, stmt: Stmt) -> Result<bool> {
    let mut tx = Tx::new();
    let i = tx.push(stmt);
    Ok(s.db.write(tx).await?[i].changed == 1)
}

pub(super) async fn mark_warned(s: &SqlStore, env: EnvironmentId, seen: OffsetDateTime) -> Result<bool> {
    let stmt = Stmt::new(
        T,
        "UPDATE expiries SET warned_at = $1 WHERE environment_id = $2 AND expires_at = $3 AND warned_at IS NULL",
    )
    .bind(crate::db::value::now_db()?)
    .bind(text(env))
    .bind(ts(seen)?)
    .doing(format!("record the destroy warning of environment {env}"));
    changed(s, stmt).await
}

pub(super) async fn claim_destroy(
    s: &SqlStore,
    env: EnvironmentId,
    seen: OffsetDateTime,
    attempts: u32,
    retry_at: OffsetDateTime,
) -> Result<bool> {
    let stmt = Stmt::new(
        T,
        "UPDATE expiries SET attempts = attempts + 1, retry_at = $1 \
         WHERE environment_id = $2 AND expires_at = $3 AND attempts = $4",
    )
    .bind(ts(retry_at)?)
    .bind(text(env))
    .bind(ts(seen)?)
    .bind(attempts)
    .doing(format!("count a destroy of environment {env}"));
    changed(s, stmt).await
}

pub(super) async fn note_error(s: &SqlStore, env: EnvironmentId, error: &str) -> Result<()> {
    let stmt = Stmt::new(T, "UPDATE expiries SET last_error = $1 WHERE environment_id = $2")
        .bind(error)
        .bind(text(env))
        .doing(format!("record why the destroy of environment {env} failed"));
    changed(s, stmt).await.map(drop)
}

pub(super) async fn delete(s: &SqlStore, env: EnvironmentId) -> Result<()> {
    let stmt = Stmt::new(T, "DELETE FROM expiries WHERE environment_id = $1")
        .bind(text(env))
        .doing(format!("forget the destroy time of environment {env}"));
    changed(s, stmt).await.map(drop)
}
