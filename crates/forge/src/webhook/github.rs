//! GitHub's `ping`, `push` and `pull_request` payloads (as GitHub documents them under
//! "Webhook events and payloads"), read into Terrace's events.

use serde::Deserialize;

use super::{WebhookError, check_nonempty, check_sha, decode, split_full_name};
use crate::event::{Event, Forge, PullRequest, PullRequestAction, PullRequestEvent, Push, Repository};

const FORGE: Forge = Forge::GitHub;

#[derive(Deserialize)]
struct Ping {
    hook_id: Option<u64>,
}

#[derive(Deserialize)]
struct PushBody {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    deleted: bool,
    repository: Repo,
    pusher: Pusher,
}

#[derive(Deserialize)]
struct Pusher {
    name: String,
}

#[derive(Deserialize)]
struct Repo {
    id: u64,
    name: String,
    full_name: String,
    html_url: String,
    clone_url: String,
    ssh_url: Option<String>,
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct ActionOnly {
    action: String,
}

#[derive(Deserialize)]
struct PullRequestBody {
    action: String,
    pull_request: Pr,
    repository: Repo,
    sender: User,
    label: Option<Label>,
    before: Option<String>,
}

#[derive(Deserialize)]
struct Pr {
    number: u64,
    title: String,
    #[serde(default)]
    draft: bool,
    merged: Option<bool>,
    html_url: String,
    #[serde(default)]
    labels: Vec<Label>,
    head: Branch,
    base: Branch,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    /// Null when the fork the head lives in was deleted.
    repo: Option<RepoName>,
}

#[derive(Deserialize)]
struct RepoName {
    full_name: String,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

/// `event` is the `X-GitHub-Event` header.
pub(super) fn parse(event: &str, body: &[u8]) -> Result<Event, WebhookError> {
    match event {
        "ping" => Ok(Event::Ping { hook_id: decode::<Ping>(FORGE, event, body)?.hook_id }),
        "push" => push(decode(FORGE, event, body)?).map(Event::Push),
        "pull_request" => {
            let action = decode::<ActionOnly>(FORGE, event, body)?.action;
            if !HANDLED.contains(&action.as_str()) {
                return Ok(Event::Unhandled { event: event.into(), action: Some(action) });
            }
            pull_request(decode(FORGE, event, body)?).map(Event::PullRequest)
        }
        _ => Ok(Event::Unhandled { event: event.into(), action: None }),
    }
}

const HANDLED: &[&str] =
    &["opened", "reopened", "synchronize", "labeled", "unlabeled", "closed", "ready_for_review", "converted_to_draft"];

fn push(body: PushBody) -> Result<Push, WebhookError> {
    let event = "push";
    check_nonempty(FORGE, event, "ref", &body.git_ref)?;
    check_sha(FORGE, event, "before", &body.before)?;
    check_sha(FORGE, event, "after", &body.after)?;
    Ok(Push {
        repository: repository(body.repository, event)?,
        git_ref: body.git_ref,
        before: body.before,
        after: body.after,
        pusher: body.pusher.name,
        created: body.created,
        deleted: body.deleted,
    })
}

fn pull_request(body: PullRequestBody) -> Result<PullRequestEvent, WebhookError> {
    let event = "pull_request";
    let pr = body.pull_request;
    check_sha(FORGE, event, "pull_request.head.sha", &pr.head.sha)?;
    check_nonempty(FORGE, event, "pull_request.head.ref", &pr.head.git_ref)?;
    check_nonempty(FORGE, event, "pull_request.base.ref", &pr.base.git_ref)?;
    let label = |field| {
        body.label
            .as_ref()
            .map(|l| l.name.clone())
            .ok_or_else(|| super::malformed(FORGE, event, field, "must be present for a labeled or unlabeled action"))
    };
    let action = match body.action.as_str() {
        "opened" => PullRequestAction::Opened,
        "reopened" => PullRequestAction::Reopened,
        "synchronize" => PullRequestAction::Synchronized { before: body.before.clone() },
        "labeled" => PullRequestAction::Labeled { label: label("label")? },
        "unlabeled" => PullRequestAction::Unlabeled { label: label("label")? },
        "ready_for_review" => PullRequestAction::ReadyForReview,
        "converted_to_draft" => PullRequestAction::ConvertedToDraft,
        // `merged` is documented on every closed pull request; absent reads as not merged.
        _ => PullRequestAction::Closed { merged: pr.merged.unwrap_or(false) },
    };
    Ok(PullRequestEvent {
        action,
        pull_request: PullRequest {
            repository: repository(body.repository, event)?,
            number: pr.number,
            title: pr.title,
            head_sha: pr.head.sha,
            head_ref: pr.head.git_ref,
            head_repository: pr.head.repo.map(|r| r.full_name),
            base_ref: pr.base.git_ref,
            draft: pr.draft,
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
            web_url: pr.html_url,
        },
        sender: body.sender.login,
    })
}

fn repository(repo: Repo, event: &str) -> Result<Repository, WebhookError> {
    if repo.full_name.split('/').count() != 2 || repo.full_name.split('/').any(str::is_empty) {
        return Err(super::malformed(FORGE, event, "repository.full_name", "must be `OWNER/REPO`"));
    }
    let (owner, _) = split_full_name(&repo.full_name);
    Ok(Repository {
        forge: FORGE,
        id: repo.id,
        full_name: repo.full_name,
        owner,
        name: repo.name,
        web_url: repo.html_url,
        clone_url: repo.clone_url,
        ssh_url: repo.ssh_url,
        default_branch: repo.default_branch,
    })
}
