//! An environment event as a pipeline run: the event's jobs in dependency order (reverse
//! for stop and delete), independent jobs at the same time up to the limit, a failed job
//! skipping its dependents but not its siblings, and the environment's state at the end.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use terrace_exec::SecretSet;
use terrace_model::graph::EventPlan;
use terrace_model::{Event, PipelineId, RunId};
use terrace_store::{
    EnvChange, EnvState, EnvironmentRecord, NewPipeline, NewRun, Origin, PipelineEnd, PipelineInputs, RunState,
};
use tokio_util::sync::CancellationToken;

use crate::Engine;
use crate::env_lock::EnvLock;
use crate::error::EngineError;
use crate::job_run::{RunContext, RunEnd};
use crate::lease::{self, Held, spawn_renewal};
use crate::progress::{Observer, Progress};
use crate::removed::{RemovedAction, RemovedJob};

/// What a pipeline runs beside its event's jobs.
struct Opened {
    /// Removed jobs whose delete runs first, each with the commit its git source applied.
    removed: BTreeMap<String, Option<String>>,
    /// The removed jobs as the outcome reports them.
    noted: Vec<RemovedJob>,
    /// The request is a forced delete of one removed job (`terrace job delete`).
    removed_job: bool,
}

/// The run contexts of one pipeline: its event's, and the deletes' of removed jobs.
struct Contexts<'a> {
    event: &'a RunContext<'a>,
    deletes: &'a RunContext<'a>,
    removed: &'a BTreeMap<String, Option<String>>,
}

impl<'a> Contexts<'a> {
    fn of(&self, job: &str) -> &'a RunContext<'a> {
        if self.removed.contains_key(job) { self.deletes } else { self.event }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Request {
    pub env: String,
    pub event: Event,
    /// A force run of this one job (seed 001 "Force Run"): runs whatever events it lists.
    pub job: Option<String>,
    /// Arguments of a `raw` run, appended to the command.
    pub raw_args: Vec<String>,
    /// The store's secrets of this environment, for `${secret:NAME}` and the
    /// credentials of git sources.
    pub secrets: crate::SecretValues,
    /// The commit the project file was read at (a project registered from git), which
    /// the request was made for; `None`: the commit of the project folder's checkout.
    pub commit: Option<String>,
    /// A force run of `start` that applies the plan this run saved instead of planning
    /// (refused when stale: state moved, other commit or inputs).
    pub saved_plan: Option<RunId>,
    /// Where the request came from, beyond who asked: recorded in the run inputs.
    pub origin: Origin,
    /// Jobs that already succeeded in an earlier attempt of the same request (a request
    /// taken back from a holder that died), each with that run: skipped, not run again.
    pub resume: BTreeMap<String, RunId>,
}

impl Request {
    /// A request to run `event` on every job of `env`, with nothing else set: callers
    /// set the fields they need on it, so a new field does not touch every caller.
    pub fn new(env: impl Into<String>, event: Event) -> Request {
        Request {
            env: env.into(),
            event,
            job: None,
            raw_args: Vec::new(),
            secrets: Default::default(),
            commit: None,
            saved_plan: None,
            origin: Origin::default(),
            resume: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct JobResult {
    pub job: String,
    pub run_id: RunId,
    /// The run's number in its environment: `terrace logs dev#17`.
    pub number: u64,
    pub state: RunState,
    pub reason: Option<String>,
    /// For `plan`: to add, to change, to destroy, and whether it is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PipelineOutcome {
    pub environment: String,
    pub event: Event,
    pub pipeline_id: Option<PipelineId>,
    /// The environment's state afterwards (`deleted` once a destroy completed).
    pub environment_state: EnvState,
    pub failed_job: Option<String>,
    pub jobs: Vec<JobResult>,
    pub duration_ms: u64,
    /// What the pipeline was asked to do, as recorded on its runs.
    #[serde(default)]
    pub inputs: PipelineInputs,
    /// What the environment's `on_failure` did after this pipeline failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<crate::on_failure::FollowUp>,
    /// Jobs the environment applied that the file no longer has, and what became of
    /// them (deleted in this pipeline, to be deleted, forgotten).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<RemovedJob>,
}

impl PipelineOutcome {
    pub fn succeeded(&self) -> bool {
        self.failed_job.is_none()
    }
}

impl Engine {
    pub(crate) fn check(&self, req: &Request) -> Result<(), EngineError> {
        if self.project.environment(&req.env).is_none() {
            return Err(EngineError::Invalid(self.project.unknown_environment(&req.env)));
        }
        if let Some(job) = &req.job {
            let Some(spec) = self.project.jobs.get(job) else {
                return Err(EngineError::Invalid(self.project.unknown_job(job)));
            };
            if !spec.runs_in(&req.env) {
                return Err(EngineError::Invalid(format!(
                    "job `{job}` does not run in environment `{}` (its `environments`: {})",
                    req.env,
                    spec.environments.as_deref().unwrap_or_default().join(", ")
                )));
            }
        }
        if req.job.is_none() && req.event == Event::Raw {
            return Err(EngineError::Invalid(
                "`raw` runs one job: name it with `terrace run JOB --event raw -- ARGS`".into(),
            ));
        }
        Ok(())
    }

    /// Runs one environment event (or a force run) to its end, then what the
    /// environment's `on_failure` says when a `start` failed (docs/approvals.md).
    pub async fn run_event(
        &self,
        req: Request,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
    ) -> Result<PipelineOutcome, EngineError> {
        let mut outcome = self.run_pipeline(req.clone(), observer.clone(), cancel.clone()).await?;
        outcome.on_failure = self.follow_failure(&req, &outcome, observer, cancel).await?;
        Ok(outcome)
    }

    /// Runs one environment event (or a force run) to its end.
    pub(crate) async fn run_pipeline(
        &self,
        req: Request,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
    ) -> Result<PipelineOutcome, EngineError> {
        if let Some((shadow, req)) = self.removed_force_run(&req).await? {
            // A delete of one job removed from the file: run by this engine with the
            // job's applied definition back among its jobs.
            return Box::pin(shadow.run_checked(req, observer, cancel, true)).await;
        }
        self.run_checked(req, observer, cancel, false).await
    }

    /// [`Engine::run_pipeline`] once a removed job's forced delete has its engine:
    /// `removed_job` says the request is that delete.
    async fn run_checked(
        &self,
        req: Request,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
        removed_job: bool,
    ) -> Result<PipelineOutcome, EngineError> {
        self.check(&req)?;
        let started = Instant::now();
        // A plan reads the state and changes nothing: it takes no environment lock, so
        // plans (of pull requests, drift checks) run beside each other and beside an apply.
        let _lock = match req.event {
            Event::Plan => None,
            _ => Some(EnvLock::acquire(&self.data_dir, &self.project.name, &req.env)?),
        };
        let forced = req.job.is_some();
        let env = match (req.event, forced) {
            (Event::Delete, false) => match self.store.get_environment(&self.project.name, &req.env).await? {
                Some(env) => env,
                None => {
                    let inputs = self.inputs(&req, None);
                    return Ok(PipelineOutcome {
                        environment: req.env,
                        event: req.event,
                        pipeline_id: None,
                        environment_state: EnvState::Deleted,
                        failed_job: None,
                        jobs: vec![],
                        duration_ms: 0,
                        inputs,
                        on_failure: None,
                        removed: vec![],
                    });
                }
            },
            // A forced `delete` of an environment without a record (destroyed already) runs
            // without bringing the record back: its runs carry an id no record has.
            (Event::Delete, true) => match self.store.get_environment(&self.project.name, &req.env).await? {
                Some(env) => env,
                None => EnvironmentRecord::absent(&self.project.name, &req.env),
            },
            _ => self.store.ensure_environment(&self.project.name, &req.env).await?,
        };
        // Jobs applied here that the file no longer has: `plan` names them, `up` and
        // `destroy` run their delete first (or forget them, `--keep-removed`).
        let mut removed = match (req.event, forced) {
            (Event::Start | Event::Delete | Event::Plan, false) => {
                crate::removed::removed_jobs(&self.project, self.store.as_ref(), &env).await?
            }
            _ => vec![],
        };
        let mut noted = Vec::new();
        if req.event == Event::Plan {
            noted = crate::removed::report(&removed, RemovedAction::WillDelete);
            removed.clear();
        } else if !removed.is_empty() {
            // Without a delete event there is nothing to run: forgotten like `--keep-removed`.
            let (runnable, forget): (Vec<_>, Vec<_>) = std::mem::take(&mut removed)
                .into_iter()
                .partition(|a| !req.origin.keep_removed && a.definition.events.contains(&Event::Delete));
            if !forget.is_empty() {
                noted = crate::removed::forget(self.store.as_ref(), &env, &forget).await?;
            }
            noted.extend(crate::removed::report(&runnable, RemovedAction::Deleted));
            removed = runnable;
        }
        if !removed.is_empty() {
            let shadow = self.with_removed(&removed);
            let removed = removed.into_iter().map(|a| (a.job, a.git_commit)).collect();
            let opened = Opened { removed, noted, removed_job: false };
            return shadow.run_opened(req, env, opened, started, observer, cancel).await;
        }
        let opened = Opened { removed: BTreeMap::new(), noted, removed_job };
        self.run_opened(req, env, opened, started, observer, cancel).await
    }

    /// Runs the pipeline of `req` on `env` (whose lock is held): its jobs and, first,
    /// the deletes of the `removed` jobs (each with the commit its git source applied).
    async fn run_opened(
        &self,
        req: Request,
        env: EnvironmentRecord,
        opened: Opened,
        started: Instant,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
    ) -> Result<PipelineOutcome, EngineError> {
        let Opened { removed, noted, removed_job } = opened;
        let forced = req.job.is_some();
        // Only a whole-environment lifecycle event moves the environment's state.
        let changes_state = !forced && req.event.is_lifecycle();
        let transitional = changes_state.then_some(match req.event {
            Event::Start => EnvState::Deploying,
            Event::Stop => EnvState::Stopping,
            _ => EnvState::Deleting,
        });
        // The jobs this environment runs, each with the parameters file it has here.
        let jobs = self.project.jobs_for(&req.env);
        let plan = match removed.is_empty() {
            true => EventPlan::new(&jobs, req.event, req.job.as_deref()),
            false => {
                let names = removed.keys().cloned().collect();
                crate::removed::merged_plan(&self.project, &jobs, req.event, &names)
            }
        };
        let mut settled: BTreeMap<String, String> = if req.event == Event::Delete && !forced {
            let deleted = self.deleted_jobs(&env).await?.into_iter();
            deleted.map(|(job, by)| (job, format!("already deleted by run {by}; resuming the destroy"))).collect()
        } else {
            BTreeMap::new()
        };
        settled.extend(req.resume.iter().map(|(job, by)| {
            (job.clone(), format!("already succeeded in run {by}, an earlier attempt of this request; not run again"))
        }));
        // The pipeline is pinned: the project's commit and each git source's, resolved
        // once now, are what every run of it uses and records.
        let commit = match &req.commit {
            Some(c) => Some(c.clone()),
            None => crate::commit::current(&self.project_root).await,
        };
        // A removed job's git source is checked out at the commit it applied.
        let mut pinned = req.origin.pins.clone();
        pinned.extend(removed.iter().filter_map(|(job, commit)| Some((job.clone(), commit.clone()?))));
        let pins = self.pin_sources(plan.order.iter().map(|j| &jobs[j]), &pinned, &req.secrets, &cancel).await;
        let commit_of = |job: &str| match pins.get(job) {
            Some(Ok(pin)) => Some(pin.commit.to_string()),
            Some(Err(_)) => None,
            None => commit.clone(),
        };
        // An approved start applies exactly the plans it was approved on, or nothing.
        let saved_plans = self.saved_plans(&req);
        self.check_saved_plans(&req, &commit_of).await?;
        let new_runs = plan
            .order
            .iter()
            .map(|job| NewRun {
                id: RunId::new(),
                pipeline_id: None,
                environment_id: env.id,
                project: self.project.name.clone(),
                environment: env.name.clone(),
                job: job.clone(),
                event: if removed.contains_key(job) { Event::Delete } else { req.event },
                forced,
                trigger: self.trigger.clone(),
                commit: commit_of(job),
            })
            .collect();
        let inputs = self.inputs(&req, commit.clone());
        // The environment's state, the pipeline and its runs, each held by this process
        // under a lease: one transaction (docs/PERFORMANCE.md, C).
        let opening = NewPipeline {
            environment_id: env.id,
            event: req.event,
            trigger: self.trigger.clone(),
            env_state: transitional,
            runs: new_runs,
            inputs: inputs.clone(),
        };
        let (pipeline, leases) = self.store.open_pipeline(&opening, &self.owner, lease::until(self.lease)).await?;
        // The pipeline's own stop: a user's cancel, or an error that ends the pipeline.
        let stop = cancel.child_token();
        let held: BTreeMap<String, Arc<Held>> = plan
            .order
            .iter()
            .cloned()
            .zip(leases)
            .map(|(job, r)| (job, Held::new(r.lease, r.number, stop.child_token())))
            .collect();
        let runs: BTreeMap<String, RunId> = held.iter().map(|(job, h)| (job.clone(), h.lease.id)).collect();
        observer.observe(Progress::Planned { jobs: plan.order.clone() });
        observer.observe(Progress::Opened { pipeline, inputs: Box::new(inputs.clone()) });

        let outputs = self.store.outputs(env.id).await?;
        let secrets = SecretSet::default();
        secrets.extend(self.declared_secrets(&req.env, commit.as_deref(), &outputs, &req.secrets)).await;
        secrets.extend(outputs.into_iter().filter(|o| o.sensitive).map(|o| o.value)).await;
        let ctx = RunContext {
            engine: self,
            env: &env,
            event: req.event,
            secrets,
            secret_values: &req.secrets,
            observer: observer.clone(),
            cancel: stop.clone(),
            raw_args: req.raw_args.clone(),
            commit,
            pins,
            saved_plans,
            removed: removed_job,
        };
        // The removed jobs' deletes: the same pipeline, their own event.
        let deletes = RunContext {
            engine: self,
            env: &env,
            event: Event::Delete,
            secrets: ctx.secrets.clone(),
            secret_values: &req.secrets,
            observer: observer.clone(),
            cancel: stop.clone(),
            raw_args: vec![],
            commit: ctx.commit.clone(),
            pins: ctx.pins.clone(),
            saved_plans: BTreeMap::new(),
            removed: true,
        };
        let renew = CancellationToken::new();
        let by_run = held.values().map(|h| (h.lease.id, h.clone())).collect();
        spawn_renewal(self.store.clone(), by_run, self.lease, renew.clone());
        let contexts = Contexts { event: &ctx, deletes: &deletes, removed: &removed };
        let results = self.schedule(&contexts, &jobs, &plan, &held, &settled).await;
        renew.cancel();
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                // Its jobs have ended (the running ones stopped, the others cancelled); the
                // pipeline and its environment say so too, if the store still answers.
                let why = format!("`{}` stopped on an error: {e}", req.event);
                let change = match changes_state {
                    true => EnvChange::Set { state: EnvState::Failed, failed_job: None, reason: Some(&why) },
                    false => EnvChange::Keep,
                };
                let end = PipelineEnd {
                    pipeline,
                    state: RunState::Failed,
                    environment: env.id,
                    change,
                    event: Some(("pipeline", why.as_str())),
                };
                if let Err(close) = self.store.close_pipeline(&end).await {
                    tracing::warn!(error = %close, "could not record the end of a pipeline stopped by an error");
                }
                return Err(e);
            }
        };

        let failed = plan.order.iter().find_map(|job| {
            let r = &results[job];
            (!r.satisfied).then(|| (job.clone(), r.reason.clone()))
        });
        let mut state = env.state;
        let why = failed.as_ref().map(|(job, reason)| {
            format!("`{}` failed at job `{job}`: {}", req.event, reason.as_deref().unwrap_or("failed"))
        });
        let mut change = EnvChange::Keep;
        if changes_state {
            state = match (&failed, req.event) {
                (Some(_), _) => EnvState::Failed,
                (None, Event::Start) => EnvState::Running,
                (None, Event::Stop) => EnvState::Stopped,
                (None, _) => EnvState::Deleted,
            };
            change = match &failed {
                Some((job, _)) => EnvChange::Set { state, failed_job: Some(job), reason: why.as_deref() },
                None if state == EnvState::Deleted => EnvChange::Delete,
                None => EnvChange::Set { state, failed_job: None, reason: None },
            };
        } else if let Some(current) = self.store.get_environment(&self.project.name, &req.env).await? {
            state = current.state;
        }
        let pipeline_state = if failed.is_none() { RunState::Succeeded } else { RunState::Failed };
        let summary = match &failed {
            None => format!("{} {}", req.event, pipeline_state),
            Some((job, _)) => format!("{} failed at job `{job}`", req.event),
        };
        // The environment's new state, the pipeline's end and the history entry: one
        // transaction (a deleted environment keeps no new history).
        let end = PipelineEnd {
            pipeline,
            state: pipeline_state,
            environment: env.id,
            change,
            event: (state != EnvState::Deleted).then_some(("pipeline", summary.as_str())),
        };
        self.store.close_pipeline(&end).await?;
        let mut jobs = Vec::with_capacity(plan.order.len());
        for job in &plan.order {
            let plan = match req.event {
                Event::Plan => self.store.get_run(runs[job]).await?.and_then(|r| r.plan),
                _ => None,
            };
            jobs.push(JobResult {
                job: job.clone(),
                run_id: runs[job],
                number: held[job].number,
                state: results[job].state,
                reason: results[job].reason.clone(),
                plan,
            });
        }
        Ok(PipelineOutcome {
            environment: env.name.clone(),
            event: req.event,
            pipeline_id: Some(pipeline),
            environment_state: state,
            failed_job: failed.map(|(j, _)| j),
            jobs,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            inputs,
            on_failure: None,
            removed: noted,
        })
    }

    /// The request's inputs as the pipeline records them.
    fn inputs(&self, req: &Request, commit: Option<String>) -> PipelineInputs {
        let (trigger, user) = PipelineInputs::split_trigger(&self.trigger);
        PipelineInputs {
            repository: req.origin.repository.clone(),
            commit,
            environment: req.env.clone(),
            command: req.origin.command.clone().unwrap_or_else(|| req.event.as_str().to_string()),
            job: req.job.clone(),
            args: req.raw_args.clone(),
            trigger,
            user,
            pull_request: req.origin.pull_request,
            ttl: self.project.environment(&req.env).and_then(|e| e.ttl.as_ref()).map(|t| t.declared.clone()),
            saved_plans: self.saved_plans(req),
            on_failure_of: req.origin.on_failure_of,
        }
    }

    /// Jobs whose newest run is a successful delete: a resumed destroy skips them.
    async fn deleted_jobs(&self, env: &EnvironmentRecord) -> Result<BTreeMap<String, RunId>, EngineError> {
        Ok(self
            .store
            .last_runs(env.id)
            .await?
            .into_iter()
            .filter(|r| r.event == Event::Delete && r.state == RunState::Succeeded)
            .map(|r| (r.job, r.id))
            .collect())
    }

    /// Runs the plan's jobs in order, up to `parallel` at once; `settled` jobs (already
    /// done, with the reason) are skipped and count as satisfied. Every store write of a
    /// job's end, run or not, happens inside the futures polled together here, never in
    /// this loop while a job's future waits: a job mid-write is never left waiting on
    /// another write this task makes. An error ends the pipeline truthfully: running jobs
    /// are stopped and record their end, jobs not started are cancelled naming the error.
    async fn schedule<'a>(
        &'a self,
        contexts: &'a Contexts<'a>,
        jobs: &'a indexmap::IndexMap<String, terrace_model::Job>,
        plan: &'a EventPlan,
        held: &'a BTreeMap<String, Arc<Held>>,
        settled: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, RunEnd>, EngineError> {
        type Ended<'a> = Pin<Box<dyn Future<Output = (&'a String, bool, Result<RunEnd, EngineError>)> + Send + 'a>>;
        let mut done: BTreeMap<String, RunEnd> = BTreeMap::new();
        let mut pending: Vec<&String> = plan.order.iter().collect();
        let mut running: FuturesUnordered<Ended<'a>> = FuturesUnordered::new();
        let mut executing = 0;
        let parallel = self.parallel.max(1);
        let mut failure: Option<EngineError> = None;
        let ctx = contexts.event;
        loop {
            // Jobs that can no longer run: a dependency did not succeed, or the pipeline stops.
            let mut i = 0;
            while i < pending.len() {
                let job = pending[i];
                let blocker = plan.waits_for[job].iter().find(|d| done.get(*d).is_some_and(|r| !r.satisfied));
                let end = if let Some(dep) = blocker {
                    Some(RunEnd::new(
                        RunState::Skipped,
                        Some(format!("dependency `{dep}` did not succeed ({})", done[dep].state)),
                    ))
                } else if ctx.cancel.is_cancelled() {
                    let reason = match &failure {
                        Some(e) => format!("not started: the pipeline stopped on an error: {e}"),
                        None => "cancelled before it started".to_string(),
                    };
                    Some(RunEnd::new(RunState::Cancelled, Some(reason)))
                } else {
                    settled.get(job).map(|why| RunEnd {
                        state: RunState::Skipped,
                        reason: Some(why.clone()),
                        satisfied: true,
                    })
                };
                match end {
                    Some(end) => {
                        pending.remove(i);
                        let h = &held[job];
                        let ctx = contexts.of(job);
                        running.push(Box::pin(async move { (job, false, ctx.end_unstarted(job, h, end).await) }));
                    }
                    None => i += 1,
                }
            }
            // Start what is ready, in plan order, up to the limit.
            while executing < parallel && failure.is_none() {
                let Some(pos) = pending
                    .iter()
                    .position(|job| plan.waits_for[*job].iter().all(|d| done.get(d).is_some_and(|r| r.satisfied)))
                else {
                    break;
                };
                let job = pending.remove(pos);
                let spec = &jobs[job];
                let h = &held[job];
                executing += 1;
                let ctx = contexts.of(job);
                running.push(Box::pin(async move { (job, true, ctx.execute(spec, h).await) }));
            }
            match running.next().await {
                Some((job, executed, result)) => {
                    executing -= usize::from(executed);
                    let end = result.unwrap_or_else(|e| {
                        let reason = format!("the pipeline stopped on an error: {e}");
                        if failure.is_none() {
                            failure = Some(e);
                            ctx.cancel.cancel();
                        }
                        RunEnd::new(RunState::Failed, Some(reason))
                    });
                    done.insert(job.clone(), end);
                }
                None if pending.is_empty() => break,
                None => {
                    // Nothing runs and nothing is ready: only a cycle could do this, and the
                    // parser refuses cycles; fail the rest rather than wait forever.
                    for job in pending.drain(..) {
                        let reason = "its dependencies can never be satisfied (a dependency cycle?)";
                        let end = RunEnd::new(RunState::Failed, Some(reason.into()));
                        let h = &held[job];
                        let ctx = contexts.of(job);
                        running.push(Box::pin(async move { (job, false, ctx.end_unstarted(job, h, end).await) }));
                    }
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}
