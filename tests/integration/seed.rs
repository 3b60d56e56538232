//! The seed's exchange, tlscat client ↔ tlscat server, byte for byte.

use std::process::Command;

use crate::common::*;

#[test]
fn client_and_server_exchange_the_seed_messages_byte_for_byte() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&pki, &[]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
    server
        .proc
        .wait_stdout("Received", |l| l == "Received: Hello from the client!");
    let connected = server
        .proc
        .wait_stdout("Connected to", |l| l.starts_with("Connected to: "));
    assert!(
        connected.starts_with("Connected to: 127.0.0.1:"),
        "{connected}"
    );
    assert!(
        !text(&output.stderr).contains("warning"),
        "a clean exchange warns about nothing: {}",
        text(&output.stderr)
    );
}

#[test]
fn rsa_certificates_serve_the_seed_exchange_too() {
    let pki = Pki::rsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&pki, &[]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
}

#[test]
fn reply_and_message_flags_change_what_is_sent() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--reply", "pong"]);
    let output = server.client(&pki, &["--message", "ping"]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "Response from server: pong\n");
    server
        .proc
        .wait_stdout("Received: ping", |l| l == "Received: ping");
}

#[test]
fn control_characters_from_the_peer_are_shown_escaped_on_one_line() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--reply", "two\nlines\u{1b}[31m"]);
    let output = server.client(&pki, &["--message", "hi\r\n"]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: two\\nlines\\u{1b}[31m\n"
    );
    server
        .proc
        .wait_stdout("Received: hi\\r\\n", |l| l == "Received: hi\\r\\n");
}

#[test]
fn a_message_longer_than_max_message_is_cut_with_a_warning_and_still_answered() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--max-message", "5"]);
    let output = server.client(&pki, &["--message", "0123456789"]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
    server
        .proc
        .wait_stdout("the first 5 bytes", |l| l == "Received: 01234");
    server.proc.wait_stderr("longer than --max-message 5 bytes");
}

#[test]
fn a_message_up_to_max_message_arrives_whole_in_one_read() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--max-message", "16384"]);
    // One TLS record of 10,000 bytes: the server's single read takes all of it.
    let message = "0123456789".repeat(1000);
    let output = server.client(&pki, &["--message", &message]);
    assert_exit(&output, 0);
    let expected = format!("Received: {message}");
    server
        .proc
        .wait_stdout("the whole message", |l| l == expected);
    assert!(
        !server.proc.stderr().contains("longer than --max-message"),
        "{}",
        server.proc.stderr()
    );
}

#[test]
fn max_response_stops_reading_with_a_warning() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&pki, &["--max-response", "5"]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "Response from server: Hello\n");
    assert!(
        text(&output.stderr).contains("--max-response 5"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn bare_tlscat_without_subcommand_is_the_server() {
    let pki = Pki::ecdsa();
    let mut command = tlscat();
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(pki.server_args());
    let server = Server::start_with(&mut command);
    let output = server.client(&pki, &[]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
}

/// The README's front door: `scripts/gen-certs.sh && cargo run`, then `cargo run -- client`,
/// in a fresh directory, with every default (localhost:12345, certs/…). It runs in a private
/// network namespace, so a tlscat the user keeps running on 12345 (as the Quick start says)
/// cannot get in its way; where namespaces are not available it runs on the host's
/// loopback when the port is free, and otherwise checks that the default server refuses
/// the busy port with exit 2.
#[test]
fn front_door_gen_certs_then_bare_server_and_client_on_the_seed_defaults() {
    require("openssl", "openssl");
    let checkout = tempfile::tempdir().unwrap();
    let made = run(Command::new(repo().join("scripts/gen-certs.sh")).current_dir(checkout.path()));
    assert_exit(&made, 0);
    for file in [
        "ca.crt",
        "server.crt",
        "server.key",
        "client.crt",
        "client.key",
    ] {
        assert!(checkout.path().join("certs").join(file).is_file(), "{file}");
    }

    let network = PrivateNetwork::new();
    if network.is_none() && seed_port_is_busy() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the front door in a private network namespace: `unshare -rn` and \
             `ip` (iproute2) are needed"
        );
        eprintln!(
            "note: no private network namespace here and port 12345 is busy: checking that \
             the default server refuses it"
        );
        let refused = run(tlscat().current_dir(checkout.path()));
        assert_exit(&refused, 2);
        assert!(
            text(&refused.stderr).contains("cannot listen on")
                && text(&refused.stderr).contains(":12345"),
            "{}",
            text(&refused.stderr)
        );
        return;
    }

    let mut command = match &network {
        Some(network) => network.command(env!("CARGO_BIN_EXE_tlscat")),
        None => Command::new(env!("CARGO_BIN_EXE_tlscat")),
    };
    command.current_dir(checkout.path()).env_remove("RUST_LOG");
    let server = Proc::spawn("tlscat", &mut command);
    let listening = server.wait_stdout("that it listens", |l| {
        l.starts_with("Server is listening on ")
    });
    assert!(
        listening.ends_with(":12345"),
        "default port is the seed's 12345: {listening}\n{}",
        server.stderr()
    );

    let mut client = match &network {
        Some(network) => network.join(server.pid(), env!("CARGO_BIN_EXE_tlscat")),
        None => Command::new(env!("CARGO_BIN_EXE_tlscat")),
    };
    let output = run(client
        .arg("client")
        .current_dir(checkout.path())
        .env_remove("RUST_LOG"));
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
    server.wait_stdout("Received", |l| l == "Received: Hello from the client!");
}

/// Whether something listens on the seed's port on this machine's loopback.
fn seed_port_is_busy() -> bool {
    std::net::TcpStream::connect(("127.0.0.1", 12345)).is_ok()
        || std::net::TcpListener::bind(("127.0.0.1", 12345)).is_err()
}
