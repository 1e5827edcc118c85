//! Stopping what a dead run left running, through the executors that ran it: each attempt
//! still running is found again by its recorded handle and cancelled, and every executor
//! then sweeps for the run's steps no handle names (one started just before its holder
//! died). The engine never sees a process id.

use terrace_exec::Executors;
use terrace_store::{RunRecord, RunState, Store};

use crate::error::EngineError;

pub(crate) async fn kill_orphans(store: &dyn Store, executors: &Executors, run: &RunRecord) -> Result<(), EngineError> {
    for attempt in store.attempts(run.id).await? {
        let (Some(name), Some(handle)) = (attempt.executor.as_deref(), attempt.handle.as_deref()) else { continue };
        if attempt.state != RunState::Running {
            continue;
        }
        match executors.get(name) {
            Ok(executor) => match executor.attach(handle).await {
                Ok(step) => step.cancel(),
                Err(e) => tracing::warn!(run = %run.id, "cannot stop the run's step: {e}"),
            },
            Err(e) => tracing::warn!(run = %run.id, "cannot stop the run's step: {e}"),
        }
    }
    let id = run.id.to_string();
    for name in executors.names() {
        if let Ok(executor) = executors.get(name) {
            executor.sweep(&id).await;
        }
    }
    Ok(())
}
