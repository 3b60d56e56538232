//! Live operations: reloads, drain, listeners (IPv6, Unix, SO_REUSEPORT, systemd socket
//! activation and notifications), the PROXY protocol, shared ticket keys behind HAProxy,
//! and the metrics endpoint.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// Opens N connections and completes their handshakes, says so, waits for a line on
/// stdin, then does the seed exchange on each and prints how many got the reply.
const PYTHON_HOLD_MANY: &str = r#"
import socket, ssl, sys
port, cafile, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
conns = []
for _ in range(n):
    raw = socket.create_connection(('127.0.0.1', port), timeout=30)
    conns.append(ctx.wrap_socket(raw, server_hostname='localhost'))
print('ready', len(conns), flush=True)
sys.stdin.readline()
ok = 0
for c in conns:
    try:
        c.sendall(b'held')
        data = b''
        while True:
            chunk = c.recv(1024)
            if not chunk:
                break
            data += chunk
        ok += data == b'Hello from the server!'
    except Exception as e:
        print('error', e, flush=True)
print(ok, 'of', n, 'got the reply', flush=True)
"#;

/// Sends a PROXY header (given in hex) from a known local port, then TLS, then the seed.
const PYTHON_PROXIED: &str = r#"
import socket, ssl, sys
port, cafile, header, local_port = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
raw = socket.socket()
raw.bind(('127.0.0.1', local_port))
raw.connect(('127.0.0.1', port))
raw.sendall(header)
try:
    s = ssl.create_default_context(cafile=cafile).wrap_socket(raw, server_hostname='localhost')
    s.sendall(b'proxied')
    print(s.recv(100).decode(), flush=True)
except Exception as e:
    print('refused:', e, flush=True)
"#;

fn sha256_of(cert: &Path) -> String {
    let output = run(Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert));
    text(&output.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_string()
}

/// Copies a certificate and key over the served files, each by rename, as a deploy would.
fn deploy(from: &Pki, to: &Path) {
    for name in ["server.crt", "server.key"] {
        let staged = to.join(format!(".{name}.new"));
        std::fs::copy(from.path(name), &staged).unwrap();
        std::fs::rename(&staged, to.join(name)).unwrap();
    }
}

/// A server on `live/server.{crt,key}`, a copy of `pki`'s, that a test can replace.
fn server_on_copies(pki: &Pki, live: &Path, extra: &[&str]) -> Server {
    std::fs::create_dir_all(live).unwrap();
    deploy(pki, live);
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0"])
        .arg("--cert")
        .arg(live.join("server.crt"))
        .arg("--key")
        .arg(live.join("server.key"))
        .args(extra);
    Server::start_with(&mut command)
}

fn leaf_fingerprint(server: &Server, ca: &Pki) -> String {
    let output = server.client(ca, &["--json"]);
    assert_exit(&output, 0);
    connections(&output.stdout)[0]["peer_chain"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_reload_while_50_clients_are_connected_drops_none_and_new_clients_get_the_new_certificate() {
    let old = Pki::ecdsa();
    let new = Pki::ecdsa();
    let live = old.path("live");
    let server = server_on_copies(&old, &live, &[]);
    let mut held = Proc::spawn(
        "50 held connections",
        &mut python(
            PYTHON_HOLD_MANY,
            &[&server.port().to_string(), &arg(&old.ca()), "50"],
        ),
    );
    held.wait_stdout("its 50 handshakes", |l| l == "ready 50");

    deploy(&new, &live);
    server.proc.signal("HUP");
    server.proc.wait_stderr("reloaded (SIGHUP): now serving");
    assert_eq!(
        leaf_fingerprint(&server, &new),
        sha256_of(&new.path("server.crt"))
    );
    assert_exit(&server.client(&old, &[]), 5);

    writeln!(held.stdin(), "go").unwrap();
    held.wait_stdout("the replies", |l| l == "50 of 50 got the reply");
}

#[test]
fn a_bad_reload_keeps_serving_the_previous_certificate() {
    let pki = Pki::ecdsa();
    let live = pki.path("live");
    let server = server_on_copies(&pki, &live, &["--metrics", "127.0.0.1:0"]);
    let before = leaf_fingerprint(&server, &pki);

    std::fs::write(live.join("server.crt"), "not a certificate\n").unwrap();
    server.proc.signal("HUP");
    server
        .proc
        .wait_stderr("reload (SIGHUP) failed, still serving the previous certificate");
    assert_eq!(leaf_fingerprint(&server, &pki), before);

    // A key that does not match is refused too.
    std::fs::copy(pki.path("server.crt"), live.join("server.crt")).unwrap();
    std::fs::copy(pki.path("client.key"), live.join("server.key")).unwrap();
    server.proc.signal("HUP");
    server.proc.wait_stderr("does not match");
    assert_eq!(leaf_fingerprint(&server, &pki), before);
    let metrics = scrape(&server);
    assert!(
        metrics.contains("tlscat_reload_failures_total 2"),
        "{metrics}"
    );
}

#[test]
fn reload_interval_notices_changed_files() {
    let old = Pki::ecdsa();
    let new = Pki::ecdsa();
    let live = old.path("live");
    let server = server_on_copies(&old, &live, &["--reload-interval", "200ms"]);
    deploy(&new, &live);
    server.proc.wait_stderr("reloaded (changed files)");
    assert_eq!(
        leaf_fingerprint(&server, &new),
        sha256_of(&new.path("server.crt"))
    );
}

#[test]
fn sighup_during_a_drain_is_ignored() {
    let pki = Pki::ecdsa();
    let mut server = Server::start(&pki, &["--drain-timeout", "20s"]);
    let mut held = Proc::spawn(
        "a held connection",
        &mut python(
            PYTHON_HOLD_MANY,
            &[&server.port().to_string(), &arg(&pki.ca()), "1"],
        ),
    );
    held.wait_stdout("its handshake", |l| l == "ready 1");
    server.proc.signal("TERM");
    server.proc.wait_stderr("stopping");
    server.proc.signal("HUP");
    server.proc.wait_stderr("SIGHUP ignored: draining");
    writeln!(held.stdin(), "go").unwrap();
    held.wait_stdout("the reply", |l| l == "1 of 1 got the reply");
    assert_eq!(server.proc.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn several_listeners_on_ipv6_and_a_unix_socket_which_is_removed_at_exit() {
    let pki = Pki::ecdsa();
    let socket = pki.path("tlscat.sock");
    // A stale socket file from a crashed run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let mut command = tlscat();
    command
        .args(["server", "--listen", "[::1]:0", "--listen"])
        .arg(format!("unix:{}", socket.display()))
        .args(pki.server_args());
    let mut server = Server::start_with(&mut command);
    assert!(server.addr.is_ipv6());
    server.proc.wait_stdout("the Unix socket", |l| {
        l == format!("Server is listening on unix:{}", socket.display())
    });
    assert_exit(&server.client(&pki, &["--servername", "localhost"]), 0);

    let over_unix = run(&mut python(
        r#"
import socket, ssl, sys
raw = socket.socket(socket.AF_UNIX)
raw.connect(sys.argv[1])
s = ssl.create_default_context(cafile=sys.argv[2]).wrap_socket(raw, server_hostname='localhost')
s.sendall(b'over unix')
print(s.recv(100).decode())
"#,
        &[&arg(&socket), &arg(&pki.ca())],
    ));
    assert_exit(&over_unix, 0);
    assert_eq!(text(&over_unix.stdout), "Hello from the server!\n");
    server.proc.wait_stdout("the Unix client", |l| {
        l == format!("Connected to: unix:{}", socket.display())
    });

    // tlscat's own client over the Unix socket: the name it verifies is localhost.
    let unix_client = run(tlscat()
        .args(["client", "--json", "--connect"])
        .arg(format!("unix:{}", socket.display()))
        .arg("--cacert")
        .arg(pki.ca()));
    assert_exit(&unix_client, 0);
    let report = &connections(&unix_client.stdout)[0];
    assert_eq!(report["received"], "Hello from the server!", "{report}");
    assert_eq!(
        report["peer"],
        format!("unix:{}", socket.display()),
        "{report}"
    );
    assert_eq!(report["verified"], true, "{report}");

    let in_use = run(tlscat()
        .args(["server", "--listen"])
        .arg(format!("unix:{}", socket.display()))
        .args(pki.server_args()));
    assert_exit(&in_use, 2);
    assert!(text(&in_use.stderr).contains("a server answers on it"));

    server.proc.signal("TERM");
    server.proc.wait_exit(WAIT);
    assert!(!socket.exists(), "the socket file is removed at exit");
}

#[test]
fn reuse_port_lets_two_processes_share_a_port() {
    let pki = Pki::ecdsa();
    let first = Server::start(&pki, &["--reuse-port"]);
    let port = first.target();
    let taken = run(tlscat()
        .args(["server", "--listen", &port])
        .args(pki.server_args()));
    assert_exit(&taken, 2);
    let mut command = tlscat();
    command
        .args(["server", "--reuse-port", "--listen", &port])
        .args(pki.server_args());
    let second = Server::start_with(&mut command);
    for _ in 0..20 {
        assert_exit(&first.client(&pki, &["--quiet"]), 0);
    }
    let served = |server: &Server| {
        server
            .proc
            .stdout()
            .lines()
            .filter(|l| l.starts_with("Received"))
            .count()
    };
    let all_counted = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        served(&first) + served(&second) == 20
    });
    assert!(all_counted, "every client was served by one of them");
    // Both get some: the kernel spreads by address hash (20 all on one: p = 2^-19).
    assert!(served(&first) > 0 && served(&second) > 0);
}

#[test]
fn systemd_socket_activation_and_notifications() {
    let pki = Pki::ecdsa();
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    // Python plays systemd: a listening socket as fd 3, LISTEN_PID = the exec'd process.
    let mut wrapper = python(
        r#"
import os, socket, sys
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen()
print('port', s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ['LISTEN_FDS'] = '1'
os.environ['LISTEN_PID'] = str(os.getpid())
os.execvp(sys.argv[1], sys.argv[1:])
"#,
        &[
            env!("CARGO_BIN_EXE_tlscat"),
            "server",
            "--listen",
            "127.0.0.1:1",
        ],
    );
    wrapper
        .args(pki.server_args())
        .env("NOTIFY_SOCKET", &notify_path)
        .current_dir(std::env::temp_dir());
    let mut server = Proc::spawn("tlscat under socket activation", &mut wrapper);
    let port = server.wait_stdout("the port", |l| l.starts_with("port "))[5..].to_string();
    server.wait_stderr("socket(s) from systemd");
    let mut message = [0u8; 256];
    let next = |buf: &mut [u8]| {
        let n = notify.recv(buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(&mut message), "READY=1");
    let output = run(tlscat()
        .args(["client", "--connect", &format!("127.0.0.1:{port}")])
        .arg("--cacert")
        .arg(pki.ca()));
    assert_exit(&output, 0);

    server.signal("HUP");
    assert!(next(&mut message).starts_with("RELOADING=1\nMONOTONIC_USEC="));
    assert_eq!(next(&mut message), "READY=1");
    server.signal("TERM");
    assert_eq!(next(&mut message), "STOPPING=1");
    assert_eq!(server.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn the_proxy_protocol_names_the_real_client_and_bad_headers_are_refused() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--proxy-protocol", "--json"]);
    let proxied = |header: &[u8]| {
        let hex: String = header.iter().map(|b| format!("{b:02x}")).collect();
        let output = run(&mut python(
            PYTHON_PROXIED,
            &[
                &server.port().to_string(),
                &arg(&pki.ca()),
                &hex,
                &closed_port().to_string(),
            ],
        ));
        text(&output.stdout)
    };
    assert_eq!(
        proxied(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n"),
        "Hello from the server!\n"
    );
    let mut v2 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    v2.extend_from_slice(
        &"2001:db8::9"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v2.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v2.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]);
    assert_eq!(proxied(&v2), "Hello from the server!\n");
    assert!(proxied(b"PROXY TCP4 nonsense\r\n").starts_with("refused"));
    assert!(proxied(b"").starts_with("refused"), "no header at all");

    // In any order: each of the server's threads reports a connection as it ends.
    let reports = server.proc.wait_json("connection", 4);
    let peers: Vec<&Value> = reports.iter().map(|r| &r["peer"]).collect();
    assert!(
        peers.contains(&&Value::from("203.0.113.7:40000")),
        "{peers:?}"
    );
    assert!(
        peers.contains(&&Value::from("[2001:db8::9]:40000")),
        "{peers:?}"
    );
    let refused = reports
        .iter()
        .filter(|r| {
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("bad PROXY protocol header"))
        })
        .count();
    assert_eq!(refused, 2, "{reports:?}");
    server.proc.wait_stderr("malformed v1 header");
}

fn ticket_key_file(dir: &Path, name: &str, keys: &[&str]) -> std::path::PathBuf {
    let path = dir.join(name);
    write_private(&path, (keys.join("\n") + "\n").as_bytes());
    path
}

fn new_ticket_key() -> String {
    let mut key = [0u8; 80];
    openssl::rand::rand_bytes(&mut key).unwrap();
    openssl::base64::encode_block(&key)
}

#[test]
fn two_instances_behind_haproxy_see_real_clients_and_resume_each_others_sessions() {
    require("haproxy", "haproxy");
    let pki = Pki::ecdsa();
    let keys = ticket_key_file(pki.dir.path(), "tickets", &[&new_ticket_key()]);
    let instance = || {
        let mut command = tlscat();
        command
            .args([
                "server",
                "--listen",
                "127.0.0.1:0",
                "--proxy-protocol",
                "--json",
            ])
            .arg("--ticket-key-file")
            .arg(&keys)
            .args(pki.server_args());
        Server::start_with(&mut command)
    };
    let (a, b) = (instance(), instance());
    let front = closed_port();
    let config = pki.path("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend tls\n  bind 127.0.0.1:{front}\n  default_backend tlscat\n\
             backend tlscat\n  balance roundrobin\n\
             \x20 server a {} send-proxy-v2\n  server b {} send-proxy-v2\n",
            a.target(),
            b.target()
        ),
    )
    .unwrap();
    let haproxy = Proc::spawn(
        "haproxy",
        Command::new("haproxy").arg("-db").arg("-f").arg(&config),
    );
    // Ready once the front end accepts connections.
    let ready = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", front)).is_ok()
    });
    assert!(ready, "haproxy did not start: {}", haproxy.stderr());

    // Four connections alternate between the instances, each resuming the session the
    // previous one (on the other instance) issued: the ticket keys are shared.
    let output = run(tlscat()
        .args([
            "client",
            "--connect",
            &format!("127.0.0.1:{front}"),
            "--json",
        ])
        .args([
            "--servername",
            "localhost",
            "--reconnect",
            "3",
            "--expect-resumed",
        ])
        .arg("--cacert")
        .arg(pki.ca()));
    assert_exit(&output, 0);
    let client_side = connections(&output.stdout);
    assert_eq!(
        client_side
            .iter()
            .map(|r| r["resumed"].clone())
            .collect::<Vec<_>>(),
        [false, true, true, true]
    );
    // (The readiness probe above shows up as one failed connection on one instance.)
    let handshakes = |s: &Server| -> Vec<Value> {
        connections(s.proc.stdout().as_bytes())
            .into_iter()
            .filter(|r| r["version"] != Value::Null)
            .collect()
    };
    let counted = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        handshakes(&a).len() + handshakes(&b).len() == 4
    });
    assert!(counted, "a: {}\nb: {}", a.proc.stdout(), b.proc.stdout());
    for instance in [&a, &b] {
        let reports = handshakes(instance);
        assert_eq!(reports.len(), 2, "round robin");
        assert!(
            reports.iter().any(|r| r["resumed"] == true),
            "a session from the other instance resumed here: {reports:?}"
        );
    }

    let client_port = closed_port();
    let proxied = run(&mut python(
        PYTHON_PROXIED,
        &[
            &front.to_string(),
            &arg(&pki.ca()),
            "",
            &client_port.to_string(),
        ],
    ));
    assert_eq!(text(&proxied.stdout), "Hello from the server!\n");
    let real = format!("127.0.0.1:{client_port}");
    let seen = |s: &Server| s.proc.stdout().contains(&format!("\"peer\":\"{real}\""));
    assert!(
        (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            seen(&a) || seen(&b)
        }),
        "an instance reports the client's real address {real}"
    );
}

#[test]
fn ticket_keys_rotate_old_tickets_still_resume_until_their_key_is_dropped() {
    let pki = Pki::ecdsa();
    let (old, new) = (new_ticket_key(), new_ticket_key());
    let keys = ticket_key_file(pki.dir.path(), "tickets", &[&old]);
    let mut command = tlscat();
    command
        .args(["server", "--listen", "127.0.0.1:0", "--ticket-key-file"])
        .arg(&keys)
        .args(pki.server_args());
    let server = Server::start_with(&mut command);
    let session = pki.path("session.pem");
    assert_exit(&server.client(&pki, &["--sess-out", &arg(&session)]), 0);
    let resumes = || {
        let output = server.client(&pki, &["--sess-in", &arg(&session), "--json"]);
        connections(&output.stdout)[0]["resumed"] == true
    };

    ticket_key_file(pki.dir.path(), "tickets", &[&new, &old]);
    server.proc.signal("HUP");
    server.proc.wait_stderr("reloaded (SIGHUP)");
    assert!(resumes(), "a ticket under the previous key still resumes");

    ticket_key_file(pki.dir.path(), "tickets", &[&new]);
    server.proc.signal("HUP");
    assert!(
        (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            server.proc.stderr().matches("reloaded (SIGHUP)").count() == 2
        }),
        "second reload: {}",
        server.proc.stderr()
    );
    assert!(
        !resumes(),
        "a ticket whose key was dropped gets a full handshake"
    );

    let bad = ticket_key_file(pki.dir.path(), "bad", &["c2hvcnQ="]);
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0", "--ticket-key-file"])
        .arg(&bad)
        .args(pki.server_args()));
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("line 1: 5 bytes, a key has 80"));
}

#[test]
fn metrics_count_what_happened() {
    require("curl", "curl");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--metrics", "127.0.0.1:0"]);
    for _ in 0..3 {
        assert_exit(&server.client(&pki, &["--quiet"]), 0);
    }
    assert_exit(
        &server.client(&pki, &["--quiet", "--tls1.2", "--reconnect", "1"]),
        0,
    );
    assert_exit(&server.client(&Pki::ecdsa(), &["--quiet"]), 5);
    server
        .proc
        .wait_stderr("the client rejected our certificate");
    // Wait for the five good connections to be counted as closed.
    let mut exposition = String::new();
    for _ in 0..100 {
        exposition = scrape(&server);
        if exposition.contains("tlscat_connections_closed_total{reason=\"ok\"} 5") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for expected in [
        "tlscat_connections_accepted_total 6",
        "tlscat_connections_active 0",
        "tlscat_connections_closed_total{reason=\"ok\"} 5",
        "tlscat_connections_closed_total{reason=\"certificate_rejected\"} 1",
        "tlscat_handshakes_total{version=\"TLSv1.3\",cipher=\"TLS_AES_128_GCM_SHA256\"} 3",
        "tlscat_handshakes_total{version=\"TLSv1.2\",cipher=\"ECDHE-ECDSA-AES128-GCM-SHA256\"} 2",
        "tlscat_handshake_failures_total{reason=\"certificate_rejected\"} 1",
        "tlscat_resumptions_total 1",
        "tlscat_received_bytes_total 110",
        "tlscat_sent_bytes_total 110",
        "tlscat_handshake_duration_seconds_count 5",
        "tlscat_handshake_duration_seconds_bucket{le=\"+Inf\"} 5",
    ] {
        assert!(
            exposition.contains(expected),
            "missing {expected:?} in:\n{exposition}"
        );
    }
    let expiry = run(Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(pki.path("server.crt")));
    let enddate = text(&expiry.stdout);
    let gauge = exposition
        .lines()
        .find(|l| {
            l.starts_with("tlscat_certificate_expiry_timestamp_seconds{subject=\"CN=localhost\"}")
        })
        .expect("the expiry gauge");
    let seconds: i64 = gauge.rsplit(' ').next().unwrap().parse().unwrap();
    let date =
        run(Command::new("date").args(["-u", "-d", &format!("@{seconds}"), "+%Y-%m-%d %H:%M:%SZ"]));
    assert!(
        enddate.contains(text(&date.stdout).trim()),
        "{gauge} is {enddate}"
    );

    let health = run(Command::new("curl").args([
        "--silent",
        &metrics_url(&server).replace("/metrics", "/healthz"),
    ]));
    assert_eq!(text(&health.stdout), "ok\n");
}
