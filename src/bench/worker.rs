//! One task of the load generator: connection after connection, each from TCP connect to
//! close_notify, tallied in its own [`Stats`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::debug;
use openssl::ssl::{SslConnector, SslRef, SslSession};
use openssl::x509::X509VerifyResult;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::summary::Stats;
use crate::config::{BenchConfig, BenchMode, HostPort, Target, Timeouts};
use crate::conn::{self, Read, within};
use crate::dial;
use crate::error::{Error, Phase, Result};
use crate::http;
use crate::tls::{self, Clues, Negotiated, Offer, Side};

/// Read buffer of each task.
const READ_BUFFER: usize = 64 * 1024;
/// What `--mode throughput --bytes` sends.
static PAYLOAD: [u8; 64 * 1024] = [0x5a; 64 * 1024];

/// What every task reads.
pub(super) struct Plan {
    pub(super) connector: SslConnector,
    pub(super) config: BenchConfig,
    /// No connection starts after this.
    pub(super) deadline: Option<Instant>,
    /// Connections still to start, with `--count`.
    pub(super) remaining: Option<AtomicU64>,
    /// Progress: connections done so far.
    pub(super) ok: AtomicU64,
    pub(super) failed: AtomicU64,
}

impl Plan {
    /// Whether another connection may start (and, with a count, takes its place).
    fn claim(&self) -> bool {
        if self.deadline.is_some_and(|end| Instant::now() >= end) {
            return false;
        }
        match &self.remaining {
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
            None => true,
        }
    }
}

/// One successful connection.
pub(super) struct Done {
    connect: Duration,
    handshake: Duration,
    /// Request sent to first byte back (request and download modes).
    response: Option<Duration>,
    negotiated: Negotiated,
    sent: u64,
    received: u64,
}

/// A task that makes connections one after the other while the plan allows.
pub(super) struct Worker {
    plan: Arc<Plan>,
    address: SocketAddr,
    /// The newest resumable session (with `--resume`).
    session: Option<SslSession>,
    buf: Vec<u8>,
    stats: Stats,
}

impl Worker {
    pub(super) fn new(plan: Arc<Plan>, address: SocketAddr) -> Worker {
        Worker {
            plan,
            address,
            session: None,
            buf: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Makes connections until the plan says stop; returns the tally.
    pub(super) async fn run(mut self) -> Stats {
        while self.plan.claim() {
            match self.connection().await {
                Ok(done) => {
                    let stats = &mut self.stats;
                    stats.ok += 1;
                    stats.resumed += u64::from(done.negotiated.resumed);
                    stats.bytes_sent += done.sent;
                    stats.bytes_received += done.received;
                    stats.connect.record(done.connect);
                    stats.handshake.record(done.handshake);
                    if let Some(response) = done.response {
                        stats.response.record(response);
                    }
                    let version = done.negotiated.version.unwrap_or("-");
                    let cipher = done.negotiated.cipher.unwrap_or("-");
                    *stats.negotiated.entry((version, cipher)).or_default() += 1;
                    self.plan.ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.stats.failed += 1;
                    self.stats.errors.entry(e.label()).or_insert((0, e)).0 += 1;
                    self.plan.failed.fetch_add(1, Ordering::Relaxed);
                    // Start again from a full handshake.
                    self.session = None;
                }
            }
        }
        self.stats
    }

    /// One connection, from TCP connect to close.
    pub(super) async fn connection(&mut self) -> Result<Done> {
        let plan = Arc::clone(&self.plan);
        let config = &plan.config;
        let timeouts = &config.timeouts;
        let started = Instant::now();
        let tcp = within(
            Phase::Connect,
            timeouts.connect,
            TcpStream::connect(self.address),
        )
        .await?
        .map_err(|e| Error::Connect {
            target: self.address.to_string(),
            detail: dial::describe_connect_error(&e),
        })?;
        tcp.set_nodelay(true).map_err(|e| Error::Io {
            phase: Phase::Connect,
            source: e,
        })?;
        let connected = Instant::now();
        let ssl = tls::lean_client_ssl(
            &plan.connector,
            &config.tls,
            &config.target,
            self.session.as_deref(),
        )?;
        let mut stream = SslStream::new(ssl, tcp)?;
        let handshake = within(
            Phase::Handshake,
            timeouts.handshake,
            Pin::new(&mut stream).connect(),
        )
        .await?;
        if let Err(e) = handshake {
            return Err(handshake_error(e, stream.ssl()));
        }
        let handshaken = Instant::now();
        if self.buf.is_empty() {
            self.buf = vec![0; READ_BUFFER];
        }
        let (sent, received, response) = match &config.mode {
            BenchMode::Handshake => (0, 0, None),
            BenchMode::Request(request) => {
                conn::write_all(&mut stream, request, timeouts.write, Side::Client).await?;
                let asked = Instant::now();
                let (received, first) =
                    read_to_end(&mut stream, &mut self.buf, timeouts.read).await?;
                (request.len() as u64, received, first.map(|t| t - asked))
            }
            BenchMode::Echo(bytes) => {
                let (sent, received) = echo(&mut stream, *bytes, &mut self.buf, timeouts).await?;
                (sent, received, None)
            }
            BenchMode::Download(path) => {
                let port = self.address.port();
                download(
                    &mut stream,
                    &config.target,
                    port,
                    path,
                    &mut self.buf,
                    timeouts,
                )
                .await?
            }
        };
        if config.resume || config.mode != BenchMode::Handshake {
            // close_notify both ways: TLS 1.3 session tickets are read on the way.
            if let Err(e) = conn::close(&mut stream, timeouts.close, Side::Client).await {
                debug!("close: {e}");
            }
        } else {
            // Nothing to wait for: our close_notify, then go (as `openssl s_time` does,
            // which does not even send close_notify).
            let _ = within(Phase::Close, timeouts.close, stream.shutdown()).await;
        }
        // A reset rather than a FIN: no TIME_WAIT left behind for each connection.
        let _ = stream.get_ref().set_zero_linger();
        let ssl = stream.ssl();
        if config.resume {
            if let Some(session) = ssl.session().filter(|s| tls::is_resumable(s)) {
                self.session = Some(session.to_owned());
            }
        }
        Ok(Done {
            connect: connected - started,
            handshake: handshaken - connected,
            response,
            negotiated: tls::negotiated(ssl, Side::Client),
            sent,
            received,
        })
    }
}

/// A failed handshake, told by the verify result when the certificate was the problem.
fn handshake_error(err: openssl::ssl::Error, ssl: &SslRef) -> Error {
    let verdict = ssl.verify_result();
    if verdict != X509VerifyResult::OK {
        return Error::Verify {
            reason: format!("the server's certificate: {}", verdict.error_string()),
            hint: Some("check --cacert and --servername (tlscat client shows the details)".into()),
        };
    }
    tls::handshake_failure(err, Side::Client, Clues::default(), &Offer::default())
}

/// Reads until the server closes; returns the bytes read, and when the first arrived.
async fn read_to_end(
    stream: &mut SslStream<TcpStream>,
    buf: &mut [u8],
    limit: Duration,
) -> Result<(u64, Option<Instant>)> {
    let mut received = 0;
    let mut first = None;
    loop {
        match conn::read(stream, buf, limit, Side::Client).await? {
            Read::Data(n) => {
                first.get_or_insert_with(Instant::now);
                received += n as u64;
            }
            Read::Closed | Read::Truncated => return Ok((received, first)),
        }
    }
}

/// Sends `bytes` to an echo server while reading them back.
async fn echo(
    stream: &mut SslStream<TcpStream>,
    bytes: u64,
    buf: &mut [u8],
    timeouts: &Timeouts,
) -> Result<(u64, u64)> {
    let (mut from_server, mut to_server) = tokio::io::split(stream);
    let upload = async {
        let mut left = bytes;
        while left > 0 {
            let chunk = &PAYLOAD[..PAYLOAD.len().min(left as usize)];
            within(Phase::Write, timeouts.write, to_server.write_all(chunk))
                .await?
                .map_err(|e| tls::io_failure(e, Phase::Write, Side::Client, Clues::default()))?;
            left -= chunk.len() as u64;
        }
        within(Phase::Write, timeouts.write, to_server.flush())
            .await?
            .map_err(|e| tls::io_failure(e, Phase::Write, Side::Client, Clues::default()))?;
        Ok::<_, Error>(())
    };
    let download = async {
        let mut received = 0;
        while received < bytes {
            let n =
                conn::read_half(&mut from_server, buf, timeouts.read, Side::Client, None).await?;
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        Ok::<_, Error>(received)
    };
    let ((), received) = tokio::try_join!(upload, download)?;
    if received != bytes {
        return Err(Error::Expectation {
            what: "echoed bytes (is the server in --mode echo?)",
            expected: bytes.to_string(),
            got: received.to_string(),
        });
    }
    Ok((bytes, received))
}

/// GETs `path` over HTTP/1.1 and reads the whole response; checks the status (200) and
/// that the body is as long as announced. Returns (bytes sent, body bytes, request sent
/// to first byte back).
async fn download(
    stream: &mut SslStream<TcpStream>,
    target: &Target,
    port: u16,
    path: &str,
    buf: &mut [u8],
    timeouts: &Timeouts,
) -> Result<(u64, u64, Option<Duration>)> {
    let host = HostPort::new(target.server_name(), port);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tlscat-bench\r\n\
         Connection: close\r\n\r\n"
    );
    conn::write_all(stream, request.as_bytes(), timeouts.write, Side::Client).await?;
    let asked = Instant::now();
    let mut response = None;
    let mut head = Vec::new();
    let mut head_length = None;
    let mut announced = None;
    let mut received = 0u64;
    loop {
        let n = match conn::read(stream, buf, timeouts.read, Side::Client).await? {
            Read::Data(n) => n,
            Read::Closed | Read::Truncated => break,
        };
        response.get_or_insert_with(|| asked.elapsed());
        received += n as u64;
        if head_length.is_some() {
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        let parsed = http::parse_response_head(&head).map_err(|got| Error::Expectation {
            what: "an HTTP/1.x response",
            expected: "a status line and headers".into(),
            got,
        })?;
        if let Some(http::ResponseHead {
            length,
            status,
            content_length,
        }) = parsed
        {
            if status != 200 {
                return Err(Error::Expectation {
                    what: "HTTP status",
                    expected: "200".into(),
                    got: format!("{status} for {path}"),
                });
            }
            head_length = Some(length as u64);
            announced = content_length;
            head = Vec::new();
        }
    }
    let Some(head_length) = head_length else {
        return Err(Error::Expectation {
            what: "an HTTP response",
            expected: format!("a response to GET {path}"),
            got: format!("{received} bytes without a complete head"),
        });
    };
    let body = received - head_length;
    if announced.is_some_and(|length| length != body) {
        return Err(Error::Io {
            phase: Phase::Read,
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the body was cut short: {body} of {announced:?} bytes"),
            ),
        });
    }
    Ok((request.len() as u64, body, response))
}
