//! The HTTP API: `/api/v1` (its OpenAPI document generated from the handlers), health,
//! readiness and metrics; a body limit, latency tracking and JSON errors everywhere.

mod conn;
pub mod error;
pub mod extract;
mod health;
mod hooks;
pub mod limit;
pub mod listen;
mod metrics;
mod root;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::{App, AppError};

/// The largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Terrace API", description = "Environments and their infrastructure-as-code lifecycle jobs. \
        Every endpoint takes `Authorization: Bearer <token>`; errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`."),
    modifiers(&BearerAuth),
    tags((name = "projects"), (name = "environments"), (name = "events"), (name = "runs"), (name = "secrets"), (name = "states"), (name = "tokens"), (name = "approvals"), (name = "previews"), (name = "deliveries"), (name = "promotions"), (name = "agents"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

fn api() -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", routes::api()).split_for_parts()
}

/// The OpenAPI document, as served at `/api/v1/openapi.json` and checked in as
/// `docs/openapi.json`.
pub fn openapi_json() -> String {
    let (_, doc) = api();
    let mut text = doc.to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The whole HTTP surface. `limiter` applies the per-client limits (None: no limit).
pub fn router(app: Arc<App>, limiter: Option<Arc<limit::Limiter>>, request_timeout: std::time::Duration) -> Router {
    let (api, doc) = api();
    let doc = Arc::new(doc);
    api.route("/api/v1/openapi.json", get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .route("/", get(root::index))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/hooks/github", axum::routing::post(hooks::github))
        .route("/hooks/gitlab", axum::routing::post(hooks::gitlab))
        .merge(crate::state_backend::router(app.store.clone() as Arc<dyn terrace_store::Store>))
        .fallback(|| async { AppError::NotFound { what: "route", id: "this path".into() } })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(request_timeout, limit::request_timeout))
        .layer(axum::middleware::from_fn_with_state((app.clone(), limiter), limit::per_client))
        .layer(axum::middleware::from_fn_with_state(app.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}
