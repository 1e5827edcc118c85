//! Requests whose server died: at start and periodically, the runs a dead holder left
//! are marked interrupted (the engine's recovery), and its requests are re-queued, or
//! marked interrupted once out of attempts. Never run twice at once: a request or run is
//! taken back only when its lease expired (whatever host held it) or its holder is a
//! dead process on this host; its fencing token is bumped, so the old holder cannot
//! write for it again. And a request this server holds in the store but no longer runs
//! (its task ended without recording the end) is ended `failed`, so its lease is not
//! renewed forever.

use std::collections::HashSet;

use terrace_store::control::{Reaped, RequestFilter, RequestId, RequestState};
use terrace_store::{Owner, StoreError};

use crate::app::App;

/// Holders of running requests that are dead processes of this host: the fast path,
/// taken back at once rather than when their lease expires.
async fn dead_owners(app: &App) -> Result<Vec<String>, StoreError> {
    let host = terrace_engine::hostname();
    let filter = RequestFilter { state: Some(RequestState::Running), limit: Some(1000), ..Default::default() };
    let mut owners: Vec<String> = app.store.list_requests(&filter).await?.into_iter().filter_map(|r| r.owner).collect();
    owners.sort();
    owners.dedup();
    owners.retain(|o| o != app.instance.as_str());
    // Reading /proc is blocking IO: off the async threads.
    let dead = tokio::task::spawn_blocking(move || {
        owners
            .into_iter()
            .filter(|owner| match Owner::parse(owner).process() {
                Some((pid, start, h)) => h == host && !terrace_exec::process::is_alive(pid, Some(start)),
                None => false,
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    Ok(dead)
}

pub async fn reap(app: &App) -> Result<Vec<Reaped>, StoreError> {
    let executors = app.executors();
    match terrace_engine::recovery::recover(app.store.as_ref(), &app.settings.data_dir, &app.instance, &executors).await
    {
        Ok(runs) => {
            for r in runs {
                tracing::warn!(run = %r.run, job = %r.job, environment = %r.environment, reason = %r.reason, "run interrupted");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not recover interrupted runs"),
    }
    let dead = dead_owners(app).await?;
    let reaped = app.store.reap_requests(time::OffsetDateTime::now_utc(), &dead).await?;
    for r in &reaped {
        tracing::warn!(request = %r.id, state = %r.state, reason = r.reason.as_deref().unwrap_or(""), "request taken back");
    }
    if !reaped.is_empty() {
        app.wake_scheduler.notify_one();
    }
    Ok(reaped)
}

/// Ends the running requests this server holds in the store but not in `held` (the ids
/// of its tasks, read before the store: a request claimed after that read is not one).
pub async fn give_up_unheld(app: &App, held: &HashSet<RequestId>) -> Result<Vec<RequestId>, StoreError> {
    let filter = RequestFilter { state: Some(RequestState::Running), limit: Some(1000), ..Default::default() };
    let mut ended = Vec::new();
    for r in app.store.list_requests(&filter).await? {
        if r.owner.as_deref() != Some(app.instance.as_str()) || held.contains(&r.id) {
            continue;
        }
        let reason = "this server no longer runs it (its task ended without recording how); send the event again";
        let Some(lease) = r.lease() else { continue };
        match app.store.finish_request(&lease, RequestState::Failed, Some(reason), None).await {
            Ok(()) => {
                tracing::error!(request = %r.id, "a request this server held had no task: ended failed");
                ended.push(r.id);
            }
            // Claimed again, or ended, since the list was read: not ours to end.
            Err(e) if e.is_lease_lost() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ended)
}
