//! API clients out: one pull-request comment kept up to date in place, commit statuses,
//! and whether a pull request is still open, on GitHub and GitLab alike. Tokens are
//! secrets: only ever in a sensitive `Authorization` header.

mod github;
mod gitlab;
mod http;

use std::fmt;
use std::time::Duration;

pub use github::GitHub;
pub use gitlab::GitLab;

use crate::event::Forge;

/// The hidden line that marks Terrace's own comment on a pull request.
pub const COMMENT_MARKER: &str = "<!-- terrace:pr-comment -->";
/// The hidden line that marks the comment of a pull request's preview environment.
pub const PREVIEW_COMMENT_MARKER: &str = "<!-- terrace:preview-comment -->";

/// An API token: `Debug` shows `***`, and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Token {
        Token(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Bounds of every API call.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Whole request [default: 30 s].
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries of a 5xx, a rate limit or a transport error [default: 4].
    pub max_retries: u32,
    /// First backoff, doubled on each retry [default: 500 ms].
    pub backoff: Duration,
    /// The longest single wait; a rate limit that resets later is returned as
    /// `ApiError::RateLimited` for the caller to try again then [default: 60 s].
    pub max_wait: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// The state of a commit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusState {
    Pending,
    Running,
    Success,
    Failure,
    Cancelled,
}

/// One commit status, shown on the pull request as `terrace/<environment>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    pub environment: String,
    pub state: StatusState,
    pub description: String,
    /// A link to the run.
    pub target_url: Option<String>,
}

impl CommitStatus {
    /// The status's context (GitHub) or name (GitLab).
    pub fn context(&self) -> String {
        format!("terrace/{}", self.environment)
    }
}

/// Whether a pull request is still open, for the preview sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrState {
    Open,
    Closed,
    Merged,
    /// The forge does not know it (deleted, or the token lost access).
    Missing,
}

/// Terrace's comment on a pull request after an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    /// Whether it was created now (else an existing one was edited).
    pub created: bool,
}

/// An API call that failed. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The forge answered with an error status.
    #[error("{forge} API {method} {path}: {status} {message}{hint}", hint = hint(.status))]
    Status { forge: Forge, method: String, path: String, status: u16, message: String },
    /// Rate limited for longer than Terrace waits.
    #[error("{forge} API {method} {path}: rate limited{}", retry_in(.retry_after))]
    RateLimited { forge: Forge, method: String, path: String, retry_after: Option<Duration> },
    /// No answer: connection refused, timeout, TLS.
    #[error("{forge} API {method} {path}: {message}")]
    Transport { forge: Forge, method: String, path: String, message: String },
    /// An answer that is not the documented shape.
    #[error("{forge} API {method} {path}: unexpected answer: {message}")]
    Decode { forge: Forge, method: String, path: String, message: String },
    /// A base URL or a name that cannot make a request.
    #[error("{forge} API: {message}")]
    Config { forge: Forge, message: String },
}

impl ApiError {
    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status >= 500,
            ApiError::RateLimited { .. } | ApiError::Transport { .. } => true,
            ApiError::Decode { .. } | ApiError::Config { .. } => false,
        }
    }
}

fn hint(status: &u16) -> &'static str {
    match status {
        401 => " (check the token: github-token / gitlab-token)",
        403 => " (the token lacks a permission this call needs)",
        404 => " (check the repository's name and that the token can see it)",
        _ => "",
    }
}

fn retry_in(after: &Option<Duration>) -> String {
    after.map(|d| format!("; retry in {}s", d.as_secs())).unwrap_or_default()
}

/// A client of either forge.
#[derive(Clone, Debug)]
pub enum ForgeClient {
    GitHub(GitHub),
    GitLab(GitLab),
}

impl ForgeClient {
    pub fn forge(&self) -> Forge {
        match self {
            ForgeClient::GitHub(_) => Forge::GitHub,
            ForgeClient::GitLab(_) => Forge::GitLab,
        }
    }

    /// Creates or edits Terrace's one comment on pull request `number` of `repository`
    /// (`OWNER/REPO`, or GitLab's `GROUP/PROJECT` path).
    pub async fn upsert_comment(&self, repository: &str, number: u64, body: &str) -> Result<Comment, ApiError> {
        self.upsert_marked(repository, number, COMMENT_MARKER, body).await
    }

    /// The same for the comment that carries `marker` (e.g. [`PREVIEW_COMMENT_MARKER`]).
    pub async fn upsert_marked(
        &self,
        repository: &str,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<Comment, ApiError> {
        match self {
            ForgeClient::GitHub(c) => c.upsert_marked(repository, number, marker, body).await,
            ForgeClient::GitLab(c) => c.upsert_marked(repository, number, marker, body).await,
        }
    }

    pub async fn set_status(&self, repository: &str, sha: &str, status: &CommitStatus) -> Result<(), ApiError> {
        match self {
            ForgeClient::GitHub(c) => c.set_status(repository, sha, status).await,
            ForgeClient::GitLab(c) => c.set_status(repository, sha, status).await,
        }
    }

    pub async fn pull_request_state(&self, repository: &str, number: u64) -> Result<PrState, ApiError> {
        match self {
            ForgeClient::GitHub(c) => c.pull_request_state(repository, number).await,
            ForgeClient::GitLab(c) => c.pull_request_state(repository, number).await,
        }
    }
}

/// `body` with `marker` first, once.
pub(crate) fn marked(marker: &str, body: &str) -> String {
    if body.contains(marker) { body.to_string() } else { format!("{marker}\n{body}") }
}

/// `text` cut to `max` characters, with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}
