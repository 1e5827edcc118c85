//! Executors: where a run's steps live, behind one contract (`contract.rs`) and chosen by
//! name (`registry.rs`). This crate owns the local executor (a process group per step, its
//! time limit and cancellation), the docker executor (a container per step), the kubernetes executor (a Job per step), log capture and masking, the output file's safe reading,
//! and the working folder's preparation.

pub mod bundle;
mod capture;
mod contract;
pub mod docker;
pub mod kubernetes;
pub mod local;
mod local_handle;
pub mod mask;
mod matcher;
mod output_file;
mod overlap;
pub mod process;
mod registry;
mod resolve;
pub mod workspace;

use std::path::PathBuf;

pub use capture::{MAX_CAPTURE, MAX_LINE};
pub use contract::{
    AgentPlacement, ContainerStep, ExecEvent, ExecOutcome, Executor, ExitStatus, Handle, ImageSource, Limits,
    ON_AGENT_PREFIX, PathRole, PreparedImage, Resources, StepIo, StepSpec,
};
pub use docker::DockerExecutor;
pub use kubernetes::KubernetesExecutor;
pub use local::LocalExecutor;
pub use mask::{MAX_SECRET_BYTES, MIN_SECRET_CHARS, SecretSet, Unmaskable};
pub use output_file::{ReadError as OutputReadError, UploadRefusal, check_upload, read as read_output_file};
pub use registry::{Executors, UnknownExecutor};
pub use tokio_util::sync::CancellationToken;

/// The name of the executor that hands steps to agents (`terrace server` registers it).
pub const AGENT_EXECUTOR: &str = "agent";
/// The executor that hands steps of `executor: docker` jobs to agents, which run them in
/// containers of their own Docker Engine (`terrace server` registers it).
pub const AGENT_CONTAINER_EXECUTOR: &str = "agent-docker";

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
    /// A handle id this executor cannot act on here.
    #[error("cannot find step `{id}` again: {reason}")]
    Attach { id: String, reason: String },
    /// A step this executor cannot run (an image on the local executor).
    #[error("{0}")]
    Unsupported(String),
    /// The container engine refused or failed (daemon down, image missing, build failed):
    /// the message names the image and what to do.
    #[error("{0}")]
    Container(String),
    /// An agent could not run the step, or stopped reporting on it (its lease expired).
    #[error("{0}")]
    Agent(String),
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
        let spec = StepSpec {
            run: "r".into(),
            attempt: 1,
            argv: vec!["true".into()],
            image: None,
            container: Default::default(),
            workdir: "/".into(),
            input: None,
            output_file: None,
            env: vec![("TOKEN".into(), "hunter2".into())],
            resources: Resources::default(),
            limits: Limits { max_duration: None, kill_grace: std::time::Duration::from_secs(1) },
            capture_stdout: false,
            agent: None,
        };
        let text = format!("{spec:?}");
        assert!(text.contains("TOKEN") && !text.contains("hunter2"), "{text}");
    }
}
