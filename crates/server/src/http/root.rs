//! `GET /`: where things are, for a person or a script that found the server's address.

use axum::Json;
use serde_json::{Value, json};

pub async fn index() -> Json<Value> {
    Json(json!({
        "name": "terrace",
        "version": env!("CARGO_PKG_VERSION"),
        "api": "/api/v1",
        "links": {
            "openapi": "/api/v1/openapi.json",
            "health": "/healthz",
            "ready": "/readyz",
            "metrics": "/metrics",
        },
        "hint": "every /api/v1 call takes `Authorization: Bearer <token>`; create one with `terrace token create`",
    }))
}
