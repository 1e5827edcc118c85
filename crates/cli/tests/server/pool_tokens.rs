//! Pool tokens through the API: admins create (the secret in the answer, once), list and
//! revoke them; other roles are refused; a live token is taken by the agent endpoints
//! (for its own pool only), a revoked one is refused from the next call.

use serde_json::Value;

use crate::support::*;

/// What the agent endpoint says to `token` pulling for `pool`: (status, message).
fn pull(server: &Server, token: &str, pool: &str) -> (u16, String) {
    let api = Api { base: format!("{}/api/v1", server.url), token: Some(token.into()), http: client() };
    let (status, body) = api.json("POST", "/agent/pull", Some(&format!(r#"{{"agent": "a1", "pool": "{pool}"}}"#)));
    (status, body["error"]["message"].as_str().unwrap_or_default().to_string())
}

#[test]
fn admins_create_list_and_revoke_pool_tokens_through_the_api() {
    let f = Fixture::new("project: shop\nenvironments: {dev: {}}\njobs: {}\n");
    let (admin, operator) = (f.token("admin", "root"), f.token("operator", "op"));
    let mut server = f.start(&[]);
    let api = server.api(Some(&admin));

    let (status, e) =
        server.api(Some(&operator)).json("POST", "/pool-tokens", Some(r#"{"name": "b1", "pool": "builds"}"#));
    assert_eq!(status, 403, "{e}");
    let (status, e) = server.api(Some(&operator)).json("GET", "/pool-tokens", None);
    assert_eq!(status, 403, "{e}");
    let (status, e) = api.json("POST", "/pool-tokens", Some(r#"{"name": "b1", "pool": "no spaces"}"#));
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("pool")), "{e}");

    let (status, made) = api.json("POST", "/pool-tokens", Some(r#"{"name": "b1", "pool": "builds"}"#));
    assert_eq!(status, 201, "{made}");
    let secret = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["pool"], "builds");
    let (status, e) = api.json("POST", "/pool-tokens", Some(r#"{"name": "b1", "pool": "builds"}"#));
    assert_eq!(status, 409, "a name is taken once: {e}");

    let listed = api.ok("GET", "/pool-tokens", None);
    let listed: &Vec<Value> = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0]["id"].as_str(), listed[0]["name"].as_str()), (Some(id.as_str()), Some("b1")));
    assert!(listed[0]["revoked_at"].is_null() && listed[0].get("token").is_none(), "the secret is never listed");
    // A pool token is not an API token.
    assert_eq!(server.api(Some(&secret)).json("GET", "/projects", None).0, 401);

    // Live: taken by the agent endpoints, for its own pool only.
    let (status, why) = pull(&server, &secret, "other");
    assert_eq!(status, 401);
    assert!(why.contains("is for pool `builds`"), "{why}");

    let (status, _) = api.json("DELETE", &format!("/pool-tokens/{id}"), None);
    assert_eq!(status, 204);
    let (status, _) = api.json("DELETE", &format!("/pool-tokens/{id}"), None);
    assert_eq!(status, 404, "revoked once");
    let (status, why) = pull(&server, &secret, "builds");
    assert_eq!(status, 401);
    assert!(why.contains("unknown or revoked"), "{why}");
    let listed = api.ok("GET", "/pool-tokens", None);
    assert!(listed[0]["revoked_at"].is_string(), "{listed}");
    let audit = api.ok("GET", "/audit", None);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(actions.contains(&"pool_token.create") && actions.contains(&"pool_token.revoke"), "{actions:?}");
    assert!(server.stop(), "{}", server.log());
}
