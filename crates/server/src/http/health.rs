//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the store is
//! reachable and every migration is applied).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::{App, AppError};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<Value>, AppError> {
    app.store.ready().await.map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(Json(json!({"status": "ready"})))
}
