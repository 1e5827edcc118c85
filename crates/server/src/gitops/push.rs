//! A push to a branch: every project from git that follows the branch is read again at
//! its new head; every environment with `branch: NAME` of a project of the repository
//! gets a `start` (plan-apply; held for approval where the environment requires one)
//! pinned to the pushed commit, so a later push does not change what it applies.

use serde_json::{Value, json};
use terrace_forge::Push;
use terrace_model::Event;
use terrace_store::Origin;
use terrace_store::control::{NewRequest, ProjectRecord, RequestId};

use super::pipelines::trigger;
use super::{HandleError, Steps};
use crate::app::{App, events, git_projects, projects};

pub(super) async fn handle(
    app: &App,
    push: &Push,
    following: &[ProjectRecord],
    steps: &mut Steps,
) -> Result<Value, HandleError> {
    let Some(branch) = push.branch() else { return Ok(Value::Null) };
    let mut done = Vec::new();
    for record in following {
        let Some(git) = &record.git else { continue };
        let mut entry = json!({ "project": record.name });
        if git.branch == branch {
            let step = format!("read:{}", record.name);
            if steps.get(&step).is_none() {
                let moved = git_projects::refresh(app, record).await?;
                let commit = moved.and_then(|r| r.git).map(|g| g.commit).unwrap_or_else(|| git.commit.clone());
                steps.record(&step, json!(commit)).await?;
            }
            entry["read_at"] = steps.get(&step).cloned().unwrap_or(Value::Null);
        }
        entry["starts"] = Value::Array(start_followers(app, push, branch, record, steps).await?);
        done.push(entry);
    }
    Ok(Value::Array(done))
}

/// Queues a start at the pushed commit for each environment that follows `branch`.
async fn start_followers(
    app: &App,
    push: &Push,
    branch: &str,
    record: &ProjectRecord,
    steps: &mut Steps,
) -> Result<Vec<Value>, HandleError> {
    let loaded = projects::load_at(app, &record.name, Some(&push.after)).await?;
    let mut starts = Vec::new();
    for (env, _) in loaded.project.environments.iter().filter(|(_, e)| e.branch.as_deref() == Some(branch)) {
        let step = format!("start:{}/{env}", record.name);
        if let Some(queued) = steps.get(&step) {
            starts.push(queued.clone());
            continue;
        }
        let req = NewRequest {
            id: RequestId::new(),
            project: record.name.clone(),
            environment: env.clone(),
            event: Event::Start,
            job: None,
            args: vec![],
            requested_by: trigger(&push.pusher),
            max_attempts: app.settings.max_attempts,
            origin: Origin {
                repository: Some(push.repository.slug()),
                pull_request: None,
                command: Some("plan-apply".into()),
                commit: Some(push.after.clone()),
                ..Default::default()
            },
            saved_plan: None,
        };
        let queued = match events::enqueue(app, &loaded.project, req).await? {
            Some(queued) => {
                let r = &queued.request;
                tracing::info!(request = %r.id, project = %record.name, environment = %env, commit = %push.after, "push: start queued");
                json!({ "environment": env, "request": r.id, "state": queued.state(), "approval": queued.approval })
            }
            None => json!({ "environment": env, "skipped": "a delete of the environment is pending" }),
        };
        steps.record(&step, queued.clone()).await?;
        starts.push(queued);
    }
    Ok(starts)
}
