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
//! | [`config`] | plain option structs ([`ServerConfig`], [`ClientConfig`]) with defaults |
//! | [`error`] | the one [`Error`] type, its exit codes and fix hints |
//! | [`tls`] | the only code that builds OpenSSL contexts (acceptor, connector, verification) |
//! | [`server`] | the accept loop, reloads, drain; per-connection modes (reply, echo, inspect, files) |
//! | [`files`] | static files: request paths resolved inside the root, response heads |
//! | [`listen`] | TCP and Unix listeners, SO_REUSEPORT, the accepted stream |
//! | [`systemd`] | socket activation and sd_notify |
//! | [`proxy`] | the PROXY protocol header (v1, v2) |
//! | [`inspect`] | ClientHello parsing, JA4, the inspect page |
//! | [`http`] | the bounded HTTP/1.x request parser |
//! | [`metrics`] | Prometheus metrics and their endpoint |
//! | [`client`] | connect, handshake, exchange, close |
//! | [`bench`] | the load generator: concurrent connections, latency histograms, CPU |
//! | [`conn`] | per-phase timeouts and the close_notify dance shared by both sides |
//! | [`report`] | what the user sees on stdout |
//! | [`shutdown`] | signals turned into stop requests |
//!
//! The binary (`src/main.rs`, `src/cli.rs`) only parses flags into these configs, calls
//! [`server::Server`] or [`client::run`], and maps [`Error::exit_code`] to the exit status.

pub mod bench;
pub mod client;
pub mod config;
pub mod conn;
pub mod error;
pub mod files;
pub mod http;
pub mod inspect;
pub mod listen;
pub mod metrics;
pub mod proxy;
pub mod report;
pub mod server;
pub mod shutdown;
pub mod systemd;
pub mod tls;

pub use config::{ClientConfig, ServerConfig, Timeouts, Trust};
pub use error::{Error, Phase, Result};

/// The OpenSSL version tlscat was compiled against (from `openssl-sys`, via build.rs).
pub const OPENSSL_BUILD_VERSION: &str = env!("TLSCAT_OPENSSL_BUILD_VERSION");

/// `tlscat version --json`: versions and what the linked OpenSSL supports here.
pub fn version_json() -> serde_json::Value {
    serde_json::json!({
        "tlscat": env!("CARGO_PKG_VERSION"),
        "openssl_build": OPENSSL_BUILD_VERSION,
        "openssl_runtime": openssl::version::version(),
        "supports": tls::probe::capabilities(),
    })
}

/// `tlscat version`: the same as [`version_json`], in words.
pub fn version_text() -> String {
    let caps = tls::probe::capabilities();
    format!(
        "tlscat {}\n\
         OpenSSL built with: {}\n\
         OpenSSL running:    {}\n\
         TLS versions:       {}\n\
         groups:             {}\n\
         TLS 1.3 suites:     {}\n\
         TLS 1.2 ciphers:    {}\n\
         signature schemes:  {}\n\
         group names:        {}\n\
         key logging:        {}",
        env!("CARGO_PKG_VERSION"),
        OPENSSL_BUILD_VERSION,
        openssl::version::version(),
        caps.versions.join(", "),
        caps.groups.join(", "),
        caps.tls13_suites.join(", "),
        caps.tls12_ciphers.join(", "),
        caps.sigalgs.join(", "),
        if caps.group_names {
            "from the library"
        } else {
            "from the peer's key"
        },
        if caps.key_logging { "yes" } else { "no" },
    )
}

/// One line naming tlscat's version and both OpenSSL versions: the one it was built
/// against and the one it runs with (they differ when the system library is upgraded).
pub fn version_line() -> String {
    format!(
        "{} (built with {}, running {})",
        env!("CARGO_PKG_VERSION"),
        OPENSSL_BUILD_VERSION,
        openssl::version::version()
    )
}
