//! `/deliveries`: the webhook deliveries kept, and what their processing did.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::deliveries::{self, DeliveryView};
use crate::app::{App, AppError};
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, ApiQuery, Auth};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show))
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// At most this many, newest first (1-1000, default 100).
    pub limit: Option<u32>,
}

/// Webhook deliveries, newest first.
#[utoipa::path(get, operation_id = "listDeliveries", path = "/deliveries", tag = "deliveries", security(("bearer" = [])),
    params(DeliveryQuery),
    responses((status = 200, body = Vec<DeliveryView>), (status = "default", body = ErrorBody)))]
async fn list(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<Vec<DeliveryView>>, AppError> {
    Ok(Json(deliveries::list(&app, &caller, q.limit).await?))
}

/// One delivery, by its key (`github:<X-GitHub-Delivery>`).
#[utoipa::path(get, operation_id = "getDelivery", path = "/deliveries/{key}", tag = "deliveries", security(("bearer" = [])),
    params(("key" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = "default", body = ErrorBody)))]
async fn show(
    State(app): State<Arc<App>>,
    Auth(caller): Auth,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<DeliveryView>, AppError> {
    Ok(Json(deliveries::get(&app, &caller, &key).await?))
}
