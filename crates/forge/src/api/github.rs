//! GitHub's REST API: issue comments (a pull request is an issue), commit statuses with
//! context `terrace/<env>`, and the state of a pull request.

use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::http::{Answer, Http, Retry};
use super::{
    ApiError, ApiOptions, COMMENT_MARKER, Comment, CommitStatus, PrState, StatusState, Token, marked, truncate,
};
use crate::event::Forge;

/// Pages of comments read before giving up on finding Terrace's (100 per page).
const MAX_PAGES: usize = 50;

/// A client of GitHub's (or GitHub Enterprise's) REST API.
#[derive(Clone, Debug)]
pub struct GitHub {
    http: Http,
}

impl GitHub {
    pub const DEFAULT_URL: &'static str = "https://api.github.com";

    /// `base_url` is `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise.
    pub fn new(base_url: &str, token: Token, options: ApiOptions) -> Result<GitHub, ApiError> {
        let headers = [("accept", "application/vnd.github+json"), ("x-github-api-version", "2022-11-28")];
        Ok(GitHub { http: Http::new(Forge::GitHub, base_url, token, options, &headers)? })
    }

    /// Creates Terrace's comment on pull request `number` of `OWNER/REPO`, or edits it
    /// when one carries the marker. A create whose answer was lost is found on retry,
    /// not made twice.
    pub async fn upsert_comment(&self, repository: &str, number: u64, body: &str) -> Result<Comment, ApiError> {
        self.upsert_marked(repository, number, COMMENT_MARKER, body).await
    }

    /// [`GitHub::upsert_comment`] for the comment that carries `marker` (a hidden HTML
    /// comment): one comment per marker, so plans and previews each keep their own.
    pub async fn upsert_marked(
        &self,
        repository: &str,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<Comment, ApiError> {
        let (owner, repo) = self.split(repository)?;
        let body = json!({ "body": marked(marker, body) });
        let mut attempt = 0;
        loop {
            let result = match self.find_comment(owner, repo, number, marker).await? {
                Some(id) => {
                    let url = self.http.url(&["repos", owner, repo, "issues", "comments", &id.to_string()]);
                    self.http
                        .send(Method::PATCH, url, Some(&body), Retry::Safe)
                        .await
                        .map(|_| Comment { id, created: false })
                }
                None => {
                    let url = self.http.url(&["repos", owner, repo, "issues", &number.to_string(), "comments"]);
                    let answer = self.http.send(Method::POST, url.clone(), Some(&body), Retry::Never).await;
                    answer.and_then(|a| Ok(Comment { id: self.id_of(&a, &url)?, created: true }))
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

    /// Sets the status `terrace/<env>` of commit `sha`.
    pub async fn set_status(&self, repository: &str, sha: &str, status: &CommitStatus) -> Result<(), ApiError> {
        let (owner, repo) = self.split(repository)?;
        check_sha(sha)?;
        let state = match status.state {
            StatusState::Pending | StatusState::Running => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Cancelled => "error",
        };
        let mut body = json!({
            "state": state,
            "context": status.context(),
            // GitHub refuses descriptions over 140 characters.
            "description": truncate(&status.description, 140),
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = Value::String(url.clone());
        }
        let url = self.http.url(&["repos", owner, repo, "statuses", sha]);
        self.http.send(Method::POST, url, Some(&body), Retry::Safe).await.map(|_| ())
    }

    /// Whether pull request `number` of `OWNER/REPO` is open, closed, merged or gone.
    pub async fn pull_request_state(&self, repository: &str, number: u64) -> Result<PrState, ApiError> {
        let (owner, repo) = self.split(repository)?;
        let url = self.http.url(&["repos", owner, repo, "pulls", &number.to_string()]);
        let answer = match self.http.get(url).await {
            Err(ApiError::Status { status: 404 | 410, .. }) => return Ok(PrState::Missing),
            other => other?,
        };
        Ok(match (answer.body["state"].as_str(), answer.body["merged"].as_bool()) {
            (Some("open"), _) => PrState::Open,
            (_, Some(true)) => PrState::Merged,
            _ => PrState::Closed,
        })
    }

    async fn find_comment(&self, owner: &str, repo: &str, number: u64, marker: &str) -> Result<Option<u64>, ApiError> {
        let mut url = self.http.url(&["repos", owner, repo, "issues", &number.to_string(), "comments"]);
        url.query_pairs_mut().append_pair("per_page", "100");
        for _ in 0..MAX_PAGES {
            let answer = self.http.get(url.clone()).await?;
            let comments = answer.body.as_array().ok_or_else(|| self.decode(&url, "comments are not a list"))?;
            let ours = comments.iter().find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)));
            if let Some(comment) = ours {
                return Ok(Some(comment["id"].as_u64().ok_or_else(|| self.decode(&url, "a comment has no id"))?));
            }
            match next_link(&answer).filter(|next| self.http.same_origin(next)) {
                Some(next) => url = next,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    fn id_of(&self, answer: &Answer, url: &Url) -> Result<u64, ApiError> {
        answer.body["id"].as_u64().ok_or_else(|| self.decode(url, "the new comment has no id"))
    }

    fn decode(&self, url: &Url, message: &str) -> ApiError {
        ApiError::Decode {
            forge: Forge::GitHub,
            method: "GET".into(),
            path: url.path().into(),
            message: message.into(),
        }
    }

    fn split<'r>(&self, repository: &'r str) -> Result<(&'r str, &'r str), ApiError> {
        match repository.split_once('/') {
            Some((owner, repo)) if valid_segment(owner) && valid_segment(repo) && !repo.contains('/') => {
                Ok((owner, repo))
            }
            _ => Err(ApiError::Config {
                forge: Forge::GitHub,
                message: format!("repository `{repository}` is not `OWNER/REPO`"),
            }),
        }
    }
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".."
}

/// Whether a failed request may have been lost on the way (so the sequence is retried).
fn lost(err: &ApiError) -> bool {
    matches!(err, ApiError::Transport { .. }) || matches!(err, ApiError::Status { status, .. } if *status >= 500)
}

pub(super) fn check_sha(sha: &str) -> Result<(), ApiError> {
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::Config { forge: Forge::GitHub, message: format!("`{sha}` is not a full commit id") })
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(answer: &Answer) -> Option<Url> {
    let link = answer.headers.get("link")?.to_str().ok()?;
    link.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part.find('>')?;
        Url::parse(&part[start..end]).ok()
    })
}
