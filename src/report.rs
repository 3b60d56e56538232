//! What tlscat tells the user about each connection.
//!
//! - stdout carries the seed's lines (`Server is listening on …`, `Connected to: …`,
//!   `Received: …`, `Response from server: …`), or with `--json` one JSON object per
//!   connection (and per trace event), so scripts can read it;
//! - stderr carries the human handshake report (unless `--quiet`), the `--trace` lines
//!   and the log.
//!
//! Peer data in the seed's lines is shown as text with control characters escaped (`\n`,
//! `\r`, `\u{1b}`, …) and invalid UTF-8 replaced by U+FFFD, so every line stays one line
//! and a peer cannot drive the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::SslRef;
use openssl::x509::X509;
use serde::Serialize;

use crate::config::Trace;
use crate::tls::hello::ClientHello;
use crate::tls::revocation::OcspReport;
use crate::tls::summary::CertSummary;
use crate::tls::trace::{Direction, TraceEvent, TraceSink};
use crate::tls::{self, Negotiated, Side};

/// `Server is listening on ADDR`, once per bound address (tests read the port from it);
/// with `json`, `{"type":"listening","address":"ADDR"}`.
pub fn listening(addr: &str, json: bool) -> io::Result<()> {
    if json {
        line(format_args!(
            "{}",
            serde_json::json!({"type": "listening", "address": addr})
        ))
    } else {
        line(format_args!("Server is listening on {addr}"))
    }
}

/// `Connected to: ADDR`, after a client's handshake succeeded.
pub fn connected(peer: &str) -> io::Result<()> {
    line(format_args!("Connected to: {peer}"))
}

/// `Received: MESSAGE`.
pub fn received(message: &[u8]) -> io::Result<()> {
    line(format_args!("Received: {}", printable(message)))
}

/// `Early data: DATA` (0-RTT data a client sent).
pub fn early_data(data: &[u8]) -> io::Result<()> {
    line(format_args!("Early data: {}", printable(data)))
}

/// `Response from server: REPLY`.
pub fn response(reply: &[u8]) -> io::Result<()> {
    line(format_args!("Response from server: {}", printable(reply)))
}

/// One line on stdout, flushed at once.
pub fn line(args: std::fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Peer bytes as one safe line of text (see the module docs).
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(shown, "{}", c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// How long each phase took, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// TCP connect (client only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<f64>,
    /// The TLS handshake (null when it did not finish).
    pub handshake: Option<f64>,
    /// From the end of the handshake to the first application byte received.
    pub first_byte: Option<f64>,
}

/// Milliseconds, rounded to microseconds.
pub fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Everything about one connection: what was negotiated, who the peer is, what was
/// exchanged. Serialized as the `--json` object (field names are a stable interface,
/// documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(rename = "type")]
    kind: ConnectionType,
    /// `client` or `server`: which side wrote this report.
    pub side: Side,
    /// The other end's address.
    pub peer: String,
    /// SNI, version, cipher, group, signature, ALPN, resumption.
    #[serde(flatten)]
    pub negotiated: Negotiated,
    /// The peer's certificate was verified (client: the server's chain and name; server:
    /// the client's certificate, when one was asked for).
    pub verified: bool,
    /// OpenSSL's verification result, or why nothing was verified.
    pub verify_result: Cow<'static, str>,
    /// The certificate we presented (server: the one chosen by SNI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Arc<CertSummary>>,
    /// The certificates the peer sent, in its order.
    pub peer_chain: Vec<CertSummary>,
    pub timings_ms: Timings,
    /// What we sent (client: the message; server: the reply).
    pub sent: Option<Box<str>>,
    /// What we received (client: the response; server: the message).
    pub received: Option<String>,
    /// Application bytes sent and received.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// What only some connections have: the ClientHello (inspect mode), the allow rule
    /// that let the client in, the tunnel. Boxed: an idle connection holds its report.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Box<Extra>>,
    /// How the connection ended: `close_notify`, `no close_notify`, `max-response reached`.
    pub closed: Option<&'static str>,
    /// Why the connection failed, if it did.
    pub error: Option<String>,
}

/// What only some connections carry in their report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Extra {
    /// The chain verification built, from the peer's certificate to the trust anchor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_chain: Option<Vec<CertSummary>>,
    /// What is wrong with the order of the chain the peer sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_problem: Option<String>,
    /// What the server's stapled OCSP response said (client, `--status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocsp: Option<OcspReport>,
    /// The plaintext protocol spoken before the handshake (client, `--starttls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starttls: Option<StarttlsReport>,
    /// 0-RTT early data: what the client sent, or the server received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_data: Option<EarlyDataReport>,
    /// The KeyUpdate the client sent after the exchange: `update_not_requested`,
    /// `update_requested`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_update: Option<&'static str>,
    /// The connection was renegotiated (TLS 1.2).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub renegotiated: bool,
    /// The server asked for the client certificate after the handshake (TLS 1.3).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub post_handshake_auth: bool,
    /// What the client offered (server, inspect mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_hello: Option<ClientHello>,
    /// With `--allow-*` rules: the one that let the client certificate in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_by: Option<String>,
    /// The plain side of a tunnel (forward, exec, `client --listen`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelReport>,
}

impl Report {
    /// The report's extras, made on first use.
    pub fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }
}

/// 0-RTT early data on a resumed TLS 1.3 connection.
#[derive(Debug, Clone, Serialize)]
pub struct EarlyDataReport {
    /// `accepted`, `rejected` (the server ignored it: resend), or `not sent` (and why).
    pub status: String,
    /// Bytes sent (client) or received (server).
    pub bytes: usize,
    /// What the server received, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// The plaintext start of a STARTTLS connection.
#[derive(Debug, Clone, Serialize)]
pub struct StarttlsReport {
    /// `smtp`, `imap`, … (as `--starttls` names it).
    pub protocol: &'static str,
    /// How long the plaintext exchange took, in milliseconds.
    pub ms: f64,
}

/// A tunnel's plain side: who it is, how it went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TunnelReport {
    /// The backend (`--forward`), the program (`--exec`), or the local client (`client
    /// --listen`).
    pub plain: String,
    /// How long connecting to the backend took.
    pub connect_ms: Option<f64>,
    /// The PROXY header sent first: `v1`, `v2`.
    pub proxy_header: Option<&'static str>,
    /// Bytes from the TLS side to the plain side, and back.
    pub to_plain: u64,
    pub from_plain: u64,
    /// How each side ended its sending: `closed`, `aborted` or `open`.
    pub tls_end: &'static str,
    pub plain_end: &'static str,
    /// Which side ended its sending first: `tls` or `plain`.
    pub closed_first: Option<&'static str>,
    /// The program's exit code (`--exec`).
    pub exit_status: Option<i32>,
}

impl TunnelReport {
    /// One line of the text report.
    fn describe(&self, side: Side) -> String {
        let (label, tls, plain) = match side {
            Side::Server if self.exit_status.is_some() => ("program", "client", "program"),
            Side::Server => ("backend", "client", "backend"),
            Side::Client => ("local", "server", "local client"),
        };
        let mut what = self.plain.clone();
        let mut details = Vec::new();
        if let Some(ms) = self.connect_ms {
            details.push(format!("connect {ms:.3} ms"));
        }
        if let Some(version) = self.proxy_header {
            details.push(format!("PROXY {version}"));
        }
        if let Some(code) = self.exit_status {
            details.push(format!("exit {code}"));
        }
        if !details.is_empty() {
            what = format!("{what} ({})", details.join(", "));
        }
        let first = match self.closed_first {
            Some("tls") => format!("; the {tls} closed first"),
            Some(_) => format!("; the {plain} closed first"),
            None => String::new(),
        };
        format!(
            "{label:<10} {what}: {} bytes to it, {} from it; {tls} {}, {plain} {}{first}",
            self.to_plain, self.from_plain, self.tls_end, self.plain_end
        )
    }
}

/// A value, or `-` when there is none (in the text report and the inspect page).
pub fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

/// A report's `"type": "connection"`, as a marker that takes no room in the report.
#[derive(Debug, Clone, Copy)]
struct ConnectionType;

impl Serialize for ConnectionType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("connection")
    }
}

impl Report {
    /// A report with nothing negotiated yet (e.g. the handshake failed).
    pub fn new(side: Side, peer: String) -> Report {
        Report {
            kind: ConnectionType,
            side,
            peer,
            negotiated: Negotiated::default(),
            verified: false,
            verify_result: Cow::Borrowed("no handshake"),
            certificate: None,
            peer_chain: Vec::new(),
            timings_ms: Timings::default(),
            sent: None,
            received: None,
            bytes_sent: 0,
            bytes_received: 0,
            extra: None,
            closed: None,
            error: None,
        }
    }

    /// Fills in what the finished handshake negotiated; `verification_asked` is whether
    /// we verify the peer at all, `show_certs` whether the peer's certificates are kept
    /// as PEM.
    pub fn record_handshake(
        &mut self,
        ssl: &SslRef,
        side: Side,
        verification_asked: bool,
        show_certs: bool,
    ) {
        // The SNI a client sent is recorded before the handshake; a server learns it here.
        let sni = self.negotiated.sni.take();
        self.negotiated = tls::negotiated(ssl, side);
        self.negotiated.sni = self.negotiated.sni.take().or(sni);
        self.record_peer_chain(ssl, side, show_certs);
        let verified_chain = tls::verified_chain(ssl);
        if !verified_chain.is_empty() {
            self.extra().verified_chain = Some(verified_chain);
        }
        (self.verified, self.verify_result) =
            tls::verification(ssl, side, verification_asked, !self.peer_chain.is_empty());
    }

    /// Records the certificates the peer sent and what is wrong with their order, after
    /// the handshake.
    pub fn record_peer_chain(&mut self, ssl: &SslRef, side: Side, show_certs: bool) {
        self.set_peer_chain(tls::peer_chain(ssl, side, show_certs));
    }

    /// Records the certificates the peer sent, as a failed verification saw them.
    pub fn record_sent_chain(&mut self, sent: &[X509], show_certs: bool) {
        self.set_peer_chain(sent.iter().map(|c| tls::describe(c, show_certs)).collect());
    }

    fn set_peer_chain(&mut self, chain: Vec<CertSummary>) {
        self.peer_chain = chain;
        if let Some(problem) = tls::chain_problem(&self.peer_chain) {
            self.extra().chain_problem = Some(problem);
        }
    }

    /// The report as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report in words, as printed on stderr.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let heading = match self.side {
            Side::Client => format!("connection to {}", self.peer),
            Side::Server => format!("connection from {}", self.peer),
        };
        let _ = writeln!(out, "{heading}");
        let negotiated = &self.negotiated;
        if let Some(version) = negotiated.version {
            let _ = writeln!(
                out,
                "  protocol   {version}, {}, group {}, signature {}",
                or_dash(negotiated.cipher),
                or_dash(negotiated.group.as_deref()),
                or_dash(negotiated.signature.as_deref())
            );
            let _ = writeln!(
                out,
                "  session    {}; ALPN {}; SNI {}",
                if negotiated.resumed {
                    "resumed"
                } else {
                    "full handshake"
                },
                or_dash(negotiated.alpn.as_deref()),
                or_dash(negotiated.sni.as_deref())
            );
            let _ = writeln!(out, "  {}", self.verdict());
        }
        if let Some(certificate) = &self.certificate {
            let _ = writeln!(out, "  served     {}", certificate.subject);
        }
        for (depth, cert) in self.peer_chain.iter().enumerate() {
            let label = if depth == 0 { "peer chain" } else { "" };
            let _ = writeln!(out, "  {label:<10} [{depth}] {}", cert.subject);
            let _ = writeln!(out, "                 issuer  {}", cert.issuer);
            if !cert.alt_names.is_empty() {
                let _ = writeln!(
                    out,
                    "                 names   {}",
                    cert.alt_names.join(", ")
                );
            }
            let _ = writeln!(
                out,
                "                 valid   {} to {} ({} days left)",
                cert.not_before, cert.not_after, cert.days_left
            );
            let _ = writeln!(out, "                 sha256  {}", cert.sha256);
        }
        let timings = &self.timings_ms;
        let mut phases = Vec::new();
        if let Some(connect) = timings.connect {
            phases.push(format!("connect {connect:.3} ms"));
        }
        if let Some(handshake) = timings.handshake {
            phases.push(format!("handshake {handshake:.3} ms"));
        }
        if let Some(first) = timings.first_byte {
            phases.push(format!("first byte {first:.3} ms"));
        }
        if !phases.is_empty() {
            let _ = writeln!(out, "  timings    {}", phases.join(", "));
        }
        if let Some(hello) = self.extra.as_ref().and_then(|e| e.client_hello.as_ref()) {
            let _ = writeln!(
                out,
                "  offered    JA4 {}; ALPN {}; groups {}",
                hello.ja4,
                if hello.alpn.is_empty() {
                    "-".to_string()
                } else {
                    hello.alpn.join(",")
                },
                hello.groups.join(",")
            );
        }
        if let Some(anchor) = self
            .extra
            .as_ref()
            .and_then(|e| e.verified_chain.as_ref()?.last())
        {
            let _ = writeln!(
                out,
                "  anchor     {} (the trust anchor verification reached)",
                anchor.subject
            );
        }
        if let Some(starttls) = self.extra.as_ref().and_then(|e| e.starttls.as_ref()) {
            let _ = writeln!(
                out,
                "  starttls   {} ({:.3} ms in plaintext before the handshake)",
                starttls.protocol, starttls.ms
            );
        }
        if let Some(extra) = &self.extra {
            let mut events = Vec::new();
            if let Some(early) = &extra.early_data {
                events.push(format!(
                    "early data {} ({} bytes)",
                    early.status, early.bytes
                ));
            }
            if extra.renegotiated {
                events.push("renegotiated".to_string());
            }
            if extra.post_handshake_auth {
                events.push("client certificate asked for after the handshake".to_string());
            }
            if let Some(kind) = extra.key_update {
                events.push(format!("KeyUpdate sent ({kind})"));
            }
            if !events.is_empty() {
                let _ = writeln!(out, "  events     {}", events.join("; "));
            }
        }
        if let Some(ocsp) = self.extra.as_ref().and_then(|e| e.ocsp.as_ref()) {
            let _ = writeln!(out, "  ocsp       {}", ocsp.describe());
        }
        if let Some(problem) = self.extra.as_ref().and_then(|e| e.chain_problem.as_ref()) {
            let _ = writeln!(out, "  chain      sent {problem}");
        }
        if let Some(rule) = self.extra.as_ref().and_then(|e| e.allowed_by.as_ref()) {
            let _ = writeln!(out, "  allowed    by {rule}");
        }
        if self.bytes_sent + self.bytes_received > 0 {
            let _ = writeln!(
                out,
                "  data       sent {} bytes, received {} bytes",
                self.bytes_sent, self.bytes_received
            );
        }
        if let Some(tunnel) = self.extra.as_ref().and_then(|e| e.tunnel.as_ref()) {
            let _ = writeln!(out, "  {}", tunnel.describe(self.side));
        }
        if let Some(closed) = self.closed {
            let _ = writeln!(out, "  closed     {closed}");
        }
        if let Some(error) = &self.error {
            let _ = writeln!(out, "  error      {error}");
        }
        out
    }

    /// The verification line of the text report: the client's verdict on the server's
    /// certificate, or the server's on the client's.
    fn verdict(&self) -> String {
        match self.side {
            Side::Client => format!(
                "verified   {} ({})",
                if self.verified { "yes" } else { "no" },
                self.verify_result
            ),
            Side::Server if self.verified => {
                format!("client certificate: verified ({})", self.verify_result)
            }
            Side::Server => format!("client certificate: {}", self.verify_result),
        }
    }

    /// Prints the report: JSON on stdout with `json` (always), else text on stderr unless
    /// `quiet` or the handshake never finished (the error line says enough then), and the
    /// peer's certificates as PEM on stdout when they were kept (`--showcerts`).
    pub fn emit(&self, json: bool, quiet: bool) {
        if json {
            let _ = line(format_args!("{}", self.to_json()));
            return;
        }
        let pem: String = self
            .peer_chain
            .iter()
            .filter_map(|c| c.pem.as_deref())
            .collect();
        if !pem.is_empty() {
            let _ = io::stdout().lock().write_all(pem.as_bytes());
        }
        if !quiet && self.negotiated.version.is_some() {
            let _ = io::stderr().lock().write_all(self.to_text().as_bytes());
        }
    }
}

#[derive(Serialize)]
struct TraceJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    peer: &'a str,
    t_ms: f64,
    direction: &'static str,
    record: &'static str,
    message: &'a str,
    bytes: usize,
    step: &'static str,
}

/// Where `--trace` events go: a line on stderr each, or an NDJSON object on stdout.
pub fn trace_sink(trace: Trace) -> Option<&'static dyn TraceSink> {
    match trace {
        Trace::Off => None,
        Trace::Text => Some(&TraceOutput { json: false }),
        Trace::Json => Some(&TraceOutput { json: true }),
    }
}

struct TraceOutput {
    json: bool,
}

impl TraceSink for TraceOutput {
    fn event(&self, event: &TraceEvent<'_>) {
        if self.json {
            trace_json(event);
        } else {
            trace_text(event);
        }
    }
}

fn trace_json(event: &TraceEvent<'_>) {
    let object = TraceJson {
        kind: "trace",
        peer: event.peer,
        t_ms: (event.millis * 1000.0).round() / 1000.0,
        direction: event.direction.word(),
        record: event.message.record,
        message: &event.message.name,
        bytes: event.bytes,
        step: event.message.step,
    };
    if let Ok(text) = serde_json::to_string(&object) {
        let _ = line(format_args!("{text}"));
    }
}

fn trace_text(event: &TraceEvent<'_>) {
    let arrow = match event.direction {
        Direction::Sent => "->",
        Direction::Received => "<-",
    };
    let _ = writeln!(
        io::stderr().lock(),
        "trace {} +{:.3}ms {arrow} {} ({} bytes): {}",
        event.peer,
        event.millis,
        event.message.name,
        event.bytes,
        event.message.step
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_keeps_text_and_escapes_control_characters() {
        assert_eq!(
            printable(b"Hello from the client!"),
            "Hello from the client!"
        );
        assert_eq!(printable(b"line\r\n\x1b[31m"), "line\\r\\n\\u{1b}[31m");
        assert_eq!(printable("héllo".as_bytes()), "héllo");
        assert_eq!(printable(b"\xff!"), "\u{fffd}!");
    }
}
