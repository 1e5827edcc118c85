//! `/api/v1/agent/...`: what an agent may do with its pool token, and nothing else: pull
//! a step of its pool (a long poll: the answer waits up to `PULL_WAIT_SECS` for one, so
//! agents need no inbound port), renew its lease, send its log and its end. Every report
//! names the claim's fencing token; one the store no longer holds is refused with 409.
//! Pool tokens are kept apart from API tokens: neither opens the other's endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use terrace_store::{AgentStepId, PoolTokenRecord, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::protocol::{FinishBody, LogsBody, PULL_WAIT_SECS, PullBody, RenewAnswer, RenewBody, StepPayload};
use crate::app::{App, AppError, access};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, bearer};

/// A step's report may carry its output file and captured stdout.
const AGENT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The agent endpoints, under `/api/v1` with the rest of the API (and in its OpenAPI
/// document), with a body limit of their own.
pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(pull))
        .routes(routes!(renew))
        .routes(routes!(logs))
        .routes(routes!(finish))
        .layer(DefaultBodyLimit::max(AGENT_BODY_LIMIT))
}

/// The pool token of the caller; 401 without a live one.
pub struct Pool(pub PoolTokenRecord);

impl FromRequestParts<Arc<App>> for Pool {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(&parts.headers)?.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(AppError::Unauthenticated(
                "no pool token: send `Authorization: Bearer <token>` (create one with `terrace token create --pool NAME`)".into(),
            ));
        };
        match app.store.pool_token_by_hash(&access::hash_token(token)).await? {
            Some(record) => Ok(Pool(record)),
            None => Err(AppError::Unauthenticated("unknown or revoked pool token".into())),
        }
    }
}

fn fenced(e: StoreError) -> AppError {
    match e {
        StoreError::LeaseLost { .. } => AppError::Conflict(e.to_string()),
        other => other.into(),
    }
}

fn check_agent_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_graphic());
    if ok { Ok(()) } else { Err(AppError::bad("agent", "an agent name is 1-128 printable characters without spaces")) }
}

/// Pulls a step of the token's pool: waits up to `PULL_WAIT_SECS` for one (a long poll),
/// then answers 204. For agents, with a pool token.
#[utoipa::path(post, operation_id = "agentPull", path = "/agent/pull", tag = "agents", security(("bearer" = [])),
    request_body = PullBody,
    responses((status = 200, body = StepPayload, description = "a step, claimed under a lease"),
        (status = 204, description = "no step within the wait"), (status = "default", body = ErrorBody)))]
async fn pull(
    State(app): State<Arc<App>>,
    Pool(pool): Pool,
    ApiJson(body): ApiJson<PullBody>,
) -> Result<Response, AppError> {
    check_agent_name(&body.agent)?;
    if body.pool != pool.pool {
        // The token opens its own pool only: this agent is told, and gets nothing.
        return Err(AppError::Unauthenticated(format!(
            "this pool token (`{}`) is for pool `{}`, not `{}`: start the agent with `--pool {}` or give it a token of pool `{}`",
            pool.name,
            pool.pool,
            access::clip(&body.pool),
            pool.pool,
            access::clip(&body.pool)
        )));
    }
    let lease = app.settings.agent_lease;
    let until = tokio::time::Instant::now() + Duration::from_secs(PULL_WAIT_SECS);
    loop {
        let expires = time::OffsetDateTime::now_utc() + lease;
        if let Some(claimed) = app.store.claim_agent_step(&pool.pool, &body.agent, expires).await? {
            let mut payload: StepPayload = serde_json::from_slice(&claimed.spec)
                .map_err(|e| AppError::internal(format!("agent step {} does not read back: {e}", claimed.id)))?;
            payload.step = claimed.id.to_string();
            payload.token = claimed.token;
            payload.renew_every_ms = (lease / 3).as_millis().max(100) as u64;
            tracing::info!(step = %claimed.id, run = %claimed.run, pool = %pool.pool, agent = %body.agent, "agent step claimed");
            return Ok(Json(payload).into_response());
        }
        let waited = tokio::select! {
            _ = app.agent_wake.notified() => true,
            _ = tokio::time::sleep(Duration::from_millis(500)) => true,
            _ = tokio::time::sleep_until(until) => false,
            _ = app.shutdown.cancelled() => false,
        };
        if !waited {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
}

/// The step `id`, when it belongs to the caller's pool (404 otherwise, as for no step).
async fn step_of(app: &App, pool: &PoolTokenRecord, id: &str) -> Result<AgentStepId, AppError> {
    let step: AgentStepId =
        id.parse().map_err(|_| AppError::bad("id", format!("`{}` is not a step id", access::clip(id))))?;
    match app.store.get_agent_step(step).await? {
        Some(s) if s.pool == pool.pool => Ok(step),
        _ => Err(AppError::not_found("agent step", step)),
    }
}

/// Renews the lease of a claimed step; the answer says whether its run was cancelled.
#[utoipa::path(post, operation_id = "agentRenew", path = "/agent/steps/{id}/renew", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RenewBody,
    responses((status = 200, body = RenewAnswer), (status = "default", body = ErrorBody)))]
async fn renew(
    State(app): State<Arc<App>>,
    Pool(pool): Pool,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RenewBody>,
) -> Result<Json<RenewAnswer>, AppError> {
    let step = step_of(&app, &pool, &id).await?;
    let until = time::OffsetDateTime::now_utc() + app.settings.agent_lease;
    let cancel = app.store.renew_agent_step(step, body.token, until).await.map_err(fenced)?;
    Ok(Json(RenewAnswer { cancel }))
}

/// Appends log lines (masked on the agent) of a claimed step.
#[utoipa::path(post, operation_id = "agentLogs", path = "/agent/steps/{id}/logs", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = LogsBody,
    responses((status = 204, description = "appended"), (status = "default", body = ErrorBody)))]
async fn logs(
    State(app): State<Arc<App>>,
    Pool(pool): Pool,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LogsBody>,
) -> Result<StatusCode, AppError> {
    let step = step_of(&app, &pool, &id).await?;
    let batches: Vec<String> = body.batches.iter().filter_map(|b| serde_json::to_string(b).ok()).collect();
    app.store.append_agent_step_logs(step, body.token, &batches).await.map_err(fenced)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reports the end of a claimed step, with its output file.
#[utoipa::path(post, operation_id = "agentFinish", path = "/agent/steps/{id}/finish", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = FinishBody,
    responses((status = 204, description = "recorded"), (status = "default", body = ErrorBody)))]
async fn finish(
    State(app): State<Arc<App>>,
    Pool(pool): Pool,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FinishBody>,
) -> Result<StatusCode, AppError> {
    let step = step_of(&app, &pool, &id).await?;
    let output = match &body.output {
        Some(text) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|_| AppError::bad("output", "the output file must be base64"))?,
        ),
        None => None,
    };
    let result = serde_json::to_string(&body.result).map_err(AppError::internal)?;
    app.store.finish_agent_step(step, body.token, &result, output.as_deref()).await.map_err(fenced)?;
    Ok(StatusCode::NO_CONTENT)
}
