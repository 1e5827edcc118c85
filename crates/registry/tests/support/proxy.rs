//! An HTTP proxy on 127.0.0.1 in front of a registry, for the failures a real registry does
//! not produce on demand: a rule sees each request (method, path and query) before it is
//! forwarded and may rewrite it (drop a mount request's parameters, as a registry without
//! mount support would) or act (kill the registry mid-operation); a tamper hook may alter
//! an answer's headers (a registry that announces the wrong digest). An upstream that does not
//! answer gets 502 Bad Gateway, as from a load balancer in front of a dead registry.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AbortOnDrop;

pub type Rule = Arc<dyn Fn(&str, &str) -> String + Send + Sync>;
/// Sees each answer's headers (with the request's method and path) before they go back.
pub type Tamper = Arc<dyn Fn(&str, &str, &mut axum::http::HeaderMap) + Send + Sync>;

struct Inner {
    upstream: String,
    host: String,
    rule: Rule,
    tamper: Option<Tamper>,
    http: reqwest::Client,
}

pub struct Proxy {
    pub host: String,
    _task: AbortOnDrop,
}

impl Proxy {
    pub async fn start(upstream: &str, rule: Rule) -> Proxy {
        Proxy::start_tampering(upstream, rule, None).await
    }

    pub async fn start_tampering(upstream: &str, rule: Rule, tamper: Option<Tamper>) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let host = listener.local_addr().unwrap().to_string();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let inner = Arc::new(Inner { upstream: upstream.into(), host: host.clone(), rule, tamper, http });
        let app = axum::Router::new().fallback(forward).with_state(inner);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy { host, _task: AbortOnDrop(task) }
    }
}

async fn forward(axum::extract::State(inner): axum::extract::State<Arc<Inner>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let path = (inner.rule)(parts.method.as_str(), &path);
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut upstream = inner.http.request(parts.method.clone(), format!("http://{}{path}", inner.upstream)).body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    // The registry builds its Location headers from this: uploads come back through here.
    upstream = upstream.header("x-forwarded-host", &inner.host).header("x-forwarded-proto", "http");
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(bytes) = answer.bytes().await else { return StatusCode::BAD_GATEWAY.into_response() };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != "transfer-encoding" && name != "connection" {
            response.headers_mut().append(name, value.clone());
        }
    }
    if let Some(tamper) = &inner.tamper {
        tamper(parts.method.as_str(), &path, response.headers_mut());
    }
    response
}
