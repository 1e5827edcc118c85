//! Approvals: what waits for someone to approve or reject it before it changes an
//! environment whose `approval` is required. An approval refers to its subject (a server
//! request held in `awaiting_approval`, a local pipeline, a promotion, later a set of saved
//! plans) by kind, id and details, so each kind of work attaches its own meaning to it.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::records::string_enum;

terrace_model::typed_id!(ApprovalId, "an approval");

string_enum!(
    /// Where an approval is.
    ApprovalState {
        AwaitingApproval => "awaiting_approval",
        Approved => "approved",
        Rejected => "rejected",
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// What an approval lets run: a server request (`subject_id`, held in
    /// `awaiting_approval` until decided), a local event (`subject`: `{event, job, args}`,
    /// run by `terrace approve`), a promotion (`subject`: what to promote where).
    SubjectKind {
        Request => "request",
        Pipeline => "pipeline",
        Promotion => "promotion",
    }
);

/// What `create_approval` writes.
#[derive(Clone, Debug)]
pub struct NewApproval {
    pub id: ApprovalId,
    pub project: String,
    pub environment: String,
    pub subject_kind: SubjectKind,
    pub subject_id: Option<String>,
    /// The subject's details, as its kind reads them.
    pub subject: serde_json::Value,
    /// One line for people: "start of `prod`", "promote software 0.0.3 to `prod`".
    pub summary: String,
    pub requested_by: String,
    /// The approver must be someone other than `requested_by`.
    pub distinct_approver: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ApprovalRecord {
    pub id: ApprovalId,
    pub project: String,
    pub environment: String,
    pub subject_kind: SubjectKind,
    pub subject_id: Option<String>,
    pub subject: serde_json::Value,
    pub summary: String,
    pub state: ApprovalState,
    pub requested_by: String,
    pub distinct_approver: bool,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
    /// What became of the subject once it ran (its kind decides the shape).
    pub outcome: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its number in its environment, from the counter runs take theirs from: `prod#5`.
    pub number: u64,
}

impl ApprovalRecord {
    /// The short form a person types: `<environment>#<number>`.
    pub fn short(&self) -> String {
        crate::records::short_ref(&self.environment, self.number)
    }
}

/// A decision on an approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn state(self) -> ApprovalState {
        match self {
            Decision::Approve => ApprovalState::Approved,
            Decision::Reject => ApprovalState::Rejected,
        }
    }

    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            Decision::Approve => "approval.approve",
            Decision::Reject => "approval.reject",
        }
    }
}

/// Filters for `list_approvals`; newest first.
#[derive(Clone, Debug, Default)]
pub struct ApprovalFilter {
    pub project: Option<String>,
    pub environment: Option<String>,
    pub state: Option<ApprovalState>,
    pub limit: Option<u32>,
}
