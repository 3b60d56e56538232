//! Tunnels: the server terminating TLS in front of a plain service (`--forward`) or a
//! program (`--exec`), and the client originating TLS for plain local clients (`client
//! --listen`). [`pump`] carries the bytes; this module connects to the plain side.

pub(crate) mod exec;
pub(crate) mod originate;
mod pump;

use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpStream;

use pump::Which;
pub(crate) use pump::{End, Limits, Outcome, Socket, pump};

pub(crate) use crate::dial::PlainStream;
use crate::listen::Stream;
use crate::report::{Report, TunnelReport};

impl Socket for PlainStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            PlainStream::Tcp(s) => s.poll_read_ready(cx),
            PlainStream::Unix(s) => s.poll_read_ready(cx),
        }
    }

    fn abort(&mut self) {
        self.abort_on_drop(true);
    }

    fn abort_on_drop(&mut self, on: bool) {
        // A Unix socket has no reset: its peer sees the close.
        if let PlainStream::Tcp(s) = self {
            reset_on_close(s, on);
        }
    }
}

/// Makes closing `socket` send a TCP reset (`SO_LINGER` 0), or a FIN again.
pub(crate) fn reset_on_close(socket: &TcpStream, on: bool) {
    let linger = on.then_some(Duration::ZERO);
    let _ = socket2::SockRef::from(socket).set_linger(linger);
}

impl Socket for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn abort(&mut self) {
        reset_on_close(self, true);
    }

    fn abort_on_drop(&mut self, on: bool) {
        reset_on_close(self, on);
    }
}

impl Socket for Stream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Stream::poll_read_ready(self, cx)
    }

    fn abort(&mut self) {
        Stream::abort(self);
    }

    fn abort_on_drop(&mut self, on: bool) {
        self.reset_on_close(on);
    }

    fn hold_records(&mut self, on: bool) {
        self.set_bulk(on);
    }
}

/// Puts how a tunnel went into the reports: the bytes each way, how each side ended its
/// sending, and which ended first.
pub(crate) fn record(report: &mut Report, tunnel: &mut TunnelReport, outcome: &Outcome) {
    report.bytes_received += outcome.tls_to_plain;
    report.bytes_sent += outcome.plain_to_tls;
    tunnel.to_plain = outcome.tls_to_plain;
    tunnel.from_plain = outcome.plain_to_tls;
    tunnel.tls_end = end_name(outcome.tls_end);
    tunnel.plain_end = end_name(outcome.plain_end);
    tunnel.closed_first = outcome.first.map(|which| match which {
        Which::Tls => "tls",
        Which::Plain => "plain",
    });
}

/// The words a report uses for how a side ended its sending.
fn end_name(end: Option<End>) -> &'static str {
    match end {
        Some(End::Clean) => "closed",
        Some(End::Abort) => "aborted",
        None => "open",
    }
}
