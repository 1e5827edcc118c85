//! `POST /hooks/github` and `POST /hooks/gitlab`: no API token (the forge signs instead);
//! 202 with what was done, 401 for a bad signature or token, 400 for a malformed body.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::app::hooks::{self, HookAnswer, Source};
use crate::app::{App, AppError};

pub async fn github(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<HookAnswer>), AppError> {
    Ok((StatusCode::ACCEPTED, Json(hooks::receive(&app, Source::GitHub, &headers, &body).await?)))
}

pub async fn gitlab(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<HookAnswer>), AppError> {
    Ok((StatusCode::ACCEPTED, Json(hooks::receive(&app, Source::GitLab, &headers, &body).await?)))
}
