//! The one store interface. The engine and the CLI reach the database only through
//! this trait; SQL lives in the implementation alone (`sql`).
//!
//! Every run is held by one owner under a lease from its creation to its end. Every
//! write of a run takes the writer's `RunLease` and is refused with
//! `StoreError::LeaseLost` once that lease no longer holds it (expired and taken back,
//! or ended): a stale holder cannot change what another decided.

use std::sync::Arc;

use async_trait::async_trait;
use terrace_model::log::LogBatch;
use terrace_model::output::OutputEntry;
use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::owner::{Owner, RunLease};
use crate::promotions::{NewPromotion, PinRecord, PromotionId, PromotionRecord, PromotionState};
use crate::records::*;

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait Store:
    crate::state::StateStore + crate::applied::AppliedStore + crate::locks::LockStore + Send + Sync
{
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
    /// Creates an environment defined at run time (a clone, a preview), `stopped`, with the
    /// pins of the environment it was made from; `StoreError::Conflict` when the project
    /// already has an environment record of that name.
    async fn create_runtime_environment(&self, env: &NewRuntimeEnvironment) -> Result<EnvironmentRecord>;
    /// Replaces the variable overrides of an environment created at run time (a
    /// preview's new head); `NotFound` when it has no runtime definition.
    async fn set_runtime_variables(
        &self,
        project: &str,
        name: &str,
        variables: &std::collections::BTreeMap<String, String>,
    ) -> Result<()>;
    /// The project's environments created at run time, in name order.
    async fn runtime_environments(&self, project: &str) -> Result<Vec<EnvironmentRecord>>;

    // ---- pipelines and runs ----
    async fn create_pipeline(&self, env: EnvironmentId, event: Event, trigger: &str) -> Result<PipelineId>;
    /// A pipeline's opening records in one transaction: the environment's state while it
    /// runs (when given), the pipeline, and its runs, queued and held by `holder` until
    /// `lease_until`. Returns the pipeline and each run's lease and number, in `runs` order.
    async fn open_pipeline(
        &self,
        pipeline: &NewPipeline,
        holder: &Owner,
        lease_until: OffsetDateTime,
    ) -> Result<(PipelineId, Vec<OpenedRun>)>;
    async fn finish_pipeline(&self, id: PipelineId, state: RunState) -> Result<()>;
    /// A pipeline's end in one transaction: its state, its environment's (`end.change`)
    /// and an entry of the environment's history.
    async fn close_pipeline(&self, end: &PipelineEnd<'_>) -> Result<()>;
    /// Creates a run, queued and held by `holder` until `lease_until`.
    async fn create_run(&self, run: NewRun, holder: &Owner, lease_until: OffsetDateTime) -> Result<RunRecord>;
    async fn get_run(&self, id: RunId) -> Result<Option<RunRecord>>;
    /// Runs whose id starts with `prefix` (hex with or without dashes), at most 2 (to tell ambiguity).
    async fn find_runs_by_prefix(&self, prefix: &str) -> Result<Vec<RunRecord>>;
    /// The runs a person names with `reference`: `ENV#N` (the run numbered N in environment
    /// ENV) or an id or a prefix of one (with or without dashes), of `project` when given;
    /// at most `limit`, so that an ambiguous reference can list its candidates.
    async fn find_runs(&self, project: Option<&str>, reference: &str, limit: u32) -> Result<Vec<RunRecord>>;
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    /// The newest run of each job of the environment.
    async fn last_runs(&self, env: EnvironmentId) -> Result<Vec<RunRecord>>;
    /// The inputs hash of the newest successful (not skipped) run of `job` for `event`.
    async fn last_success_inputs(&self, env: EnvironmentId, job: &str, event: Event) -> Result<Option<String>>;
    /// The newest successful (not skipped) run of `job` for `event` that recorded its inputs.
    async fn last_success(&self, env: EnvironmentId, job: &str, event: Event) -> Result<Option<RunRecord>>;
    /// The runs of the newest whole-environment `start` pipeline of `env` that succeeded
    /// (what a rollback re-applies); empty when none did.
    async fn last_good_start(&self, env: EnvironmentId) -> Result<Vec<RunRecord>>;
    /// Records what `skip_unchanged` found of the run's inputs (hash, parts, what changed).
    async fn set_run_inputs(&self, lease: &RunLease, inputs: &RunInputs) -> Result<()>;
    /// Every run in state queued or running, of every owner.
    async fn active_runs(&self) -> Result<Vec<RunRecord>>;

    /// Starts a new attempt with its opening log lines (Terrace's own; may be empty):
    /// the run becomes `running`, its lease extended to `lease_until`. One transaction
    /// where the lines fit in rows. Returns the attempt number (1-based).
    async fn start_attempt(
        &self,
        lease: &RunLease,
        lease_until: OffsetDateTime,
        inputs_hash: Option<&str>,
        log: Arc<[LogBatch]>,
    ) -> Result<u32>;
    /// Records the step an attempt runs now: its executor, the handle id that finds it,
    /// and its template phase (`run`: the job's single command).
    async fn record_attempt_handle(
        &self,
        lease: &RunLease,
        attempt: u32,
        executor: &str,
        handle: &str,
        phase: &str,
    ) -> Result<()>;
    /// Ends an attempt with `log` (Terrace's summary) appended to it and, when `run_end`
    /// is given, the run too (its lease released): one transaction where the lines fit
    /// in rows. The engine's path from a job's end to the next job.
    async fn end_attempt(
        &self,
        lease: &RunLease,
        attempt: u32,
        end: &Ending,
        log: Arc<[LogBatch]>,
        run_end: Option<&Ending>,
    ) -> Result<()>;
    /// Ends the run (and any attempt still running) in a final state; releases its lease.
    async fn finish_run(&self, lease: &RunLease, end: &Ending) -> Result<()>;
    /// Records the image a container run ran (`RunRecord::image`), fenced by its lease.
    async fn set_run_image(&self, lease: &RunLease, image: &str) -> Result<()>;
    /// Records a plan run's summary and the folder holding its saved plan.
    async fn set_run_plan(&self, lease: &RunLease, summary: &serde_json::Value, artifacts: Option<&str>) -> Result<()>;
    async fn attempts(&self, run: RunId) -> Result<Vec<AttemptRecord>>;
    /// Extends the leases still held to `until`; returns the runs among them that their
    /// holder no longer holds (taken back or ended), whose work must stop.
    async fn renew_leases(&self, leases: &[RunLease], until: OffsetDateTime) -> Result<Vec<RunId>>;
    /// Ends, as `interrupted` with `reason`, an active run whose holder can no longer
    /// finish it, provided it is as seen: lease `token` and, with `expired_before`, a
    /// lease that ended before then. Bumps the token, so the old holder cannot write
    /// again. Returns whether it took the run.
    async fn take_back_run(
        &self,
        run: RunId,
        token: u64,
        expired_before: Option<OffsetDateTime>,
        reason: &str,
    ) -> Result<bool>;
    /// Holds a running run whose holder is gone for `holder` until `until` (its step still
    /// runs and is followed to its end), provided it is as seen: lease `token` and, with
    /// `expired_before`, a lease that ended before then. Bumps the token. `None`: it moved on.
    async fn adopt_run(
        &self,
        run: RunId,
        token: u64,
        expired_before: Option<OffsetDateTime>,
        holder: &Owner,
        until: OffsetDateTime,
    ) -> Result<Option<RunLease>>;

    // ---- logs ----
    /// Appends batches of lines (already masked) to the attempt's log, in one transaction.
    async fn append_logs(&self, lease: &RunLease, attempt: u32, batches: Arc<[LogBatch]>) -> Result<()>;
    /// Lines from `offset` on, at most `limit`.
    async fn read_logs(&self, run: RunId, offset: u64, limit: u32) -> Result<Vec<StoredLogLine>>;

    // ---- outputs ----
    /// Replaces every output of `job` in the environment with `entries` (written by the
    /// run of `lease`), atomically. Sensitive values are encrypted at rest.
    async fn put_outputs(&self, lease: &RunLease, env: EnvironmentId, job: &str, entries: &[OutputEntry])
    -> Result<()>;
    async fn outputs(&self, env: EnvironmentId) -> Result<Vec<StoredOutput>>;
    /// Removes `job`'s outputs once the delete run of `lease` succeeded.
    async fn delete_outputs(&self, lease: &RunLease, env: EnvironmentId, job: &str) -> Result<()>;

    // ---- promotions and pins ----
    async fn create_promotion(&self, promotion: NewPromotion) -> Result<PromotionRecord>;
    async fn get_promotion(&self, id: PromotionId) -> Result<Option<PromotionRecord>>;
    /// Newest first, narrowed to a target environment and an artifact when given.
    async fn list_promotions(
        &self,
        project: &str,
        to_env: Option<&str>,
        artifact: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PromotionRecord>>;
    /// Records a promotion's state (awaiting, started again, failed, rejected) and why.
    async fn set_promotion_state(&self, id: PromotionId, state: PromotionState, reason: Option<&str>) -> Result<()>;
    /// A started promotion's success, in one transaction: done, the pin of its environment
    /// `env` (the replaced pin kept as previous), its audit entry and a history entry.
    async fn finish_promotion(&self, id: PromotionId, env: EnvironmentId, message: &str) -> Result<()>;
    /// What the environment runs of each artifact.
    async fn artifact_pins(&self, project: &str, env: &str) -> Result<Vec<PinRecord>>;
    /// Whether this digest of the artifact was promoted to `env` (the order rule).
    async fn was_promoted(&self, project: &str, env: &str, artifact: &str, digest: &str) -> Result<bool>;

    // ---- history ----
    async fn record_event(&self, env: EnvironmentId, run: Option<RunId>, kind: &str, message: &str) -> Result<()>;
    async fn events(&self, env: EnvironmentId, limit: u32) -> Result<Vec<EventRecord>>;
}
