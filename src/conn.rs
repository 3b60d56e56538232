//! Per-phase timeouts and the steps every connection shares: reading with truncation
//! detection and closing with close_notify.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BufMut;
use openssl::ssl::SslRef;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_openssl::SslStream;

use crate::error::{Error, Phase, Result};
use crate::listen::Stream;
use crate::tls::observe::Observer;
use crate::tls::trace::Direction;
use crate::tls::{self, Clues, Side};

/// How long a failed write looks for the alert that explains it.
const PEER_ALERT_WAIT: Duration = Duration::from_secs(1);

/// Most bytes discarded while waiting for the peer's close_notify.
const CLOSE_DISCARD_LIMIT: usize = 64 * 1024;

/// Runs `fut` for at most `limit`; expiry becomes [`Error::Timeout`] naming `phase`.
pub(crate) fn within<F: Future>(phase: Phase, limit: Duration, fut: F) -> Within<F> {
    Within {
        timeout: tokio::time::timeout(limit, fut),
        phase,
        limit,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`within`]: a plain struct rather than an `async fn`, which would
    /// hold `fut` twice (every connection's task carries a few of these).
    pub struct Within<F> {
        #[pin]
        timeout: tokio::time::Timeout<F>,
        phase: Phase,
        limit: Duration,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.timeout.poll(cx) {
            Poll::Ready(Ok(output)) => Poll::Ready(Ok(output)),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Timeout {
                phase: *this.phase,
                limit: *this.limit,
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// This many bytes arrived.
    Data(usize),
    /// The peer sent close_notify.
    Closed,
    /// The peer closed TCP without close_notify (or, to a server, reset it between
    /// records): whatever it meant to send may be cut short.
    Truncated,
}

/// Reads once into `buf`, waiting at most `limit` for data.
pub(crate) async fn read<S>(
    stream: &mut SslStream<S>,
    buf: &mut [u8],
    limit: Duration,
    side: Side,
) -> Result<Read>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let result = within(Phase::Read, limit, stream.read(buf)).await?;
    outcome(result, stream, side)
}

/// Reads once from the read half of a split stream, waiting at most `limit`: 0 at its
/// end, also when the peer closed without close_notify (the caller's count of what
/// arrived tells whether it was all). `observer`: the connection's, for the diagnosis.
pub(crate) async fn read_half<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
    limit: Duration,
    side: Side,
    observer: Option<&Observer>,
) -> Result<usize> {
    match within(Phase::Read, limit, reader.read(buf)).await? {
        Ok(n) => Ok(n),
        Err(e) if tls::is_unexpected_eof(&e) => Ok(0),
        Err(e) => {
            let clues = observer.map(Observer::clues).unwrap_or_default();
            Err(tls::io_failure(e, Phase::Read, side, clues))
        }
    }
}

/// What the connection's observer saw, for the diagnosis of a failure.
pub(crate) fn clues(ssl: &SslRef) -> Clues {
    Observer::of(ssl).map(|o| o.clues()).unwrap_or_default()
}

/// What a read's result means: data, the peer's close (clean or not), or a failure.
pub(crate) fn outcome<S>(
    result: std::io::Result<usize>,
    stream: &SslStream<S>,
    side: Side,
) -> Result<Read> {
    match result {
        Ok(0) if tls::received_close_notify(stream.ssl()) => Ok(Read::Closed),
        Ok(0) => Ok(Read::Truncated),
        Ok(n) => {
            if let Some(observer) = Observer::of(stream.ssl()) {
                observer.application_data(Direction::Received, n);
            }
            Ok(Read::Data(n))
        }
        Err(e) if tls::is_unexpected_eof(&e) => Ok(Read::Truncated),
        // A client that resets right after the handshake (as `openssl s_time` and health
        // checks do) meets the server's session tickets with a reset: no data was lost.
        Err(e) if side == Side::Server && is_reset(&e) && !tls::has_pending(stream.ssl()) => {
            Ok(Read::Truncated)
        }
        Err(e) => Err(tls::io_failure(e, Phase::Read, side, clues(stream.ssl()))),
    }
}

fn is_reset(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    )
}

/// Reads once, appending at most `chunk` bytes to `buf`, within `limit`. While `buf` has
/// no memory, it gets some only once the socket is readable, and gives it back if the read
/// still has to wait: an idle connection holds no read buffer.
#[allow(clippy::manual_async_fn)] // an idle connection waits in here: see `server::connection::handle`
pub(crate) fn read_appending(
    stream: &mut SslStream<Stream>,
    buf: &mut Vec<u8>,
    chunk: usize,
    limit: Duration,
    side: Side,
) -> impl Future<Output = Result<Read>> {
    async move {
        let read = std::future::poll_fn(|cx| poll_append(stream, buf, chunk, cx));
        let result = within(Phase::Read, limit, read).await?;
        outcome(result, stream, side)
    }
}

/// One attempt of [`read_appending`]. The bytes land in `buf`'s spare room, not zeroed
/// first.
pub(crate) fn poll_append(
    stream: &mut SslStream<Stream>,
    buf: &mut Vec<u8>,
    chunk: usize,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    let idle = buf.capacity() == 0;
    if idle && stream.ssl().pending() == 0 && !tls::has_pending(stream.ssl()) {
        std::task::ready!(stream.get_ref().poll_read_ready(cx))?;
    }
    buf.reserve(chunk);
    let mut room = (&mut *buf).limit(chunk);
    let polled = std::pin::pin!(stream.read_buf(&mut room)).poll(cx);
    if idle && buf.is_empty() {
        // Nothing came (the readiness was stale, or the peer closed): no buffer kept.
        *buf = Vec::new();
    }
    polled
}

/// Writes all of `data` and flushes it, within `limit`.
#[allow(clippy::manual_async_fn)] // an `async fn` would hold every argument twice
pub(crate) fn write_all<S>(
    stream: &mut SslStream<S>,
    data: &[u8],
    limit: Duration,
    side: Side,
) -> impl Future<Output = Result<()>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async move {
        let written = within(Phase::Write, limit, async {
            stream.write_all(data).await?;
            stream.flush().await
        })
        .await?;
        if let Err(e) = written {
            let failure = tls::io_failure(e, Phase::Write, side, clues(stream.ssl()));
            return Err(match failure {
                Error::Verify { .. } => failure,
                other => Box::pin(peer_alert(stream, limit, side))
                    .await
                    .unwrap_or(other),
            });
        }
        if let Some(observer) = Observer::of(stream.ssl()) {
            observer.application_data(Direction::Sent, data.len());
        }
        Ok(())
    }
}

/// After a reset on write, the peer's reason may already be waiting to be read: in TLS 1.3
/// a server rejects a client certificate with an alert after the client's handshake is
/// done, then closes, and the client's first write meets the reset.
async fn peer_alert<S>(stream: &mut SslStream<S>, limit: Duration, side: Side) -> Option<Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut scratch = [0u8; 256];
    let limit = limit.min(PEER_ALERT_WAIT);
    match within(Phase::Read, limit, stream.read(&mut scratch)).await {
        Ok(Err(e)) => match tls::io_failure(e, Phase::Read, side, clues(stream.ssl())) {
            Error::Io { .. } => None,
            alert => Some(alert),
        },
        _ => None,
    }
}

/// After a failed handshake, whose alert (or plain-HTTP answer) is out: half-closes, then
/// takes what the client still sends (at most [`CLOSE_DISCARD_LIMIT`] bytes) until its end,
/// for at most [`PEER_ALERT_WAIT`] (and `limit`). Closing with unread bytes would send a
/// reset, which can reach the client before it has read the alert, and some clients
/// (OpenSSL 4.0's) read nothing more once a write has met the reset.
pub(crate) async fn linger(stream: &mut Stream, limit: Duration) {
    let _ = within(Phase::Close, limit.min(PEER_ALERT_WAIT), async {
        stream.shutdown().await?;
        let mut scratch = vec![0; 4096];
        let mut discarded = 0;
        while discarded < CLOSE_DISCARD_LIMIT {
            match stream.read(&mut scratch).await? {
                0 => break,
                n => discarded += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Sends close_notify, then (unless the peer already closed) waits for the peer's,
/// discarding any data still in flight so the kernel does not answer it with a reset.
/// Returns whether the peer's close_notify was seen. Bounded by `limit` overall.
pub(crate) async fn close<S>(stream: &mut SslStream<S>, limit: Duration, side: Side) -> Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    within(Phase::Close, limit, async {
        stream
            .shutdown()
            .await
            .map_err(|e| tls::io_failure(e, Phase::Close, side, clues(stream.ssl())))?;
        // On the heap and only when needed: it would otherwise weigh on every
        // connection's task for its whole life.
        let mut scratch = Vec::new();
        let mut discarded = 0;
        while !tls::received_close_notify(stream.ssl()) && discarded < CLOSE_DISCARD_LIMIT {
            scratch.resize(4096, 0);
            match stream.read(&mut scratch).await {
                Ok(0) => break,
                Ok(n) => discarded += n,
                Err(e) if tls::is_unexpected_eof(&e) => break,
                Err(e) => {
                    return Err(tls::io_failure(e, Phase::Close, side, clues(stream.ssl())));
                }
            }
        }
        Ok(tls::received_close_notify(stream.ssl()))
    })
    .await?
}
