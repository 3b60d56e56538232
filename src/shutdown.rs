//! Signals turned into requests the server acts on.

use std::io;

use log::info;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// What the operator asked the server to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Stop accepting and drain; a second `Stop` cuts the connections still open.
    Stop,
    /// Read the certificates, keys and CA files again (ignored while draining).
    Reload,
}

/// Forwards SIGINT and SIGTERM as [`Request::Stop`], SIGHUP as [`Request::Reload`]. Call
/// it before the server announces that it listens, so that an early signal is handled
/// instead of killing the process. Must run inside a Tokio runtime.
pub fn from_signals() -> io::Result<mpsc::UnboundedReceiver<Request>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (name, request) = tokio::select! {
                _ = interrupt.recv() => ("SIGINT", Request::Stop),
                _ = terminate.recv() => ("SIGTERM", Request::Stop),
                _ = hangup.recv() => ("SIGHUP", Request::Reload),
            };
            info!("{name} received");
            if sender.send(request).is_err() {
                break;
            }
        }
    });
    Ok(receiver)
}
