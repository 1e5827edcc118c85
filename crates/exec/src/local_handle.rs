//! The local executor's handles: a step it started (waited on as a child: limits,
//! cancellation with a grace, its pipes drained) and a group found again by its id after
//! the process that started it died (watched and killed, never waited on as a child).

use std::time::Duration;

use nix::sys::signal::Signal;
use terrace_model::log::{LogBatch, Stream};
use tokio::process::Child;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::local::ATTACHED_POLL;
use crate::process::{group_exists, kill_group, signal_group};
use crate::{ExecError, ExecEvent, ExecOutcome, ExitStatus, Handle};

/// How long the pipes may stay open once the job's group is dead: only a process that
/// left the group (setsid) can hold them, and it must not hang the run.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How often the group is checked for survivors during the kill grace.
const GROUP_POLL: Duration = Duration::from_millis(50);

/// A pipe's reader; it returns what it captured (nothing for a logged pipe).
pub(crate) type Reader = tokio::task::JoinHandle<std::io::Result<Vec<u8>>>;

/// Kills the group if the handle is dropped half-way (its caller gave up on it), so no
/// process outlives the handle that owned it.
pub(crate) struct GroupGuard(pub Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            signal_group(pgid, Signal::SIGKILL);
        }
    }
}

/// A step this process started.
pub(crate) struct LocalHandle {
    pub id: String,
    pub child: Child,
    pub pgid: u32,
    pub guard: GroupGuard,
    pub readers: [Option<Reader>; 2],
    pub deadline: Option<Instant>,
    pub grace: Duration,
    pub cancel: CancellationToken,
    pub events: Sender<ExecEvent>,
    pub started: Instant,
}

enum End {
    Exited(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Cancelled,
}

#[async_trait::async_trait]
impl Handle for LocalHandle {
    fn id(&self) -> &str {
        &self.id
    }

    fn cancel(&self) {
        self.cancel.cancel();
    }

    async fn wait(&mut self) -> Result<ExecOutcome, ExecError> {
        let end = tokio::select! {
            biased;
            r = self.child.wait() => End::Exited(r),
            _ = self.cancel.cancelled() => End::Cancelled,
            _ = sleep_until(self.deadline) => End::TimedOut,
        };
        let (status, result) = match end {
            End::Exited(r) => (None, r),
            End::TimedOut => (Some(ExitStatus::TimedOut), stop(&mut self.child, self.pgid, self.grace).await),
            End::Cancelled => (Some(ExitStatus::Cancelled), stop(&mut self.child, self.pgid, self.grace).await),
        };
        // Whatever the job left in its group (a backgrounded daemon holding our pipes)
        // dies with it. The group id cannot be reused while any member lives.
        signal_group(self.pgid, Signal::SIGKILL);
        self.guard.0 = None;
        let exit = result.map_err(|source| ExecError::Wait { source })?;
        let readers = [self.readers[0].take(), self.readers[1].take()];
        let stdout = drain(readers, &self.events).await;
        let status = status.unwrap_or_else(|| exit_status(exit));
        Ok(ExecOutcome { status, duration: self.started.elapsed(), stdout })
    }
}

/// A group found again by its id: it can be watched and stopped, not waited on.
pub(crate) struct AttachedGroup {
    pub id: String,
    pub pgid: u32,
    pub start: Option<u64>,
}

#[async_trait::async_trait]
impl Handle for AttachedGroup {
    fn id(&self) -> &str {
        &self.id
    }

    fn cancel(&self) {
        kill_group(self.pgid, self.start);
    }

    async fn wait(&mut self) -> Result<ExecOutcome, ExecError> {
        let since = Instant::now();
        while group_exists(self.pgid) {
            tokio::time::sleep(ATTACHED_POLL).await;
        }
        Ok(ExecOutcome { status: ExitStatus::Lost, duration: since.elapsed(), stdout: Vec::new() })
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM to the group, then SIGKILL once the grace is over, unless the whole group
/// ended by itself before.
async fn stop(child: &mut Child, pgid: u32, grace: Duration) -> std::io::Result<std::process::ExitStatus> {
    signal_group(pgid, Signal::SIGTERM);
    let end = Instant::now() + grace;
    let mut exited = None;
    loop {
        if exited.is_none() {
            tokio::select! {
                r = child.wait() => exited = Some(r?),
                _ = tokio::time::sleep_until(end) => break,
            }
        } else if !group_exists(pgid) || Instant::now() >= end {
            break;
        } else {
            tokio::time::sleep(GROUP_POLL.min(end - Instant::now())).await;
        }
    }
    signal_group(pgid, Signal::SIGKILL);
    match exited {
        Some(status) => Ok(status),
        None => child.wait().await,
    }
}

/// Waits for the readers to reach EOF, within `DRAIN_LIMIT`, and returns what they
/// captured.
pub(crate) async fn drain(readers: [Option<Reader>; 2], events: &Sender<ExecEvent>) -> Vec<u8> {
    let aborts: Vec<_> = readers.iter().flatten().map(|h| h.abort_handle()).collect();
    let all = async {
        let mut captured = Vec::new();
        for reader in readers.into_iter().flatten() {
            match reader.await {
                Ok(Ok(bytes)) => captured.extend(bytes),
                Ok(Err(e)) => tracing::warn!("reading the job's output failed: {e}"),
                Err(e) => tracing::warn!("the job's output reader failed: {e}"),
            }
        }
        captured
    };
    match tokio::time::timeout(DRAIN_LIMIT, all).await {
        Ok(captured) => captured,
        Err(_) => {
            aborts.iter().for_each(|a| a.abort());
            let note =
                "stopped reading the job's output: a process that left the job's process group still holds it open";
            let _ = events.send(ExecEvent::Lines(LogBatch::now(Stream::Terrace, note))).await;
            Vec::new()
        }
    }
}

fn exit_status(status: std::process::ExitStatus) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Exited(code),
        (None, Some(sig)) => ExitStatus::Signaled(sig),
        // Neither a code nor a signal does not happen for a reaped child on Unix.
        (None, None) => ExitStatus::Exited(-1),
    }
}
