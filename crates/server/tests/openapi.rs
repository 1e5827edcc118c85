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
