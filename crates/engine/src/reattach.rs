//! Runs whose step outlived their holder (a Kubernetes Job keeps running when the server
//! that started it dies): recovery holds such a run under its own lease, finds the step
//! again by its recorded handle and follows it to its true end, so the run ends as the
//! step did (with its outputs) instead of `interrupted`, and the step is never run twice.
//! Applies are not idempotent: following the one that runs is the only safe thing.

use std::path::Path;
use std::sync::Arc;

use terrace_exec::{ExecOutcome, Executors, ExitStatus, Handle};
use terrace_model::Event;
use terrace_model::log::{LogBatch, Stream};
use terrace_model::output::parse_output_file;
use terrace_store::{Ending, Owner, RunLease, RunRecord, RunState, Store};
use time::OffsetDateTime;

use crate::error::EngineError;
use crate::lease::{LEASE, until};

/// Follows the running step of `run` (whose holder is gone) to its end when its executor
/// can, and ends the run as the step ended. Returns how it ended, or `None` when the run
/// has no such step (it is then taken back as before).
pub(crate) async fn follow(
    store: &dyn Store,
    data_dir: &Path,
    run: &RunRecord,
    expired_before: Option<OffsetDateTime>,
    me: &Owner,
    executors: &Executors,
) -> Result<Option<String>, EngineError> {
    let attempts = store.attempts(run.id).await?;
    let Some(attempt) = attempts.iter().rev().find(|a| a.state == RunState::Running) else { return Ok(None) };
    let (Some(name), Some(id)) = (attempt.executor.as_deref(), attempt.handle.as_deref()) else { return Ok(None) };
    let Ok(executor) = executors.get(name) else { return Ok(None) };
    // Only a job's single command (`run`) ends the run when it ends: a template phase
    // (terraform's `init`, `plan` ...) has others after it, which only the engine runs.
    if !executor.follows_after_restart() || attempt.phase.as_deref() != Some("run") {
        return Ok(None);
    }
    // A step that is gone cannot be followed: the run is taken back as interrupted.
    let Ok(mut step) = executor.attach(id).await else { return Ok(None) };
    let Some(lease) = store.adopt_run(run.id, run.lease_token, expired_before, me, until(LEASE)).await? else {
        return Ok(None);
    };
    // Where the step's outputs are written (the attempt's work folder, as when it started).
    let output = crate::work::work_root(data_dir).join(format!("{}-{}", run.id, attempt.number)).join("output");
    let made = output.clone();
    let _ = tokio::task::spawn_blocking(move || std::fs::create_dir_all(made)).await;
    let note = format!("re-attached after its holder stopped: following {name} step `{id}` to its end");
    store.append_logs(&lease, attempt.number, Arc::from([LogBatch::now(Stream::Terrace, &note)])).await?;
    let outcome = wait_holding(store, &lease, step.as_mut()).await?;
    let ending = match outcome {
        Ok(o) if o.status.success() => {
            store_outputs(store, run, &lease, &output.join(crate::work::OUTPUT_FILE)).await?
        }
        Ok(o) => ending_of(&o),
        Err(e) => Ending::new(RunState::Failed, None, Some(&e.to_string())),
    };
    let summary = format!("followed to its end after a restart: {}", ending.state);
    let log = Arc::from([LogBatch::now(Stream::Terrace, &summary)]);
    store.end_attempt(&lease, attempt.number, &ending, log, Some(&ending)).await?;
    Ok(Some(summary))
}

/// Waits for the step's end, renewing the lease meanwhile.
async fn wait_holding(
    store: &dyn Store,
    lease: &RunLease,
    step: &mut dyn Handle,
) -> Result<Result<ExecOutcome, terrace_exec::ExecError>, EngineError> {
    let wait = step.wait();
    tokio::pin!(wait);
    let mut renew = tokio::time::interval(LEASE / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            outcome = &mut wait => return Ok(outcome),
            _ = renew.tick() => {
                if !store.renew_leases(std::slice::from_ref(lease), until(LEASE)).await?.is_empty() {
                    return Err(EngineError::Internal(format!("run {} was taken by another holder while followed", lease.id)));
                }
            }
        }
    }
}

fn ending_of(o: &ExecOutcome) -> Ending {
    let (state, code, reason) = match o.status {
        ExitStatus::Exited(code) => (RunState::Failed, Some(code), format!("exited with code {code}")),
        ExitStatus::Signaled(sig) => (RunState::Failed, None, format!("killed by signal {sig}")),
        ExitStatus::TimedOut => (RunState::TimedOut, None, "exceeded max_duration".into()),
        ExitStatus::Cancelled => (RunState::Cancelled, None, "cancelled".into()),
        ExitStatus::OutOfMemory => (RunState::Failed, None, "out of memory".into()),
        ExitStatus::Lost => (RunState::Interrupted, None, "its step was removed while nobody followed it".into()),
    };
    Ending::new(state, code, Some(&reason))
}

/// The outputs of a step that succeeded, stored as a run's are (a delete's are removed).
async fn store_outputs(
    store: &dyn Store,
    run: &RunRecord,
    lease: &RunLease,
    path: &Path,
) -> Result<Ending, EngineError> {
    let read = path.to_path_buf();
    let bytes = tokio::task::spawn_blocking(move || terrace_exec::read_output_file(&read))
        .await
        .map_err(|e| EngineError::Internal(format!("reading the output file failed: {e}")))?;
    // A job that wrote nothing keeps the outputs it has (as in `outputs.rs`).
    let bytes = bytes.map(|b| b.filter(|b| !b.iter().all(u8::is_ascii_whitespace)));
    let file = match bytes.map(|b| b.map(|b| parse_output_file(&b))) {
        Ok(None) => None,
        Ok(Some(Ok(file))) => Some(file),
        Ok(Some(Err(e))) => {
            let why = format!("output file: {e}; none of its entries were applied");
            return Ok(Ending::new(RunState::Failed, Some(0), Some(&why)));
        }
        Err(e) => {
            let why = format!("the output file (TERRACE_OUTPUT_FILE) was refused: {e}");
            return Ok(Ending::new(RunState::Failed, Some(0), Some(&why)));
        }
    };
    match run.event {
        Event::Delete => store.delete_outputs(lease, run.environment_id, &run.job).await?,
        _ => {
            if let Some(file) = file {
                store.put_outputs(lease, run.environment_id, &run.job, &file.entries).await?;
            }
        }
    }
    Ok(Ending::new(RunState::Succeeded, Some(0), None))
}
