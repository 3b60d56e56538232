//! Turns OpenSSL's error stacks into one-line reasons with a fix, phrased for the side
//! that reports them. Reason codes are OpenSSL's stable `SSL_R_*` numbers (`sslerr.h`).

use std::io;

use openssl::error::ErrorStack;
use openssl::ssl::{self, ErrorCode};
use serde::Serialize;

use super::offer::Offer;
use crate::error::{Error, Phase};

/// Which end of the connection we are: the same failure reads differently on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    fn peer(self) -> &'static str {
        match self {
            Side::Client => "server",
            Side::Server => "client",
        }
    }
}

const ERR_LIB_SYS: i32 = 2;
const BAD_KEY_SHARE: i32 = 108;
const BAD_EXTENSION: i32 = 110;
const BAD_PACKET_LENGTH: i32 = 115;
const EXCESSIVE_MESSAGE_SIZE: i32 = 152;
const LENGTH_MISMATCH: i32 = 159;
const LENGTH_TOO_SHORT: i32 = 160;
const BAD_PACKET: i32 = 240;
const UNEXPECTED_MESSAGE: i32 = 244;
const UNEXPECTED_RECORD: i32 = 245;
const BAD_LENGTH: i32 = 271;
const BAD_LEGACY_VERSION: i32 = 292;
const BAD_HANDSHAKE_LENGTH: i32 = 332;
const BAD_RECORD_TYPE: i32 = 443;
const ERR_LIB_SSL: i32 = 20;
const CERTIFICATE_VERIFY_FAILED: i32 = 134;
const HTTPS_PROXY_REQUEST: i32 = 155;
const HTTP_REQUEST: i32 = 156;
const NO_CIPHERS_AVAILABLE: i32 = 181;
const NO_PROTOCOLS_AVAILABLE: i32 = 191;
const NO_SHARED_CIPHER: i32 = 193;
const PACKET_LENGTH_TOO_LONG: i32 = 198;
const ENCRYPTED_LENGTH_TOO_LONG: i32 = 150;
const DATA_LENGTH_TOO_LONG: i32 = 146;
const PEER_DID_NOT_RETURN_A_CERTIFICATE: i32 = 199;
const RECORD_LENGTH_MISMATCH: i32 = 213;
const UNKNOWN_PROTOCOL: i32 = 252;
const UNSUPPORTED_PROTOCOL: i32 = 258;
const WRONG_VERSION_NUMBER: i32 = 267;
const DECRYPTION_FAILED_OR_BAD_RECORD_MAC: i32 = 281;
const UNEXPECTED_EOF_WHILE_READING: i32 = 294;
const VERSION_TOO_LOW: i32 = 396;
const NO_SHARED_GROUPS: i32 = 410;
const NO_APPLICATION_PROTOCOL: i32 = 235;
const NO_RENEGOTIATION: i32 = 339;
// Alerts received from the peer: SSL_AD_REASON_OFFSET (1000) + the alert number.
const ALERT_BAD_RECORD_MAC: i32 = 1020;
const ALERT_HANDSHAKE_FAILURE: i32 = 1040;
const ALERT_BAD_CERTIFICATE: i32 = 1042;
const ALERT_UNSUPPORTED_CERTIFICATE: i32 = 1043;
const ALERT_CERTIFICATE_REVOKED: i32 = 1044;
const ALERT_CERTIFICATE_EXPIRED: i32 = 1045;
const ALERT_CERTIFICATE_UNKNOWN: i32 = 1046;
const ALERT_UNKNOWN_CA: i32 = 1048;
const ALERT_ACCESS_DENIED: i32 = 1049;
const ALERT_DECRYPT_ERROR: i32 = 1051;
const ALERT_PROTOCOL_VERSION: i32 = 1070;
const ALERT_INSUFFICIENT_SECURITY: i32 = 1071;
const ALERT_CERTIFICATE_REQUIRED: i32 = 1116;
const ALERT_NO_APPLICATION_PROTOCOL: i32 = 1120;

/// What went wrong, in the user's words.
struct Diagnosis {
    reason: String,
    hint: Option<String>,
    /// A certificate was rejected (exit code 5) rather than the protocol failing (4).
    certificate: bool,
}

/// The first SSL-library reason code in the stack, if any.
fn ssl_reason(stack: &ErrorStack) -> Option<i32> {
    stack
        .errors()
        .iter()
        .find(|e| e.library_code() == ERR_LIB_SSL)
        .map(|e| e.reason_code())
}

/// OpenSSL's own short reason, for failures we have no better words for.
fn raw_reason(stack: &ErrorStack) -> String {
    stack
        .errors()
        .iter()
        .find_map(|e| e.reason())
        .map_or_else(|| stack.to_string(), str::to_string)
}

/// What the connection's callbacks saw before a handshake failed, which sharpens the
/// diagnosis of OpenSSL's reason code.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clues {
    /// The server sent a CertificateRequest (client side): a bare handshake_failure alert
    /// then means "the server wants a certificate".
    pub certificate_requested: bool,
    /// The peer's first record header was not TLS: OpenSSL 3.2+ reports such bytes as an
    /// oversized record.
    pub not_tls: bool,
    /// The peer's first bytes were an HTTP proxy request (`CONNECT`), which OpenSSL 3.2+
    /// reports as not TLS.
    pub proxy_request: bool,
    /// We refused the peer's renegotiation request: OpenSSL's peer then aborts with a
    /// handshake_failure alert.
    pub refused_renegotiation: bool,
}

fn diagnose(stack: &ErrorStack, side: Side, clues: Clues, offer: &Offer) -> Diagnosis {
    let peer = side.peer();
    let protocol = |reason: String, hint: Option<&str>| Diagnosis {
        reason,
        hint: hint.map(str::to_string),
        certificate: false,
    };
    let certificate = |reason: String, hint: &str| Diagnosis {
        reason,
        hint: Some(hint.to_string()),
        certificate: true,
    };
    let Some(code) = ssl_reason(stack) else {
        return protocol(raw_reason(stack), None);
    };
    if code == HTTPS_PROXY_REQUEST || clues.proxy_request {
        return protocol(
            "the client sent an HTTP proxy (CONNECT) request to the TLS port".into(),
            Some("tlscat is not a proxy"),
        );
    }
    match (code, side) {
        (HTTP_REQUEST, _) => protocol(
            "the client sent a plain HTTP request to the TLS port".into(),
            Some("use https:// or a TLS client"),
        ),
        (
            BAD_KEY_SHARE
            | BAD_EXTENSION
            | BAD_PACKET_LENGTH
            | EXCESSIVE_MESSAGE_SIZE
            | LENGTH_MISMATCH
            | LENGTH_TOO_SHORT
            | BAD_PACKET
            | UNEXPECTED_MESSAGE
            | UNEXPECTED_RECORD
            | BAD_LENGTH
            | BAD_LEGACY_VERSION
            | BAD_HANDSHAKE_LENGTH
            | BAD_RECORD_TYPE,
            _,
        ) => protocol(
            format!(
                "the {peer} sent a malformed TLS message ({})",
                raw_reason(stack)
            ),
            Some("a broken or hostile peer"),
        ),
        (PACKET_LENGTH_TOO_LONG | ENCRYPTED_LENGTH_TOO_LONG | DATA_LENGTH_TOO_LONG, _)
            if !clues.not_tls =>
        {
            protocol(
                format!("the {peer} sent a record larger than TLS allows"),
                Some("a broken or hostile peer, or not TLS at all"),
            )
        }
        (
            WRONG_VERSION_NUMBER
            | RECORD_LENGTH_MISMATCH
            | UNKNOWN_PROTOCOL
            | PACKET_LENGTH_TOO_LONG
            | DATA_LENGTH_TOO_LONG,
            _,
        ) => protocol(
            format!("the {peer} does not speak TLS"),
            Some(match side {
                Side::Client => "is this the TLS port? plain TCP services need a plain client",
                Side::Server => "point TLS clients at this port, plain ones elsewhere",
            }),
        ),
        (UNSUPPORTED_PROTOCOL | VERSION_TOO_LOW | NO_PROTOCOLS_AVAILABLE, _)
        | (ALERT_PROTOCOL_VERSION, _) => protocol(
            format!("no TLS version in common with the {peer}"),
            Some(&format!(
                "tlscat allows {} here; the {peer} wants others",
                offer.versions
            )),
        ),
        (NO_SHARED_CIPHER | NO_CIPHERS_AVAILABLE | NO_SHARED_GROUPS, _)
        | (ALERT_INSUFFICIENT_SECURITY, _) => protocol(
            format!("no cipher suite or key exchange group in common with the {peer}"),
            Some(&format!("tlscat offers {} here", offer.suites)),
        ),
        (NO_RENEGOTIATION, _) => protocol(
            format!("the {peer} refused to renegotiate (no_renegotiation alert)"),
            Some(match side {
                Side::Client => {
                    "servers refuse it by default: tlscat server allows it with --renegotiate, \
                     openssl s_server with -client_renegotiation"
                }
                Side::Server => "the client refuses it: tlscat client allows it with --renegotiate",
            }),
        ),
        (ALERT_HANDSHAKE_FAILURE, _) if clues.refused_renegotiation => protocol(
            format!(
                "the {peer} ended the connection after we refused its renegotiation request \
                 (handshake_failure alert)"
            ),
            Some(match side {
                Side::Client => "tlscat client allows renegotiation with --renegotiate",
                Side::Server => "tlscat server allows renegotiation with --renegotiate",
            }),
        ),
        (ALERT_HANDSHAKE_FAILURE, Side::Client) if clues.certificate_requested => certificate(
            "the server asked for a client certificate and aborted the handshake".into(),
            "it requires a certificate signed by a CA it trusts: pass --cert and --key",
        ),
        (ALERT_NO_APPLICATION_PROTOCOL, _) | (NO_APPLICATION_PROTOCOL, _) => protocol(
            format!("no ALPN protocol in common with the {peer}"),
            Some("compare the --alpn lists of both sides (the server may allow --alpn-optional)"),
        ),
        (ALERT_HANDSHAKE_FAILURE, _) => protocol(
            format!("the {peer} aborted the handshake (handshake_failure alert)"),
            Some(match side {
                Side::Client => {
                    "no cipher or group in common, or the server requires a client certificate"
                }
                Side::Server => "the client found nothing acceptable in our offer",
            }),
        ),
        (ALERT_CERTIFICATE_REQUIRED | PEER_DID_NOT_RETURN_A_CERTIFICATE, Side::Client) => {
            certificate(
                "the server requires a client certificate".into(),
                "pass --cert and --key (or --p12) with one signed by a CA the server trusts",
            )
        }
        (ALERT_CERTIFICATE_REQUIRED | PEER_DID_NOT_RETURN_A_CERTIFICATE, Side::Server) => {
            certificate(
                "the client did not send a certificate".into(),
                "mutual TLS needs one",
            )
        }
        (ALERT_CERTIFICATE_REVOKED, _) => certificate(
            format!("the {peer} rejected our certificate as revoked (certificate_revoked alert)"),
            match side {
                Side::Client => {
                    "our client certificate is on the server's revocation list: get a new one \
                     from its CA"
                }
                Side::Server => {
                    "the client finds our certificate revoked (its CRL or OCSP answer): serve \
                     a new one"
                }
            },
        ),
        (
            ALERT_UNKNOWN_CA
            | ALERT_BAD_CERTIFICATE
            | ALERT_UNSUPPORTED_CERTIFICATE
            | ALERT_CERTIFICATE_EXPIRED
            | ALERT_CERTIFICATE_UNKNOWN
            | ALERT_ACCESS_DENIED,
            _,
        ) => certificate(
            format!(
                "the {peer} rejected our certificate ({})",
                raw_reason(stack)
            ),
            match side {
                Side::Client => "the server does not accept our client certificate",
                Side::Server => {
                    "give the client the CA that signed our certificate (tlscat client --cacert certs/ca.crt)"
                }
            },
        ),
        (CERTIFICATE_VERIFY_FAILED, _) => certificate(
            format!("the {peer}'s certificate did not verify"),
            "check that it is signed by a trusted CA, valid now, and issued for this name",
        ),
        (UNEXPECTED_EOF_WHILE_READING, _) => closed_during_handshake(side),
        (DECRYPTION_FAILED_OR_BAD_RECORD_MAC | ALERT_BAD_RECORD_MAC | ALERT_DECRYPT_ERROR, _) => {
            protocol(
                "data failed its integrity check (bad record MAC or decrypt error)".into(),
                Some("something on the path altered the bytes"),
            )
        }
        _ => protocol(raw_reason(stack), None),
    }
}

/// The peer hung up in the middle of the handshake (OpenSSL reports it as an unexpected
/// end of file, or with no reason at all).
fn closed_during_handshake(side: Side) -> Diagnosis {
    Diagnosis {
        reason: format!(
            "the {} closed the connection during the handshake",
            side.peer()
        ),
        hint: Some(
            match side {
                Side::Client => "the server may have refused something: check its log",
                Side::Server => "the client gave up: check its output",
            }
            .to_string(),
        ),
        certificate: false,
    }
}

/// Turns a failed handshake into an [`Error`]: a rejected certificate gives
/// [`Error::Verify`], anything else [`Error::Handshake`]. `offer` is what we allowed.
pub fn handshake_failure(err: ssl::Error, side: Side, clues: Clues, offer: &Offer) -> Error {
    let diagnosis = match (err.ssl_error(), err.io_error()) {
        (Some(stack), _) => diagnose(stack, side, clues, offer),
        (None, Some(io)) => Diagnosis {
            reason: format!("connection lost during the handshake: {io}"),
            hint: None,
            certificate: false,
        },
        (None, None)
            if err.code() == ErrorCode::SYSCALL || err.code() == ErrorCode::ZERO_RETURN =>
        {
            closed_during_handshake(side)
        }
        (None, None) => Diagnosis {
            reason: err.to_string(),
            hint: None,
            certificate: false,
        },
    };
    if diagnosis.certificate {
        return Error::Verify {
            reason: diagnosis.reason,
            hint: diagnosis.hint,
        };
    }
    Error::Handshake {
        reason: diagnosis.reason,
        hint: diagnosis.hint,
        source: Some(Box::new(err)),
    }
}

/// Whether a handshake failed because the client sent a plain HTTP request: it can then
/// be answered in plain HTTP.
pub fn is_plain_http(err: &ssl::Error) -> bool {
    err.ssl_error().and_then(ssl_reason) == Some(HTTP_REQUEST)
}

/// The OpenSSL error inside an I/O error from `tokio_openssl`, if there is one.
fn inner_ssl_error(err: &io::Error) -> Option<&ssl::Error> {
    err.get_ref()?.downcast_ref::<ssl::Error>()
}

/// True when the peer closed TCP without close_notify (OpenSSL 3 reports it as an error;
/// 1.1.1 as a plain end of file, which never reaches here).
pub fn is_unexpected_eof(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::UnexpectedEof
        || inner_ssl_error(err)
            .and_then(ssl::Error::ssl_error)
            .and_then(ssl_reason)
            == Some(UNEXPECTED_EOF_WHILE_READING)
}

/// Turns a failed read, write or close after the handshake into an [`Error`]. In TLS 1.3
/// the server's verdict on a client certificate arrives here, after the handshake.
/// `clues`: what the connection's observer saw (see [`Observer::clues`]).
///
/// [`Observer::clues`]: super::observe::Observer::clues
pub fn io_failure(err: io::Error, phase: Phase, side: Side, clues: Clues) -> Error {
    let Some(stack) = inner_ssl_error(&err).and_then(ssl::Error::ssl_error) else {
        return Error::Io { phase, source: err };
    };
    if stack.errors().is_empty() {
        return Error::Io {
            phase,
            source: io::Error::other("the connection broke (OpenSSL gave no reason)"),
        };
    }
    // OpenSSL 3.2+ reports a failed socket call as a "system library" error in the stack:
    // the connection broke below TLS.
    if ssl_reason(stack).is_none() {
        if let Some(sys) = stack
            .errors()
            .iter()
            .find(|e| e.library_code() == ERR_LIB_SYS)
        {
            return Error::Io {
                phase,
                source: io::Error::other(format!(
                    "the connection broke (system error {})",
                    sys.reason_code()
                )),
            };
        }
    }
    let diagnosis = diagnose(stack, side, clues, &Offer::default());
    if diagnosis.certificate {
        return Error::Verify {
            reason: diagnosis.reason,
            hint: diagnosis.hint,
        };
    }
    Error::Tls {
        phase,
        reason: match diagnosis.hint {
            Some(hint) => format!("{}: {hint}", diagnosis.reason),
            None => diagnosis.reason,
        },
        source: Some(Box::new(err)),
    }
}
