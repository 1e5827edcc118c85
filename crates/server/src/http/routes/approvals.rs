//! Approvals: what awaits approval, one approval, and the decisions (approve queues the
//! request it holds; reject cancels it). Both decisions are audited.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::approvals::{self, ApprovalQuery, DecisionBody};
use crate::app::views::ApprovalView;
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, ApiQuery, Auth, parse_json};
use terrace_store::Decision;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show)).routes(routes!(approve)).routes(routes!(reject))
}

/// Approvals, newest first (`?state=awaiting_approval` for what waits).
#[utoipa::path(get, operation_id = "listApprovals", path = "/approvals", tag = "approvals", security(("bearer" = [])),
    params(ApprovalQuery),
    responses((status = 200, body = Vec<ApprovalView>), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<ApprovalQuery>,
) -> Result<Json<Vec<ApprovalView>>, AppError> {
    Ok(Json(approvals::list(&app, &caller, q).await?))
}

/// One approval, by its id or its request's id (any unique prefix).
#[utoipa::path(get, operation_id = "getApproval", path = "/approvals/{id}", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ApprovalView), (status = "default", body = ErrorBody)))]
async fn show(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApprovalView>, AppError> {
    Ok(Json(approvals::get(&app, &caller, &id).await?))
}

/// Approves: the request it holds is queued and runs. 409 when already decided, or when
/// the environment wants an approver other than who asked.
#[utoipa::path(post, operation_id = "approve", path = "/approvals/{id}/approve", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Option<DecisionBody>,
    responses((status = 200, body = ApprovalView), (status = "default", body = ErrorBody)))]
async fn approve(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> Result<Json<ApprovalView>, AppError> {
    let body = decision_body(&body)?;
    Ok(Json(approvals::decide(&app, &caller, &id, Decision::Approve, body).await?))
}

/// Rejects: the request it holds is cancelled and never runs.
#[utoipa::path(post, operation_id = "reject", path = "/approvals/{id}/reject", tag = "approvals", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Option<DecisionBody>,
    responses((status = 200, body = ApprovalView), (status = "default", body = ErrorBody)))]
async fn reject(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> Result<Json<ApprovalView>, AppError> {
    let body = decision_body(&body)?;
    Ok(Json(approvals::decide(&app, &caller, &id, Decision::Reject, body).await?))
}

/// The body is optional: none (or blank) means no reason.
fn decision_body(bytes: &[u8]) -> Result<DecisionBody, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionBody::default());
    }
    parse_json(bytes)
}
