//! Projects registered with a `terrace server`, by name.

use super::SqlStore;
use crate::control::ProjectRecord;
use crate::db::value::now_db;
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "projects";

fn from_row(mut r: Row) -> Result<ProjectRecord> {
    Ok(ProjectRecord { name: r.text(0)?, path: r.text(1)?, registered_at: r.ts(2)? })
}

/// Registers (or moves) a project by name.
pub(super) async fn put(s: &SqlStore, name: &str, path: &str) -> Result<ProjectRecord> {
    let mut tx = Tx::new();
    let i = tx.push(
        Stmt::new(
            T,
            "INSERT INTO projects (name, path, registered_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET path = excluded.path RETURNING name, path, registered_at",
        )
        .bind(name)
        .bind(path)
        .bind(now_db()?)
        .doing(format!("register project {name}")),
    );
    let mut outs = s.db.write(tx).await?;
    let row = outs[i].rows.pop().ok_or_else(|| StoreError::Corrupt(format!("project {name} not returned")))?;
    from_row(row)
}

pub(super) async fn get(s: &SqlStore, name: &str) -> Result<Option<ProjectRecord>> {
    let stmt = Stmt::new(T, "SELECT name, path, registered_at FROM projects WHERE name = $1")
        .bind(name)
        .doing(format!("read project {name}"));
    s.db.query_opt(stmt).await?.map(from_row).transpose()
}

pub(super) async fn list(s: &SqlStore) -> Result<Vec<ProjectRecord>> {
    let stmt = Stmt::new(T, "SELECT name, path, registered_at FROM projects ORDER BY name").doing("list projects");
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}
