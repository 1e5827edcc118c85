//! Promotions through the API (seed 003): the same `Promoter` as local mode checks the
//! version in the registry, applies the order rule, waits for an approval when the
//! environment requires one, moves the tag and records the pin, the audit entry (the
//! token's name as who) and the history; then each consuming job's redeploy (its
//! `commands.redeploy`, else its `start`) is queued as an event request, which the
//! scheduler runs and the client follows like any other.

use serde::{Deserialize, Serialize};
use terrace_engine::SecretValues;
use terrace_engine::promote::{self, PromoteError, PromoteRequest, Promoted, Promoter, Source};
use terrace_store::control::{NewRequest, RequestId, Role};
use terrace_store::{PromotionId, PromotionRecord};
use utoipa::ToSchema;

use super::access::clip;
use super::events::check_limit;
use super::projects::{self, Loaded};
use super::{App, AppError, AppResult, Caller};

/// `POST /api/v1/projects/{p}/environments/{e}/promotions`: exactly one of `version`,
/// `from` and `previous`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// The artifact, as named under `artifacts:`.
    #[schema(example = "software")]
    pub artifact: String,
    /// A tag of the artifact's repository.
    pub version: Option<String>,
    /// Promote what this environment runs.
    pub from: Option<String>,
    /// Roll back to the version the environment ran before (held against `from`).
    pub previous: Option<bool>,
    /// Promote although the version skipped the environment before this one in `order`
    /// (recorded in the audit entry).
    pub skip_order: Option<bool>,
}

/// What a promotion request became.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PromotionAccepted {
    /// The promotion: artifact, from, to, version, digest, old digest, state, who.
    #[schema(value_type = Object)]
    pub promotion: serde_json::Value,
    /// Set when the environment requires an approval: nothing moved yet.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub approval_id: Option<terrace_store::ApprovalId>,
    /// The redeploy requests queued, one per consuming job (`GET /requests/{id}`).
    #[schema(value_type = Vec<String>)]
    pub request_ids: Vec<RequestId>,
}

/// Filters of `GET /api/v1/promotions`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromotionQuery {
    pub project: String,
    /// Only promotions to this environment.
    pub environment: Option<String>,
    pub artifact: Option<String>,
    /// At most this many, newest first (1-1000, default 100).
    pub limit: Option<u32>,
}

const MAX_TEXT: usize = 256;

impl From<PromoteError> for AppError {
    fn from(e: PromoteError) -> Self {
        match e {
            PromoteError::Invalid(m) => AppError::unprocessable(None, m),
            PromoteError::Refused(m) => AppError::Conflict(m),
            // The registry was away or failed: the promotion is recorded failed; retry.
            PromoteError::Registry(m) => AppError::Unavailable(m),
            PromoteError::Store(s) => s.into(),
        }
    }
}

fn check_text(field: &str, value: &str) -> AppResult<()> {
    if value.is_empty() || value.len() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(AppError::bad(field, format!("1 to {MAX_TEXT} bytes, no control characters")));
    }
    Ok(())
}

fn source(body: &PromoteBody) -> AppResult<Source> {
    match (&body.version, &body.from, body.previous.unwrap_or(false)) {
        (Some(v), None, false) => check_text("version", v).map(|_| Source::Version(v.clone())),
        (None, Some(e), false) => check_text("from", e).map(|_| Source::From(e.clone())),
        (None, None, true) => Ok(Source::Previous),
        _ => Err(AppError::bad("version", "give exactly one of \"version\", \"from\" or \"previous\": true")),
    }
}

/// `${env:NAME}` of the server: only the names the server allows.
fn allowed_env(app: &App) -> impl Fn(&str) -> Option<String> + Send + Sync + '_ {
    |name: &str| app.settings.allow_env.iter().any(|a| a == name).then(|| std::env::var(name).ok()).flatten()
}

/// A `Promoter` for the loaded project, with the target environment's `secrets`.
fn promoter<'a>(
    app: &'a App,
    loaded: &'a Loaded,
    secrets: &'a SecretValues,
    env: &'a (dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Promoter<'a> {
    Promoter { project: &loaded.project, store: app.store.as_ref(), control: app.store.as_ref(), secrets, env }
}

pub async fn promote(
    app: &App,
    caller: &Caller,
    project: &str,
    env: &str,
    body: PromoteBody,
) -> AppResult<PromotionAccepted> {
    caller.require(Role::Operator)?;
    check_text("artifact", &body.artifact)?;
    let source = source(&body)?;
    let loaded = projects::load(app, project).await?;
    let req = PromoteRequest {
        artifact: body.artifact.clone(),
        to: env.to_string(),
        source,
        skip_order: body.skip_order.unwrap_or(false),
        who: caller.actor(),
    };
    let secrets = SecretValues(app.store.secret_values(&loaded.project.name, env).await?);
    let read_env = allowed_env(app);
    let promoted = promoter(app, &loaded, &secrets, &read_env).request(&req).await?;
    match promoted {
        Promoted::AwaitingApproval { promotion, approval } => Ok(PromotionAccepted {
            promotion: serde_json::to_value(&promotion).map_err(AppError::internal)?,
            approval_id: Some(approval.id),
            request_ids: vec![],
        }),
        Promoted::Done(p) => redeploy(app, &loaded, &p, &caller.actor()).await,
    }
}

/// Queues the redeploy of each job of the promotion's environment that consumes its
/// artifact.
async fn redeploy(app: &App, loaded: &Loaded, p: &PromotionRecord, who: &str) -> AppResult<PromotionAccepted> {
    let mut request_ids = Vec::new();
    for (job, event) in promote::consumers(&loaded.project, &p.to_env, &p.artifact) {
        let queued = app
            .store
            .enqueue_request(NewRequest {
                id: RequestId::new(),
                project: loaded.project.name.clone(),
                environment: p.to_env.clone(),
                event,
                job: Some(job.clone()),
                args: vec![],
                requested_by: who.to_string(),
                max_attempts: app.settings.max_attempts,
                origin: Default::default(),
                saved_plan: None,
            })
            .await?;
        match queued {
            Some(r) => request_ids.push(r.id),
            None => {
                return Err(AppError::Conflict(format!(
                    "the tag moved and the pin is recorded, but environment `{}` is being deleted: job `{job}` was not redeployed",
                    p.to_env
                )));
            }
        }
    }
    app.wake_scheduler.notify_one();
    Ok(PromotionAccepted {
        promotion: serde_json::to_value(p).map_err(AppError::internal)?,
        approval_id: None,
        request_ids,
    })
}

/// A promotion's approval was given: move the tag, record it, queue the redeploys.
pub async fn run_approved(app: &App, id: PromotionId, who: &str) -> AppResult<PromotionAccepted> {
    let p = app.store.get_promotion(id).await?.ok_or_else(|| AppError::not_found("promotion", id))?;
    let loaded = projects::load(app, &p.project).await?;
    let secrets = SecretValues(app.store.secret_values(&loaded.project.name, &p.to_env).await?);
    let read_env = allowed_env(app);
    let done = promoter(app, &loaded, &secrets, &read_env).run(id).await?;
    redeploy(app, &loaded, &done, who).await
}

pub async fn list(app: &App, caller: &Caller, q: PromotionQuery) -> AppResult<Vec<serde_json::Value>> {
    caller.require(Role::Viewer)?;
    let limit = check_limit(q.limit)?.unwrap_or(100);
    let list = app.store.list_promotions(&q.project, q.environment.as_deref(), q.artifact.as_deref(), limit).await?;
    if list.is_empty() && app.store.get_project(&q.project).await?.is_none() {
        return Err(AppError::not_found("project", clip(&q.project)));
    }
    list.iter().map(|p| serde_json::to_value(p).map_err(AppError::internal)).collect()
}
