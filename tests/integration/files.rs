//! `tlscat server --mode files`: static files over HTTPS, checked with curl.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use openssl::sha::sha256;
use tempfile::TempDir;

/// A folder to serve, and a secret next to it that must never be reachable.
struct Site {
    dir: TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("index.html"), "<h1>home</h1>\n").unwrap();
        std::fs::write(root.join("docs/index.html"), "docs index\n").unwrap();
        std::fs::write(root.join("docs/a b.txt"), "spaced name\n").unwrap();
        std::fs::write(root.join("style.css"), "body {}\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "TOP SECRET\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("style.css"), root.join("alias.css")).unwrap();
        // 3 MiB that is not all one byte, so that a shifted or repeated chunk shows.
        let big: Vec<u8> = (0..3 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(root.join("big.bin"), big).unwrap();
        Site { dir }
    }

    fn root(&self) -> String {
        arg(&self.dir.path().join("www"))
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("www").join(name)).unwrap()
    }

    fn serve(&self, pki: &Pki) -> Server {
        Server::start(pki, &["--mode", "files", "--root", &self.root()])
    }
}

/// curl against the server, trusting the PKI's CA; returns its output.
fn curl(pki: &Pki, args: &[&str]) -> std::process::Output {
    require("curl", "curl");
    let output = run(Command::new("curl")
        .args(["--silent", "--show-error", "--cacert", &arg(&pki.ca())])
        .args(args));
    assert_exit(&output, 0);
    output
}

/// The status code curl got for `path` (sent as is, without curl's own clean-up).
fn status(pki: &Pki, server: &Server, path: &str) -> String {
    let url = format!("https://localhost:{}{path}", server.port());
    let output = curl(
        pki,
        &[
            "--path-as-is",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ],
    );
    text(&output.stdout)
}

#[test]
fn get_and_head_serve_files_with_types_and_lengths_over_one_kept_alive_connection() {
    let pki = Pki::ecdsa();
    let site = Site::new();
    let server = site.serve(&pki);
    let base = format!("https://localhost:{}", server.port());

    // Three requests, one curl: keep-alive means a single TCP connection.
    let out = tempfile::tempdir().unwrap();
    let output = curl(
        &pki,
        &[
            "-w",
            "%{http_code} %{content_type} %{num_connects}\\n",
            "-o",
            &arg(&out.path().join("home")),
            &format!("{base}/"),
            "-o",
            &arg(&out.path().join("css")),
            &format!("{base}/style.css"),
            "-o",
            &arg(&out.path().join("spaced")),
            &format!("{base}/docs/a%20b.txt"),
        ],
    );
    assert_eq!(
        text(&output.stdout),
        "200 text/html; charset=utf-8 1\n200 text/css 0\n\
         200 text/plain; charset=utf-8 0\n",
        "three answers on the first connection"
    );
    assert_eq!(
        std::fs::read(out.path().join("home")).unwrap(),
        site.file("index.html")
    );
    assert_eq!(
        std::fs::read(out.path().join("css")).unwrap(),
        site.file("style.css")
    );
    assert_eq!(
        std::fs::read(out.path().join("spaced")).unwrap(),
        site.file("docs/a b.txt")
    );

    let head = curl(&pki, &["--head", &format!("{base}/big.bin")]);
    let head = text(&head.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("content-length: 3145728\r\n"), "{head}");
    assert!(
        head.contains("content-type: application/octet-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("last-modified: "), "{head}");

    server.proc.wait_stdout("an access log line", |l| {
        l.starts_with("127.0.0.1:") && l.ends_with("\"GET /style.css HTTP/1.1\" 200 8")
    });
    server.proc.wait_stdout("the HEAD line", |l| {
        l.ends_with("\"HEAD /big.bin HTTP/1.1\" 200 0")
    });
}

#[test]
fn a_large_file_arrives_byte_for_byte() {
    let pki = Pki::ecdsa();
    let site = Site::new();
    let server = site.serve(&pki);
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("big.bin");
    curl(
        &pki,
        &[
            "-o",
            &arg(&copy),
            &format!("https://localhost:{}/big.bin", server.port()),
        ],
    );
    let copy = std::fs::read(&copy).unwrap();
    assert_eq!(copy.len(), 3 * 1024 * 1024);
    assert_eq!(sha256(&copy), sha256(&site.file("big.bin")));
}

/// Downloads /big.bin twice over one connection with a tiny receive buffer, pausing now
/// and then: the server's socket fills up and its writes go out in pieces.
const SLOW_READER: &str = r#"
import hashlib, socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.settimeout(20)
raw.connect(("127.0.0.1", port))
tls = ssl.create_default_context(cafile=ca).wrap_socket(raw, server_hostname="localhost")
for _ in range(2):
    tls.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += tls.recv(1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    body, reads = bytearray(), 0
    while len(body) < length:
        chunk = tls.recv(min(65536, length - len(body)))
        if not chunk:
            break
        body += chunk
        reads += 1
        if reads % 16 == 0 and len(body) < 1 << 20:
            time.sleep(0.02)
    print(len(body), hashlib.sha256(body).hexdigest())
"#;

#[test]
fn a_slow_reader_gets_large_files_byte_for_byte_on_one_connection() {
    let pki = Pki::ecdsa();
    let site = Site::new();
    let server = site.serve(&pki);
    let port = server.port().to_string();
    let output = run(&mut python(SLOW_READER, &[&port, &arg(&pki.ca())]));
    assert_exit(&output, 0);
    let big = site.file("big.bin");
    let expected = format!("{} {}", big.len(), hex(sha256(&big)));
    assert_eq!(
        text(&output.stdout).lines().collect::<Vec<_>>(),
        [&expected, &expected]
    );
}

#[test]
fn nothing_outside_the_root_is_reachable_and_errors_have_their_codes() {
    let pki = Pki::ecdsa();
    let site = Site::new();
    let server = site.serve(&pki);
    for (path, expected) in [
        ("/missing.html", "404"),
        ("/../secret.txt", "400"),
        ("/docs/../../secret.txt", "400"),
        ("/%2e%2e/secret.txt", "400"),
        ("/docs/%2E%2E/%2e%2e/secret.txt", "400"),
        ("/%00", "400"),
        ("/leak.txt", "404"),
        ("/alias.css", "200"),
        ("/docs", "301"),
        ("/docs/", "200"),
        ("/empty/", "403"),
        ("/index.html?x=1", "200"),
    ] {
        assert_eq!(status(&pki, &server, path), expected, "GET {path}");
    }

    // The secret's text never comes back, whatever the path.
    let url = format!("https://localhost:{}/leak.txt", server.port());
    let body = curl(&pki, &["--path-as-is", &url]);
    assert!(!text(&body.stdout).contains("TOP SECRET"));

    let redirect = curl(
        &pki,
        &[
            "--head",
            &format!("https://localhost:{}/docs", server.port()),
        ],
    );
    assert!(
        text(&redirect.stdout)
            .to_ascii_lowercase()
            .contains("location: /docs/\r\n"),
        "{}",
        text(&redirect.stdout)
    );

    let post = curl(
        &pki,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data",
            "x=1",
            &format!("https://localhost:{}/", server.port()),
        ],
    );
    assert_eq!(text(&post.stdout), "405");
    // The server served all of that and is still here.
    assert_eq!(status(&pki, &server, "/"), "200");
}

#[test]
fn a_client_that_does_not_speak_http_gets_400_and_a_close() {
    let pki = Pki::ecdsa();
    let site = Site::new();
    let server = site.serve(&pki);
    let output = server.client(&pki, &[]);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("Response from server: HTTP/1.1 400 Bad Request\\r\\n"),
        "{stdout}"
    );
}

#[test]
fn files_mode_flags_are_checked_before_serving() {
    let pki = Pki::ecdsa();
    let cases: [(&[&str], &str); 3] = [
        (&["--mode", "files"], "--mode files needs --root DIR"),
        (&["--root", "/tmp"], "--root is the folder of --mode files"),
        (
            &["--mode", "files", "--root", "/nonexistent/www"],
            "/nonexistent/www",
        ),
    ];
    for (flags, expected) in cases {
        let output = run(tlscat()
            .args(["server", "--listen", "127.0.0.1:0"])
            .args(pki.server_args())
            .args(flags));
        assert_exit(&output, 2);
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    let file = pki.path("server.crt");
    let output = run(tlscat()
        .args(["server", "--listen", "127.0.0.1:0"])
        .args(pki.server_args())
        .args(["--mode", "files", "--root"])
        .arg(Path::new(&file)));
    assert_exit(&output, 2);
    assert!(
        text(&output.stderr).contains("not a folder"),
        "{}",
        text(&output.stderr)
    );
}
