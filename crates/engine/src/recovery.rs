//! Recovery of runs a dead process left behind. Every command calls `recover` first, so
//! a `kill -9` of `terrace` mid-run is seen and resolved by whatever runs next: the run
//! is marked `interrupted` with the reason, its orphaned process group is killed, and the
//! environment it was changing is marked `failed`.

use std::collections::BTreeSet;
use std::path::Path;

use terrace_exec::Executors;
use terrace_model::RunId;
use terrace_store::{EnvState, RunRecord, RunState, Store};

use crate::env_lock::EnvLock;
use crate::error::EngineError;
use crate::lease::{hostname, parse_local_owner};

/// A run that recovery resolved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Recovered {
    pub run: RunId,
    pub environment: String,
    pub job: String,
    pub reason: String,
}

/// Marks as interrupted every active run whose holder is gone.
/// Their orphaned steps are stopped through `executors`, the ones that ran them.
pub async fn recover(store: &dyn Store, data_dir: &Path, executors: &Executors) -> Result<Vec<Recovered>, EngineError> {
    let active = store.active_runs().await?;
    let mut recovered = Vec::new();
    let envs: BTreeSet<(String, String)> = active.iter().map(|r| (r.project.clone(), r.environment.clone())).collect();
    for (project, env) in envs {
        // A free environment lock means no live process is running an event on it.
        let Ok(_lock) = EnvLock::acquire(data_dir, &project, &env) else { continue };
        // Read again under the lock: a run of this process may have ended since the first
        // read (and released the lock), and must not be marked interrupted after it
        // succeeded. While the lock is held, no event of this process moves these runs.
        let fresh = store.active_runs().await?;
        let runs: Vec<&RunRecord> = fresh.iter().filter(|r| r.project == project && r.environment == env).collect();
        for run in &runs {
            if holder_alive(run) {
                continue;
            }
            let reason = interruption_reason(run);
            crate::orphans::kill_orphans(store, executors, run).await?;
            store.finish_run(run.id, RunState::Interrupted, None, Some(&reason)).await?;
            if let Some(p) = run.pipeline_id {
                store.finish_pipeline(p, RunState::Interrupted).await?;
            }
            recovered.push(Recovered { run: run.id, environment: env.clone(), job: run.job.clone(), reason });
        }
        if let (Some(first), Some(rec)) = (runs.first(), store.get_environment(&project, &env).await?)
            && matches!(rec.state, EnvState::Deploying | EnvState::Stopping | EnvState::Deleting)
        {
            let failed = runs.iter().find(|r| r.state == RunState::Running).unwrap_or(first);
            let why =
                format!("`{}` was interrupted at job `{}`: {}", first.event, failed.job, interruption_reason(failed));
            store.set_environment_state(rec.id, EnvState::Failed, Some(&failed.job), Some(&why)).await?;
            store.record_event(rec.id, Some(failed.id), "interrupted", &why).await?;
        }
    }
    // What the dead runs left on disk (working copies, output files with secrets) goes too.
    if let Err(e) = crate::work::sweep(store, data_dir).await {
        tracing::warn!("cannot clean up old work folders: {e}");
    }
    Ok(recovered)
}

/// A holder on this host that still lives keeps its run, even if we got the lock
/// (it may be between two environment events).
fn holder_alive(run: &RunRecord) -> bool {
    match run.owner.as_deref().and_then(parse_local_owner) {
        Some((pid, start, host)) if host == hostname() => {
            pid != std::process::id() && terrace_exec::process::is_alive(pid, Some(start))
        }
        _ => false,
    }
}

fn interruption_reason(run: &RunRecord) -> String {
    match run.owner.as_deref().and_then(parse_local_owner) {
        Some((pid, _, _)) => format!(
            "the terrace process (pid {pid}) running it stopped before the run finished (killed or crashed); found by the next terrace command"
        ),
        None if run.state == RunState::Queued => {
            "the terrace process that queued it stopped before it could start (killed or crashed)".to_string()
        }
        None => "its holder stopped before the run finished".to_string(),
    }
}
