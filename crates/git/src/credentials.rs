//! Credentials for private repositories. They reach git only through the environment
//! of its process (`GIT_ASKPASS` reads the token from a variable; `GIT_SSH_COMMAND`
//! names a 0600 key file), never through a URL, an argument, a log line or an error.

use std::fmt;
use std::path::PathBuf;

/// A secret value: its `Debug` shows `***`, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where an ssh private key comes from.
#[derive(Clone, Debug)]
pub enum SshKey {
    /// A key file on this machine (ssh requires it to be readable by its owner only).
    File(PathBuf),
    /// The key's text (e.g. a secret of the store); written to a 0600 file for one git run.
    Text(Secret),
}

/// How git authenticates to a private repository.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// HTTP basic authentication with a token as the password: GitHub accepts any user
    /// name with a token (`x-access-token` for app tokens), GitLab `oauth2` for OAuth tokens.
    Token { username: String, token: Secret },
    /// An ssh key; `known_hosts` (OpenSSH format) pins the server's host key. Without it the
    /// first key seen is remembered in the mirrors folder and required from then on.
    Ssh { key: SshKey, known_hosts: Option<String> },
}

impl Credentials {
    /// A token with the user name that GitHub and GitLab both accept for access tokens.
    pub fn token(token: impl Into<String>) -> Credentials {
        Credentials::Token { username: "x-access-token".into(), token: Secret::new(token) }
    }

    /// The values that must never appear in anything shown, for redaction.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::Token { token, .. } => vec![token.expose()],
            Credentials::Ssh { key: SshKey::Text(key), .. } => {
                key.expose().lines().map(str::trim).filter(|l| l.len() >= 8 && !l.starts_with("-----")).collect()
            }
            Credentials::Ssh { key: SshKey::File(_), .. } => Vec::new(),
        }
    }
}

/// `text` with every secret replaced by `***`.
pub(crate) fn mask(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let creds = Credentials::token("ghp_abcdef123456");
        assert!(!format!("{creds:?}").contains("ghp_abcdef123456"));
        let ssh = Credentials::Ssh { key: SshKey::Text(Secret::new("KEYTEXT-LINE-1")), known_hosts: None };
        assert!(!format!("{ssh:?}").contains("KEYTEXT"));
        assert_eq!(mask("token ghp_abcdef123456 refused", &creds.secrets()), "token *** refused");
    }
}
