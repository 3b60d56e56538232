//! What a newcomer meets first: curl against the default server (an HTTP answer, and a
//! 400 for plain HTTP), the default client against servers that keep the connection open,
//! bare-LF request heads, the report's wording, and `tlscat version`.

use std::process::Command;

use crate::common::*;

fn curl(pki: &Pki, url: &str, extra: &[&str]) -> std::process::Output {
    require("curl", "curl");
    run(Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .arg("--cacert")
        .arg(pki.ca())
        .args(extra)
        .arg(url))
}

#[test]
fn curl_gets_the_reply_as_an_http_response_from_the_default_server() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let url = format!("https://localhost:{}/", server.port());
    let output = curl(&pki, &url, &["--include"]);
    assert_exit(&output, 0);
    let response = text(&output.stdout);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Content-Length: 23\r\n"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nHello from the server!\n"),
        "{response}"
    );
    server.proc.wait_stdout("the request line", |l| {
        l.starts_with("Received: GET / HTTP/1.1")
    });

    let head = curl(&pki, &url, &["--head"]);
    assert_exit(&head, 0);
    let head = text(&head.stdout);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        !head.contains("Hello from the server!"),
        "HEAD has no body: {head}"
    );
}

#[test]
fn a_reply_that_is_already_an_http_response_goes_out_as_is() {
    let pki = Pki::ecdsa();
    let reply = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    let server = Server::start(&pki, &["--reply", reply]);
    let url = format!("https://localhost:{}/", server.port());
    let output = curl(
        &pki,
        &url,
        &["--write-out", "%{http_code}", "--output", "/dev/null"],
    );
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "204");
}

#[test]
fn other_messages_still_get_the_bare_reply() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = server.client(&pki, &["--message", "GET is a word, not a request"]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the server!\n"
    );
}

#[test]
fn plain_http_on_the_tls_port_gets_a_400_saying_use_https() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let url = format!("http://localhost:{}/", server.port());
    let output = curl(&pki, &url, &["--write-out", "\n%{http_code}"]);
    assert_exit(&output, 0);
    let body = text(&output.stdout);
    assert!(body.ends_with("\n400"), "{body}");
    assert!(body.contains("use https:// instead of http://"), "{body}");
    server
        .proc
        .wait_stderr("the client sent a plain HTTP request to the TLS port");
    // The server goes on serving.
    assert_exit(&server.client(&pki, &[]), 0);
}

#[test]
fn the_default_client_ends_once_an_echo_server_goes_quiet() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "echo"]);
    let output = server.client(&pki, &["--json", "--read-timeout", "60s"]);
    assert_exit(&output, 0);
    let report = &connections(&output.stdout)[0];
    assert_eq!(report["received"], "Hello from the client!", "{report}");
    assert_eq!(report["closed"], "quiet period", "{report}");
    // Our close_notify ends the echo session cleanly on the server's side too.
    server.proc.wait_stderr("closed     close_notify");
}

#[test]
fn the_default_client_ends_once_openssl_s_server_goes_quiet() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let port = closed_port();
    let mut command = Command::new("openssl");
    command
        .args(["s_server", "-rev", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(pki.path("server.crt"))
        .arg("-key")
        .arg(pki.path("server.key"));
    let s_server = Proc::spawn("openssl s_server", &mut command);
    s_server.wait_stdout("ACCEPT", |l| l.contains("ACCEPT"));
    let output = run(tlscat()
        .args(["client", "--connect", &format!("127.0.0.1:{port}")])
        .arg("--cacert")
        .arg(pki.ca())
        .args(["--servername", "localhost", "--quiet-period", "300ms"])
        // -rev answers each line reversed.
        .args(["--message", "Hello from the client!\n"])
        .args(["--json", "--read-timeout", "60s"]));
    assert_exit(&output, 0);
    let report = &connections(&output.stdout)[0];
    assert_eq!(report["received"], "!tneilc eht morf olleH\n", "{report}");
    assert_eq!(report["closed"], "quiet period", "{report}");
}

#[test]
fn inspect_mode_answers_a_request_head_with_bare_line_feeds() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "inspect", "--read-timeout", "60s"]);
    let output = server.client(&pki, &["--message", "GET /json HTTP/1.0\n\n"]);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("Response from server: HTTP/1.1 200 OK\\r\\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\"type\":\"inspect\""), "{stdout}");
}

#[test]
fn the_server_report_says_no_client_certificate_was_requested_without_sounding_like_a_failure() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    assert_exit(&server.client(&pki, &[]), 0);
    server
        .proc
        .wait_stderr("  client certificate: not requested");
    assert!(
        !server.proc.stderr().contains("verified   no"),
        "{}",
        server.proc.stderr()
    );

    let json = Server::start(&pki, &["--json"]);
    assert_exit(&json.client(&pki, &[]), 0);
    let report = &json.proc.wait_json("connection", 1)[0];
    assert_eq!(report["verify_result"], "not requested", "{report}");

    let mutual = Server::start(&pki, &["--client-ca", &arg(&pki.ca())]);
    let output = mutual.client(
        &pki,
        &[
            "--cert",
            &arg(&pki.path("client.crt")),
            "--key",
            &arg(&pki.path("client.key")),
        ],
    );
    assert_exit(&output, 0);
    mutual
        .proc
        .wait_stderr("  client certificate: verified (ok)");
}

#[test]
fn tlscat_version_fits_a_terminal_and_lists_ciphers_when_asked() {
    let output = run(tlscat().arg("version"));
    assert_exit(&output, 0);
    let short = text(&output.stdout);
    for line in short.lines() {
        assert!(
            line.chars().count() <= 88,
            "{} characters: {line}",
            line.len()
        );
    }
    assert!(
        short.contains("(tlscat version --verbose lists them)"),
        "{short}"
    );
    assert!(!short.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{short}");

    let verbose = run(tlscat().args(["version", "--verbose"]));
    assert_exit(&verbose, 0);
    let verbose = text(&verbose.stdout);
    assert!(verbose.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{verbose}");
    for line in verbose.lines() {
        assert!(line.chars().count() <= 88, "{line}");
    }
}
