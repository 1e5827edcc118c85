//! How a step's output file comes back from its pod when Terrace runs as a server that
//! pods can reach: the pod's main program runs under `terrace attempt-wrap` (copied into
//! the pod by an init container of the helper image), which uploads the output file when
//! the program ends, with a token good for that step of that attempt only. The server
//! keeps the upload in its store (`OutputInbox`); the step's handle takes it when the pod
//! has ended and writes it where the engine reads output files, like every executor's.
//! Without an inbox (local mode), the termination message is the way back (see `mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use crate::ExecError;

/// The variables the wrapper reads in the pod (from the step's Secret, never the Job's
/// spec); it removes them from the environment of the program it runs.
pub const OUTPUT_URL_VAR: &str = "TERRACE_OUTPUT_URL";
pub const OUTPUT_TOKEN_VAR: &str = "TERRACE_OUTPUT_TOKEN";

/// Where the init container puts the `terrace` binary, and the wrapper's path there.
pub(crate) const TOOLS_DIR: &str = "/terrace-tools";
pub(crate) const WRAPPER: &str = "/terrace-tools/terrace";
/// Where the helper image holds the `terrace` binary.
pub const HELPER_BINARY: &str = "/terrace";

/// The helper image used when the configuration names none.
pub fn default_helper_image() -> String {
    format!("terrace-helper:{}", env!("CARGO_PKG_VERSION"))
}

/// One step's way back: the URL the pod uploads to and its token.
pub struct Ticket {
    pub id: String,
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("id", &self.id).field("url", &self.url).finish_non_exhaustive()
    }
}

/// Where pods send their output files (the server, over its store).
#[async_trait::async_trait]
pub trait OutputInbox: Send + Sync {
    /// A ticket for one step of attempt `attempt` of run `run`, good for `valid_for` at most.
    async fn open(&self, run: &str, attempt: u32, valid_for: Duration) -> Result<Ticket, ExecError>;
    /// The file uploaded under ticket `id` (`None`: nothing was); the ticket is closed,
    /// its token refused from now on.
    async fn take(&self, id: &str) -> Result<Option<Vec<u8>>, ExecError>;
    /// Closes every ticket of `run` (a sweep).
    async fn close_run(&self, run: &str);
}

/// An image's own command, as its config says (either part may be empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageCommand {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// Where an image's own ENTRYPOINT and CMD are read (its registry): needed to wrap the
/// program of a job that sets no `entrypoint:` without changing what runs.
#[async_trait::async_trait]
pub trait ImageCommands: Send + Sync {
    async fn command(&self, image: &str) -> Result<ImageCommand, String>;
}

/// What the executor needs to return outputs by upload.
#[derive(Clone)]
pub struct Uploads {
    pub inbox: Arc<dyn OutputInbox>,
    /// The image whose `/terrace` the init container copies into the pod.
    pub helper_image: String,
    /// Where images' own commands are read; `None`: a job without `entrypoint:` returns
    /// its outputs as the termination message.
    pub images: Option<Arc<dyn ImageCommands>>,
}

/// How long a ticket stays good past the step's own limit (the pod's start, the grace).
const TICKET_SLACK: Duration = Duration::from_secs(15 * 60);
/// A step without `max_duration`: its ticket still expires (it also ends with its attempt).
const TICKET_UNBOUNDED: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn ticket_life(max_duration: Option<Duration>) -> Duration {
    max_duration.map_or(TICKET_UNBOUNDED, |d| d + TICKET_SLACK)
}

/// The wrapped command: the wrapper, then the program (its entrypoint), then its arguments.
pub(crate) fn wrapped(entrypoint: &[String]) -> Vec<String> {
    let mut command = vec![WRAPPER.to_string(), "attempt-wrap".into(), "--".into()];
    command.extend(entrypoint.iter().cloned());
    command
}
