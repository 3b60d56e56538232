//! `tlscat bench`: counts, resumption, throughput and request modes against tlscat and
//! `openssl s_server`, the JSON summary, and its exit codes.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// `tlscat bench --json` against `target`, trusting the PKI's CA; the summary and the
/// whole output.
fn bench(pki: &Pki, target: &str, args: &[&str]) -> (Value, std::process::Output) {
    let output = run(tlscat()
        .args(["bench", "--connect", target, "--cacert", &arg(&pki.ca())])
        .arg("--json")
        .args(args));
    let stdout = text(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "one JSON object on stdout ({e}):\n{stdout}{}",
            text(&output.stderr)
        )
    });
    (summary, output)
}

fn number(summary: &Value, path: &[&str]) -> f64 {
    let mut value = summary;
    for key in path {
        value = &value[*key];
    }
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {summary}"))
}

/// Waits until the server's stderr holds `count` lines containing `needle`.
fn wait_for_lines(server: &Server, needle: &str, count: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = server.proc.stderr().matches(needle).count();
        if seen >= count || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn handshake_mode_makes_exactly_the_connections_asked_for_and_reports_latencies() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let (summary, output) = bench(&pki, &server.target(), &["-n", "60", "-c", "4"]);
    assert_exit(&output, 0);
    assert_eq!(summary["type"], "bench");
    assert_eq!(summary["mode"], "handshake");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["connections"]["ok"], 60);
    assert_eq!(summary["connections"]["failed"], 0);
    assert_eq!(summary["connections"]["resumed"], 0);
    assert_eq!(summary["errors"], serde_json::json!({}));
    let negotiated = summary["negotiated"].as_array().unwrap();
    assert_eq!(negotiated.len(), 1, "{summary}");
    assert_eq!(negotiated[0]["version"], "TLSv1.3");
    assert_eq!(negotiated[0]["connections"], 60);

    let [p50, p90, p99, max] =
        ["p50", "p90", "p99", "max"].map(|p| number(&summary, &["handshake_ms", p]));
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "ordered percentiles: {summary}"
    );
    assert!(number(&summary, &["connections_per_second"]) > 0.0);
    assert!(number(&summary, &["client_cpu", "us_per_connection"]) > 0.0);
    assert!(
        summary["response_ms"].is_null(),
        "no request, no response: {summary}"
    );

    // The server really saw them: 60, plus the trial connection made before the clock.
    assert_eq!(
        wait_for_lines(&server, "connection from 127.0.0.1:", 61),
        61
    );
    // No terminal here: no progress line, and nothing else on stderr.
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn resume_reuses_sessions_on_tls_1_2_and_tickets_on_tls_1_3() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &["--quiet"]);
    for (flag, version) in [("--tls1.2", "TLSv1.2"), ("--tls1.3", "TLSv1.3")] {
        let (summary, output) = bench(
            &pki,
            &server.target(),
            &["-n", "40", "-c", "2", "--resume", flag],
        );
        assert_exit(&output, 0);
        assert_eq!(summary["connections"]["ok"], 40, "{flag}");
        assert_eq!(summary["negotiated"][0]["version"], version);
        // Each of the 2 workers starts with a full handshake, then resumes.
        let resumed = number(&summary, &["connections", "resumed"]);
        assert!(resumed >= 38.0, "{flag}: {resumed} resumed: {summary}");
    }

    // Without --resume, or when the server sends no TLS 1.3 tickets, nothing resumes.
    let (summary, _) = bench(&pki, &server.target(), &["-n", "10", "-c", "2"]);
    assert_eq!(summary["connections"]["resumed"], 0);
    let no_tickets = Server::start(&pki, &["--quiet", "--num-tickets", "0"]);
    let (summary, output) = bench(
        &pki,
        &no_tickets.target(),
        &["-n", "10", "-c", "2", "--resume", "--tls1.3"],
    );
    assert_exit(&output, 0);
    assert_eq!(summary["connections"]["ok"], 10);
    assert_eq!(summary["connections"]["resumed"], 0, "{summary}");
}

#[test]
fn throughput_mode_moves_exact_byte_counts_through_echo_and_files_servers() {
    let pki = Pki::ecdsa();
    let echo = Server::start(&pki, &["--quiet", "--mode", "echo"]);
    let (summary, output) = bench(
        &pki,
        &echo.target(),
        &[
            "--mode",
            "throughput",
            "--bytes",
            "1M",
            "-n",
            "4",
            "-c",
            "2",
        ],
    );
    assert_exit(&output, 0);
    assert_eq!(summary["mode"], "throughput (echo)");
    assert_eq!(summary["connections"]["ok"], 4);
    assert_eq!(summary["bytes"]["sent"], 4 * 1024 * 1024);
    assert_eq!(summary["bytes"]["received"], 4 * 1024 * 1024);
    assert!(number(&summary, &["megabytes_per_second", "received"]) > 0.0);

    let root = tempfile::tempdir().unwrap();
    let size = 2 * 1024 * 1024 + 17;
    std::fs::write(root.path().join("big.bin"), vec![7u8; size]).unwrap();
    let files = Server::start(
        &pki,
        &["--quiet", "--mode", "files", "--root", &arg(root.path())],
    );
    let (summary, output) = bench(
        &pki,
        &files.target(),
        &["--mode", "throughput", "--get", "/big.bin", "-n", "3"],
    );
    assert_exit(&output, 0);
    assert_eq!(summary["connections"]["ok"], 3);
    assert_eq!(summary["bytes"]["received"], 3 * size as u64, "{summary}");

    // A missing file stops the run before it starts, saying why.
    let output = run(tlscat()
        .args(["bench", "--connect", &files.target()])
        .args(["--cacert", &arg(&pki.ca())])
        .args(["--mode", "throughput", "--get", "/missing", "-n", "2"]));
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("got 404 for /missing"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn request_mode_sends_the_request_and_reads_each_reply() {
    let pki = Pki::ecdsa();
    let server = Server::start(&pki, &[]);
    let (summary, output) = bench(
        &pki,
        &server.target(),
        &["--mode", "request", "--request", "ping\\tpong", "-n", "10"],
    );
    assert_exit(&output, 0);
    assert_eq!(summary["connections"]["ok"], 10);
    // The seed reply, 10 times (the trial connection is not counted).
    let reply = "Hello from the server!".len() as u64;
    assert_eq!(summary["bytes"]["received"], 10 * reply);
    assert_eq!(summary["bytes"]["sent"], 10 * "ping\tpong".len() as u64);
    server
        .proc
        .wait_stdout_lines("11 requests", 11, |l| l == "Received: ping\\tpong");
}

/// `response_ms` runs from the request sent to the first byte back: a server that thinks
/// for 50 ms before it answers shows at least that, after a handshake that did not wait.
#[test]
fn the_response_latency_runs_from_the_request_to_the_first_byte_back() {
    let pki = Pki::ecdsa();
    let script = "import socket, ssl, sys, time\n\
                  ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
                  ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n\
                  s = socket.socket()\n\
                  s.bind(('127.0.0.1', 0))\n\
                  s.listen(16)\n\
                  print(s.getsockname()[1], flush=True)\n\
                  while True:\n\
                  \x20   c, _ = s.accept()\n\
                  \x20   try:\n\
                  \x20       t = ctx.wrap_socket(c, server_side=True)\n\
                  \x20       t.recv(100)\n\
                  \x20       time.sleep(0.05)\n\
                  \x20       t.sendall(b'pong')\n\
                  \x20       t.unwrap().close()\n\
                  \x20   except (OSError, ssl.SSLError):\n\
                  \x20       c.close()\n";
    let slow = Proc::spawn(
        "python TLS server",
        &mut python(
            script,
            &[&arg(&pki.path("server.crt")), &arg(&pki.path("server.key"))],
        ),
    );
    let port = slow.wait_stdout("its port", |l| l.parse::<u16>().is_ok());
    let (summary, output) = bench(
        &pki,
        &format!("127.0.0.1:{port}"),
        &[
            "--servername",
            "localhost",
            "--mode",
            "request",
            "--request",
            "ping",
            "-n",
            "5",
            "-c",
            "1",
        ],
    );
    assert_exit(&output, 0);
    let [p50, p99, max] = ["p50", "p99", "max"].map(|p| number(&summary, &["response_ms", p]));
    assert!(
        50.0 <= p50 && p50 <= p99 && p99 <= max,
        "the server's 50 ms show: {summary}"
    );
}

#[test]
fn bench_drives_openssl_s_server_too() {
    require("openssl", "openssl");
    let pki = Pki::ecdsa();
    let s_server = Proc::spawn(
        "openssl s_server",
        Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-www"])
            .args(["-cert", &arg(&pki.path("server.crt"))])
            .args(["-key", &arg(&pki.path("server.key"))]),
    );
    let accept = s_server.wait_stdout("ACCEPT", |l| l.starts_with("ACCEPT "));
    let target = accept.trim_start_matches("ACCEPT ").to_string();
    let common = ["--servername", "localhost", "-n", "20", "-c", "2"];
    let (summary, output) = bench(
        &pki,
        &target,
        &[
            &common[..],
            &[
                "--mode",
                "request",
                "--request",
                "GET / HTTP/1.0\\r\\n\\r\\n",
            ],
        ]
        .concat(),
    );
    assert_exit(&output, 0);
    assert_eq!(summary["connections"]["ok"], 20);
    assert!(
        number(&summary, &["bytes", "received"]) > 20.0 * 100.0,
        "{summary}"
    );

    let (summary, output) = bench(&pki, &target, &[&common[..], &["--resume"]].concat());
    assert_exit(&output, 0);
    assert!(
        number(&summary, &["connections", "resumed"]) >= 18.0,
        "{summary}"
    );
}

#[test]
fn failures_have_their_exit_codes_and_say_why() {
    let pki = Pki::ecdsa();
    // Nobody listening: nothing starts, exit 3.
    let refused = format!("127.0.0.1:{}", closed_port());
    let output = run(tlscat()
        .args(["bench", "--connect", &refused, "-n", "5", "--json"])
        .args(["--cacert", &arg(&pki.ca())]));
    assert_exit(&output, 3);
    let error: Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["exit_code"], 3);

    // A server our CA did not sign: exit 5.
    let server = Server::start(&pki, &["--quiet"]);
    let stranger = Pki::ecdsa();
    let output = run(tlscat()
        .args(["bench", "--connect", &server.target(), "-n", "5"])
        .args(["--cacert", &arg(&stranger.ca())]));
    assert_exit(&output, 5);
    assert_eq!(
        text(&output.stderr).lines().count(),
        1,
        "{}",
        text(&output.stderr)
    );

    // Connections that fail during the run: counted, summarised, and the exit code of
    // the most frequent failure.
    let mut dying = Server::start(&pki, &["--quiet"]);
    let bench = Proc::spawn(
        "tlscat bench",
        tlscat()
            .args(["bench", "--connect", &dying.target(), "-d", "3s", "-c", "2"])
            .args(["--cacert", &arg(&pki.ca()), "--json"]),
    );
    std::thread::sleep(Duration::from_millis(800));
    dying.proc.signal("KILL");
    dying.proc.wait_exit(WAIT);
    let summary = bench.wait_stdout("the summary", |l| l.contains("\"type\":\"bench\""));
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert!(number(&summary, &["connections", "ok"]) > 0.0, "{summary}");
    assert!(
        number(&summary, &["connections", "failed"]) > 0.0,
        "{summary}"
    );
    assert_eq!(summary["exit_code"], 3, "{summary}");
    // Refused once the port is closed; reset if a connection was still in the dying
    // server's queue.
    let first_connect_error = summary["errors"]["connect"]["first"]
        .as_str()
        .unwrap_or_default();
    assert!(
        first_connect_error.contains("connection refused")
            || first_connect_error.contains("connection reset"),
        "{summary}"
    );
    bench.wait_stderr("connections failed; most often: could not connect");

    for (flags, expected) in [
        (&["--bytes", "12X"][..], "--bytes"),
        (&["--mode", "throughput"][..], "needs --bytes N"),
        (
            &["--mode", "throughput", "--get", "big"][..],
            "starting with /",
        ),
        (
            &["--bytes", "1M"][..],
            "--bytes and --get are for --mode throughput",
        ),
        (&["-c", "0"][..], "--concurrency"),
    ] {
        let output = run(tlscat().args(["bench", "-n", "1"]).args(flags));
        assert_exit(&output, 2);
        assert!(
            text(&output.stderr).contains(expected),
            "{flags:?}: {}",
            text(&output.stderr)
        );
    }
}
