//! Registered projects, API tokens (stored by hash only) and the audit log.

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;

use super::codec::{col, now_db, parsed, ts, ts_opt, ts_to_db};
use crate::control::{AuditRecord, ProjectRecord, Role, TokenId, TokenRecord};
use crate::error::StoreError;
use crate::store::Result;

const TOKEN_COLUMNS: &str = "id, name, role, created_at, last_used_at, revoked_at";

fn project_from_row(row: &SqliteRow) -> Result<ProjectRecord> {
    Ok(ProjectRecord {
        name: col(row, "projects", "name")?,
        path: col(row, "projects", "path")?,
        registered_at: ts(row, "projects", "registered_at")?,
    })
}

pub(super) async fn put_project(pool: &SqlitePool, name: &str, path: &str) -> Result<ProjectRecord> {
    let row = sqlx::query(
        "INSERT INTO projects (name, path, registered_at) VALUES (?, ?, ?) \
         ON CONFLICT (name) DO UPDATE SET path = excluded.path RETURNING name, path, registered_at",
    )
    .bind(name)
    .bind(path)
    .bind(now_db()?)
    .fetch_one(pool)
    .await
    .map_err(StoreError::db_for("register project", name))?;
    project_from_row(&row)
}

pub(super) async fn get_project(pool: &SqlitePool, name: &str) -> Result<Option<ProjectRecord>> {
    let row = sqlx::query("SELECT name, path, registered_at FROM projects WHERE name = ?")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::db_for("read project", name))?;
    row.as_ref().map(project_from_row).transpose()
}

pub(super) async fn list_projects(pool: &SqlitePool) -> Result<Vec<ProjectRecord>> {
    let rows = sqlx::query("SELECT name, path, registered_at FROM projects ORDER BY name")
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("list projects"))?;
    rows.iter().map(project_from_row).collect()
}

fn token_from_row(row: &SqliteRow) -> Result<TokenRecord> {
    const T: &str = "api_tokens";
    Ok(TokenRecord {
        id: parsed(row, T, "id")?,
        name: col(row, T, "name")?,
        role: parsed(row, T, "role")?,
        created_at: ts(row, T, "created_at")?,
        last_used_at: ts_opt(row, T, "last_used_at")?,
        revoked_at: ts_opt(row, T, "revoked_at")?,
    })
}

pub(super) async fn create_token(pool: &SqlitePool, name: &str, role: Role, hash: &str) -> Result<TokenRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?) \
         RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(TokenId::new().to_string())
    .bind(name)
    .bind(role.as_str())
    .bind(hash)
    .bind(now_db()?)
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Invalid(format!("a token named `{name}` already exists; pick another name"))
        }
        _ => StoreError::Database { context: format!("create token {name}"), source: e },
    })?;
    token_from_row(&row)
}

/// How stale `last_used_at` may get: refreshing it on every call would make every API
/// read a database write.
const LAST_USED_RESOLUTION_NANOS: i64 = 60_000_000_000;

pub(super) async fn token_by_hash(pool: &SqlitePool, hash: &str) -> Result<Option<TokenRecord>> {
    let row =
        sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL"))
            .bind(hash)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("look up a token"))?;
    let Some(token) = row.as_ref().map(token_from_row).transpose()? else { return Ok(None) };
    let now = now_db()?;
    // Written at most once per resolution: a write on every API request would take the
    // database's write lock for each (SQLite has one), and serialise all readers' requests.
    let last_used = token.last_used_at.map(ts_to_db).transpose()?;
    if last_used.is_some_and(|t| t >= now - LAST_USED_RESOLUTION_NANOS) {
        return Ok(Some(token));
    }
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)",
    )
    .bind(now)
    .bind(token.id.to_string())
    .bind(now - LAST_USED_RESOLUTION_NANOS)
    .execute(pool)
    .await
    .map_err(StoreError::db("record a token's use"))?;
    Ok(Some(token))
}

pub(super) async fn list_tokens(pool: &SqlitePool) -> Result<Vec<TokenRecord>> {
    let rows = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at"))
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("list tokens"))?;
    rows.iter().map(token_from_row).collect()
}

pub(super) async fn revoke_token(pool: &SqlitePool, id: TokenId) -> Result<bool> {
    let done = sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(now_db()?)
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(StoreError::db_for("revoke token", id))?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn audit(
    pool: &SqlitePool,
    actor: &str,
    action: &str,
    target: &str,
    detail: Option<&str>,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(now_db()?)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(pool)
        .await
        .map_err(StoreError::db("write the audit log"))?;
    Ok(())
}

pub(super) async fn audit_log(pool: &SqlitePool, limit: u32) -> Result<Vec<AuditRecord>> {
    const T: &str = "audit_log";
    let rows = sqlx::query("SELECT id, at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT ?")
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("read the audit log"))?;
    rows.iter()
        .map(|row| {
            Ok(AuditRecord {
                id: col(row, T, "id")?,
                at: ts(row, T, "at")?,
                actor: col(row, T, "actor")?,
                action: col(row, T, "action")?,
                target: col(row, T, "target")?,
                detail: col(row, T, "detail")?,
            })
        })
        .collect()
}
