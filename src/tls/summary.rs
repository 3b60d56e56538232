//! A certificate described for reports, diagnostics and monitoring: names, RFC 3339
//! dates, days left, key, serial, signature algorithm, embedded SCTs, fingerprint.

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::X509Ref;
use serde::Serialize;

use super::cert::{alt_names, name};

/// A certificate, described for reports (and for monitoring: dates in RFC 3339, days
/// left, key, serial, signature algorithm, embedded SCTs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub alt_names: Vec<String>,
    /// RFC 3339, UTC: `2026-12-06T22:56:43Z`.
    pub not_before: String,
    pub not_after: String,
    /// Whole days until `not_after` (negative once expired).
    pub days_left: i64,
    /// `EC`, `RSA`, `Ed25519`, …
    pub key_type: String,
    pub key_bits: u32,
    /// Hexadecimal, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// `ecdsa-with-SHA256`, `sha256WithRSAEncryption`, …
    pub signature_algorithm: String,
    /// Signed certificate timestamps embedded in it (Certificate Transparency).
    pub sct_count: usize,
    /// SHA-256 of the DER encoding, as colon-separated hex.
    pub sha256: String,
    /// The certificate in PEM (with `--showcerts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

/// Describes a certificate for reports and diagnostics.
pub fn summary(cert: &X509Ref) -> CertSummary {
    let not_after = unix_time(cert.not_after());
    let now = unix_now();
    let key = cert.public_key().ok();
    CertSummary {
        subject: name(cert.subject_name()),
        issuer: name(cert.issuer_name()),
        alt_names: alt_names(cert),
        not_before: unix_time(cert.not_before()).map_or_else(String::new, rfc3339),
        not_after: not_after.map_or_else(String::new, rfc3339),
        days_left: not_after.map_or(0, |end| (end - now).div_euclid(86_400)),
        key_type: key.as_ref().map_or_else(String::new, key_type),
        key_bits: key.as_ref().map_or(0, |k| k.bits()),
        serial: cert
            .serial_number()
            .to_bn()
            .and_then(|bn| bn.to_hex_str().map(|hex| hex.to_string()))
            .unwrap_or_default(),
        signature_algorithm: cert
            .signature_algorithm()
            .object()
            .nid()
            .short_name()
            .unwrap_or("unknown")
            .to_string(),
        sct_count: super::compat::sct_count(cert),
        sha256: fingerprint(cert),
        pem: None,
    }
}

/// A key's type in words: `EC` (with its curve: `EC P-256`), `RSA`, `Ed25519`, …
fn key_type(key: &PKey<openssl::pkey::Public>) -> String {
    use openssl::pkey::Id;
    match key.id() {
        Id::RSA => "RSA".into(),
        Id::RSA_PSS => "RSA-PSS".into(),
        Id::EC => match key.ec_key().ok().and_then(|ec| ec.group().curve_name()) {
            Some(Nid::X9_62_PRIME256V1) => "EC P-256".into(),
            Some(Nid::SECP384R1) => "EC P-384".into(),
            Some(Nid::SECP521R1) => "EC P-521".into(),
            Some(nid) => format!("EC {}", nid.short_name().unwrap_or("?")),
            None => "EC".into(),
        },
        Id::ED25519 => "Ed25519".into(),
        Id::ED448 => "Ed448".into(),
        Id::DSA => "DSA".into(),
        other => format!("key type {}", other.as_raw()),
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the Unix epoch of an ASN.1 time.
pub fn unix_time(time: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let diff = Asn1Time::from_unix(0).ok()?.diff(time).ok()?;
    Some(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

/// RFC 3339 in UTC: `2026-12-06T22:56:43Z`.
pub fn rfc3339(unix: i64) -> String {
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

fn fingerprint(cert: &X509Ref) -> String {
    cert.digest(MessageDigest::sha256())
        .map(|digest| {
            digest
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_in_rfc_3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_683_003), "2026-12-07T22:36:43Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
    }
}
