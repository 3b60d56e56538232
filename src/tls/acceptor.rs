//! The server's TLS context.

use log::warn;
use openssl::ssl::{SslAcceptor, SslMethod};

use super::cert;
use crate::config::ServerConfig;
use crate::error::{Error, Result};

/// Key exchange groups offered by the server, strongest-fastest first. OpenSSL's default
/// list also has X448 and P-521, which Mozilla's intermediate profile leaves out.
const GROUPS: &str = "X25519:P-256:P-384";

/// Identifies tlscat's sessions in the session cache (required once clients present
/// certificates, harmless before).
const SESSION_ID_CONTEXT: &[u8] = b"tlscat";

/// Builds the server context from Mozilla's intermediate profile (TLS 1.2 and 1.3, AEAD
/// suites, forward secrecy) with the configured certificate chain and key.
///
/// Refuses a key that does not match the certificate, and an expired certificate unless
/// `allow_expired` is set.
pub fn acceptor(config: &ServerConfig) -> Result<SslAcceptor> {
    let chain = cert::load_certificates(&config.cert, "--cert")?;
    let key = cert::load_private_key(&config.key, "--key")?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| Error::Internal("certificate loader returned an empty chain".to_string()))?;
    if !leaf.public_key()?.public_eq(&key) {
        return Err(Error::Config(format!(
            "{} does not match {}: pass the key that belongs to this certificate, \
             or regenerate both with scripts/gen-certs.sh --force",
            config.key.display(),
            config.cert.display()
        )));
    }
    check_validity(leaf, config)?;

    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_groups_list(GROUPS)?;
    builder.set_certificate(leaf)?;
    for intermediate in intermediates {
        builder.add_extra_chain_cert(intermediate.clone())?;
    }
    builder.set_private_key(&key)?;
    builder.set_session_id_context(SESSION_ID_CONTEXT)?;
    Ok(builder.build())
}

fn check_validity(leaf: &openssl::x509::X509Ref, config: &ServerConfig) -> Result<()> {
    let shown = config.cert.display();
    if cert::has_expired(leaf)? {
        if !config.allow_expired {
            return Err(Error::Config(format!(
                "{shown} expired on {}: renew it (scripts/gen-certs.sh --force), \
                 or pass --allow-expired to serve it anyway",
                leaf.not_after()
            )));
        }
        warn!(
            "serving {shown}, which EXPIRED on {}: clients that verify will reject it",
            leaf.not_after()
        );
    }
    if cert::is_not_yet_valid(leaf)? {
        warn!(
            "{shown} is not valid before {}: clients will reject it until then (check the clock)",
            leaf.not_before()
        );
    }
    Ok(())
}
