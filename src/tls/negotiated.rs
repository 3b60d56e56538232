//! What a finished handshake agreed on, read off the connection once for whoever reports
//! it: the connection report, the inspect page, the load generator.

use std::borrow::Cow;

use openssl::ssl::{NameType, SslRef};
use serde::Serialize;

use super::cert::{self, CertSummary};
use super::compat;
use super::failure::Side;

/// The protocol a connection negotiated. Every field is `None` (`false`) until a
/// handshake finished. (Strings are boxed: every idle server connection holds one.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Negotiated {
    /// Server name sent (client) or received (server) in SNI.
    pub sni: Option<Box<str>>,
    /// `TLSv1.3`, `TLSv1.2`, … (OpenSSL's names).
    pub version: Option<&'static str>,
    /// OpenSSL's name of the cipher suite.
    pub cipher: Option<&'static str>,
    /// Key exchange group, e.g. `X25519`, `P-256`.
    pub group: Option<Box<str>>,
    /// The server's handshake signature scheme, e.g. `ecdsa_secp256r1_sha256`.
    pub signature: Option<Box<str>>,
    pub alpn: Option<Box<str>>,
    /// The session was resumed (abbreviated handshake).
    pub resumed: bool,
}

/// Reads what the handshake of `ssl` negotiated; `side` is ours.
pub fn negotiated(ssl: &SslRef, side: Side) -> Negotiated {
    Negotiated {
        sni: ssl.servername(NameType::HOST_NAME).map(Box::from),
        version: Some(ssl.version_str()),
        cipher: ssl.current_cipher().map(|c| c.name()),
        group: compat::negotiated_group(ssl).map(|g| display_group(&g).into()),
        signature: match side {
            Side::Client => compat::peer_signature(ssl),
            Side::Server => compat::own_signature(ssl),
        }
        .map(String::into_boxed_str),
        alpn: ssl
            .selected_alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into()),
        resumed: ssl.session_reused(),
    }
}

/// The peer's chain, leaf first, whether or not it verified.
pub fn peer_chain(ssl: &SslRef) -> Vec<CertSummary> {
    if let Some(chain) = ssl.verified_chain().filter(|c| !c.is_empty()) {
        return chain.iter().map(cert::summary).collect();
    }
    let mut chain: Vec<CertSummary> = ssl
        .peer_certificate()
        .iter()
        .map(|c| cert::summary(c))
        .collect();
    if let Some(sent) = ssl.peer_cert_chain() {
        for cert in sent {
            let summary = cert::summary(cert);
            if !chain.contains(&summary) {
                chain.push(summary);
            }
        }
    }
    chain
}

/// Whether the peer's certificate verified, and OpenSSL's verdict in words (or why
/// nothing was verified): `asked` is whether we verify the peer at all (a client with
/// `--insecure` does not; a server only with `--client-ca`).
pub fn verification(
    ssl: &SslRef,
    side: Side,
    asked: bool,
    peer_sent_certificate: bool,
) -> (bool, Cow<'static, str>) {
    let result = ssl.verify_result();
    if !asked {
        return match side {
            Side::Client => (
                false,
                Cow::Owned(format!(
                    "skipped (--insecure); OpenSSL says: {}",
                    result.error_string()
                )),
            ),
            Side::Server => (false, Cow::Borrowed(NOT_REQUESTED)),
        };
    }
    if !peer_sent_certificate {
        (false, Cow::Borrowed("no certificate"))
    } else if result.as_raw() == 0 {
        (true, Cow::Borrowed("ok"))
    } else {
        (false, Cow::Borrowed(result.error_string()))
    }
}

/// The verdict of a server that did not ask for a client certificate.
pub const NOT_REQUESTED: &str = "not requested";

/// The group names readers know (`P-256` rather than `secp256r1` or `prime256v1`).
pub fn display_group(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "x25519" => "X25519".into(),
        "x448" => "X448".into(),
        "secp256r1" | "prime256v1" | "p-256" => "P-256".into(),
        "secp384r1" | "p-384" => "P-384".into(),
        "secp521r1" | "p-521" => "P-521".into(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_shown_the_same_whatever_openssl_calls_them() {
        assert_eq!(display_group("secp256r1"), "P-256");
        assert_eq!(display_group("prime256v1"), "P-256");
        assert_eq!(display_group("x25519"), "X25519");
        assert_eq!(display_group("X25519MLKEM768"), "X25519MLKEM768");
    }
}
