//! Flags, startup errors and exit codes: each error is one line that names the thing and
//! the fix, with the documented exit code.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use crate::common::*;

fn single_line(stderr: &[u8]) -> String {
    let stderr = text(stderr);
    assert_eq!(stderr.lines().count(), 1, "expected one line: {stderr}");
    assert!(stderr.starts_with("tlscat: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn version_names_tlscat_and_both_openssl_versions() {
    let output = run(tlscat().arg("--version"));
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(&format!("tlscat {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    assert!(stdout.contains("built with OpenSSL "), "{stdout}");
    assert!(
        stdout.contains(&format!("running {}", openssl::version::version())),
        "{stdout}"
    );
}

#[test]
fn help_documents_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["client", "--help"],
        &["server", "--help"],
    ] {
        let output = run(tlscat().args(args));
        assert_exit(&output, 0);
        let stdout = text(&output.stdout);
        assert!(stdout.contains("Exit codes:"), "{args:?}: {stdout}");
        assert!(stdout.contains("5  certificate rejected"), "{stdout}");
    }
}

#[test]
fn bad_flags_and_values_exit_2() {
    for args in [
        &["--no-such-flag"][..],
        &["client", "--connect", "localhost:http"],
        &["server", "--listen", "localhost"],
        &["server", "--handshake-timeout", "0"],
        &["server", "--max-conns", "many"],
        &["client", "--insecure", "--cacert", "ca.crt"],
    ] {
        let output = run(tlscat().args(args));
        assert_exit(&output, 2);
        assert!(
            !text(&output.stderr).contains("panicked"),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn a_missing_default_certificate_says_to_run_gen_certs() {
    let empty = tempfile::tempdir().unwrap();
    let output =
        run(tlscat()
            .current_dir(empty.path())
            .args(["server", "--listen", "127.0.0.1:0"]));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains("certs/server.crt not found: run scripts/gen-certs.sh"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_named_by_a_flag_says_to_check_that_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("server.crt");
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(dir.path().join("server.key")));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{} not found: check the path given to --cert",
            cert.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("gen-certs"), "it was passed: {stderr}");

    let output = run(tlscat().args(["client", "--cacert", "/nonexistent/ca.crt"]));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/ca.crt not found: check the path given to --cacert"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("or pass --cacert"),
        "it was passed: {stderr}"
    );
}

#[test]
fn an_empty_file_named_by_a_flag_says_which_flag() {
    let pki = Pki::ecdsa();
    let empty = pki.path("empty.crt");
    std::fs::write(&empty, "\n").unwrap();
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&empty)
        .arg("--key")
        .arg(pki.path("server.key")));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains(&format!("{} (--cert) is empty", empty.display())),
        "{stderr}"
    );
}

#[test]
fn a_private_key_given_as_cacert_is_named_as_such() {
    let pki = Pki::ecdsa();
    let output = run(tlscat()
        .args(["client", "--cacert"])
        .arg(pki.path("server.key")));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains("holds a private key, not a certificate: --cacert wants CA certificates"),
        "{stderr}"
    );
    assert!(!stderr.contains("swap"), "--key was not involved: {stderr}");
}

#[test]
fn a_certificate_file_in_the_wrong_order_is_not_called_a_key_mismatch() {
    let pki = Pki::ecdsa();
    let reversed = pki.path("reversed.crt");
    let ca = std::fs::read_to_string(pki.path("ca.crt")).unwrap();
    let server = std::fs::read_to_string(pki.path("server.crt")).unwrap();
    std::fs::write(&reversed, format!("{ca}{server}")).unwrap();
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&reversed)
        .arg("--key")
        .arg(pki.path("server.key")));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains("holds its certificates in the wrong order")
            && stderr.contains("(CN=localhost) is number 2 of 2: put it first"),
        "{stderr}"
    );
    assert!(!stderr.contains("does not match"), "{stderr}");
}

#[test]
fn key_that_does_not_match_the_certificate_is_refused() {
    let pki = Pki::ecdsa();
    let other = Pki::ecdsa();
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(pki.path("server.crt"))
        .arg("--key")
        .arg(other.path("server.key")));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(stderr.contains("does not match"), "{stderr}");
}

#[test]
fn swapped_garbage_encrypted_and_unreadable_key_files_get_a_specific_message() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let garbage = pki.path("garbage.pem");
    write_private(&garbage, b"not a pem file\n");
    let encrypted = pki.path("encrypted.key");
    let made = run(std::process::Command::new("openssl")
        .args(["pkey", "-aes256", "-passout", "pass:secret", "-in"])
        .arg(pki.path("server.key"))
        .arg("-out")
        .arg(&encrypted));
    assert_exit(&made, 0);
    make_private(&encrypted);

    let cases = [
        (
            pki.path("server.key"),
            pki.path("server.crt"),
            "did you swap --cert and --key?",
        ),
        (
            pki.path("server.crt"),
            garbage.clone(),
            "holds no readable PEM private key",
        ),
        (
            garbage,
            pki.path("server.key"),
            "holds no readable PEM certificate",
        ),
        (
            pki.path("server.crt"),
            encrypted,
            "is an encrypted private key",
        ),
    ];
    for (cert, key, expected) in cases {
        let output = run(tlscat()
            .args(["server", "--listen", "127.0.0.1:0", "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key));
        assert_exit(&output, 2);
        let stderr = single_line(&output.stderr);
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}

#[test]
fn address_in_use_exits_2_and_says_what_to_do() {
    let pki = Pki::ecdsa();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(tlscat()
        .args(["server", "--listen", &addr])
        .args(pki.server_args()));
    assert_exit(&output, 2);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("another port with --listen"), "{stderr}");

    // A second tlscat on a running tlscat's port fails the same way (its threads' sockets
    // share the port among themselves only), unless both ask for --reuse-port.
    let first = Server::start(&pki, &["--threads", "2"]);
    let output = run(tlscat()
        .args(["server", "--threads", "2", "--listen", &first.target()])
        .args(pki.server_args()));
    assert_exit(&output, 2);
    assert!(single_line(&output.stderr).contains("cannot listen on"));
}

#[test]
fn connection_refused_exits_3() {
    let port = closed_port();
    let output = run(tlscat().args(["client", "--connect", &format!("127.0.0.1:{port}")]));
    assert_exit(&output, 3);
    let stderr = single_line(&output.stderr);
    assert!(stderr.contains("connection refused"), "{stderr}");
}

#[test]
fn unknown_host_exits_3() {
    let output = run(tlscat().args(["client", "--connect", "no-such-host.invalid:443"]));
    assert_exit(&output, 3);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains("cannot resolve no-such-host.invalid"),
        "{stderr}"
    );
}

#[test]
fn a_server_that_does_not_speak_tls_exits_4() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let plain = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut hello = [0u8; 512];
        let _ = socket.read(&mut hello);
        let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let output = run(tlscat().args(["client", "--connect", &addr]));
    assert_exit(&output, 4);
    let stderr = single_line(&output.stderr);
    assert!(stderr.contains("the server does not speak TLS"), "{stderr}");
    plain.join().unwrap();
}

#[test]
fn a_server_that_never_answers_the_handshake_exits_6() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let output = run(tlscat().args(["client", "--connect", &addr, "--handshake-timeout", "300ms"]));
    assert_exit(&output, 6);
    let stderr = single_line(&output.stderr);
    assert!(
        stderr.contains("timed out after 300ms during TLS handshake"),
        "{stderr}"
    );
    assert!(stderr.contains("--handshake-timeout"), "{stderr}");
    drop(listener);
}

#[test]
fn a_server_that_never_replies_exits_6_at_the_read_timeout() {
    let pki = Pki::ecdsa();
    // A TLS server that reads the message and then says nothing.
    let s_server = Proc::spawn(
        "openssl s_server",
        std::process::Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-naccept", "1"])
            .args(["-cert", &arg(&pki.path("server.crt"))])
            .args(["-key", &arg(&pki.path("server.key"))]),
    );
    let accept = s_server.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    let output = run(tlscat()
        .args(["client", "--connect", accept.trim_start_matches("ACCEPT ")])
        .args([
            "--read-timeout",
            "500ms",
            "--servername",
            "localhost",
            "--quiet",
        ])
        .arg("--cacert")
        .arg(pki.ca()));
    assert_exit(&output, 6);
    let stderr = single_line(&output.stderr);
    assert!(stderr.contains("during read"), "{stderr}");
}

#[test]
fn a_key_other_users_can_read_is_refused_unless_allowed() {
    let pki = Pki::ecdsa();
    let key = pki.path("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let refused = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0"])
        .args(pki.server_args()));
    assert_exit(&refused, 2);
    let stderr = single_line(&refused.stderr);
    assert!(
        stderr.contains("is readable by other users (mode 0640)"),
        "{stderr}"
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");

    let mut command = tlscat();
    command
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--allow-insecure-key-permissions",
        ])
        .args(pki.server_args());
    let server = Server::start_with(&mut command);
    assert_exit(&server.client(&pki, &[]), 0);

    let client_key = pki.path("client.key");
    std::fs::set_permissions(
        &client_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o604),
    )
    .unwrap();
    let client = server.client(
        &pki,
        &[
            "--cert",
            &arg(&pki.path("client.crt")),
            "--key",
            &arg(&client_key),
        ],
    );
    assert_exit(&client, 2);
    assert!(text(&client.stderr).contains("(mode 0604)"));
}
