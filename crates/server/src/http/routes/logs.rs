//! `GET /runs/{id}/logs`: a run's log from any offset, as one JSON page, or followed
//! live as Server-Sent Events (`?follow=true`; `Last-Event-ID` resumes after a line).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use terrace_model::RunId;
use terrace_store::RunState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::views::LogPage;
use crate::app::{App, AppError, runs};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(logs))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The first line to return (0-based, across attempts).
    pub offset: Option<u64>,
    /// Stream lines as Server-Sent Events until the run ends (`event: line`, then `event: end`).
    pub follow: Option<bool>,
    /// The project whose run `ENV#N` names (needed only when several projects have that environment).
    pub project: Option<String>,
}

/// A run's log (already masked). With `follow=true`: `text/event-stream`, one `line` event
/// per line (its `id` is the offset), then one `end` event with the run's final state.
#[utoipa::path(get, operation_id = "getRunLogs", path = "/runs/{id}/logs", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path), LogQuery),
    responses(
        (status = 200, body = LogPage, description = "the lines from `offset` (JSON), or a live stream \
            (text/event-stream) when `follow=true`"),
        (status = "default", body = ErrorBody)))]
async fn logs(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .and_then(|last| last.checked_add(1));
    let offset = resume.or(q.offset).unwrap_or(0);
    let at = runs::RunAt { project: q.project.clone() };
    let page = runs::logs(&app, &caller, &id, &at, offset).await?;
    if !q.follow.unwrap_or(false) {
        return Ok(Json(page).into_response());
    }
    let stream = follow(app, page.run_id, offset);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// Where a followed log is.
struct Cursor {
    app: Arc<App>,
    run: RunId,
    offset: u64,
    ended: bool,
    first: bool,
}

fn follow(app: Arc<App>, run: RunId, offset: u64) -> impl Stream<Item = Result<Event, Infallible>> {
    let cursor = Cursor { app, run, offset, ended: false, first: true };
    stream::unfold(cursor, |mut c| async move {
        if c.ended {
            return None;
        }
        if !c.first {
            tokio::select! {
                _ = c.app.shutdown.cancelled() => {
                    c.ended = true;
                    return Some((vec![end_event("server stopping")], c));
                }
                _ = tokio::time::sleep(c.app.settings.log_poll) => {}
            }
        }
        c.first = false;
        let page = match runs::read_page(&c.app, c.run, c.offset).await {
            Ok(p) => p,
            Err(e) => {
                c.ended = true;
                return Some((vec![Event::default().event("error").data(e.to_string())], c));
            }
        };
        c.offset = page.next_offset;
        let mut events: Vec<Event> = page
            .lines
            .iter()
            .map(|l| {
                Event::default()
                    .event("line")
                    .id(l.offset.to_string())
                    .data(serde_json::to_string(l).unwrap_or_default())
            })
            .collect();
        let final_state = page.run_state.parse::<RunState>().map(|s| !s.is_active()).unwrap_or(true);
        // A final state read before the page means the page held the last lines; a full
        // page may have more behind it.
        if final_state && page.lines.len() < runs::LOG_PAGE as usize {
            events.push(end_event(&page.run_state));
            c.ended = true;
        }
        Some((events, c))
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok)))
}

fn end_event(state: &str) -> Event {
    Event::default().event("end").data(serde_json::json!({"run_state": state}).to_string())
}
