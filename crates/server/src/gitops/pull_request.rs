//! A pull request opened, reopened or given new commits: a `plan` (never an apply) of
//! every environment that follows the pull request's base branch, at its head commit;
//! then one comment on the pull request, updated in place (pending, then per environment
//! and job: what the plan would add, change and destroy, no changes, or the error), and a
//! commit status per environment (pending, then success or failure). While the plans
//! run, the delivery waits in the queue (`HandleError::Wait`), holding no worker.

use std::time::Duration;

use serde_json::{Value, json};
use terrace_forge::{
    ApiOptions, CommitStatus, ForgeClient, GitHub, GitLab, PullRequestAction, PullRequestEvent, StatusState, Token,
};
use terrace_model::Event;
use terrace_store::Origin;
use terrace_store::control::{NewRequest, ProjectRecord, RequestId, RequestRecord};

use super::comment::{self, Planned};
use super::links::Links;
use super::newest;
use super::pipelines::trigger;
use super::{HandleError, Steps};
use crate::app::{App, projects};

/// How often the plans of a pull request are looked at while they run.
const RECHECK: Duration = Duration::from_secs(1);

pub(super) async fn handle(
    app: &App,
    event: &PullRequestEvent,
    following: &[ProjectRecord],
    steps: &mut Steps,
) -> Result<Value, HandleError> {
    let planned_on = matches!(
        event.action,
        PullRequestAction::Opened | PullRequestAction::Reopened | PullRequestAction::Synchronized { .. }
    );
    if !planned_on || following.is_empty() {
        return Ok(Value::Null);
    }
    let pr = &event.pull_request;
    let mut planned = Vec::new();
    for record in following {
        planned.extend(queue_plans(app, event, record, steps).await?);
    }
    let client = client(app, event.pull_request.repository.forge);
    let links = Links::new(app.settings.forges.public_url.as_deref());
    if steps.get("pending").is_none() {
        if let Some(client) = &client {
            let comment = !newest::superseded(app, pr, &planned).await?;
            report(client, event, &planned, &[], true, comment, &links).await?;
        }
        steps.record("pending", json!(true)).await?;
    }
    let mut requests = Vec::new();
    for p in &planned {
        requests.push(app.store.get_request(p.request).await?);
    }
    if requests.iter().any(|r| r.as_ref().is_some_and(|r| !r.state.is_final())) {
        return Err(HandleError::Wait(RECHECK));
    }
    let finished: Vec<Option<RequestRecord>> = requests;
    // A newer head's plans may have finished first: the comment stays theirs.
    let superseded = newest::superseded(app, pr, &planned).await?;
    let comment = match &client {
        Some(client) => report(client, event, &planned, &finished, false, !superseded, &links).await?,
        None => None,
    };
    let plans: Vec<Value> = planned
        .iter()
        .zip(&finished)
        .map(|(p, r)| {
            json!({
                "project": p.project, "environment": p.environment, "request": p.request,
                "state": r.as_ref().map(|r| r.state.as_str()),
            })
        })
        .collect();
    Ok(json!({
        "pull_request": pr.number, "head": pr.head_sha, "plans": plans,
        "comment": comment, "reported": client.is_some(), "superseded": superseded,
    }))
}

/// Queues (once, whatever the retries) a plan at the head commit for each environment of
/// `record` that follows the base branch.
async fn queue_plans(
    app: &App,
    event: &PullRequestEvent,
    record: &ProjectRecord,
    steps: &mut Steps,
) -> Result<Vec<Planned>, HandleError> {
    let pr = &event.pull_request;
    let loaded = projects::load_at(app, &record.name, Some(&pr.head_sha)).await?;
    let mut planned = Vec::new();
    let followers = loaded.project.environments.iter().filter(|(_, e)| e.branch.as_deref() == Some(&pr.base_ref));
    for (env, _) in followers {
        let step = format!("plan:{}/{env}", record.name);
        let id = match steps.get(&step).and_then(|v| v.as_str()).and_then(|s| s.parse::<RequestId>().ok()) {
            Some(id) => id,
            None => {
                let req = NewRequest {
                    id: RequestId::new(),
                    project: record.name.clone(),
                    environment: env.clone(),
                    event: Event::Plan,
                    job: None,
                    args: vec![],
                    requested_by: trigger(&event.sender),
                    max_attempts: app.settings.max_attempts,
                    origin: Origin {
                        repository: Some(pr.repository.slug()),
                        pull_request: Some(pr.number),
                        command: Some("plan".into()),
                        commit: Some(pr.head_sha.clone()),
                        ..Default::default()
                    },
                    saved_plan: None,
                };
                let Some(r) = app.store.enqueue_request(req).await? else {
                    tracing::info!(project = %record.name, environment = %env, "a delete is pending: no plan");
                    continue;
                };
                app.wake_scheduler.notify_one();
                steps.record(&step, json!(r.id.to_string())).await?;
                r.id
            }
        };
        planned.push(Planned { project: record.name.clone(), environment: env.clone(), request: id });
    }
    Ok(planned)
}

/// The forge's API client, when its token is configured.
fn client(app: &App, forge: terrace_forge::Forge) -> Option<ForgeClient> {
    let f = &app.settings.forges;
    let made = match forge {
        terrace_forge::Forge::GitHub => f.github_token.as_ref().map(|t| {
            GitHub::new(&f.github_api_url, Token::new(t.clone()), ApiOptions::default()).map(ForgeClient::GitHub)
        }),
        terrace_forge::Forge::GitLab => f.gitlab_token.as_ref().map(|t| {
            GitLab::new(&f.gitlab_api_url, Token::new(t.clone()), ApiOptions::default()).map(ForgeClient::GitLab)
        }),
    };
    match made {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot call the forge's API: no comment nor status");
            None
        }
        None => {
            tracing::info!(forge = %forge, "no API token configured: plans are not reported on the pull request");
            None
        }
    }
}

/// Writes one commit status per environment and, unless a newer plan of the pull request
/// owns it (`comment` false), the comment; returns the comment's id when written.
async fn report(
    client: &ForgeClient,
    event: &PullRequestEvent,
    planned: &[Planned],
    finished: &[Option<RequestRecord>],
    pending: bool,
    comment: bool,
    links: &Links,
) -> Result<Option<u64>, HandleError> {
    let pr = &event.pull_request;
    let repo = &pr.repository.full_name;
    let api = |e: terrace_forge::ApiError| {
        if e.retryable() { HandleError::Retry(e.to_string()) } else { HandleError::Fail(e.to_string()) }
    };
    for (i, p) in planned.iter().enumerate() {
        let request = finished.get(i).and_then(Option::as_ref);
        let (state, description) = match (pending, request) {
            (true, _) | (false, None) => (StatusState::Pending, "planning".to_string()),
            (false, Some(r)) => comment::status_of(r),
        };
        let target_url = links.request(&p.request.to_string());
        let status = CommitStatus { environment: p.environment.clone(), state, description, target_url };
        client.set_status(repo, &pr.head_sha, &status).await.map_err(api)?;
    }
    if !comment {
        tracing::info!(pull_request = pr.number, head = %pr.head_sha, "a newer plan of the pull request owns its comment");
        return Ok(None);
    }
    let body = comment::render(pr, planned, finished, pending, links);
    Ok(Some(client.upsert_comment(repo, pr.number, &body).await.map_err(api)?.id))
}
