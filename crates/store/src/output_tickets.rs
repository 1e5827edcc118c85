//! Output tickets: how a step that runs where Terrace cannot read its files (a Kubernetes
//! pod) sends its output file back. Each ticket is bound to one attempt of one run and
//! found by the hash of its token; it takes one upload, while that attempt runs and until
//! it expires, and is removed (its token revoked) when the step's waiter takes the upload.

use async_trait::async_trait;
use terrace_model::RunId;
use time::OffsetDateTime;

use crate::store::Result as StoreResult;

terrace_model::typed_id!(OutputTicketId, "an output ticket (where a pod sends its output file)");

/// A ticket, as the upload endpoint sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputTicket {
    pub id: OutputTicketId,
    pub run: RunId,
    pub attempt: u32,
    pub expires_at: OffsetDateTime,
    /// An upload was already taken under it.
    pub used: bool,
    /// Its attempt is the run's running attempt now.
    pub attempt_running: bool,
}

#[async_trait]
pub trait OutputTicketStore: Send + Sync {
    /// Opens a ticket for attempt `attempt` of `run`, by the hash of its token.
    async fn open_output_ticket(
        &self,
        run: RunId,
        attempt: u32,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<OutputTicketId>;
    /// The ticket whose token has this hash (used, expired or not: the caller says which).
    async fn output_ticket_by_hash(&self, token_hash: &str) -> StoreResult<Option<OutputTicket>>;
    /// Keeps `output` on a ticket that took no upload yet; false when it already took one
    /// (or is gone).
    async fn put_ticket_output(&self, id: OutputTicketId, output: &[u8]) -> StoreResult<bool>;
    /// Removes the ticket (its token is refused from now on) and gives its upload, if any.
    async fn close_output_ticket(&self, id: OutputTicketId) -> StoreResult<Option<Vec<u8>>>;
    /// Removes every ticket of `run` (a sweep after its holder died).
    async fn close_run_output_tickets(&self, run: RunId) -> StoreResult<()>;
}
