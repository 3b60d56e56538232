//! The protocol flags: each test fails if its flag stops doing what its name says, and
//! wrong values are usage errors that list what is accepted.

use std::process::{Command, Output};

use crate::common::*;
use serde_json::Value;

/// Runs `tlscat client --json` against `server` and returns its one connection report.
fn report(server: &Server, pki: &Pki, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let output = server.client(pki, &args);
    let report = connections(&output.stdout)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no report: {}", text(&output.stderr)));
    (output, report)
}

fn usage_error(args: &[&str], expected: &str) {
    let output = run(tlscat().args(args));
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn tls_version_flags_pin_the_version_on_either_side() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let (output, r) = report(&server, &pki, &["--tls1.2"]);
    assert_exit(&output, 0);
    assert_eq!(r["version"], "TLSv1.2");
    let (_, r) = report(&server, &pki, &["--min-tls", "1.3"]);
    assert_eq!(r["version"], "TLSv1.3");
    let (_, r) = report(&server, &pki, &["--max-tls", "1.2"]);
    assert_eq!(r["version"], "TLSv1.2");

    let only13 = Server::start(&pki, &["--tls1.3"]);
    let refused = only13.client(&pki, &["--tls1.2"]);
    assert_exit(&refused, 4);
    assert!(text(&refused.stderr).contains("no TLS version in common"));
    only13
        .proc
        .wait_stderr("no TLS version in common with the client");
}

#[test]
fn tls_1_1_works_when_asked_for_with_a_warning_about_the_security_level() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--min-tls", "1.0"]);
    server.proc.wait_stderr("security level 0");
    let output = run_with_input(
        Command::new("openssl")
            .args(["s_client", "-connect", &server.target(), "-tls1_1"])
            .args(["-cipher", "DEFAULT@SECLEVEL=0", "-ign_eof"]),
        b"old\n",
    );
    assert_exit(&output, 0);
    assert!(
        text(&output.stdout).contains("Protocol  : TLSv1.1"),
        "{}",
        text(&output.stdout)
    );
    assert!(text(&output.stdout).contains("Hello from the server!"));

    let s_server = Proc::spawn(
        "openssl s_server",
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-naccept",
                "1",
                "-www",
            ])
            .args(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            .args(["-cert", &arg(&pki.path("server.crt"))])
            .args(["-key", &arg(&pki.path("server.key"))]),
    );
    let accept = s_server.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    let client = run(tlscat()
        .args(["client", "--connect", accept.trim_start_matches("ACCEPT ")])
        .args([
            "--min-tls",
            "1.1",
            "--max-tls",
            "1.1",
            "--expect-version",
            "1.1",
        ])
        .args([
            "--servername",
            "localhost",
            "--message",
            "GET / HTTP/1.0\r\n\r\n",
        ])
        .arg("--cacert")
        .arg(pki.ca()));
    assert_exit(&client, 0);
    assert!(text(&client.stderr).contains("RFC 8996"));
}

#[test]
fn tls_1_0_is_refused_clearly_where_the_openssl_configuration_forbids_it() {
    let pki = Pki::ecdsa();
    let config = pki.path("no-tls1.cnf");
    std::fs::write(
        &config,
        "openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n\
         [ssl_sect]\nsystem_default = defaults\n[defaults]\nProtocol = -TLSv1, -TLSv1.1\n",
    )
    .unwrap();
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--min-tls", "1.0"])
        .args(pki.server_args())
        .env("OPENSSL_CONF", &config));
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("TLS 1.0 is not available in OpenSSL"),
        "{stderr}"
    );
    assert!(stderr.contains("use TLS 1.2 or newer"), "{stderr}");
    let version = run(tlscat()
        .args(["version", "--json"])
        .env("OPENSSL_CONF", &config));
    let versions =
        serde_json::from_slice::<Value>(&version.stdout).unwrap()["supports"]["versions"].clone();
    assert_eq!(versions, serde_json::json!(["TLSv1.2", "TLSv1.3"]));
}

#[test]
fn wrong_protocol_values_are_usage_errors_listing_what_is_accepted() {
    usage_error(&["client", "--min-tls", "1.4"], "use 1.0, 1.1, 1.2 or 1.3");
    usage_error(
        &["client", "--min-tls", "1.3", "--max-tls", "1.2"],
        "--min-tls 1.3 is newer than --max-tls 1.2",
    );
    usage_error(
        &["client", "--profile", "modern", "--tls1.2"],
        "--profile modern is TLS 1.3 only",
    );
    usage_error(
        &["client", "--profile", "paranoid"],
        "intermediate, modern, system",
    );
    usage_error(
        &["client", "--groups", "X9999"],
        "this OpenSSL accepts: X25519",
    );
    usage_error(
        &[
            "client",
            "--ciphersuites",
            "TLS_AES_128_GCM_SHA256:TLS_NOPE",
        ],
        "\"TLS_NOPE\" is not available here; this OpenSSL accepts: TLS_AES_128_GCM_SHA256",
    );
    usage_error(
        &["client", "--ciphers", "NOPE"],
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    );
    usage_error(
        &["client", "--sigalgs", "rsa_md5"],
        "ecdsa_secp256r1_sha256",
    );
    usage_error(&["client", "--alpn", ","], "1 to 255 bytes");
    usage_error(&["server", "--alpn-optional"], "--alpn");
}

#[test]
fn ciphers_ciphersuites_groups_and_sigalgs_decide_the_negotiation() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]);
    let (_, r) = report(&server, &pki, &[]);
    assert_eq!(r["cipher"], "TLS_CHACHA20_POLY1305_SHA256");

    let server = Server::start(&pki, &["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]);
    let (_, r) = report(&server, &pki, &["--tls1.2"]);
    assert_eq!(r["cipher"], "ECDHE-ECDSA-AES256-GCM-SHA384");

    let server = Server::start(&pki, &[]);
    for (groups, expected) in [("P-384", "P-384"), ("P-256", "P-256"), ("X25519", "X25519")] {
        let (_, r) = report(&server, &pki, &["--groups", groups]);
        assert_eq!(
            r["group"], expected,
            "group names come from the 3.0 fallback too"
        );
    }
    let (_, r) = report(&server, &pki, &["--groups", "P-256", "--tls1.2"]);
    assert_eq!(r["group"], "P-256");

    let mismatch = Server::start(&pki, &["--groups", "P-384"]);
    let refused = mismatch.client(&pki, &["--groups", "X25519"]);
    assert_exit(&refused, 4);
}

#[test]
fn sigalgs_choose_the_servers_signature_scheme() {
    let pki = Pki::rsa();
    let server = Server::start(&pki, &[]);
    let (_, r) = report(&server, &pki, &[]);
    assert_eq!(r["signature"], "rsa_pss_rsae_sha256");
    let (_, r) = report(
        &server,
        &pki,
        &["--tls1.2", "--sigalgs", "rsa_pkcs1_sha384"],
    );
    assert_eq!(r["signature"], "rsa_pkcs1_sha384");
    let (_, r) = report(&server, &pki, &["--sigalgs", "rsa_pss_rsae_sha512"]);
    assert_eq!(r["signature"], "rsa_pss_rsae_sha512");
}

#[test]
fn profiles_modern_and_system_differ_from_intermediate() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let modern = Server::start(&pki, &["--profile", "modern"]);
    assert_exit(&modern.client(&pki, &["--tls1.2"]), 4);
    let (_, r) = report(&modern, &pki, &[]);
    assert_eq!(r["version"], "TLSv1.3");

    // A CBC suite: refused by intermediate, allowed by OpenSSL's own defaults.
    let cbc = |server: &Server| {
        run_with_input(
            Command::new("openssl")
                .args([
                    "s_client",
                    "-connect",
                    &server.target(),
                    "-tls1_2",
                    "-ign_eof",
                ])
                .args(["-cipher", "ECDHE-ECDSA-AES128-SHA256"]),
            b"cbc\n",
        )
    };
    let intermediate = Server::start(&pki, &[]);
    assert!(!cbc(&intermediate).status.success());
    let system = Server::start(&pki, &["--profile", "system"]);
    let output = cbc(&system);
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains("ECDHE-ECDSA-AES128-SHA256"));
}

#[test]
fn alpn_is_chosen_by_server_preference_and_a_mismatch_is_refused_unless_optional() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--alpn", "h2,http/1.1"]);
    let (_, r) = report(&server, &pki, &["--alpn", "http/1.1"]);
    assert_eq!(r["alpn"], "http/1.1");
    let (_, r) = report(&server, &pki, &["--alpn", "http/1.1,h2"]);
    assert_eq!(r["alpn"], "h2", "the server's order wins");
    let (_, r) = report(&server, &pki, &[]);
    assert_eq!(r["alpn"], Value::Null, "no ALPN offered, none selected");

    let refused = server.client(&pki, &["--alpn", "spdy/3"]);
    assert_exit(&refused, 4);
    assert!(
        text(&refused.stderr).contains("no ALPN protocol in common"),
        "{}",
        text(&refused.stderr)
    );

    let optional = Server::start(&pki, &["--alpn", "h2", "--alpn-optional"]);
    let (output, r) = report(&optional, &pki, &["--alpn", "spdy/3"]);
    assert_exit(&output, 0);
    assert_eq!(r["alpn"], Value::Null);
}

#[test]
fn sni_picks_the_certificate_and_no_sni_sends_none() {
    let pki = Pki::ecdsa();
    let (other_crt, other_key) =
        pki.issue_server_cert("other", &["DNS:other.example"], -60, 86_400);
    let (named_crt, named_key) =
        pki.issue_server_cert("named", &["DNS:named.example"], -60, 86_400);
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--json"])
        .args(pki.server_args())
        .arg("--cert")
        .arg(&other_crt)
        .arg("--key")
        .arg(&other_key)
        .arg("--sni")
        .arg(format!(
            "alias.example={},{}",
            arg(&named_crt),
            arg(&named_key)
        ));
    let server = Server::start_with(&mut command);

    let leaf = |r: &Value| r["peer_chain"][0]["alt_names"].clone();
    let (_, r) = report(&server, &pki, &["--servername", "other.example"]);
    assert_eq!(leaf(&r), serde_json::json!(["DNS:other.example"]));
    assert_eq!(r["sni"], "other.example");
    // --sni names a certificate for a name it does not hold: the client says so.
    let alias = server.client(&pki, &["--servername", "alias.example"]);
    assert_exit(&alias, 5);
    assert!(text(&alias.stderr).contains("DNS:named.example"));
    let unknown = run(tlscat()
        .args([
            "client",
            "--connect",
            &server.target(),
            "--json",
            "--insecure",
        ])
        .args(["--servername", "unknown.example"]));
    assert_exit(&unknown, 0);
    let r = &connections(&unknown.stdout)[0];
    assert!(
        leaf(r).to_string().contains("DNS:localhost"),
        "default: {r}"
    );
    let (_, r) = report(&server, &pki, &["--servername", "localhost", "--no-sni"]);
    assert_eq!(r["sni"], Value::Null);
    assert!(leaf(&r).to_string().contains("DNS:localhost"));

    let served = server.proc.wait_json("connection", 4);
    assert_eq!(served[0]["sni"], "other.example");
    assert_eq!(
        served[0]["certificate"]["alt_names"][0],
        "DNS:other.example"
    );
    assert_eq!(served[2]["sni"], "unknown.example");
    assert_eq!(served[2]["certificate"]["alt_names"][0], "DNS:localhost");
    assert_eq!(served[3]["sni"], Value::Null, "--no-sni sent nothing");
}

#[test]
fn mutual_tls_requires_a_trusted_client_certificate() {
    let pki = Pki::ecdsa();
    let client_cert = [
        "--cert",
        &arg(&pki.path("client.crt")),
        "--key",
        &arg(&pki.path("client.key")),
    ]
    .map(str::to_string);
    let client_cert: Vec<&str> = client_cert.iter().map(String::as_str).collect();
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--json", "--client-ca"])
        .arg(pki.ca())
        .args(pki.server_args());
    let server = Server::start_with(&mut command);

    let (output, _) = report(&server, &pki, &client_cert);
    assert_exit(&output, 0);
    let accepted = &server.proc.wait_json("connection", 1)[0];
    assert_eq!(accepted["verified"], true);
    assert_eq!(accepted["peer_chain"][0]["subject"], "CN=tlscat client");

    for version in ["--tls1.3", "--tls1.2"] {
        let without = server.client(&pki, &[version]);
        assert_exit(&without, 5);
        assert!(
            text(&without.stderr).contains("requires a client certificate")
                || text(&without.stderr).contains("asked for a client certificate"),
            "{version}: {}",
            text(&without.stderr)
        );
    }

    let stranger = Pki::ecdsa();
    let untrusted = server.client(
        &pki,
        &[
            "--cert",
            &arg(&stranger.path("client.crt")),
            "--key",
            &arg(&stranger.path("client.key")),
        ],
    );
    assert_exit(&untrusted, 5);
    let stderr = text(&untrusted.stderr);
    // The alert, or (when a reset overtakes it, as OpenSSL 4.0 lets happen) the inference.
    assert!(
        stderr.contains("the server rejected our certificate")
            || stderr.contains("right after receiving our client certificate"),
        "{stderr}"
    );
    server.proc.wait_stderr(
        "unable to get local issuer certificate: the client sent CN=tlscat client, issued by",
    );
}

#[test]
fn optional_client_certificates_let_clients_without_one_in() {
    let pki = Pki::ecdsa();
    let mut command = tlscat();
    command
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--verify",
            "optional",
        ])
        .arg("--client-ca")
        .arg(pki.ca())
        .args(pki.server_args());
    let server = Server::start_with(&mut command);
    assert_exit(&server.client(&pki, &[]), 0);
    let r = &server.proc.wait_json("connection", 1)[0];
    assert_eq!(r["verified"], false);
    assert_eq!(r["verify_result"], "no certificate");
}

#[test]
fn encrypted_keys_open_with_pass_from_env_file_or_text_and_pkcs12_works() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let encrypted = pki.path("client-enc.key");
    assert_exit(
        &run(Command::new("openssl")
            .args(["pkey", "-aes256", "-passout", "pass:s3cret", "-in"])
            .arg(pki.path("client.key"))
            .arg("-out")
            .arg(&encrypted)),
        0,
    );
    make_private(&encrypted);
    let p12 = pki.path("client.p12");
    assert_exit(
        &run(Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:s3cret", "-in"])
            .arg(pki.path("client.crt"))
            .arg("-inkey")
            .arg(pki.path("client.key"))
            .arg("-out")
            .arg(&p12)),
        0,
    );
    make_private(&p12);
    let pass_file = pki.path("pass.txt");
    std::fs::write(&pass_file, "s3cret\n").unwrap();

    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--client-ca"])
        .arg(pki.ca())
        .args(pki.server_args());
    let server = Server::start_with(&mut command);
    let pem = |pass: &str| {
        run(tlscat()
            .args([
                "client",
                "--connect",
                &server.target(),
                "--cacert",
                &arg(&pki.ca()),
            ])
            .args([
                "--cert",
                &arg(&pki.path("client.crt")),
                "--key",
                &arg(&encrypted),
            ])
            .args(["--pass", pass])
            .env("KEYPASS", "s3cret"))
    };
    assert_exit(&pem("env:KEYPASS"), 0);
    assert_exit(&pem(&format!("file:{}", arg(&pass_file))), 0);
    assert_exit(&pem("pass:s3cret"), 0);
    let wrong = pem("pass:wrong");
    assert_exit(&wrong, 2);
    assert!(text(&wrong.stderr).contains("wrong passphrase"));
    assert!(!text(&wrong.stderr).contains("wrong\""), "no secret echoed");
    let unset = pem("env:NOT_SET_ANYWHERE");
    assert_exit(&unset, 2);
    assert!(text(&unset.stderr).contains("NOT_SET_ANYWHERE is not set"));

    let bundle = |pass: &str| {
        run(tlscat()
            .args([
                "client",
                "--connect",
                &server.target(),
                "--cacert",
                &arg(&pki.ca()),
            ])
            .args(["--p12", &arg(&p12), "--pass", pass]))
    };
    assert_exit(&bundle("pass:s3cret"), 0);
    let wrong = bundle("pass:nope");
    assert_exit(&wrong, 2);
    assert!(text(&wrong.stderr).contains("wrong passphrase"));

    // The server side reads encrypted keys and PKCS#12 too.
    let server_p12 = pki.path("server.p12");
    assert_exit(
        &run(Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:s3cret", "-in"])
            .arg(pki.path("server.crt"))
            .arg("-inkey")
            .arg(pki.path("server.key"))
            .arg("-out")
            .arg(&server_p12)),
        0,
    );
    make_private(&server_p12);
    let mut command = tlscat();
    command
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--p12",
            &arg(&server_p12),
        ])
        .args(["--pass", "pass:s3cret"]);
    let p12_server = Server::start_with(&mut command);
    assert_exit(&p12_server.client(&pki, &[]), 0);
}

#[test]
fn sessions_resume_with_tickets_and_with_the_session_cache() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    for version in ["--tls1.3", "--tls1.2"] {
        let output = server.client(
            &pki,
            &["--json", version, "--reconnect", "2", "--expect-resumed"],
        );
        assert_exit(&output, 0);
        let resumed: Vec<bool> = connections(&output.stdout)
            .iter()
            .map(|r| r["resumed"].as_bool().unwrap())
            .collect();
        assert_eq!(resumed, [false, true, true], "{version}");
    }

    // Without tickets, TLS 1.2 resumes from the server's session cache, and the trace
    // shows no NewSessionTicket.
    let cache_only = Server::start(&pki, &["--no-tickets"]);
    let output = cache_only.client(
        &pki,
        &[
            "--tls1.2",
            "--reconnect",
            "1",
            "--expect-resumed",
            "--trace",
        ],
    );
    assert_exit(&output, 0);
    assert!(!text(&output.stderr).contains("NewSessionTicket"));
    let with_tickets = server.client(&pki, &["--tls1.2", "--trace"]);
    assert!(text(&with_tickets.stderr).contains("NewSessionTicket"));

    // No TLS 1.3 tickets, nothing to resume: --expect-resumed fails with exit 7.
    let no_tickets = Server::start(&pki, &["--num-tickets", "0"]);
    let output = no_tickets.client(&pki, &["--reconnect", "1", "--expect-resumed"]);
    assert_exit(&output, 7);
    assert!(
        text(&output.stderr).contains("expected session resumed, got a full handshake"),
        "{}",
        text(&output.stderr)
    );
    let one_ticket = Server::start(&pki, &["--num-tickets", "1"]);
    let output = one_ticket.client(&pki, &["--trace"]);
    assert_eq!(text(&output.stderr).matches("NewSessionTicket").count(), 1);
}

#[test]
fn sessions_expire_after_the_session_timeout() {
    let pki = Pki::ecdsa();
    let session = pki.path("session.pem");
    for (timeout, resumes) in [("300", true), ("1", false)] {
        let server = Server::start(&pki, &["--session-timeout", timeout]);
        let saved = server.client(&pki, &["--sess-out", &arg(&session)]);
        assert_exit(&saved, 0);
        // Wait past a 1 s lifetime (a fixed wait past a configured expiry, not a race).
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let (_, r) = report(&server, &pki, &["--sess-in", &arg(&session)]);
        assert_eq!(r["resumed"], resumes, "--session-timeout {timeout}");
    }
}

#[test]
fn sess_out_writes_a_private_pem_session_and_sess_in_checks_its_input() {
    use std::os::unix::fs::PermissionsExt;
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let session = pki.path("session.pem");
    assert_exit(&server.client(&pki, &["--sess-out", &arg(&session)]), 0);
    let pem = std::fs::read_to_string(&session).unwrap();
    assert!(
        pem.starts_with("-----BEGIN SSL SESSION PARAMETERS-----\n"),
        "{pem}"
    );
    let mode = std::fs::metadata(&session).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_exit(
        &server.client(&pki, &["--sess-in", &arg(&session), "--expect-resumed"]),
        0,
    );

    let bad = server.client(&pki, &["--sess-in", &arg(&pki.ca())]);
    assert_exit(&bad, 2);
    assert!(text(&bad.stderr).contains("holds no PEM session"));
    usage_error(
        &["client", "--expect-resumed"],
        "--reconnect N or --sess-in FILE",
    );
}

#[test]
fn sni_without_cert_keeps_the_default_certificate_for_other_names() {
    let pki = Pki::ecdsa();
    let (other_crt, other_key) =
        pki.issue_server_cert("other", &["DNS:other.example"], -60, 86_400);
    // The defaults, certs/server.crt and certs/server.key, in the server's folder.
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("certs")).unwrap();
    std::fs::copy(
        pki.path("server.crt"),
        folder.path().join("certs/server.crt"),
    )
    .unwrap();
    std::fs::copy(
        pki.path("server.key"),
        folder.path().join("certs/server.key"),
    )
    .unwrap();
    make_private(&folder.path().join("certs/server.key"));
    let mut command = tlscat();
    command
        .current_dir(folder.path())
        .args(["server", "--listen", "127.0.0.1:0", "--sni"])
        .arg(format!(
            "other.example={},{}",
            other_crt.display(),
            other_key.display()
        ));
    let server = Server::start_with(&mut command);
    let served = |name: &str| {
        let output = server.client(&pki, &["--servername", name, "--json"]);
        assert_exit(&output, 0);
        connections(&output.stdout)[0]["peer_chain"][0]["alt_names"].clone()
    };
    assert_eq!(served("other.example")[0], "DNS:other.example");
    assert_eq!(served("localhost")[0], "DNS:localhost");
}
