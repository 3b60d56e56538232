//! `tlscat server`: listeners, the accept loop, live reloads and graceful shutdown. What
//! happens on each connection is in [`connection`].
//!
//! Each connection runs in its own task, so a slow or hostile client never delays another.
//! A permit from a semaphore of `max_conns` is taken *before* `accept()`: beyond the limit,
//! new clients wait in the kernel's backlog instead of costing memory here.

mod connection;
mod watch;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use log::{error, info, warn};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::error::{Result, seconds};
use crate::listen::{self, Listener};
use crate::metrics::{self, Metrics};
use crate::report;
use crate::shutdown::Request;
use crate::systemd;
use crate::tls::tickets::TicketKeys;
use crate::tls::{self, Acceptor};

/// Longest pause after a failing `accept()` (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// A server whose certificate is loaded and whose sockets are bound, ready to [`run`](Server::run).
pub struct Server {
    listeners: Vec<Listener>,
    metrics_listener: Option<tokio::net::TcpListener>,
    /// With `--reload-interval`: the files as they were when the TLS setup read them.
    files: Option<watch::Files>,
    shared: Arc<Shared>,
}

/// What every connection task reads.
struct Shared {
    config: ServerConfig,
    /// The TLS setup new connections get; a reload swaps it, connections in flight keep
    /// the one they started with.
    acceptor: RwLock<Arc<Acceptor>>,
    /// Session ticket keys the server makes and rotates (without `--ticket-key-file`).
    ticket_keys: Arc<TicketKeys>,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn acceptor(&self) -> Arc<Acceptor> {
        Arc::clone(&self.acceptor.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Server {
    /// Loads the certificates and keys, then binds every listen address (or takes the
    /// sockets systemd passed). Nothing is served until [`run`](Server::run); any problem
    /// here is a startup error.
    pub async fn bind(config: ServerConfig) -> Result<Server> {
        // Before reading them: a change made while we read is then seen as a change.
        let files = config
            .reload_interval
            .map(|every| watch::Files::new(watch::watched(&config), every));
        // Tickets under the 2 previous keys still resume: up to 3 rotation periods.
        let ticket_keys = Arc::new(TicketKeys::generated(3)?);
        let acceptor = tls::acceptor(&config, &ticket_keys)?;
        let listeners = match systemd::inherited_listeners()? {
            Some(inherited) => inherited,
            None => listen::bind_all(&config.listen, config.reuse_port).await?,
        };
        let metrics_listener = match &config.metrics {
            Some(addr) => Some(metrics::bind(addr).await?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        metrics.set_certificates(acceptor.expiry());
        Ok(Server {
            listeners,
            metrics_listener,
            files,
            shared: Arc::new(Shared {
                config,
                acceptor: RwLock::new(Arc::new(acceptor)),
                ticket_keys,
                metrics,
            }),
        })
    }

    /// The bound TCP addresses (with the real port when port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.listeners
            .iter()
            .filter_map(Listener::local_addr)
            .collect()
    }

    /// Serves until the first [`Request::Stop`], reloading the certificates on
    /// [`Request::Reload`] (and when their files change, with a reload interval); then
    /// stops accepting, lets connections in flight finish within the drain timeout (or
    /// until a second `Stop`), cuts the rest, and returns.
    pub async fn run(self, mut requests: mpsc::UnboundedReceiver<Request>) -> Result<()> {
        let shared = self.shared;
        let config = &shared.config;
        for listener in &self.listeners {
            if let Err(e) = report::listening(&listener.describe(), config.output.json) {
                warn!("cannot write to stdout: {e}");
            }
        }
        let stop_metrics = CancellationToken::new();
        if let Some(listener) = self.metrics_listener {
            if let Ok(addr) = listener.local_addr() {
                info!("metrics on http://{addr}/metrics");
            }
            tokio::spawn(metrics::serve(
                listener,
                Arc::clone(&shared.metrics),
                stop_metrics.clone(),
            ));
        }
        info!(
            "tlscat {} serving {}",
            crate::version_line(),
            shared.acceptor().describe()
        );
        systemd::notify("READY=1");
        let stop_rotation = CancellationToken::new();
        if config.ticket_key_file.is_none() && config.sessions.tickets {
            tokio::spawn(rotate_ticket_keys(
                Arc::clone(&shared),
                stop_rotation.clone(),
            ));
        }

        let permits = Arc::new(Semaphore::new(config.max_conns));
        let stop_accepting = CancellationToken::new();
        let cut_connections = CancellationToken::new();
        let connections = TaskTracker::new();
        let mut accept_loops = JoinSet::new();
        for listener in self.listeners {
            accept_loops.spawn(accept_loop(
                listener,
                Arc::clone(&shared),
                Arc::clone(&permits),
                connections.clone(),
                stop_accepting.clone(),
                cut_connections.clone(),
            ));
        }

        let mut files = self.files;
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(Request::Reload) => reload(&shared, "SIGHUP").await,
                    Some(Request::Stop) => break,
                    // Nobody can ask us to stop: serve forever.
                    None => std::future::pending().await,
                },
                () = watch::changed(&mut files) => reload(&shared, "changed files").await,
            }
        }

        systemd::notify("STOPPING=1");
        let drain = config.drain_timeout;
        info!(
            "stopping: no new connections; {} in flight get up to {}",
            connections.len(),
            seconds(drain)
        );
        stop_accepting.cancel();
        while accept_loops.join_next().await.is_some() {}
        connections.close();
        let deadline = tokio::time::sleep(drain);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = connections.wait() => break,
                () = &mut deadline => {
                    warn!("drain timeout passed: cutting {} connections", connections.len());
                    break;
                }
                request = requests.recv() => match request {
                    Some(Request::Stop) => {
                        warn!("second stop request: cutting {} connections", connections.len());
                        break;
                    }
                    Some(Request::Reload) => info!("SIGHUP ignored: draining"),
                    None => std::future::pending().await,
                },
            }
        }
        cut_connections.cancel();
        connections.wait().await;
        stop_metrics.cancel();
        stop_rotation.cancel();
        info!("stopped");
        Ok(())
    }
}

/// Builds the TLS setup again from the files and swaps it in for new connections; on any
/// problem keeps serving the previous one.
async fn reload(shared: &Arc<Shared>, why: &str) {
    systemd::notify(&systemd::reloading());
    let config = shared.config.clone();
    let keys = Arc::clone(&shared.ticket_keys);
    let built = tokio::task::spawn_blocking(move || tls::acceptor(&config, &keys)).await;
    match built {
        Ok(Ok(acceptor)) => {
            info!("reloaded ({why}): now serving {}", acceptor.describe());
            shared.metrics.set_certificates(acceptor.expiry());
            shared.metrics.reloaded(true);
            *shared
                .acceptor
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Arc::new(acceptor);
        }
        Ok(Err(e)) => {
            error!("reload ({why}) failed, still serving the previous certificate: {e}");
            shared.metrics.reloaded(false);
        }
        Err(e) => {
            error!("reload ({why}) failed, still serving the previous certificate: {e}");
            shared.metrics.reloaded(false);
        }
    }
    systemd::notify("READY=1");
}

/// Replaces the generated ticket key every `ticket_rotation`, so that a key taken from
/// memory decrypts only recent tickets.
async fn rotate_ticket_keys(shared: Arc<Shared>, stop: CancellationToken) {
    let every = shared.config.sessions.ticket_rotation;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        match shared.ticket_keys.rotate() {
            Ok(()) => shared.metrics.ticket_keys_rotated(),
            Err(e) => error!("cannot rotate the session ticket key: {e}"),
        }
    }
}

async fn accept_loop(
    listener: Listener,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    connections: TaskTracker,
    stop_accepting: CancellationToken,
    cut_connections: CancellationToken,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            () = stop_accepting.cancelled() => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return, // the semaphore is never closed
            },
        };
        let accepted = tokio::select! {
            () = stop_accepting.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(e) => {
                warn!("accept failed: {e}; retrying in {}", seconds(backoff));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let acceptor = shared.acceptor();
        let cut = cut_connections.clone();
        connections.spawn(async move {
            let _permit = permit;
            connection::handle(stream, peer, &shared, &acceptor, cut).await;
        });
    }
}
