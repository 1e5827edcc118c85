//! Registry authentication: credentials that never print, `WWW-Authenticate` challenges
//! (Basic and the Docker token spec's Bearer), token requests to the challenge's realm, and
//! the per-scope token cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Why a registry could not be authenticated against. No variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "{registry} requires authentication for {scope} and no credentials were given for it: give a username and password for {registry}"
    )]
    NoCredentials { registry: String, scope: String },
    #[error(
        "{registry} refused the credentials for {scope} (HTTP {status}): check the username and password given for {registry}"
    )]
    Rejected { registry: String, scope: String, status: u16 },
    #[error("{registry} answered 401 with a WWW-Authenticate header this client cannot read ({reason})")]
    Challenge { registry: String, reason: String },
    #[error("{registry} asks for authentication by `{schemes}`: only Basic and Bearer (Docker token) are supported")]
    UnsupportedScheme { registry: String, schemes: String },
    #[error(
        "{registry} sends credentials to the token service {realm} over plain http: refused \
         (only https, or http on 127.0.0.1, localhost and [::1])"
    )]
    InsecureRealm { registry: String, realm: String },
    #[error(
        "the token service {realm} of {registry} refused the credentials for {scope} (HTTP {status}): check the username and password given for {registry}"
    )]
    TokenRefused { registry: String, realm: String, scope: String, status: u16 },
    #[error("the token service {realm} of {registry} answered HTTP {status} for {scope}")]
    TokenStatus { registry: String, realm: String, scope: String, status: u16 },
    #[error("the token service {realm} of {registry} sent an answer without a token ({reason})")]
    TokenBody { registry: String, realm: String, reason: String },
    #[error("the token service {realm} of {registry} could not be reached: {source}")]
    TokenUnreachable {
        registry: String,
        realm: String,
        #[source]
        source: reqwest::Error,
    },
}

/// A username and password for one registry. Neither is shown by `Debug`, and this crate
/// writes neither into an error or a log line.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials { username: username.into(), password: password.into() }
    }

    pub(crate) fn username(&self) -> &str {
        &self.username
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// One challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    /// The Docker token spec: get a token from `realm` for `service` and `scope`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The challenges of a `WWW-Authenticate` header this client can answer, in the order
/// given. The header grammar (quoted strings, escapes, several challenges in one header) is
/// RFC 7235's, parsed by the `http-auth` crate.
pub fn parse_challenges(registry: &str, header: &str) -> Result<Vec<Challenge>, AuthError> {
    let parsed = http_auth::parse_challenges(header)
        .map_err(|e| AuthError::Challenge { registry: registry.into(), reason: e.to_string() })?;
    let mut known = Vec::new();
    for c in &parsed {
        let param =
            |name: &str| c.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_unescaped());
        if c.scheme.eq_ignore_ascii_case("basic") {
            known.push(Challenge::Basic);
        } else if c.scheme.eq_ignore_ascii_case("bearer") {
            let realm = param("realm").ok_or_else(|| AuthError::Challenge {
                registry: registry.into(),
                reason: "a Bearer challenge without a realm".into(),
            })?;
            known.push(Challenge::Bearer { realm, service: param("service"), scope: param("scope") });
        }
    }
    if known.is_empty() {
        let schemes = parsed.iter().map(|c| c.scheme).collect::<Vec<_>>().join(", ");
        return Err(AuthError::UnsupportedScheme { registry: registry.into(), schemes });
    }
    Ok(known)
}

/// A bearer token. Its text is never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: String,
    expires: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The token spec's answer: `token` (or the OAuth2 name `access_token`), `expires_in`.
#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// The spec's default lifetime when `expires_in` is absent.
const DEFAULT_TOKEN_SECONDS: u64 = 60;
/// Tokens are dropped this long before they expire, so a request never carries one that
/// expires on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// What a token request needs besides the HTTP client.
pub(crate) struct TokenRequest<'a> {
    pub registry: &'a str,
    pub realm: &'a str,
    pub service: Option<&'a str>,
    pub scopes: &'a [String],
    pub credentials: Option<&'a Credentials>,
    pub timeout: Duration,
}

/// Asks the realm for a token (GET with the scopes as query parameters, basic credentials
/// when there are some, anonymous otherwise, as the token spec describes).
pub(crate) async fn fetch_token(http: &reqwest::Client, req: TokenRequest<'_>) -> Result<Token, AuthError> {
    let scope_text = req.scopes.join(" ");
    let realm = url::Url::parse(req.realm).map_err(|e| AuthError::Challenge {
        registry: req.registry.into(),
        reason: format!("realm `{}`: {e}", req.realm),
    })?;
    let loopback = matches!(realm.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if realm.scheme() != "https" && !(realm.scheme() == "http" && loopback) {
        return Err(AuthError::InsecureRealm { registry: req.registry.into(), realm: req.realm.into() });
    }
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = req.service {
        query.push(("service", service));
    }
    for scope in req.scopes {
        query.push(("scope", scope));
    }
    let mut builder = http.get(realm).query(&query).timeout(req.timeout);
    if let Some(c) = req.credentials {
        builder = builder.basic_auth(c.username(), Some(c.password()));
    }
    let answer = builder.send().await.map_err(|source| AuthError::TokenUnreachable {
        registry: req.registry.into(),
        realm: req.realm.into(),
        source: source.without_url(),
    })?;
    let status = answer.status().as_u16();
    if status == 401 || status == 403 {
        return Err(AuthError::TokenRefused {
            registry: req.registry.into(),
            realm: req.realm.into(),
            scope: scope_text,
            status,
        });
    }
    if !answer.status().is_success() {
        return Err(AuthError::TokenStatus {
            registry: req.registry.into(),
            realm: req.realm.into(),
            scope: scope_text,
            status,
        });
    }
    let body_error =
        |reason: String| AuthError::TokenBody { registry: req.registry.into(), realm: req.realm.into(), reason };
    let body = answer.bytes().await.map_err(|e| body_error(e.without_url().to_string()))?;
    let parsed: TokenAnswer = serde_json::from_slice(&body).map_err(|e| body_error(e.to_string()))?;
    let value = parsed.token.or(parsed.access_token).filter(|t| !t.is_empty());
    let value = value.ok_or_else(|| body_error("neither `token` nor `access_token` is set".into()))?;
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(DEFAULT_TOKEN_SECONDS));
    Ok(Token { value, expires: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN) })
}

/// Tokens by registry and scope set: a token is only good for the scopes it was issued for.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<(String, String), Token>>,
}

impl TokenCache {
    pub(crate) fn get(&self, registry: &str, scopes: &[String]) -> Option<Token> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let key = (registry.to_owned(), scope_key(scopes));
        match tokens.get(&key) {
            Some(t) if t.expires > Instant::now() => Some(t.clone()),
            Some(_) => {
                tokens.remove(&key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put(&self, registry: &str, scopes: &[String], token: Token) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert((registry.to_owned(), scope_key(scopes)), token);
    }

    pub(crate) fn forget(&self, registry: &str, scopes: &[String]) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.remove(&(registry.to_owned(), scope_key(scopes)));
    }
}

fn scope_key(scopes: &[String]) -> String {
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.join(" ")
}

/// The scope a registry operation needs, in the token spec's form.
pub(crate) fn repository_scope(path: &str, push: bool) -> String {
    format!("repository:{path}:{}", if push { "pull,push" } else { "pull" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_docker_token_challenge() {
        let header = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push""#;
        let c = parse_challenges("reg", header).unwrap();
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:team/app:pull,push".into()),
            }]
        );
        let several = r#"Newauth realm="x", Basic realm="basic-realm""#;
        assert_eq!(parse_challenges("reg", several).unwrap(), vec![Challenge::Basic]);
        let escaped =
            r#"Bearer realm="https://a/t", error="insufficient_scope", scope="repository:a:pull repository:b:pull""#;
        let Challenge::Bearer { scope, service, .. } = &parse_challenges("reg", escaped).unwrap()[0] else { panic!() };
        assert_eq!((scope.as_deref(), service), (Some("repository:a:pull repository:b:pull"), &None));
    }

    #[test]
    fn refuses_unreadable_or_unknown_challenges_naming_the_registry() {
        let e = parse_challenges("reg.io", "Bearer service=\"x\"").unwrap_err().to_string();
        assert!(e.contains("reg.io") && e.contains("without a realm"), "{e}");
        let e = parse_challenges("reg.io", "Negotiate abc=\"1\"").unwrap_err().to_string();
        assert!(e.contains("`Negotiate`"), "{e}");
        let e = parse_challenges("reg.io", "Bearer realm=\"unterminated").unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Credentials::basic("deploy-bot", "hunter2-secret");
        let shown = format!("{c:?} {:?}", Some(&c));
        assert!(!shown.contains("hunter2") && !shown.contains("deploy-bot"), "{shown}");
        let t = Token { value: "tok-123".into(), expires: Instant::now() };
        assert!(!format!("{t:?}").contains("tok-123"));
    }

    #[test]
    fn cache_keys_on_the_scope_set_and_drops_expired_tokens() {
        let cache = TokenCache::default();
        let scopes = vec!["repository:b:pull".to_string(), "repository:a:pull,push".to_string()];
        let live = Token { value: "t".into(), expires: Instant::now() + Duration::from_secs(60) };
        cache.put("reg", &scopes, live);
        let reversed: Vec<String> = scopes.iter().rev().cloned().collect();
        assert_eq!(cache.get("reg", &reversed).map(|t| t.value), Some("t".into()));
        assert!(cache.get("other", &scopes).is_none());
        assert!(cache.get("reg", &scopes[..1]).is_none());
        cache.put("reg", &scopes, Token { value: "old".into(), expires: Instant::now() });
        assert!(cache.get("reg", &scopes).is_none());
    }
}
