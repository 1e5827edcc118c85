//! Pool tokens and the agent step queue (`AgentStore`). Every write an agent makes for a
//! step first touches the step's row only if it is still held under the agent's fencing
//! token: a take-back bumps it, so a stale agent's writes are refused (`LeaseLost`).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::SqlStore;
use crate::agents::*;
use crate::db::value::{now_db, text, ts};
use crate::db::{Db, Row, Stmt, Tx};
use crate::error::StoreError;
use crate::store::Result;

const T: &str = "agent_steps";

fn seal_context(id: AgentStepId, what: &str) -> Vec<u8> {
    format!("agent-step\0{id}\0{what}").into_bytes()
}

fn token_from_row(mut r: Row) -> Result<PoolTokenRecord> {
    Ok(PoolTokenRecord {
        id: r.parsed(0)?,
        name: r.text(1)?,
        pool: r.text(2)?,
        created_at: r.ts(3)?,
        revoked_at: r.ts_opt(4)?,
    })
}

fn lost(id: AgentStepId, token: u64) -> StoreError {
    StoreError::LeaseLost {
        what: "agent step",
        id: id.to_string(),
        holder: format!("the agent holding lease {token}"),
        detail: "it was taken back, cancelled or has ended".into(),
    }
}

/// The statement that fences a write: it changes the row only while it is held under `token`.
fn fence(tx: &mut Tx, id: AgentStepId, token: u64) {
    tx.one(
        Stmt::new(
            T,
            "UPDATE agent_steps SET lease_token = lease_token WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(text(id))
        .bind(token as i64)
        .doing(format!("check the lease on agent step {id}")),
        move || lost(id, token),
    );
}

macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE agent_steps SET state = 'running', agent = $1, lease_expires_at = $2, lease_token = lease_token + 1, \
             started_at = $3 WHERE state = 'queued' AND id = (SELECT q.id FROM agent_steps q \
             WHERE q.pool = $4 AND q.state = 'queued' ORDER BY q.created_at, q.id LIMIT 1",
            $lock,
            ") RETURNING id, lease_token, run_id, attempt, spec_enc"
        )
    };
}

#[async_trait]
impl AgentStore for SqlStore {
    async fn create_pool_token(&self, name: &str, pool: &str, hash: &str) -> Result<PoolTokenRecord> {
        let mut tx = Tx::new();
        let i = tx.push(
            Stmt::new(
                "pool_tokens",
                "INSERT INTO pool_tokens (id, name, pool, token_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, name, pool, created_at, revoked_at",
            )
            .bind(text(PoolTokenId::new()))
            .bind(name)
            .bind(pool)
            .bind(hash)
            .bind(now_db()?)
            .doing(format!("create pool token {name}")),
        );
        let mut outs = match self.db.write(tx).await {
            Ok(outs) => outs,
            Err(StoreError::Database { source, .. }) if source.is_unique_violation() => {
                return Err(StoreError::Invalid(format!(
                    "a pool token named `{name}` already exists; pick another name"
                )));
            }
            Err(e) => return Err(e),
        };
        let row = outs[i].rows.pop().ok_or_else(|| StoreError::Corrupt(format!("pool token {name} not returned")))?;
        token_from_row(row)
    }

    async fn pool_token_by_hash(&self, hash: &str) -> Result<Option<PoolTokenRecord>> {
        let stmt = Stmt::new(
            "pool_tokens",
            "SELECT id, name, pool, created_at, revoked_at FROM pool_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash)
        .doing("look up a pool token");
        self.db.query_opt(stmt).await?.map(token_from_row).transpose()
    }

    async fn list_pool_tokens(&self) -> Result<Vec<PoolTokenRecord>> {
        let stmt = Stmt::new(
            "pool_tokens",
            "SELECT id, name, pool, created_at, revoked_at FROM pool_tokens ORDER BY pool, name",
        )
        .doing("list the pool tokens");
        self.db.query(stmt).await?.into_iter().map(token_from_row).collect()
    }

    async fn revoke_pool_token(&self, id: PoolTokenId) -> Result<bool> {
        let mut tx = Tx::new();
        let i = tx.push(
            Stmt::new("pool_tokens", "UPDATE pool_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_db()?)
                .bind(text(id))
                .doing(format!("revoke pool token {id}")),
        );
        Ok(self.db.write(tx).await?[i].changed == 1)
    }

    async fn enqueue_agent_step(&self, step: NewAgentStep) -> Result<()> {
        let sealed = self.cipher.encrypt_bound(&step.spec, &seal_context(step.id, "spec"))?;
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(
                T,
                "INSERT INTO agent_steps (id, pool, run_id, attempt, spec_enc, state, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'queued', $6)",
            )
            .bind(text(step.id))
            .bind(&step.pool)
            .bind(text(step.run))
            .bind(step.attempt)
            .bind(sealed)
            .bind(now_db()?)
            .doing(format!("queue agent step {} for pool {}", step.id, step.pool)),
        );
        self.db.write(tx).await?;
        Ok(())
    }

    async fn claim_agent_step(&self, pool: &str, agent: &str, until: OffsetDateTime) -> Result<Option<ClaimedStep>> {
        let sql = match self.db {
            Db::Sqlite(_) => claim_sql!(""),
            Db::Postgres(_) => claim_sql!(" FOR UPDATE SKIP LOCKED"),
        };
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(T, sql)
                .bind(agent)
                .bind(ts(until)?)
                .bind(now_db()?)
                .bind(pool)
                .doing(format!("claim a step of pool {pool}")),
        );
        let Some(mut row) = self.db.write(tx).await?.remove(0).rows.pop() else { return Ok(None) };
        let id: AgentStepId = row.parsed(0)?;
        let spec = self.cipher.decrypt_bound(&row.blob(4)?, &seal_context(id, "spec"))?;
        Ok(Some(ClaimedStep { id, token: row.num(1)?, run: row.parsed(2)?, attempt: row.num(3)?, spec }))
    }

    async fn renew_agent_step(&self, id: AgentStepId, token: u64, until: OffsetDateTime) -> Result<bool> {
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(
                T,
                "UPDATE agent_steps SET lease_expires_at = $1 WHERE id = $2 AND lease_token = $3 AND state = 'running' \
                 RETURNING cancel_requested",
            )
            .bind(ts(until)?)
            .bind(text(id))
            .bind(token as i64)
            .doing(format!("renew the lease on agent step {id}")),
        );
        match self.db.write(tx).await?.remove(0).rows.pop() {
            Some(mut row) => row.bool(0),
            None => Err(lost(id, token)),
        }
    }

    async fn append_agent_step_logs(&self, id: AgentStepId, token: u64, batches: &[String]) -> Result<()> {
        let mut tx = Tx::new();
        fence(&mut tx, id, token);
        for batch in batches {
            tx.push(
                Stmt::new(
                    "agent_step_logs",
                    "INSERT INTO agent_step_logs (step_id, seq, batch) VALUES ($1, \
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_step_logs WHERE step_id = $1), $2)",
                )
                .bind(text(id))
                .bind(batch)
                .doing(format!("append to the log of agent step {id}")),
            );
        }
        self.db.write(tx).await?;
        Ok(())
    }

    async fn finish_agent_step(&self, id: AgentStepId, token: u64, result: &str, output: Option<&[u8]>) -> Result<()> {
        let output = output.map(|o| self.cipher.encrypt_bound(o, &seal_context(id, "output"))).transpose()?;
        let mut tx = Tx::new();
        fence(&mut tx, id, token);
        tx.push(
            Stmt::new(
                T,
                "UPDATE agent_steps SET state = 'ended', result = $1, output_enc = $2, finished_at = $3 WHERE id = $4",
            )
            .bind(result)
            .bind(output)
            .bind(now_db()?)
            .bind(text(id))
            .doing(format!("end agent step {id}")),
        );
        self.db.write(tx).await?;
        Ok(())
    }

    async fn get_agent_step(&self, id: AgentStepId) -> Result<Option<AgentStepRecord>> {
        let stmt = Stmt::new(
            T,
            "SELECT id, pool, run_id, attempt, state, agent, lease_expires_at, lease_token, cancel_requested, result, \
             output_enc FROM agent_steps WHERE id = $1",
        )
        .bind(text(id))
        .doing(format!("read agent step {id}"));
        let Some(mut r) = self.db.query_opt(stmt).await? else { return Ok(None) };
        let output = r.blob_opt(10)?.map(|b| self.cipher.decrypt_bound(&b, &seal_context(id, "output"))).transpose()?;
        Ok(Some(AgentStepRecord {
            id: r.parsed(0)?,
            pool: r.text(1)?,
            run: r.parsed(2)?,
            attempt: r.num(3)?,
            state: r.parsed(4)?,
            agent: r.text_opt(5)?,
            lease_expires_at: r.ts_opt(6)?,
            lease_token: r.num(7)?,
            cancel_requested: r.bool(8)?,
            result: r.text_opt(9)?,
            output,
        }))
    }

    async fn agent_step_logs(&self, id: AgentStepId, after: i64) -> Result<Vec<(i64, String)>> {
        let stmt = Stmt::new(
            "agent_step_logs",
            "SELECT seq, batch FROM agent_step_logs WHERE step_id = $1 AND seq > $2 ORDER BY seq LIMIT 500",
        )
        .bind(text(id))
        .bind(after)
        .doing(format!("read the log of agent step {id}"));
        let mut out = Vec::new();
        for mut r in self.db.query(stmt).await? {
            out.push((r.num(0)?, r.text(1)?));
        }
        Ok(out)
    }

    async fn cancel_agent_step(&self, id: AgentStepId, result: &str) -> Result<()> {
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(T, "UPDATE agent_steps SET state = 'ended', result = $1, finished_at = $2 WHERE id = $3 AND state = 'queued'")
                .bind(result)
                .bind(now_db()?)
                .bind(text(id))
                .doing(format!("cancel agent step {id}")),
        );
        tx.push(
            Stmt::new(T, "UPDATE agent_steps SET cancel_requested = 1 WHERE id = $1 AND state = 'running'")
                .bind(text(id))
                .doing(format!("ask the agent of step {id} to stop")),
        );
        self.db.write(tx).await?;
        Ok(())
    }

    async fn take_back_agent_step(&self, id: AgentStepId, now: OffsetDateTime, result: &str) -> Result<bool> {
        let mut tx = Tx::new();
        tx.push(
            Stmt::new(
                T,
                "UPDATE agent_steps SET state = 'ended', lease_token = lease_token + 1, result = $1, finished_at = $2 \
                 WHERE id = $3 AND state = 'running' AND lease_expires_at < $2 RETURNING id",
            )
            .bind(result)
            .bind(ts(now)?)
            .bind(text(id))
            .doing(format!("take back agent step {id}")),
        );
        Ok(!self.db.write(tx).await?.remove(0).rows.is_empty())
    }

    async fn remove_agent_step(&self, id: AgentStepId) -> Result<()> {
        let mut tx = Tx::new();
        tx.push(
            Stmt::new("agent_step_logs", "DELETE FROM agent_step_logs WHERE step_id = $1")
                .bind(text(id))
                .doing(format!("forget the log of agent step {id}")),
        );
        tx.push(
            Stmt::new(T, "DELETE FROM agent_steps WHERE id = $1")
                .bind(text(id))
                .doing(format!("forget agent step {id}")),
        );
        self.db.write(tx).await?;
        Ok(())
    }
}
