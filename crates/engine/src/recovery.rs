//! Recovery of runs whose holder is gone. Every command (and a server's reaper,
//! periodically) calls `recover` first, so a `kill -9` of `terrace` mid-run is resolved
//! by whatever runs next: the run is marked `interrupted` with the true reason (who held
//! it, and when its lease ended), its orphaned process group is killed when it is on
//! this host, and the environment it was changing is marked `failed`.
//!
//! Leases decide: a run is taken back once its lease expired, whatever host held it; a
//! run whose holder is on another host with a live lease is never touched. The one fast
//! path is local: a holder on this host whose process is dead is gone for sure, and its
//! runs are taken back at once. Applies are not idempotent: a run taken back is never
//! re-run here (a server re-queues its request, which runs the pipeline anew). A run whose
//! step outlives its holder (a Kubernetes Job) is not taken back but followed to its end
//! (`reattach`): it ends as its step did.

use std::collections::BTreeSet;
use std::path::Path;

use terrace_exec::Executors;
use terrace_model::RunId;
use terrace_store::{AttemptRecord, EnvState, Owner, RunRecord, RunState, Store};
use time::OffsetDateTime;

use crate::env_lock::EnvLock;
use crate::error::EngineError;
use crate::lease::hostname;

/// A run that recovery resolved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Recovered {
    pub run: RunId,
    pub environment: String,
    pub job: String,
    pub reason: String,
}

/// Why a run can be taken back.
enum Gone {
    /// Its holder is a process of this host that no longer runs.
    HolderDead(Owner),
    /// Its lease ended (at that time, when known) without renewal.
    LeaseExpired(Option<Owner>, Option<OffsetDateTime>),
}

fn judge(run: &RunRecord, me: &Owner, host: &str, now: OffsetDateTime) -> Option<Gone> {
    let owner = run.owner.as_deref().map(Owner::parse);
    if owner.as_ref() == Some(me) {
        return None; // this process's own pipelines look after their runs
    }
    if let Some(o) = &owner
        && let Some((pid, start, h)) = o.process()
        && h == host
        && !terrace_exec::process::is_alive(pid, Some(start))
    {
        return Some(Gone::HolderDead(o.clone()));
    }
    match run.lease_expires_at {
        Some(end) if end >= now => None,
        end => Some(Gone::LeaseExpired(owner, end)),
    }
}

fn reason(run: &RunRecord, gone: &Gone, me: &Owner) -> String {
    let what = if run.state == RunState::Queued { "before it could start" } else { "before the run finished" };
    match gone {
        Gone::HolderDead(o) => {
            format!("{} holding it stopped {what} (killed or crashed); found by {}", o.describe(), me.describe())
        }
        Gone::LeaseExpired(Some(o), Some(end)) => format!(
            "{} holding it stopped renewing its lease, which ended at {} {what}; taken back by {}",
            o.describe(),
            rfc3339(*end),
            me.describe()
        ),
        Gone::LeaseExpired(Some(o), None) => {
            format!("{} holding it left no lease {what}; taken back by {}", o.describe(), me.describe())
        }
        Gone::LeaseExpired(None, _) => {
            format!("no holder was recorded for it (made by an older Terrace) {what}; taken back by {}", me.describe())
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Takes back every active run whose holder is gone (see the module's rules); `me` is
/// the caller, which never takes back its own. The steps a dead holder of this host left
/// are stopped through `executors`, the ones that ran them.
pub async fn recover(
    store: &dyn Store,
    data_dir: &Path,
    me: &Owner,
    executors: &Executors,
) -> Result<Vec<Recovered>, EngineError> {
    let host = hostname();
    let now = OffsetDateTime::now_utc();
    let mut recovered = Vec::new();
    let mut taken: Vec<(RunRecord, String)> = Vec::new();
    for run in store.active_runs().await? {
        let Some(gone) = judge(&run, me, &host, now) else { continue };
        let why = reason(&run, &gone, me);
        let expired_before = matches!(gone, Gone::LeaseExpired(..)).then_some(now);
        // A step that outlives its holder (a Kubernetes Job) is followed to its end, not stopped.
        if let Some(end) = crate::reattach::follow(store, data_dir, &run, expired_before, me, executors).await? {
            if let Some(p) = run.pipeline_id {
                match store.finish_pipeline(p, RunState::Interrupted).await {
                    Ok(()) | Err(terrace_store::StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let why = format!("{why}; its step was still running and was {end}");
            recovered.push(Recovered {
                run: run.id,
                environment: run.environment.clone(),
                job: run.job.clone(),
                reason: why.clone(),
            });
            taken.push((run, why));
            continue;
        }
        // Processes are stopped only for a dead holder of this host: one on another host
        // is that host's to stop, and a live holder stops its own once it learns.
        let orphans: Vec<AttemptRecord> = match gone {
            Gone::HolderDead(_) => {
                store.attempts(run.id).await?.into_iter().filter(|a| a.state == RunState::Running).collect()
            }
            Gone::LeaseExpired(..) => Vec::new(),
        };
        // Taken only as seen: a renewal or another reaper that came first wins.
        if !store.take_back_run(run.id, run.lease_token, expired_before, &why).await? {
            continue;
        }
        if matches!(gone, Gone::HolderDead(_)) {
            crate::orphans::kill_orphans(executors, run.id, &orphans).await;
        }
        if let Some(p) = run.pipeline_id {
            match store.finish_pipeline(p, RunState::Interrupted).await {
                Ok(()) | Err(terrace_store::StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        recovered.push(Recovered {
            run: run.id,
            environment: run.environment.clone(),
            job: run.job.clone(),
            reason: why.clone(),
        });
        taken.push((run, why));
    }
    let envs: BTreeSet<(&str, &str)> =
        taken.iter().map(|(r, _)| (r.project.as_str(), r.environment.as_str())).collect();
    for (project, env) in envs {
        let of_env: Vec<&(RunRecord, String)> =
            taken.iter().filter(|(r, _)| r.project == project && r.environment == env).collect();
        fail_environment(store, data_dir, &of_env).await?;
    }
    // What the dead runs left on disk (working copies, output files with secrets) goes too.
    if let Err(e) = crate::work::sweep(store, data_dir).await {
        tracing::warn!("cannot clean up old work folders: {e}");
    }
    Ok(recovered)
}

/// The environment an interrupted pipeline was changing is `failed`, unless an event of
/// a live process of this host is on it now (its lock is held): that one sets the state.
/// `taken`: the runs of one environment taken back, with why.
async fn fail_environment(
    store: &dyn Store,
    data_dir: &Path,
    taken: &[&(RunRecord, String)],
) -> Result<(), EngineError> {
    let Some((first, _)) = taken.first() else { return Ok(()) };
    let Ok(_lock) = EnvLock::acquire(data_dir, &first.project, &first.environment) else { return Ok(()) };
    let Some(env) = store.get_environment(&first.project, &first.environment).await? else { return Ok(()) };
    if !matches!(env.state, EnvState::Deploying | EnvState::Stopping | EnvState::Deleting) {
        return Ok(());
    }
    // The job that was running names the failure; else the first of the pipeline.
    let (failed, reason) = taken.iter().find(|(r, _)| r.state == RunState::Running).unwrap_or(&taken[0]);
    let why = format!("`{}` was interrupted at job `{}`: {reason}", failed.event, failed.job);
    store.set_environment_state(env.id, EnvState::Failed, Some(&failed.job), Some(&why)).await?;
    store.record_event(env.id, Some(failed.id), "interrupted", &why).await?;
    Ok(())
}
