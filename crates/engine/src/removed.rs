//! Jobs an environment applied that `terrace.yaml` no longer has (DESIGN.md "What an
//! environment has applied"): found by comparing the store's records with the file,
//! shown by `plan`, `up` and `status`, deleted by `up` and `destroy` with the definition
//! they last applied (before the jobs they depended on are touched), one at a time by
//! `terrace job delete`, or forgotten on purpose with `--keep-removed`.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use terrace_model::graph::EventPlan;
use terrace_model::{Event, Job, Project, RunId};
use terrace_store::{AppliedJob, EnvironmentRecord, ForgottenJob, Store, StoreError};

use crate::Engine;

/// What became of a removed job in a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovedAction {
    /// Its delete ran in this pipeline (its run is among the jobs).
    Deleted,
    /// `plan`: its delete will run with the next `up` or `destroy`.
    WillDelete,
    /// `--keep-removed`, or a job without a `delete` event: forgotten without a delete;
    /// what it made is left behind.
    Forgotten,
}

/// A job removed from the file, as an outcome reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemovedJob {
    pub job: String,
    pub action: RemovedAction,
    /// The run whose start applied the definition its delete uses.
    pub applied_by: RunId,
    /// Forgotten: the outputs dropped with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs_dropped: Vec<String>,
}

impl RemovedJob {
    fn new(applied: &AppliedJob, action: RemovedAction) -> RemovedJob {
        RemovedJob { job: applied.job.clone(), action, applied_by: applied.run_id, outputs_dropped: vec![] }
    }

    /// One line for a person: what happened to it and what it left; `state` is how its
    /// delete run ended, when it ran.
    pub fn describe(&self, env: &str, state: Option<terrace_store::RunState>) -> String {
        match self.action {
            RemovedAction::Deleted if state == Some(terrace_store::RunState::Succeeded) => {
                format!("{}: removed from terrace.yaml: its delete ran; its outputs and record are gone", self.job)
            }
            RemovedAction::Deleted => format!(
                "{job}: removed from terrace.yaml: its delete did not succeed; its outputs stay exported and it stays \
                 known (run `terrace up {env}` or `terrace job delete {job} --env {env}` again, or forget it with \
                 `--keep-removed`)",
                job = self.job
            ),
            RemovedAction::WillDelete => format!("{}: removed: its delete will run", self.job),
            RemovedAction::Forgotten => format!(
                "{}: removed and forgotten: its delete did not run, whatever it made is left behind; outputs \
                 dropped: {}",
                self.job,
                if self.outputs_dropped.is_empty() { "none".to_string() } else { self.outputs_dropped.join(", ") }
            ),
        }
    }
}

/// The jobs `env` has applied that the file no longer gives it, by name.
pub async fn removed_jobs(
    project: &Project,
    store: &dyn Store,
    env: &EnvironmentRecord,
) -> Result<Vec<AppliedJob>, StoreError> {
    let current = project.jobs_for(&env.name);
    let applied = store.applied_jobs(env.id).await?;
    Ok(applied.into_iter().filter(|a| !current.contains_key(&a.job)).collect())
}

/// The removed jobs of environment `name`, none when it has no record.
pub async fn removed_job_names(project: &Project, store: &dyn Store, name: &str) -> Result<Vec<String>, StoreError> {
    match store.get_environment(&project.name, name).await? {
        Some(env) => Ok(removed_jobs(project, store, &env).await?.into_iter().map(|a| a.job).collect()),
        None => Ok(vec![]),
    }
}

/// Forgets `removed` without their delete; what each left behind.
pub(crate) async fn forget(
    store: &dyn Store,
    env: &EnvironmentRecord,
    removed: &[AppliedJob],
) -> Result<Vec<RemovedJob>, StoreError> {
    let names: Vec<String> = removed.iter().map(|a| a.job.clone()).collect();
    let forgotten: BTreeMap<String, ForgottenJob> =
        store.forget_removed(env.id, &names).await?.into_iter().map(|f| (f.job.clone(), f)).collect();
    Ok(removed
        .iter()
        .map(|a| RemovedJob {
            outputs_dropped: forgotten.get(&a.job).map(|f| f.outputs.clone()).unwrap_or_default(),
            ..RemovedJob::new(a, RemovedAction::Forgotten)
        })
        .collect())
}

/// Reports for `removed` jobs with one action.
pub(crate) fn report(removed: &[AppliedJob], action: RemovedAction) -> Vec<RemovedJob> {
    removed.iter().map(|a| RemovedJob::new(a, action)).collect()
}

impl Engine {
    /// This engine with the definitions `removed` last applied back among its jobs, so
    /// their delete runs as they were: the same template, source, commands, variables.
    pub(crate) fn with_removed(&self, removed: &[AppliedJob]) -> Engine {
        let mut project = self.project.clone();
        for a in removed {
            project.jobs.insert(a.job.clone(), a.definition.to_job());
        }
        Engine {
            project,
            project_root: self.project_root.clone(),
            data_dir: self.data_dir.clone(),
            store: self.store.clone(),
            executors: self.executors.clone(),
            parallel: self.parallel,
            invoking_env: self.invoking_env.clone(),
            env_access: self.env_access.clone(),
            trigger: self.trigger.clone(),
            owner: self.owner.clone(),
            lease: self.lease,
            kill_grace: self.kill_grace,
            state_backend: self.state_backend.clone(),
        }
    }
}

/// One plan for an event with removed jobs: the removed jobs' deletes (in reverse
/// dependency order among them) first, and every job a removed job depended on waits
/// for that delete, so nothing it used is touched before it is gone.
pub(crate) fn merged_plan(
    project: &Project,
    jobs: &IndexMap<String, Job>,
    event: Event,
    removed: &BTreeSet<String>,
) -> EventPlan {
    let (gone, current): (IndexMap<String, Job>, IndexMap<String, Job>) =
        jobs.iter().map(|(n, j)| (n.clone(), j.clone())).partition(|(n, _)| removed.contains(n));
    let deletes = EventPlan::new(&gone, Event::Delete, None);
    let main = EventPlan::new(&current, event, None);
    let mut waits_for = main.waits_for;
    for r in &deletes.order {
        for dep in project.upstream_of(r) {
            if let Some(w) = waits_for.get_mut(dep) {
                w.insert(r.clone());
            }
        }
    }
    waits_for.extend(deletes.waits_for);
    let order = deletes.order.into_iter().chain(main.order).collect();
    EventPlan { waits_for, order }
}

impl Engine {
    /// A delete forced on one job the file no longer gives the environment, which the
    /// environment applied: the engine that runs it (its definition back among the
    /// jobs) and the request (its git source pinned to the commit it applied).
    pub(crate) async fn removed_force_run(
        &self,
        req: &crate::Request,
    ) -> Result<Option<(Engine, crate::Request)>, crate::EngineError> {
        let Some(job) = req.job.as_deref().filter(|_| req.event == Event::Delete) else { return Ok(None) };
        if self.project.jobs_for(&req.env).contains_key(job) {
            return Ok(None);
        }
        let Some(env) = self.store.get_environment(&self.project.name, &req.env).await? else { return Ok(None) };
        let applied: Vec<AppliedJob> = removed_jobs(&self.project, self.store.as_ref(), &env)
            .await?
            .into_iter()
            .filter(|a| a.job == job)
            .collect();
        let Some(found) = applied.first() else { return Ok(None) };
        let mut req = req.clone();
        if let Some(commit) = &found.git_commit {
            req.origin.pins.insert(found.job.clone(), commit.clone());
        }
        Ok(Some((self.with_removed(&applied), req)))
    }
}

/// A removed job as `terrace status` lists it: still applied, no longer in the file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemovedSummary {
    pub job: String,
    /// The run whose start applied the definition its delete will use.
    pub applied_by: RunId,
    /// That run's short form (`dev#2`).
    pub applied_by_ref: String,
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: time::OffsetDateTime,
}

/// The removed jobs of `env`, as `status` lists them.
pub async fn summaries(
    project: &Project,
    store: &dyn Store,
    env: &EnvironmentRecord,
) -> Result<Vec<RemovedSummary>, StoreError> {
    let mut out = Vec::new();
    for a in removed_jobs(project, store, env).await? {
        let applied_by_ref = match store.get_run(a.run_id).await? {
            Some(run) => run.short(),
            None => a.run_id.to_string(),
        };
        out.push(RemovedSummary { job: a.job, applied_by: a.run_id, applied_by_ref, applied_at: a.applied_at });
    }
    Ok(out)
}

/// What `status` says of a removed job in its LAST RUN column.
pub const STATUS_NOTE: &str = "removed: its delete will run";

/// What an approval of `event` on `env` (the whole environment, or one `job`) says of the
/// jobs removed from the file, appended to its summary: the approver sees every delete
/// the approved pipeline will run, or every job it will forget (`keep_removed`).
pub async fn approval_note(
    project: &Project,
    store: &dyn Store,
    env: &str,
    event: Event,
    job: Option<&str>,
    keep_removed: bool,
) -> Result<Option<String>, StoreError> {
    let runs_removed = match job {
        None => matches!(event, Event::Start | Event::Delete),
        Some(_) => event == Event::Delete,
    };
    if !runs_removed {
        return Ok(None);
    }
    let names: Vec<String> = removed_job_names(project, store, env)
        .await?
        .into_iter()
        .filter(|name| job.is_none_or(|j| j == name))
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let each = |name: &String| match keep_removed {
        true => format!("{name}: removed: forgotten without its delete (--keep-removed)"),
        false => format!("{name}: {STATUS_NOTE}"),
    };
    Ok(Some(names.iter().map(each).collect::<Vec<_>>().join("; ")))
}
