//! Everything that touches OpenSSL: the server's acceptor and per-connection `Ssl`, the
//! client's connector and per-connection `Ssl`, protocol settings, certificates, what a
//! handshake negotiated, verification diagnostics, per-connection observation (trace events
//! go to a sink the caller provides), the ClientHello parser, capability probes and the
//! version-gated FFI shims. Nothing here prints or knows how things are reported.

mod acceptor;
pub mod access;
pub mod cert;
mod compat;
mod connector;
pub mod danger;
pub mod events;
mod failure;
pub mod hello;
mod negotiated;
pub mod observe;
mod offer;
pub mod probe;
mod protocol;
pub mod revocation;
pub mod session;
pub mod summary;
pub mod tickets;
pub mod trace;
pub mod verify;

pub use acceptor::{Acceptor, acceptor, server_ssl};
pub use compat::{has_pending, is_resumable, received_close_notify};
pub use connector::{client_ssl, connector, lean_client_ssl};
pub use failure::{Clues, Side, handshake_failure, io_failure, is_plain_http, is_unexpected_eof};
pub use negotiated::{
    NOT_REQUESTED, Negotiated, chain_problem, describe, display_group, negotiated, peer_chain,
    verification, verified_chain,
};
pub use offer::Offer;
