//! The client's TLS context and per-connection `Ssl`.

use openssl::ssl::{Ssl, SslConnector, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::store::X509StoreBuilder;

use super::verify::VerifyLog;
use super::{cert, danger};
use crate::config::{ClientConfig, Trust};
use crate::error::Result;

/// Builds the client context: TLS 1.2 or newer, the crate's safe cipher defaults, peer
/// verification on, trusting either one CA file or the system store.
pub fn connector(config: &ClientConfig) -> Result<SslConnector> {
    let mut builder = SslConnector::builder(SslMethod::tls_client())?;
    builder.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    if let Trust::CaFile(path) = &config.trust {
        // Only this file: a private CA must not be mixed up with the public web PKI.
        let mut store = X509StoreBuilder::new()?;
        for ca in cert::load_certificates(path, "--cacert")? {
            store.add_cert(ca)?;
        }
        builder.set_cert_store(store.build());
    }
    Ok(builder.build())
}

/// A client `Ssl` ready to connect, and where its verification failure will be recorded.
pub struct ClientSsl {
    pub ssl: Ssl,
    pub verify_log: VerifyLog,
}

/// Prepares one connection: SNI and hostname (or IP address) verification for the
/// configured server name, through `configure().into_ssl()` so neither can be forgotten.
pub fn client_ssl(connector: &SslConnector, config: &ClientConfig) -> Result<ClientSsl> {
    let mut configuration = connector.configure()?;
    let verify_log = VerifyLog::default();
    if config.insecure {
        danger::skip_verification(&mut configuration);
    } else {
        let log = verify_log.clone();
        configuration.set_verify_callback(SslVerifyMode::PEER, move |preverified, ctx| {
            if !preverified {
                log.record(ctx);
            }
            preverified
        });
    }
    let ssl = configuration.into_ssl(config.server_name())?;
    Ok(ClientSsl { ssl, verify_log })
}
