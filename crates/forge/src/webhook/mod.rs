//! Webhooks in: the signature or token checked in constant time before anything is read,
//! then the body parsed into Terrace's events. No error ever holds the body or a value
//! from it: it names the field and the rule broken.

mod github;
mod gitlab;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::event::{Delivery, Forge};

/// Why a delivery is refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The signature or token is missing or wrong (answer 401; do not read the body).
    #[error("{forge} webhook refused: {reason}")]
    Unauthenticated { forge: Forge, reason: &'static str },
    /// A header the forge always sends is missing (answer 400).
    #[error("{forge} webhook: missing header `{header}`")]
    MissingHeader { forge: Forge, header: &'static str },
    /// The body is not the documented shape (answer 400).
    #[error("{forge} `{event}` webhook: field `{field}` {rule}")]
    Malformed { forge: Forge, event: String, field: String, rule: String },
}

/// Verifies a GitHub delivery (`X-Hub-Signature-256`: HMAC-SHA256 of the raw body under
/// the webhook secret) and parses it.
pub fn github(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<Delivery, WebhookError> {
    verify_github_signature(headers, body, secret)?;
    let event = header(headers, "x-github-event")
        .ok_or(WebhookError::MissingHeader { forge: Forge::GitHub, header: "X-GitHub-Event" })?;
    let id = header(headers, "x-github-delivery").map(str::to_string);
    Ok(Delivery { forge: Forge::GitHub, id, event: github::parse(event, body)? })
}

/// Verifies a GitLab delivery (`X-Gitlab-Token` equal to the webhook's secret token) and
/// parses it.
pub fn gitlab(headers: &HeaderMap, body: &[u8], token: &str) -> Result<Delivery, WebhookError> {
    verify_gitlab_token(headers, token)?;
    let event = header(headers, "x-gitlab-event")
        .ok_or(WebhookError::MissingHeader { forge: Forge::GitLab, header: "X-Gitlab-Event" })?;
    let id = header(headers, "idempotency-key").or_else(|| header(headers, "x-gitlab-event-uuid")).map(str::to_string);
    Ok(Delivery { forge: Forge::GitLab, id, event: gitlab::parse(event, body)? })
}

/// Parses a body verified before (a delivery kept in the store), given the forge and its
/// event name (`X-GitHub-Event`, `X-Gitlab-Event`).
pub fn parse_verified(forge: Forge, event: &str, body: &[u8]) -> Result<crate::Event, WebhookError> {
    match forge {
        Forge::GitHub => github::parse(event, body),
        Forge::GitLab => gitlab::parse(event, body),
    }
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the body, in constant time.
pub fn verify_github_signature(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<(), WebhookError> {
    let refuse = |reason| WebhookError::Unauthenticated { forge: Forge::GitHub, reason };
    if secret.is_empty() {
        return Err(refuse("no webhook secret is configured (github-webhook-secret)"));
    }
    let value = header(headers, "x-hub-signature-256").ok_or(refuse("missing X-Hub-Signature-256 header"))?;
    let signature = value
        .strip_prefix("sha256=")
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or(refuse("X-Hub-Signature-256 is not `sha256=<hex>`"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| refuse("the webhook secret cannot key HMAC"))?;
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| refuse("X-Hub-Signature-256 does not match the body and the secret"))
}

/// Checks `X-Gitlab-Token` in constant time (both sides hashed first, so that not even
/// the length is compared directly).
pub fn verify_gitlab_token(headers: &HeaderMap, token: &str) -> Result<(), WebhookError> {
    let refuse = |reason| WebhookError::Unauthenticated { forge: Forge::GitLab, reason };
    if token.is_empty() {
        return Err(refuse("no webhook token is configured (gitlab-webhook-token)"));
    }
    let given = header(headers, "x-gitlab-token").ok_or(refuse("missing X-Gitlab-Token header"))?;
    let equal: bool = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(token.as_bytes())).into();
    if equal { Ok(()) } else { Err(refuse("X-Gitlab-Token does not match")) }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Parses `body` as `T`; an error names the field and the rule, never a value.
pub(crate) fn decode<T: DeserializeOwned>(forge: Forge, event: &str, body: &[u8]) -> Result<T, WebhookError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let rule = if inner.is_syntax() || inner.is_eof() {
            format!("is not valid JSON (line {}, column {})", inner.line(), inner.column())
        } else {
            rule_without_values(&inner.to_string())
        };
        let field = if field == "." { "(body)".to_string() } else { field };
        WebhookError::Malformed { forge, event: event.to_string(), field, rule }
    })
}

/// serde's message without the offending value (`invalid type: string "…", expected u64`
/// becomes `must be u64`), since it comes from the body.
fn rule_without_values(message: &str) -> String {
    let message = message.rsplit_once(" at line ").map_or(message, |(head, _)| head);
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("is missing its field {field}");
    }
    // serde writes the expected type last; the value (from the body) comes before it.
    match message.rsplit_once(", expected ") {
        Some((_, expected)) => format!("must be {expected}"),
        None => "has the wrong shape".to_string(),
    }
}

/// Checks a commit id of the body: 40 (SHA-1) or 64 (SHA-256) hex characters.
pub(crate) fn check_sha(forge: Forge, event: &str, field: &str, value: &str) -> Result<(), WebhookError> {
    let ok = matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit());
    if ok { Ok(()) } else { Err(malformed(forge, event, field, "must be a 40- or 64-character hex commit id")) }
}

pub(crate) fn check_nonempty(forge: Forge, event: &str, field: &str, value: &str) -> Result<(), WebhookError> {
    if value.trim().is_empty() { Err(malformed(forge, event, field, "must not be empty")) } else { Ok(()) }
}

pub(crate) fn malformed(forge: Forge, event: &str, field: &str, rule: &str) -> WebhookError {
    WebhookError::Malformed { forge, event: event.to_string(), field: field.to_string(), rule: rule.to_string() }
}

/// Splits `a/b/c` into owner `a/b` and name `c`.
pub(crate) fn split_full_name(full_name: &str) -> (String, String) {
    match full_name.rsplit_once('/') {
        Some((owner, name)) => (owner.to_string(), name.to_string()),
        None => (String::new(), full_name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_their_values() {
        assert_eq!(rule_without_values("invalid type: string \"s3cr3t\", expected u64"), "must be u64");
        assert_eq!(rule_without_values("missing field `sha` at line 1 column 2"), "is missing its field `sha`");
        assert_eq!(rule_without_values("unknown variant `s3cr3t`, expected `a` or `b`"), "must be `a` or `b`");
    }
}
