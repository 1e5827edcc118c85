//! Runs one claimed request through the engine: the project re-read from its file, the
//! environment's secrets handed to the engine for `${secret:NAME}`, only the allowed
//! part of the server's environment passed on, the run ids recorded as the jobs start,
//! and the outcome written back to the request. A panic while it runs is caught: the
//! request and its unfinished runs end `failed` with the panic's message.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use terrace_engine::resume::{Earlier, earlier_attempts};
use terrace_engine::timed::drift;
use terrace_engine::{Engine, EngineError, EnvAccess, Observer, PipelineOutcome, Progress, Request, SecretValues};
use terrace_model::RunId;
use terrace_store::control::{NewRequest, RequestId, RequestRecord, RequestState};
use terrace_store::{EnvState, RunState};
use tokio::sync::mpsc;

use super::{Handle, SchedulerConfig};
use crate::app::{App, AppError, projects};

/// How often a request waits for an environment a local `terrace` process holds.
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the request's record and the audit log learn while the engine runs.
enum Seen {
    Run(RunId),
    Opened(terrace_model::PipelineId, Box<terrace_store::PipelineInputs>),
}

/// Passes the ids of the runs the engine creates to the request's record, and the
/// pipeline's inputs to the audit log.
struct RunIds(mpsc::UnboundedSender<Seen>);

impl Observer for RunIds {
    fn observe(&self, event: Progress) {
        match event {
            Progress::Started { run, .. } | Progress::Finished { run, .. } => {
                let _ = self.0.send(Seen::Run(run));
                // Tests make the request's task panic here, with a job running.
                fail::fail_point!("request-job-started");
            }
            Progress::Opened { pipeline, inputs } => {
                let _ = self.0.send(Seen::Opened(pipeline, inputs));
            }
            _ => {}
        }
    }
}

/// The message a panic was raised with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

pub(super) async fn execute(app: &Arc<App>, cfg: &SchedulerConfig, request: RequestRecord, handle: Handle) {
    let started = Instant::now();
    let id = request.id;
    // Every write of the request is fenced by the claim's token: once another replica
    // took it back, this one can no longer record anything for it.
    let Some(lease) = request.lease() else {
        tracing::error!(request = %id, "a claimed request without its lease");
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let writer = {
        let (app, lease, mut ids, cancel) =
            (app.clone(), lease.clone(), request.run_ids.clone(), handle.cancel.clone());
        let actor = request.requested_by.clone();
        tokio::spawn(async move {
            while let Some(seen) = rx.recv().await {
                let run = match seen {
                    Seen::Run(run) => run,
                    Seen::Opened(pipeline, inputs) => {
                        audit_inputs(&app, &actor, pipeline, &inputs).await;
                        continue;
                    }
                };
                if !ids.contains(&run) {
                    ids.push(run);
                    match app.store.set_request_runs(&lease, &ids).await {
                        Ok(()) => {}
                        Err(e) if e.is_lease_lost() => {
                            tracing::warn!(request = %id, error = %e, "lost the request's lease; stopping its work");
                            cancel.cancel();
                        }
                        Err(e) => tracing::warn!(request = %id, error = %e, "could not record the request's runs"),
                    }
                }
            }
            ids
        })
    };
    let ran = AssertUnwindSafe(run(app, cfg, &request, Arc::new(RunIds(tx)), &handle)).catch_unwind().await;
    // The engine (and the sender it held) is gone, panic or not: the writer ends.
    let ids = writer.await.unwrap_or_default();
    let mut result = match ran {
        Ok(result) => result,
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            tracing::error!(request = %id, panic = %message, "the request's task panicked");
            let reason = format!("the server failed while running it (panic: {message}); send the event again");
            end_runs(app, &request, &ids, &reason).await;
            Err(AppError::internal(reason))
        }
    };
    fail::fail_point!("request-finish", |_| ());
    if let Ok(o) = &mut result
        && !handle.released.is_cancelled()
    {
        queue_rollback(app, &request, o).await;
    }
    let (state, reason, outcome) = match &result {
        _ if handle.released.is_cancelled() => {
            let reason = "the server stopped before it finished; re-queued";
            if let Err(e) = app.store.release_request(&lease, reason).await {
                tracing::warn!(request = %id, error = %e, "could not release the request");
            }
            return;
        }
        Ok(o) if handle.cancel.is_cancelled() => (RequestState::Cancelled, Some("cancelled".to_string()), Some(o)),
        Ok(o) if o.succeeded() => (RequestState::Succeeded, None, Some(o)),
        Ok(o) => (RequestState::Failed, Some(failure(o)), Some(o)),
        Err(_) if handle.cancel.is_cancelled() => (RequestState::Cancelled, Some("cancelled".to_string()), None),
        Err(AppError::Internal { detail }) => (RequestState::Failed, Some(detail.clone()), None),
        Err(e) => (RequestState::Failed, Some(e.to_string()), None),
    };
    if drift::is_check(request.origin.as_ref().and_then(|o| o.command.as_deref())) && !handle.cancel.is_cancelled() {
        record_drift(app, &request, &result).await;
    }
    if let Some(o) = outcome
        && let Some(follow) = &o.on_failure
    {
        let (target, detail) = follow.audit_entry(o);
        if let Err(e) = app.store.audit(&request.requested_by, "pipeline.on_failure", &target, Some(&detail)).await {
            tracing::warn!(request = %id, error = %e, "could not record what on_failure did in the audit log");
        }
    }
    for notice in outcome.map(|o| terrace_engine::notify::outcome_notices(&request.project, o)).unwrap_or_default() {
        super::notify::emit(app, &request.project, notice).await;
    }
    let outcome = outcome.and_then(|o| serde_json::to_value(o).ok());
    match app.store.finish_request(&lease, state, reason.as_deref(), outcome.as_ref()).await {
        Ok(()) => {}
        Err(e) if e.is_lease_lost() => {
            tracing::warn!(request = %id, error = %e, "lost the request's lease before it finished")
        }
        Err(e) => tracing::error!(request = %id, error = %e, "could not record the request's end"),
    }
    // A preview may be waiting for this request.
    app.wake_previews.notify_one();
    app.metrics.observe_request(request.event.as_str(), state.as_str(), started.elapsed().as_secs_f64());
}

/// A rollback the engine left to the server (a project from git, read again at the last
/// good commit): queued as a start request of its own, pinned to that commit; the failed
/// request's outcome names it.
async fn queue_rollback(app: &App, request: &RequestRecord, outcome: &mut PipelineOutcome) {
    let Some(follow) = outcome.on_failure.as_mut() else { return };
    let Some(mut origin) = follow.requeue.take() else { return };
    origin.commit = follow.commit.clone();
    let rollback = NewRequest {
        id: RequestId::new(),
        project: request.project.clone(),
        environment: request.environment.clone(),
        event: terrace_model::Event::Start,
        job: None,
        args: vec![],
        requested_by: request.requested_by.clone(),
        max_attempts: app.settings.max_attempts,
        origin,
        saved_plan: None,
    };
    match app.store.enqueue_request(rollback).await {
        Ok(Some(queued)) => {
            follow.request_id = Some(queued.id.to_string());
            app.wake_scheduler.notify_one();
        }
        Ok(None) => follow.note = Some("on_failure rollback not queued: the environment is being deleted".into()),
        Err(e) => {
            tracing::warn!(request = %request.id, error = %e, "could not queue the rollback");
            follow.note = Some(format!("on_failure rollback could not be queued: {e}"));
        }
    }
}

/// What a drift check found, in the environment's drift history.
async fn record_drift(app: &App, request: &RequestRecord, result: &Result<PipelineOutcome, AppError>) {
    let Ok(loaded) = projects::load(app, &request.project).await else { return };
    let why = result.as_ref().err().map(|e| e.to_string());
    let found = match result {
        Ok(o) => Ok(o),
        Err(_) => Err(why.as_deref().unwrap_or("failed")),
    };
    let now = app.settings.clock.now();
    let store = app.store.as_ref();
    match drift::record(store, store, &loaded.project, &request.environment, found, now).await {
        Ok(check) => {
            tracing::info!(project = %request.project, environment = %request.environment, found = %check.state, "drift check")
        }
        Err(e) => tracing::warn!(request = %request.id, error = %e, "could not record the drift check"),
    }
}

/// The audit log's entry of a pipeline: who asked, and its inputs (seed 002) as detail.
async fn audit_inputs(
    app: &App,
    actor: &str,
    pipeline: terrace_model::PipelineId,
    inputs: &terrace_store::PipelineInputs,
) {
    let detail = serde_json::to_string(inputs).unwrap_or_default();
    if let Err(e) = app.store.audit(actor, "pipeline.start", &format!("pipeline:{pipeline}"), Some(&detail)).await {
        tracing::warn!(%pipeline, error = %e, "could not record the pipeline in the audit log");
    }
}

/// After a panic: the request's runs that had not ended are marked failed (their process
/// groups died with the engine's futures), and the environment it was changing failed.
async fn end_runs(app: &App, request: &RequestRecord, ids: &[RunId], reason: &str) {
    let store = app.store.as_ref();
    for id in ids {
        let Ok(Some(run)) = store.get_run(*id).await else { continue };
        // Only runs this server still holds: one taken back meanwhile is another's to end.
        if let Some(lease) = run.lease().filter(|l| l.owner == app.instance) {
            let end = terrace_store::Ending::new(RunState::Failed, None, Some(reason));
            if let Err(e) = store.finish_run(&lease, &end).await {
                tracing::warn!(run = %run.id, error = %e, "could not end a run after the panic");
            }
            if let Some(p) = run.pipeline_id {
                let _ = store.finish_pipeline(p, RunState::Failed).await;
            }
        }
    }
    if let Ok(Some(env)) = store.get_environment(&request.project, &request.environment).await
        && matches!(env.state, EnvState::Deploying | EnvState::Stopping | EnvState::Deleting)
    {
        let _ = store.set_environment_state(env.id, EnvState::Failed, None, Some(reason)).await;
    }
}

fn failure(o: &PipelineOutcome) -> String {
    let job = o.failed_job.as_deref().unwrap_or("?");
    let why = o.jobs.iter().find(|j| j.job == job).and_then(|j| j.reason.clone()).unwrap_or_else(|| "failed".into());
    format!("`{}` failed at job `{job}`: {why}", o.event)
}

async fn run(
    app: &Arc<App>,
    cfg: &SchedulerConfig,
    request: &RequestRecord,
    observer: Arc<dyn Observer>,
    handle: &Handle,
) -> Result<PipelineOutcome, AppError> {
    // A request made for a commit (a push, a pull request) runs the project as it was there.
    let pinned = request.origin.as_ref().and_then(|o| o.commit.as_deref());
    let loaded = projects::load_at(app, &request.project, pinned).await?;
    let project = terrace_model::Project::clone(&loaded.project);
    let secrets = SecretValues(app.store.secret_values(&project.name, &request.environment).await?);
    let store: Arc<dyn terrace_store::Store> = app.store.clone();
    // The server's own environment (its master key, its database URL) stays its own: a
    // job gets PATH, HOME, LANG, TZ and only the names the configuration allows.
    let allowed = &app.settings.allow_env;
    let invoking_env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| ["PATH", "HOME", "LANG", "TZ"].contains(&k.as_str()) || allowed.contains(k))
        .collect();
    let engine = Engine {
        project,
        project_root: loaded.root,
        data_dir: app.settings.data_dir.clone(),
        store,
        executors: app.executors(),
        parallel: cfg.parallel.max(1),
        invoking_env: Arc::new(invoking_env),
        env_access: EnvAccess::AllowList(allowed.clone()),
        trigger: request.requested_by.clone(),
        owner: app.instance.clone(),
        // The runs' leases last as long as the request's: a replica that stops renewing
        // loses both at once, and the survivors take them back together.
        lease: cfg.lease,
        kill_grace: cfg.kill_grace,
        state_backend: app.state_url.get().map(|url| {
            Arc::new(crate::state_backend::FixedStateBackend(url.clone())) as Arc<dyn terrace_engine::StateBackend>
        }),
    };
    // A project from git: its runs record the repository they came from.
    let mut origin = request.origin.clone().unwrap_or_default();
    if origin.repository.is_none() {
        origin.repository = loaded.record.git.as_ref().map(|g| g.url.clone());
    }
    let resume = match resume(app, request, handle).await? {
        Some(resume) => resume,
        None => return Err(AppError::Conflict("cancelled while an earlier attempt's run was still held".into())),
    };
    let req = Request {
        env: request.environment.clone(),
        event: request.event,
        job: request.job.clone(),
        raw_args: request.args.clone(),
        secrets,
        commit: loaded.commit.clone(),
        saved_plan: request.saved_plan,
        origin,
        resume,
    };
    // A local `terrace` process may hold the environment's lock: wait for it (the claim
    // keeps the request's place) rather than fail the request.
    let mut warned = false;
    loop {
        match engine.run_event(req.clone(), observer.clone(), handle.cancel.clone()).await {
            Err(EngineError::Busy { detail, .. }) if !handle.cancel.is_cancelled() => {
                if !warned {
                    tracing::warn!(request = %request.id, %detail, "environment busy; waiting for it");
                    warned = true;
                }
                tokio::select! {
                    _ = handle.cancel.cancelled() => {}
                    _ = tokio::time::sleep(BUSY_RETRY) => {}
                }
            }
            other => return Ok(other?),
        }
    }
}

/// What the earlier attempts of a request taken back left (none for a first attempt): the
/// jobs that already succeeded, not to be run again. While a run of an earlier attempt
/// is still held (its holder alive after all, or its lease not yet expired and taken back
/// by recovery), this waits for it to end rather than run the same job beside it.
/// `None`: cancelled while waiting.
async fn resume(
    app: &App,
    request: &RequestRecord,
    handle: &Handle,
) -> Result<Option<std::collections::BTreeMap<String, RunId>>, AppError> {
    let mut warned = false;
    loop {
        match earlier_attempts(app.store.as_ref(), &request.run_ids, request.event).await? {
            Earlier::Settled(done) => {
                if !done.is_empty() {
                    tracing::info!(request = %request.id, jobs = ?done.keys().collect::<Vec<_>>(), "resuming: jobs already succeeded");
                }
                return Ok(Some(done));
            }
            Earlier::Running { run, holder } => {
                if !warned {
                    tracing::warn!(request = %request.id, %run, %holder, "an earlier attempt's run is still held; waiting for it to end");
                    warned = true;
                }
            }
        }
        tokio::select! {
            _ = handle.cancel.cancelled() => return Ok(None),
            _ = tokio::time::sleep(BUSY_RETRY) => {}
        }
    }
}
