//! `tlscat server`: listeners, the accept loop, live reloads and graceful shutdown. What
//! happens on each connection is in [`connection`].
//!
//! Each connection runs in its own task, so a slow or hostile client never delays another.
//! The tasks run on one thread per core, each accepting on its own sockets. A permit from
//! a semaphore of `max_conns` is taken once a client waits but *before* `accept()`: beyond
//! the limit, new clients wait in the kernel's backlog instead of costing memory here.

mod connection;
mod exchange;
mod files;
mod forward;
mod shared;
mod watch;

use std::num::NonZeroUsize;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use log::{debug, error, info, warn};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::docroot::Root;
use crate::error::{Error, Result, seconds};
use crate::listen::{self, Handle, Incoming, Listener};
use crate::metrics::{self, Metrics};
use crate::report;
use crate::shutdown::Request;
use crate::systemd;
use crate::tls;
use crate::tls::tickets::TicketKeys;
use shared::Shared;

/// Longest pause after a failing `accept()` (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How often the server looks whether many connections have gone since the last look.
const MEMORY_CHECK: Duration = Duration::from_secs(2);
/// How many connections must have gone (and at least half of the peak) before the
/// memory they held is handed back to the system.
const MEMORY_RETURN_AFTER: i64 = 256;

/// A server whose certificate is loaded and whose sockets are bound, ready to [`run`](Server::run).
pub struct Server {
    listeners: Vec<Listener>,
    metrics_listener: Option<tokio::net::TcpListener>,
    /// With `--reload-interval`: the files as they were when the TLS setup read them.
    files: Option<watch::Files>,
    shared: Arc<Shared>,
}

impl Server {
    /// Loads the certificates and keys, then binds every listen address (or takes the
    /// sockets systemd passed). Nothing is served until [`run`](Server::run); any problem
    /// here is a startup error.
    pub async fn bind(config: ServerConfig) -> Result<Server> {
        // Before reading them: a change made while we read is then seen as a change.
        let files = config
            .reload_interval
            .map(|every| watch::Files::new(watch::watched(&config.tls), every));
        let root = config.root.as_deref().map(Root::open).transpose()?;
        // Tickets under the 2 previous keys still resume: up to 3 rotation periods.
        let ticket_keys = Arc::new(TicketKeys::generated(3)?);
        let acceptor = tls::acceptor(&config.tls, &ticket_keys)?;
        let listeners = match systemd::inherited_listeners()? {
            Some(inherited) => inherited,
            None => {
                listen::bind_all(&config.listen, config.reuse_port, thread_count(&config)).await?
            }
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
                root,
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
        let listeners = self.listeners;
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
        if config.tls.max_early_data > 0 {
            warn!(
                "--max-early-data: 0-RTT early data can be replayed by anyone who recorded it; \
                 act on it only if doing so twice is harmless"
            );
        }
        let stop_background = CancellationToken::new();
        if config.tls.ticket_key_file.is_none() && config.tls.sessions.tickets {
            tokio::spawn(rotate_ticket_keys(
                Arc::clone(&shared),
                stop_background.clone(),
            ));
        }

        tokio::spawn(return_memory(Arc::clone(&shared), stop_background.clone()));

        let gates = Gates {
            permits: Arc::new(Semaphore::new(config.max_conns)),
            stop_accepting: CancellationToken::new(),
            cut_connections: CancellationToken::new(),
            connections: TaskTracker::new(),
            accepting: TaskTracker::new(),
        };
        let threads = spawn_threads(&listeners, &shared, &gates)?;
        // Clients that come before a thread takes them wait in the listen backlog.
        for listener in &listeners {
            if let Err(e) = report::listening(&listener.describe(), config.output.json) {
                warn!("cannot write to stdout: {e}");
            }
        }
        info!(
            "tlscat {} serving {}",
            crate::version_line(),
            shared.acceptor().describe()
        );
        systemd::notify("READY=1");
        let connections = &gates.connections;

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
            "stopping: no new connections; {} may take up to {} to finish (a second Ctrl-C \
             or SIGTERM cuts them at once)",
            in_flight(connections.len()),
            seconds(drain)
        );
        gates.stop_accepting.cancel();
        gates.accepting.close();
        gates.accepting.wait().await;
        // The threads' handles are closed: closing the last one refuses new clients.
        drop(listeners);
        connections.close();
        let deadline = tokio::time::sleep(drain);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = connections.wait() => break,
                () = &mut deadline => {
                    warn!("drain timeout passed: cutting {}", in_flight(connections.len()));
                    break;
                }
                request = requests.recv() => match request {
                    Some(Request::Stop) => {
                        warn!("second stop request: cutting {}", in_flight(connections.len()));
                        break;
                    }
                    Some(Request::Reload) => info!("SIGHUP ignored: draining"),
                    None => std::future::pending().await,
                },
            }
        }
        gates.cut_connections.cancel();
        connections.wait().await;
        // Each thread ends once the last connection is done.
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        stop_metrics.cancel();
        stop_background.cancel();
        info!("stopped");
        Ok(())
    }
}

/// `1 connection in flight`, `2 connections in flight`.
fn in_flight(count: usize) -> String {
    match count {
        1 => "1 connection in flight".to_string(),
        n => format!("{n} connections in flight"),
    }
}

/// Builds the TLS setup again from the files and swaps it in for new connections; on any
/// problem keeps serving the previous one.
async fn reload(shared: &Arc<Shared>, why: &str) {
    systemd::notify(&systemd::reloading());
    let config = shared.config.tls.clone();
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
    let every = shared.config.tls.sessions.ticket_rotation;
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

/// After a wave of connections has gone (thousands of idle clients, say), hands the
/// memory they held back to the system: the C allocator keeps freed memory otherwise,
/// and the server's RSS would stay at its peak.
async fn return_memory(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MEMORY_CHECK) => {}
        }
        let active = shared.metrics.active();
        let peak = shared.metrics.take_peak();
        if peak - active >= MEMORY_RETURN_AFTER && active <= peak / 2 {
            debug!(
                "{} of {peak} connections gone: returning their memory",
                peak - active
            );
            // It walks the whole heap: not on a worker thread.
            let _ = tokio::task::spawn_blocking(trim_heap).await;
        }
    }
}

/// Returns the free memory of every allocator arena to the system (glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only releases free pages; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators give memory back by themselves, or offer no way to ask.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// What the server threads share to take connections in and let them go.
#[derive(Clone)]
struct Gates {
    /// One per connection served at once (`max_conns`), taken before `accept()`.
    permits: Arc<Semaphore>,
    stop_accepting: CancellationToken,
    /// Ends the connections still open when the drain time is up.
    cut_connections: CancellationToken,
    connections: TaskTracker,
    /// The accept loops, to know when every thread has stopped accepting.
    accepting: TaskTracker,
}

/// How many server threads: `--threads`, or one per core.
fn thread_count(config: &ServerConfig) -> usize {
    config
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
}

/// Starts the server threads: one per core (or `threads`), each with a single-threaded
/// runtime and its own socket on every TCP address (see [`Listener::Tcp`]), like nginx's
/// workers. A connection then stays on the thread that accepted it, and no thread wakes
/// another.
fn spawn_threads(
    listeners: &[Listener],
    shared: &Arc<Shared>,
    gates: &Gates,
) -> Result<Vec<std::thread::JoinHandle<()>>> {
    let count = thread_count(&shared.config);
    let mut threads = Vec::with_capacity(count);
    for index in 0..count {
        let handles = listeners
            .iter()
            .map(|listener| listener.share(index))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::Internal(format!("cannot share the listening sockets: {e}")))?;
        let shared = Arc::clone(shared);
        let gates = gates.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tlscat-{index}"))
            .spawn(move || serve_on_this_thread(handles, shared, gates))
            .map_err(|e| Error::Internal(format!("cannot start a server thread: {e}")))?;
        threads.push(thread);
    }
    Ok(threads)
}

/// A server thread: accepts on its handles until told to stop, and serves what it
/// accepted until every connection (on every thread) is done.
fn serve_on_this_thread(handles: Vec<Handle>, shared: Arc<Shared>, gates: Gates) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start a server thread's runtime: {e}");
            return;
        }
    };
    runtime.block_on(async {
        for handle in handles {
            match handle.register() {
                Ok(incoming) => {
                    let accepting = accept_loop(incoming, Arc::clone(&shared), gates.clone());
                    tokio::spawn(gates.accepting.track_future(accepting));
                }
                Err(e) => error!("a server thread cannot accept connections: {e}"),
            }
        }
        gates.connections.wait().await;
    });
}

async fn accept_loop(listener: Incoming, shared: Arc<Shared>, gates: Gates) {
    let Gates {
        permits,
        stop_accepting,
        cut_connections,
        connections,
        ..
    } = gates;
    let mut backoff = Duration::from_millis(10);
    loop {
        // First a client, then a permit for it: a permit is never held by a thread whose
        // socket has nobody waiting (each thread has its own socket in the kernel's
        // SO_REUSEPORT group, and a client waits on one of them).
        let ready = tokio::select! {
            () = stop_accepting.cancelled() => return,
            ready = listener.ready() => ready,
        };
        let accepted = match ready {
            Ok(ready) => {
                let permit = tokio::select! {
                    () = stop_accepting.cancelled() => return,
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return, // the semaphore is never closed
                    },
                };
                ready
                    .accept()
                    .map(|client| client.map(|client| (client, permit)))
            }
            Err(e) => Err(e),
        };
        let ((stream, peer), permit) = match accepted {
            Ok(Some(accepted)) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            // Another thread sharing the socket took the client.
            Ok(None) => continue,
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
        let report = connection::report_for(&peer);
        connections.spawn(connection::handle(
            stream, report, shared, acceptor, cut, permit,
        ));
    }
}
