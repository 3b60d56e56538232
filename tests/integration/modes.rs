//! Server modes (echo, inspect) and the client's `--pipe`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;

use crate::common::*;
use openssl::sha::Sha256;
use serde_json::Value;

/// A reproducible stream of pseudo-random bytes (xorshift), so that a copy can be checked
/// without keeping either side in memory.
struct Bytes(u64);

impl Bytes {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// The server's peak memory (VmHWM), in KiB.
fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn echo_and_pipe_carry_a_gibibyte_both_ways_byte_for_byte_in_bounded_memory() {
    const TOTAL: usize = 1 << 30;
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "echo", "--quiet"]);
    let mut client = tlscat()
        .args(["client", "--connect", &server.target(), "--pipe", "--quiet"])
        .arg("--cacert")
        .arg(pki.ca())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        let mut source = Bytes(0x9e37_79b9_7f4a_7c15);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = TOTAL;
        while left > 0 {
            let n = left.min(buf.len());
            source.fill(&mut buf[..n]);
            hash.update(&buf[..n]);
            stdin.write_all(&buf[..n]).unwrap();
            left -= n;
        }
        hex(hash.finish())
    });
    let mut stdout = client.stdout.take().unwrap();
    let mut hash = Sha256::new();
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        received += n;
    }
    let sent = writer.join().unwrap();
    let status = client.wait().unwrap();
    let mut stderr = String::new();
    client
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(received, TOTAL);
    assert_eq!(hex(hash.finish()), sent, "the copy is byte for byte");
    let peak = peak_memory_kib(server.proc.pid());
    assert!(
        peak < 64 * 1024,
        "the server streamed in bounded memory: peak {peak} KiB"
    );
}

#[test]
fn pipe_sends_close_notify_at_the_end_of_stdin_and_reads_the_rest() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "echo", "--json"]);
    let output = run_with_input(
        tlscat()
            .args(["client", "--connect", &server.target(), "--pipe"])
            .arg("--cacert")
            .arg(pki.ca()),
        b"line one\nline two\n",
    );
    assert_exit(&output, 0);
    assert_eq!(
        output.stdout, b"line one\nline two\n",
        "raw bytes, no prefix"
    );
    assert!(text(&output.stderr).contains("closed     close_notify"));
    let served = &server.proc.wait_json("connection", 1)[0];
    assert_eq!(served["bytes_received"], 18);
    assert_eq!(served["bytes_sent"], 18);
    assert_eq!(served["closed"], "close_notify");
}

#[test]
fn echo_drops_a_client_idle_past_the_read_timeout() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "echo", "--read-timeout", "1s"]);
    let mut client = Proc::spawn(
        "tlscat client --pipe",
        tlscat()
            .args(["client", "--connect", &server.target(), "--pipe"])
            .arg("--cacert")
            .arg(pki.ca()),
    );
    writeln!(client.stdin(), "still here").unwrap();
    client.wait_stdout("the echo", |l| l == "still here");
    server.proc.wait_stderr("timed out after 1s during read");
    let status = client.wait_exit(WAIT);
    assert!(status.success(), "the server closed: the pipe ends");
}

#[test]
fn inspect_answers_curl_with_json_or_html_and_other_clients_with_json() {
    require("curl", "curl");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "inspect"]);
    let url = format!("https://localhost:{}", server.port());
    let curl = |extra: &[&str], path: &str| {
        let output = run(Command::new("curl")
            .args(["--silent", "--show-error", "--cacert", &arg(&pki.ca())])
            .args(extra)
            .arg(format!("{url}{path}")));
        assert_exit(&output, 0);
        text(&output.stdout)
    };

    let json: Value = serde_json::from_str(&curl(&[], "/json")).unwrap();
    assert_eq!(json["type"], "inspect");
    assert_eq!(json["connection"]["version"], "TLSv1.3");
    let hello = &json["connection"]["client_hello"];
    assert!(
        hello["ja4"].as_str().unwrap().starts_with("t13d"),
        "{hello}"
    );
    assert_eq!(hello["server_name"], "localhost");
    assert!(hello["alpn"].to_string().contains("http/1.1"), "{hello}");
    assert!(hello["versions"].to_string().contains("TLS 1.3"));
    assert!(
        hello["extensions"][0].as_str().unwrap().contains("("),
        "{hello}"
    );
    assert!(
        hello["key_shares"]
            .as_array()
            .is_some_and(|k| !k.is_empty())
    );
    assert!(
        json["http"]["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("curl/")
    );

    let by_accept: Value =
        serde_json::from_str(&curl(&["-H", "Accept: application/json"], "/")).unwrap();
    assert_eq!(by_accept["type"], "inspect");

    let page = curl(&[], "/");
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(page.contains("Your client offered"));
    assert!(page.contains(hello["ja4"].as_str().unwrap()));

    let other = server.client(&pki, &["--message", "not http", "--quiet"]);
    assert_exit(&other, 0);
    let answer = text(&other.stdout);
    let body = answer.strip_prefix("Response from server: ").unwrap();
    let body: Value = serde_json::from_str(body.trim_end().trim_end_matches("\\n")).unwrap();
    assert_eq!(
        body["connection"]["client_hello"]["server_name"],
        Value::Null
    );
    assert_eq!(body["connection"]["received"], Value::Null);

    let refused = run(tlscat().args(["server", "--mode", "inspect", "--alpn", "h2"]));
    assert_exit(&refused, 2);
}

#[test]
fn inspect_page_renders_in_headless_chromium() {
    require("chromium", "chromium");
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--mode", "inspect", "--json"]);
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("inspect.png");
    let output = run(Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
        ])
        .args(["--no-first-run", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync"])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .args(["--ignore-certificate-errors", "--window-size=1200,1000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("https://localhost:{}/", server.port())));
    assert_exit(&output, 0);
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 20_000,
        "a rendered page, not a blank one ({} bytes)",
        png.len()
    );
    let seen = &server.proc.wait_json("connection", 1)[0];
    let hello = &seen["client_hello"];
    assert!(
        hello["ja4"].as_str().unwrap().starts_with("t13d"),
        "{hello}"
    );
    assert!(
        hello["cipher_suites"][0]
            .as_str()
            .unwrap()
            .starts_with("GREASE"),
        "{hello}"
    );
    assert!(hello["alpn"].to_string().contains("h2"));
    assert_eq!(seen["alpn"], Value::Null, "inspect does not select h2");
}
