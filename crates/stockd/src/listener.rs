//! Accepting connections: how long a client may take over a request's head
//! and between requests, how many connections may be open at once, and the
//! error body on the refusals hyper makes itself.
//!
//! Connections are served by hyper's HTTP/1 server directly (axum's `serve`
//! sets none of these limits). The timeouts are kept by [`Watched`], the
//! connection's socket as hyper sees it: a connection's first request must
//! have its line and headers in within `header_read_timeout` of the
//! connection's start; after a response, the connection may wait
//! `idle_timeout` for the next request's first byte, and then has
//! `header_read_timeout` again. While a request is being answered (its
//! handler runs, its response streams) neither applies: the request timeout
//! and the event streams' own limits do. hyper's `header_read_timeout` alone
//! would not do: it restarts as soon as a response is sent, so it would also
//! be the idle timeout.
//!
//! Over `connections_max`, a new connection is closed as soon as it is
//! accepted: the client learns at once, instead of waiting in the kernel's
//! backlog for a slot that a kept-alive connection may hold for a long time.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use futures_util::task::AtomicWaker;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use stock_http::error::{error_bytes, ApiError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The listener's limits (`server.*`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From a request's first byte (the connection's start, for its first
    /// request) to the end of its headers.
    pub header_read_timeout: Duration,
    /// A kept-alive connection's wait for its next request.
    pub idle_timeout: Duration,
    pub connections_max: usize,
    /// Header fields a request may have (431 beyond).
    pub headers_max: usize,
    /// Bytes of a request's line and headers together (431 beyond).
    pub header_bytes_max: usize,
}

/// How often, at most, connections closed for the connection limit are logged.
const REFUSALS_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// The wait after an accept fails for want of resources (file descriptors,
/// memory) before accepting again.
const ACCEPT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `stop` completes; then accepts no more
/// connections, lets each finish the request it is answering (kept-alive
/// ones close) and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.connections_max));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.header_read_timeout(None)
        .max_headers(limits.headers_max)
        .max_header_size(limits.header_bytes_max)
        // One buffer per write, so that a refusal's head is seen whole (see `refusal`).
        .writev(false);
    let mut refusals = Refusals::default();
    let mut stop = pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refusals.count(limits.connections_max);
            drop(stream);
            continue;
        };
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity), limits));
        let app = app.clone();
        // Each request: the router, told the peer's address, the request
        // counted as being answered until its response has been sent.
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let answering = Answering::start(&activity);
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await?;
                Ok::<_, Infallible>(response.map(|body| Counted {
                    body,
                    _answering: answering,
                }))
            }
        });
        let connection = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error = %error, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Accept errors that concern one connection are passed over; others (no
/// file descriptors left, no memory) are logged and waited out.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, wait_ms = ACCEPT_RETRY_WAIT.as_millis() as u64, "accepting a connection failed");
    tokio::time::sleep(ACCEPT_RETRY_WAIT).await;
}

/// Connections closed for the connection limit, logged now and then.
#[derive(Default)]
struct Refusals {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    fn count(&mut self, connections_max: usize) {
        self.since_logged += 1;
        let due = self
            .logged_at
            .is_none_or(|at| at.elapsed() >= REFUSALS_LOG_INTERVAL);
        if due {
            tracing::warn!(
                connections_max,
                closed = self.since_logged,
                "connections closed on arrival: server.connections_max are open"
            );
            self.since_logged = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}

/// What a connection's requests tell its socket: whether one is being
/// answered.
#[derive(Default)]
struct Activity {
    /// Requests whose response has not been sent in full.
    in_flight: AtomicUsize,
    /// Requests answered (or given up) so far.
    finished: AtomicU64,
    /// The connection's task, woken when a request is finished so that the
    /// wait for the next one is timed from then.
    task: AtomicWaker,
}

/// A request being answered, counted in [`Activity::in_flight`] until it is
/// dropped: with its response body, once hyper has sent it all.
struct Answering(Arc<Activity>);

impl Answering {
    fn start(activity: &Arc<Activity>) -> Answering {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        Answering(Arc::clone(activity))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.task.wake();
    }
}

/// A response body that keeps its request counted until hyper drops it.
pub struct Counted {
    body: Body,
    _answering: Answering,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What a connection is doing, as its timeouts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request's line and headers (or waiting for a new
    /// connection's first request): `header_read_timeout`.
    Head,
    /// Kept alive after a response, no byte of the next request yet:
    /// `idle_timeout`.
    Idle,
    /// A request is being answered: no timeout here.
    Answering,
}

/// A connection's socket, with its timeouts, and hyper's own empty refusals
/// replaced by the error body.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    limits: Limits,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// [`Activity::finished`] when last looked at.
    finished_seen: u64,
    /// Bytes came while a request was being answered: the next request has begun.
    read_while_answering: bool,
    /// The error response written instead of hyper's, and how much of it is out.
    refusal: Option<(Vec<u8>, usize)>,
}

impl Watched {
    fn new(stream: TcpStream, activity: Arc<Activity>, limits: Limits) -> Watched {
        Watched {
            stream,
            activity,
            limits,
            phase: Phase::Head,
            deadline: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
            finished_seen: 0,
            read_while_answering: false,
            refusal: None,
        }
    }

    /// Follows the connection's requests: answering one, or done with one
    /// since last looked at.
    fn follow(&mut self, cx: &Context<'_>) {
        if self.activity.in_flight.load(Ordering::SeqCst) > 0 {
            self.phase = Phase::Answering;
            self.activity.task.register(cx.waker());
            return;
        }
        let finished = self.activity.finished.load(Ordering::SeqCst);
        if finished == self.finished_seen {
            return;
        }
        self.finished_seen = finished;
        if std::mem::take(&mut self.read_while_answering) {
            self.start(Phase::Head);
        } else {
            self.start(Phase::Idle);
        }
    }

    fn start(&mut self, phase: Phase) {
        let wait = match phase {
            Phase::Head => self.limits.header_read_timeout,
            Phase::Idle => self.limits.idle_timeout,
            Phase::Answering => return,
        };
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + wait);
    }

    fn on_bytes(&mut self) {
        match self.phase {
            Phase::Idle => self.start(Phase::Head),
            Phase::Answering => self.read_while_answering = true,
            Phase::Head => {}
        }
    }

    fn timed(&self) -> bool {
        self.phase != Phase::Answering
    }

    fn timed_out(&self) -> io::Error {
        let what = match self.phase {
            Phase::Idle => "server.idle_timeout_s: no request on a kept-alive connection",
            _ => "server.header_read_timeout_ms: a request's headers took too long",
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }

    /// Writes what is left of the refusal written in place of hyper's.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Watched {
            stream, refusal, ..
        } = self;
        while let Some((bytes, written)) = refusal {
            if *written == bytes.len() {
                *refusal = None;
                break;
            }
            let n = ready!(Pin::new(&mut *stream).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.follow(cx);
        // Checked before reading too, so that a client sending a byte now
        // and then is cut off all the same.
        if this.timed() && Instant::now() >= this.deadline.deadline() {
            return Poll::Ready(Err(this.timed_out()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        match read {
            Poll::Ready(Ok(())) if buf.filled().len() > before => this.on_bytes(),
            Poll::Pending if this.timed() && this.deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(this.timed_out()));
            }
            _ => {}
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_refusal(cx))?;
        if this.activity.in_flight.load(Ordering::SeqCst) == 0 {
            if let Some(replacement) = refusal(buf, &this.limits) {
                // Taken as written; it goes out in its place, by the flush
                // that follows if not at once.
                this.refusal = Some((replacement, 0));
                let _ = this.poll_refusal(cx)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_refusal(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_refusal(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// The most header fields of a refusal hyper writes (it writes two:
/// `content-length` and `date`).
const REFUSAL_HEADERS_MAX: usize = 8;

/// When `written` is hyper's own answer to a request it could not read (a
/// response head, no body, and no `X-Trace-Id`, which every response of the
/// router carries), the same refusal with the error body instead.
///
/// hyper answers a request line or header it cannot parse with 400, too
/// many or too long headers with 431 and an over-long URI with 414, each
/// with an empty body, and then closes the connection; it has no hook to
/// answer otherwise.
fn refusal(written: &[u8], limits: &Limits) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; REFUSAL_HEADERS_MAX];
    let mut head = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(length) = head.parse(written).ok()? else {
        return None;
    };
    if length != written.len() {
        return None;
    }
    let status = StatusCode::from_u16(head.code?).ok()?;
    let from_router = head.headers.iter().any(|header| {
        header
            .name
            .eq_ignore_ascii_case(stock_http::trace::TRACE_HEADER)
    });
    let empty = head
        .headers
        .iter()
        .any(|header| header.name.eq_ignore_ascii_case("content-length") && header.value == b"0");
    if from_router || !empty {
        return None;
    }
    let error = match status {
        StatusCode::BAD_REQUEST => ApiError::new(
            status,
            "BAD_REQUEST",
            "the request is not well-formed HTTP/1.1 (its request line or a header cannot be read)",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::new(
            status,
            "HEADERS_TOO_LARGE",
            format!(
                "the request's headers are too many or too long: at most {} fields and {} bytes with the request line",
                limits.headers_max, limits.header_bytes_max
            ),
        ),
        StatusCode::URI_TOO_LONG => ApiError::new(status, "URI_TOO_LONG", "the request's URI is too long"),
        _ => return None,
    };
    let body = error_bytes(&error);
    let mut replacement = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    )
    .into_bytes();
    for header in head.headers.iter() {
        if header.name.eq_ignore_ascii_case("date") {
            replacement.extend_from_slice(b"date: ");
            replacement.extend_from_slice(header.value);
            replacement.extend_from_slice(b"\r\n");
        }
    }
    replacement.extend_from_slice(b"\r\n");
    replacement.extend_from_slice(&body);
    Some(replacement)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        connections_max: 1,
        headers_max: 100,
        header_bytes_max: 32 * 1024,
    };

    fn body_of(response: &[u8]) -> serde_json::Value {
        let text = std::str::from_utf8(response).unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn hyper_s_empty_refusals_get_the_error_body() {
        let hyper_s =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 03 May 2026 10:00:00 GMT\r\n\r\n";
        let replaced = refusal(hyper_s, &LIMITS).expect("replaced");
        let text = String::from_utf8_lossy(&replaced);
        assert!(
            text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{text}"
        );
        assert!(
            text.contains("content-type: application/json\r\n"),
            "{text}"
        );
        assert!(
            text.contains("date: Sun, 03 May 2026 10:00:00 GMT\r\n"),
            "{text}"
        );
        assert_eq!(body_of(&replaced)["error"]["code"], "HEADERS_TOO_LARGE");
        let bad = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            body_of(&refusal(bad, &LIMITS).unwrap())["error"]["code"],
            "BAD_REQUEST"
        );
    }

    #[test]
    fn responses_of_the_router_are_left_alone() {
        for written in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-trace-id: abc\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Req",
            b"{\"a\": 1}",
        ] {
            assert!(refusal(written, &LIMITS).is_none(), "{}", String::from_utf8_lossy(written));
        }
    }
}
