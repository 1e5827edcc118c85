//! Preview environments (`PreviewStore`): one record per pull request that has or had a
//! preview. Webhooks write what the pull request asks ([`PreviewWish`]); the reconciler
//! reads the records that need work and writes what it did under compare-and-set on the
//! record's `version`, so a webhook arriving meanwhile, or another replica, is never
//! overwritten: the loser reads again.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::records::string_enum;
use crate::store::Result as StoreResult;

string_enum!(
    /// Where a preview is. `queued`: wanted, not deployed yet (over the class's `max`, or
    /// not picked up yet); `deploying`: its `start` request is in flight; `running`: the
    /// pull request's head is deployed; `destroying`: its `delete` request is in flight;
    /// `failed`: the last deploy or destroy failed (a destroy is retried with backoff);
    /// `deleted`: every resource destroyed and the environment record gone.
    PreviewState {
        Queued => "queued",
        Deploying => "deploying",
        Running => "running",
        Destroying => "destroying",
        Failed => "failed",
        Deleted => "deleted",
    }
);

impl PreviewState {
    /// Whether the preview holds one of its class's `max` slots.
    pub fn holds_slot(self) -> bool {
        !matches!(self, PreviewState::Queued | PreviewState::Deleted)
    }
}

/// What became of a claim of one of a class's `max` slots (`claim_preview_slot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotClaim {
    /// The record was written: the preview holds a slot.
    Claimed,
    /// The class is full: this many other previews of it hold a slot; nothing written.
    Full(u32),
    /// The record moved on since it was read (read it again); nothing written.
    Moved,
}

/// What a pull-request event asks of its preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewWish {
    pub project: String,
    pub class: String,
    /// `pr-<id>`.
    pub environment: String,
    pub preview_id: String,
    /// `github` or `gitlab`.
    pub forge: String,
    /// `HOST/OWNER/REPO`.
    pub repository: String,
    /// `OWNER/REPO` (GitLab: `GROUP/PROJECT`), as the forge's API names it.
    pub full_name: String,
    pub number: u64,
    pub head_sha: String,
    pub branch: String,
    /// Whether the pull request should have a preview now (open, passes the filters).
    pub wanted: bool,
    /// Why not, when not wanted (closed, merged, a label, a draft).
    pub why: Option<String>,
    /// The preview's variables for this head (references kept: no secret in clear).
    pub variables: BTreeMap<String, String>,
}

/// A preview as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PreviewRecord {
    pub project: String,
    pub environment: String,
    pub class: String,
    pub preview_id: String,
    pub forge: String,
    pub repository: String,
    pub full_name: String,
    pub number: u64,
    pub head_sha: String,
    pub branch: String,
    pub wanted: bool,
    pub why: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub state: PreviewState,
    /// What the state means now: why queued, why failed.
    pub reason: Option<String>,
    /// The head and variables the last successful deploy applied.
    pub deployed_sha: Option<String>,
    pub deployed_variables: Option<BTreeMap<String, String>>,
    /// The head and variables the deploy in flight (or the last one, when it failed) applies.
    pub pending_sha: Option<String>,
    pub pending_variables: Option<BTreeMap<String, String>>,
    /// The event request in flight (`deploying`, `destroying`).
    pub request_id: Option<String>,
    /// Terrace's comment on the pull request, once made.
    pub comment_id: Option<u64>,
    /// Failed destroys in a row.
    pub attempts: u32,
    /// Not before this is the preview looked at again (a destroy's backoff).
    #[serde(with = "time::serde::rfc3339")]
    pub next_at: OffsetDateTime,
    #[serde(skip)]
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the class's `ttl` destroys it even if its pull request stays open.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl PreviewRecord {
    /// Whether the deployed head and variables are what the pull request asks.
    pub fn up_to_date(&self) -> bool {
        self.deployed_sha.as_deref() == Some(self.head_sha.as_str())
            && self.deployed_variables.as_ref() == Some(&self.variables)
    }

    /// Whether the deploy in flight (or the last one that failed) is of what the pull
    /// request asks now.
    pub fn pending_is_current(&self) -> bool {
        self.pending_sha.as_deref() == Some(self.head_sha.as_str())
            && self.pending_variables.as_ref() == Some(&self.variables)
    }
}

#[async_trait]
pub trait PreviewStore: Send + Sync {
    /// Records what a pull request asks: a new record (state `queued`) when it is wanted
    /// and has none; otherwise the record's wish fields, when they differ. Returns the
    /// record (None: not wanted and never had one) and whether anything changed, so a
    /// redelivered webhook changes nothing.
    async fn wish_preview(&self, wish: &PreviewWish) -> StoreResult<(Option<PreviewRecord>, bool)>;
    async fn get_preview(&self, project: &str, environment: &str) -> StoreResult<Option<PreviewRecord>>;
    /// Every preview of `project` (all projects: None), newest first.
    async fn list_previews(&self, project: Option<&str>) -> StoreResult<Vec<PreviewRecord>>;
    /// The previews the reconciler has to look at (not deleted, or wanted again) that
    /// are due at `now`, oldest first.
    async fn previews_due(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<PreviewRecord>>;
    /// Writes the reconciler's fields of `updated` (state, reason, deployed and pending
    /// head and variables, request, comment, attempts, next_at, created_at, expires_at) when the
    /// record is still at `updated.version`; false when it moved on (read it again).
    async fn update_preview(&self, updated: &PreviewRecord) -> StoreResult<bool>;
    /// `update_preview` for a preview that takes one of its class's `max` slots
    /// (`updated.state` holds one): written only while fewer than `max` other previews of
    /// the same project and class hold one. The count and the write are one transaction,
    /// serialised per class (SQLite's one writer; a PostgreSQL advisory lock), so
    /// replicas deploying previews at once never go over `max`.
    async fn claim_preview_slot(&self, updated: &PreviewRecord, max: u32) -> StoreResult<SlotClaim>;
}
