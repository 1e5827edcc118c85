//! Agents' part of the store: pool tokens (an agent's credential, which can only pull
//! and report steps of its pool) and the queue of steps handed to pools. A step is
//! claimed by one agent under a lease with a fencing token; its logs wait here until the
//! server that waits on the step moves them into the run's log; it ends exactly once
//! (by its agent, by a cancellation before it was claimed, or taken back when its
//! agent's lease expired, which bumps the token so the stale agent cannot write).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use terrace_model::RunId;
use time::OffsetDateTime;

use crate::records::string_enum;
use crate::store::Result as StoreResult;

terrace_model::typed_id!(AgentStepId, "a step handed to an agent pool");
terrace_model::typed_id!(PoolTokenId, "a pool token");

string_enum!(
    /// Where an agent step is: waiting for an agent, run by one, or over.
    AgentStepState {
        Queued => "queued",
        Running => "running",
        Ended => "ended",
    }
);

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PoolTokenRecord {
    pub id: PoolTokenId,
    pub name: String,
    pub pool: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A step for a pool; `spec` (its command, variables and files) is sealed by the store.
#[derive(Clone)]
pub struct NewAgentStep {
    pub id: AgentStepId,
    pub pool: String,
    pub run: RunId,
    pub attempt: u32,
    pub spec: Vec<u8>,
}

/// A step an agent just claimed, with the fencing token of its lease.
#[derive(Clone)]
pub struct ClaimedStep {
    pub id: AgentStepId,
    pub token: u64,
    pub run: RunId,
    pub attempt: u32,
    /// Opened again.
    pub spec: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStepRecord {
    pub id: AgentStepId,
    pub pool: String,
    pub run: RunId,
    pub attempt: u32,
    pub state: AgentStepState,
    /// The agent that claimed it last.
    pub agent: Option<String>,
    pub lease_expires_at: Option<OffsetDateTime>,
    pub lease_token: u64,
    pub cancel_requested: bool,
    /// How it ended (JSON the server reads), once it did.
    pub result: Option<String>,
    /// The output file the agent sent back, opened again.
    pub output: Option<Vec<u8>>,
}

#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Stores a pool token by the hash of its secret; fails when the name is taken.
    async fn create_pool_token(&self, name: &str, pool: &str, token_hash: &str) -> StoreResult<PoolTokenRecord>;
    /// The live (not revoked) pool token with this hash.
    async fn pool_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<PoolTokenRecord>>;
    /// Every pool token (revoked ones too), by pool then name.
    async fn list_pool_tokens(&self) -> StoreResult<Vec<PoolTokenRecord>>;
    /// Revokes the pool token `id` (its agents are refused from their next call); false
    /// when no live token has that id.
    async fn revoke_pool_token(&self, id: PoolTokenId) -> StoreResult<bool>;

    /// Queues a step for its pool.
    async fn enqueue_agent_step(&self, step: NewAgentStep) -> StoreResult<()>;
    /// The oldest queued step of `pool` becomes `running` under `agent`, with the next
    /// fencing token (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_agent_step(
        &self,
        pool: &str,
        agent: &str,
        until: OffsetDateTime,
    ) -> StoreResult<Option<ClaimedStep>>;
    /// Extends the lease of a step held under `token`; whether its cancellation was asked.
    /// `LeaseLost` when it is no longer held under that token.
    async fn renew_agent_step(&self, id: AgentStepId, token: u64, until: OffsetDateTime) -> StoreResult<bool>;
    /// Appends log batches (already masked) of a step held under `token`; `LeaseLost` else.
    async fn append_agent_step_logs(&self, id: AgentStepId, token: u64, batches: &[String]) -> StoreResult<()>;
    /// Ends a step held under `token` with its result and output file; `LeaseLost` else.
    async fn finish_agent_step(
        &self,
        id: AgentStepId,
        token: u64,
        result: &str,
        output: Option<&[u8]>,
    ) -> StoreResult<()>;
    async fn get_agent_step(&self, id: AgentStepId) -> StoreResult<Option<AgentStepRecord>>;
    /// The log batches of a step after sequence number `after`, in order.
    async fn agent_step_logs(&self, id: AgentStepId, after: i64) -> StoreResult<Vec<(i64, String)>>;
    /// Ends a queued step at once with `result`; asks the agent of a running one to stop.
    async fn cancel_agent_step(&self, id: AgentStepId, result: &str) -> StoreResult<()>;
    /// Ends a running step whose lease expired before `now` with `result`, bumping its
    /// token; whether it did.
    async fn take_back_agent_step(&self, id: AgentStepId, now: OffsetDateTime, result: &str) -> StoreResult<bool>;
    /// Forgets a step and its logs (its waiter has read its end).
    async fn remove_agent_step(&self, id: AgentStepId) -> StoreResult<()>;
}
