//! `/projects/{project}/previews`: the preview environments of pull requests.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::previews::{self, PreviewList};
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The project's preview environments, newest first: each with its pull request
/// (`repository`, `number`), `state`, age and TTL, and its URL.
#[utoipa::path(get, operation_id = "listPreviews", path = "/projects/{project}/previews", tag = "previews", security(("bearer" = [])),
    params(("project" = String, Path)),
    responses((status = 200, body = PreviewList), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(project): ApiPath<String>,
) -> Result<Json<PreviewList>, AppError> {
    Ok(Json(previews::list(&app, &caller, &project).await?))
}
