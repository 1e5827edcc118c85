//! `/projects/{project}/environments/{environment}/secrets`: set (operator), list names,
//! delete. Values go in and never come out.

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
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(put, delete))
}

/// The names of the environment's secrets (never their values).
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
