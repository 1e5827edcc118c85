//! Secrets set through the API, on PostgreSQL: sealed with the master key, bound to
//! their project, environment and name so a blob copied to another row does not open.

use sqlx::PgPool;

use super::codec::{col, now_db, ts};
use crate::control::SecretInfo;
use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "secrets";

fn context(project: &str, env: &str, name: &str) -> Vec<u8> {
    format!("secret\0{project}\0{env}\0{name}").into_bytes()
}

pub(super) async fn put(
    pool: &PgPool,
    cipher: &Cipher,
    project: &str,
    env: &str,
    name: &str,
    value: &str,
    by: &str,
) -> Result<()> {
    let sealed = cipher.encrypt_bound(value.as_bytes(), &context(project, env, name))?;
    sqlx::query(
        "INSERT INTO secrets (project, environment, name, value_enc, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (project, environment, name) DO UPDATE SET value_enc = excluded.value_enc, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(project)
    .bind(env)
    .bind(name)
    .bind(sealed)
    .bind(by)
    .bind(now_db()?)
    .execute(pool)
    .await
    .map_err(StoreError::db_for("store secret", name))?;
    Ok(())
}

pub(super) async fn list(pool: &PgPool, project: &str, env: &str) -> Result<Vec<SecretInfo>> {
    let rows = sqlx::query(
        "SELECT name, updated_by, updated_at FROM secrets WHERE project = $1 AND environment = $2 ORDER BY name",
    )
    .bind(project)
    .bind(env)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("list secrets"))?;
    rows.iter()
        .map(|row| {
            Ok(SecretInfo {
                name: col(row, T, "name")?,
                updated_by: col(row, T, "updated_by")?,
                updated_at: ts(row, T, "updated_at")?,
            })
        })
        .collect()
}

pub(super) async fn values(pool: &PgPool, cipher: &Cipher, project: &str, env: &str) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT name, value_enc FROM secrets WHERE project = $1 AND environment = $2 ORDER BY name")
        .bind(project)
        .bind(env)
        .fetch_all(pool)
        .await
        .map_err(StoreError::db("read secrets"))?;
    rows.iter()
        .map(|row| {
            let name: String = col(row, T, "name")?;
            let blob: Vec<u8> = col(row, T, "value_enc")?;
            let plain = cipher.decrypt_bound(&blob, &context(project, env, &name))?;
            let value =
                String::from_utf8(plain).map_err(|_| StoreError::Corrupt(format!("secret {name}: not UTF-8")))?;
            Ok((name, value))
        })
        .collect()
}

pub(super) async fn delete(pool: &PgPool, project: &str, env: &str, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM secrets WHERE project = $1 AND environment = $2 AND name = $3")
        .bind(project)
        .bind(env)
        .bind(name)
        .execute(pool)
        .await
        .map_err(StoreError::db_for("delete secret", name))?;
    Ok(done.rows_affected() > 0)
}
