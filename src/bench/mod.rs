//! `tlscat bench`: a load generator for any TLS server. `concurrency` tasks, spread over
//! one single-threaded runtime per core, each repeat a connection: TCP connect, a TLS
//! handshake verified like a real client's (one client context for all), the mode's
//! exchange, close_notify; until the duration passes or the count is reached. Each task
//! keeps its own statistics, added up at the end: the hot path shares nothing but two
//! progress counters.

mod histogram;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::{debug, warn};
use openssl::ssl::{SslConnector, SslRef, SslSession};
use openssl::x509::X509VerifyResult;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_openssl::SslStream;

pub use histogram::Histogram;

use crate::client;
use crate::config::{BenchConfig, BenchMode};
use crate::conn::{self, Read, within};
use crate::error::{Error, Phase, Result};
use crate::http;
use crate::tls::{self, Clues, Side};

/// Read buffer of each task.
const READ_BUFFER: usize = 64 * 1024;
/// What `--mode throughput --bytes` sends.
static PAYLOAD: [u8; 64 * 1024] = [0x5a; 64 * 1024];

/// What the run measured.
#[derive(Debug, Default)]
pub struct Summary {
    /// `host:port` as given, and the address used.
    pub target: String,
    pub address: String,
    pub mode: &'static str,
    pub resume: bool,
    pub concurrency: usize,
    /// From the first connection to the end of the last.
    pub elapsed: Duration,
    pub ok: u64,
    pub failed: u64,
    pub resumed: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// TCP connect and TLS handshake latency of the successful connections.
    pub connect: Histogram,
    pub handshake: Histogram,
    /// Connections by negotiated (version, cipher suite).
    pub negotiated: BTreeMap<(&'static str, &'static str), u64>,
    /// Failures by kind: how many, and the first one.
    pub errors: BTreeMap<&'static str, (u64, Error)>,
    /// CPU time of this process (user, system) over the run.
    pub cpu_user: Duration,
    pub cpu_system: Duration,
    pub cores: usize,
}

/// Runs the benchmark. Fails before starting when not even one connection succeeds (a
/// wrong address, an untrusted certificate): then its error says why.
pub async fn run(config: BenchConfig) -> Result<Summary> {
    let client = &config.client;
    if client.insecure {
        warn!("--insecure: the server's certificate is NOT verified");
    }
    let connector = tls::connector(client)?;
    let addresses = resolve(client).await?;
    let plan = Arc::new(Plan {
        connector,
        config: config.clone(),
        deadline: None,
        remaining: None,
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    // One connection first, on the first address that works: a mistake then shows as
    // one clear error, and lazily made state exists before the clock starts.
    let mut address = None;
    let mut first_error = None;
    for candidate in addresses {
        let mut trial = Worker::new(Arc::clone(&plan), candidate);
        match trial.connection().await {
            Ok(_) => {
                address = Some(candidate);
                break;
            }
            Err(e) => {
                debug!("{candidate}: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    let Some(address) = address else {
        return Err(first_error.unwrap_or_else(|| Error::Connect {
            target: client.target(),
            detail: "the name resolved to no address".into(),
        }));
    };

    let started = Instant::now();
    let plan = Arc::new(Plan {
        deadline: config.duration.map(|d| started + d),
        remaining: config.count.map(AtomicU64::new),
        ..Arc::into_inner(plan).ok_or_else(|| Error::Internal("plan still shared".into()))?
    });
    let cpu_before = cpu_time();
    let threads = spawn_threads(&plan, address)?;
    let progress = config
        .progress
        .then(|| tokio::spawn(show_progress(Arc::clone(&plan), started)));
    let mut summary = Summary {
        target: client.target(),
        address: address.to_string(),
        mode: mode_name(&config.mode),
        resume: config.resume,
        concurrency: config.concurrency,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..Summary::default()
    };
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|thread| thread.join())
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Internal(format!("cannot wait for the bench threads: {e}")))?;
    for thread in joined {
        let tallies = thread.map_err(|_| Error::Internal("a bench thread panicked".into()))??;
        for stats in tallies {
            summary.add(stats);
        }
    }
    summary.elapsed = started.elapsed();
    let cpu_after = cpu_time();
    summary.cpu_user = cpu_after.0.saturating_sub(cpu_before.0);
    summary.cpu_system = cpu_after.1.saturating_sub(cpu_before.1);
    if let Some(progress) = progress {
        progress.abort();
        let _ = progress.await;
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    Ok(summary)
}

/// One thread per core, each with a single-threaded runtime running its share of the
/// connections: no task ever moves between threads, and no thread wakes another (with
/// a shared multi-threaded runtime that costs about a tenth more CPU per connection).
fn spawn_threads(
    plan: &Arc<Plan>,
    address: SocketAddr,
) -> Result<Vec<std::thread::JoinHandle<Result<Vec<Stats>>>>> {
    let concurrency = plan.config.concurrency;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(concurrency);
    (0..threads)
        .map(|index| {
            let share = concurrency / threads + usize::from(index < concurrency % threads);
            let plan = Arc::clone(plan);
            std::thread::Builder::new()
                .name(format!("bench-{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| Error::Internal(format!("cannot start a runtime: {e}")))?;
                    runtime.block_on(async {
                        let mut tasks = JoinSet::new();
                        for _ in 0..share {
                            tasks.spawn(Worker::new(Arc::clone(&plan), address).run());
                        }
                        let mut tallies = Vec::with_capacity(share);
                        while let Some(stats) = tasks.join_next().await {
                            tallies.push(stats.map_err(|e| {
                                Error::Internal(format!("a bench task failed: {e}"))
                            })?);
                        }
                        Ok(tallies)
                    })
                })
                .map_err(|e| Error::Internal(format!("cannot start a bench thread: {e}")))
        })
        .collect()
}

fn mode_name(mode: &BenchMode) -> &'static str {
    match mode {
        BenchMode::Handshake => "handshake",
        BenchMode::Request(_) => "request",
        BenchMode::Echo(_) => "throughput (echo)",
        BenchMode::Download(_) => "throughput (download)",
    }
}

async fn resolve(config: &crate::ClientConfig) -> Result<Vec<SocketAddr>> {
    let found = within(
        Phase::Connect,
        config.timeouts.connect,
        tokio::net::lookup_host((config.host.as_str(), config.port)),
    )
    .await?
    .map_err(|source| Error::Resolve {
        host: config.host.clone(),
        source,
    })?;
    Ok(found.collect())
}

/// What every task reads.
struct Plan {
    connector: SslConnector,
    config: BenchConfig,
    /// No connection starts after this.
    deadline: Option<Instant>,
    /// Connections still to start, with `--count`.
    remaining: Option<AtomicU64>,
    /// Progress: connections done so far.
    ok: AtomicU64,
    failed: AtomicU64,
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

/// One task's tally.
#[derive(Default)]
struct Stats {
    ok: u64,
    failed: u64,
    resumed: u64,
    bytes_sent: u64,
    bytes_received: u64,
    connect: Histogram,
    handshake: Histogram,
    negotiated: BTreeMap<(&'static str, &'static str), u64>,
    errors: BTreeMap<&'static str, (u64, Error)>,
}

/// One successful connection.
struct Done {
    connect: Duration,
    handshake: Duration,
    resumed: bool,
    version: &'static str,
    cipher: &'static str,
    sent: u64,
    received: u64,
}

struct Worker {
    plan: Arc<Plan>,
    address: SocketAddr,
    /// The newest resumable session (with `--resume`).
    session: Option<SslSession>,
    buf: Vec<u8>,
    stats: Stats,
}

impl Worker {
    fn new(plan: Arc<Plan>, address: SocketAddr) -> Worker {
        Worker {
            plan,
            address,
            session: None,
            buf: Vec::new(),
            stats: Stats::default(),
        }
    }

    async fn run(mut self) -> Stats {
        while self.plan.claim() {
            match self.connection().await {
                Ok(done) => {
                    let stats = &mut self.stats;
                    stats.ok += 1;
                    stats.resumed += u64::from(done.resumed);
                    stats.bytes_sent += done.sent;
                    stats.bytes_received += done.received;
                    stats.connect.record(done.connect);
                    stats.handshake.record(done.handshake);
                    *stats
                        .negotiated
                        .entry((done.version, done.cipher))
                        .or_default() += 1;
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

    async fn connection(&mut self) -> Result<Done> {
        let plan = Arc::clone(&self.plan);
        let client = &plan.config.client;
        let timeouts = &client.timeouts;
        let started = Instant::now();
        let tcp = within(
            Phase::Connect,
            timeouts.connect,
            TcpStream::connect(self.address),
        )
        .await?
        .map_err(|e| Error::Connect {
            target: self.address.to_string(),
            detail: client::describe_connect_error(&e),
        })?;
        tcp.set_nodelay(true).map_err(|e| Error::Io {
            phase: Phase::Connect,
            source: e,
        })?;
        let connected = Instant::now();
        let ssl = tls::lean_client_ssl(&plan.connector, client, self.session.as_deref())?;
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
        let (sent, received) = match &plan.config.mode {
            BenchMode::Handshake => (0, 0),
            BenchMode::Request(request) => {
                conn::write_all(&mut stream, request, timeouts.write, Side::Client).await?;
                let received = read_to_end(&mut stream, &mut self.buf, timeouts.read).await?;
                (request.len() as u64, received)
            }
            BenchMode::Echo(bytes) => echo(&mut stream, *bytes, &mut self.buf, timeouts).await?,
            BenchMode::Download(path) => {
                download(&mut stream, client, path, &mut self.buf, timeouts).await?
            }
        };
        if plan.config.resume || plan.config.mode != BenchMode::Handshake {
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
        if plan.config.resume {
            if let Some(session) = ssl.session().filter(|s| tls::is_resumable(s)) {
                self.session = Some(session.to_owned());
            }
        }
        Ok(Done {
            connect: connected - started,
            handshake: handshaken - connected,
            resumed: ssl.session_reused(),
            version: ssl.version_str(),
            cipher: ssl.current_cipher().map_or("-", |c| c.name()),
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
    tls::handshake_failure(err, Side::Client, Clues::default())
}

/// Reads until the server closes; returns the bytes read.
async fn read_to_end(
    stream: &mut SslStream<TcpStream>,
    buf: &mut [u8],
    limit: Duration,
) -> Result<u64> {
    let mut received = 0;
    loop {
        match conn::read(stream, buf, limit, Side::Client).await? {
            Read::Data(n) => received += n as u64,
            Read::Closed | Read::Truncated => return Ok(received),
        }
    }
}

/// Sends `bytes` to an echo server while reading them back.
async fn echo(
    stream: &mut SslStream<TcpStream>,
    bytes: u64,
    buf: &mut [u8],
    timeouts: &crate::Timeouts,
) -> Result<(u64, u64)> {
    let (mut from_server, mut to_server) = tokio::io::split(stream);
    let upload = async {
        let mut left = bytes;
        while left > 0 {
            let chunk = &PAYLOAD[..PAYLOAD.len().min(left as usize)];
            within(Phase::Write, timeouts.write, to_server.write_all(chunk))
                .await?
                .map_err(|e| tls::io_failure(e, Phase::Write, Side::Client))?;
            left -= chunk.len() as u64;
        }
        within(Phase::Write, timeouts.write, to_server.flush())
            .await?
            .map_err(|e| tls::io_failure(e, Phase::Write, Side::Client))?;
        Ok::<_, Error>(())
    };
    let download = async {
        let mut received = 0;
        while received < bytes {
            let n = match within(Phase::Read, timeouts.read, from_server.read(buf)).await? {
                Ok(n) => n,
                Err(e) if tls::is_unexpected_eof(&e) => 0,
                Err(e) => return Err(tls::io_failure(e, Phase::Read, Side::Client)),
            };
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
/// that the body is as long as announced. Returns (bytes sent, body bytes).
async fn download(
    stream: &mut SslStream<TcpStream>,
    client: &crate::ClientConfig,
    path: &str,
    buf: &mut [u8],
    timeouts: &crate::Timeouts,
) -> Result<(u64, u64)> {
    let host = match client.server_name() {
        name if name.contains(':') => format!("[{name}]"),
        name => name.to_string(),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: tlscat-bench\r\n\
         Connection: close\r\n\r\n",
        client.port
    );
    conn::write_all(stream, request.as_bytes(), timeouts.write, Side::Client).await?;
    let mut head = Vec::new();
    let mut head_length = None;
    let mut announced = None;
    let mut received = 0u64;
    loop {
        let n = match conn::read(stream, buf, timeouts.read, Side::Client).await? {
            Read::Data(n) => n,
            Read::Closed | Read::Truncated => break,
        };
        received += n as u64;
        if head_length.is_some() {
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some((length, status, content_length)) = response_head(&head)? {
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
    Ok((request.len() as u64, body))
}

/// Parses a response head: (its length, the status, Content-Length), or `None` while
/// incomplete.
fn response_head(bytes: &[u8]) -> Result<Option<(usize, u16, Option<u64>)>> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        if bytes.len() > http::MAX_HEAD {
            return Err(bad_response("a response head over 16 KiB"));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| bad_response("a non-text head"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.strip_prefix("HTTP/1."))
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad_response("no HTTP/1.x status line"))?;
    let content_length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok());
    Ok(Some((end + 4, status, content_length)))
}

fn bad_response(what: &str) -> Error {
    Error::Expectation {
        what: "an HTTP/1.x response",
        expected: "a status line and headers".into(),
        got: what.into(),
    }
}

/// Rewrites one line on stderr every second until aborted.
async fn show_progress(plan: Arc<Plan>, started: Instant) {
    let mut last = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ok = plan.ok.load(Ordering::Relaxed);
        let failed = plan.failed.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (ok - last.0) as f64 / (now - last.1).as_secs_f64();
        last = (ok, now);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K{:>5.0} s  {} ok  {} failed  {}/s",
            started.elapsed().as_secs_f64(),
            thousands(ok),
            thousands(failed),
            thousands(rate as u64)
        );
    }
}

/// The CPU time this process used so far: (user, system).
fn cpu_time() -> (Duration, Duration) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF counts every thread.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return (Duration::ZERO, Duration::ZERO);
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}

/// `12345678` as `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

impl Summary {
    fn add(&mut self, stats: Stats) {
        self.ok += stats.ok;
        self.failed += stats.failed;
        self.resumed += stats.resumed;
        self.bytes_sent += stats.bytes_sent;
        self.bytes_received += stats.bytes_received;
        self.connect.merge(&stats.connect);
        self.handshake.merge(&stats.handshake);
        for (key, count) in stats.negotiated {
            *self.negotiated.entry(key).or_default() += count;
        }
        for (kind, (count, first)) in stats.errors {
            self.errors.entry(kind).or_insert((0, first)).0 += count;
        }
    }

    /// Successful connections per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// CPU microseconds this process spent per connection (successful or not).
    pub fn cpu_per_connection(&self) -> f64 {
        let connections = (self.ok + self.failed).max(1);
        (self.cpu_user + self.cpu_system).as_secs_f64() * 1e6 / connections as f64
    }

    /// Megabytes (10^6 bytes) per second.
    fn megabytes_per_second(&self, bytes: u64) -> f64 {
        bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `None` when every connection succeeded; else the first error of the most frequent
    /// kind (its exit code says what failed).
    pub fn most_frequent_error(&self) -> Option<&Error> {
        self.errors
            .values()
            .max_by_key(|(count, _)| *count)
            .map(|(_, first)| first)
    }

    /// The process exit code the run deserves: 0, or that of the most frequent error.
    pub fn exit_code(&self) -> u8 {
        self.most_frequent_error().map_or(0, Error::exit_code)
    }

    /// The summary as one JSON object.
    pub fn to_json(&self) -> String {
        let latency = |h: &Histogram| {
            let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
            serde_json::json!({
                "p50": ms(h.percentile(50.0)),
                "p90": ms(h.percentile(90.0)),
                "p99": ms(h.percentile(99.0)),
                "max": ms(h.max()),
                "mean": ms(h.mean()),
            })
        };
        let negotiated: Vec<_> = self
            .negotiated
            .iter()
            .map(|((version, cipher), count)| {
                serde_json::json!({"version": version, "cipher": cipher, "connections": count})
            })
            .collect();
        let errors: serde_json::Map<String, serde_json::Value> = self
            .errors
            .iter()
            .map(|(kind, (count, first))| {
                (
                    kind.to_string(),
                    serde_json::json!({"count": count, "first": first.to_string()}),
                )
            })
            .collect();
        serde_json::json!({
            "type": "bench",
            "exit_code": self.exit_code(),
            "target": self.target,
            "address": self.address,
            "mode": self.mode,
            "resume": self.resume,
            "concurrency": self.concurrency,
            "seconds": self.elapsed.as_secs_f64(),
            "connections": {"ok": self.ok, "failed": self.failed, "resumed": self.resumed},
            "connections_per_second": self.rate(),
            "handshake_ms": latency(&self.handshake),
            "connect_ms": latency(&self.connect),
            "bytes": {"sent": self.bytes_sent, "received": self.bytes_received},
            "megabytes_per_second": {
                "sent": self.megabytes_per_second(self.bytes_sent),
                "received": self.megabytes_per_second(self.bytes_received),
            },
            "client_cpu": {
                "user_seconds": self.cpu_user.as_secs_f64(),
                "system_seconds": self.cpu_system.as_secs_f64(),
                "us_per_connection": self.cpu_per_connection(),
                "cores": self.cores,
            },
            "negotiated": negotiated,
            "errors": errors,
        })
        .to_string()
    }

    /// The summary in words.
    pub fn to_text(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "tlscat bench: {}{} against {} ({}), {} at a time, {:.3} s",
            self.mode,
            if self.resume { ", resuming" } else { "" },
            self.target,
            self.address,
            self.concurrency,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  connections  {} ok ({} resumed), {} failed: {:.0}/s",
            thousands(self.ok),
            thousands(self.resumed),
            thousands(self.failed),
            self.rate()
        );
        let h = &self.handshake;
        let _ = writeln!(
            out,
            "  handshake    p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(h.percentile(50.0)),
            ms(h.percentile(90.0)),
            ms(h.percentile(99.0)),
            ms(h.max())
        );
        let _ = writeln!(
            out,
            "  connect      p50 {:.2} ms, p99 {:.2} ms",
            ms(self.connect.percentile(50.0)),
            ms(self.connect.percentile(99.0))
        );
        if self.bytes_sent + self.bytes_received > 0 {
            let _ = writeln!(
                out,
                "  data         sent {} bytes ({:.1} MB/s), received {} bytes ({:.1} MB/s)",
                thousands(self.bytes_sent),
                self.megabytes_per_second(self.bytes_sent),
                thousands(self.bytes_received),
                self.megabytes_per_second(self.bytes_received)
            );
        }
        for ((version, cipher), count) in &self.negotiated {
            let _ = writeln!(
                out,
                "  negotiated   {version} {cipher}: {}",
                thousands(*count)
            );
        }
        let cpu = self.cpu_user + self.cpu_system;
        let _ = writeln!(
            out,
            "  client CPU   {:.0} us per connection (user {:.2} s, system {:.2} s: {:.0}% of {} cores)",
            self.cpu_per_connection(),
            self.cpu_user.as_secs_f64(),
            self.cpu_system.as_secs_f64(),
            cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9) * 100.0 / self.cores as f64,
            self.cores
        );
        for (kind, (count, first)) in &self.errors {
            let _ = writeln!(
                out,
                "  failed       {kind}: {} (first: {first})",
                thousands(*count)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_give_status_and_length() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nX: y\r\n\r\nbody";
        assert_eq!(
            response_head(head).unwrap(),
            Some((head.len() - 4, 200, Some(42)))
        );
        assert_eq!(response_head(b"HTTP/1.1 404 Not").unwrap(), None);
        assert_eq!(
            response_head(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap(),
            Some((26, 404, None))
        );
        assert!(response_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
