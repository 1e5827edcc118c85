//! The environment that hands a repository's credentials to one git process: a token
//! through `GIT_ASKPASS` (a script that prints a variable), an ssh key through
//! `GIT_SSH_COMMAND` naming a 0600 file that lives as long as the call.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::credentials::{Credentials, SshKey};
use crate::url::Transport;
use crate::{GitError, RepoUrl};

/// The askpass script: git runs it with the prompt as its argument.
pub(crate) const ASKPASS_SCRIPT: &str = "#!/bin/sh\n\
# Written by Terrace: answers git's credential prompts from the environment of one git run.\n\
case \"$1\" in\n\
  [Uu]sername*) printf '%s\\n' \"$TERRACE_GIT_USERNAME\" ;;\n\
  *) printf '%s\\n' \"$TERRACE_GIT_PASSWORD\" ;;\n\
esac\n";

/// Files of the mirrors folder that authentication uses.
#[derive(Clone, Debug)]
pub(crate) struct AuthPaths {
    pub askpass: PathBuf,
    /// Where per-call key files are written (0700).
    pub keys: PathBuf,
    /// Host keys remembered on first use when a credential pins none.
    pub known_hosts: PathBuf,
}

/// Environment variables for one git process, and the files they name.
pub(crate) struct AuthEnv {
    pub env: Vec<(&'static str, OsString)>,
    _files: Vec<NamedTempFile>,
}

/// Blocking (writes key files): call it off the async threads.
pub(crate) fn prepare(paths: &AuthPaths, url: &RepoUrl, creds: Option<&Credentials>) -> Result<AuthEnv, GitError> {
    let mismatch = |reason| GitError::Credentials { url: url.to_string(), reason };
    let mut files = Vec::new();
    let mut env = Vec::new();
    match (url.transport(), creds) {
        (Transport::File | Transport::Git, Some(_)) => {
            return Err(mismatch("this URL takes no credentials; remove them or use an https or ssh URL"));
        }
        (Transport::Https | Transport::Http, Some(Credentials::Ssh { .. })) => {
            return Err(mismatch("an ssh key cannot authenticate an https URL; use the ssh URL or a token"));
        }
        (Transport::Ssh, Some(Credentials::Token { .. })) => {
            return Err(mismatch("a token cannot authenticate an ssh URL; use the https URL or an ssh key"));
        }
        (Transport::Https | Transport::Http, Some(Credentials::Token { username, token })) => {
            env.push(("GIT_ASKPASS", paths.askpass.clone().into_os_string()));
            env.push(("TERRACE_GIT_USERNAME", username.into()));
            env.push(("TERRACE_GIT_PASSWORD", token.expose().into()));
        }
        (Transport::Ssh, creds) => {
            let mut command = String::from(
                "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none -o ControlMaster=no",
            );
            let (known_hosts, strict) = match creds {
                Some(Credentials::Ssh { known_hosts: Some(text), .. }) => {
                    let file = private_file(&paths.keys, text.as_bytes())?;
                    let path = file.path().to_path_buf();
                    files.push(file);
                    (path, "yes")
                }
                _ => (paths.known_hosts.clone(), "accept-new"),
            };
            command.push_str(&format!(
                " -o UserKnownHostsFile={} -o StrictHostKeyChecking={strict}",
                shell_quote(&known_hosts)
            ));
            match creds {
                Some(Credentials::Ssh { key: SshKey::File(path), .. }) => {
                    command.push_str(&format!(" -i {}", shell_quote(path)));
                }
                Some(Credentials::Ssh { key: SshKey::Text(text), .. }) => {
                    let mut key = text.expose().to_string();
                    if !key.ends_with('\n') {
                        key.push('\n'); // OpenSSH refuses a key without its final newline.
                    }
                    let file = private_file(&paths.keys, key.as_bytes())?;
                    command.push_str(&format!(" -i {}", shell_quote(file.path())));
                    files.push(file);
                }
                _ => {}
            }
            env.push(("GIT_SSH_COMMAND", command.into()));
        }
        (_, None) => {}
    }
    Ok(AuthEnv { env, _files: files })
}

/// A file readable by its owner only, removed when dropped.
fn private_file(dir: &Path, contents: &[u8]) -> Result<NamedTempFile, GitError> {
    // tempfile creates files with mode 0600.
    let mut file =
        NamedTempFile::new_in(dir).map_err(GitError::io(format!("creating a key file in {}", dir.display())))?;
    file.write_all(contents).map_err(GitError::io("writing a key file"))?;
    file.flush().map_err(GitError::io("writing a key file"))?;
    Ok(file)
}

/// `path` single-quoted for the shell that runs `GIT_SSH_COMMAND`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use std::os::unix::fs::PermissionsExt;

    fn paths(dir: &Path) -> AuthPaths {
        AuthPaths { askpass: dir.join("askpass"), keys: dir.to_path_buf(), known_hosts: dir.join("known_hosts") }
    }

    #[test]
    fn an_ssh_key_text_goes_to_a_private_file_named_by_the_ssh_command() {
        let dir = tempfile::tempdir().unwrap();
        let url = RepoUrl::parse("git@example.com:a/b.git").unwrap();
        let creds = Credentials::Ssh { key: SshKey::Text(Secret::new("PRIVATE KEY BODY")), known_hosts: None };
        let auth = prepare(&paths(dir.path()), &url, Some(&creds)).unwrap();
        let (_, command) = auth.env.iter().find(|(k, _)| *k == "GIT_SSH_COMMAND").unwrap();
        let command = command.to_str().unwrap();
        assert!(!command.contains("PRIVATE KEY BODY"));
        assert!(command.contains("StrictHostKeyChecking=accept-new"), "{command}");
        let key = command.split(" -i '").nth(1).unwrap().trim_end_matches('\'').to_string();
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "PRIVATE KEY BODY\n");
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        drop(auth);
        assert!(!Path::new(&key).exists(), "the key file outlived its call");
    }

    #[test]
    fn a_token_goes_to_the_environment_only() {
        let dir = tempfile::tempdir().unwrap();
        let url = RepoUrl::parse("https://example.com/a/b").unwrap();
        let auth = prepare(&paths(dir.path()), &url, Some(&Credentials::token("tok-123"))).unwrap();
        let keys: Vec<_> = auth.env.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["GIT_ASKPASS", "TERRACE_GIT_USERNAME", "TERRACE_GIT_PASSWORD"]);
        let wrong = prepare(&paths(dir.path()), &RepoUrl::parse("ssh://h/a").unwrap(), Some(&Credentials::token("t")));
        assert!(matches!(wrong, Err(GitError::Credentials { .. })));
    }
}
