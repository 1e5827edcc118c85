//! Approvals through the API: what awaits approval, one approval, and the decision on it.
//! Approving a request's approval queues the request (the scheduler runs it); a local
//! event's approval (made by `terrace up` on this data folder) is queued as a request; a
//! promotion's moves the tag and queues its redeploys.

use serde::Deserialize;
use terrace_engine::approvals::{self, ApprovalError, PipelineSubject};
use terrace_engine::approved_plans;
use terrace_engine::promote::PromotionSubject;
use terrace_store::Origin;
use terrace_store::control::{NewRequest, RequestId, Role};
use terrace_store::{ApprovalFilter, ApprovalState, Decision, PromotionState, SubjectKind};

use super::access::clip;
use super::events::check_limit;
use super::promotions;
use super::views::ApprovalView;
use super::{App, AppError, AppResult, Caller, projects};

impl From<ApprovalError> for AppError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::NotFound { prefix, project } => {
                AppError::Unknown(ApprovalError::NotFound { project, prefix: clip(&prefix) }.to_string())
            }
            ApprovalError::Ambiguous(_) => AppError::bad("id", e.to_string()),
            ApprovalError::Decided { .. } => AppError::Conflict(e.to_string()),
            ApprovalError::SameApprover { .. } | ApprovalError::PlanRefused { .. } => AppError::Conflict(e.to_string()),
            ApprovalError::Store(s) => s.into(),
        }
    }
}

/// Filters of `GET /api/v1/approvals`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    pub project: Option<String>,
    pub environment: Option<String>,
    /// awaiting_approval, approved, rejected, cancelled (default: all).
    pub state: Option<String>,
    /// At most this many, newest first (1-1000, default 100).
    pub limit: Option<u32>,
}

/// `POST /api/v1/approvals/{id}/approve` and `/reject`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why (kept on the approval and in the audit log).
    pub reason: Option<String>,
}

const MAX_REASON: usize = 1000;

pub async fn list(app: &App, caller: &Caller, q: ApprovalQuery) -> AppResult<Vec<ApprovalView>> {
    caller.require(Role::Viewer)?;
    let state = q
        .state
        .as_deref()
        .map(|s| {
            s.parse::<ApprovalState>().map_err(|_| {
                AppError::bad(
                    "state",
                    format!("unknown state `{}`: awaiting_approval, approved, rejected or cancelled", clip(s)),
                )
            })
        })
        .transpose()?;
    let limit = check_limit(q.limit)?;
    let filter = ApprovalFilter { project: q.project, environment: q.environment, state, limit };
    let mut views = Vec::new();
    for a in app.store.list_approvals(&filter).await? {
        views.push(view(app, a).await?);
    }
    Ok(views)
}

/// The approval as the API shows it, with its saved plans when it waits on some.
pub(crate) async fn view(app: &App, a: terrace_store::ApprovalRecord) -> AppResult<ApprovalView> {
    view_in(app.store.as_ref(), a).await
}

/// The same, read from any store (a local data folder's too).
pub async fn view_in(store: &dyn super::ServerStore, a: terrace_store::ApprovalRecord) -> AppResult<ApprovalView> {
    let plans = approved_plans::plan_runs(store, store, &a).await?;
    let mut v = ApprovalView::from(a);
    v.plans = approved_plans::views(&plans);
    Ok(v)
}

async fn find(app: &App, id: &str) -> AppResult<terrace_store::ApprovalRecord> {
    let mut found = app.store.find_approvals(id).await?;
    match found.len() {
        0 => Err(ApprovalError::NotFound { project: String::new(), prefix: id.to_string() }.into()),
        1 => Ok(found.remove(0)),
        _ => {
            let candidates: Vec<String> =
                found.iter().map(|a| format!("{} ({}, project `{}`)", a.id, a.short(), a.project)).collect();
            Err(AppError::bad(
                "id",
                format!("`{}` matches several approvals: {}; give more of the id", clip(id), candidates.join(", ")),
            ))
        }
    }
}

pub async fn get(app: &App, caller: &Caller, id: &str) -> AppResult<ApprovalView> {
    caller.require(Role::Viewer)?;
    view(app, find(app, id).await?).await
}

pub async fn decide(
    app: &App,
    caller: &Caller,
    id: &str,
    decision: Decision,
    body: DecisionBody,
) -> AppResult<ApprovalView> {
    caller.require(Role::Operator)?;
    if let Some(r) = &body.reason
        && (r.len() > MAX_REASON || r.contains('\0'))
    {
        return Err(AppError::bad("reason", format!("at most {MAX_REASON} bytes, no NUL")));
    }
    let found = find(app, id).await?;
    // An approval on saved plans is refused, still awaiting, when one may not be applied.
    let plans = match approvals::may_decide(&found, decision, &caller.actor()) {
        true => {
            // A plan made for a commit of a project from git is checked against that commit.
            let pinned = planned_for(app, &found).await?.commit;
            let loaded = projects::load_at(app, &found.project, pinned.as_deref()).await?;
            let (store, control) = (app.store.as_ref(), app.store.as_ref());
            match loaded.commit {
                Some(commit) => approved_plans::check_at(store, control, &loaded.project, Some(commit), &found).await?,
                None => approved_plans::check(store, control, &loaded.project, &loaded.root, &found).await?,
            }
        }
        false => None,
    };
    let decided =
        approvals::decide(app.store.as_ref(), &found, decision, &caller.actor(), body.reason.as_deref()).await?;
    if decision == Decision::Approve && decided.subject_kind == SubjectKind::Pipeline {
        let subject: PipelineSubject = serde_json::from_value(decided.subject.clone())
            .map_err(|e| AppError::internal(format!("approval {}: unreadable subject: {e}", decided.id)))?;
        // A start planned for a commit (a push to a project from git) applies at that commit.
        let made_for = planned_for(app, &decided).await?;
        let queued = app
            .store
            .enqueue_request(NewRequest {
                id: RequestId::new(),
                project: decided.project.clone(),
                environment: decided.environment.clone(),
                event: subject.event,
                job: subject.job,
                args: subject.args,
                requested_by: decided.requested_by.clone(),
                max_attempts: app.settings.max_attempts,
                origin: plans
                    .map(|p| Origin { saved_plans: p.saved_plans, pins: p.pins, ..made_for.clone() })
                    .unwrap_or(made_for),
                saved_plan: None,
            })
            .await?;
        if let Some(r) = queued {
            app.store.set_approval_outcome(decided.id, &serde_json::json!({ "request_id": r.id })).await?;
        }
    }
    if decided.subject_kind == SubjectKind::Promotion {
        let subject: PromotionSubject = serde_json::from_value(decided.subject.clone())
            .map_err(|e| AppError::internal(format!("approval {}: unreadable subject: {e}", decided.id)))?;
        match decision {
            Decision::Approve => {
                let done = promotions::run_approved(app, subject.promotion_id, &decided.requested_by).await?;
                let outcome = serde_json::json!({ "promotion": subject.promotion_id, "request_ids": done.request_ids });
                app.store.set_approval_outcome(decided.id, &outcome).await?;
            }
            Decision::Reject => {
                let reason = format!("rejected by {}", caller.actor());
                app.store.set_promotion_state(subject.promotion_id, PromotionState::Rejected, Some(&reason)).await?;
            }
        }
    }
    app.wake_scheduler.notify_one();
    let after = app.store.get_approval(decided.id).await?.unwrap_or(decided);
    view(app, after).await
}

/// What the plan request of an approval on saved plans was made for (its commit, for a
/// push to a project from git); empty for other approvals.
async fn planned_for(app: &App, approval: &terrace_store::ApprovalRecord) -> AppResult<Origin> {
    let Ok(subject) = serde_json::from_value::<PipelineSubject>(approval.subject.clone()) else {
        return Ok(Origin::default());
    };
    let Some(id) = subject.plan_request.as_deref().and_then(|id| id.parse().ok()) else {
        return Ok(Origin::default());
    };
    Ok(app.store.get_request(id).await?.and_then(|r| r.origin).unwrap_or_default())
}
