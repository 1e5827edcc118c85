//! `applied_jobs`: the definition each job of an environment last applied, written by
//! the run whose start succeeded (under its lease) and removed with the job's outputs.
//! A definition is sealed with the master key, bound to its environment and job: its
//! commands and variables may hold secrets, and a blob copied onto another job fails.

use std::sync::Arc;

use terrace_model::EnvironmentId;
use terrace_model::applied::JobDefinition;
use terrace_model::log::LogBatch;

use super::{SqlStore, attempts, fence, outputs, snapshots};
use crate::applied::{Applied, AppliedJob, AppliedStore, ForgottenJob, SourceSnapshot};
use crate::db::value::{now_db, text};
use crate::db::{Row, Stmt, Tx};
use crate::error::StoreError;
use crate::owner::RunLease;
use crate::records::Ending;
use crate::store::Result;

const T: &str = "applied_jobs";

fn binding(env: EnvironmentId, job: &str) -> Vec<u8> {
    // Job names never contain NUL, so the binding is unambiguous.
    format!("terrace-applied-job\0{env}\0{job}").into_bytes()
}

fn seal(s: &SqlStore, env: EnvironmentId, definition: &JobDefinition) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(definition)
        .map_err(|e| StoreError::Corrupt(format!("the definition of job {}: {e}", definition.name)))?;
    s.cipher.encrypt_bound(&json, &binding(env, &definition.name))
}

fn from_row(s: &SqlStore, env: EnvironmentId, mut r: Row) -> Result<AppliedJob> {
    let job = r.text(0)?;
    let plain = s.cipher.decrypt_bound(&r.blob(1)?, &binding(env, &job))?;
    let definition = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Corrupt(format!("applied_jobs.definition_enc of job {job}: {e}")))?;
    Ok(AppliedJob {
        job,
        definition,
        git_commit: r.text_opt(2)?,
        run_id: r.parsed(3)?,
        applied_at: r.ts(4)?,
        source_snapshot: r.text_opt(5)?,
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

/// The insert of a record read from another store, skipped when the job has one.
pub(super) fn import_stmt(s: &SqlStore, env: EnvironmentId, a: &AppliedJob) -> Result<Stmt> {
    let sealed = seal(s, env, &a.definition)?;
    Ok(Stmt::new(
        T,
        "INSERT INTO applied_jobs (environment_id, job, definition_enc, git_commit, run_id, applied_at, \
         source_snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(text(env))
    .bind(a.job.as_str())
    .bind(sealed)
    .bind(a.git_commit.as_deref())
    .bind(text(a.run_id))
    .bind(crate::db::value::ts_to_db(a.applied_at)?)
    .bind(a.source_snapshot.as_deref())
    .doing(format!("import what job {} applied", a.job)))
}

/// The statements recording what `applied` says, after the transaction's lease check:
/// the snapshot when it is new, the record, and the sweep of snapshots no record uses.
/// Sealed before the transaction: no crypto while other writers wait. A snapshot already
/// stored (a redeploy of the same content) is neither sealed nor sent.
async fn record_stmts(s: &SqlStore, lease: &RunLease, applied: &Applied<'_>) -> Result<Vec<Stmt>> {
    let Applied { env, definition, git_commit, snapshot } = *applied;
    let sealed = seal(s, env, definition)?;
    let mut statements = Vec::with_capacity(3);
    if let Some(snap) = snapshot
        && !snapshots::exists(s, &snap.hash).await?
    {
        statements.push(snapshots::insert_stmt(s, snap)?);
    }
    statements.push(
        Stmt::new(
            T,
            "INSERT INTO applied_jobs (environment_id, job, definition_enc, git_commit, run_id, applied_at, \
             source_snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (environment_id, job) DO UPDATE SET \
             definition_enc = excluded.definition_enc, git_commit = excluded.git_commit, run_id = excluded.run_id, \
             applied_at = excluded.applied_at, source_snapshot = excluded.source_snapshot",
        )
        .bind(text(env))
        .bind(definition.name.as_str())
        .bind(sealed)
        .bind(git_commit)
        .bind(text(lease.id))
        .bind(now_db()?)
        .bind(snapshot.map(|s| s.hash.as_str()))
        .doing(format!("record what job {} applied", definition.name)),
    );
    statements.push(snapshots::sweep_stmt());
    Ok(statements)
}

#[async_trait::async_trait]
impl AppliedStore for SqlStore {
    async fn record_applied_with(
        &self,
        lease: &RunLease,
        env: EnvironmentId,
        definition: &JobDefinition,
        git_commit: Option<&str>,
        snapshot: Option<&SourceSnapshot>,
    ) -> Result<()> {
        let applied = Applied { env, definition, git_commit, snapshot };
        let statements = record_stmts(self, lease, &applied).await?;
        let mut tx = Tx::new();
        fence::run(&mut tx, lease);
        for stmt in statements {
            tx.push(stmt);
        }
        self.db.write(tx).await.map(drop)
    }

    async fn end_applied(
        &self,
        lease: &RunLease,
        attempt: u32,
        end: &Ending,
        log: Arc<[LogBatch]>,
        applied: &Applied<'_>,
    ) -> Result<()> {
        let statements = record_stmts(self, lease, applied).await?;
        let mut tx = attempts::end_tx(self, lease, attempt, end, log, Some(end)).await?;
        for stmt in statements {
            tx.push(stmt);
        }
        self.db.write(tx).await.map(drop)
    }

    async fn source_snapshot(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        snapshots::read(self, hash).await
    }

    async fn applied_jobs(&self, env: EnvironmentId) -> Result<Vec<AppliedJob>> {
        let stmt = Stmt::new(
            T,
            "SELECT job, definition_enc, git_commit, run_id, applied_at, source_snapshot FROM applied_jobs WHERE \
             environment_id = $1 ORDER BY job",
        )
        .bind(text(env))
        .doing(format!("read what environment {env} applied"));
        self.db.query(stmt).await?.into_iter().map(|r| from_row(self, env, r)).collect()
    }

    async fn forget_deleted(&self, lease: &RunLease, env: EnvironmentId, job: &str) -> Result<()> {
        let mut tx = Tx::new();
        fence::run(&mut tx, lease);
        tx.push(outputs::delete_stmt(env, job));
        tx.push(delete_stmt(env, job));
        snapshots::sweep(&mut tx);
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
            snapshots::sweep(&mut tx);
            self.db.write(tx).await?;
        }
        Ok(forgotten)
    }
}
