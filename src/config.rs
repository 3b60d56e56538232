//! Option structs for the server and the client. Plain data with the seed's defaults; the
//! command line (or a test) fills them in, and the rest of the library only reads them.

use std::path::PathBuf;
use std::time::Duration;

/// The seed's port.
pub const DEFAULT_PORT: u16 = 12345;
/// The seed's server reply.
pub const DEFAULT_REPLY: &str = "Hello from the server!";
/// The seed's client message.
pub const DEFAULT_MESSAGE: &str = "Hello from the client!";

/// How long each phase of a connection may take before it is abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, per address tried (client only).
    pub connect: Duration,
    /// The TLS handshake.
    pub handshake: Duration,
    /// Waiting for data from the peer (an idle peer is dropped after this).
    pub read: Duration,
    /// Waiting for the peer to accept our data (a peer that never reads is dropped after this).
    pub write: Duration,
    /// Sending close_notify and waiting for the peer's.
    pub close: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            read: Duration::from_secs(30),
            write: Duration::from_secs(30),
            close: Duration::from_secs(2),
        }
    }
}

/// Settings of `tlscat server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `HOST:PORT` strings; every address a host resolves to is bound.
    pub listen: Vec<String>,
    /// PEM file with the certificate, optionally followed by its chain.
    pub cert: PathBuf,
    /// PEM file with the private key.
    pub key: PathBuf,
    /// Serve a certificate that has expired (with a warning) instead of refusing to start.
    pub allow_expired: bool,
    /// What the server answers to every message.
    pub reply: Vec<u8>,
    /// Largest message read from a client, in bytes.
    pub max_message: usize,
    /// Most connections handled at once; further clients wait in the listen backlog.
    pub max_conns: usize,
    /// Per-phase timeouts of each connection.
    pub timeouts: Timeouts,
    /// How long connections in flight may take to finish after a stop signal.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![format!("localhost:{DEFAULT_PORT}")],
            cert: PathBuf::from("certs/server.crt"),
            key: PathBuf::from("certs/server.key"),
            allow_expired: false,
            reply: DEFAULT_REPLY.as_bytes().to_vec(),
            max_message: 1024,
            max_conns: 1024,
            timeouts: Timeouts::default(),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Which certificates the client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Only the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// The platform's trust store (OpenSSL's default verify paths).
    System,
}

/// Settings of `tlscat client`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Host name or IP address to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Name sent in SNI and checked against the certificate; `None` means `host`.
    pub server_name: Option<String>,
    /// Where trusted CA certificates come from.
    pub trust: Trust,
    /// Skip certificate and hostname verification (see [`crate::tls::danger`]).
    pub insecure: bool,
    /// What the client sends.
    pub message: Vec<u8>,
    /// Largest response kept, in bytes; reading stops there.
    pub max_response: usize,
    /// Per-phase timeouts.
    pub timeouts: Timeouts,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            host: "localhost".to_string(),
            port: DEFAULT_PORT,
            server_name: None,
            trust: Trust::System,
            insecure: false,
            message: DEFAULT_MESSAGE.as_bytes().to_vec(),
            max_response: 1024 * 1024,
            timeouts: Timeouts::default(),
        }
    }
}

impl ClientConfig {
    /// The name used for SNI and hostname verification.
    pub fn server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }

    /// `host:port` as the user would write it (IPv6 in brackets).
    pub fn target(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
