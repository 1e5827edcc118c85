//! Environment records: created on first use, updated by the engine's state machine,
//! deleted (with their outputs) when a delete event succeeded.

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;
use terrace_model::EnvironmentId;

use super::codec::{col, now_db, parsed, ts};
use super::{begin_write, commit};
use crate::error::StoreError;
use crate::records::{EnvPage, EnvState, EnvironmentRecord};
use crate::store::Result;

const COLUMNS: &str = "id, project, name, state, failed_job, reason, created_at, updated_at";
const T: &str = "environments";

fn from_row(row: &SqliteRow) -> Result<EnvironmentRecord> {
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

pub(super) async fn ensure(pool: &SqlitePool, project: &str, name: &str) -> Result<EnvironmentRecord> {
    let ctx = || format!("{project}/{name}");
    let now = now_db()?;
    let mut tx = begin_write(pool).await?;
    // Two processes may ensure the same environment at once: the loser's insert is a no-op.
    sqlx::query(
        "INSERT INTO environments (id, project, name, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, name) DO NOTHING",
    )
    .bind(EnvironmentId::new().to_string())
    .bind(project)
    .bind(name)
    .bind(EnvState::Stopped.as_str())
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::db_for("create environment", ctx()))?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE project = ? AND name = ?"))
        .bind(project)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::db_for("read environment", ctx()))?;
    commit(tx, "commit new environment").await?;
    from_row(&row)
}

pub(super) async fn get(pool: &SqlitePool, project: &str, name: &str) -> Result<Option<EnvironmentRecord>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM environments WHERE project = ? AND name = ?"))
        .bind(project)
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db_for("read environment", format!("{project}/{name}")))?
        .map(|row| from_row(&row))
        .transpose()
}

/// A keyset page on the `(project, name)` unique index: a seek, then `limit` rows in
/// index order, whatever the size of the table.
pub(super) async fn list(pool: &SqlitePool, project: &str, page: &EnvPage) -> Result<Vec<EnvironmentRecord>> {
    let limit = i64::from(page.limit);
    let rows = match &page.after {
        Some(after) => {
            let sql =
                format!("SELECT {COLUMNS} FROM environments WHERE project = ? AND name > ? ORDER BY name LIMIT ?");
            sqlx::query(&sql).bind(project).bind(after).bind(limit).fetch_all(pool).await
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM environments WHERE project = ? ORDER BY name LIMIT ?");
            sqlx::query(&sql).bind(project).bind(limit).fetch_all(pool).await
        }
    };
    rows.map_err(StoreError::db("list environments"))?.iter().map(from_row).collect()
}

pub(super) async fn set_state(
    pool: &SqlitePool,
    id: EnvironmentId,
    state: EnvState,
    failed_job: Option<&str>,
    reason: Option<&str>,
) -> Result<()> {
    let done =
        sqlx::query("UPDATE environments SET state = ?, failed_job = ?, reason = ?, updated_at = ? WHERE id = ?")
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
pub(super) async fn delete(pool: &SqlitePool, id: EnvironmentId) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    sqlx::query("DELETE FROM outputs WHERE environment_id = ?")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db_for("delete outputs of environment", id))?;
    let done = sqlx::query("DELETE FROM environments WHERE id = ?")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db_for("delete environment", id))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("environment", id));
    }
    commit(tx, "commit environment deletion").await
}
