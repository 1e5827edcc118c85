//! Drift checks (`drift_checks`): each check of an environment and what it found, kept
//! as its history; the newest is the environment's drift state.

use super::SqlStore;
use crate::db::value::{text, ts};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::store::Result;
use crate::timed::DriftCheckRecord;

const T: &str = "drift_checks";

fn from_row(mut r: Row) -> Result<DriftCheckRecord> {
    Ok(DriftCheckRecord {
        id: r.parsed(0)?,
        project: r.text(1)?,
        environment: r.text(2)?,
        state: r.parsed(3)?,
        resources: r.json(4)?,
        run_ids: r.json(5)?,
        reason: r.text_opt(6)?,
        checked_at: r.ts(7)?,
    })
}

pub(super) async fn record(s: &SqlStore, c: &DriftCheckRecord) -> Result<()> {
    let json = |what: &str, v: serde_json::Result<String>| v.map_err(|e| StoreError::Invalid(format!("{what}: {e}")));
    let resources = json("drifted resources", serde_json::to_string(&c.resources))?;
    let runs = json("drift check runs", serde_json::to_string(&c.run_ids))?;
    let mut tx = Tx::new();
    tx.push(
        Stmt::new(
            T,
            "INSERT INTO drift_checks (id, project, environment, state, resources, run_ids, reason, checked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(text(c.id))
        .bind(&c.project)
        .bind(&c.environment)
        .bind(c.state.as_str())
        .bind(resources)
        .bind(runs)
        .bind(c.reason.clone())
        .bind(ts(c.checked_at)?)
        .doing(format!("record a drift check of {}/{}", c.project, c.environment)),
    );
    s.db.write(tx).await.map(drop)
}

pub(super) async fn of(s: &SqlStore, project: &str, env: &str, limit: u32) -> Result<Vec<DriftCheckRecord>> {
    let stmt = Stmt::new(
        T,
        "SELECT id, project, environment, state, resources, run_ids, reason, checked_at FROM drift_checks \
         WHERE project = $1 AND environment = $2 ORDER BY checked_at DESC, id DESC LIMIT $3",
    )
    .bind(project)
    .bind(env)
    .bind(limit)
    .doing(format!("read the drift checks of {project}/{env}"));
    s.db.query(stmt).await?.into_iter().map(from_row).collect()
}
