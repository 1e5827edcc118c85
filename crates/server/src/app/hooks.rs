//! Webhooks from GitHub (`POST /hooks/github`) and GitLab (`POST /hooks/gitlab`): the
//! signature or token is checked in constant time before the body is read, the body is
//! parsed into Terrace's events, and a delivery Terrace acts on is kept in the store under
//! its delivery id (a redelivery does nothing twice), all before the answer: the endpoint
//! answers in milliseconds, and the work is done from the store. A body is never logged.

use axum::http::HeaderMap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use terrace_forge::{Delivery, Event, WebhookError};
use terrace_store::control::NewDelivery;

use super::{App, AppError, AppResult};

/// What the forge is told.
#[derive(Clone, Debug, Serialize)]
pub struct HookAnswer {
    /// `queued` (kept for its work), `duplicate` (a redelivery of one kept before) or
    /// `ignored` (an event Terrace does not act on).
    pub status: &'static str,
    pub delivery: Option<String>,
    /// What Terrace read, e.g. `push refs/heads/main 1a2b3c4`.
    pub event: String,
}

#[derive(Clone, Copy, Debug)]
pub enum Source {
    GitHub,
    GitLab,
}

pub async fn receive(app: &App, source: Source, headers: &HeaderMap, body: &[u8]) -> AppResult<HookAnswer> {
    let forges = &app.settings.forges;
    let (delivery, name, event_header) = match source {
        Source::GitHub => {
            let secret = forges.github_webhook_secret.as_deref().unwrap_or("");
            (terrace_forge::webhook::github(headers, body, secret.as_bytes()), "github", "x-github-event")
        }
        Source::GitLab => {
            let token = forges.gitlab_webhook_token.as_deref().unwrap_or("");
            (terrace_forge::webhook::gitlab(headers, body, token), "gitlab", "x-gitlab-event")
        }
    };
    let delivery = delivery.map_err(|e| match e {
        WebhookError::Unauthenticated { .. } => {
            tracing::warn!(forge = name, reason = %e, "webhook refused");
            AppError::Unauthenticated(e.to_string())
        }
        other => AppError::BadRequest { field: None, message: other.to_string() },
    })?;
    let summary = summary(&delivery.event);
    if !acts_on(&delivery) {
        return Ok(HookAnswer { status: "ignored", delivery: delivery.id, event: summary });
    }
    // What a pull request asks of its previews is recorded before the delivery: the
    // record is idempotent, so a redelivery after a crash between the two does it again,
    // and nothing twice.
    if let Event::PullRequest(pr) = &delivery.event {
        crate::previews::on_pull_request(app, delivery.forge, pr).await?;
    }
    let key = delivery.dedup_key().unwrap_or_else(|| format!("{name}:body-{}", hex::encode(Sha256::digest(body))));
    let event = headers.get(event_header).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let kept =
        NewDelivery { key: key.clone(), forge: name.into(), event, summary: summary.clone(), body: body.to_vec() };
    let new = app.store.record_delivery(&kept).await?;
    if new {
        app.wake_deliveries.notify_one();
    }
    tracing::info!(forge = name, delivery = %key, event = %summary, new, "webhook delivery");
    Ok(HookAnswer { status: if new { "queued" } else { "duplicate" }, delivery: Some(key), event: summary })
}

/// Pushes to a branch and pull-request changes: what pipelines and previews act on.
fn acts_on(delivery: &Delivery) -> bool {
    match &delivery.event {
        Event::Push(p) => p.branch().is_some() && !p.deleted,
        Event::PullRequest(_) => true,
        Event::Ping { .. } | Event::Unhandled { .. } => false,
    }
}

fn summary(event: &Event) -> String {
    let short = |sha: &str| sha.chars().take(12).collect::<String>();
    match event {
        Event::Ping { .. } => "ping".into(),
        Event::Push(p) => format!("push {} {} {}", p.repository.full_name, p.git_ref, short(&p.after)),
        Event::PullRequest(pr) => format!(
            "pull request {}#{} {:?} {}",
            pr.pull_request.repository.full_name,
            pr.pull_request.number,
            pr.action,
            short(&pr.pull_request.head_sha)
        ),
        Event::Unhandled { event, action } => match action {
            Some(a) => format!("{event} {a} (not acted on)"),
            None => format!("{event} (not acted on)"),
        },
    }
}
