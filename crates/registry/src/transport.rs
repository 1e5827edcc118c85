//! The HTTP exchange with registries: the scheme (https, http only on loopback), a timeout on
//! every call, retries with backoff for idempotent calls on connection errors and 5xx,
//! answering 401 challenges (Basic, or a Bearer token per scope, cached) and retrying once,
//! and the round-trip count the benchmark reads. Only method, path and status are logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use url::Url;

use crate::auth::{self, AuthError, Challenge, Credentials, TokenCache, TokenRequest};
use crate::error::{self, Error};
use crate::reference::is_loopback_host;

/// Settings of a [`crate::Client`]; see [`crate::ClientBuilder`] for their meaning.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub timeout: Duration,
    pub blob_timeout: Duration,
    pub connect_timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
    pub tag_page_size: u32,
    pub user_agent: String,
}

/// The longest wait between two attempts, whatever the attempt number.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Error bodies, tag pages and manifests are small; more is a broken or hostile registry.
pub(crate) const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// How a registry asked to be authenticated last time, so later calls answer up front
/// instead of paying a 401 round trip per new scope.
#[derive(Clone)]
enum Scheme {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

pub(crate) struct Transport {
    http: reqwest::Client,
    pub(crate) options: Options,
    credentials: HashMap<String, Credentials>,
    tokens: TokenCache,
    schemes: Mutex<HashMap<String, Scheme>>,
    round_trips: AtomicU64,
}

/// One registry call. `what` names the object for errors (`manifest REG/REPO:TAG`).
pub(crate) struct Call {
    pub method: &'static str,
    pub registry: String,
    pub url: Url,
    pub what: String,
    pub scopes: Vec<String>,
    pub accept: Option<&'static str>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    pub body: Option<Bytes>,
    pub idempotent: bool,
    pub timeout: Duration,
}

impl Call {
    /// A call without body or extra headers, retried when `idempotent`.
    pub(crate) fn new(method: &'static str, registry: &str, url: Url, what: String, scopes: Vec<String>) -> Call {
        Call {
            method,
            registry: registry.to_owned(),
            url,
            what,
            scopes,
            accept: None,
            content_type: None,
            content_length: None,
            body: None,
            idempotent: true,
            timeout: Duration::ZERO,
        }
    }
}

/// A registry's answer, body read (bounded by [`MAX_ANSWER_BYTES`]).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub attempts: u32,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The Authorization a request carries.
enum Authorization {
    Basic(Credentials),
    Bearer(String),
}

/// What one attempt produced.
enum Reply {
    Full(Answer),
    Stream(reqwest::Response),
}

impl Transport {
    pub(crate) fn new(options: Options, credentials: HashMap<String, Credentials>) -> Result<Transport, Error> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            // reqwest drops Authorization when a redirect leaves the host (blob downloads
            // redirected to object storage), so following them leaks no credential.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| Error::Setup { reason: error::chain(&e) })?;
        Ok(Transport {
            http,
            options,
            credentials,
            tokens: TokenCache::default(),
            schemes: Mutex::default(),
            round_trips: AtomicU64::new(0),
        })
    }

    pub(crate) fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// `https://REGISTRY/v2/PATH`, or `http://` for a loopback registry.
    pub(crate) fn url(&self, registry: &str, path: &str) -> Url {
        let scheme = if is_loopback_host(registry) { "http" } else { "https" };
        // The registry and path were validated by `Reference`/`Repository`, so this parses.
        Url::parse(&format!("{scheme}://{registry}/v2/{path}")).expect("a validated registry and path form a URL")
    }

    /// Sends `call`, retrying and authenticating as needed, and reads the whole answer.
    /// 401 and retryable failures are handled here; any other status is the caller's.
    pub(crate) async fn send(&self, call: &Call) -> Result<Answer, Error> {
        match self.exchange(call, false).await? {
            Reply::Full(answer) => Ok(answer),
            Reply::Stream(_) => unreachable!("exchange only streams when asked to"),
        }
    }

    /// Like [`Transport::send`], but a 2xx answer's body is left to the caller to stream.
    pub(crate) async fn open(&self, call: &Call) -> Result<Result<reqwest::Response, Answer>, Error> {
        match self.exchange(call, true).await? {
            Reply::Stream(response) => Ok(Ok(response)),
            Reply::Full(answer) => Ok(Err(answer)),
        }
    }

    /// Sends a body that can be read only once (a blob streamed from another repository):
    /// one attempt, with the authorization already earned by the call before it.
    pub(crate) async fn send_once(&self, call: &Call, body: reqwest::Body) -> Result<Answer, Error> {
        let authorization = self.authorization(&call.registry, &call.scopes).await?;
        let request = self.request(call, authorization).body(body);
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let answer = match request.send().await {
            Ok(response) => read(response, 1).await,
            Err(e) => Err(e),
        };
        let answer = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(too_large)) => return Err(too_large.into_error(call)),
            Err(e) => return Err(self.unreachable(call, 1, e)),
        };
        tracing::debug!(method = call.method, url = %call.url.path(), status = answer.status.as_u16(), "registry");
        if answer.status == StatusCode::UNAUTHORIZED {
            return Err(self.refused(call).into());
        }
        Ok(answer)
    }

    async fn exchange(&self, call: &Call, stream: bool) -> Result<Reply, Error> {
        let mut attempt = 0;
        let mut authenticated = false;
        loop {
            attempt += 1;
            let authorization = self.authorization(&call.registry, &call.scopes).await?;
            let sent_credentials = authorization.is_some();
            let mut request = self.request(call, authorization);
            if let Some(body) = &call.body {
                request = request.body(body.clone());
            }
            self.round_trips.fetch_add(1, Ordering::Relaxed);
            let reply = match request.send().await {
                Ok(response) if stream && response.status().is_success() => Ok(Ok(Reply::Stream(response))),
                Ok(response) => read(response, attempt).await.map(|r| r.map(Reply::Full)),
                Err(e) => Err(e),
            };
            let answer = match reply {
                Ok(Ok(Reply::Stream(response))) => {
                    tracing::debug!(method = call.method, url = %call.url.path(), status = response.status().as_u16(), "registry");
                    return Ok(Reply::Stream(response));
                }
                Ok(Ok(Reply::Full(answer))) => answer,
                Ok(Err(too_large)) => return Err(too_large.into_error(call)),
                Err(_) if call.idempotent && attempt < self.options.attempts => {
                    tracing::debug!(method = call.method, url = %call.url.path(), attempt, "registry unreachable, retrying");
                    self.back_off(attempt).await;
                    continue;
                }
                Err(e) => return Err(self.unreachable(call, attempt, e)),
            };
            tracing::debug!(method = call.method, url = %call.url.path(), status = answer.status.as_u16(), "registry");
            let status = answer.status;
            if status == StatusCode::UNAUTHORIZED {
                if authenticated {
                    return Err(self.refused(call).into());
                }
                self.authenticate(call, &answer, sent_credentials).await?;
                authenticated = true;
                // Answering a challenge is not a failed attempt.
                attempt -= 1;
                continue;
            }
            let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            if retryable && call.idempotent && attempt < self.options.attempts {
                self.back_off(attempt).await;
                continue;
            }
            if retryable {
                return Err(Error::Status {
                    registry: call.registry.clone(),
                    method: call.method,
                    what: call.what.clone(),
                    status: status.as_u16(),
                    attempts: attempt,
                    detail: error::detail(&answer.body),
                });
            }
            return Ok(Reply::Full(answer));
        }
    }

    fn request(&self, call: &Call, authorization: Option<Authorization>) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(call.method.as_bytes()).expect("a constant HTTP method");
        let timeout = if call.timeout.is_zero() { self.options.timeout } else { call.timeout };
        let mut request = self.http.request(method, call.url.clone()).timeout(timeout);
        // reqwest marks both headers sensitive: they never show in its Debug output.
        request = match authorization {
            Some(Authorization::Basic(c)) => request.basic_auth(c.username(), Some(c.password())),
            Some(Authorization::Bearer(token)) => request.bearer_auth(token),
            None => request,
        };
        if let Some(accept) = call.accept {
            request = request.header(header::ACCEPT, accept);
        }
        if let Some(content_type) = &call.content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(length) = call.content_length {
            request = request.header(header::CONTENT_LENGTH, length);
        }
        request
    }

    /// The Authorization header for a call, from what the registry asked for before: a
    /// cached token for these scopes (fetched now if the scopes are new), or Basic.
    async fn authorization(&self, registry: &str, scopes: &[String]) -> Result<Option<Authorization>, Error> {
        let scheme = self.schemes.lock().unwrap_or_else(|p| p.into_inner()).get(registry).cloned();
        let credentials = self.credentials.get(registry);
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => Ok(credentials.cloned().map(Authorization::Basic)),
            Some(Scheme::Bearer { realm, service }) => {
                if let Some(token) = self.tokens.get(registry, scopes) {
                    return Ok(Some(Authorization::Bearer(token.value)));
                }
                let token = self.fetch_token(registry, &realm, service.as_deref(), scopes, scopes).await?;
                Ok(Some(Authorization::Bearer(token)))
            }
        }
    }

    /// Answers a 401: remembers the scheme the registry asked for, and for Bearer fetches a
    /// token for the scopes the challenge names (ours when it names none).
    async fn authenticate(&self, call: &Call, answer: &Answer, sent_credentials: bool) -> Result<(), Error> {
        let registry = call.registry.as_str();
        let header: Vec<&str> =
            answer.headers.get_all(header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).collect();
        if header.is_empty() {
            return Err(Error::Protocol {
                registry: registry.into(),
                method: call.method,
                what: call.what.clone(),
                reason: "HTTP 401 without a WWW-Authenticate challenge".into(),
            });
        }
        let challenges = auth::parse_challenges(registry, &header.join(", "))?;
        let bearer = challenges.iter().find(|c| matches!(c, Challenge::Bearer { .. }));
        let remember = |scheme| self.schemes.lock().unwrap_or_else(|p| p.into_inner()).insert(registry.into(), scheme);
        match bearer {
            Some(Challenge::Bearer { realm, service, scope }) => {
                remember(Scheme::Bearer { realm: realm.clone(), service: service.clone() });
                // A token that was sent and refused may have expired: never reuse it.
                self.tokens.forget(registry, &call.scopes);
                let wanted: Vec<String> = match scope {
                    Some(s) => s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                    None => call.scopes.clone(),
                };
                self.fetch_token(registry, realm, service.as_deref(), &wanted, &call.scopes).await?;
                Ok(())
            }
            _ => {
                remember(Scheme::Basic);
                if sent_credentials || !self.credentials.contains_key(registry) {
                    return Err(self.refused(call).into());
                }
                Ok(())
            }
        }
    }

    /// Fetches a token for `wanted` and caches it under `cache_as` (the scopes of the call).
    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        wanted: &[String],
        cache_as: &[String],
    ) -> Result<String, Error> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let request = TokenRequest {
            registry,
            realm,
            service,
            scopes: wanted,
            credentials: self.credentials.get(registry),
            timeout: self.options.timeout,
        };
        let token = auth::fetch_token(&self.http, request).await?;
        let value = token.value.clone();
        self.tokens.put(registry, cache_as, token);
        Ok(value)
    }

    /// The error for a 401 that answering the challenge did not cure.
    fn refused(&self, call: &Call) -> AuthError {
        let scope = call.scopes.join(" ");
        if self.credentials.contains_key(&call.registry) {
            AuthError::Rejected { registry: call.registry.clone(), scope, status: 401 }
        } else {
            AuthError::NoCredentials { registry: call.registry.clone(), scope }
        }
    }

    fn unreachable(&self, call: &Call, attempts: u32, e: reqwest::Error) -> Error {
        let reason = if e.is_timeout() {
            format!("no answer within {:?}", if call.timeout.is_zero() { self.options.timeout } else { call.timeout })
        } else {
            error::chain(&e.without_url())
        };
        Error::Unreachable {
            registry: call.registry.clone(),
            method: call.method,
            what: call.what.clone(),
            attempts,
            reason,
        }
    }

    async fn back_off(&self, attempt: u32) {
        let delay = self.options.backoff.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_BACKOFF);
        tokio::time::sleep(delay).await;
    }
}

/// An answer whose body went past [`MAX_ANSWER_BYTES`].
pub(crate) struct TooLarge {
    status: StatusCode,
}

impl TooLarge {
    fn into_error(self, call: &Call) -> Error {
        Error::Protocol {
            registry: call.registry.clone(),
            method: call.method,
            what: call.what.clone(),
            reason: format!("an HTTP {} answer over {MAX_ANSWER_BYTES} bytes", self.status.as_u16()),
        }
    }
}

/// Reads a whole answer, refusing more than [`MAX_ANSWER_BYTES`].
async fn read(mut response: reqwest::Response, attempts: u32) -> Result<Result<Answer, TooLarge>, reqwest::Error> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > MAX_ANSWER_BYTES {
            return Ok(Err(TooLarge { status }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(Answer { status, headers, body: body.freeze(), attempts }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_registries() {
        let transport = Transport::new(crate::ClientBuilder::default().options(), HashMap::new()).unwrap();
        for (registry, scheme) in [
            ("127.0.0.1:5000", "http"),
            ("localhost", "http"),
            ("[::1]:5000", "http"),
            ("registry.example.com", "https"),
            ("10.0.0.1:5000", "https"),
            ("localhost.example.com", "https"),
        ] {
            assert_eq!(transport.url(registry, "app/manifests/v1").scheme(), scheme, "{registry}");
        }
    }
}
