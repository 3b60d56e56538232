//! The hints of failed handshakes and broken connections (tls/failure.rs), each provoked
//! for real and checked word for word on the side that reports it: the reason, then what
//! to do. (The server's view of hostile clients is in hostile.rs; versions and suites in
//! verify.rs.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::thread;

use crate::common::*;

/// A plain TCP server for one connection: it reads what the client sends first, then
/// answers `greeting` (or nothing) and closes.
fn plain_server(greeting: &'static [u8]) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        let mut hello = [0; 4096];
        let _ = socket.read(&mut hello);
        let _ = socket.write_all(greeting);
    });
    (addr, handle)
}

fn client_to(target: &str, pki: &Pki, extra: &[&str]) -> Output {
    run(tlscat()
        .args(["client", "--connect", target, "--servername", "localhost"])
        .arg("--cacert")
        .arg(pki.ca())
        .args(extra))
}

fn single_error(output: &Output) -> String {
    let stderr = text(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("tlscat: "), "{stderr}");
    last
}

#[test]
fn a_plain_service_is_named_as_such() {
    let pki = Pki::ecdsa();
    let (target, server) = plain_server(b"SSH-2.0-OpenSSH_9.2\r\n");
    let output = client_to(&target, &pki, &[]);
    assert_exit(&output, 4);
    assert!(
        single_error(&output).ends_with(
            "the server does not speak TLS: is this the TLS port? plain TCP services need a plain client"
        ),
        "{}",
        text(&output.stderr)
    );
    server.join().unwrap();
}

#[test]
fn a_server_that_hangs_up_mid_handshake() {
    let pki = Pki::ecdsa();
    let (target, server) = plain_server(b"");
    let output = client_to(&target, &pki, &[]);
    assert_exit(&output, 4);
    assert!(
        single_error(&output).ends_with(
            "the server closed the connection during the handshake: the server may have refused \
             something: check its log"
        ),
        "{}",
        text(&output.stderr)
    );
    server.join().unwrap();
}

#[test]
fn a_handshake_failure_alert_with_and_without_a_certificate_request() {
    let pki = Pki::ecdsa();
    // Only an RSA suite against an ECDSA certificate: the server sends handshake_failure.
    let server = Server::start(&pki, &[]);
    let output = server.client(
        &pki,
        &["--tls1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"],
    );
    assert_exit(&output, 4);
    assert!(
        single_error(&output).ends_with(
            "the server aborted the handshake (handshake_failure alert): no cipher or group in \
             common, or the server requires a client certificate"
        ),
        "{}",
        text(&output.stderr)
    );

    // TLS 1.2 with a certificate request: the same alert means "a certificate, please".
    let mutual = Server::start(&pki, &["--client-ca", &arg(&pki.ca())]);
    let output = mutual.client(&pki, &["--tls1.2"]);
    assert_exit(&output, 5);
    assert!(
        single_error(&output).ends_with(
            "the server asked for a client certificate and aborted the handshake: it requires \
             a certificate signed by a CA it trusts: pass --cert and --key"
        ),
        "{}",
        text(&output.stderr)
    );
    mutual
        .proc
        .wait_stderr("the client did not send a certificate: mutual TLS needs one");

    // TLS 1.3 says it outright (certificate_required), unless a reset overtakes the alert
    // (OpenSSL 4.0 lets that happen): then the client infers it from the request.
    let output = mutual.client(&pki, &["--tls1.3"]);
    assert_exit(&output, 5);
    let error = single_error(&output);
    assert!(
        error.ends_with(
            "the server requires a client certificate: pass --cert and --key (or --p12) with \
             one signed by a CA the server trusts"
        ) || error.ends_with(
            "the server asked for a client certificate, then closed the connection: it \
             probably requires one: pass --cert and --key (or --p12)"
        ),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn no_alpn_in_common_on_both_sides() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--alpn", "h2"]);
    let output = server.client(&pki, &["--alpn", "http/1.1"]);
    assert_exit(&output, 4);
    assert!(
        single_error(&output).ends_with(
            "no ALPN protocol in common with the server: compare the --alpn lists of both sides \
             (the server may allow --alpn-optional)"
        ),
        "{}",
        text(&output.stderr)
    );
    server.proc.wait_stderr(
        "no ALPN protocol in common with the client: compare the --alpn lists of both sides",
    );
}

#[test]
fn a_rejected_certificate_is_explained_to_the_side_that_was_rejected() {
    let pki = Pki::ecdsa();
    let stranger = Pki::ecdsa();
    // The server learns that the client does not trust it (unknown_ca).
    let server = Server::start(&pki, &[]);
    let output = server.client(&stranger, &[]);
    assert_exit(&output, 5);
    let log = server
        .proc
        .wait_stderr("the client rejected our certificate (");
    assert!(
        log.contains(
            "give the client the CA that signed our certificate (tlscat client --cacert certs/ca.crt)"
        ),
        "{log}"
    );

    // The client learns that the server does not take its certificate (TLS 1.2: the alert
    // comes within the handshake).
    let mutual = Server::start(&pki, &["--client-ca", &arg(&pki.ca())]);
    let output = mutual.client(
        &pki,
        &[
            "--tls1.2",
            "--cert",
            &arg(&stranger.path("client.crt")),
            "--key",
            &arg(&stranger.path("client.key")),
        ],
    );
    assert_exit(&output, 5);
    let error = single_error(&output);
    assert!(
        error.contains("the server rejected our certificate (")
            && error.ends_with("the server does not accept our client certificate"),
        "{error}"
    );
}

#[test]
fn a_server_told_its_certificate_is_revoked() {
    let ca = OpensslCa::new();
    ca.revoke("server");
    let crl = ca.crl(Level::Intermediate, "inter.crl", 24);
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--cert"])
        .arg(ca.path("server-chain.crt"))
        .arg("--key")
        .arg(ca.path("server.key"));
    let server = Server::start_with(&mut command);
    let output = run(tlscat()
        .args([
            "client",
            "--connect",
            &server.target(),
            "--servername",
            "localhost",
        ])
        .arg("--cacert")
        .arg(ca.path("root.crt"))
        .arg("--crl")
        .arg(&crl));
    assert_exit(&output, 5);
    server.proc.wait_stderr(
        "the client rejected our certificate as revoked (certificate_revoked alert): the client \
         finds our certificate revoked (its CRL or OCSP answer): serve a new one",
    );
}

#[test]
fn a_client_that_refuses_the_servers_renegotiation() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--renegotiate"]);
    let output = server.client(&pki, &["--tls1.2"]);
    assert_exit(&output, 4);
    server.proc.wait_stderr(
        "the client refused to renegotiate (no_renegotiation alert): the client refuses it: \
         tlscat client allows it with --renegotiate",
    );
    assert!(
        text(&output.stderr).contains("refused the peer's renegotiation request"),
        "{}",
        text(&output.stderr)
    );
}

/// Relays one connection to `backend`, flipping one bit in the fourth record the client
/// sends (its first application data in TLS 1.3: ClientHello, ChangeCipherSpec, Finished,
/// data).
fn tampering_relay(backend: String) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(backend).unwrap();
        for socket in [&client, &server] {
            socket.set_read_timeout(Some(WAIT)).unwrap();
        }
        let (mut server_reader, mut client_writer) =
            (server.try_clone().unwrap(), client.try_clone().unwrap());
        let back = thread::spawn(move || {
            let _ = std::io::copy(&mut server_reader, &mut client_writer);
        });
        for record in 1.. {
            let mut header = [0; 5];
            if client.read_exact(&mut header).is_err() {
                break;
            }
            let mut body = vec![0; usize::from(u16::from_be_bytes([header[3], header[4]]))];
            if client.read_exact(&mut body).is_err() {
                break;
            }
            if record == 4 {
                body[0] ^= 1;
            }
            if server
                .write_all(&header)
                .and_then(|()| server.write_all(&body))
                .is_err()
            {
                break;
            }
        }
        let _ = server.shutdown(std::net::Shutdown::Both);
        let _ = back.join();
    });
    (addr, handle)
}

#[test]
fn bytes_altered_on_the_path_fail_the_integrity_check() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let (relay, relaying) = tampering_relay(server.target());
    let output = client_to(&relay, &pki, &["--tls1.3", "--read-timeout", "10s"]);
    assert_exit(&output, 4);
    server.proc.wait_stderr(
        "data failed its integrity check (bad record MAC or decrypt error): something on the \
         path altered the bytes",
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("data failed its integrity check")
            && stderr.contains("something on the path altered the bytes"),
        "{stderr}"
    );
    relaying.join().unwrap();
}

/// The net under the verification hints: a certificate that failed verification where no
/// observer of ours recorded why (a plain OpenSSL connector, in-process) still reads as a
/// certificate problem (exit 5) with a generic fix, not as a raw OpenSSL string.
#[test]
fn an_unrecorded_verify_failure_is_still_a_certificate_problem() {
    use openssl::ssl::{HandshakeError, SslAcceptor, SslConnector, SslFiletype, SslMethod};
    use tlscat::tls::{Clues, Offer, Side, handshake_failure};

    let pki = Pki::ecdsa();
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor
        .set_certificate_chain_file(pki.path("server.crt"))
        .unwrap();
    acceptor
        .set_private_key_file(pki.path("server.key"), SslFiletype::PEM)
        .unwrap();
    let acceptor = acceptor.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        // It fails: the client does not trust our CA.
        let _ = acceptor.accept(socket);
    });

    // The default trust store, which does not hold the test CA.
    let connector = SslConnector::builder(SslMethod::tls()).unwrap().build();
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let failure = match connector.connect("localhost", socket) {
        Err(HandshakeError::Failure(mid)) => mid.into_error(),
        Err(other) => panic!("the handshake failed some other way: {other}"),
        Ok(_) => panic!("an unknown CA was trusted"),
    };
    let error = handshake_failure(failure, Side::Client, Clues::default(), &Offer::default());
    assert_eq!(error.exit_code(), 5, "{error}");
    assert_eq!(
        error.to_string(),
        "certificate rejected: the server's certificate did not verify: check that it is \
         signed by a trusted CA, valid now, and issued for this name"
    );
    server.join().unwrap();
}

/// A client certificate the server rejects after a TLS 1.3 handshake that the client
/// already counts as done: the server half-closes and takes the rest of the client's
/// flight instead of closing on unread bytes, which would reset the connection and can
/// destroy the alert before the client reads it.
#[test]
fn a_rejected_client_certificates_alert_is_not_lost_to_a_reset() {
    use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVersion};

    let pki = Pki::ecdsa();
    let stranger = Pki::ecdsa();
    let server = Server::start(&pki, &["--client-ca", &arg(&pki.ca())]);
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    connector
        .set_min_proto_version(Some(SslVersion::TLS1_3))
        .unwrap();
    connector.set_ca_file(pki.ca()).unwrap();
    connector
        .set_certificate_chain_file(stranger.path("client.crt"))
        .unwrap();
    connector
        .set_private_key_file(stranger.path("client.key"), SslFiletype::PEM)
        .unwrap();
    let socket = TcpStream::connect(server.target()).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = connector.build().connect("localhost", socket).unwrap();
    tls.write_all(b"Hello from the client!").unwrap();
    // The server has read the certificate and answered by now.
    server
        .proc
        .wait_stderr("certificate rejected: unable to get local issuer certificate");
    thread::sleep(std::time::Duration::from_millis(200));
    let pending = tls.get_ref().take_error().unwrap();
    assert!(
        pending.is_none(),
        "the server reset the connection: {pending:?}"
    );
    let mut answer = [0; 64];
    let error = tls
        .read(&mut answer)
        .expect_err("no data for a rejected client");
    let alert = error.get_ref().map(ToString::to_string).unwrap_or_default();
    assert!(alert.contains("unknown ca"), "the alert arrives: {error:?}");
}
