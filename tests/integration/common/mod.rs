//! Shared test helpers: a fresh PKI per test (made in-process, like scripts/gen-certs.sh
//! makes it), the real binary on 127.0.0.1:0, real peers as child processes that are
//! killed on drop, and waits that are bounded in time.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

mod ca;
mod services;
pub use ca::{Level, OpensslCa};
pub use services::{Dovecot, Postfix, Postgres, Slapd};

/// Upper bound for anything a test waits for; far above what any step needs.
pub const WAIT: Duration = Duration::from_secs(30);

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test (never skips it) when a peer program is missing, naming the package.
pub fn require(program: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed: install the Debian package `{package}` \
         (.ci/run does; see README, Prerequisites)"
    );
}

/// The tlscat binary, run from a neutral directory (tests never read certs/) with the
/// user's logging settings removed.
pub fn tlscat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tlscat"));
    command
        .current_dir(std::env::temp_dir())
        .env_remove("RUST_LOG");
    command
}

/// Lossy text of process output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A SHA-256 digest in lowercase hex, as `sha256sum` and Python's hexdigest() print it.
pub fn hex(digest: [u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A CA, server and client certificate in a temp dir, made in-process with the openssl
/// crate like scripts/gen-certs.sh makes them (which has tests of its own): the same
/// names, extensions, key types and file modes, and a CA name of its own per set.
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca_name: String,
}

/// The key type of a PKI.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256 (gen-certs.sh's default).
    Ecdsa,
    /// RSA 2048 (`--rsa`).
    Rsa,
}

impl Pki {
    pub fn ecdsa() -> Pki {
        Pki::generate(KeyKind::Ecdsa, 2)
    }

    pub fn rsa() -> Pki {
        Pki::generate(KeyKind::Rsa, 2)
    }

    /// A set whose server and client certificates are valid `days`.
    pub fn generate(kind: KeyKind, days: i64) -> Pki {
        Pki::generate_in(tempfile::tempdir().expect("temp dir"), kind, days)
    }

    /// One PKI per test binary and key type, for tests that only read it (the interop
    /// matrix): made once under Cargo's target tmp dir instead of once per test.
    pub fn shared(rsa: bool) -> &'static Pki {
        static ECDSA: OnceLock<Pki> = OnceLock::new();
        static RSA: OnceLock<Pki> = OnceLock::new();
        let (cell, kind) = if rsa {
            (&RSA, KeyKind::Rsa)
        } else {
            (&ECDSA, KeyKind::Ecdsa)
        };
        cell.get_or_init(|| {
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
            Pki::generate_in(dir, kind, 2)
        })
    }

    fn generate_in(dir: tempfile::TempDir, kind: KeyKind, days: i64) -> Pki {
        let ca_name = format!("tlscat test CA {:08x}", rand_u32());
        let ca_key = new_key(kind);
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", &ca_name).unwrap();
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        set_serial(&mut builder);
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&ca_key).unwrap();
        let now = unix_now();
        builder
            .set_not_before(&Asn1Time::from_unix(now - 60).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(now + 3650 * 86_400).unwrap())
            .unwrap();
        builder
            .append_extension(
                BasicConstraints::new()
                    .critical()
                    .ca()
                    .pathlen(0)
                    .build()
                    .unwrap(),
            )
            .unwrap();
        builder
            .append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        let identifier = SubjectKeyIdentifier::new()
            .build(&builder.x509v3_context(None, None))
            .unwrap();
        builder.append_extension(identifier).unwrap();
        builder.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = builder.build();
        std::fs::write(dir.path().join("ca.crt"), ca.to_pem().unwrap()).unwrap();
        write_private(
            &dir.path().join("ca.key"),
            &ca_key.private_key_to_pem_pkcs8().unwrap(),
        );
        let pki = Pki { dir, ca_name };
        let sans = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"];
        let validity = days * 86_400;
        pki.issue(Leaf {
            stem: "server",
            subject: &[("CN", "localhost")],
            sans: &sans,
            server: true,
            kind,
            valid_from: -60,
            valid_until: validity,
        });
        pki.issue(Leaf {
            stem: "client",
            subject: &[("CN", "tlscat client")],
            sans: &[],
            server: false,
            kind,
            valid_from: -60,
            valid_until: validity,
        });
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.crt")
    }

    /// The CA's subject, `CN=tlscat test CA …`.
    pub fn ca_subject(&self) -> String {
        format!("CN={}", self.ca_name)
    }

    /// `--cert server.crt --key server.key`
    pub fn server_args(&self) -> Vec<OsString> {
        vec![
            "--cert".into(),
            self.path("server.crt").into(),
            "--key".into(),
            self.path("server.key").into(),
        ]
    }

    /// Issues another server certificate from this CA with the given SANs and validity
    /// (seconds relative to now), written to `STEM.crt` / `STEM.key`.
    pub fn issue_server_cert(
        &self,
        stem: &str,
        sans: &[&str],
        valid_from: i64,
        valid_until: i64,
    ) -> (PathBuf, PathBuf) {
        self.issue(Leaf {
            stem,
            subject: &[("CN", "localhost")],
            sans,
            server: true,
            kind: KeyKind::Ecdsa,
            valid_from,
            valid_until,
        })
    }

    /// Issues another client certificate (CN=tlscat client) from this CA.
    pub fn issue_client_cert(
        &self,
        stem: &str,
        valid_from: i64,
        valid_until: i64,
    ) -> (PathBuf, PathBuf) {
        self.issue(Leaf {
            stem,
            subject: &[("CN", "tlscat client")],
            sans: &[],
            server: false,
            kind: KeyKind::Ecdsa,
            valid_from,
            valid_until,
        })
    }

    /// Issues a client certificate with this subject (`CN`, `OU`, … entries) and SANs
    /// (`DNS:…`, `URI:…`, `IP:…`), valid for a day.
    pub fn issue_client_named(
        &self,
        stem: &str,
        subject: &[(&str, &str)],
        sans: &[&str],
    ) -> (PathBuf, PathBuf) {
        self.issue(Leaf {
            stem,
            subject,
            sans,
            server: false,
            kind: KeyKind::Ecdsa,
            valid_from: -60,
            valid_until: 86_400,
        })
    }

    fn issue(&self, leaf: Leaf<'_>) -> (PathBuf, PathBuf) {
        let Leaf {
            stem,
            subject,
            sans,
            server,
            kind,
            valid_from,
            valid_until,
        } = leaf;
        let ca_cert = X509::from_pem(&std::fs::read(self.ca()).unwrap()).unwrap();
        let ca_key =
            PKey::private_key_from_pem(&std::fs::read(self.path("ca.key")).unwrap()).unwrap();
        let key = new_key(kind);
        let mut name = X509NameBuilder::new().unwrap();
        for (field, value) in subject {
            name.append_entry_by_text(field, value).unwrap();
        }
        let name = name.build();
        let now = unix_now();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        set_serial(&mut builder);
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(ca_cert.subject_name()).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::from_unix(now + valid_from).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(now + valid_until).unwrap())
            .unwrap();
        builder
            .append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        let mut usage = KeyUsage::new();
        usage.critical().digital_signature();
        if kind == KeyKind::Rsa {
            usage.key_encipherment();
        }
        builder.append_extension(usage.build().unwrap()).unwrap();
        let mut extended = ExtendedKeyUsage::new();
        if server {
            extended.server_auth();
        } else {
            extended.client_auth();
        }
        builder.append_extension(extended.build().unwrap()).unwrap();
        if !sans.is_empty() {
            let mut alt = SubjectAlternativeName::new();
            for san in sans {
                match san.split_once(':') {
                    Some(("DNS", dns)) => alt.dns(dns),
                    Some(("IP", ip)) => alt.ip(ip),
                    Some(("URI", uri)) => alt.uri(uri),
                    _ => panic!("SAN {san} must be DNS:…, IP:… or URI:…"),
                };
            }
            let alt = alt
                .build(&builder.x509v3_context(Some(&ca_cert), None))
                .unwrap();
            builder.append_extension(alt).unwrap();
        }
        let identifier = SubjectKeyIdentifier::new()
            .build(&builder.x509v3_context(Some(&ca_cert), None))
            .unwrap();
        builder.append_extension(identifier).unwrap();
        let authority = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(&ca_cert), None))
            .unwrap();
        builder.append_extension(authority).unwrap();
        builder.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let cert = builder.build();
        let (crt, key_path) = (
            self.path(&format!("{stem}.crt")),
            self.path(&format!("{stem}.key")),
        );
        std::fs::write(&crt, cert.to_pem().unwrap()).unwrap();
        write_private(&key_path, &key.private_key_to_pem_pkcs8().unwrap());
        (crt, key_path)
    }
}

/// A leaf certificate to issue.
struct Leaf<'a> {
    stem: &'a str,
    /// `("CN", "localhost")`, `("OU", "web")`, …
    subject: &'a [(&'a str, &'a str)],
    sans: &'a [&'a str],
    server: bool,
    kind: KeyKind,
    valid_from: i64,
    valid_until: i64,
}

fn new_key(kind: KeyKind) -> PKey<Private> {
    match kind {
        KeyKind::Ecdsa => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
        }
        KeyKind::Rsa => PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
    }
}

fn set_serial(builder: &mut openssl::x509::X509Builder) {
    let mut serial = BigNum::new().unwrap();
    serial
        .rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)
        .unwrap();
    builder
        .set_serial_number(&Asn1Integer::from_bn(&serial).unwrap())
        .unwrap();
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rand_u32() -> u32 {
    let mut bytes = [0u8; 4];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    u32::from_be_bytes(bytes) >> 1
}

/// Lines a child wrote so far, filled by a reader thread.
#[derive(Default)]
struct Transcript {
    lines: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

impl Transcript {
    fn follow(stream: impl Read + Send + 'static) -> Arc<Transcript> {
        let transcript = Arc::new(Transcript::default());
        let writer = Arc::clone(&transcript);
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        writer.lines.lock().unwrap().0.push(text);
                        writer.changed.notify_all();
                    }
                }
            }
            writer.lines.lock().unwrap().1 = true;
            writer.changed.notify_all();
        });
        transcript
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().0.join("\n")
    }

    /// The first line matching `predicate`, waiting up to `limit`.
    fn wait(&self, limit: Duration, predicate: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut guard = self.lines.lock().unwrap();
        loop {
            if let Some(line) = guard.0.iter().find(|l| predicate(l)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if guard.1 || now >= deadline {
                return None;
            }
            guard = self.changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }
}

/// A child process that is killed when the test ends, whatever happens.
pub struct Proc {
    name: String,
    child: Child,
    stdout: Arc<Transcript>,
    stderr: Arc<Transcript>,
}

impl Proc {
    /// Starts `command` with piped stdio.
    pub fn spawn(name: &str, command: &mut Command) -> Proc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = Transcript::follow(child.stdout.take().unwrap());
        let stderr = Transcript::follow(child.stderr.take().unwrap());
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdin(&mut self) -> &mut ChildStdin {
        self.child.stdin.as_mut().expect("stdin is piped")
    }

    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits for a stdout line matching `predicate`; fails the test with the transcript.
    pub fn wait_stdout(&self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        self.stdout.wait(WAIT, predicate).unwrap_or_else(|| {
            panic!(
                "{} never printed {what} on stdout.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Waits until `count` stdout lines match `predicate`, and returns them.
    pub fn wait_stdout_lines(
        &self,
        what: &str,
        count: usize,
        predicate: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let lines: Vec<String> = self
                .stdout()
                .lines()
                .filter(|l| predicate(l))
                .map(str::to_string)
                .collect();
            if lines.len() >= count {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "{} printed {} of {count} {what} on stdout.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                lines.len(),
                self.stdout(),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `count` JSON objects of `type` on stdout (`--json` output).
    pub fn wait_json(&self, kind: &str, count: usize) -> Vec<serde_json::Value> {
        let marker = format!("\"type\":\"{kind}\"");
        self.wait_stdout_lines(kind, count, |l| l.contains(&marker))
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Waits for a stderr line containing `needle`; fails the test with the transcript.
    pub fn wait_stderr(&self, needle: &str) -> String {
        self.wait_stderr_matching(&format!("{needle:?}"), |line| line.contains(needle))
    }

    /// Waits for a stderr line matching `predicate`; fails the test with the transcript.
    pub fn wait_stderr_matching(&self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        self.stderr.wait(WAIT, predicate).unwrap_or_else(|| {
            panic!(
                "{} never logged {what}.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for the process to exit on its own within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                let _ = self.stdout.wait(Duration::from_secs(2), |_| false);
                let _ = self.stderr.wait(Duration::from_secs(2), |_| false);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}.\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout(),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tlscat server process on 127.0.0.1 with a kernel-chosen port.
pub struct Server {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Server {
    /// `tlscat server --listen 127.0.0.1:0` with the PKI's certificate and `extra` flags.
    pub fn start(pki: &Pki, extra: &[&str]) -> Server {
        let mut command = tlscat();
        command
            .arg("server")
            .args(["--listen", "127.0.0.1:0"])
            .args(pki.server_args())
            .args(extra);
        Server::start_with(&mut command)
    }

    /// Starts a prepared tlscat command and reads the bound address from its stdout
    /// (the seed's line, or the `listening` object with `--json`).
    pub fn start_with(command: &mut Command) -> Server {
        let proc = Proc::spawn("tlscat server", command);
        let line = proc.wait_stdout("its listening address", |l| {
            l.starts_with("Server is listening on ") || l.contains("\"type\":\"listening\"")
        });
        let addr = match line.strip_prefix("Server is listening on ") {
            Some(addr) => addr.to_string(),
            None => serde_json::from_str::<serde_json::Value>(&line).expect("JSON")["address"]
                .as_str()
                .expect("address")
                .to_string(),
        };
        Server {
            proc,
            addr: addr.parse().expect("listening address"),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// Runs `tlscat client` against this server, trusting `pki`'s CA, plus `extra` flags.
    pub fn client(&self, pki: &Pki, extra: &[&str]) -> Output {
        run(tlscat()
            .arg("client")
            .args(["--connect", &self.target()])
            .arg("--cacert")
            .arg(pki.ca())
            .args(extra))
    }
}

/// Runs a command to completion within [`WAIT`] (killed and failed otherwise).
pub fn run(command: &mut Command) -> Output {
    run_with_input(command, b"")
}

/// Like [`run`], writing `input` to the command's stdin first.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {WAIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Asserts an exit code, showing the output when it differs.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit code {code}.\nstdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Runs `python3 -c SCRIPT ARGS…` as a long-running peer.
pub fn python(script: &str, args: &[&str]) -> Command {
    require("python3", "python3");
    let mut command = Command::new("python3");
    command.arg("-c").arg(script).args(args);
    command
}

/// Path argument helper.
pub fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// Every JSON object in a process's stdout.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The `connection` objects among them.
pub fn connections(stdout: &[u8]) -> Vec<serde_json::Value> {
    json_lines(stdout)
        .into_iter()
        .filter(|o| o["type"] == "connection")
        .collect()
}

/// Writes a secret file with mode 0600, as tlscat wants key files.
pub fn write_private(path: &Path, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    make_private(path);
}

/// Sets mode 0600 (files made by `openssl … -out` follow the umask).
pub fn make_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A network namespace of the test's own (`unshare --net` in a user namespace, loopback
/// up), so that fixed ports are the test's alone.
pub struct PrivateNetwork;

impl PrivateNetwork {
    /// `None` where user and network namespaces are not available (a container without
    /// them, a kernel that forbids unprivileged ones) or `ip` is missing.
    pub fn new() -> Option<PrivateNetwork> {
        let works = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--net",
                "ip",
                "link",
                "set",
                "lo",
                "up",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        works.then_some(PrivateNetwork)
    }

    /// `program` in a new namespace with its loopback up; the process keeps the PID the
    /// command gets, for [`PrivateNetwork::join`].
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("unshare");
        command
            .args(["--user", "--map-root-user", "--net", "sh", "-c"])
            .arg("ip link set lo up && exec \"$0\" \"$@\"")
            .arg(program);
        command
    }

    /// `program` in the namespace of the process `pid` started by [`PrivateNetwork::command`].
    pub fn join(&self, pid: u32, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command.args(["--target", &pid.to_string()]).args([
            "--user",
            "--net",
            "--preserve-credentials",
            program,
        ]);
        command
    }
}

/// Where a server started with `--metrics 127.0.0.1:0` serves them.
pub fn metrics_url(server: &Server) -> String {
    let line = server.proc.wait_stderr("metrics on http://");
    line.rsplit(' ').next().unwrap().to_string()
}

/// The metrics text of a server started with `--metrics 127.0.0.1:0`.
pub fn scrape(server: &Server) -> String {
    let output = run(Command::new("curl").args(["--silent", "--show-error", &metrics_url(server)]));
    assert_exit(&output, 0);
    text(&output.stdout)
}
