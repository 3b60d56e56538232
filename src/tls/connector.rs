//! The client's TLS context and per-connection `Ssl`.

use std::sync::Arc;

use openssl::ssl::{
    Ssl, SslConnector, SslOptions, SslSessionCacheMode, SslSessionRef, SslVerifyMode, StatusType,
};
use openssl::x509::store::X509StoreBuilder;

use super::observe::Observer;
use super::protocol::{self, Protocol};
use super::{cert, compat, danger, revocation};
use crate::config::{ClientTls, Target, Trust};
use crate::error::Result;

/// Builds the client context: the profile's preset (TLS 1.2 or newer by default),
/// verification on, trusting either one CA file or the system store; the client
/// certificate, ALPN, and a session cache that hands new sessions to the observer.
pub fn connector(config: &ClientTls) -> Result<SslConnector> {
    let protocol = Protocol::new(&config.protocol)?;
    let mut builder = protocol.connector_builder()?;
    if let Trust::CaFile(path) = &config.trust {
        // Only this file: a private CA must not be mixed up with the public web PKI.
        let mut store = X509StoreBuilder::new()?;
        for ca in cert::load_certificates(path, "--cacert")? {
            store.add_cert(ca)?;
        }
        builder.set_cert_store(store.build());
    }
    let crl_checks = revocation::add_crls(builder.cert_store_mut(), &config.revocation)?;
    builder.verify_param_mut().set_flags(crl_checks)?;
    if config.ocsp {
        // Called once the server's certificate verified: a staple that verifies and says
        // "revoked" fails the handshake (the observer keeps what it said, for the report).
        builder.set_status_callback(|ssl| {
            let staple = revocation::check_staple(ssl);
            let revoked = staple.revoked();
            if let Some(observer) = Observer::of(ssl) {
                observer.record_ocsp(staple);
            }
            Ok(!revoked)
        })?;
    }
    if let Some(identity) = &config.identity {
        let identity = cert::load_identity(identity, config.allow_insecure_key_permissions)?;
        builder.set_certificate(&identity.cert)?;
        for intermediate in identity.chain {
            builder.add_extra_chain_cert(intermediate)?;
        }
        builder.set_private_key(&identity.key)?;
    }
    if !config.protocol.alpn.is_empty() {
        builder.set_alpn_protos(&protocol::alpn_wire(&config.protocol.alpn))?;
    }
    // A server's HelloRequest is refused (no_renegotiation) unless renegotiation is asked for.
    if !config.renegotiation {
        builder.set_options(SslOptions::NO_RENEGOTIATION);
    }
    if config.post_handshake_auth {
        compat::offer_post_handshake_auth(&mut builder);
    }
    // Sessions (TLS 1.2 at the handshake, TLS 1.3 tickets later) go to the connection's
    // observer; tlscat decides which one to offer next, so no internal cache.
    builder.set_session_cache_mode(SslSessionCacheMode::CLIENT | SslSessionCacheMode::NO_INTERNAL);
    builder.set_new_session_callback(|ssl, session| {
        if let Some(observer) = Observer::of(ssl) {
            observer.record_session(session);
        }
    });
    Ok(builder.build())
}

/// Prepares one connection: SNI and hostname (or IP address) verification for the
/// configured server name through `configure().into_ssl()`, so neither can be forgotten;
/// the observer attached; `session` offered for resumption.
pub fn client_ssl(
    connector: &SslConnector,
    tls: &ClientTls,
    target: &Target,
    observer: &Arc<Observer>,
    session: Option<&SslSessionRef>,
) -> Result<Ssl> {
    let mut configuration = connector.configure()?;
    configuration.set_use_server_name_indication(target.sni);
    if tls.insecure {
        danger::skip_verification(&mut configuration);
    } else {
        let observer = Arc::clone(observer);
        configuration.set_verify_callback(SslVerifyMode::PEER, move |preverified, ctx| {
            if !preverified {
                observer.record_verify_failure(ctx);
            }
            preverified
        });
    }
    let mut ssl = configuration.into_ssl(target.server_name())?;
    if tls.ocsp {
        ssl.set_status_type(StatusType::OCSP)?;
    }
    observer.attach(&mut ssl)?;
    offer(&mut ssl, session)?;
    Ok(ssl)
}

/// Like [`client_ssl`], without an observer: for `tlscat bench`, where a connection
/// costs as little as a real client's. Verification is the same; its failure is told by
/// the verify result alone.
pub fn lean_client_ssl(
    connector: &SslConnector,
    tls: &ClientTls,
    target: &Target,
    session: Option<&SslSessionRef>,
) -> Result<Ssl> {
    let mut configuration = connector.configure()?;
    configuration.set_use_server_name_indication(target.sni);
    if tls.insecure {
        danger::skip_verification(&mut configuration);
    }
    let mut ssl = configuration.into_ssl(target.server_name())?;
    offer(&mut ssl, session)?;
    Ok(ssl)
}

fn offer(ssl: &mut Ssl, session: Option<&SslSessionRef>) -> Result<()> {
    if let Some(session) = session {
        // SAFETY: the session comes from this connector's context, or from a session file
        // (what `s_client -sess_in` does); OpenSSL checks its version against ours.
        unsafe { ssl.set_session(session)? };
    }
    Ok(())
}
