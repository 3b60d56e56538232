//! What the modes' exchanges share: the connection type, record-sized reads, the first
//! byte's time, and reading HTTP request heads off the connection.

use std::io;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio_openssl::SslStream;

use crate::conn::{self, Read};
use crate::error::Result;
use crate::http;
use crate::listen::Stream;
use crate::report::{Report, millis};
use crate::tls::Side;

/// A server connection after its handshake.
pub(super) type Tls = SslStream<Stream>;

/// The largest TLS record payload: reads and writes of this size move whole records.
pub(super) const RECORD_SIZE: usize = 16 * 1024;

/// How much a read for a request head takes at a time.
const HEAD_READ: usize = 4096;

/// Notes the time of the first byte the client sent.
pub(super) fn first_byte(report: &mut Report, handshake_done: Instant) {
    if report.timings_ms.first_byte.is_none() {
        report.timings_ms.first_byte = Some(millis(handshake_done.elapsed()));
    }
}

/// The connection as a source of HTTP request heads, counting what it reads in the
/// report.
pub(super) struct RequestSource<'a> {
    pub(super) tls: &'a mut Tls,
    pub(super) report: &'a mut Report,
    pub(super) handshake_done: Instant,
}

impl http::Source for RequestSource<'_> {
    fn poll_more(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        conn::poll_append(self.tls, buf, HEAD_READ, cx)
    }

    fn outcome(&mut self, read: io::Result<usize>) -> Result<Read> {
        let read = conn::outcome(read, self.tls, Side::Server)?;
        if let Read::Data(n) = read {
            first_byte(self.report, self.handshake_done);
            self.report.bytes_received += n as u64;
        }
        Ok(read)
    }
}
