//! The records the store keeps, as the engine and the CLI see them.

use std::fmt;
use std::str::FromStr;

use terrace_model::{EnvironmentId, Event, PipelineId, RunId};
use time::OffsetDateTime;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// The state of an environment (DESIGN.md "Concepts").
    EnvState {
        Deploying => "deploying",
        Running => "running",
        Stopping => "stopping",
        Stopped => "stopped",
        Deleting => "deleting",
        Deleted => "deleted",
        Failed => "failed",
    }
);

string_enum!(
    /// The state of a run or of one attempt of it.
    RunState {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        TimedOut => "timed_out",
        Skipped => "skipped",
        Interrupted => "interrupted",
        Cancelled => "cancelled",
    }
);

impl RunState {
    /// Whether the run can still change.
    pub fn is_active(self) -> bool {
        matches!(self, RunState::Queued | RunState::Running)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EnvironmentRecord {
    pub id: EnvironmentId,
    pub project: String,
    pub name: String,
    pub state: EnvState,
    /// The job whose failure put the environment in `failed`.
    pub failed_job: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// How an environment created at run time (a clone, a preview) is defined; `None` for
    /// the record of an environment declared in terrace.yaml.
    #[serde(flatten)]
    pub runtime: Option<RuntimeDef>,
}

impl EnvironmentRecord {
    /// An environment that has no record (never started, or deleted), as a value that is
    /// never stored: what a forced run of its `delete` runs against.
    pub fn absent(project: &str, name: &str) -> EnvironmentRecord {
        let now = OffsetDateTime::now_utc();
        EnvironmentRecord {
            id: EnvironmentId::new(),
            project: project.to_string(),
            name: name.to_string(),
            state: EnvState::Deleted,
            failed_job: None,
            reason: None,
            created_at: now,
            updated_at: now,
            runtime: None,
        }
    }
}

/// The definition of an environment created at run time: it runs the jobs of `base` (an
/// environment declared in terrace.yaml) with `base`'s settings and parameters files, and
/// `variables` over `base`'s variables.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeDef {
    /// What made it: `clone`, `preview`, ...
    pub origin: String,
    /// The environment it was made from (declared or created at run time).
    pub source: String,
    /// The declared environment it derives from.
    pub base: String,
    /// Variable overrides (plain values; a secret is a `${secret:NAME}` reference).
    pub variables: std::collections::BTreeMap<String, String>,
    pub created_by: String,
}

/// An environment to create at run time, in state `stopped`, with the artifact versions
/// (pins) of `definition.source` copied to it.
#[derive(Clone, Debug)]
pub struct NewRuntimeEnvironment {
    pub project: String,
    pub name: String,
    pub definition: RuntimeDef,
}

/// A pipeline run: the job runs of one environment event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PipelineRecord {
    pub id: PipelineId,
    pub environment_id: EnvironmentId,
    pub event: Event,
    pub state: RunState,
    pub trigger: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    pub id: RunId,
    pub pipeline_id: Option<PipelineId>,
    pub environment_id: EnvironmentId,
    pub project: String,
    pub environment: String,
    pub job: String,
    pub event: Event,
    /// A force run (seed 001 "Force Run").
    pub forced: bool,
    /// Who or what asked: `cli:<user>`, `api:<token name>`, ...
    pub trigger: String,
    /// The exact commit the run's source is at (its git source's, else the project's).
    pub commit: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    pub id: RunId,
    pub pipeline_id: Option<PipelineId>,
    pub environment_id: EnvironmentId,
    pub project: String,
    pub environment: String,
    pub job: String,
    pub event: Event,
    pub forced: bool,
    pub trigger: String,
    pub state: RunState,
    /// Why it is in that state (skipped because .., failed because .., interrupted because ..).
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    /// Hash of the run's inputs (source tree, params file, resolved variables).
    pub inputs_hash: Option<String>,
    pub attempts: u32,
    /// Who holds the run while it is active (`Owner`'s string form), until its lease ends.
    pub owner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    /// The fencing token of the run's lease, bumped by every claim or take-back.
    pub lease_token: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// A plan run's summary: `{"add", "change", "destroy", "outputs_changed", "empty"}`.
    pub plan: Option<serde_json::Value>,
    /// The folder holding the run's artifacts (the saved plan file).
    pub artifacts: Option<String>,
    /// The run's number in its environment (project and environment name), from 1: `dev#17`.
    pub number: u64,
    /// `skip_unchanged`: the hash of each input apart (label → hash), to tell what changed.
    #[serde(skip)]
    pub input_parts: Option<std::collections::BTreeMap<String, String>>,
    /// `skip_unchanged`: the inputs that changed since the last successful start, which is
    /// why this run ran (`source`, `parameters file`, `variable NAME`, `output JOB.NAME`,
    /// or `first start`).
    pub inputs_changed: Option<Vec<String>>,
    /// The exact commit the run's source was checked out at (its git source's, else the
    /// project's), when known.
    pub commit: Option<String>,
    /// What its pipeline was asked to do (runs made before Terrace recorded it: none).
    pub inputs: Option<PipelineInputs>,
    /// The image a container run ran: the registry digest (`repo@sha256:...`) of a pulled
    /// image, the image id (`sha256:...`) of one built or found only locally, the reference
    /// a Kubernetes Job asked for. None for local runs.
    pub image: Option<String>,
}

/// What asked for a pipeline beyond its trigger (seed 002's inputs): the repository and
/// pull request of a git event, the pipeline command. Empty
/// for a plain CLI or API event. Queued requests keep it (JSON) until they run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub repository: Option<String>,
    pub pull_request: Option<u64>,
    /// The pipeline command (`plan-apply`, `ephemeral`, `schedule`, `drift`, ...); the
    /// event's name when absent.
    pub command: Option<String>,
    /// An approved `start`: per job, the `plan` run whose saved plan it applies exactly.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub saved_plans: std::collections::BTreeMap<String, RunId>,
    /// Per job with a git source, the commit to check out instead of resolving its `ref`
    /// (the commit a saved plan was made at, the last good commit of a rollback).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pins: std::collections::BTreeMap<String, String>,
    /// The failed pipeline this one follows under the environment's `on_failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure_of: Option<PipelineId>,
    /// The commit of a project from git the request was made for (a push's, a pull
    /// request's head): the pipeline reads the project and runs at it, whatever was
    /// pushed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `--keep-removed`: jobs removed from the file are forgotten without their delete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_removed: bool,
}

/// The inputs of a pipeline run, as seed 002 lists them (repository, commit, target
/// environment, command, user, pull request, time to live), recorded on the pipeline and
/// each of its runs. A field that does not apply is null.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PipelineInputs {
    /// The git repository the project or the job's source came from.
    pub repository: Option<String>,
    /// The commit the pipeline ran at (`TERRACE_COMMIT`).
    pub commit: Option<String>,
    pub environment: String,
    /// What was asked: the event (`start`, `stop`, `delete`, `plan`, `raw`), or the
    /// pipeline command that asked it (`plan-apply`, `ephemeral`, `drift`, ...).
    pub command: String,
    /// A force run's job.
    pub job: Option<String>,
    /// Arguments passed to the tool (`raw`).
    #[serde(default)]
    pub args: Vec<String>,
    /// What started it: `cli`, `api`, `schedule`, `ttl`, `drift`, `webhook`, ...
    pub trigger: String,
    /// Who, when a person or a token did (`alice`, the API token's name).
    pub user: Option<String>,
    /// The pull (merge) request it ran for.
    pub pull_request: Option<u64>,
    /// The environment's time to live, as declared (`72h`).
    pub ttl: Option<String>,
    /// An approved `start`: per job, the `plan` run whose saved plan it applied.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub saved_plans: std::collections::BTreeMap<String, RunId>,
    /// A rollback or destroy under `on_failure`: the failed pipeline it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure_of: Option<PipelineId>,
}

impl PipelineInputs {
    /// `trigger` and `user` from a run's trigger (`cli:alice` → `cli`, `alice`).
    pub fn split_trigger(trigger: &str) -> (String, Option<String>) {
        match trigger.split_once(':') {
            Some((kind, who)) if !who.is_empty() => (kind.to_string(), Some(who.to_string())),
            _ => (trigger.trim_end_matches(':').to_string(), None),
        }
    }
}

/// What `skip_unchanged` knows of a run's inputs, for `Store::set_run_inputs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunInputs {
    /// One hash of every input.
    pub hash: String,
    /// Each input's hash apart, by label.
    pub parts: std::collections::BTreeMap<String, String>,
    /// What changed since the last successful start (empty: nothing, the run is skipped).
    pub changed: Vec<String>,
}

impl RunRecord {
    /// The short form a person types: `<environment>#<number>` (`dev#17`).
    pub fn short(&self) -> String {
        short_ref(&self.environment, self.number)
    }
}

/// `<environment>#<number>`, the short form of a run.
pub fn short_ref(environment: &str, number: u64) -> String {
    format!("{environment}#{number}")
}

/// A run just created by `Store::open_pipeline`: its lease and its number.
#[derive(Clone, Debug)]
pub struct OpenedRun {
    pub lease: crate::owner::RunLease,
    pub number: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttemptRecord {
    pub run_id: RunId,
    /// 1-based.
    pub number: u32,
    pub state: RunState,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    /// The executor running the attempt's current step and that step's handle id, by
    /// which any process finds it again through that executor (opaque here).
    pub executor: Option<String>,
    pub handle: Option<String>,
    /// The template phase of that step (`run`: a job's single command).
    pub phase: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

/// An output of a job of an environment, decrypted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredOutput {
    pub job: String,
    pub name: String,
    pub value: String,
    pub sensitive: bool,
    pub run_id: RunId,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A stored log line with its place in the run's log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredLogLine {
    /// Position in the run's log, 0-based, across attempts; `read_logs(from)` resumes here.
    pub offset: u64,
    pub attempt: u32,
    #[serde(flatten)]
    pub line: terrace_model::log::LogLine,
}

/// An entry of an environment's event history (audit trail).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventRecord {
    pub id: i64,
    pub environment_id: EnvironmentId,
    pub run_id: Option<RunId>,
    pub kind: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Filters for `list_runs`; newest first.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub project: Option<String>,
    pub environment: Option<String>,
    pub job: Option<String>,
    pub state: Option<RunState>,
    pub limit: Option<u32>,
    /// Only runs older than this one in the list's order (keyset paging: pass the cursor
    /// of the last run of the previous page).
    pub before: Option<RunCursor>,
}

/// A place in the run list's order, newest first: `(created_at, id)`, the columns the
/// run indexes end with. Written as `<created_at in unix nanoseconds>.<run id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunCursor {
    pub created_at: OffsetDateTime,
    pub id: RunId,
}

impl RunCursor {
    /// The cursor just after `run`: the next page starts with the run older than it.
    pub fn of(run: &RunRecord) -> RunCursor {
        RunCursor { created_at: run.created_at, id: run.id }
    }
}

impl fmt::Display for RunCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created_at.unix_timestamp_nanos(), self.id)
    }
}

impl FromStr for RunCursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || "expected `<unix nanoseconds>.<run id>`, the `next` of a previous page".to_string();
        let (nanos, id) = s.split_once('.').ok_or_else(bad)?;
        let nanos: i64 = nanos.parse().map_err(|_| bad())?;
        let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).map_err(|_| bad())?;
        let id: RunId = id.parse().map_err(|_| bad())?;
        Ok(RunCursor { created_at, id })
    }
}

/// One page of a project's environments, in name order (byte order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvPage {
    /// At most this many.
    pub limit: u32,
    /// Only environments whose name sorts after this one (the last name of the previous page).
    pub after: Option<String>,
}

impl EnvPage {
    /// The first `limit` environments.
    pub fn first(limit: u32) -> EnvPage {
        EnvPage { limit, after: None }
    }
}

impl RunRecord {
    /// The lease the run is held under, while it is active and held.
    pub fn lease(&self) -> Option<crate::owner::RunLease> {
        let owner = self.owner.as_deref().filter(|_| self.state.is_active())?;
        Some(crate::owner::RunLease { id: self.id, owner: crate::owner::Owner::parse(owner), token: self.lease_token })
    }
}

/// A pipeline's opening records, for `Store::open_pipeline`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPipeline {
    pub environment_id: EnvironmentId,
    pub event: Event,
    pub trigger: String,
    /// The environment's state while the pipeline runs (a lifecycle event moves it).
    pub env_state: Option<EnvState>,
    /// What it was asked to do, recorded on the pipeline and each run.
    pub inputs: PipelineInputs,
    /// Its runs (their `pipeline_id` is set to the new pipeline's).
    pub runs: Vec<NewRun>,
}

/// A pipeline's end, for `Store::close_pipeline`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineEnd<'a> {
    pub pipeline: PipelineId,
    pub state: RunState,
    pub environment: EnvironmentId,
    /// What becomes of the environment.
    pub change: EnvChange<'a>,
    /// An entry of the environment's history: (kind, message).
    pub event: Option<(&'a str, &'a str)>,
}

/// What a pipeline's end does to its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvChange<'a> {
    Keep,
    Set {
        state: EnvState,
        failed_job: Option<&'a str>,
        reason: Option<&'a str>,
    },
    /// A destroy completed: the record and its outputs go (runs, logs and events stay).
    Delete,
}

/// A time as RFC 3339, for reasons and messages.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// How an attempt or a run ended, for `Store::end_attempt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    pub state: RunState,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

impl Ending {
    pub fn new(state: RunState, exit_code: Option<i32>, reason: Option<&str>) -> Ending {
        Ending { state, exit_code, reason: reason.map(str::to_string) }
    }
}
