//! Promotion through the server (seed 003): `terrace --server URL promote` moves the tag in a
//! real docker-registry, the audit names the token, the redeploys are queued requests the
//! client follows (a `commands.redeploy` instead of `start`), an approval-required
//! environment waits for `terrace approve`, and `promotions` lists it all.

use crate::registry::Registry;
use serde_json::Value;

use crate::support::*;

const REPO: &str = "library/software";

#[test]
fn promote_through_the_server_moves_the_tag_audits_and_redeploys() {
    let registry = Registry::start();
    let d1 = registry.push_image(REPO, Some("0.0.1"), "0.0.1", "amd64");
    let d2 = registry.push_image(REPO, Some("0.0.2"), "0.0.2", "amd64");
    let f = Fixture::new("project: shop\n");
    let marks = f.dir.path().join("marks");
    f.write(
        "proj/terrace.yaml",
        &format!(
            r#"project: shop
variables:
  MARKS: {marks}
artifacts:
  software:
    image: {host}/{REPO}
    order: [dev, prod]
environments:
  dev: {{}}
  prod:
    approval: required
jobs:
  service:
    artifacts: [software]
    events: [start]
    commands:
      start: 'echo "start $TERRACE_ENVIRONMENT" >> "$MARKS"'
      redeploy: 'echo "redeploy $TERRACE_ENVIRONMENT $SOFTWARE_VERSION $SOFTWARE_DIGEST" >> "$MARKS"'
"#,
            marks = marks.display(),
            host = registry.host
        ),
    );
    let token = f.token("operator", "release-bot");
    let mut server = f.start(&[]);
    let cwd = f.project();
    let read_marks = || std::fs::read_to_string(&marks).unwrap_or_default();

    let (code, out, err) =
        terrace(&server, &token, &cwd, &["promote", "software", "--version", "0.0.1", "--to", "dev"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("software 0.0.1 ({d1}) is now `dev` in `dev`")), "{out}");
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d1.as_str()));
    assert_eq!(read_marks(), format!("redeploy dev 0.0.1 {d1}\n"), "the redeploy ran once, on the server");

    // The API answers with the promotion and the queued redeploys.
    let api = server.api(Some(&token));
    let v = api.ok(
        "POST",
        "/projects/shop/environments/dev/promotions",
        Some(r#"{"artifact": "software", "version": "0.0.2"}"#),
    );
    assert_eq!(
        (v["promotion"]["state"].as_str(), v["promotion"]["old_digest"].as_str()),
        (Some("done"), Some(d1.as_str()))
    );
    let ids = v["request_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{v}");
    let done = api.wait_request(ids[0].as_str().unwrap(), std::time::Duration::from_secs(60));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(registry.tag_digest(REPO, "dev").as_deref(), Some(d2.as_str()));

    // Bad requests: a clear answer, nothing moved.
    let (status, e) =
        api.json("POST", "/projects/shop/environments/dev/promotions", Some(r#"{"artifact": "software"}"#));
    assert_eq!(status, 400, "{e}");
    let (status, e) = api.json(
        "POST",
        "/projects/shop/environments/dev/promotions",
        Some(r#"{"artifact": "software", "version": "9.9.9"}"#),
    );
    assert_eq!(status, 409, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("version `9.9.9` of `software` cannot be promoted"),
        "{e}"
    );
    let (code, _, err) = terrace(&server, &token, &cwd, &["promote", "nope", "--version", "1", "--to", "dev"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("artifact `nope` is not declared"), "{err}");

    // prod waits for an approval; approving it through the server moves the tag.
    let (code, out, err) = terrace(&server, &token, &cwd, &["promote", "software", "--from", "dev", "--to", "prod"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("requires approval"), "{out}");
    assert_eq!(registry.tag_digest(REPO, "prod"), None);
    let approver = f.token("operator", "release-manager");
    let (_, list, _) = terrace(&server, &approver, &cwd, &["approvals", "--json"]);
    let approvals: Value = serde_json::from_str(&list).unwrap();
    let id = approvals[0]["id"].as_str().unwrap().to_string();
    let (code, out, err) = terrace(&server, &approver, &cwd, &["approve", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(registry.tag_digest(REPO, "prod").as_deref(), Some(d2.as_str()));
    assert!(read_marks().contains(&format!("redeploy prod 0.0.2 {d2}")), "{}", read_marks());

    // Listed and audited with who, from, to and the digests.
    let (_, list, _) = terrace(&server, &token, &cwd, &["promotions", "--json"]);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!((list[0]["from_env"].as_str(), list[0]["to_env"].as_str()), (Some("dev"), Some("prod")));
    assert_eq!(list[0]["requested_by"], "api:release-bot");
    let admin = f.token("admin", "root");
    let audit = server.api(Some(&admin)).ok("GET", "/audit", None);
    let entries: Vec<&Value> = audit.as_array().unwrap().iter().filter(|e| e["action"] == "artifact.promote").collect();
    assert_eq!(entries.len(), 3, "{audit}");
    let detail: Value = serde_json::from_str(entries[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!((detail["from"].as_str(), detail["to"].as_str()), (Some("dev"), Some("prod")));
    assert_eq!((detail["old_digest"].as_str(), detail["new_digest"].as_str()), (None, Some(d2.as_str())));
    assert_eq!(entries[0]["actor"], "api:release-bot");
    assert!(server.stop());
}
