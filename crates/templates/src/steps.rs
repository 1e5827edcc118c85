//! The vocabulary between a template and the engine: a step is one process of one phase
//! (init, plan, apply, deploy ...); the runner starts it in the job's working copy with
//! the run's environment, logs it (masked) and enforces the run's limits.

use std::path::Path;

use async_trait::async_trait;
use terrace_model::Event;
use terrace_model::project::Job;

/// One process to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The phase it belongs to, named in errors (`init`, `plan`, `apply`, `output`, `deploy`, `delete` ...).
    pub phase: &'static str,
    pub argv: Vec<String>,
    /// Keep stdout out of the log and return it (for machine output such as `output -json`,
    /// which holds sensitive values in clear). stderr is logged either way.
    pub capture_stdout: bool,
    /// Variables added to the run's environment for this step only.
    pub env: Vec<(String, String)>,
}

impl Step {
    pub fn new(phase: &'static str, argv: Vec<String>) -> Self {
        Step { phase, argv, capture_stdout: false, env: vec![] }
    }

    pub fn captured(mut self) -> Self {
        self.capture_stdout = true;
        self
    }
}

/// How a step ended, when it ran to its end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepOutput {
    pub exit_code: i32,
    /// Only with `capture_stdout`.
    pub stdout: Vec<u8>,
    /// The last lines of stderr, already masked, for error messages.
    pub stderr_tail: Vec<String>,
}

impl StepOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// The tool's own words about what went wrong: its `Error:` lines when it has any,
    /// else the last lines of stderr.
    pub fn tool_message(&self) -> String {
        let errors: Vec<&str> = self
            .stderr_tail
            .iter()
            .map(|l| l.trim_start_matches(['│', '╷', '╵', ' ']).trim())
            .filter(|l| !l.is_empty())
            .collect();
        let start = errors.iter().position(|l| l.starts_with("Error") || l.contains("error")).unwrap_or(0);
        let picked: Vec<&str> = errors[start..].iter().take(8).copied().collect();
        if picked.is_empty() { format!("exit status {}", self.exit_code) } else { picked.join(" ") }
    }
}

/// Ends that stop a template at once: the run's time is up, it was cancelled, or the
/// program could not be started at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepAbort {
    #[error("exceeded max_duration")]
    TimedOut,
    #[error("cancelled")]
    Cancelled,
    #[error("killed by signal {0}")]
    Signaled(i32),
    /// Killed for going past its memory limit (the limit as written, e.g. `512Mi`).
    #[error("out of memory (limit {0})")]
    OutOfMemory(String),
    #[error("{0}")]
    Spawn(String),
    /// The engine could not record the step (store or filesystem failure).
    #[error("{0}")]
    Internal(String),
}

/// A failed job: which phase, and the tool's own message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub phase: String,
    pub message: String,
    pub exit_code: Option<i32>,
}

/// What `terraform plan` would do.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanSummary {
    pub add: u32,
    pub change: u32,
    pub destroy: u32,
    pub outputs_changed: bool,
    pub empty: bool,
    /// Each resource the plan would create, update or delete, with its actions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<PlannedChange>,
}

/// One resource a plan would change (`terraform show -json`'s `resource_changes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedChange {
    /// The resource's address (`local_file.config`, `module.net.aws_vpc.main`).
    pub address: String,
    /// What the plan does to it: `create`, `update`, `delete` (a replacement: two).
    pub actions: Vec<String>,
}

/// The result of a template run that was not aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        /// For `plan`: the summary; the saved plan lies in the run's artifacts folder.
        plan: Option<PlanSummary>,
    },
    Failed(Failure),
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome::Succeeded { plan: None }
    }

    pub fn failed(phase: &str, message: impl Into<String>, exit_code: Option<i32>) -> Self {
        Outcome::Failed(Failure { phase: phase.to_string(), message: message.into(), exit_code })
    }
}

/// Runs steps for a template.
#[async_trait]
pub trait StepRunner: Send {
    async fn run(&mut self, step: Step) -> Result<StepOutput, StepAbort>;
    /// A line of Terrace's own in the run log.
    async fn note(&mut self, text: &str) -> Result<(), StepAbort>;
    /// Whether `program` can be found on the run's PATH.
    fn has_program(&self, program: &str) -> bool;
    /// Keeps the saved plan at `plan` (on Terrace's host) in the store, sealed and bound
    /// to the run's commit, inputs and the state version it was made against.
    async fn keep_plan(&mut self, plan: &Path) -> Result<(), StepAbort> {
        let _ = plan;
        Err(StepAbort::Internal("this runner cannot keep plans".into()))
    }
    /// Writes the plan this run applies (its own kept plan, or the one of the run it was
    /// asked to apply) to `plan`; `Ok(Err(why))` when that plan is stale or missing.
    async fn restore_plan(&mut self, plan: &Path) -> Result<Result<(), String>, StepAbort> {
        let _ = plan;
        Err(StepAbort::Internal("this runner cannot restore plans".into()))
    }
}

/// Terraform's `http` backend for the run's state, served by Terrace: the addresses go
/// in the backend override, the credentials only in the steps' environment.
#[derive(Clone, PartialEq, Eq)]
pub struct StateHttp {
    /// The state's URL; LOCK and UNLOCK go to the same one.
    pub address: String,
    /// The run id.
    pub username: String,
    /// The run's token, valid while the run is active.
    pub password: String,
}

impl std::fmt::Debug for StateHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateHttp").field("address", &self.address).field("username", &self.username).finish()
    }
}

/// Where a run's files are, as one side sees them.
#[derive(Clone, Copy, Debug)]
pub struct JobPaths<'a> {
    /// The run's fresh copy of the job's source (the working directory of every step).
    pub workdir: &'a Path,
    /// The run's copy of the parameters file.
    pub input: Option<&'a Path>,
    /// Where the job's outputs must be written (`TERRACE_OUTPUT_FILE`).
    pub output_file: &'a Path,
    /// Kept between runs, one per environment and job (Terraform's local state).
    pub state_dir: &'a Path,
    /// Kept with the run (saved plans).
    pub artifacts_dir: &'a Path,
}

/// Everything a template knows about the run. Its files are seen twice: Terrace reads
/// and writes them on its host (`host`), and the steps name them where the executor puts
/// them (`job`: the same paths on the local executor, mounts in a container). So the
/// phases are the same code on every executor.
pub struct JobContext<'a> {
    pub project: &'a str,
    pub environment: &'a str,
    pub job: &'a Job,
    pub event: Event,
    pub raw_args: &'a [String],
    pub host: JobPaths<'a>,
    pub job_paths: JobPaths<'a>,
    /// The run's resolved variables (name, value), for settings a template reads from
    /// them (cloudformation's `CFN_PARAM_<Name>`).
    pub variables: &'a [(String, String)],
    /// Terraform's state through Terrace's http backend (unless the job has its own backend).
    pub state: Option<&'a StateHttp>,
    /// A `start` that applies a plan saved earlier (by a `plan` run) instead of planning.
    pub apply_saved_plan: bool,
}
