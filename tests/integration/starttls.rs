//! `client --starttls`: the plaintext start of 13 protocols, against real servers from
//! Debian started here (Postfix, Dovecot, slapd, PostgreSQL) with `openssl s_client
//! -starttls` as the reference on the same servers, and against a scripted server (Python)
//! that plays each protocol's side, including refusals and injected plaintext.

use std::process::{Command, Output};

use crate::common::*;

/// Plays the server side of one protocol's STARTTLS for one connection, then TLS (Python's
/// ssl): reads a message and answers `Hello from PROTOCOL`. Modes: `ok`; `refuse` (the
/// server says no, with "TLS is broken here" where the protocol carries words); `inject`
/// (plaintext follows the go-ahead). Arguments: protocol, mode, certificate, key.
const SCRIPTED_SERVER: &str = r#"
import socket, ssl, struct, sys
proto, mode, cert, key = sys.argv[1:5]
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
conn.settimeout(20)

def send(data):
    conn.sendall(data.encode() if isinstance(data, str) else data)

def recv_until(end):
    data = b""
    while not data.endswith(end):
        chunk = conn.recv(1)
        if not chunk:
            sys.exit("client closed")
        data += chunk
    return data

def line(expected):
    got = recv_until(b"\n").decode().rstrip("\r\n")
    if not got.startswith(expected):
        sys.exit(f"expected {expected!r}, got {got!r}")
    return got

refuse, inject = mode == "refuse", mode == "inject"
go_ahead_extra = "INJECTED\r\n" if inject else ""
if proto in ("smtp", "lmtp"):
    send("220 scripted ESMTP\r\n")
    line("EHLO " if proto == "smtp" else "LHLO ")
    send("250-scripted\r\n250-PIPELINING\r\n" + ("250 8BITMIME\r\n" if refuse else "250 STARTTLS\r\n"))
    if refuse:
        sys.exit(0)
    line("STARTTLS")
    send("220 go ahead\r\n" + go_ahead_extra)
elif proto == "imap":
    send("* OK scripted ready\r\n")
    line("a CAPABILITY")
    send("* CAPABILITY IMAP4rev1 STARTTLS\r\na OK done\r\n")
    line("b STARTTLS")
    send("b NO TLS is broken here\r\n" if refuse else "b OK begin\r\n" + go_ahead_extra)
elif proto == "pop3":
    send("+OK scripted\r\n")
    line("STLS")
    send("-ERR TLS is broken here\r\n" if refuse else "+OK begin\r\n" + go_ahead_extra)
elif proto == "ftp":
    send("220-scripted\r\n220 ready\r\n")
    line("AUTH TLS")
    send("504 TLS is broken here\r\n" if refuse else "234 AUTH TLS ok\r\n" + go_ahead_extra)
elif proto == "nntp":
    send("200 scripted\r\n")
    line("STARTTLS")
    send("580 TLS is broken here\r\n" if refuse else "382 continue\r\n" + go_ahead_extra)
elif proto == "sieve":
    send('"IMPLEMENTATION" "scripted"\r\n"SASL" "PLAIN"\r\n"STARTTLS"\r\nOK "ready"\r\n')
    line("STARTTLS")
    send('NO "TLS is broken here"\r\n' if refuse else 'OK "begin"\r\n' + go_ahead_extra)
elif proto == "irc":
    line("STARTTLS")
    send(":scripted NOTICE * :hello\r\n")
    send(":scripted 691 * :TLS is broken here\r\n" if refuse else ":scripted 670 * :STARTTLS successful, go ahead\r\n" + go_ahead_extra)
elif proto in ("xmpp", "xmpp-server"):
    opening = recv_until(b"version='1.0'>").decode()
    namespace = "jabber:client" if proto == "xmpp" else "jabber:server"
    if f"xmlns='{namespace}'" not in opening or "to='localhost'" not in opening:
        sys.exit(f"unexpected stream: {opening}")
    send(f"<?xml version='1.0'?><stream:stream xmlns='{namespace}' xmlns:stream='http://etherx.jabber.org/streams' id='1' from='localhost' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
    recv_until(b"/>")
    send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>" if refuse else "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + go_ahead_extra)
elif proto == "ldap":
    request = conn.recv(31)
    if b"1.3.6.1.4.1.1466.20037" not in request:
        sys.exit(f"not StartTLS: {request!r}")
    if refuse:
        words = b"TLS is broken here"
        result = b"\x0a\x01\x02\x04\x00\x04" + bytes([len(words)]) + words
    else:
        result = b"\x0a\x01\x00\x04\x00\x04\x00"
    body = b"\x02\x01\x01\x78" + bytes([len(result)]) + result
    send(b"\x30" + bytes([len(body)]) + body + go_ahead_extra.encode())
elif proto == "postgres":
    request = conn.recv(8)
    if request != b"\x00\x00\x00\x08\x04\xd2\x16\x2f":
        sys.exit(f"not SSLRequest: {request!r}")
    send(b"N" if refuse else b"S" + go_ahead_extra.encode())
elif proto == "mysql":
    capabilities = 0xffff & ~(0x0800 if refuse else 0)
    payload = (b"\x0a" + b"8.0.36-scripted\x00" + struct.pack("<I", 7) + b"12345678\x00"
               + struct.pack("<H", capabilities) + b"\x2d" + struct.pack("<H", 2)
               + struct.pack("<H", 0x81ff) + b"\x15" + b"\x00" * 10 + b"123456789012\x00"
               + b"mysql_native_password\x00")
    send(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)
    if refuse:
        sys.exit(0)
    request = conn.recv(36)
    flags = struct.unpack("<I", request[4:8])[0]
    if request[3] != 1 or not flags & 0x0800:
        sys.exit(f"not SSLRequest: {request!r}")
    send(go_ahead_extra)
else:
    sys.exit(f"unknown protocol {proto}")

if refuse or inject:
    conn.close()
    sys.exit(0)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
tls = context.wrap_socket(conn, server_side=True)
message = tls.recv(1024)
tls.sendall(b"Hello from " + proto.encode() + b", got " + message)
tls.close()
"#;

const PROTOCOLS: [&str; 13] = [
    "smtp",
    "lmtp",
    "imap",
    "pop3",
    "ftp",
    "xmpp",
    "xmpp-server",
    "ldap",
    "postgres",
    "mysql",
    "nntp",
    "sieve",
    "irc",
];

/// Runs `tlscat client --starttls PROTOCOL` against the scripted server in `mode`.
fn against_script(pki: &Pki, protocol: &str, mode: &str, extra: &[&str]) -> (Output, Proc) {
    let server = Proc::spawn(
        "scripted STARTTLS server",
        &mut python(
            SCRIPTED_SERVER,
            &[
                protocol,
                mode,
                &arg(&pki.path("server.crt")),
                &arg(&pki.path("server.key")),
            ],
        ),
    );
    let port = server.wait_stdout("its port", |l| l.parse::<u16>().is_ok());
    let output = run(tlscat()
        .args(["client", "--connect", &format!("localhost:{port}")])
        .arg("--cacert")
        .arg(pki.ca())
        .args(["--starttls", protocol])
        .args(extra));
    (output, server)
}

#[test]
fn every_protocol_starts_tls_with_a_scripted_server() {
    let pki = Pki::ecdsa();
    for protocol in PROTOCOLS {
        let (output, _server) = against_script(&pki, protocol, "ok", &["--json"]);
        assert_exit(&output, 0);
        let report = &connections(&output.stdout)[0];
        assert_eq!(report["starttls"]["protocol"], protocol, "{report}");
        assert_eq!(report["verified"], true, "{protocol}: {report}");
        assert_eq!(
            report["received"],
            format!("Hello from {protocol}, got Hello from the client!"),
            "{protocol}: {report}"
        );
    }
}

#[test]
fn a_refusal_exits_4_with_the_servers_words() {
    let pki = Pki::ecdsa();
    for protocol in PROTOCOLS {
        let (output, _server) = against_script(&pki, protocol, "refuse", &[]);
        assert_exit(&output, 4);
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with("tlscat: STARTTLS failed: "),
            "{protocol}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{protocol}: {stderr}");
        let words = match protocol {
            // No words in these protocols' answers: what was missing is named instead.
            "smtp" | "lmtp" => "does not offer STARTTLS (its",
            "xmpp" | "xmpp-server" => "refused STARTTLS: <failure",
            "postgres" => "refused SSL (it answered N to SSLRequest)",
            "mysql" => "(MySQL 8.0.36-scripted) does not offer SSL",
            _ => "TLS is broken here",
        };
        assert!(stderr.contains(words), "{protocol}: {stderr}");
    }
}

#[test]
fn plaintext_after_the_go_ahead_is_refused_as_an_injection() {
    let pki = Pki::ecdsa();
    for protocol in PROTOCOLS {
        let (output, _server) = against_script(&pki, protocol, "inject", &[]);
        assert_exit(&output, 4);
        let stderr = text(&output.stderr);
        // MySQL's client sends its SSL request and starts TLS without waiting for an
        // answer: the injected bytes then arrive where the ServerHello should be.
        let expected = if protocol == "mysql" {
            "the server does not speak TLS"
        } else {
            "bytes after agreeing to STARTTLS, before the handshake: INJECTED"
        };
        assert!(stderr.contains(expected), "{protocol}: {stderr}");
    }
}

#[test]
fn the_trace_shows_the_plaintext_phase_before_the_handshake() {
    let pki = Pki::ecdsa();
    let (output, _server) = against_script(&pki, "smtp", "ok", &["--trace", "--quiet"]);
    assert_exit(&output, 0);
    let trace = text(&output.stderr);
    let position = |needle: &str| {
        trace
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in the trace:\n{trace}"))
    };
    assert!(position("<- 220 scripted ESMTP") < position("-> EHLO "));
    assert!(position("-> STARTTLS (10 bytes)") < position("<- 220 go ahead"));
    assert!(position("<- 220 go ahead") < position("-> ClientHello"));
    assert!(trace.contains("STARTTLS: plaintext, before the TLS handshake"));
}

/// `openssl s_client -starttls PROTOCOL` against `target` (or a Unix socket), trusting
/// `ca`: it must verify the server.
fn s_client(protocol: &str, target: &[&str], ca: &std::path::Path) {
    require("openssl", "openssl");
    let output = run_with_input(
        Command::new("openssl")
            .arg("s_client")
            .args(target)
            .args(["-starttls", protocol, "-verify_return_error", "-brief"])
            .arg("-CAfile")
            .arg(ca),
        b"",
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Verification: OK"),
        "s_client -starttls {protocol}: {stderr}"
    );
}

/// `tlscat client --starttls PROTOCOL` to `target` sending `message`: its report.
fn tlscat_starttls(pki: &Pki, protocol: &str, target: &str, message: &str) -> serde_json::Value {
    let output = run(tlscat()
        .args(["client", "--connect", target, "--servername", "localhost"])
        .arg("--cacert")
        .arg(pki.ca())
        .args(["--starttls", protocol, "--message", message, "--json"]));
    assert_exit(&output, 0);
    let report = connections(&output.stdout)[0].clone();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["starttls"]["protocol"], protocol, "{report}");
    report
}

#[test]
fn smtp_with_postfix() {
    let pki = Pki::ecdsa();
    let postfix = Postfix::start(&pki.path("server.crt"), &pki.path("server.key"));
    let target = format!("127.0.0.1:{}", postfix.port);
    let report = tlscat_starttls(&pki, "smtp", &target, "QUIT\r\n");
    let received = report["received"].as_str().unwrap();
    assert!(
        received.starts_with("221 "),
        "Postfix says goodbye over TLS: {report}"
    );
    s_client("smtp", &["-connect", &target], &pki.ca());
    postfix
        .proc
        .wait_stdout("Postfix logged the TLS session", |l| {
            l.contains("starttls=1")
        });
}

#[test]
fn imap_and_pop3_with_dovecot() {
    let pki = Pki::ecdsa();
    let dovecot = Dovecot::start(&pki.path("server.crt"), &pki.path("server.key"));
    let imap = format!("127.0.0.1:{}", dovecot.imap);
    let report = tlscat_starttls(&pki, "imap", &imap, "c LOGOUT\r\n");
    assert!(
        report["received"]
            .as_str()
            .unwrap()
            .contains("c OK Logout completed"),
        "{report}"
    );
    s_client("imap", &["-connect", &imap], &pki.ca());

    let pop3 = format!("127.0.0.1:{}", dovecot.pop3);
    let report = tlscat_starttls(&pki, "pop3", &pop3, "QUIT\r\n");
    assert!(
        report["received"].as_str().unwrap().starts_with("+OK"),
        "{report}"
    );
    s_client("pop3", &["-connect", &pop3], &pki.ca());
}

#[test]
fn ldap_with_slapd() {
    let pki = Pki::ecdsa();
    let slapd = Slapd::start(&pki.ca(), &pki.path("server.crt"), &pki.path("server.key"));
    let target = format!("127.0.0.1:{}", slapd.port);
    // An LDAP message without an operation: slapd drops the connection.
    let output = run(tlscat()
        .args(["client", "--connect", &target, "--servername", "localhost"])
        .arg("--cacert")
        .arg(pki.ca())
        .args([
            "--starttls",
            "ldap",
            "--json",
            "--message",
            "0\x03\x02\x01\x05",
        ]));
    let report = &connections(&output.stdout)[0];
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(
        report["version"], "TLSv1.3",
        "slapd (GnuTLS) speaks TLS 1.3: {report}"
    );
    s_client("ldap", &["-connect", &target], &pki.ca());
}

#[test]
fn postgres_and_its_refusal() {
    let pki = Pki::ecdsa();
    let postgres = Postgres::start(Some((&pki.path("server.crt"), &pki.path("server.key"))));
    let target = format!("127.0.0.1:{}", postgres.port.expect("a TCP port with TLS"));
    // Not a startup message: PostgreSQL closes the connection after the handshake.
    let output = run(tlscat()
        .args(["client", "--connect", &target, "--servername", "localhost"])
        .arg("--cacert")
        .arg(pki.ca())
        .args(["--starttls", "postgres", "--json"]));
    let report = &connections(&output.stdout)[0];
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["sni"], "localhost", "{report}");
    assert_eq!(report["starttls"]["protocol"], "postgres", "{report}");
    s_client("postgres", &["-connect", &target], &pki.ca());

    // PostgreSQL offers no SSL over its Unix socket, nor does a cluster without it: exit
    // 4, in PostgreSQL's terms.
    for socket in [&postgres.socket, &Postgres::start(None).socket] {
        let output = run(tlscat()
            .args(["client", "--connect"])
            .arg(format!("unix:{}", socket.display()))
            .arg("--cacert")
            .arg(pki.ca())
            .args(["--starttls", "postgres"]));
        assert_exit(&output, 4);
        assert!(
            text(&output.stderr).contains("refused SSL (it answered N to SSLRequest): turn ssl on"),
            "{}",
            text(&output.stderr)
        );
    }
}
