//! Notifications (`notifications:` of the project): what happened (a run failed, an
//! apply, drift, a TTL warning or destroy, ...) is queued in the store's outbox for every
//! endpoint that wants its kind, then delivered by a sender with retries and backoff. A
//! failing endpoint never blocks or fails anything: its message waits in the outbox.
//! Endpoint URLs and signing keys are read at delivery (`${secret:NAME}` from the
//! environment's secrets), never stored with the message nor written in an error.

use std::time::Duration;

use terrace_model::Project;
use terrace_model::notify::{NotifyKind, NotifyTarget};
use terrace_store::{ControlStore, NewNotification, NotificationId, ScheduleStore};
use time::OffsetDateTime;

use crate::EngineError;

/// Deliveries of one message before it is given up (`failed` in the outbox).
pub const MAX_ATTEMPTS: u32 = 8;
/// Messages a sender takes at once.
const BATCH: u32 = 50;

/// Sends one message; implemented over HTTP by the server crate.
#[async_trait::async_trait]
pub trait Sender: Send + Sync {
    /// POSTs `body` to `url`, signed with `secret` when given. The error never holds the URL.
    async fn post(&self, url: &str, kind: &str, body: Vec<u8>, secret: Option<&[u8]>) -> Result<(), String>;
}

/// Something to tell people about.
#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: NotifyKind,
    pub environment: String,
    /// One line for humans (Slack's text).
    pub text: String,
    /// What a machine reads: run ids, resources, times.
    pub detail: serde_json::Value,
}

/// How long after a failed delivery the next is tried: 30 s, doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1u64 << attempts.min(7))).min(Duration::from_secs(3600))
}

/// Queues `notice` for every endpoint of `project` that wants it; how many.
pub async fn emit(
    project: &Project,
    timed: &dyn ScheduleStore,
    notice: &Notice,
    now: OffsetDateTime,
) -> Result<usize, EngineError> {
    let items: Vec<NewNotification> = project
        .notifications
        .values()
        .filter(|n| n.wants(notice.kind, &notice.environment))
        .map(|n| {
            let id = NotificationId::new();
            let body = serde_json::json!({
                "id": id,
                "kind": notice.kind,
                "project": project.name,
                "environment": notice.environment,
                "text": notice.text,
                "detail": notice.detail,
                "at": OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            });
            NewNotification {
                id,
                project: project.name.clone(),
                kind: notice.kind.to_string(),
                endpoint: n.name.clone(),
                body: body.to_string(),
            }
        })
        .collect();
    timed.enqueue_notifications(&items, now).await?;
    Ok(items.len())
}

/// What one delivery did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub id: NotificationId,
    pub endpoint: String,
    pub kind: String,
    /// `delivered`, `retrying` or `failed` (given up).
    pub state: String,
    pub error: Option<String>,
}

/// The value of `text` (a whole `${secret:NAME}`, or itself) with `env`'s secrets.
fn resolve(text: &str, secrets: &[(String, String)], env: &str) -> Result<String, String> {
    match text.strip_prefix("${secret:").and_then(|r| r.strip_suffix('}')) {
        None => Ok(text.to_string()),
        Some(name) => secrets.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).ok_or_else(|| {
            format!("secret `{name}` is not set for environment `{env}` (terrace secret set {name} --env {env}, or terrace secret set {name} for every environment)")
        }),
    }
}

/// Delivers `project`'s messages due at `now`, each claimed by `owner` for `lease`.
pub async fn deliver(
    project: &Project,
    timed: &dyn ScheduleStore,
    control: &dyn ControlStore,
    sender: &dyn Sender,
    owner: &str,
    now: OffsetDateTime,
    lease: Duration,
) -> Result<Vec<Delivery>, EngineError> {
    let mut out = Vec::new();
    for n in timed.claim_notifications(&project.name, owner, now, now + lease, BATCH).await? {
        let body: serde_json::Value = serde_json::from_str(&n.body).unwrap_or_default();
        let env = body["environment"].as_str().unwrap_or_default().to_string();
        let sent = match project.notifications.get(&n.endpoint) {
            None => Err(format!("notification `{}` is no longer in the project file", n.endpoint)),
            Some(def) => {
                let secrets = control.secret_values(&project.name, &env).await?;
                let (url, key, payload) = match &def.target {
                    NotifyTarget::Slack { url } => {
                        (url, None, serde_json::json!({"text": body["text"]}).to_string().into_bytes())
                    }
                    NotifyTarget::Webhook { url, secret } => (url, secret.as_ref(), n.body.clone().into_bytes()),
                };
                match (resolve(url, &secrets, &env), key.map(|k| resolve(k, &secrets, &env)).transpose()) {
                    (Ok(url), Ok(key)) => sender.post(&url, &n.kind, payload, key.as_deref().map(str::as_bytes)).await,
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
        };
        let (outcome, state) = match &sent {
            Ok(()) => (Ok(OffsetDateTime::now_utc()), "delivered"),
            Err(e) if n.attempts + 1 < MAX_ATTEMPTS => (Err((e.clone(), Some(now + backoff(n.attempts)))), "retrying"),
            Err(e) => (Err((e.clone(), None)), "failed"),
        };
        if let Err(e) = &sent {
            tracing::warn!(project = %project.name, endpoint = %n.endpoint, kind = %n.kind, attempt = n.attempts + 1, error = %e, "notification not delivered");
        }
        timed.finish_notification(n.id, owner, outcome).await?;
        out.push(Delivery { id: n.id, endpoint: n.endpoint, kind: n.kind, state: state.into(), error: sent.err() });
    }
    Ok(out)
}

/// What a finished pipeline tells: `run_failed` when a job failed (and `rolled_back` when
/// its `on_failure: rollback` re-applied the last good start), `applied` when a `start` of
/// the whole environment succeeded.
pub fn outcome_notices(project: &str, outcome: &crate::PipelineOutcome) -> Vec<Notice> {
    let env = &outcome.environment;
    let runs: Vec<_> = outcome
        .jobs
        .iter()
        .map(|j| serde_json::json!({"job": j.job, "run": format!("{env}#{}", j.number), "state": j.state}))
        .collect();
    let detail = serde_json::json!({"event": outcome.event, "pipeline_id": outcome.pipeline_id, "runs": runs, "inputs": outcome.inputs});
    let mut out = Vec::new();
    if let Some(job) = &outcome.failed_job {
        let why = outcome
            .jobs
            .iter()
            .find(|j| &j.job == job)
            .and_then(|j| j.reason.clone())
            .unwrap_or_else(|| "failed".into());
        let text = format!("{project}/{env}: `{}` failed at job `{job}`: {why}", outcome.event);
        out.push(Notice { kind: NotifyKind::RunFailed, environment: env.clone(), text, detail: detail.clone() });
        if let Some(follow) = &outcome.on_failure
            && follow.action == "rollback"
            && let Some(rolled) = follow.outcome.as_ref().filter(|o| o.succeeded())
        {
            let to = follow.commit.as_deref().map(|c| format!(" to commit {c}")).unwrap_or_default();
            out.push(Notice {
                kind: NotifyKind::RolledBack,
                environment: env.clone(),
                text: format!("{project}/{env}: rolled back{to} after `{job}` failed"),
                detail: serde_json::json!({"commit": follow.commit, "pipeline_id": rolled.pipeline_id, "on_failure_of": outcome.pipeline_id}),
            });
        }
    } else if outcome.event == terrace_model::Event::Start && outcome.inputs.job.is_none() {
        let text = format!("{project}/{env}: start applied ({} job(s))", outcome.jobs.len());
        out.push(Notice { kind: NotifyKind::Applied, environment: env.clone(), text, detail });
    }
    out
}

/// The notice of an event waiting for `terrace approve`.
pub fn approval_notice(project: &str, env: &str, approval: &str, what: &str) -> Notice {
    Notice {
        kind: NotifyKind::ApprovalNeeded,
        environment: env.to_string(),
        text: format!("{project}/{env}: {what} waits for approval: terrace approve {approval}"),
        detail: serde_json::json!({"approval": approval, "what": what}),
    }
}
