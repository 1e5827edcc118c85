//! The GitHub client against a local listener that answers as GitHub's REST API does.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use support::{FakeApi, Injected, Kind};
use terrace_forge::{
    ApiError, ApiOptions, COMMENT_MARKER, CommitStatus, ForgeClient, GitHub, PrState, StatusState, Token,
};

const TOKEN: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

fn options() -> ApiOptions {
    ApiOptions { backoff: Duration::from_millis(1), max_wait: Duration::from_secs(5), ..ApiOptions::default() }
}

fn client(api: &FakeApi, token: &str) -> GitHub {
    GitHub::new(&api.base(), Token::new(token), options()).unwrap()
}

fn status(state: StatusState, description: &str) -> CommitStatus {
    CommitStatus {
        environment: "dev".into(),
        state,
        description: description.into(),
        target_url: Some("https://terrace.example.com/runs/0192".into()),
    }
}

#[tokio::test]
async fn one_comment_per_pull_request_is_created_then_edited_in_place() {
    let api = FakeApi::start(Kind::GitHub, TOKEN).await;
    api.state.lock().unwrap().page_size = 2;
    for i in 0..3 {
        api.seed_comment(42, &format!("LGTM {i}"), false);
    }
    let github = client(&api, TOKEN);

    let first = github.upsert_comment("acme/infra", 42, "**dev**: 1 to add").await.unwrap();
    assert!(first.created);
    let calls = api.recorded();
    let methods: Vec<_> = calls.iter().map(|c| format!("{} {}", c.method, c.path)).collect();
    assert_eq!(
        methods,
        [
            "GET /repos/acme/infra/issues/42/comments",
            "GET /repos/acme/infra/issues/42/comments",
            "POST /repos/acme/infra/issues/42/comments"
        ],
        "both pages read before creating"
    );
    let post = &calls[2];
    assert_eq!(post.body, json!({ "body": format!("{COMMENT_MARKER}\n**dev**: 1 to add") }));
    assert_eq!(post.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(post.headers["accept"], "application/vnd.github+json");
    assert_eq!(post.headers["x-github-api-version"], "2022-11-28");
    assert!(post.headers["user-agent"].starts_with("terrace/"));
    assert_eq!(post.headers["content-type"], "application/json");

    api.clear();
    let second = github.upsert_comment("acme/infra", 42, "**dev**: no changes").await.unwrap();
    assert_eq!((second.id, second.created), (first.id, false));
    let last = api.recorded().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.clone()),
        ("PATCH", format!("/repos/acme/infra/issues/comments/{}", first.id))
    );
    let ours: Vec<_> = api.comments(42).into_iter().filter(|c| c.body.contains(COMMENT_MARKER)).collect();
    assert_eq!(ours.len(), 1, "exactly one Terrace comment");
    assert_eq!(ours[0].body, format!("{COMMENT_MARKER}\n**dev**: no changes"));
    assert_eq!(api.comments(42).len(), 4);
    api.stop().await;
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_not_made_twice() {
    let api = FakeApi::start(Kind::GitHub, TOKEN).await;
    // The comment is created, but the answer is a 502.
    api.inject(Injected::new(502, "Server Error").on("POST").applied());
    let comment = ForgeClient::GitHub(client(&api, TOKEN)).upsert_comment("acme/infra", 7, "plan").await.unwrap();
    assert_eq!(api.comments(7).len(), 1, "{:?}", api.comments(7));
    assert_eq!(comment.id, api.comments(7)[0].id);
    api.stop().await;
}

#[tokio::test]
async fn commit_statuses_carry_the_environment_as_context() {
    let api = FakeApi::start(Kind::GitHub, TOKEN).await;
    let github = client(&api, TOKEN);
    github.set_status("acme/infra", SHA, &status(StatusState::Running, "planning")).await.unwrap();
    let long = "x".repeat(200);
    github.set_status("acme/infra", SHA, &status(StatusState::Success, &long)).await.unwrap();
    github.set_status("acme/infra", SHA, &status(StatusState::Cancelled, "cancelled")).await.unwrap();
    let calls = api.recorded();
    assert!(calls.iter().all(|c| c.method == "POST" && c.path == format!("/repos/acme/infra/statuses/{SHA}")));
    assert_eq!(
        calls[0].body,
        json!({"state": "pending", "context": "terrace/dev", "description": "planning", "target_url": "https://terrace.example.com/runs/0192"})
    );
    assert_eq!(calls[1].body["state"], "success");
    assert_eq!(calls[1].body["description"].as_str().unwrap().chars().count(), 140, "GitHub's limit");
    assert_eq!(calls[2].body["state"], "error");
    assert!(matches!(
        github.set_status("acme/infra", "HEAD", &status(StatusState::Success, "")).await,
        Err(ApiError::Config { .. })
    ));
    api.stop().await;
}

#[tokio::test]
async fn pull_request_state_for_the_preview_sweep() {
    let api = FakeApi::start(Kind::GitHub, TOKEN).await;
    api.state.lock().unwrap().pulls.extend([(1, ("open", false)), (2, ("closed", false)), (3, ("closed", true))]);
    let github = client(&api, TOKEN);
    let mut states = Vec::new();
    for n in 1..=4 {
        states.push(github.pull_request_state("acme/infra", n).await.unwrap());
    }
    assert_eq!(states, [PrState::Open, PrState::Closed, PrState::Merged, PrState::Missing]);
    api.stop().await;
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_with_backoff() {
    let api = FakeApi::start(Kind::GitHub, TOKEN).await;
    let github = client(&api, TOKEN);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    api.inject(Injected::new(502, "Bad Gateway"));
    // Primary rate limit, reset now.
    let limit = Injected::new(403, "API rate limit exceeded").header("x-ratelimit-remaining", 0);
    api.inject(limit.header("x-ratelimit-reset", now));
    // Secondary rate limit.
    api.inject(Injected::new(429, "You have exceeded a secondary rate limit").header("retry-after", 0));
    github.set_status("acme/infra", SHA, &status(StatusState::Success, "applied")).await.unwrap();
    assert_eq!(api.recorded().len(), 4, "three failures, then the status");

    // A limit that resets in an hour is returned, not waited for.
    api.clear();
    let limit = Injected::new(403, "API rate limit exceeded").header("x-ratelimit-remaining", 0);
    api.inject(limit.header("x-ratelimit-reset", now + 3600));
    let err = github.pull_request_state("acme/infra", 1).await.unwrap_err();
    assert!(matches!(err, ApiError::RateLimited { retry_after: Some(_), .. }), "{err:?}");
    assert!(err.retryable());
    assert_eq!(api.recorded().len(), 1);

    // A plain 403 is a permission problem: not retried.
    api.clear();
    api.inject(Injected::new(403, "Resource not accessible by integration"));
    let err = github.set_status("acme/infra", SHA, &status(StatusState::Success, "x")).await.unwrap_err();
    assert!(err.to_string().contains("403 Resource not accessible by integration"), "{err}");
    assert!(!err.retryable());
    assert_eq!(api.recorded().len(), 1);

    // Server errors that last give up after the configured retries.
    api.clear();
    for _ in 0..10 {
        api.inject(Injected::new(503, "Service Unavailable"));
    }
    let err = github.pull_request_state("acme/infra", 1).await.unwrap_err();
    assert!(matches!(err, ApiError::Status { status: 503, .. }), "{err:?}");
    assert_eq!(api.recorded().len(), 5, "the first try and four retries");
    api.stop().await;
}

#[tokio::test]
async fn a_bad_token_is_an_error_that_never_shows_it() {
    let api = FakeApi::start(Kind::GitHub, TOKEN).await;
    let wrong = "ghp_wrongWRONGwrongWRONGwrongWRONG0000";
    let github = client(&api, wrong);
    assert!(!format!("{github:?}").contains(wrong));
    let err = github.upsert_comment("acme/infra", 1, "x").await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("401 Bad credentials (check the token"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");
    assert_eq!(api.recorded().len(), 1, "a 401 is not retried");

    let err = GitHub::new("ftp://example.com", Token::new(wrong), options()).unwrap_err();
    assert!(matches!(err, ApiError::Config { .. }));
    let err = github.upsert_comment("acme", 1, "x").await.unwrap_err();
    assert!(err.to_string().contains("is not `OWNER/REPO`"), "{err}");
    api.stop().await;
}

#[tokio::test]
async fn an_unreachable_api_is_a_transport_error() {
    // Bind then drop a listener: nothing answers on that port.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let options = ApiOptions { max_retries: 1, ..options() };
    let github = GitHub::new(&format!("http://{addr}"), Token::new(TOKEN), options).unwrap();
    let err = github.pull_request_state("acme/infra", 1).await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
    assert!(err.retryable());
    assert!(!err.to_string().contains(TOKEN));
}
