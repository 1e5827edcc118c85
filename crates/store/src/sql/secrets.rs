//! Secrets set through the API or `terrace secret set`: sealed with the master key, bound
//! to their project, scope and name so a blob copied to another row does not open. A
//! project-scope secret is kept with an empty `environment` (no environment has an empty
//! name), so the table's key and its `ON CONFLICT` cover both scopes without a migration.

use super::SqlStore;
use crate::control::{SecretInfo, SecretScope};
use crate::db::value::{now_db, ts_to_db};
use crate::db::{Stmt, Tx};
use crate::error::StoreError;
use crate::import::MovedSecret;
use crate::store::Result;

const T: &str = "secrets";

/// The `environment` column of a project-scope secret.
pub(super) const PROJECT_SCOPE: &str = "";

fn scope_of(environment: &str) -> SecretScope {
    if environment == PROJECT_SCOPE { SecretScope::Project } else { SecretScope::Environment }
}

/// Where a secret is shown in a message: `project` or ``environment `dev` ``.
fn shown(environment: &str) -> String {
    if environment == PROJECT_SCOPE { "project scope".to_string() } else { format!("environment `{environment}`") }
}

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

/// The environment's secrets and the project's it does not override, by name.
pub(super) async fn list(s: &SqlStore, project: &str, env: &str) -> Result<Vec<SecretInfo>> {
    let stmt = Stmt::new(
        T,
        "SELECT name, environment, updated_by, updated_at FROM secrets \
         WHERE project = $1 AND (environment = $2 OR environment = $3) ORDER BY name",
    )
    .bind(project)
    .bind(env)
    .bind(PROJECT_SCOPE)
    .doing("list secrets");
    let mut list: Vec<SecretInfo> = Vec::new();
    for mut r in s.db.query(stmt).await? {
        let info =
            SecretInfo { name: r.text(0)?, scope: scope_of(&r.text(1)?), updated_by: r.text(2)?, updated_at: r.ts(3)? };
        let is_environments = info.scope == SecretScope::Environment;
        keep_winner(&mut list, info, is_environments, |i| &i.name);
    }
    Ok(list)
}

/// Adds `row` to `rows` (read in name order, both scopes): when the last row has the same
/// name, the environment's of the two stays (`is_environments`: `row` is).
fn keep_winner<T>(rows: &mut Vec<T>, row: T, is_environments: bool, name: impl Fn(&T) -> &String) {
    match rows.last_mut() {
        Some(last) if name(last) == name(&row) => {
            if is_environments {
                *last = row;
            }
        }
        _ => rows.push(row),
    }
}

/// The project-scope secrets, by name.
pub(super) async fn list_project(s: &SqlStore, project: &str) -> Result<Vec<SecretInfo>> {
    let stmt = Stmt::new(
        T,
        "SELECT name, updated_by, updated_at FROM secrets WHERE project = $1 AND environment = $2 ORDER BY name",
    )
    .bind(project)
    .bind(PROJECT_SCOPE)
    .doing("list the project's secrets");
    s.db.query(stmt)
        .await?
        .into_iter()
        .map(|mut r| {
            Ok(SecretInfo {
                name: r.text(0)?,
                scope: SecretScope::Project,
                updated_by: r.text(1)?,
                updated_at: r.ts(2)?,
            })
        })
        .collect()
}

/// Names and decrypted values for the environment's runs: its own secrets, and the
/// project's it does not override.
pub(super) async fn values(s: &SqlStore, project: &str, env: &str) -> Result<Vec<(String, String)>> {
    let stmt = Stmt::new(
        T,
        "SELECT name, environment, value_enc FROM secrets \
         WHERE project = $1 AND (environment = $2 OR environment = $3) ORDER BY name",
    )
    .bind(project)
    .bind(env)
    .bind(PROJECT_SCOPE)
    .doing("read secrets");
    let mut rows: Vec<(String, String, Vec<u8>)> = Vec::new();
    for mut r in s.db.query(stmt).await? {
        let row = (r.text(0)?, r.text(1)?, r.blob(2)?);
        let is_environments = row.1 != PROJECT_SCOPE;
        keep_winner(&mut rows, row, is_environments, |r| &r.0);
    }
    // Only the values the runs get are opened.
    rows.into_iter()
        .map(|(name, scope, sealed)| {
            let value = open(s, project, &scope, &name, &sealed)?;
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
            let environment = (environment != PROJECT_SCOPE).then_some(environment);
            Ok(MovedSecret { value, updated_by: r.text(3)?, updated_at: r.ts(4)?, environment, name })
        })
        .collect()
}

/// A secret copied in from another store, sealed with this store's key; one this store
/// has already (same scope and name) keeps its value.
pub(super) fn import_stmt(s: &SqlStore, project: &str, secret: &MovedSecret) -> Result<Stmt> {
    let (env, name) = (secret.environment.as_deref().unwrap_or(PROJECT_SCOPE), secret.name.as_str());
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
    .doing(format!("import secret {name} of {}", shown(env))))
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
