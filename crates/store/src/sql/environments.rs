//! Environment records: created on first use (or, for an environment defined at run
//! time, by `create_runtime` with its definition), updated by the engine's state machine,
//! deleted (with their outputs, and a runtime definition) when a delete event succeeded.

use terrace_model::EnvironmentId;

use super::SqlStore;
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::records::{EnvPage, EnvState, EnvironmentRecord, NewRuntimeEnvironment, RuntimeDef};
use crate::store::Result;

const T: &str = "environments";

/// The columns `from_row` reads, in its order.
macro_rules! columns {
    () => {
        "id, project, name, state, failed_job, reason, created_at, updated_at, origin, source, base, variables, \
         created_by"
    };
}

pub(super) fn from_row(mut r: Row) -> Result<EnvironmentRecord> {
    let runtime = match r.text_opt(8)? {
        None => None,
        Some(origin) => Some(RuntimeDef {
            origin,
            source: r.text_opt(9)?.unwrap_or_default(),
            base: r.text_opt(10)?.unwrap_or_default(),
            variables: r.json_opt(11)?.unwrap_or_default(),
            created_by: r.text_opt(12)?.unwrap_or_default(),
        }),
    };
    Ok(EnvironmentRecord {
        runtime,
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
    const SQL: &str = concat!("SELECT ", columns!(), " FROM environments WHERE project = $1 AND name = $2");
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
            concat!(
                "SELECT ",
                columns!(),
                " FROM environments WHERE project = $1 AND name > $2 ORDER BY name LIMIT $3"
            ),
        )
        .bind(project)
        .bind(after)
        .bind(page.limit),
        None => {
            Stmt::new(T, concat!("SELECT ", columns!(), " FROM environments WHERE project = $1 ORDER BY name LIMIT $2"))
                .bind(project)
                .bind(page.limit)
        }
    };
    let rows = s.db.query(stmt.doing("list environments")).await?;
    rows.into_iter().map(from_row).collect()
}

/// Creates an environment defined at run time, `stopped`, and copies the artifact pins of
/// the environment it was made from (after removing any a former environment of the same
/// name left): one transaction, refused as a conflict when the name has a record.
pub(super) async fn create_runtime(s: &SqlStore, env: &NewRuntimeEnvironment) -> Result<EnvironmentRecord> {
    let (project, name, def) = (env.project.as_str(), env.name.as_str(), &env.definition);
    let variables = serde_json::to_string(&def.variables)
        .map_err(|e| StoreError::Invalid(format!("environment variables: {e}")))?;
    let now = now_db()?;
    let mut tx = Tx::new();
    let taken = format!("environment `{name}` already exists in project `{project}`");
    tx.one(
        Stmt::new(
            T,
            "INSERT INTO environments (id, project, name, state, created_at, updated_at, origin, source, base, \
             variables, created_by) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (project, name) DO NOTHING",
        )
        .bind(text(EnvironmentId::new()))
        .bind(project)
        .bind(name)
        .bind(EnvState::Stopped.as_str())
        .bind(now)
        .bind(def.origin.as_str())
        .bind(def.source.as_str())
        .bind(def.base.as_str())
        .bind(variables)
        .bind(def.created_by.as_str())
        .doing(format!("create environment {project}/{name}")),
        move || StoreError::Conflict(taken),
    );
    tx.push(
        Stmt::new("artifact_pins", "DELETE FROM artifact_pins WHERE project = $1 AND environment = $2")
            .bind(project)
            .bind(name)
            .doing(format!("clear the pins of {project}/{name}")),
    );
    tx.push(
        Stmt::new(
            "artifact_pins",
            "INSERT INTO artifact_pins (project, environment, artifact, version, digest, previous_version, \
             previous_digest, held, promotion_id, updated_by, updated_at) \
             SELECT project, $2, artifact, version, digest, NULL, NULL, 0, promotion_id, $4, $5 \
             FROM artifact_pins WHERE project = $1 AND environment = $3",
        )
        .bind(project)
        .bind(name)
        .bind(def.source.as_str())
        .bind(def.created_by.as_str())
        .bind(now)
        .doing(format!("copy the pins of {project}/{} to {name}", def.source)),
    );
    let read = tx.push(by_name(project, name));
    let mut outs = s.db.write(tx).await?;
    let row = outs[read].rows.pop().ok_or_else(|| StoreError::not_found("environment", format!("{project}/{name}")))?;
    from_row(row)
}

/// Replaces the variable overrides of an environment defined at run time (a preview's
/// new head); not found when it has no runtime definition.
pub(super) async fn set_runtime_variables(
    s: &SqlStore,
    project: &str,
    name: &str,
    variables: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    let text =
        serde_json::to_string(variables).map_err(|e| StoreError::Invalid(format!("environment variables: {e}")))?;
    let mut tx = Tx::new();
    let missing = format!("{project}/{name}");
    tx.one(
        Stmt::new(
            T,
            "UPDATE environments SET variables = $1, updated_at = $2 \
             WHERE project = $3 AND name = $4 AND origin IS NOT NULL",
        )
        .bind(text)
        .bind(now_db()?)
        .bind(project)
        .bind(name)
        .doing(format!("set the variables of {project}/{name}")),
        move || StoreError::not_found("runtime environment", missing),
    );
    s.db.write(tx).await.map(drop)
}

/// The project's environments defined at run time, in name order.
pub(super) async fn runtime(s: &SqlStore, project: &str) -> Result<Vec<EnvironmentRecord>> {
    let stmt = Stmt::new(
        T,
        concat!("SELECT ", columns!(), " FROM environments WHERE project = $1 AND origin IS NOT NULL ORDER BY name"),
    )
    .bind(project)
    .doing(format!("list the runtime environments of {project}"));
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
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

/// The statements deleting an environment, its outputs, what it applied and its destroy time.
pub(super) fn delete_steps(tx: &mut Tx, id: EnvironmentId) {
    tx.push(
        Stmt::new("expiries", "DELETE FROM expiries WHERE environment_id = $1")
            .bind(text(id))
            .doing(format!("delete the destroy time of environment {id}")),
    );
    tx.push(super::applied::delete_all_stmt(id));
    super::snapshots::sweep(tx);
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
