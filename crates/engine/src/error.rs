//! Errors of the engine layer.
//!
//! Policy: a run that fails is not an error (it is an outcome, recorded in the store);
//! `EngineError` is for what stops the engine from running at all: a bad request, a busy
//! environment, a store or filesystem failure. Messages name the environment, job or path
//! involved and never include a variable's value. The CLI and the API map them once, at
//! their edge, to an exit status or an HTTP status.

use terrace_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request does not fit the project (unknown environment or job, bad event).
    #[error("{0}")]
    Invalid(String),
    /// Another process is running an event on this environment.
    #[error("environment `{env}` is busy: {detail}")]
    Busy { env: String, detail: String },
    /// What was asked may not run as asked (an approved plan gone stale): nothing ran.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A step of a template could not be recorded (its cause was already an EngineError).
    #[error("{0}")]
    Internal(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let context = context.into();
        move |source| EngineError::Io { context, source }
    }

    /// Whether the caller asked for something wrong (exit 2) rather than the engine failing.
    pub fn is_usage(&self) -> bool {
        matches!(self, EngineError::Invalid(_))
    }
}
