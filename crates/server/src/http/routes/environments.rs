//! `/projects/{project}/environments`: list, and one environment with its state,
//! outputs (masked; `?reveal=true` for admins, audited) and last runs.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::environments::EnvListQuery;
use crate::app::views::{CloneBody, EnvironmentPage, EnvironmentSummary, EnvironmentView, EventAccepted, ExtendBody};
use crate::app::{App, AppError, environments};
use crate::http::error::ErrorBody;
use crate::http::extract::ApiJson;
use crate::http::extract::{ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, delete))
        .routes(routes!(extend))
        .routes(routes!(drift))
        .routes(routes!(clone))
}

/// The environments the project file defines, and those the store still has a record of,
/// in name order, one page at a time: `items`, and in `next` the `after` of the next page
/// (null on the last one).
#[utoipa::path(get, operation_id = "listEnvironments", path = "/projects/{project}/environments", tag = "environments", security(("bearer" = [])),
    params(("project" = String, Path), EnvListQuery),
    responses((status = 200, body = EnvironmentPage), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(project): ApiPath<String>,
    ApiQuery(q): ApiQuery<EnvListQuery>,
) -> Result<Json<EnvironmentPage>, AppError> {
    Ok(Json(environments::list(&app, &caller, &project, q).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// Show secret outputs in clear (admin only; written to the audit log).
    pub reveal: Option<bool>,
}

/// One environment: state, outputs (secrets as `***`), each job's last run, secret names.
#[utoipa::path(get, operation_id = "getEnvironment", path = "/projects/{project}/environments/{environment}", tag = "environments",
    security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path), ShowQuery),
    responses((status = 200, body = EnvironmentView), (status = "default", body = ErrorBody)))]
async fn show(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> Result<Json<EnvironmentView>, AppError> {
    Ok(Json(environments::show(&app, &caller, &project, &env, q.reveal.unwrap_or(false)).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Checks to return, newest first [default: 20, at most 500].
    pub limit: Option<u32>,
}

/// The environment's drift (`drift:`): its schedule, whether the last check found drift,
/// and its checks newest first, each with the resources changed outside Terrace.
#[utoipa::path(get, operation_id = "getEnvironmentDrift", path = "/projects/{project}/environments/{environment}/drift",
    tag = "environments", security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path), DriftQuery),
    responses((status = 200, body = Object), (status = "default", body = ErrorBody)))]
async fn drift(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> Result<Json<terrace_engine::timed::drift::DriftHistory>, AppError> {
    Ok(Json(environments::drift(&app, &caller, &project, &env, q.limit.unwrap_or(20)).await?))
}

/// Moves an ephemeral environment's destroy `by` later (from its destroy time, or from now
/// once due); a destroy that was failing starts over. 409 without a record, 422 without `ttl`.
#[utoipa::path(post, operation_id = "extendEnvironment", path = "/projects/{project}/environments/{environment}/extend",
    tag = "environments", security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path)),
    request_body = ExtendBody,
    responses((status = 200, body = Object), (status = "default", body = ErrorBody)))]
async fn extend(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ExtendBody>,
) -> Result<Json<terrace_engine::timed::ttl::TtlStatus>, AppError> {
    Ok(Json(environments::extend(&app, &caller, &project, &env, body).await?))
}

/// Makes a new environment from this one (declared or itself made at run time): its
/// variables (with `variables` over them), parameters files and artifact versions; not its
/// outputs, state or secrets. It is `stopped` until a `start` event. 422 when the name is
/// taken or invalid.
#[utoipa::path(post, operation_id = "cloneEnvironment", path = "/projects/{project}/environments/{environment}/clone",
    tag = "environments", security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path)),
    request_body = CloneBody,
    responses((status = 201, body = EnvironmentSummary), (status = "default", body = ErrorBody)))]
async fn clone(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<CloneBody>,
) -> Result<(StatusCode, Json<EnvironmentSummary>), AppError> {
    Ok((StatusCode::CREATED, Json(environments::clone(&app, &caller, &project, &env, body).await?)))
}

/// Deletes an environment made at run time: queues its `delete` event (every job's delete,
/// in reverse order); the environment goes only when all succeeded, else it stays `failed`.
/// Follow the request as any event's. 422 for a declared environment (send it a `delete`
/// event: it stays declared in terrace.yaml).
#[utoipa::path(delete, operation_id = "deleteEnvironment", path = "/projects/{project}/environments/{environment}",
    tag = "environments", security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path)),
    responses((status = 202, body = EventAccepted), (status = "default", body = ErrorBody)))]
async fn delete(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Json<EventAccepted>), AppError> {
    Ok((StatusCode::ACCEPTED, Json(environments::delete(&app, &caller, &project, &env).await?)))
}
