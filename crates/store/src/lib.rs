//! The store: the single source of truth for environments, runs, attempts, logs,
//! outputs, events, Terraform state and saved plans, and the control plane's projects, requests, tokens and secrets.
//! One implementation (`SqlStore`) of both traits, its queries written once against a
//! small backend layer (`db`) over SQLite (the default) and PostgreSQL (many server
//! replicas). Runs and requests are held by an `Owner` under leases with fencing tokens.

pub mod agents;
pub mod applied;
pub mod approvals;
pub mod control;
pub mod crypto;
pub mod data_dir;
mod db;
pub mod error;
pub mod import;
pub mod key_check;
pub mod locks;
mod log_body;
mod log_codec;
pub mod output_tickets;
pub mod owner;
pub mod previews;
pub mod promotions;
pub mod records;
mod sql;
pub mod state;
mod store;
pub mod timed;

pub use agents::{
    AgentStepId, AgentStepRecord, AgentStepState, AgentStore, ClaimedStep, NewAgentStep, PoolTokenId, PoolTokenRecord,
};
pub use applied::{Applied, AppliedJob, AppliedStore, ForgottenJob, SourceSnapshot};
pub use approvals::{ApprovalFilter, ApprovalId, ApprovalRecord, ApprovalState, Decision, NewApproval, SubjectKind};
pub use control::ControlStore;
pub use crypto::{Cipher, KeySource};
pub use error::{DbError, StoreError};
pub use import::ImportStore;
pub use key_check::WrongKey;
pub use locks::{LockStore, NamedLock};
pub use output_tickets::{OutputTicket, OutputTicketId, OutputTicketStore};
pub use owner::{Lease, Owner, OwnerKind, RequestLease, RunLease};
pub use previews::{PreviewRecord, PreviewState, PreviewStore, PreviewWish, SlotClaim};
pub use promotions::{NewPromotion, PinRecord, PromotionId, PromotionKind, PromotionRecord, PromotionState};
pub use records::*;
pub use sql::{PgConnectOptions, REQUESTS_CHANNEL, RequestWakeups, SqlStore};
pub use state::{NewPlan, SavedPlan, StateKey, StateLock, StateStore, StateVersion};
pub use store::{Result, Store};
pub use timed::{
    DriftCheckId, DriftCheckRecord, DriftState, DriftedResource, ExpiryRecord, NewNotification, NotificationId,
    NotificationRecord, ScheduleKind, ScheduleRecord, ScheduleStore,
};
