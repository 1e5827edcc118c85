//! API latency by route (the matched path, so ids do not explode the label set) and
//! the `/metrics` endpoint.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::{App, AppError};

pub async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    app.metrics.observe_http(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Prometheus text format. Unauthenticated, like `/healthz`: it holds counts, no data.
pub async fn render(State(app): State<Arc<App>>) -> Response {
    match app.metrics.render(app.store.as_ref()).await {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => AppError::Unavailable(e.to_string()).into_response(),
    }
}
