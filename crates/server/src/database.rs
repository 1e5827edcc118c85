//! Opens the server's store from its `Database`: a SQLite file (created with its folder)
//! or a shared PostgreSQL. Either way the master key comes from `TERRACE_MASTER_KEY` or
//! the data folder's key file (replicas on one PostgreSQL must share the key).

use std::path::Path;
use std::sync::Arc;

use terrace_store::{Cipher, ControlStore, PgStore, SqliteStore};

use crate::ServerError;
use crate::app::ServerStore;
use crate::config::Database;

/// An open store, with what only its own kind can do (close, listen for wake-ups).
#[derive(Clone)]
pub enum OpenedStore {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl OpenedStore {
    pub fn server_store(&self) -> Arc<dyn ServerStore> {
        match self {
            OpenedStore::Sqlite(s) => s.clone(),
            OpenedStore::Postgres(s) => s.clone(),
        }
    }

    pub fn control(&self) -> &dyn ControlStore {
        match self {
            OpenedStore::Sqlite(s) => s.as_ref(),
            OpenedStore::Postgres(s) => s.as_ref(),
        }
    }

    pub async fn close(&self) {
        match self {
            OpenedStore::Sqlite(s) => s.close().await,
            OpenedStore::Postgres(s) => s.close().await,
        }
    }
}

/// Opens (creating a SQLite file and its folder when missing) the store with the master
/// key of `data_dir`.
pub async fn open_store(database: &Database, data_dir: &Path) -> Result<OpenedStore, ServerError> {
    let folders = [Some(data_dir), database.sqlite_path().and_then(Path::parent)];
    for dir in folders.into_iter().flatten().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| ServerError::Io { context: format!("cannot create {}", dir.display()), source })?;
    }
    let key_dir = data_dir.to_path_buf();
    let cipher = tokio::task::spawn_blocking(move || Cipher::load_or_create(&key_dir))
        .await
        .map_err(|e| ServerError::Io { context: "load the master key".into(), source: std::io::Error::other(e) })??;
    Ok(match database {
        Database::Sqlite(path) => OpenedStore::Sqlite(Arc::new(SqliteStore::open(path, cipher).await?)),
        Database::Postgres(url) => OpenedStore::Postgres(Arc::new(PgStore::open(url, cipher).await?)),
    })
}
