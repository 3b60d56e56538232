//! `tlscat client --listen ADDR --connect HOST:PORT`: the client end of a tunnel. Each
//! plain connection accepted on ADDR is carried over its own verified TLS connection to
//! the server (with the client certificate, if any), offering the newest session the
//! server issued on an earlier one, so that they resume.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use openssl::ssl::{SslConnector, SslSession};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Limits, pump};
use crate::config::ClientConfig;
use crate::dial;
use crate::error::{Error, Result, seconds};
use crate::listen::{self, Incoming, PeerAddr, Stream};
use crate::report::{self, Report, TunnelReport, millis};
use crate::shutdown::{self, Request};
use crate::tls::{self, Side};

/// How long connections in flight may take to finish after a stop signal.
const DRAIN: Duration = Duration::from_secs(5);

/// What every carried connection reads.
struct Origin {
    config: ClientConfig,
    connector: SslConnector,
    /// The newest resumable session, offered by the next connection.
    session: Mutex<Option<SslSession>>,
}

/// Listens on the configured addresses and carries every connection until SIGINT or
/// SIGTERM; then stops accepting and lets connections in flight finish (up to 5 s, or a
/// second signal).
pub(crate) async fn run(config: &ClientConfig) -> Result<()> {
    if config.tls.insecure {
        warn!(
            "--insecure: the server's certificate is NOT verified; anyone on the path can \
             impersonate it and read the tunnelled connections"
        );
    }
    let connector = tls::connector(&config.tls)?;
    let mut requests = shutdown::from_signals()
        .map_err(|e| Error::Internal(format!("cannot handle signals: {e}")))?;
    let listeners = listen::bind_all(&config.listen, false, 1).await?;
    let origin = Arc::new(Origin {
        config: config.clone(),
        connector,
        session: Mutex::new(None),
    });
    let permits = Arc::new(Semaphore::new(config.max_conns));
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut accepting = Vec::new();
    for listener in &listeners {
        let incoming = listener
            .share(0)
            .and_then(listen::Handle::register)
            .map_err(|e| Error::Internal(format!("cannot accept connections: {e}")))?;
        let line = listening_line(&listener.describe(), config);
        if let Err(e) = report::line(format_args!("{line}")) {
            warn!("cannot write to stdout: {e}");
        }
        accepting.push(tokio::spawn(accept_loop(
            incoming,
            Arc::clone(&origin),
            Arc::clone(&permits),
            stop.clone(),
            connections.clone(),
        )));
    }
    info!(
        "tunnel to {} (verifying {}), at most {} connections at once",
        config.target.address,
        config.target.server_name(),
        config.max_conns
    );
    loop {
        match requests.recv().await {
            Some(Request::Stop) | None => break,
            Some(_) => {}
        }
    }
    stop.cancel();
    for task in accepting {
        let _ = task.await;
    }
    drop(listeners);
    connections.close();
    info!(
        "stopping: {} connections in flight may take up to {} (a second signal cuts them)",
        connections.len(),
        seconds(DRAIN)
    );
    tokio::select! {
        () = connections.wait() => {}
        () = tokio::time::sleep(DRAIN) => warn!("drain time passed: cutting {} connections", connections.len()),
        _ = requests.recv() => warn!("second stop request: cutting {} connections", connections.len()),
    }
    Ok(())
}

/// `Tunnel listening on ADDR, to HOST:PORT` (or its JSON object).
fn listening_line(address: &str, config: &ClientConfig) -> String {
    let target = config.target.address.to_string();
    if config.output.json {
        serde_json::json!({"type": "listening", "address": address, "target": target}).to_string()
    } else {
        format!("Tunnel listening on {address}, to {target}")
    }
}

async fn accept_loop(
    listener: Incoming,
    origin: Arc<Origin>,
    permits: Arc<Semaphore>,
    stop: CancellationToken,
    connections: TaskTracker,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let ready = tokio::select! {
            () = stop.cancelled() => return,
            ready = listener.ready() => ready,
        };
        match ready.and_then(listen::Ready::accept) {
            Ok(Some((stream, peer))) => {
                backoff = Duration::from_millis(10);
                let origin = Arc::clone(&origin);
                connections.spawn(async move {
                    carry(stream, peer, &origin).await;
                    drop(permit);
                });
            }
            Ok(None) => {}
            Err(e) => {
                warn!("accept failed: {e}; retrying in {}", seconds(backoff));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// One local connection, carried to its end; then its report.
async fn carry(mut local: Stream, local_peer: PeerAddr, origin: &Origin) {
    let config = &origin.config;
    let mut report = Report::new(Side::Client, config.target.address.to_string());
    let mut tunnel = TunnelReport {
        plain: local_peer.to_string(),
        ..TunnelReport::default()
    };
    let result = connect_and_carry(&mut local, origin, &mut report, &mut tunnel).await;
    if let Err(e) = &result {
        // The local client must not take a cut for a complete exchange.
        local.abort();
        warn!("{local_peer}: {e}");
        report.error = Some(e.to_string());
    }
    report.extra().tunnel = Some(tunnel);
    report.emit(config.output.json, config.output.quiet);
}

async fn connect_and_carry(
    local: &mut Stream,
    origin: &Origin,
    report: &mut Report,
    tunnel: &mut TunnelReport,
) -> Result<()> {
    let config = &origin.config;
    let (mut tcp, observer) = dial::open(config, report).await?;
    // With --starttls, each tunnel's connection starts in plaintext, as stunnel's
    // `protocol = smtp` does.
    dial::starttls(config, &mut tcp, &observer).await?;
    let offer = origin
        .session
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let handshake_started = Instant::now();
    let mut stream = dial::handshake(
        &origin.connector,
        config,
        tcp,
        &observer,
        offer.as_deref(),
        None,
        None,
    )
    .await?;
    report.timings_ms.handshake = Some(millis(handshake_started.elapsed()));
    report.record_handshake(stream.ssl(), Side::Client, !config.tls.insecure, false);
    dial::check_pins(&config.tls, stream.ssl())?;
    remember(origin, stream.ssl().session().map(|s| s.to_owned()));
    let limits = Limits {
        tls_idle: config.tunnel.idle_timeout,
        plain_idle: config.tunnel.idle_timeout,
    };
    let outcome = pump(&mut stream, local, limits).await;
    remember(origin, observer.take_session());
    super::record(report, tunnel, &outcome);
    report.closed = Some(match (outcome.tls_end, outcome.plain_end) {
        (Some(super::End::Abort), _) => "aborted by the server",
        (_, Some(super::End::Abort)) => "aborted by the local client",
        _ if outcome.idle.is_some() => "aborted: idle",
        _ if outcome.reason.is_some() => "aborted",
        _ => "close_notify",
    });
    if let Some((_, limit)) = outcome.idle {
        return Err(Error::Timeout {
            phase: crate::error::Phase::Idle,
            limit,
        });
    }
    if let Some(reason) = outcome.reason {
        debug!("{}: tunnel aborted: {reason}", report.peer);
    }
    Ok(())
}

/// Keeps `session` as the one to offer next, if it can resume.
fn remember(origin: &Origin, session: Option<SslSession>) {
    if let Some(session) = session.filter(|s| tls::is_resumable(s)) {
        *origin
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(session);
    }
}
