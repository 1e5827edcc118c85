//! Names git is given: object ids, refs (branch, tag, full or short commit id) and the
//! folder of a source. Each is checked before it reaches a git argument, so none can be
//! read as an option or a revision expression.

use std::fmt;

use crate::GitError;

/// A full object id (SHA-1 or SHA-256), lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(String);

impl ObjectId {
    /// `text` when it is a full 40- or 64-character hex id.
    pub fn parse(text: &str) -> Option<ObjectId> {
        let full = matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit());
        full.then(|| ObjectId(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first seven characters, as git shows a commit.
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.0)
    }
}

/// Whether `text` may be an abbreviated commit id (git accepts four characters or more).
pub(crate) fn is_hex_prefix(text: &str) -> bool {
    (4..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Refuses what is not a plain ref name (git's `check-ref-format` rules, loosely), so the
/// name can be followed by `^{commit}` safely.
pub(crate) fn check_ref(reference: &str) -> Result<(), GitError> {
    let invalid = |reason| Err(GitError::InvalidRef { reference: reference.to_string(), reason });
    if reference.is_empty() {
        return invalid("is empty; give a branch, a tag or a commit id");
    }
    if reference.starts_with('-') {
        return invalid("starts with `-`");
    }
    if reference.bytes().any(|b| b.is_ascii_control() || b" ~^:?*[\\".contains(&b)) {
        return invalid("contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    if reference.contains("..") || reference.contains("@{") || reference.contains("//") {
        return invalid("contains `..`, `@{` or `//`");
    }
    if reference.starts_with('/')
        || reference.ends_with('/')
        || reference.ends_with('.')
        || reference.ends_with(".lock")
    {
        return invalid("starts or ends with `/`, or ends with `.` or `.lock`");
    }
    Ok(())
}

/// The folder of a source, relative and normalised: `""` for the repository's root.
pub(crate) fn source_path(path: &str) -> Result<String, GitError> {
    let invalid = |reason| Err(GitError::InvalidPath { path: path.to_string(), reason });
    if path.starts_with('/') {
        return invalid("is absolute; give a folder relative to the repository's root");
    }
    if path.chars().any(char::is_control) {
        return invalid("contains control characters");
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return invalid("contains `..`; a source stays inside its repository"),
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_that_could_be_options_or_expressions_are_refused() {
        for bad in ["", "-n", "main^", "a..b", "x@{1}", "a b", "HEAD~1", "a:b", "/main", "main/", "x.lock"] {
            assert!(check_ref(bad).is_err(), "{bad} accepted");
        }
        for good in ["main", "feature/x", "v1.2.3", "refs/heads/main", "0a1b2c3", "release-2024.01"] {
            check_ref(good).unwrap();
        }
    }

    #[test]
    fn source_paths_are_normalised_and_stay_inside() {
        assert_eq!(source_path("").unwrap(), "");
        assert_eq!(source_path("./infra//dev/").unwrap(), "infra/dev");
        assert!(source_path("../x").is_err());
        assert!(source_path("a/../../x").is_err());
        assert!(source_path("/etc").is_err());
    }

    #[test]
    fn object_ids_are_full_hex() {
        assert!(ObjectId::parse(&"a".repeat(40)).is_some());
        assert!(ObjectId::parse(&"A".repeat(64)).is_some_and(|id| id.as_str() == "a".repeat(64)));
        assert!(ObjectId::parse("abc123").is_none());
        assert!(ObjectId::parse(&"g".repeat(40)).is_none());
    }
}
