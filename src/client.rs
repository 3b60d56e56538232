//! `tlscat client`: connect, handshake, send the message, print the response, close.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use log::{debug, warn};
use openssl::ssl::SslConnector;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use crate::config::ClientConfig;
use crate::conn::{self, Read, within};
use crate::error::{Error, Phase, Result, seconds};
use crate::report;
use crate::tls::{self, Side, verify};

/// The seed's client: one connection, one message, the whole response printed as
/// `Response from server: …` on stdout.
pub async fn run(config: &ClientConfig) -> Result<()> {
    if config.insecure {
        warn!(
            "--insecure: the server's certificate is NOT verified; anyone on the path can \
             impersonate it and read this connection"
        );
    }
    let connector = tls::connector(config)?;
    let tcp = connect(config).await?;
    let mut stream = handshake(&connector, config, tcp).await?;
    exchange(&mut stream, config).await
}

/// Opens a TCP connection to the first address of the host that accepts one.
pub async fn connect(config: &ClientConfig) -> Result<TcpStream> {
    let limit = config.timeouts.connect;
    let target = config.target();
    let addrs = within(
        Phase::Connect,
        limit,
        tokio::net::lookup_host((config.host.as_str(), config.port)),
    )
    .await?
    .map_err(|source| Error::Resolve {
        host: config.host.clone(),
        source,
    })?;
    // With one literal address, naming it again in each failure would only repeat the target.
    let name_each = config.host.parse::<IpAddr>().is_err();
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
        target,
        detail: if failures.is_empty() {
            "the name resolved to no address".to_string()
        } else {
            failures.join("; ")
        },
    })
}

fn describe_connect_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => e.to_string(),
    }
}

/// Runs the TLS handshake with verification as configured. A rejected certificate is
/// explained with the failing certificate and the fix.
pub async fn handshake(
    connector: &SslConnector,
    config: &ClientConfig,
    tcp: TcpStream,
) -> Result<SslStream<TcpStream>> {
    let client_ssl = tls::client_ssl(connector, config)?;
    let mut stream = SslStream::new(client_ssl.ssl, tcp)?;
    let result = within(
        Phase::Handshake,
        config.timeouts.handshake,
        Pin::new(&mut stream).connect(),
    )
    .await?;
    if let Err(e) = result {
        if let Some(failure) = client_ssl.verify_log.failure() {
            return Err(verify::rejection(
                &failure,
                config.server_name(),
                &config.trust,
            ));
        }
        return Err(tls::handshake_failure(e, Side::Client));
    }
    debug!("negotiated {}", tls::negotiated(stream.ssl()));
    Ok(stream)
}

/// How reading the response ended.
enum End {
    /// The server sent close_notify.
    Closed,
    /// The server closed TCP without close_notify.
    Truncated,
    /// We stopped at `max_response` bytes.
    Limit,
}

/// Sends the message, reads until the server closes (or `max_response` bytes), prints
/// the response, and answers the server's close_notify with ours.
pub async fn exchange(stream: &mut SslStream<TcpStream>, config: &ClientConfig) -> Result<()> {
    let timeouts = &config.timeouts;
    conn::write_all(stream, &config.message, timeouts.write, Side::Client).await?;

    let mut response = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    let end = loop {
        match conn::read(stream, &mut buf, timeouts.read, Side::Client).await {
            Ok(Read::Data(n)) => {
                response.extend_from_slice(&buf[..n]);
                if response.len() >= config.max_response {
                    response.truncate(config.max_response);
                    break End::Limit;
                }
            }
            Ok(Read::Closed) => break End::Closed,
            Ok(Read::Truncated) => break End::Truncated,
            Err(e) => {
                // Keep what arrived before the failure.
                if !response.is_empty() {
                    print_response(&response)?;
                }
                return Err(e);
            }
        }
    };
    print_response(&response)?;
    match end {
        End::Truncated => warn!(
            "the server closed the connection without close_notify: \
             the response may be truncated"
        ),
        End::Limit => warn!(
            "stopped reading at --max-response {} bytes: the rest of the response is discarded",
            config.max_response
        ),
        End::Closed => {}
    }
    if !matches!(end, End::Truncated) {
        if let Err(e) = conn::close(stream, timeouts.close, Side::Client).await {
            // The response is complete; a server that hangs up first costs nothing.
            debug!("closing: {e}");
        }
    }
    Ok(())
}

/// Prints the response; a closed stdout (`tlscat client | head -c0`) is not an error.
fn print_response(response: &[u8]) -> Result<()> {
    match report::response(response) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Io {
            phase: Phase::Write,
            source: io::Error::new(e.kind(), format!("cannot write to stdout: {e}")),
        }),
        _ => Ok(()),
    }
}
