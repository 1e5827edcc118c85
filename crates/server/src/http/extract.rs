//! Extractors that turn every bad input into an `AppError` (so into the one JSON error
//! shape): the bearer token, JSON bodies (naming the field at fault), query strings and
//! path segments.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::app::{App, AppError, Caller, access};

/// The authenticated caller; rejects with 401.
pub struct Auth(pub Caller);

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        if let Some(super::limit::Authenticated(caller)) = parts.extensions.get() {
            return Ok(Auth(caller.clone()));
        }
        access::authenticate(app, bearer(&parts.headers)?).await.map(Auth)
    }
}

/// The token of `Authorization: Bearer <token>`, if the header is there.
pub fn bearer(headers: &axum::http::HeaderMap) -> Result<Option<&str>, AppError> {
    let header = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match header {
        None => Ok(None),
        Some(h) => match h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")) {
            Some(t) => Ok(Some(t)),
            None => Err(AppError::Unauthenticated("the Authorization header must be `Bearer <token>`".into())),
        },
    }
}

/// A JSON body; syntax errors and wrong types are 400 naming the field, an oversized
/// body is 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge { limit: super::BODY_LIMIT }
            } else {
                AppError::bad("body", format!("cannot read the request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body. Errors name the field and what was expected, in Terrace's words,
/// and never repeat a value: it may be a secret (`{"value": 12345}` for a secret).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| AppError::BadRequest {
        field: Some("body".into()),
        message: format!(
            "the body is not valid JSON ({} at line {} column {}); send a JSON object",
            syntax_rule(&e),
            e.line(),
            e.column()
        ),
    })?;
    // Every body is an object: serde would also take an array for one, and then speak of `[0]`.
    if !value.is_object() {
        return Err(AppError::BadRequest {
            field: Some("body".into()),
            message: format!("the body must be a JSON object, found {}", kind(&value)),
        });
    }
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        let found = field.as_deref().map_or(Some(&value), |f| at_path(&value, f));
        let rule = data_rule(&e.into_inner().to_string(), found);
        let message = match &field {
            Some(f) => format!("field `{f}`: {rule}"),
            None => format!("the body {rule}"),
        };
        AppError::BadRequest { field, message }
    })
}

/// serde_json's syntax complaint without its position (given apart).
fn syntax_rule(e: &serde_json::Error) -> String {
    let text = e.to_string();
    text.rsplit_once(" at line ").map_or(text.clone(), |(rule, _)| rule.to_string())
}

/// The value at a serde_path_to_error path (`args[0]`, `a.b`), to say what kind it is.
fn at_path<'v>(root: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    let mut here = root;
    for part in path.split('.') {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            here = here.get(key)?;
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            here = here.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(here)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// serde's data error, rewritten so that no value of the body appears in it.
fn data_rule(serde: &str, found: Option<&serde_json::Value>) -> String {
    // serde names Rust types (`struct EventBody`, `a sequence`, `a map`): say JSON's words.
    let expected = serde.split_once(", expected ").map(|(_, e)| {
        if e.starts_with("struct ") || e.starts_with("a map") || e.starts_with("map") {
            "an object"
        } else if e.starts_with("a sequence") {
            "an array"
        } else {
            e
        }
    });
    if serde.starts_with("invalid type") || serde.starts_with("invalid value") || serde.starts_with("invalid length") {
        let found = found.map_or("something else", kind);
        return format!("expected {}, found {found}", expected.unwrap_or("another value"));
    }
    if serde.starts_with("unknown variant") {
        return format!("unknown value, expected {}", expected.unwrap_or("another value"));
    }
    if let Some(key) = serde.strip_prefix("missing field ") {
        return format!("lacks the required key {key}");
    }
    if let Some(key) = serde.strip_prefix("duplicate field ") {
        return format!("has the key {key} twice");
    }
    if let Some(rest) = serde.strip_prefix("unknown field ") {
        // The key is the client's, not a value: naming it helps.
        let key = rest.split(',').next().unwrap_or(rest);
        return format!("unknown key {key}, expected {}", expected.unwrap_or("none"));
    }
    serde.to_string()
}

/// A query string; a value of the wrong type is 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner().to_string();
            // Rust's number parsing speaks of digits and strings: say what the parameter takes.
            let rule =
                if inner.contains("digit") || inner.contains("number too large") || inner.contains("empty string") {
                    "expected a whole number (0 or more, plain digits)".to_string()
                } else if inner.contains("provided string was not `true` or `false`") {
                    "expected true or false".to_string()
                } else {
                    data_rule(&inner, None)
                };
            AppError::BadRequest { message: format!("query parameter `{field}`: {rule}"), field: Some(field) }
        })
    }
}

/// Path segments, as text (the application layer parses ids and names them in errors).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| AppError::bad("path", format!("bad path: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        value: String,
        args: Option<Vec<String>>,
    }

    fn message(body: &str) -> (Option<String>, String) {
        match parse_json::<Body>(body.as_bytes()).unwrap_err() {
            AppError::BadRequest { field, message } => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_and_never_repeat_a_value() {
        let (field, m) = message(r#"{"value": 123456789}"#);
        assert_eq!(field.as_deref(), Some("value"));
        assert_eq!(m, "field `value`: expected a string, found a number");
        let (field, m) = message(r#"{"value": "x", "args": ["ok", {"s3cr3t": 1}]}"#);
        assert_eq!(field.as_deref(), Some("args[1]"));
        assert!(!m.contains("s3cr3t") && m.contains("found an object"), "{m}");
        let (_, m) = message(r#""s3cr3t""#);
        assert_eq!(m, "the body must be a JSON object, found a string");
        let (field, m) = message(r#"[1]"#);
        assert_eq!((field.as_deref(), m.as_str()), (Some("body"), "the body must be a JSON object, found an array"));
        let (_, m) = message(r#"{"args": []}"#);
        assert_eq!(m, "the body lacks the required key `value`");
        let (_, m) = message(r#"{"value": "x", "extra": "s3cr3t"}"#);
        assert!(m.contains("unknown key `extra`") && !m.contains("s3cr3t"), "{m}");
        let (field, m) = message(r#"{"value": "s3cr3t""#);
        assert_eq!(field.as_deref(), Some("body"));
        assert!(m.contains("not valid JSON") && !m.contains("s3cr3t"), "{m}");
    }
}
