//! On PostgreSQL, wakes this replica's scheduler when any replica enqueues a request or
//! frees an environment (`LISTEN terrace_requests`), so it need not wait for its next
//! poll. Polling stays the fallback: a lost listening connection is retried every poll.

use std::sync::Arc;
use std::time::Duration;

use terrace_store::SqlStore;
use tokio_util::sync::CancellationToken;

use crate::app::App;

pub async fn listen(store: Arc<SqlStore>, app: Arc<App>, retry: Duration, stop: CancellationToken) {
    while !stop.is_cancelled() {
        match store.request_wakeups().await {
            // SQLite: one server, which wakes itself.
            Ok(None) => return,
            Ok(Some(mut wakeups)) => loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    next = wakeups.next() => match next {
                        Ok(()) => app.wake_scheduler.notify_one(),
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the request notifications; polling meanwhile");
                            break;
                        }
                    },
                }
            },
            Err(e) => tracing::warn!(error = %e, "cannot listen for request notifications; polling meanwhile"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
}
