//! A token service as the Docker registry token spec describes it, on 127.0.0.1: `GET
//! /token?service=..&scope=..` with optional Basic credentials answers
//! `{"token", "access_token", "expires_in", "issued_at"}`, the token a JWT signed (ES256)
//! by a key whose self-signed certificate (rcgen) the registry trusts through
//! `rootcertbundle`. Anonymous requests get a token granting nothing; wrong credentials 401.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;

use super::AbortOnDrop;

pub const SERVICE: &str = "terrace-test-registry";
pub const ISSUER: &str = "terrace-test-token-service";

struct Inner {
    key: jsonwebtoken::EncodingKey,
    cert: String,
    user: String,
    password: String,
    requests: AtomicUsize,
}

pub struct TokenServer {
    pub realm: String,
    pub root_pem: PathBuf,
    inner: Arc<Inner>,
    _task: AbortOnDrop,
}

#[derive(Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize)]
struct Claims {
    iss: &'static str,
    sub: String,
    aud: &'static str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

impl Inner {
    fn mint(&self, subject: &str, access: Vec<Access>) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let claims = Claims {
            iss: ISSUER,
            sub: subject.into(),
            aud: SERVICE,
            exp: now + 300,
            nbf: now - 10,
            iat: now,
            jti: format!("{now}-{}", self.requests.load(Ordering::Relaxed)),
            access,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("JWT".into());
        header.x5c = Some(vec![self.cert.clone()]);
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign token")
    }
}

impl TokenServer {
    pub async fn start(dir: &std::path::Path, user: &str, password: &str) -> TokenServer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let cert = rcgen::CertificateParams::new(vec!["terrace-test-token".into()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let root_pem = dir.join("token-root.pem");
        std::fs::write(&root_pem, cert.pem()).expect("write root bundle");
        let inner = Arc::new(Inner {
            key: jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
            cert: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            user: user.into(),
            password: password.into(),
            requests: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind token service");
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/token", axum::routing::get(token)).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TokenServer { realm, root_pem, inner, _task: AbortOnDrop(task) }
    }

    /// How many token requests were answered (any outcome).
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// A token granting pull and push on `repo`, for the test's own pushes.
    pub fn push_token(&self, repo: &str) -> String {
        let access =
            vec![Access { kind: "repository".into(), name: repo.into(), actions: vec!["pull".into(), "push".into()] }];
        self.inner.mint("test-pusher", access)
    }
}

async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    inner.requests.fetch_add(1, Ordering::Relaxed);
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if !pairs.iter().any(|(k, v)| k == "service" && v == SERVICE) {
        return (StatusCode::BAD_REQUEST, "unknown service").into_response();
    }
    let subject = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => {
            let decoded = value
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((u, p)) if u == inner.user && p == inner.password => Some(u.to_owned()),
                _ => return (StatusCode::UNAUTHORIZED, "bad credentials").into_response(),
            }
        }
    };
    // Anonymous callers get a valid token that grants nothing, as registries with
    // anonymous access turned off do.
    let access = match &subject {
        None => Vec::new(),
        Some(_) => pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .filter_map(|(_, scope)| {
                let (kind, rest) = scope.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(Access {
                    kind: kind.into(),
                    name: name.into(),
                    actions: actions.split(',').map(str::to_owned).collect(),
                })
            })
            .collect(),
    };
    let token = inner.mint(subject.as_deref().unwrap_or(""), access);
    axum::Json(serde_json::json!({"token": token, "access_token": token, "expires_in": 300, "issued_at": "2025-01-01T00:00:00Z"}))
        .into_response()
}
