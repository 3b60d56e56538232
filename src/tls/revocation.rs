//! Revocation: certificate revocation lists (`--crl`, on either side) and OCSP stapling
//! (the server's `--ocsp-response`, the client's `--status`).

use std::path::Path;

use log::warn;
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus};
use openssl::ocsp::{OcspRevokedStatus, OcspStatus};
use openssl::ssl::{SslFiletype, SslRef};
use openssl::stack::Stack;
use openssl::x509::store::{X509Lookup, X509StoreBuilderRef};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509Crl, X509Ref, X509VerifyResult};
use serde::Serialize;

use super::cert;
use super::compat;
use super::summary::{rfc3339, unix_now, unix_time};
use crate::config::Revocation;
use crate::error::{Error, Result};

/// Loads the CRLs of `revocation` into `store` (the one that verifies the peer) and
/// returns the verification flags that check them: the peer's own certificate, or the
/// whole chain (none without CRLs).
pub(super) fn add_crls(
    store: &mut X509StoreBuilderRef,
    revocation: &Revocation,
) -> Result<X509VerifyFlags> {
    if revocation.crls.is_empty() {
        return Ok(X509VerifyFlags::empty());
    }
    let lookup = store.add_lookup(X509Lookup::file())?;
    for path in &revocation.crls {
        let (kind, crl) = read_crl(path)?;
        warn_if_stale(path, &crl);
        let Some(name) = path.to_str() else {
            return Err(Error::Config(format!(
                "{}: --crl paths must be UTF-8: rename the file",
                path.display()
            )));
        };
        lookup.load_crl_file(name, kind)?;
    }
    let mut flags = X509VerifyFlags::CRL_CHECK;
    if revocation.whole_chain {
        flags |= X509VerifyFlags::CRL_CHECK_ALL;
    }
    Ok(flags)
}

/// Reads one CRL file (PEM or DER), with a one-line error naming the file and the fix.
fn read_crl(path: &Path) -> Result<(SslFiletype, X509Crl)> {
    let shown = path.display();
    let bytes = cert::read_file(path, "--crl")?;
    let parsed = if cert::contains(&bytes, "-----BEGIN") {
        X509Crl::from_pem(&bytes).map(|crl| (SslFiletype::PEM, crl))
    } else {
        X509Crl::from_der(&bytes).map(|crl| (SslFiletype::ASN1, crl))
    };
    parsed.map_err(|_| {
        Error::Config(format!(
            "{shown} holds no certificate revocation list (PEM -----BEGIN X509 CRL----- or \
             DER): pass one made by the CA (openssl ca -gencrl) with --crl"
        ))
    })
}

/// Warns about a CRL past its next update: OpenSSL then refuses every certificate it covers.
fn warn_if_stale(path: &Path, crl: &X509Crl) {
    let Some(next) = crl.next_update().and_then(unix_time) else {
        return;
    };
    if next < unix_now() {
        warn!(
            "{}: this CRL of {} expired at {} (its next update): certificates it covers will \
             be refused until a fresh one is passed",
            path.display(),
            cert::name(crl.issuer_name()),
            rfc3339(next)
        );
    }
}

/// Reads a DER OCSP response (`openssl ocsp -respout`) to staple with `leaf`: refused if
/// it is not one, is an error response, or answers for another certificate (checked when
/// `chain` holds the issuer); a warning if it is out of date or not "good".
pub(super) fn load_staple(path: &Path, leaf: &X509Ref, chain: &[X509]) -> Result<Vec<u8>> {
    let shown = path.display();
    let der = cert::read_file(path, "--ocsp-response")?;
    let response = OcspResponse::from_der(&der).map_err(|_| {
        Error::Config(format!(
            "{shown} is not a DER OCSP response: make one with openssl ocsp … -respout FILE \
             (or fetch it from the CA's responder)"
        ))
    })?;
    if response.status() != OcspResponseStatus::SUCCESSFUL {
        return Err(Error::Config(format!(
            "{shown} is an OCSP error response (status {}), not an answer about a certificate: \
             ask the responder again",
            response.status().as_raw()
        )));
    }
    let basic = response
        .basic()
        .map_err(|_| Error::Config(format!("{shown} holds no basic OCSP response")))?;
    let subject = cert::name(leaf.subject_name());
    let Some(issuer) = chain
        .iter()
        .find(|c| c.issued(leaf) == X509VerifyResult::OK)
    else {
        log::debug!(
            "{shown}: the --cert file holds no issuer of {subject}; not checking which \
             certificate the response is for"
        );
        return Ok(der);
    };
    let id = OcspCertId::from_cert(MessageDigest::sha1(), leaf, issuer)?;
    let Some(status) = basic.find_status(&id) else {
        return Err(Error::Config(format!(
            "{shown} answers for another certificate, not {subject}: staple the response \
             about the certificate served"
        )));
    };
    let described = describe_status(&status);
    if described.status != "good" {
        warn!(
            "{shown}: the response says {subject} is {}: clients that check it will refuse the \
             connection",
            described.status
        );
    } else if status.check_validity(0, None).is_err() {
        warn!(
            "{shown}: the response is out of date (next update {}): fetch a fresh one and \
             reload",
            described.next_update.as_deref().unwrap_or("-")
        );
    }
    Ok(der)
}

/// What a stapled OCSP response said about the server's certificate (client, `--status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OcspReport {
    /// `good`, `revoked`, `unknown`, or `none` (the server stapled nothing).
    pub status: &'static str,
    /// The response's signature checked out against the trusted CAs.
    pub verified: bool,
    /// RFC 3339: when the responder vouched for the status, and until when.
    pub this_update: Option<String>,
    pub next_update: Option<String>,
    /// When revoked: when, and why (RFC 5280 reason).
    pub revocation_time: Option<String>,
    pub revocation_reason: Option<&'static str>,
    /// Why the response could not be used, if it could not.
    pub problem: Option<String>,
}

impl OcspReport {
    /// The server stapled nothing.
    pub fn none() -> OcspReport {
        OcspReport {
            status: "none",
            ..OcspReport::default()
        }
    }

    /// A verified "revoked": the handshake must fail.
    pub fn revoked(&self) -> bool {
        self.verified && self.status == "revoked"
    }

    /// A verified, current "good".
    pub fn good(&self) -> bool {
        self.verified && self.status == "good"
    }

    /// One line for the text report: `good (verified; this update …, next update …)`.
    pub fn describe(&self) -> String {
        if self.status == "none" {
            return "no response stapled".to_string();
        }
        let mut details = vec![match &self.problem {
            Some(problem) => format!("not usable: {problem}"),
            None => "verified".to_string(),
        }];
        if let (Some(time), Some(reason)) = (&self.revocation_time, self.revocation_reason) {
            details.push(format!("revoked at {time} ({reason})"));
        }
        if let Some(time) = &self.this_update {
            details.push(format!("this update {time}"));
        }
        if let Some(time) = &self.next_update {
            details.push(format!("next update {time}"));
        }
        format!("{} ({})", self.status, details.join("; "))
    }
}

/// Reads the staple of a finished (or finishing) client handshake: what it says about the
/// server's certificate and whether its signature verifies against our trust store.
pub fn check_staple(ssl: &SslRef) -> OcspReport {
    let Some(der) = ssl.ocsp_status() else {
        return OcspReport::none();
    };
    let failed = |problem: String| OcspReport {
        status: "unknown",
        problem: Some(problem),
        ..OcspReport::default()
    };
    let Ok(response) = OcspResponse::from_der(der) else {
        return failed("the stapled response is not DER OCSP".into());
    };
    if response.status() != OcspResponseStatus::SUCCESSFUL {
        return failed(format!(
            "the stapled response is an error (status {})",
            response.status().as_raw()
        ));
    }
    let Ok(basic) = response.basic() else {
        return failed("the stapled response holds no basic response".into());
    };
    let Some(leaf) = ssl.peer_certificate() else {
        return failed("no server certificate to match it with".into());
    };
    let sent = ssl.peer_cert_chain();
    // The issuer: from the verified chain, else among what the server sent.
    let issuer = ssl
        .verified_chain()
        .and_then(|chain| chain.get(1).map(X509Ref::to_owned))
        .or_else(|| {
            sent?
                .iter()
                .find(|c| c.issued(&leaf) == X509VerifyResult::OK)
                .map(X509Ref::to_owned)
        });
    let Some(issuer) = issuer else {
        return failed("the issuer of the server's certificate is unknown".into());
    };
    let Ok(id) = OcspCertId::from_cert(MessageDigest::sha1(), &leaf, &issuer) else {
        return failed("cannot identify the server's certificate".into());
    };
    let Some(status) = basic.find_status(&id) else {
        return failed("the stapled response is about another certificate".into());
    };
    let mut report = describe_status(&status);
    let mut untrusted = Stack::new().ok();
    if let (Some(stack), Some(sent)) = (untrusted.as_mut(), sent) {
        for cert in sent {
            let _ = stack.push(cert.to_owned());
        }
    }
    let store = ssl.ssl_context().cert_store();
    report.verified = match untrusted {
        Some(stack) => basic.verify(&stack, store, OcspFlag::empty()).is_ok(),
        None => false,
    };
    if !report.verified {
        report.problem = Some("its signature does not verify against the trusted CAs".into());
    } else if status.check_validity(300, None).is_err() {
        report.verified = false;
        report.problem = Some("it is out of date (past its next update)".into());
    }
    report
}

fn describe_status(status: &OcspStatus<'_>) -> OcspReport {
    let time = |t| unix_time(compat::as_time(t)).map(rfc3339);
    let revoked = status.status == OcspCertStatus::REVOKED;
    OcspReport {
        status: match status.status {
            OcspCertStatus::GOOD => "good",
            OcspCertStatus::REVOKED => "revoked",
            _ => "unknown",
        },
        verified: false,
        this_update: time(status.this_update),
        next_update: status.next_update().and_then(time),
        revocation_time: status.revocation_time.filter(|_| revoked).and_then(time),
        revocation_reason: revoked.then(|| reason_name(status.reason)),
        problem: None,
    }
}

/// RFC 5280's name of a revocation reason.
fn reason_name(reason: OcspRevokedStatus) -> &'static str {
    match reason {
        OcspRevokedStatus::KEY_COMPROMISE => "keyCompromise",
        OcspRevokedStatus::CA_COMPROMISE => "cACompromise",
        OcspRevokedStatus::AFFILIATION_CHANGED => "affiliationChanged",
        OcspRevokedStatus::STATUS_SUPERSEDED => "superseded",
        OcspRevokedStatus::STATUS_CESSATION_OF_OPERATION => "cessationOfOperation",
        OcspRevokedStatus::STATUS_CERTIFICATE_HOLD => "certificateHold",
        OcspRevokedStatus::REMOVE_FROM_CRL => "removeFromCRL",
        _ => "unspecified",
    }
}
