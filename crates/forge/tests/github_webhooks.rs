//! GitHub deliveries in the documented shapes, signed as GitHub signs them (HMAC-SHA256
//! of the raw body under the webhook secret, `sha256=<hex>`), with its headers.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::Value;
use sha2::Sha256;
use terrace_forge::webhook::{self, WebhookError};
use terrace_forge::{Event, Forge, PullRequestAction};

const SECRET: &[u8] = b"It's a Secret to Everybody";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/github/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The headers GitHub sends with a delivery.
fn headers(event: &str, signature: Option<String>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("user-agent", "GitHub-Hookshot/c2d4f15".parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("x-github-event", event.parse().unwrap());
    h.insert("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap());
    h.insert("x-github-hook-id", "470356391".parse().unwrap());
    h.insert("x-github-hook-installation-target-type", "repository".parse().unwrap());
    if let Some(signature) = signature {
        h.insert("x-hub-signature-256", signature.parse().unwrap());
    }
    h
}

fn deliver(event: &str, body: &[u8]) -> Result<terrace_forge::Delivery, WebhookError> {
    webhook::github(&headers(event, Some(sign(SECRET, body))), body, SECRET)
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn push_is_read_with_its_delivery_id() {
    let delivery = deliver("push", &fixture("push")).unwrap();
    assert_eq!(delivery.forge, Forge::GitHub);
    assert_eq!(delivery.dedup_key().as_deref(), Some("github:72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    let Event::Push(push) = delivery.event else { panic!("{:?}", delivery.event) };
    assert_eq!(push.branch(), Some("main"));
    assert_eq!(push.before, "9049f1265b7d61be4a8904a9a27120d2064dab3b");
    assert_eq!(push.after, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
    assert_eq!(push.pusher, "octocat");
    assert_eq!((push.repository.owner.as_str(), push.repository.name.as_str()), ("acme", "infra"));
    assert_eq!(push.repository.slug(), "github.com/acme/infra");
    assert_eq!(push.repository.clone_url, "https://github.com/acme/infra.git");
    assert!(!push.created && !push.deleted);
}

#[test]
fn pull_request_actions_are_read() {
    let delivery = deliver("pull_request", &fixture("pull_request_opened")).unwrap();
    let Event::PullRequest(event) = delivery.event else { panic!() };
    assert_eq!(event.action, PullRequestAction::Opened);
    assert_eq!(event.sender, "octocat");
    let pr = &event.pull_request;
    assert_eq!(pr.number, 42);
    assert_eq!(pr.head_sha, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
    assert_eq!((pr.head_ref.as_str(), pr.base_ref.as_str()), ("feature/cache", "main"));
    assert_eq!(pr.labels, ["preview"]);
    assert!(!pr.draft);
    assert_eq!(pr.repository.full_name, "acme/infra");
    assert_eq!(pr.head_repository.as_deref(), Some("acme/infra"));

    let action = |name: &str, body: &[u8]| match deliver("pull_request", body).unwrap().event {
        Event::PullRequest(e) => e.action,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        action("sync", &fixture("pull_request_synchronize")),
        PullRequestAction::Synchronized { before: Some("6dcb09b5b57875f334f61aebed695e2e4193db5e".into()) }
    );
    assert_eq!(
        action("labeled", &fixture("pull_request_labeled")),
        PullRequestAction::Labeled { label: "preview".into() }
    );
    let unlabeled = edited("pull_request_labeled", |v| v["action"] = "unlabeled".into());
    assert_eq!(action("unlabeled", &unlabeled), PullRequestAction::Unlabeled { label: "preview".into() });
    assert_eq!(action("closed", &fixture("pull_request_closed")), PullRequestAction::Closed { merged: true });
    let closed = edited("pull_request_closed", |v| v["pull_request"]["merged"] = false.into());
    assert_eq!(action("closed unmerged", &closed), PullRequestAction::Closed { merged: false });
    let reopened = edited("pull_request_opened", |v| v["action"] = "reopened".into());
    assert_eq!(action("reopened", &reopened), PullRequestAction::Reopened);
    let draft = edited("pull_request_opened", |v| v["pull_request"]["draft"] = true.into());
    let Event::PullRequest(e) = deliver("pull_request", &draft).unwrap().event else { panic!() };
    assert!(e.pull_request.draft);
}

#[test]
fn ping_and_events_terrace_does_not_handle() {
    assert_eq!(deliver("ping", &fixture("ping")).unwrap().event, Event::Ping { hook_id: Some(470356391) });
    assert_eq!(
        deliver("issues", &fixture("issues")).unwrap().event,
        Event::Unhandled { event: "issues".into(), action: None }
    );
    let assigned = edited("pull_request_opened", |v| v["action"] = "assigned".into());
    assert_eq!(
        deliver("pull_request", &assigned).unwrap().event,
        Event::Unhandled { event: "pull_request".into(), action: Some("assigned".into()) }
    );
}

#[test]
fn signatures_are_checked_before_anything_is_read() {
    let body = fixture("push");
    let unauthenticated = |result: Result<_, WebhookError>| match result {
        Err(WebhookError::Unauthenticated { forge: Forge::GitHub, reason }) => reason,
        other => panic!("{other:?}"),
    };
    // Signed with another secret.
    let wrong = webhook::github(&headers("push", Some(sign(b"another secret", &body))), &body, SECRET);
    assert!(unauthenticated(wrong).contains("does not match"));
    // One byte of the body changed after signing.
    let mut tampered = body.clone();
    let at = tampered.iter().position(|&b| b == b'9').unwrap();
    tampered[at] = b'8';
    let signed = sign(SECRET, &body);
    assert!(
        unauthenticated(webhook::github(&headers("push", Some(signed)), &tampered, SECRET)).contains("does not match")
    );
    assert!(unauthenticated(webhook::github(&headers("push", None), &body, SECRET)).contains("missing"));
    let sha1 = Some("sha1=0123456789abcdef0123456789abcdef01234567".to_string());
    assert!(unauthenticated(webhook::github(&headers("push", sha1), &body, SECRET)).contains("sha256="));
    assert!(
        unauthenticated(webhook::github(&headers("push", Some(sign(b"", &body))), &body, b""))
            .contains("no webhook secret")
    );
    // A body that is not even JSON is refused for its signature, not parsed.
    assert!(unauthenticated(webhook::github(&headers("push", None), b"{not json", SECRET)).contains("missing"));

    let mut no_event = headers("push", Some(sign(SECRET, &body)));
    no_event.remove("x-github-event");
    assert!(matches!(
        webhook::github(&no_event, &body, SECRET),
        Err(WebhookError::MissingHeader { header: "X-GitHub-Event", .. })
    ));
}

#[test]
fn malformed_bodies_name_the_field_and_the_rule_but_no_value() {
    let missing = edited("pull_request_opened", |v| {
        v["pull_request"]["head"].as_object_mut().unwrap().remove("sha");
    });
    let err = deliver("pull_request", &missing).unwrap_err().to_string();
    assert_eq!(err, "GitHub `pull_request` webhook: field `pull_request.head` is missing its field `sha`");

    let wrong_type = edited("pull_request_opened", |v| v["pull_request"]["number"] = "forty-two SECRET".into());
    let err = deliver("pull_request", &wrong_type).unwrap_err().to_string();
    assert!(err.contains("field `pull_request.number` must be u64"), "{err}");
    assert!(!err.contains("SECRET"), "a value of the body was echoed: {err}");

    let bad_sha = edited("pull_request_opened", |v| v["pull_request"]["head"]["sha"] = "not-a-sha".into());
    let err = deliver("pull_request", &bad_sha).unwrap_err().to_string();
    assert!(err.contains("`pull_request.head.sha` must be a 40- or 64-character hex commit id"), "{err}");
    assert!(!err.contains("not-a-sha"), "{err}");

    let err = deliver("push", b"{\"ref\": ").unwrap_err();
    assert!(matches!(err, WebhookError::Malformed { .. }));
    assert!(err.to_string().contains("is not valid JSON"), "{err}");

    let no_label = edited("pull_request_labeled", |v| {
        v.as_object_mut().unwrap().remove("label");
    });
    let err = deliver("pull_request", &no_label).unwrap_err().to_string();
    assert!(err.contains("field `label` must be present"), "{err}");
}
