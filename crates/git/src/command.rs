//! Running `git`: a scrubbed environment (no user or system config, no prompts, no
//! `~/.netrc`, only the allowed transports), a process group killed on timeout or cancel,
//! and stderr, with credentials and userinfo redacted, as the error message.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::credentials::mask;
use crate::url::redact;
use crate::{GitError, RepoUrl};

/// Variables kept from Terrace's own environment: finding programs, proxies and CA bundles.
const PASS_THROUGH: &[&str] = &[
    "PATH",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// The longest stderr kept for an error message; git's last lines say what failed.
const STDERR_KEPT: usize = 4000;

/// How git is started for every call.
#[derive(Clone, Debug)]
pub(crate) struct Git {
    pub program: PathBuf,
    /// An empty private folder: git and ssh find no user files (`.netrc`, `.ssh`) there.
    pub home: PathBuf,
    pub allow_protocols: String,
}

/// One git invocation.
pub(crate) struct Call<'a> {
    pub action: &'static str,
    pub url: &'a RepoUrl,
    pub dir: Option<&'a Path>,
    pub args: Vec<OsString>,
    pub env: Vec<(&'static str, OsString)>,
    /// Values to mask in anything this call reports.
    pub secrets: Vec<&'a str>,
    pub timeout: Duration,
    pub stdin: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub fn new(action: &'static str, url: &'a RepoUrl, timeout: Duration) -> Call<'a> {
        Call { action, url, dir: None, args: Vec::new(), env: Vec::new(), secrets: Vec::new(), timeout, stdin: None }
    }

    pub fn in_dir(mut self, dir: &'a Path) -> Self {
        self.dir = Some(dir);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn stdin(mut self, input: Vec<u8>) -> Self {
        self.stdin = Some(input);
        self
    }

    /// `text` as it may be shown: secrets masked, userinfo redacted.
    pub fn clean(&self, text: &str) -> String {
        redact(&mask(text, &self.secrets))
    }

    pub fn failed(&self, status: &ExitStatus, stderr: &[u8]) -> GitError {
        // Cleaned whole before it is cut, so no cut can leave part of a secret unmasked.
        let text = self.clean(String::from_utf8_lossy(stderr).trim());
        let start = text.len().saturating_sub(STDERR_KEPT);
        let start = (start..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        let message = if text.is_empty() { "no message".to_string() } else { text[start..].to_string() };
        GitError::Git { url: self.url.to_string(), action: self.action, status: status.to_string(), stderr: message }
    }

    fn timed_out(&self) -> GitError {
        GitError::TimedOut { url: self.url.to_string(), action: self.action, after: humanize(self.timeout) }
    }

    fn cancelled(&self) -> GitError {
        GitError::Cancelled { url: self.url.to_string(), action: self.action }
    }
}

/// What a finished git process left.
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Git {
    /// The process for `call`, not yet started: scrubbed environment, its own process group.
    pub fn command(&self, call: &Call<'_>) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.env_clear();
        for key in PASS_THROUGH {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GCM_INTERACTIVE", "never")
            .env("GIT_ALLOW_PROTOCOL", &self.allow_protocols)
            .env("LC_ALL", "C");
        for (key, value) in &call.env {
            cmd.env(key, value);
        }
        if let Some(dir) = call.dir {
            cmd.current_dir(dir);
        }
        cmd.args(&call.args)
            .stdin(if call.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }

    pub fn spawn(&self, call: &Call<'_>) -> Result<Child, GitError> {
        self.command(call)
            .spawn()
            .map_err(|source| GitError::Spawn { program: self.program.display().to_string(), source })
    }

    /// Runs `call` to its end, whatever its exit status.
    pub async fn output(&self, call: &Call<'_>, cancel: &CancellationToken) -> Result<Output, GitError> {
        tracing::debug!(action = call.action, url = %call.url, "git");
        let mut child = self.spawn(call)?;
        let pgid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let input = call.stdin.clone();
        let finished = {
            let work = async {
                let feed = async {
                    if let (Some(mut pipe), Some(input)) = (stdin, input) {
                        // A git that exits early closes the pipe: its status tells why.
                        let _ = pipe.write_all(&input).await;
                    }
                };
                let ((), stdout, stderr) = tokio::join!(feed, read_all(stdout), read_all(stderr));
                let status = child.wait().await;
                (status, stdout, stderr)
            };
            tokio::select! {
                done = work => Some(done),
                () = tokio::time::sleep(call.timeout) => None,
                () = cancel.cancelled() => None,
            }
        };
        let Some((status, stdout, stderr)) = finished else {
            kill_group(pgid);
            let _ = child.wait().await;
            return Err(if cancel.is_cancelled() { call.cancelled() } else { call.timed_out() });
        };
        let status = status.map_err(GitError::io(format!("waiting for git {}", call.action)))?;
        Ok(Output { status, stdout: stdout?, stderr: stderr? })
    }

    /// Runs `call` and returns its stdout; a non-zero exit is an error with its stderr.
    pub async fn run(&self, call: &Call<'_>, cancel: &CancellationToken) -> Result<Vec<u8>, GitError> {
        let out = self.output(call, cancel).await?;
        if out.status.success() { Ok(out.stdout) } else { Err(call.failed(&out.status, &out.stderr)) }
    }
}

async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> Result<Vec<u8>, GitError> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut buf).await.map_err(GitError::io("reading git's output"))?;
    }
    Ok(buf)
}

/// Kills the whole group: git's helpers (`git-remote-https`, `ssh`) die with it.
pub(crate) fn kill_group(pgid: Option<u32>) {
    if let Some(pid) = pgid.and_then(|p| i32::try_from(p).ok()).filter(|&p| p > 1) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

pub(crate) fn humanize(d: Duration) -> String {
    if d.as_secs() > 0 && d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}
