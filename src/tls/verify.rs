//! What a verifier learned when it rejected the peer's certificate, and how to say it, with
//! the fix on the side that can make it: the client rejecting a server, or the server
//! rejecting a client.

use openssl::x509::X509;
use openssl_sys as ffi;

use super::failure::Side;
use super::summary::{self, CertSummary};
use crate::config::Trust;
use crate::error::Error;

/// The first verification failure of a handshake, with the certificate it concerned.
#[derive(Debug, Clone)]
pub struct VerifyFailure {
    /// OpenSSL's `X509_V_ERR_*` code.
    pub code: i32,
    /// OpenSSL's text for the code, e.g. "unable to get local issuer certificate".
    pub reason: String,
    /// Position in the chain: 0 is the peer's own certificate.
    pub depth: u32,
    /// The certificate that failed, when OpenSSL names one.
    pub certificate: Option<CertSummary>,
    /// It verified, but no allow rule lets it in: why, in words.
    pub refused: Option<String>,
    /// The certificates the peer sent, in its order.
    pub sent: Vec<X509>,
}

/// Explains a rejected server certificate: what was wrong and how to fix it, on the side
/// that can fix it.
pub fn rejection(failure: &VerifyFailure, server_name: &str, trust: &Trust) -> Error {
    let unknown = CertSummary::default();
    let cert = failure.certificate.as_ref().unwrap_or(&unknown);
    let subject = &cert.subject;
    let names = if cert.alt_names.is_empty() {
        "no subject alternative names".to_string()
    } else {
        cert.alt_names.join(", ")
    };
    let trusted = match trust {
        Trust::CaFile(path) => format!("the CA file {}", path.display()),
        Trust::System => "the system trust store".to_string(),
    };
    // The server's own certificate must come first: another one it sent may be for the name.
    let misplaced = failure
        .sent
        .iter()
        .skip(1)
        .map(|c| summary::summary(c))
        .find(|c| {
            c.alt_names.iter().any(|n| {
                n.strip_prefix("DNS:")
                    .or_else(|| n.strip_prefix("IP:"))
                    .is_some_and(|name| name.eq_ignore_ascii_case(server_name))
            })
        });
    let (reason, hint) = match failure.code {
        // Whatever failed first about it (name, purpose, issuer), the first certificate is
        // the wrong one when the server's own comes later.
        _ if failure.depth == 0 && misplaced.is_some() => {
            let own = misplaced.as_ref().map_or("", |c| c.subject.as_str());
            (
                format!(
                    "the server sent its certificates in the wrong order: the first is {subject} \
                     (for {names}), its own for {server_name} ({own}) comes later"
                ),
                "the server must send its own certificate first, then the CAs that issued it \
                 (tlscat server: in that order in the --cert file)"
                    .to_string(),
            )
        }
        ffi::X509_V_ERR_HOSTNAME_MISMATCH | ffi::X509_V_ERR_IP_ADDRESS_MISMATCH => {
            let alternative = cert
                .alt_names
                .iter()
                .find_map(|n| n.strip_prefix("DNS:"))
                .map(|dns| format!("use --servername {dns} or "))
                .unwrap_or_default();
            (
                format!(
                    "hostname mismatch: the certificate is for {names}, you connected to {server_name}"
                ),
                format!(
                    "{alternative}regenerate it with scripts/gen-certs.sh --force --san {server_name}"
                ),
            )
        }
        ffi::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT => (
            format!(
                "the server's certificate ({subject}) is self-signed and not trusted by {trusted}"
            ),
            "pass it (or the CA that should sign it) with --cacert FILE".to_string(),
        ),
        ffi::X509_V_ERR_INVALID_PURPOSE => (
            format!("{subject} is not issued for TLS servers (extended key usage)"),
            "issue it with extendedKeyUsage=serverAuth".to_string(),
        ),
        _ => shared_diagnosis(failure, cert, Side::Client, &trusted).unwrap_or_else(|| {
            (
                format!("{}: certificate {subject}", failure.reason),
                "fix the server's chain; --insecure skips verification, for debugging only"
                    .to_string(),
            )
        }),
    };
    Error::Verify {
        reason: format!("{reason} ({})", failure.code_and_depth()),
        hint: Some(hint),
    }
}

/// Explains a rejected client certificate, for the server's log; `client_ca` is the
/// `--client-ca` file.
pub fn client_rejection(failure: &VerifyFailure, client_ca: &str) -> Error {
    let unknown = CertSummary {
        subject: "(no certificate)".into(),
        ..CertSummary::default()
    };
    let cert = failure.certificate.as_ref().unwrap_or(&unknown);
    let subject = &cert.subject;
    if let Some(why) = &failure.refused {
        return Error::Verify {
            reason: format!("client certificate {subject} is not allowed: {why}"),
            hint: Some("issue it with a name an --allow-* rule names, or add a rule for it".into()),
        };
    }
    let trusted = format!("--client-ca {client_ca}");
    let (reason, hint) = match failure.code {
        ffi::X509_V_ERR_INVALID_PURPOSE => (
            format!("client certificate {subject} is not issued for TLS clients"),
            "the client needs one with extendedKeyUsage=clientAuth".to_string(),
        ),
        _ => shared_diagnosis(failure, cert, Side::Server, &trusted).unwrap_or_else(|| {
            (
                format!("client certificate {subject}: {}", failure.reason),
                format!("client certificates must chain to a CA in {trusted} and be valid now"),
            )
        }),
    };
    Error::Verify {
        reason: format!("{reason} ({})", failure.code_and_depth()),
        hint: Some(hint),
    }
}

/// The failures that read the same from either side, with the fix on the side that can
/// make it: `side` is the verifier, `trusted` its trust in words.
fn shared_diagnosis(
    failure: &VerifyFailure,
    cert: &CertSummary,
    side: Side,
    trusted: &str,
) -> Option<(String, String)> {
    let subject = &cert.subject;
    let issuer = &cert.issuer;
    let (peer, own_flags, trust_flag) = match side {
        Side::Client => ("server", "tlscat server", "--cacert FILE"),
        Side::Server => ("client", "tlscat client", "--client-ca FILE"),
    };
    Some(match failure.code {
        // At depth 0 the chain stopped at the peer's own certificate: its issuer was
        // neither sent nor trusted. An intermediate the peer forgot to send is the usual
        // mistake; a root the verifier lacks is the other.
        ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ffi::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
            if failure.depth == 0 && issuer != subject =>
        {
            (
                format!(
                    "{}: the {peer} sent {subject}, issued by {issuer}, but not the certificate of {issuer}, and \
                     {trusted} does not hold it",
                    failure.reason
                ),
                format!(
                    "if {issuer} is an intermediate CA, the {peer} must send it after its own \
                     certificate ({own_flags}: in the --cert file, after the certificate); \
                     if it is a root CA, pass it with {trust_flag}"
                ),
            )
        }
        ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ffi::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | ffi::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
        | ffi::X509_V_ERR_CERT_UNTRUSTED => (
            format!(
                "{}: {subject} was issued by {issuer}, which {trusted} does not trust",
                failure.reason
            ),
            format!("pass {trust_flag} holding the certificate of {issuer}"),
        ),
        ffi::X509_V_ERR_CERT_HAS_EXPIRED => (
            format!(
                "{}: {subject} expired on {}",
                failure.reason, cert.not_after
            ),
            match side {
                Side::Client => {
                    "the server must renew it (scripts/gen-certs.sh --force makes a new set)"
                        .to_string()
                }
                Side::Server => "the client needs a new certificate from its CA".to_string(),
            },
        ),
        ffi::X509_V_ERR_CERT_NOT_YET_VALID => (
            format!(
                "{}: {subject} is not valid before {}",
                failure.reason, cert.not_before
            ),
            "check the clocks of both machines".to_string(),
        ),
        ffi::X509_V_ERR_CERT_REVOKED => (
            format!(
                "{}: {subject} (serial {}) is on the CRL of {issuer}",
                failure.reason, cert.serial
            ),
            format!("the {peer} needs a new certificate from its CA"),
        ),
        ffi::X509_V_ERR_UNABLE_TO_GET_CRL => (
            format!(
                "{}: no CRL of {issuer}, which issued {subject}, was given",
                failure.reason
            ),
            format!(
                "pass the CRL of {issuer} with --crl FILE (--crl-check chain needs one from \
                 every CA of the chain; --crl-check leaf checks only the {peer}'s own certificate)"
            ),
        ),
        ffi::X509_V_ERR_CRL_HAS_EXPIRED => (
            format!(
                "{}: the CRL of {issuer} is past its next update",
                failure.reason
            ),
            format!("fetch a fresh CRL from {issuer}'s CA and pass it with --crl FILE"),
        ),
        ffi::X509_V_ERR_CRL_NOT_YET_VALID => (
            format!("{}: the CRL of {issuer} is not valid yet", failure.reason),
            "check the clocks of both machines, or the CRL's lastUpdate".to_string(),
        ),
        ffi::X509_V_ERR_CRL_SIGNATURE_FAILURE | ffi::X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER => (
            format!(
                "the CRL given for {issuer} does not verify: {}",
                failure.reason
            ),
            format!("pass the CRL that {issuer} itself signed"),
        ),
        _ => return None,
    })
}

impl VerifyFailure {
    fn code_and_depth(&self) -> String {
        format!("verify error {} at depth {}", self.code, self.depth)
    }
}
