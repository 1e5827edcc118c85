//! Preview environments per pull request (issue #13). A pull-request event is turned
//! into a wish per preview class (`wish`) and kept in the store; the reconciler
//! (`reconcile`) drives each preview towards its wish through event requests: create the
//! environment `pr-<id>` from the class's `from` and start it, redeploy on a push, and on
//! close destroy every resource before the record goes. The sweep (`sweep`) asks the
//! forge about pull requests whose close Terrace may have missed. The pull request's
//! comment and commit statuses (`comment`, `forge`) follow every change.

pub mod comment;
mod environment;
mod forge;
mod notice;
pub mod reconcile;
pub mod sweep;
pub mod wish;

use std::sync::Arc;
use std::time::Duration;

use terrace_forge::{Forge, PullRequestEvent};
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppResult, projects};

/// What a pull-request event changed: per preview class watching its repository, the
/// preview's environment and whether its wish changed (a redelivery changes nothing).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WishOutcome {
    pub project: String,
    pub environment: String,
    pub wanted: bool,
    pub changed: bool,
}

/// Records what a pull-request event asks of the previews of every registered project,
/// and wakes the reconciler when something changed.
pub async fn on_pull_request(app: &App, forge: Forge, event: &PullRequestEvent) -> AppResult<Vec<WishOutcome>> {
    let mut outcomes = Vec::new();
    for record in app.store.list_projects().await? {
        let loaded = match projects::load(app, &record.name).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(project = %record.name, error = %e, "project not read; its previews wait");
                continue;
            }
        };
        for wish in wish::wishes(&loaded.project, forge, event) {
            let (kept, changed) = app.store.wish_preview(&wish).await?;
            if kept.is_some() {
                outcomes.push(WishOutcome {
                    project: wish.project.clone(),
                    environment: wish.environment.clone(),
                    wanted: wish.wanted,
                    changed,
                });
            }
        }
    }
    if outcomes.iter().any(|o| o.changed) {
        app.wake_previews.notify_one();
    }
    Ok(outcomes)
}

/// The reconciler's loop: a pass every `every` and whenever woken; the sweep every
/// `sweep_every`, and once at start (a close missed while no server ran).
pub async fn run(app: Arc<App>, every: Duration, sweep_every: Duration, stop: CancellationToken) {
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        if last_sweep.is_none_or(|at| at.elapsed() >= sweep_every) {
            last_sweep = Some(std::time::Instant::now());
            if let Err(e) = sweep::sweep(&app).await {
                tracing::warn!(error = %e, "the preview sweep failed; trying again later");
            }
        }
        if let Err(e) = reconcile::pass(&app).await {
            tracing::warn!(error = %e, "a preview pass failed; trying again");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = app.wake_previews.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}
