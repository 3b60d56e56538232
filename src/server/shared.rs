//! What every connection task of a server reads: the configuration, the TLS setup of the
//! moment (a reload swaps it), the generated ticket keys, the files mode's folder, metrics.

use std::sync::{Arc, PoisonError, RwLock};

use crate::config::ServerConfig;
use crate::docroot::Root;
use crate::metrics::Metrics;
use crate::tls::Acceptor;
use crate::tls::tickets::TicketKeys;

pub(super) struct Shared {
    pub(super) config: ServerConfig,
    /// The TLS setup new connections get; a reload swaps it, connections in flight keep
    /// the one they started with.
    pub(super) acceptor: RwLock<Arc<Acceptor>>,
    /// Session ticket keys the server makes and rotates (without `--ticket-key-file`).
    pub(super) ticket_keys: Arc<TicketKeys>,
    /// The folder served in files mode.
    pub(super) root: Option<Root>,
    pub(super) metrics: Arc<Metrics>,
}

impl Shared {
    /// The TLS setup for a new connection.
    pub(super) fn acceptor(&self) -> Arc<Acceptor> {
        Arc::clone(&self.acceptor.read().unwrap_or_else(PoisonError::into_inner))
    }
}
