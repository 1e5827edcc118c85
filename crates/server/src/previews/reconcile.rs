//! One pass of the preview reconciler: each preview that needs work takes its next step
//! towards what its pull request asks. Steps are compare-and-set on the record first,
//! then done (the event request queued under the id the record already names), so a
//! server killed between the two finds the step recorded and finishes it after restart;
//! a webhook that changed the record meanwhile makes the step lose, and the next pass
//! starts again from what the record says now.

use std::time::Duration;

use terrace_forge::StatusState;
use terrace_model::{Event, Project};
use terrace_store::control::{NewRequest, RequestId, RequestState};
use terrace_store::{Origin, PreviewRecord, PreviewState, SlotClaim};
use time::OffsetDateTime;

use super::{environment, forge, notice};
use crate::app::{App, AppResult, projects};

/// The most previews one pass looks at.
const PASS_LIMIT: u32 = 1000;
/// Steps one preview may take in one pass (deployed, failed, destroying...).
const MAX_STEPS: usize = 4;
/// The first wait after a failed destroy, doubled after each until `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What one pass did: each step taken, `(environment, state after)`.
#[derive(Clone, Debug, Default)]
pub struct PassReport {
    pub steps: Vec<(String, PreviewState)>,
}

pub async fn pass(app: &App) -> AppResult<PassReport> {
    let now = app.settings.clock.now();
    let mut report = PassReport::default();
    for mut record in app.store.previews_due(now, PASS_LIMIT).await? {
        let project = match projects::load(app, &record.project).await {
            Ok(l) => l.project,
            Err(e) => {
                tracing::debug!(project = %record.project, error = %e, "project not read; its previews wait");
                continue;
            }
        };
        for _ in 0..MAX_STEPS {
            match step(app, &project, &record, now).await {
                Ok(Some(next)) => {
                    report.steps.push((next.environment.clone(), next.state));
                    record = next;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(preview = %record.environment, error = %e, "preview step failed; trying again");
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// What the preview should be now.
fn wanted(project: &Project, r: &PreviewRecord, now: OffsetDateTime) -> Result<(), String> {
    if !r.wanted {
        return Err(r.why.clone().unwrap_or_else(|| "the pull request no longer asks for it".into()));
    }
    if !project.previews.contains_key(&r.class) {
        return Err(format!("preview class `{}` is no longer in terrace.yaml", r.class));
    }
    // A preview its TTL destroyed comes back only for a new head (a push).
    let fresh = matches!(r.state, PreviewState::Queued | PreviewState::Deleted)
        && r.pending_sha.as_deref() != Some(r.head_sha.as_str());
    if let Some(at) = r.expires_at.filter(|at| *at <= now && !fresh) {
        let declared = project.previews[&r.class].ttl.as_ref().map(|t| t.declared.clone()).unwrap_or_default();
        return Err(format!("its time to live ({declared}) ended at {at}"));
    }
    Ok(())
}

/// Takes the preview's next step; the record after it, or None when there is nothing
/// to do now (or another writer moved the record first).
async fn step(
    app: &App,
    project: &Project,
    r: &PreviewRecord,
    now: OffsetDateTime,
) -> AppResult<Option<PreviewRecord>> {
    if r.next_at > now {
        // Backing off after a failed destroy.
        return Ok(None);
    }
    let wanted = wanted(project, r, now);
    match (r.state, &wanted) {
        (PreviewState::Deploying | PreviewState::Destroying, _) => in_flight(app, project, r, now).await,
        (PreviewState::Queued | PreviewState::Deleted, Ok(())) => deploy(app, project, r, now).await,
        (PreviewState::Running, Ok(())) if !r.up_to_date() => deploy(app, project, r, now).await,
        // A failed deploy is tried again when the pull request asks something new (a push).
        (PreviewState::Failed, Ok(())) if !r.pending_is_current() => deploy(app, project, r, now).await,
        (PreviewState::Queued, Err(why)) => {
            // Never deployed: nothing to destroy unless an earlier deploy left an environment.
            if environment::exists(app, r).await? {
                destroy(app, project, r, why).await
            } else {
                let mut next = r.clone();
                next.state = PreviewState::Deleted;
                next.reason = Some(why.clone());
                commit(app, project, next, None).await
            }
        }
        (PreviewState::Running | PreviewState::Failed, Err(why)) => destroy(app, project, r, why).await,
        _ => Ok(None),
    }
}

/// Starts (or redeploys) the preview, unless its class is at `max`: a preview that does
/// not hold a slot yet claims one in the store, which counts the class's holders and
/// writes in one transaction, so replicas starting previews at once never exceed `max`.
async fn deploy(
    app: &App,
    project: &Project,
    r: &PreviewRecord,
    now: OffsetDateTime,
) -> AppResult<Option<PreviewRecord>> {
    let class = &project.previews[&r.class];
    let mut next = r.clone();
    let takes_slot = matches!(r.state, PreviewState::Queued | PreviewState::Deleted);
    if takes_slot {
        next.created_at = now;
        next.expires_at = class.ttl.as_ref().map(|t| now + t.duration);
        next.attempts = 0;
    }
    next.state = PreviewState::Deploying;
    next.reason = None;
    next.pending_sha = Some(r.head_sha.clone());
    next.pending_variables = Some(r.variables.clone());
    next.request_id = Some(RequestId::new().to_string());
    let cap = class.max.filter(|_| takes_slot);
    let status = Some((StatusState::Pending, "deploying the preview"));
    let next = match cap {
        None => commit(app, project, next, status).await?,
        Some(max) => match app.store.claim_preview_slot(&next, max).await? {
            SlotClaim::Claimed => published(app, project, next, status).await?,
            SlotClaim::Moved => None,
            SlotClaim::Full(holding) => return queue(app, project, r, holding, max).await,
        },
    };
    let Some(next) = next else { return Ok(None) };
    submit(app, &next, Event::Start).await?;
    Ok(Some(next))
}

/// The class is full: the preview stays (or goes back to) queued, saying why.
async fn queue(
    app: &App,
    project: &Project,
    r: &PreviewRecord,
    holding: u32,
    max: u32,
) -> AppResult<Option<PreviewRecord>> {
    let reason =
        format!("queued: {holding} of {max} previews of class `{}` exist; it starts when one is destroyed", r.class);
    if r.state == PreviewState::Queued && r.reason.as_deref() == Some(reason.as_str()) {
        return Ok(None);
    }
    let mut next = r.clone();
    next.state = PreviewState::Queued;
    next.reason = Some(reason);
    commit(app, project, next, None).await
}

/// Destroys the preview: every job's `delete`, the environment record last.
async fn destroy(app: &App, project: &Project, r: &PreviewRecord, why: &str) -> AppResult<Option<PreviewRecord>> {
    let mut next = r.clone();
    next.state = PreviewState::Destroying;
    next.reason = Some(why.to_string());
    next.request_id = Some(RequestId::new().to_string());
    let Some(next) = commit(app, project, next, None).await? else { return Ok(None) };
    submit(app, &next, Event::Delete).await?;
    Ok(Some(next))
}

/// A deploy or destroy in flight: done when its request ended.
async fn in_flight(
    app: &App,
    project: &Project,
    r: &PreviewRecord,
    now: OffsetDateTime,
) -> AppResult<Option<PreviewRecord>> {
    let id: Option<RequestId> = r.request_id.as_deref().and_then(|id| id.parse().ok());
    let request = match id {
        Some(id) => app.store.get_request(id).await?,
        None => None,
    };
    let Some(request) = request else {
        // The step was recorded but its request never queued (a server killed between
        // the two, or the environment busy): queue it now, under the same id.
        if r.state == PreviewState::Destroying && !environment::exists(app, r).await? {
            return finish_destroy(app, project, r, now).await;
        }
        let event = if r.state == PreviewState::Deploying { Event::Start } else { Event::Delete };
        submit(app, r, event).await?;
        return Ok(None);
    };
    if !request.state.is_final() {
        return Ok(None);
    }
    let mut next = r.clone();
    let failure =
        |what: &str| format!("{what} failed: {}", request.reason.as_deref().unwrap_or(request.state.as_str()));
    match (r.state, request.state) {
        (PreviewState::Deploying, RequestState::Succeeded) => {
            next.state = PreviewState::Running;
            next.deployed_sha = r.pending_sha.clone();
            next.deployed_variables = r.pending_variables.clone();
            next.reason = None;
            let sha = r.pending_sha.clone().unwrap_or_default();
            let next = commit(app, project, next, None).await?;
            if let Some(n) = &next {
                forge::publish_status(app, n, &sha, StatusState::Success, "preview deployed").await;
            }
            Ok(next)
        }
        (PreviewState::Deploying, _) => {
            next.state = PreviewState::Failed;
            next.reason = Some(failure("the deploy"));
            let sha = r.pending_sha.clone().unwrap_or_default();
            let next = commit(app, project, next, None).await?;
            if let Some(n) = &next {
                forge::publish_status(app, n, &sha, StatusState::Failure, "the preview's deploy failed").await;
            }
            Ok(next)
        }
        (_, RequestState::Succeeded) if !environment::exists(app, r).await? => {
            finish_destroy(app, project, r, now).await
        }
        _ => {
            // A failed destroy: the preview stays visible as failed, and is retried.
            next.state = PreviewState::Failed;
            next.attempts = r.attempts + 1;
            let wait = backoff(next.attempts);
            next.next_at = now + wait;
            next.reason = Some(format!(
                "{} (attempt {}); tried again in {}",
                failure("the destroy"),
                next.attempts,
                humantime::format_duration(wait)
            ));
            tracing::warn!(preview = %r.environment, attempts = next.attempts, "a preview's destroy failed; it stays failed and is retried");
            let committed = commit(app, project, next, None).await?;
            if let Some(n) = &committed {
                crate::scheduler::notify::emit(app, &n.project, notice::destroy_failed(n, wait)).await;
            }
            Ok(committed)
        }
    }
}

/// Every resource destroyed and the environment record gone: the preview is deleted.
async fn finish_destroy(
    app: &App,
    project: &Project,
    r: &PreviewRecord,
    now: OffsetDateTime,
) -> AppResult<Option<PreviewRecord>> {
    let mut next = r.clone();
    next.state = PreviewState::Deleted;
    next.attempts = 0;
    next.deployed_sha = None;
    next.deployed_variables = None;
    // Destroyed by its TTL: the head it had is remembered, so only a new one brings it back.
    let by_ttl = r.expires_at.is_some_and(|at| at <= now);
    next.pending_sha = by_ttl.then(|| r.head_sha.clone());
    next.pending_variables = None;
    commit(app, project, next, None).await
}

/// Writes `next` if the record is still as read; then rewrites the comment (and sets the
/// commit status of the head, when given).
async fn commit(
    app: &App,
    project: &Project,
    next: PreviewRecord,
    status: Option<(StatusState, &str)>,
) -> AppResult<Option<PreviewRecord>> {
    if !app.store.update_preview(&next).await? {
        return Ok(None);
    }
    published(app, project, next, status).await
}

/// After `next` was written: logs it and rewrites the comment (and sets the commit status
/// of the head, when given).
async fn published(
    app: &App,
    project: &Project,
    mut next: PreviewRecord,
    status: Option<(StatusState, &str)>,
) -> AppResult<Option<PreviewRecord>> {
    next.version += 1;
    tracing::info!(preview = %next.environment, state = %next.state, reason = next.reason.as_deref().unwrap_or(""), "preview");
    let url = project.previews.get(&next.class).and_then(|c| c.url_for(&next.preview_id));
    if let Some(id) = forge::publish_comment(app, &next, url).await
        && next.comment_id != Some(id)
    {
        next.comment_id = Some(id);
        if app.store.update_preview(&next).await? {
            next.version += 1;
        }
    }
    if let Some((state, text)) = status {
        let sha = next.pending_sha.clone().unwrap_or_else(|| next.head_sha.clone());
        forge::publish_status(app, &next, &sha, state, text).await;
    }
    Ok(Some(next))
}

/// Queues the preview's event request under the id its record names; queued already (or
/// the environment busy with a delete) is fine: the next pass looks again.
async fn submit(app: &App, r: &PreviewRecord, event: Event) -> AppResult<()> {
    let Some(id) = r.request_id.as_deref().and_then(|id| id.parse::<RequestId>().ok()) else { return Ok(()) };
    if app.store.get_request(id).await?.is_some() {
        return Ok(());
    }
    if event == Event::Start {
        environment::prepare(app, r).await?;
    }
    let request = NewRequest {
        id,
        project: r.project.clone(),
        environment: r.environment.clone(),
        event,
        job: None,
        args: vec![],
        requested_by: format!("preview:{}#{}", r.full_name, r.number),
        max_attempts: app.settings.max_attempts,
        origin: Origin {
            repository: Some(r.repository.clone()),
            pull_request: Some(r.number),
            command: Some("preview".into()),
            ..Default::default()
        },
        saved_plan: None,
    };
    match app.store.enqueue_request(request).await? {
        Some(q) => {
            tracing::info!(request = %q.id, preview = %r.environment, event = %event, "queued");
            app.wake_scheduler.notify_one();
        }
        None => tracing::info!(preview = %r.environment, "the environment is being deleted; the preview waits"),
    }
    Ok(())
}

/// 30 s, 1 min, 2 min, ... up to an hour.
fn backoff(attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(super::backoff(1).as_secs(), 30);
        assert_eq!(super::backoff(3).as_secs(), 120);
        assert_eq!(super::backoff(40).as_secs(), 3600);
    }
}
