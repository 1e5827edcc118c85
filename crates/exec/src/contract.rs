//! The executor contract (DESIGN.md "Layers"): the engine hands an executor one step of an
//! attempt (a program or an image, the attempt's source snapshot, its parameters file and
//! output location, its environment, resources and limits) and gets back a `Handle` to
//! wait on and cancel, whose id finds the step again from another process (re-attach,
//! recovery). No process id crosses this boundary: a handle id means something only to
//! the executor that made it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use terrace_model::log::LogBatch;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use crate::{ExecError, SecretSet};

/// One step to run. Paths are on Terrace's host; the executor makes them visible to the
/// job where `Executor::job_path` says, and sets `TERRACE_OUTPUT_FILE` and
/// `TERRACE_JOB_INPUT` to those places.
#[derive(Clone)]
pub struct StepSpec {
    /// The run and attempt the step belongs to (labels; how orphans are found again).
    pub run: String,
    pub attempt: u32,
    /// Program and arguments; a program without '/' is looked up in the PATH of `env`.
    pub argv: Vec<String>,
    /// A container image to run `argv` in (what `Executor::prepare_image` returned). Only
    /// container executors take one.
    pub image: Option<String>,
    /// What only a container executor uses: the entrypoint, where the step starts, and
    /// the other host folders it must see.
    pub container: ContainerStep,
    /// The attempt's source snapshot (its fresh working copy): the step's working directory.
    pub workdir: PathBuf,
    /// The attempt's copy of the parameters file.
    pub input: Option<PathBuf>,
    /// Where the job writes its outputs; read while the step runs, so its sensitive values
    /// are masked in every line printed after they were written.
    pub output_file: Option<PathBuf>,
    /// The complete environment: the step starts from an empty one plus exactly these.
    pub env: Vec<(String, String)>,
    pub resources: Resources,
    pub limits: Limits,
    /// Keep stdout out of the log and return it, unmasked, in `ExecOutcome::stdout`
    /// (machine output such as `terraform output -json`). stderr is logged either way.
    pub capture_stdout: bool,
    /// For the `agent` executor: the pool whose agents run the step, and the executor
    /// they run it with on their host.
    pub agent: Option<AgentPlacement>,
}

/// Where an agent runs a step: an agent of `pool`, with its executor named `executor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentPlacement {
    pub pool: String,
    pub executor: String,
}

impl std::fmt::Debug for StepSpec {
    // Environment values may be secrets: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepSpec")
            .field("run", &self.run)
            .field("attempt", &self.attempt)
            .field("argv", &self.argv)
            .field("image", &self.image)
            .field("container", &self.container)
            .field("workdir", &self.workdir)
            .field("input", &self.input)
            .field("output_file", &self.output_file)
            .field("env", &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("resources", &self.resources)
            .field("limits", &self.limits)
            .field("capture_stdout", &self.capture_stdout)
            .field("agent", &self.agent)
            .finish()
    }
}

/// The container side of a step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerStep {
    /// The program that receives `argv` as its arguments; the image's ENTRYPOINT when `None`.
    pub entrypoint: Option<Vec<String>>,
    /// Start in the image's own WORKDIR (a job's own image running its own commands: its
    /// recipe decides where it works), not in the mounted working copy.
    pub keep_image_workdir: bool,
    /// Folders kept between runs (Terraform's local state) and with the run (saved plans),
    /// which the job sees where `Executor::job_path` says.
    pub state_dir: Option<PathBuf>,
    pub artifacts_dir: Option<PathBuf>,
    /// Who makes the container, kept as its `terrace.owner` label (an agent:
    /// `agent/POOL/NAME`): that owner's next start removes what a killed process left.
    pub owner: Option<String>,
}

/// What a host path is to the job: how a container executor decides where to show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathRole {
    Workdir,
    Input,
    OutputFile,
    State,
    Artifacts,
}

/// Where a job's image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// An image reference, pulled when the daemon does not have it.
    Pull(String),
    /// Built from a folder (the build context): with its own Dockerfile (relative to the
    /// folder), else with `default_dockerfile`'s text.
    Build { context: PathBuf, dockerfile: Option<PathBuf>, default_dockerfile: String },
}

/// An image ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedImage {
    /// What `StepSpec::image` takes (the image id).
    pub id: String,
    /// How it was found: the reference pulled, or the tag of the build.
    pub reference: String,
    /// The registry digest of a pulled image (`name@sha256:...`), when it has one.
    pub digest: Option<String>,
    /// Whether it was built (or pulled) now rather than found ready.
    pub fresh: bool,
}

impl PreparedImage {
    /// What the run records as the image it ran: the registry digest when there is one
    /// (a pulled image, or a local one Docker knows the registry digest of), else the
    /// image id (built from a Dockerfile, or only ever local). None when the image is made
    /// ready elsewhere (an agent's executor, whose id is a placeholder).
    pub fn identity(&self) -> Option<&str> {
        if self.id.starts_with(ON_AGENT_PREFIX) {
            return None;
        }
        Some(self.digest.as_deref().unwrap_or(&self.id))
    }
}

/// The start of the placeholder id an agent's executor gives an image the agent will make
/// ready itself.
pub const ON_AGENT_PREFIX: &str = "on-agent:";

/// What a step may use; executors that cannot enforce them (local) ignore them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Kubernetes notation: `500m`, `2`.
    pub cpu: Option<String>,
    /// Kubernetes notation: `512Mi`, `2Gi`.
    pub memory: Option<String>,
}

/// When a step is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The step is stopped (its whole tree) once this is spent: `ExitStatus::TimedOut`.
    pub max_duration: Option<Duration>,
    /// Between the polite stop (SIGTERM) and the forced one (SIGKILL).
    pub kill_grace: Duration,
}

/// What a step reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// Complete, already-masked lines that arrived together.
    Lines(LogBatch),
}

/// Where a step's log goes, which secrets are masked in it, and what stops it.
#[derive(Clone, Debug)]
pub struct StepIo {
    pub secrets: SecretSet,
    pub events: Sender<ExecEvent>,
    /// Cancelling stops the step as `Handle::cancel` does.
    pub cancel: CancellationToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Cancelled,
    /// Killed by the kernel for going past its memory limit.
    OutOfMemory,
    /// A re-attached step ended while nobody watched: its status is not known.
    Lost,
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    pub status: ExitStatus,
    pub duration: Duration,
    /// With `StepSpec::capture_stdout`: everything the job wrote to stdout (at most
    /// `MAX_CAPTURE` bytes). Empty otherwise.
    pub stdout: Vec<u8>,
}

/// A running step.
#[async_trait::async_trait]
pub trait Handle: Send {
    /// What finds this step again through the same executor, from any process: the
    /// engine stores it with the attempt before it waits.
    fn id(&self) -> &str;
    /// Waits for the step's end, enforcing its limits and streaming its log. For a
    /// re-attached step: until it is gone (`ExitStatus::Lost`, its log is not followed).
    async fn wait(&mut self) -> Result<ExecOutcome, ExecError>;
    /// Stops the step and everything it started now (politely first, for the grace).
    fn cancel(&self);
    /// The exact image the step ran, when the executor learns it only while the step runs
    /// (a Kubernetes pod's `imageID`); read after `wait`.
    fn image_ran(&self) -> Option<String> {
        None
    }
}

/// Where steps run. Implementations stop a step's whole tree on timeout or cancellation
/// and never leave anything running behind a finished step.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    /// The name a job gives in `executor:`.
    fn name(&self) -> &'static str;

    /// Where the job sees a path of Terrace's host that plays `role` (a mount inside a
    /// container); the templates build their arguments with these.
    fn job_path(&self, role: PathRole, host: &Path) -> PathBuf {
        let _ = role;
        host.to_path_buf()
    }

    /// Whether steps run in an image (`StepSpec::image`, `prepare_image`).
    fn runs_images(&self) -> bool {
        false
    }

    /// Makes the image ready (pulled when absent, or built and cached by content); what
    /// it prints goes to `io`'s log, masked.
    async fn prepare_image(&self, source: &ImageSource, io: &StepIo) -> Result<PreparedImage, ExecError> {
        let _ = (source, io);
        Err(ExecError::Unsupported(format!("the `{}` executor runs no images", self.name())))
    }

    /// Whether a step with this environment and working directory would find `program`
    /// (so a template can say "install terraform" rather than fail at the first phase).
    fn has_program(&self, program: &str, env: &[(String, String)], workdir: &Path) -> bool {
        let _ = (program, env, workdir);
        true
    }

    /// Whether a step outlives the process that started it and can be followed to its
    /// true end from another one (`attach`, then `Handle::wait` gives its real status and
    /// outputs): recovery then follows it rather than stopping it (a Kubernetes Job).
    fn follows_after_restart(&self) -> bool {
        false
    }

    /// Starts a step; it runs when this returns.
    async fn start(&self, step: StepSpec, io: StepIo) -> Result<Box<dyn Handle>, ExecError>;

    /// The step behind a handle id that this executor gave, maybe to a process that died.
    async fn attach(&self, id: &str) -> Result<Box<dyn Handle>, ExecError>;

    /// Stops whatever of `run` this executor still runs that no recorded handle names
    /// (a step started just before its holder died). Recovery calls it for a dead run.
    async fn sweep(&self, run: &str);

    /// Runs `step` as an interactive session of a person at this process's terminal
    /// (`terrace run JOB --event debug`): its argv (a shell) with this process's stdin,
    /// stdout and stderr, in the step's exact environment, files and image; everything it
    /// made is removed when it ends. Returns the session's exit status.
    async fn debug(&self, step: StepSpec) -> Result<i32, ExecError> {
        let _ = step;
        Err(ExecError::Unsupported(format!("the `{}` executor has no interactive sessions", self.name())))
    }

    /// Starts a step and waits for its end.
    async fn run(&self, step: StepSpec, io: StepIo) -> Result<ExecOutcome, ExecError> {
        self.start(step, io).await?.wait().await
    }
}
