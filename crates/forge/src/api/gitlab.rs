//! GitLab's REST API (v4): merge request notes, commit statuses named `terrace/<env>`,
//! and the state of a merge request. A project is named by its path, encoded as one
//! segment (`group%2Fproject`), or by its numeric id.

use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::http::{Http, Retry};
use super::{
    ApiError, ApiOptions, COMMENT_MARKER, Comment, CommitStatus, PrState, StatusState, Token, marked, truncate,
};
use crate::event::Forge;

/// Pages of notes read before giving up on finding Terrace's (100 per page).
const MAX_PAGES: usize = 50;

/// A client of GitLab's REST API.
#[derive(Clone, Debug)]
pub struct GitLab {
    http: Http,
}

impl GitLab {
    pub const DEFAULT_URL: &'static str = "https://gitlab.com/api/v4";

    /// `base_url` is `https://gitlab.com/api/v4`, or `https://HOST/api/v4` when self-managed.
    pub fn new(base_url: &str, token: Token, options: ApiOptions) -> Result<GitLab, ApiError> {
        Ok(GitLab { http: Http::new(Forge::GitLab, base_url, token, options, &[("accept", "application/json")])? })
    }

    /// Creates Terrace's note on merge request `iid` of `project`, or edits the one that
    /// carries the marker. A create whose answer was lost is found on retry, not made twice.
    pub async fn upsert_comment(&self, project: &str, iid: u64, body: &str) -> Result<Comment, ApiError> {
        self.upsert_marked(project, iid, COMMENT_MARKER, body).await
    }

    /// [`GitLab::upsert_comment`] for the note that carries `marker` (a hidden HTML
    /// comment): one note per marker, so plans and previews each keep their own.
    pub async fn upsert_marked(&self, project: &str, iid: u64, marker: &str, body: &str) -> Result<Comment, ApiError> {
        check_project(project)?;
        let body = json!({ "body": marked(marker, body) });
        let notes = ["projects", project, "merge_requests", &iid.to_string(), "notes"];
        let mut attempt = 0;
        loop {
            let result = match self.find_note(&notes, marker).await? {
                Some(id) => {
                    let url = self.http.url(&[&notes[..], &[id.to_string().as_str()]].concat());
                    self.http
                        .send(Method::PUT, url, Some(&body), Retry::Safe)
                        .await
                        .map(|_| Comment { id, created: false })
                }
                None => {
                    let url = self.http.url(&notes);
                    let answer = self.http.send(Method::POST, url.clone(), Some(&body), Retry::Never).await;
                    answer.and_then(|a| {
                        let id = a.body["id"].as_u64().ok_or_else(|| decode(&url, "the new note has no id"))?;
                        Ok(Comment { id, created: true })
                    })
                }
            };
            match result {
                Err(e) if lost(&e) && attempt < self.http.max_retries() => {
                    tokio::time::sleep(self.http.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Sets the commit status named `terrace/<env>` of `sha`.
    pub async fn set_status(&self, project: &str, sha: &str, status: &CommitStatus) -> Result<(), ApiError> {
        check_project(project)?;
        super::github::check_sha(sha).map_err(|_| ApiError::Config {
            forge: Forge::GitLab,
            message: format!("`{sha}` is not a full commit id"),
        })?;
        let state = match status.state {
            StatusState::Pending => "pending",
            StatusState::Running => "running",
            StatusState::Success => "success",
            StatusState::Failure => "failed",
            StatusState::Cancelled => "canceled",
        };
        let mut body = json!({
            "state": state,
            "name": status.context(),
            "description": truncate(&status.description, 255),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = Value::String(url.clone());
        }
        let url = self.http.url(&["projects", project, "statuses", sha]);
        match self.http.send(Method::POST, url, Some(&body), Retry::Safe).await {
            // GitLab refuses to set a status to the state it already has; that is success.
            Err(ApiError::Status { status: 400, message, .. }) if message.contains("Cannot transition status") => {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Whether merge request `iid` of `project` is open, closed, merged or gone.
    pub async fn pull_request_state(&self, project: &str, iid: u64) -> Result<PrState, ApiError> {
        check_project(project)?;
        let url = self.http.url(&["projects", project, "merge_requests", &iid.to_string()]);
        let answer = match self.http.get(url).await {
            Err(ApiError::Status { status: 404 | 410, .. }) => return Ok(PrState::Missing),
            other => other?,
        };
        Ok(match answer.body["state"].as_str() {
            // `locked` is a merge in progress: still open until GitLab says merged.
            Some("opened" | "locked") => PrState::Open,
            Some("merged") => PrState::Merged,
            _ => PrState::Closed,
        })
    }

    async fn find_note(&self, notes: &[&str], marker: &str) -> Result<Option<u64>, ApiError> {
        let mut page = "1".to_string();
        for _ in 0..MAX_PAGES {
            let mut url = self.http.url(notes);
            url.query_pairs_mut()
                .append_pair("per_page", "100")
                .append_pair("sort", "asc")
                .append_pair("order_by", "created_at")
                .append_pair("page", &page);
            let answer = self.http.get(url.clone()).await?;
            let list = answer.body.as_array().ok_or_else(|| decode(&url, "notes are not a list"))?;
            let ours = list.iter().find(|n| {
                n["system"].as_bool() != Some(true) && n["body"].as_str().is_some_and(|b| b.contains(marker))
            });
            if let Some(note) = ours {
                return Ok(Some(note["id"].as_u64().ok_or_else(|| decode(&url, "a note has no id"))?));
            }
            match answer.headers.get("x-next-page").and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty()) {
                Some(next) => page = next.trim().to_string(),
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

fn check_project(project: &str) -> Result<(), ApiError> {
    let valid = !project.is_empty() && project.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
    if valid {
        Ok(())
    } else {
        Err(ApiError::Config {
            forge: Forge::GitLab,
            message: format!("project `{project}` is not `GROUP/PROJECT` or an id"),
        })
    }
}

fn lost(err: &ApiError) -> bool {
    matches!(err, ApiError::Transport { .. }) || matches!(err, ApiError::Status { status, .. } if *status >= 500)
}

fn decode(url: &Url, message: &str) -> ApiError {
    ApiError::Decode { forge: Forge::GitLab, method: "GET".into(), path: url.path().into(), message: message.into() }
}
