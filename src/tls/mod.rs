//! Everything that touches OpenSSL contexts: the server's acceptor, the client's connector,
//! protocol settings, certificates, verification diagnostics, per-connection observation,
//! capability probes and the version-gated FFI shims.

mod acceptor;
pub mod cert;
mod compat;
mod connector;
pub mod danger;
mod failure;
pub mod observe;
pub mod probe;
mod protocol;
pub mod session;
pub mod tickets;
pub mod trace;
pub mod verify;

pub use acceptor::{Acceptor, acceptor};
pub use compat::{
    Cipher, has_pending, is_resumable, negotiated_group, own_signature, peer_signature,
    received_close_notify,
};
pub use connector::{client_ssl, connector, lean_client_ssl};
pub use failure::{Clues, Side, handshake_failure, io_failure, is_unexpected_eof};
