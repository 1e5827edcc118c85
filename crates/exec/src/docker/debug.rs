//! An interactive session in a job's container (`terrace run JOB --event debug`): the
//! step's container (same image, mounts, variables, limits) with a shell as its command,
//! attached to this process's terminal (raw mode and the terminal's size when it is one,
//! plain pipes otherwise), removed when the shell ends.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, InspectContainerOptions, ResizeContainerTTYOptionsBuilder, StartContainerOptions,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::error::daemon_error;
use super::handle::{Remover, remove, short};
use super::{paths, spec};
use crate::{ExecError, StepSpec};

pub(crate) async fn session(docker: &Docker, step: StepSpec, image: &str) -> Result<i32, ExecError> {
    let opened = step.clone();
    tokio::task::spawn_blocking(move || paths::open_up(&opened))
        .await
        .map_err(|e| ExecError::Container(format!("preparing the container's files failed: {e}")))?
        .map_err(|source| ExecError::Workdir { path: step.workdir.clone(), source })?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut config = spec::container(&step, image)?;
    config.tty = Some(tty);
    config.open_stdin = Some(true);
    config.stdin_once = Some(true);
    config.attach_stdin = Some(true);
    let what = |id: &str| format!("container {} of image `{image}`", short(id));
    let created = docker
        .create_container(None::<bollard::query_parameters::CreateContainerOptions>, config)
        .await
        .map_err(|e| daemon_error(&format!("a container of image `{image}`"), &e))?;
    let id = created.id;
    let mut guard = Remover(Some((docker.clone(), id.clone())));
    let attach = AttachContainerOptionsBuilder::default().stream(true).stdin(true).stdout(true).stderr(true).build();
    let attached = docker.attach_container(&id, Some(attach)).await.map_err(|e| daemon_error(&what(&id), &e))?;
    docker.start_container(&id, None::<StartContainerOptions>).await.map_err(|e| daemon_error(&what(&id), &e))?;
    let raw = if tty { RawMode::enter() } else { None };
    if tty && let Some((terminal_size::Width(w), terminal_size::Height(h))) = terminal_size::terminal_size() {
        let size = ResizeContainerTTYOptionsBuilder::default().w(i32::from(w)).h(i32::from(h)).build();
        let _ = docker.resize_container_tty(&id, size).await;
    }
    let input = forward_stdin(attached.input);
    let mut output = attached.output;
    while let Some(frame) = output.next().await {
        let written = match frame {
            Ok(LogOutput::StdErr { message }) => {
                std::io::stderr().write_all(&message).and_then(|()| std::io::stderr().flush())
            }
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                std::io::stdout().write_all(&message).and_then(|()| std::io::stdout().flush())
            }
            Ok(LogOutput::StdIn { .. }) => Ok(()),
            Err(_) => break,
        };
        if written.is_err() {
            break;
        }
    }
    input.abort();
    drop(raw);
    let state = docker.inspect_container(&id, None::<InspectContainerOptions>).await;
    remove(docker, &id).await;
    guard.0 = None;
    let code = state.map_err(|e| daemon_error(&what(&id), &e))?.state.and_then(|s| s.exit_code).unwrap_or(-1);
    Ok(code as i32)
}

/// Copies this process's stdin into the container until it ends. A thread of its own
/// reads it (a blocking read cannot be cancelled; the thread dies with the process).
fn forward_stdin(mut input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                return;
            }
        }
        // End of input: the container's stdin closes (StdinOnce), as a shell's would.
        let _ = input.shutdown().await;
    })
}

/// The terminal in raw mode (keys go to the container's shell as typed), restored when dropped.
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin().as_fd(), nix::sys::termios::SetArg::TCSANOW, &self.0);
    }
}
