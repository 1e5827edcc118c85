//! The store's one error type.
//!
//! Policy: a store error says what failed and which record it concerned (an id, a
//! table and column), never a secret value; layers above pass it on unchanged and the
//! edge (CLI, API) turns it into a message once.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query or a connection failed. `context` names the operation and the record.
    /// The cause is in the message too: the CLI prints errors with `to_string()`.
    #[error("cannot {context}: {source}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database schema: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// A key could not be read or a value could not be encrypted or decrypted.
    /// The message never contains the key nor the value.
    #[error("crypto: {0}")]
    Crypto(String),
    /// The key file could not be read or written.
    #[error("key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A run's log file could not be written or read.
    #[error("log file {}: {source}", path.display())]
    LogFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stored value that cannot be read back (unknown enum text, bad id, ...).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A value handed to the store that it cannot represent (a timestamp past 2262, ...).
    #[error("invalid value: {0}")]
    Invalid(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(source: sqlx::Error) -> Self {
        StoreError::Database { context: "query the database".into(), source }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

impl StoreError {
    /// Maps a sqlx error to `Database` with the operation it interrupted.
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context: context.to_string(), source }
    }

    /// Like [`StoreError::db`], naming the record too.
    pub(crate) fn db_for(context: &'static str, id: impl std::fmt::Display) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context: format!("{context} {id}"), source }
    }

    pub(crate) fn not_found(what: &'static str, id: impl std::fmt::Display) -> StoreError {
        StoreError::NotFound { what, id: id.to_string() }
    }
}
