//! What the registry tests start and use: Debian's `docker-registry` on 127.0.0.1 (with no
//! auth, htpasswd Basic auth, or token auth), a token service, an HTTP proxy that can cut
//! the registry off mid-operation, and images built in code and pushed through the HTTP API.
#![allow(dead_code)]

pub mod image;
pub mod pages;
pub mod proxy;
pub mod registry;
pub mod token;

use std::future::Future;
use std::time::Duration;

/// Every test body is bounded: a hung registry fails the test instead of the run.
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(120), body).await.expect("the test finished within 120 s");
}

/// A task stopped when this is dropped: the servers a test starts end with the test.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client that retries quickly, so outage tests do not wait on production backoff.
pub fn client() -> terrace_registry::ClientBuilder {
    terrace_registry::Client::builder().backoff(Duration::from_millis(20)).timeout(Duration::from_secs(20))
}
