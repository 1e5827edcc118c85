//! The docker executor: each step is one container of the job's image on the Docker
//! Engine (through bollard), with the attempt's files mounted (`paths`), exactly the
//! step's environment, the job's CPU quota and memory limit, and its output read through
//! an attach stream into the same masking as local runs. Its handle id is the container
//! id; every container carries its run and attempt as labels, which is how a sweep finds
//! what a dead process left. The container is removed at the end of its step
//! (`TERRACE_KEEP_WORK=1` keeps it). The daemon is found through `DOCKER_HOST` (default
//! `unix:///var/run/docker.sock`); the API version is agreed on first use.

mod context;
mod debug;
mod error;
mod handle;
mod image;
mod logs;
pub(crate) mod paths;
mod spec;

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{AttachContainerOptionsBuilder, ListContainersOptionsBuilder};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::local::{spawn_collector, spawn_reader};
use crate::output_file::OutputWatch;
use crate::{ExecError, Executor, Handle, ImageSource, PathRole, PreparedImage, StepIo, StepSpec};
use error::daemon_error;
use handle::{AttachedContainer, DockerHandle, Remover, remove, short};
use terrace_model::log::Stream;

/// The label that names a container's run.
pub(crate) const RUN_LABEL: &str = "terrace.run";
pub(crate) const ATTEMPT_LABEL: &str = "terrace.attempt";
/// The label that names who made a container (`ContainerStep::owner`).
pub(crate) const OWNER_LABEL: &str = "terrace.owner";

/// Runs steps as containers of the local Docker Engine.
#[derive(Default)]
pub struct DockerExecutor {
    docker: OnceCell<Docker>,
}

impl DockerExecutor {
    pub fn new() -> Self {
        DockerExecutor::default()
    }

    /// Removes (stopping them first) the containers `owner` made (`ContainerStep::owner`):
    /// what a killed process of that owner left running. Returns how many; none when the
    /// daemon cannot be reached.
    pub async fn sweep_owner(&self, owner: &str) -> usize {
        self.remove_labelled(&format!("{OWNER_LABEL}={owner}")).await
    }

    async fn remove_labelled(&self, label: &str) -> usize {
        let Ok(docker) = self.client("a sweep").await else { return 0 };
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let Ok(found) = docker.list_containers(Some(options)).await else { return 0 };
        let ids: Vec<String> = found.into_iter().filter_map(|c| c.id).collect();
        for id in &ids {
            remove(docker, id).await;
        }
        ids.len()
    }

    /// The client, its API version agreed with the daemon on first use; `what` names the
    /// image or container in the error when the daemon cannot be reached.
    async fn client(&self, what: &str) -> Result<&Docker, ExecError> {
        self.docker
            .get_or_try_init(|| async {
                let docker = Docker::connect_with_defaults().map_err(|e| daemon_error(what, &e))?;
                docker.negotiate_version().await.map_err(|e| daemon_error(what, &e))
            })
            .await
    }
}

#[async_trait::async_trait]
impl Executor for DockerExecutor {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn job_path(&self, role: PathRole, host: &std::path::Path) -> std::path::PathBuf {
        paths::job_path(role, host)
    }

    fn runs_images(&self) -> bool {
        true
    }

    async fn prepare_image(&self, source: &ImageSource, io: &StepIo) -> Result<PreparedImage, ExecError> {
        let what = match source {
            ImageSource::Pull(reference) => format!("image `{reference}`"),
            ImageSource::Build { context, dockerfile, .. } => {
                format!("the image of {}", context::describe(context, dockerfile.as_deref()))
            }
        };
        let docker = self.client(&what).await?;
        image::prepare(docker, source, io).await
    }

    async fn start(&self, step: StepSpec, io: StepIo) -> Result<Box<dyn Handle>, ExecError> {
        let Some(image) = step.image.clone() else {
            return Err(ExecError::Unsupported(
                "the docker executor runs a step in an image, and this one has none".into(),
            ));
        };
        if step.argv.is_empty() && step.container.entrypoint.is_none() {
            return Err(ExecError::EmptyCommand);
        }
        let docker = self.client(&format!("image `{image}`")).await?.clone();
        let opened = step.clone();
        tokio::task::spawn_blocking(move || paths::open_up(&opened))
            .await
            .map_err(|e| ExecError::Container(format!("preparing the container's files failed: {e}")))?
            .map_err(|source| ExecError::Workdir { path: step.workdir.clone(), source })?;
        let config = spec::container(&step, &image)?;
        let created = docker
            .create_container(None::<bollard::query_parameters::CreateContainerOptions>, config)
            .await
            .map_err(|e| daemon_error(&format!("a container of image `{image}`"), &e))?;
        let id = created.id;
        let guard = Remover(Some((docker.clone(), id.clone())));
        let attach = AttachContainerOptionsBuilder::default().stream(true).stdout(true).stderr(true).build();
        let attached = docker
            .attach_container(&id, Some(attach))
            .await
            .map_err(|e| daemon_error(&format!("container {} of image `{image}`", short(&id)), &e))?;
        let (out, err, _demux) = logs::demux(attached.output);
        let watch = step.output_file.clone().map(OutputWatch::new);
        let stdout = match step.capture_stdout {
            true => spawn_collector(out, &io.events),
            false => spawn_reader(out, Stream::Stdout, &io.secrets, &watch, &io.events),
        };
        let stderr = spawn_reader(err, Stream::Stderr, &io.secrets, &watch, &io.events);
        let started = Instant::now();
        let started_at = std::time::SystemTime::now();
        docker
            .start_container(&id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| daemon_error(&format!("container {} of image `{image}`", short(&id)), &e))?;
        Ok(Box::new(DockerHandle {
            docker,
            id,
            readers: [Some(stdout), Some(stderr)],
            deadline: step.limits.max_duration.map(|d| started + d),
            grace: step.limits.kill_grace,
            cancel: io.cancel.child_token(),
            events: io.events,
            started,
            started_at,
            keep: std::env::var_os("TERRACE_KEEP_WORK").is_some(),
            guard,
        }))
    }

    async fn debug(&self, step: StepSpec) -> Result<i32, ExecError> {
        let Some(image) = step.image.clone() else {
            return Err(ExecError::Unsupported(
                "the docker executor runs a session in an image, and this one has none".into(),
            ));
        };
        let docker = self.client(&format!("image `{image}`")).await?.clone();
        debug::session(&docker, step, &image).await
    }

    async fn attach(&self, id: &str) -> Result<Box<dyn Handle>, ExecError> {
        let docker = self.client(&format!("container {}", short(id))).await?.clone();
        match docker.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>).await {
            Ok(_) => Ok(Box::new(AttachedContainer { docker, id: id.to_string() })),
            Err(e) if error::is_not_found(&e) => {
                Err(ExecError::Attach { id: id.into(), reason: "no such container on this Docker host".into() })
            }
            Err(e) => Err(ExecError::Attach { id: id.into(), reason: daemon_error("the container", &e).to_string() }),
        }
    }

    async fn sweep(&self, run: &str) {
        self.remove_labelled(&format!("{RUN_LABEL}={run}")).await;
    }
}
