//! Scripted TLS events, as s_client's and s_server's interactive commands make them: a
//! KeyUpdate (TLS 1.3), a renegotiation (TLS 1.2), a certificate request after the
//! handshake (TLS 1.3 post-handshake authentication), and 0-RTT early data around the
//! handshake. Each is bounded by the handshake timeout.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use openssl::ssl::{self, SslRef};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use super::compat;
use super::failure::{Clues, Side, handshake_failure};
use super::observe::Observer;
use super::offer::Offer;
use crate::conn::within;
use crate::error::{Error, Phase, Result};

/// Sends a KeyUpdate now; with `requested`, the peer must answer with its own.
pub async fn key_update<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut SslStream<S>,
    requested: bool,
    side: Side,
    limit: Duration,
) -> Result<()> {
    compat::key_update(tls.ssl(), requested)?;
    flush(tls, side, limit).await
}

/// Renegotiates a TLS 1.2 connection: a client runs the new handshake; a server sends a
/// HelloRequest and reads the client's new handshake until it is done.
pub async fn renegotiate<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut SslStream<S>,
    side: Side,
    limit: Duration,
) -> Result<()> {
    compat::renegotiate(tls.ssl())?;
    flush(tls, side, limit).await?;
    if side == Side::Server {
        drive(tls, side, limit, |ssl| !compat::renegotiate_pending(ssl)).await?;
    }
    if compat::renegotiate_pending(tls.ssl()) {
        return Err(Error::Handshake {
            reason: "the client did not renegotiate: it sent data instead".into(),
            hint: None,
            source: None,
        });
    }
    Ok(())
}

/// Asks the client for its certificate now (TLS 1.3 post-handshake authentication); its
/// answer is read by [`await_client_certificate`] (or any read).
pub async fn request_client_certificate<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut SslStream<S>,
    limit: Duration,
) -> Result<()> {
    if compat::request_client_certificate(tls.ssl()).is_err() {
        return Err(Error::Handshake {
            reason: "the client did not offer post-handshake authentication".into(),
            hint: Some(
                "it must offer it (tlscat client --post-handshake-auth, s_client -enable_pha), \
                 over TLS 1.3"
                    .into(),
            ),
            source: None,
        });
    }
    flush(tls, Side::Server, limit).await
}

/// Reads the client's answer to a post-handshake certificate request up to its Finished
/// (its certificate, the proof it holds the key, or none); a certificate that fails
/// verification fails here (the observer knows why).
pub async fn await_client_certificate<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut SslStream<S>,
    limit: Duration,
) -> Result<()> {
    let answered = |ssl: &SslRef| Observer::of(ssl).is_some_and(|o| o.finished_received() >= 2);
    drive(tls, Side::Server, limit, answered).await?;
    if !answered(tls.ssl()) {
        return Err(Error::Handshake {
            reason: "the client sent data instead of answering the certificate request".into(),
            hint: None,
            source: None,
        });
    }
    Ok(())
}

/// Reads a client's 0-RTT early data (the handshake then continues with `accept`).
/// OpenSSL refuses more than the context's `max_early_data` (at most 16 KiB) as a
/// protocol error, which bounds what is kept.
pub async fn read_early_data<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut SslStream<S>,
) -> std::result::Result<Vec<u8>, ssl::Error> {
    let mut data = Vec::new();
    let mut buf = [0; 4096];
    loop {
        // 0: the end of the early data, or none was sent.
        match Pin::new(&mut *tls).read_early_data(&mut buf).await? {
            0 => return Ok(data),
            read => data.extend_from_slice(&buf[..read]),
        }
    }
}

/// What became of 0-RTT early data: `accepted`, `rejected` or `not sent`.
pub fn early_data_status(ssl: &SslRef) -> &'static str {
    compat::early_data_status(ssl)
}

/// Runs the handshake step that sends what was scheduled (KeyUpdate, HelloRequest,
/// CertificateRequest) or, for a client's renegotiation, the whole new handshake.
async fn flush<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut SslStream<S>,
    side: Side,
    limit: Duration,
) -> Result<()> {
    within(Phase::Handshake, limit, Pin::new(&mut *tls).do_handshake())
        .await?
        .map_err(|e| failure(e, side))
}

/// Reads handshake records without taking application data until `done`: the peer's
/// answer to a renegotiation or a certificate request comes in while we wait. Application
/// data arriving first ends the wait (it is the caller's to read).
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut SslStream<S>,
    side: Side,
    limit: Duration,
    done: impl Fn(&SslRef) -> bool,
) -> Result<()> {
    let mut byte = [0; 1];
    let waiting = poll_fn(|cx| {
        if done(tls.ssl()) {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut *tls).poll_peek(cx, &mut byte) {
            Poll::Ready(result) => Poll::Ready(result.map(drop)),
            Poll::Pending if done(tls.ssl()) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    });
    within(Phase::Handshake, limit, waiting)
        .await?
        .map_err(|e| failure(e, side))
}

fn failure(err: ssl::Error, side: Side) -> Error {
    handshake_failure(err, side, Clues::default(), &Offer::default())
}
