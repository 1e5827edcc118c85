//! Environment records on PostgreSQL: created on first use (a racing insert is a no-op),
//! updated by the engine's state machine, deleted with their outputs.

use sqlx::PgPool;
use sqlx::postgres::PgRow;
use terrace_model::EnvironmentId;

use super::codec::{col, now_db, parsed, ts};
use super::{begin, commit};
use crate::error::StoreError;
use crate::records::{EnvPage, EnvState, EnvironmentRecord};
use crate::store::Result;

const COLUMNS: &str = "id, project, name, state, failed_job, reason, created_at, updated_at";
const T: &str = "environments";

fn from_row(row: &PgRow) -> Result<EnvironmentRecord> {
    Ok(EnvironmentRecord {
        id: parsed(row, T, "id")?,
        project: col(row, T, "project")?,
        name: col(row, T, "name")?,
        state: parsed(row, T, "state")?,
        failed_job: col(row, T, "failed_job")?,
        reason: col(row, T, "reason")?,
        created_at: ts(row, T, "created_at")?,
        updated_at: ts(row, T, "updated_at")?,
    })
}

pub(super) async fn ensure(pool: &PgPool, project: &str, name: &str) -> Result<EnvironmentRecord> {
    let ctx = || format!("{project}/{name}");
    let now = now_db()?;
    // The insert waits for a concurrent one of the same key, then does nothing; the
    // select that follows (a new snapshot) sees the winner's row.
    sqlx::query(
        "INSERT INTO environments (id, project, name, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (project, name) DO NOTHING",
    )
    .bind(EnvironmentId::new().to_string())
    .bind(project)
    .bind(name)
    .bind(EnvState::Stopped.as_str())
    .bind(now)
    .execute(pool)
    .await
    .map_err(StoreError::db_for("create environment", ctx()))?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE project = $1 AND name = $2"))
        .bind(project)
        .bind(name)
        .fetch_one(pool)
        .await
        .map_err(StoreError::db_for("read environment", ctx()))?;
    from_row(&row)
}

pub(super) async fn get(pool: &PgPool, project: &str, name: &str) -> Result<Option<EnvironmentRecord>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE project = $1 AND name = $2"))
        .bind(project)
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db_for("read environment", format!("{project}/{name}")))?
        .map(|row| from_row(&row))
        .transpose()
}

/// A keyset page on the `(project, name)` unique index, as in SQLite. Two statements
/// rather than `$2 IS NULL OR name > $2`, which a generic plan could not seek with.
pub(super) async fn list(pool: &PgPool, project: &str, page: &EnvPage) -> Result<Vec<EnvironmentRecord>> {
    let limit = i64::from(page.limit);
    let rows = match &page.after {
        Some(after) => {
            let sql =
                format!("SELECT {COLUMNS} FROM environments WHERE project = $1 AND name > $2 ORDER BY name LIMIT $3");
            sqlx::query(&sql).bind(project).bind(after).bind(limit).fetch_all(pool).await
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM environments WHERE project = $1 ORDER BY name LIMIT $2");
            sqlx::query(&sql).bind(project).bind(limit).fetch_all(pool).await
        }
    };
    rows.map_err(StoreError::db("list environments"))?.iter().map(from_row).collect()
}

pub(super) async fn set_state(
    pool: &PgPool,
    id: EnvironmentId,
    state: EnvState,
    failed_job: Option<&str>,
    reason: Option<&str>,
) -> Result<()> {
    let done =
        sqlx::query("UPDATE environments SET state = $1, failed_job = $2, reason = $3, updated_at = $4 WHERE id = $5")
            .bind(state.as_str())
            .bind(failed_job)
            .bind(reason)
            .bind(now_db()?)
            .bind(id.to_string())
            .execute(pool)
            .await
            .map_err(StoreError::db_for("set state of environment", id))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("environment", id));
    }
    Ok(())
}

/// Outputs go with the environment; runs, logs and events stay as history.
pub(super) async fn delete(pool: &PgPool, id: EnvironmentId) -> Result<()> {
    let mut tx = begin(pool).await?;
    sqlx::query("DELETE FROM outputs WHERE environment_id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db_for("delete outputs of environment", id))?;
    let done = sqlx::query("DELETE FROM environments WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db_for("delete environment", id))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("environment", id));
    }
    commit(tx, "commit environment deletion").await
}
