//! Pipelines from git events: a push to a branch re-reads the projects that follow it and
//! plans-and-applies the environments that follow the branch (`push`); a pull request
//! plans them at its head and reports on the pull request (`pull_request`). Only projects
//! registered from the delivery's repository act.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use terrace_forge::{Event, Repository};
use terrace_store::control::ProjectRecord;

use super::{HandleError, Handler, Incoming, Steps, pull_request, push};
use crate::app::{App, git_projects};

pub(super) struct Pipelines;

#[async_trait]
impl Handler for Pipelines {
    fn name(&self) -> &'static str {
        "pipelines"
    }

    async fn handle(&self, app: &Arc<App>, delivery: &Incoming, steps: &mut Steps) -> Result<Value, HandleError> {
        let repository = match &delivery.event {
            Event::Push(p) => &p.repository,
            Event::PullRequest(pr) => &pr.pull_request.repository,
            Event::Ping { .. } | Event::Unhandled { .. } => return Ok(Value::Null),
        };
        let projects = following(app, repository).await?;
        let done = match &delivery.event {
            Event::Push(p) => push::handle(app, p, &projects, steps).await?,
            Event::PullRequest(pr) => pull_request::handle(app, pr, &projects, steps).await?,
            Event::Ping { .. } | Event::Unhandled { .. } => Value::Null,
        };
        let names: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
        Ok(json!({ "repository": repository.slug(), "projects": names, "done": done }))
    }
}

/// The projects registered from `repository` (its clone URL, SSH URL or page).
async fn following(app: &App, repository: &Repository) -> Result<Vec<ProjectRecord>, HandleError> {
    let web_git = format!("{}.git", repository.web_url);
    let mut names = vec![repository.clone_url.as_str(), repository.web_url.as_str(), web_git.as_str()];
    names.extend(repository.ssh_url.as_deref());
    Ok(app
        .store
        .list_projects()
        .await?
        .into_iter()
        .filter(|p| p.git.as_ref().is_some_and(|g| git_projects::same_repository(&g.url, &names)))
        .collect())
}

/// Who a webhook's request is recorded as asked by.
pub(super) fn trigger(who: &str) -> String {
    if who.is_empty() { "webhook".to_string() } else { format!("webhook:{who}") }
}
