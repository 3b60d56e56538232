//! `tlscat server`: listeners, the accept loop and the per-connection handler.
//!
//! Each connection runs in its own task, so a slow or hostile client never delays another.
//! A permit from a semaphore of `max_conns` is taken *before* `accept()`: beyond the limit,
//! new clients wait in the kernel's backlog instead of costing memory here.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use std::time::Instant;

use log::{debug, info, warn};
use openssl::ssl::{Ssl, SslVerifyMode};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_openssl::SslStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::conn::{self, Read};
use crate::error::{Error, Phase, Result, seconds};
use crate::report::{self, Report, millis};
use crate::shutdown::Request;
use crate::tls::observe::Observer;
use crate::tls::{self, Acceptor, Side, verify};

/// Pending connections the kernel queues per listener while all permits are taken.
const LISTEN_BACKLOG: i32 = 1024;
/// Longest pause after a failing `accept()` (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// A server whose certificate is loaded and whose sockets are bound, ready to [`run`](Server::run).
pub struct Server {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

/// What every connection task reads.
struct Shared {
    acceptor: Acceptor,
    config: ServerConfig,
}

impl Server {
    /// Loads the certificate and key, then binds every listen address. Nothing is served
    /// until [`run`](Server::run); any problem here is a startup error.
    pub async fn bind(config: ServerConfig) -> Result<Server> {
        let acceptor = tls::acceptor(&config)?;
        let listeners = bind_all(&config.listen).await?;
        Ok(Server {
            listeners,
            shared: Arc::new(Shared { acceptor, config }),
        })
    }

    /// The bound addresses (with the real port when port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until the first [`Request::Stop`]; then stops accepting, lets connections in
    /// flight finish within the drain timeout (or until a second `Stop`), cuts the rest,
    /// and returns.
    pub async fn run(self, mut requests: mpsc::UnboundedReceiver<Request>) -> Result<()> {
        let config = &self.shared.config;
        for addr in self.local_addrs() {
            if let Err(e) = report::listening(addr, config.output.json) {
                warn!("cannot write to stdout: {e}");
            }
        }
        let served: Vec<String> = config
            .certificates
            .iter()
            .map(|c| c.identity.display_path().to_string())
            .collect();
        info!(
            "tlscat {} serving {}",
            crate::version_line(),
            served.join(", ")
        );

        let permits = Arc::new(Semaphore::new(self.shared.config.max_conns));
        let stop_accepting = CancellationToken::new();
        let cut_connections = CancellationToken::new();
        let connections = TaskTracker::new();
        let mut accept_loops = JoinSet::new();
        for listener in self.listeners {
            accept_loops.spawn(accept_loop(
                listener,
                Arc::clone(&self.shared),
                Arc::clone(&permits),
                connections.clone(),
                stop_accepting.clone(),
                cut_connections.clone(),
            ));
        }

        if requests.recv().await.is_none() {
            // Nobody can ask us to stop: serve forever.
            std::future::pending::<()>().await;
        }
        let drain = self.shared.config.drain_timeout;
        info!(
            "stopping: no new connections; {} in flight get up to {}",
            connections.len(),
            seconds(drain)
        );
        stop_accepting.cancel();
        while accept_loops.join_next().await.is_some() {}
        connections.close();
        tokio::select! {
            () = connections.wait() => {}
            () = tokio::time::sleep(drain) => {
                warn!("drain timeout passed: cutting {} connections", connections.len());
            }
            Some(_) = requests.recv() => {
                warn!("second stop request: cutting {} connections", connections.len());
            }
        }
        cut_connections.cancel();
        connections.wait().await;
        info!("stopped");
        Ok(())
    }
}

/// Binds every address each `HOST:PORT` resolves to.
async fn bind_all(specs: &[String]) -> Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut bound = BTreeSet::new();
    for spec in specs {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(spec.as_str())
            .await
            .map_err(|e| {
                Error::Config(format!(
                    "cannot resolve --listen {spec}: {e}: use HOST:PORT with a known host or an IP address"
                ))
            })?
            .collect();
        let several = addrs.len() > 1;
        for addr in addrs {
            if !bound.insert(addr) {
                continue;
            }
            match listen_on(addr) {
                Ok(listener) => listeners.push(listener),
                // e.g. "localhost" also resolves to ::1 on a host without IPv6.
                Err(e) if several && e.kind() == io::ErrorKind::AddrNotAvailable => {
                    warn!("skipping {addr} (from {spec}): {e}");
                }
                Err(e) => return Err(Error::bind(addr, e)),
            }
        }
    }
    if listeners.is_empty() {
        return Err(Error::Config(format!(
            "--listen {} bound no address: check the host names",
            specs.join(", ")
        )));
    }
    Ok(listeners)
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // [::]:PORT then means IPv6 only, so it can sit next to 0.0.0.0:PORT.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    connections: TaskTracker,
    stop_accepting: CancellationToken,
    cut_connections: CancellationToken,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            () = stop_accepting.cancelled() => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return, // the semaphore is never closed
            },
        };
        let accepted = tokio::select! {
            () = stop_accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(e) => {
                warn!("accept failed: {e}; retrying in {}", seconds(backoff));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let cut = cut_connections.clone();
        connections.spawn(async move {
            let _permit = permit;
            tokio::select! {
                result = handle(tcp, peer, &shared) => {
                    if let Err(e) = result {
                        warn!("{peer}: {e}");
                    }
                }
                () = cut.cancelled() => warn!("{peer}: cut at shutdown"),
            }
        });
    }
}

/// One connection: the exchange, then its report (failures are also logged by the caller).
async fn handle(tcp: TcpStream, peer: SocketAddr, shared: &Shared) -> Result<()> {
    let output = shared.config.output;
    let mut report = Report::new(Side::Server, peer.to_string());
    let result = exchange(tcp, peer, shared, &mut report).await;
    if let Err(e) = &result {
        report.error = Some(e.to_string());
    }
    report.emit(output.json, output.quiet);
    result
}

/// The seed's exchange: handshake, read a message, print it, answer, close with
/// close_notify.
async fn exchange(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    report: &mut Report,
) -> Result<()> {
    let config = &shared.config;
    let timeouts = &config.timeouts;
    let output = config.output;
    // The reply goes out in one small write: do not let Nagle hold it back.
    tcp.set_nodelay(true).map_err(|e| Error::Io {
        phase: Phase::Handshake,
        source: e,
    })?;
    let observer = Observer::new(
        Side::Server,
        peer.to_string(),
        output.trace.then_some(output.json),
    );
    let mut ssl = Ssl::new(&shared.acceptor.context)?;
    observer.attach(&mut ssl)?;
    if let Some(auth) = &config.client_auth {
        let mut mode = SslVerifyMode::PEER;
        if auth.required {
            mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
        }
        let observer = Arc::clone(&observer);
        ssl.set_verify_callback(mode, move |preverified, ctx| {
            if !preverified {
                observer.record_verify_failure(ctx);
            }
            preverified
        });
    }
    let mut stream = SslStream::new(ssl, tcp)?;
    let started = Instant::now();
    let handshake = conn::within(
        Phase::Handshake,
        timeouts.handshake,
        Pin::new(&mut stream).accept(),
    )
    .await?;
    if let Err(e) = handshake {
        return Err(match observer.verify_failure() {
            Some(failure) => verify::client_rejection(&failure),
            None => tls::handshake_failure(e, Side::Server, false),
        });
    }
    let handshake_done = Instant::now();
    report.timings_ms.handshake = millis(handshake_done - started);
    report.negotiated(stream.ssl(), Side::Server, config.client_auth.is_some());
    report.certificate = shared
        .acceptor
        .certificate_of(stream.ssl().ssl_context())
        .cloned();
    if !output.json {
        let _ = report::connected(peer);
    }

    let mut message = vec![0; config.max_message];
    match conn::read(&mut stream, &mut message, timeouts.read, Side::Server).await? {
        Read::Data(n) => {
            report.timings_ms.first_byte = Some(millis(handshake_done.elapsed()));
            if stream.ssl().pending() > 0 {
                warn!(
                    "{peer}: message longer than --max-message {} bytes: the rest is discarded",
                    config.max_message
                );
            }
            report.received = Some(String::from_utf8_lossy(&message[..n]).into_owned());
            if !output.json {
                let _ = report::received(&message[..n]);
            }
            conn::write_all(&mut stream, &config.reply, timeouts.write, Side::Server).await?;
            report.sent = Some(String::from_utf8_lossy(&config.reply).into_owned());
        }
        Read::Closed => info!("{peer}: closed the connection without sending a message"),
        Read::Truncated => {
            info!("{peer}: disconnected without sending a message");
            report.closed = Some("no close_notify");
            return Ok(());
        }
    }
    report.closed = Some(
        match conn::close(&mut stream, timeouts.close, Side::Server).await {
            Ok(true) => "close_notify",
            Ok(false) => "no close_notify",
            // The reply is out: a peer that vanishes now has lost nothing.
            Err(e) => {
                debug!("{peer}: {e}");
                "no close_notify"
            }
        },
    );
    Ok(())
}
