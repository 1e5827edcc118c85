//! GitHub and GitLab for Terrace: webhooks in (verified in constant time, parsed into
//! Terrace's own events, bodies never logged) and API calls out (one pull-request comment
//! updated in place, commit statuses, pull-request state), tokens kept secret.

pub mod api;
mod event;
pub mod notify;
pub mod webhook;

pub use api::{
    ApiError, ApiOptions, COMMENT_MARKER, Comment, CommitStatus, ForgeClient, GitHub, GitLab, PREVIEW_COMMENT_MARKER,
    PrState, StatusState, Token,
};
pub use event::{Delivery, Event, Forge, PullRequest, PullRequestAction, PullRequestEvent, Push, Repository};
pub use webhook::WebhookError;
