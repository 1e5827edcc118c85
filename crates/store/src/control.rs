//! The control plane's store interface (`terrace server`): registered projects, the
//! durable queue of event requests with leases, API tokens, secrets and the audit log.
//! Kept apart from `Store` so the local mode never depends on it.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use terrace_model::{Event, RunId};
use time::OffsetDateTime;

use crate::approvals::{ApprovalFilter, ApprovalId, ApprovalRecord, Decision, NewApproval};
use crate::owner::{Owner, RequestLease};
use crate::records::string_enum;
use crate::store::Result as StoreResult;

terrace_model::typed_id!(RequestId, "an event request");
terrace_model::typed_id!(TokenId, "an API token");

string_enum!(
    /// Where an event request is in the queue. `awaiting_approval`: held until its
    /// approval is decided (approved: queued; rejected: cancelled), never claimed meanwhile.
    RequestState {
        AwaitingApproval => "awaiting_approval",
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Interrupted => "interrupted",
        Cancelled => "cancelled",
    }
);

impl RequestState {
    pub fn is_final(self) -> bool {
        !matches!(self, RequestState::AwaitingApproval | RequestState::Queued | RequestState::Running)
    }
}

string_enum!(
    /// What an API token may do; each role includes the ones before it.
    Role {
        Viewer => "viewer",
        Operator => "operator",
        Admin => "admin",
    }
);

impl Role {
    fn rank(self) -> u8 {
        match self {
            Role::Viewer => 0,
            Role::Operator => 1,
            Role::Admin => 2,
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProjectRecord {
    pub name: String,
    /// The folder holding terrace.yaml, or the file itself (for a project from git: the
    /// file in the server's checkout of `git.commit`).
    pub path: String,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Where a project registered from git comes from; None for one registered by path.
    pub git: Option<GitProject>,
}

/// A project read from a git repository: the branch it follows and where it is now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GitProject {
    /// The repository's URL (without credentials).
    pub url: String,
    pub branch: String,
    /// The folder of terrace.yaml inside the repository (`""`: its root).
    pub path: String,
    /// The commit of the branch head it was last read at.
    pub commit: String,
}

#[derive(Clone, Debug)]
pub struct NewRequest {
    pub id: RequestId,
    pub project: String,
    pub environment: String,
    pub event: Event,
    pub job: Option<String>,
    pub args: Vec<String>,
    pub requested_by: String,
    /// How many times it may be claimed (a killed server's claim counts).
    pub max_attempts: u32,
    /// What asked beyond `requested_by` (repository, pull request, command, commit).
    pub origin: crate::records::Origin,
    /// A force run of `start`: apply the plan this `plan` run saved instead of planning.
    pub saved_plan: Option<RunId>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RequestRecord {
    pub id: RequestId,
    pub project: String,
    pub environment: String,
    pub event: Event,
    pub job: Option<String>,
    pub args: Vec<String>,
    pub requested_by: String,
    pub state: RequestState,
    pub reason: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub owner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    /// The fencing token of the request's lease, bumped by every claim or take-back.
    pub lease_token: u64,
    /// What asked beyond `requested_by`, when anything did.
    pub origin: Option<crate::records::Origin>,
    /// The `plan` run whose saved plan a force run of `start` applies.
    pub saved_plan: Option<RunId>,
    pub cancel_requested: bool,
    /// The job runs this request created so far (all attempts).
    pub run_ids: Vec<RunId>,
    /// The pipeline outcome, as JSON, once it ended.
    pub outcome: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

impl RequestRecord {
    /// The lease the request is held under, while it runs.
    pub fn lease(&self) -> Option<RequestLease> {
        let owner = self.owner.as_deref().filter(|_| self.state == RequestState::Running)?;
        Some(RequestLease { id: self.id, owner: Owner::parse(owner), token: self.lease_token })
    }
}

/// Filters for `list_requests`; newest first.
#[derive(Clone, Debug, Default)]
pub struct RequestFilter {
    pub project: Option<String>,
    pub environment: Option<String>,
    pub state: Option<RequestState>,
    pub limit: Option<u32>,
}

/// What became of a request whose holder's lease expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaped {
    pub id: RequestId,
    /// `Queued` when it will be retried, `Interrupted` when out of attempts, `Cancelled`
    /// when its cancellation was asked.
    pub state: RequestState,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Which runs read a secret: every environment of its project, or one environment (which
/// then wins over a project secret of the same name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretScope {
    Project,
    Environment,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecretInfo {
    pub name: String,
    pub scope: SecretScope,
    pub updated_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A verified webhook delivery, kept for the work it asks (the body is the forge's JSON,
/// which holds no secret: the signature is not kept).
#[derive(Clone, Debug)]
pub struct NewDelivery {
    /// `github:<X-GitHub-Delivery>`, `gitlab:<id>`, or one Terrace made when none was sent.
    pub key: String,
    /// `github` or `gitlab`.
    pub forge: String,
    /// The forge's event name (`push`, `pull_request`, `Merge Request Hook`, ...).
    pub event: String,
    /// What Terrace read in it, e.g. `push refs/heads/main 1a2b3c4`.
    pub summary: String,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryRecord {
    pub key: String,
    pub forge: String,
    pub event: String,
    pub summary: String,
    /// `queued` (waiting, or waiting to be retried), `processing`, `done` or `failed`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// How many times it was claimed.
    pub attempts: u32,
    /// What its processing did, once done or failed (JSON).
    pub outcome: Option<serde_json::Value>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

string_enum!(
    /// How a delivery's processing ended.
    DeliveryEnd {
        Done => "done",
        Failed => "failed",
    }
);

/// The lease a replica processes a delivery under (its id is the delivery's key).
pub type DeliveryLease = crate::owner::Lease<String>;

/// A delivery claimed for processing: its record, its body, the steps an earlier attempt
/// recorded (`progress`, an object; empty on the first), and the lease to write under.
#[derive(Clone, Debug)]
pub struct DeliveryWork {
    pub record: DeliveryRecord,
    pub body: Vec<u8>,
    pub progress: serde_json::Map<String, serde_json::Value>,
    pub lease: DeliveryLease,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
}

#[async_trait]
pub trait ControlStore: Send + Sync {
    /// Whether the database answers and every migration is applied.
    async fn ready(&self) -> StoreResult<()>;

    // ---- projects ----
    /// Registers (or moves) a project by name.
    async fn put_project(&self, name: &str, path: &str) -> StoreResult<ProjectRecord>;
    /// Registers (or moves) a project read from git, at `git.commit`, its file at `path`;
    /// also how a push moves it to the new head of its branch.
    async fn put_git_project(&self, name: &str, path: &str, git: &GitProject) -> StoreResult<ProjectRecord>;
    async fn get_project(&self, name: &str) -> StoreResult<Option<ProjectRecord>>;
    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>>;

    // ---- the request queue ----
    /// Commits the request in state `queued`, unless a delete of the same environment is
    /// queued or running: then nothing is written and `Ok(None)` says so.
    async fn enqueue_request(&self, req: NewRequest) -> StoreResult<Option<RequestRecord>>;
    async fn get_request(&self, id: RequestId) -> StoreResult<Option<RequestRecord>>;
    async fn list_requests(&self, filter: &RequestFilter) -> StoreResult<Vec<RequestRecord>>;
    /// Claims the oldest queued request whose environment has no running request and no
    /// older queued one (plans aside: a plan is claimable at once and holds nobody up), in one statement (PostgreSQL: `FOR UPDATE SKIP LOCKED`), under a
    /// new fencing token (`RequestRecord::lease`).
    async fn claim_request(&self, owner: &Owner, lease_until: OffsetDateTime) -> StoreResult<Option<RequestRecord>>;
    /// Extends the lease of the requests of `held` that `owner` still holds (running
    /// under its name: never one taken back meanwhile, and never one the store lists
    /// under its name that it no longer runs); returns the ids whose cancellation was asked.
    async fn renew_request_leases(
        &self,
        owner: &Owner,
        held: &[RequestId],
        until: OffsetDateTime,
    ) -> StoreResult<Vec<RequestId>>;
    /// Records the run ids a running request created so far; `LeaseLost` once the
    /// request is no longer held under `lease`.
    async fn set_request_runs(&self, lease: &RequestLease, runs: &[RunId]) -> StoreResult<()>;
    /// Ends a request held under `lease`; `LeaseLost` when it no longer is.
    async fn finish_request(
        &self,
        lease: &RequestLease,
        state: RequestState,
        reason: Option<&str>,
        outcome: Option<&serde_json::Value>,
    ) -> StoreResult<()>;
    /// Gives back a request held under `lease` without counting the attempt (graceful stop).
    async fn release_request(&self, lease: &RequestLease, reason: &str) -> StoreResult<()>;
    /// Cancels a queued request at once, or asks its holder to cancel a running one.
    /// Returns the record after the change; None when absent.
    async fn cancel_request(&self, id: RequestId) -> StoreResult<Option<RequestRecord>>;
    /// Re-queues running requests whose lease ended before `now` (or whose owner is in
    /// `dead_owners`, processes of this host found dead), or marks them interrupted when
    /// out of attempts; each take-back bumps the request's fencing token.
    async fn reap_requests(&self, now: OffsetDateTime, dead_owners: &[String]) -> StoreResult<Vec<Reaped>>;
    /// Requests per state (for metrics).
    async fn count_requests(&self) -> StoreResult<Vec<(RequestState, u64)>>;
    /// Job runs per state (for metrics).
    async fn count_runs(&self) -> StoreResult<Vec<(String, u64)>>;

    // ---- tokens ----
    /// Stores a token by the hash of its secret; fails when the name is taken.
    async fn create_token(&self, name: &str, role: Role, token_hash: &str) -> StoreResult<TokenRecord>;
    /// The live (not revoked) token with this hash; records its use.
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>>;
    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    async fn revoke_token(&self, id: TokenId) -> StoreResult<bool>;

    // ---- secrets ----
    /// Stores the value encrypted, bound to (project, environment, name).
    async fn put_secret(&self, project: &str, env: &str, name: &str, value: &str, by: &str) -> StoreResult<()>;
    /// The environment's secrets and the project's it inherits (those it does not override),
    /// each with its scope, by name.
    async fn list_secrets(&self, project: &str, env: &str) -> StoreResult<Vec<SecretInfo>>;
    /// Names and decrypted values for the environment's runs: its own secrets, then the
    /// project's it does not override.
    async fn secret_values(&self, project: &str, env: &str) -> StoreResult<Vec<(String, String)>>;
    async fn delete_secret(&self, project: &str, env: &str, name: &str) -> StoreResult<bool>;
    /// Stores a project-scope secret (every environment of the project reads it), encrypted,
    /// bound to (project, name).
    async fn put_project_secret(&self, project: &str, name: &str, value: &str, by: &str) -> StoreResult<()>;
    /// The project-scope secrets, by name.
    async fn list_project_secrets(&self, project: &str) -> StoreResult<Vec<SecretInfo>>;
    async fn delete_project_secret(&self, project: &str, name: &str) -> StoreResult<bool>;

    // ---- approvals ----
    /// Records an approval awaiting a decision.
    async fn create_approval(&self, approval: NewApproval) -> StoreResult<ApprovalRecord>;
    /// Commits the request in state `awaiting_approval` with its approval (subject kind
    /// `request`, subject id the request's) in one transaction; `Ok(None)` as
    /// `enqueue_request` when a delete of the environment is pending.
    async fn enqueue_awaiting_approval(
        &self,
        req: NewRequest,
        approval: NewApproval,
    ) -> StoreResult<Option<(RequestRecord, ApprovalRecord)>>;
    async fn get_approval(&self, id: ApprovalId) -> StoreResult<Option<ApprovalRecord>>;
    /// Approvals whose id, or whose subject's id, starts with `prefix`; at most 2.
    async fn find_approvals(&self, prefix: &str) -> StoreResult<Vec<ApprovalRecord>>;
    async fn list_approvals(&self, filter: &ApprovalFilter) -> StoreResult<Vec<ApprovalRecord>>;
    /// Decides an approval still awaiting one, in one transaction with its audit entry and,
    /// for a request, the request's move (approved: queued; rejected: cancelled). Returns
    /// the record after the change, or `None` when it was no longer awaiting a decision.
    async fn decide_approval(
        &self,
        id: ApprovalId,
        decision: Decision,
        by: &str,
        reason: Option<&str>,
    ) -> StoreResult<Option<ApprovalRecord>>;
    /// Records what became of an approved subject once it ran.
    async fn set_approval_outcome(&self, id: ApprovalId, outcome: &serde_json::Value) -> StoreResult<()>;

    // ---- webhook deliveries ----
    /// Keeps a verified webhook delivery for the work it asks, unless one with the same
    /// `key` (the forge's delivery id) was kept before: returns whether it is new.
    async fn record_delivery(&self, delivery: &NewDelivery) -> StoreResult<bool>;
    /// The deliveries kept, newest first.
    async fn list_deliveries(&self, limit: u32) -> StoreResult<Vec<DeliveryRecord>>;
    async fn get_delivery(&self, key: &str) -> StoreResult<Option<DeliveryRecord>>;
    /// Claims the oldest delivery that is queued and due (`next_at` passed), or whose
    /// processing lease expired (its replica died), under a new fencing token: of several
    /// replicas claiming at once, one gets it (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_delivery(&self, owner: &Owner, lease_until: OffsetDateTime) -> StoreResult<Option<DeliveryWork>>;
    /// Extends the lease; `LeaseLost` when another replica took the delivery back.
    async fn renew_delivery(&self, lease: &DeliveryLease, until: OffsetDateTime) -> StoreResult<()>;
    /// Records the steps done so far, so that a retry (or another replica after a crash)
    /// does none of them twice; fenced by the lease.
    async fn set_delivery_progress(
        &self,
        lease: &DeliveryLease,
        progress: &serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<()>;
    /// Puts the delivery back in the queue, due at `next_at`, without counting the claim:
    /// its processing waits for work it started.
    async fn defer_delivery(&self, lease: &DeliveryLease, next_at: OffsetDateTime) -> StoreResult<()>;
    /// Puts the delivery back in the queue, due at `next_at` (backoff), with the error.
    async fn retry_delivery(&self, lease: &DeliveryLease, next_at: OffsetDateTime, error: &str) -> StoreResult<()>;
    /// Ends the delivery's processing with what it did.
    async fn finish_delivery(
        &self,
        lease: &DeliveryLease,
        end: DeliveryEnd,
        outcome: &serde_json::Value,
        error: Option<&str>,
    ) -> StoreResult<()>;

    // ---- audit ----
    async fn audit(&self, actor: &str, action: &str, target: &str, detail: Option<&str>) -> StoreResult<()>;
    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditRecord>>;
}
