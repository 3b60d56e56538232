//! The library in-process: a server bound with `Server::bind`, found through
//! `local_addrs()`, served to by the library's client and load generator, and stopped by a
//! request; startup errors as values with their exit codes.

use std::path::PathBuf;

use tlscat::bench::{self, Summary};
use tlscat::config::{
    Address, BenchConfig, BenchMode, ClientConfig, ClientTls, HostPort, Identity, Mode,
    ServerCertificate, ServerConfig, ServerTls, Target, Timeouts, Trust,
};
use tlscat::server::Server;
use tlscat::shutdown::Request;
use tokio::sync::mpsc;

use crate::common::*;

/// A server config on 127.0.0.1:0 with the PKI's certificate.
fn server_config(pki: &Pki, mode: Mode) -> ServerConfig {
    ServerConfig {
        listen: vec![Address::Tcp(HostPort::new("127.0.0.1", 0))],
        mode,
        tls: ServerTls {
            certificates: vec![ServerCertificate {
                identity: Identity::Pem {
                    cert: pki.path("server.crt"),
                    key: pki.path("server.key"),
                    passphrase: None,
                },
                names: Vec::new(),
            }],
            ..ServerTls::default()
        },
        threads: std::num::NonZeroUsize::new(1),
        ..ServerConfig::default()
    }
}

/// Where the library's client finds the server, trusting the PKI's CA.
fn target_and_trust(pki: &Pki, port: u16) -> (Target, ClientTls) {
    (
        Target {
            address: Address::Tcp(HostPort::new("127.0.0.1", port)),
            ..Target::default()
        },
        ClientTls {
            trust: Trust::CaFile(pki.ca()),
            ..ClientTls::default()
        },
    )
}

/// Binds the server, runs it in a task, and returns its port and the stop handle.
async fn start(
    config: ServerConfig,
) -> (
    u16,
    mpsc::UnboundedSender<Request>,
    tokio::task::JoinHandle<tlscat::Result<()>>,
) {
    let server = Server::bind(config).await.expect("the server binds");
    let addrs = server.local_addrs();
    assert_eq!(addrs.len(), 1, "one address: {addrs:?}");
    assert_ne!(addrs[0].port(), 0, "port 0 became a real port");
    let (stop, requests) = mpsc::unbounded_channel();
    let running = tokio::spawn(server.run(requests));
    (addrs[0].port(), stop, running)
}

/// Asks the server to stop and waits for it to return.
async fn stop(
    stop: mpsc::UnboundedSender<Request>,
    running: tokio::task::JoinHandle<tlscat::Result<()>>,
) {
    stop.send(Request::Stop)
        .expect("the server still listens for requests");
    tokio::time::timeout(WAIT, running)
        .await
        .expect("the server stops within the wait")
        .expect("the server task did not panic")
        .expect("the server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_bound_in_process_serves_the_library_client_and_stops_on_request() {
    let pki = Pki::ecdsa();
    let (port, stopper, running) = start(server_config(&pki, Mode::Reply)).await;
    let (target, tls) = target_and_trust(&pki, port);
    let client = ClientConfig {
        target,
        tls,
        reconnect: 1,
        ..ClientConfig::default()
    };
    tlscat::client::run(&client)
        .await
        .expect("the seed exchange succeeds, twice");
    stop(stopper, running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_counts_exactly_what_it_was_asked_for_in_process() {
    let pki = Pki::ecdsa();
    let (port, stopper, running) = start(server_config(&pki, Mode::Echo)).await;
    let (target, tls) = target_and_trust(&pki, port);
    let config = BenchConfig {
        target,
        tls,
        timeouts: Timeouts::default(),
        mode: BenchMode::Echo(100_000),
        resume: true,
        concurrency: 3,
        duration: None,
        count: Some(25),
        progress: false,
    };
    let summary: Summary = bench::run(config).await.expect("the run starts");
    assert_eq!(
        (summary.ok, summary.failed),
        (25, 0),
        "{}",
        summary.to_text()
    );
    assert_eq!(summary.bytes_received, 25 * 100_000);
    assert!(summary.resumed >= 20, "{}", summary.to_text());
    assert_eq!(summary.exit_code(), 0);
    stop(stopper, running).await;
}

#[tokio::test]
async fn a_missing_certificate_is_a_configuration_error_naming_the_file() {
    let pki = Pki::ecdsa();
    let mut config = server_config(&pki, Mode::Reply);
    let missing = PathBuf::from("/nonexistent/server.crt");
    config.tls.certificates[0].identity = Identity::Pem {
        cert: missing,
        key: pki.path("server.key"),
        passphrase: None,
    };
    let error = Server::bind(config).await.err().expect("no server");
    assert_eq!(error.exit_code(), 2, "{error}");
    assert!(
        error
            .to_string()
            .contains("/nonexistent/server.crt not found"),
        "{error}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_refused_with_exit_code_2() {
    let pki = Pki::ecdsa();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = server_config(&pki, Mode::Reply);
    config.listen = vec![Address::Tcp(HostPort::new(
        "127.0.0.1",
        taken.local_addr().unwrap().port(),
    ))];
    let error = Server::bind(config).await.err().expect("no server");
    assert_eq!(error.exit_code(), 2, "{error}");
    assert!(
        error.to_string().contains("another process listens there"),
        "{error}"
    );
}
