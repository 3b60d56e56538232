//! Listening sockets: TCP (IPv4, IPv6, SO_REUSEPORT), Unix domain sockets, and sockets
//! handed over by systemd; and the accepted stream, whichever kind it is.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use log::warn;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::config::Address;
use crate::error::{Error, Result};

/// Pending connections the kernel queues per listener while all permits are taken.
const LISTEN_BACKLOG: i32 = 1024;

/// A bound listening address. Its sockets are held as plain (std) sockets: each server
/// thread registers its own [`Handle`] with its own runtime.
pub(crate) enum Listener {
    /// One socket per server thread, in a SO_REUSEPORT group: the kernel hands each new
    /// connection to one thread's socket, instead of waking every thread to race for it.
    /// (A single socket, shared by all threads, when there is one thread or systemd passed
    /// it.)
    Tcp(Vec<std::net::TcpListener>),
    Unix {
        listener: std::os::unix::net::UnixListener,
        /// The socket file we created (removed when the listener goes), or `None` for one
        /// systemd owns.
        owned: Option<PathBuf>,
    },
}

/// One thread's handle on a listening socket, registered with that thread's runtime.
pub(crate) enum Incoming {
    Tcp(AsyncFd<std::net::TcpListener>),
    Unix {
        listener: AsyncFd<std::os::unix::net::UnixListener>,
        path: String,
    },
}

/// A client waits on an [`Incoming`] socket: [`accept`](Ready::accept) it.
pub(crate) enum Ready<'a> {
    Tcp(AsyncFdReadyGuard<'a, std::net::TcpListener>),
    Unix {
        guard: AsyncFdReadyGuard<'a, std::os::unix::net::UnixListener>,
        path: &'a str,
    },
}

/// Who is on the other end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerAddr {
    Tcp(SocketAddr),
    /// A Unix socket client, named by the socket it came in on.
    Unix(String),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(addr) => write!(f, "{addr}"),
            PeerAddr::Unix(path) => write!(f, "unix:{path}"),
        }
    }
}

impl Listener {
    /// Where it listens, as printed in `Server is listening on …`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Listener::Tcp(group) => group[0]
                .local_addr()
                .map_or_else(|e| format!("(unknown: {e})"), |a| a.to_string()),
            Listener::Unix { listener, .. } => format!("unix:{}", unix_path(listener)),
        }
    }

    /// The TCP address, if it is a TCP listener.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(group) => group[0].local_addr().ok(),
            Listener::Unix { .. } => None,
        }
    }

    /// A handle for server thread number `thread`: its own socket of the group, or a
    /// new handle on the shared one.
    pub(crate) fn share(&self, thread: usize) -> io::Result<Handle> {
        Ok(match self {
            Listener::Tcp(group) => Handle::Tcp(group[thread % group.len()].try_clone()?),
            Listener::Unix { listener, .. } => Handle::Unix(listener.try_clone()?),
        })
    }
}

/// A handle on a listening socket, on its way to a server thread.
pub(crate) enum Handle {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Handle {
    /// Registers the handle with the current thread's runtime.
    pub(crate) fn register(self) -> io::Result<Incoming> {
        match self {
            Handle::Tcp(listener) => {
                // SAFETY: a std listener owns its file descriptor and always returns that
                // one from as_raw_fd; the AsyncFd owns the listener.
                let listener =
                    unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE)? };
                Ok(Incoming::Tcp(listener))
            }
            Handle::Unix(listener) => {
                let path = unix_path(&listener);
                // SAFETY: as for TCP: the listener owns its descriptor, the AsyncFd owns it.
                let listener =
                    unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE)? };
                Ok(Incoming::Unix { listener, path })
            }
        }
    }
}

impl Incoming {
    /// Waits until a client is waiting to be accepted, without accepting it: the caller
    /// may first wait for room (a `--max-conns` permit) while the client stays in the
    /// kernel's backlog.
    pub(crate) async fn ready(&self) -> io::Result<Ready<'_>> {
        Ok(match self {
            Incoming::Tcp(listener) => Ready::Tcp(listener.readable().await?),
            Incoming::Unix { listener, path } => Ready::Unix {
                guard: listener.readable().await?,
                path,
            },
        })
    }
}

impl Ready<'_> {
    /// Accepts the waiting client; `None` when there was none after all (another thread
    /// sharing the socket took it).
    pub(crate) fn accept(self) -> io::Result<Option<(Stream, PeerAddr)>> {
        match self {
            Ready::Tcp(mut guard) => {
                let Some((socket, peer)) = accept_on(&mut guard)? else {
                    return Ok(None);
                };
                let peer = peer.as_socket().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "not an IP peer address")
                })?;
                // Replies go out in small writes: do not let Nagle hold them back.
                socket.set_tcp_nodelay(true)?;
                let stream = TcpStream::from_std(socket.into())?;
                Ok(Some((
                    Stream::new(PlainStream::Tcp(stream)),
                    PeerAddr::Tcp(peer),
                )))
            }
            Ready::Unix { mut guard, path } => {
                let Some((socket, _)) = accept_on(&mut guard)? else {
                    return Ok(None);
                };
                let stream = Stream::new(PlainStream::Unix(UnixStream::from_std(socket.into())?));
                Ok(Some((stream, PeerAddr::Unix(path.to_string()))))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix {
            owned: Some(path), ..
        } = self
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Accepts a client as a non-blocking, close-on-exec socket in one system call; `None`
/// (and the readiness cleared) when nobody was waiting after all.
fn accept_on<T: AsFd + std::os::fd::AsRawFd>(
    guard: &mut AsyncFdReadyGuard<'_, T>,
) -> io::Result<Option<(Socket, socket2::SockAddr)>> {
    let listener = socket2::SockRef::from(guard.get_ref().get_ref());
    match listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            guard.clear_ready();
            Ok(None)
        }
        accepted => accepted.map(Some),
    }
}

fn unix_path(listener: &std::os::unix::net::UnixListener) -> String {
    listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "(unnamed)".to_string())
}

/// Binds every address: all the addresses each host resolves to, and Unix sockets; one
/// socket per server thread (`threads`) for each TCP address.
pub(crate) async fn bind_all(
    addrs: &[Address],
    reuse_port: bool,
    threads: usize,
) -> Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    let mut bound = BTreeSet::new();
    for spec in addrs {
        match spec {
            Address::Unix(path) => listeners.push(bind_unix(path)?),
            Address::Tcp(host_port) => {
                let resolved: Vec<SocketAddr> =
                    tokio::net::lookup_host((host_port.host.as_str(), host_port.port))
                        .await
                        .map_err(|e| {
                            Error::Config(format!(
                                "cannot resolve --listen {host_port}: {e}: use HOST:PORT with \
                                 a known host or an IP address"
                            ))
                        })?
                        .collect();
                let several = resolved.len() > 1;
                for addr in resolved {
                    if !bound.insert(addr) {
                        continue;
                    }
                    match bind_tcp_group(addr, reuse_port, threads) {
                        Ok(group) => listeners.push(Listener::Tcp(group)),
                        // e.g. "localhost" also resolves to ::1 on a host without IPv6.
                        Err(e) if several && e.kind() == io::ErrorKind::AddrNotAvailable => {
                            warn!("skipping {addr} (from {host_port}): {e}");
                        }
                        Err(e) => return Err(Error::bind(addr, e)),
                    }
                }
            }
        }
    }
    if listeners.is_empty() {
        let all: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        return Err(Error::Config(format!(
            "--listen {} bound no address: check the host names",
            all.join(", ")
        )));
    }
    Ok(listeners)
}

/// `count` sockets on `addr` in a SO_REUSEPORT group (one if `count` is 1).
fn bind_tcp_group(
    addr: SocketAddr,
    reuse_port: bool,
    count: usize,
) -> io::Result<Vec<std::net::TcpListener>> {
    if count <= 1 {
        return Ok(vec![bind_tcp(addr, reuse_port)?]);
    }
    let mut addr = addr;
    if !reuse_port {
        // The group is our own business: first make sure nobody has the port, else a
        // second server would silently join the group instead of failing.
        // The probe closes at once; `addr` gets the real port when 0 was asked for.
        addr = bind_tcp(addr, false)?.local_addr()?;
    }
    let first = bind_tcp(addr, true)?;
    let addr = first.local_addr()?;
    let mut group = vec![first];
    for _ in 1..count {
        group.push(bind_tcp(addr, true)?);
    }
    Ok(group)
}

fn bind_tcp(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // [::]:PORT then means IPv6 only, so it can sit next to 0.0.0.0:PORT.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Binds a Unix socket, replacing a stale socket file left by a process that died, but
/// never one in use or a file that is not a socket.
fn bind_unix(path: &Path) -> Result<Listener> {
    use std::os::unix::fs::FileTypeExt;
    let shown = format!("unix:{}", path.display());
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::Config(format!(
                "cannot listen on {shown}: the file exists and is not a socket: remove it or \
                 choose another path"
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::bind(
                &shown,
                io::Error::new(io::ErrorKind::AddrInUse, "a server answers on it"),
            ));
        }
        std::fs::remove_file(path).map_err(|e| Error::bind(&shown, e))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|e| Error::bind(&shown, e))?;
    Ok(Listener::Unix {
        listener,
        owned: Some(path.to_path_buf()),
    })
}

/// Turns a socket inherited from systemd into a listener.
pub(crate) fn from_inherited(socket: Socket) -> io::Result<Listener> {
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    if local.as_socket().is_some() {
        Ok(Listener::Tcp(vec![socket.into()]))
    } else {
        Ok(Listener::Unix {
            listener: socket.into(),
            owned: None,
        })
    }
}

/// An accepted connection.
///
/// In bulk mode ([`set_bulk`](Stream::set_bulk)) whole TLS records are held back and go
/// out together on the next flush: one system call for a 64 KiB chunk of a file instead
/// of one per 16 KiB record. Anything smaller than a record (handshake messages, alerts,
/// a last short record) first sends what is held, then goes out at once, so OpenSSL's own
/// flushes never find anything held.
pub(crate) struct Stream {
    socket: PlainStream,
    /// Only in bulk mode: its memory is needed while a large response goes out.
    held: Option<Box<Held>>,
    /// Whether a shutdown also closes the sending half of the connection (see
    /// [`close_on_drop_only`](Stream::close_on_drop_only)).
    half_close: bool,
}

/// A TCP or Unix-socket connection: from a client (inside [`Stream`]), or to a server or a
/// tunnel's plain service (see `dial`).
pub(crate) enum PlainStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl PlainStream {
    /// Ready once the socket has something to read (data, end of file or a reset) as far
    /// as the runtime knows, which may be stale: the read that follows tells.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            PlainStream::Tcp(s) => s.poll_read_ready(cx),
            PlainStream::Unix(s) => s.poll_read_ready(cx),
        }
    }

    /// Whether closing it sends a TCP reset (an abort) or, again, a FIN. A Unix socket
    /// has no reset: its peer sees the close.
    pub(crate) fn reset_on_close(&self, on: bool) {
        if let PlainStream::Tcp(s) = self {
            reset_on_close(s, on);
        }
    }
}

impl AsyncRead for PlainStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PlainStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PlainStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            PlainStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            PlainStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            PlainStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Makes closing `socket` send a TCP reset (`SO_LINGER` 0), or a FIN again.
pub(crate) fn reset_on_close(socket: &TcpStream, on: bool) {
    let linger = on.then_some(std::time::Duration::ZERO);
    let _ = socket2::SockRef::from(socket).set_linger(linger);
}

/// Records held back in bulk mode, and how much of them already went out.
#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    sent: usize,
}

/// A write of at least this size is a whole TLS record (16 KiB of plaintext and more).
const WHOLE_RECORD: usize = 16 * 1024;
/// Bulk mode sends what it holds before holding more than this.
const HOLD_LIMIT: usize = 64 * 1024;

impl Stream {
    fn new(socket: PlainStream) -> Stream {
        Stream {
            socket,
            held: None,
            half_close: true,
        }
    }

    /// Makes a shutdown flush only, leaving the end of the connection to the drop: for a
    /// peer that already closed its side, to which a half-close says nothing new (one
    /// system call less per connection).
    pub(crate) fn close_on_drop_only(&mut self) {
        self.half_close = false;
    }

    /// Makes the coming close an abort (a TCP reset), so that the peer cannot take a
    /// cut connection for a complete one.
    pub(crate) fn abort(&mut self) {
        self.reset_on_close(true);
    }

    /// Whether closing it sends a TCP reset (an abort) or, again, a FIN.
    pub(crate) fn reset_on_close(&mut self, on: bool) {
        self.socket.reset_on_close(on);
    }

    /// The address the client connected to (TCP).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        match &self.socket {
            PlainStream::Tcp(s) => s.local_addr().ok(),
            PlainStream::Unix(_) => None,
        }
    }

    /// Turns bulk mode on or off. Flush before turning it off: what is still held is lost.
    pub(crate) fn set_bulk(&mut self, on: bool) {
        self.held = on.then(Box::default);
    }

    /// Ready once the socket has something to read (see [`PlainStream::poll_read_ready`]).
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket.poll_read_ready(cx)
    }

    /// The first byte waiting to be read, left in place (`None`: the peer closed).
    pub(crate) async fn peek_byte(&self) -> io::Result<Option<u8>> {
        let mut byte = [std::mem::MaybeUninit::uninit()];
        let peek = |fd: std::os::fd::BorrowedFd<'_>, byte: &mut [std::mem::MaybeUninit<u8>]| {
            socket2::SockRef::from(&fd).peek(byte)
        };
        let read = loop {
            let result = match &self.socket {
                PlainStream::Tcp(s) => {
                    s.readable().await?;
                    s.try_io(Interest::READABLE, || peek(s.as_fd(), &mut byte))
                }
                PlainStream::Unix(s) => {
                    s.readable().await?;
                    s.try_io(Interest::READABLE, || peek(s.as_fd(), &mut byte))
                }
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => break other?,
            }
        };
        // SAFETY: `peek` initialised the `read` bytes it reports.
        Ok((read == 1).then(|| unsafe { byte[0].assume_init() }))
    }

    /// Sends everything held back; `Pending` until the socket took it all.
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(held) = self.held.as_deref_mut() else {
            return Poll::Ready(Ok(()));
        };
        while held.sent < held.bytes.len() {
            let socket = Pin::new(&mut self.socket);
            match std::task::ready!(socket.poll_write(cx, &held.bytes[held.sent..]))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => held.sent += n,
            }
        }
        held.bytes.clear();
        held.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.len() >= WHOLE_RECORD {
            if let Some(held) = this.held.as_deref() {
                if held.bytes.len() >= HOLD_LIMIT {
                    // `Pending` leaves `buf` untaken: OpenSSL offers it again.
                    std::task::ready!(this.poll_send_held(cx))?;
                }
            }
            if let Some(held) = this.held.as_deref_mut() {
                held.bytes.extend_from_slice(buf);
                return Poll::Ready(Ok(buf.len()));
            }
        }
        // Anything else goes out in order, behind what is held.
        std::task::ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.socket).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send_held(cx))?;
        if !this.half_close {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A listener of a server thread on 127.0.0.1, and a client connected to it.
    async fn accepted() -> (Stream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let incoming = Handle::Tcp(listener).register().unwrap();
        loop {
            let ready = tokio::time::timeout(Duration::from_secs(5), incoming.ready())
                .await
                .expect("the client is never ready to be accepted")
                .unwrap();
            if let Some((stream, _)) = ready.accept().unwrap() {
                return (stream, client);
            }
        }
    }

    fn nodelay(stream: &Stream) -> bool {
        match &stream.socket {
            PlainStream::Tcp(tcp) => tcp.nodelay().unwrap(),
            PlainStream::Unix(_) => panic!("a TCP client came in as a Unix one"),
        }
    }

    #[tokio::test]
    async fn accepted_tcp_connections_do_not_wait_for_nagle() {
        let (stream, _client) = accepted().await;
        assert!(nodelay(&stream));
    }

    /// Whether the client reads end of file within a short wait (false: nothing yet).
    fn sees_end_of_file(client: &mut std::net::TcpStream) -> bool {
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        match client.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => panic!("the server sent data"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("reading from the server failed: {e}"),
        }
    }

    #[tokio::test]
    async fn a_shutdown_half_closes_unless_told_to_leave_it_to_the_drop() {
        let (mut stream, mut client) = accepted().await;
        stream.shutdown().await.unwrap();
        assert!(sees_end_of_file(&mut client));

        let (mut stream, mut client) = accepted().await;
        stream.close_on_drop_only();
        stream.shutdown().await.unwrap();
        assert!(!sees_end_of_file(&mut client));
        drop(stream);
        assert!(sees_end_of_file(&mut client));
    }
}
