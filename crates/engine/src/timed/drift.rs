//! Drift checks (`drift:` on an environment): on that cron schedule, a `plan` of the
//! environment's IaC jobs (`-detailed-exitcode`); resources the plan would change mark
//! the environment drifted (output-only changes do not), a later check that finds none
//! clears it, and every check is kept as the environment's drift history. Of the checks
//! due, the ones checked longest ago go first, at most `capacity` at once.

use terrace_model::cron::CronSchedule;
use terrace_model::{Event, Project};
use terrace_store::{
    DriftCheckId, DriftCheckRecord, DriftState, DriftedResource, EnvPage, EnvironmentRecord, ScheduleKind,
    ScheduleRecord, ScheduleStore, Store,
};
use time::OffsetDateTime;

use super::Due;
use super::schedule::{deployed, first};
use crate::notify::{self, Notice};
use crate::{EngineError, PipelineOutcome};
use terrace_model::notify::NotifyKind;

/// The trigger and pipeline command of a drift check's runs.
pub const TRIGGER: &str = "drift";
/// Environments read per page when looking for deployed ones.
const PAGE: u32 = 200;

/// An environment's drift, as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DriftStatus {
    /// The cron expression of its checks, as declared.
    pub cron: String,
    /// The next check.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_at: Option<OffsetDateTime>,
    /// The last check: `in_sync`, `drifted` or `failed`; null before the first.
    pub last: Option<DriftCheckRecord>,
}

impl DriftStatus {
    pub fn drifted(&self) -> bool {
        self.last.as_ref().is_some_and(|c| c.state == DriftState::Drifted)
    }
}

/// Whether a request (or tick) with this pipeline command is a drift check.
pub fn is_check(command: Option<&str>) -> bool {
    command == Some(TRIGGER)
}

/// Looks at `project`'s drift schedules at `now`: keeps one per deployed environment
/// with `drift:` (forgetting the others) and fires the checks due, oldest last check
/// first, at most `capacity` of them; the rest stay due for a later tick.
pub async fn tick(
    project: &Project,
    store: &dyn Store,
    timed: &dyn ScheduleStore,
    now: OffsetDateTime,
    capacity: usize,
) -> Result<Vec<Due>, EngineError> {
    let mut wanted: Vec<(ScheduleRecord, CronSchedule)> = Vec::new();
    if project.environments.values().any(|e| e.drift.is_some()) {
        let mut page = EnvPage::first(PAGE);
        loop {
            let envs = store.list_environments(&project.name, &page).await?;
            for env in envs.iter().filter(|e| deployed(e.state)) {
                let Some(cron) = project.environment(&env.name).and_then(|d| d.drift.as_ref()) else { continue };
                let Some(want) = first(ScheduleKind::Drift, &project.name, &env.name, None, cron, now) else {
                    continue;
                };
                wanted.push((timed.ensure_schedule(&want).await?, cron.clone()));
            }
            match envs.last() {
                Some(last) if envs.len() == PAGE as usize => page.after = Some(last.name.clone()),
                _ => break,
            }
        }
    }
    for stale in timed.schedules_of(&project.name).await? {
        if stale.kind == ScheduleKind::Drift && !wanted.iter().any(|(s, _)| s.key == stale.key) {
            timed.delete_schedule(&stale.key).await?;
        }
    }
    wanted.retain(|(s, _)| s.next_at <= now);
    // Oldest first: never checked, then the longest ago.
    wanted.sort_by_key(|(s, _)| (s.last_fired_at, s.next_at));
    let mut due = Vec::new();
    for (s, cron) in wanted {
        if due.len() >= capacity {
            break;
        }
        let Some(next) = cron.next_after(now) else { continue };
        if timed.fire_schedule(&s.key, s.next_at, next, now).await? {
            due.push(Due {
                project: s.project,
                environment: s.environment,
                event: Event::Plan,
                job: None,
                trigger: TRIGGER.into(),
                command: TRIGGER.into(),
            });
        }
    }
    Ok(due)
}

/// The resources the plans of `outcome` would change, per job.
fn drifted_resources(outcome: &PipelineOutcome) -> Vec<DriftedResource> {
    let mut out = Vec::new();
    for job in &outcome.jobs {
        let Some(plan) = job.plan.clone() else { continue };
        let Ok(summary) = serde_json::from_value::<terrace_templates::PlanSummary>(plan) else { continue };
        out.extend(summary.resources.into_iter().map(|r| DriftedResource {
            job: job.job.clone(),
            address: r.address,
            actions: r.actions,
        }));
    }
    out
}

/// Records what the drift check `outcome` (a `plan` pipeline, or the error that stopped
/// it) found, in the drift history and the environment's history.
pub async fn record(
    store: &dyn Store,
    timed: &dyn ScheduleStore,
    def: &Project,
    env: &str,
    outcome: Result<&PipelineOutcome, &str>,
    now: OffsetDateTime,
) -> Result<DriftCheckRecord, EngineError> {
    let project = def.name.as_str();
    let (state, resources, run_ids, reason) = match outcome {
        Err(why) => (DriftState::Failed, vec![], vec![], Some(why.to_string())),
        Ok(o) => {
            let runs = o.jobs.iter().map(|j| j.run_id).collect();
            if let Some(job) = &o.failed_job {
                let why = o.jobs.iter().find(|j| &j.job == job).and_then(|j| j.reason.clone());
                let reason = format!("the plan of job `{job}` failed: {}", why.as_deref().unwrap_or("failed"));
                (DriftState::Failed, vec![], runs, Some(reason))
            } else {
                let resources = drifted_resources(o);
                let state = if resources.is_empty() { DriftState::InSync } else { DriftState::Drifted };
                (state, resources, runs, None)
            }
        }
    };
    let check = DriftCheckRecord {
        id: DriftCheckId::new(),
        project: project.to_string(),
        environment: env.to_string(),
        state,
        resources,
        run_ids,
        reason,
        checked_at: now,
    };
    timed.record_drift_check(&check).await?;
    if let Some(record) = store.get_environment(project, env).await? {
        store.record_event(record.id, None, "drift", &describe(&check)).await?;
    }
    if check.state == DriftState::Drifted {
        let notice = Notice {
            kind: NotifyKind::Drift,
            environment: env.to_string(),
            text: format!("{project}/{env}: {}", describe(&check)),
            detail: serde_json::json!({"resources": check.resources, "run_ids": check.run_ids, "check_id": check.id}),
        };
        notify::emit(def, timed, &notice, now).await?;
    }
    Ok(check)
}

/// One line on a check: what it found.
pub fn describe(check: &DriftCheckRecord) -> String {
    match check.state {
        DriftState::InSync => "drift check: in sync".to_string(),
        DriftState::Failed => format!("drift check failed: {}", check.reason.as_deref().unwrap_or("?")),
        DriftState::Drifted => {
            let list: Vec<String> =
                check.resources.iter().map(|r| format!("{} {} ({})", r.job, r.address, r.actions.join("+"))).collect();
            format!("drifted: {} resource(s) changed outside Terrace: {}", list.len(), list.join(", "))
        }
    }
}

/// `env`'s drift: its schedule and last check; None when it has no `drift:`.
pub async fn status(
    project: &Project,
    env: &EnvironmentRecord,
    timed: &dyn ScheduleStore,
    now: OffsetDateTime,
) -> Result<Option<DriftStatus>, EngineError> {
    let Some(cron) = project.environment(&env.name).and_then(|d| d.drift.as_ref()) else {
        return Ok(None);
    };
    // Recorded now when deployed and not yet (as the next tick would).
    let next_at = match first(ScheduleKind::Drift, &project.name, &env.name, None, cron, now) {
        Some(want) if deployed(env.state) => Some(timed.ensure_schedule(&want).await?.next_at),
        _ => None,
    };
    let last = timed.drift_checks(&project.name, &env.name, 1).await?.into_iter().next();
    Ok(Some(DriftStatus { cron: cron.as_str().to_string(), next_at, last }))
}

/// `terrace drift ENV` and `GET .../environments/{env}/drift`: the environment's drift
/// and its checks, newest first.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DriftHistory {
    pub environment: String,
    /// Whether the last check found drift.
    pub drifted: bool,
    /// Its schedule and last check; null without `drift:`.
    pub drift: Option<DriftStatus>,
    pub checks: Vec<DriftCheckRecord>,
}

/// The drift history of `env` (its record, when it has one), at most `limit` checks.
pub async fn history(
    project: &Project,
    env: &str,
    record: Option<&EnvironmentRecord>,
    timed: &dyn ScheduleStore,
    now: OffsetDateTime,
    limit: u32,
) -> Result<DriftHistory, EngineError> {
    let drift = match record {
        Some(r) => status(project, r, timed, now).await?,
        None => None,
    };
    let checks = timed.drift_checks(&project.name, env, limit).await?;
    let drifted = checks.first().is_some_and(|c| c.state == DriftState::Drifted);
    Ok(DriftHistory { environment: env.to_string(), drifted, drift, checks })
}
