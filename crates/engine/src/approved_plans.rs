//! A `start` of an environment whose `approval` is required is approved on saved plans:
//! every Terraform and OpenTofu job is planned first, at the pipeline's pinned commit, and
//! the approval names those plan runs (locally) or the request that makes them (server).
//! Approving it checks each plan (ended, kept in the store, still current against the
//! state) and yields what the `start` applies: exactly those plans, with each git source
//! at the commit its plan was made at. Anything else refuses the approval; nothing runs.

use std::collections::BTreeMap;
use std::path::Path;

use terrace_model::project::Job;
use terrace_model::{Event, Project, RunId};
use terrace_store::control::{ControlStore, RequestId};
use terrace_store::{ApprovalRecord, RunRecord, RunState, StateKey, Store};

use crate::approvals::{ApprovalError, PipelineSubject};

/// Whether `job` is applied from a saved plan when its environment needs approval: a
/// Terraform or OpenTofu job that runs on `start` through its template's own commands.
pub fn plans_first(job: &Job) -> bool {
    job.template.supports_plan()
        && job.runs_on(Event::Start)
        && !job.commands.contains_key(&Event::Start)
        && !job.commands.contains_key(&Event::Plan)
}

/// Whether a `start` of `env` (`job`: a force run) is planned before it waits.
pub fn planned_start(project: &Project, env: &str, event: Event, job: Option<&str>) -> bool {
    event == Event::Start && job.is_none() && project.jobs_for(env).values().any(plans_first)
}

/// What an approved `start` applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApprovedPlans {
    /// Per job, the plan run whose saved plan it applies.
    pub saved_plans: BTreeMap<String, RunId>,
    /// Per job with a git source, the commit its plan was made at.
    pub pins: BTreeMap<String, String>,
}

/// One job's plan as approvals show it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlanView {
    pub job: String,
    pub run_id: RunId,
    /// `ENV#N`.
    pub run: String,
    pub state: RunState,
    /// to add, to change, to destroy, whether it is empty (once planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PlanView {
    fn of(run: &RunRecord) -> PlanView {
        PlanView {
            job: run.job.clone(),
            run_id: run.id,
            run: run.short(),
            state: run.state,
            plan: run.plan.clone(),
            commit: run.commit.clone(),
            reason: run.reason.clone(),
        }
    }

    /// `net: 1 to add, 0 to change, 0 to destroy`, `net: no changes`, `net: running`.
    pub fn line(&self) -> String {
        match (&self.plan, self.state) {
            (Some(p), RunState::Succeeded) if p["empty"] == true => format!("{}: no changes", self.job),
            (Some(p), RunState::Succeeded) => {
                format!("{}: {} to add, {} to change, {} to destroy", self.job, p["add"], p["change"], p["destroy"])
            }
            (_, state) => format!("{}: plan {state}", self.job),
        }
    }
}

/// The plan runs an approval names, and whether they are still being made.
#[derive(Clone, Debug, Default)]
pub struct PlanRuns {
    /// The request making them, while it has not ended (server mode).
    pub pending: Option<String>,
    pub runs: Vec<RunRecord>,
}

/// The plans of `approval` (none for an approval not made on saved plans).
pub async fn plan_runs(
    store: &dyn Store,
    control: &dyn ControlStore,
    approval: &ApprovalRecord,
) -> Result<PlanRuns, ApprovalError> {
    let Ok(subject) = serde_json::from_value::<PipelineSubject>(approval.subject.clone()) else {
        return Ok(PlanRuns::default());
    };
    let mut found = PlanRuns::default();
    let ids: Vec<RunId> = match &subject.plan_request {
        Some(id) => {
            let Ok(id) = id.parse::<RequestId>() else { return Ok(found) };
            match control.get_request(id).await? {
                Some(r) => {
                    if !r.state.is_final() {
                        found.pending = Some(format!("request {} is {}", r.id, r.state));
                    }
                    r.run_ids
                }
                None => vec![],
            }
        }
        None => subject.plans.values().copied().collect(),
    };
    for id in ids {
        if let Some(run) = store.get_run(id).await?
            && run.event == Event::Plan
        {
            found.runs.push(run);
        }
    }
    Ok(found)
}

/// The plans as approvals show them.
pub fn views(runs: &PlanRuns) -> Vec<PlanView> {
    runs.runs.iter().map(PlanView::of).collect()
}

/// What approving `approval` applies, or why it may not be approved (nothing then runs):
/// a plan missing, still being made, failed, not kept, or stale against the state. `None`
/// for an approval not made on saved plans.
pub async fn check(
    store: &dyn Store,
    control: &dyn ControlStore,
    project: &Project,
    project_root: &Path,
    approval: &ApprovalRecord,
) -> Result<Option<ApprovedPlans>, ApprovalError> {
    let now = crate::commit::current(project_root).await;
    check_at(store, control, project, now, approval).await
}

/// `check`, for a project read at a known commit (a project from git, read at the commit
/// its plan request was made for) rather than from a checkout's folder.
pub async fn check_at(
    store: &dyn Store,
    control: &dyn ControlStore,
    project: &Project,
    now: Option<String>,
    approval: &ApprovalRecord,
) -> Result<Option<ApprovedPlans>, ApprovalError> {
    let Ok(subject) = serde_json::from_value::<PipelineSubject>(approval.subject.clone()) else { return Ok(None) };
    if subject.plans.is_empty() && subject.plan_request.is_none() {
        return Ok(None);
    }
    let env = &approval.environment;
    let refuse = |why: String| ApprovalError::PlanRefused { id: approval.short(), why };
    let found = plan_runs(store, control, approval).await?;
    if let Some(pending) = &found.pending {
        return Err(refuse(format!("its plans are still being made ({pending}); approve once they have ended")));
    }
    // A job from the project's folder runs at the folder's commit: it must be the plan's.
    let mut approved = ApprovedPlans::default();
    let mut problems = Vec::new();
    for job in project.jobs_for(env).values().filter(|j| plans_first(j)) {
        let Some(run) = found.runs.iter().filter(|r| r.job == job.name).max_by_key(|r| r.created_at) else {
            problems.push(format!("job `{}` has no plan", job.name));
            continue;
        };
        match run.state {
            RunState::Succeeded => {}
            RunState::Queued | RunState::Running => {
                problems.push(format!("the plan of job `{}` ({}) is still running", job.name, run.short()));
                continue;
            }
            state => {
                let why = run.reason.as_deref().unwrap_or("no reason recorded");
                problems.push(format!("the plan of job `{}` ({}) ended {state}: {why}", job.name, run.short()));
                continue;
            }
        }
        let Some((plan, _)) = store.saved_plan(run.id).await? else {
            problems.push(format!(
                "run {} of job `{}` kept no saved plan (a job with its own backend cannot be approved on one)",
                run.short(),
                job.name
            ));
            continue;
        };
        let key = StateKey::new(&project.name, env, &job.name);
        let current = store.state_versions(&key).await?.first().map_or(0, |v| v.version);
        let commit = if job.git.is_some() { plan.commit.clone() } else { now.clone() };
        if let Some(why) = plan.staleness(commit.as_deref(), &plan.inputs_hash, current) {
            problems.push(format!("job `{}`: {why}", job.name));
            continue;
        }
        approved.saved_plans.insert(job.name.clone(), run.id);
        if let (Some(_), Some(commit)) = (&job.git, &run.commit) {
            approved.pins.insert(job.name.clone(), commit.clone());
        }
    }
    match problems.is_empty() {
        true => Ok(Some(approved)),
        false => Err(refuse(problems.join("; "))),
    }
}
