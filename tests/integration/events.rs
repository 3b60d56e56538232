//! Scripted TLS events: 0-RTT early data (`--early-data`, `--max-early-data`), KeyUpdate
//! (`--key-update[=requested]`), TLS 1.2 renegotiation (`--renegotiate`, refused by
//! default) and post-handshake client authentication (`--post-handshake-auth`), each
//! between tlscat's two sides and against `openssl s_server` / `s_client`.

use std::io::Write;
use std::process::{Command, Output};

use crate::common::*;

/// `openssl s_server` on a port of its choosing with `extra` flags; its address.
fn s_server(pki: &Pki, extra: &[&str]) -> (Proc, String) {
    require("openssl", "openssl");
    let proc = Proc::spawn(
        "openssl s_server",
        Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0"])
            .args(["-cert", &arg(&pki.path("server.crt"))])
            .args(["-key", &arg(&pki.path("server.key"))])
            .args(extra),
    );
    let accept = proc.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    (proc, accept.trim_start_matches("ACCEPT ").to_string())
}

/// `openssl s_client` to `target` with SNI localhost, trusting `pki`'s CA.
fn s_client(pki: &Pki, target: &str) -> Command {
    require("openssl", "openssl");
    let mut command = Command::new("openssl");
    command
        .args([
            "s_client",
            "-connect",
            target,
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(pki.ca());
    command
}

/// `tlscat client` to `target` (SNI localhost) trusting `pki`, with `extra` flags.
fn client(pki: &Pki, target: &str, extra: &[&str]) -> Output {
    run(tlscat()
        .args(["client", "--connect", target, "--servername", "localhost"])
        .arg("--cacert")
        .arg(pki.ca())
        .args(extra))
}

fn write_file(pki: &Pki, name: &str, content: &str) -> String {
    let path = pki.path(name);
    std::fs::write(&path, content).unwrap();
    arg(&path)
}

#[test]
fn early_data_is_sent_on_resumption_and_accepted_only_when_enabled() {
    let pki = Pki::ecdsa();
    let early = write_file(&pki, "early.txt", "GET /early");
    let server = Server::start(&pki, &["--max-early-data", "1024", "--json"]);
    let output = client(
        &pki,
        &server.target(),
        &["--early-data", &early, "--reconnect", "1", "--json"],
    );
    assert_exit(&output, 0);
    let reports = connections(&output.stdout);
    assert_eq!(
        reports[0]["early_data"]["status"], "not sent: no session to resume yet",
        "{}",
        reports[0]
    );
    assert_eq!(reports[1]["resumed"], true, "{}", reports[1]);
    assert_eq!(
        reports[1]["early_data"]["status"], "accepted",
        "{}",
        reports[1]
    );
    assert_eq!(reports[1]["early_data"]["bytes"], 10, "{}", reports[1]);
    server.proc.wait_stderr("0-RTT early data can be replayed");
    // The server's reports may come in either order: each connection ends on its own.
    let with_early_data: Vec<_> = server
        .proc
        .wait_json("connection", 2)
        .into_iter()
        .filter(|r| r.get("early_data").is_some())
        .collect();
    assert_eq!(with_early_data.len(), 1, "{with_early_data:?}");
    let served = &with_early_data[0];
    assert_eq!(served["early_data"]["status"], "accepted", "{served}");
    assert_eq!(served["early_data"]["data"], "GET /early", "{served}");
    assert_eq!(served["received"], "Hello from the client!", "{served}");

    // Off by default: the session allows none, and the client says why.
    let default = Server::start(&pki, &[]);
    let output = client(
        &pki,
        &default.target(),
        &["--early-data", &early, "--reconnect", "1", "--json"],
    );
    assert_exit(&output, 0);
    let status = connections(&output.stdout)[1]["early_data"]["status"].clone();
    assert!(
        status
            .as_str()
            .unwrap()
            .starts_with("not sent: the session allows none"),
        "{status}"
    );
    // A replayable request must not reach a tunnel's backend.
    let output = run(tlscat().args([
        "server",
        "--max-early-data",
        "1024",
        "--forward",
        "127.0.0.1:1",
    ]));
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("early data can be replayed"));
}

#[test]
fn early_data_with_openssl_on_either_side() {
    let pki = Pki::ecdsa();
    let early = write_file(&pki, "early.txt", "early bird\n");
    // tlscat client, s_server: s_server prints what it read as early data, and what its
    // stdin gets goes to the client.
    let (mut s_server, target) = s_server(&pki, &["-early_data"]);
    let mut tlscat_client = Proc::spawn(
        "tlscat client",
        tlscat()
            .args(["client", "--connect", &target, "--servername", "localhost"])
            .arg("--cacert")
            .arg(pki.ca())
            .args(["--early-data", &early, "--reconnect", "1"])
            .args(["--message", "hello\n", "--quiet-period", "300ms", "--json"]),
    );
    for connection in 1..=2 {
        s_server.wait_stdout_lines(&format!("message {connection}"), connection, |l| {
            l.contains("hello")
        });
        writeln!(s_server.stdin(), "answer").unwrap();
    }
    assert!(tlscat_client.wait_exit(WAIT).success());
    s_server.wait_stdout("the early data", |l| l.contains("early bird"));
    let report = &connections(tlscat_client.stdout().as_bytes())[1];
    assert_eq!(report["early_data"]["status"], "accepted", "{report}");

    // s_client, tlscat server: the session from a first connection, then 0-RTT.
    let server = Server::start(&pki, &["--max-early-data", "1024"]);
    let session = arg(&pki.path("session.pem"));
    let first = run_with_input(
        s_client(&pki, &server.target()).args(["-sess_out", &session, "-ign_eof"]),
        b"first\n",
    );
    assert_exit(&first, 0);
    let second = run_with_input(
        s_client(&pki, &server.target())
            .args(["-sess_in", &session])
            .args(["-early_data", &early, "-ign_eof"]),
        b"second\n",
    );
    assert_exit(&second, 0);
    server
        .proc
        .wait_stdout("the early data", |l| l == "Early data: early bird\\n");
}

#[test]
fn key_update_reaches_s_server_and_s_clients_reach_tlscat() {
    let pki = Pki::ecdsa();
    let (s_server, target) = s_server(&pki, &["-rev", "-msg"]);
    let output = client(
        &pki,
        &target,
        &[
            "--key-update=requested",
            "--message",
            "hello\n",
            "--quiet-period",
            "300ms",
            "--json",
            "--trace",
        ],
    );
    assert_exit(&output, 0);
    let report = connections(&output.stdout).pop().unwrap();
    assert_eq!(report["key_update"], "update_requested", "{report}");
    s_server.wait_stdout("the KeyUpdate", |l| l.contains("KeyUpdate"));

    // s_client's K (KeyUpdate, update requested) to a tlscat echo server: it answers
    // with its own before its next data.
    let server = Server::start(&pki, &["--mode", "echo", "--trace"]);
    let mut s_client = Proc::spawn(
        "openssl s_client",
        s_client(&pki, &server.target()).args(["-tls1_3"]),
    );
    s_client.wait_stdout("the handshake", |l| l.contains("Verify return code: 0"));
    writeln!(s_client.stdin(), "before").unwrap();
    s_client.wait_stdout("the echo", |l| l == "before");
    writeln!(s_client.stdin(), "K").unwrap();
    server.proc.wait_stderr("<- KeyUpdate");
    writeln!(s_client.stdin(), "after").unwrap();
    s_client.wait_stdout("the echo after the KeyUpdate", |l| l == "after");
    server.proc.wait_stderr("-> KeyUpdate");

    // TLS 1.2 has none: a clear failure, not a silent no-op.
    let output = client(&pki, &target, &["--key-update", "--tls1.2"]);
    assert_exit(&output, 4);
    assert!(text(&output.stderr).contains("which has no KeyUpdate"));
}

#[test]
fn renegotiation_works_when_both_sides_allow_it_and_is_refused_by_default() {
    let pki = Pki::ecdsa();
    let willing = Server::start(&pki, &["--renegotiate", "--json"]);
    let output = client(
        &pki,
        &willing.target(),
        &["--tls1.2", "--renegotiate", "--json"],
    );
    assert_exit(&output, 0);
    let report = &connections(&output.stdout)[0];
    assert_eq!(report["renegotiated"], true, "{report}");
    assert_eq!(report["received"], "Hello from the server!", "{report}");
    // The server renegotiated too, after its answer (a HelloRequest).
    let served = &willing.proc.wait_json("connection", 1)[0];
    assert_eq!(served["renegotiated"], true, "{served}");

    let refusing = Server::start(&pki, &[]);
    let output = client(&pki, &refusing.target(), &["--tls1.2", "--renegotiate"]);
    assert_exit(&output, 4);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the server refused to renegotiate (no_renegotiation alert)")
            && stderr.contains("tlscat server allows it with --renegotiate"),
        "{stderr}"
    );
    refusing
        .proc
        .wait_stderr("refused the peer's renegotiation request");

    // Against s_server, which allows it with -client_renegotiation.
    let (_s_server, target) = s_server(&pki, &["-client_renegotiation", "-www", "-tls1_2"]);
    let output = client(
        &pki,
        &target,
        &[
            "--renegotiate",
            "--message",
            "GET / HTTP/1.0\r\n\r\n",
            "--json",
        ],
    );
    assert_exit(&output, 0);
    assert_eq!(connections(&output.stdout)[0]["renegotiated"], true);

    // s_client follows the server's HelloRequest; its R renegotiates from its side.
    let output = run_with_input(
        s_client(&pki, &willing.target()).args(["-tls1_2", "-ign_eof"]),
        b"hello\n",
    );
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains("Hello from the server!"));
    for served in willing.proc.wait_json("connection", 2) {
        assert_eq!(served["renegotiated"], true, "{served}");
    }

    // A client that did not ask for it refuses the server's HelloRequest; OpenSSL's
    // server then aborts, and both sides say so.
    let output = client(&pki, &willing.target(), &["--tls1.2"]);
    assert_exit(&output, 4);
    assert!(text(&output.stdout).contains("Hello from the server!"));
    let last = text(&output.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        last,
        "tlscat: TLS error during read: the server ended the connection after we refused its \
         renegotiation request (handshake_failure alert): tlscat client allows renegotiation \
         with --renegotiate"
    );
    let served = &willing.proc.wait_json("connection", 3)[2];
    assert!(
        served["error"]
            .as_str()
            .unwrap()
            .contains("the client refused to renegotiate (no_renegotiation alert)"),
        "{served}"
    );
}

#[test]
fn post_handshake_authentication_with_tlscat_and_s_client() {
    let pki = Pki::ecdsa();
    let server = Server::start(
        &pki,
        &[
            "--client-ca",
            &arg(&pki.ca()),
            "--post-handshake-auth",
            "--json",
        ],
    );
    let identity = [
        "--cert",
        &arg(&pki.path("client.crt")),
        "--key",
        &arg(&pki.path("client.key")),
    ];
    let output = client(
        &pki,
        &server.target(),
        &[&identity[..], &["--post-handshake-auth", "--trace"]].concat(),
    );
    assert_exit(&output, 0);
    let trace = text(&output.stderr);
    let finished = trace.find("-> Finished").unwrap();
    let request = trace.find("<- CertificateRequest").unwrap();
    assert!(
        finished < request,
        "the request came after the handshake:\n{trace}"
    );
    let served = &server.proc.wait_json("connection", 1)[0];
    assert_eq!(served["post_handshake_auth"], true, "{served}");
    assert_eq!(served["verified"], true, "{served}");
    assert_eq!(
        served["peer_chain"][0]["subject"], "CN=tlscat client",
        "{served}"
    );

    // OpenSSL's client, with -enable_pha.
    let output = run_with_input(
        s_client(&pki, &server.target())
            .args(["-enable_pha", "-ign_eof"])
            .args(["-cert", &arg(&pki.path("client.crt"))])
            .args(["-key", &arg(&pki.path("client.key"))]),
        b"hello\n",
    );
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains("Hello from the server!"));
    for served in server.proc.wait_json("connection", 2) {
        assert_eq!(served["verified"], true, "{served}");
    }

    // A client that does not offer it gets no answer, only a cut connection (no
    // close_notify), and the server says why.
    let output = client(
        &pki,
        &server.target(),
        &[&identity[..], &["--json"]].concat(),
    );
    let report = &connections(&output.stdout)[0];
    assert_eq!(report["closed"], "no close_notify", "{report}");
    assert_eq!(report["bytes_received"], 0, "{report}");
    server
        .proc
        .wait_stderr("the client did not offer post-handshake authentication");
}
