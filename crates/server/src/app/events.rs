//! Event requests: an environment event is checked against the project, committed to the
//! durable queue, and answered before it runs; the scheduler runs it later. Also reading
//! and cancelling requests.

use serde::Deserialize;
use terrace_engine::approvals::PipelineSubject;
use terrace_engine::approved_plans::planned_start;
use terrace_model::{Event, Project};
use terrace_store::ApprovalId;
use terrace_store::control::{NewRequest, RequestFilter, RequestId, RequestRecord, RequestState, Role};
use utoipa::ToSchema;

use super::access::clip;
use super::environments::require_known;
use super::projects;
use super::views::{EventAccepted, RequestView};
use super::{App, AppError, AppResult, Caller};

/// Most arguments a raw run may pass, and the longest one.
const MAX_ARGS: usize = 256;
const MAX_ARG_LEN: usize = 4096;

/// `POST /api/v1/projects/{p}/environments/{e}/events`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// start, stop, delete, plan, raw or redeploy (a job's `commands.redeploy`).
    #[schema(example = "start")]
    pub event: String,
    /// Force-run only this job (required for raw).
    pub job: Option<String>,
    /// Arguments appended to the job's command (raw runs).
    pub args: Option<Vec<String>>,
    /// `false`: refuse (409) when the environment already has a request queued or running,
    /// instead of queueing this one behind it (the default).
    pub wait: Option<bool>,
    /// With a force run of `start` of a terraform/opentofu job: apply the plan this `plan`
    /// run of the same job and environment saved (its id, a unique prefix, or `ENV#N`)
    /// instead of planning again; refused as stale when the run comes if the state moved,
    /// or the commit or inputs differ.
    pub plan: Option<String>,
    /// With `start` or `delete` of the whole environment: forget the jobs removed from the
    /// project file instead of running their delete (what they made is left behind, their
    /// outputs are dropped; the outcome's `removed` lists them).
    pub keep_removed: Option<bool>,
}

fn parse_event(text: &str) -> AppResult<Event> {
    text.parse::<Event>().map_err(|_| {
        AppError::bad(
            "event",
            format!("unknown event `{}`: expected start, stop, delete, plan, raw or redeploy", clip(text)),
        )
    })
}

pub async fn submit(app: &App, caller: &Caller, project: &str, env: &str, body: EventBody) -> AppResult<EventAccepted> {
    caller.require(Role::Operator)?;
    let event = parse_event(&body.event)?;
    let args = body.args.unwrap_or_default();
    if args.len() > MAX_ARGS || args.iter().any(|a| a.len() > MAX_ARG_LEN || a.contains('\0')) {
        return Err(AppError::bad(
            "args",
            format!("at most {MAX_ARGS} arguments of at most {MAX_ARG_LEN} bytes, no NUL"),
        ));
    }
    let loaded = projects::load(app, project).await?;
    if loaded.project.environment(env).is_none() {
        require_known(app, &loaded, env).await?;
        if event != Event::Delete {
            return Err(AppError::unprocessable(
                Some("event"),
                format!("environment `{}` is no longer defined in the project file: only `delete` may run", clip(env)),
            ));
        }
    }
    let keep_removed = body.keep_removed.unwrap_or(false);
    if keep_removed && (body.job.is_some() || !matches!(event, Event::Start | Event::Delete)) {
        return Err(AppError::unprocessable(
            Some("keep_removed"),
            "\"keep_removed\" goes with a `start` or `delete` of the whole environment (no \"job\")",
        ));
    }
    if let Some(job) = &body.job
        && !loaded.project.jobs.contains_key(job)
        && !(event == Event::Delete && removed_here(app, &loaded.project, env, job).await?)
    {
        return Err(AppError::unprocessable(Some("job"), loaded.project.unknown_job(&clip(job))));
    }
    if event == Event::Raw && body.job.is_none() {
        return Err(AppError::unprocessable(Some("job"), "a raw run names one job: add \"job\""));
    }
    let saved_plan = match &body.plan {
        None => None,
        Some(reference) => Some(plan_run(app, &loaded.project.name, env, event, body.job.as_deref(), reference).await?),
    };
    if body.wait == Some(false)
        && let Some(ahead) = ahead_of(app, &loaded.project.name, env).await?
    {
        return Err(AppError::Conflict(format!(
            "environment `{}` is busy: {ahead}; send it again later, or without \"wait\": false to queue it behind",
            clip(env)
        )));
    }
    let req = NewRequest {
        id: RequestId::new(),
        project: loaded.project.name.clone(),
        environment: env.to_string(),
        event,
        job: body.job.clone(),
        args: args.clone(),
        requested_by: caller.actor(),
        max_attempts: app.settings.max_attempts,
        origin: terrace_store::Origin { keep_removed, ..Default::default() },
        saved_plan,
    };
    let Some(queued) = enqueue(app, &loaded.project, req).await? else {
        return Err(AppError::Conflict(format!(
            "environment `{env}` is being deleted; send the event again once the delete has finished"
        )));
    };
    Ok(EventAccepted {
        request_id: queued.request.id,
        state: queued.state(),
        approval_id: queued.approval,
        run_ids: queued.request.run_ids,
    })
}

/// Whether `job`, no longer in the project file, is still applied in `env` (its delete
/// may run alone: `terrace job delete`).
async fn removed_here(app: &App, project: &Project, env: &str, job: &str) -> AppResult<bool> {
    let removed = terrace_engine::removed::removed_job_names(project, app.store.as_ref(), env).await?;
    Ok(removed.iter().any(|r| r == job))
}

/// What `enqueue` did with an event.
pub(crate) struct Queued {
    /// The request queued: the event's own, or (a planned start) the plan it waits on.
    pub request: RequestRecord,
    pub approval: Option<ApprovalId>,
    /// A start of an approval environment that plans first and applies the saved plans.
    pub planned: bool,
}

impl Queued {
    /// The state the event is in: a planned start waits for approval while its plan runs.
    pub fn state(&self) -> String {
        if self.planned && self.approval.is_some() {
            "awaiting_approval".into()
        } else {
            self.request.state.to_string()
        }
    }
}

/// Commits the request to the queue, or holds it for approval when its environment
/// requires one (`approval: required`; a start with IaC jobs plans first and the approval
/// names the saved plans), and wakes the scheduler. None when a delete of the
/// environment is pending.
pub(crate) async fn enqueue(app: &App, project: &Project, req: NewRequest) -> AppResult<Option<Queued>> {
    let env = req.environment.clone();
    let policy = project.environment(&env).map(|e| e.approval).unwrap_or_default();
    let planned = planned_start(project, &env, req.event, req.job.as_deref());
    let mut subject = PipelineSubject::new(req.event, req.job.clone(), req.args.clone());
    let mut asked = subject.approval(&project.name, &env, policy, &req.requested_by);
    // The approver sees the deletes of the jobs the file removed (or what is forgotten).
    let removed = match asked {
        Some(_) => {
            let (event, job, keep) = (req.event, req.job.as_deref(), req.origin.keep_removed);
            terrace_engine::removed::approval_note(project, app.store.as_ref(), &env, event, job, keep).await?
        }
        None => None,
    };
    if let (Some(approval), Some(removed), false) = (&mut asked, &removed, planned) {
        approval.summary = format!("{}; {removed}", approval.summary);
    }
    let (request, approval) = match asked {
        Some(mut approval) if planned => {
            // The start waits on saved plans: a plan request runs now, and the approval
            // names it; approving applies exactly the plans it kept.
            let plan = NewRequest { event: Event::Plan, ..req };
            match app.store.enqueue_request(plan).await? {
                Some(request) => {
                    subject.plan_request = Some(request.id.to_string());
                    approval.subject = serde_json::to_value(&subject).map_err(AppError::internal)?;
                    approval.summary = format!("{} on the saved plans of request {}", approval.summary, request.id);
                    if let Some(removed) = &removed {
                        approval.summary = format!("{}; {removed}", approval.summary);
                    }
                    let approval = app.store.create_approval(approval).await?;
                    // Told now, as a start held without a plan is: the plan runs meanwhile,
                    // and `terrace approve` waits for it.
                    let notice = terrace_engine::notify::approval_notice(
                        &approval.project,
                        &env,
                        &approval.short(),
                        &approval.summary,
                    );
                    crate::scheduler::notify::emit(app, &approval.project, notice).await;
                    (Some(request), Some(approval.id))
                }
                None => (None, None),
            }
        }
        Some(approval) => match app.store.enqueue_awaiting_approval(req, approval).await? {
            Some((request, approval)) => {
                let notice = terrace_engine::notify::approval_notice(
                    &approval.project,
                    &env,
                    &approval.short(),
                    &approval.summary,
                );
                crate::scheduler::notify::emit(app, &approval.project, notice).await;
                (Some(request), Some(approval.id))
            }
            None => (None, None),
        },
        None => (app.store.enqueue_request(req).await?, None),
    };
    let Some(request) = request else { return Ok(None) };
    app.wake_scheduler.notify_one();
    Ok(Some(Queued { request, approval, planned }))
}

/// The `plan` run of `job` in `env` that `reference` names, for a force run of `start`.
async fn plan_run(
    app: &App,
    project: &str,
    env: &str,
    event: Event,
    job: Option<&str>,
    reference: &str,
) -> AppResult<terrace_model::RunId> {
    let Some(job) = job.filter(|_| event == Event::Start) else {
        return Err(AppError::unprocessable(
            Some("plan"),
            "a saved plan is applied by a force run of `start`: send \"event\": \"start\" with \"job\"",
        ));
    };
    let run = match terrace_engine::find_run(app.store.as_ref(), Some(project), reference).await {
        Ok(run) => run,
        Err(terrace_engine::RunRefError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(AppError::bad("plan", e.to_string())),
    };
    if run.event != Event::Plan || run.job != job || run.environment != env {
        return Err(AppError::unprocessable(
            Some("plan"),
            format!(
                "run {} is a `{}` run of job `{}` in `{}`, not a `plan` run of `{job}` in `{env}`",
                run.short(),
                run.event,
                run.job,
                run.environment
            ),
        ));
    }
    Ok(run.id)
}

/// The request an event of this environment would wait for, described.
async fn ahead_of(app: &App, project: &str, env: &str) -> AppResult<Option<String>> {
    for state in [RequestState::Running, RequestState::Queued] {
        let filter = RequestFilter {
            project: Some(project.to_string()),
            environment: Some(env.to_string()),
            state: Some(state),
            limit: Some(1),
        };
        if let Some(r) = app.store.list_requests(&filter).await?.into_iter().next() {
            return Ok(Some(format!("request {} (`{}` by {}) is {state}", r.id, r.event, r.requested_by)));
        }
    }
    Ok(None)
}

fn parse_id(id: &str) -> AppResult<RequestId> {
    id.parse().map_err(|_| AppError::bad("id", format!("`{}` is not a request id (a UUID)", clip(id))))
}

pub async fn get(app: &App, caller: &Caller, id: &str) -> AppResult<RequestView> {
    caller.require(Role::Viewer)?;
    let id = parse_id(id)?;
    let request = app.store.get_request(id).await?.ok_or_else(|| AppError::not_found("request", id))?;
    Ok(request.into())
}

/// Filters of `GET /api/v1/requests`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    pub project: Option<String>,
    pub environment: Option<String>,
    /// awaiting_approval, queued, running, succeeded, failed, interrupted, cancelled.
    pub state: Option<String>,
    /// At most this many, newest first (1-1000, default 100).
    pub limit: Option<u32>,
}

pub async fn list(app: &App, caller: &Caller, q: RequestQuery) -> AppResult<Vec<RequestView>> {
    caller.require(Role::Viewer)?;
    let state = q
        .state
        .as_deref()
        .map(|s| s.parse::<RequestState>().map_err(|_| AppError::bad("state", format!("unknown state `{}`", clip(s)))))
        .transpose()?;
    let limit = check_limit(q.limit)?;
    let filter = RequestFilter { project: q.project, environment: q.environment, state, limit };
    Ok(app.store.list_requests(&filter).await?.into_iter().map(RequestView::from).collect())
}

pub(crate) fn check_limit(limit: Option<u32>) -> AppResult<Option<u32>> {
    match limit {
        Some(n) if n == 0 || n > 1000 => Err(AppError::bad("limit", "limit must be between 1 and 1000")),
        other => Ok(other),
    }
}

/// Cancels a queued request at once; a running one stops its jobs (their runs end
/// `cancelled`) within a lease renewal.
pub async fn cancel(app: &App, caller: &Caller, id: &str) -> AppResult<RequestView> {
    caller.require(Role::Operator)?;
    let id = parse_id(id)?;
    let before = app.store.get_request(id).await?.ok_or_else(|| AppError::not_found("request", id))?;
    if before.state.is_final() {
        return Err(AppError::Conflict(format!("request {id} already ended ({})", before.state)));
    }
    let after = app.store.cancel_request(id).await?.ok_or_else(|| AppError::not_found("request", id))?;
    app.store.audit(&caller.actor(), "request.cancel", &format!("request:{id}"), None).await?;
    app.wake_scheduler.notify_one();
    Ok(after.into())
}
