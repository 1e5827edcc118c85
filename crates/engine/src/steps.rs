//! The engine's `StepRunner`: each step of a template is one process on the executor, in
//! the attempt's working copy, with the run's environment, its log recorded (masked) as
//! it streams, and the run's `max_duration` shared by all its steps.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use terrace_exec::{ExecEvent, ExecSpec, ExitStatus};
use terrace_model::RunId;
use terrace_model::log::{LogBatch, Stream};
use terrace_model::project::Job;
use terrace_templates::{Step, StepAbort, StepOutput, StepRunner};
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::job_run::RunContext;

/// How many stderr lines a failed step keeps for its error message.
const STDERR_TAIL: usize = 20;

pub(crate) struct EngineSteps<'a> {
    pub ctx: &'a RunContext<'a>,
    pub job: &'a Job,
    pub run: RunId,
    pub attempt: u32,
    pub workdir: PathBuf,
    pub env: Vec<(String, String)>,
    pub output_file: PathBuf,
    pub deadline: Option<Instant>,
}

fn internal(e: EngineError) -> StepAbort {
    StepAbort::Internal(e.to_string())
}

#[async_trait]
impl StepRunner for EngineSteps<'_> {
    async fn run(&mut self, step: Step) -> Result<StepOutput, StepAbort> {
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
        let spec = ExecSpec {
            argv: step.argv,
            workdir: self.workdir.clone(),
            env,
            max_duration,
            kill_grace: self.ctx.engine.kill_grace,
            // Watching the output file is for the job's own commands; a captured step's
            // output is handled by its template.
            output_file: (!step.capture_stdout).then(|| self.output_file.clone()),
            capture_stdout: step.capture_stdout,
        };
        let (tx, rx) = mpsc::channel(64);
        let recorder = record_logs(self.ctx, &self.job.name, self.run, self.attempt, rx);
        let exec = self.ctx.engine.executor.run(spec, self.ctx.secrets.clone(), tx, self.ctx.cancel.clone());
        let (outcome, recorded) = tokio::join!(exec, recorder);
        let stderr_tail = recorded.map_err(internal)?;
        let outcome = outcome.map_err(|e| StepAbort::Spawn(e.to_string()))?;
        match outcome.status {
            ExitStatus::Exited(exit_code) => Ok(StepOutput { exit_code, stdout: outcome.stdout, stderr_tail }),
            ExitStatus::Signaled(sig) => Err(StepAbort::Signaled(sig)),
            ExitStatus::TimedOut => Err(StepAbort::TimedOut),
            ExitStatus::Cancelled => Err(StepAbort::Cancelled),
        }
    }

    async fn note(&mut self, text: &str) -> Result<(), StepAbort> {
        self.ctx.note(&self.job.name, self.run, self.attempt, text).await.map_err(internal)
    }

    fn has_program(&self, program: &str) -> bool {
        if program.contains('/') {
            return is_executable(&self.workdir.join(program));
        }
        let path = self.env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or("");
        std::env::split_paths(path).any(|dir| is_executable(&dir.join(program)))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// At most this much log text goes into one store transaction; what is queued beyond it
/// waits for the next.
const MAX_APPEND_BYTES: usize = 8 * 1024 * 1024;

/// Stores log batches as they arrive, forwards them to the observer, and keeps the last
/// stderr lines for error messages.
async fn record_logs(
    ctx: &RunContext<'_>,
    job: &str,
    run: RunId,
    attempt: u32,
    mut rx: mpsc::Receiver<ExecEvent>,
) -> Result<Vec<String>, EngineError> {
    let store = ctx.engine.store.as_ref();
    let mut tail: VecDeque<String> = VecDeque::with_capacity(STDERR_TAIL);
    while let Some(event) = rx.recv().await {
        let first = match event {
            ExecEvent::Started { pid, pid_start } => {
                store.record_attempt_process(run, attempt, pid, pid_start).await?;
                continue;
            }
            ExecEvent::Lines(batch) => batch,
        };
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
                Ok(ExecEvent::Started { pid, pid_start }) => {
                    store.record_attempt_process(run, attempt, pid, pid_start).await?;
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
        store.append_logs(run, attempt, batches.clone()).await?;
        ctx.observer.observe(crate::Progress::Lines { job: job.to_string(), batches });
    }
    Ok(tail.into())
}
