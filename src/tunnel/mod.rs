//! Tunnels: the server terminating TLS in front of a plain service (`--forward`) or a
//! program (`--exec`), and the client originating TLS for plain local clients (`client
//! --listen`). [`pump`] carries the bytes; this module connects to the plain side.

pub(crate) mod exec;
pub(crate) mod originate;
mod pump;

use std::io;
use std::task::{Context, Poll};

use tokio::net::TcpStream;

use pump::Which;
pub(crate) use pump::{End, Limits, Outcome, Socket, pump};

pub(crate) use crate::dial::PlainStream;
use crate::listen::Stream;
use crate::listen::reset_on_close;
use crate::report::{Report, TunnelReport};

impl Socket for PlainStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        PlainStream::poll_read_ready(self, cx)
    }

    fn abort(&mut self) {
        self.reset_on_close(true);
    }

    fn abort_on_drop(&mut self, on: bool) {
        self.reset_on_close(on);
    }
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
