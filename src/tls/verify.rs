//! What the client learned when it rejected the server's certificate, and how to say it.

use std::sync::{Arc, Mutex, PoisonError};

use openssl::x509::X509StoreContextRef;
use openssl_sys as ffi;

use super::cert;
use crate::config::Trust;
use crate::error::Error;

/// The first verification failure of a handshake, with the certificate it concerned.
#[derive(Debug, Clone)]
pub struct VerifyFailure {
    /// OpenSSL's `X509_V_ERR_*` code.
    pub code: i32,
    /// OpenSSL's text for the code, e.g. "unable to get local issuer certificate".
    pub reason: String,
    /// Position in the chain: 0 is the server's own certificate.
    pub depth: u32,
    pub subject: String,
    pub issuer: String,
    pub alt_names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
}

/// Shared slot the verify callback writes into during the handshake.
#[derive(Debug, Clone, Default)]
pub struct VerifyLog(Arc<Mutex<Option<VerifyFailure>>>);

impl VerifyLog {
    /// Called from OpenSSL's verify callback for each certificate that failed a check;
    /// keeps the first failure.
    pub fn record(&self, ctx: &X509StoreContextRef) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return;
        }
        let error = ctx.error();
        let current = ctx.current_cert();
        *slot = Some(VerifyFailure {
            code: error.as_raw(),
            reason: error.error_string().to_string(),
            depth: ctx.error_depth(),
            subject: current.map_or_else(String::new, |c| cert::name(c.subject_name())),
            issuer: current.map_or_else(String::new, |c| cert::name(c.issuer_name())),
            alt_names: current.map_or_else(Vec::new, cert::alt_names),
            not_before: current.map_or_else(String::new, |c| c.not_before().to_string()),
            not_after: current.map_or_else(String::new, |c| c.not_after().to_string()),
        });
    }

    /// The recorded failure, if verification failed.
    pub fn failure(&self) -> Option<VerifyFailure> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Explains a rejected server certificate: what was wrong and how to fix it.
pub fn rejection(failure: &VerifyFailure, server_name: &str, trust: &Trust) -> Error {
    let subject = &failure.subject;
    let names = if failure.alt_names.is_empty() {
        "no subject alternative names".to_string()
    } else {
        failure.alt_names.join(", ")
    };
    let trusted = match trust {
        Trust::CaFile(path) => format!("the CA file {}", path.display()),
        Trust::System => "the system trust store".to_string(),
    };
    let (reason, hint) = match failure.code {
        ffi::X509_V_ERR_HOSTNAME_MISMATCH | ffi::X509_V_ERR_IP_ADDRESS_MISMATCH => {
            let alternative = failure
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
                failure.reason, failure.issuer
            ),
            format!(
                "pass --cacert FILE holding the certificate of {}",
                failure.issuer
            ),
        ),
        ffi::X509_V_ERR_CERT_HAS_EXPIRED => (
            format!("{subject} expired on {}", failure.not_after),
            "the server must renew it (scripts/gen-certs.sh --force makes a new set)".to_string(),
        ),
        ffi::X509_V_ERR_CERT_NOT_YET_VALID => (
            format!("{subject} is not valid before {}", failure.not_before),
            "check the clocks of both machines".to_string(),
        ),
        ffi::X509_V_ERR_INVALID_PURPOSE => (
            format!("{subject} is not issued for TLS servers (extended key usage)"),
            "issue it with extendedKeyUsage=serverAuth".to_string(),
        ),
        _ => (
            format!(
                "{} (certificate {subject}, depth {})",
                failure.reason, failure.depth
            ),
            "fix the server's chain; --insecure skips verification, for debugging only".to_string(),
        ),
    };
    Error::Verify {
        reason,
        hint: Some(hint),
    }
}
