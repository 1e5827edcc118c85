//! The client's error: what a registry operation ran into, naming the registry, the
//! operation and the object (`manifest REGISTRY/REPO:TAG`, `blob sha256:... of REPO`) and
//! saying what to do. Messages carry no credential or token: requests carry those in
//! headers only, and headers are never quoted. The registry's own error codes
//! (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `DENIED`, ...) are kept, parsed from its error body.

use serde::Deserialize;

use crate::auth::AuthError;
use crate::digest::Digest;
use crate::manifest::ManifestError;
use crate::reference::ReferenceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest or repository does not exist (404 with `MANIFEST_UNKNOWN`,
    /// `NAME_UNKNOWN` or `BLOB_UNKNOWN`).
    #[error(
        "{what} does not exist: the registry answered {code}{message}; check the name and version (list the tags to see what exists)"
    )]
    NotFound { what: String, code: String, message: String },
    /// 403: authenticated, but not allowed.
    #[error("{method} {what} was denied by {registry} (HTTP 403{detail}): the credentials lack the permission")]
    Denied { registry: String, method: &'static str, what: String, detail: String },
    /// No answer: connection refused or reset, timeout. Idempotent calls were retried.
    #[error(
        "{registry} could not be reached for {method} {what} after {attempts} attempt(s): {reason}; \
         check that the registry runs and is reachable, then retry"
    )]
    Unreachable { registry: String, method: &'static str, what: String, attempts: u32, reason: String },
    /// An answer that is neither success nor one of the cases above.
    #[error("{registry} answered HTTP {status} to {method} {what} after {attempts} attempt(s){detail}")]
    Status { registry: String, method: &'static str, what: String, status: u16, attempts: u32, detail: String },
    /// The bytes served do not hash to the digest asked for or announced.
    #[error(
        "{what}: the bytes hash to {actual} but the {source_of_expected} says {expected}; \
         the registry, or something between it and this client, altered them"
    )]
    DigestMismatch { what: String, expected: Digest, actual: Digest, source_of_expected: &'static str },
    #[error("{what}: {source}")]
    Manifest {
        what: String,
        #[source]
        source: ManifestError,
    },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The registry answered something the distribution spec does not allow.
    #[error("{registry} sent an unexpected answer to {method} {what}: {reason}")]
    Protocol { registry: String, method: &'static str, what: String, reason: String },
    /// The HTTP client could not be built (TLS setup).
    #[error("the registry HTTP client could not be set up: {reason}")]
    Setup { reason: String },
}

impl Error {
    /// Whether the error says the manifest or repository is not there (as opposed to not
    /// reachable, not allowed, or broken).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether trying the same operation again later may succeed (the registry was away or
    /// overloaded), as opposed to an answer that will not change by itself.
    pub fn retryable(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429,
            Error::Auth(AuthError::TokenUnreachable { .. }) => true,
            _ => false,
        }
    }
}

/// The distribution spec's error body: `{"errors":[{"code":..,"message":..,"detail":..}]}`.
#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    errors: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    code: String,
    #[serde(default)]
    message: String,
}

/// The registry's error codes and messages, if the body is the spec's error body.
pub(crate) fn registry_errors(body: &[u8]) -> Vec<(String, String)> {
    match serde_json::from_slice::<Body>(body) {
        Ok(b) => b.errors.into_iter().map(|e| (e.code, e.message)).collect(),
        Err(_) => Vec::new(),
    }
}

/// `": CODE (message); CODE2 (message2)"` for an error message, empty when there is none.
pub(crate) fn detail(body: &[u8]) -> String {
    let errors = registry_errors(body);
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|(code, message)| if message.is_empty() { code.clone() } else { format!("{code} ({message})") })
        .collect();
    format!(": {}", parts.join("; "))
}

/// The text of an error and its causes: reqwest's own message says only "error sending
/// request"; the cause (connection refused, reset, timed out) is what helps.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_registry_error_body() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(registry_errors(body), vec![("MANIFEST_UNKNOWN".into(), "manifest unknown".into())]);
        assert_eq!(detail(body), ": MANIFEST_UNKNOWN (manifest unknown)");
        assert_eq!(detail(b"<html>bad gateway</html>"), "");
        assert_eq!(detail(b""), "");
    }

    #[test]
    fn not_found_names_the_object_and_what_to_do() {
        let e = Error::NotFound {
            what: "manifest 127.0.0.1:5000/software:0.0.9".into(),
            code: "MANIFEST_UNKNOWN".into(),
            message: " (manifest unknown)".into(),
        };
        let text = e.to_string();
        assert!(text.starts_with("manifest 127.0.0.1:5000/software:0.0.9 does not exist"), "{text}");
        assert!(text.contains("MANIFEST_UNKNOWN") && text.contains("list the tags"), "{text}");
        assert!(e.is_not_found() && !e.retryable());
    }
}
