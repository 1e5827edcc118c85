//! What each environment has applied (DESIGN.md "What an environment has applied"): per
//! job, the definition its last successful `start` ran with. A job removed from
//! `terrace.yaml` is known by it, and its `delete` runs with it; the record goes with
//! the job's outputs when that delete succeeds, or when `--keep-removed` forgets it.

use async_trait::async_trait;
use terrace_model::applied::JobDefinition;
use terrace_model::{EnvironmentId, RunId};
use time::OffsetDateTime;

use crate::owner::RunLease;
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
    ) -> Result<()>;
    /// The jobs environment `env` has applied, by name.
    async fn applied_jobs(&self, env: EnvironmentId) -> Result<Vec<AppliedJob>>;
    /// `job`'s delete succeeded (under `lease`): its outputs and its record go, in one
    /// transaction.
    async fn forget_deleted(&self, lease: &RunLease, env: EnvironmentId, job: &str) -> Result<()>;
    /// Forgets `jobs` without running their delete (`--keep-removed`): their records and
    /// outputs go, in one transaction. Returns what each left behind.
    async fn forget_removed(&self, env: EnvironmentId, jobs: &[String]) -> Result<Vec<ForgottenJob>>;
}
