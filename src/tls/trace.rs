//! Names for the TLS messages seen by the message callback, and which step of the seed's
//! "How SSL/TLS works" list each one is. The events go to a [`TraceSink`] that the output
//! layer provides: nothing here prints.

use super::failure::Side;

/// Where trace events go (`--trace`): the output layer decides how they look.
pub trait TraceSink: Send + Sync {
    fn event(&self, event: &TraceEvent<'_>);
}

/// One TLS message (or application data) going by.
#[derive(Debug)]
pub struct TraceEvent<'a> {
    pub peer: &'a str,
    /// Since the connection's observer was created.
    pub millis: f64,
    pub direction: Direction,
    pub bytes: usize,
    pub message: Message,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// One TLS message, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Record type: `handshake`, `alert`, `change_cipher_spec`, `application_data`, or
    /// `plaintext` (STARTTLS).
    pub record: &'static str,
    /// `ClientHello`, `Finished`, `alert close_notify`, …
    pub name: String,
    /// Where it fits in the seed's description of TLS.
    pub step: &'static str,
}

const CHANGE_CIPHER_SPEC: i32 = 20;
const ALERT: i32 = 21;
const HANDSHAKE: i32 = 22;

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446, 4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Describes a message from the callback's content type and bytes; `None` for what is not
/// a message (record headers, inner content types).
pub fn describe(
    content_type: i32,
    bytes: &[u8],
    direction: Direction,
    side: Side,
    tls13: bool,
) -> Option<Message> {
    let from_server = (side == Side::Server) == (direction == Direction::Sent);
    match content_type {
        HANDSHAKE => {
            let (name, step) = handshake_message(bytes, from_server);
            Some(Message {
                record: "handshake",
                name,
                step,
            })
        }
        ALERT => {
            let level = bytes.first().copied().unwrap_or(0);
            let code = bytes.get(1).copied().unwrap_or(255);
            let step = if code == 0 {
                "the session ends: one side terminates it (close_notify)"
            } else if level == 2 || tls13 {
                "fatal alert: the connection is aborted"
            } else {
                "warning alert"
            };
            Some(Message {
                record: "alert",
                name: format!("alert {}", alert_name(code)),
                step,
            })
        }
        CHANGE_CIPHER_SPEC => Some(Message {
            record: "change_cipher_spec",
            name: "ChangeCipherSpec".to_string(),
            step: if tls13 {
                "compatibility message, meaningless in TLS 1.3"
            } else {
                "handshake steps 5-6: from here on, the negotiated keys protect the data"
            },
        }),
        _ => None,
    }
}

/// A line (or message) of the plaintext exchange before a STARTTLS handshake.
pub fn plaintext(words: String) -> Message {
    Message {
        record: "plaintext",
        name: words,
        step: "STARTTLS: plaintext, before the TLS handshake",
    }
}

/// The event for application data we sent or read.
pub fn application_data() -> Message {
    Message {
        record: "application_data",
        name: "application data".to_string(),
        step: "data transfer phase: encrypted and integrity-protected application data",
    }
}

fn handshake_message(bytes: &[u8], from_server: bool) -> (String, &'static str) {
    let kind = bytes.first().copied().unwrap_or(255);
    let (name, step) = match kind {
        0 => ("HelloRequest", "the server asks for a new handshake"),
        1 => (
            "ClientHello",
            "handshake step 1: the client's hello: versions, cipher suites, key shares",
        ),
        2 if bytes.get(6..38) == Some(&HELLO_RETRY_RANDOM[..]) => (
            "HelloRetryRequest",
            "handshake step 2: the server asks for a key share in another group",
        ),
        2 => (
            "ServerHello",
            "handshake step 2: the server's hello: the chosen version and cipher suite",
        ),
        4 => (
            "NewSessionTicket",
            "after the handshake: a ticket to resume this session later",
        ),
        5 => ("EndOfEarlyData", "the end of 0-RTT data"),
        8 => (
            "EncryptedExtensions",
            "handshake step 2: the server's other choices (ALPN, …), already encrypted",
        ),
        11 if from_server => ("Certificate", "handshake step 3: the server's certificate"),
        11 => ("Certificate", "mutual TLS: the client's certificate"),
        12 => (
            "ServerKeyExchange",
            "handshake steps 4-5: the server's signed ephemeral key share",
        ),
        13 => (
            "CertificateRequest",
            "mutual TLS: the server asks for a client certificate",
        ),
        14 => (
            "ServerHelloDone",
            "handshake step 3: the server has said everything",
        ),
        15 if from_server => (
            "CertificateVerify",
            "handshake step 3: proof that the server holds the certificate's private key",
        ),
        15 => (
            "CertificateVerify",
            "mutual TLS: proof that the client holds its certificate's private key",
        ),
        16 => (
            "ClientKeyExchange",
            "handshake steps 4-5: the client's key share; both sides derive the session keys",
        ),
        20 => (
            "Finished",
            "handshake step 6: the handshake is complete and was not tampered with",
        ),
        24 => ("KeyUpdate", "data transfer phase: fresh traffic keys"),
        _ => ("handshake message", "unknown handshake message"),
    };
    let name = if name == "handshake message" {
        format!("handshake message type {kind}")
    } else {
        name.to_string()
    };
    (name, step)
}

fn alert_name(code: u8) -> String {
    let name = match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return format!("number {code}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_named_with_their_seed_step() {
        let hello = describe(22, &[1, 0, 0, 4], Direction::Sent, Side::Client, false).unwrap();
        assert_eq!(hello.name, "ClientHello");
        assert!(hello.step.starts_with("handshake step 1"));

        let cert = describe(22, &[11], Direction::Received, Side::Client, true).unwrap();
        assert!(cert.step.contains("server's certificate"));
        let client_cert = describe(22, &[11], Direction::Received, Side::Server, true).unwrap();
        assert!(client_cert.step.contains("client's certificate"));

        let mut retry = vec![2, 0, 0, 0, 3, 3];
        retry.extend_from_slice(&HELLO_RETRY_RANDOM);
        let retry = describe(22, &retry, Direction::Received, Side::Client, true).unwrap();
        assert_eq!(retry.name, "HelloRetryRequest");

        let close = describe(21, &[1, 0], Direction::Sent, Side::Server, true).unwrap();
        assert_eq!(close.name, "alert close_notify");
        let fatal = describe(21, &[2, 116], Direction::Sent, Side::Server, true).unwrap();
        assert_eq!(fatal.name, "alert certificate_required");
        assert!(fatal.step.starts_with("fatal"));

        assert!(describe(256, &[22, 3, 3, 0, 5], Direction::Sent, Side::Client, true).is_none());
    }
}
