//! Approvals as both modes use them: whether an event waits for one, what it records
//! (the subject a decision lets run), finding one by a prefix, and the rules of a
//! decision (still awaiting, an approver other than who asked when the policy says so).

use terrace_model::{ApprovalPolicy, Event};
use terrace_store::control::ControlStore;
use terrace_store::{ApprovalId, ApprovalRecord, ApprovalState, Decision, NewApproval, StoreError, SubjectKind};

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// Worded alike by a server, whose approvals are not looked up per project.
    #[error("no approval with an id (or a request id) starting with `{prefix}` (see `terrace approvals`)")]
    NotFound { project: String, prefix: String },
    #[error("`{0}` matches several approvals; give more of the id")]
    Ambiguous(String),
    #[error("approval {id} ({summary}) is already {state}{by}")]
    Decided { id: ApprovalId, summary: String, state: ApprovalState, by: String },
    #[error(
        "approval {id} ({summary}) needs an approver other than {who}, who asked for it (the environment's `approval` sets distinct_approver)"
    )]
    SameApprover { id: ApprovalId, summary: String, who: String },
    /// An approval on saved plans whose plans may not be applied (nothing ran).
    #[error(
        "approval {id} cannot be approved: {why}; nothing was applied (plan again with `terrace up`, or reject it)"
    )]
    PlanRefused { id: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalError {
    /// Whether the caller named something wrong (exit 2); a decision refused by the
    /// approval's state is a conflict (exit 1, HTTP 409), as in client mode.
    pub fn is_usage(&self) -> bool {
        matches!(self, ApprovalError::NotFound { .. } | ApprovalError::Ambiguous(_))
    }
}

/// What a pipeline approval's subject holds: the event to run once approved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PipelineSubject {
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// A `start` approved on saved plans (local mode): per job, the plan run.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub plans: std::collections::BTreeMap<String, terrace_model::RunId>,
    /// The same on a server: the request that makes the plans (its runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_request: Option<String>,
    /// `--keep-removed` (local mode): the approved pipeline forgets the jobs the file
    /// removed instead of running their delete, as the approval's summary said.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_removed: bool,
}

impl PipelineSubject {
    pub fn new(event: Event, job: Option<String>, args: Vec<String>) -> Self {
        PipelineSubject { event, job, args, plans: Default::default(), plan_request: None, keep_removed: false }
    }

    /// "start of `prod`", "force run of job `db` (raw) in `prod`".
    pub fn summary(&self, env: &str) -> String {
        match &self.job {
            None => format!("{} of `{env}`", self.event),
            Some(job) => format!("force run of job `{job}` ({}) in `{env}`", self.event),
        }
    }

    /// The approval `who` asks for when `policy` gates this event (else `None`).
    pub fn approval(&self, project: &str, env: &str, policy: ApprovalPolicy, who: &str) -> Option<NewApproval> {
        policy.gates(self.event).then(|| NewApproval {
            id: ApprovalId::new(),
            project: project.to_string(),
            environment: env.to_string(),
            subject_kind: SubjectKind::Pipeline,
            subject_id: None,
            subject: serde_json::to_value(self).unwrap_or_default(),
            summary: self.summary(env),
            requested_by: who.to_string(),
            distinct_approver: policy.distinct_approver,
        })
    }
}

/// The approval of `project` whose id (or subject's id) starts with `prefix`.
pub async fn find(control: &dyn ControlStore, project: &str, prefix: &str) -> Result<ApprovalRecord, ApprovalError> {
    let mut found: Vec<ApprovalRecord> =
        control.find_approvals(prefix).await?.into_iter().filter(|a| a.project == project).collect();
    match found.len() {
        0 => Err(ApprovalError::NotFound { project: project.to_string(), prefix: prefix.to_string() }),
        1 => Ok(found.remove(0)),
        _ => Err(ApprovalError::Ambiguous(prefix.to_string())),
    }
}

/// Whether `by` may still make `decision` on `approval` (awaiting, and not its asker
/// approving where another approver is required): only then are its plans checked.
pub fn may_decide(approval: &ApprovalRecord, decision: Decision, by: &str) -> bool {
    approval.state == ApprovalState::AwaitingApproval
        && decision == Decision::Approve
        && !(approval.distinct_approver && approval.requested_by == by)
}

/// Decides `approval` as `by`, under its rules; the record after the decision.
pub async fn decide(
    control: &dyn ControlStore,
    approval: &ApprovalRecord,
    decision: Decision,
    by: &str,
    reason: Option<&str>,
) -> Result<ApprovalRecord, ApprovalError> {
    let decided = |a: &ApprovalRecord| ApprovalError::Decided {
        id: a.id,
        summary: a.summary.clone(),
        state: a.state,
        by: a.decided_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default(),
    };
    if approval.state != ApprovalState::AwaitingApproval {
        return Err(decided(approval));
    }
    if decision == Decision::Approve && approval.distinct_approver && approval.requested_by == by {
        return Err(ApprovalError::SameApprover {
            id: approval.id,
            summary: approval.summary.clone(),
            who: by.to_string(),
        });
    }
    match control.decide_approval(approval.id, decision, by, reason).await? {
        Some(after) => Ok(after),
        None => {
            let now = control.get_approval(approval.id).await?;
            Err(decided(now.as_ref().unwrap_or(approval)))
        }
    }
}
