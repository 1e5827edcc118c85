//! The HTTP side of both clients: a base URL, a token in a sensitive header, bounded
//! timeouts, and retries with backoff on 5xx, transport errors and rate limits (waiting
//! for `Retry-After` or the rate-limit reset when it is near enough).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::{ApiError, ApiOptions, Token};
use crate::event::Forge;

/// Whether a request may be sent again after a failure whose effect is unknown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    Safe,
    Never,
}

/// A successful answer.
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone)]
pub(crate) struct Http {
    pub forge: Forge,
    client: reqwest::Client,
    base: Url,
    token: Token,
    options: ApiOptions,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").field("forge", &self.forge).field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl Http {
    pub fn new(
        forge: Forge,
        base_url: &str,
        token: Token,
        options: ApiOptions,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Http, ApiError> {
        let config = |message: String| ApiError::Config { forge, message };
        let base = Url::parse(base_url).map_err(|e| config(format!("base URL `{base_url}`: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() || !base.username().is_empty() {
            return Err(config(format!("base URL `{base_url}` must be an http(s) URL without credentials")));
        }
        let mut defaults = HeaderMap::new();
        for (name, value) in headers {
            defaults.insert(*name, HeaderValue::from_static(value));
        }
        let mut auth = HeaderValue::try_from(format!("Bearer {}", token.expose()))
            .map_err(|_| config("the token holds characters a header cannot carry".into()))?;
        auth.set_sensitive(true);
        defaults.insert(reqwest::header::AUTHORIZATION, auth);
        let client = reqwest::Client::builder()
            .user_agent(concat!("terrace/", env!("CARGO_PKG_VERSION")))
            .default_headers(defaults)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| config(format!("HTTP client: {e}")))?;
        Ok(Http { forge, client, base, token, options })
    }

    /// The base URL followed by `segments`, each percent-encoded as one segment.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("checked in new").pop_if_empty().extend(segments);
        url
    }

    /// Whether `url` is on the API's own origin: a `Link` elsewhere is not followed with the token.
    pub fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.base.origin() && url.path().starts_with(self.base.path().trim_end_matches('/'))
    }

    pub fn max_retries(&self) -> u32 {
        self.options.max_retries
    }

    pub async fn get(&self, url: Url) -> Result<Answer, ApiError> {
        self.send(Method::GET, url, None, Retry::Safe).await
    }

    /// Sends, retrying what may be retried, and returns a 2xx answer or the error.
    pub async fn send(&self, method: Method, url: Url, body: Option<&Value>, retry: Retry) -> Result<Answer, ApiError> {
        let mut attempt = 0;
        loop {
            let err = match self.once(&method, &url, body).await {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            let wait = match &err {
                ApiError::RateLimited { retry_after: Some(after), .. } => *after,
                e if e.retryable() => self.backoff(attempt),
                _ => return Err(err),
            };
            let unknown_effect = !matches!(err, ApiError::RateLimited { .. });
            if (retry == Retry::Never && unknown_effect)
                || attempt >= self.options.max_retries
                || wait > self.options.max_wait
            {
                return Err(err);
            }
            tracing::debug!(forge = %self.forge, %method, path = url.path(), attempt, ?wait, "retrying: {err}");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The wait before retry `attempt + 1`, for callers that retry a sequence of requests.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.options.backoff.saturating_mul(1 << attempt.min(16)).min(self.options.max_wait)
    }

    async fn once(&self, method: &Method, url: &Url, body: Option<&Value>) -> Result<Answer, ApiError> {
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport(method, url, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| self.transport(method, url, e))?;
        if status.is_success() {
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
                    forge: self.forge,
                    method: method.to_string(),
                    path: url.path().to_string(),
                    message: format!("not JSON ({e})"),
                })?
            };
            return Ok(Answer { headers, body });
        }
        let (method, path) = (method.to_string(), url.path().to_string());
        if let Some(retry_after) = rate_limited(status, &headers) {
            return Err(ApiError::RateLimited { forge: self.forge, method, path, retry_after });
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| ["message", "error"].iter().find_map(|k| v.get(*k).map(message_text)))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
        let message = super::truncate(&message.replace(self.token.expose(), "***"), 300);
        Err(ApiError::Status { forge: self.forge, method, path, status: status.as_u16(), message })
    }

    fn transport(&self, method: &Method, url: &Url, err: reqwest::Error) -> ApiError {
        let kind = if err.is_timeout() { "timed out" } else { "no answer" };
        ApiError::Transport {
            forge: self.forge,
            method: method.to_string(),
            path: url.path().to_string(),
            message: format!("{kind}: {}", err.without_url()),
        }
    }
}

fn message_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `Some(wait)` when the answer is a rate limit: 429, or 403 with `Retry-After` or an
/// exhausted `X-RateLimit-Remaining` (GitHub's primary and secondary limits).
fn rate_limited(status: StatusCode, headers: &HeaderMap) -> Option<Option<Duration>> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = text("retry-after").and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
    let exhausted = text("x-ratelimit-remaining") == Some("0") || text("ratelimit-remaining") == Some("0");
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (retry_after.is_some() || exhausted));
    if !limited {
        return None;
    }
    let until_reset = text("x-ratelimit-reset")
        .or_else(|| text("ratelimit-reset"))
        .and_then(|s| s.parse::<u64>().ok())
        .map(|reset| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            Duration::from_secs(reset.saturating_sub(now))
        });
    Some(retry_after.or(until_reset))
}
