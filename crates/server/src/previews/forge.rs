//! What the previews tell the forge: the pull request's one comment, rewritten in place,
//! and a commit status per push. A forge that cannot be reached never holds a preview
//! back: the failure is logged (without the token) and the next change tries again.

use terrace_forge::{
    ApiOptions, CommitStatus, ForgeClient, GitHub, GitLab, PREVIEW_COMMENT_MARKER, StatusState, Token,
};
use terrace_store::{PreviewRecord, RunRecord};

use super::comment::{self, CommentFacts};
use crate::app::App;

/// The API client of the preview's forge, when its token is configured.
pub(super) fn client(app: &App, forge: &str) -> Option<ForgeClient> {
    let f = &app.settings.forges;
    let options = ApiOptions::default();
    let made = match forge {
        "github" => f
            .github_token
            .as_ref()
            .map(|t| GitHub::new(&f.github_api_url, Token::new(t.clone()), options).map(ForgeClient::GitHub)),
        "gitlab" => f
            .gitlab_token
            .as_ref()
            .map(|t| GitLab::new(&f.gitlab_api_url, Token::new(t.clone()), options).map(ForgeClient::GitLab)),
        _ => None,
    }?;
    match made {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(forge, error = %e, "the forge's API is not usable; previews go without comments");
            None
        }
    }
}

/// Rewrites the pull request's comment; returns its id when the forge answered.
pub(super) async fn publish_comment(app: &App, record: &PreviewRecord, url: Option<String>) -> Option<u64> {
    let client = client(app, &record.forge)?;
    let (outputs, runs) = facts(app, record).await;
    let body = comment::body(&CommentFacts { record, url, outputs: &outputs, runs: &runs });
    match client.upsert_marked(&record.full_name, record.number, PREVIEW_COMMENT_MARKER, &body).await {
        Ok(c) => Some(c.id),
        Err(e) => {
            tracing::warn!(preview = %record.environment, error = %e, "could not update the pull request's comment");
            None
        }
    }
}

/// Sets `terrace/<environment>` on the head the preview deploys.
pub(super) async fn publish_status(app: &App, record: &PreviewRecord, sha: &str, state: StatusState, text: &str) {
    let Some(client) = client(app, &record.forge) else { return };
    let status = CommitStatus {
        environment: record.environment.clone(),
        state,
        description: text.to_string(),
        target_url: record
            .request_id
            .as_deref()
            .and_then(|id| crate::gitops::links::Links::new(app.settings.forges.public_url.as_deref()).request(id)),
    };
    if let Err(e) = client.set_status(&record.full_name, sha, &status).await {
        tracing::warn!(preview = %record.environment, error = %e, "could not set the commit status");
    }
}

/// The environment's outputs and the runs of the preview's last request.
async fn facts(app: &App, record: &PreviewRecord) -> (Vec<terrace_store::StoredOutput>, Vec<RunRecord>) {
    let env = app.store.get_environment(&record.project, &record.environment).await.ok().flatten();
    let outputs = match &env {
        Some(env) => app.store.outputs(env.id).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut runs = Vec::new();
    let request = match record.request_id.as_deref().and_then(|id| id.parse().ok()) {
        Some(id) => app.store.get_request(id).await.ok().flatten(),
        None => None,
    };
    for id in request.map(|r| r.run_ids).unwrap_or_default() {
        if let Ok(Some(run)) = app.store.get_run(id).await {
            runs.push(run);
        }
    }
    (outputs, runs)
}
