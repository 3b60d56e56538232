//! Copies a tunnel's bytes both ways between its TLS side and its plain side, in one task,
//! until both sides have closed: a clean close (close_notify, FIN, end of a pipe) is passed
//! on as a clean close (a half-close: the other direction goes on), an abort (a reset, a TLS
//! connection cut without close_notify) as an abort, which ends the tunnel at once. Each
//! direction has its own idle limit. A direction holds a buffer only while it carries data:
//! an idle tunnel holds none.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_openssl::SslStream;

use crate::tls;

/// How much a direction reads before it writes: four whole TLS records, which the TLS
/// side sends in one system call.
const BUFFER: usize = 64 * 1024;
/// A direction's buffer is given back after this long without data.
const BUFFER_IDLE: Duration = Duration::from_secs(1);

/// A socket or pipe at one end of a tunnel.
pub(crate) trait Socket: AsyncRead + AsyncWrite + Unpin {
    /// Ready once a read would not block (as far as the runtime knows).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Makes the end of the connection an abort the peer can tell from a clean close (a TCP
    /// reset; a pipe is closed, and its program killed).
    fn abort(&mut self);
    /// Whether dropping it, from now on, is an abort (a TCP reset): on while a tunnel runs,
    /// so that a tunnel cut short (a drain's deadline) never looks complete to either peer.
    fn abort_on_drop(&mut self, on: bool);
    /// Whole TLS records written to it wait for the next flush, to leave together (see
    /// [`crate::listen::Stream::set_bulk`]); off gives the memory back.
    fn hold_records(&mut self, _on: bool) {}
}

/// How one direction's reading side ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// close_notify, FIN, end of file: passed on as a clean close.
    Clean,
    /// A reset, a TLS connection cut without close_notify, an error: the tunnel aborts.
    Abort,
}

/// Which side of the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// The TLS peer (the client of a terminating tunnel, the server of an originating one).
    Tls,
    /// The plain peer (the backend, the local client, the program).
    Plain,
}

/// How a tunnel ended, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Bytes from the TLS side to the plain side, and back.
    pub(crate) tls_to_plain: u64,
    pub(crate) plain_to_tls: u64,
    /// How each side ended its sending (`None`: it had not when the tunnel ended).
    pub(crate) tls_end: Option<End>,
    pub(crate) plain_end: Option<End>,
    /// Which side ended its sending first.
    pub(crate) first: Option<Which>,
    /// A direction went idle past its limit: the tunnel was cut (both sides aborted).
    pub(crate) idle: Option<(Which, Duration)>,
    /// Why an abort happened, in words.
    pub(crate) reason: Option<String>,
}

/// Idle limits: how long each side may send nothing before the tunnel is cut.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) tls_idle: Duration,
    pub(crate) plain_idle: Duration,
}

/// One direction: bytes read from one side, waiting to be written to the other.
struct Flow {
    buf: Vec<u8>,
    /// How much of `buf` went out already.
    written: usize,
    /// How its reading side ended, once it has.
    end: Option<End>,
    /// The end was passed on to the writing side.
    passed_on: bool,
    bytes: u64,
    /// When it last moved a byte (or started).
    active: Instant,
}

impl Flow {
    fn new(now: Instant) -> Flow {
        Flow {
            buf: Vec::new(),
            written: 0,
            end: None,
            passed_on: false,
            bytes: 0,
            active: now,
        }
    }

    fn done(&self) -> bool {
        self.passed_on
    }
}

/// A read end, as a flow sees it.
trait Reader {
    /// Ready once a read would not block, counting what the reader holds itself.
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Reads into `buf`'s spare room: the bytes read, or how the sending side ended.
    fn poll_take(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<Result<usize, End>>;
}

/// A write end, as a flow sees it.
trait Writer {
    fn poll_give(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>>;
    fn poll_push(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Passes on a clean end: close_notify, FIN, closing a pipe.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// Reads appended to `buf`'s spare room (never zeroed first), up to a full buffer.
fn poll_append<R: AsyncRead + Unpin>(
    reader: &mut R,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<usize>> {
    let room = BUFFER - buf.len();
    buf.reserve_exact(room);
    let mut room = (&mut *buf).limit(room);
    std::pin::pin!(reader.read_buf(&mut room)).poll(cx)
}

impl<S: Socket> Reader for SslStream<S> {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ssl().pending() > 0 || tls::has_pending(self.ssl()) {
            return Poll::Ready(Ok(()));
        }
        self.get_ref().poll_read_ready(cx)
    }

    fn poll_take(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<Result<usize, End>> {
        match ready!(poll_append(self, cx, buf)) {
            Ok(0) if tls::received_close_notify(self.ssl()) => Poll::Ready(Err(End::Clean)),
            Ok(0) | Err(_) => Poll::Ready(Err(End::Abort)),
            Ok(n) => Poll::Ready(Ok(n)),
        }
    }
}

impl<S: Socket> Writer for SslStream<S> {
    fn poll_give(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write(cx, bytes)
    }

    fn poll_push(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self).poll_flush(cx)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // close_notify, then a TCP half-close: the peer may go on sending.
        Pin::new(self).poll_shutdown(cx)
    }
}

/// The plain side, as reader and writer.
struct Plain<'a, P>(&'a mut P);

impl<P: Socket> Reader for Plain<'_, P> {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_ready(cx)
    }

    fn poll_take(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<Result<usize, End>> {
        match ready!(poll_append(self.0, cx, buf)) {
            Ok(0) => Poll::Ready(Err(End::Clean)),
            Ok(n) => Poll::Ready(Ok(n)),
            Err(_) => Poll::Ready(Err(End::Abort)),
        }
    }
}

impl<P: Socket> Writer for Plain<'_, P> {
    fn poll_give(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, bytes)
    }

    fn poll_push(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// What one poll of a flow came to.
enum Step {
    /// Nothing more to do until woken.
    Waiting,
    /// The direction is finished (its clean end passed on).
    Finished,
    /// Its reading side aborted, or its writing side failed: abort the tunnel.
    Abort(String),
}

/// Moves what it can in one direction, without waiting.
fn poll_flow<R: Reader, W: Writer>(
    flow: &mut Flow,
    reader: &mut R,
    writer: &mut W,
    cx: &mut Context<'_>,
    now: Instant,
) -> Step {
    loop {
        while flow.written < flow.buf.len() {
            match writer.poll_give(cx, &flow.buf[flow.written..]) {
                Poll::Ready(Ok(0)) => return Step::Abort("the peer stopped taking data".into()),
                Poll::Ready(Ok(n)) => {
                    flow.written += n;
                    flow.bytes += n as u64;
                    flow.active = now;
                }
                Poll::Ready(Err(e)) => return Step::Abort(e.to_string()),
                Poll::Pending => return Step::Waiting,
            }
        }
        if !flow.buf.is_empty() {
            match writer.poll_push(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Step::Abort(e.to_string()),
                Poll::Pending => return Step::Waiting,
            }
            flow.buf.clear();
            flow.written = 0;
        }
        match flow.end {
            Some(End::Abort) => return Step::Abort("the other side aborted".into()),
            Some(End::Clean) if flow.passed_on => return Step::Finished,
            Some(End::Clean) => match writer.poll_finish(cx) {
                // A peer that went away meanwhile has nothing left to lose.
                Poll::Ready(_) => {
                    flow.passed_on = true;
                    flow.buf = Vec::new();
                    return Step::Finished;
                }
                Poll::Pending => return Step::Waiting,
            },
            None => {}
        }
        if flow.buf.capacity() == 0 {
            match reader.poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Step::Abort(e.to_string()),
                Poll::Pending => return Step::Waiting,
            }
        }
        // Whatever is there, up to a full buffer, before writing.
        let mut read = false;
        while flow.buf.len() < BUFFER && flow.end.is_none() {
            match reader.poll_take(cx, &mut flow.buf) {
                Poll::Ready(Ok(_)) => read = true,
                Poll::Ready(Err(end)) => {
                    flow.end = Some(end);
                    read = true;
                }
                Poll::Pending => break,
            }
        }
        if !read {
            return Step::Waiting;
        }
        flow.active = now;
    }
}

/// Runs a tunnel to its end. On an abort (or an idle limit passed) both sides are aborted
/// before it returns, so neither peer mistakes the cut for a complete exchange.
pub(crate) async fn pump<S: Socket, P: Socket>(
    tls: &mut SslStream<S>,
    plain: &mut P,
    limits: Limits,
) -> Outcome {
    tls.get_mut().abort_on_drop(true);
    plain.abort_on_drop(true);
    let started = Instant::now();
    let mut up = Flow::new(started);
    let mut down = Flow::new(started);
    let mut first = None;
    let mut aborted = None;
    let mut idle = None;
    // Whether the TLS side holds whole records back for one system call per buffer.
    let mut holding = false;
    let mut timer = Box::pin(tokio::time::sleep_until(
        next_check(&up, &down, limits, started).into(),
    ));
    std::future::poll_fn(|cx| {
        let now = Instant::now();
        loop {
            let mut plain_side = Plain(&mut *plain);
            let stepped_up = if up.done() {
                Step::Finished
            } else {
                poll_flow(&mut up, &mut *tls, &mut plain_side, cx, now)
            };
            if first.is_none() && up.end.is_some() {
                first = Some(Which::Tls);
            }
            let stepped_down = if down.done() {
                Step::Finished
            } else {
                let mut reader = Plain(&mut *plain);
                poll_flow(&mut down, &mut reader, &mut *tls, cx, now)
            };
            if down.buf.capacity() > 0 && !holding {
                tls.get_mut().hold_records(true);
                holding = true;
            }
            if first.is_none() && down.end.is_some() {
                first = Some(Which::Plain);
            }
            match (stepped_up, stepped_down) {
                (Step::Abort(why), _) | (_, Step::Abort(why)) => {
                    aborted = Some(why);
                    return Poll::Ready(());
                }
                (Step::Finished, Step::Finished) => return Poll::Ready(()),
                _ => {}
            }
            // Waiting: see whether a limit passed, and when to look again.
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            for (flow, which, limit) in [
                (&up, Which::Tls, limits.tls_idle),
                (&down, Which::Plain, limits.plain_idle),
            ] {
                if !flow.done() && now.duration_since(flow.active) >= limit {
                    idle = Some((which, limit));
                    return Poll::Ready(());
                }
            }
            for flow in [&mut up, &mut down] {
                if flow.buf.is_empty() && now.duration_since(flow.active) >= BUFFER_IDLE {
                    flow.buf = Vec::new();
                }
            }
            if holding && down.buf.capacity() == 0 {
                // Nothing is held: every write of the direction was flushed.
                tls.get_mut().hold_records(false);
                holding = false;
            }
            timer
                .as_mut()
                .reset(next_check(&up, &down, limits, now).into());
        }
    })
    .await;
    if aborted.is_some() || idle.is_some() {
        tls.get_mut().abort();
        plain.abort();
    } else {
        if holding {
            tls.get_mut().hold_records(false);
        }
        tls.get_mut().abort_on_drop(false);
        plain.abort_on_drop(false);
    }
    Outcome {
        tls_to_plain: up.bytes,
        plain_to_tls: down.bytes,
        tls_end: up.end,
        plain_end: down.end,
        first,
        idle,
        reason: aborted,
    }
}

/// When the tunnel should look at its clock next: when a buffer may be given back, or
/// when a direction would pass its idle limit.
fn next_check(up: &Flow, down: &Flow, limits: Limits, now: Instant) -> Instant {
    let mut next = now + limits.tls_idle.min(limits.plain_idle);
    for (flow, limit) in [(up, limits.tls_idle), (down, limits.plain_idle)] {
        if flow.done() {
            continue;
        }
        next = next.min(flow.active + limit);
        if flow.buf.capacity() > 0 {
            next = next.min(flow.active + BUFFER_IDLE);
        }
    }
    next.max(now + Duration::from_millis(10))
}
