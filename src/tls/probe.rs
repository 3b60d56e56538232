//! What the linked OpenSSL can do here, found by asking it: versions by a real handshake
//! over a socket pair, groups and signature algorithms by trying to configure each one.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslContext, SslContextBuilder, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::{X509, X509NameBuilder};
use serde::Serialize;

use super::compat;
use crate::config::TlsVersion;

/// Groups worth asking about, in OpenSSL's spelling.
const GROUP_CANDIDATES: [&str; 19] = [
    "X25519",
    "X448",
    "P-256",
    "P-384",
    "P-521",
    "ffdhe2048",
    "ffdhe3072",
    "ffdhe4096",
    "ffdhe6144",
    "ffdhe8192",
    "brainpoolP256r1tls13",
    "brainpoolP384r1tls13",
    "brainpoolP512r1tls13",
    "X25519MLKEM768",
    "SecP256r1MLKEM768",
    "SecP384r1MLKEM1024",
    "MLKEM512",
    "MLKEM768",
    "MLKEM1024",
];

/// Signature schemes worth asking about (TLS 1.3 names).
const SIGALG_CANDIDATES: [&str; 19] = [
    "ecdsa_secp256r1_sha256",
    "ecdsa_secp384r1_sha384",
    "ecdsa_secp521r1_sha512",
    "ed25519",
    "ed448",
    "rsa_pss_rsae_sha256",
    "rsa_pss_rsae_sha384",
    "rsa_pss_rsae_sha512",
    "rsa_pss_pss_sha256",
    "rsa_pss_pss_sha384",
    "rsa_pss_pss_sha512",
    "rsa_pkcs1_sha256",
    "rsa_pkcs1_sha384",
    "rsa_pkcs1_sha512",
    "ecdsa_sha1",
    "rsa_pkcs1_sha1",
    "mldsa44",
    "mldsa65",
    "mldsa87",
];

/// The linked library's abilities, for `tlscat version`.
#[derive(Debug, Serialize)]
pub struct Capabilities {
    /// Versions a handshake really succeeds with (1.0/1.1 at security level 0).
    pub versions: Vec<&'static str>,
    pub groups: Vec<String>,
    pub tls13_suites: Vec<String>,
    pub tls12_ciphers: Vec<String>,
    pub sigalgs: Vec<String>,
    /// The library names the negotiated group itself (3.0+), not only via the peer's key.
    pub group_names: bool,
    /// A handshake hands its secrets to the key log callback (`--keylog` works).
    pub key_logging: bool,
}

/// Asks the library about everything.
pub fn capabilities() -> Capabilities {
    Capabilities {
        versions: TlsVersion::ALL
            .into_iter()
            .filter(|v| can_negotiate(*v))
            .map(TlsVersion::name)
            .collect(),
        groups: groups(),
        tls13_suites: tls13_suites(),
        tls12_ciphers: tls12_ciphers(),
        sigalgs: sigalgs(),
        group_names: compat::NAMES_GROUPS,
        key_logging: logs_keys(),
    }
}

/// Groups `set_groups_list` accepts.
pub fn groups() -> Vec<String> {
    accepted(&GROUP_CANDIDATES, |b, g| b.set_groups_list(g).is_ok())
}

/// Signature schemes `set_sigalgs_list` accepts.
pub fn sigalgs() -> Vec<String> {
    accepted(&SIGALG_CANDIDATES, |b, s| b.set_sigalgs_list(s).is_ok())
}

fn accepted(candidates: &[&str], ok: impl Fn(&mut SslContextBuilder, &str) -> bool) -> Vec<String> {
    candidates
        .iter()
        .filter(|name| {
            SslContextBuilder::new(SslMethod::tls())
                .map(|mut b| ok(&mut b, name))
                .unwrap_or(false)
        })
        .map(|name| name.to_string())
        .collect()
}

/// Every cipher suite the library has, in a context that allows them all.
pub fn all_ciphers() -> Vec<compat::Cipher> {
    let Ok(mut builder) = SslContextBuilder::new(SslMethod::tls()) else {
        return Vec::new();
    };
    let all_tls13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:\
        TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";
    let _ = builder.set_ciphersuites(all_tls13);
    let _ = builder.set_cipher_list("ALL:COMPLEMENTOFALL:@SECLEVEL=0");
    compat::context_ciphers(&builder.build())
}

/// TLS 1.3 cipher suites.
pub fn tls13_suites() -> Vec<String> {
    all_ciphers()
        .into_iter()
        .map(|cipher| cipher.name)
        .filter(|name| name.starts_with("TLS_"))
        .map(str::to_string)
        .collect()
}

/// TLS 1.2-and-older cipher suites (OpenSSL names).
pub fn tls12_ciphers() -> Vec<String> {
    all_ciphers()
        .into_iter()
        .map(|cipher| cipher.name)
        .filter(|name| !name.starts_with("TLS_"))
        .map(str::to_string)
        .collect()
}

/// Whether a handshake at exactly `version` succeeds with this library, here.
pub fn can_negotiate(version: TlsVersion) -> bool {
    handshake_at(version, false).unwrap_or(false)
}

/// Whether a TLS 1.3 handshake hands its secrets to the key log callback.
fn logs_keys() -> bool {
    handshake_at(TlsVersion::Tls1_3, true).unwrap_or(false)
}

/// Runs one handshake at `version`; with `keylog`, succeeds only if secrets were logged.
fn handshake_at(version: TlsVersion, keylog: bool) -> Result<bool, Box<dyn std::error::Error>> {
    let logged = Arc::new(AtomicBool::new(false));
    let server_ctx = probe_context(version, true, None)?;
    let client_ctx = probe_context(version, false, keylog.then(|| Arc::clone(&logged)))?;
    let (server_end, client_end) = UnixStream::pair()?;
    for end in [&server_end, &client_end] {
        end.set_read_timeout(Some(Duration::from_secs(2)))?;
        end.set_write_timeout(Some(Duration::from_secs(2)))?;
    }
    let server = thread::spawn(move || {
        Ssl::new(&server_ctx)
            .ok()
            .map(|ssl| ssl.accept(server_end).is_ok())
            .unwrap_or(false)
    });
    let client_ok = Ssl::new(&client_ctx)?.connect(client_end).is_ok();
    let server_ok = server.join().unwrap_or(false);
    Ok(client_ok && server_ok && (!keylog || logged.load(Ordering::Relaxed)))
}

/// OpenSSL's constant for a version.
pub fn ssl_version(version: TlsVersion) -> SslVersion {
    match version {
        TlsVersion::Tls1_0 => SslVersion::TLS1,
        TlsVersion::Tls1_1 => SslVersion::TLS1_1,
        TlsVersion::Tls1_2 => SslVersion::TLS1_2,
        TlsVersion::Tls1_3 => SslVersion::TLS1_3,
    }
}

/// A context fixed to one version, with every suite at security level 0; the server side
/// gets a throwaway self-signed P-256 certificate.
fn probe_context(
    version: TlsVersion,
    server: bool,
    keylog: Option<Arc<AtomicBool>>,
) -> Result<SslContext, Box<dyn std::error::Error>> {
    let method = if server {
        SslMethod::tls_server()
    } else {
        SslMethod::tls_client()
    };
    let mut builder = SslContextBuilder::new(method)?;
    let version = ssl_version(version);
    builder.set_min_proto_version(Some(version))?;
    builder.set_max_proto_version(Some(version))?;
    builder.set_cipher_list("ALL:@SECLEVEL=0")?;
    builder.set_verify(SslVerifyMode::NONE);
    if let Some(logged) = keylog {
        builder.set_keylog_callback(move |_, _| logged.store(true, Ordering::Relaxed));
    }
    if server {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", "tlscat probe")?;
        let name = name.build();
        let mut cert = X509::builder()?;
        cert.set_version(2)?;
        cert.set_subject_name(&name)?;
        cert.set_issuer_name(&name)?;
        cert.set_pubkey(&key)?;
        cert.set_not_before(&*Asn1Time::days_from_now(0)?)?;
        cert.set_not_after(&*Asn1Time::days_from_now(1)?)?;
        cert.sign(&key, MessageDigest::sha256())?;
        builder.set_certificate(&cert.build())?;
        builder.set_private_key(&key)?;
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_library_negotiates_tls_1_2_and_1_3_and_offers_x25519() {
        assert!(can_negotiate(TlsVersion::Tls1_2));
        assert!(can_negotiate(TlsVersion::Tls1_3));
        assert!(groups().iter().any(|g| g == "X25519"));
        assert!(groups().iter().all(|g| g != "nonsense"));
        assert!(tls13_suites().contains(&"TLS_AES_128_GCM_SHA256".to_string()));
        assert!(tls12_ciphers().contains(&"ECDHE-ECDSA-AES128-GCM-SHA256".to_string()));
    }
}
