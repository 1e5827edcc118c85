//! `/runs`: filtered lists, one run (by short form, id or unique prefix), cancel.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::runs::{self, RunAt, RunQuery};
use crate::app::views::{RequestView, RunPage, RunView};
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show)).routes(routes!(cancel))
}

/// Job runs, newest first, one page at a time: `items`, and in `next` the `before` of the
/// next page (null on the last one).
#[utoipa::path(get, operation_id = "listRuns", path = "/runs", tag = "runs", security(("bearer" = [])), params(RunQuery),
    responses((status = 200, body = RunPage), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> Result<Json<RunPage>, AppError> {
    Ok(Json(runs::list(&app, &caller, q).await?))
}

/// One run, by its short form `ENV#N` (`dev%2317`), its id or a unique prefix of it.
#[utoipa::path(get, operation_id = "getRun", path = "/runs/{id}", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path), RunAt),
    responses((status = 200, body = RunView), (status = "default", body = ErrorBody)))]
async fn show(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(at): ApiQuery<RunAt>,
) -> Result<Json<RunView>, AppError> {
    Ok(Json(runs::show(&app, &caller, &id, &at).await?))
}

/// Cancels the request running this run; its jobs stop and their runs end `cancelled`.
#[utoipa::path(post, operation_id = "cancelRun", path = "/runs/{id}/cancel", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path), RunAt),
    responses((status = 200, body = RequestView), (status = "default", body = ErrorBody)))]
async fn cancel(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(at): ApiQuery<RunAt>,
) -> Result<Json<RequestView>, AppError> {
    Ok(Json(runs::cancel(&app, &caller, &id, &at).await?))
}
