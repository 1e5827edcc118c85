//! Ephemeral environments (`ttl:`): each gets a destroy time when its record exists
//! (its creation plus its ttl; `terrace env extend` moves it), a warning shortly before
//! (a tenth of the ttl, at most an hour), then its `delete` event. A destroy that fails
//! leaves the environment `failed` and visible, and is asked again after a backoff
//! (1 minute, doubling, at most an hour) until one succeeds.

use std::time::Duration;

use terrace_model::{Event, Project};
use terrace_store::{EnvState, EnvironmentRecord, ScheduleStore, Store};
use time::OffsetDateTime;

use super::Due;
use crate::EngineError;
use crate::notify::{self, Notice};
use terrace_model::notify::NotifyKind;

/// The longest time a warning goes out before the destroy.
const MAX_WARNING: Duration = Duration::from_secs(3600);
/// Most destroy times looked at per tick.
const BATCH: u32 = 500;

/// A warning to send: the environment is destroyed at `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub project: String,
    pub environment: String,
    pub expires_at: OffsetDateTime,
}

/// What one look at the destroy times decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TtlTick {
    pub warnings: Vec<Warning>,
    pub destroys: Vec<Due>,
}

/// How long after a destroy was asked the next may be: 1 minute, doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(60u64.saturating_mul(1u64 << attempts.min(6))).min(MAX_WARNING)
}

/// How long before its destroy an environment with this ttl is warned.
pub fn warning_before(ttl: Duration) -> Duration {
    (ttl / 10).min(MAX_WARNING)
}

/// Looks at `project`'s ephemeral environments at `now`: records missing destroy times,
/// claims the warnings and destroys due (one replica each) and returns them.
pub async fn tick(
    project: &Project,
    store: &dyn Store,
    timed: &dyn ScheduleStore,
    now: OffsetDateTime,
) -> Result<TtlTick, EngineError> {
    for (name, def) in &project.environments {
        let Some(ttl) = &def.ttl else { continue };
        if let Some(env) = store.get_environment(&project.name, name).await?
            && env.state != EnvState::Deleted
        {
            timed.ensure_expiry(&env, env.created_at + ttl.duration).await?;
        }
    }
    let mut out = TtlTick::default();
    for e in timed.expiries_until(now + MAX_WARNING, BATCH).await? {
        if e.project != project.name {
            continue;
        }
        let env = store.get_environment(&e.project, &e.environment).await?;
        let def = project.environment(&e.environment);
        let Some(env) = env.filter(|env| env.id == e.environment_id) else {
            timed.delete_expiry(e.environment_id).await?;
            continue;
        };
        // An environment still declared without a ttl is no longer ephemeral.
        let ttl = match def.map(|d| d.ttl.as_ref()) {
            Some(None) => {
                timed.delete_expiry(e.environment_id).await?;
                continue;
            }
            Some(Some(ttl)) => ttl.duration,
            None => MAX_WARNING * 10,
        };
        if e.expires_at > now {
            if e.warned_at.is_none()
                && e.expires_at - warning_before(ttl) <= now
                && timed.mark_expiry_warned(env.id, e.expires_at).await?
            {
                let left = humantime::format_duration(Duration::try_from(e.expires_at - now).unwrap_or_default());
                let message = format!("time to live ends in {left}: the environment will be destroyed then");
                store.record_event(env.id, None, "ttl", &message).await?;
                let notice = Notice {
                    kind: NotifyKind::TtlWarning,
                    environment: e.environment.clone(),
                    text: format!("{}/{}: {message} ({} UTC)", e.project, e.environment, e.expires_at),
                    detail: serde_json::json!({"destroy_at": e.expires_at.unix_timestamp(), "ttl": humantime::format_duration(ttl).to_string()}),
                };
                notify::emit(project, timed, &notice, now).await?;
                out.warnings.push(Warning {
                    project: e.project.clone(),
                    environment: e.environment.clone(),
                    expires_at: e.expires_at,
                });
            }
            continue;
        }
        // A destroy under way (or another event holding the environment) is waited for.
        if matches!(env.state, EnvState::Deleting | EnvState::Deploying | EnvState::Stopping) {
            continue;
        }
        if e.attempts > 0 && env.state == EnvState::Failed && env.reason.is_some() && e.last_error != env.reason {
            timed.note_expiry_error(env.id, env.reason.as_deref().unwrap_or_default()).await?;
        }
        if e.retry_at.is_some_and(|at| at > now) {
            continue;
        }
        if timed.claim_expiry_destroy(env.id, e.expires_at, e.attempts, now + backoff(e.attempts)).await? {
            let message = match e.attempts {
                0 => "time to live ended: destroying the environment".to_string(),
                n => format!("time to live ended: destroying the environment again (attempt {})", n + 1),
            };
            store.record_event(env.id, None, "ttl", &message).await?;
            let notice = Notice {
                kind: NotifyKind::TtlDestroy,
                environment: e.environment.clone(),
                text: format!("{}/{}: {message}", e.project, e.environment),
                detail: serde_json::json!({"attempt": e.attempts + 1, "last_error": e.last_error}),
            };
            notify::emit(project, timed, &notice, now).await?;
            out.destroys.push(Due {
                project: e.project.clone(),
                environment: e.environment.clone(),
                event: Event::Delete,
                job: None,
                trigger: "ttl".into(),
                command: "ephemeral".into(),
            });
        }
    }
    Ok(out)
}

/// An ephemeral environment's destroy time as `status` shows it (local and server alike).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TtlStatus {
    /// The time to live, as declared.
    pub ttl: String,
    /// When the `delete` event is asked (creation + ttl + extensions).
    #[serde(with = "time::serde::rfc3339")]
    pub destroy_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub warned_at: Option<OffsetDateTime>,
    /// Destroys asked so far.
    pub destroy_attempts: u32,
    /// After a failed destroy: not before this time is it asked again.
    #[serde(with = "time::serde::rfc3339::option")]
    pub retry_at: Option<OffsetDateTime>,
    /// Why the last destroy failed.
    pub last_error: Option<String>,
}

/// The destroy time of `env`, recorded now if its record has none yet; None when the
/// environment has no `ttl`.
pub async fn status(
    project: &Project,
    env: &EnvironmentRecord,
    timed: &dyn ScheduleStore,
) -> Result<Option<TtlStatus>, EngineError> {
    let Some(ttl) = project.environment(&env.name).and_then(|d| d.ttl.as_ref()) else {
        return Ok(None);
    };
    let e = timed.ensure_expiry(env, env.created_at + ttl.duration).await?;
    Ok(Some(TtlStatus {
        ttl: ttl.declared.clone(),
        destroy_at: e.expires_at,
        warned_at: e.warned_at,
        destroy_attempts: e.attempts,
        retry_at: e.retry_at,
        last_error: e.last_error,
    }))
}

/// `terrace env extend ENV BY`: the destroy moves to `BY` after the later of its time
/// and `now`; a destroy that was failing starts over.
pub async fn extend(
    project: &Project,
    env: &EnvironmentRecord,
    timed: &dyn ScheduleStore,
    by: Duration,
    now: OffsetDateTime,
) -> Result<TtlStatus, EngineError> {
    let Some(current) = status(project, env, timed).await? else {
        return Err(EngineError::Invalid(format!(
            "environment `{}` has no `ttl` in the project file: only an ephemeral environment can be extended",
            env.name
        )));
    };
    let to = current.destroy_at.max(now) + by;
    timed.extend_expiry(&project.name, &env.name, to).await?;
    status(project, env, timed).await?.ok_or_else(|| EngineError::Internal("the destroy time went away".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let minutes: Vec<u64> = (0..9).map(|n| backoff(n).as_secs() / 60).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(warning_before(Duration::from_secs(72 * 3600)), MAX_WARNING);
        assert_eq!(warning_before(Duration::from_secs(600)), Duration::from_secs(60));
    }
}
