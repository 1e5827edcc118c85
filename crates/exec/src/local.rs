//! The local executor: a job is a child process of Terrace in its own process group,
//! so a timeout, a cancellation or the end of the job reaches every process it started.

use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use terrace_model::log::{LogBatch, Stream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::capture::{self, LineSplitter};
use crate::output_file::OutputWatch;
use crate::process::{group_exists, process_start_time, signal_group};
use crate::{ExecError, ExecEvent, ExecOutcome, ExecSpec, Executor, ExitStatus, SecretSet, resolve};

/// How long the pipes may stay open once the job's group is dead: only a process that
/// left the group (setsid) can hold them, and it must not hang the run.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How often the group is checked for survivors during the kill grace.
const GROUP_POLL: Duration = Duration::from_millis(50);

/// Runs jobs as child processes of this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExecutor;

impl LocalExecutor {
    pub fn new() -> Self {
        LocalExecutor
    }
}

enum End {
    Exited(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Cancelled,
}

/// Kills the group if `run` is dropped half-way (its caller gave up on it), so no
/// process outlives the future that owned it.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            signal_group(pgid, Signal::SIGKILL);
        }
    }
}

#[async_trait::async_trait]
impl Executor for LocalExecutor {
    async fn run(
        &self,
        spec: ExecSpec,
        secrets: SecretSet,
        events: Sender<ExecEvent>,
        cancel: CancellationToken,
    ) -> Result<ExecOutcome, ExecError> {
        // A plain stat: see `resolve::is_executable_file` for why not tokio::fs.
        match std::fs::metadata(&spec.workdir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(workdir_error(&spec, nix::errno::Errno::ENOTDIR.into())),
            Err(e) => return Err(workdir_error(&spec, e)),
        }
        let program = resolve::program(&spec).await?;
        if cancel.is_cancelled() {
            return Ok(ExecOutcome { status: ExitStatus::Cancelled, duration: Duration::ZERO, stdout: Vec::new() });
        }
        let started = Instant::now();
        let mut child = Command::new(&program)
            .args(spec.argv.iter().skip(1))
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ExecError::Spawn { program: spec.argv.first().cloned().unwrap_or_default(), source })?;
        // The id is known until the child is reaped, which has not happened yet.
        let pid = child.id().ok_or_else(|| ExecError::Wait { source: std::io::Error::other("no pid after spawn") })?;
        let mut guard = GroupGuard(Some(pid));
        // /proc is in memory: reading it does not block.
        let _ = events.send(ExecEvent::Started { pid, pid_start: process_start_time(pid) }).await;

        for fd in [child.stdout.as_ref().map(AsFd::as_fd), child.stderr.as_ref().map(AsFd::as_fd)].into_iter().flatten()
        {
            widen_pipe(fd);
        }
        let watch = spec.output_file.clone().map(OutputWatch::new);
        let stdout = child.stdout.take().map(|p| match spec.capture_stdout {
            true => spawn_collector(p, &events),
            false => spawn_reader(p, Stream::Stdout, &secrets, &watch, &events),
        });
        let stderr = child.stderr.take().map(|p| spawn_reader(p, Stream::Stderr, &secrets, &watch, &events));

        let deadline = spec.max_duration.map(|d| started + d);
        let end = tokio::select! {
            biased;
            r = child.wait() => End::Exited(r),
            _ = cancel.cancelled() => End::Cancelled,
            _ = sleep_until(deadline) => End::TimedOut,
        };
        let (status, result) = match end {
            End::Exited(r) => (None, r),
            End::TimedOut => (Some(ExitStatus::TimedOut), stop(&mut child, pid, spec.kill_grace).await),
            End::Cancelled => (Some(ExitStatus::Cancelled), stop(&mut child, pid, spec.kill_grace).await),
        };
        // Whatever the job left in its group (a backgrounded daemon holding our pipes)
        // dies with it. The group id cannot be reused while any member lives.
        signal_group(pid, Signal::SIGKILL);
        guard.0 = None;
        let exit = result.map_err(|source| ExecError::Wait { source })?;

        let stdout = drain([stdout, stderr], &events).await;
        let status = status.unwrap_or_else(|| exit_status(exit));
        Ok(ExecOutcome { status, duration: started.elapsed(), stdout })
    }
}

/// A pipe's reader; it returns what it captured (nothing for a logged pipe).
type Reader = tokio::task::JoinHandle<std::io::Result<Vec<u8>>>;

fn spawn_reader<R>(
    pipe: R,
    stream: Stream,
    secrets: &SecretSet,
    watch: &Option<std::sync::Arc<OutputWatch>>,
    events: &Sender<ExecEvent>,
) -> Reader
where
    R: tokio::io::AsyncRead + std::os::fd::AsFd + Unpin + Send + 'static,
{
    grow_pipe(&pipe);
    let pump = LineSplitter::new(stream).pump(pipe, secrets.clone(), watch.clone(), events.clone());
    tokio::spawn(async move { pump.await.map(|()| Vec::new()) })
}

fn spawn_collector<R>(pipe: R, events: &Sender<ExecEvent>) -> Reader
where
    R: tokio::io::AsyncRead + std::os::fd::AsFd + Unpin + Send + 'static,
{
    grow_pipe(&pipe);
    tokio::spawn(capture::collect(pipe, events.clone()))
}

/// A bigger pipe means fewer, larger reads (batches) for a job that logs a lot.
fn grow_pipe(pipe: &impl std::os::fd::AsFd) {
    // Best effort: the kernel refuses sizes above /proc/sys/fs/pipe-max-size.
    let _ = nix::fcntl::fcntl(pipe.as_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
}

fn workdir_error(spec: &ExecSpec, source: std::io::Error) -> ExecError {
    ExecError::Workdir { path: spec.workdir.clone(), source }
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
async fn drain(readers: [Option<Reader>; 2], events: &Sender<ExecEvent>) -> Vec<u8> {
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

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;

/// Pipes hold 64 KiB by default: a job writing fast then waits on Terrace every 64 KiB,
/// and each read is one wake-up of a reader. 1 MiB (the unprivileged maximum) gives the
/// job room to run ahead and the reader big batches. Best effort: the default still works.
fn widen_pipe(fd: std::os::fd::BorrowedFd<'_>) {
    const PIPE_BYTES: i32 = 1 << 20;
    if let Err(e) = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES)) {
        tracing::debug!("cannot widen a log pipe to {PIPE_BYTES} bytes: {e}");
    }
}
