//! `ImportStore` for `SqlStore`: plain inserts of records read from another store, each
//! skipped when present. Log lines go into rows (readable on every backend), grouped into
//! batches of one attempt, stream and time as they were written.

use async_trait::async_trait;
use terrace_model::EnvironmentId;
use terrace_model::log::LogBatch;

use super::logs::{self, AttemptNo};
use super::{SqlStore, outputs, tf_state};
use crate::db::value::{text, ts, ts_to_db};
use crate::db::{Stmt, Tx};
use crate::error::StoreError;
use crate::import::{ImportStore, MovedSecret};
use crate::records::{AttemptRecord, EnvironmentRecord, RunRecord, StoredLogLine, StoredOutput};
use crate::state::{StateKey, StateVersion};
use crate::store::{Result, Store};

fn json<T: serde::Serialize>(v: &Option<T>, what: &str) -> Result<Option<String>> {
    v.as_ref().map(|v| serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("{what}: {e}")))).transpose()
}

fn opt_ts(t: Option<time::OffsetDateTime>) -> Result<Option<i64>> {
    t.map(ts_to_db).transpose()
}

/// The lines of one attempt as batches: consecutive lines of one stream and time.
fn batches(lines: &[&StoredLogLine]) -> Vec<LogBatch> {
    let mut out: Vec<LogBatch> = Vec::new();
    for l in lines {
        match out.last_mut() {
            Some(b) if b.ts == l.line.ts && b.stream == l.line.stream => b.push(&l.line.text),
            _ => {
                let mut b = LogBatch::new(l.line.ts, l.line.stream);
                b.push(&l.line.text);
                out.push(b);
            }
        }
    }
    out
}

fn run_insert(run: &RunRecord) -> Result<Stmt> {
    Ok(Stmt::new(
        "runs",
        "INSERT INTO runs (id, pipeline_id, environment_id, project, environment, job, event, forced, trigger, state, \
         reason, exit_code, inputs_hash, attempts, owner, lease_expires_at, created_at, started_at, finished_at, \
         plan_summary, artifacts, lease_token, number, input_parts, inputs_changed, commit_sha, inputs, image) \
         VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, $14, $15, $16, $17, NULL, \
         $18, $19, $20, $21, $22, $23, $24)",
    )
    .bind(text(run.id))
    .bind(text(run.environment_id))
    .bind(&run.project)
    .bind(&run.environment)
    .bind(&run.job)
    .bind(run.event.as_str())
    .bind(run.forced)
    .bind(&run.trigger)
    .bind(run.state.as_str())
    .bind(run.reason.as_deref())
    .bind(run.exit_code)
    .bind(run.inputs_hash.as_deref())
    .bind(run.attempts)
    .bind(ts_to_db(run.created_at)?)
    .bind(opt_ts(run.started_at)?)
    .bind(opt_ts(run.finished_at)?)
    .bind(json(&run.plan, "plan")?)
    .bind(i64::try_from(run.lease_token).unwrap_or(i64::MAX))
    .bind(i64::try_from(run.number).unwrap_or(i64::MAX))
    .bind(json(&run.input_parts, "input parts")?)
    .bind(json(&run.inputs_changed, "inputs changed")?)
    .bind(run.commit.as_deref())
    .bind(json(&run.inputs, "inputs")?)
    .bind(run.image.as_deref())
    .doing(format!("import run {}", run.id)))
}

#[async_trait]
impl ImportStore for SqlStore {
    async fn import_environment(&self, env: &EnvironmentRecord) -> Result<bool> {
        let mut tx = Tx::new();
        let i = tx.push(
            Stmt::new(
                "environments",
                "INSERT INTO environments (id, project, name, state, failed_job, reason, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(text(env.id))
            .bind(&env.project)
            .bind(&env.name)
            .bind(env.state.as_str())
            .bind(env.failed_job.as_deref())
            .bind(env.reason.as_deref())
            .bind(ts_to_db(env.created_at)?)
            .bind(ts_to_db(env.updated_at)?)
            .doing(format!("import environment {}/{}", env.project, env.name)),
        );
        Ok(self.db.write(tx).await?[i].changed == 1)
    }

    async fn import_run(&self, run: &RunRecord, attempts: &[AttemptRecord], log: &[StoredLogLine]) -> Result<bool> {
        if run.state.is_active() {
            return Err(StoreError::Invalid(format!(
                "run {} is still {}: only ended runs are imported",
                run.id, run.state
            )));
        }
        if self.get_run(run.id).await?.is_some() {
            return Ok(false);
        }
        let mut tx = Tx::new();
        tx.push(run_insert(run)?);
        tx.push(
            Stmt::new(
                "run_numbers",
                "INSERT INTO run_numbers (project, environment, newest) VALUES ($1, $2, $3) \
                 ON CONFLICT (project, environment) DO UPDATE SET newest = \
                 CASE WHEN run_numbers.newest > excluded.newest THEN run_numbers.newest ELSE excluded.newest END",
            )
            .bind(&run.project)
            .bind(&run.environment)
            .bind(i64::try_from(run.number).unwrap_or(i64::MAX))
            .doing(format!("count run {} in its environment", run.id)),
        );
        for a in attempts {
            tx.push(
                Stmt::new(
                    "attempts",
                    "INSERT INTO attempts (run_id, number, state, exit_code, reason, started_at, finished_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(text(run.id))
                .bind(a.number)
                .bind(a.state.as_str())
                .bind(a.exit_code)
                .bind(a.reason.as_deref())
                .bind(ts(a.started_at)?)
                .bind(opt_ts(a.finished_at)?)
                .doing(format!("import attempt {} of run {}", a.number, run.id)),
            );
        }
        let mut attempt_numbers: Vec<u32> = log.iter().map(|l| l.attempt).collect();
        attempt_numbers.dedup();
        for n in attempt_numbers {
            let lines: Vec<&StoredLogLine> = log.iter().filter(|l| l.attempt == n).collect();
            logs::inline_rows(&mut tx, run.id, AttemptNo::Number(n), &batches(&lines))?;
        }
        self.db.write(tx).await?;
        Ok(true)
    }

    async fn import_outputs(&self, env: EnvironmentId, entries: &[StoredOutput]) -> Result<u64> {
        let mut tx = Tx::new();
        let mut steps = Vec::new();
        for o in entries {
            steps.push(tx.push(outputs::import_stmt(self, env, o)?));
        }
        let outs = self.db.write(tx).await?;
        Ok(steps.iter().map(|i| outs[*i].changed).sum())
    }

    async fn import_applied(&self, env: EnvironmentId, applied: &[crate::AppliedJob]) -> Result<u64> {
        let mut tx = Tx::new();
        let mut steps = Vec::new();
        for a in applied {
            steps.push(tx.push(super::applied::import_stmt(self, env, a)?));
        }
        let outs = self.db.write(tx).await?;
        Ok(steps.iter().map(|i| outs[*i].changed).sum())
    }

    async fn import_snapshots(&self, snapshots: &[crate::SourceSnapshot]) -> Result<u64> {
        let mut tx = Tx::new();
        let mut steps = Vec::new();
        for snapshot in snapshots {
            steps.push(tx.push(super::snapshots::insert_stmt(self, snapshot)?));
        }
        if tx.is_empty() {
            return Ok(0);
        }
        let outs = self.db.write(tx).await?;
        Ok(steps.iter().map(|i| outs[*i].changed).sum())
    }

    async fn secrets_to_move(&self, project: &str) -> Result<Vec<MovedSecret>> {
        super::secrets::of_project(self, project).await
    }

    async fn import_secrets(&self, project: &str, secrets: &[MovedSecret]) -> Result<u64> {
        let mut tx = Tx::new();
        let mut steps = Vec::new();
        for secret in secrets {
            steps.push(tx.push(super::secrets::import_stmt(self, project, secret)?));
        }
        if tx.is_empty() {
            return Ok(0);
        }
        let outs = self.db.write(tx).await?;
        Ok(steps.iter().map(|i| outs[*i].changed).sum())
    }

    async fn import_state_versions(&self, key: &StateKey, versions: &[(StateVersion, Vec<u8>)]) -> Result<bool> {
        tf_state::import_versions(self, key, versions).await
    }
}
