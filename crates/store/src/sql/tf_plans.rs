//! Saved plans: sealed (a plan holds secrets in clear), bound to their run, and kept with
//! the commit, inputs hash and state version they were made against.

use terrace_model::RunId;

use super::{SqlStore, fence};
use crate::db::value::{now_db, text, ts_from_db};
use crate::db::{Stmt, Tx};
use crate::owner::RunLease;
use crate::state::{NewPlan, SavedPlan, StateKey};
use crate::store::Result;

const T: &str = "tf_plans";

fn binding(run: RunId) -> Vec<u8> {
    format!("terrace-tf-plan\0{run}").into_bytes()
}

pub(super) async fn save(s: &SqlStore, lease: &RunLease, plan: &NewPlan, body: &[u8]) -> Result<SavedPlan> {
    let sealed = s.cipher.encrypt_bound(body, &binding(lease.id))?;
    let now = now_db()?;
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut tx = Tx::new();
    fence::run(&mut tx, lease);
    tx.push(
        Stmt::new(
            T,
            "INSERT INTO tf_plans (run_id, project, environment, job, commit_sha, inputs_hash, state_version, size, \
             body_enc, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (run_id) DO UPDATE SET commit_sha = excluded.commit_sha, inputs_hash = excluded.inputs_hash, \
             state_version = excluded.state_version, size = excluded.size, body_enc = excluded.body_enc, \
             created_at = excluded.created_at",
        )
        .bind(text(lease.id))
        .bind(&plan.key.project)
        .bind(&plan.key.environment)
        .bind(&plan.key.job)
        .bind(plan.commit.as_deref())
        .bind(plan.inputs_hash.as_str())
        .bind(as_i64(plan.state_version))
        .bind(as_i64(body.len() as u64))
        .bind(sealed)
        .bind(now)
        .doing(format!("store the plan of run {}", lease.id)),
    );
    s.db.write(tx).await?;
    Ok(SavedPlan {
        run_id: lease.id,
        key: plan.key.clone(),
        commit: plan.commit.clone(),
        inputs_hash: plan.inputs_hash.clone(),
        state_version: plan.state_version,
        size: body.len() as u64,
        created_at: ts_from_db(now, "tf_plans.created_at")?,
    })
}

pub(super) async fn get(s: &SqlStore, run: RunId) -> Result<Option<(SavedPlan, Vec<u8>)>> {
    let stmt = Stmt::new(
        T,
        "SELECT project, environment, job, commit_sha, inputs_hash, state_version, size, created_at, body_enc \
         FROM tf_plans WHERE run_id = $1",
    )
    .bind(text(run))
    .doing(format!("read the plan of run {run}"));
    let Some(mut r) = s.db.query_opt(stmt).await? else { return Ok(None) };
    let plan = SavedPlan {
        run_id: run,
        key: StateKey { project: r.text(0)?, environment: r.text(1)?, job: r.text(2)? },
        commit: r.text_opt(3)?,
        inputs_hash: r.text(4)?,
        state_version: r.num(5)?,
        size: r.num(6)?,
        created_at: r.ts(7)?,
    };
    let body = s.cipher.decrypt_bound(&r.blob(8)?, &binding(run))?;
    Ok(Some((plan, body)))
}
