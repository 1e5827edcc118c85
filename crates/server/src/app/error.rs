//! The application layer's one error type. Each variant says what the client did wrong
//! (or that the server failed); `http::error` maps it to a status and a JSON body in one
//! place, and `Internal` keeps its cause for the server log only.

use terrace_engine::EngineError;
use terrace_store::StoreError;
use terrace_store::control::Role;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed input: bad JSON, a wrong type, a value out of range. Names the field.
    #[error("{message}")]
    BadRequest { field: Option<String>, message: String },
    /// No token, or a token that is unknown or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("this needs the `{needed}` role; the token `{token}` has `{have}`")]
    Forbidden { needed: Role, have: Role, token: String },
    /// A credential that is known but does not open this (another attempt's output token).
    #[error("{0}")]
    Refused(String),
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// A name the project does not have (an environment, a run reference), said as local
    /// mode says it, with what it does have: a 404 too.
    #[error("{0}")]
    Unknown(String),
    /// The request conflicts with the state of the resource (an environment being deleted).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but not possible for this project (unknown job, invalid project file).
    #[error("{message}")]
    Unprocessable { field: Option<String>, message: String },
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// A body over a limit of its own kind, in that kind's words (an output file).
    #[error("{0}")]
    ContentTooLarge(String),
    /// The client sent more than its share (see `rate_limit`); retry after the delay.
    #[error("{message}")]
    TooManyRequests { retry_after: std::time::Duration, message: String },
    /// The request was not answered in time (a body that never ends, a slow store).
    #[error("the request was not answered within {}; send it again", humantime::format_duration(*after))]
    TimedOut { after: std::time::Duration },
    /// The store cannot be reached or is not migrated.
    #[error("not ready: {0}")]
    Unavailable(String),
    /// A server failure; `detail` goes to the log, never to the client.
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl AppError {
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        AppError::BadRequest { field: Some(field.to_string()), message: message.into() }
    }

    pub fn unprocessable(field: Option<&str>, message: impl Into<String>) -> Self {
        AppError::Unprocessable { field: field.map(str::to_string), message: message.into() }
    }

    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        AppError::NotFound { what, id: id.to_string() }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal { detail: detail.to_string() }
    }

    /// The stable machine-readable code of the body's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { .. } => "bad_request",
            AppError::Unauthenticated(_) => "unauthenticated",
            AppError::Forbidden { .. } | AppError::Refused(_) => "forbidden",
            AppError::NotFound { .. } | AppError::Unknown(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Unprocessable { .. } => "unprocessable",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::TooLarge { .. } | AppError::ContentTooLarge(_) => "payload_too_large",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::TimedOut { .. } => "request_timeout",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal { .. } => "internal",
        }
    }

    /// Whether the same request may succeed later unchanged.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            AppError::Unavailable(_)
                | AppError::Internal { .. }
                | AppError::TooManyRequests { .. }
                | AppError::TimedOut { .. }
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => AppError::NotFound { what, id },
            StoreError::Invalid(message) => AppError::Unprocessable { field: None, message },
            other => AppError::internal(other),
        }
    }
}

impl From<EngineError> for AppError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(message) => AppError::Unprocessable { field: None, message },
            EngineError::Busy { .. } | EngineError::Refused(_) => AppError::Conflict(e.to_string()),
            EngineError::Store(s) => s.into(),
            other => AppError::internal(other),
        }
    }
}
