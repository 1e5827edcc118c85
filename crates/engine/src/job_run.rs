//! One run of one job: variables, the skip-unchanged check, then attempts (a fresh copy
//! of the source each time) until one succeeds or `max_restarts` is spent. Every step
//! is recorded; the run log carries Terrace's own notes beside the job's output.

use std::sync::Arc;

use terrace_exec::SecretSet;
use terrace_model::Event;
use terrace_model::log::{LogBatch, Stream};
use terrace_model::project::{Job, TemplateKind};
use terrace_store::{Applied, Ending, EnvironmentRecord, RunState};
use tokio_util::sync::CancellationToken;

use crate::Engine;
use crate::attempt::AttemptInputs;
use crate::error::EngineError;
use crate::fingerprint::{self, Tree};
use crate::lease::{self, Held};
use crate::locate::{Located, locate};
use crate::progress::{Observer, Progress};

/// What one pipeline shares with each of its job runs.
pub(crate) struct RunContext<'a> {
    pub engine: &'a Engine,
    pub env: &'a EnvironmentRecord,
    pub event: Event,
    pub secrets: SecretSet,
    /// The store's secrets of the environment, for `${secret:NAME}`.
    pub secret_values: &'a crate::SecretValues,
    pub observer: Arc<dyn Observer>,
    pub cancel: CancellationToken,
    pub raw_args: Vec<String>,
    /// The project's commit, pinned when the pipeline opened.
    pub commit: Option<String>,
    /// The pinned git sources of the pipeline's jobs.
    pub pins: crate::git_source::Pins,
    /// Per job, the `plan` run whose saved plan a `start` applies.
    pub saved_plans: std::collections::BTreeMap<String, terrace_model::RunId>,
    /// The deletes of jobs removed from the file, run with their applied definition.
    pub removed: bool,
}

/// How a run ended.
pub(crate) struct RunEnd {
    pub state: RunState,
    pub reason: Option<String>,
    /// A skip that counts as success for the jobs after it (inputs unchanged).
    pub satisfied: bool,
}

impl RunEnd {
    pub(crate) fn new(state: RunState, reason: Option<String>) -> Self {
        let satisfied = state == RunState::Succeeded;
        RunEnd { state, reason, satisfied }
    }
}

/// The outcome of one attempt.
pub(crate) struct AttemptEnd {
    pub state: RunState,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

impl AttemptEnd {
    pub(crate) fn failed(reason: String) -> Self {
        AttemptEnd { state: RunState::Failed, exit_code: None, reason: Some(reason) }
    }
}

impl RunContext<'_> {
    pub(crate) fn store(&self) -> &dyn terrace_store::Store {
        self.engine.store.as_ref()
    }

    /// Appends a line of Terrace's own to the run log (masked like any other).
    pub(crate) async fn note(&self, job: &str, held: &Held, attempt: u32, text: &str) -> Result<(), EngineError> {
        let batches: Arc<[LogBatch]> = Arc::new([LogBatch::now(Stream::Terrace, &self.secrets.mask(text))]);
        self.store().append_logs(&held.lease, attempt, batches.clone()).await?;
        self.observer.observe(Progress::Lines { job: job.to_string(), batches });
        Ok(())
    }

    async fn finish(&self, held: &Held, end: RunEnd, exit_code: Option<i32>, job: &str) -> Result<RunEnd, EngineError> {
        let reason = end.reason.as_deref().map(|r| self.secrets.mask(r).into_owned());
        let ending = Ending { state: end.state, exit_code, reason: reason.clone() };
        self.store().finish_run(&held.lease, &ending).await?;
        self.observer.observe(Progress::Finished {
            job: job.to_string(),
            run: held.lease.id,
            state: end.state,
            reason: reason.clone(),
        });
        Ok(RunEnd { reason, ..end })
    }

    /// Records the end of a run that never started (skipped, cancelled).
    pub(crate) async fn end_unstarted(&self, job: &str, held: &Held, end: RunEnd) -> Result<RunEnd, EngineError> {
        match self.finish(held, end, None, job).await {
            Err(EngineError::Store(e)) if e.is_lease_lost() => Ok(self.lost(job, held, e.to_string())),
            other => {
                held.finish();
                other
            }
        }
    }

    /// Runs `job` under `held`'s lease to its end. A lease lost on the way ends the run's
    /// work (its step is stopped) without writing anything more: the run is another
    /// holder's now.
    pub(crate) async fn execute(&self, job: &Job, held: &Held) -> Result<RunEnd, EngineError> {
        match self.run_job(job, held).await {
            Err(EngineError::Store(e)) if e.is_lease_lost() => Ok(self.lost(&job.name, held, e.to_string())),
            other => {
                held.finish();
                other
            }
        }
    }

    fn lost(&self, job: &str, held: &Held, why: String) -> RunEnd {
        held.lose(why);
        let reason = held.lost();
        tracing::warn!(run = %held.lease.id, job, reason = reason.as_deref().unwrap_or(""), "run lease lost");
        self.observer.observe(Progress::Finished {
            job: job.to_string(),
            run: held.lease.id,
            state: RunState::Interrupted,
            reason: reason.clone(),
        });
        RunEnd::new(RunState::Interrupted, reason)
    }

    /// Records `job` as applied in this environment by `held`'s run, with the commit its
    /// git source was checked out at.
    async fn record_applied(
        &self,
        job: &Job,
        held: &Held,
        pin: Option<&crate::git_source::Pinned>,
        snapshot: Option<&terrace_store::SourceSnapshot>,
    ) -> Result<(), EngineError> {
        let definition = terrace_model::applied::JobDefinition::from(job);
        let commit = pin.map(|p| p.commit.to_string());
        self.store().record_applied_with(&held.lease, self.env.id, &definition, commit.as_deref(), snapshot).await?;
        Ok(())
    }

    async fn run_job(&self, job: &Job, held: &Held) -> Result<RunEnd, EngineError> {
        let run = held.lease.id;
        let engine = self.engine;
        let pin = match self.pins.get(&job.name) {
            Some(Ok(pin)) => Some(pin),
            Some(Err(reason)) => {
                return self.finish(held, RunEnd::new(RunState::Failed, Some(reason.clone())), None, &job.name).await;
            }
            None => None,
        };
        let commit = pin.map(|p| p.commit.to_string()).or_else(|| self.commit.clone());
        let outputs = self.store().outputs(self.env.id).await?;
        let resolved = match engine.resolve_variables(
            &self.env.name,
            job,
            self.event,
            &run.to_string(),
            commit.as_deref(),
            &outputs,
            self.secret_values,
        ) {
            Ok(r) => r,
            Err(e) => {
                return self.finish(held, RunEnd::new(RunState::Failed, Some(e.to_string())), None, &job.name).await;
            }
        };
        let mut resolved = resolved;
        if !job.artifacts.is_empty() {
            let pins = self.store().artifact_pins(&engine.project.name, &self.env.name).await?;
            crate::artifact_vars::add(&engine.project, &self.env.name, job, &pins, &mut resolved);
        }
        if let Some(reason) = crate::secrets::too_long(&resolved) {
            return self.finish(held, RunEnd::new(RunState::Failed, Some(reason)), None, &job.name).await;
        }
        self.secrets.extend(resolved.secrets().map(str::to_string)).await;
        let short_secrets = crate::secrets::short_variables_note(&resolved);

        // A removed job's delete runs from the source its last start applied, when a
        // snapshot of it was kept (the folder may have changed or be gone).
        let restored = match self.removed && job.git.is_none() {
            true => match crate::snapshot::restore(self.store(), self.env.id, job, &engine.data_dir, run).await {
                Ok(restored) => restored,
                Err(EngineError::Store(e)) => return Err(EngineError::Store(e)),
                Err(e) => {
                    return self
                        .finish(held, RunEnd::new(RunState::Failed, Some(e.to_string())), None, &job.name)
                        .await;
                }
            },
            false => None,
        };
        let located = match &restored {
            Some(r) => crate::locate::locate_restored(&engine.project_root, job, &r.src).await,
            None => locate(&engine.project_root, job).await,
        };
        let Located { source, input } = match located {
            Ok(found) => found,
            Err(reason) => {
                return self.finish(held, RunEnd::new(RunState::Failed, Some(reason)), None, &job.name).await;
            }
        };
        let mut snapshot_note = restored
            .as_ref()
            .map(|r| format!("source: restored from the snapshot its last successful start kept (sha256 {})", r.hash));
        if self.removed && restored.is_none() && job.git.is_none() {
            snapshot_note = Some("source: no snapshot was kept by its last start; the folder as it is now".into());
        }
        // The snapshot is archived from the first working copy an attempt makes (no copy of
        // its own); a skip, which makes none, captures it from the folder.
        let wants_snapshot = source.is_some() && crate::snapshot::wanted(job, self.event);
        let captured = crate::snapshot::Slot::default();
        // Only `skip_unchanged` and saved plans (bound to it) need the inputs' hash:
        // reading a whole source tree for nothing would sit before every start.
        let terraform = matches!(job.template, TemplateKind::Terraform | TemplateKind::Opentofu)
            && engine.state_backend.is_some()
            && matches!(self.event, Event::Start | Event::Plan);
        let hash = if (self.event == Event::Start && job.skip_unchanged) || terraform {
            // A job sees every output of the environment, but only those of the jobs it
            // depends on are its inputs: its own and its dependents' earlier outputs would
            // make every redeploy look changed.
            let upstream = engine.upstream_of(&job.name);
            let others: Vec<_> = outputs.iter().filter(|o| upstream.contains(o.job.as_str())).cloned().collect();
            let inputs = engine
                .resolve_variables(
                    &self.env.name,
                    job,
                    // A plan's inputs are those of the start that applies it.
                    Event::Start,
                    "",
                    commit.as_deref(),
                    &others,
                    self.secret_values,
                )
                .unwrap_or_else(|_| resolved.clone());
            let definition = fingerprint::definition(job);
            let tree = match (pin, &source) {
                (Some(pin), _) => Tree::Pinned(pin.identity()),
                (None, Some(folder)) => Tree::Folder(folder.clone()),
                (None, None) => Tree::Pinned(String::new()),
            };
            let mut now =
                fingerprint::inputs(definition, tree, input.clone(), engine.data_dir.clone(), &inputs, &others)
                    .await
                    .map_err(EngineError::io(format!("cannot read the inputs of job `{}`", job.name)))?;
            let last = self.store().last_success(self.env.id, &job.name, Event::Start).await?;
            now.changed = fingerprint::changed(&now, last.as_ref());
            self.store().set_run_inputs(&held.lease, &now).await?;
            if self.event == Event::Start
                && job.skip_unchanged
                && !self.saved_plans.contains_key(&job.name)
                && let (true, Some(last)) = (now.changed.is_empty(), &last)
            {
                let reason = format!(
                    "unchanged since its last successful start, {} (same definition, source, parameters file, \
                     variables and upstream outputs)",
                    last.short()
                );
                let note: Arc<[LogBatch]> = Arc::new([LogBatch::now(Stream::Terrace, &format!("skipped: {reason}"))]);
                self.store().start_attempt(&held.lease, lease::until(engine.lease), Some(&now.hash), note).await?;
                // Unchanged, and applied: recorded like a start that ran (an environment
                // applied before the record existed gets it now).
                let snapshot = match (&source, wants_snapshot) {
                    (Some(folder), true) => {
                        crate::snapshot::capture(folder.clone(), engine.data_dir.clone(), run).await.ok()
                    }
                    _ => None,
                };
                self.record_applied(job, held, pin, snapshot.as_ref()).await?;
                let end = RunEnd { state: RunState::Skipped, reason: Some(reason), satisfied: true };
                return self.finish(held, end, None, &job.name).await;
            }
            let since = last.map(|l| format!(" (since {})", l.short())).unwrap_or_default();
            Some((now.hash, format!("runs: {}{since}", fingerprint::describe(&now.changed))))
        } else {
            None
        };
        let (hash, why) = match hash {
            Some((hash, why)) => (Some(hash), Some(why)),
            None => (None, None),
        };
        let max_attempts = job.max_restarts + 1;
        for n in 1..=max_attempts {
            // The opening lines go to the store with the attempt's start, the summary with
            // its end (and the run's): two transactions per attempt on the way between jobs.
            let mut opening = LogBatch::now(
                Stream::Terrace,
                &format!(
                    "run {} ({run}): job `{}`, event `{}`, environment `{}`, attempt {n} of {max_attempts}",
                    terrace_store::short_ref(&self.env.name, held.number),
                    job.name,
                    self.event,
                    self.env.name
                ),
            );
            if self.removed {
                opening.push(&format!(
                    "removed: its delete will run (job `{}` is no longer in terrace.yaml for `{}`; this delete runs \
                     with the definition it last applied)",
                    job.name, self.env.name
                ));
            }
            for note in why.iter().chain(&resolved.notes).chain(&short_secrets).chain(&snapshot_note) {
                opening.push(&self.secrets.mask(note));
            }
            let opening: Arc<[LogBatch]> = Arc::new([opening]);
            let attempt = self
                .store()
                .start_attempt(&held.lease, lease::until(engine.lease), hash.as_deref(), opening.clone())
                .await?;
            let short = terrace_store::short_ref(&self.env.name, held.number);
            self.observer.observe(Progress::Started { job: job.name.clone(), run, short, attempt });
            self.observer.observe(Progress::Lines { job: job.name.clone(), batches: opening });
            let inputs = AttemptInputs {
                source: source.as_deref(),
                pin,
                input: input.as_deref(),
                resolved: &resolved,
                hash: hash.as_deref(),
                snapshot: (wants_snapshot && !captured.is_filled()).then_some(&captured),
            };
            let last = self.attempt(job, held, attempt, &inputs).await?;
            let reason = last.reason.as_deref().map(|r| self.secrets.mask(r).into_owned());
            let summary = match &reason {
                Some(r) => format!("attempt {n} {}: {r}", last.state),
                None => format!("attempt {n} {}", last.state),
            };
            let mut summary = LogBatch::now(Stream::Terrace, &summary);
            let snapshot = match last.state == RunState::Succeeded && wants_snapshot {
                true => match captured.take() {
                    Some(Ok(snapshot)) => Some(snapshot),
                    Some(Err(why)) => {
                        summary.push(&self.secrets.mask(&format!(
                            "source snapshot not kept: {why}; should this job leave terrace.yaml, its delete would \
                             run from the folder as it is then"
                        )));
                        None
                    }
                    None => None,
                },
                false => None,
            };
            let summary: Arc<[LogBatch]> = Arc::new([summary]);
            let ending = Ending { state: last.state, exit_code: last.exit_code, reason };
            let retryable = matches!(last.state, RunState::Failed | RunState::TimedOut);
            if retryable && n < max_attempts {
                self.store().end_attempt(&held.lease, attempt, &ending, summary.clone(), None).await?;
                self.observer.observe(Progress::Lines { job: job.name.clone(), batches: summary });
                self.observer.observe(Progress::Retrying {
                    job: job.name.clone(),
                    attempt: n + 1,
                    reason: ending.reason.unwrap_or_default(),
                });
                continue;
            }
            // A destroyed job's outputs go before its run is recorded as done: a crash in
            // between leaves the run to recovery, and a destroy resumed runs it again.
            if last.state == RunState::Succeeded && self.event == Event::Delete {
                // Its record of what it applied goes with them, in one transaction.
                self.store().forget_deleted(&held.lease, self.env.id, &job.name).await?;
            }
            if last.state == RunState::Succeeded && matches!(self.event, Event::Start | Event::Redeploy) {
                // What it applied is recorded with its success, in one transaction.
                let definition = terrace_model::applied::JobDefinition::from(job);
                let commit = pin.map(|p| p.commit.to_string());
                let applied = Applied {
                    env: self.env.id,
                    definition: &definition,
                    git_commit: commit.as_deref(),
                    snapshot: snapshot.as_ref(),
                };
                self.store().end_applied(&held.lease, attempt, &ending, summary.clone(), &applied).await?;
            } else {
                self.store().end_attempt(&held.lease, attempt, &ending, summary.clone(), Some(&ending)).await?;
            }
            self.observer.observe(Progress::Lines { job: job.name.clone(), batches: summary });
            self.observer.observe(Progress::Finished {
                job: job.name.clone(),
                run,
                state: ending.state,
                reason: ending.reason.clone(),
            });
            return Ok(RunEnd::new(ending.state, ending.reason));
        }
        // max_attempts is at least 1: the loop returns.
        Err(EngineError::Internal(format!("job `{}` ran no attempt", job.name)))
    }
}
