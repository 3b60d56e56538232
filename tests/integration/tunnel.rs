//! Tunnels: TLS termination (`--forward`, `--exec`) in front of real services (nginx,
//! PostgreSQL, HAProxy as a PROXY protocol consumer), origination (`client --listen`),
//! mutual TLS allow rules, public key pins; byte-exact transfers, half-closes, aborts,
//! backends that are down or stall.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// A plain TCP backend in Python on 127.0.0.1, killed on drop (with its process).
struct PlainBackend {
    proc: Proc,
    port: u16,
}

impl PlainBackend {
    /// `handler(conn)` serves each connection in a thread of its own.
    fn start(handler: &str) -> PlainBackend {
        let script = format!(
            "import socket, sys, threading, hashlib, time\n\
             {handler}\n\
             s = socket.socket()\n\
             s.bind(('127.0.0.1', 0))\n\
             s.listen(64)\n\
             print(s.getsockname()[1], flush=True)\n\
             while True:\n\
             \x20   c, _ = s.accept()\n\
             \x20   threading.Thread(target=handle, args=(c,), daemon=True).start()\n"
        );
        let proc = Proc::spawn("python backend", &mut python(&script, &[]));
        let port = proc
            .wait_stdout("its port", |l| l.parse::<u16>().is_ok())
            .parse()
            .unwrap();
        PlainBackend { proc, port }
    }

    /// Sends back everything, until the peer's end of file; then closes.
    fn echo() -> PlainBackend {
        PlainBackend::start(
            "def handle(c):\n\
             \x20   while True:\n\
             \x20       data = c.recv(1 << 16)\n\
             \x20       if not data:\n\
             \x20           break\n\
             \x20       c.sendall(data)\n\
             \x20   c.close()\n",
        )
    }

    /// Reads to the peer's end of file, then answers with the SHA-256 of what it read
    /// (hex, a line) and 1 MiB of data, and closes: only a half-close lets it answer.
    fn digest_after_eof() -> PlainBackend {
        PlainBackend::start(
            "def handle(c):\n\
             \x20   h = hashlib.sha256()\n\
             \x20   while True:\n\
             \x20       data = c.recv(1 << 16)\n\
             \x20       if not data:\n\
             \x20           break\n\
             \x20       h.update(data)\n\
             \x20   c.sendall((h.hexdigest() + '\\n').encode() + bytes(range(256)) * 4096)\n\
             \x20   c.close()\n",
        )
    }

    /// Accepts, then neither reads nor answers.
    fn stalled() -> PlainBackend {
        PlainBackend::start(
            "held = []\n\
             def handle(c):\n\
             \x20   held.append(c)\n",
        )
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A terminating tlscat in front of `target`, plus `extra` flags.
fn forwarder(pki: &Pki, target: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--forward", target];
    args.extend_from_slice(extra);
    Server::start(pki, &args)
}

#[test]
fn a_hundred_mebibytes_cross_the_tunnel_byte_for_byte_both_ways() {
    let pki = Pki::ecdsa();
    let backend = PlainBackend::echo();
    let server = forwarder(&pki, &backend.target(), &["--json"]);
    let mut payload = vec![0u8; 100 << 20];
    openssl::rand::rand_bytes(&mut payload).unwrap();
    let output = run_with_input(
        tlscat()
            .args(["client", "--pipe", "--quiet", "--connect", &server.target()])
            .arg("--cacert")
            .arg(pki.ca()),
        &payload,
    );
    assert_exit(&output, 0);
    assert_eq!(output.stdout.len(), payload.len());
    assert!(
        output.stdout == payload,
        "the echo differs from what was sent"
    );
    let report = &server.proc.wait_json("connection", 1)[0];
    let tunnel = &report["tunnel"];
    assert_eq!(tunnel["plain"], backend.target(), "{report}");
    assert_eq!(tunnel["to_plain"], 100 << 20, "{report}");
    assert_eq!(tunnel["from_plain"], 100 << 20, "{report}");
    assert_eq!(tunnel["tls_end"], "closed", "{report}");
    assert_eq!(tunnel["plain_end"], "closed", "{report}");
    assert_eq!(tunnel["closed_first"], "tls", "{report}");
    assert!(tunnel["connect_ms"].as_f64().is_some(), "{report}");
    assert_eq!(report["closed"], "close_notify", "{report}");
}

#[test]
fn a_client_that_half_closes_still_gets_the_whole_answer() {
    let pki = Pki::ecdsa();
    let backend = PlainBackend::digest_after_eof();
    let server = forwarder(&pki, &backend.target(), &[]);
    let mut request = vec![0u8; 3 << 20];
    openssl::rand::rand_bytes(&mut request).unwrap();
    let output = run_with_input(
        tlscat()
            .args(["client", "--pipe", "--quiet", "--connect", &server.target()])
            .arg("--cacert")
            .arg(pki.ca()),
        &request,
    );
    assert_exit(&output, 0);
    let digest = hex(openssl::sha::sha256(&request));
    let mut expected = format!("{digest}\n").into_bytes();
    expected.extend((0..4096).flat_map(|_| 0..=255u8));
    assert_eq!(output.stdout.len(), expected.len());
    assert!(
        output.stdout == expected,
        "the answer after the half-close differs"
    );
    server.proc.wait_stderr("the client closed first");
}

/// nginx serving `root` over plain HTTP on 127.0.0.1:port (one process, as the test's
/// user), killed on drop.
fn nginx(dir: &Path, root: &Path, listen: &str, extra: &str) -> Proc {
    require("nginx", "nginx-light");
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; master_process off; worker_processes 1;\n\
             pid {dir}/nginx.pid; error_log {dir}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             \x20 {log}\n\
             \x20 client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
             \x20 fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
             \x20 {extra}\n\
             \x20 server {{ listen {listen}; root {root}; }}\n\
             }}\n",
            dir = dir.display(),
            root = root.display(),
            // `access_log off` would cancel every other access_log of the level.
            log = if extra.contains("access_log") { "" } else { "access_log off;" },
        ),
    )
    .unwrap();
    Proc::spawn(
        "nginx",
        Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir),
    )
}

/// Waits until something accepts connections on 127.0.0.1:port.
fn wait_listening(port: u16, who: &Proc) {
    let ready = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(ready, "nothing listens on {port}:\n{}", who.stderr());
}

#[test]
fn curl_reaches_nginx_through_the_terminating_tunnel() {
    require("curl", "curl");
    let pki = Pki::ecdsa();
    let root = pki.path("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello through the tunnel\n").unwrap();
    let port = closed_port();
    let web = nginx(pki.dir.path(), &root, &format!("127.0.0.1:{port}"), "");
    wait_listening(port, &web);
    let server = forwarder(&pki, &format!("127.0.0.1:{port}"), &[]);
    let output = run(Command::new("curl")
        .args(["--silent", "--show-error", "--cacert"])
        .arg(pki.ca())
        .arg(format!("https://localhost:{}/hello.txt", server.port())));
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "hello through the tunnel\n");
    server
        .proc
        .wait_stderr(&format!("backend    127.0.0.1:{port}"));
}

/// A Python TLS client that sends a PROXY v1 header naming `source` before its
/// handshake, then an HTTP GET; prints the response body.
fn get_as(pki: &Pki, server: &Server, source: &str) -> std::process::Output {
    let script = "import socket, ssl, sys\n\
        port, ca, source = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n\
        raw = socket.create_connection(('127.0.0.1', port))\n\
        raw.sendall(('PROXY TCP4 %s 127.0.0.1 40000 %d\\r\\n' % (source, port)).encode())\n\
        ctx = ssl.create_default_context(cafile=ca)\n\
        s = ctx.wrap_socket(raw, server_hostname='localhost')\n\
        s.sendall(b'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n')\n\
        data = b''\n\
        while True:\n\
        \x20   chunk = s.recv(4096)\n\
        \x20   if not chunk:\n\
        \x20       break\n\
        \x20   data += chunk\n\
        sys.stdout.write(data.decode().split('\\r\\n\\r\\n', 1)[1])\n";
    run(&mut python(
        script,
        &[&server.port().to_string(), &arg(&pki.ca()), source],
    ))
}

#[test]
fn haproxy_reads_the_client_and_sni_from_a_proxy_v2_header() {
    require("haproxy", "haproxy");
    let pki = Pki::ecdsa();
    let port = closed_port();
    let config = pki.path("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend behind_tlscat\n  bind 127.0.0.1:{port} accept-proxy\n\
             \x20 http-request return status 200 content-type text/plain lf-string \"%[src] %[fc_pp_authority]\\n\"\n"
        ),
    )
    .unwrap();
    let haproxy = Proc::spawn(
        "haproxy",
        Command::new("haproxy").arg("-db").arg("-f").arg(&config),
    );
    wait_listening(port, &haproxy);
    // tlscat itself learns the client from a PROXY header (as behind a load balancer),
    // and passes it on in its own.
    let server = forwarder(
        &pki,
        &format!("127.0.0.1:{port}"),
        &["--proxy-protocol", "--send-proxy", "v2"],
    );
    let output = get_as(&pki, &server, "203.0.113.7");
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "203.0.113.7 localhost\n");
}

#[test]
fn nginx_logs_the_client_named_by_a_proxy_v1_header() {
    let pki = Pki::ecdsa();
    let root = pki.path("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), "ok\n").unwrap();
    let log = pki.path("access.log");
    let port = closed_port();
    let web = nginx(
        pki.dir.path(),
        &root,
        &format!("127.0.0.1:{port} proxy_protocol"),
        &format!(
            "log_format pp '$proxy_protocol_addr'; access_log {} pp;",
            log.display()
        ),
    );
    wait_listening(port, &web);
    let server = forwarder(
        &pki,
        &format!("127.0.0.1:{port}"),
        &["--proxy-protocol", "--send-proxy", "v1"],
    );
    let output = get_as(&pki, &server, "198.51.100.9");
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "ok\n");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.trim(), "198.51.100.9");
}

#[test]
fn a_backend_that_is_down_aborts_the_client_quickly_and_is_counted() {
    require("curl", "curl");
    let pki = Pki::ecdsa();
    let down = closed_port();
    let server = forwarder(
        &pki,
        &format!("127.0.0.1:{down}"),
        &["--metrics", "127.0.0.1:0"],
    );
    let output = server.client(&pki, &["--read-timeout", "60s"]);
    assert_ne!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_ne!(
        output.status.code(),
        Some(6),
        "no hang: {}",
        text(&output.stderr)
    );
    assert!(
        !text(&output.stdout).contains("Response from server"),
        "{}",
        text(&output.stdout)
    );
    server.proc.wait_stderr(&format!(
        "could not connect to backend 127.0.0.1:{down}: connection refused"
    ));
    let metrics = scrape(&server);
    assert!(
        metrics.contains(&format!(
            "tlscat_backend_connect_failures_total{{backend=\"127.0.0.1:{down}\"}} 1"
        )),
        "{metrics}"
    );
    // Still serving.
    let again = server.client(&pki, &[]);
    assert_ne!(again.status.code(), Some(0));
}

#[test]
fn a_stalled_backend_is_cut_by_the_idle_timeout_as_an_abort() {
    let pki = Pki::ecdsa();
    let backend = PlainBackend::stalled();
    let server = forwarder(&pki, &backend.target(), &["--idle-timeout", "1s"]);
    let output = server.client(&pki, &["--json", "--read-timeout", "60s"]);
    assert_exit(&output, 1);
    let report = &connections(&output.stdout)[0];
    assert_ne!(
        report["closed"], "close_notify",
        "an abort, never a clean close: {report}"
    );
    server
        .proc
        .wait_stderr("timed out after 1s during an idle tunnel: raise --idle-timeout");
    drop(backend);
}

#[test]
fn exec_gives_each_connection_a_program_of_its_own() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--exec", "tr a-z A-Z"]);
    // tr answers at the end of its input: the client's close_notify closes the program's
    // stdin, and the answer still comes back (a half-close).
    let output = run_with_input(
        tlscat()
            .args(["client", "--pipe", "--connect", &server.target()])
            .arg("--cacert")
            .arg(pki.ca()),
        b"hello, program",
    );
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "HELLO, PROGRAM");
    server.proc.wait_stderr("program    tr (exit 0)");

    let shell = Server::start(
        &pki,
        &[
            "--sh-exec",
            "printf '%s %s' \"$TLSCAT_TLS_VERSION\" \"$TLSCAT_SNI\"",
        ],
    );
    let output = shell.client(&pki, &["--servername", "localhost"]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: TLSv1.3 localhost\n"
    );
}

/// The PIDs of the running children of a process.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        found.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    found
}

#[test]
fn an_idle_program_is_killed_and_reaped() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--exec", "sleep 300", "--idle-timeout", "1s"]);
    let output = server.client(&pki, &["--read-timeout", "60s"]);
    assert_exit(&output, 1);
    server
        .proc
        .wait_stderr("timed out after 1s during an idle tunnel");
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(25));
        children(server.proc.pid()).is_empty()
    });
    assert!(
        gone,
        "sleep is still a child: {:?}",
        children(server.proc.pid())
    );
}

/// A client certificate with a subject and SANs, for the allow rules.
fn client_cert(pki: &Pki, stem: &str, subject: &[(&str, &str)], sans: &[&str]) -> Vec<String> {
    let (cert, key) = pki.issue_client_named(stem, subject, sans);
    vec!["--cert".into(), arg(&cert), "--key".into(), arg(&key)]
}

#[test]
fn allow_rules_let_in_the_named_spiffe_id_and_refuse_others() {
    let pki = Pki::ecdsa();
    let backend = PlainBackend::echo();
    let server = forwarder(
        &pki,
        &backend.target(),
        &[
            "--client-ca",
            &arg(&pki.ca()),
            "--allow-uri",
            "spiffe://example.org/web",
            "--allow-cn",
            "ops",
            "--json",
        ],
    );
    let web = client_cert(
        &pki,
        "web",
        &[("CN", "web-1")],
        &["URI:spiffe://example.org/web"],
    );
    let args: Vec<&str> = web.iter().map(String::as_str).collect();
    let output = server.client(&pki, &args);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "Response from server: Hello from the client!\n"
    );
    let report = &server.proc.wait_json("connection", 1)[0];
    assert_eq!(
        report["allowed_by"], "--allow-uri spiffe://example.org/web",
        "{report}"
    );

    let ops = client_cert(&pki, "ops", &[("CN", "ops"), ("OU", "staff")], &[]);
    let args: Vec<&str> = ops.iter().map(String::as_str).collect();
    assert_exit(&server.client(&pki, &args), 0);

    let db = client_cert(
        &pki,
        "db",
        &[("CN", "db-1")],
        &["URI:spiffe://example.org/db"],
    );
    let args: Vec<&str> = db.iter().map(String::as_str).collect();
    let refused = server.client(&pki, &args);
    assert_exit(&refused, 5);
    let line = server.proc.wait_stderr("is not allowed");
    assert!(
        line.contains("CN=db-1")
            && line.contains("URI:spiffe://example.org/db")
            && line.contains("--allow-uri spiffe://example.org/web")
            && line.contains("--allow-cn ops"),
        "{line}"
    );
    let reports = server.proc.wait_json("connection", 3);
    let refusal = reports.iter().find(|r| !r["error"].is_null()).unwrap();
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("match no allow rule"),
        "{refusal}"
    );
    assert!(
        refusal.get("tunnel").is_none(),
        "never forwarded: {refusal}"
    );
}

#[test]
fn allow_rules_match_dns_names_and_organisational_units() {
    let pki = Pki::ecdsa();
    let server = Server::start(
        &pki,
        &[
            "--client-ca",
            &arg(&pki.ca()),
            "--allow-dns",
            "api.example.org",
            "--allow-ou",
            "payments",
        ],
    );
    for (stem, subject, sans, expected) in [
        ("dns", vec![("CN", "a")], vec!["DNS:API.example.org"], 0),
        ("ou", vec![("CN", "b"), ("OU", "payments")], vec![], 0),
        (
            "other",
            vec![("CN", "c"), ("OU", "marketing")],
            vec!["DNS:www.example.org"],
            5,
        ),
    ] {
        let cert = client_cert(&pki, stem, &subject, &sans);
        let args: Vec<&str> = cert.iter().map(String::as_str).collect();
        assert_exit(&server.client(&pki, &args), expected);
    }
}

/// The curl-style pin of a certificate's public key.
fn pin_of(cert: &Path) -> String {
    let cert = openssl::x509::X509::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    let spki = cert.public_key().unwrap().public_key_to_der().unwrap();
    format!(
        "sha256//{}",
        openssl::base64::encode_block(&openssl::sha::sha256(&spki))
    )
}

#[test]
fn a_public_key_pin_admits_the_pinned_key_only() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let right = pin_of(&pki.path("server.crt"));
    assert_exit(&server.client(&pki, &["--pin", &right]), 0);
    let other = pin_of(&pki.path("client.crt"));
    assert_exit(
        &server.client(&pki, &["--pin", &format!("{other};{right}")]),
        0,
    );
    let wrong = server.client(&pki, &["--pin", &other]);
    assert_exit(&wrong, 5);
    assert!(
        text(&wrong.stderr).contains(&format!(
            "the server's key is {right}, --pin expects {other}"
        )),
        "{}",
        text(&wrong.stderr)
    );
    assert!(wrong.stdout.is_empty(), "nothing exchanged");
}

/// `tlscat client --listen 127.0.0.1:0 --connect TARGET`: the originating end.
fn originator(pki: &Pki, target: &str, extra: &[&str]) -> (Proc, u16) {
    let mut command = tlscat();
    command
        .args(["client", "--listen", "127.0.0.1:0", "--connect", target])
        .args(["--servername", "localhost", "--cacert", &arg(&pki.ca())])
        .args(extra);
    let proc = Proc::spawn("tlscat client --listen", &mut command);
    let line = proc.wait_stdout("that it listens", |l| {
        l.starts_with("Tunnel listening on ") || l.contains("\"type\":\"listening\"")
    });
    let address = match line.strip_prefix("Tunnel listening on ") {
        Some(rest) => rest.split(',').next().unwrap().to_string(),
        None => serde_json::from_str::<serde_json::Value>(&line).unwrap()["address"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    let port = address.rsplit(':').next().unwrap().parse().unwrap();
    (proc, port)
}

/// A plain client: sends `message`, half-closes, reads the answer to the end.
fn plain_exchange(port: u16, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(message).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    answer
}

#[test]
fn the_originating_end_carries_plain_clients_over_tls_and_resumes_sessions() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "echo", "--json"]);
    let (tunnel, port) = originator(&pki, &server.target(), &["--json"]);
    for round in 0..3 {
        let message = format!("plain client {round}");
        assert_eq!(plain_exchange(port, message.as_bytes()), message.as_bytes());
    }
    let reports = tunnel.wait_json("connection", 3);
    let resumed: Vec<bool> = reports.iter().map(|r| r["resumed"] == true).collect();
    assert_eq!(resumed, [false, true, true], "{reports:?}");
    for report in &reports {
        assert_eq!(report["verified"], true, "{report}");
        assert_eq!(report["tunnel"]["plain_end"], "closed", "{report}");
        assert_eq!(report["closed"], "close_notify", "{report}");
    }
}

#[test]
fn the_originating_end_refuses_an_untrusted_server_and_aborts_the_local_client() {
    let pki = Pki::ecdsa();
    let other = Pki::ecdsa();
    let server = Server::start(&other, &["--mode", "echo"]);
    let (tunnel, port) = originator(&pki, &server.target(), &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let _ = stream.write_all(b"hello");
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    assert!(
        read.is_err() || answer.is_empty(),
        "nothing from an untrusted server: {answer:?}"
    );
    tunnel.wait_stderr("certificate rejected");
}

/// psql's major version.
fn psql_major() -> u32 {
    let output = run(Command::new("psql").arg("--version"));
    text(&output.stdout)
        .split_whitespace()
        .find_map(|word| word.split('.').next()?.parse().ok())
        .unwrap_or(0)
}

/// psql without TLS to 127.0.0.1:`port` (a client tunnel's plain side), running `sql`.
fn psql_plain(port: u16, sql: &str) -> std::process::Output {
    run(Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable"
        ))
        .args(["-Atc", sql]))
}

/// psql against a terminating tlscat in front of PostgreSQL, verified (the name and the
/// CA), with libpq 17's `sslnegotiation` if given (`postgres`: the SSLRequest first, as
/// every libpq does; `direct`: TLS at once).
fn psql_verified(pki: &Pki, server: &Server, negotiation: Option<&str>) -> std::process::Output {
    let mut options = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full \
         sslrootcert={}",
        server.port(),
        pki.ca().display()
    );
    if let Some(negotiation) = negotiation {
        options.push_str(&format!(" sslnegotiation={negotiation}"));
    }
    run(Command::new("psql")
        .arg(options)
        .args(["-Atc", "select 6 * 7"]))
}

#[test]
fn psql_reaches_postgresql_through_both_ends_of_a_tunnel() {
    let pki = Pki::ecdsa();
    let postgres = Postgres::start(None);
    let backend = format!("unix:{}", postgres.socket.display());
    // libpq before 17 asks with an SSLRequest and offers no ALPN; tlscat's originating
    // end and libpq 17's direct negotiation start TLS at once, with ALPN postgresql.
    let front_door = [
        "--starttls",
        "postgres",
        "--alpn",
        "postgresql",
        "--alpn-optional",
    ];
    let server = forwarder(&pki, &backend, &[&front_door[..], &["--json"]].concat());
    let (tunnel, port) = originator(&pki, &server.target(), &["--alpn", "postgresql", "--json"]);
    for _ in 0..2 {
        let output = psql_plain(port, "select 6 * 7");
        assert_exit(&output, 0);
        assert_eq!(text(&output.stdout), "42\n", "{}", text(&output.stderr));
    }
    let reports = tunnel.wait_json("connection", 2);
    assert_eq!(reports[0]["alpn"], "postgresql", "{}", reports[0]);
    assert_eq!(reports[1]["resumed"], true, "{}", reports[1]);
    let served = server.proc.wait_json("connection", 2);
    assert_eq!(served[0]["tunnel"]["plain"], backend, "{}", served[0]);

    // psql itself, verifying tlscat's certificate: its SSLRequest is answered first.
    let direct_too = psql_major() >= 17;
    let output = psql_verified(&pki, &server, direct_too.then_some("postgres"));
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "42\n", "{}", text(&output.stderr));
    let served = &server.proc.wait_json("connection", 3)[2];
    assert_eq!(served["verified"], false, "no client certificate: {served}");
    assert_eq!(served["sni"], "localhost", "{served}");
    if direct_too {
        let output = psql_verified(&pki, &server, Some("direct"));
        assert_exit(&output, 0);
        assert_eq!(text(&output.stdout), "42\n", "{}", text(&output.stderr));
    }

    // A client that does not ask for TLS is refused, with the reason in the log.
    let output = psql_plain(server.port(), "select 1");
    assert!(!output.status.success(), "a plaintext client got in");
    server
        .proc
        .wait_stderr("the client's first message is not PostgreSQL's SSLRequest");
    drop(postgres.proc);
}

/// The originating end in front of PostgreSQL's own TLS (any version): each tunnel's
/// connection asks with an SSLRequest first (`--starttls postgres`), then verifies.
#[test]
fn a_client_tunnel_reaches_postgresql_tls_through_its_ssl_request() {
    let pki = Pki::ecdsa();
    let postgres = Postgres::start(Some((&pki.path("server.crt"), &pki.path("server.key"))));
    let target = format!("127.0.0.1:{}", postgres.port.expect("a TCP port with TLS"));
    let (tunnel, port) = originator(&pki, &target, &["--starttls", "postgres", "--json"]);
    let output = psql_plain(
        port,
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
    );
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "t\n",
        "PostgreSQL sees TLS: {}",
        text(&output.stderr)
    );
    let report = &tunnel.wait_json("connection", 1)[0];
    assert_eq!(report["verified"], true, "{report}");
    drop(postgres.proc);
}

/// `--starttls postgres` answers `N` to a GSSENCRequest, `S` to the SSLRequest that
/// follows, and then the TLS handshake is the usual one.
#[test]
fn the_postgres_front_door_declines_gss_and_agrees_to_tls() {
    use openssl::ssl::{SslConnector, SslMethod};

    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--starttls", "postgres", "--trace"]);
    let mut socket = TcpStream::connect(server.target()).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut answer = [0; 1];
    socket
        .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30])
        .unwrap();
    socket.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"N", "GSSENCRequest declined");
    socket
        .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .unwrap();
    socket.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"S", "SSLRequest accepted");
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    connector.set_ca_file(pki.ca()).unwrap();
    let mut tls = connector.build().connect("localhost", socket).unwrap();
    tls.write_all(b"Hello from the client!").unwrap();
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    assert_eq!(reply, b"Hello from the server!");
    let trace = server.proc.wait_stderr("SSLRequest");
    assert!(trace.contains("plaintext"), "{trace}");
}

#[test]
fn tunnels_in_flight_outlive_a_reload_and_show_in_the_metrics() {
    require("curl", "curl");
    let pki = Pki::ecdsa();
    let backend = PlainBackend::echo();
    let server = forwarder(&pki, &backend.target(), &["--metrics", "127.0.0.1:0"]);
    let mut client = Proc::spawn(
        "tlscat client --pipe",
        tlscat()
            .args(["client", "--pipe", "--quiet", "--connect", &server.target()])
            .arg("--cacert")
            .arg(pki.ca()),
    );
    writeln!(client.stdin(), "before the reload").unwrap();
    client.wait_stdout("the first echo", |l| l == "before the reload");
    assert!(scrape(&server).contains("tlscat_tunnels_active 1"));
    server.proc.signal("HUP");
    server.proc.wait_stderr("reloaded (SIGHUP)");
    writeln!(client.stdin(), "after the reload").unwrap();
    client.wait_stdout("the second echo", |l| l == "after the reload");
    client.close_stdin();
    assert!(client.wait_exit(WAIT).success(), "{}", client.stderr());
    server.proc.wait_stderr("closed     close_notify");
    let metrics = scrape(&server);
    assert!(metrics.contains("tlscat_tunnels_active 0"), "{metrics}");
    assert!(
        metrics.contains("tlscat_backend_sent_bytes_total 35"),
        "{metrics}"
    );
}

#[test]
fn a_drain_that_runs_out_cuts_tunnels_as_aborts_on_both_sides() {
    let pki = Pki::ecdsa();
    // Says how each connection ended: "eof" for a clean close, "reset" for an abort.
    let backend = PlainBackend::start(
        "def handle(c):\n\
         \x20   try:\n\
         \x20       while True:\n\
         \x20           data = c.recv(1 << 16)\n\
         \x20           if not data:\n\
         \x20               print('eof', flush=True)\n\
         \x20               return\n\
         \x20           c.sendall(data)\n\
         \x20   except ConnectionResetError:\n\
         \x20       print('reset', flush=True)\n",
    );
    let mut server = forwarder(&pki, &backend.target(), &["--drain-timeout", "1s"]);
    let mut client = Proc::spawn(
        "tlscat client --pipe",
        tlscat()
            .args(["client", "--pipe", "--quiet", "--connect", &server.target()])
            .arg("--cacert")
            .arg(pki.ca()),
    );
    writeln!(client.stdin(), "in flight").unwrap();
    client.wait_stdout("the echo", |l| l == "in flight");
    server.proc.signal("TERM");
    assert!(
        server.proc.wait_exit(WAIT).success(),
        "{}",
        server.proc.stderr()
    );
    server
        .proc
        .wait_stderr("drain timeout passed: cutting 1 connection in flight");
    backend
        .proc
        .wait_stdout("how the backend's connection ended", |l| {
            l == "reset" || l == "eof"
        });
    assert!(
        backend.proc.stdout().lines().all(|l| l != "eof"),
        "the backend saw a clean close: {}",
        backend.proc.stdout()
    );
    let status = client.wait_exit(WAIT);
    assert!(
        !status.success(),
        "the client took the cut for a clean end: {}",
        client.stderr()
    );
}
