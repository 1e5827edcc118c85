//! A request run again after its holder lost it (a replica killed, its lease expired)
//! resumes instead of starting over: a job that already succeeded in an earlier attempt
//! of the same request is not run again (its apply happened; exactly once), and while a
//! run of an earlier attempt is still held under a live lease, the request waits for
//! that run to end rather than run the same job beside it.

use std::collections::BTreeMap;

use terrace_model::{Event, RunId};
use terrace_store::{RunState, Store};

use crate::error::EngineError;

/// What the earlier attempts of a request leave for the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Earlier {
    /// This run of an earlier attempt is still held (by `holder`): wait for it to end.
    Running { run: RunId, holder: String },
    /// The jobs that succeeded for the request's event, each with its run: not run again.
    Settled(BTreeMap<String, RunId>),
}

/// Reads the runs the earlier attempts of a request created (`runs`, as the request
/// recorded them) for its `event`.
pub async fn earlier_attempts(store: &dyn Store, runs: &[RunId], event: Event) -> Result<Earlier, EngineError> {
    let mut settled = BTreeMap::new();
    for id in runs {
        let Some(run) = store.get_run(*id).await? else { continue };
        if run.state.is_active() {
            let holder = run.owner.clone().unwrap_or_else(|| "its holder".into());
            return Ok(Earlier::Running { run: run.id, holder });
        }
        if run.state == RunState::Succeeded && run.event == event {
            settled.insert(run.job, run.id);
        }
    }
    Ok(Earlier::Settled(settled))
}
