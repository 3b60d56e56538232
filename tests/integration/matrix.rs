//! The interop matrix: tlscat against other TLS stacks, every cell a test.
//!
//! Peers as clients of `tlscat server`: `openssl s_client`, `gnutls-cli`, Python `ssl`,
//! `curl`. Peers as servers for `tlscat client`: `openssl s_server`, `gnutls-serv`,
//! Python `ssl`. Each for TLS 1.2 and 1.3, ECDSA and RSA certificates, with and without
//! mutual TLS; each cell makes a full handshake, then a resumed one, and checks both.

use std::process::Command;

use crate::common::*;
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
struct Cell {
    tls13: bool,
    rsa: bool,
    mtls: bool,
}

impl Cell {
    fn pki(self) -> &'static Pki {
        Pki::shared(self.rsa)
    }

    /// `TLSv1.2` / `TLSv1.3`, as OpenSSL and tlscat report it.
    fn version(self) -> &'static str {
        if self.tls13 { "TLSv1.3" } else { "TLSv1.2" }
    }

    /// `1.2` / `1.3`.
    fn number(self) -> &'static str {
        if self.tls13 { "1.3" } else { "1.2" }
    }

    fn gnutls_priority(self) -> String {
        format!("NORMAL:-VERS-ALL:+VERS-TLS{}", self.number())
    }

    fn client_cert(self) -> (String, String) {
        let pki = self.pki();
        (arg(&pki.path("client.crt")), arg(&pki.path("client.key")))
    }
}

/// `tlscat server --json` for a cell (version pinned, client CA with mutual TLS).
fn tlscat_server(cell: Cell, extra: &[&str]) -> Server {
    let pki = cell.pki();
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--json"])
        .args(["--min-tls", cell.number(), "--max-tls", cell.number()])
        .args(pki.server_args())
        .args(extra);
    if cell.mtls {
        command.arg("--client-ca").arg(pki.ca());
    }
    Server::start_with(&mut command)
}

/// The server saw a full handshake, then a resumed one, at the cell's version, and (with
/// mutual TLS) verified the client's certificate both times.
fn assert_server_saw_full_then_resumed(server: &Server, cell: Cell) {
    let mut reports = server.proc.wait_json("connection", 2);
    // The server's threads report each connection as it ends, so the full handshake's
    // report may come second: the full one first, then the resumed one.
    reports.sort_by_key(|report| report["resumed"] == true);
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(report["error"], Value::Null, "{cell:?} #{i}: {report}");
        assert_eq!(report["version"], cell.version(), "{cell:?} #{i}");
        assert_eq!(report["resumed"], i == 1, "{cell:?} #{i}: {report}");
        if cell.mtls {
            assert_eq!(report["verified"], true, "{cell:?} #{i}: {report}");
            assert_eq!(report["peer_chain"][0]["subject"], "CN=tlscat client");
        }
    }
}

/// `tlscat client --reconnect 1 --expect-resumed --json` against a peer server.
fn tlscat_client_resuming(cell: Cell, target: &str, message: &str) {
    let pki = cell.pki();
    let mut command = tlscat();
    command
        .args([
            "client",
            "--connect",
            target,
            "--servername",
            "localhost",
            "--json",
        ])
        .args(["--cacert", &arg(&pki.ca()), "--message", message])
        .args(["--reconnect", "1", "--expect-resumed"])
        .args(["--expect-version", cell.number()]);
    if cell.mtls {
        let (cert, key) = cell.client_cert();
        command.args(["--cert", &cert, "--key", &key]);
    }
    let output = run(&mut command);
    assert_exit(&output, 0);
    let reports = connections(&output.stdout);
    assert_eq!(reports.len(), 2, "{cell:?}: {}", text(&output.stdout));
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(report["resumed"], i == 1, "{cell:?} #{i}: {report}");
        assert_eq!(report["verified"], true, "{cell:?} #{i}");
        assert!(
            !report["received"].as_str().unwrap_or_default().is_empty(),
            "{cell:?} #{i}: the peer answered"
        );
    }
}

// ---- peers as clients of tlscat server ----

fn s_client(cell: Cell) {
    require("openssl", "openssl");
    let server = tlscat_server(cell, &[]);
    let session = tempfile::NamedTempFile::new().unwrap();
    for (i, sess) in ["-sess_out", "-sess_in"].into_iter().enumerate() {
        let mut command = Command::new("openssl");
        command
            .args([
                "s_client",
                "-connect",
                &server.target(),
                "-servername",
                "localhost",
            ])
            .args([
                "-CAfile",
                &arg(&cell.pki().ca()),
                "-verify_return_error",
                "-ign_eof",
            ])
            .args([sess, &arg(session.path())]);
        if cell.mtls {
            let (cert, key) = cell.client_cert();
            command.args(["-cert", &cert, "-key", &key]);
        }
        let output = run_with_input(&mut command, b"Hello from s_client\n");
        assert_exit(&output, 0);
        let stdout = text(&output.stdout);
        let marker = if i == 0 { "New, " } else { "Reused, " };
        assert!(
            stdout.contains(&format!("{marker}{}", cell.version())),
            "{cell:?}: {stdout}"
        );
        assert!(
            stdout.contains("Hello from the server!"),
            "{cell:?}: {stdout}"
        );
    }
    assert_server_saw_full_then_resumed(&server, cell);
}

fn gnutls_cli(cell: Cell) {
    require("gnutls-cli", "gnutls-bin");
    let server = tlscat_server(cell, &[]);
    let mut command = Command::new("gnutls-cli");
    command
        .args(["--x509cafile", &arg(&cell.pki().ca())])
        .args([
            "--priority",
            &cell.gnutls_priority(),
            "--resume",
            "--waitresumption",
        ])
        .args(["--port", &server.port().to_string(), "localhost"]);
    if cell.mtls {
        let (cert, key) = cell.client_cert();
        command.args(["--x509certfile", &cert, "--x509keyfile", &key]);
    }
    let output = run_with_input(&mut command, b"Hello from GnuTLS\n");
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("This is a resumed session"),
        "{cell:?}: {stdout}"
    );
    assert!(
        stdout.contains("Hello from the server!"),
        "{cell:?}: {stdout}"
    );
    assert_server_saw_full_then_resumed(&server, cell);
}

/// Two connections, the second offering the first one's session.
const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
port, ca, version, cert, key = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
v = {'1.2': ssl.TLSVersion.TLSv1_2, '1.3': ssl.TLSVersion.TLSv1_3}[version]
ctx.minimum_version = ctx.maximum_version = v
if cert != '-':
    ctx.load_cert_chain(cert, key)
session = None
for i in range(2):
    with socket.create_connection(('127.0.0.1', int(port)), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost', session=session) as s:
            s.sendall(b'Hello from Python %d' % i)
            data = b''
            while True:
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
            print('reused' if s.session_reused else 'full', s.version(), data.decode(), flush=True)
            session = s.session
"#;

fn python_client(cell: Cell) {
    let server = tlscat_server(cell, &[]);
    let (cert, key) = if cell.mtls {
        cell.client_cert()
    } else {
        ("-".to_string(), "-".to_string())
    };
    let output = run(&mut python(
        PYTHON_CLIENT,
        &[
            &server.port().to_string(),
            &arg(&cell.pki().ca()),
            cell.number(),
            &cert,
            &key,
        ],
    ));
    assert_exit(&output, 0);
    let expected = format!(
        "full {v} Hello from the server!\nreused {v} Hello from the server!\n",
        v = cell.version()
    );
    assert_eq!(
        text(&output.stdout),
        expected,
        "{cell:?}: {}",
        text(&output.stderr)
    );
    assert_server_saw_full_then_resumed(&server, cell);
}

fn curl(cell: Cell) {
    require("curl", "curl");
    let reply =
        "HTTP/1.1 200 OK\r\nContent-Length: 22\r\nConnection: close\r\n\r\nHello from the server!";
    let server = tlscat_server(cell, &["--alpn", "http/1.1", "--reply", reply]);
    let url = format!("https://localhost:{}/", server.port());
    let mut command = Command::new("curl");
    command
        .args([
            "--silent",
            "--show-error",
            "--cacert",
            &arg(&cell.pki().ca()),
        ])
        .args([
            &format!("--tlsv{}", cell.number()),
            "--tls-max",
            cell.number(),
        ])
        .args([&url, &url]);
    if cell.mtls {
        let (cert, key) = cell.client_cert();
        command.args(["--cert", &cert, "--key", &key]);
    }
    let output = run(&mut command);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Hello from the server!Hello from the server!",
        "{cell:?}: {}",
        text(&output.stderr)
    );
    assert_server_saw_full_then_resumed(&server, cell);
    for report in server.proc.wait_json("connection", 2) {
        assert_eq!(report["alpn"], "http/1.1", "{cell:?}: {report}");
    }
}

// ---- peers as servers for tlscat client ----

fn s_server(cell: Cell) {
    require("openssl", "openssl");
    let pki = cell.pki();
    let mut command = Command::new("openssl");
    command
        .args([
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-naccept",
            "2",
            "-www",
        ])
        .args([&format!("-tls{}", cell.number().replace('.', "_"))])
        .args(["-cert", &arg(&pki.path("server.crt"))])
        .args(["-key", &arg(&pki.path("server.key"))]);
    if cell.mtls {
        command.args(["-Verify", "1", "-CAfile", &arg(&pki.ca())]);
    }
    let s_server = Proc::spawn("openssl s_server", &mut command);
    let accept = s_server.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    tlscat_client_resuming(
        cell,
        accept.trim_start_matches("ACCEPT "),
        "GET / HTTP/1.0\r\n\r\n",
    );
}

fn gnutls_serv(cell: Cell) {
    require("gnutls-serv", "gnutls-bin");
    let pki = cell.pki();
    // gnutls-serv cannot pick its own port: take a free one, retry if it was raced away.
    for _ in 0..5 {
        let port = closed_port();
        let mut command = Command::new("gnutls-serv");
        command
            .args(["--http", "--port", &port.to_string()])
            .args(["--priority", &cell.gnutls_priority()])
            .args(["--x509certfile", &arg(&pki.path("server.crt"))])
            .args(["--x509keyfile", &arg(&pki.path("server.key"))]);
        if cell.mtls {
            command.args(["--require-client-cert", "--x509cafile", &arg(&pki.ca())]);
        }
        let mut server = Proc::spawn("gnutls-serv", &mut command);
        let started = server.wait_stderr_matching("that it listens, or an error", |l| {
            l.contains("listening") || l.contains("bind")
        });
        if !started.contains("listening") || !server.is_running() {
            continue;
        }
        tlscat_client_resuming(cell, &format!("127.0.0.1:{port}"), "GET / HTTP/1.0\r\n\r\n");
        return;
    }
    panic!("gnutls-serv could not bind a free port in 5 tries");
}

/// Serves two connections and says for each whether it resumed.
const PYTHON_SERVER: &str = r#"
import socket, ssl, sys
cert, key, ca, version, mtls = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
v = {'1.2': ssl.TLSVersion.TLSv1_2, '1.3': ssl.TLSVersion.TLSv1_3}[version]
ctx.minimum_version = ctx.maximum_version = v
if mtls == 'mtls':
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen()
print('port', srv.getsockname()[1], flush=True)
for _ in range(2):
    raw, _ = srv.accept()
    raw.settimeout(20)
    s = ctx.wrap_socket(raw, server_side=True)
    data = s.recv(1024)
    s.sendall(b'Hello from the server!')
    print('reused' if s.session_reused else 'full', s.version(), data.decode(), flush=True)
    s.unwrap().close()
"#;

fn python_server(cell: Cell) {
    let pki = cell.pki();
    let server = Proc::spawn(
        "python ssl server",
        &mut python(
            PYTHON_SERVER,
            &[
                &arg(&pki.path("server.crt")),
                &arg(&pki.path("server.key")),
                &arg(&pki.ca()),
                cell.number(),
                if cell.mtls { "mtls" } else { "-" },
            ],
        ),
    );
    let port = server.wait_stdout("its port", |l| l.starts_with("port "))[5..].to_string();
    tlscat_client_resuming(cell, &format!("127.0.0.1:{port}"), "Hello from the client!");
    let seen = server.wait_stdout_lines("connections", 2, |l| l.contains(cell.version()));
    assert!(
        seen[0].starts_with("full ") && seen[1].starts_with("reused "),
        "{seen:?}"
    );
}

/// One module per peer, one test per (version, key type, mutual TLS).
macro_rules! matrix {
    ($($peer:ident),* $(,)?) => {$(
        mod $peer {
            use super::Cell;

            fn cell(tls13: bool, rsa: bool, mtls: bool) {
                super::$peer(Cell { tls13, rsa, mtls });
            }

            #[test] fn tls12_ecdsa() { cell(false, false, false) }
            #[test] fn tls12_ecdsa_mtls() { cell(false, false, true) }
            #[test] fn tls12_rsa() { cell(false, true, false) }
            #[test] fn tls12_rsa_mtls() { cell(false, true, true) }
            #[test] fn tls13_ecdsa() { cell(true, false, false) }
            #[test] fn tls13_ecdsa_mtls() { cell(true, false, true) }
            #[test] fn tls13_rsa() { cell(true, true, false) }
            #[test] fn tls13_rsa_mtls() { cell(true, true, true) }
        }
    )*};
}

matrix!(
    s_client,
    gnutls_cli,
    python_client,
    curl,
    s_server,
    gnutls_serv,
    python_server
);

// ---- sessions moving between tlscat and s_client, both ways ----

fn sessions_cross(tls13: bool) {
    require("openssl", "openssl");
    let cell = Cell {
        tls13,
        rsa: false,
        mtls: false,
    };
    let pki = cell.pki();
    let server = tlscat_server(cell, &[]);
    let dir = tempfile::tempdir().unwrap();
    let from_tlscat = dir.path().join("from-tlscat.pem");
    let from_s_client = dir.path().join("from-s_client.pem");
    let s_client = |sess: &str, file: &std::path::Path| {
        run_with_input(
            Command::new("openssl")
                .args([
                    "s_client",
                    "-connect",
                    &server.target(),
                    "-servername",
                    "localhost",
                ])
                .args(["-CAfile", &arg(&pki.ca()), "-ign_eof", sess, &arg(file)]),
            b"hi\n",
        )
    };

    // tlscat saves, s_client resumes.
    assert_exit(&server.client(pki, &["--sess-out", &arg(&from_tlscat)]), 0);
    let output = s_client("-sess_in", &from_tlscat);
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains(&format!("Reused, {}", cell.version())));

    // s_client (the system's OpenSSL 3) saves, tlscat resumes. OpenSSL 1.1.1 cannot
    // decode a 3.x session (it added fields), and tlscat says so.
    assert_exit(&s_client("-sess_out", &from_s_client), 0);
    let output = server.client(
        pki,
        &[
            "--sess-in",
            &arg(&from_s_client),
            "--expect-resumed",
            "--json",
        ],
    );
    if openssl::version::number() >= 0x3000_0000 {
        assert_exit(&output, 0);
        assert_eq!(connections(&output.stdout)[0]["resumed"], true);
    } else {
        assert_exit(&output, 2);
        assert!(text(&output.stderr).contains("saved by a newer OpenSSL"));
    }
}

#[test]
fn sessions_move_between_tlscat_and_s_client_both_ways_tls12() {
    sessions_cross(false);
}

#[test]
fn sessions_move_between_tlscat_and_s_client_both_ways_tls13() {
    sessions_cross(true);
}
