//! What a failed `start` leads to, by the environment's `on_failure`: `rollback`
//! re-applies the last whole-environment start that succeeded there (each git-sourced job
//! checked out at the commit it ran then), `destroy` runs the delete event, `none` leaves
//! the environment `failed`. The follow-up pipeline is linked to the failed one
//! (`on_failure_of` in its inputs) and never leads to another: a rollback that fails stops.

use std::sync::Arc;

use terrace_model::Event;
use terrace_model::project::OnFailure;
use terrace_store::Origin;
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::progress::Observer;
use crate::{Engine, PipelineOutcome, Request};

/// What `on_failure` did after a pipeline failed.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FollowUp {
    /// `rollback` or `destroy`.
    pub action: String,
    /// The commit a rollback went back to (the last good start's), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Why nothing ran, when nothing did (no start succeeded before, the environment busy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The follow-up pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Box<PipelineOutcome>>,
    /// A rollback of a project read from git, to another commit than the failed start's:
    /// the project itself must be read at that commit, which this engine cannot do, so
    /// the caller queues it as a request with this origin (and `commit`).
    #[serde(skip)]
    pub requeue: Option<Origin>,
    /// The request the rollback was queued as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl FollowUp {
    /// The audit log's entry of what followed `failed` (`pipeline.on_failure`): its
    /// target (the follow-up pipeline, else the failed one) and detail, as JSON.
    pub fn audit_entry(&self, failed: &PipelineOutcome) -> (String, String) {
        let follow = self.outcome.as_ref().and_then(|o| o.pipeline_id);
        let target = follow.or(failed.pipeline_id).map(|p| format!("pipeline:{p}")).unwrap_or_default();
        let detail = serde_json::json!({
            "action": self.action,
            "environment": failed.environment,
            "on_failure_of": failed.pipeline_id,
            "failed_job": failed.failed_job,
            "commit": self.commit,
            "note": self.note,
            "succeeded": self.outcome.as_ref().map(|o| o.succeeded()),
        });
        (target, detail.to_string())
    }
}

impl Engine {
    /// Runs the environment's `on_failure` after `failed`, the outcome of `req`.
    pub(crate) async fn follow_failure(
        &self,
        req: &Request,
        failed: &PipelineOutcome,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
    ) -> Result<Option<FollowUp>, EngineError> {
        let whole_start = req.event == Event::Start && req.job.is_none();
        // A follow-up never leads to another: a rollback that fails does not loop.
        if failed.succeeded() || !whole_start || req.origin.on_failure_of.is_some() || cancel.is_cancelled() {
            return Ok(None);
        }
        let Some(pipeline) = failed.pipeline_id else { return Ok(None) };
        let policy = self.project.environment(&req.env).map(|e| e.on_failure).unwrap_or_default();
        let (event, action) = match policy {
            OnFailure::None => return Ok(None),
            OnFailure::Rollback => (Event::Start, "rollback"),
            OnFailure::Destroy => (Event::Delete, "destroy"),
        };
        let Some(env) = self.store.get_environment(&self.project.name, &req.env).await? else { return Ok(None) };
        let mut origin = Origin {
            repository: req.origin.repository.clone(),
            pull_request: req.origin.pull_request,
            command: Some(action.to_string()),
            on_failure_of: Some(pipeline),
            ..Default::default()
        };
        let mut commit = None;
        if policy == OnFailure::Rollback {
            let good = self.store.last_good_start(env.id).await?;
            if good.is_empty() {
                let note = format!(
                    "on_failure rollback: nothing to roll back to, no start of `{}` succeeded before pipeline \
                     {pipeline}; the environment stays failed",
                    req.env
                );
                self.store.record_event(env.id, None, "on_failure", &note).await?;
                return Ok(Some(FollowUp {
                    action: action.into(),
                    commit: None,
                    note: Some(note),
                    ..Default::default()
                }));
            }
            for run in &good {
                let from_git = self.project.jobs.get(&run.job).is_some_and(|j| j.git.is_some());
                if let (true, Some(c)) = (from_git, &run.commit) {
                    origin.pins.insert(run.job.clone(), c.clone());
                }
            }
            // The project's commit when it is a checkout, else its git sources' commit.
            commit = good
                .iter()
                .find_map(|r| r.inputs.as_ref().and_then(|i| i.commit.clone()))
                .or_else(|| origin.pins.values().next().cloned());
        }
        // A project read from git at the failed commit is read again at the good one: by
        // the caller, as a request of its own.
        if let (Some(now), Some(good)) = (&req.commit, &commit)
            && policy == OnFailure::Rollback
            && now != good
        {
            let note = format!(
                "on_failure rollback: pipeline {pipeline} failed at commit {now}; queued to re-apply commit {good}"
            );
            self.store.record_event(env.id, None, "on_failure", &note).await?;
            let requeue = Some(origin);
            return Ok(Some(FollowUp {
                action: action.into(),
                commit,
                note: Some(note),
                requeue,
                ..Default::default()
            }));
        }
        let what = match &commit {
            Some(c) => format!("on_failure {action}: pipeline {pipeline} failed; re-applying commit {c}"),
            None if policy == OnFailure::Rollback => {
                format!("on_failure {action}: pipeline {pipeline} failed; re-applying the last good start")
            }
            None => format!("on_failure {action}: pipeline {pipeline} failed; running the delete event"),
        };
        self.store.record_event(env.id, None, "on_failure", &what).await?;
        tracing::info!(environment = req.env, %pipeline, action, "on_failure follows a failed start");
        let follow = Request {
            secrets: req.secrets.clone(),
            commit: req.commit.clone(),
            origin,
            ..Request::new(req.env.clone(), event)
        };
        Ok(Some(match self.run_pipeline(follow, observer, cancel).await {
            Ok(outcome) => {
                FollowUp { action: action.into(), commit, outcome: Some(Box::new(outcome)), ..Default::default() }
            }
            Err(e) => {
                let note = format!("on_failure {action} could not run: {e}");
                self.store.record_event(env.id, None, "on_failure", &note).await?;
                FollowUp { action: action.into(), commit, note: Some(note), ..Default::default() }
            }
        }))
    }
}
