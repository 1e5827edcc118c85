//! What each environment has applied (DESIGN.md "What an environment has applied"): per
//! job, the definition its last successful `start` ran with. A job removed from
//! `terrace.yaml` is known by it, and its `delete` runs with it; the record goes with
//! the job's outputs when that delete succeeds, or when `--keep-removed` forgets it.

use std::sync::Arc;

use async_trait::async_trait;
use terrace_model::applied::JobDefinition;
use terrace_model::log::LogBatch;
use terrace_model::{EnvironmentId, RunId};
use time::OffsetDateTime;

use crate::owner::RunLease;
use crate::records::Ending;
use crate::store::Result;

/// One job an environment has applied.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AppliedJob {
    pub job: String,
    pub definition: JobDefinition,
    /// The commit its git source was checked out at, when it has one.
    pub git_commit: Option<String>,
    /// The run that applied it.
    pub run_id: RunId,
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: OffsetDateTime,
    /// The hash of the snapshot of its source folder ([`SourceSnapshot`]), when one was
    /// kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_snapshot: Option<String>,
}

/// A job's source folder as a start applied it: a gzip-compressed tar, named by the
/// SHA-256 (hex) of the tar. Stored once per content, sealed with the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSnapshot {
    pub hash: String,
    pub tar_gz: Vec<u8>,
}

/// What a successful start applied, recorded with the run's end
/// ([`AppliedStore::end_applied`]).
#[derive(Clone, Copy, Debug)]
pub struct Applied<'a> {
    pub env: EnvironmentId,
    pub definition: &'a JobDefinition,
    /// The commit its git source was checked out at, when it has one.
    pub git_commit: Option<&'a str>,
    pub snapshot: Option<&'a SourceSnapshot>,
}

/// A job the environment forgot on purpose (`--keep-removed`): its delete never ran.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForgottenJob {
    pub job: String,
    /// The names of the outputs dropped with it.
    pub outputs: Vec<String>,
}

#[async_trait]
pub trait AppliedStore: Send + Sync {
    /// Records what `definition` of environment `env` applied (its start succeeded,
    /// under `lease`), replacing an earlier record of that job.
    async fn record_applied(
        &self,
        lease: &RunLease,
        env: EnvironmentId,
        definition: &JobDefinition,
        git_commit: Option<&str>,
    ) -> Result<()> {
        self.record_applied_with(lease, env, definition, git_commit, None).await
    }
    /// [`AppliedStore::record_applied`] with the snapshot of the job's source folder,
    /// stored in the same transaction unless a snapshot of that hash is stored already;
    /// snapshots no applied job refers to any more go.
    async fn record_applied_with(
        &self,
        lease: &RunLease,
        env: EnvironmentId,
        definition: &JobDefinition,
        git_commit: Option<&str>,
        snapshot: Option<&SourceSnapshot>,
    ) -> Result<()>;
    /// Ends attempt `attempt` with `log` (its summary) and its run in `end` (a start that
    /// succeeded), and records what it applied, replacing an earlier record of that job:
    /// one transaction, so the record exists exactly when the run's success does (and
    /// the path between jobs makes one write, not two).
    async fn end_applied(
        &self,
        lease: &RunLease,
        attempt: u32,
        end: &Ending,
        log: Arc<[LogBatch]>,
        applied: &Applied<'_>,
    ) -> Result<()>;
    /// The compressed tar of the snapshot named `hash`, opened; `None` when none is kept.
    async fn source_snapshot(&self, hash: &str) -> Result<Option<Vec<u8>>>;
    /// The jobs environment `env` has applied, by name.
    async fn applied_jobs(&self, env: EnvironmentId) -> Result<Vec<AppliedJob>>;
    /// `job`'s delete succeeded (under `lease`): its outputs and its record go, in one
    /// transaction.
    async fn forget_deleted(&self, lease: &RunLease, env: EnvironmentId, job: &str) -> Result<()>;
    /// Forgets `jobs` without running their delete (`--keep-removed`): their records and
    /// outputs go, in one transaction. Returns what each left behind.
    async fn forget_removed(&self, env: EnvironmentId, jobs: &[String]) -> Result<Vec<ForgottenJob>>;
}
