//! `/tokens` (admin): create (the token is in the answer, once), list, revoke; and the
//! audit log.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use terrace_store::control::Role;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::views::{AuditView, TokenCreated, TokenView};
use crate::app::{App, AppError, access};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke)).routes(routes!(audit))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub name: String,
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
}

/// Creates a token. The answer holds it; it is stored only as a hash.
#[utoipa::path(post, operation_id = "createToken", path = "/tokens", tag = "tokens", security(("bearer" = [])), request_body = TokenBody,
    responses((status = 201, body = TokenCreated), (status = "default", body = ErrorBody)))]
async fn create(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<(StatusCode, Json<TokenCreated>), AppError> {
    Ok((StatusCode::CREATED, Json(access::create_token(&app, &caller, &body.name, body.role).await?)))
}

#[utoipa::path(get, operation_id = "listTokens", path = "/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = "default", body = ErrorBody)))]
async fn list(State(app): State<Arc<App>>, Auth(caller): Auth) -> Result<Json<Vec<TokenView>>, AppError> {
    Ok(Json(access::list_tokens(&app, &caller).await?))
}

#[utoipa::path(delete, operation_id = "revokeToken", path = "/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = "default", body = ErrorBody)))]
async fn revoke(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, AppError> {
    access::revoke_token(&app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many, newest first (1-1000, default 100).
    pub limit: Option<u32>,
}

/// The audit log: reveals of secrets, token and secret changes, cancels.
#[utoipa::path(get, operation_id = "getAuditLog", path = "/audit", tag = "tokens", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>), (status = "default", body = ErrorBody)))]
async fn audit(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditView>>, AppError> {
    Ok(Json(access::audit_log(&app, &caller, q.limit).await?))
}
