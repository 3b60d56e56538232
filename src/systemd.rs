//! systemd integration: listening sockets handed over by socket activation (`LISTEN_FDS`)
//! and state notifications (`sd_notify`: READY, RELOADING, STOPPING) when `NOTIFY_SOCKET`
//! is set. Both are plain protocols; no libsystemd is needed.

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixDatagram;

use log::{debug, info};
use socket2::Socket;

use crate::error::{Error, Result};
use crate::listen::{self, Listener};

/// The first file descriptor systemd passes.
const LISTEN_FDS_START: RawFd = 3;

/// The sockets systemd passed to this process, if it passed any.
pub(crate) fn inherited_listeners() -> Result<Option<Vec<Listener>>> {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
        == Some(std::process::id());
    let Some(count) = std::env::var("LISTEN_FDS").ok().filter(|_| for_us) else {
        return Ok(None);
    };
    let count: RawFd = count
        .parse()
        .map_err(|_| Error::Config(format!("LISTEN_FDS={count:?} is not a number of sockets")))?;
    let mut listeners = Vec::new();
    for fd in LISTEN_FDS_START..LISTEN_FDS_START + count {
        // SAFETY: F_GETFD only reads the descriptor's flags.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            return Err(Error::Config(format!(
                "socket activation: LISTEN_FDS={count} but descriptor {fd} is not open"
            )));
        }
        // SAFETY: systemd hands us these descriptors, open (checked above) and owned by
        // this process; each is taken over exactly once.
        let socket = unsafe { Socket::from_raw_fd(fd) };
        let listener = socket
            .local_addr()
            .and_then(|_| listen::from_inherited(socket))
            .map_err(|e| {
                Error::Config(format!(
                    "socket activation: descriptor {fd} is not a listening socket ({e})"
                ))
            })?;
        listeners.push(listener);
    }
    info!("using {count} socket(s) from systemd (LISTEN_FDS); --listen is ignored");
    Ok(Some(listeners))
}

/// Tells the service manager about a state change; a no-op outside systemd.
pub(crate) fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|socket| {
        let bytes = target.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)
        } else {
            socket.send_to(state.as_bytes(), &target)
        }
    });
    match sent {
        Ok(_) => debug!("sd_notify: {}", state.replace('\n', " ")),
        Err(e) => debug!("sd_notify to {}: {e}", target.to_string_lossy()),
    }
}

/// `RELOADING=1` with the monotonic timestamp systemd (253+) expects alongside it.
pub(crate) fn reloading() -> String {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let micros = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000;
    format!("RELOADING=1\nMONOTONIC_USEC={micros}")
}
