//! `/projects/{project}/secrets` (project scope) and
//! `/projects/{project}/environments/{environment}/secrets` (environment scope): set
//! (operator), list names, delete. Values go in and never come out.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::views::SecretView;
use crate::app::{App, AppError, secrets};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(put, delete))
        .routes(routes!(list_project))
        .routes(routes!(put_project, delete_project))
}

/// The names of the secrets the environment's runs read (never their values): its own
/// (`scope: environment`) and the project's it does not override (`scope: project`).
#[utoipa::path(get, operation_id = "listSecrets", path = "/projects/{project}/environments/{environment}/secrets", tag = "secrets",
    security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path)),
    responses((status = 200, body = Vec<SecretView>), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
) -> Result<Json<Vec<SecretView>>, AppError> {
    Ok(Json(secrets::list(&app, &caller, &project, &env).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    pub value: String,
}

/// Sets a secret: stored encrypted, read by the environment's runs where a variable
/// references `${secret:NAME}`, masked in every log.
#[utoipa::path(put, operation_id = "setSecret", path = "/projects/{project}/environments/{environment}/secrets/{name}", tag = "secrets",
    security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("name" = String, Path)),
    request_body = SecretBody,
    responses((status = 204, description = "stored"), (status = "default", body = ErrorBody)))]
async fn put(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env, name)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<SecretBody>,
) -> Result<StatusCode, AppError> {
    secrets::put(&app, &caller, &project, &env, &name, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, operation_id = "deleteSecret", path = "/projects/{project}/environments/{environment}/secrets/{name}", tag = "secrets",
    security(("bearer" = [])),
    params(("project" = String, Path), ("environment" = String, Path), ("name" = String, Path)),
    responses((status = 204, description = "deleted"), (status = "default", body = ErrorBody)))]
async fn delete(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env, name)): ApiPath<(String, String, String)>,
) -> Result<StatusCode, AppError> {
    secrets::delete(&app, &caller, &project, &env, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The names of the project-scope secrets (never their values).
#[utoipa::path(get, operation_id = "listProjectSecrets", path = "/projects/{project}/secrets", tag = "secrets",
    security(("bearer" = [])), params(("project" = String, Path)),
    responses((status = 200, body = Vec<SecretView>), (status = "default", body = ErrorBody)))]
async fn list_project(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<Vec<SecretView>>, AppError> {
    Ok(Json(secrets::list_project(&app, &caller, &project).await?))
}

/// Sets a project-scope secret: stored encrypted, read by every environment's runs where
/// a variable references `${secret:NAME}` (an environment's own secret of that name wins),
/// masked in every log.
#[utoipa::path(put, operation_id = "setProjectSecret", path = "/projects/{project}/secrets/{name}", tag = "secrets",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path)),
    request_body = SecretBody,
    responses((status = 204, description = "stored"), (status = "default", body = ErrorBody)))]
async fn put_project(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SecretBody>,
) -> Result<StatusCode, AppError> {
    secrets::put_project(&app, &caller, &project, &name, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, operation_id = "deleteProjectSecret", path = "/projects/{project}/secrets/{name}", tag = "secrets",
    security(("bearer" = [])),
    params(("project" = String, Path), ("name" = String, Path)),
    responses((status = 204, description = "deleted"), (status = "default", body = ErrorBody)))]
async fn delete_project(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, AppError> {
    secrets::delete_project(&app, &caller, &project, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
