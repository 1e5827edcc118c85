//! Waiting on a step an agent runs: its log lines moved from the store into the run's
//! log (masked again, with this server's secrets), its cancellation passed on, its lease
//! watched (an expired one is taken back: the step fails with `ExecError::Agent`), its
//! end read once, its output file written where the engine reads it, its record removed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use terrace_exec::{ExecError, ExecEvent, ExecOutcome, ExitStatus, Handle, StepIo, StepSpec};
use terrace_model::log::{LogBatch, Stream};
use terrace_store::{AgentStepId, AgentStepRecord, AgentStepState, AgentStore};
use tokio_util::sync::CancellationToken;

use super::executor::cancelled_before_claim;
use super::protocol::{StepEnd, StepResult, WireBatch};

/// Reads one step in the store.
#[derive(Clone)]
pub(crate) struct Waiter {
    pub store: Arc<dyn AgentStore>,
    pub id: AgentStepId,
    pub poll: Duration,
}

fn store_error(id: AgentStepId, e: terrace_store::StoreError) -> ExecError {
    ExecError::Agent(format!("lost track of agent step {id}: {e}"))
}

impl Waiter {
    async fn get(&self) -> Result<AgentStepRecord, ExecError> {
        match self.store.get_agent_step(self.id).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(ExecError::Attach { id: self.id.to_string(), reason: "no such agent step".into() }),
            Err(e) => Err(store_error(self.id, e)),
        }
    }

    fn cancel_soon(&self) {
        let w = self.clone();
        tokio::spawn(async move {
            if let Err(e) = w.store.cancel_agent_step(w.id, &cancelled_before_claim()).await {
                tracing::warn!(step = %w.id, error = %e, "could not cancel an agent step");
            }
        });
    }
}

pub(crate) struct AgentHandle {
    id: String,
    waiter: Waiter,
    /// `None` for a re-attached step: nobody follows its log.
    watched: Option<(StepSpec, StepIo)>,
    cancel: CancellationToken,
    /// The image the agent reported running the step in, once it ended.
    image: Option<String>,
}

impl AgentHandle {
    pub(crate) fn new(waiter: Waiter, spec: StepSpec, io: StepIo) -> AgentHandle {
        let cancel = io.cancel.child_token();
        AgentHandle { id: waiter.id.to_string(), waiter, watched: Some((spec, io)), cancel, image: None }
    }

    pub(crate) fn attached(waiter: Waiter) -> AgentHandle {
        AgentHandle { id: waiter.id.to_string(), waiter, watched: None, cancel: CancellationToken::new(), image: None }
    }

    /// Moves the log lines after `after` into the run's log; the last sequence number.
    async fn forward(&self, io: &StepIo, mut after: i64) -> Result<i64, ExecError> {
        loop {
            let rows = self
                .waiter
                .store
                .agent_step_logs(self.waiter.id, after)
                .await
                .map_err(|e| store_error(self.waiter.id, e))?;
            if rows.is_empty() {
                return Ok(after);
            }
            for (seq, text) in rows {
                after = seq;
                let Ok(wire) = serde_json::from_str::<WireBatch>(&text) else { continue };
                let mut batch = LogBatch::new(wire.to_batch().ts, wire.to_batch().stream);
                for line in &wire.lines {
                    batch.push(&io.secrets.mask(line));
                }
                let _ = io.events.send(ExecEvent::Lines(batch)).await;
            }
        }
    }

    async fn note(io: &StepIo, text: &str) {
        let _ = io.events.send(ExecEvent::Lines(LogBatch::now(Stream::Terrace, text))).await;
    }
}

/// The image an ended step's result names, when it is one: an agent writes it, so it is
/// kept only when it looks like an image reference or id (short, printable, no spaces).
fn reported_image(result: Option<&str>) -> Option<String> {
    let image = serde_json::from_str::<StepResult>(result?).ok()?.image?;
    let plausible = !image.is_empty() && image.len() <= 512 && image.chars().all(|c| c.is_ascii_graphic());
    plausible.then_some(image)
}

/// The outcome of an ended step's result.
fn outcome(id: AgentStepId, result: Option<&str>, duration: Duration) -> Result<ExecOutcome, ExecError> {
    let result: StepResult = result
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| ExecError::Agent(format!("agent step {id} ended without a readable result")))?;
    let status = match result.end {
        StepEnd::Exited { code } => ExitStatus::Exited(code),
        StepEnd::Signaled { signal } => ExitStatus::Signaled(signal),
        StepEnd::TimedOut => ExitStatus::TimedOut,
        StepEnd::Cancelled => ExitStatus::Cancelled,
        StepEnd::OutOfMemory => ExitStatus::OutOfMemory,
        StepEnd::Failed { message } | StepEnd::Lost { message } => return Err(ExecError::Agent(message)),
    };
    let stdout = base64::engine::general_purpose::STANDARD.decode(result.stdout.as_bytes()).unwrap_or_default();
    Ok(ExecOutcome { status, duration, stdout })
}

#[async_trait::async_trait]
impl Handle for AgentHandle {
    fn id(&self) -> &str {
        &self.id
    }

    async fn wait(&mut self) -> Result<ExecOutcome, ExecError> {
        let started = Instant::now();
        let id = self.waiter.id;
        let Some((spec, io)) = &self.watched else {
            // Re-attached: until it has ended, whatever its end.
            loop {
                if self.waiter.get().await?.state == AgentStepState::Ended {
                    return Ok(ExecOutcome {
                        status: ExitStatus::Lost,
                        duration: started.elapsed(),
                        stdout: Vec::new(),
                    });
                }
                tokio::time::sleep(self.waiter.poll).await;
            }
        };
        let deadline = spec.limits.max_duration.map(|d| started + d);
        let (mut after, mut asked, mut claimed) = (0i64, false, false);
        loop {
            // The step first, then its lines: a step an agent claimed and ended between two
            // polls still says where it ran before its first line.
            let step = self.waiter.get().await?;
            if !claimed && let Some(agent) = step.agent.as_deref().filter(|_| step.state != AgentStepState::Queued) {
                claimed = true;
                Self::note(io, &format!("running on agent `{agent}`")).await;
            }
            after = self.forward(io, after).await?;
            let now = time::OffsetDateTime::now_utc();
            match step.state {
                AgentStepState::Ended => {
                    self.forward(io, after).await?;
                    if let (Some(bytes), Some(path)) = (&step.output, &spec.output_file) {
                        tokio::fs::write(path, bytes)
                            .await
                            .map_err(|source| ExecError::Workdir { path: path.clone(), source })?;
                    }
                    let outcome = outcome(id, step.result.as_deref(), started.elapsed());
                    self.image = reported_image(step.result.as_deref());
                    if let Err(e) = self.waiter.store.remove_agent_step(id).await {
                        tracing::warn!(step = %id, error = %e, "could not forget an ended agent step");
                    }
                    return outcome;
                }
                AgentStepState::Queued if deadline.is_some_and(|d| Instant::now() >= d) => {
                    let timed_out =
                        StepResult { end: StepEnd::TimedOut, duration_ms: 0, stdout: String::new(), image: None };
                    let text = serde_json::to_string(&timed_out).unwrap_or_default();
                    self.waiter.store.cancel_agent_step(id, &text).await.map_err(|e| store_error(id, e))?;
                }
                AgentStepState::Queued | AgentStepState::Running if self.cancel.is_cancelled() && !asked => {
                    asked = true;
                    self.waiter
                        .store
                        .cancel_agent_step(id, &cancelled_before_claim())
                        .await
                        .map_err(|e| store_error(id, e))?;
                }
                AgentStepState::Running if step.lease_expires_at.is_some_and(|t| t < now) => {
                    let agent = step.agent.as_deref().unwrap_or("?");
                    let message = format!(
                        "agent `{agent}` stopped renewing its lease on the step (it expired at {}): taken back; \
                         whatever it still writes for the step is refused",
                        step.lease_expires_at.map(|t| t.to_string()).unwrap_or_default()
                    );
                    let lost = StepResult {
                        end: StepEnd::Lost { message },
                        duration_ms: 0,
                        stdout: String::new(),
                        image: None,
                    };
                    let text = serde_json::to_string(&lost).unwrap_or_default();
                    self.waiter.store.take_back_agent_step(id, now, &text).await.map_err(|e| store_error(id, e))?;
                }
                _ => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(self.waiter.poll) => {}
                _ = self.cancel.cancelled(), if !asked => {}
            }
        }
    }

    fn image_ran(&self) -> Option<String> {
        self.image.clone()
    }

    fn cancel(&self) {
        self.cancel.cancel();
        if self.watched.is_none() {
            self.waiter.cancel_soon();
        }
    }
}
