//! `/pool-tokens` (admin): create (the token is in the answer, once), list, revoke the
//! tokens agents of a worker pool pull with.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::pool_tokens::{self, PoolTokenCreated, PoolTokenView};
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolTokenBody {
    pub name: String,
    /// The worker pool (`pool:` of a job or environment) its agents pull from.
    pub pool: String,
}

/// Creates a pool token. The answer holds it; it is stored only as a hash.
#[utoipa::path(post, operation_id = "createPoolToken", path = "/pool-tokens", tag = "agents", security(("bearer" = [])),
    request_body = PoolTokenBody,
    responses((status = 201, body = PoolTokenCreated), (status = "default", body = ErrorBody)))]
async fn create(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<PoolTokenBody>,
) -> Result<(StatusCode, Json<PoolTokenCreated>), AppError> {
    Ok((StatusCode::CREATED, Json(pool_tokens::create(&app, &caller, &body.name, &body.pool).await?)))
}

#[utoipa::path(get, operation_id = "listPoolTokens", path = "/pool-tokens", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Vec<PoolTokenView>), (status = "default", body = ErrorBody)))]
async fn list(State(app): State<Arc<App>>, Auth(caller): Auth) -> Result<Json<Vec<PoolTokenView>>, AppError> {
    Ok(Json(pool_tokens::list(&app, &caller).await?))
}

#[utoipa::path(delete, operation_id = "revokePoolToken", path = "/pool-tokens/{id}", tag = "agents", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = "default", body = ErrorBody)))]
async fn revoke(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    pool_tokens::revoke(&app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
