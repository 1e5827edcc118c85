//! Accepting connections and serving them with hyper, within the server's limits: a
//! request head must arrive within `header_timeout` of its first byte, a connection waits
//! at most `idle_timeout` for its next request, and at most `max_connections` are open.
//! At the cap, the connection that has waited longest without a request in flight is
//! closed to make room, so a crowd of idle or slow clients cannot keep `/healthz` (or
//! anyone) out; when every connection has a request in flight, new ones wait in the
//! listen backlog. Hyper has no idle timeout apart from its header timeout, hence this.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::conn::{Answer, ConnState, Tracked, Upload};
use crate::app::AppError;
use crate::config::HttpLimits;

/// The open connections, to pick one to close at the cap.
#[derive(Default)]
struct Open {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, (Arc<ConnState>, CancellationToken)>>,
}

impl Open {
    fn add(&self, state: Arc<ConnState>, close: CancellationToken) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (state, close));
        id
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Closes the connection that has waited longest without a request in flight.
    fn close_longest_waiting(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = conns
            .values()
            .filter(|(_, close)| !close.is_cancelled())
            .filter_map(|(state, close)| state.waiting_since().map(|since| (since, close)))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, close)) => {
                close.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets the requests in flight end.
pub async fn serve(listener: TcpListener, router: Router, limits: HttpLimits, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(Open::default());
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (the cap is above `ulimit -n`?): make room, then go on.
                tracing::warn!(error = %e, "cannot accept a connection");
                open.close_longest_waiting();
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => continue,
                }
            }
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                open.close_longest_waiting();
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                }
            }
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(stream, peer, permit, router.clone(), limits.clone(), open.clone(), shutdown.clone()));
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// One connection, closed when its deadline passes, when it is chosen to make room, or
/// (gracefully, after its request in flight) when the server stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    router: Router,
    limits: HttpLimits,
    open: Arc<Open>,
    shutdown: CancellationToken,
) {
    let state = ConnState::new();
    let close = CancellationToken::new();
    let id = open.add(state.clone(), close.clone());
    let io = TokioIo::new(Tracked { inner: stream, state: state.clone() });
    let service = {
        let state = state.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| answer(req, peer, state.clone(), router.clone()))
    };
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = state.deadline(limits.header_timeout, limits.idle_timeout);
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = state.changed.notified() => {}
            _ = close.cancelled() => break,
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = sleep_until(deadline) => {
                if state.deadline(limits.header_timeout, limits.idle_timeout).is_some_and(|d| d <= tokio::time::Instant::now()) {
                    break;
                }
            }
        }
    }
    open.remove(id);
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One request: in flight from its head to its answer's last byte. A body announced over
/// the limit is refused before it is read; an answer given before the body was read to
/// its end closes the connection.
async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    state: Arc<ConnState>,
    mut router: Router,
) -> Result<Response<Body>, Infallible> {
    let in_flight = state.begin();
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > super::BODY_LIMIT as u64) {
        let mut response = AppError::TooLarge { limit: super::BODY_LIMIT }.into_response();
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response.map(|b| Body::new(Answer { inner: b, _in_flight: in_flight })));
    }
    let has_body = !http_body::Body::is_end_stream(req.body());
    let finished = Arc::new(AtomicBool::new(false));
    let mut req = req.map(|b| Body::new(Upload { inner: b, finished: finished.clone() }));
    req.extensions_mut().insert(ConnectInfo(peer));
    let mut response = match router.call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    if has_body && !finished.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response.map(|b| Body::new(Answer { inner: b, _in_flight: in_flight })))
}
