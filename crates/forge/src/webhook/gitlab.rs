//! GitLab's `Push Hook`, `Tag Push Hook` and `Merge Request Hook` payloads (as GitLab
//! documents them under "Webhook events"), read into Terrace's events. An `update` of a
//! merge request carries `oldrev` only when its commits changed.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{WebhookError, check_nonempty, check_sha, decode, split_full_name};
use crate::event::{Event, Forge, PullRequest, PullRequestAction, PullRequestEvent, Push, Repository};

const FORGE: Forge = Forge::GitLab;
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

#[derive(Deserialize)]
struct PushBody {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    user_username: Option<String>,
    user_name: Option<String>,
    project: Project,
}

#[derive(Deserialize)]
struct Project {
    id: u64,
    path_with_namespace: String,
    web_url: String,
    git_http_url: String,
    git_ssh_url: Option<String>,
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct MergeRequestBody {
    user: User,
    project: Project,
    object_attributes: Attributes,
    labels: Option<Vec<Label>>,
    #[serde(default)]
    changes: Map<String, Value>,
}

#[derive(Deserialize)]
struct ActionOnly {
    object_attributes: ActionField,
}

#[derive(Deserialize)]
struct ActionField {
    action: Option<String>,
}

#[derive(Deserialize)]
struct Attributes {
    iid: u64,
    title: String,
    source_branch: String,
    target_branch: String,
    action: Option<String>,
    oldrev: Option<String>,
    last_commit: Commit,
    draft: Option<bool>,
    work_in_progress: Option<bool>,
    url: String,
    source: Option<SourceProject>,
    labels: Option<Vec<Label>>,
}

#[derive(Deserialize)]
struct Commit {
    id: String,
}

#[derive(Deserialize)]
struct SourceProject {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
struct Label {
    title: String,
}

/// `event` is the `X-Gitlab-Event` header.
pub(super) fn parse(event: &str, body: &[u8]) -> Result<Event, WebhookError> {
    match event {
        "Push Hook" | "Tag Push Hook" => push(event, decode(FORGE, event, body)?).map(Event::Push),
        "Merge Request Hook" => {
            let action = decode::<ActionOnly>(FORGE, event, body)?.object_attributes.action;
            if !matches!(action.as_deref(), Some("open" | "reopen" | "update" | "close" | "merge")) {
                return Ok(Event::Unhandled { event: event.into(), action });
            }
            merge_request(event, decode(FORGE, event, body)?).map(Event::PullRequest)
        }
        _ => Ok(Event::Unhandled { event: event.into(), action: None }),
    }
}

fn push(event: &str, body: PushBody) -> Result<Push, WebhookError> {
    check_nonempty(FORGE, event, "ref", &body.git_ref)?;
    check_sha(FORGE, event, "before", &body.before)?;
    check_sha(FORGE, event, "after", &body.after)?;
    Ok(Push {
        repository: repository(body.project),
        created: body.before == ZERO_SHA,
        deleted: body.after == ZERO_SHA,
        git_ref: body.git_ref,
        before: body.before,
        after: body.after,
        pusher: body.user_username.or(body.user_name).unwrap_or_default(),
    })
}

fn merge_request(event: &str, body: MergeRequestBody) -> Result<PullRequestEvent, WebhookError> {
    let mr = body.object_attributes;
    check_sha(FORGE, event, "object_attributes.last_commit.id", &mr.last_commit.id)?;
    check_nonempty(FORGE, event, "object_attributes.source_branch", &mr.source_branch)?;
    check_nonempty(FORGE, event, "object_attributes.target_branch", &mr.target_branch)?;
    if let Some(oldrev) = &mr.oldrev {
        check_sha(FORGE, event, "object_attributes.oldrev", oldrev)?;
    }
    let action = match mr.action.as_deref() {
        Some("open") => PullRequestAction::Opened,
        Some("reopen") => PullRequestAction::Reopened,
        Some("close") => PullRequestAction::Closed { merged: false },
        Some("merge") => PullRequestAction::Closed { merged: true },
        _ if mr.oldrev.is_some() => PullRequestAction::Synchronized { before: mr.oldrev.clone() },
        _ => match draft_change(&body.changes) {
            Some(true) => PullRequestAction::ConvertedToDraft,
            Some(false) => PullRequestAction::ReadyForReview,
            None => PullRequestAction::Edited { labels_changed: body.changes.contains_key("labels") },
        },
    };
    let labels = body.labels.or(mr.labels).unwrap_or_default();
    Ok(PullRequestEvent {
        action,
        pull_request: PullRequest {
            repository: repository(body.project),
            number: mr.iid,
            title: mr.title,
            head_sha: mr.last_commit.id,
            head_ref: mr.source_branch,
            head_repository: mr.source.map(|s| s.path_with_namespace),
            base_ref: mr.target_branch,
            draft: mr.draft.or(mr.work_in_progress).unwrap_or(false),
            labels: labels.into_iter().map(|l| l.title).collect(),
            web_url: mr.url,
        },
        sender: body.user.username,
    })
}

/// The new draft state when the update changed it (`draft`, or `work_in_progress`
/// before GitLab 14).
fn draft_change(changes: &Map<String, Value>) -> Option<bool> {
    ["draft", "work_in_progress"].iter().find_map(|key| changes.get(*key)?.get("current")?.as_bool())
}

fn repository(project: Project) -> Repository {
    // `name` in the payload is the display name; the path's last segment is the one URLs use.
    let (owner, name) = split_full_name(&project.path_with_namespace);
    Repository {
        forge: FORGE,
        id: project.id,
        full_name: project.path_with_namespace,
        owner,
        name,
        web_url: project.web_url,
        clone_url: project.git_http_url,
        ssh_url: project.git_ssh_url,
        default_branch: project.default_branch,
    }
}
