//! Reaching a TLS server, for the client, the load generator and tunnels: TCP connect to
//! the first address that answers, the verified handshake (its failures explained), and
//! the public key pins.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;
use openssl::ssl::{SslConnector, SslRef, SslSessionRef};
use tokio::net::{TcpStream, UnixStream};
use tokio_openssl::SslStream;

use crate::config::{Address, ClientConfig, ClientTls, HostPort, StarttlsProtocol, Timeouts};
use crate::conn::within;
use crate::error::{Error, Phase, Result, seconds};
pub(crate) use crate::listen::PlainStream;
use crate::report::{Report, millis};
use crate::tls::observe::Observer;
use crate::tls::{self, Side, access, verify};

/// Opens a TCP connection to the first address of the host that accepts one.
pub(crate) async fn connect(target: &HostPort, timeouts: &Timeouts) -> Result<TcpStream> {
    let limit = timeouts.connect;
    let addrs = within(
        Phase::Connect,
        limit,
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await?
    .map_err(|source| Error::Resolve {
        host: target.host.clone(),
        source,
    })?;
    // With one literal address, naming it again in each failure would only repeat the target.
    let name_each = target.host.parse::<IpAddr>().is_err();
    let failed = |addr: SocketAddr, why: String| {
        if name_each {
            format!("{addr}: {why}")
        } else {
            why
        }
    };
    let mut failures = Vec::new();
    let mut all_timed_out = true;
    for addr in addrs {
        match within(Phase::Connect, limit, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                debug!("connected to {addr}");
                tcp.set_nodelay(true).map_err(|e| Error::Io {
                    phase: Phase::Connect,
                    source: e,
                })?;
                return Ok(tcp);
            }
            Ok(Err(e)) => {
                all_timed_out = false;
                failures.push(failed(addr, describe_connect_error(&e)));
            }
            Err(_) => failures.push(failed(addr, format!("no answer within {}", seconds(limit)))),
        }
    }
    if all_timed_out && !failures.is_empty() {
        return Err(Error::Timeout {
            phase: Phase::Connect,
            limit,
        });
    }
    Err(Error::Connect {
        target: target.to_string(),
        detail: if failures.is_empty() {
            "the name resolved to no address".to_string()
        } else {
            failures.join("; ")
        },
    })
}

impl PlainStream {
    /// Connects to `address` within `limit`: every address a host name resolves to, in
    /// turn. The error names the address and the reason.
    pub(crate) async fn connect(address: &Address, limit: Duration) -> Result<PlainStream> {
        match address {
            Address::Tcp(host_port) => {
                let timeouts = Timeouts {
                    connect: limit,
                    ..Timeouts::default()
                };
                connect(host_port, &timeouts).await.map(PlainStream::Tcp)
            }
            Address::Unix(path) => {
                let connected = tokio::time::timeout(limit, UnixStream::connect(path))
                    .await
                    .map_err(|_| Error::Timeout {
                        phase: Phase::Connect,
                        limit,
                    })?;
                connected
                    .map(PlainStream::Unix)
                    .map_err(|e| Error::Connect {
                        target: address.to_string(),
                        detail: crate::dial::describe_connect_error(&e),
                    })
            }
        }
    }

    /// Who is at the other end: `127.0.0.1:443`, `unix:/run/app.sock`.
    pub(crate) fn peer(&self, address: &Address) -> String {
        match self {
            PlainStream::Tcp(s) => s
                .peer_addr()
                .map_or_else(|_| address.to_string(), |a| a.to_string()),
            PlainStream::Unix(_) => address.to_string(),
        }
    }
}

/// Why a TCP connect failed, in words: the two usual answers of a closed port plainly,
/// anything else as the system says it.
pub(crate) fn describe_connect_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        // A listener that closes with our connection still in its queue resets it.
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        _ => e.to_string(),
    }
}

/// Connects to the client's target, noting the connect time and the peer in `report`;
/// returns the connection and its observer (tracing where `--trace` says).
pub(crate) async fn open(
    config: &ClientConfig,
    report: &mut Report,
) -> Result<(PlainStream, Arc<Observer>)> {
    let started = Instant::now();
    let tcp = PlainStream::connect(&config.target.address, config.timeouts.connect).await?;
    report.timings_ms.connect = Some(millis(started.elapsed()));
    report.peer = tcp.peer(&config.target.address);
    let trace = crate::report::trace_sink(config.output.trace);
    let observer = Observer::new(Side::Client, report.peer.clone(), trace);
    Ok((tcp, observer))
}

/// With `--starttls`: the plaintext exchange that comes before the handshake. The name it
/// announces: `--starttls-host`, else this machine's (SMTP, LMTP) or the server's (XMPP).
pub(crate) async fn starttls(
    config: &ClientConfig,
    plain: &mut PlainStream,
    observer: &Observer,
) -> Result<()> {
    let Some(starttls) = &config.starttls else {
        return Ok(());
    };
    let host = match (&starttls.host, starttls.protocol) {
        (Some(host), _) => host.clone(),
        (None, StarttlsProtocol::Smtp | StarttlsProtocol::Lmtp) => local_hostname(),
        (None, _) => config.target.server_name().to_string(),
    };
    crate::starttls::negotiate(
        plain,
        starttls.protocol,
        &host,
        observer,
        config.timeouts.handshake,
    )
    .await
}

/// This machine's name, for SMTP's EHLO.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Runs the TLS handshake with verification as configured, offering `offer` for
/// resumption (with `early_data` sent as 0-RTT data on it). A rejected certificate is
/// explained with the failing certificate and the fix, and the chain the server sent goes
/// into `report` (if given) all the same.
pub(crate) async fn handshake(
    connector: &SslConnector,
    config: &ClientConfig,
    tcp: PlainStream,
    observer: &Arc<Observer>,
    offer: Option<&SslSessionRef>,
    early_data: Option<&[u8]>,
    report: Option<&mut Report>,
) -> Result<SslStream<PlainStream>> {
    let ssl = tls::client_ssl(connector, &config.tls, &config.target, observer, offer)?;
    let mut stream = SslStream::new(ssl, tcp)?;
    if let Some(mut data) = early_data {
        // 0-RTT: written before the handshake completes; whether the server took it is
        // known after.
        while !data.is_empty() {
            let written = within(
                Phase::Handshake,
                config.timeouts.handshake,
                Pin::new(&mut stream).write_early_data(data),
            )
            .await?
            .map_err(|e| {
                tls::handshake_failure(
                    e,
                    Side::Client,
                    observer.clues(),
                    &tls::Offer::of(&config.tls.protocol),
                )
            })?;
            data = &data[written..];
        }
    }
    let result = within(
        Phase::Handshake,
        config.timeouts.handshake,
        Pin::new(&mut stream).connect(),
    )
    .await?;
    if let Err(e) = result {
        if let Some(failure) = observer.verify_failure() {
            if let Some(report) = report {
                report.record_sent_chain(&failure.sent, config.output.show_certs);
            }
            return Err(verify::rejection(
                &failure,
                config.target.server_name(),
                &config.tls.trust,
            ));
        }
        if let Some(staple) = observer.take_ocsp().filter(|s| s.revoked()) {
            let subject = stream
                .ssl()
                .peer_certificate()
                .map(|c| tls::cert::name(c.subject_name()))
                .unwrap_or_default();
            return Err(Error::Verify {
                reason: format!(
                    "the server's certificate {subject} is revoked: its stapled OCSP response \
                     says so ({})",
                    staple.describe()
                ),
                hint: Some("the server needs a new certificate from its CA".into()),
            });
        }
        let offer = tls::Offer::of(&config.tls.protocol);
        return Err(tls::handshake_failure(
            e,
            Side::Client,
            observer.clues(),
            &offer,
        ));
    }
    Ok(stream)
}

/// With `--pin`: the server's public key must be one of the pinned ones (checked even
/// with `--insecure`, as curl does). On a mismatch nothing is sent.
pub(crate) fn check_pins(tls: &ClientTls, ssl: &SslRef) -> Result<()> {
    if tls.pins.is_empty() {
        return Ok(());
    }
    let Some((pin, digest)) = ssl.peer_certificate().and_then(|c| access::pin_of(&c)) else {
        return Err(Error::Verify {
            reason: "public key pin: the server sent no certificate".into(),
            hint: None,
        });
    };
    if tls.pins.contains(&digest) {
        return Ok(());
    }
    let expected: Vec<String> = tls
        .pins
        .iter()
        .map(|d| format!("sha256//{}", openssl::base64::encode_block(d)))
        .collect();
    Err(Error::Verify {
        reason: format!(
            "public key pin mismatch: the server's key is {pin}, --pin expects {}",
            expected.join(" or ")
        ),
        hint: Some(
            "if the server changed its key on purpose, pin the new one (openssl x509 -pubkey \
             -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | \
             base64); else someone may be in the middle"
                .into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_described_plainly() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe_connect_error(&refused), "connection refused");
        let reset = io::Error::from_raw_os_error(104); // ECONNRESET
        assert_eq!(describe_connect_error(&reset), "connection reset");
        let unreachable = io::Error::from_raw_os_error(101); // ENETUNREACH
        assert!(
            describe_connect_error(&unreachable).contains("unreachable"),
            "{}",
            describe_connect_error(&unreachable)
        );
    }
}
