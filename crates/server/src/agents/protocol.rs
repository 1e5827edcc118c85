//! What the server and its agents say to each other (`/api/v1/agent/...`), in JSON. A
//! step travels whole: its command, environment, limits, the secrets to mask and its
//! files (the attempt's working copy as a tar archive, its parameters file), base64. The
//! agent answers with its log (masked on the agent), renewals, and its end: the exit
//! status and the output file. Every report carries the fencing token of the claim.

use serde::{Deserialize, Serialize};
use terrace_model::log::{LogBatch, Stream};
use utoipa::ToSchema;

/// How long a pull waits for a step before answering `204 No Content`.
pub const PULL_WAIT_SECS: u64 = 20;

/// A pull: who asks (a name for the logs and the step's record).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullBody {
    pub agent: String,
    /// The pool the agent serves; it must be its token's.
    pub pool: String,
}

/// A claimed step, everything the agent needs to run it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct StepPayload {
    pub step: String,
    /// The fencing token of the claim: every report carries it.
    pub token: u64,
    /// Renew at least this often (milliseconds); the lease is three times as long.
    pub renew_every_ms: u64,
    pub run: String,
    pub attempt: u32,
    /// The executor the agent runs it with (`local`).
    pub executor: String,
    pub argv: Vec<String>,
    /// `[name, value]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub env: Vec<(String, String)>,
    pub max_duration_ms: Option<u64>,
    pub kill_grace_ms: u64,
    pub capture_stdout: bool,
    /// Values to mask in every line the step prints.
    pub secrets: Vec<String>,
    /// The working copy, a tar archive (base64).
    pub workdir: String,
    /// The parameters file: its file name and content (base64).
    #[schema(value_type = Option<Vec<String>>)]
    pub input: Option<(String, String)>,
    /// Where the server had the step's files (`workdir`, `input`, `output`): the agent
    /// puts its own folders in their place in the arguments and variables.
    #[schema(value_type = Vec<Vec<String>>)]
    pub paths: Vec<(String, String)>,
    /// With the `docker` executor: the container the agent runs the step in.
    #[serde(default)]
    pub container: Option<ContainerPayload>,
}

/// A step's container, made ready on the agent's own Docker Engine: an image pulled (when
/// absent), or built from the step's working copy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContainerPayload {
    /// The image to run (`image:` of the job); None: build one from the working copy.
    pub pull: Option<String>,
    /// The Dockerfile of the build, relative to the working copy (`dockerfile:`).
    pub dockerfile: Option<String>,
    /// The template's Dockerfile, for a build without one of its own.
    pub default_dockerfile: String,
    /// The program that receives the arguments; the image's ENTRYPOINT when None.
    pub entrypoint: Option<Vec<String>>,
    /// Start in the image's WORKDIR rather than the mounted working copy.
    pub keep_image_workdir: bool,
    /// Kubernetes notation (`500m`, `512Mi`), enforced as Docker's CPU quota and memory limit.
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

impl std::fmt::Debug for StepPayload {
    // Variables and secrets are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepPayload")
            .field("step", &self.step)
            .field("run", &self.run)
            .field("argv", &self.argv)
            .finish()
    }
}

/// Log lines of a step, masked on the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WireBatch {
    /// Unix nanoseconds.
    #[schema(value_type = i64)]
    pub ts: i128,
    pub stream: String,
    pub lines: Vec<String>,
}

impl WireBatch {
    pub fn from_batch(b: &LogBatch) -> WireBatch {
        WireBatch {
            ts: b.ts.unix_timestamp_nanos(),
            stream: b.stream.as_str().into(),
            lines: b.lines().map(str::to_string).collect(),
        }
    }

    pub fn to_batch(&self) -> LogBatch {
        let ts = time::OffsetDateTime::from_unix_timestamp_nanos(self.ts)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
        let mut b = LogBatch::new(ts, Stream::parse(&self.stream).unwrap_or(Stream::Stdout));
        for line in &self.lines {
            b.push(line);
        }
        b
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsBody {
    pub token: u64,
    pub batches: Vec<WireBatch>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewBody {
    pub token: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewAnswer {
    /// Stop the step: its run was cancelled.
    pub cancel: bool,
}

/// How a step ended, as its agent saw it, or as the server decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepEnd {
    Exited {
        code: i32,
    },
    Signaled {
        signal: i32,
    },
    TimedOut,
    Cancelled,
    OutOfMemory,
    /// The agent could not run it (a message naming why).
    Failed {
        message: String,
    },
    /// Its agent stopped renewing the lease: taken back.
    Lost {
        message: String,
    },
}

/// A step's end as the store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StepResult {
    pub end: StepEnd,
    pub duration_ms: u64,
    /// With `capture_stdout`: what the step printed on stdout (base64).
    #[serde(default)]
    pub stdout: String,
    /// The image a container step ran, as the agent made it ready: its registry digest
    /// (`repo@sha256:...`), else its image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    pub token: u64,
    pub result: StepResult,
    /// The output file, when the step wrote one (base64).
    pub output: Option<String>,
}
