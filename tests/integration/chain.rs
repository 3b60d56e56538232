//! The chain as sent: what the peer sent (in its order) apart from what verified, as PEM
//! with --showcerts, its mistakes diagnosed on the side that can fix them; and the
//! certificate fields monitoring reads (RFC 3339 dates, days left, key, serial, SCTs).

use std::process::{Command, Output};

use crate::common::*;

/// `tlscat server` with `cert` (a file of `ca`) and the server key.
fn serve(ca: &OpensslCa, cert: &str, extra: &[&str]) -> Server {
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(ca.path(cert))
        .arg("--key")
        .arg(ca.path("server.key"))
        .args(extra);
    Server::start_with(&mut command)
}

/// `tlscat client` trusting only `ca`'s root.
fn client(server: &Server, ca: &OpensslCa, extra: &[&str]) -> Output {
    run(tlscat()
        .args(["client", "--connect", &server.target(), "--cacert"])
        .arg(ca.path("root.crt"))
        .args(extra))
}

fn subjects(chain: &serde_json::Value) -> Vec<String> {
    chain
        .as_array()
        .expect("a chain")
        .iter()
        .map(|c| c["subject"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_server_that_forgets_its_intermediate_is_told_to_send_it() {
    let ca = OpensslCa::new();
    let inter = ca.intermediate_subject();
    let forgetful = serve(&ca, "server.crt", &[]);
    let output = client(&forgetful, &ca, &["--json"]);
    assert_exit(&output, 5);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "the server sent CN=localhost, issued by {inter}, but not the certificate of {inter}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "if {inter} is an intermediate CA, the server must send it after its own certificate"
        )),
        "{stderr}"
    );
    // The report of the failed handshake still shows what was sent.
    let report = &connections(&output.stdout)[0];
    assert_eq!(subjects(&report["peer_chain"]), ["CN=localhost"]);
    assert!(report.get("verified_chain").is_none(), "{report}");

    let fixed = serve(&ca, "server-chain.crt", &[]);
    let output = client(&fixed, &ca, &["--json"]);
    assert_exit(&output, 0);
    let report = &connections(&output.stdout)[0];
    assert_eq!(
        subjects(&report["peer_chain"]),
        ["CN=localhost".to_string(), inter.clone()],
        "peer_chain is what the server sent, without the trust anchor"
    );
    assert_eq!(
        subjects(&report["verified_chain"]),
        ["CN=localhost".to_string(), inter, ca.root_subject()]
    );
    let output = client(&fixed, &ca, &[]);
    assert_exit(&output, 0);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("anchor     {}", ca.root_subject())),
        "{stderr}"
    );
}

#[test]
fn a_client_that_forgets_its_intermediate_is_told_so_by_the_server() {
    let ca = OpensslCa::new();
    let inter = ca.intermediate_subject();
    let server = serve(
        &ca,
        "server-chain.crt",
        &["--client-ca", &arg(&ca.path("root.crt")), "--json"],
    );
    let connect = |cert: &str| {
        client(
            &server,
            &ca,
            &[
                "--cert",
                &arg(&ca.path(cert)),
                "--key",
                &arg(&ca.path("client.key")),
            ],
        )
    };
    let output = connect("client.crt");
    assert_exit(&output, 5);
    let log = server.proc.wait_stderr("the client must send it");
    // The server's report shows what the client sent.
    let report = &server.proc.wait_json("connection", 1)[0];
    assert_eq!(
        subjects(&report["peer_chain"]),
        ["CN=tlscat client"],
        "{report}"
    );
    assert!(
        log.contains(&format!(
            "the client sent CN=tlscat client, issued by {inter}, but not the certificate of {inter}"
        )),
        "{log}"
    );
    assert!(
        log.contains("(tlscat client: in the --cert file, after the certificate)"),
        "{log}"
    );
    assert!(
        log.contains(&format!("--client-ca {}", ca.path("root.crt").display())),
        "{log}"
    );

    assert_exit(&connect("client-chain.crt"), 0);
}

#[test]
fn a_chain_out_of_order_is_named_by_both_sides() {
    let ca = OpensslCa::new();
    let read = |name: &str| std::fs::read_to_string(ca.path(name)).unwrap();
    // The leaf, then the root, then the intermediate: each certificate should be
    // followed by its issuer.
    std::fs::write(
        ca.path("disordered.crt"),
        format!(
            "{}{}{}",
            read("server.crt"),
            read("root.crt"),
            read("inter.crt")
        ),
    )
    .unwrap();
    let server = serve(&ca, "disordered.crt", &[]);
    let warning = server.proc.wait_stderr("the chain is out of order");
    assert!(
        warning.contains("put each certificate before its issuer"),
        "{warning}"
    );

    // OpenSSL copes with the disorder; the report names it all the same.
    let output = client(&server, &ca, &["--json"]);
    assert_exit(&output, 0);
    let report = &connections(&output.stdout)[0];
    let problem = report["chain_problem"].as_str().unwrap();
    assert!(
        problem.starts_with(&format!(
            "out of order: [0] CN=localhost is followed by {}, not by its issuer {}",
            ca.root_subject(),
            ca.intermediate_subject()
        )),
        "{problem}"
    );
    let output = client(&server, &ca, &[]);
    assert!(
        text(&output.stderr).contains("chain      sent out of order"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_server_that_sends_another_certificate_first_is_told_the_order() {
    // A server configured with its CA's certificate (and key) first serves the CA's
    // certificate: the client finds its own certificate for the name later in the chain.
    let ca = OpensslCa::new();
    let read = |name: &str| std::fs::read_to_string(ca.path(name)).unwrap();
    std::fs::write(
        ca.path("inter-first.crt"),
        format!("{}{}", read("inter.crt"), read("server.crt")),
    )
    .unwrap();
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(ca.path("inter-first.crt"))
        .arg("--key")
        .arg(ca.path("inter.key"));
    let server = Server::start_with(&mut command);
    let output = client(&server, &ca, &[]);
    assert_exit(&output, 5);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "the server sent its certificates in the wrong order: the first is {}",
            ca.intermediate_subject()
        )) && stderr.contains("its own for 127.0.0.1 (CN=localhost) comes later"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the server must send its own certificate first"),
        "{stderr}"
    );
}

#[test]
fn showcerts_prints_the_sent_chain_as_pem_for_openssl_x509() {
    let ca = OpensslCa::new();
    let server = serve(&ca, "server-chain.crt", &[]);
    let output = client(&server, &ca, &["--showcerts", "--quiet"]);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let pem: String = stdout
        .lines()
        .filter(|l| !l.starts_with("Response from server:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        pem,
        std::fs::read_to_string(ca.path("server-chain.crt")).unwrap(),
        "the certificates the server sent, in its order, as PEM"
    );
    // As s_client -showcerts output is used: piped into openssl x509.
    let x509 = run_with_input(
        Command::new("openssl").args(["x509", "-noout", "-subject"]),
        stdout.as_bytes(),
    );
    assert_exit(&x509, 0);
    assert!(
        text(&x509.stdout).contains("CN = localhost")
            || text(&x509.stdout).contains("CN=localhost"),
        "{}",
        text(&x509.stdout)
    );

    // In JSON, each entry of peer_chain carries its PEM.
    let output = client(&server, &ca, &["--showcerts", "--json"]);
    assert_exit(&output, 0);
    let report = &connections(&output.stdout)[0];
    let chain = report["peer_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(
        chain[1]["pem"].as_str().unwrap(),
        std::fs::read_to_string(ca.path("inter.crt")).unwrap()
    );
    // Without --showcerts, no PEM.
    let output = client(&server, &ca, &["--json"]);
    assert!(
        connections(&output.stdout)[0]["peer_chain"][0]
            .get("pem")
            .is_none()
    );
}

#[test]
fn certificate_fields_are_what_monitoring_needs() {
    let ca = OpensslCa::new();
    ca.issue("sct", "/CN=localhost", "server_cert_with_scts");
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(ca.path("sct-chain.crt"))
        .arg("--key")
        .arg(ca.path("sct.key"));
    let server = Server::start_with(&mut command);
    let output = client(&server, &ca, &["--json"]);
    assert_exit(&output, 0);
    let report = &connections(&output.stdout)[0];
    let leaf = &report["peer_chain"][0];

    let date = |value: &serde_json::Value| {
        let date = value.as_str().unwrap().to_string();
        let bytes = date.as_bytes();
        assert_eq!(bytes.len(), 20, "{date}");
        assert!(
            bytes[4] == b'-' && bytes[10] == b'T' && bytes[19] == b'Z',
            "RFC 3339: {date}"
        );
        date
    };
    // As openssl prints them, turned into RFC 3339 by date(1).
    let openssl_date = |flag: &str| {
        let printed = run(Command::new("openssl")
            .args(["x509", "-noout", flag, "-in"])
            .arg(ca.path("sct.crt")));
        let value = text(&printed.stdout)
            .trim()
            .split_once('=')
            .unwrap()
            .1
            .to_string();
        let converted = run(Command::new("date").args(["-u", "-d", &value, "+%Y-%m-%dT%H:%M:%SZ"]));
        text(&converted.stdout).trim().to_string()
    };
    assert_eq!(date(&leaf["not_before"]), openssl_date("-startdate"));
    assert_eq!(date(&leaf["not_after"]), openssl_date("-enddate"));
    let days = leaf["days_left"].as_i64().unwrap();
    assert!((29..=30).contains(&days), "issued for 30 days: {days}");
    assert_eq!(leaf["key_type"], "EC P-256");
    assert_eq!(leaf["key_bits"], 256);
    assert_eq!(leaf["signature_algorithm"], "ecdsa-with-SHA256");
    assert_eq!(leaf["sct_count"], 2, "the two SCTs embedded at issue");
    assert_eq!(report["peer_chain"][1]["sct_count"], 0);
    let serial = run(Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(ca.path("sct.crt")));
    assert_eq!(
        format!("serial={}", leaf["serial"].as_str().unwrap()),
        text(&serial.stdout).trim()
    );
}

#[test]
fn expect_days_left_fails_with_exit_7_when_a_certificate_expires_sooner() {
    let ca = OpensslCa::new();
    let server = serve(&ca, "server-chain.crt", &[]);
    assert_exit(&client(&server, &ca, &["--expect-days-left", "7"]), 0);

    let output = client(&server, &ca, &["--expect-days-left", "60"]);
    assert_exit(&output, 7);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("expected days left at least 60, got 29 (CN=localhost expires ")
            || stderr.contains("expected days left at least 60, got 30 (CN=localhost expires "),
        "{stderr}"
    );
    // The trust anchor counts too: the whole chain must outlive the threshold.
    let output = client(&server, &ca, &["--expect-days-left", "4000", "--json"]);
    assert_exit(&output, 7);
    let error = json_lines(&output.stdout)
        .into_iter()
        .find(|l| l["type"] == "error")
        .unwrap();
    assert_eq!(error["exit_code"], 7);
}
