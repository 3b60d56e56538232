//! Tunnels: the server terminating TLS in front of a plain service (`--forward`) or a
//! program (`--exec`), and the client originating TLS for plain local clients (`client
//! --listen`). [`pump`] carries the bytes; this module connects to the plain side.

pub(crate) mod exec;
pub(crate) mod originate;
mod pump;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

pub(crate) use pump::{End, Limits, Outcome, Socket, Which, pump};

use crate::config::{Address, HostPort, Timeouts};
use crate::error::{Error, Phase, Result};
use crate::listen::Stream;

/// A connection to a tunnel's plain service: TCP or a Unix socket.
pub(crate) enum PlainStream {
    Tcp(TcpStream),
    Unix(UnixStream),
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
                connect_tcp(host_port, &timeouts)
                    .await
                    .map(PlainStream::Tcp)
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
}

async fn connect_tcp(target: &HostPort, timeouts: &Timeouts) -> Result<TcpStream> {
    crate::dial::connect(target, timeouts).await
}

impl AsyncRead for PlainStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PlainStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PlainStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            PlainStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            PlainStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            PlainStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl Socket for PlainStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            PlainStream::Tcp(s) => s.poll_read_ready(cx),
            PlainStream::Unix(s) => s.poll_read_ready(cx),
        }
    }

    fn abort(&mut self) {
        // A Unix socket has no reset: its peer sees the close.
        if let PlainStream::Tcp(s) = self {
            let _ = s.set_zero_linger();
        }
    }
}

impl Socket for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn abort(&mut self) {
        let _ = self.set_zero_linger();
    }
}

impl Socket for Stream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Stream::poll_read_ready(self, cx)
    }

    fn abort(&mut self) {
        Stream::abort(self);
    }

    fn hold_records(&mut self, on: bool) {
        self.set_bulk(on);
    }
}

/// The words a report uses for how a side ended its sending.
pub(crate) fn end_name(end: Option<End>) -> &'static str {
    match end {
        Some(End::Clean) => "closed",
        Some(End::Abort) => "aborted",
        None => "open",
    }
}
