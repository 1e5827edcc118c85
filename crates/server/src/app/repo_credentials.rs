//! Credentials of the private repositories projects are read from (`POST /projects` with
//! `token` or `ssh_key`): kept sealed in the store's secrets under the repository's
//! normalised URL (scope `*git`, which no project name can take), read back whenever the
//! server fetches that repository (registration, pushes, checkouts), and handed to git only
//! through its environment (`terrace_git`'s askpass and key files). Never in a record, a
//! URL, a log line, an answer or an error.

use terrace_git::{Credentials, RepoUrl, Secret, SshKey};

use super::{App, AppError, AppResult};

/// The secrets scope of repository credentials (`*` is never in a project name).
const SCOPE: &str = "*git";
const TOKEN: &str = "token";
const SSH_KEY: &str = "ssh_key";

/// What a registration gives: a token (https) or an ssh private key (ssh).
#[derive(Clone, Default)]
pub struct Given {
    pub token: Option<String>,
    pub ssh_key: Option<String>,
}

impl std::fmt::Debug for Given {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "***" } else { "unset" };
        f.debug_struct("Given").field("token", &set(&self.token)).field("ssh_key", &set(&self.ssh_key)).finish()
    }
}

impl Given {
    /// The credentials given, checked: at most one kind, not empty.
    pub fn credentials(&self) -> AppResult<Option<Credentials>> {
        let token = self.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let key = self.ssh_key.as_deref().filter(|k| !k.trim().is_empty());
        match (token, key) {
            (Some(_), Some(_)) => Err(AppError::bad("token", "give a token (https) or an ssh key (ssh), not both")),
            (Some(t), None) => Ok(Some(Credentials::token(t))),
            (None, Some(k)) => Ok(Some(ssh(k))),
            (None, None) => Ok(None),
        }
    }
}

fn ssh(key: &str) -> Credentials {
    Credentials::Ssh { key: SshKey::Text(Secret::new(key)), known_hosts: None }
}

/// The credentials stored for `url`, if any.
pub(crate) async fn stored(app: &App, url: &RepoUrl) -> AppResult<Option<Credentials>> {
    let values = app.store.secret_values(SCOPE, url.normalized()).await?;
    let get = |name: &str| values.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Ok(match (get(TOKEN), get(SSH_KEY)) {
        (Some(token), _) => Some(Credentials::token(token)),
        (None, Some(key)) => Some(ssh(&key)),
        (None, None) => None,
    })
}

/// Keeps what was given for `url` (sealed), replacing what was stored; nothing given
/// keeps what is stored.
pub(crate) async fn keep(app: &App, url: &RepoUrl, given: &Given, by: &str) -> AppResult<()> {
    let token = given.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let key = given.ssh_key.as_deref().filter(|k| !k.trim().is_empty());
    let (name, value, other) = match (token, key) {
        (Some(t), _) => (TOKEN, t, SSH_KEY),
        (None, Some(k)) => (SSH_KEY, k, TOKEN),
        (None, None) => return Ok(()),
    };
    app.store.put_secret(SCOPE, url.normalized(), name, value, by).await?;
    app.store.delete_secret(SCOPE, url.normalized(), other).await?;
    Ok(())
}
