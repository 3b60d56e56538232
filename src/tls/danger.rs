//! The one place where certificate verification is switched off (`--insecure`).

use openssl::ssl::{ConnectConfiguration, SslVerifyMode};

/// Accepts any server certificate for any name.
///
/// # Warning
///
/// The connection is still encrypted, but anyone on the path can impersonate the server and
/// read or change everything. Only for debugging a server whose certificate is broken; the
/// client prints a warning whenever this is used.
pub fn skip_verification(configuration: &mut ConnectConfiguration) {
    configuration.set_verify_hostname(false);
    configuration.set_verify(SslVerifyMode::NONE);
}
