//! Rejections: each with its exit code and a message that says what to do.

use std::process::Command;

use crate::common::*;

#[test]
fn client_rejects_server_signed_by_an_unknown_ca_and_says_to_pass_cacert() {
    let pki = Pki::ecdsa();
    let other = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&other, &[]);
    assert_exit(&output, 5);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("tlscat: certificate rejected: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("unable to get local issuer certificate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("if it is a root CA, pass it with --cacert FILE"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(output.stdout.is_empty());
    server
        .proc
        .wait_stderr("the client rejected our certificate");
}

#[test]
fn client_rejects_server_with_wrong_hostname_and_lists_the_certificate_names() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&pki, &["--servername", "wrong.example"]);
    assert_exit(&output, 5);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("hostname mismatch"), "{stderr}");
    assert!(
        stderr.contains("DNS:localhost, IP:127.0.0.1, IP:::1"),
        "{stderr}"
    );
    assert!(stderr.contains("wrong.example"), "{stderr}");
    assert!(stderr.contains("--servername localhost"), "{stderr}");
}

#[test]
fn client_checks_ip_addresses_against_ip_sans() {
    let pki = Pki::ecdsa();
    let (crt, key) = pki.issue_server_cert("dns-only", &["DNS:localhost"], -60, 86_400);
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&crt)
        .arg("--key")
        .arg(&key);
    let server = Server::start_with(&mut command);
    let by_ip = server.client(&pki, &[]);
    assert_exit(&by_ip, 5);
    assert!(
        text(&by_ip.stderr).contains("you connected to 127.0.0.1"),
        "{}",
        text(&by_ip.stderr)
    );
    let by_name = server.client(&pki, &["--servername", "localhost"]);
    assert_exit(&by_name, 0);
}

#[test]
fn client_rejects_an_expired_server_certificate() {
    let pki = Pki::ecdsa();
    let (crt, key) = pki.issue_server_cert(
        "expired",
        &["DNS:localhost", "IP:127.0.0.1"],
        -3 * 86_400,
        -86_400,
    );
    let mut command = tlscat();
    command
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--allow-expired",
            "--cert",
        ])
        .arg(&crt)
        .arg("--key")
        .arg(&key);
    let server = Server::start_with(&mut command);
    server.proc.wait_stderr("EXPIRED");
    let output = server.client(&pki, &[]);
    assert_exit(&output, 5);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("CN=localhost expired on"), "{stderr}");
    assert!(stderr.contains("renew"), "{stderr}");
}

#[test]
fn server_refuses_to_start_with_an_expired_certificate_unless_allowed() {
    let pki = Pki::ecdsa();
    let (crt, key) = pki.issue_server_cert("expired", &["DNS:localhost"], -3 * 86_400, -86_400);
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&crt)
        .arg("--key")
        .arg(&key));
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("expired.crt expired on"), "{stderr}");
    assert!(stderr.contains("--allow-expired"), "{stderr}");
}

#[test]
fn insecure_client_accepts_an_untrusted_server_and_warns() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = run(tlscat()
        .args(["client", "--connect", &server.target()])
        .args(["--insecure", "--servername", "wrong.example"]));
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
    assert!(
        text(&output.stderr).contains("--insecure: the server's certificate is NOT verified"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn tls_1_1_only_client_is_refused_and_the_server_keeps_serving() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let old = run(Command::new("openssl")
        .args(["s_client", "-connect", &server.target(), "-tls1_1"])
        .args(["-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", &arg(&pki.ca())]));
    assert!(!old.status.success(), "s_client -tls1_1 must fail");
    server
        .proc
        .wait_stderr("no TLS version in common with the client");
    let output = server.client(&pki, &[]);
    assert_exit(&output, 0);
}

#[test]
fn client_exits_4_against_a_tls_1_1_only_server() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let s_server = Proc::spawn(
        "openssl s_server",
        Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-naccept", "1"])
            .args(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            .args(["-cert", &arg(&pki.path("server.crt"))])
            .args(["-key", &arg(&pki.path("server.key"))]),
    );
    let accept = s_server.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    let output = run(tlscat()
        .args(["client", "--connect", accept.trim_start_matches("ACCEPT ")])
        .arg("--cacert")
        .arg(pki.ca()));
    assert_exit(&output, 4);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("TLS handshake failed"), "{stderr}");
    assert!(stderr.contains("no TLS version in common"), "{stderr}");
}

#[test]
fn the_version_hint_names_the_versions_really_configured_on_each_side() {
    let pki = Pki::ecdsa();
    let modern = Server::start(&pki, &["--profile", "modern"]);
    let output = modern.client(&pki, &["--max-tls", "1.2"]);
    assert_exit(&output, 4);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("tlscat allows only TLS 1.2 (--max-tls 1.2) here; the server wants others"),
        "{stderr}"
    );
    assert!(!stderr.contains("1.2 and 1.3"), "{stderr}");
    modern
        .proc
        .wait_stderr("tlscat allows only TLS 1.3 (--profile modern) here; the client wants others");

    let old = modern.client(&pki, &["--min-tls", "1.0", "--max-tls", "1.1"]);
    assert_exit(&old, 4);
    assert!(
        text(&old.stderr).contains("tlscat allows TLS 1.0 to 1.1 (--min-tls 1.0 --max-tls 1.1)"),
        "{}",
        text(&old.stderr)
    );
}

#[test]
fn the_cipher_hint_names_the_configured_profile_or_list() {
    let pki = Pki::ecdsa();
    // An RSA-only suite against an ECDSA certificate: nothing in common.
    let rsa_only = ["--tls1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"];
    let system = Server::start(&pki, &["--profile", "system"]);
    assert_exit(&system.client(&pki, &rsa_only), 4);
    let log = system
        .proc
        .wait_stderr("no cipher suite or key exchange group in common");
    assert!(
        log.contains(
            "tlscat offers OpenSSL's default suites (--profile system), OpenSSL's default groups"
        ),
        "{log}"
    );
    assert!(!log.contains("Mozilla"), "{log}");

    let listed = Server::start(&pki, &["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]);
    assert_exit(
        &listed.client(
            &pki,
            &["--tls1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"],
        ),
        4,
    );
    listed.proc.wait_stderr(
        "tlscat offers the TLS 1.2 suites of --ciphers ECDHE-ECDSA-AES256-GCM-SHA384, groups X25519, P-256, P-384",
    );
}

#[test]
fn a_failed_handshake_reports_the_sni_sent_and_no_handshake_time() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&Pki::ecdsa(), &["--servername", "localhost", "--json"]);
    assert_exit(&output, 5);
    let report = &connections(&output.stdout)[0];
    assert_eq!(report["sni"], "localhost", "{report}");
    assert!(report["timings_ms"]["handshake"].is_null(), "{report}");
    assert!(
        report["timings_ms"]["connect"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(report["timings_ms"]["first_byte"].is_null(), "{report}");
    assert!(report["version"].is_null(), "{report}");
}
