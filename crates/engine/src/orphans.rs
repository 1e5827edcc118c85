//! Stopping what a dead run left running, through the executors that ran it: each attempt
//! still running is found again by its recorded handle and cancelled, and every executor
//! then sweeps for the run's steps no handle names (one started just before its holder
//! died). The engine never sees a process id.

use terrace_exec::Executors;
use terrace_model::RunId;
use terrace_store::AttemptRecord;

/// `running`: the attempts of `run` that were running when its holder was found dead
/// (read before the run was taken back, which ends them in the store). Only for a dead
/// holder of this host: a run of another host is that host's to stop.
pub(crate) async fn kill_orphans(executors: &Executors, run: RunId, running: &[AttemptRecord]) {
    for attempt in running {
        let (Some(name), Some(handle)) = (attempt.executor.as_deref(), attempt.handle.as_deref()) else { continue };
        match executors.get(name) {
            Ok(executor) => match executor.attach(handle).await {
                Ok(step) => step.cancel(),
                Err(e) => tracing::warn!(run = %run, "cannot stop the run's step: {e}"),
            },
            Err(e) => tracing::warn!(run = %run, "cannot stop the run's step: {e}"),
        }
    }
    let id = run.to_string();
    for name in executors.names() {
        if let Ok(executor) = executors.get(name) {
            executor.sweep(&id).await;
        }
    }
}
