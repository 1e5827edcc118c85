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

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let syntax = |inner: serde_json::Error| AppError::BadRequest {
        field: Some("body".into()),
        message: format!("the body is not valid JSON: {inner}"),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return syntax(inner);
        }
        let field = if path == "." { None } else { Some(path) };
        let message = match &field {
            Some(f) => format!("field `{f}`: {inner}"),
            None => format!("the body does not match the expected object: {inner}"),
        };
        AppError::BadRequest { field, message }
    })?;
    de.end().map_err(syntax)?;
    Ok(value)
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
            let inner = e.into_inner();
            AppError::BadRequest { message: format!("query parameter `{field}`: {inner}"), field: Some(field) }
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
