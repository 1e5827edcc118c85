//! The time half on a server: every tick, for each registered project, the ephemeral
//! environments whose time to live ended are destroyed (a `delete` request queued by
//! `ttl`) and warned shortly before, cron jobs due are force-run (`schedule`), and drift
//! checks due are queued as `plan` requests (`drift`, at most `max_drift_checks` at once). What fires is claimed in the store first, so of
//! several replicas one queues it; a tick is cheap when nothing is due.

use std::sync::Arc;
use std::time::Duration;

use terrace_engine::timed::{Due, drift, schedule, ttl};
use terrace_store::Origin;
use terrace_store::control::{NewRequest, RequestFilter, RequestId, RequestState};
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppError, projects};

/// What one tick did, for tests and logs.
#[derive(Clone, Debug, Default)]
pub struct TickReport {
    pub queued: Vec<Due>,
    pub warned: Vec<ttl::Warning>,
}

/// Ticks every `every` until `stop`.
pub async fn run(app: Arc<App>, every: Duration, stop: CancellationToken) {
    loop {
        if let Err(e) = tick(&app).await {
            tracing::warn!(error = %e, "the scheduler's tick failed; trying again at the next");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

pub async fn tick(app: &App) -> Result<TickReport, AppError> {
    let now = app.settings.clock.now();
    let mut report = TickReport::default();
    let mut drift_room = app.settings.max_drift_checks.saturating_sub(drift_checks_in_flight(app).await?);
    for record in app.store.list_projects().await? {
        // A project whose file no longer parses fires nothing until it does again.
        let loaded = match projects::load(app, &record.name).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(project = %record.name, error = %e, "project not read; its schedules wait");
                continue;
            }
        };
        let ttl = ttl::tick(&loaded.project, app.store.as_ref(), app.store.as_ref(), now).await?;
        for w in &ttl.warnings {
            tracing::info!(project = %w.project, environment = %w.environment, destroy_at = %w.expires_at, "time to live ends soon");
        }
        report.warned.extend(ttl.warnings);
        let cron = schedule::tick(&loaded.project, app.store.as_ref(), app.store.as_ref(), now).await?;
        let checks = drift::tick(&loaded.project, app.store.as_ref(), app.store.as_ref(), now, drift_room).await?;
        drift_room -= checks.len();
        for due in ttl.destroys.into_iter().chain(cron).chain(checks) {
            queue(app, &due).await?;
            report.queued.push(due);
        }
    }
    Ok(report)
}

/// Drift checks queued or running, on every replica (they count against the cap).
async fn drift_checks_in_flight(app: &App) -> Result<usize, AppError> {
    let mut n = 0;
    for state in [RequestState::Queued, RequestState::Running] {
        let filter = RequestFilter { state: Some(state), limit: Some(1000), ..Default::default() };
        let requests = app.store.list_requests(&filter).await?;
        n += requests.iter().filter(|r| drift::is_check(r.origin.as_ref().and_then(|o| o.command.as_deref()))).count();
    }
    Ok(n)
}

/// Queues what is due as an event request, as if `due.trigger` had sent it.
async fn queue(app: &App, due: &Due) -> Result<(), AppError> {
    let request = NewRequest {
        id: RequestId::new(),
        project: due.project.clone(),
        environment: due.environment.clone(),
        event: due.event,
        job: due.job.clone(),
        args: vec![],
        requested_by: due.trigger.clone(),
        max_attempts: app.settings.max_attempts,
        origin: Origin { command: Some(due.command.clone()), ..Default::default() },
        saved_plan: None,
    };
    match app.store.enqueue_request(request).await? {
        Some(r) => {
            tracing::info!(request = %r.id, project = %due.project, environment = %due.environment, event = %due.event, trigger = %due.trigger, "queued");
            app.wake_scheduler.notify_one();
        }
        None => {
            tracing::info!(project = %due.project, environment = %due.environment, event = %due.event, "already queued")
        }
    }
    Ok(())
}
