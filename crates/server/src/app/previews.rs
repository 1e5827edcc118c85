//! Preview environments as the API and `terrace preview list` show them: each with its
//! pull request, state, age and time to live, and its URL from the class's pattern.

use serde::{Deserialize, Serialize};
use terrace_model::Project;
use terrace_store::PreviewRecord;
use terrace_store::control::Role;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::projects::{self, Loaded};
use super::{App, AppResult, Caller};

/// One preview environment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    /// `pr-<id>`.
    pub environment: String,
    pub project: String,
    /// The preview class of `terrace.yaml` (`previews:`).
    pub class: String,
    /// The first 8 hex characters of sha256 of `OWNER/REPO#NUMBER`.
    pub id: String,
    /// `HOST/OWNER/REPO`.
    pub repository: String,
    /// The pull request's (GitLab: merge request's) number.
    pub number: u64,
    /// queued, deploying, running, destroying, failed or deleted.
    pub state: String,
    /// Whether the pull request asks for it now (open, through the label and draft filters).
    pub wanted: bool,
    /// Why it is in its state (queued behind `max`, a failure, why it is not wanted).
    pub reason: Option<String>,
    pub head_sha: String,
    /// The head the last successful deploy applied.
    pub deployed_sha: Option<String>,
    pub branch: String,
    /// The class's `url` with the preview's id.
    pub url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Seconds since it was created.
    pub age_seconds: i64,
    /// The class's `ttl` as written (`72h`).
    pub ttl: Option<String>,
    /// When the TTL destroys it even if its pull request stays open.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

impl PreviewView {
    pub fn new(record: &PreviewRecord, project: Option<&Project>, now: OffsetDateTime) -> PreviewView {
        let class = project.and_then(|p| p.previews.get(&record.class));
        PreviewView {
            environment: record.environment.clone(),
            project: record.project.clone(),
            class: record.class.clone(),
            id: record.preview_id.clone(),
            repository: record.repository.clone(),
            number: record.number,
            state: record.state.to_string(),
            wanted: record.wanted,
            reason: record.reason.clone().or_else(|| record.why.clone()),
            head_sha: record.head_sha.clone(),
            deployed_sha: record.deployed_sha.clone(),
            branch: record.branch.clone(),
            url: class.and_then(|c| c.url_for(&record.preview_id)),
            created_at: record.created_at,
            age_seconds: (now - record.created_at).whole_seconds().max(0),
            ttl: class.and_then(|c| c.ttl.as_ref()).map(|t| t.declared.clone()),
            expires_at: record.expires_at,
        }
    }
}

/// `GET /projects/{p}/previews`: the project's previews, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PreviewList {
    pub items: Vec<PreviewView>,
}

pub async fn list(app: &App, caller: &Caller, project: &str) -> AppResult<PreviewList> {
    caller.require(Role::Viewer)?;
    let Loaded { project, .. } = projects::load(app, project).await?;
    let now = app.settings.clock.now();
    let records = app.store.list_previews(Some(&project.name)).await?;
    Ok(PreviewList { items: records.iter().map(|r| PreviewView::new(r, Some(&project), now)).collect() })
}
