//! Local mode's time half: `terrace env extend ENV BY` and `terrace tick`, which runs
//! what is due now (TTL destroys, cron jobs) with the engine in this process. A server does the same on its own every second.

use crate::out::{errln, outln};
use std::process::ExitCode;
use std::sync::Arc;

use terrace_engine::notify;
use terrace_engine::timed::{Clock, Due, drift, schedule, ttl};
use terrace_engine::{EngineError, Origin, Request, SecretValues};
use tokio_util::sync::CancellationToken;

use crate::args::{EnvCommand, ExecFlags, Global, JsonFlag};
use crate::context::session;
use crate::exit::CliError;
use crate::render::table::when;

pub fn clock() -> Result<Clock, CliError> {
    Clock::from_env().map_err(CliError::usage)
}

/// The line `status ENV` prints for an ephemeral environment (local and client mode).
pub fn ttl_line(t: &ttl::TtlStatus) -> String {
    let mut line = format!("  ttl {}: destroyed at {} UTC", t.ttl, when(t.destroy_at));
    if t.destroy_attempts > 0 {
        line.push_str(&format!("; {} destroy(s) asked", t.destroy_attempts));
        if let Some(at) = t.retry_at {
            line.push_str(&format!(", next not before {} UTC", when(at)));
        }
    }
    if let Some(e) = &t.last_error {
        line.push_str(&format!("\n  last destroy failed: {e}"));
    }
    line
}

/// The lines `status ENV` prints for its cron jobs (local and client mode).
pub fn schedule_lines(schedules: &[schedule::ScheduleStatus]) -> Vec<String> {
    schedules
        .iter()
        .map(|s| {
            let last = s.last_fired_at.map(|t| format!(", last at {} UTC", when(t))).unwrap_or_default();
            format!("  schedule of `{}` ({}): next at {} UTC{last}", s.job, s.cron, when(s.next_at))
        })
        .collect()
}

pub fn print_extended(env: &str, t: &ttl::TtlStatus, json: bool) -> Result<ExitCode, CliError> {
    if json {
        outln!("{}", serde_json::to_string_pretty(t)?);
    } else {
        outln!("environment `{env}` is now destroyed at {} UTC (ttl {})", when(t.destroy_at), t.ttl);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn env(g: &Global, command: EnvCommand) -> Result<ExitCode, CliError> {
    let EnvCommand::Extend { env, by, json } = command else {
        return Err(CliError::usage("terrace env extend ENV BY"));
    };
    let s = session(g).await?;
    let project = &s.loaded.project;
    let Some(record) = s.require_known(&env).await? else {
        return Err(CliError::Failed(format!("environment `{env}` has no record yet: start it before extending it")));
    };
    let status = ttl::extend(project, &record, s.timed.as_ref(), by, clock()?.now()).await?;
    print_extended(&env, &status, json)
}

/// What `tick` ran.
#[derive(serde::Serialize)]
struct Ran {
    environment: String,
    event: terrace_model::Event,
    job: Option<String>,
    trigger: String,
    /// succeeded, failed, or busy (another event held the environment: asked again later).
    state: String,
    pipeline_id: Option<terrace_model::PipelineId>,
    failed_job: Option<String>,
    /// A drift check's finding: in_sync, drifted or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    drift: Option<String>,
}

pub async fn tick(g: &Global, a: &JsonFlag) -> Result<ExitCode, CliError> {
    let now = clock()?.now();
    let s = session(g).await?;
    let project = s.loaded.project.clone();
    let ttl = ttl::tick(&project, s.store.as_ref(), s.timed.as_ref(), now).await?;
    let cron = schedule::tick(&project, s.store.as_ref(), s.timed.as_ref(), now).await?;
    // One at a time here: every check due runs, oldest first.
    let checks = drift::tick(&project, s.store.as_ref(), s.timed.as_ref(), now, usize::MAX).await?;
    for w in &ttl.warnings {
        errln!("warning: environment `{}` is destroyed at {} UTC (its ttl ends)", w.environment, when(w.expires_at));
    }
    let control = s.control.clone();
    let (store, timed) = (s.store.clone(), s.timed.clone());
    let flags = ExecFlags {
        parallel: None,
        quiet: true,
        json: false,
        no_wait: true,
        kill_grace: std::time::Duration::from_secs(10),
    };
    let mut engine = s.engine(&flags);
    let mut ran = Vec::new();
    for due in ttl.destroys.into_iter().chain(cron).chain(checks) {
        let check = drift::is_check(Some(&due.command));
        let (mut r, outcome) = run(&mut engine, control.as_ref(), due).await?;
        if let Some(Ok(o)) = &outcome {
            for notice in notify::outcome_notices(&project.name, o) {
                notify::emit(&project, timed.as_ref(), &notice, now).await?;
            }
        }
        if check && let Some(outcome) = outcome {
            let found = outcome.as_ref().map_err(String::as_str);
            let c = drift::record(store.as_ref(), timed.as_ref(), &project, &r.environment, found, now).await?;
            r.drift = Some(c.state.to_string());
            errln!("{}: {}", r.environment, drift::describe(&c));
        }
        ran.push(r);
    }
    // The outbox last: what this tick queued goes out now; a failing endpoint waits its backoff.
    let sender = terrace_server::scheduler::notify::HttpSender::default();
    let owner = format!("local:{}", std::process::id());
    let lease = std::time::Duration::from_secs(120);
    let sent = notify::deliver(&project, timed.as_ref(), control.as_ref(), &sender, &owner, now, lease).await?;
    for d in sent.iter().filter(|d| d.error.is_some()) {
        errln!("notification `{}` ({}) not delivered: {}", d.endpoint, d.kind, d.error.as_deref().unwrap_or("?"));
    }
    let failed = ran.iter().any(|r| r.state == "failed");
    if a.json {
        let warned: Vec<_> = ttl
            .warnings
            .iter()
            .map(|w| serde_json::json!({"environment": w.environment, "destroy_at": w.expires_at.to_string()}))
            .collect();
        let out = serde_json::json!({"ran": ran, "warned": warned, "notifications": sent});
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if ran.is_empty() {
        outln!("nothing due");
    } else {
        for r in &ran {
            let what = r.job.as_ref().map(|j| format!("job `{j}` ")).unwrap_or_default();
            let found = r.drift.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
            outln!("{} {what}of `{}` ({}): {}{found}", r.event, r.environment, r.trigger, r.state);
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Runs what is due; with the pipeline's outcome (or the error that stopped it), unless
/// another event held the environment.
async fn run(
    engine: &mut terrace_engine::Engine,
    control: &dyn terrace_store::ControlStore,
    due: Due,
) -> Result<(Ran, Option<Result<terrace_engine::PipelineOutcome, String>>), CliError> {
    engine.trigger = due.trigger.clone();
    let secrets = SecretValues(control.secret_values(&engine.project.name, &due.environment).await?);
    let req = Request {
        env: due.environment.clone(),
        event: due.event,
        job: due.job.clone(),
        raw_args: vec![],
        secrets,
        commit: None,
        saved_plan: None,
        origin: Origin { command: Some(due.command.clone()), ..Default::default() },
        resume: Default::default(),
    };
    let mut ran = Ran {
        environment: due.environment,
        event: due.event,
        job: due.job,
        trigger: due.trigger,
        state: "busy".into(),
        pipeline_id: None,
        failed_job: None,
        drift: None,
    };
    match engine.run_event(req, Arc::new(terrace_engine::progress::Silent), CancellationToken::new()).await {
        Ok(o) => {
            ran.state = if o.succeeded() { "succeeded" } else { "failed" }.into();
            ran.pipeline_id = o.pipeline_id;
            ran.failed_job = o.failed_job.clone();
            Ok((ran, Some(Ok(o))))
        }
        Err(EngineError::Busy { .. }) => Ok((ran, None)),
        Err(e) => Err(e.into()),
    }
}
