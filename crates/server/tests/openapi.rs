//! The checked-in OpenAPI document (`docs/openapi.json`) is the one the code generates.
//! Regenerate it with:
//!   TERRACE_UPDATE_OPENAPI=1 cargo test -p terrace-server --test openapi

use std::path::PathBuf;

#[test]
fn docs_openapi_json_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = terrace_server::openapi_json();
    if std::env::var_os("TERRACE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json differs from the API the code serves; regenerate it with\n  \
         TERRACE_UPDATE_OPENAPI=1 cargo test -p terrace-server --test openapi\n(or `terrace server --openapi > docs/openapi.json`)"
    );
}

#[test]
fn the_agent_and_pool_token_routes_are_in_the_document() {
    let doc: serde_json::Value = serde_json::from_str(&terrace_server::openapi_json()).expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/agent/pull", "post"),
        ("/api/v1/agent/steps/{id}/renew", "post"),
        ("/api/v1/agent/steps/{id}/logs", "post"),
        ("/api/v1/agent/steps/{id}/finish", "post"),
        ("/api/v1/pool-tokens", "post"),
        ("/api/v1/pool-tokens", "get"),
        ("/api/v1/pool-tokens/{id}", "delete"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not in the document");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in ["StepPayload", "FinishBody", "StepEnd", "PoolTokenCreated"] {
        assert!(schemas.contains_key(schema), "schema {schema} is missing");
    }
}
