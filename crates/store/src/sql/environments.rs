//! Environment records: created on first use, updated by the engine's state machine,
//! deleted (with their outputs) when a delete event succeeded.

use terrace_model::EnvironmentId;

use super::SqlStore;
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::records::{EnvPage, EnvState, EnvironmentRecord};
use crate::store::Result;

const T: &str = "environments";

pub(super) fn from_row(mut r: Row) -> Result<EnvironmentRecord> {
    Ok(EnvironmentRecord {
        id: r.parsed(0)?,
        project: r.text(1)?,
        name: r.text(2)?,
        state: r.parsed(3)?,
        failed_job: r.text_opt(4)?,
        reason: r.text_opt(5)?,
        created_at: r.ts(6)?,
        updated_at: r.ts(7)?,
    })
}

fn by_name(project: &str, name: &str) -> Stmt {
    const SQL: &str = "SELECT id, project, name, state, failed_job, reason, created_at, updated_at \
                       FROM environments WHERE project = $1 AND name = $2";
    Stmt::new(T, SQL).bind(project).bind(name).doing(format!("read environment {project}/{name}"))
}

pub(super) async fn ensure(s: &SqlStore, project: &str, name: &str) -> Result<EnvironmentRecord> {
    // Most events find their environment: a read, without the write lock.
    if let Some(row) = s.db.query_opt(by_name(project, name)).await? {
        return from_row(row);
    }
    let now = now_db()?;
    let mut tx = Tx::new();
    // Two processes may create the same environment at once: the loser's insert is a no-op.
    tx.push(
        Stmt::new(
            T,
            "INSERT INTO environments (id, project, name, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (project, name) DO NOTHING",
        )
        .bind(text(EnvironmentId::new()))
        .bind(project)
        .bind(name)
        .bind(EnvState::Stopped.as_str())
        .bind(now)
        .doing(format!("create environment {project}/{name}")),
    );
    let read = tx.push(by_name(project, name));
    let mut outs = s.db.write(tx).await?;
    let row = outs[read].rows.pop().ok_or_else(|| StoreError::not_found("environment", format!("{project}/{name}")))?;
    from_row(row)
}

pub(super) async fn get(s: &SqlStore, project: &str, name: &str) -> Result<Option<EnvironmentRecord>> {
    s.db.query_opt(by_name(project, name)).await?.map(from_row).transpose()
}

/// A keyset page on the `(project, name)` unique index: a seek, then `limit` rows in
/// index order, whatever the size of the table.
pub(super) async fn list(s: &SqlStore, project: &str, page: &EnvPage) -> Result<Vec<EnvironmentRecord>> {
    let stmt = match &page.after {
        Some(after) => Stmt::new(
            T,
            "SELECT id, project, name, state, failed_job, reason, created_at, updated_at FROM environments \
                 WHERE project = $1 AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(project)
        .bind(after)
        .bind(page.limit),
        None => Stmt::new(
            T,
            "SELECT id, project, name, state, failed_job, reason, created_at, updated_at FROM environments \
                 WHERE project = $1 ORDER BY name LIMIT $2",
        )
        .bind(project)
        .bind(page.limit),
    };
    let rows = s.db.query(stmt.doing("list environments")).await?;
    rows.into_iter().map(from_row).collect()
}

pub(super) async fn set_state(
    s: &SqlStore,
    id: EnvironmentId,
    state: EnvState,
    failed_job: Option<&str>,
    reason: Option<&str>,
) -> Result<()> {
    let mut tx = Tx::new();
    tx.one(state_stmt(id, state, failed_job, reason)?, move || StoreError::not_found("environment", id));
    s.db.write(tx).await.map(drop)
}

/// Outputs go with the environment; runs, logs and events stay as history.
pub(super) async fn delete(s: &SqlStore, id: EnvironmentId) -> Result<()> {
    let mut tx = Tx::new();
    delete_steps(&mut tx, id);
    s.db.write(tx).await.map(drop)
}

/// The statements deleting an environment, its outputs and its destroy time.
pub(super) fn delete_steps(tx: &mut Tx, id: EnvironmentId) {
    tx.push(
        Stmt::new("expiries", "DELETE FROM expiries WHERE environment_id = $1")
            .bind(text(id))
            .doing(format!("delete the destroy time of environment {id}")),
    );
    tx.push(
        Stmt::new("outputs", "DELETE FROM outputs WHERE environment_id = $1")
            .bind(text(id))
            .doing(format!("delete outputs of environment {id}")),
    );
    tx.one(
        Stmt::new(T, "DELETE FROM environments WHERE id = $1").bind(text(id)).doing(format!("delete environment {id}")),
        move || StoreError::not_found("environment", id),
    );
}

/// The statement moving an environment to `state`.
pub(super) fn state_stmt(
    id: EnvironmentId,
    state: EnvState,
    failed_job: Option<&str>,
    reason: Option<&str>,
) -> Result<Stmt> {
    Ok(Stmt::new(T, "UPDATE environments SET state = $1, failed_job = $2, reason = $3, updated_at = $4 WHERE id = $5")
        .bind(state.as_str())
        .bind(failed_job)
        .bind(reason)
        .bind(now_db()?)
        .bind(text(id))
        .doing(format!("set state of environment {id}")))
}
