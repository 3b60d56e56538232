//! tlscat: a TLS server and client on the platform's OpenSSL.
//!
//! By default it reproduces the classic Python `ssl` example: the server accepts TLS
//! connections, prints the client's message and answers "Hello from the server!"; the client
//! sends "Hello from the client!" and prints the answer. Around that exchange it does what a
//! production tool must: certificate and hostname verification, per-phase timeouts, bounded
//! concurrency, graceful shutdown, and errors that say what failed and how to fix it.
//!
//! # Layout
//!
//! | module | concern |
//! |---|---|
//! | [`config`] | plain option structs ([`ServerConfig`], [`ClientConfig`]) with defaults, grouped by concern |
//! | [`addr`] | `HOST:PORT` and `unix:/path`, parsed once (the IPv6 bracket rule lives here) |
//! | [`error`] | the one [`Error`] type, its exit codes and fix hints |
//! | [`tls`] | everything that touches OpenSSL; prints nothing, knows nothing of reports |
//! | [`server`] | the accept loop, reloads, drain; per-connection modes (reply, echo, inspect, files) |
//! | [`client`] | connect, handshake, exchange, close |
//! | [`bench`] | the load generator: concurrent connections, latency histograms, CPU |
//! | [`report`] | the output layer: stdout lines, handshake reports (text, JSON), traces |
//! | [`http`], [`proxy`] | HTTP/1 request heads (`httparse`) and PROXY headers (`ppp`) |
//! | [`shutdown`] | signals turned into stop and reload requests |
//!
//! and, inside the crate: `conn` (per-phase timeouts, close_notify), `listen` (TCP and
//! Unix listeners, SO_REUSEPORT, the accepted stream), `systemd` (socket activation,
//! sd_notify), `docroot` (the files mode's folder), `inspect` (the inspect page) and
//! `metrics` (Prometheus).
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses flags into these configs, calls
//! [`server::Server`], [`client::run`] or [`bench::run`], and maps [`Error::exit_code`] to
//! the exit status.

pub mod addr;
pub mod bench;
pub mod client;
pub mod config;
pub(crate) mod conn;
pub(crate) mod dial;
pub(crate) mod docroot;
pub mod error;
pub mod http;
pub(crate) mod inspect;
pub(crate) mod listen;
pub(crate) mod metrics;
pub mod proxy;
pub mod report;
pub mod server;
pub mod shutdown;
pub mod starttls;
pub(crate) mod systemd;
pub mod tls;
pub(crate) mod tunnel;
mod version;

pub use config::{ClientConfig, ServerConfig, Timeouts, Trust};
pub use error::{Error, Phase, Result};
pub use version::{OPENSSL_BUILD_VERSION, version_json, version_line, version_text};
