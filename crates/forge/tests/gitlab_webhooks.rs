//! GitLab deliveries in the documented shapes, with the headers GitLab sends
//! (`X-Gitlab-Token` is the webhook's secret token, sent as is).

use http::HeaderMap;
use serde_json::Value;
use terrace_forge::webhook::{self, WebhookError};
use terrace_forge::{Event, Forge, PullRequestAction};

const TOKEN: &str = "glwt-7f3c2a9e1b";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/gitlab/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

fn headers(event: &str, token: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("user-agent", "GitLab/17.6.0".parse().unwrap());
    h.insert("x-gitlab-event", event.parse().unwrap());
    h.insert("x-gitlab-webhook-uuid", "3c5c0404-c866-44bc-a5f6-452bb1bfc76e".parse().unwrap());
    h.insert("x-gitlab-instance", "https://gitlab.com".parse().unwrap());
    h.insert("x-gitlab-event-uuid", "13792a34-cac6-4fda-95a8-c58e00a3954e".parse().unwrap());
    h.insert("idempotency-key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f".parse().unwrap());
    if let Some(token) = token {
        h.insert("x-gitlab-token", token.parse().unwrap());
    }
    h
}

fn deliver(event: &str, body: &[u8]) -> Result<terrace_forge::Delivery, WebhookError> {
    webhook::gitlab(&headers(event, Some(TOKEN)), body, TOKEN)
}

fn action(body: &[u8]) -> PullRequestAction {
    match deliver("Merge Request Hook", body).unwrap().event {
        Event::PullRequest(e) => e.action,
        other => panic!("{other:?}"),
    }
}

#[test]
fn push_hooks_are_read_with_the_idempotency_key() {
    let delivery = deliver("Push Hook", &fixture("push")).unwrap();
    assert_eq!(delivery.dedup_key().as_deref(), Some("gitlab:f5e5f430-f57b-4e6e-9fac-d9128cd7232f"));
    let Event::Push(push) = delivery.event else { panic!() };
    assert_eq!(push.branch(), Some("main"));
    assert_eq!(push.after, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(push.pusher, "jsmith");
    assert_eq!(push.repository.full_name, "acme/platform/infra");
    assert_eq!((push.repository.owner.as_str(), push.repository.name.as_str()), ("acme/platform", "infra"));
    assert_eq!(push.repository.slug(), "gitlab.com/acme/platform/infra");
    assert_eq!(push.repository.id, 15);

    // Older GitLab sends only X-Gitlab-Event-UUID.
    let mut old = headers("Push Hook", Some(TOKEN));
    old.remove("idempotency-key");
    let delivery = webhook::gitlab(&old, &fixture("push"), TOKEN).unwrap();
    assert_eq!(delivery.id.as_deref(), Some("13792a34-cac6-4fda-95a8-c58e00a3954e"));

    let created = edited("push", |v| v["before"] = "0000000000000000000000000000000000000000".into());
    let Event::Push(push) = deliver("Push Hook", &created).unwrap().event else { panic!() };
    assert!(push.created && !push.deleted);
    let tag = edited("push", |v| {
        v["object_kind"] = "tag_push".into();
        v["ref"] = "refs/tags/v1.2.0".into();
    });
    let Event::Push(push) = deliver("Tag Push Hook", &tag).unwrap().event else { panic!() };
    assert_eq!(push.tag(), Some("v1.2.0"));
}

#[test]
fn merge_request_hooks_are_read() {
    let Event::PullRequest(event) = deliver("Merge Request Hook", &fixture("merge_request_open")).unwrap().event else {
        panic!()
    };
    assert_eq!(event.action, PullRequestAction::Opened);
    assert_eq!(event.sender, "root");
    let mr = &event.pull_request;
    assert_eq!(mr.number, 7);
    assert_eq!(mr.head_sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!((mr.head_ref.as_str(), mr.base_ref.as_str()), ("feature/cache", "main"));
    assert_eq!(mr.labels, ["preview"]);
    assert!(!mr.draft);
    assert_eq!(mr.repository.full_name, "acme/platform/infra");
    assert_eq!(mr.web_url, "https://gitlab.com/acme/platform/infra/-/merge_requests/7");

    for (name, merged) in [("close", false), ("merge", true)] {
        let body = edited("merge_request_open", |v| v["object_attributes"]["action"] = name.into());
        assert_eq!(action(&body), PullRequestAction::Closed { merged });
    }
    let reopen = edited("merge_request_open", |v| v["object_attributes"]["action"] = "reopen".into());
    assert_eq!(action(&reopen), PullRequestAction::Reopened);
    let draft = edited("merge_request_open", |v| {
        v["object_attributes"]["draft"] = true.into();
    });
    let Event::PullRequest(e) = deliver("Merge Request Hook", &draft).unwrap().event else { panic!() };
    assert!(e.pull_request.draft);
}

#[test]
fn an_update_says_whether_commits_changed() {
    let commits = fixture("merge_request_update_commits");
    assert_eq!(
        action(&commits),
        PullRequestAction::Synchronized { before: Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into()) }
    );
    let Event::PullRequest(e) = deliver("Merge Request Hook", &commits).unwrap().event else { panic!() };
    assert_eq!(e.pull_request.head_sha, "5a5e7f11c2b8f1d1c0e3f0f7f4fbd3a9b7d9c6e2");

    // Labels edited, no new commit: nothing to redeploy, but the label filters change.
    let labels = fixture("merge_request_update_labels");
    assert_eq!(action(&labels), PullRequestAction::Edited { labels_changed: true });
    let Event::PullRequest(e) = deliver("Merge Request Hook", &labels).unwrap().event else { panic!() };
    assert_eq!(e.pull_request.labels, ["preview", "wip"]);
    let title = edited("merge_request_update_labels", |v| {
        v["changes"] = serde_json::json!({"title": {"previous": "old", "current": "new"}});
    });
    assert_eq!(action(&title), PullRequestAction::Edited { labels_changed: false });
    let ready = edited("merge_request_update_labels", |v| {
        v["changes"] = serde_json::json!({"draft": {"previous": true, "current": false}});
    });
    assert_eq!(action(&ready), PullRequestAction::ReadyForReview);
}

#[test]
fn hooks_and_actions_terrace_does_not_handle() {
    let approved = edited("merge_request_open", |v| v["object_attributes"]["action"] = "approved".into());
    assert_eq!(
        deliver("Merge Request Hook", &approved).unwrap().event,
        Event::Unhandled { event: "Merge Request Hook".into(), action: Some("approved".into()) }
    );
    assert_eq!(
        deliver("Note Hook", b"{\"object_kind\":\"note\"}").unwrap().event,
        Event::Unhandled { event: "Note Hook".into(), action: None }
    );
}

#[test]
fn the_token_is_checked_and_bodies_never_echoed() {
    let body = fixture("push");
    for (token, reason) in [(Some("wrong"), "does not match"), (None, "missing"), (Some(""), "missing")] {
        match webhook::gitlab(&headers("Push Hook", token), &body, TOKEN) {
            Err(WebhookError::Unauthenticated { forge: Forge::GitLab, reason: r }) => {
                assert!(r.contains(reason), "{r}")
            }
            other => panic!("{token:?}: {other:?}"),
        }
    }
    assert!(matches!(
        webhook::gitlab(&headers("Push Hook", Some("")), &body, ""),
        Err(WebhookError::Unauthenticated { .. })
    ));
    let mut no_event = headers("Push Hook", Some(TOKEN));
    no_event.remove("x-gitlab-event");
    assert!(matches!(webhook::gitlab(&no_event, &body, TOKEN), Err(WebhookError::MissingHeader { .. })));

    let no_commit = edited("merge_request_open", |v| {
        v["object_attributes"]["last_commit"].as_object_mut().unwrap().remove("id");
    });
    let err = deliver("Merge Request Hook", &no_commit).unwrap_err().to_string();
    assert_eq!(
        err,
        "GitLab `Merge Request Hook` webhook: field `object_attributes.last_commit` is missing its field `id`"
    );
    let secret_ref = edited("push", |v| v["ref"] = serde_json::json!({"leak": "SECRET-VALUE"}));
    let err = deliver("Push Hook", &secret_ref).unwrap_err().to_string();
    assert!(err.contains("field `ref` must be a string"), "{err}");
    assert!(!err.contains("SECRET-VALUE"), "{err}");
}
