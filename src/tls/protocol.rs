//! Protocol settings both sides share: the profile's preset, versions, cipher suites,
//! groups, signature algorithms, ALPN and the key log.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use log::warn;
use openssl::ssl::{
    SslAcceptor, SslConnector, SslConnectorBuilder, SslContext, SslContextBuilder, SslMethod,
    SslOptions, SslVersion,
};

use super::{compat, observe, probe};
use crate::config::{Profile, TlsSettings, TlsVersion};
use crate::error::{Error, Result};

/// Mozilla's groups, for intermediate and modern (OpenSSL's default list adds X448 and
/// P-521).
const MOZILLA_GROUPS: &str = "X25519:P-256:P-384";

/// Mozilla's intermediate TLS 1.2 suites (as in `SslAcceptor::mozilla_intermediate_v5`).
const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
     ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:\
     ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

/// What TLS 1.0 and 1.1 need on top: CBC suites (they have no AEAD) and security level 0
/// (their handshake signatures use SHA-1).
const OLD_CIPHERS: &str = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:\
     ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA";

/// What tlscat's servers add to the presets: the server's cipher order decides (its
/// list is ordered strongest first), and clients may not renegotiate (a CPU-exhaustion
/// lever with no use left since TLS 1.3).
const SERVER_OPTIONS: SslOptions =
    SslOptions::CIPHER_SERVER_PREFERENCE.union(SslOptions::NO_RENEGOTIATION);

/// Validated protocol settings, ready to apply to any number of contexts.
pub(super) struct Protocol {
    settings: TlsSettings,
    /// The oldest version asked for is below 1.2: CBC suites and security level 0.
    legacy: bool,
    keylog: Option<Arc<Mutex<File>>>,
}

impl Protocol {
    /// Checks the settings against each other and against the linked OpenSSL, and opens
    /// the key log. Every mistake is an [`Error::Config`] that lists what is accepted.
    pub(super) fn new(settings: &TlsSettings) -> Result<Protocol> {
        let (min, max) = (settings.min_version, settings.max_version);
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                return Err(Error::Config(format!(
                    "--min-tls {} is newer than --max-tls {}",
                    min.number(),
                    max.number()
                )));
            }
        }
        if settings.profile == Profile::Modern
            && (min.is_some_and(|v| v < TlsVersion::Tls1_3)
                || max.is_some_and(|v| v < TlsVersion::Tls1_3))
        {
            return Err(Error::Config(
                "--profile modern is TLS 1.3 only: drop --min-tls/--max-tls, \
                 or use --profile intermediate"
                    .into(),
            ));
        }
        let legacy = min.is_some_and(|v| v < TlsVersion::Tls1_2)
            || max.is_some_and(|v| v < TlsVersion::Tls1_2);
        if legacy {
            let asked: Vec<TlsVersion> = TlsVersion::ALL
                .into_iter()
                .filter(|v| *v < TlsVersion::Tls1_2)
                .filter(|v| min.is_none_or(|min| *v >= min) && max.is_none_or(|max| *v <= max))
                .collect();
            for version in &asked {
                if !probe::can_negotiate(*version) {
                    return Err(Error::Config(format!(
                        "TLS {} is not available in {}: it was built without it, or its \
                         configuration forbids it; use TLS 1.2 or newer",
                        version.number(),
                        openssl::version::version()
                    )));
                }
            }
            warn!(
                "TLS 1.0 and 1.1 are obsolete (RFC 8996): allowing them uses CBC suites and \
                 OpenSSL security level 0, which also admits weak keys"
            );
        }
        if let Some(list) = &settings.ciphersuites {
            check_each(list, "--ciphersuites", &probe::tls13_suites(), |b, s| {
                b.set_ciphersuites(s)
            })?;
        }
        if let Some(list) = &settings.groups {
            check_each(list, "--groups", &probe::groups(), |b, s| {
                b.set_groups_list(s)
            })?;
        }
        if let Some(list) = &settings.sigalgs {
            check_each(list, "--sigalgs", &probe::sigalgs(), |b, s| {
                b.set_sigalgs_list(s)
            })?;
        }
        if let Some(list) = &settings.ciphers {
            let mut scratch = SslContextBuilder::new(SslMethod::tls())?;
            if scratch.set_cipher_list(list).is_err() {
                return Err(Error::Config(format!(
                    "--ciphers {list:?} selects no cipher suite: use OpenSSL cipher names or \
                     keywords (e.g. ECDHE+AESGCM); this OpenSSL has: {}",
                    probe::tls12_ciphers().join(", ")
                )));
            }
        }
        for protocol in &settings.alpn {
            if protocol.is_empty() || protocol.len() > 255 {
                return Err(Error::Config(format!(
                    "--alpn {protocol:?}: each protocol name must be 1 to 255 bytes \
                     (e.g. h2,http/1.1)"
                )));
            }
        }
        let keylog = settings.keylog.as_deref().map(open_keylog).transpose()?;
        Ok(Protocol {
            settings: settings.clone(),
            legacy,
            keylog,
        })
    }

    /// A server context builder from the profile's preset.
    pub(super) fn server_context(
        &self,
        configure: impl FnOnce(&mut SslContextBuilder) -> Result<()>,
    ) -> Result<SslContext> {
        let method = SslMethod::tls_server();
        match self.settings.profile {
            Profile::Intermediate => {
                let mut builder = SslAcceptor::mozilla_intermediate_v5(method)?;
                builder.set_groups_list(MOZILLA_GROUPS)?;
                builder.set_options(SERVER_OPTIONS);
                self.apply(&mut builder)?;
                configure(&mut builder)?;
                Ok(builder.build().into_context())
            }
            Profile::Modern => {
                let mut builder = SslAcceptor::mozilla_modern_v5(method)?;
                builder.set_groups_list(MOZILLA_GROUPS)?;
                builder.set_options(SERVER_OPTIONS);
                self.apply(&mut builder)?;
                configure(&mut builder)?;
                Ok(builder.build().into_context())
            }
            Profile::System => {
                let mut builder = SslContextBuilder::new(method)?;
                self.apply(&mut builder)?;
                configure(&mut builder)?;
                Ok(builder.build())
            }
        }
    }

    /// A client connector builder from the profile's preset (verification on).
    pub(super) fn connector_builder(&self) -> Result<SslConnectorBuilder> {
        let mut builder = SslConnector::builder(SslMethod::tls_client())?;
        match self.settings.profile {
            Profile::Intermediate => {
                builder.set_min_proto_version(Some(SslVersion::TLS1_2))?;
                builder.set_cipher_list(INTERMEDIATE_CIPHERS)?;
                builder.set_groups_list(MOZILLA_GROUPS)?;
            }
            Profile::Modern => {
                builder.set_min_proto_version(Some(SslVersion::TLS1_3))?;
                builder.set_groups_list(MOZILLA_GROUPS)?;
            }
            Profile::System => {
                // The connector preset replaced the system's cipher list: put it back.
                let system = SslContextBuilder::new(SslMethod::tls_client())?.build();
                let tls12: Vec<&str> = compat::context_ciphers(&system)
                    .into_iter()
                    .map(|cipher| cipher.name)
                    .filter(|name| !name.starts_with("TLS_"))
                    .collect();
                if !tls12.is_empty() {
                    builder.set_cipher_list(&tls12.join(":"))?;
                }
            }
        }
        self.apply(&mut builder)?;
        Ok(builder)
    }

    /// Versions, suites, groups, signature algorithms, key log and the message observer.
    fn apply(&self, builder: &mut SslContextBuilder) -> Result<()> {
        let settings = &self.settings;
        if settings.min_version.is_some() || settings.max_version.is_some() {
            // The presets also disable old versions with options: lift those, so the range
            // decides, but keep what the system configuration disabled (`Protocol = -TLSv1`).
            let version_options = SslOptions::NO_TLSV1
                | SslOptions::NO_TLSV1_1
                | SslOptions::NO_TLSV1_2
                | SslOptions::NO_TLSV1_3;
            let system = SslContextBuilder::new(SslMethod::tls())?.options();
            builder.clear_options(version_options - system);
            builder.set_min_proto_version(settings.min_version.map(probe::ssl_version))?;
            builder.set_max_proto_version(settings.max_version.map(probe::ssl_version))?;
        }
        match (&settings.ciphers, self.legacy) {
            (Some(list), true) => builder.set_cipher_list(&format!("{list}:@SECLEVEL=0"))?,
            (Some(list), false) => builder.set_cipher_list(list)?,
            (None, true) => builder
                .set_cipher_list(&format!("{INTERMEDIATE_CIPHERS}:{OLD_CIPHERS}:@SECLEVEL=0"))?,
            (None, false) => {}
        }
        if let Some(list) = &settings.ciphersuites {
            builder.set_ciphersuites(list)?;
        }
        if let Some(list) = &settings.groups {
            builder.set_groups_list(list)?;
        }
        if let Some(list) = &settings.sigalgs {
            builder.set_sigalgs_list(list)?;
        }
        if let Some(file) = &self.keylog {
            let file = Arc::clone(file);
            builder.set_keylog_callback(move |_, line| {
                let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = writeln!(file, "{line}");
            });
        }
        // Take whole records (and whatever follows) in one read from the socket, as
        // nginx does: a handshake then costs a few system calls instead of two a record.
        // What OpenSSL holds this way is checked (`SSL_has_pending`) before waiting on
        // the socket.
        builder.set_read_ahead(true);
        observe::install(builder);
        Ok(())
    }
}

/// The ALPN list in wire format: each name prefixed by its length.
pub(super) fn alpn_wire(protocols: &[String]) -> Vec<u8> {
    let mut wire = Vec::new();
    for protocol in protocols {
        wire.push(protocol.len() as u8);
        wire.extend_from_slice(protocol.as_bytes());
    }
    wire
}

/// Finds `wanted` in a wire-format list and returns the peer's copy of it.
pub(super) fn alpn_find<'a>(offered: &'a [u8], wanted: &[u8]) -> Option<&'a [u8]> {
    let mut rest = offered;
    while let Some((&len, tail)) = rest.split_first() {
        let (name, next) = tail.split_at_checked(usize::from(len))?;
        if name == wanted {
            return Some(name);
        }
        rest = next;
    }
    None
}

/// Checks every entry of a colon-separated list on its own, so that a misspelled name is
/// reported instead of silently dropped.
fn check_each(
    list: &str,
    flag: &str,
    accepted: &[String],
    set: impl Fn(&mut SslContextBuilder, &str) -> Result<(), openssl::error::ErrorStack>,
) -> Result<()> {
    for entry in list.split(':') {
        let mut scratch = SslContextBuilder::new(SslMethod::tls())?;
        if entry.is_empty() || set(&mut scratch, entry).is_err() {
            return Err(Error::Config(format!(
                "{flag}: {entry:?} is not available here; this OpenSSL accepts: {}",
                accepted.join(", ")
            )));
        }
    }
    Ok(())
}

/// Opens the key log for appending, private to the user, and says so loudly.
fn open_keylog(path: &Path) -> Result<Arc<Mutex<File>>> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            Error::Config(format!(
                "cannot open key log {}: {e}: choose a writable path for --keylog / SSLKEYLOGFILE",
                path.display()
            ))
        })?;
    warn!(
        "writing TLS secrets to {}: anyone who can read it can decrypt these connections",
        path.display()
    );
    Ok(Arc::new(Mutex::new(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_lists_round_trip_through_the_wire_format() {
        let wire = alpn_wire(&["h2".into(), "http/1.1".into()]);
        assert_eq!(wire, b"\x02h2\x08http/1.1");
        assert_eq!(alpn_find(&wire, b"http/1.1"), Some(&b"http/1.1"[..]));
        assert_eq!(alpn_find(&wire, b"h3"), None);
        assert_eq!(alpn_find(b"\x09short", b"short"), None, "truncated list");
    }
}
