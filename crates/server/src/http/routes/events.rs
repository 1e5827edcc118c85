//! Events and the requests they become: `POST .../events` commits a request to the
//! queue and answers 202; `/requests` reads and cancels them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::events::{self, EventBody, RequestQuery};
use crate::app::views::{EventAccepted, RequestView};
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(submit)).routes(routes!(list)).routes(routes!(show)).routes(routes!(cancel))
}

/// Queues an environment event. The request is committed before the answer; it runs
/// when the environment has nothing older queued or running (one at a time, in order).
/// 409 while a delete of the environment is queued or running.
#[utoipa::path(post, operation_id = "submitEvent", path = "/projects/{project}/environments/{environment}/events", tag = "events",
    security(("bearer" = [])), params(("project" = String, Path), ("environment" = String, Path)),
    request_body = EventBody,
    responses((status = 202, body = EventAccepted), (status = "default", body = ErrorBody)))]
async fn submit(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath((project, env)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<(StatusCode, Json<EventAccepted>), AppError> {
    Ok((StatusCode::ACCEPTED, Json(events::submit(&app, &caller, &project, &env, body).await?)))
}

/// Event requests, newest first.
#[utoipa::path(get, operation_id = "listRequests", path = "/requests", tag = "events", security(("bearer" = [])), params(RequestQuery),
    responses((status = 200, body = Vec<RequestView>), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<RequestQuery>,
) -> Result<Json<Vec<RequestView>>, AppError> {
    Ok(Json(events::list(&app, &caller, q).await?))
}

/// One request: its state, run ids and, once ended, the pipeline outcome.
#[utoipa::path(get, operation_id = "getRequest", path = "/requests/{id}", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestView), (status = "default", body = ErrorBody)))]
async fn show(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestView>, AppError> {
    Ok(Json(events::get(&app, &caller, &id).await?))
}

/// Cancels a request: at once when queued; a running one stops its jobs.
#[utoipa::path(post, operation_id = "cancelRequest", path = "/requests/{id}/cancel", tag = "events", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestView), (status = "default", body = ErrorBody)))]
async fn cancel(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestView>, AppError> {
    Ok(Json(events::cancel(&app, &caller, &id).await?))
}
