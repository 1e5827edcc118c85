//! Promotions of artifact versions and the pins they leave: what each environment runs of
//! each artifact (version and digest, and the pin before it), and every promotion asked,
//! with the digests it moved and how it ended.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::records::string_enum;

terrace_model::typed_id!(PromotionId, "a promotion");

string_enum!(
    /// Where a promotion is. `started`: the tag may be moving; a promotion left `started`
    /// (a crash, a registry gone) is finished by running it again.
    PromotionState {
        AwaitingApproval => "awaiting_approval",
        Started => "started",
        Done => "done",
        Failed => "failed",
        Rejected => "rejected",
    }
);

string_enum!(
    /// A promotion forward, or a rollback to the previous pin (which holds the pin).
    PromotionKind {
        Promote => "promote",
        Rollback => "rollback",
    }
);

#[derive(Clone, Debug)]
pub struct NewPromotion {
    pub id: PromotionId,
    pub project: String,
    pub artifact: String,
    pub from_env: Option<String>,
    pub to_env: String,
    pub version: String,
    pub digest: String,
    pub old_version: Option<String>,
    pub old_digest: Option<String>,
    pub kind: PromotionKind,
    /// The order rule was overridden (`--skip-order`).
    pub skip_order: bool,
    pub state: PromotionState,
    pub requested_by: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PromotionRecord {
    pub id: PromotionId,
    pub project: String,
    pub artifact: String,
    pub from_env: Option<String>,
    pub to_env: String,
    pub version: String,
    pub digest: String,
    pub old_version: Option<String>,
    pub old_digest: Option<String>,
    pub kind: PromotionKind,
    pub skip_order: bool,
    pub state: PromotionState,
    pub reason: Option<String>,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

/// What an environment runs of an artifact.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PinRecord {
    pub project: String,
    pub environment: String,
    pub artifact: String,
    pub version: String,
    pub digest: String,
    pub previous_version: Option<String>,
    pub previous_digest: Option<String>,
    /// Set by a rollback: a promotion `--from` another environment does not replace it.
    pub held: bool,
    pub promotion_id: PromotionId,
    pub updated_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
