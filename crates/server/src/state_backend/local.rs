//! The local mode's backend: a listener on 127.0.0.1 (a port the system picks), started
//! the first time a run needs it and stopped when this value is dropped.

use std::sync::Arc;

use terrace_store::Store;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub struct LocalStateBackend {
    store: Arc<dyn Store>,
    url: OnceCell<String>,
    stop: CancellationToken,
}

impl LocalStateBackend {
    pub fn new(store: Arc<dyn Store>) -> Arc<LocalStateBackend> {
        Arc::new(LocalStateBackend { store, url: OnceCell::new(), stop: CancellationToken::new() })
    }

    async fn start(&self) -> Result<String, String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1 for Terraform's state: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let app: axum::Router = super::router(self.store.clone());
        let stop = self.stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the local Terraform state backend stopped");
            }
        });
        Ok(super::local_url(addr))
    }
}

impl Drop for LocalStateBackend {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait::async_trait]
impl terrace_engine::StateBackend for LocalStateBackend {
    async fn base_url(&self) -> Result<String, String> {
        self.url.get_or_try_init(|| self.start()).await.cloned()
    }
}
