//! What the client learned when it rejected the server's certificate, and how to say it.

use openssl_sys as ffi;

use super::cert::CertSummary;
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
}

/// Explains a rejected server certificate: what was wrong and how to fix it.
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
    let (reason, hint) = match failure.code {
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
        ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ffi::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | ffi::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
        | ffi::X509_V_ERR_CERT_UNTRUSTED => (
            format!(
                "{}: {subject} was issued by {}, which {trusted} does not trust",
                failure.reason, cert.issuer
            ),
            format!(
                "pass --cacert FILE holding the certificate of {}",
                cert.issuer
            ),
        ),
        ffi::X509_V_ERR_CERT_HAS_EXPIRED => (
            format!("{subject} expired on {}", cert.not_after),
            "the server must renew it (scripts/gen-certs.sh --force makes a new set)".to_string(),
        ),
        ffi::X509_V_ERR_CERT_NOT_YET_VALID => (
            format!("{subject} is not valid before {}", cert.not_before),
            "check the clocks of both machines".to_string(),
        ),
        ffi::X509_V_ERR_INVALID_PURPOSE => (
            format!("{subject} is not issued for TLS servers (extended key usage)"),
            "issue it with extendedKeyUsage=serverAuth".to_string(),
        ),
        _ => (
            format!("{}: certificate {subject}", failure.reason),
            "fix the server's chain; --insecure skips verification, for debugging only".to_string(),
        ),
    };
    Error::Verify {
        reason: format!("{reason} ({})", failure.code_and_depth()),
        hint: Some(hint),
    }
}

/// Explains a rejected client certificate, for the server's log.
pub fn client_rejection(failure: &VerifyFailure) -> Error {
    let subject = failure
        .certificate
        .as_ref()
        .map_or("(no certificate)", |c| c.subject.as_str());
    if let Some(why) = &failure.refused {
        return Error::Verify {
            reason: format!("client certificate {subject} is not allowed: {why}"),
            hint: Some("issue it with a name an --allow-* rule names, or add a rule for it".into()),
        };
    }
    Error::Verify {
        reason: format!(
            "client certificate {subject}: {} ({})",
            failure.reason,
            failure.code_and_depth()
        ),
        hint: Some("client certificates must chain to --client-ca and be valid now".into()),
    }
}

impl VerifyFailure {
    fn code_and_depth(&self) -> String {
        format!("verify error {} at depth {}", self.code, self.depth)
    }
}
