//! One connection: the PROXY header (with `--proxy-protocol`), the TLS handshake, then the
//! mode's exchange (reply, echo, inspect or files), close_notify, the report and the
//! metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use log::{debug, info, warn};
use openssl::ssl::SslVersion;
use tokio::io::AsyncWriteExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_openssl::SslStream;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use super::exchange::{RECORD_SIZE, RequestSource, Tls, first_byte};
use super::shared::Shared;
use super::{files, forward};
use crate::config::Mode;
use crate::conn::{self, Read};
use crate::error::{Error, Phase, Result};
use crate::http::{self, Incoming};
use crate::inspect;
use crate::listen::{PeerAddr, Stream};
use crate::proxy;
use crate::report::{self, EarlyDataReport, Report, millis};
use crate::starttls;
use crate::tls::hello;
use crate::tls::observe::Observer;
use crate::tls::{self, Acceptor, Side, events, verify};

/// What a plain-HTTP client on the TLS port is told, as nginx does.
const PLAIN_HTTP_ON_TLS_PORT: &str =
    "400 Bad Request: this port speaks TLS: use https:// instead of http://\n";

/// Serves one connection to its end, then reports it (log line on failure, report, metrics).
/// `cut` ends it early when the drain timeout passes; the permit is given back at the end.
///
/// An idle connection's task is this future, so it is kept small: spawned as is (a
/// wrapping block would hold the arguments a second time), and an `async` block rather
/// than an `async fn`, which would copy every argument into a second slot. The report
/// comes in made (see [`report_for`]): an argument keeps its slot for the task's whole
/// life, even once used up, so the peer's address would weigh on every idle connection.
#[allow(clippy::manual_async_fn)]
pub(super) fn handle(
    stream: Stream,
    mut report: Report,
    shared: Arc<Shared>,
    acceptor: Arc<Acceptor>,
    cut: CancellationToken,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> {
    async move {
        shared.metrics.opened();
        let outcome = tokio::select! {
            // The connection first: the drain token only matters once it waits.
            biased;
            result = serve(stream, &shared, &acceptor, &mut report) => Some(result),
            () = cut.cancelled() => None,
        };
        let reason = match &outcome {
            Some(Ok(())) => "ok",
            Some(Err(e)) => {
                warn!("{}: {e}", report.peer);
                report.error = Some(e.to_string());
                e.label()
            }
            None => {
                warn!("{}: cut at shutdown", report.peer);
                report.error = Some("cut at shutdown: the drain timeout passed".into());
                "cut"
            }
        };
        let output = shared.config.output;
        report.emit(output.json, output.quiet);
        shared.metrics.closed(&report, reason);
        drop(permit);
    }
}

/// The report of a connection from `peer`, for [`handle`].
pub(super) fn report_for(peer: &PeerAddr) -> Report {
    Report::new(Side::Server, peer.to_string())
}

#[allow(clippy::manual_async_fn)] // an idle connection waits in here: see `handle`
fn serve(
    mut stream: Stream,
    shared: &Shared,
    acceptor: &Acceptor,
    report: &mut Report,
) -> impl Future<Output = Result<()>> {
    async move {
        let config = &shared.config;
        let timeouts = &config.timeouts;
        let output = config.output;
        if config.proxy_protocol {
            // Boxed: only connections through a proxy need its state.
            let header = conn::within(
                Phase::Handshake,
                timeouts.handshake,
                Box::pin(proxy::read(&mut stream)),
            )
            .await?
            .map_err(|reason| Error::Handshake {
                reason: format!("bad PROXY protocol header: {reason}"),
                hint: Some(
                    "this port takes connections only through the proxy (--proxy-protocol)".into(),
                ),
                source: None,
            })?;
            if let proxy::Header::Proxied { source, .. } = header {
                debug!("{}: PROXY header says the client is {source}", report.peer);
                report.peer = source.to_string();
            }
        }

        let trace = report::trace_sink(output.trace);
        let observer = if config.mode == Mode::Inspect {
            Observer::keeping_client_hello(report.peer.clone(), trace)
        } else {
            Observer::new(Side::Server, report.peer.clone(), trace)
        };
        if config.postgres_ssl_request {
            // Boxed: only PostgreSQL's front door needs it.
            let limit = timeouts.handshake;
            Box::pin(starttls::accept_postgres(&mut stream, &observer, limit)).await?;
        }
        let ssl = tls::server_ssl(acceptor, &observer)?;
        let mut tls = SslStream::new(ssl, stream)?;
        let started = Instant::now();
        // Boxed: only servers that take 0-RTT data read it first.
        let handshake = if config.tls.max_early_data > 0 {
            Either::Left(Box::pin(accept_with_early_data(&mut tls, report)))
        } else {
            Either::Right(Pin::new(&mut tls).accept())
        };
        if let Err(e) = conn::within(Phase::Handshake, timeouts.handshake, handshake).await? {
            // Boxed: only failed handshakes need its room.
            let failed = handshake_failed(&mut tls, e, &observer, shared, acceptor, report);
            return Err(Box::pin(failed).await);
        }
        let handshake_done = Instant::now();
        report.timings_ms.handshake = Some(millis(handshake_done - started));
        report.record_handshake(
            tls.ssl(),
            Side::Server,
            acceptor.verifies_clients(),
            output.show_certs,
        );
        report.certificate = acceptor.certificate_of(tls.ssl().ssl_context()).cloned();
        if let Some(hello) = observer
            .client_hello()
            .and_then(|raw| hello::parse(&raw).ok())
        {
            report.extra().client_hello = Some(hello.describe());
        }
        if let Some(rule) = observer.allowed_by() {
            report.extra().allowed_by = Some(rule);
        }
        if !output.json && !output.quiet {
            let _ = report::connected(&report.peer);
        }
        if let Some(extra) = report.extra.as_mut() {
            // Reported when the client sent some (accepted or rejected).
            let status = events::early_data_status(tls.ssl());
            if status == "not sent" {
                extra.early_data = None;
            }
            if let Some(early) = &mut extra.early_data {
                early.status = status.to_string();
                let data = early.data.as_deref().unwrap_or_default();
                if !output.json && !data.is_empty() {
                    let _ = report::early_data(data.as_bytes());
                }
            }
        }

        let exchanged = match config.mode {
            Mode::Reply => reply(&mut tls, shared, report, handshake_done).await?,
            Mode::Echo => echo(&mut tls, shared, report, handshake_done).await?,
            Mode::Inspect => Box::pin(inspect(&mut tls, shared, report, handshake_done)).await?,
            Mode::Files => files::serve(&mut tls, shared, report, handshake_done).await?,
            // Tunnels pass the ends on themselves.
            Mode::Forward | Mode::Exec => {
                tunnel(&mut tls, shared, report).await?;
                return Ok(());
            }
        };
        if !exchanged {
            report.closed = Some("no close_notify");
            return Ok(());
        }
        let renegotiate = config.tls.renegotiation
            && tls.ssl().version2() == Some(SslVersion::TLS1_2)
            && !tls::received_close_notify(tls.ssl());
        if renegotiate {
            // Boxed: rare. The client renegotiates while it reads the answer.
            Box::pin(events::renegotiate(
                &mut tls,
                Side::Server,
                timeouts.handshake,
            ))
            .await?;
            report.extra().renegotiated = true;
        }
        if tls::received_close_notify(tls.ssl()) {
            // Ours goes out and the socket closes at once: no half-close in between.
            tls.get_mut().close_on_drop_only();
        }
        report.closed = Some(
            match conn::close(&mut tls, timeouts.close, Side::Server).await {
                Ok(true) => "close_notify",
                Ok(false) => "no close_notify",
                // What we had to send is out: a peer that vanishes now has lost nothing.
                Err(e) => {
                    debug!("{}: {e}", report.peer);
                    "no close_notify"
                }
            },
        );
        Ok(())
    }
}

/// Forward or exec mode: the connection goes through a tunnel. Each mode's future is
/// boxed on its own: a tunnel's task holds it for the tunnel's whole life, so it is
/// neither every connection's nor sized for the other mode.
async fn tunnel(tls: &mut Tls, shared: &Shared, report: &mut Report) -> Result<()> {
    match (&shared.config.mode, &shared.config.backend) {
        (Mode::Forward, Some(backend)) => {
            let client = report.peer.parse().ok();
            Box::pin(forward::forward(tls, shared, report, backend, client)).await
        }
        _ => Box::pin(forward::exec(tls, shared, report)).await,
    }
}

/// The handshake of a server that takes 0-RTT data: the early data first, kept in the
/// report (its status is known once the handshake is done), then the rest.
async fn accept_with_early_data(
    tls: &mut Tls,
    report: &mut Report,
) -> std::result::Result<(), openssl::ssl::Error> {
    let data = events::read_early_data(tls).await?;
    report.extra().early_data = Some(EarlyDataReport {
        status: String::new(),
        bytes: data.len(),
        data: Some(String::from_utf8_lossy(&data).into_owned()),
    });
    Pin::new(tls).accept().await
}

/// Post-handshake authentication, once the message is in: asks for the client
/// certificate and waits for it before anything is answered; records it as a handshake
/// would have.
async fn client_certificate_after_handshake(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
) -> Result<()> {
    let config = &shared.config;
    events::request_client_certificate(tls, config.timeouts.handshake).await?;
    report.extra().post_handshake_auth = true;
    let answered = events::await_client_certificate(tls, config.timeouts.handshake).await;
    if let Some(failure) = Observer::of(tls.ssl()).and_then(|o| o.verify_failure()) {
        return Err(verify::client_rejection(&failure, &config.tls.client_ca()));
    }
    answered?;
    report.record_peer_chain(tls.ssl(), Side::Server, config.output.show_certs);
    (report.verified, report.verify_result) =
        tls::verification(tls.ssl(), Side::Server, true, !report.peer_chain.is_empty());
    Ok(())
}

/// After a failed handshake: a plain-HTTP client is told to use https://; then the
/// connection lingers (see [`conn::linger`]) so that the alert reaches the client; the
/// error says what failed.
async fn handshake_failed(
    tls: &mut Tls,
    error: openssl::ssl::Error,
    observer: &Observer,
    shared: &Shared,
    acceptor: &Acceptor,
    report: &mut Report,
) -> Error {
    let config = &shared.config;
    if tls::is_plain_http(&error) {
        answer_plain_http(tls, config.timeouts.write).await;
    }
    conn::linger(tls.get_mut(), config.timeouts.close).await;
    match observer.verify_failure() {
        Some(failure) => {
            report.record_sent_chain(&failure.sent, config.output.show_certs);
            verify::client_rejection(&failure, &config.tls.client_ca())
        }
        None => tls::handshake_failure(error, Side::Server, observer.clues(), acceptor.offer()),
    }
}

/// Tells a plain-HTTP client, in plain HTTP, to use https:// (its request was taken for
/// a broken ClientHello). Best effort: the connection is closed either way.
async fn answer_plain_http(tls: &mut Tls, limit: std::time::Duration) {
    let answer = http::response(400, "text/plain", PLAIN_HTTP_ON_TLS_PORT.as_bytes(), false);
    let socket = tls.get_mut();
    let _ = tokio::time::timeout(limit, async {
        socket.write_all(&answer).await?;
        socket.flush().await
    })
    .await;
}

/// The seed's exchange: one message in, the reply out. Returns false when the client
/// disconnected without close_notify (nothing left to close).
#[allow(clippy::manual_async_fn)] // an idle connection waits in here: see `handle`
fn reply(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    handshake_done: Instant,
) -> impl Future<Output = Result<bool>> {
    async move {
        // In a block of its own: the message is not held while the reply goes out.
        let (read, http_request) = {
            let config = &shared.config;
            let mut message = Vec::new();
            let read = conn::read_appending(
                tls,
                &mut message,
                config.max_message,
                config.timeouts.read,
                Side::Server,
            );
            // Bound first: a `match` on `read.await?` would keep a larger temporary.
            let read = read.await?;
            if let Read::Data(n) = read {
                first_byte(report, handshake_done);
                if tls.ssl().pending() > 0 {
                    warn!(
                        "{}: message longer than --max-message {} bytes: the rest is discarded",
                        report.peer, config.max_message
                    );
                }
                report.bytes_received += n as u64;
                report.received = Some(String::from_utf8_lossy(&message).into_owned());
                if !config.output.json {
                    let _ = report::received(&message);
                }
            }
            // An HTTP client (curl, a browser) gets an HTTP answer; HEAD gets no body.
            let http_request = http::request_line(&message).map(|(method, _)| method == "HEAD");
            (read, http_request)
        };
        let config = &shared.config;
        match read {
            Read::Data(_) => {
                let tls13 = tls.ssl().version2() == Some(SslVersion::TLS1_3);
                if config.tls.post_handshake_auth && tls13 {
                    // Boxed: rare. Nothing is answered before the certificate verified.
                    Box::pin(client_certificate_after_handshake(tls, shared, report)).await?;
                }
                let limit = config.timeouts.write;
                let sent = match http_request {
                    // Boxed: the rare path keeps its answer off every connection's task.
                    Some(head_only) => {
                        Box::pin(async {
                            let answer = http_reply(&config.reply, head_only);
                            conn::write_all(tls, &answer, limit, Side::Server).await?;
                            Ok::<_, Error>(answer)
                        })
                        .await?
                    }
                    None => {
                        conn::write_all(tls, &config.reply, limit, Side::Server).await?;
                        config.reply.clone()
                    }
                };
                report.bytes_sent += sent.len() as u64;
                report.sent = Some(String::from_utf8_lossy(&sent).into());
                Ok(true)
            }
            Read::Closed => {
                if !config.output.quiet {
                    info!(
                        "{}: closed the connection without sending a message",
                        report.peer
                    );
                }
                Ok(true)
            }
            Read::Truncated => {
                if !config.output.quiet {
                    info!("{}: disconnected without sending a message", report.peer);
                }
                Ok(false)
            }
        }
    }
}

/// Everything the client sends comes back, until it closes (close_notify) or stays idle
/// for the read timeout. Memory stays at one record-sized buffer, whatever the volume.
#[allow(clippy::manual_async_fn)] // an idle connection waits in here: see `handle`
fn echo(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    handshake_done: Instant,
) -> impl Future<Output = Result<bool>> {
    async move {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let limit = shared.config.timeouts.read;
            let read = conn::read_appending(tls, &mut buf, RECORD_SIZE, limit, Side::Server);
            match read.await? {
                Read::Data(_) => {}
                Read::Closed => return Ok(true),
                Read::Truncated => return Ok(false),
            }
            first_byte(report, handshake_done);
            report.bytes_received += buf.len() as u64;
            let limit = shared.config.timeouts.write;
            conn::write_all(tls, &buf, limit, Side::Server).await?;
            report.bytes_sent += buf.len() as u64;
        }
    }
}

/// The reply as an HTTP/1.1 response, for a client that sent an HTTP request; a reply
/// that is already an HTTP response (`--reply $'HTTP/1.1 200 OK\r\n…'`) goes out as is.
fn http_reply(reply: &[u8], head_only: bool) -> Vec<u8> {
    if reply.starts_with(b"HTTP/") {
        return reply.to_vec();
    }
    let mut body = reply.to_vec();
    body.push(b'\n');
    http::response(200, "text/plain; charset=utf-8", &body, head_only)
}

/// Answers with the connection's report and what the client offered: an HTML page or
/// JSON for HTTP clients (by `Accept` or `/json`), JSON for anything else.
async fn inspect(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    handshake_done: Instant,
) -> Result<bool> {
    let timeouts = &shared.config.timeouts;
    let mut pending = Vec::new();
    let mut source = RequestSource {
        tls,
        report,
        handshake_done,
    };
    let incoming = http::read_request(&mut source, &mut pending, timeouts.read).await?;
    let (tls, report) = (source.tls, source.report);
    let answer = match incoming {
        Incoming::Closed => return Ok(true),
        Incoming::Truncated => return Ok(false),
        Incoming::NotHttp => inspect::json(report, None).into_bytes(),
        Incoming::Invalid(reason) => {
            debug!("{}: bad HTTP request: {reason}", report.peer);
            http::response(400, "text/plain", format!("{reason}\n").as_bytes(), false)
        }
        Incoming::Request(request) if request.method != "GET" && request.method != "HEAD" => {
            http::response(405, "text/plain", b"GET or HEAD only\n", false)
        }
        Incoming::Request(request) => {
            let head_only = request.method == "HEAD";
            if request.wants_json() {
                let body = inspect::json(report, Some(&request));
                http::response(200, "application/json", body.as_bytes(), head_only)
            } else {
                let body = inspect::html(report, &request);
                http::response(200, "text/html; charset=utf-8", body.as_bytes(), head_only)
            }
        }
    };
    conn::write_all(tls, &answer, timeouts.write, Side::Server).await?;
    report.bytes_sent += answer.len() as u64;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `function` returns, without calling it.
    fn returned_size<A, B, C, D, E, G, R>(_function: impl FnOnce(A, B, C, D, E, G) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    fn returned_size_5<A, B, C, D, E, R>(_function: impl FnOnce(A, B, C, D, E) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// An idle tunnel holds its forward future (boxed, beside its task) for its whole
    /// life: only what the pump needs, not the connect's or the report's room.
    #[test]
    fn an_idle_tunnel_holds_at_most_640_bytes_of_future() {
        let size = returned_size_5(forward::forward);
        assert!(
            size <= 640,
            "the forward future grew to {size} bytes, which every idle tunnel holds: box \
             what is held only before or after the pump"
        );
    }

    /// Every idle connection holds its task: this future, plus the runtime's header, in a
    /// block rounded up to 128 bytes. Up to 1,040 bytes of future, that block is 1,152
    /// bytes; one byte more makes it 1,280 (checked with `-Zprint-type-sizes`). A test
    /// build lays the future out at least as large as a release build does.
    #[test]
    fn an_idle_connections_task_stays_at_1152_bytes() {
        let size = returned_size(handle);
        assert!(
            size <= 1040,
            "the connection future grew to {size} bytes: every idle connection now costs \
             128 bytes more; keep what is held across an await small"
        );
    }
}
