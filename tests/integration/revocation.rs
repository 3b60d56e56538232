//! Revocation: CRLs made by `openssl ca -gencrl` on both sides (`--crl`, `--crl-check`),
//! OCSP responses made by `openssl ocsp` stapled by the server (`--ocsp-response`) and
//! checked by the client (`--status`, `--expect-ocsp good`), against s_server/s_client.

use std::process::{Command, Output};

use crate::common::*;

/// `tlscat server` with the chain of leaf `stem` and `extra` flags.
fn serve(ca: &OpensslCa, stem: &str, extra: &[&str]) -> Server {
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(ca.path(&format!("{stem}-chain.crt")))
        .arg("--key")
        .arg(ca.path(&format!("{stem}.key")))
        .args(extra);
    Server::start_with(&mut command)
}

/// `tlscat client` trusting `ca`'s root, with `extra` flags.
fn client(target: &str, ca: &OpensslCa, extra: &[&str]) -> Output {
    run(tlscat()
        .args(["client", "--connect", target, "--servername", "localhost"])
        .arg("--cacert")
        .arg(ca.path("root.crt"))
        .args(extra))
}

/// Client certificate flags for leaf `stem` (sent with its intermediate).
fn identity(ca: &OpensslCa, stem: &str) -> Vec<String> {
    vec![
        "--cert".into(),
        arg(&ca.path(&format!("{stem}-chain.crt"))),
        "--key".into(),
        arg(&ca.path(&format!("{stem}.key"))),
    ]
}

fn strings(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `openssl s_server` with the chain of leaf `stem` and `extra` flags; its address.
fn s_server(ca: &OpensslCa, stem: &str, extra: &[&str]) -> (Proc, String) {
    require("openssl", "openssl");
    let proc = Proc::spawn(
        "openssl s_server",
        Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-www"])
            .args(["-cert", &arg(&ca.path(&format!("{stem}.crt")))])
            .args(["-key", &arg(&ca.path(&format!("{stem}.key")))])
            .args(["-cert_chain", &arg(&ca.path("inter.crt"))])
            .args(extra),
    );
    let accept = proc.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    let target = accept.trim_start_matches("ACCEPT ").to_string();
    (proc, target)
}

#[test]
fn the_server_refuses_a_client_certificate_its_crl_lists() {
    let ca = OpensslCa::new();
    ca.issue("gone", "/CN=gone client", "client_cert");
    ca.revoke("gone");
    let crl = ca.crl(Level::Intermediate, "inter.crl", 24);
    let server = serve(
        &ca,
        "server",
        &[
            "--client-ca",
            &arg(&ca.path("root.crt")),
            "--crl",
            &arg(&crl),
        ],
    );
    let good = client(&server.target(), &ca, &strings(&identity(&ca, "client")));
    assert_exit(&good, 0);

    let revoked = client(&server.target(), &ca, &strings(&identity(&ca, "gone")));
    assert_exit(&revoked, 5);
    let stderr = text(&revoked.stderr);
    assert!(
        stderr
            .contains("the server rejected our certificate as revoked (certificate_revoked alert)"),
        "{stderr}"
    );
    assert!(stderr.contains("get a new one from its CA"), "{stderr}");
    let log = server.proc.wait_stderr("certificate revoked: ");
    assert!(
        log.contains(&format!(
            "certificate revoked: CN=gone client (serial {}) is on the CRL of {}",
            serial_of(&ca, "gone"),
            ca.intermediate_subject()
        )),
        "{log}"
    );
    assert!(log.contains("the client needs a new certificate"), "{log}");
}

#[test]
fn crl_check_chain_needs_the_crl_of_every_ca() {
    let ca = OpensslCa::new();
    let inter_crl = ca.crl(Level::Intermediate, "inter.crl", 24);
    let root_crl = ca.crl(Level::Root, "root.crl", 24);
    let start = |crls: &[&std::path::Path]| {
        let mut args = vec![
            "--client-ca".to_string(),
            arg(&ca.path("root.crt")),
            "--crl-check".into(),
            "chain".into(),
        ];
        for crl in crls {
            args.extend(["--crl".to_string(), arg(crl)]);
        }
        serve(&ca, "server", &strings(&args))
    };
    let leaf_only = start(&[&inter_crl]);
    let output = client(&leaf_only.target(), &ca, &strings(&identity(&ca, "client")));
    assert_exit(&output, 5);
    let log = leaf_only.proc.wait_stderr("was given");
    assert!(
        log.contains(&format!(
            "no CRL of {}, which issued {}, was given",
            ca.root_subject(),
            ca.intermediate_subject()
        )),
        "{log}"
    );
    assert!(log.contains("--crl-check leaf"), "{log}");

    let both = start(&[&inter_crl, &root_crl]);
    let output = client(&both.target(), &ca, &strings(&identity(&ca, "client")));
    assert_exit(&output, 0);
}

#[test]
fn the_client_refuses_a_server_its_crl_lists_against_s_server() {
    let ca = OpensslCa::new();
    ca.issue("gone", "/CN=localhost", "server_cert");
    ca.revoke("gone");
    let crl = ca.crl(Level::Intermediate, "inter.crl", 24);
    let (_good_server, good) = s_server(&ca, "server", &[]);
    let output = client(
        &good,
        &ca,
        &["--crl", &arg(&crl), "--message", "GET / HTTP/1.0\r\n\r\n"],
    );
    assert_exit(&output, 0);

    let (_revoked_server, revoked) = s_server(&ca, "gone", &[]);
    let output = client(&revoked, &ca, &["--crl", &arg(&crl)]);
    assert_exit(&output, 5);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "certificate revoked: CN=localhost (serial {}) is on the CRL of {}",
            serial_of(&ca, "gone"),
            ca.intermediate_subject()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("the server needs a new certificate from its CA"),
        "{stderr}"
    );
    // Without the CRL, the same server is accepted: the check is the CRL's.
    assert_exit(
        &client(&revoked, &ca, &["--message", "GET / HTTP/1.0\r\n\r\n"]),
        0,
    );
}

#[test]
fn a_file_that_is_not_a_crl_or_an_ocsp_response_is_refused_at_start() {
    let ca = OpensslCa::new();
    let output = run(tlscat()
        .args(["client", "--cacert"])
        .arg(ca.path("root.crt"))
        .arg("--crl")
        .arg(ca.path("inter.crt")));
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("holds no certificate revocation list")
            && stderr.contains("openssl ca -gencrl"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A response about another certificate is not stapled to this one.
    ca.issue("other", "/CN=other.example", "server_cert");
    let other = ca.ocsp_response("other");
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(ca.path("server-chain.crt"))
        .arg("--key")
        .arg(ca.path("server.key"))
        .arg("--ocsp-response")
        .arg(&other));
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("answers for another certificate, not CN=localhost"),
        "{stderr}"
    );
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(ca.path("server-chain.crt"))
        .arg("--key")
        .arg(ca.path("server.key"))
        .arg("--ocsp-response")
        .arg(ca.path("server.crt")));
    assert_exit(&output, 2);
    assert!(
        text(&output.stderr).contains("is not a DER OCSP response"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_server_staples_its_ocsp_response_for_tlscat_and_s_client() {
    let ca = OpensslCa::new();
    let response = ca.ocsp_response("server");
    let server = serve(&ca, "server", &["--ocsp-response", &arg(&response)]);

    let output = client(&server.target(), &ca, &["--status", "--json"]);
    assert_exit(&output, 0);
    let ocsp = &connections(&output.stdout)[0]["ocsp"];
    assert_eq!(ocsp["status"], "good", "{ocsp}");
    assert_eq!(ocsp["verified"], true, "{ocsp}");
    assert!(
        ocsp["this_update"].as_str().unwrap().ends_with('Z'),
        "{ocsp}"
    );
    assert!(
        ocsp["next_update"].as_str().unwrap().ends_with('Z'),
        "{ocsp}"
    );
    assert_exit(
        &client(&server.target(), &ca, &["--expect-ocsp", "good"]),
        0,
    );
    let output = client(&server.target(), &ca, &["--status"]);
    assert!(
        text(&output.stderr).contains("ocsp       good (verified; this update "),
        "{}",
        text(&output.stderr)
    );

    // The reference client sees the same staple.
    let s_client = run_with_input(
        Command::new("openssl")
            .args(["s_client", "-connect", &server.target(), "-status"])
            .args([
                "-servername",
                "localhost",
                "-CAfile",
                &arg(&ca.path("root.crt")),
            ]),
        b"",
    );
    let stdout = text(&s_client.stdout);
    assert!(
        stdout.contains("OCSP Response Status: successful"),
        "{stdout}"
    );
    assert!(stdout.contains("Cert Status: good"), "{stdout}");

    // A server without a staple fails --expect-ocsp with exit 7.
    let bare = serve(&ca, "server", &[]);
    let output = client(&bare.target(), &ca, &["--expect-ocsp", "good"]);
    assert_exit(&output, 7);
    assert!(
        text(&output.stderr).contains("expected OCSP status good, got no response stapled"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_revoked_staple_fails_the_client_with_exit_5_and_a_reload_refreshes_it() {
    let ca = OpensslCa::new();
    let response = ca.ocsp_response("server");
    let stapled = ca.path("stapled.ocsp");
    std::fs::copy(&response, &stapled).unwrap();
    let server = serve(&ca, "server", &["--ocsp-response", &arg(&stapled)]);
    assert_exit(&client(&server.target(), &ca, &["--status"]), 0);

    // The CA revokes the certificate; the new response goes in place; SIGHUP reloads.
    ca.revoke("server");
    std::fs::copy(ca.ocsp_response("server"), &stapled).unwrap();
    server.proc.signal("HUP");
    server
        .proc
        .wait_stderr("clients that check it will refuse the connection");
    server.proc.wait_stderr("reloaded");
    let output = client(&server.target(), &ca, &["--status"]);
    assert_exit(&output, 5);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the server's certificate CN=localhost is revoked: its stapled OCSP response says so (revoked (verified; revoked at "),
        "{stderr}"
    );
    assert!(stderr.contains("keyCompromise"), "{stderr}");
    // Without --status nothing is asked, and the staple is not checked.
    assert_exit(&client(&server.target(), &ca, &[]), 0);
}

#[test]
fn the_client_reads_the_staple_of_openssl_s_server() {
    let ca = OpensslCa::new();
    let response = ca.ocsp_response("server");
    let (_s_server, target) = s_server(&ca, "server", &["-status_file", &arg(&response)]);
    let output = client(
        &target,
        &ca,
        &[
            "--expect-ocsp",
            "good",
            "--json",
            "--message",
            "GET / HTTP/1.0\r\n\r\n",
        ],
    );
    assert_exit(&output, 0);
    let ocsp = &connections(&output.stdout)[0]["ocsp"];
    assert_eq!(ocsp["status"], "good", "{ocsp}");
    assert_eq!(ocsp["verified"], true, "{ocsp}");
}

/// The serial of leaf `stem` as `openssl x509 -serial` prints it.
fn serial_of(ca: &OpensslCa, stem: &str) -> String {
    let output = run(Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(ca.path(&format!("{stem}.crt"))));
    text(&output.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string()
}
