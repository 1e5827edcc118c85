//! `LISTEN terrace_requests`: a replica's scheduler waits on this instead of only polling,
//! so a request enqueued on one replica (or an environment freed there) starts at once on
//! any. Notifications are hints: the scheduler still polls, since one may be missed while
//! the listening connection reconnects.

use sqlx::postgres::PgListener;

use super::PgDb;
use crate::error::StoreError;
use crate::store::Result;

/// The channel notified when a request is enqueued, finished, released or re-queued.
pub const REQUESTS_CHANNEL: &str = "terrace_requests";

/// A listening connection of its own (taken out of the store's pool).
pub struct RequestWakeups {
    listener: PgListener,
}

impl RequestWakeups {
    /// Waits for the next notification. A lost connection is re-established (and the
    /// channel listened again) inside; an error means it could not be.
    pub async fn next(&mut self) -> Result<()> {
        self.listener.recv().await.map_err(|e| StoreError::db("wait for a request notification", e))?;
        Ok(())
    }
}

impl PgDb {
    /// Starts listening for request notifications.
    pub(crate) async fn request_wakeups(&self) -> Result<RequestWakeups> {
        let mut listener =
            PgListener::connect_with(&self.pool).await.map_err(|e| StoreError::db("open a listening connection", e))?;
        listener.listen(REQUESTS_CHANNEL).await.map_err(|e| StoreError::db("listen for request notifications", e))?;
        Ok(RequestWakeups { listener })
    }
}
