//! The local executor: each step is a child process of Terrace in its own process group,
//! so a timeout, a cancellation or the step's end reaches every process it started. Its
//! handle id is `<host>/<group id>/<start time>`: the group, on that host, told apart from
//! a later process that reuses the number.

use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::Duration;

use terrace_model::log::Stream;
use tokio::process::Command;
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;

use crate::capture::{self, LineSplitter};
use crate::local_handle::{AttachedGroup, GroupGuard, LocalHandle, Reader};
use crate::output_file::OutputWatch;
use crate::process::process_start_time;
use crate::{ExecError, ExecEvent, Executor, Handle, SecretSet, StepIo, StepSpec, resolve};

/// Runs steps as child processes of this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExecutor;

impl LocalExecutor {
    pub fn new() -> Self {
        LocalExecutor
    }
}

/// This host's name, as handle ids carry it.
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

/// A group's handle id and its parts.
pub(crate) struct GroupId {
    pub host: String,
    pub pgid: u32,
    pub start: Option<u64>,
}

impl GroupId {
    fn format(&self) -> String {
        format!("{}/{}/{}", self.host, self.pgid, self.start.map(|s| s.to_string()).unwrap_or_default())
    }

    fn parse(id: &str) -> Option<GroupId> {
        let mut parts = id.rsplitn(3, '/');
        let start = parts.next()?;
        let pgid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        let start = if start.is_empty() { None } else { Some(start.parse().ok()?) };
        Some(GroupId { host, pgid, start })
    }
}

#[async_trait::async_trait]
impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    fn has_program(&self, program: &str, env: &[(String, String)], workdir: &std::path::Path) -> bool {
        resolve::has_program(program, env, workdir)
    }

    async fn start(&self, spec: StepSpec, io: StepIo) -> Result<Box<dyn Handle>, ExecError> {
        if let Some(image) = &spec.image {
            return Err(ExecError::Unsupported(format!(
                "the local executor runs programs on this host, not the image `{image}`: choose a container executor for this job"
            )));
        }
        // A plain stat: see `resolve::is_executable_file` for why not tokio::fs.
        match std::fs::metadata(&spec.workdir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(workdir_error(&spec, nix::errno::Errno::ENOTDIR.into())),
            Err(e) => return Err(workdir_error(&spec, e)),
        }
        let program = resolve::program(&spec).await?;
        let started = Instant::now();
        let env = step_env(&spec);
        let mut child = Command::new(&program)
            .args(spec.argv.iter().skip(1))
            .env_clear()
            .envs(env)
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
        let guard = GroupGuard(Some(pid));
        // /proc is in memory: reading it does not block.
        let id = GroupId { host: hostname(), pgid: pid, start: process_start_time(pid) }.format();

        for fd in [child.stdout.as_ref().map(AsFd::as_fd), child.stderr.as_ref().map(AsFd::as_fd)].into_iter().flatten()
        {
            widen_pipe(fd);
        }
        let watch = spec.output_file.clone().map(OutputWatch::new);
        let stdout = child.stdout.take().map(|p| match spec.capture_stdout {
            true => spawn_collector(p, &io.events),
            false => spawn_reader(p, Stream::Stdout, &io.secrets, &watch, &io.events),
        });
        let stderr = child.stderr.take().map(|p| spawn_reader(p, Stream::Stderr, &io.secrets, &watch, &io.events));
        Ok(Box::new(LocalHandle {
            id,
            child,
            pgid: pid,
            guard,
            readers: [stdout, stderr],
            deadline: spec.limits.max_duration.map(|d| started + d),
            grace: spec.limits.kill_grace,
            cancel: io.cancel.child_token(),
            events: io.events,
            started,
        }))
    }

    async fn attach(&self, id: &str) -> Result<Box<dyn Handle>, ExecError> {
        let parsed = GroupId::parse(id)
            .ok_or_else(|| ExecError::Attach { id: id.into(), reason: "not a local executor's handle".into() })?;
        let here = hostname();
        // An empty host: a handle converted from a process id recorded before handles.
        if !parsed.host.is_empty() && parsed.host != here {
            return Err(ExecError::Attach {
                id: id.into(),
                reason: format!("it runs on host `{}`, this is `{here}`", parsed.host),
            });
        }
        Ok(Box::new(AttachedGroup { id: id.to_string(), pgid: parsed.pgid, start: parsed.start }))
    }

    async fn debug(&self, spec: StepSpec) -> Result<i32, ExecError> {
        let program = resolve::program(&spec).await?;
        let env = step_env(&spec);
        // In this process's group, in the foreground of its terminal: the shell is the
        // person's, and Ctrl-C goes to what they run in it.
        let session = move || {
            std::process::Command::new(&program)
                .args(spec.argv.iter().skip(1))
                .env_clear()
                .envs(env)
                .current_dir(&spec.workdir)
                .status()
                .map_err(|source| ExecError::Spawn { program: spec.argv.first().cloned().unwrap_or_default(), source })
        };
        let status = tokio::task::spawn_blocking(session)
            .await
            .map_err(|e| ExecError::Wait { source: std::io::Error::other(e) })??;
        use std::os::unix::process::ExitStatusExt;
        Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    async fn sweep(&self, run: &str) {
        let run = run.to_string();
        // Reading /proc is blocking work: off the async threads.
        let _ = tokio::task::spawn_blocking(move || crate::process::kill_marked("TERRACE_RUN_ID", &run)).await;
    }
}

pub(crate) fn spawn_reader<R>(
    pipe: R,
    stream: Stream,
    secrets: &SecretSet,
    watch: &Option<std::sync::Arc<OutputWatch>>,
    events: &Sender<ExecEvent>,
) -> Reader
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let pump = LineSplitter::new(stream).pump(pipe, secrets.clone(), watch.clone(), events.clone());
    tokio::spawn(async move { pump.await.map(|()| Vec::new()) })
}

pub(crate) fn spawn_collector<R>(pipe: R, events: &Sender<ExecEvent>) -> Reader
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(capture::collect(pipe, events.clone()))
}

/// The step's environment as the job sees it on this host: its files where they are (the
/// parameters file also as `JOB_INPUT`, the name the seed's lifecycle jobs read, as in a
/// container), and the run's id, which marks every process it starts (recovery finds them
/// even without a recorded handle).
fn step_env(spec: &StepSpec) -> Vec<(String, String)> {
    let mut env = spec.env.clone();
    env.retain(|(k, _)| !matches!(k.as_str(), "TERRACE_OUTPUT_FILE" | "TERRACE_JOB_INPUT" | "TERRACE_RUN_ID"));
    if let Some(p) = &spec.output_file {
        env.push(("TERRACE_OUTPUT_FILE".into(), p.display().to_string()));
    }
    if let Some(p) = &spec.input {
        env.retain(|(k, _)| k != "JOB_INPUT");
        env.push(("TERRACE_JOB_INPUT".into(), p.display().to_string()));
        env.push(("JOB_INPUT".into(), p.display().to_string()));
    }
    env.push(("TERRACE_RUN_ID".into(), spec.run.clone()));
    env
}

fn workdir_error(spec: &StepSpec, source: std::io::Error) -> ExecError {
    ExecError::Workdir { path: spec.workdir.clone(), source }
}

/// Pipes hold 64 KiB by default: a job writing fast then waits on Terrace every 64 KiB,
/// and each read is one wake-up of a reader. 1 MiB (the unprivileged maximum) gives the
/// job room to run ahead and the reader big batches. Best effort: the default still works.
fn widen_pipe(fd: std::os::fd::BorrowedFd<'_>) {
    const PIPE_BYTES: i32 = 1 << 20;
    if let Err(e) = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES)) {
        tracing::debug!("cannot widen a log pipe to {PIPE_BYTES} bytes: {e}");
    }
}

/// How often an attached group is checked for its end.
pub(crate) const ATTACHED_POLL: Duration = Duration::from_millis(100);

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
