//! The floor under tlscat's server: the smallest TLS server on each of two designs, for
//! `scripts/bench.sh` to measure next to tlscat and nginx.
//!
//! Both take a connection, complete the handshake, read until the client's close_notify
//! (or end of file), send close_notify and close: a handshake benchmark's whole
//! exchange, nothing more (no timeouts, reports, limits or modes). One thread per core,
//! each with its own `SO_REUSEPORT` socket, as tlscat and nginx do.
//!
//! - `tokio`: tlscat's design: a tokio runtime per thread, a task per connection,
//!   tokio-openssl.
//! - `epoll`: nginx's design: one event loop per thread on edge-triggered epoll (mio), a
//!   connection is an entry in a table, no async runtime.
//!
//! Usage: `floor tokio|epoll 127.0.0.1:PORT CERT KEY`

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::Poll;

use openssl::ssl::{
    ErrorCode, HandshakeError, MidHandshakeSslStream, Ssl, SslAcceptor, SslContext, SslFiletype,
    SslMethod, SslMode, SslStream,
};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [design, address, cert, key] = args.as_slice() else {
        eprintln!("usage: floor tokio|epoll 127.0.0.1:PORT CERT KEY");
        std::process::exit(2);
    };
    let serve: fn(std::net::TcpListener, SslContext) = match design.as_str() {
        "tokio" => serve_tokio,
        "epoll" => serve_epoll,
        other => {
            eprintln!("floor: unknown design {other:?}: tokio or epoll");
            std::process::exit(2);
        }
    };
    let address: SocketAddr = address.parse().unwrap_or_else(|e| {
        eprintln!("floor: bad address {address:?}: {e}");
        std::process::exit(2);
    });
    let context =
        context(cert, key).unwrap_or_else(|e| fail(&format!("cannot load {cert} and {key}"), e));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let listener =
                listen(address).unwrap_or_else(|e| fail(&format!("cannot listen on {address}"), e));
            let context = context.clone();
            std::thread::spawn(move || serve(listener, context))
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
}

/// Says what failed on one line, and exits.
fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("floor: {what}: {error}");
    std::process::exit(1);
}

/// Mozilla's intermediate profile, as tlscat's preset starts from, with the two modes
/// tlscat and nginx both set: buffers released while idle, records read ahead.
fn context(cert: &str, key: &str) -> Result<SslContext, openssl::error::ErrorStack> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    builder.set_certificate_chain_file(cert)?;
    builder.set_private_key_file(key, SslFiletype::PEM)?;
    builder.set_mode(SslMode::RELEASE_BUFFERS);
    builder.set_read_ahead(true);
    Ok(builder.build().into_context())
}

/// A non-blocking listening socket in this address's `SO_REUSEPORT` group.
fn listen(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn serve_tokio(listener: std::net::TcpListener, context: SslContext) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("cannot start a runtime", e));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .unwrap_or_else(|e| fail("cannot register the listener", e));
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let Ok(ssl) = Ssl::new(&context) else {
                continue;
            };
            tokio::spawn(async move {
                let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, socket) else {
                    return;
                };
                if Pin::new(&mut tls).accept().await.is_err() {
                    return;
                }
                // The buffer lives only while the socket is read, never across a wait:
                // an idle connection is the design's least, its task and registration.
                std::future::poll_fn(|cx| {
                    let mut buf = [0u8; 4096];
                    loop {
                        let mut filled = ReadBuf::new(&mut buf);
                        match Pin::new(&mut tls).poll_read(cx, &mut filled) {
                            Poll::Ready(Ok(())) if !filled.filled().is_empty() => {}
                            Poll::Ready(_) => return Poll::Ready(()),
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                })
                .await;
                let _ = tls.shutdown().await;
            });
        }
    });
}

/// A connection of the epoll design: where its exchange stands.
enum Connection {
    Handshaking(MidHandshakeSslStream<mio::net::TcpStream>),
    Open(SslStream<mio::net::TcpStream>),
}

/// The listener's token; connections use their file descriptor.
const LISTENER: mio::Token = mio::Token(usize::MAX);

fn serve_epoll(listener: std::net::TcpListener, context: SslContext) {
    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = mio::Poll::new().unwrap_or_else(|e| fail("cannot create an epoll instance", e));
    poll.registry()
        .register(&mut listener, LISTENER, mio::Interest::READABLE)
        .unwrap_or_else(|e| fail("cannot register the listener", e));
    let mut events = mio::Events::with_capacity(256);
    // Indexed by file descriptor, as nginx's connection array is.
    let mut connections: Vec<Option<Connection>> = Vec::new();
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            fail("epoll_wait failed", e);
        }
        for event in events.iter() {
            if event.token() != LISTENER {
                let slot = &mut connections[event.token().0];
                *slot = slot.take().and_then(advance);
                continue;
            }
            while let Ok((mut socket, _)) = listener.accept() {
                let fd = socket.as_raw_fd() as usize;
                let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                if poll
                    .registry()
                    .register(&mut socket, mio::Token(fd), interest)
                    .is_err()
                {
                    continue;
                }
                let Ok(ssl) = Ssl::new(&context) else {
                    continue;
                };
                if connections.len() <= fd {
                    connections.resize_with(fd + 1, || None);
                }
                connections[fd] = match ssl.accept(socket) {
                    Ok(open) => advance(Connection::Open(open)),
                    Err(HandshakeError::WouldBlock(mid)) => Some(Connection::Handshaking(mid)),
                    Err(_) => None,
                };
            }
        }
    }
}

/// Takes the connection as far as the socket allows: `None` once it is over (dropping it
/// closes the socket, which also takes it out of epoll).
fn advance(connection: Connection) -> Option<Connection> {
    let mut tls = match connection {
        Connection::Handshaking(mid) => match mid.handshake() {
            Ok(open) => open,
            Err(HandshakeError::WouldBlock(mid)) => return Some(Connection::Handshaking(mid)),
            Err(_) => return None,
        },
        Connection::Open(open) => open,
    };
    let mut buf = [0u8; 4096];
    loop {
        match tls.ssl_read(&mut buf) {
            Ok(_) => continue,
            Err(e) if e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE => {
                return Some(Connection::Open(tls));
            }
            Err(_) => {
                // close_notify or end of file: answer, then close.
                let _ = tls.shutdown();
                return None;
            }
        }
    }
}
