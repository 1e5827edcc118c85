//! Job outputs of an environment on PostgreSQL. A sensitive value is stored only
//! encrypted, bound to its environment, job and name (the SQLite store's binding, so
//! both stores seal alike).

use sqlx::PgPool;
use sqlx::postgres::PgRow;
use terrace_model::output::OutputEntry;
use terrace_model::{EnvironmentId, RunId};

use super::codec::{col, now_db, parsed, ts};
use super::{advisory_lock, begin, commit};
use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::records::StoredOutput;
use crate::store::Result;

const T: &str = "outputs";

fn binding(env: EnvironmentId, job: &str, name: &str) -> Vec<u8> {
    // Job and output names never contain NUL, so the binding is unambiguous.
    format!("terrace-output\0{env}\0{job}\0{name}").into_bytes()
}

pub(super) async fn put(
    pool: &PgPool,
    cipher: &Cipher,
    env: EnvironmentId,
    job: &str,
    run: RunId,
    entries: &[OutputEntry],
) -> Result<()> {
    // Encrypt before the transaction: no crypto while row locks are held.
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        let (plain, sealed) = if e.sensitive {
            (None, Some(cipher.encrypt_bound(e.value.as_bytes(), &binding(env, job, &e.name))?))
        } else {
            (Some(e.value.as_str()), None)
        };
        rows.push((e, plain, sealed));
    }
    let now = now_db()?;
    let mut tx = begin(pool).await?;
    // Two replicas replacing one job's outputs at once would both delete, then clash on
    // insert: SQLite's single writer serialises them, here the advisory lock does.
    advisory_lock(&mut tx, &format!("terrace-outputs:{env}/{job}")).await?;
    sqlx::query("DELETE FROM outputs WHERE environment_id = $1 AND job = $2")
        .bind(env.to_string())
        .bind(job)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db_for("replace outputs of job", job))?;
    for (e, plain, sealed) in rows {
        sqlx::query(
            "INSERT INTO outputs (environment_id, job, name, value, value_enc, sensitive, run_id, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(env.to_string())
        .bind(job)
        .bind(&e.name)
        .bind(plain)
        .bind(sealed)
        .bind(e.sensitive)
        .bind(run.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db_for("store output", format!("{job}.{}", e.name)))?;
    }
    commit(tx, "commit outputs").await
}

fn from_row(cipher: &Cipher, env: EnvironmentId, row: &PgRow) -> Result<StoredOutput> {
    let job: String = col(row, T, "job")?;
    let name: String = col(row, T, "name")?;
    let sensitive: bool = col(row, T, "sensitive")?;
    let value = if sensitive {
        let sealed: Vec<u8> = col(row, T, "value_enc")?;
        let plain = cipher.decrypt_bound(&sealed, &binding(env, &job, &name))?;
        String::from_utf8(plain)
            .map_err(|_| StoreError::Corrupt(format!("outputs.value_enc of {job}.{name}: not UTF-8")))?
    } else {
        col(row, T, "value")?
    };
    Ok(StoredOutput {
        run_id: parsed(row, T, "run_id")?,
        updated_at: ts(row, T, "updated_at")?,
        job,
        name,
        value,
        sensitive,
    })
}

pub(super) async fn list(pool: &PgPool, cipher: &Cipher, env: EnvironmentId) -> Result<Vec<StoredOutput>> {
    sqlx::query(
        "SELECT job, name, value, value_enc, sensitive, run_id, updated_at FROM outputs
         WHERE environment_id = $1 ORDER BY job, name",
    )
    .bind(env.to_string())
    .fetch_all(pool)
    .await
    .map_err(StoreError::db_for("read outputs of environment", env))?
    .iter()
    .map(|row| from_row(cipher, env, row))
    .collect()
}

pub(super) async fn delete(pool: &PgPool, env: EnvironmentId, job: &str) -> Result<()> {
    sqlx::query("DELETE FROM outputs WHERE environment_id = $1 AND job = $2")
        .bind(env.to_string())
        .bind(job)
        .execute(pool)
        .await
        .map_err(StoreError::db_for("delete outputs of job", job))?;
    Ok(())
}
