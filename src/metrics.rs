//! Prometheus metrics of the server, served as text at `/metrics` (and `/healthz`) on a
//! plain-HTTP listener of its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BufMut;

use log::{debug, warn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::addr::HostPort;
use crate::conn::Read;
use crate::error::{Error, Phase, Result};
use crate::http::{self, Incoming};
use crate::report::Report;

/// Upper bounds of the handshake latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How much of a metrics request is read at a time.
const REQUEST_READ: usize = 2048;

/// How long a metrics client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Adds one to `key`'s count, allocating the key only the first time.
fn count(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// Counters, gauges and histograms of one server process.
#[derive(Default)]
pub(crate) struct Metrics {
    accepted: AtomicU64,
    active: AtomicI64,
    /// The most connections open at once since [`Metrics::take_peak`].
    peak_active: AtomicI64,
    resumed: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    ticket_rotations: AtomicU64,
    tunnels_active: AtomicI64,
    backend_bytes_out: AtomicU64,
    backend_bytes_in: AtomicU64,
    labelled: Mutex<Labelled>,
}

#[derive(Default)]
struct Labelled {
    /// closed connections by reason
    closed: BTreeMap<String, u64>,
    /// successful handshakes by version, then cipher
    handshakes: BTreeMap<String, BTreeMap<String, u64>>,
    /// failed handshakes by reason
    failures: BTreeMap<String, u64>,
    /// handshake latency: counts per bucket (plus +Inf), sum, count
    latency_counts: [u64; LATENCY_BUCKETS.len() + 1],
    latency_sum: f64,
    latency_count: u64,
    /// certificate expiry (Unix seconds) by subject
    expiry: BTreeMap<String, i64>,
    /// failed connections to a tunnel's backend, by backend
    backend_failures: BTreeMap<String, u64>,
}

impl Metrics {
    /// A connection was accepted.
    pub(crate) fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let active = self.active.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_active.fetch_max(active, Ordering::Relaxed);
    }

    /// Connections open now.
    pub(crate) fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    /// The most connections open at once since the last call; starts the next period
    /// from the number open now.
    pub(crate) fn take_peak(&self) -> i64 {
        self.peak_active.swap(self.active(), Ordering::Relaxed)
    }

    /// A connection ended; its report says how.
    pub(crate) fn closed(&self, report: &Report, reason: &str) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.bytes_in
            .fetch_add(report.bytes_received, Ordering::Relaxed);
        self.bytes_out
            .fetch_add(report.bytes_sent, Ordering::Relaxed);
        let mut labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut labelled.closed, reason);
        match (report.negotiated.version, report.negotiated.cipher) {
            (Some(version), Some(cipher)) => {
                if !labelled.handshakes.contains_key(version) {
                    labelled
                        .handshakes
                        .insert(version.to_string(), BTreeMap::new());
                }
                if let Some(by_cipher) = labelled.handshakes.get_mut(version) {
                    count(by_cipher, cipher);
                }
                if report.negotiated.resumed {
                    self.resumed.fetch_add(1, Ordering::Relaxed);
                }
                let seconds = report.timings_ms.handshake.unwrap_or(0.0) / 1000.0;
                let bucket = LATENCY_BUCKETS
                    .iter()
                    .position(|upper| seconds <= *upper)
                    .unwrap_or(LATENCY_BUCKETS.len());
                labelled.latency_counts[bucket] += 1;
                labelled.latency_sum += seconds;
                labelled.latency_count += 1;
            }
            _ => count(&mut labelled.failures, reason),
        }
    }

    /// A reload was tried.
    pub(crate) fn reloaded(&self, ok: bool) {
        let counter = if ok {
            &self.reloads
        } else {
            &self.reload_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A tunnel to a backend (or program) opened.
    pub(crate) fn tunnel_opened(&self) {
        self.tunnels_active.fetch_add(1, Ordering::Relaxed);
    }

    /// A tunnel ended, having carried these bytes to and from its backend.
    pub(crate) fn tunnel_closed(&self, to_backend: u64, from_backend: u64) {
        self.tunnels_active.fetch_sub(1, Ordering::Relaxed);
        self.backend_bytes_out
            .fetch_add(to_backend, Ordering::Relaxed);
        self.backend_bytes_in
            .fetch_add(from_backend, Ordering::Relaxed);
    }

    /// Connecting to a tunnel's backend failed.
    pub(crate) fn backend_failed(&self, backend: &str) {
        let mut labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
        count(&mut labelled.backend_failures, backend);
    }

    /// The generated session ticket key was replaced.
    pub(crate) fn ticket_keys_rotated(&self) {
        self.ticket_rotations.fetch_add(1, Ordering::Relaxed);
    }

    /// The certificates now served and when they expire (Unix seconds).
    pub(crate) fn set_certificates(&self, expiry: impl IntoIterator<Item = (String, i64)>) {
        let mut labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
        labelled.expiry = expiry.into_iter().collect();
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let simple = [
            (
                "tlscat_connections_accepted_total",
                "counter",
                "Connections accepted.",
                self.accepted.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_connections_active",
                "gauge",
                "Connections open now.",
                self.active.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_resumptions_total",
                "counter",
                "Handshakes that resumed a session.",
                self.resumed.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_received_bytes_total",
                "counter",
                "Application bytes received.",
                self.bytes_in.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_sent_bytes_total",
                "counter",
                "Application bytes sent.",
                self.bytes_out.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_reloads_total",
                "counter",
                "Certificate reloads that took effect.",
                self.reloads.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_ticket_key_rotations_total",
                "counter",
                "Generated session ticket keys replaced.",
                self.ticket_rotations.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_tunnels_active",
                "gauge",
                "Tunnels to a backend or program open now.",
                self.tunnels_active.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_backend_sent_bytes_total",
                "counter",
                "Bytes tunnels carried to their backends.",
                self.backend_bytes_out.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_backend_received_bytes_total",
                "counter",
                "Bytes tunnels carried back from their backends.",
                self.backend_bytes_in.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tlscat_reload_failures_total",
                "counter",
                "Certificate reloads refused (the previous certificate kept serving).",
                self.reload_failures.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }

        let labelled = self.labelled.lock().unwrap_or_else(|e| e.into_inner());
        family(
            &mut out,
            ("tlscat_connections_closed_total", "counter"),
            "Connections ended, by reason.",
            "reason",
            &labelled.closed,
        );
        let _ = writeln!(
            out,
            "# HELP tlscat_handshakes_total Successful handshakes, by version and cipher suite.\n\
             # TYPE tlscat_handshakes_total counter"
        );
        for (version, by_cipher) in &labelled.handshakes {
            for (cipher, count) in by_cipher {
                let _ = writeln!(
                    out,
                    "tlscat_handshakes_total{{version=\"{}\",cipher=\"{}\"}} {count}",
                    escape(version),
                    escape(cipher)
                );
            }
        }
        family(
            &mut out,
            ("tlscat_handshake_failures_total", "counter"),
            "Failed handshakes, by reason.",
            "reason",
            &labelled.failures,
        );
        let _ = writeln!(
            out,
            "# HELP tlscat_handshake_duration_seconds TLS handshake duration.\n\
             # TYPE tlscat_handshake_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, upper) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += labelled.latency_counts[i];
            let _ = writeln!(
                out,
                "tlscat_handshake_duration_seconds_bucket{{le=\"{upper}\"}} {cumulative}"
            );
        }
        cumulative += labelled.latency_counts[LATENCY_BUCKETS.len()];
        let _ = writeln!(
            out,
            "tlscat_handshake_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             tlscat_handshake_duration_seconds_sum {}\n\
             tlscat_handshake_duration_seconds_count {}",
            labelled.latency_sum, labelled.latency_count
        );
        family(
            &mut out,
            ("tlscat_backend_connect_failures_total", "counter"),
            "Failed connections to a tunnel's backend, by backend.",
            "backend",
            &labelled.backend_failures,
        );
        family(
            &mut out,
            ("tlscat_certificate_expiry_timestamp_seconds", "gauge"),
            "When each served certificate expires.",
            "subject",
            &labelled.expiry,
        );
        out
    }
}

/// A metric family with one label: its HELP and TYPE lines, then a sample per label value.
fn family<V: std::fmt::Display>(
    out: &mut String,
    (name, kind): (&str, &str),
    help: &str,
    label: &str,
    samples: &BTreeMap<String, V>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (value, sample) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {sample}", escape(value));
    }
}

/// Label values escaped as the exposition format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds the metrics listener (plain HTTP).
pub(crate) async fn bind(addr: &HostPort) -> Result<TcpListener> {
    TcpListener::bind((addr.host.as_str(), addr.port))
        .await
        .map_err(|e| Error::bind(format!("--metrics {addr}"), e))
}

/// Serves `/metrics` and `/healthz` until `stop` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: std::sync::Arc<Metrics>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let metrics = std::sync::Arc::clone(&metrics);
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &metrics).await {
                        debug!("metrics client {peer}: {e}");
                    }
                });
            }
            Err(e) => {
                warn!("metrics listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A plain-HTTP metrics client as a source of request heads.
struct PlainSource(TcpStream);

impl http::Source for PlainSource {
    fn poll_more(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        buf.reserve(REQUEST_READ);
        let mut room = (&mut *buf).limit(REQUEST_READ);
        std::pin::pin!(self.0.read_buf(&mut room)).poll(cx)
    }

    fn outcome(&mut self, read: io::Result<usize>) -> Result<Read> {
        match read {
            Ok(0) => Ok(Read::Closed),
            Ok(n) => Ok(Read::Data(n)),
            Err(source) => Err(Error::Io {
                phase: Phase::Read,
                source,
            }),
        }
    }
}

async fn answer(stream: TcpStream, metrics: &Metrics) -> Result<()> {
    let mut source = PlainSource(stream);
    let mut pending = Vec::new();
    let request = match http::read_request(&mut source, &mut pending, REQUEST_TIMEOUT).await? {
        Incoming::Request(request) => Ok(request),
        Incoming::Closed | Incoming::Truncated => return Ok(()),
        Incoming::NotHttp => Err("not an HTTP request".to_string()),
        Incoming::Invalid(reason) => Err(reason),
    };
    let response = match request {
        Err(reason) => http::response(400, "text/plain", format!("{reason}\n").as_bytes(), false),
        Ok(request) if request.method != "GET" && request.method != "HEAD" => {
            http::response(405, "text/plain", b"GET or HEAD only\n", false)
        }
        Ok(request) => {
            let head_only = request.method == "HEAD";
            match request.path() {
                "/metrics" => http::response(
                    200,
                    "text/plain; version=0.0.4",
                    metrics.render().as_bytes(),
                    head_only,
                ),
                "/healthz" => http::response(200, "text/plain", b"ok\n", head_only),
                _ => http::response(404, "text/plain", b"try /metrics or /healthz\n", head_only),
            }
        }
    };
    let mut stream = source.0;
    let written = async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    };
    written.await.map_err(|source| Error::Io {
        phase: Phase::Write,
        source,
    })
}
