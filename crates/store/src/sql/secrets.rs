//! Secrets set through the API: sealed with the master key, bound to their project,
//! environment and name so a blob copied to another row does not open.

use super::SqlStore;
use crate::control::SecretInfo;
use crate::db::value::{now_db, ts_to_db};
use crate::db::{Stmt, Tx};
use crate::error::StoreError;
use crate::import::MovedSecret;
use crate::store::Result;

const T: &str = "secrets";

fn context(project: &str, env: &str, name: &str) -> Vec<u8> {
    format!("secret\0{project}\0{env}\0{name}").into_bytes()
}

/// A sealed value opened: only under the (project, environment, name) it was sealed for.
fn open(s: &SqlStore, project: &str, env: &str, name: &str, sealed: &[u8]) -> Result<String> {
    let plain = s.cipher.decrypt_bound(sealed, &context(project, env, name))?;
    String::from_utf8(plain).map_err(|_| StoreError::Corrupt(format!("secret {name}: not UTF-8")))
}

/// Stores the value encrypted, bound to (project, environment, name).
pub(super) async fn put(s: &SqlStore, project: &str, env: &str, name: &str, value: &str, by: &str) -> Result<()> {
    let sealed = s.cipher.encrypt_bound(value.as_bytes(), &context(project, env, name))?;
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(
            T,
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
        .doing(format!("store secret {name}")),
    );
    s.db.write(tx).await.map(drop)
}

pub(super) async fn list(s: &SqlStore, project: &str, env: &str) -> Result<Vec<SecretInfo>> {
    let stmt = Stmt::new(
        T,
        "SELECT name, updated_by, updated_at FROM secrets WHERE project = $1 AND environment = $2 ORDER BY name",
    )
    .bind(project)
    .bind(env)
    .doing("list secrets");
    s.db.query(stmt)
        .await?
        .into_iter()
        .map(|mut r| Ok(SecretInfo { name: r.text(0)?, updated_by: r.text(1)?, updated_at: r.ts(2)? }))
        .collect()
}

/// Names and decrypted values, for injecting into runs.
pub(super) async fn values(s: &SqlStore, project: &str, env: &str) -> Result<Vec<(String, String)>> {
    let stmt =
        Stmt::new(T, "SELECT name, value_enc FROM secrets WHERE project = $1 AND environment = $2 ORDER BY name")
            .bind(project)
            .bind(env)
            .doing("read secrets");
    s.db.query(stmt)
        .await?
        .into_iter()
        .map(|mut r| {
            let name = r.text(0)?;
            let value = open(s, project, env, &name, &r.blob(1)?)?;
            Ok((name, value))
        })
        .collect()
}

/// Every secret of `project`, each scope, opened with this store's key: what an import
/// from this store moves.
pub(super) async fn of_project(s: &SqlStore, project: &str) -> Result<Vec<MovedSecret>> {
    let stmt = Stmt::new(
        T,
        "SELECT environment, name, value_enc, updated_by, updated_at FROM secrets WHERE project = $1 \
         ORDER BY environment, name",
    )
    .bind(project)
    .doing(format!("read the secrets of project {project}"));
    s.db.query(stmt)
        .await?
        .into_iter()
        .map(|mut r| {
            let (environment, name) = (r.text(0)?, r.text(1)?);
            let value = open(s, project, &environment, &name, &r.blob(2)?)?;
            Ok(MovedSecret { value, updated_by: r.text(3)?, updated_at: r.ts(4)?, environment, name })
        })
        .collect()
}

/// A secret copied in from another store, sealed with this store's key; one this store
/// has already (same scope and name) keeps its value.
pub(super) fn import_stmt(s: &SqlStore, project: &str, secret: &MovedSecret) -> Result<Stmt> {
    let (env, name) = (secret.environment.as_str(), secret.name.as_str());
    let sealed = s.cipher.encrypt_bound(secret.value.as_bytes(), &context(project, env, name))?;
    Ok(Stmt::new(
        T,
        "INSERT INTO secrets (project, environment, name, value_enc, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project, environment, name) DO NOTHING",
    )
    .bind(project)
    .bind(env)
    .bind(name)
    .bind(sealed)
    .bind(secret.updated_by.as_str())
    .bind(ts_to_db(secret.updated_at)?)
    .doing(format!("import secret {name} of environment `{env}`")))
}

pub(super) async fn delete(s: &SqlStore, project: &str, env: &str, name: &str) -> Result<bool> {
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(T, "DELETE FROM secrets WHERE project = $1 AND environment = $2 AND name = $3")
            .bind(project)
            .bind(env)
            .bind(name)
            .doing(format!("delete secret {name}")),
    );
    Ok(s.db.write(tx).await?[0].changed > 0)
}
