//! What the server knows of one connection: whether a request is in flight, since when it
//! has waited for the next one, and since when a request's head has been arriving. The
//! socket and the bodies are wrapped so that these change as bytes move; `listen` reads
//! them to close slow and idle connections and to choose which one to close at the cap.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// One connection's state, shared by its socket, its requests and its supervisor.
#[derive(Debug)]
pub struct ConnState {
    in_flight: AtomicUsize,
    times: Mutex<Times>,
    /// Wakes the supervisor when its deadline may have moved.
    pub changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Times {
    /// Since when no request is in flight (the connection's start, or its last answer).
    free_since: Instant,
    /// When the first byte of the next request's head arrived, if one did.
    head_since: Option<Instant>,
}

impl ConnState {
    pub fn new() -> Arc<ConnState> {
        Arc::new(ConnState {
            in_flight: AtomicUsize::new(0),
            times: Mutex::new(Times { free_since: Instant::now(), head_since: None }),
            changed: Notify::new(),
        })
    }

    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        self.times.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection must be closed unless something happens first: a head that
    /// takes too long, or a wait for the next request that does; never while a request is
    /// in flight (the request timeout bounds those).
    pub fn deadline(&self, header: Duration, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let t = *self.times();
        Some(match t.head_since {
            Some(head) => head + header,
            None => t.free_since + idle,
        })
    }

    /// Since when this connection has waited without a request in flight; None while
    /// one is (such a connection is never closed to make room).
    pub fn waiting_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.times().free_since)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return;
        }
        let mut t = self.times();
        if t.head_since.is_none() {
            t.head_since = Some(Instant::now());
            drop(t);
            self.changed.notify_one();
        }
    }

    /// A request's head was read: it is in flight until its answer is written.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.times().head_since = None;
        self.changed.notify_one();
        InFlight(self.clone())
    }
}

/// Held while a request is in flight: dropped with its answer's body.
pub struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut t = self.0.times();
            t.free_since = Instant::now();
            t.head_since = None;
            drop(t);
        }
        self.0.changed.notify_one();
    }
}

/// The socket, telling the state when bytes arrive.
pub struct Tracked<S> {
    pub inner: S,
    pub state: Arc<ConnState>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An answer's body that keeps its request in flight until hyper has written it all.
pub struct Answer {
    pub inner: axum::body::Body,
    pub _in_flight: InFlight,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request's body that records whether it was read to its end: an answer given before
/// then must close the connection (`Connection: close`), or the client would send its next
/// request on a connection that hyper is about to close.
pub struct Upload<B> {
    pub inner: B,
    pub finished: Arc<AtomicBool>,
}

impl<B: Body + Unpin> Body for Upload<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
