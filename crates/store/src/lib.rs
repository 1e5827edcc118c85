//! The store: the single source of truth for environments, runs, attempts, logs,
//! outputs and events. One trait (`Store`), one implementation per database: SQLite
//! (the default) and PostgreSQL (many server replicas).

pub mod control;
pub mod crypto;
pub mod error;
mod log_body;
pub mod postgres;
pub mod records;
pub mod sqlite;
mod store;

pub use control::ControlStore;
pub use crypto::Cipher;
pub use error::StoreError;
pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;
pub use store::{Result, Store};
