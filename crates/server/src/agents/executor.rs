//! The `agent` executor: the engine's seam to agents. A step is packed (its working copy
//! and parameters file, its command, variables, limits and the secrets to mask), queued
//! in the store for its pool, and waited on there: the agent's log lines are moved into
//! the run's log as they arrive, a cancellation is passed to the agent, and a step whose
//! agent stopped renewing its lease is taken back (its fencing token bumped) and fails,
//! so `max_restarts` may run it again on another agent. The handle id is the step's id.
//! A job of `executor: docker` goes through `AgentExecutor::containers`: the job sees the
//! container paths, and its image is made ready on the agent's own Docker Engine (pulled,
//! or built from the step's working copy), never on the server's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use terrace_exec::{
    DockerExecutor, ExecError, ExecEvent, Executor, Handle, ImageSource, PathRole, PreparedImage, StepIo, StepSpec,
};
use terrace_model::log::{LogBatch, Stream};
use terrace_store::{AgentStepId, AgentStore, NewAgentStep};
use tokio::sync::Notify;

use super::handle::{AgentHandle, Waiter};
use super::protocol::{ContainerPayload, StepEnd, StepPayload, StepResult};

/// A working copy over this size is not sent to an agent: a job's sources, not its data.
pub const MAX_WORKDIR_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Hands steps to agent pools through the store.
pub struct AgentExecutor {
    store: Arc<dyn AgentStore>,
    /// How often a waiter reads the step's state and log.
    poll: Duration,
    /// Wakes the pulls waiting on this server when a step is queued.
    wake: Arc<Notify>,
    /// For `executor: docker` jobs: where their containers show each file, and the image
    /// sources the agent makes ready, by the id `prepare_image` gave them.
    containers: Option<Containers>,
}

/// What the container seam of the agent executor keeps.
#[derive(Default)]
struct Containers {
    paths: DockerExecutor,
    images: Mutex<HashMap<String, ImageSource>>,
}

/// Image sources kept at most (each attempt of a docker job on agents adds one).
const KEPT_IMAGES: usize = 4096;

impl AgentExecutor {
    /// The seam for jobs that agents run with their `local` executor.
    pub fn new(store: Arc<dyn AgentStore>, wake: Arc<Notify>) -> AgentExecutor {
        AgentExecutor { store, poll: Duration::from_millis(200), wake, containers: None }
    }

    /// The seam for jobs that agents run with their `docker` executor.
    pub fn containers(store: Arc<dyn AgentStore>, wake: Arc<Notify>) -> AgentExecutor {
        AgentExecutor { containers: Some(Containers::default()), ..AgentExecutor::new(store, wake) }
    }

    /// The container of a step for its agent: its image source (kept by `prepare_image`),
    /// entrypoint and resources.
    fn container_of(&self, c: &Containers, spec: &StepSpec) -> Result<ContainerPayload, ExecError> {
        let image = spec.image.as_deref().unwrap_or_default();
        let source = c.images.lock().unwrap_or_else(|e| e.into_inner()).get(image).cloned();
        let (pull, dockerfile, default_dockerfile) = match source {
            Some(ImageSource::Pull(reference)) => (Some(reference), None, String::new()),
            Some(ImageSource::Build { context, dockerfile, default_dockerfile }) if context == spec.workdir => {
                (None, dockerfile.map(|d| d.display().to_string()), default_dockerfile)
            }
            Some(ImageSource::Build { context, .. }) => {
                return Err(ExecError::Unsupported(format!(
                    "an agent builds a job's image from the step's working copy only, not from {}",
                    context.display()
                )));
            }
            None => {
                return Err(ExecError::Agent(format!(
                    "the image `{image}` of this step was not made ready for an agent"
                )));
            }
        };
        Ok(ContainerPayload {
            pull,
            dockerfile,
            default_dockerfile,
            entrypoint: spec.container.entrypoint.clone(),
            keep_image_workdir: spec.container.keep_image_workdir,
            cpu: spec.resources.cpu.clone(),
            memory: spec.resources.memory.clone(),
        })
    }

    fn waiter(&self, id: AgentStepId) -> Waiter {
        Waiter { store: self.store.clone(), id, poll: self.poll }
    }
}

/// A step's working copy (a tar archive) and parameters file (its name and content).
type Files = (Vec<u8>, Option<(String, Vec<u8>)>);

/// The step as its agent receives it (the claim adds its id and token).
async fn payload(
    spec: &StepSpec,
    executor: &str,
    container: Option<ContainerPayload>,
    io: &StepIo,
) -> Result<StepPayload, ExecError> {
    let (workdir, input) = (spec.workdir.clone(), spec.input.clone());
    let files = tokio::task::spawn_blocking(move || -> std::io::Result<Files> {
        let tar = terrace_exec::bundle::pack(&workdir, MAX_WORKDIR_BYTES)?;
        let input = match input {
            Some(path) => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into());
                Some((name, std::fs::read(&path)?))
            }
            None => None,
        };
        Ok((tar, input))
    })
    .await
    .map_err(|e| ExecError::Agent(format!("cannot pack the step for its agent: {e}")))?
    .map_err(|e| ExecError::Workdir { path: spec.workdir.clone(), source: e })?;
    Ok(StepPayload {
        step: String::new(),
        token: 0,
        renew_every_ms: 0,
        run: spec.run.clone(),
        attempt: spec.attempt,
        executor: executor.to_string(),
        argv: spec.argv.clone(),
        env: spec.env.clone(),
        max_duration_ms: spec.limits.max_duration.map(|d| d.as_millis() as u64),
        kill_grace_ms: spec.limits.kill_grace.as_millis() as u64,
        capture_stdout: spec.capture_stdout,
        secrets: io.secrets.values(),
        workdir: b64(&files.0),
        input: files.1.map(|(name, bytes)| (name, b64(&bytes))),
        paths: [
            ("workdir", Some(&spec.workdir)),
            ("input", spec.input.as_ref()),
            ("output", spec.output_file.as_ref()),
        ]
        .into_iter()
        .filter_map(|(role, p)| Some((p?.display().to_string(), role.to_string())))
        .collect(),
        container,
    })
}

#[async_trait::async_trait]
impl Executor for AgentExecutor {
    fn name(&self) -> &'static str {
        match self.containers {
            Some(_) => terrace_exec::AGENT_CONTAINER_EXECUTOR,
            None => terrace_exec::AGENT_EXECUTOR,
        }
    }

    fn job_path(&self, role: PathRole, host: &Path) -> PathBuf {
        match &self.containers {
            Some(c) => c.paths.job_path(role, host),
            None => host.to_path_buf(),
        }
    }

    fn runs_images(&self) -> bool {
        self.containers.is_some()
    }

    /// The image is made ready by the agent that runs the step: here it is only noted.
    async fn prepare_image(&self, source: &ImageSource, _io: &StepIo) -> Result<PreparedImage, ExecError> {
        let Some(c) = &self.containers else {
            return Err(ExecError::Unsupported(format!("the `{}` executor runs no images", self.name())));
        };
        let id = format!("{}{}", terrace_exec::ON_AGENT_PREFIX, AgentStepId::new());
        let reference = match source {
            ImageSource::Pull(reference) => format!("{reference}, pulled by the agent when it has not got it"),
            ImageSource::Build { .. } => "built by the agent from the working copy".to_string(),
        };
        let mut images = c.images.lock().unwrap_or_else(|e| e.into_inner());
        if images.len() >= KEPT_IMAGES {
            images.clear();
        }
        images.insert(id.clone(), source.clone());
        Ok(PreparedImage { id, reference, digest: None, fresh: false })
    }

    async fn start(&self, spec: StepSpec, io: StepIo) -> Result<Box<dyn Handle>, ExecError> {
        let Some(place) = spec.agent.clone() else {
            return Err(ExecError::Unsupported(
                "the `agent` executor runs only the steps of a job with a `pool`".into(),
            ));
        };
        let container = match (&self.containers, place.executor.as_str()) {
            (None, "local") if spec.image.is_none() => None,
            (Some(c), "docker") => Some(self.container_of(c, &spec)?),
            _ => {
                return Err(ExecError::Unsupported(format!(
                    "agents run jobs with the `local` executor (a process on the agent's host) or the `docker` \
                     executor (a container of the agent's Docker Engine); this job runs on the `{}` executor: drop \
                     `pool:` or use one of those",
                    place.executor
                )));
            }
        };
        let run = spec.run.parse().map_err(|_| ExecError::Agent(format!("`{}` is not a run id", spec.run)))?;
        let payload = payload(&spec, &place.executor, container, &io).await?;
        let body =
            serde_json::to_vec(&payload).map_err(|e| ExecError::Agent(format!("cannot encode the step: {e}")))?;
        let id = AgentStepId::new();
        let step = NewAgentStep { id, pool: place.pool.clone(), run, attempt: spec.attempt, spec: body };
        self.store
            .enqueue_agent_step(step)
            .await
            .map_err(|e| ExecError::Agent(format!("cannot queue the step: {e}")))?;
        self.wake.notify_waiters();
        let note = format!("waiting for an agent of pool `{}` (step {id})", place.pool);
        let _ = io.events.send(ExecEvent::Lines(LogBatch::now(Stream::Terrace, &note))).await;
        Ok(Box::new(AgentHandle::new(self.waiter(id), spec, io)))
    }

    async fn attach(&self, id: &str) -> Result<Box<dyn Handle>, ExecError> {
        let step: AgentStepId =
            id.parse().map_err(|_| ExecError::Attach { id: id.into(), reason: "not an agent step id".into() })?;
        Ok(Box::new(AgentHandle::attached(self.waiter(step))))
    }

    /// Steps are found by their id, which the engine records before it waits.
    async fn sweep(&self, _run: &str) {}
}

/// What a cancelled step's record says when it ends before an agent took it.
pub(crate) fn cancelled_before_claim() -> String {
    let result = StepResult { end: StepEnd::Cancelled, duration_ms: 0, stdout: String::new(), image: None };
    serde_json::to_string(&result).unwrap_or_default()
}
