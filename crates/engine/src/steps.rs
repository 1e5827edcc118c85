//! The engine's `StepRunner`: each step of a template is one step on the job's executor,
//! in the attempt's working copy, with the run's environment, its log recorded (masked)
//! as it streams, and the run's `max_duration` shared by all its steps. The step's handle
//! is in the store before the engine waits on it, so recovery can always find it again.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use terrace_exec::{
    ContainerStep, ExecEvent, ExecOutcome, Executor, ExitStatus, ImageSource, Limits, Resources, StepIo, StepSpec,
};
use terrace_model::log::{LogBatch, Stream};
use terrace_model::project::Job;
use terrace_templates::{Step, StepAbort, StepOutput, StepRunner};
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::job_run::RunContext;
use crate::lease::Held;

/// How many stderr lines a failed step keeps for its error message.
const STDERR_TAIL: usize = 20;

pub(crate) struct EngineSteps<'a> {
    pub ctx: &'a RunContext<'a>,
    pub job: &'a Job,
    pub held: &'a Held,
    pub attempt: u32,
    pub executor: Arc<dyn Executor>,
    /// On Terrace's host; the executor shows them to the job where it says.
    pub workdir: PathBuf,
    pub input: Option<PathBuf>,
    pub output_file: PathBuf,
    pub env: Vec<(String, String)>,
    pub resources: Resources,
    pub deadline: Option<Instant>,
    /// On a container executor: the prepared image and the container's settings.
    pub image: Option<String>,
    pub container: ContainerStep,
    /// On the `agent` executor: the pool and the executor its agents use.
    pub agent: Option<terrace_exec::AgentPlacement>,
    /// What a saved plan is bound to, with the commit and the state version.
    pub inputs_hash: String,
}

fn internal(e: EngineError) -> StepAbort {
    StepAbort::Internal(e.to_string())
}

/// Why a step did not reach its end.
enum Stopped {
    Exec(terrace_exec::ExecError),
    Store(EngineError),
}

#[async_trait]
impl StepRunner for EngineSteps<'_> {
    async fn run(&mut self, step: Step) -> Result<StepOutput, StepAbort> {
        if self.ctx.cancel.is_cancelled() {
            return Err(StepAbort::Cancelled);
        }
        let max_duration = match self.deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Err(StepAbort::TimedOut),
            },
            None => None,
        };
        if step.phase != "run" {
            self.note(&format!("{}: {}", step.phase, step.argv.join(" "))).await?;
        }
        let mut env = self.env.clone();
        env.extend(step.env);
        let spec = StepSpec {
            run: self.held.lease.id.to_string(),
            attempt: self.attempt,
            argv: step.argv,
            image: self.image.clone(),
            container: self.container.clone(),
            workdir: self.workdir.clone(),
            input: self.input.clone(),
            output_file: Some(self.output_file.clone()),
            env,
            resources: self.resources.clone(),
            limits: Limits { max_duration, kill_grace: self.ctx.engine.kill_grace },
            capture_stdout: step.capture_stdout,
            agent: self.agent.clone(),
        };
        let (tx, rx) = mpsc::channel(64);
        let recorder = record_logs(self.ctx, &self.job.name, self.held, self.attempt, rx);
        // The run's own token: a lost lease stops this run's step, not its siblings'.
        let io = StepIo { secrets: self.ctx.secrets.clone(), events: tx, cancel: self.held.cancel.clone() };
        let executed = self.execute(spec, io, step.phase);
        let (outcome, recorded) = tokio::join!(executed, recorder);
        let stderr_tail = match recorded {
            Ok(tail) => tail,
            // The step was stopped when the lease went; the run's end says why.
            Err(EngineError::Store(e)) if e.is_lease_lost() => return Err(StepAbort::Cancelled),
            Err(e) => return Err(internal(e)),
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(Stopped::Exec(e)) => return Err(StepAbort::Spawn(e.to_string())),
            Err(Stopped::Store(EngineError::Store(e))) if e.is_lease_lost() => {
                self.held.lose(e.to_string());
                return Err(StepAbort::Cancelled);
            }
            Err(Stopped::Store(e)) => return Err(internal(e)),
        };
        match outcome.status {
            ExitStatus::Exited(exit_code) => Ok(StepOutput { exit_code, stdout: outcome.stdout, stderr_tail }),
            ExitStatus::Signaled(sig) => Err(StepAbort::Signaled(sig)),
            ExitStatus::TimedOut => Err(StepAbort::TimedOut),
            ExitStatus::Cancelled => Err(StepAbort::Cancelled),
            ExitStatus::OutOfMemory => {
                Err(StepAbort::OutOfMemory(self.resources.memory.clone().unwrap_or_else(|| "of the host".into())))
            }
            ExitStatus::Lost => Err(StepAbort::Internal("the step's end was not seen".into())),
        }
    }

    async fn note(&mut self, text: &str) -> Result<(), StepAbort> {
        match self.ctx.note(&self.job.name, self.held, self.attempt, text).await {
            Ok(()) => Ok(()),
            Err(EngineError::Store(e)) if e.is_lease_lost() => {
                self.held.lose(e.to_string());
                Err(StepAbort::Cancelled)
            }
            Err(e) => Err(internal(e)),
        }
    }

    async fn keep_plan(&mut self, plan: &std::path::Path) -> Result<(), StepAbort> {
        self.ctx.keep_plan(&self.job.name, self.held, &self.inputs_hash, plan).await.map_err(internal)
    }

    async fn restore_plan(&mut self, plan: &std::path::Path) -> Result<Result<(), String>, StepAbort> {
        self.ctx.restore_plan(&self.job.name, self.held, &self.inputs_hash, plan).await.map_err(internal)
    }

    fn has_program(&self, program: &str) -> bool {
        self.executor.has_program(program, &self.env, &self.workdir)
    }
}

impl EngineSteps<'_> {
    /// Makes the job's image ready on a container executor (pulled, or built and cached
    /// by content), its pull or build in the attempt's log, and the image used (id, and
    /// the registry digest of a pulled one) noted there. `Ok(Err(reason))`: the attempt
    /// fails with that reason.
    pub(crate) async fn prepare_image(&mut self, source: ImageSource) -> Result<Result<(), String>, StepAbort> {
        let (tx, rx) = mpsc::channel(64);
        let recorder = record_logs(self.ctx, &self.job.name, self.held, self.attempt, rx);
        let io = StepIo { secrets: self.ctx.secrets.clone(), events: tx, cancel: self.held.cancel.clone() };
        let executor = self.executor.clone();
        let deadline = self.deadline;
        let cancel = self.held.cancel.clone();
        let prepare = async move {
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            // `io` goes with this future, which closes the log channel for the recorder.
            tokio::select! {
                r = executor.prepare_image(&source, &io) => r.map_err(|e| Err(e.to_string())),
                _ = cancel.cancelled() => Err(Ok(StepAbort::Cancelled)),
                _ = until_deadline => Err(Ok(StepAbort::TimedOut)),
            }
        };
        let (prepared, recorded) = tokio::join!(prepare, recorder);
        match recorded {
            Ok(_) => {}
            Err(EngineError::Store(e)) if e.is_lease_lost() => return Err(StepAbort::Cancelled),
            Err(e) => return Err(internal(e)),
        }
        let image = match prepared {
            Ok(image) => image,
            Err(Ok(abort)) => return Err(abort),
            Err(Err(reason)) => return Ok(Err(reason)),
        };
        let digest = image.digest.as_deref().map(|d| format!(", digest {d}")).unwrap_or_default();
        self.note(&format!("image {} ({}{digest})", image.reference, image.id)).await?;
        if let Some(identity) = image.identity() {
            match self.ctx.engine.store.set_run_image(&self.held.lease, identity).await {
                Ok(()) => {}
                Err(e) if e.is_lease_lost() => {
                    self.held.lose(e.to_string());
                    return Err(StepAbort::Cancelled);
                }
                Err(e) => return Err(internal(e.into())),
            }
        }
        self.image = Some(image.id);
        Ok(Ok(()))
    }

    /// Starts the step, records its handle, then waits for its end. The handle dropped
    /// at the end closes the log channel, so the recorder finishes too.
    async fn execute(&self, spec: StepSpec, io: StepIo, phase: &str) -> Result<ExecOutcome, Stopped> {
        let mut handle = self.executor.start(spec, io).await.map_err(Stopped::Exec)?;
        let store = self.ctx.engine.store.as_ref();
        let name = self.executor.name();
        if let Err(e) = store.record_attempt_handle(&self.held.lease, self.attempt, name, handle.id(), phase).await {
            // Unrecorded, the step must not outlive this process unseen.
            handle.cancel();
            let _ = handle.wait().await;
            return Err(Stopped::Store(e.into()));
        }
        let outcome = handle.wait().await.map_err(Stopped::Exec)?;
        // The exact image the cluster ran (a pod's imageID) replaces the reference asked for.
        if let Some(image) = handle.image_ran() {
            store.set_run_image(&self.held.lease, &image).await.map_err(|e| Stopped::Store(e.into()))?;
        }
        Ok(outcome)
    }
}

/// At most this much log text goes into one store transaction; what is queued beyond it
/// waits for the next.
const MAX_APPEND_BYTES: usize = 8 * 1024 * 1024;

/// Stores log batches as they arrive, forwards them to the observer, and keeps the last
/// stderr lines for error messages.
///
/// A lease lost on the way stops the run's step (its token) and ends the recording; what
/// the step still writes is drained unread, so it is never blocked on its pipe.
async fn record_logs(
    ctx: &RunContext<'_>,
    job: &str,
    held: &Held,
    attempt: u32,
    mut rx: mpsc::Receiver<ExecEvent>,
) -> Result<Vec<String>, EngineError> {
    match record(ctx, job, held, attempt, &mut rx).await {
        Err(EngineError::Store(e)) if e.is_lease_lost() => {
            held.lose(e.to_string());
            while rx.recv().await.is_some() {}
            Err(EngineError::Store(e))
        }
        other => other,
    }
}

async fn record(
    ctx: &RunContext<'_>,
    job: &str,
    held: &Held,
    attempt: u32,
    rx: &mut mpsc::Receiver<ExecEvent>,
) -> Result<Vec<String>, EngineError> {
    let store = ctx.engine.store.as_ref();
    let mut tail: VecDeque<String> = VecDeque::with_capacity(STDERR_TAIL);
    while let Some(ExecEvent::Lines(first)) = rx.recv().await {
        // Coalesce what is already queued into one transaction: when the store is slower
        // than the job writes, each transaction carries more.
        let mut bytes = first.text().len();
        let mut batches = vec![first];
        while bytes < MAX_APPEND_BYTES {
            match rx.try_recv() {
                Ok(ExecEvent::Lines(more)) => {
                    bytes += more.text().len();
                    batches.push(more);
                }
                Err(_) => break,
            }
        }
        for b in batches.iter().filter(|b| b.stream == Stream::Stderr) {
            let last: Vec<&str> = b.lines().rev().take(STDERR_TAIL).collect();
            for line in last.into_iter().rev() {
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line.to_string());
            }
        }
        let batches: Arc<[LogBatch]> = batches.into();
        store.append_logs(&held.lease, attempt, batches.clone()).await?;
        ctx.observer.observe(crate::Progress::Lines { job: job.to_string(), batches });
    }
    Ok(tail.into())
}
