//! The docker executor's handles: a container it started (waited on: limits,
//! cancellation with a grace, out-of-memory told apart, its output drained, removed at
//! the end) and a container found again by its id after the process that started it died
//! (stopped and removed, its end not followed).

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, KillContainerOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use futures_util::StreamExt;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::{daemon_error, is_not_found};
use crate::local_handle::{Reader, drain};
use crate::{ExecError, ExecEvent, ExecOutcome, ExitStatus, Handle};

/// How often an attached container is checked for its end.
const ATTACHED_POLL: Duration = Duration::from_millis(200);

/// A container this process started.
pub(crate) struct DockerHandle {
    pub docker: Docker,
    pub id: String,
    pub readers: [Option<Reader>; 2],
    pub deadline: Option<Instant>,
    pub grace: Duration,
    pub cancel: CancellationToken,
    pub events: Sender<ExecEvent>,
    pub started: Instant,
    /// When it was started, for the daemon's event log.
    pub started_at: std::time::SystemTime,
    /// Leave the container for debugging (`TERRACE_KEEP_WORK`).
    pub keep: bool,
    /// Removes the container if the handle is dropped before its end was seen.
    pub guard: Remover,
}

enum End {
    Exited,
    TimedOut,
    Cancelled,
}

#[async_trait::async_trait]
impl Handle for DockerHandle {
    fn id(&self) -> &str {
        &self.id
    }

    fn cancel(&self) {
        self.cancel.cancel();
    }

    async fn wait(&mut self) -> Result<ExecOutcome, ExecError> {
        let end = tokio::select! {
            biased;
            _ = wait_exit(&self.docker, &self.id) => End::Exited,
            _ = self.cancel.cancelled() => End::Cancelled,
            _ = sleep_until(self.deadline) => End::TimedOut,
        };
        if !matches!(end, End::Exited) {
            stop(&self.docker, &self.id, self.grace).await;
        }
        let state = self.docker.inspect_container(&self.id, None::<InspectContainerOptions>).await;
        let readers = [self.readers[0].take(), self.readers[1].take()];
        let stdout = drain(readers, &self.events).await;
        if !self.keep {
            remove(&self.docker, &self.id).await;
        }
        self.guard.0 = None;
        let state = state.map_err(|e| daemon_error(&format!("container {}", short(&self.id)), &e))?.state;
        let status = match end {
            End::TimedOut => ExitStatus::TimedOut,
            End::Cancelled => ExitStatus::Cancelled,
            End::Exited => match state {
                // A process the job survived (and exited 0 after) is not the job's end.
                Some(s) if s.oom_killed == Some(true) && s.exit_code != Some(0) => ExitStatus::OutOfMemory,
                Some(s)
                    if s.exit_code == Some(SIGKILLED) && oom_event(&self.docker, &self.id, self.started_at).await =>
                {
                    ExitStatus::OutOfMemory
                }
                Some(s) => ExitStatus::Exited(s.exit_code.unwrap_or(-1) as i32),
                None => ExitStatus::Lost,
            },
        };
        Ok(ExecOutcome { status, duration: self.started.elapsed(), stdout })
    }
}

/// The exit code of a container whose process was SIGKILLed (128 + 9).
const SIGKILLED: i64 = 137;
/// How long the daemon's event log is followed for an `oom` still to come.
const OOM_EVENT_WAIT: Duration = Duration::from_secs(2);

/// Whether the daemon logged an `oom` event for container `id` since `since`. With
/// cgroup v1 the daemon can learn of a container's exit before its out-of-memory kill
/// (two notifications that race), and `State.OOMKilled` is then still false when the
/// exit is seen; its event log keeps the `oom`, and one still on its way arrives within
/// `OOM_EVENT_WAIT`. Only asked for a SIGKILLed container not already known as killed
/// for memory.
async fn oom_event(docker: &Docker, id: &str, since: std::time::SystemTime) -> bool {
    let unix = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let filters = std::collections::HashMap::from([("container", vec![id]), ("event", vec!["oom"])]);
    let options = bollard::query_parameters::EventsOptionsBuilder::new()
        .since(&unix(since).saturating_sub(1).to_string())
        .until(&(unix(std::time::SystemTime::now()) + OOM_EVENT_WAIT.as_secs()).to_string())
        .filters(&filters)
        .build();
    let mut events = docker.events(Some(options));
    // The stream ends at `until`; the timeout only bounds a daemon that never ends it.
    let found = tokio::time::timeout(OOM_EVENT_WAIT * 2, async {
        while let Some(event) = events.next().await {
            if let Ok(e) = event
                && e.action.as_deref() == Some("oom")
            {
                return true;
            }
        }
        false
    });
    found.await.unwrap_or(false)
}

/// A container found again by its id: it can be stopped, not followed.
pub(crate) struct AttachedContainer {
    pub docker: Docker,
    pub id: String,
}

#[async_trait::async_trait]
impl Handle for AttachedContainer {
    fn id(&self) -> &str {
        &self.id
    }

    fn cancel(&self) {
        let (docker, id) = (self.docker.clone(), self.id.clone());
        // Recovery does not wait; the executor's sweep removes whatever this leaves.
        tokio::spawn(async move { remove(&docker, &id).await });
    }

    async fn wait(&mut self) -> Result<ExecOutcome, ExecError> {
        let since = Instant::now();
        loop {
            match self.docker.inspect_container(&self.id, None::<InspectContainerOptions>).await {
                Ok(c) if c.state.as_ref().and_then(|s| s.running) == Some(true) => {
                    tokio::time::sleep(ATTACHED_POLL).await;
                }
                _ => break,
            }
        }
        Ok(ExecOutcome { status: ExitStatus::Lost, duration: since.elapsed(), stdout: Vec::new() })
    }
}

/// Removes a container when dropped armed: a handle given up on half-way leaves nothing.
pub(crate) struct Remover(pub Option<(Docker, String)>);

impl Drop for Remover {
    fn drop(&mut self) {
        if let Some((docker, id)) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move { remove(&docker, &id).await });
        }
    }
}

/// Until the container is no longer running (whatever its exit), or the daemon is gone.
async fn wait_exit(docker: &Docker, id: &str) {
    let mut waiting = docker.wait_container(id, None::<WaitContainerOptions>);
    // A non-zero exit arrives as an error too: either way, the container ended.
    let _ = waiting.next().await;
}

/// SIGTERM to the container's first process (Docker runs it in its own PID namespace:
/// when it dies, every process of the container dies), SIGKILL after the grace.
async fn stop(docker: &Docker, id: &str, grace: Duration) {
    let kill = |signal: &str| KillContainerOptionsBuilder::default().signal(signal).build();
    let _ = docker.kill_container(id, Some(kill("SIGTERM"))).await;
    if tokio::time::timeout(grace, wait_exit(docker, id)).await.is_err() {
        let _ = docker.kill_container(id, Some(kill("SIGKILL"))).await;
        wait_exit(docker, id).await;
    }
}

pub(crate) async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => {}
        // 409: a removal already under way.
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {}
        Err(e) => tracing::warn!("cannot remove container {}: {e}", short(id)),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
