//! Image references: `REGISTRY/REPOSITORY` ([`Repository`]) and
//! `REGISTRY/REPOSITORY[:TAG][@DIGEST]` ([`Reference`]), checked against the grammar of the
//! distribution project's `reference` package, with errors that name the input and the rule.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The distribution grammar caps a full name (registry and path) at 255 characters.
const MAX_NAME_LEN: usize = 255;
/// `[\w][\w.-]{0,127}`
const MAX_TAG_LEN: usize = 128;

/// Why an image reference was refused. Every message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error(
        "`{input}` names no registry: write REGISTRY/REPOSITORY, e.g. registry.example.com/team/app or 127.0.0.1:5000/app"
    )]
    NoRegistry { input: String },
    #[error(
        "`{input}`: `{host}` is not a registry host: the first part must contain a `.` or a `:port`, or be `localhost` \
         (a name without one would mean Docker Hub, which Terrace never assumes)"
    )]
    NotAHost { input: String, host: String },
    #[error("`{input}`: registry host `{host}` is invalid: {rule}")]
    Host { input: String, host: String, rule: &'static str },
    #[error(
        "`{input}`: repository path component `{component}` is invalid: components are lowercase letters and digits, \
         separated inside by `.`, `_`, `__` or dashes, and joined by `/`"
    )]
    Path { input: String, component: String },
    #[error("`{input}` is {len} characters long: a registry and repository name may have at most 255")]
    TooLong { input: String, len: usize },
    #[error(
        "`{input}`: tag `{tag}` is invalid: a tag is 1 to 128 characters of letters, digits, `_`, `.` and `-`, \
         and does not start with `.` or `-`"
    )]
    Tag { input: String, tag: String },
    #[error("`{input}` names no version: add :TAG or @sha256:DIGEST")]
    NoTarget { input: String },
    #[error("`{input}`: {source}")]
    Digest {
        input: String,
        #[source]
        source: DigestError,
    },
}

/// A repository in a registry: `REGISTRY/PATH`, e.g. `127.0.0.1:5000/library/software`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    registry: String,
    path: String,
}

impl Repository {
    /// Parses `REGISTRY/PATH` (no tag, no digest).
    pub fn parse(input: &str) -> Result<Repository, ReferenceError> {
        let (registry, path) =
            input.split_once('/').ok_or_else(|| ReferenceError::NoRegistry { input: input.into() })?;
        check_host(input, registry)?;
        for component in path.split('/') {
            if !is_path_component(component) {
                return Err(ReferenceError::Path { input: input.into(), component: component.into() });
            }
        }
        if input.len() > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong { input: input.into(), len: input.len() });
        }
        Ok(Repository { registry: registry.to_owned(), path: path.to_owned() })
    }

    /// The registry host, with its port when it has one (`127.0.0.1:5000`, `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/software`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the registry is this machine (`127.0.0.1`, `localhost`, `[::1]`): the only
    /// registries spoken to over plain http.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }

    /// This repository at `tag`.
    pub fn tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::Tag { input: format!("{self}:{tag}"), tag: tag.into() });
        }
        Ok(Reference { repository: self.clone(), tag: Some(tag.to_owned()), digest: None })
    }

    /// This repository at `digest`.
    pub fn digest(&self, digest: Digest) -> Reference {
        Reference { repository: self.clone(), tag: None, digest: Some(digest) }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Repository({self})")
    }
}

impl FromStr for Repository {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Repository::parse(s)
    }
}

/// One version of an image: `REGISTRY/PATH:TAG`, `REGISTRY/PATH@DIGEST` or both (then the
/// digest is what is fetched and the tag is only a label, as with `docker pull`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    repository: Repository,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `REGISTRY/PATH:TAG`, `REGISTRY/PATH@DIGEST` or `REGISTRY/PATH:TAG@DIGEST`. A
    /// reference without a tag or digest is refused: `latest` is never assumed.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                let digest = Digest::parse(digest)
                    .map_err(|source| ReferenceError::Digest { input: input.to_owned(), source })?;
                (name, Some(digest))
            }
            None => (input, None),
        };
        // The tag's `:` is the last one after the last `/`; a `:` before it is the port.
        let last_slash = name_and_tag.rfind('/').unwrap_or(0);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (&name_and_tag[..last_slash + i], Some(&name_and_tag[last_slash + i + 1..])),
            None => (name_and_tag, None),
        };
        let repository = Repository::parse(name).map_err(|e| e.with_input(input))?;
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return Err(ReferenceError::Tag { input: input.into(), tag: tag.into() });
        }
        if tag.is_none() && digest.is_none() {
            return Err(ReferenceError::NoTarget { input: input.into() });
        }
        Ok(Reference { repository, tag: tag.map(str::to_owned), digest })
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    pub fn registry(&self) -> &str {
        self.repository.registry()
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes after `/manifests/` in a URL: the digest when there is one, else the tag.
    pub fn target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => unreachable!("a Reference always has a tag or a digest (checked when built)"),
        }
    }
}

impl ReferenceError {
    /// The same error, quoting the whole reference instead of the part that was parsed.
    fn with_input(self, whole: &str) -> ReferenceError {
        let input = whole.to_owned();
        match self {
            ReferenceError::NoRegistry { .. } => ReferenceError::NoRegistry { input },
            ReferenceError::NotAHost { host, .. } => ReferenceError::NotAHost { input, host },
            ReferenceError::Host { host, rule, .. } => ReferenceError::Host { input, host, rule },
            ReferenceError::Path { component, .. } => ReferenceError::Path { input, component },
            ReferenceError::TooLong { len, .. } => ReferenceError::TooLong { input, len },
            ReferenceError::Tag { tag, .. } => ReferenceError::Tag { input, tag },
            ReferenceError::NoTarget { .. } => ReferenceError::NoTarget { input },
            ReferenceError::Digest { source, .. } => ReferenceError::Digest { input, source },
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Whether `registry` (`HOST[:PORT]`) is `127.0.0.1`, `localhost` or `[::1]`.
pub(crate) fn is_loopback_host(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().map(|h| format!("[{h}]")).unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default().to_owned(),
    };
    matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]")
}

/// Docker's rule for telling a registry from a Docker Hub namespace: a host has a `.`, a
/// port, or is `localhost` (or an IPv6 literal in brackets).
fn check_host(input: &str, host: &str) -> Result<(), ReferenceError> {
    let bad = |rule| Err(ReferenceError::Host { input: input.into(), host: host.into(), rule });
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, rest)) = v6.split_once(']') else { return bad("an IPv6 address needs its closing `]`") };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return bad("an IPv6 address in brackets is hex digits and `:`");
        }
        match rest {
            "" => (None, None),
            _ => match rest.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad("only `:PORT` may follow `]`"),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port
        && !(port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return bad("the port must be a number from 1 to 65535");
    }
    if let Some(name) = name {
        if name.split('.').any(|label| !is_domain_label(label)) {
            return bad("host names are letters, digits and inner dashes, in labels joined by `.`");
        }
        if port.is_none() && !name.contains('.') && name != "localhost" {
            return Err(ReferenceError::NotAHost { input: input.into(), host: host.into() });
        }
    }
    Ok(())
}

fn is_domain_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`, checked without a regex: runs of lowercase
/// alphanumerics separated by exactly one of `.`, `_`, `__` or any number of `-`.
fn is_path_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn is_tag(tag: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = tag.as_bytes();
    !b.is_empty() && b.len() <= MAX_TAG_LEN && word(b[0]) && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_hosts_with_ports_localhost_ipv6_and_nested_paths() {
        let r = Reference::parse("127.0.0.1:5000/library/software:0.0.3").unwrap();
        assert_eq!(
            (r.registry(), r.repository().path(), r.tag()),
            ("127.0.0.1:5000", "library/software", Some("0.0.3"))
        );
        assert!(r.repository().is_loopback());
        let r = Reference::parse(&format!("localhost/a/b/c@{DIGEST}")).unwrap();
        assert_eq!((r.registry(), r.repository().path(), r.tag()), ("localhost", "a/b/c", None));
        assert_eq!(r.target(), DIGEST);
        let r = Reference::parse("[::1]:5000/app:v1").unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
        assert!(r.repository().is_loopback());
        let r = Reference::parse(&format!("nexus.acme.com/library/software:dev@{DIGEST}")).unwrap();
        assert!(!r.repository().is_loopback());
        assert_eq!((r.tag(), r.target()), (Some("dev"), DIGEST.to_owned()));
        assert_eq!(r.to_string(), format!("nexus.acme.com/library/software:dev@{DIGEST}"));
        assert_eq!(Reference::parse("registry:5000/a__b.c-d---e:x").unwrap().repository().path(), "a__b.c-d---e");
        assert!(!Repository::parse("localhost.evil.com/x").unwrap().is_loopback());
    }

    #[test]
    fn errors_name_the_input_and_the_rule() {
        let cases = [
            ("software:0.0.3", "names no registry"),
            ("library/software:0.0.3", "is not a registry host"),
            ("127.0.0.1:99999/app:v1", "port must be a number"),
            ("-bad.com/app:v1", "host names are letters"),
            ("reg.io/App:v1", "component `App`"),
            ("reg.io/a//b:v1", "component ``"),
            ("reg.io/a..b:v1", "component `a..b`"),
            ("reg.io/app:.v1", "tag `.v1` is invalid"),
            ("reg.io/app", "names no version"),
            ("reg.io/app@sha256:abc", "64 lowercase hex digits"),
            ("[::1/app:v1", "closing `]`"),
        ];
        for (input, rule) in cases {
            let e = Reference::parse(input).unwrap_err().to_string();
            assert!(e.contains(&format!("`{input}`")) && e.contains(rule), "{input}: {e}");
        }
        let long = format!("reg.io/{}:v1", "a".repeat(260));
        assert!(matches!(Reference::parse(&long), Err(ReferenceError::TooLong { .. })));
        let tag = format!("reg.io/app:{}", "t".repeat(129));
        assert!(matches!(Reference::parse(&tag), Err(ReferenceError::Tag { .. })));
    }

    #[test]
    fn repository_builds_references() {
        let repo = Repository::parse("localhost:5000/library/software").unwrap();
        assert_eq!(repo.tag("dev").unwrap().to_string(), "localhost:5000/library/software:dev");
        assert!(repo.tag("no/slash").unwrap_err().to_string().contains("tag `no/slash`"));
        let d = Digest::parse(DIGEST).unwrap();
        assert_eq!(repo.digest(d).target(), DIGEST);
        assert!(Repository::parse("localhost:5000/library/software:dev").is_err());
    }
}
