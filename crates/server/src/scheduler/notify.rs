//! Notifications on a server: a loop delivers the outbox of every registered project
//! (each message claimed under a lease, so of several replicas one sends it; a failure
//! waits its backoff), apart from the scheduler so a slow endpoint delays nothing else.

use std::sync::Arc;
use std::time::Duration;

use terrace_engine::notify::{self, Notice, Sender};
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppError, projects};

/// How long a sender holds a message it is delivering (a request times out well before).
const LEASE: Duration = Duration::from_secs(120);

/// Notifications over HTTP (Slack, webhooks).
#[derive(Clone, Debug, Default)]
pub struct HttpSender(terrace_forge::notify::Notifier);

#[async_trait::async_trait]
impl Sender for HttpSender {
    async fn post(&self, url: &str, kind: &str, body: Vec<u8>, secret: Option<&[u8]>) -> Result<(), String> {
        self.0.post(url, kind, body, secret).await
    }
}

/// Delivers every `every` until `stop`.
pub async fn run(app: Arc<App>, every: Duration, stop: CancellationToken) {
    let sender = HttpSender::default();
    loop {
        if let Err(e) = deliver(&app, &sender).await {
            tracing::warn!(error = %e, "could not deliver notifications; trying again at the next look");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One look at every project's outbox; how many were sent.
pub async fn deliver(app: &App, sender: &dyn Sender) -> Result<usize, AppError> {
    let now = app.settings.clock.now();
    let owner = app.instance.to_string();
    let mut sent = 0;
    for record in app.store.list_projects().await? {
        let Ok(loaded) = projects::load(app, &record.name).await else { continue };
        if loaded.project.notifications.is_empty() {
            continue;
        }
        let store = app.store.as_ref();
        let done = notify::deliver(&loaded.project, store, store, sender, &owner, now, LEASE).await?;
        sent += done.iter().filter(|d| d.state == "delivered").count();
    }
    Ok(sent)
}

/// Queues `notice` for the endpoints of `project` that want it; a failure is logged,
/// never passed on (a notification never fails what it reports).
pub async fn emit(app: &App, project: &str, notice: Notice) {
    let result = async {
        let loaded = projects::load(app, project).await?;
        notify::emit(&loaded.project, app.store.as_ref(), &notice, app.settings.clock.now()).await?;
        Ok::<(), AppError>(())
    };
    if let Err(e) = result.await {
        tracing::warn!(project, kind = %notice.kind, error = %e, "could not queue a notification");
    }
}
