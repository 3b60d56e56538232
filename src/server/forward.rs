//! The tunnel modes: `--forward TARGET` carries each connection's plaintext to a backend
//! (after a PROXY header, with `--send-proxy`), `--exec CMD` to a program of its own.

use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, warn};
use openssl::nid::Nid;

use super::exchange::Tls;
use super::shared::Shared;
use crate::config::Backend;
use crate::conn;
use crate::error::{Error, Phase, Result};
use crate::proxy::{self, TlsFacts};
use crate::report::{Report, TunnelReport, millis};
use crate::tunnel::{self, End, Limits, Outcome, PlainStream, exec};

/// Connects to the backend, sends the PROXY header if asked, and carries the connection
/// both ways to its end. A backend that cannot be reached aborts the client's connection
/// (no close_notify: it must not look complete) and is counted by backend.
pub(super) async fn forward(
    tls: &mut Tls,
    shared: &Shared,
    report: &mut Report,
    backend: &Backend,
    client: Option<SocketAddr>,
) -> Result<()> {
    let config = &shared.config;
    let target = backend.address.to_string();
    let started = Instant::now();
    // Boxed: the connect future is large, and an idle tunnel's task would keep its room.
    let connected = Box::pin(tunnel::PlainStream::connect(
        &backend.address,
        config.tunnel.connect_timeout,
    ));
    let mut plain = match connected.await {
        Ok(plain) => plain,
        Err(e) => {
            shared.metrics.backend_failed(&target);
            tls.get_mut().abort();
            report.closed = Some("aborted: no backend");
            return Err(Error::Connect {
                target: format!("backend {target}"),
                detail: backend_failure(&e),
            });
        }
    };
    let connect_ms = Some(millis(started.elapsed()));
    if let Some(version) = backend.send_proxy {
        let header = proxy::encode(
            version,
            client,
            tls.get_ref().local_addr(),
            &facts(tls, report),
        );
        if let Err(e) = write_plain(&mut plain, &header, config.timeouts.write).await {
            tls.get_mut().abort();
            return Err(e);
        }
    }
    shared.metrics.tunnel_opened();
    let outcome = tunnel::pump(tls, &mut plain, limits(shared)).await;
    shared
        .metrics
        .tunnel_closed(outcome.tls_to_plain, outcome.plain_to_tls);
    // Made after the tunnel ends, so that an idle tunnel's task does not hold it.
    let tunnel = TunnelReport {
        plain: target,
        connect_ms,
        proxy_header: backend.send_proxy.map(|version| match version {
            proxy::Version::V1 => "v1",
            proxy::Version::V2 => "v2",
        }),
        ..TunnelReport::default()
    };
    finish(report, tunnel, outcome)
}

/// Starts the program for this connection and carries the connection to and from it.
pub(super) async fn exec(tls: &mut Tls, shared: &Shared, report: &mut Report) -> Result<()> {
    let config = &shared.config;
    let Some(command) = &config.exec else {
        return Err(Error::Internal("exec mode without a program".into()));
    };
    let mut program = match exec::Program::spawn(command, &environment(tls, report)) {
        Ok(program) => program,
        Err(e) => {
            tls.get_mut().abort();
            return Err(e);
        }
    };
    shared.metrics.tunnel_opened();
    let outcome = tunnel::pump(tls, &mut program, limits(shared)).await;
    shared
        .metrics
        .tunnel_closed(outcome.tls_to_plain, outcome.plain_to_tls);
    // Boxed: only the end needs its room.
    let status = Box::pin(program.finish(config.timeouts.close)).await;
    let mut tunnel = TunnelReport {
        plain: command.program.clone(),
        ..TunnelReport::default()
    };
    match status {
        Ok(status) => tunnel.exit_status = status.code(),
        Err(e) => debug!("{}: waiting for the program: {e}", report.peer),
    }
    finish(report, tunnel, outcome)
}

/// The tunnel limits of the server.
fn limits(shared: &Shared) -> Limits {
    let idle = shared.config.tunnel.idle_timeout;
    Limits {
        tls_idle: idle,
        plain_idle: idle,
    }
}

/// Fills in the report from how the tunnel went: an idle limit or a backend's abort is
/// an error of the connection; a client's abort was passed on and is not.
fn finish(report: &mut Report, mut tunnel: TunnelReport, outcome: Outcome) -> Result<()> {
    tunnel::record(report, &mut tunnel, &outcome);
    let plain = tunnel.plain.clone();
    report.extra().tunnel = Some(tunnel);
    if let Some((_, limit)) = outcome.idle {
        report.closed = Some("aborted: idle");
        return Err(Error::Timeout {
            phase: Phase::Idle,
            limit,
        });
    }
    match (outcome.tls_end, outcome.plain_end) {
        (Some(End::Abort), _) => {
            report.closed = Some("aborted by the client");
            debug!("{}: the client aborted; so was {plain}", report.peer);
            Ok(())
        }
        (_, Some(End::Abort)) => {
            report.closed = Some("aborted by the backend");
            Err(Error::Io {
                phase: Phase::Read,
                source: std::io::Error::other(format!(
                    "{plain} aborted the connection; so was the client's"
                )),
            })
        }
        _ if outcome.reason.is_some() => {
            let reason = outcome.reason.unwrap_or_default();
            report.closed = Some("aborted");
            warn!("{}: tunnel to {plain} aborted: {reason}", report.peer);
            Err(Error::Io {
                phase: Phase::Write,
                source: std::io::Error::other(reason),
            })
        }
        _ => {
            report.closed = Some("close_notify");
            Ok(())
        }
    }
}

/// Why the backend could not be reached, in words.
fn backend_failure(error: &Error) -> String {
    match error {
        Error::Connect { detail, .. } => detail.clone(),
        Error::Timeout { limit, .. } => format!(
            "no answer within {} (--backend-connect-timeout)",
            crate::error::seconds(*limit)
        ),
        other => other.to_string(),
    }
}

/// Writes the PROXY header to the backend within `limit`.
async fn write_plain(
    plain: &mut PlainStream,
    bytes: &[u8],
    limit: std::time::Duration,
) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    conn::within(Phase::Write, limit, plain.write_all(bytes))
        .await?
        .map_err(|source| Error::Io {
            phase: Phase::Write,
            source,
        })
}

/// What the PROXY header's TLVs say of the connection.
fn facts(tls: &Tls, report: &Report) -> TlsFacts {
    let ssl = tls.ssl();
    let negotiated = &report.negotiated;
    let client_cn = ssl.peer_certificate().and_then(|cert| {
        cert.subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok())
    });
    TlsFacts {
        version: negotiated.version.map(str::to_string),
        cipher: negotiated.cipher.map(str::to_string),
        sni: negotiated.sni.as_deref().map(str::to_string),
        alpn: negotiated.alpn.as_deref().map(str::to_string),
        client_certificate: ssl.peer_certificate().is_some(),
        client_cn,
        verified: report.verified,
    }
}

/// What a program learns of its connection, in its environment (as socat's SOCAT_PEERADDR).
fn environment(tls: &Tls, report: &Report) -> Vec<(&'static str, String)> {
    let facts = facts(tls, report);
    let mut env = vec![("TLSCAT_PEER", report.peer.clone())];
    for (name, value) in [
        ("TLSCAT_TLS_VERSION", facts.version),
        ("TLSCAT_CIPHER", facts.cipher),
        ("TLSCAT_SNI", facts.sni),
        ("TLSCAT_ALPN", facts.alpn),
        ("TLSCAT_CLIENT_CN", facts.client_cn),
    ] {
        if let Some(value) = value {
            env.push((name, value));
        }
    }
    env
}
