//! Calls the safe `openssl` crate cannot make for us, wrapped once. Any use of the
//! `ossl*` cfgs from build.rs belongs here.

use foreign_types::ForeignTypeRef;
use openssl::ssl::SslRef;

/// Whether the peer's close_notify has arrived (`SSL_get_shutdown`). The safe
/// `SslRef::get_shutdown` needs `&mut`, which `tokio_openssl::SslStream` does not hand out.
pub fn received_close_notify(ssl: &SslRef) -> bool {
    // SAFETY: `ssl` is a valid SSL for the lifetime of the reference; SSL_get_shutdown only
    // reads a flag word.
    let flags = unsafe { openssl_sys::SSL_get_shutdown(ssl.as_ptr()) };
    flags & openssl_sys::SSL_RECEIVED_SHUTDOWN != 0
}
