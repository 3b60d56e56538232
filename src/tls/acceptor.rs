//! The server's TLS contexts: one per certificate, chosen by SNI, all configured alike.

use std::sync::Arc;

use log::{debug, warn};
use openssl::ssl::{
    AlpnError, NameType, SniError, Ssl, SslContext, SslContextBuilder, SslOptions, SslVerifyMode,
};
use openssl::x509::store::X509StoreBuilder;

use super::access;
use super::cert::{self, LoadedIdentity};
use super::compat;
use super::observe::Observer;
use super::offer::Offer;
use super::protocol::{self, Protocol};
use super::revocation;
use super::summary::{self, CertSummary};
use super::tickets::{self, TicketKeys};
use crate::config::{AccessRules, ServerCertificate, ServerTls};
use crate::error::{Error, Result};

/// Identifies tlscat's sessions in the session cache (required with client certificates).
const SESSION_ID_CONTEXT: &[u8] = b"tlscat";

/// The server's TLS setup: new connections start on `context`; SNI may switch them to
/// another certificate's context.
pub struct Acceptor {
    context: SslContext,
    /// The certificates, by context, to report which one a connection got.
    served: Vec<Served>,
    /// With `--client-ca`: whether a client certificate is required (else optional).
    client_certificate_required: Option<bool>,
    /// The client certificate is asked for after the handshake (TLS 1.3).
    post_handshake_auth: bool,
    /// Which verified client certificates may connect.
    access: Arc<AccessRules>,
    /// What the server offers, in words, for the hints of failed handshakes.
    offer: Offer,
}

struct Served {
    context: SslContext,
    /// Shared with every report of a connection it serves.
    summary: Arc<CertSummary>,
    /// The file it came from.
    file: String,
    /// Unix time of its expiry.
    expires: i64,
}

impl Acceptor {
    /// What the server offers, in words.
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// Whether clients are asked for a certificate.
    pub fn verifies_clients(&self) -> bool {
        self.client_certificate_required.is_some()
    }

    /// The certificate a connection was served with.
    pub fn certificate_of(&self, ctx: &openssl::ssl::SslContextRef) -> Option<&Arc<CertSummary>> {
        self.served
            .iter()
            .find(|served| std::ptr::eq(served.context.as_ref(), ctx))
            .map(|served| &served.summary)
    }

    /// The certificates in words: `certs/server.crt (CN=localhost, until …)`.
    pub fn describe(&self) -> String {
        self.served
            .iter()
            .map(|s| {
                format!(
                    "{} ({}, until {})",
                    s.file, s.summary.subject, s.summary.not_after
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Each certificate's subject and expiry (Unix seconds), for metrics.
    pub fn expiry(&self) -> Vec<(String, i64)> {
        self.served
            .iter()
            .map(|s| (s.summary.subject.clone(), s.expires))
            .collect()
    }
}

/// Builds the contexts: the profile's preset, the protocol settings, each certificate with
/// its chain, sessions, client certificates and ALPN. Refuses a key that does not match
/// its certificate, and an expired certificate unless `allow_expired` is set.
///
/// Session tickets use the keys of `--ticket-key-file`, else `generated` (which the
/// server rotates), else none when tickets are off.
pub fn acceptor(config: &ServerTls, generated: &Arc<TicketKeys>) -> Result<Acceptor> {
    let protocol = Protocol::new(&config.protocol)?;
    let insecure = config.allow_insecure_key_permissions;
    let ticket_keys = match &config.ticket_key_file {
        Some(path) => Some(Arc::new(tickets::load(path, insecure)?)),
        None if config.sessions.tickets => Some(Arc::clone(generated)),
        None => None,
    };
    let mut loaded = Vec::new();
    for certificate in &config.certificates {
        let identity = cert::load_identity(&certificate.identity, insecure)?;
        check_validity(&identity, certificate, config.allow_expired)?;
        loaded.push((sni_names(certificate, &identity), identity));
    }
    let Some(((default_names, default_identity), others)) = loaded.split_first() else {
        return Err(Error::Config(
            "no certificate to serve: pass --cert and --key".into(),
        ));
    };
    // In the order given: the first certificate whose names match the SNI is served;
    // `None` stands for the default context itself.
    let mut table = vec![(default_names.clone(), None)];
    let mut served = Vec::new();
    let serving = |context: &SslContext, identity: &LoadedIdentity, index: usize| {
        Ok::<_, Error>(Served {
            context: context.clone(),
            summary: Arc::new(summary::summary(&identity.cert)),
            file: config.certificates[index]
                .identity
                .display_path()
                .to_string(),
            expires: summary::unix_time(identity.cert.not_after())
                .ok_or_else(|| Error::Internal("cannot read the certificate's notAfter".into()))?,
        })
    };
    for (index, (names, identity)) in others.iter().enumerate() {
        let context =
            protocol.server_context(|b| configure(b, config, identity, ticket_keys.as_ref()))?;
        served.push(serving(&context, identity, index + 1)?);
        table.push((names.clone(), Some(context)));
    }
    let staple = config
        .ocsp_response
        .as_deref()
        .map(|path| revocation::load_staple(path, &default_identity.cert, &default_identity.chain))
        .transpose()?;
    let context = protocol.server_context(|b| {
        configure(b, config, default_identity, ticket_keys.as_ref())?;
        if let Some(staple) = staple {
            // Called only for clients that ask (status_request).
            b.set_status_callback(move |ssl| {
                ssl.set_ocsp_status(&staple)?;
                Ok(true)
            })?;
        }
        if table.len() > 1 {
            b.set_servername_callback(move |ssl, _alert| {
                let Some(name) = ssl.servername(NameType::HOST_NAME).map(str::to_string) else {
                    return Ok(());
                };
                match table.iter().find(|(names, _)| matches_any(names, &name)) {
                    Some((_, Some(other))) => ssl
                        .set_ssl_context(other)
                        .map_err(|_| SniError::ALERT_FATAL),
                    Some((_, None)) => Ok(()),
                    None => {
                        debug!("SNI {name:?} matches no certificate: serving the default");
                        Ok(())
                    }
                }
            });
        }
        Ok(())
    })?;
    served.insert(0, serving(&context, default_identity, 0)?);
    Ok(Acceptor {
        context,
        served,
        client_certificate_required: config.client_auth.as_ref().map(|auth| auth.required),
        post_handshake_auth: config.post_handshake_auth,
        access: Arc::new(config.access.clone()),
        offer: Offer::of(&config.protocol),
    })
}

/// Prepares one server connection: the observer attached and, with client certificates,
/// their verification reported to it.
pub fn server_ssl(acceptor: &Acceptor, observer: &Arc<Observer>) -> Result<Ssl> {
    let mut ssl = Ssl::new(&acceptor.context)?;
    observer.attach(&mut ssl)?;
    if let Some(required) = acceptor.client_certificate_required {
        let mut mode = SslVerifyMode::PEER;
        if acceptor.post_handshake_auth {
            // Not in the handshake: only when asked for after it.
            mode |= SslVerifyMode::from_bits_retain(openssl_sys::SSL_VERIFY_POST_HANDSHAKE);
        }
        if required {
            mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
        }
        let observer = Arc::clone(observer);
        let access = Arc::clone(&acceptor.access);
        ssl.set_verify_callback(mode, move |preverified, ctx| {
            if !preverified {
                observer.record_verify_failure(ctx);
                return false;
            }
            // The allow rules look at the client's own certificate, once its chain verified.
            if ctx.error_depth() != 0 {
                return true;
            }
            let Some(certificate) = ctx.current_cert() else {
                return true;
            };
            match access::check(&access, certificate) {
                Ok(rule) => {
                    if let Some(rule) = rule {
                        observer.record_allowed(rule);
                    }
                    true
                }
                Err(why) => {
                    observer.record_refusal(certificate, why);
                    ctx.set_error(compat::certificate_rejected());
                    false
                }
            }
        });
    }
    Ok(ssl)
}

/// Everything but the protocol settings, for one certificate.
fn configure(
    builder: &mut SslContextBuilder,
    config: &ServerTls,
    identity: &LoadedIdentity,
    ticket_keys: Option<&Arc<TicketKeys>>,
) -> Result<()> {
    builder.set_certificate(&identity.cert)?;
    for intermediate in &identity.chain {
        builder.add_extra_chain_cert(intermediate.clone())?;
    }
    builder.set_private_key(&identity.key)?;
    builder.set_session_id_context(SESSION_ID_CONTEXT)?;

    let sessions = &config.sessions;
    super::compat::set_session_timeout(builder, sessions.timeout.as_secs());
    if !sessions.tickets {
        builder.set_options(SslOptions::NO_TICKET);
    }
    builder.set_num_tickets(sessions.num_tickets)?;
    if config.max_early_data > 0 {
        builder.set_max_early_data(config.max_early_data)?;
    }
    if config.renegotiation {
        compat::allow_renegotiation(builder);
    }
    if let Some(keys) = ticket_keys {
        compat::set_ticket_keys(builder, Arc::clone(keys))?;
    }

    if let Some(auth) = &config.client_auth {
        let cas = cert::load_certificates(&auth.ca_file, "--client-ca")?;
        let mut store = X509StoreBuilder::new()?;
        for ca in &cas {
            store.add_cert(ca.clone())?;
            builder.add_client_ca(ca)?;
        }
        let crl_checks = revocation::add_crls(&mut store, &auth.revocation)?;
        builder.verify_param_mut().set_flags(crl_checks)?;
        builder.set_verify_cert_store(store.build())?;
    }

    let alpn = config.protocol.alpn.clone();
    if !alpn.is_empty() {
        let optional = config.alpn_optional;
        builder.set_alpn_select_callback(move |_, offered| {
            // Our preference order decides (RFC 7301 leaves the choice to the server).
            alpn.iter()
                .find_map(|ours| protocol::alpn_find(offered, ours.as_bytes()))
                .ok_or(if optional {
                    AlpnError::NOACK
                } else {
                    AlpnError::ALERT_FATAL
                })
        });
    }
    Ok(())
}

/// The names a certificate is chosen for: `--sni` names, else its DNS names.
fn sni_names(certificate: &ServerCertificate, identity: &LoadedIdentity) -> Vec<String> {
    if !certificate.names.is_empty() {
        return certificate.names.clone();
    }
    cert::alt_names(&identity.cert)
        .into_iter()
        .filter_map(|name| name.strip_prefix("DNS:").map(str::to_string))
        .collect()
}

/// Case-insensitive match, with `*.example.com` covering exactly one more label.
fn matches_any(names: &[String], requested: &str) -> bool {
    let requested = requested.to_ascii_lowercase();
    names.iter().any(|name| {
        let name = name.to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(suffix) => requested
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => name == requested,
        }
    })
}

fn check_validity(
    identity: &LoadedIdentity,
    certificate: &ServerCertificate,
    allow_expired: bool,
) -> Result<()> {
    let shown = certificate.identity.display_path();
    let leaf = &identity.cert;
    if cert::has_expired(leaf)? {
        if !allow_expired {
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

#[cfg(test)]
mod tests {
    use super::matches_any;

    #[test]
    fn sni_names_match_exactly_or_by_one_wildcard_label() {
        let names = vec!["localhost".to_string(), "*.example.com".to_string()];
        assert!(matches_any(&names, "LOCALHOST"));
        assert!(matches_any(&names, "www.example.com"));
        assert!(!matches_any(&names, "example.com"));
        assert!(!matches_any(&names, "a.b.example.com"));
        assert!(!matches_any(&names, "other.org"));
    }
}
