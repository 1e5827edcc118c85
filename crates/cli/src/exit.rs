//! The CLI's error: every lower error becomes one of these once, with its exit status.

use std::process::ExitCode;

use terrace_engine::EngineError;
use terrace_server::ServerError;
use terrace_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Usage or configuration: exit 2. The message is complete (may span lines).
    #[error("{0}")]
    Usage(String),
    /// Something failed at run time: exit 1.
    #[error("error: {0}")]
    Failed(String),
    /// Stdout was closed (`| head`): the command ends quietly, exit 0.
    #[error("")]
    Closed,
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
            CliError::Closed => ExitCode::SUCCESS,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        CliError::Usage(format!("error: {}", msg.into()))
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        if e.is_usage() { CliError::usage(e.to_string()) } else { CliError::Failed(e.to_string()) }
    }
}

impl From<terrace_engine::RunRefError> for CliError {
    fn from(e: terrace_engine::RunRefError) -> Self {
        match e {
            terrace_engine::RunRefError::Store(e) => e.into(),
            other => CliError::usage(other.to_string()),
        }
    }
}

/// The API's views read in local mode fail as the API would: what the caller named wrong
/// is a usage error (exit 2), the rest a failure.
impl From<terrace_server::app::AppError> for CliError {
    fn from(e: terrace_server::app::AppError) -> Self {
        let status = terrace_server::http::error::status(&e);
        if status.is_client_error() && status.as_u16() != 409 {
            CliError::usage(e.to_string())
        } else {
            CliError::Failed(e.to_string())
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        // The wrong master key for the store is the user's setting to fix, not a failure.
        if e.is_wrong_master_key() { CliError::usage(e.to_string()) } else { CliError::Failed(e.to_string()) }
    }
}

impl From<ServerError> for CliError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Store(e) => e.into(),
            ServerError::Config(_) | ServerError::Project { .. } | ServerError::Bind { .. } | ServerError::Clock(_) => {
                CliError::usage(e.to_string())
            }
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe { CliError::Closed } else { CliError::Failed(e.to_string()) }
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Failed(format!("cannot write JSON: {e}"))
    }
}
