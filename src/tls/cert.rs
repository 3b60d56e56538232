//! Certificates and keys: read from PEM files with errors that name the file and the fix,
//! and described in words for reports and diagnostics.

use std::io;
use std::net::IpAddr;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509NameRef, X509Ref};

use crate::error::{Error, Result};

/// Reads a whole file, turning the common failures into a one-line fix.
fn read_pem_file(path: &Path, flag: &str) -> Result<Vec<u8>> {
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Err(Error::Config(format!(
            "{shown} is empty: pass a PEM file with {flag}, or regenerate with scripts/gen-certs.sh --force"
        ))),
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::Config(format!(
            "{shown} not found: run scripts/gen-certs.sh to create certs/, or pass {flag} FILE"
        ))),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(Error::Config(format!(
            "cannot read {shown}: permission denied: run as a user who can read it, or pass another {flag}"
        ))),
        Err(e) => Err(Error::Config(format!(
            "cannot read {shown}: {e}: pass a readable PEM file with {flag}"
        ))),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// All certificates of a PEM file, in order (a leaf followed by its chain, or a CA bundle).
pub fn load_certificates(path: &Path, flag: &str) -> Result<Vec<X509>> {
    let pem = read_pem_file(path, flag)?;
    let shown = path.display();
    match X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ if contains(&pem, "PRIVATE KEY-----") && !contains(&pem, "CERTIFICATE-----") => {
            Err(Error::Config(format!(
                "{shown} holds a private key, not a certificate: did you swap --cert and --key?"
            )))
        }
        _ => Err(Error::Config(format!(
            "{shown} holds no readable PEM certificate (-----BEGIN CERTIFICATE-----): pass one with {flag}"
        ))),
    }
}

/// The private key of a PEM file (PKCS#8, or traditional RSA/EC). Never prompts for a
/// passphrase: an encrypted key is reported as such.
pub fn load_private_key(path: &Path, flag: &str) -> Result<PKey<Private>> {
    let pem = read_pem_file(path, flag)?;
    let shown = path.display();
    // An empty passphrase callback keeps OpenSSL from prompting on the terminal.
    match PKey::private_key_from_pem_callback(&pem, |_| Ok(0)) {
        Ok(key) => Ok(key),
        Err(_) if contains(&pem, "ENCRYPTED") => Err(Error::Config(format!(
            "{shown} is an encrypted private key: tlscat needs it unencrypted \
             (openssl pkey -in {shown} -out server-plain.key)"
        ))),
        Err(_) if contains(&pem, "CERTIFICATE-----") && !contains(&pem, "PRIVATE KEY-----") => {
            Err(Error::Config(format!(
                "{shown} holds a certificate, not a private key: did you swap --cert and --key?"
            )))
        }
        Err(_) => Err(Error::Config(format!(
            "{shown} holds no readable PEM private key (-----BEGIN PRIVATE KEY-----): pass one with {flag}"
        ))),
    }
}

/// A distinguished name as `CN=localhost, O=Example`.
pub fn name(name: &X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let field = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_else(|_| "?".to_string());
            format!("{field}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The subject alternative names, as `DNS:localhost`, `IP:127.0.0.1`, …
pub fn alt_names(cert: &X509Ref) -> Vec<String> {
    let Some(names) = cert.subject_alt_names() else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|general| {
            if let Some(dns) = general.dnsname() {
                Some(format!("DNS:{dns}"))
            } else if let Some(ip) = general.ipaddress() {
                ip_from_bytes(ip).map(|ip| format!("IP:{ip}"))
            } else if let Some(email) = general.email() {
                Some(format!("email:{email}"))
            } else {
                general.uri().map(|uri| format!("URI:{uri}"))
            }
        })
        .collect()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Whether the certificate's validity ended before now.
pub fn has_expired(cert: &X509Ref) -> Result<bool> {
    Ok(cert.not_after() < Asn1Time::days_from_now(0)?)
}

/// Whether the certificate's validity starts after now.
pub fn is_not_yet_valid(cert: &X509Ref) -> Result<bool> {
    Ok(cert.not_before() > Asn1Time::days_from_now(0)?)
}
