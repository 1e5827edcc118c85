//! [`Client`] and its builder: one HTTP client for any number of registries, with their
//! credentials, timeouts, retry policy and the round-trip counter. The operations live in
//! `manifests`, `tags`, `blobs` and `copy`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Credentials;
use crate::error::{self, Error};
use crate::transport::{Answer, Call, Options, Transport};

/// An OCI distribution client. Cheap to clone; clones share connections, tokens and the
/// round-trip count.
#[derive(Clone)]
pub struct Client {
    pub(crate) transport: Arc<Transport>,
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client with the default settings and no credentials.
    pub fn new() -> Result<Client, Error> {
        ClientBuilder::default().build()
    }

    /// How many HTTP requests this client (and its clones) sent, token requests included.
    pub fn round_trips(&self) -> u64 {
        self.transport.round_trips()
    }

    /// The error for an answer that is not the success an operation expects: 404 with the
    /// registry's code, 403, or the status with the registry's error detail.
    pub(crate) fn unexpected(&self, call: &Call, answer: &Answer) -> Error {
        let errors = error::registry_errors(&answer.body);
        match answer.status.as_u16() {
            404 => {
                let (code, message) = errors.into_iter().next().unwrap_or_else(|| ("HTTP 404".into(), String::new()));
                let message = if message.is_empty() { message } else { format!(" ({message})") };
                Error::NotFound { what: call.what.clone(), code, message }
            }
            403 => Error::Denied {
                registry: call.registry.clone(),
                method: call.method,
                what: call.what.clone(),
                detail: error::detail(&answer.body),
            },
            status => Error::Status {
                registry: call.registry.clone(),
                method: call.method,
                what: call.what.clone(),
                status,
                attempts: answer.attempts,
                detail: error::detail(&answer.body),
            },
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("options", &self.transport.options).finish_non_exhaustive()
    }
}

/// Settings for a [`Client`]. Every call is bounded by a timeout; idempotent calls (GET,
/// HEAD, manifest PUT, blob mount) are retried on connection errors, 429 and 5xx.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    options: Options,
    credentials: HashMap<String, Credentials>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            options: Options {
                timeout: Duration::from_secs(30),
                blob_timeout: Duration::from_secs(600),
                connect_timeout: Duration::from_secs(10),
                attempts: 4,
                backoff: Duration::from_millis(250),
                tag_page_size: 1000,
                user_agent: concat!("terrace-registry/", env!("CARGO_PKG_VERSION")).to_owned(),
            },
            credentials: HashMap::new(),
        }
    }
}

impl ClientBuilder {
    /// The longest one call may take, answer included (default 30 s). Token requests too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The longest one blob transfer may take (default 10 min): layers can be large.
    pub fn blob_timeout(mut self, timeout: Duration) -> Self {
        self.options.blob_timeout = timeout;
        self
    }

    /// The longest a TCP and TLS connection may take to open (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// How many times an idempotent call is tried in all (default 4; at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.options.attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry, doubled for each next one, at most 5 s (default 250 ms).
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.options.backoff = backoff;
        self
    }

    /// How many tags to ask for per page when listing (default 1000).
    pub fn tag_page_size(mut self, size: u32) -> Self {
        self.options.tag_page_size = size.max(1);
        self
    }

    /// Credentials for `registry`, the host and port exactly as references name it
    /// (`registry.example.com`, `127.0.0.1:5000`). Used for Basic auth and to get tokens.
    pub fn credentials(mut self, registry: impl Into<String>, credentials: Credentials) -> Self {
        self.credentials.insert(registry.into(), credentials);
        self
    }

    #[cfg(test)]
    pub(crate) fn options(&self) -> Options {
        self.options.clone()
    }

    pub fn build(self) -> Result<Client, Error> {
        Ok(Client { transport: Arc::new(Transport::new(self.options, self.credentials)?) })
    }
}
