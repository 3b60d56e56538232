//! Everything that touches OpenSSL contexts: the server's acceptor, the client's connector,
//! certificate loading, verification diagnostics, and the version-gated FFI shims.

mod acceptor;
pub mod cert;
mod compat;
mod connector;
pub mod danger;
mod failure;
pub mod verify;

use openssl::ssl::SslRef;

pub use acceptor::acceptor;
pub use compat::received_close_notify;
pub use connector::{ClientSsl, client_ssl, connector};
pub use failure::{Side, handshake_failure, io_failure, is_unexpected_eof};

/// Protocol version and cipher suite of an established connection, e.g.
/// `TLSv1.3 TLS_AES_256_GCM_SHA384`.
pub fn negotiated(ssl: &SslRef) -> String {
    let cipher = ssl.current_cipher().map_or("(no cipher)", |c| c.name());
    format!("{} {}", ssl.version_str(), cipher)
}
