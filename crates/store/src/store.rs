//! The one store interface. The engine and the CLI reach the database only through
//! this trait; SQL lives in the implementations alone.

use std::sync::Arc;

use async_trait::async_trait;
use terrace_model::log::LogBatch;
use terrace_model::output::OutputEntry;
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::records::*;

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync {
    // ---- environments ----
    /// Returns the environment, creating it in state `stopped` when absent.
    async fn ensure_environment(&self, project: &str, name: &str) -> Result<EnvironmentRecord>;
    async fn get_environment(&self, project: &str, name: &str) -> Result<Option<EnvironmentRecord>>;
    /// One page of the project's environments, in name order (byte order).
    async fn list_environments(&self, project: &str, page: &EnvPage) -> Result<Vec<EnvironmentRecord>>;
    async fn set_environment_state(
        &self,
        id: EnvironmentId,
        state: EnvState,
        failed_job: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()>;
    /// Removes the environment record and its outputs; its runs, logs and events stay as history.
    async fn delete_environment(&self, id: EnvironmentId) -> Result<()>;

    // ---- pipelines and runs ----
    async fn create_pipeline(&self, env: EnvironmentId, event: Event, trigger: &str) -> Result<PipelineId>;
    async fn finish_pipeline(&self, id: PipelineId, state: RunState) -> Result<()>;
    async fn create_run(&self, run: NewRun) -> Result<RunRecord>;
    async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>>;
    /// Runs whose id starts with `prefix` (hex with or without dashes), at most 2 (to tell ambiguity).
    async fn find_runs_by_prefix(&self, prefix: &str) -> Result<Vec<RunRecord>>;
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    /// The newest run of each job of the environment.
    async fn last_runs(&self, env: EnvironmentId) -> Result<Vec<RunRecord>>;
    /// The inputs hash of the newest successful (not skipped) run of `job` for `event`.
    async fn last_success_inputs(&self, env: EnvironmentId, job: &str, event: Event) -> Result<Option<String>>;
    /// Every run in state queued or running, of every owner.
    async fn active_runs(&self) -> Result<Vec<RunRecord>>;

    /// Starts a new attempt: the run becomes `running`, held by `owner` until `lease_until`.
    /// Returns the attempt number (1-based).
    async fn start_attempt(
        &self,
        run: RunId,
        owner: &str,
        lease_until: OffsetDateTime,
        inputs_hash: Option<&str>,
    ) -> Result<u32>;
    /// Records the step an attempt runs now: its executor and the handle id that finds it.
    async fn record_attempt_handle(&self, run: RunId, attempt: u32, executor: &str, handle: &str) -> Result<()>;
    async fn finish_attempt(
        &self,
        run: RunId,
        attempt: u32,
        state: RunState,
        exit_code: Option<i32>,
        reason: Option<&str>,
    ) -> Result<()>;
    /// Ends the run (and any attempt still running) in a final state; clears owner and lease.
    async fn finish_run(&self, run: RunId, state: RunState, exit_code: Option<i32>, reason: Option<&str>)
    -> Result<()>;
    /// `start_attempt`, and `log` (Terrace's opening lines) appended to the new attempt:
    /// one transaction where the store can group them. The engine's path to a job's start.
    async fn start_attempt_logged(
        &self,
        run: RunId,
        owner: &str,
        lease_until: OffsetDateTime,
        inputs_hash: Option<&str>,
        log: Arc<[LogBatch]>,
    ) -> Result<u32> {
        let attempt = self.start_attempt(run, owner, lease_until, inputs_hash).await?;
        self.append_logs(run, attempt, log).await?;
        Ok(attempt)
    }
    /// `finish_attempt`, `log` (Terrace's summary) appended to it, and when `run_end` is
    /// given, `finish_run` too: one transaction where the store can group them. The
    /// engine's path from a job's end to the next job.
    async fn end_attempt(
        &self,
        run: RunId,
        attempt: u32,
        end: &Ending,
        log: Arc<[LogBatch]>,
        run_end: Option<&Ending>,
    ) -> Result<()> {
        self.finish_attempt(run, attempt, end.state, end.exit_code, end.reason.as_deref()).await?;
        self.append_logs(run, attempt, log).await?;
        if let Some(e) = run_end {
            self.finish_run(run, e.state, e.exit_code, e.reason.as_deref()).await?;
        }
        Ok(())
    }
    /// Records a plan run's summary and the folder holding its saved plan.
    async fn set_run_plan(&self, run: RunId, summary: &serde_json::Value, artifacts: &str) -> Result<()>;
    async fn attempts(&self, run: RunId) -> Result<Vec<AttemptRecord>>;
    /// Extends the lease of the runs `owner` holds.
    async fn renew_leases(&self, owner: &str, until: OffsetDateTime) -> Result<()>;

    // ---- logs ----
    /// Appends batches of lines (already masked) to the attempt's log, in one transaction.
    async fn append_logs(&self, run: RunId, attempt: u32, batches: Arc<[LogBatch]>) -> Result<()>;
    /// Lines from `offset` on, at most `limit`.
    async fn read_logs(&self, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>>;

    // ---- outputs ----
    /// Replaces every output of `job` in the environment with `entries`, atomically.
    /// Sensitive values are encrypted at rest.
    async fn put_outputs(&self, env: EnvironmentId, job: &str, run: RunId, entries: &[OutputEntry]) -> Result<()>;
    async fn outputs(&self, env: EnvironmentId) -> Result<Vec<StoredOutput>>;
    async fn delete_outputs(&self, env: EnvironmentId, job: &str) -> Result<()>;

    // ---- history ----
    async fn record_event(&self, env: EnvironmentId, run: Option<RunId>, kind: &str, message: &str) -> Result<()>;
    async fn events(&self, env: EnvironmentId, limit: u32) -> Result<Vec<EventRecord>>;
}
