//! STARTTLS: the plaintext start of protocols that upgrade a connection to TLS in place
//! (SMTP, IMAP, POP3, LDAP, PostgreSQL, …), spoken by the client before its handshake, as
//! `openssl s_client -starttls` does. Every line and answer is bounded in size and count,
//! and the whole exchange in time; the server's words go to the trace and into errors.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::StarttlsProtocol as Protocol;
use crate::conn::within;
use crate::error::{Error, Phase, Result};
use crate::listen::Stream;
use crate::report::printable;
use crate::tls::observe::Observer;
use crate::tls::trace::Direction;

/// The longest line (or XML, or packet) read from the server.
const MAX_LINE: usize = 8 * 1024;
/// The most lines of one answer (an EHLO answer has a dozen).
const MAX_LINES: usize = 100;

/// Runs the plaintext part of `protocol` on `stream` until the server agrees to start
/// TLS, within `limit`. `host` is the name the protocol announces (SMTP's EHLO, XMPP's
/// `to`). Refusals and protocol errors are [`Error::Starttls`] (exit 4).
pub async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    protocol: Protocol,
    host: &str,
    observer: &Observer,
    limit: Duration,
) -> Result<()> {
    let mut plain = Plain {
        stream,
        buffer: Vec::new(),
        observer,
    };
    within(Phase::Starttls, limit, plain.speak(protocol, host)).await??;
    plain.nothing_more()
}

/// PostgreSQL's SSLRequest and GSSENCRequest: a length of 8 and a request code.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const GSSENC_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// The server's side of PostgreSQL's start (`server --starttls postgres`), within
/// `limit`: `S` to the client's SSLRequest, `N` to a GSSENCRequest (which libpq may send
/// first). A client that starts with TLS at once (libpq's sslnegotiation=direct) is left
/// to the handshake; anything else is refused.
pub(crate) async fn accept_postgres(
    stream: &mut Stream,
    observer: &Observer,
    limit: Duration,
) -> Result<()> {
    let hint = "this port takes PostgreSQL clients that ask for TLS (libpq: sslmode=require)";
    let answer = async {
        for _ in 0..2 {
            match stream.peek_byte().await.map_err(io_failed)? {
                Some(TLS_HANDSHAKE) => return Ok(()),
                Some(_) => {}
                None => return Err(refused("the client closed the connection".into(), hint)),
            }
            let mut request = [0; 8];
            stream.read_exact(&mut request).await.map_err(io_failed)?;
            let (name, answer) = match request {
                SSL_REQUEST => ("SSLRequest", b'S'),
                GSSENC_REQUEST => ("GSSENCRequest", b'N'),
                _ => {
                    return Err(refused(
                        format!(
                            "the client's first message is not PostgreSQL's SSLRequest: {}",
                            printable(&request)
                        ),
                        hint,
                    ));
                }
            };
            observer.plaintext(Direction::Received, request.len(), || name.into());
            stream.write_all(&[answer]).await.map_err(io_failed)?;
            observer.plaintext(Direction::Sent, 1, || char::from(answer).into());
            if answer == b'S' {
                return Ok(());
            }
        }
        Err(refused(
            "the client asked for GSS encryption twice".into(),
            hint,
        ))
    };
    within(Phase::Starttls, limit, answer).await?
}

/// A refusal or a protocol error, in the server's words where there are some.
fn refused(reason: String, hint: &str) -> Error {
    Error::Starttls {
        reason,
        hint: Some(hint.to_string()),
    }
}

/// The plaintext connection: what was read but not used yet, and the trace.
struct Plain<'a, S> {
    stream: &'a mut S,
    buffer: Vec<u8>,
    observer: &'a Observer,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Plain<'_, S> {
    async fn speak(&mut self, protocol: Protocol, host: &str) -> Result<()> {
        match protocol {
            Protocol::Smtp => self.smtp("EHLO", host).await,
            Protocol::Lmtp => self.smtp("LHLO", host).await,
            Protocol::Imap => self.imap().await,
            Protocol::Pop3 => {
                self.expect_line("+OK", "greeting").await?;
                self.send_line("STLS").await?;
                self.expect_line("+OK", "answer to STLS").await
            }
            Protocol::Ftp => {
                self.expect_reply("220", "greeting").await?;
                self.send_line("AUTH TLS").await?;
                self.expect_reply("234", "answer to AUTH TLS").await?;
                Ok(())
            }
            Protocol::Nntp => {
                let greeting = self.read_line().await?;
                if !(greeting.starts_with("200") || greeting.starts_with("201")) {
                    return Err(refused(
                        format!("the server's greeting is not 200/201: {greeting}"),
                        "is this an NNTP server?",
                    ));
                }
                self.send_line("STARTTLS").await?;
                self.expect_line("382", "answer to STARTTLS").await
            }
            Protocol::Sieve => self.sieve().await,
            Protocol::Irc => self.irc().await,
            Protocol::Xmpp => self.xmpp("jabber:client", host).await,
            Protocol::XmppServer => self.xmpp("jabber:server", host).await,
            Protocol::Ldap => self.ldap().await,
            Protocol::Postgres => self.postgres().await,
            Protocol::Mysql => self.mysql().await,
        }
    }

    /// SMTP and LMTP: greeting, EHLO (or LHLO), STARTTLS offered, STARTTLS, 220.
    async fn smtp(&mut self, hello: &str, host: &str) -> Result<()> {
        self.expect_reply("220", "greeting").await?;
        self.send_line(&format!("{hello} {host}")).await?;
        let extensions = self
            .expect_reply("250", &format!("answer to {hello}"))
            .await?;
        if !extensions.iter().any(|l| {
            l.get(4..)
                .is_some_and(|e| e.eq_ignore_ascii_case("STARTTLS"))
        }) {
            return Err(refused(
                format!(
                    "the server does not offer STARTTLS (its {hello} answer: {})",
                    extensions.join(" | ")
                ),
                "its TLS is off (Postfix: smtpd_tls_security_level = may, with a certificate)",
            ));
        }
        self.send_line("STARTTLS").await?;
        self.expect_reply("220", "answer to STARTTLS").await?;
        Ok(())
    }

    /// IMAP: greeting, CAPABILITY lists STARTTLS, STARTTLS, tagged OK.
    async fn imap(&mut self) -> Result<()> {
        self.expect_line("* OK", "greeting").await?;
        self.send_line("a CAPABILITY").await?;
        let capabilities = self.tagged("a", "CAPABILITY").await?;
        if !capabilities.iter().any(|l| {
            l.split_whitespace()
                .any(|word| word.eq_ignore_ascii_case("STARTTLS"))
        }) {
            return Err(refused(
                format!(
                    "the server does not offer STARTTLS (its capabilities: {})",
                    capabilities.join(" | ")
                ),
                "its TLS is off (Dovecot: ssl = yes, with a certificate)",
            ));
        }
        self.send_line("b STARTTLS").await?;
        self.tagged("b", "STARTTLS").await?;
        Ok(())
    }

    /// Lines up to the tagged answer `tag`, which must be OK.
    async fn tagged(&mut self, tag: &str, command: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for _ in 0..MAX_LINES {
            let line = self.read_line().await?;
            let Some(status) = line.strip_prefix(tag).and_then(|l| l.strip_prefix(' ')) else {
                lines.push(line);
                continue;
            };
            if starts_with_word(status, "OK") {
                return Ok(lines);
            }
            return Err(refused(
                format!("the server refused {command}: {line}"),
                "see the server's words",
            ));
        }
        Err(too_many_lines(command))
    }

    /// ManageSieve: the greeting lists capabilities and ends with OK; STARTTLS; OK.
    async fn sieve(&mut self) -> Result<()> {
        let mut offered = false;
        for _ in 0..MAX_LINES {
            let line = self.read_line().await?;
            if line.eq_ignore_ascii_case("\"STARTTLS\"") {
                offered = true;
            }
            if starts_with_word(&line, "OK") {
                if !offered {
                    return Err(refused(
                        "the server does not offer STARTTLS in its capabilities".into(),
                        "its TLS is off",
                    ));
                }
                self.send_line("STARTTLS").await?;
                return self.expect_line("OK", "answer to STARTTLS").await;
            }
            if starts_with_word(&line, "NO") {
                return Err(refused(format!("the server said: {line}"), "see its words"));
            }
        }
        Err(too_many_lines("greeting"))
    }

    /// IRC: STARTTLS; numeric 670 starts TLS, 691 refuses; notices are skipped.
    async fn irc(&mut self) -> Result<()> {
        self.send_line("STARTTLS").await?;
        for _ in 0..MAX_LINES {
            let line = self.read_line().await?;
            match line.split_whitespace().nth(1) {
                Some("670") => return Ok(()),
                Some("691") => {
                    return Err(refused(
                        format!("the server refused STARTTLS: {line}"),
                        "see its words",
                    ));
                }
                Some("421") => {
                    return Err(refused(
                        format!("the server does not know STARTTLS: {line}"),
                        "it has no TLS on this port",
                    ));
                }
                _ => {}
            }
        }
        Err(too_many_lines("STARTTLS"))
    }

    /// XMPP: open the stream, find `<starttls` in its features, ask, get `<proceed`.
    async fn xmpp(&mut self, namespace: &str, host: &str) -> Result<()> {
        let opening = format!(
            "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
             xmlns='{namespace}' to='{host}' version='1.0'>"
        );
        self.send(opening.as_bytes(), || opening.clone()).await?;
        let features = self
            .read_until(&["</stream:features>", "<stream:error"])
            .await?;
        if features.contains("<stream:error") || !features.contains("<starttls") {
            return Err(refused(
                format!("the server does not offer STARTTLS: {features}"),
                "is TLS configured for this domain (--starttls-host)?",
            ));
        }
        let ask = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
        self.send(ask.as_bytes(), || ask.to_string()).await?;
        let answer = self.read_until(&["<proceed", "<failure"]).await?;
        if answer.contains("<failure") {
            return Err(refused(
                format!("the server refused STARTTLS: {answer}"),
                "see its words",
            ));
        }
        // The rest of the <proceed .../> element.
        self.read_until(&["/>", "</proceed>"]).await?;
        Ok(())
    }

    /// LDAP: the StartTLS extended request (RFC 4511 4.14); result code 0 proceeds.
    async fn ldap(&mut self) -> Result<()> {
        const OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
        let mut request = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
        request.extend_from_slice(OID);
        self.send(&request, || {
            "ExtendedRequest StartTLS (1.3.6.1.4.1.1466.20037)".into()
        })
        .await?;
        let response = self.read_ber().await?;
        let (code, message) = ldap_result(&response).ok_or_else(|| {
            refused(
                "the server's answer to StartTLS is not an LDAP extended response".into(),
                "is this an LDAP server?",
            )
        })?;
        self.observer
            .plaintext(Direction::Received, response.len(), || {
                format!("ExtendedResponse resultCode {code} {message}")
            });
        if code != 0 {
            return Err(refused(
                format!("the server refused StartTLS: result code {code}: {message}"),
                "its TLS is off (slapd: TLSCertificateFile and TLSCertificateKeyFile)",
            ));
        }
        Ok(())
    }

    /// PostgreSQL: SSLRequest; `S` proceeds, `N` refuses.
    async fn postgres(&mut self) -> Result<()> {
        const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        self.send(&SSL_REQUEST, || "SSLRequest".into()).await?;
        let answer = self.read_exact(1).await?;
        self.observer
            .plaintext(Direction::Received, 1, || printable(&answer));
        match answer[0] {
            b'S' => Ok(()),
            b'N' => Err(refused(
                "the server refused SSL (it answered N to SSLRequest)".into(),
                "turn ssl on in postgresql.conf (ssl = on, ssl_cert_file, ssl_key_file)",
            )),
            other => Err(refused(
                format!(
                    "the server's answer to SSLRequest is {:?}, not S or N",
                    char::from(other)
                ),
                "is this a PostgreSQL server?",
            )),
        }
    }

    /// MySQL: the server's handshake must have CLIENT_SSL; then the SSL request packet.
    async fn mysql(&mut self) -> Result<()> {
        const CLIENT_SSL: u16 = 0x0800;
        let header = self.read_exact(4).await?;
        let length =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        if length > MAX_LINE {
            return Err(refused(
                format!("the server's greeting claims {length} bytes"),
                "is this a MySQL server?",
            ));
        }
        let greeting = self.read_exact(length).await?;
        if greeting.first() == Some(&0xff) {
            let words = printable(greeting.get(3..).unwrap_or_default());
            return Err(refused(
                format!("the server refused the connection: {words}"),
                "see its words",
            ));
        }
        let version_end = greeting.iter().skip(1).position(|&b| b == 0);
        let capabilities = version_end
            .map(|end| 1 + end + 1 + 4 + 8 + 1)
            .and_then(|at| greeting.get(at..at + 2))
            .map(|b| u16::from_le_bytes([b[0], b[1]]));
        let version = version_end.map_or_else(String::new, |end| printable(&greeting[1..1 + end]));
        self.observer
            .plaintext(Direction::Received, length + 4, || {
                format!("greeting: MySQL {version}")
            });
        match capabilities {
            Some(flags) if flags & CLIENT_SSL != 0 => {}
            Some(_) => {
                return Err(refused(
                    format!("the server (MySQL {version}) does not offer SSL"),
                    "configure ssl_cert and ssl_key on the server",
                ));
            }
            None => {
                return Err(refused(
                    "the server's greeting is not a MySQL handshake".into(),
                    "is this a MySQL server?",
                ));
            }
        }
        // SSLRequest: capabilities (CLIENT_SSL, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION),
        // max packet size, character set utf8mb4, 23 zero bytes; sequence number 1.
        let mut request = vec![32, 0, 0, 1];
        request.extend_from_slice(&0x0000_8a00u32.to_le_bytes());
        request.extend_from_slice(&(16u32 << 20).to_le_bytes());
        request.push(45);
        request.extend_from_slice(&[0; 23]);
        self.send(&request, || "SSLRequest".into()).await
    }

    /// A reply of numbered lines (`220-…` continues, `220 …` ends) that must start with
    /// `code`; its lines.
    async fn expect_reply(&mut self, code: &str, what: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for _ in 0..MAX_LINES {
            let line = self.read_line().await?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                let first = &lines[0];
                if !first.starts_with(code) {
                    return Err(refused(
                        format!("the server's {what} is not {code}: {}", lines.join(" | ")),
                        "see its words",
                    ));
                }
                return Ok(lines);
            }
        }
        Err(too_many_lines(what))
    }

    /// One line that must start with `prefix`.
    async fn expect_line(&mut self, prefix: &str, what: &str) -> Result<()> {
        let line = self.read_line().await?;
        if starts_with_word(&line, prefix) {
            return Ok(());
        }
        Err(refused(
            format!("the server's {what} is not {prefix}: {line}"),
            "see its words",
        ))
    }

    async fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(format!("{line}\r\n").as_bytes(), || line.to_string())
            .await
    }

    async fn send(&mut self, bytes: &[u8], words: impl FnOnce() -> String) -> Result<()> {
        self.observer.plaintext(Direction::Sent, bytes.len(), words);
        self.stream.write_all(bytes).await.map_err(io_failed)?;
        self.stream.flush().await.map_err(io_failed)
    }

    /// One line without its CR LF, as printable text; at most [`MAX_LINE`] bytes.
    async fn read_line(&mut self) -> Result<String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = printable(line);
                self.observer
                    .plaintext(Direction::Received, raw.len(), || text.clone());
                return Ok(text);
            }
            if self.buffer.len() > MAX_LINE {
                return Err(refused(
                    format!("the server sent a line longer than {MAX_LINE} bytes"),
                    "is this the right protocol (--starttls) and port?",
                ));
            }
            self.fill().await?;
        }
    }

    /// Text up to and including the first of `ends` (XMPP), at most [`MAX_LINE`] bytes.
    async fn read_until(&mut self, ends: &[&str]) -> Result<String> {
        loop {
            let found = ends
                .iter()
                .filter_map(|end| {
                    self.buffer
                        .windows(end.len())
                        .position(|w| w == end.as_bytes())
                        .map(|at| at + end.len())
                })
                .min();
            if let Some(end) = found {
                let raw: Vec<u8> = self.buffer.drain(..end).collect();
                let text = printable(&raw);
                self.observer
                    .plaintext(Direction::Received, raw.len(), || text.clone());
                return Ok(text);
            }
            if self.buffer.len() > MAX_LINE {
                return Err(refused(
                    format!("the server sent more than {MAX_LINE} bytes without an answer"),
                    "is this the right protocol (--starttls) and port?",
                ));
            }
            self.fill().await?;
        }
    }

    /// Exactly `count` bytes.
    async fn read_exact(&mut self, count: usize) -> Result<Vec<u8>> {
        while self.buffer.len() < count {
            self.fill().await?;
        }
        Ok(self.buffer.drain(..count).collect())
    }

    /// One BER element (tag, length, content), at most [`MAX_LINE`] bytes.
    async fn read_ber(&mut self) -> Result<Vec<u8>> {
        let start = self.read_exact(2).await?;
        let (length, mut element) = if start[1] & 0x80 == 0 {
            (usize::from(start[1]), start)
        } else {
            let size = usize::from(start[1] & 0x7f);
            if size == 0 || size > 2 {
                return Err(refused(
                    "the server's answer is not an LDAP message".into(),
                    "is this an LDAP server?",
                ));
            }
            let bytes = self.read_exact(size).await?;
            let length = bytes.iter().fold(0, |n, &b| n << 8 | usize::from(b));
            let mut element = start;
            element.extend_from_slice(&bytes);
            (length, element)
        };
        if length > MAX_LINE {
            return Err(refused(
                format!("the server's LDAP message claims {length} bytes"),
                "is this an LDAP server?",
            ));
        }
        element.extend(self.read_exact(length).await?);
        Ok(element)
    }

    /// Reads more from the server; its end here is a refusal.
    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0; 2048];
        let read = self.stream.read(&mut chunk).await.map_err(io_failed)?;
        if read == 0 {
            let pending = printable(&self.buffer);
            return Err(refused(
                if pending.is_empty() {
                    "the server closed the connection".to_string()
                } else {
                    format!("the server closed the connection after: {pending}")
                },
                "is this the right protocol (--starttls) and port?",
            ));
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }

    /// After the server's go-ahead nothing may be pending: bytes sent before the handshake
    /// would be taken as part of it (the STARTTLS command injection attack).
    fn nothing_more(self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        Err(refused(
            format!(
                "the server sent {} bytes after agreeing to STARTTLS, before the handshake: {}",
                self.buffer.len(),
                printable(&self.buffer)
            ),
            "refusing them: plaintext injected ahead of TLS (a broken server, or an attack)",
        ))
    }
}

/// Whether `line` starts with `word`, in any case (never splitting a character: the
/// server's words may be anything).
fn starts_with_word(line: &str, word: &str) -> bool {
    line.get(..word.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(word))
}

fn too_many_lines(what: &str) -> Error {
    refused(
        format!("the server's {what} ran over {MAX_LINES} lines"),
        "is this the right protocol (--starttls) and port?",
    )
}

/// A read or write of the plaintext phase failed.
fn io_failed(e: std::io::Error) -> Error {
    Error::Io {
        phase: Phase::Starttls,
        source: e,
    }
}

/// The result code and diagnostic message of an LDAP ExtendedResponse:
/// `SEQUENCE { messageID INTEGER, [APPLICATION 24] { resultCode ENUMERATED, matchedDN,
/// diagnosticMessage, … } }`.
fn ldap_result(message: &[u8]) -> Option<(u8, String)> {
    let (tag, content, _) = ber(message)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, rest) = ber(content)?; // messageID
    let (tag, response, _) = ber(rest)?;
    if tag != 0x78 {
        return None;
    }
    let (tag, code, rest) = ber(response)?;
    if tag != 0x0a || code.len() != 1 {
        return None;
    }
    let (_, _, rest) = ber(rest)?; // matchedDN
    let diagnostic = ber(rest).map_or_else(String::new, |(_, text, _)| printable(text));
    Some((code[0], diagnostic))
}

/// One BER element of `bytes`: tag, content, what follows.
fn ber(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first & 0x80 == 0 {
        (usize::from(first), rest)
    } else {
        let size = usize::from(first & 0x7f);
        if size == 0 || size > 2 || rest.len() < size {
            return None;
        }
        let length = rest[..size].iter().fold(0, |n, &b| n << 8 | usize::from(b));
        (length, &rest[size..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greeting_in_any_script_is_compared_without_splitting_characters() {
        assert!(starts_with_word("ok begin", "OK"));
        assert!(!starts_with_word("é", "OK"));
        assert!(!starts_with_word("Oé", "OK"));
        assert!(!starts_with_word("", "+OK"));
    }

    #[test]
    fn ldap_results_are_read_from_the_extended_response() {
        // slapd's success: messageID 1, resultCode 0, empty DN and message, the OID.
        let success = [
            0x30, 0x24, 0x02, 0x01, 0x01, 0x78, 0x1f, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
            0x8a, 0x16, b'1', b'.', b'3', b'.', b'6', b'.', b'1', b'.', b'4', b'.', b'1', b'.',
            b'1', b'4', b'6', b'6', b'.', b'2', b'0', b'0', b'3', b'7',
        ];
        assert_eq!(ldap_result(&success), Some((0, String::new())));
        // protocolError (2) with a message.
        let refusal = [
            0x30, 0x0f, 0x02, 0x01, 0x01, 0x78, 0x0a, 0x0a, 0x01, 0x02, 0x04, 0x00, 0x04, 0x03,
            b'n', b'o', b'!',
        ];
        assert_eq!(ldap_result(&refusal), Some((2, "no!".to_string())));
        assert_eq!(ldap_result(&[0x30, 0x05, 0x02]), None);
        assert_eq!(ldap_result(b"220 smtp"), None);
    }
}
