//! The error type: each variant names the phase and the cause, says how to fix it where the
//! user can, and maps to one documented exit code.

use std::fmt;
use std::io;
use std::time::Duration;

/// Result with tlscat's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The phase of a connection in which something failed or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect (client).
    Connect,
    /// The plaintext exchange before a STARTTLS handshake (client).
    Starttls,
    /// The TLS handshake.
    Handshake,
    /// Waiting for the peer's data.
    Read,
    /// Sending our data.
    Write,
    /// Exchanging close_notify.
    Close,
    /// A tunnel carrying nothing one way.
    Idle,
}

impl Phase {
    /// The flag that sets this phase's timeout.
    pub fn timeout_flag(self) -> &'static str {
        match self {
            Phase::Connect => "--connect-timeout",
            Phase::Starttls | Phase::Handshake => "--handshake-timeout",
            Phase::Read => "--read-timeout",
            Phase::Write => "--write-timeout",
            Phase::Close => "--close-timeout",
            Phase::Idle => "--idle-timeout",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "TCP connect",
            Phase::Starttls => "STARTTLS",
            Phase::Handshake => "TLS handshake",
            Phase::Read => "read",
            Phase::Write => "write",
            Phase::Close => "close_notify",
            Phase::Idle => "an idle tunnel",
        })
    }
}

/// Everything that can go wrong, by phase and cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag, file or setting the user must change; the message says which and how.
    #[error("{0}")]
    Config(String),

    /// A listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}: {hint}")]
    Bind {
        addr: String,
        source: io::Error,
        hint: &'static str,
    },

    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}: check the name, or connect to an IP address")]
    Resolve { host: String, source: io::Error },

    /// No address of the target accepted a TCP connection.
    #[error("could not connect to {target}: {detail}: is the server running there?")]
    Connect { target: String, detail: String },

    /// The TLS handshake failed for a reason other than the certificate.
    #[error("TLS handshake failed: {reason}{}", hint_suffix(hint))]
    Handshake {
        reason: String,
        hint: Option<String>,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The connection broke at the TLS layer after the handshake (bad record, fatal alert).
    #[error("TLS error during {phase}: {reason}")]
    Tls {
        phase: Phase,
        reason: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The plaintext start of a STARTTLS protocol failed: the server refused or does not
    /// offer TLS, or answered what the protocol does not allow.
    #[error("STARTTLS failed: {reason}{}", hint_suffix(hint))]
    Starttls {
        reason: String,
        hint: Option<String>,
    },

    /// A certificate was rejected: ours by the peer, or the peer's by us.
    #[error("certificate rejected: {reason}{}", hint_suffix(hint))]
    Verify {
        reason: String,
        hint: Option<String>,
    },

    /// A phase took longer than its timeout.
    #[error("timed out after {} during {phase}: raise {} if the peer is just slow", seconds(*limit), phase.timeout_flag())]
    Timeout { phase: Phase, limit: Duration },

    /// The connection failed below TLS (reset, broken pipe) after it was set up.
    #[error("{phase} failed: {source}")]
    Io { phase: Phase, source: io::Error },

    /// An `--expect-*` assertion did not hold.
    #[error("expected {what} {expected}, got {got}")]
    Expectation {
        what: &'static str,
        expected: String,
        got: String,
    },

    /// A failure inside OpenSSL or tlscat that the user cannot fix with a flag.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error (see the README's table).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Bind { .. } => 2,
            Error::Resolve { .. } | Error::Connect { .. } => 3,
            Error::Handshake { .. } | Error::Tls { .. } | Error::Starttls { .. } => 4,
            Error::Verify { .. } => 5,
            Error::Timeout { .. } => 6,
            Error::Expectation { .. } => 7,
            Error::Io { .. } | Error::Internal(_) => 1,
        }
    }

    /// A short name of the kind of failure, for metrics labels.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Config(_) | Error::Bind { .. } => "config",
            Error::Resolve { .. } | Error::Connect { .. } => "connect",
            Error::Handshake { .. } => "handshake_failed",
            Error::Starttls { .. } => "starttls_failed",
            Error::Tls { .. } => "tls_error",
            Error::Verify { .. } => "certificate_rejected",
            Error::Timeout { .. } => "timeout",
            Error::Expectation { .. } => "expectation",
            Error::Io { .. } => "io_error",
            Error::Internal(_) => "internal",
        }
    }

    /// A listening socket failed to open; the hint depends on why.
    pub fn bind(addr: impl fmt::Display, source: io::Error) -> Error {
        let hint = match source.kind() {
            io::ErrorKind::AddrInUse => {
                "another process listens there: stop it, or choose another port with --listen"
            }
            io::ErrorKind::PermissionDenied => {
                "ports below 1024 need privileges: choose a higher port with --listen"
            }
            io::ErrorKind::AddrNotAvailable => {
                "no interface of this machine has that address: check --listen"
            }
            _ => "check --listen",
        };
        Error::Bind {
            addr: addr.to_string(),
            source,
            hint,
        }
    }
}

impl From<openssl::error::ErrorStack> for Error {
    fn from(stack: openssl::error::ErrorStack) -> Self {
        Error::Internal(format!("OpenSSL: {stack}"))
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(hint) => format!(": {hint}"),
        None => String::new(),
    }
}

/// `1.5s`, `10s`, `250ms`: how durations are written on the command line.
pub fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}
