//! The one place where an `AppError` becomes an HTTP status and a JSON body
//! `{"error": {"code", "message", "field"?}}`. Internal causes are logged with an id
//! and replaced, for the client, by a message naming that id.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppError;

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// bad_request, unauthenticated, forbidden, not_found, method_not_allowed, conflict,
    /// unprocessable, payload_too_large, too_many_requests, request_timeout, unavailable, internal.
    pub code: String,
    pub message: String,
    /// The input field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Whether the same request may succeed later.
    pub retryable: bool,
}

pub fn status(e: &AppError) -> StatusCode {
    match e {
        AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden { .. } | AppError::Refused(_) => StatusCode::FORBIDDEN,
        AppError::NotFound { .. } | AppError::Unknown(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        AppError::TooLarge { .. } | AppError::ContentTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = status(&self);
        let field = match &self {
            AppError::BadRequest { field, .. } | AppError::Unprocessable { field, .. } => field.clone(),
            _ => None,
        };
        let message = match &self {
            AppError::Internal { detail } => {
                let id = uuid::Uuid::now_v7();
                tracing::error!(error_id = %id, %detail, "internal error");
                format!("internal server error (id {id}; the server log has the details)")
            }
            AppError::Unavailable(detail) => {
                tracing::warn!(%detail, "not ready");
                "the server's store is not reachable or not up to date".to_string()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            AppError::TooManyRequests { retry_after, .. } => Some(retry_after.as_secs_f64().ceil().max(1.0) as u64),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail { code: self.code().to_string(), message, field, retryable: self.retryable() },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
