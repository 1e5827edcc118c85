//! `terrace attempt-wrap` (hidden): the kubernetes executor's wrapper inside a job's pod.
//! `--copy-to PATH` (the init container of the helper image) copies this binary into the
//! pod's shared folder; `-- PROGRAM ARGS...` (the job's container) runs the program with
//! its stdio passed through and the signals it gets forwarded, then sends the output file
//! back to Terrace (`upload`) and exits with the program's status.
//!
//! It is parsed apart from the rest of the command line, before it: it runs in the job's
//! environment, whose `TERRACE_*` variables must not steer the CLI's global options.

mod upload;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use terrace_exec::kubernetes::upload::{OUTPUT_TOKEN_VAR, OUTPUT_URL_VAR};

#[derive(Parser, Debug)]
#[command(
    name = "terrace attempt-wrap",
    about = "Runs a job's program in a Kubernetes pod and sends its output file back (used by the kubernetes executor)"
)]
struct WrapArgs {
    /// Copy this binary to PATH (mode 0755) and exit: the pod's init container
    #[arg(long, value_name = "PATH")]
    copy_to: Option<PathBuf>,
    /// The program and its arguments, after `--`
    #[arg(last = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

/// The status of a wrapper that could not do its part (the program's own when it failed).
const WRAPPER_FAILED: u8 = 1;

/// Runs `terrace attempt-wrap ARGS` (`args`: what follows `attempt-wrap`).
pub fn main(args: &[OsString]) -> ExitCode {
    let argv = std::iter::once(OsString::from("terrace attempt-wrap")).chain(args.iter().cloned());
    let args = match WrapArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Some(path) = &args.copy_to {
        return match copy_self(path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("terrace attempt-wrap: cannot copy terrace to `{}`: {e}", path.display());
                ExitCode::from(WRAPPER_FAILED)
            }
        };
    }
    if args.command.is_empty() {
        eprintln!("terrace attempt-wrap: no program to run: give it after `--`");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terrace attempt-wrap: cannot start the async runtime: {e}");
            return ExitCode::from(WRAPPER_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(wrap(args.command)))
}

/// Runs the program, then sends its output file; the status to exit with.
async fn wrap(command: Vec<OsString>) -> u8 {
    let destination = upload::Destination::from_env();
    let status = match run(&command).await {
        Ok(status) => status,
        Err(code) => return code,
    };
    let Some(destination) = destination else { return status };
    match upload::send(&destination, &upload::output_files()).await {
        Ok(()) => status,
        // The server kept the file and the run fails with its error: the program's status stands.
        Err(upload::Failure::Refused(message)) => {
            eprintln!("terrace attempt-wrap: {message}");
            status
        }
        Err(upload::Failure::NotSent(message)) => {
            eprintln!("terrace attempt-wrap: the job's outputs were not sent back to Terrace: {message}");
            if status == 0 { WRAPPER_FAILED } else { status }
        }
    }
}

/// Runs the program with this process's stdio and environment (less the upload's
/// variables), forwarding the signals a pod's process gets; its exit status (128 + the
/// signal when it was killed), or the status to exit with when it could not start.
async fn run(command: &[OsString]) -> Result<u8, u8> {
    use std::os::unix::process::ExitStatusExt;
    // Handlers first: a signal that comes as soon as the program runs must not end this
    // process (its default action) and leave the program behind.
    let signals = catch_signals();
    let mut child = match tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .env_remove(OUTPUT_URL_VAR)
        .env_remove(OUTPUT_TOKEN_VAR)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            let program = Path::new(&command[0]).display();
            eprintln!("terrace attempt-wrap: cannot start `{program}`: {e}");
            // As a shell says it: 127 not found, 126 found but not runnable.
            return Err(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
        }
    };
    let forwarders = child.id().map(|pid| forward_signals(signals, pid)).unwrap_or_default();
    let status = child.wait().await;
    for f in forwarders {
        f.abort();
    }
    match status {
        Ok(s) => Ok(match (s.code(), s.signal()) {
            (Some(code), _) => code as u8,
            (None, Some(signal)) => 128u8.saturating_add(signal as u8),
            (None, None) => WRAPPER_FAILED,
        }),
        Err(e) => {
            eprintln!("terrace attempt-wrap: lost track of the program: {e}");
            Err(WRAPPER_FAILED)
        }
    }
}

type Caught = Vec<(tokio::signal::unix::Signal, nix::sys::signal::Signal)>;

/// Catches the signals the kubelet (or a person) sends this process, to pass them on.
fn catch_signals() -> Caught {
    use nix::sys::signal::Signal;
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        (SignalKind::terminate(), Signal::SIGTERM),
        (SignalKind::interrupt(), Signal::SIGINT),
        (SignalKind::hangup(), Signal::SIGHUP),
        (SignalKind::quit(), Signal::SIGQUIT),
        (SignalKind::user_defined1(), Signal::SIGUSR1),
        (SignalKind::user_defined2(), Signal::SIGUSR2),
    ];
    kinds.into_iter().filter_map(|(kind, sig)| Some((signal(kind).ok()?, sig))).collect()
}

/// Passes the caught signals on to the program: as the pod's first process, this one
/// would otherwise keep them (or ignore them).
fn forward_signals(caught: Caught, pid: u32) -> Vec<tokio::task::JoinHandle<()>> {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    caught
        .into_iter()
        .map(|(mut stream, sig)| {
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    let _ = nix::sys::signal::kill(pid, sig);
                }
            })
        })
        .collect()
}

/// Copies the running binary to `path`, executable by any user of the pod.
fn copy_self(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let me = std::env::current_exe()?;
    std::fs::copy(&me, path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}
