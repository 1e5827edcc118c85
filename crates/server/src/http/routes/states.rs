//! `/projects/{project}/environments/{environment}/states/{job}`: the versions of a job's
//! Terraform state, what one version holds (secrets masked), and the raw document
//! (admins only, audited).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::states::{self, StateVersionsView, StateView, VersionQuery};
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(versions)).routes(routes!(show)).routes(routes!(pull))
}

/// Every version of the job's state, newest first (serial, lineage, the run that wrote
/// it, when), and the run holding its lock. No state yet: an empty list.
#[utoipa::path(get, operation_id = "listStateVersions", path = "/projects/{project}/environments/{environment}/states/{job}/versions",
    tag = "states", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("job" = String, Path)),
    responses((status = 200, body = StateVersionsView), (status = "default", body = ErrorBody)))]
async fn versions(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env, job)): ApiPath<(String, String, String)>,
) -> Result<Json<StateVersionsView>, AppError> {
    Ok(Json(states::list(&app, &caller, &project, &env, &job).await?))
}

/// What a version of the state holds: each resource instance by address, the outputs
/// (sensitive ones as `***`). Attribute values are never shown.
#[utoipa::path(get, operation_id = "getState", path = "/projects/{project}/environments/{environment}/states/{job}",
    tag = "states", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("job" = String, Path), VersionQuery),
    responses((status = 200, body = StateView), (status = "default", body = ErrorBody)))]
async fn show(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env, job)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Json<StateView>, AppError> {
    Ok(Json(states::show(&app, &caller, &project, &env, &job, q).await?))
}

/// The state document itself, as `terraform state pull` prints it: every secret in clear,
/// so admins only, and each pull is written to the audit log.
#[utoipa::path(get, operation_id = "pullState", path = "/projects/{project}/environments/{environment}/states/{job}/raw",
    tag = "states", security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("job" = String, Path), VersionQuery),
    responses((status = 200, body = Object, description = "Terraform's state document"), (status = "default", body = ErrorBody)))]
async fn pull(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env, job)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, AppError> {
    let body = states::pull(&app, &caller, &project, &env, &job, q).await?;
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response())
}
