//! The one error type of git sources. Every variant names the repository (its URL with
//! userinfo redacted) and the ref, commit or path involved, and says what to do; no
//! variant ever holds a credential.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL is not one Terrace mirrors (unknown scheme, credentials in it, a relative path).
    #[error("repository URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The ref is not a valid branch, tag or commit name.
    #[error("ref `{reference}`: {reason}")]
    InvalidRef { reference: String, reason: &'static str },
    /// `source.path` is not a relative path inside the repository.
    #[error("source path `{path}`: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// Credentials that cannot be used with this URL.
    #[error("{url}: credentials: {reason}")]
    Credentials { url: String, reason: &'static str },
    /// Nothing in the repository has that name, even after a fetch.
    #[error("{url}: `{reference}` is not a branch, tag or commit of this repository{hint}")]
    UnknownRef { url: String, reference: String, hint: String },
    /// A commit id that the repository does not have, even after a fetch.
    #[error("{url}: commit {commit} is not in this repository (fetched just now); check that it was pushed")]
    CommitNotFound { url: String, commit: String },
    /// `source.path` does not exist at that commit.
    #[error("{url}: path `{path}` does not exist at commit {commit}; check `source.path`")]
    PathNotFound { url: String, commit: String, path: String },
    /// `source.path` names a file.
    #[error("{url}: path `{path}` at commit {commit} is a file; `source.path` names a folder")]
    NotAFolder { url: String, commit: String, path: String },
    /// A symlink of the snapshot resolves outside it.
    #[error(
        "{url} at {commit}: symlink `{link}` points to `{target}`, outside the snapshot of `{path}`; \
         a source's symlinks must stay inside its folder"
    )]
    SymlinkEscapes { url: String, commit: String, path: String, link: String, target: String },
    /// A tree entry that would write outside the snapshot or a `.git` into it.
    #[error("{url} at {commit}: entry `{entry}` {reason}")]
    UnsafeEntry { url: String, commit: String, entry: String, reason: &'static str },
    /// The snapshot destination cannot be used.
    #[error("snapshot destination {}: {reason}", dest.display())]
    Destination { dest: PathBuf, reason: String },
    /// `git` ran and failed; `stderr` is its message with credentials redacted.
    #[error("git {action} of {url} failed ({status}): {stderr}")]
    Git { url: String, action: &'static str, status: String, stderr: String },
    /// `git` ran longer than its timeout and was killed.
    #[error(
        "git {action} of {url} timed out after {after} and was stopped; check the network or raise the git timeout"
    )]
    TimedOut { url: String, action: &'static str, after: String },
    /// The caller cancelled the operation; `git` was killed.
    #[error("git {action} of {url} was cancelled")]
    Cancelled { url: String, action: &'static str },
    /// `git` could not be started.
    #[error("cannot run `{program}`: {source}; install git or set the git program")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A file operation of the mirror or the snapshot failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl GitError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> GitError {
        let context = context.into();
        move |source| GitError::Io { context, source }
    }
}
