//! Terraform's `http` backend over the store (DESIGN.md "Terraform state and plans"):
//! `GET`/`POST` a state, `LOCK`/`UNLOCK` it, at `/terraform/state/{project}/{env}/{job}`.
//! A caller is a run: HTTP Basic with the run id as user and its token (derived from the
//! master key) as password, accepted only while that run is active and only for its own
//! project, environment and job. Served by the server's router in server mode, and by a
//! listener on 127.0.0.1 that the local mode starts when a run first needs it.

mod handler;
mod local;

use std::sync::Arc;

use axum::Router;
use terrace_store::Store;

pub use local::LocalStateBackend;

/// The largest state accepted (Terraform states of big estates run to tens of MiB).
pub const STATE_LIMIT: usize = 64 * 1024 * 1024;

/// The routes of the backend, with the store they serve, for any outer router's state.
pub fn router<S: Clone + Send + Sync + 'static>(store: Arc<dyn Store>) -> Router<S> {
    Router::new()
        .route("/terraform/state/{project}/{environment}/{job}", axum::routing::any(handler::serve))
        .with_state(store)
}

/// The engine's view of a backend at a fixed address (the server's own).
pub struct FixedStateBackend(pub String);

#[async_trait::async_trait]
impl terrace_engine::StateBackend for FixedStateBackend {
    async fn base_url(&self) -> Result<String, String> {
        Ok(self.0.clone())
    }
}

/// Where jobs on this host reach a listener bound to `addr`: loopback for a wildcard.
pub fn local_url(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}
