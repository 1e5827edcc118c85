//! Git repositories as job sources: one mirror per repository URL, created once and
//! fetched incrementally under a lock shared by threads and processes; refs resolved to
//! commits; snapshots of exactly one commit's folder. Credentials reach git only through
//! its environment, and every URL shown has its userinfo redacted.

mod auth;
mod command;
mod credentials;
mod error;
mod lock;
mod mirror;
mod reference;
mod snapshot;
mod symlink;
mod url;

pub use credentials::{Credentials, Secret, SshKey};
pub use error::GitError;
pub use mirror::{Fetch, GitOptions, Mirror, Mirrors, Resolved};
pub use reference::ObjectId;
pub use snapshot::Snapshot;
pub use url::{RepoUrl, Transport, redact};
