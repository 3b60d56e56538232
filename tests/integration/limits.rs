//! Robustness: concurrency, timeouts, hostile bytes, the connection limit and graceful
//! shutdown. Timeouts are tested with short configured values, never with timed asserts.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::*;

/// Opens N TLS connections at once (all handshaken before any sends), then every one
/// does the seed exchange; prints how many got the reply.
const PYTHON_MANY_CLIENTS: &str = r#"
import socket, ssl, sys, threading
port, cafile, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
barrier = threading.Barrier(n, timeout=60)
results = [None] * n
def one(i):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=60) as raw:
            with ctx.wrap_socket(raw, server_hostname='localhost') as s:
                barrier.wait()
                s.sendall(f'client {i}'.encode())
                data = b''
                while True:
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                results[i] = data.decode()
    except Exception as e:
        results[i] = f'error: {e!r}'
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ok = sum(r == 'Hello from the server!' for r in results)
print(f'{ok} of {n} got the reply')
for r in results:
    if r != 'Hello from the server!':
        print(r)
"#;

/// Connects and handshakes, says so, then waits for a line on stdin before sending its
/// message and printing the reply.
const PYTHON_SLOW_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=30),
                    server_hostname='localhost')
print('handshake done', flush=True)
sys.stdin.readline()
s.sendall(b'late message')
data = b''
while True:
    chunk = s.recv(1024)
    if not chunk:
        break
    data += chunk
print('Response from server:', data.decode(), flush=True)
"#;

/// Plain HTTP, non-TLS bytes, and a truncated ClientHello cut by a TCP reset.
const PYTHON_HOSTILE: &str = r#"
import os, socket, struct, sys
port = int(sys.argv[1])
def conn():
    return socket.create_connection(('127.0.0.1', port), timeout=30)
def drain(s):
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
s = conn(); s.sendall(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'); drain(s); s.close()
s = conn(); s.sendall(b'\xff' + os.urandom(4095)); drain(s); s.close()
s = conn(); s.sendall(bytes.fromhex('1603010200010001fc0303'))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()
print('done', flush=True)
"#;

fn slow_client(server: &Server, pki: &Pki) -> Proc {
    let client = Proc::spawn(
        "python slow client",
        &mut python(
            PYTHON_SLOW_CLIENT,
            &[&server.port().to_string(), &arg(&pki.ca())],
        ),
    );
    client.wait_stdout("that its handshake is done", |l| l == "handshake done");
    client
}

#[test]
fn two_hundred_concurrent_clients_all_get_their_reply() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let output = run(&mut python(
        PYTHON_MANY_CLIENTS,
        &[&server.port().to_string(), &arg(&pki.ca()), "200"],
    ));
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "200 of 200 got the reply\n");
    for i in [0, 99, 199] {
        let expected = format!("Received: client {i}");
        server.proc.wait_stdout(&expected, |l| l == expected);
    }
}

/// The names of the server's threads (from /proc).
fn thread_names(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("tlscat-"))
        .collect();
    names.sort();
    names
}

#[test]
fn threads_sets_how_many_server_threads_share_the_clients() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--threads", "3", "--quiet"]);
    // A thread names itself once it runs: give it the time.
    let expected = ["tlscat-0", "tlscat-1", "tlscat-2"];
    let deadline = std::time::Instant::now() + WAIT;
    while thread_names(server.proc.pid()) != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(thread_names(server.proc.pid()), expected);
    let output = run(&mut python(
        PYTHON_MANY_CLIENTS,
        &[&server.port().to_string(), &arg(&pki.ca()), "60"],
    ));
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "60 of 60 got the reply\n");

    let output = run(tlscat().args(["server", "--threads", "0"]));
    assert_exit(&output, 2);
    assert!(
        text(&output.stderr).contains("--threads"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_silent_client_is_dropped_at_the_handshake_timeout_while_others_are_served() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--handshake-timeout", "1s"]);
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();

    let served = server.client(&pki, &[]);
    assert_exit(&served, 0);

    let mut buf = [0u8; 64];
    match silent.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("the server sent {n} bytes to a client that never spoke"),
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "not dropped: {e}"),
    }
    let line = server
        .proc
        .wait_stderr("timed out after 1s during TLS handshake");
    let local = silent.local_addr().unwrap().to_string();
    assert!(
        line.contains(&local),
        "the log names the peer {local}: {line}"
    );
}

#[test]
fn an_idle_client_after_the_handshake_is_dropped_at_the_read_timeout() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--read-timeout", "1s"]);
    let mut idle = slow_client(&server, &pki);
    server.proc.wait_stderr("timed out after 1s during read");
    assert!(idle.is_running(), "the client is still waiting to send");
    let served = server.client(&pki, &[]);
    assert_exit(&served, 0);
}

#[test]
fn garbage_plain_http_resets_and_rejected_certificates_do_not_stop_the_server() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let hostile = run(&mut python(PYTHON_HOSTILE, &[&server.port().to_string()]));
    assert_exit(&hostile, 0);
    let untrusting = server.client(&Pki::ecdsa(), &[]);
    assert_exit(&untrusting, 5);

    for reason in [
        "the client sent a plain HTTP request to the TLS port",
        "the client does not speak TLS",
        "during the handshake",
        "the client rejected our certificate",
    ] {
        let line = server.proc.wait_stderr(reason);
        assert!(
            line.contains("warning: 127.0.0.1:"),
            "logged with the peer address: {line}"
        );
    }
    let served = server.client(&pki, &[]);
    assert_exit(&served, 0);
    assert_eq!(
        text(&served.stdout),
        "Response from server: Hello from the server!\n"
    );
}

#[test]
fn max_conns_makes_further_clients_wait_until_a_permit_is_free() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--max-conns", "1"]);
    let mut holder = slow_client(&server, &pki);

    // The only permit is taken: the next client is not even accepted.
    let waiting = server.client(&pki, &["--handshake-timeout", "1s"]);
    assert_exit(&waiting, 6);

    writeln!(holder.stdin(), "go").unwrap();
    holder.wait_stdout("the reply", |l| {
        l == "Response from server: Hello from the server!"
    });
    let served = server.client(&pki, &[]);
    assert_exit(&served, 0);
}

#[test]
fn sigterm_lets_connections_in_flight_finish_refuses_new_ones_and_exits_0() {
    let pki = Pki::ecdsa();
    let mut server = Server::start(&pki, &["--drain-timeout", "20s"]);
    let mut in_flight = slow_client(&server, &pki);

    server.proc.signal("TERM");
    server
        .proc
        .wait_stderr("stopping: no new connections; 1 connection in flight may take up to 20s");
    let refused = server.client(&pki, &[]);
    assert_exit(&refused, 3);

    writeln!(in_flight.stdin(), "go").unwrap();
    in_flight.wait_stdout("the reply", |l| {
        l == "Response from server: Hello from the server!"
    });
    let status = server.proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{}", server.proc.stderr());
    server
        .proc
        .wait_stdout("the late message", |l| l == "Received: late message");
}

#[test]
fn the_drain_timeout_cuts_connections_that_do_not_finish() {
    let pki = Pki::ecdsa();
    let mut server = Server::start(&pki, &["--drain-timeout", "500ms"]);
    let _stuck = slow_client(&server, &pki);
    server.proc.signal("TERM");
    let status = server.proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0));
    assert!(
        server
            .proc
            .stderr()
            .contains("drain timeout passed: cutting 1 connection in flight"),
        "{}",
        server.proc.stderr()
    );
}

#[test]
fn a_second_signal_cuts_the_drain_short() {
    let pki = Pki::ecdsa();
    // A drain far longer than the test waits: only the second signal can end it in time.
    let mut server = Server::start(&pki, &["--drain-timeout", "10m"]);
    let _stuck = slow_client(&server, &pki);
    server.proc.signal("TERM");
    server.proc.wait_stderr("stopping");
    server.proc.signal("INT");
    let status = server.proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0));
    server
        .proc
        .wait_stderr("second stop request: cutting 1 connection in flight");
}

#[test]
fn sigint_on_an_idle_server_exits_0_at_once() {
    let pki = Pki::ecdsa();
    let mut server = Server::start(&pki, &[]);
    server.proc.signal("INT");
    let status = server.proc.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0));
}
