//! Job outputs of an environment. A sensitive value is stored only encrypted, bound to
//! its environment, job and name, so a blob copied onto another output fails to open.
//! Outputs are written by a run, under its lease.

use terrace_model::output::OutputEntry;
use terrace_model::{EnvironmentId, RunId};

use super::{SqlStore, fence};
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::RunLease;
use crate::records::StoredOutput;
use crate::store::Result;

const T: &str = "outputs";

fn binding(env: EnvironmentId, job: &str, name: &str) -> Vec<u8> {
    // Job and output names never contain NUL, so the binding is unambiguous.
    format!("terrace-output\0{env}\0{job}\0{name}").into_bytes()
}

pub(super) fn delete_stmt(env: EnvironmentId, job: &str) -> Stmt {
    Stmt::new(T, "DELETE FROM outputs WHERE environment_id = $1 AND job = $2")
        .bind(text(env))
        .bind(job)
        .doing(format!("delete the outputs of job {job}"))
}

/// Replaces every output of `job` with `entries`, atomically.
pub(super) async fn put(
    s: &SqlStore,
    lease: &RunLease,
    env: EnvironmentId,
    job: &str,
    entries: &[OutputEntry],
) -> Result<()> {
    let now = now_db()?;
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.push(delete_stmt(env, job));
    for e in entries {
        // Encrypted before the transaction: no crypto while other writers wait.
        let row =
            NewOutput { env, job, name: &e.name, value: &e.value, sensitive: e.sensitive, run: lease.id, at: now };
        tx.push(insert_row(s, &row, "")?);
    }
    s.db.write(tx).await.map(drop)
}

/// One output row to write.
struct NewOutput<'a> {
    env: EnvironmentId,
    job: &'a str,
    name: &'a str,
    value: &'a str,
    sensitive: bool,
    run: RunId,
    at: i64,
}

/// The insert of one output, its value sealed when sensitive, with `tail` after it
/// (`ON CONFLICT ...`).
fn insert_row(s: &SqlStore, r: &NewOutput<'_>, tail: &str) -> Result<Stmt> {
    let (plain, sealed) = if r.sensitive {
        (None, Some(s.cipher.encrypt_bound(r.value.as_bytes(), &binding(r.env, r.job, r.name))?))
    } else {
        (Some(r.value), None)
    };
    Ok(Stmt::dynamic(
        T,
        format!(
            "INSERT INTO outputs (environment_id, job, name, value, value_enc, sensitive, run_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) {tail}"
        ),
    )
    .bind(text(r.env))
    .bind(r.job)
    .bind(r.name)
    .bind(plain)
    .bind(sealed)
    .bind(r.sensitive)
    .bind(text(r.run))
    .bind(r.at)
    .doing(format!("store output {}.{}", r.job, r.name)))
}

/// The insert of an output read from another store, skipped when present.
pub(super) fn import_stmt(s: &SqlStore, env: EnvironmentId, o: &StoredOutput) -> Result<Stmt> {
    let at = crate::db::value::ts_to_db(o.updated_at)?;
    let row = NewOutput { env, job: &o.job, name: &o.name, value: &o.value, sensitive: o.sensitive, run: o.run_id, at };
    insert_row(s, &row, "ON CONFLICT DO NOTHING")
}

fn from_row(s: &SqlStore, env: EnvironmentId, mut r: Row) -> Result<StoredOutput> {
    let job = r.text(0)?;
    let name = r.text(1)?;
    let sensitive = r.bool(4)?;
    let value = if sensitive {
        let sealed = r.blob(3)?;
        let plain = s.cipher.decrypt_bound(&sealed, &binding(env, &job, &name))?;
        String::from_utf8(plain)
            .map_err(|_| StoreError::Corrupt(format!("outputs.value_enc of {job}.{name}: not UTF-8")))?
    } else {
        r.text(2)?
    };
    Ok(StoredOutput { run_id: r.parsed(5)?, updated_at: r.ts(6)?, job, name, value, sensitive })
}

pub(super) async fn list(s: &SqlStore, env: EnvironmentId) -> Result<Vec<StoredOutput>> {
    let stmt = Stmt::new(
        T,
        "SELECT job, name, value, value_enc, sensitive, run_id, updated_at FROM outputs \
         WHERE environment_id = $1 ORDER BY job, name",
    )
    .bind(text(env))
    .doing(format!("read the outputs of environment {env}"));
    s.db.query(stmt).await?.into_iter().map(|r| from_row(s, env, r)).collect()
}

/// Removes `job`'s outputs (its delete succeeded), under the deleting run's lease.
pub(super) async fn delete(s: &SqlStore, lease: &RunLease, env: EnvironmentId, job: &str) -> Result<()> {
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.push(delete_stmt(env, job));
    s.db.write(tx).await.map(drop)
}
