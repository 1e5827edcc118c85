//! Promotions: `POST .../environments/{e}/promotions` moves the environment's tag of an
//! artifact (or records an approval first) and queues the consumers' redeploys;
//! `GET /promotions` lists them with who, from, to and the digests.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::promotions::{self, PromoteBody, PromotionAccepted, PromotionQuery};
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(promote)).routes(routes!(list))
}

/// Promotes a version of an artifact to the environment: checks it exists in the registry
/// and the artifact's `order`, then moves the environment's tag and records the pin and
/// the audit entry before answering; the consumers' redeploys are queued (`request_ids`).
/// An environment with `approval: required` answers with `approval_id` and moves nothing.
/// 409 when refused (order, a held rollback, a version the registry does not have), 503
/// when the registry is away (the promotion is recorded failed: send it again).
#[utoipa::path(post, operation_id = "promote", path = "/projects/{project}/environments/{environment}/promotions",
    tag = "promotions", security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path)),
    request_body = PromoteBody,
    responses((status = 200, body = PromotionAccepted), (status = "default", body = ErrorBody)))]
async fn promote(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PromoteBody>,
) -> Result<Json<PromotionAccepted>, AppError> {
    Ok(Json(promotions::promote(&app, &caller, &project, &env, body).await?))
}

/// A project's promotions, newest first: who, artifact, from, to, version, old and new
/// digest, state and reason.
#[utoipa::path(get, operation_id = "listPromotions", path = "/promotions", tag = "promotions", security(("bearer" = [])),
    params(PromotionQuery),
    responses((status = 200, body = Vec<Object>), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<PromotionQuery>,
) -> Result<Json<Vec<serde_json::Value>>, AppError> {
    Ok(Json(promotions::list(&app, &caller, q).await?))
}
