//! `terrace up | down | destroy` and `terrace run`: an environment event, or a force run
//! of one job, with live progress, Ctrl-C to stop (the jobs' process groups are stopped
//! and their runs marked cancelled), and a summary.

use crate::out::{errln, outln};
use std::process::ExitCode;

use terrace_engine::approvals::PipelineSubject;
use terrace_engine::approved_plans::planned_start;
use terrace_engine::{EngineError, PipelineOutcome, Request};
use terrace_model::Event;
use terrace_store::{EnvState, RunState};
use tokio_util::sync::CancellationToken;

use crate::args::{EventArgs, EventName, ExecFlags, Global, JobDeleteArgs, RunArgs};
use crate::context::{Session, local_actor, session};
use crate::exit::CliError;
use crate::render::progress;

/// `--keep-removed` belongs to the events that run removed jobs' deletes.
pub(crate) fn check_keep_removed(a: &EventArgs, event: Event) -> Result<(), CliError> {
    match a.keep_removed && !matches!(event, Event::Start | Event::Delete) {
        true => Err(CliError::usage("--keep-removed goes with `terrace up` and `terrace destroy`")),
        false => Ok(()),
    }
}

pub async fn event(g: &Global, a: EventArgs, event: Event) -> Result<ExitCode, CliError> {
    check_keep_removed(&a, event)?;
    let mut req = Request::new(a.env, event);
    req.origin.keep_removed = a.keep_removed;
    Ok(execute(session(g).await?, &a.exec, req, Gate::Check).await?.0)
}

/// `terrace job delete JOB --env ENV`: a force run of the job's `delete`; a job removed
/// from the file runs it with the definition it last applied in the environment.
pub async fn job_delete(g: &Global, a: JobDeleteArgs) -> Result<ExitCode, CliError> {
    let req = Request { job: Some(a.job), ..Request::new(a.env, Event::Delete) };
    Ok(execute(session(g).await?, &a.exec, req, Gate::Check).await?.0)
}

/// Whether an event checks its environment's `approval` before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// An event asked for now: it waits as an approval when the environment requires one.
    Check,
    /// An approval of it was just decided.
    Approved,
    /// No approval check and no outcome printed: the caller prints (a promotion's
    /// redeploys, whose approval was the promotion's; `plan --all`'s table).
    Quiet,
}

pub async fn force_run(g: &Global, a: RunArgs) -> Result<ExitCode, CliError> {
    let (job, env, event) = a.forced()?;
    let event = match event {
        EventName::Start => Event::Start,
        EventName::Stop => Event::Stop,
        EventName::Delete => Event::Delete,
        EventName::Plan => Event::Plan,
        EventName::Raw => Event::Raw,
        EventName::Redeploy => Event::Redeploy,
        EventName::Debug => return crate::commands::debug::run(g, job, env, &a.exec).await,
    };
    let saved_plan = match &a.plan {
        None => None,
        Some(_) if event != Event::Start => {
            return Err(CliError::usage("--plan applies a saved plan: use it with --event start"));
        }
        Some(prefix) => Some(plan_run(g, prefix, &job, &env).await?),
    };
    let req = Request {
        env,
        event,
        job: Some(job),
        raw_args: a.args,
        secrets: Default::default(),
        commit: None,
        saved_plan,
        origin: Default::default(),
        resume: Default::default(),
    };
    Ok(execute(session(g).await?, &a.exec, req, Gate::Check).await?.0)
}

/// The `plan` run of `job` in `env` that `reference` names (an id, a prefix, or `ENV#N`).
async fn plan_run(g: &Global, reference: &str, job: &str, env: &str) -> Result<terrace_model::RunId, CliError> {
    let loaded = crate::context::load_project(g)?;
    let store = crate::context::open_store(&crate::context::data_dir(g, &loaded.root)).await?;
    let run = terrace_engine::find_run(store.as_ref(), Some(&loaded.project.name), reference).await?;
    if run.event != Event::Plan || run.job != job || run.environment != env {
        return Err(CliError::usage(format!(
            "--plan: run {} is a `{}` run of job `{}` in `{}`, not a `plan` run of `{job}` in `{env}`",
            run.short(),
            run.event,
            run.job,
            run.environment
        )));
    }
    Ok(run.id)
}

/// How often a waiting `terrace` tries the busy environment again.
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// What both modes print when an environment is busy and the command waits its turn.
pub(crate) fn waiting(env: &str, who: &str) -> String {
    format!(
        "environment `{env}` is busy: {who}; waiting for it to finish (Ctrl-C to stop waiting; --no-wait fails at \
         once instead)"
    )
}

/// Runs the event, or records it as awaiting approval (then no outcome) when its
/// environment requires one and `gate` says to check.
pub(crate) async fn execute(
    session: Session,
    flags: &ExecFlags,
    req: Request,
    gate: Gate,
) -> Result<(ExitCode, Option<PipelineOutcome>), CliError> {
    if gate == Gate::Check
        && let Some(policy) = session.loaded.project.environment(&req.env).map(|e| e.approval)
    {
        let mut subject = PipelineSubject::new(req.event, req.job.clone(), req.raw_args.clone());
        subject.keep_removed = req.origin.keep_removed;
        let project = &session.loaded.project.name;
        if let Some(mut new) = subject.approval(project, &req.env, policy, &local_actor()) {
            let control = session.control.clone();
            // Read before the plan runs: the approver sees what the file removed.
            let removed = terrace_engine::removed::approval_note(
                &session.loaded.project,
                session.store.as_ref(),
                &req.env,
                req.event,
                req.job.as_deref(),
                req.origin.keep_removed,
            )
            .await?;
            let (notify_project, notify_timed) = (session.loaded.project.clone(), session.timed.clone());
            if planned_start(&session.loaded.project, &req.env, req.event, req.job.as_deref()) {
                // Plan first, at the commit the start is pinned to: the approval is on
                // these saved plans, and approving it applies exactly them.
                let plan = Request { event: Event::Plan, ..req.clone() };
                let outcome = run(session, flags, plan).await?;
                if !outcome.succeeded() {
                    print_outcome(&outcome, flags.json)?;
                    errln!("terrace: the plan failed: nothing awaits approval; fix it and run `terrace up` again");
                    return Ok((ExitCode::from(1), Some(outcome)));
                }
                let mut subject = subject;
                subject.plans = outcome.jobs.iter().map(|j| (j.job.clone(), j.run_id)).collect();
                let lines: Vec<String> = outcome
                    .jobs
                    .iter()
                    .map(|j| match &j.plan {
                        Some(p) if p["empty"] == true => format!("{}: no changes", j.job),
                        Some(p) => {
                            format!(
                                "{}: {} to add, {} to change, {} to destroy",
                                j.job, p["add"], p["change"], p["destroy"]
                            )
                        }
                        None => format!("{}: {}", j.job, j.state),
                    })
                    .collect();
                new.summary = format!("{} on saved plans ({})", new.summary, lines.join("; "));
                new.subject = serde_json::to_value(&subject)?;
            }
            if let Some(removed) = removed {
                new.summary = format!("{}; {removed}", new.summary);
            }
            let approval = control.create_approval(new).await?;
            let notice = terrace_engine::notify::approval_notice(
                &notify_project.name,
                &req.env,
                &approval.short(),
                &approval.summary,
            );
            queue_notice(&notify_project, notify_timed.as_ref(), &notice).await;
            crate::commands::approvals::print_awaiting(&approval, flags.json)?;
            return Ok((ExitCode::SUCCESS, None));
        }
    }
    let outcome = run(session, flags, req).await?;
    if gate != Gate::Quiet {
        print_outcome(&outcome, flags.json)?;
    }
    let code = if outcome.succeeded() { ExitCode::SUCCESS } else { ExitCode::from(1) };
    Ok((code, Some(outcome)))
}

/// Runs the event here, waiting its turn while the environment is busy.
async fn run(session: Session, flags: &ExecFlags, mut req: Request) -> Result<PipelineOutcome, CliError> {
    req.secrets = session.secrets(&req.env).await?;
    let control = session.control.clone();
    let (project, timed) = (session.loaded.project.clone(), session.timed.clone());
    let engine = session.engine(flags);
    let observer = progress::observer(flags.quiet);
    let cancel = CancellationToken::new();
    spawn_interrupt_handler(cancel.clone());
    // One event at a time per environment: a second one waits its turn, as on a server.
    let mut warned = false;
    let outcome = loop {
        match engine.run_event(req.clone(), observer.clone(), cancel.clone()).await {
            Err(EngineError::Busy { env, detail }) if flags.no_wait => {
                let who = detail.trim_end_matches("; wait for it to finish");
                return Err(CliError::Failed(format!(
                    "environment `{env}` is busy: {who}; run again later, or without --no-wait to wait for it"
                )));
            }
            Err(EngineError::Busy { env, .. }) if cancel.is_cancelled() => {
                return Err(CliError::Failed(format!("stopped waiting for environment `{env}`; nothing ran")));
            }
            Err(EngineError::Busy { env, detail }) => {
                if !warned {
                    errln!("{}", waiting(&env, detail.trim_end_matches("; wait for it to finish")));
                    warned = true;
                }
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(BUSY_RETRY) => {}
                }
            }
            other => break other,
        }
    };
    observer.finish();
    let outcome = outcome?;
    if let Some(follow) = &outcome.on_failure {
        let (target, detail) = follow.audit_entry(&outcome);
        control.audit(&local_actor(), "pipeline.on_failure", &target, Some(&detail)).await?;
    }
    for notice in terrace_engine::notify::outcome_notices(&project.name, &outcome) {
        queue_notice(&project, timed.as_ref(), &notice).await;
    }
    Ok(outcome)
}

/// Queues a notification (local mode: `terrace tick` delivers it); a failure is only a warning.
async fn queue_notice(
    project: &terrace_model::Project,
    timed: &dyn terrace_store::ScheduleStore,
    notice: &terrace_engine::notify::Notice,
) {
    let now = time::OffsetDateTime::now_utc();
    if let Err(e) = terrace_engine::notify::emit(project, timed, notice, now).await {
        errln!("warning: could not queue the `{}` notification: {e}", notice.kind);
    }
}

/// First Ctrl-C or SIGTERM: stop the jobs gracefully. Second: leave at once.
fn spawn_interrupt_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return;
        };
        for _ in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if cancel.is_cancelled() {
                errln!("terrace: interrupted again, leaving now; the next terrace command marks the runs interrupted");
                std::process::exit(130);
            }
            errln!("terrace: stopping the running jobs (interrupt again to leave at once)");
            cancel.cancel();
        }
    });
}

/// The summary (or the outcome as JSON); a closed stdout does not change the exit status,
/// which still says how the run went.
pub(crate) fn print_outcome(outcome: &PipelineOutcome, json: bool) -> Result<(), CliError> {
    let printed = match json {
        true => crate::out::line(format_args!("{}", serde_json::to_string_pretty(outcome)?)),
        false => print_summary(outcome),
    };
    match printed {
        Err(CliError::Closed) => Ok(()),
        other => other,
    }
}

pub(crate) fn print_summary(o: &PipelineOutcome) -> Result<(), CliError> {
    if o.pipeline_id.is_none() {
        outln!("environment `{}` has no record: nothing to destroy", o.environment);
        return Ok(());
    }
    let count = |s: RunState| o.jobs.iter().filter(|j| j.state == s).count();
    let secs = o.duration_ms as f64 / 1000.0;
    let verdict = match (&o.failed_job, o.environment_state) {
        (None, _) if o.event == Event::Plan => format!("plan of `{}` done", o.environment),
        (None, EnvState::Deleted) => format!("environment `{}` deleted", o.environment),
        (None, state) => format!("environment `{}` is {state}", o.environment),
        (Some(job), EnvState::Failed) => format!("environment `{}` failed at job `{job}`", o.environment),
        (Some(job), state) => format!("environment `{}` is {state}: job `{job}` did not succeed", o.environment),
    };
    outln!(
        "{verdict} ({} succeeded, {} failed, {} skipped; {secs:.1}s)",
        count(RunState::Succeeded),
        o.jobs.len() - count(RunState::Succeeded) - count(RunState::Skipped),
        count(RunState::Skipped),
    );
    if o.event == Event::Plan {
        if o.jobs.is_empty() {
            outln!("  no terraform or opentofu job to plan");
        }
        for j in &o.jobs {
            if let Some(p) = &j.plan {
                let empty = if p["empty"] == true { " (no changes)" } else { "" };
                outln!(
                    "  {}: {} to add, {} to change, {} to destroy{empty}",
                    j.job,
                    p["add"],
                    p["change"],
                    p["destroy"]
                );
            }
        }
    }
    for j in o.jobs.iter().filter(|j| j.state != RunState::Succeeded) {
        let reason = j.reason.as_deref().unwrap_or("");
        outln!("  {} {}: {reason}  (terrace logs {}#{})", j.job, j.state, o.environment, j.number);
    }
    for r in &o.removed {
        let state = o.jobs.iter().find(|j| j.job == r.job).map(|j| j.state);
        outln!("  {}", r.describe(&o.environment, state));
    }
    if let Some(f) = &o.on_failure {
        let to = f.commit.as_deref().map(|c| format!(" to commit {c}")).unwrap_or_default();
        match (&f.note, &f.outcome) {
            (Some(note), _) => outln!("{note}"),
            (None, Some(next)) => {
                outln!(
                    "on_failure {}{to} (pipeline {}):",
                    f.action,
                    next.pipeline_id.map(|p| p.to_string()).unwrap_or_default()
                );
                print_summary(next)?;
            }
            (None, None) => {}
        }
    }
    Ok(())
}
