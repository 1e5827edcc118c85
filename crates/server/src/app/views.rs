//! What the API returns: the records of the store as clients see them (secrets masked),
//! each with its OpenAPI schema.

use serde::{Deserialize, Serialize};
use terrace_model::{Event, PipelineId, RunId};
use terrace_store::control::{AuditRecord, ProjectRecord, RequestRecord, Role, SecretInfo, SecretScope, TokenRecord};
use terrace_store::{RunRecord, StoredLogLine};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// How a secret value is shown unless revealed.
pub const MASK: &str = "***";

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    pub name: String,
    /// The project file on the server.
    pub path: String,
    pub environments: Vec<String>,
    pub jobs: Vec<String>,
    /// Where a project registered from git comes from; absent for one registered by path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitView>,
}

/// A project from git: its repository, the branch it follows, and where it is read now.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GitView {
    /// The repository's URL.
    pub url: String,
    pub branch: String,
    /// The folder of terrace.yaml in the repository (`""`: its root).
    pub path: String,
    /// The commit of the branch head the project was last read at.
    pub commit: String,
}

impl ProjectView {
    pub fn new(record: &ProjectRecord, project: &terrace_model::Project) -> Self {
        ProjectView {
            name: record.name.clone(),
            path: record.path.clone(),
            environments: project.environments.keys().cloned().collect(),
            jobs: project.jobs.keys().cloned().collect(),
            git: GitView::of(record),
        }
    }
}

impl GitView {
    pub fn of(record: &ProjectRecord) -> Option<GitView> {
        record.git.as_ref().map(|g| GitView {
            url: g.url.clone(),
            branch: g.branch.clone(),
            path: g.path.clone(),
            commit: g.commit.clone(),
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentSummary {
    /// The record's id; null for an environment with no record (`absent`).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub id: Option<terrace_model::EnvironmentId>,
    pub project: String,
    pub name: String,
    /// deploying, running, stopping, stopped, deleting, failed, or `absent` (no record yet).
    pub state: String,
    pub failed_job: Option<String>,
    pub reason: Option<String>,
    /// Whether `terrace.yaml` still defines it.
    pub defined: bool,
    /// Where it comes from: `declared` (terrace.yaml), what made it at run time (`clone`,
    /// `preview`, ...), or `undeclared` (a record whose declaration left the file).
    pub origin: String,
    /// The environment it was made from (one made at run time).
    pub source: Option<String>,
    /// One made at run time: the declared environment it derives from; null for others.
    #[serde(default)]
    pub base: Option<String>,
    /// One made at run time: its variables over its base's (plain values; a secret is a
    /// `${secret:NAME}` reference); null for others.
    #[serde(default)]
    pub variables: Option<std::collections::BTreeMap<String, String>>,
    /// One made at run time: who made it; null for others.
    #[serde(default)]
    pub created_by: Option<String>,
    /// When the record was made (its first start, or its clone); null when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentView {
    #[serde(flatten)]
    pub summary: EnvironmentSummary,
    /// What the jobs produced; secret values as `***` unless revealed.
    pub outputs: Vec<OutputView>,
    /// The newest run of each job.
    pub jobs: Vec<RunView>,
    /// Names of the secrets its runs read: its own and the project's it does not override.
    pub secrets: Vec<String>,
    /// What awaits approval in it (events, promotions).
    pub approvals: Vec<ApprovalView>,
    /// The artifact versions it runs (`terrace promote`): artifact, version, digest, held.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub artifacts: Vec<terrace_store::PinRecord>,
    /// An ephemeral environment's destroy time (`ttl:`); null for others.
    #[schema(value_type = Option<Object>)]
    pub ttl: Option<terrace_engine::timed::ttl::TtlStatus>,
    /// Its cron jobs (`schedule:`): each job's next tick and last run on it.
    #[schema(value_type = Vec<Object>)]
    pub schedules: Vec<terrace_engine::timed::schedule::ScheduleStatus>,
    /// Its drift checks (`drift:`): the schedule and the last check (`in_sync`, `drifted`
    /// with the resources changed outside Terrace, or `failed`); null without `drift:`.
    #[schema(value_type = Option<Object>)]
    pub drift: Option<terrace_engine::timed::drift::DriftStatus>,
    /// Jobs it applied that the project file no longer has (`job`, `applied_by`,
    /// `applied_at`): the next `start` or `delete` runs their delete.
    #[schema(value_type = Vec<Object>)]
    pub removed_jobs: Vec<terrace_engine::removed::RemovedSummary>,
}

/// `POST .../environments/{environment}/clone`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneBody {
    /// The new environment's name: lower-case letters, digits, `-` and `_`.
    #[schema(example = "dev-alice")]
    pub to: String,
    /// Variables of the new environment over the source's (plain text; a secret is written
    /// `${secret:NAME}`).
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
}

/// `POST .../environments/{environment}/extend`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// How much later the destroy happens, from its current time (or from now once due).
    #[schema(example = "24h")]
    pub by: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OutputView {
    pub job: String,
    pub name: String,
    /// `TERRACE_OUTPUT_JOB_<JOB>_<NAME>`.
    pub variable: String,
    pub value: String,
    pub sensitive: bool,
    #[schema(value_type = String, format = Uuid)]
    pub run_id: RunId,
}

/// One page of a project's environments, in name order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentPage {
    pub items: Vec<EnvironmentSummary>,
    /// Pass as `after` to get the next page; null on the last page.
    pub next: Option<String>,
}

/// One page of runs, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RunPage {
    pub items: Vec<RunView>,
    /// Pass as `before` to get the next (older) page; null on the last page.
    pub next: Option<String>,
}

/// One job run, with the same fields as `terrace runs --json`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    #[schema(value_type = String, format = Uuid)]
    pub id: RunId,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
    pub project: String,
    pub environment: String,
    /// The run's number in its environment: `dev#17` names it.
    pub number: u64,
    pub job: String,
    #[schema(value_type = String, example = "start")]
    pub event: Event,
    pub forced: bool,
    pub trigger: String,
    /// queued, running, succeeded, failed, timed_out, skipped, interrupted, cancelled.
    pub state: String,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    /// A plan run's summary: add, change, destroy, empty.
    #[schema(value_type = Option<Object>)]
    pub plan: Option<serde_json::Value>,
    /// `skip_unchanged`: what changed since the last successful start (`source`, `parameters
    /// file`, `variable NAME`, `output JOB.NAME`, `first start`); empty for a skipped run.
    pub inputs_changed: Option<Vec<String>>,
    /// The exact commit the run's source was at (its git source's, else the project's).
    #[serde(default)]
    pub commit: Option<String>,
    /// What its pipeline was asked to do (seed 002's inputs): repository, commit,
    /// environment, command, job, args, trigger, user, pull_request, ttl.
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<terrace_store::PipelineInputs>,
    /// The image a container run ran: the registry digest (`repo@sha256:...`) of a pulled
    /// image, the image id (`sha256:...`) of one built or found only locally, the reference
    /// a Kubernetes Job asked for; none for local runs.
    #[serde(default)]
    pub image: Option<String>,
}

impl From<RunRecord> for RunView {
    fn from(r: RunRecord) -> Self {
        RunView {
            id: r.id,
            pipeline_id: r.pipeline_id,
            project: r.project,
            environment: r.environment,
            number: r.number,
            job: r.job,
            event: r.event,
            forced: r.forced,
            trigger: r.trigger,
            state: r.state.to_string(),
            reason: r.reason,
            exit_code: r.exit_code,
            attempts: r.attempts,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            plan: r.plan,
            inputs_changed: r.inputs_changed,
            commit: r.commit,
            inputs: r.inputs,
            image: r.image,
        }
    }
}

/// An event request as queued: `POST .../events` answers with its id.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    #[schema(value_type = String, format = Uuid)]
    pub id: terrace_store::control::RequestId,
    pub project: String,
    pub environment: String,
    #[schema(value_type = String, example = "start")]
    pub event: Event,
    pub job: Option<String>,
    pub args: Vec<String>,
    pub requested_by: String,
    /// awaiting_approval, queued, running, succeeded, failed, interrupted, cancelled.
    pub state: String,
    pub reason: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub cancel_requested: bool,
    #[schema(value_type = Vec<String>)]
    pub run_ids: Vec<RunId>,
    /// The pipeline outcome once it ended (`terrace up --json` prints the same).
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
}

impl From<RequestRecord> for RequestView {
    fn from(r: RequestRecord) -> Self {
        RequestView {
            id: r.id,
            project: r.project,
            environment: r.environment,
            event: r.event,
            job: r.job,
            args: r.args,
            requested_by: r.requested_by,
            state: r.state.to_string(),
            reason: r.reason,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            cancel_requested: r.cancel_requested,
            run_ids: r.run_ids,
            outcome: r.outcome,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// The answer to an event: committed to the queue, not yet run.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventAccepted {
    #[schema(value_type = String, format = Uuid)]
    pub request_id: terrace_store::control::RequestId,
    /// `queued`, or `awaiting_approval` when the environment's `approval` is required:
    /// then it runs once `POST /api/v1/approvals/{approval_id}/approve` is called.
    #[serde(default = "queued")]
    pub state: String,
    /// The approval it awaits, when it does.
    #[schema(value_type = Option<String>, format = Uuid)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<terrace_store::ApprovalId>,
    /// Empty until the scheduler starts it: follow `GET /api/v1/requests/{id}`.
    #[schema(value_type = Vec<String>)]
    pub run_ids: Vec<RunId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogLineView {
    /// Position in the run's log across attempts; resume with `?offset=` this + 1.
    pub offset: u64,
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ts: OffsetDateTime,
    /// stdout, stderr or terrace.
    pub stream: String,
    /// Already masked.
    pub text: String,
}

impl From<StoredLogLine> for LogLineView {
    fn from(l: StoredLogLine) -> Self {
        LogLineView {
            offset: l.offset,
            attempt: l.attempt,
            ts: l.line.ts,
            stream: l.line.stream.as_str().to_string(),
            text: l.line.text,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    #[schema(value_type = String, format = Uuid)]
    pub run_id: RunId,
    pub lines: Vec<LogLineView>,
    /// Where the next read starts.
    pub next_offset: u64,
    /// The run's state when read; no more lines come once it is final.
    pub run_state: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    pub name: String,
    /// `project` (every environment of the project reads it) or `environment` (this
    /// environment's, over a project secret of the same name).
    #[schema(value_type = String, example = "project")]
    pub scope: SecretScope,
    pub updated_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<SecretInfo> for SecretView {
    fn from(s: SecretInfo) -> Self {
        SecretView { name: s.name, scope: s.scope, updated_by: s.updated_by, updated_at: s.updated_at }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    #[schema(value_type = String, format = Uuid)]
    pub id: terrace_store::control::TokenId,
    pub name: String,
    /// viewer, operator or admin.
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            role: t.role,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A new token: `token` is shown here once and never again.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub token: String,
    #[serde(flatten)]
    pub token_info: TokenView,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditView {
    fn from(a: AuditRecord) -> Self {
        AuditView { id: a.id, at: a.at, actor: a.actor, action: a.action, target: a.target, detail: a.detail }
    }
}

fn queued() -> String {
    "queued".to_string()
}

/// Something that waits (or waited) for an approval: an event request, a promotion.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    #[schema(value_type = String, format = Uuid)]
    pub id: terrace_store::ApprovalId,
    pub project: String,
    pub environment: String,
    /// `request` (an event request, `subject_id`), `pipeline` (a local event), `promotion`.
    #[schema(value_type = String)]
    pub subject_kind: terrace_store::SubjectKind,
    pub subject_id: Option<String>,
    /// What runs once approved.
    #[schema(value_type = Object)]
    pub subject: serde_json::Value,
    pub summary: String,
    /// awaiting_approval, approved, rejected, cancelled.
    #[schema(value_type = String)]
    pub state: terrace_store::ApprovalState,
    pub requested_by: String,
    /// The approver must differ from `requested_by`.
    pub distinct_approver: bool,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<serde_json::Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Its number in its environment (shared with runs): `prod#5` names it.
    pub number: u64,
    /// A `start` waiting on saved plans: each job's plan run, its state and summary
    /// (`add`, `change`, `destroy`, `empty`). Absent for other approvals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub plans: Vec<terrace_engine::approved_plans::PlanView>,
}

impl From<terrace_store::ApprovalRecord> for ApprovalView {
    fn from(a: terrace_store::ApprovalRecord) -> Self {
        ApprovalView {
            id: a.id,
            project: a.project,
            environment: a.environment,
            subject_kind: a.subject_kind,
            subject_id: a.subject_id,
            subject: a.subject,
            summary: a.summary,
            state: a.state,
            requested_by: a.requested_by,
            distinct_approver: a.distinct_approver,
            decided_by: a.decided_by,
            decided_at: a.decided_at,
            reason: a.reason,
            outcome: a.outcome,
            created_at: a.created_at,
            number: a.number,
            plans: vec![],
        }
    }
}
