//! Repository URLs: which ones Terrace accepts, their normal form (one mirror per
//! repository, whatever the spelling) and the redaction of userinfo wherever a URL is
//! shown. Credentials never travel in a URL, so one found there is refused.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::GitError;

/// How git reaches the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Https,
    Http,
    Ssh,
    Git,
    /// A repository on this machine (`file://` or an absolute path).
    File,
}

/// A repository URL without credentials, as given to git.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    git: String,
    normalized: String,
    transport: Transport,
}

impl RepoUrl {
    /// Accepts `https://`, `http://`, `ssh://`, `git://`, `file://`, scp-like
    /// `user@host:path` and absolute paths.
    pub fn parse(text: &str) -> Result<RepoUrl, GitError> {
        let invalid = |reason: &str| GitError::InvalidUrl { url: redact(text), reason: reason.to_string() };
        if text.is_empty() {
            return Err(invalid("is empty"));
        }
        if text.starts_with('-') {
            return Err(invalid("starts with `-`, which git would read as an option"));
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("contains whitespace or control characters"));
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            return parse_with_scheme(&scheme.to_ascii_lowercase(), rest).map_err(invalid);
        }
        if text.starts_with('/') {
            let path = trim_repo_path(text);
            return Ok(RepoUrl {
                git: format!("file://{text}"),
                normalized: format!("file://{path}"),
                transport: Transport::File,
            });
        }
        // git reads `host:path` (a colon before any slash) as scp-like ssh.
        match text.split_once(':') {
            Some((head, _)) if head.contains('/') => Err(invalid("is a relative path; give an absolute path or a URL")),
            Some((_, path)) if path.starts_with(':') => {
                Err(invalid("uses git's remote-helper syntax (`transport::address`), which Terrace does not run"))
            }
            Some((authority, path)) => {
                let host = ssh_host(authority).map_err(invalid)?;
                if host.is_empty() || path.is_empty() {
                    return Err(invalid("has no host or no path"));
                }
                let path = trim_repo_path(path.trim_start_matches('/'));
                Ok(RepoUrl {
                    git: text.to_string(),
                    normalized: format!("ssh://{}/{path}", host.to_ascii_lowercase()),
                    transport: Transport::Ssh,
                })
            }
            None => Err(invalid("is not a URL, an scp-like `host:path` or an absolute path")),
        }
    }

    /// The URL as git is given it (it holds no credentials).
    pub(crate) fn for_git(&self) -> &str {
        &self.git
    }

    /// The normal form: scheme and host lower-cased, default port, userinfo, a trailing
    /// `/` and `.git` dropped. Two spellings of one repository share it.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The name of this repository's mirror folder: the SHA-256 of the normal form, in hex.
    pub fn mirror_key(&self) -> String {
        hex::encode(Sha256::digest(self.normalized.as_bytes()))
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }
}

/// Shows the URL with any userinfo (even an ssh user name) replaced by `***`.
impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Ssh if !self.git.contains("://") => match self.git.split_once('@') {
                Some((_, rest)) => write!(f, "***@{rest}"),
                None => f.write_str(&self.git),
            },
            _ => f.write_str(&redact(&self.git)),
        }
    }
}

impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoUrl({self})")
    }
}

fn parse_with_scheme(scheme: &str, rest: &str) -> Result<RepoUrl, &'static str> {
    let (transport, default_port) = match scheme {
        "https" => (Transport::Https, Some("443")),
        "http" => (Transport::Http, Some("80")),
        "ssh" | "git+ssh" | "ssh+git" => (Transport::Ssh, Some("22")),
        "git" => (Transport::Git, Some("9418")),
        "file" => (Transport::File, None),
        _ => return Err("has a scheme Terrace does not fetch from (use https, http, ssh, git or file)"),
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = match transport {
        Transport::Ssh => ssh_host(authority)?,
        _ if authority.contains('@') => {
            return Err(
                "holds credentials; remove `user:password@` and give the token as the source's credential (a secret)",
            );
        }
        _ => authority,
    };
    if transport == Transport::File {
        if !host.is_empty() && host != "localhost" {
            return Err("names a host; a file:// URL is a path on this machine (file:///PATH)");
        }
    } else if host.is_empty() || path.is_empty() {
        return Err("has no host or no path");
    }
    let mut host = host.to_ascii_lowercase();
    if let (Some((name, port)), Some(default)) = (host.clone().rsplit_once(':'), default_port)
        && port == default
    {
        host = name.to_string();
    }
    let normalized = match transport {
        Transport::File => format!("file:///{}", trim_repo_path(path)),
        _ => format!("{scheme}://{host}/{}", trim_repo_path(path)),
    };
    let scheme = if transport == Transport::Ssh { "ssh" } else { scheme };
    Ok(RepoUrl { git: format!("{scheme}://{rest}"), normalized, transport })
}

/// The host of an ssh authority; a user name is allowed, a password is not.
fn ssh_host(authority: &str) -> Result<&str, &'static str> {
    match authority.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            Err("holds a password; give the ssh key as the source's credential (a secret)")
        }
        Some((_, host)) => Ok(host),
        None => Ok(authority),
    }
}

fn trim_repo_path(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    path.strip_suffix(".git").unwrap_or(path).trim_end_matches('/')
}

/// `text` with the userinfo of every `scheme://user:pass@host` in it replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail.find(|c: char| c == '/' || c.is_whitespace() || "'\"<>`".contains(c)).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(i) => {
                out.push_str("***");
                out.push_str(&authority[i..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_repository_share_a_mirror() {
        let a = RepoUrl::parse("https://GitHub.com/acme/infra.git").unwrap();
        let b = RepoUrl::parse("https://github.com:443/acme/infra/").unwrap();
        assert_eq!(a.normalized(), "https://github.com/acme/infra");
        assert_eq!(a.mirror_key(), b.mirror_key());
        let c = RepoUrl::parse("https://github.com/acme/other").unwrap();
        assert_ne!(a.mirror_key(), c.mirror_key());
        let scp = RepoUrl::parse("git@github.com:acme/infra.git").unwrap();
        let ssh = RepoUrl::parse("ssh://git@github.com/acme/infra").unwrap();
        assert_eq!(scp.normalized(), ssh.normalized());
        assert_eq!(scp.transport(), Transport::Ssh);
        let path = RepoUrl::parse("/srv/git/infra.git").unwrap();
        let file = RepoUrl::parse("file:///srv/git/infra").unwrap();
        assert_eq!(path.normalized(), file.normalized());
        assert_eq!(path.for_git(), "file:///srv/git/infra.git");
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_never_shown() {
        for url in ["https://user:s3cr3t@github.com/a/b", "https://s3cr3t@github.com/a/b", "ssh://git:s3cr3t@h/a"] {
            let err = RepoUrl::parse(url).unwrap_err().to_string();
            assert!(!err.contains("s3cr3t"), "{err}");
            assert!(err.contains("***@"), "{err}");
        }
    }

    #[test]
    fn unsafe_urls_are_refused() {
        for url in ["-uhack", "ext::sh -c touch% /tmp/x", "ext::sh", "relative/path", "ftp://h/x", "https://h", ""] {
            assert!(RepoUrl::parse(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn display_redacts_userinfo() {
        assert_eq!(RepoUrl::parse("git@github.com:a/b").unwrap().to_string(), "***@github.com:a/b");
        assert_eq!(RepoUrl::parse("ssh://git@h/a").unwrap().to_string(), "ssh://***@h/a");
        assert_eq!(
            redact("fatal: unable to access 'https://x:tok@h/a/': 403 and http://h/b"),
            "fatal: unable to access 'https://***@h/a/': 403 and http://h/b"
        );
    }
}
