//! Tag pages as the distribution spec documents them (`GET /v2/<name>/tags/list?n=N&last=T`
//! answers the N tags after T and a `Link: <...>; rel="next"` header while more remain),
//! on 127.0.0.1: the reference registry of Debian (distribution 2.8) ignores `n`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;

use super::AbortOnDrop;

struct Inner {
    tags: Vec<String>,
    requests: AtomicUsize,
}

pub struct TagPages {
    pub host: String,
    inner: Arc<Inner>,
    _task: AbortOnDrop,
}

impl TagPages {
    pub async fn start(tags: &[&str]) -> TagPages {
        let mut sorted: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        sorted.sort();
        let inner = Arc::new(Inner { tags: sorted, requests: AtomicUsize::new(0) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().unwrap().to_string();
        let app = axum::Router::new().route("/v2/{*rest}", axum::routing::get(page)).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TagPages { host, inner, _task: AbortOnDrop(task) }
    }

    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::Relaxed)
    }
}

async fn page(
    State(inner): State<Arc<Inner>>,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> axum::response::Response {
    inner.requests.fetch_add(1, Ordering::Relaxed);
    let Some(name) = rest.strip_suffix("/tags/list") else { return axum::http::StatusCode::NOT_FOUND.into_response() };
    let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    let after: Vec<&String> = match query.get("last") {
        Some(last) => inner.tags.iter().filter(|t| *t > last).collect(),
        None => inner.tags.iter().collect(),
    };
    let page: Vec<&String> = after.iter().take(n).copied().collect();
    let body = axum::Json(serde_json::json!({"name": name, "tags": page}));
    if after.len() > page.len() {
        let link = format!("</v2/{name}/tags/list?n={n}&last={}>; rel=\"next\"", page.last().unwrap());
        ([("link", link)], body).into_response()
    } else {
        body.into_response()
    }
}
