//! What tlscat prints on stdout: the seed's lines, so scripts can compare them. Diagnostics
//! go to stderr through `log`.
//!
//! Peer data is shown as text with control characters escaped (`\n`, `\r`, `\u{1b}`, …) and
//! invalid UTF-8 replaced by U+FFFD, so every report is one line and a peer cannot drive
//! the terminal.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;

/// `Server is listening on ADDR`, once per bound address (tests read the port from it).
pub fn listening(addr: SocketAddr) -> io::Result<()> {
    line(format_args!("Server is listening on {addr}"))
}

/// `Connected to: ADDR`, after a client's handshake succeeded.
pub fn connected(peer: SocketAddr) -> io::Result<()> {
    line(format_args!("Connected to: {peer}"))
}

/// `Received: MESSAGE`.
pub fn received(message: &[u8]) -> io::Result<()> {
    line(format_args!("Received: {}", printable(message)))
}

/// `Response from server: REPLY`.
pub fn response(reply: &[u8]) -> io::Result<()> {
    line(format_args!("Response from server: {}", printable(reply)))
}

fn line(args: std::fmt::Arguments<'_>) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::printable;

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
