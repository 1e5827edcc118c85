//! Output files sent back by Kubernetes pods: the kubernetes executor opens a ticket per
//! step (`StoreInbox`, over the store: any replica may take the upload, and a server that
//! restarts finds it again); the pod's wrapper uploads to
//! `PUT /api/v1/runs/{run}/attempts/{attempt}/output` (`routes.rs`) with that ticket's
//! token, and the step's handle takes the file when the pod has ended. A job without
//! `entrypoint:` has its image's own command read from its registry (`images.rs`).

mod images;
pub mod routes;

pub use images::RegistryCommands;

use std::sync::Arc;
use std::time::Duration;

use terrace_exec::ExecError;
use terrace_exec::kubernetes::upload::{OutputInbox, Ticket};
use terrace_model::RunId;
use terrace_store::{OutputTicketId, OutputTicketStore};

use crate::app::access;

/// The server's inbox: tickets in the store, uploads under `base_url`.
pub struct StoreInbox {
    pub store: Arc<dyn OutputTicketStore>,
    /// Where pods reach this server (`kubernetes.server_url`).
    pub base_url: String,
}

/// The upload URL of an attempt under `base`.
pub fn upload_url(base: &str, run: &str, attempt: u32) -> String {
    format!("{}/api/v1/runs/{run}/attempts/{attempt}/output", base.trim_end_matches('/'))
}

fn store_error(what: &str, e: impl std::fmt::Display) -> ExecError {
    ExecError::Container(format!("cannot {what} in Terrace's store: {e}"))
}

#[async_trait::async_trait]
impl OutputInbox for StoreInbox {
    async fn open(&self, run: &str, attempt: u32, valid_for: Duration) -> Result<Ticket, ExecError> {
        let run_id: RunId =
            run.parse().map_err(|_| store_error("open an output ticket", format!("`{run}` is not a run id")))?;
        let token = access::new_token();
        let expires = time::OffsetDateTime::now_utc() + valid_for;
        let id = self
            .store
            .open_output_ticket(run_id, attempt, &access::hash_token(&token), expires)
            .await
            .map_err(|e| store_error("open an output ticket", e))?;
        Ok(Ticket { id: id.to_string(), url: upload_url(&self.base_url, run, attempt), token })
    }

    async fn take(&self, id: &str) -> Result<Option<Vec<u8>>, ExecError> {
        let id: OutputTicketId =
            id.parse().map_err(|_| store_error("take an upload", format!("`{id}` is not an output ticket")))?;
        self.store.close_output_ticket(id).await.map_err(|e| store_error("take an upload", e))
    }

    async fn close_run(&self, run: &str) {
        let Ok(run) = run.parse::<RunId>() else { return };
        if let Err(e) = self.store.close_run_output_tickets(run).await {
            tracing::warn!(%run, "cannot close the output tickets of a run: {e}");
        }
    }
}
