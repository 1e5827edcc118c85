//! Cron jobs (`schedule:` on a job): the job's `start` is force-run on that schedule in
//! every deployed environment it runs in. Each (environment, job) keeps its next tick in
//! the store; a tick fires by moving it on (compare-and-set: one replica fires it), to
//! the first tick after now, so ticks missed while nothing looked run once, not in a burst.

use terrace_model::cron::CronSchedule;
use terrace_model::{Event, Project};
use terrace_store::{EnvPage, EnvState, EnvironmentRecord, ScheduleKind, ScheduleRecord, ScheduleStore, Store};
use time::OffsetDateTime;

use super::Due;
use crate::EngineError;

/// Environments read per page when looking for deployed ones.
const PAGE: u32 = 200;

/// A cron job's schedule in one environment, as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleStatus {
    pub job: String,
    /// The cron expression, as declared (UTC).
    pub cron: String,
    /// When its `start` runs next.
    #[serde(with = "time::serde::rfc3339")]
    pub next_at: OffsetDateTime,
    /// When it last ran on its schedule.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_fired_at: Option<OffsetDateTime>,
}

/// Whether an environment in this state runs its cron jobs: deployed (or deploying).
pub fn deployed(state: EnvState) -> bool {
    matches!(state, EnvState::Running | EnvState::Deploying)
}

/// The cron jobs that run in `env` (declared in the project file).
fn cron_jobs<'p>(project: &'p Project, env: &str) -> impl Iterator<Item = (&'p str, &'p CronSchedule)> {
    project
        .jobs
        .iter()
        .filter(|(_, j)| j.runs_in(env))
        .filter_map(|(name, j)| Some((name.as_str(), j.schedule.as_ref()?)))
}

/// The schedule of `kind` for `env` (and `job`) as first recorded: its first tick the
/// first after `now`; None when the expression has no tick after `now`.
pub fn first(
    kind: ScheduleKind,
    project: &str,
    env: &str,
    job: Option<&str>,
    cron: &CronSchedule,
    now: OffsetDateTime,
) -> Option<ScheduleRecord> {
    Some(ScheduleRecord {
        key: ScheduleRecord::key_of(kind, project, env, job),
        kind,
        project: project.to_string(),
        environment: env.to_string(),
        job: job.map(str::to_string),
        cron: cron.as_str().to_string(),
        next_at: cron.next_after(now)?,
        last_fired_at: None,
    })
}

/// The schedules `project`'s deployed environments should have, recorded if missing.
async fn wanted(
    project: &Project,
    store: &dyn Store,
    timed: &dyn ScheduleStore,
    now: OffsetDateTime,
) -> Result<Vec<(ScheduleRecord, CronSchedule)>, EngineError> {
    let mut out = Vec::new();
    if project.jobs.values().all(|j| j.schedule.is_none()) {
        return Ok(out);
    }
    let mut page = EnvPage::first(PAGE);
    loop {
        let envs = store.list_environments(&project.name, &page).await?;
        for env in envs.iter().filter(|e| deployed(e.state)) {
            for (job, cron) in cron_jobs(project, &env.name) {
                let Some(want) = first(ScheduleKind::Job, &project.name, &env.name, Some(job), cron, now) else {
                    continue;
                };
                out.push((timed.ensure_schedule(&want).await?, cron.clone()));
            }
        }
        match envs.last() {
            Some(last) if envs.len() == PAGE as usize => page.after = Some(last.name.clone()),
            _ => break,
        }
    }
    Ok(out)
}

/// Looks at `project`'s cron jobs at `now`: keeps one schedule per deployed environment
/// and job (forgetting the others), fires the ticks due (one replica each) and returns
/// the force runs to make.
pub async fn tick(
    project: &Project,
    store: &dyn Store,
    timed: &dyn ScheduleStore,
    now: OffsetDateTime,
) -> Result<Vec<Due>, EngineError> {
    let wanted = wanted(project, store, timed, now).await?;
    for stale in timed.schedules_of(&project.name).await? {
        if stale.kind == ScheduleKind::Job && !wanted.iter().any(|(s, _)| s.key == stale.key) {
            timed.delete_schedule(&stale.key).await?;
        }
    }
    let mut due = Vec::new();
    for (s, cron) in wanted {
        if s.next_at > now {
            continue;
        }
        let Some(next) = cron.next_after(now) else { continue };
        if timed.fire_schedule(&s.key, s.next_at, next, now).await? {
            due.push(Due {
                project: s.project,
                environment: s.environment,
                event: Event::Start,
                job: s.job,
                trigger: "schedule".into(),
                command: "schedule".into(),
            });
        }
    }
    Ok(due)
}

/// The cron jobs of `env` and their next ticks, recorded now when `env` is deployed and
/// they have none yet (as the next tick would).
pub async fn status(
    project: &Project,
    env: &EnvironmentRecord,
    timed: &dyn ScheduleStore,
    now: OffsetDateTime,
) -> Result<Vec<ScheduleStatus>, EngineError> {
    let mut out = Vec::new();
    for (job, cron) in cron_jobs(project, &env.name) {
        let Some(want) = first(ScheduleKind::Job, &project.name, &env.name, Some(job), cron, now) else { continue };
        let s = if deployed(env.state) { timed.ensure_schedule(&want).await? } else { want };
        out.push(ScheduleStatus {
            job: job.to_string(),
            cron: s.cron,
            next_at: s.next_at,
            last_fired_at: s.last_fired_at,
        });
    }
    Ok(out)
}
