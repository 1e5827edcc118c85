//! `/hooks/github` and `/hooks/gitlab` on the real server, with deliveries in the shapes
//! GitHub and GitLab send, signed as they sign them: 202 and kept once per delivery id
//! (a redelivery is a duplicate), 202 ignored for events Terrace does not act on, 401 for
//! a bad signature or token (the body never in the log), 400 for a malformed body; the
//! settings named as the configuration contract names them.

use crate::support::{Fixture, GITLAB_TOKEN, SECRET, Server, fixture, github, gitlab, one_job_project, sign};

fn project() -> Fixture {
    one_job_project("echo hi\n")
}

#[test]
fn github_deliveries_are_verified_kept_once_and_answered_at_once() {
    let f = project();
    let server = Server::start_with_env(
        &f.project(),
        &f.data(),
        &["--github-api-url", "http://127.0.0.1:9/"],
        &[("TERRACE_GITHUB_WEBHOOK_SECRET", SECRET)],
    );
    let push = fixture("github", "push");

    let (status, answer) = github(&server, "push", "d-1", &push, Some(sign(&push)));
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "queued");
    assert_eq!(answer["delivery"], "github:d-1");
    assert!(answer["event"].as_str().unwrap().starts_with("push "), "{answer}");

    let (status, again) = github(&server, "push", "d-1", &push, Some(sign(&push)));
    assert_eq!((status, again["status"].as_str()), (202, Some("duplicate")), "a redelivery does nothing twice");

    // Events Terrace does not act on: 202, ignored, not kept.
    let ping = fixture("github", "ping");
    let (status, answer) = github(&server, "ping", "d-2", &ping, Some(sign(&ping)));
    assert_eq!((status, answer["status"].as_str()), (202, Some("ignored")));
    let issues = fixture("github", "issues");
    let (status, answer) = github(&server, "issues", "d-3", &issues, Some(sign(&issues)));
    assert_eq!((status, answer["status"].as_str()), (202, Some("ignored")));

    // A wrong or missing signature: 401, and nothing of the body reaches the log.
    let mut forged = push.clone();
    let marker = b"\"ref\": \"refs/heads/";
    let at = forged.windows(marker.len()).position(|w| w == marker).expect("a ref in the push fixture");
    forged.splice(at..at + marker.len(), b"\"ref\":\"refs/heads/x-secret-marker-".iter().copied());
    let (status, answer) = github(&server, "push", "d-4", &forged, Some(sign(&push)));
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or("").contains("X-Hub-Signature-256"), "{answer}");
    let (status, _) = github(&server, "push", "d-5", &push, None);
    assert_eq!(status, 401);
    assert!(!server.log().contains("x-secret-marker"), "the body of a refused delivery was logged");

    // A body that is not the documented shape: 400 naming the field, signed or not.
    let broken = br#"{"ref": 42}"#;
    let (status, answer) = github(&server, "push", "d-6", broken, Some(sign(broken)));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("field"), "{answer}");
}

#[test]
fn gitlab_deliveries_need_the_token_and_a_server_without_secrets_refuses_all() {
    let f = project();
    let server = Server::start(&f.project(), &f.data(), &["--gitlab-webhook-token", GITLAB_TOKEN]);
    let push = fixture("gitlab", "push");
    let (status, answer) = gitlab(&server, "Push Hook", "u-1", &push, GITLAB_TOKEN);
    assert_eq!((status, answer["status"].as_str()), (202, Some("queued")), "{answer}");
    let (status, answer) = gitlab(&server, "Push Hook", "u-1", &push, GITLAB_TOKEN);
    assert_eq!((status, answer["status"].as_str()), (202, Some("duplicate")), "{answer}");
    let (status, _) = gitlab(&server, "Push Hook", "u-2", &push, "wrong-token");
    assert_eq!(status, 401);
    // No GitHub secret configured: every GitHub delivery is refused.
    let body = fixture("github", "push");
    let (status, answer) = github(&server, "push", "d-1", &body, Some(sign(&body)));
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("github-webhook-secret"), "{answer}");
}
