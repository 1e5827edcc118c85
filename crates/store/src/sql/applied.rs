//! `applied_jobs`: the definition each job of an environment last applied, written by
//! the run whose start succeeded (under its lease) and removed with the job's outputs.

use terrace_model::EnvironmentId;
use terrace_model::applied::JobDefinition;

use super::{SqlStore, fence, outputs};
use crate::applied::{AppliedJob, AppliedStore, ForgottenJob};
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::RunLease;
use crate::store::Result;

const T: &str = "applied_jobs";

fn from_row(mut r: Row) -> Result<AppliedJob> {
    Ok(AppliedJob {
        job: r.text(0)?,
        definition: r.json(1)?,
        git_commit: r.text_opt(2)?,
        run_id: r.parsed(3)?,
        applied_at: r.ts(4)?,
    })
}

fn delete_stmt(env: EnvironmentId, job: &str) -> Stmt {
    Stmt::new(T, "DELETE FROM applied_jobs WHERE environment_id = $1 AND job = $2")
        .bind(text(env))
        .bind(job)
        .doing(format!("forget what job {job} applied"))
}

/// The statement deleting every record of an environment (its record goes).
pub(super) fn delete_all_stmt(env: EnvironmentId) -> Stmt {
    Stmt::new(T, "DELETE FROM applied_jobs WHERE environment_id = $1")
        .bind(text(env))
        .doing(format!("forget what environment {env} applied"))
}

#[async_trait::async_trait]
impl AppliedStore for SqlStore {
    async fn record_applied(
        &self,
        lease: &RunLease,
        env: EnvironmentId,
        definition: &JobDefinition,
        git_commit: Option<&str>,
    ) -> Result<()> {
        let json = serde_json::to_string(definition)
            .map_err(|e| StoreError::Corrupt(format!("the definition of job {}: {e}", definition.name)))?;
        let mut tx = Tx::new();
        fence::run(&mut tx, lease);
        tx.push(
            Stmt::new(
                T,
                "INSERT INTO applied_jobs (environment_id, job, definition, git_commit, run_id, applied_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (environment_id, job) DO UPDATE SET \
                 definition = excluded.definition, git_commit = excluded.git_commit, run_id = excluded.run_id, \
                 applied_at = excluded.applied_at",
            )
            .bind(text(env))
            .bind(definition.name.as_str())
            .bind(json)
            .bind(git_commit)
            .bind(text(lease.id))
            .bind(now_db()?)
            .doing(format!("record what job {} applied", definition.name)),
        );
        self.db.write(tx).await.map(drop)
    }

    async fn applied_jobs(&self, env: EnvironmentId) -> Result<Vec<AppliedJob>> {
        let stmt = Stmt::new(
            T,
            "SELECT job, definition, git_commit, run_id, applied_at FROM applied_jobs WHERE environment_id = $1 \
             ORDER BY job",
        )
        .bind(text(env))
        .doing(format!("read what environment {env} applied"));
        self.db.query(stmt).await?.into_iter().map(from_row).collect()
    }

    async fn forget_deleted(&self, lease: &RunLease, env: EnvironmentId, job: &str) -> Result<()> {
        let mut tx = Tx::new();
        fence::run(&mut tx, lease);
        tx.push(outputs::delete_stmt(env, job));
        tx.push(delete_stmt(env, job));
        self.db.write(tx).await.map(drop)
    }

    async fn forget_removed(&self, env: EnvironmentId, jobs: &[String]) -> Result<Vec<ForgottenJob>> {
        let outputs = outputs::list(self, env).await?;
        let mut tx = Tx::new();
        let mut forgotten = Vec::with_capacity(jobs.len());
        for job in jobs {
            tx.push(outputs::delete_stmt(env, job));
            tx.push(delete_stmt(env, job));
            let names = outputs.iter().filter(|o| &o.job == job).map(|o| o.name.clone()).collect();
            forgotten.push(ForgottenJob { job: job.clone(), outputs: names });
        }
        if !tx.is_empty() {
            self.db.write(tx).await?;
        }
        Ok(forgotten)
    }
}
