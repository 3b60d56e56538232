//! Per-phase timeouts and the steps every connection shares: reading with truncation
//! detection and closing with close_notify.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_openssl::SslStream;

use crate::error::{Error, Phase, Result};
use crate::tls::observe::Observer;
use crate::tls::trace::Direction;
use crate::tls::{self, Side};

/// How long a failed write looks for the alert that explains it.
const PEER_ALERT_WAIT: Duration = Duration::from_secs(1);

/// Most bytes discarded while waiting for the peer's close_notify.
const CLOSE_DISCARD_LIMIT: usize = 64 * 1024;

/// Runs `fut` for at most `limit`; expiry becomes [`Error::Timeout`] naming `phase`.
pub async fn within<F: Future>(phase: Phase, limit: Duration, fut: F) -> Result<F::Output> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| Error::Timeout { phase, limit })
}

/// How a read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// This many bytes arrived.
    Data(usize),
    /// The peer sent close_notify.
    Closed,
    /// The peer closed TCP without close_notify: whatever it meant to send may be cut short.
    Truncated,
}

/// Reads once into `buf`, waiting at most `limit` for data.
pub async fn read<S>(
    stream: &mut SslStream<S>,
    buf: &mut [u8],
    limit: Duration,
    side: Side,
) -> Result<Read>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match within(Phase::Read, limit, stream.read(buf)).await? {
        Ok(0) if tls::received_close_notify(stream.ssl()) => Ok(Read::Closed),
        Ok(0) => Ok(Read::Truncated),
        Ok(n) => {
            if let Some(observer) = Observer::of(stream.ssl()) {
                observer.application_data(Direction::Received, n);
            }
            Ok(Read::Data(n))
        }
        Err(e) if tls::is_unexpected_eof(&e) => Ok(Read::Truncated),
        Err(e) => Err(tls::io_failure(e, Phase::Read, side)),
    }
}

/// Writes all of `data` and flushes it, within `limit`.
pub async fn write_all<S>(
    stream: &mut SslStream<S>,
    data: &[u8],
    limit: Duration,
    side: Side,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let written = within(Phase::Write, limit, async {
        stream.write_all(data).await?;
        stream.flush().await
    })
    .await?;
    if let Err(e) = written {
        let failure = tls::io_failure(e, Phase::Write, side);
        return Err(match failure {
            Error::Verify { .. } => failure,
            other => peer_alert(stream, limit, side).await.unwrap_or(other),
        });
    }
    if let Some(observer) = Observer::of(stream.ssl()) {
        observer.application_data(Direction::Sent, data.len());
    }
    Ok(())
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
        Ok(Err(e)) => match tls::io_failure(e, Phase::Read, side) {
            Error::Io { .. } => None,
            alert => Some(alert),
        },
        _ => None,
    }
}

/// Sends close_notify, then (unless the peer already closed) waits for the peer's,
/// discarding any data still in flight so the kernel does not answer it with a reset.
/// Returns whether the peer's close_notify was seen. Bounded by `limit` overall.
pub async fn close<S>(stream: &mut SslStream<S>, limit: Duration, side: Side) -> Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    within(Phase::Close, limit, async {
        stream
            .shutdown()
            .await
            .map_err(|e| tls::io_failure(e, Phase::Close, side))?;
        let mut scratch = [0u8; 4096];
        let mut discarded = 0;
        while !tls::received_close_notify(stream.ssl()) && discarded < CLOSE_DISCARD_LIMIT {
            match stream.read(&mut scratch).await {
                Ok(0) => break,
                Ok(n) => discarded += n,
                Err(e) if tls::is_unexpected_eof(&e) => break,
                Err(e) => return Err(tls::io_failure(e, Phase::Close, side)),
            }
        }
        Ok(tls::received_close_notify(stream.ssl()))
    })
    .await?
}
