//! Hostile peers. For each: the hostile traffic, then (a) an honest client is still served,
//! (b) the server logged one clear line naming the bad peer, (c) the server's open file
//! descriptors, threads and active connections are back to where they were.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// One hostile client, by name (first argument); the port is the second.
const PYTHON_HOSTILE: &str = r#"
import os, socket, ssl, struct, sys, threading, time
mode, port = sys.argv[1], int(sys.argv[2])
extra = sys.argv[3:]

def conn():
    return socket.create_connection(('127.0.0.1', port), timeout=30)

def drain(s):
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass

def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()

def client_hello(tls12=False):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.create_default_context()
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname='localhost')
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()

def handshaken(cafile):
    # A TLS connection driven by hand, so that raw bytes can follow it.
    s = conn()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context(cafile=cafile).wrap_bio(incoming, outgoing, server_hostname='localhost')
    while True:
        try:
            obj.do_handshake()
            s.sendall(outgoing.read())
            return s, obj, incoming, outgoing
        except ssl.SSLWantReadError:
            s.sendall(outgoing.read())
            incoming.write(s.recv(65536))

if mode == 'http':
    s = conn(); s.sendall(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'); drain(s); s.close()
elif mode == 'connect':
    s = conn(); s.sendall(b'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n'); drain(s); s.close()
elif mode == 'hello-then-alert':
    # A TLS 1.2 client that gives up after the server's hello: a fatal handshake_failure.
    s = conn(); s.sendall(client_hello(tls12=True)); s.recv(65536)
    s.sendall(b'\x15\x03\x03\x00\x02\x02\x28'); drain(s); s.close()
elif mode == 'random':
    s = conn(); s.sendall(b'\xff' + os.urandom(4095)); drain(s); s.close()
elif mode == 'sslv2':
    body = b'\x01\x00\x02\x00\x15\x00\x00\x00\x10' + bytes.fromhex('0700c0050080030080010080060040040080020080') + os.urandom(16)
    s = conn(); s.sendall(bytes([0x80 | (len(body) >> 8), len(body) & 0xff]) + body); drain(s); s.close()
elif mode == 'truncated-hello':
    s = conn(); s.sendall(client_hello()[:100]); s.shutdown(socket.SHUT_WR); drain(s); s.close()
elif mode == 'bad-extensions':
    hello = bytearray(client_hello())
    # record(5) type(1) length(3) version(2) random(32) session id(1+n) suites(2+n) compression(1+n)
    at = 5 + 4 + 2 + 32
    at += 1 + hello[at]
    at += 2 + int.from_bytes(hello[at:at + 2], 'big')
    at += 1 + hello[at]
    hello[at:at + 2] = (0xffff).to_bytes(2, 'big')
    s = conn(); s.sendall(bytes(hello)); drain(s); s.close()
elif mode == 'huge-extension':
    hello = client_hello()
    message = hello[5:]
    ext = (21).to_bytes(2, 'big') + (60000).to_bytes(2, 'big') + bytes(60000)
    body = bytearray(message[4:])
    ext_len_at = 2 + 32
    ext_len_at += 1 + body[ext_len_at]
    ext_len_at += 2 + int.from_bytes(body[ext_len_at:ext_len_at + 2], 'big')
    ext_len_at += 1 + body[ext_len_at]
    old = int.from_bytes(body[ext_len_at:ext_len_at + 2], 'big')
    body[ext_len_at:ext_len_at + 2] = ((old + len(ext)) & 0xffff).to_bytes(2, 'big')
    body += ext
    message = b'\x01' + len(body).to_bytes(3, 'big') + bytes(body)
    records = b''
    for i in range(0, len(message), 16384):
        chunk = message[i:i + 16384]
        records += b'\x16\x03\x01' + len(chunk).to_bytes(2, 'big') + chunk
    s = conn(); s.sendall(records); drain(s); s.close()
elif mode == 'oversized-record':
    s = conn(); s.sendall(b'\x16\x03\x01' + (16384 + 2048 + 1).to_bytes(2, 'big') + bytes(64)); drain(s); s.close()
elif mode == 'reset-in-handshake':
    s = conn(); s.sendall(client_hello()[:60]); time.sleep(0.2); reset(s)
elif mode == 'reset-in-record':
    s, obj, incoming, outgoing = handshaken(extra[0])
    obj.write(b'x' * 10000)
    record = outgoing.read()
    s.sendall(record[:len(record) // 2]); time.sleep(0.2); reset(s)
elif mode == 'no-close-notify':
    s, obj, incoming, outgoing = handshaken(extra[0])
    # Take the session tickets in, so that closing sends a FIN, not a reset.
    s.settimeout(0.3)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
elif mode == 'never-reads':
    s, obj, incoming, outgoing = handshaken(extra[0])
    s.settimeout(30)
    try:
        for _ in range(10000):
            obj.write(b'y' * 16384)
            s.sendall(outgoing.read())
    except OSError:
        pass
elif mode == 'slowloris':
    n, every = int(extra[0]), float(extra[1])
    socks = [conn() for _ in range(n)]
    hello = client_hello()
    for s in socks:
        s.setblocking(False)
        s.send(hello[:1])
    print('slow', n, 'open', flush=True)
    open_socks, sent = list(socks), 1
    while open_socks and sent < len(hello):
        time.sleep(every)
        still = []
        for s in open_socks:
            try:
                if s.recv(1) == b'':
                    continue
            except BlockingIOError:
                pass
            except OSError:
                continue
            try:
                s.send(hello[sent:sent + 1])
                still.append(s)
            except OSError:
                pass
        open_socks, sent = still, sent + 1
    print('slow', len(open_socks), 'left', flush=True)
print('done', flush=True)
"#;

/// A server with short timeouts and metrics, and its resource baseline.
struct Watched {
    server: Server,
    fds: usize,
    threads: usize,
    /// Flags an honest client needs (a client certificate with mutual TLS).
    honest: Vec<String>,
}

fn count_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn count_threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn active_connections(server: &Server) -> Option<u64> {
    let line = server.proc.wait_stderr("metrics on http://");
    let url = line.rsplit(' ').next().unwrap();
    let output = run(Command::new("curl").args(["--silent", url]));
    text(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("tlscat_connections_active "))
        .and_then(|v| v.parse().ok())
}

impl Watched {
    fn start(pki: &Pki, extra: &[&str]) -> Watched {
        Watched::start_with(pki, extra, &[])
    }

    fn start_with(pki: &Pki, extra: &[&str], honest: &[&str]) -> Watched {
        require("curl", "curl");
        let mut args = vec![
            "--metrics",
            "127.0.0.1:0",
            "--handshake-timeout",
            "3s",
            "--read-timeout",
            "3s",
        ];
        args.extend_from_slice(extra);
        let server = Server::start(pki, &args);
        let watched = Watched {
            fds: 0,
            threads: 0,
            honest: honest.iter().map(|s| s.to_string()).collect(),
            server,
        };
        // One honest exchange first, so that lazily made things exist in the baseline.
        watched.honest_exchange(pki);
        let (fds, threads) = resting(&watched.server);
        Watched {
            fds,
            threads,
            ..watched
        }
    }

    fn honest_exchange(&self, pki: &Pki) {
        let mut args = vec!["--quiet"];
        args.extend(self.honest.iter().map(String::as_str));
        let honest = self.server.client(pki, &args);
        assert_exit(&honest, 0);
        // The seed's answer, or (echo mode) the client's own message back.
        let answer = text(&honest.stdout);
        assert!(
            answer == "Response from server: Hello from the server!\n"
                || answer == "Response from server: Hello from the client!\n",
            "{answer}"
        );
    }

    /// (a) an honest client is served, (b) the log names the bad peer, (c) resources settle.
    fn check(&self, pki: &Pki, log: &str) {
        self.honest_exchange(pki);
        let line = self.server.proc.wait_stderr(log);
        assert!(
            line.contains(": 127.0.0.1:"),
            "the line names the peer: {line}"
        );
        settle_to(&self.server, self.fds, self.threads);
    }
}

/// The server's file descriptors and threads at rest: no connection active, and two
/// readings apart agree (the last connection, or a metrics request, may still be closing
/// its socket just after the client is done).
fn resting(server: &Server) -> (usize, usize) {
    let pid = server.proc.pid();
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    loop {
        let active = active_connections(server);
        std::thread::sleep(Duration::from_millis(100));
        let now = (count_fds(pid), count_threads(pid));
        if active == Some(0) && last == Some(now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the server never came to rest: fds/threads {now:?}, active {active:?}"
        );
        last = Some(now);
    }
}

/// Waits until the server is back to `fds` descriptors, `threads` threads and no
/// active connection; fails with what it saw.
fn settle_to(server: &Server, fds: usize, threads: usize) {
    let pid = server.proc.pid();
    let deadline = Instant::now() + WAIT;
    loop {
        let now = (
            count_fds(pid),
            count_threads(pid),
            active_connections(server),
        );
        if now == (fds, threads, Some(0)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not back to baseline: fds/threads/active {now:?}, expected ({fds}, {threads}, 0)\n{}",
            server.proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hostile(mode: &str, server: &Server, extra: &[&str]) -> String {
    let mut args = vec![mode.to_string(), server.port().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&mut python(PYTHON_HOSTILE, &args));
    assert_exit(&output, 0);
    text(&output.stdout)
}

macro_rules! hostile_case {
    ($name:ident, $mode:expr, $log:expr) => {
        #[test]
        fn $name() {
            let pki = Pki::ecdsa();
            let watched = Watched::start(&pki, &[]);
            hostile($mode, &watched.server, &[&arg(&pki.ca())]);
            watched.check(&pki, $log);
        }
    };
}

// Each log line: the reason, then the hint for this side.
hostile_case!(
    plain_http,
    "http",
    "the client sent a plain HTTP request to the TLS port: use https:// or a TLS client"
);
hostile_case!(
    a_proxy_request,
    "connect",
    "the client sent an HTTP proxy (CONNECT) request to the TLS port: tlscat is not a proxy"
);
hostile_case!(
    random_bytes,
    "random",
    "the client does not speak TLS: point TLS clients at this port, plain ones elsewhere"
);
hostile_case!(
    an_sslv2_style_hello,
    "sslv2",
    "the client does not speak TLS: point TLS clients at this port, plain ones elsewhere"
);
hostile_case!(
    a_truncated_client_hello,
    "truncated-hello",
    "the client closed the connection during the handshake: the client gave up: check its output"
);
hostile_case!(
    a_client_that_gives_up_with_an_alert,
    "hello-then-alert",
    "the client aborted the handshake (handshake_failure alert): the client found nothing \
     acceptable in our offer"
);
hostile_case!(
    a_malformed_extension_block,
    "bad-extensions",
    "the client sent a malformed TLS message"
);
hostile_case!(
    a_huge_extension_block,
    "huge-extension",
    "): a broken or hostile peer"
);
hostile_case!(
    a_record_over_the_size_limit,
    "oversized-record",
    "the client sent a record larger than TLS allows: a broken or hostile peer, or not TLS at all"
);
hostile_case!(
    a_reset_in_the_handshake,
    "reset-in-handshake",
    "connection lost during the handshake"
);
hostile_case!(a_reset_in_a_record, "reset-in-record", "read failed");
hostile_case!(
    a_close_without_close_notify,
    "no-close-notify",
    "disconnected without sending a message"
);

fn s_client(server: &Server, args: &[&str], input: &[u8]) -> std::process::Output {
    require("openssl", "openssl");
    run_with_input(
        Command::new("openssl")
            .args(["s_client", "-connect", &server.target()])
            .args(args),
        input,
    )
}

#[test]
fn a_tls_1_1_only_client() {
    let pki = Pki::ecdsa();
    let watched = Watched::start(&pki, &[]);
    let old = s_client(
        &watched.server,
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
        b"",
    );
    assert!(!old.status.success());
    watched.check(&pki, "no TLS version in common with the client");
}

#[test]
fn a_client_offering_only_refused_ciphers() {
    let pki = Pki::rsa();
    let watched = Watched::start(&pki, &[]);
    let weak = s_client(&watched.server, &["-tls1_2", "-cipher", "AES128-SHA"], b"");
    assert!(!weak.status.success());
    watched.check(&pki, "no cipher suite or key exchange group in common");
}

#[test]
fn a_client_asking_for_renegotiation_is_refused() {
    let pki = Pki::ecdsa();
    let watched = Watched::start(&pki, &[]);
    // Interactive s_client (no -ign_eof) renegotiates on a line "R".
    require("openssl", "openssl");
    let mut client = Proc::spawn(
        "openssl s_client",
        Command::new("openssl")
            .args(["s_client", "-connect", &watched.server.target(), "-tls1_2"])
            .args(["-CAfile", &arg(&pki.ca())]),
    );
    client.wait_stdout("the handshake", |l| {
        l.starts_with("    Verify return code: 0")
    });
    client.stdin().write_all(b"R\n").unwrap();
    client.wait_stderr("RENEGOTIATING");
    client.wait_stderr("no renegotiation");
    client.close_stdin();
    client.wait_exit(WAIT);
    watched.check(&pki, "refused the peer's renegotiation request");
}

#[test]
fn client_certificates_from_an_unknown_ca_or_expired_are_refused() {
    let pki = Pki::ecdsa();
    let ca = arg(&pki.ca());
    let (crt, key) = (arg(&pki.path("client.crt")), arg(&pki.path("client.key")));
    let watched = Watched::start_with(
        &pki,
        &["--client-ca", &ca],
        &["--cert", &crt, "--key", &key],
    );

    let stranger = Pki::ecdsa();
    let unknown = watched.server.client(
        &pki,
        &[
            "--cert",
            &arg(&stranger.path("client.crt")),
            "--key",
            &arg(&stranger.path("client.key")),
        ],
    );
    assert_exit(&unknown, 5);
    let line = watched.server.proc.wait_stderr(
        "unable to get local issuer certificate: the client sent CN=tlscat client, issued by",
    );
    assert!(line.contains(": 127.0.0.1:"), "{line}");

    let (crt, key) = pki.issue_client_cert("expired-client", -3 * 86_400, -86_400);
    let expired = watched
        .server
        .client(&pki, &["--cert", &arg(&crt), "--key", &arg(&key)]);
    assert_exit(&expired, 5);
    let line = watched
        .server
        .proc
        .wait_stderr("certificate has expired: CN=tlscat client expired on ");
    assert!(
        line.contains("the client needs a new certificate from its CA"),
        "{line}"
    );

    watched.check(&pki, "certificate has expired");
}

#[test]
fn slowloris_1000_connections_do_not_keep_honest_clients_out() {
    let pki = Pki::ecdsa();
    let watched = Watched::start(&pki, &[]);
    let mut slow = Proc::spawn(
        "slowloris",
        &mut python(
            PYTHON_HOSTILE,
            &[
                "slowloris",
                &watched.server.port().to_string(),
                "1000",
                "1.0",
            ],
        ),
    );
    slow.wait_stdout("all connections open", |l| l == "slow 1000 open");
    for _ in 0..5 {
        let honest = watched
            .server
            .client(&pki, &["--quiet", "--handshake-timeout", "3s"]);
        assert_exit(&honest, 0);
    }
    slow.wait_stdout("the server dropped them", |l| l.starts_with("slow 0 left"));
    slow.wait_exit(WAIT);
    let dropped = watched
        .server
        .proc
        .stderr()
        .matches("timed out after 3s during TLS handshake")
        .count();
    assert!(dropped >= 1000, "each slow peer logged: {dropped}");
    watched.check(&pki, "timed out after 3s during TLS handshake");
}

#[test]
fn a_flood_beyond_max_conns_waits_and_the_server_recovers() {
    let pki = Pki::ecdsa();
    let watched = Watched::start(&pki, &["--max-conns", "20"]);
    let flood = run(&mut python(
        r#"
import socket, ssl, sys, threading
port, cafile, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
ok = []
def one():
    try:
        with ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=60),
                             server_hostname='localhost') as s:
            s.sendall(b'flood')
            ok.append(s.recv(100) == b'Hello from the server!')
    except Exception as e:
        print('error', e, flush=True)
threads = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in threads]
[t.join() for t in threads]
print(sum(ok), 'of', n, flush=True)
"#,
        &[&watched.server.port().to_string(), &arg(&pki.ca()), "300"],
    ));
    assert_eq!(text(&flood.stdout), "300 of 300\n", "all waited their turn");
    let honest = watched.server.client(&pki, &["--quiet"]);
    assert_exit(&honest, 0);
    settle_to(&watched.server, watched.fds, watched.threads);
}

#[test]
fn a_client_that_never_reads_is_freed_by_the_write_timeout() {
    let pki = Pki::ecdsa();
    let watched = Watched::start(&pki, &["--mode", "echo", "--write-timeout", "1s"]);
    hostile("never-reads", &watched.server, &[&arg(&pki.ca())]);
    let line = watched
        .server
        .proc
        .wait_stderr("timed out after 1s during write");
    assert!(line.contains(": 127.0.0.1:"), "{line}");
    let honest = run_with_input(
        tlscat()
            .args([
                "client",
                "--connect",
                &watched.server.target(),
                "--pipe",
                "--quiet",
            ])
            .arg("--cacert")
            .arg(pki.ca()),
        b"still served\n",
    );
    assert_exit(&honest, 0);
    assert_eq!(text(&honest.stdout), "still served\n");
    settle_to(&watched.server, watched.fds, watched.threads);
}
