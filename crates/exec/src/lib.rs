//! Executors: where a run's process lives. This crate owns spawning a job, capturing
//! and masking its log, enforcing its time limit and cancellation on the whole process
//! group, watching its output file for new secrets, and preparing its working folder.

mod capture;
pub mod local;
pub mod mask;
mod matcher;
mod output_file;
mod overlap;
pub mod process;
mod resolve;
pub mod workspace;

use std::path::PathBuf;
use std::time::Duration;

use terrace_model::log::LogBatch;

pub use capture::{MAX_CAPTURE, MAX_LINE};
pub use local::LocalExecutor;
pub use mask::{MAX_SECRET_BYTES, MIN_SECRET_CHARS, SecretSet, Unmaskable};
pub use output_file::{ReadError as OutputReadError, read as read_output_file};
pub use tokio_util::sync::CancellationToken;

/// What to run, and under which limits.
#[derive(Clone)]
pub struct ExecSpec {
    /// Program and arguments; a program without '/' is looked up in the PATH of `env`.
    pub argv: Vec<String>,
    pub workdir: PathBuf,
    /// The complete environment: the child starts from an empty one plus exactly these.
    pub env: Vec<(String, String)>,
    pub max_duration: Option<Duration>,
    /// Between SIGTERM and SIGKILL when the run is stopped.
    pub kill_grace: Duration,
    /// Watched while the job runs: its sensitive values are masked from then on.
    pub output_file: Option<PathBuf>,
    /// Keep stdout out of the log and return it, unmasked, in `ExecOutcome::stdout`
    /// (machine output such as `terraform output -json`). stderr is logged either way.
    pub capture_stdout: bool,
}

impl std::fmt::Debug for ExecSpec {
    // Environment values may be secrets: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSpec")
            .field("argv", &self.argv)
            .field("workdir", &self.workdir)
            .field("env", &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("max_duration", &self.max_duration)
            .field("kill_grace", &self.kill_grace)
            .field("output_file", &self.output_file)
            .field("capture_stdout", &self.capture_stdout)
            .finish()
    }
}

/// What an executor reports while a job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// Sent once, right after spawn; `pid` is also the process group id.
    Started { pid: u32, pid_start: Option<u64> },
    /// Complete, already-masked lines that arrived together.
    Lines(LogBatch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Cancelled,
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
    /// With `ExecSpec::capture_stdout`: everything the job wrote to stdout (at most
    /// `MAX_CAPTURE` bytes). Empty otherwise.
    pub stdout: Vec<u8>,
}

/// Why a job could not be run. Messages never contain environment values.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("the job has no command to run")]
    EmptyCommand,
    #[error("cannot use working folder `{}`: {}", .path.display(), describe(.source))]
    Workdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{program}`: {}{}", describe(.source), hint(.source))]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lost track of the job's process: {}", describe(.source))]
    Wait {
        #[source]
        source: std::io::Error,
    },
}

/// The OS's description without Rust's " (os error N)" suffix.
fn describe(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

fn hint(e: &std::io::Error) -> &'static str {
    if e.raw_os_error() == Some(nix::errno::Errno::E2BIG as i32) {
        return " (the job's arguments and environment are too large: Linux takes at most 128 KiB per variable and about 2 MiB in all; outputs are at most 64 KiB each)";
    }
    match e.kind() {
        std::io::ErrorKind::NotFound => " (is it installed and on PATH?)",
        std::io::ErrorKind::PermissionDenied => " (is it executable?)",
        _ => "",
    }
}

/// Runs one job to its end. Implementations kill the job's whole process tree on
/// timeout or cancellation and never leave a process behind.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    async fn run(
        &self,
        spec: ExecSpec,
        secrets: SecretSet,
        events: tokio::sync::mpsc::Sender<ExecEvent>,
        cancel: CancellationToken,
    ) -> Result<ExecOutcome, ExecError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_error_message() {
        let e = ExecError::Spawn { program: "terraform".into(), source: nix::errno::Errno::ENOENT.into() };
        assert_eq!(e.to_string(), "cannot start `terraform`: No such file or directory (is it installed and on PATH?)");
        let e = ExecError::Spawn { program: "sh".into(), source: nix::errno::Errno::E2BIG.into() };
        assert!(e.to_string().contains("128 KiB per variable"), "{e}");
    }

    #[test]
    fn spec_debug_hides_env_values() {
        let spec = ExecSpec {
            argv: vec!["true".into()],
            workdir: "/".into(),
            env: vec![("TOKEN".into(), "hunter2".into())],
            max_duration: None,
            kill_grace: Duration::from_secs(1),
            output_file: None,
            capture_stdout: false,
        };
        let text = format!("{spec:?}");
        assert!(text.contains("TOKEN") && !text.contains("hunter2"), "{text}");
    }
}
