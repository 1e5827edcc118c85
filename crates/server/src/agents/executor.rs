//! The `agent` executor: the engine's seam to agents. A step is packed (its working copy
//! and parameters file, its command, variables, limits and the secrets to mask), queued
//! in the store for its pool, and waited on there: the agent's log lines are moved into
//! the run's log as they arrive, a cancellation is passed to the agent, and a step whose
//! agent stopped renewing its lease is taken back (its fencing token bumped) and fails,
//! so `max_restarts` may run it again on another agent. The handle id is the step's id.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use terrace_exec::{ExecError, ExecEvent, Executor, Handle, StepIo, StepSpec};
use terrace_model::log::{LogBatch, Stream};
use terrace_store::{AgentStepId, AgentStore, NewAgentStep};
use tokio::sync::Notify;

use super::handle::{AgentHandle, Waiter};
use super::protocol::{StepEnd, StepPayload, StepResult};

/// A working copy over this size is not sent to an agent: a job's sources, not its data.
pub const MAX_WORKDIR_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Hands steps to agent pools through the store.
pub struct AgentExecutor {
    store: Arc<dyn AgentStore>,
    /// How often a waiter reads the step's state and log.
    poll: Duration,
    /// Wakes the pulls waiting on this server when a step is queued.
    wake: Arc<Notify>,
}

impl AgentExecutor {
    pub fn new(store: Arc<dyn AgentStore>, wake: Arc<Notify>) -> AgentExecutor {
        AgentExecutor { store, poll: Duration::from_millis(200), wake }
    }

    fn waiter(&self, id: AgentStepId) -> Waiter {
        Waiter { store: self.store.clone(), id, poll: self.poll }
    }
}

/// A step's working copy (a tar archive) and parameters file (its name and content).
type Files = (Vec<u8>, Option<(String, Vec<u8>)>);

/// The step as its agent receives it (the claim adds its id and token).
async fn payload(spec: &StepSpec, executor: &str, io: &StepIo) -> Result<StepPayload, ExecError> {
    let (workdir, input) = (spec.workdir.clone(), spec.input.clone());
    let files = tokio::task::spawn_blocking(move || -> std::io::Result<Files> {
        let tar = terrace_exec::bundle::pack(&workdir, MAX_WORKDIR_BYTES)?;
        let input = match input {
            Some(path) => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into());
                Some((name, std::fs::read(&path)?))
            }
            None => None,
        };
        Ok((tar, input))
    })
    .await
    .map_err(|e| ExecError::Agent(format!("cannot pack the step for its agent: {e}")))?
    .map_err(|e| ExecError::Workdir { path: spec.workdir.clone(), source: e })?;
    Ok(StepPayload {
        step: String::new(),
        token: 0,
        renew_every_ms: 0,
        run: spec.run.clone(),
        attempt: spec.attempt,
        executor: executor.to_string(),
        argv: spec.argv.clone(),
        env: spec.env.clone(),
        max_duration_ms: spec.limits.max_duration.map(|d| d.as_millis() as u64),
        kill_grace_ms: spec.limits.kill_grace.as_millis() as u64,
        capture_stdout: spec.capture_stdout,
        secrets: io.secrets.values(),
        workdir: b64(&files.0),
        input: files.1.map(|(name, bytes)| (name, b64(&bytes))),
        paths: [
            ("workdir", Some(&spec.workdir)),
            ("input", spec.input.as_ref()),
            ("output", spec.output_file.as_ref()),
        ]
        .into_iter()
        .filter_map(|(role, p)| Some((p?.display().to_string(), role.to_string())))
        .collect(),
    })
}

#[async_trait::async_trait]
impl Executor for AgentExecutor {
    fn name(&self) -> &'static str {
        terrace_exec::AGENT_EXECUTOR
    }

    async fn start(&self, spec: StepSpec, io: StepIo) -> Result<Box<dyn Handle>, ExecError> {
        let Some(place) = spec.agent.clone() else {
            return Err(ExecError::Unsupported(
                "the `agent` executor runs only the steps of a job with a `pool`".into(),
            ));
        };
        if place.executor != "local" || spec.image.is_some() {
            return Err(ExecError::Unsupported(format!(
                "agents run jobs with the `local` executor (a process on the agent's host); this job runs on the \
                 `{}` executor, which agents do not run yet: drop `pool:` or use `executor: local`",
                place.executor
            )));
        }
        let run = spec.run.parse().map_err(|_| ExecError::Agent(format!("`{}` is not a run id", spec.run)))?;
        let payload = payload(&spec, &place.executor, &io).await?;
        let body =
            serde_json::to_vec(&payload).map_err(|e| ExecError::Agent(format!("cannot encode the step: {e}")))?;
        let id = AgentStepId::new();
        let step = NewAgentStep { id, pool: place.pool.clone(), run, attempt: spec.attempt, spec: body };
        self.store
            .enqueue_agent_step(step)
            .await
            .map_err(|e| ExecError::Agent(format!("cannot queue the step: {e}")))?;
        self.wake.notify_waiters();
        let note = format!("waiting for an agent of pool `{}` (step {id})", place.pool);
        let _ = io.events.send(ExecEvent::Lines(LogBatch::now(Stream::Terrace, &note))).await;
        Ok(Box::new(AgentHandle::new(self.waiter(id), spec, io)))
    }

    async fn attach(&self, id: &str) -> Result<Box<dyn Handle>, ExecError> {
        let step: AgentStepId =
            id.parse().map_err(|_| ExecError::Attach { id: id.into(), reason: "not an agent step id".into() })?;
        Ok(Box::new(AgentHandle::attached(self.waiter(step))))
    }

    /// Steps are found by their id, which the engine records before it waits.
    async fn sweep(&self, _run: &str) {}
}

/// What a cancelled step's record says when it ends before an agent took it.
pub(crate) fn cancelled_before_claim() -> String {
    let result = StepResult { end: StepEnd::Cancelled, duration_ms: 0, stdout: String::new() };
    serde_json::to_string(&result).unwrap_or_default()
}
