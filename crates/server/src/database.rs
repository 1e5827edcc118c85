//! Opens the server's store from its `Database`: a SQLite file (created with its folder)
//! or a shared PostgreSQL. Either way the master key comes from `TERRACE_MASTER_KEY` or
//! the data folder's key file (replicas on one PostgreSQL must share the key).

use std::path::Path;
use std::sync::Arc;

use terrace_store::{Cipher, ControlStore, SqlStore};

use crate::ServerError;
use crate::app::ServerStore;
use crate::config::Database;

/// An open store, with what only the store itself can do (close, listen for wake-ups).
#[derive(Clone)]
pub struct OpenedStore(pub Arc<SqlStore>);

impl OpenedStore {
    pub fn server_store(&self) -> Arc<dyn ServerStore> {
        self.0.clone()
    }

    pub fn control(&self) -> &dyn ControlStore {
        self.0.as_ref()
    }

    pub fn agents(&self) -> &dyn terrace_store::AgentStore {
        self.0.as_ref()
    }

    pub async fn close(&self) {
        self.0.close().await
    }
}

/// Opens (creating a SQLite file and its folder when missing) the store with the master
/// key of `data_dir`.
pub async fn open_store(database: &Database, data_dir: &Path) -> Result<OpenedStore, ServerError> {
    let folders = [Some(data_dir), database.sqlite_path().and_then(Path::parent)];
    for dir in folders.into_iter().flatten().filter(|d| !d.as_os_str().is_empty()) {
        // The data folder gets its `.gitignore`; a database file's folder is the user's.
        let (owned, is_data) = (dir.to_path_buf(), dir == data_dir);
        tokio::task::spawn_blocking(move || match is_data {
            true => terrace_store::data_dir::prepare(&owned),
            false => std::fs::create_dir_all(&owned),
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|source| ServerError::Io { context: format!("cannot create {}", dir.display()), source })?;
    }
    let key_dir = data_dir.to_path_buf();
    let cipher = tokio::task::spawn_blocking(move || Cipher::load_or_create(&key_dir))
        .await
        .map_err(|e| ServerError::Io { context: "load the master key".into(), source: std::io::Error::other(e) })??;
    let store = match database {
        Database::Sqlite(path) => SqlStore::open_sqlite(path, cipher).await?,
        Database::Postgres(url) => SqlStore::open_postgres(url, cipher).await?,
    };
    Ok(OpenedStore(Arc::new(store)))
}
