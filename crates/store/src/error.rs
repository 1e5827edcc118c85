//! The store's one error type.
//!
//! Policy: a store error says what failed and which record it concerned (an id, a
//! table and column), never a secret value; layers above pass it on unchanged and the
//! edge (CLI, API) turns it into a message once. `LeaseLost` is the one a caller acts
//! on: its holder must stop the work of that run or request.

use std::path::PathBuf;

/// A failure of the database itself, from either backend.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
    /// The store was closed (its connection thread is gone).
    #[error("the database connection is closed")]
    Closed,
}

impl DbError {
    /// A unique or primary key constraint refused the change.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            DbError::Postgres(sqlx::Error::Database(d)) => d.is_unique_violation(),
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query or a connection failed. `context` names the operation and the record.
    /// The cause is in the message too: the CLI prints errors with `to_string()`.
    #[error("cannot {context}: {source}")]
    Database {
        context: String,
        #[source]
        source: DbError,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database schema: {0}")]
    Migrate(String),
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// The caller no longer holds the run or request it wrote for: its lease expired and
    /// another holder took it back (or it ended). Nothing was written; the caller must
    /// stop that work.
    #[error("{what} `{id}` is no longer held by {holder}: {detail}")]
    LeaseLost { what: &'static str, id: String, holder: String, detail: String },
    /// A key could not be read or a value could not be encrypted or decrypted.
    /// The message never contains the key nor the value.
    #[error("crypto: {0}")]
    Crypto(String),
    /// The store records another master key than the one it was opened with: refused at
    /// open, before anything is sealed under a key its older values are not under.
    #[error("{0}")]
    WrongMasterKey(Box<crate::key_check::WrongKey>),
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
    /// A Terraform state is locked by another lock than the writer's.
    #[error("the state of {state} is locked by run {run} (lock {lock_id})")]
    StateLocked { state: String, run: String, lock_id: String },
    /// A write lost a race with another writer of the same record; trying again may succeed.
    #[error("{0}")]
    Conflict(String),
    /// A stored value that cannot be read back (unknown enum text, bad id, ...).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A value handed to the store that it cannot represent (a timestamp past 2262, ...).
    #[error("invalid value: {0}")]
    Invalid(String),
}

impl StoreError {
    pub(crate) fn db(context: impl Into<String>, source: impl Into<DbError>) -> StoreError {
        StoreError::Database { context: context.into(), source: source.into() }
    }

    pub(crate) fn not_found(what: &'static str, id: impl std::fmt::Display) -> StoreError {
        StoreError::NotFound { what, id: id.to_string() }
    }

    /// Whether the store was opened with the wrong master key: a configuration error.
    pub fn is_wrong_master_key(&self) -> bool {
        matches!(self, StoreError::WrongMasterKey(_))
    }

    /// Whether this is a lost lease (the caller must stop that run's or request's work).
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, StoreError::LeaseLost { .. })
    }
}
