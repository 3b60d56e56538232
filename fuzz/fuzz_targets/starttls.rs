//! The STARTTLS client, fed anything as the server's side of every protocol, never panics
//! or hangs, and the server's bytes reach the trace and the error message only as
//! printable text (no control characters: nothing a terminal would act on).
#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tlscat::config::StarttlsProtocol;
use tlscat::starttls::negotiate;
use tlscat::tls::Side;
use tlscat::tls::observe::Observer;
use tlscat::tls::trace::{TraceEvent, TraceSink};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The fuzzer's bytes as the server: given out in small pieces, then the end; what the
/// client writes is dropped.
struct Server<'a> {
    said: &'a [u8],
}

impl AsyncRead for Server<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.said.len().min(buf.remaining()).min(7);
        buf.put_slice(&self.said[..n]);
        self.said = &self.said[n..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Server<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A trace that checks every plaintext line it is shown.
struct PrintableOnly;

impl TraceSink for PrintableOnly {
    fn event(&self, event: &TraceEvent<'_>) {
        let words = &event.message.name;
        assert!(!words.chars().any(char::is_control), "trace: {words:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, said)) = data.split_first() else {
        return;
    };
    let protocol = StarttlsProtocol::ALL[usize::from(choice) % StarttlsProtocol::ALL.len()];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let observer = Observer::new(Side::Client, "fuzz".into(), Some(&PrintableOnly));
    let mut server = Server { said };
    let result = runtime.block_on(negotiate(
        &mut server,
        protocol,
        "localhost",
        &observer,
        Duration::from_secs(5),
    ));
    if let Err(e) = result {
        let message = e.to_string();
        assert!(!message.chars().any(char::is_control), "error: {message:?}");
    }
});
