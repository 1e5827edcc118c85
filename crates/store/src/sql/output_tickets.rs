//! Output tickets (`OutputTicketStore`): a pod's way to send its output file back. The
//! upload is sealed bound to the ticket's id; taking it removes the ticket in the same
//! statement, so a token is good for one step's end at most.

use async_trait::async_trait;
use terrace_model::RunId;
use time::OffsetDateTime;

use super::SqlStore;
use crate::db::value::{now_db, text, ts};
use crate::db::{Stmt, Tx};
use crate::output_tickets::*;
use crate::store::Result;

const T: &str = "output_tickets";

fn seal_context(id: OutputTicketId) -> Vec<u8> {
    format!("output-ticket\0{id}").into_bytes()
}

#[async_trait]
impl OutputTicketStore for SqlStore {
    async fn open_output_ticket(
        &self,
        run: RunId,
        attempt: u32,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<OutputTicketId> {
        let id = OutputTicketId::new();
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(
                T,
                "INSERT INTO output_tickets (id, run_id, attempt, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(text(id))
            .bind(text(run))
            .bind(attempt)
            .bind(token_hash)
            .bind(now_db()?)
            .bind(ts(expires_at)?)
            .doing(format!("open an output ticket for run {run} attempt {attempt}")),
        );
        self.db.write(tx).await?;
        Ok(id)
    }

    async fn output_ticket_by_hash(&self, token_hash: &str) -> Result<Option<OutputTicket>> {
        let stmt = Stmt::new(
            T,
            "SELECT t.id, t.run_id, t.attempt, t.expires_at, t.uploaded_at, a.state FROM output_tickets t \
             LEFT JOIN attempts a ON a.run_id = t.run_id AND a.number = t.attempt WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .doing("look up an output ticket");
        let Some(mut r) = self.db.query_opt(stmt).await? else { return Ok(None) };
        Ok(Some(OutputTicket {
            id: r.parsed(0)?,
            run: r.parsed(1)?,
            attempt: r.num(2)?,
            expires_at: r.ts(3)?,
            used: r.ts_opt(4)?.is_some(),
            attempt_running: r.text_opt(5)?.as_deref() == Some("running"),
        }))
    }

    async fn put_ticket_output(&self, id: OutputTicketId, output: &[u8]) -> Result<bool> {
        let sealed = self.cipher.encrypt_bound(output, &seal_context(id))?;
        let mut tx = Tx::new();
        let i = tx.push(
            Stmt::new(
                T,
                "UPDATE output_tickets SET uploaded_at = $1, output_enc = $2 WHERE id = $3 AND uploaded_at IS NULL",
            )
            .bind(now_db()?)
            .bind(sealed)
            .bind(text(id))
            .doing(format!("keep the upload of output ticket {id}")),
        );
        Ok(self.db.write(tx).await?[i].changed == 1)
    }

    async fn close_output_ticket(&self, id: OutputTicketId) -> Result<Option<Vec<u8>>> {
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(T, "DELETE FROM output_tickets WHERE id = $1 RETURNING output_enc")
                .bind(text(id))
                .doing(format!("close output ticket {id}")),
        );
        let Some(mut row) = self.db.write(tx).await?.remove(0).rows.pop() else { return Ok(None) };
        row.blob_opt(0)?.map(|b| self.cipher.decrypt_bound(&b, &seal_context(id))).transpose()
    }

    async fn close_run_output_tickets(&self, run: RunId) -> Result<()> {
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(T, "DELETE FROM output_tickets WHERE run_id = $1")
                .bind(text(run))
                .doing(format!("close the output tickets of run {run}")),
        );
        self.db.write(tx).await?;
        Ok(())
    }
}
