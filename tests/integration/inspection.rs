//! Inspection: the handshake report (text and JSON), traces, assertions, `tlscat
//! version`, and the key log (checked by decrypting a real capture with tshark).

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::*;
use serde_json::Value;

fn sha256_fingerprint(cert: &std::path::Path) -> String {
    let output = run(Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert));
    text(&output.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn both_sides_print_a_handshake_report_on_stderr_unless_quiet() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&pki, &[]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n",
        "stdout stays the seed's line"
    );
    let report = text(&output.stderr);
    for expected in [
        &format!("connection to {}", server.target()),
        "protocol   TLSv1.3, TLS_AES_128_GCM_SHA256, group X25519, signature ecdsa_secp256r1_sha256",
        "session    full handshake; ALPN -; SNI -",
        "verified   yes (ok)",
        "peer chain [0] CN=localhost",
        &format!("issuer  {}", pki.ca_subject()),
        "names   DNS:localhost, IP:127.0.0.1, IP:::1",
        &format!("sha256  {}", sha256_fingerprint(&pki.path("server.crt"))),
        "timings    connect ",
        "closed     close_notify",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    server.proc.wait_stderr("connection from 127.0.0.1:");
    server.proc.wait_stderr("served     CN=localhost");

    let quiet = server.client(&pki, &["--quiet"]);
    assert_exit(&quiet, 0);
    assert_eq!(text(&quiet.stderr), "", "--quiet hides the report");
    let quiet_server = Server::start(&pki, &["--quiet"]);
    assert_exit(&quiet_server.client(&pki, &[]), 0);
    quiet_server
        .proc
        .wait_stdout("Received", |l| l.starts_with("Received: "));
    assert!(!quiet_server.proc.stderr().contains("connection from"));
}

#[test]
fn json_reports_have_the_documented_fields_on_both_sides() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--json", "--alpn", "h2"]);
    let output = server.client(
        &pki,
        &["--json", "--alpn", "h2", "--servername", "localhost"],
    );
    assert_exit(&output, 0);
    let lines = json_lines(&output.stdout);
    assert_eq!(
        lines.len(),
        1,
        "one object per connection, nothing else on stdout"
    );
    let client = &lines[0];
    let fields: BTreeSet<&str> = client
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let documented: BTreeSet<&str> = [
        "type",
        "side",
        "peer",
        "sni",
        "version",
        "cipher",
        "group",
        "signature",
        "alpn",
        "resumed",
        "verified",
        "verify_result",
        "peer_chain",
        "verified_chain",
        "timings_ms",
        "sent",
        "received",
        "bytes_sent",
        "bytes_received",
        "closed",
        "error",
    ]
    .into();
    assert_eq!(fields, documented);
    assert_eq!(client["type"], "connection");
    assert_eq!(client["side"], "client");
    assert_eq!(client["peer"], server.target());
    assert_eq!(client["sni"], "localhost");
    assert_eq!(client["cipher"], "TLS_AES_128_GCM_SHA256");
    assert_eq!(client["alpn"], "h2");
    assert_eq!(client["verified"], true);
    assert_eq!(client["sent"], "Hello from the client!");
    assert_eq!(client["received"], "Hello from the server!");
    assert_eq!(client["closed"], "close_notify");
    assert_eq!(client["bytes_sent"], 22);
    assert_eq!(client["bytes_received"], 22);
    assert_eq!(
        client["peer_chain"][0]["sha256"],
        sha256_fingerprint(&pki.path("server.crt"))
    );
    let timings = &client["timings_ms"];
    for phase in ["connect", "handshake", "first_byte"] {
        assert!(timings[phase].as_f64().unwrap() > 0.0, "{phase}: {timings}");
    }

    let served = &server.proc.wait_json("connection", 1)[0];
    assert_eq!(served["side"], "server");
    assert_eq!(served["received"], "Hello from the client!");
    assert_eq!(served["sent"], "Hello from the server!");
    assert_eq!(served["certificate"]["subject"], "CN=localhost");
    assert!(
        !server.proc.stdout().contains("Received:"),
        "with --json stdout is JSON only"
    );

    // A failure in JSON mode: the report with the error, then an error object.
    let untrusting = server.client(&Pki::ecdsa(), &["--json"]);
    assert_exit(&untrusting, 5);
    let lines = json_lines(&untrusting.stdout);
    assert_eq!(lines[0]["type"], "connection");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("certificate rejected")
    );
    assert_eq!(lines[1]["type"], "error");
    assert_eq!(lines[1]["exit_code"], 5);
}

#[test]
fn trace_names_every_handshake_message_with_its_seed_step() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--trace"]);
    let output = server.client(&pki, &["--trace", "--quiet"]);
    assert_exit(&output, 0);
    let trace = text(&output.stderr);
    for expected in [
        "-> ClientHello",
        "handshake step 1",
        "<- ServerHello",
        "<- EncryptedExtensions",
        "<- Certificate",
        "handshake step 3: the server's certificate",
        "<- CertificateVerify",
        "<- Finished",
        "-> Finished",
        "handshake step 6",
        "-> application data (22 bytes): data transfer phase",
        "<- NewSessionTicket",
        "<- alert close_notify",
    ] {
        assert!(
            trace.contains(expected),
            "missing {expected:?} in:\n{trace}"
        );
    }
    server.proc.wait_stderr("<- ClientHello");
    server.proc.wait_stderr("-> ServerHello");

    let tls12 = server.client(&pki, &["--trace", "--quiet", "--tls1.2"]);
    let trace = text(&tls12.stderr);
    for expected in [
        "<- ServerKeyExchange",
        "-> ClientKeyExchange",
        "-> ChangeCipherSpec",
    ] {
        assert!(
            trace.contains(expected),
            "missing {expected:?} in:\n{trace}"
        );
    }

    let json = server.client(&pki, &["--trace", "--json"]);
    let events = json_lines(&json.stdout);
    let first = &events[0];
    assert_eq!(first["type"], "trace");
    assert_eq!(first["direction"], "sent");
    assert_eq!(first["record"], "handshake");
    assert_eq!(first["message"], "ClientHello");
    assert!(first["bytes"].as_u64().unwrap() > 100);
    assert!(
        first["step"]
            .as_str()
            .unwrap()
            .starts_with("handshake step 1")
    );
    assert_eq!(events.last().unwrap()["type"], "connection");
}

#[test]
fn expectations_exit_7_with_expected_and_got() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--alpn", "h2"]);
    let ok = server.client(
        &pki,
        &[
            "--expect-version",
            "1.3",
            "--expect-cipher",
            "TLS_AES_128_GCM_SHA256",
            "--expect-group",
            "x25519",
            "--alpn",
            "h2",
            "--expect-alpn",
            "h2",
        ],
    );
    assert_exit(&ok, 0);
    for (flags, message) in [
        (
            &["--expect-version", "1.2"][..],
            "expected version TLSv1.2, got TLSv1.3",
        ),
        (
            &["--expect-cipher", "TLS_AES_256_GCM_SHA384"],
            "expected cipher TLS_AES_256_GCM_SHA384, got TLS_AES_128_GCM_SHA256",
        ),
        (
            &["--expect-group", "P-256"],
            "expected group P-256, got X25519",
        ),
        (
            &["--expect-alpn", "h2"],
            "expected ALPN protocol h2, got none",
        ),
    ] {
        let output = server.client(&pki, &[flags, &["--quiet"]].concat());
        assert_exit(&output, 7);
        assert!(
            text(&output.stderr).contains(message),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn version_json_lists_what_the_linked_openssl_supports() {
    let output = run(tlscat().args(["version", "--json"]));
    assert_exit(&output, 0);
    let version: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(version["tlscat"], env!("CARGO_PKG_VERSION"));
    assert!(
        version["openssl_build"]
            .as_str()
            .unwrap()
            .starts_with("OpenSSL ")
    );
    assert_eq!(version["openssl_runtime"], openssl::version::version());
    let supports = &version["supports"];
    let list = |key: &str| -> Vec<String> {
        supports[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(list("versions").contains(&"TLSv1.3".to_string()));
    assert!(list("versions").contains(&"TLSv1.2".to_string()));
    assert!(list("groups").contains(&"X25519".to_string()));
    assert!(
        !list("groups").contains(&"MLKEM512".to_string())
            || openssl::version::number() >= 0x3050_0000
    );
    assert!(list("tls13_suites").contains(&"TLS_AES_128_GCM_SHA256".to_string()));
    assert!(list("tls12_ciphers").contains(&"ECDHE-RSA-AES128-GCM-SHA256".to_string()));
    assert!(list("sigalgs").contains(&"ed25519".to_string()));
    assert_eq!(
        supports["group_names"],
        openssl::version::number() >= 0x3000_0000
    );
    assert_eq!(supports["key_logging"], true);

    let text_version = run(tlscat().arg("version"));
    assert!(text(&text_version.stdout).contains("TLS versions:"));
}

#[test]
fn keylog_files_are_private_and_sslkeylogfile_is_honoured() {
    let pki = Pki::ecdsa();
    let server_log = pki.path("server-keys.log");
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0"])
        .args(pki.server_args())
        .env("SSLKEYLOGFILE", &server_log);
    let server = Server::start_with(&mut command);
    server.proc.wait_stderr("writing TLS secrets to");

    let client_log = pki.path("client-keys.log");
    let output = server.client(&pki, &["--keylog", &arg(&client_log), "--tls1.2"]);
    assert_exit(&output, 0);
    assert!(text(&output.stderr).contains("anyone who can read it can decrypt"));
    let output = server.client(&pki, &["--keylog", &arg(&client_log)]);
    assert_exit(&output, 0);

    let client = std::fs::read_to_string(&client_log).unwrap();
    assert!(
        client.lines().any(|l| l.starts_with("CLIENT_RANDOM ")),
        "TLS 1.2: {client}"
    );
    assert!(
        client
            .lines()
            .any(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 ")),
        "{client}"
    );
    assert_eq!(
        std::fs::metadata(&client_log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    server
        .proc
        .wait_stdout("two exchanges", |l| l.starts_with("Received"));
    let server_keys = std::fs::read_to_string(&server_log).unwrap();
    assert!(
        server_keys.contains("SERVER_HANDSHAKE_TRAFFIC_SECRET "),
        "{server_keys}"
    );
}

#[test]
fn a_capture_decrypts_with_the_key_log_and_not_without() {
    require("tshark", "tshark");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.pcapng");
    let keylog = dir.path().join("keys.log");
    // Probes to a UDP port nobody listens on show when the capture really runs: it starts
    // some time after tshark says so, and has seen everything once a later probe shows.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let probe_port = closed_port();
    let mut tshark = Proc::spawn(
        "tshark",
        Command::new("tshark")
            .args(["-i", "lo", "-P", "-l"])
            .args([
                "-f",
                &format!("tcp port {} or udp port {probe_port}", server.port()),
            ])
            .arg("-w")
            .arg(&capture),
    );
    let captured = |tshark: &Proc, nth: usize| {
        for _ in 0..300 {
            let _ = probe.send_to(b"probe", ("127.0.0.1", probe_port));
            let seen = tshark
                .stdout()
                .lines()
                .filter(|l| l.contains("UDP"))
                .count();
            if seen >= nth {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("tshark captured no probe.\n{}", tshark.stderr());
    };
    captured(&tshark, 1);

    let secret = "the-plaintext-only-the-key-log-reveals";
    let output = server.client(&pki, &["--message", secret, "--keylog", &arg(&keylog)]);
    assert_exit(&output, 0);
    let before = tshark
        .stdout()
        .lines()
        .filter(|l| l.contains("UDP"))
        .count();
    captured(&tshark, before + 1);
    tshark.signal("INT");
    tshark.wait_exit(WAIT);

    let raw = std::fs::read(&capture).unwrap();
    assert!(
        !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the capture itself is encrypted"
    );
    let follow = |with_keys: bool| {
        let mut command = Command::new("tshark");
        command
            .arg("-r")
            .arg(&capture)
            .args(["-d", &format!("tcp.port=={},tls", server.port())]);
        if with_keys {
            command.args(["-o", &format!("tls.keylog_file:{}", arg(&keylog))]);
        }
        command.args(["-q", "-z", "follow,tls,ascii,0"]);
        let output = run(&mut command);
        assert_exit(&output, 0);
        text(&output.stdout)
    };
    let decrypted = follow(true);
    assert!(
        decrypted.contains(secret),
        "decrypted with the key log:\n{decrypted}"
    );
    assert!(decrypted.contains("Hello from the server!"), "{decrypted}");
    assert!(
        !follow(false).contains(secret),
        "without the key log, nothing is readable"
    );
}
