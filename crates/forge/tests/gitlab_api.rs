//! The GitLab client against a local listener that answers as GitLab's REST API (v4) does.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{FakeApi, Injected, Kind};
use terrace_forge::{ApiOptions, COMMENT_MARKER, CommitStatus, ForgeClient, GitLab, PrState, StatusState, Token};

const TOKEN: &str = "glpat-xR4nd0mT0k3nV4lu3";
const SHA: &str = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const PROJECT: &str = "acme/platform/infra";
const ENCODED: &str = "acme%2Fplatform%2Finfra";

fn client(api: &FakeApi) -> GitLab {
    let options = ApiOptions { backoff: Duration::from_millis(1), ..ApiOptions::default() };
    GitLab::new(&api.base(), Token::new(TOKEN), options).unwrap()
}

#[tokio::test]
async fn one_note_per_merge_request_is_created_then_edited_in_place() {
    let api = FakeApi::start(Kind::GitLab, TOKEN).await;
    api.state.lock().unwrap().page_size = 2;
    api.seed_comment(7, "Looks good", false);
    // GitLab's own notes ("added 1 commit") are system notes, never Terrace's even with the marker.
    api.seed_comment(7, &format!("{COMMENT_MARKER} quoted"), true);
    api.seed_comment(7, "one more", false);
    let gitlab = client(&api);

    let first = gitlab.upsert_comment(PROJECT, 7, "**pr-1a2b3c4d**: deploying").await.unwrap();
    assert!(first.created);
    let calls = api.recorded();
    let lines: Vec<_> = calls.iter().map(|c| format!("{} {}", c.method, c.path)).collect();
    let notes = format!("/api/v4/projects/{ENCODED}/merge_requests/7/notes");
    assert_eq!(lines, [format!("GET {notes}"), format!("GET {notes}"), format!("POST {notes}")]);
    assert!(calls[0].query.contains("per_page=100") && calls[1].query.contains("page=2"), "{:?}", calls[1].query);
    assert_eq!(calls[2].body, json!({ "body": format!("{COMMENT_MARKER}\n**pr-1a2b3c4d**: deploying") }));
    assert_eq!(calls[2].headers["authorization"], format!("Bearer {TOKEN}"));

    api.clear();
    let second = gitlab.upsert_comment(PROJECT, 7, "**pr-1a2b3c4d**: running").await.unwrap();
    assert_eq!((second.id, second.created), (first.id, false));
    let last = api.recorded().pop().unwrap();
    assert_eq!((last.method.as_str(), last.path.clone()), ("PUT", format!("{notes}/{}", first.id)));
    let ours: Vec<_> = api.comments(7).into_iter().filter(|n| !n.system && n.body.contains(COMMENT_MARKER)).collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].body, format!("{COMMENT_MARKER}\n**pr-1a2b3c4d**: running"));
    api.stop().await;
}

#[tokio::test]
async fn commit_statuses_are_named_after_the_environment() {
    let api = FakeApi::start(Kind::GitLab, TOKEN).await;
    let forge = ForgeClient::GitLab(client(&api));
    let status = |state| CommitStatus {
        environment: "pr-1a2b3c4d".into(),
        state,
        description: "plan: 1 to add".into(),
        target_url: None,
    };
    forge.set_status(PROJECT, SHA, &status(StatusState::Running)).await.unwrap();
    // Setting the state it already has is refused by GitLab with a 400; that is success.
    forge.set_status(PROJECT, SHA, &status(StatusState::Running)).await.unwrap();
    forge.set_status(PROJECT, SHA, &status(StatusState::Failure)).await.unwrap();
    forge.set_status(PROJECT, SHA, &status(StatusState::Cancelled)).await.unwrap();
    let calls = api.recorded();
    assert!(calls.iter().all(|c| c.method == "POST" && c.path == format!("/api/v4/projects/{ENCODED}/statuses/{SHA}")));
    assert_eq!(
        calls[0].body,
        json!({"state": "running", "name": "terrace/pr-1a2b3c4d", "description": "plan: 1 to add"})
    );
    let states: Vec<_> = calls.iter().map(|c| c.body["state"].as_str().unwrap().to_string()).collect();
    assert_eq!(states, ["running", "running", "failed", "canceled"]);
    api.stop().await;
}

#[tokio::test]
async fn merge_request_state_and_retries() {
    let api = FakeApi::start(Kind::GitLab, TOKEN).await;
    api.state.lock().unwrap().pulls.extend([
        (1, ("opened", false)),
        (2, ("merged", true)),
        (3, ("closed", false)),
        (4, ("locked", false)),
    ]);
    let gitlab = client(&api);
    let mut states = Vec::new();
    for iid in 1..=5 {
        states.push(gitlab.pull_request_state(PROJECT, iid).await.unwrap());
    }
    assert_eq!(states, [PrState::Open, PrState::Merged, PrState::Closed, PrState::Open, PrState::Missing]);

    api.clear();
    api.inject(Injected::new(429, "Retry later").header("retry-after", 0));
    api.inject(Injected::new(500, "500 Internal Server Error"));
    assert_eq!(gitlab.pull_request_state(PROJECT, 1).await.unwrap(), PrState::Open);
    assert_eq!(api.recorded().len(), 3);

    // A numeric project id works the same.
    api.clear();
    gitlab.pull_request_state("15", 1).await.unwrap();
    assert_eq!(api.recorded()[0].path, "/api/v4/projects/15/merge_requests/1");
    api.stop().await;
}
