//! What a finished handshake agreed on, read off the connection once for whoever reports
//! it: the connection report, the inspect page, the load generator.

use std::borrow::Cow;

use openssl::ssl::{NameType, SslRef};
use openssl::x509::X509Ref;
use serde::Serialize;

use super::compat;
use super::failure::Side;
use super::summary::{self, CertSummary};

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

/// The certificates the peer sent, in the order it sent them (its own first, if it is
/// right), whether or not they verified; with `pem`, each with its PEM encoding (what
/// `s_client -showcerts` prints).
pub fn peer_chain(ssl: &SslRef, side: Side, pem: bool) -> Vec<CertSummary> {
    let mut chain = Vec::new();
    // A server's OpenSSL keeps the client's own certificate apart from the rest it sent.
    if side == Side::Server {
        chain.extend(ssl.peer_certificate().iter().map(|c| describe(c, pem)));
    }
    if let Some(sent) = ssl.peer_cert_chain() {
        chain.extend(sent.iter().map(|c| describe(c, pem)));
    }
    chain
}

/// A certificate described for a report; with `pem`, with its PEM encoding.
pub fn describe(cert: &X509Ref, pem: bool) -> CertSummary {
    let mut summary = summary::summary(cert);
    if pem {
        summary.pem = cert
            .to_pem()
            .ok()
            .map(|p| String::from_utf8_lossy(&p).into_owned());
    }
    summary
}

/// The chain verification built, from the peer's certificate to the trust anchor; empty
/// when nothing verified.
pub fn verified_chain(ssl: &SslRef) -> Vec<CertSummary> {
    ssl.verified_chain()
        .map(|chain| chain.iter().map(summary::summary).collect())
        .unwrap_or_default()
}

/// What is wrong with the order of a sent chain, if anything: each certificate must be
/// followed by its issuer (OpenSSL copes with disorder; other clients may not).
pub fn chain_problem(sent: &[CertSummary]) -> Option<String> {
    for (index, pair) in sent.windows(2).enumerate() {
        let (child, parent) = (&pair[0], &pair[1]);
        if child.issuer != parent.subject {
            let issuer_elsewhere = sent.iter().any(|c| c.subject == child.issuer);
            return Some(if issuer_elsewhere {
                format!(
                    "out of order: [{index}] {} is followed by {}, not by its issuer {}",
                    child.subject, parent.subject, child.issuer
                )
            } else {
                format!(
                    "[{index}] {} is followed by {}, which did not issue it",
                    child.subject, parent.subject
                )
            });
        }
    }
    None
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

    fn summary(subject: &str, issuer: &str) -> CertSummary {
        CertSummary {
            subject: subject.into(),
            issuer: issuer.into(),
            ..CertSummary::default()
        }
    }

    #[test]
    fn a_chain_out_of_order_is_named() {
        let leaf = summary("CN=leaf", "CN=inter");
        let inter = summary("CN=inter", "CN=root");
        let root = summary("CN=root", "CN=root");
        assert_eq!(
            chain_problem(&[leaf.clone(), inter.clone(), root.clone()]),
            None
        );
        assert_eq!(chain_problem(std::slice::from_ref(&leaf)), None);
        let problem = chain_problem(&[leaf, root, inter]).unwrap();
        assert!(
            problem.starts_with("out of order: [0] CN=leaf"),
            "{problem}"
        );
    }

    #[test]
    fn group_names_are_shown_the_same_whatever_openssl_calls_them() {
        assert_eq!(display_group("secp256r1"), "P-256");
        assert_eq!(display_group("prime256v1"), "P-256");
        assert_eq!(display_group("x25519"), "X25519");
        assert_eq!(display_group("X25519MLKEM768"), "X25519MLKEM768");
    }
}
