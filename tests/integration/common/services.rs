//! Real services from Debian packages, started by the tests as throw-away instances on
//! loopback or a Unix socket, with their own configuration and folders, and stopped when
//! dropped: PostgreSQL, Dovecot (IMAP, POP3), Postfix (SMTP) and OpenLDAP's slapd.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Proc, WAIT, assert_exit, require, run, text};

/// Whether the tests run as root (services then run as their own system users).
fn is_root() -> bool {
    text(&run(Command::new("id").arg("-u")).stdout).trim() == "0"
}

/// The uid and gid of a system user.
fn ids_of(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = run(Command::new("id").args([flag, user]));
        assert_exit(&output, 0);
        text(&output.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// The name of the user running the tests.
fn current_user() -> String {
    text(&run(Command::new("id").arg("-un")).stdout)
        .trim()
        .to_string()
}

/// A port nobody listens on right now (the service then binds it; see [`start_on_ports`]).
fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a service on fresh ports: `start(ports)` spawns it; it must accept on every port
/// within [`WAIT`]. Another process may take a port between choosing and binding it, so a
/// service that exits early is started again on other ports (three tries).
fn start_on_ports<const N: usize>(
    name: &str,
    mut start: impl FnMut([u16; N]) -> Proc,
) -> (Proc, [u16; N]) {
    let mut last = String::new();
    for _ in 0..3 {
        let ports = [(); N].map(|_| unused_port());
        let mut proc = start(ports);
        let deadline = Instant::now() + WAIT;
        loop {
            if ports
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok())
            {
                return (proc, ports);
            }
            if !proc.is_running() || Instant::now() > deadline {
                last = format!("{}{}", proc.stdout(), proc.stderr());
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    panic!("{name} did not start:\n{last}");
}

/// Copies a certificate and key where a service running as `owner` may read them.
fn install_identity(
    dir: &Path,
    cert: &Path,
    key: &Path,
    owner: Option<(u32, u32)>,
) -> (PathBuf, PathBuf) {
    let (cert_copy, key_copy) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::copy(cert, &cert_copy).unwrap();
    std::fs::copy(key, &key_copy).unwrap();
    super::make_private(&key_copy);
    if let Some((uid, gid)) = owner {
        for file in [&cert_copy, &key_copy] {
            std::os::unix::fs::chown(file, Some(uid), Some(gid)).unwrap();
        }
    }
    (cert_copy, key_copy)
}

/// A throw-away PostgreSQL cluster on a Unix socket, as the `postgres` user when the
/// test runs as root; with `tls` (certificate, key), SSL is on, and it also listens on
/// 127.0.0.1:`port` (PostgreSQL offers no SSL over Unix sockets).
pub struct Postgres {
    pub proc: Proc,
    pub socket: PathBuf,
    pub port: Option<u16>,
    _dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start(tls: Option<(&Path, &Path)>) -> Postgres {
        require("psql", "postgresql-client");
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .flatten()
                    .map(|v| v.path().join("bin"))
                    .find(|bin| bin.join("initdb").is_file())
            })
            .unwrap_or_else(|| {
                panic!("PostgreSQL's server is not installed: install the Debian package `postgresql` (.ci/run does)")
            });
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let owner = is_root().then(|| ids_of("postgres"));
        let as_postgres = |command: &mut Command| {
            if let Some((uid, gid)) = owner {
                use std::os::unix::process::CommandExt;
                command.uid(uid).gid(gid);
            }
        };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["--auth=trust", "-U", "postgres", "--no-sync"])
            .current_dir(dir.path());
        as_postgres(&mut initdb);
        let made = run(&mut initdb);
        assert_exit(&made, 0);
        let identity = tls.map(|(cert, key)| install_identity(&data, cert, key, owner));
        let spawn = |port: Option<u16>| {
            let mut postgres = Command::new(bin.join("postgres"));
            postgres
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(dir.path())
                .args(["-c", "fsync=off", "-p"])
                .arg(port.unwrap_or(5432).to_string())
                .arg("-c")
                .arg(format!(
                    "listen_addresses={}",
                    if port.is_some() { "127.0.0.1" } else { "" }
                ))
                .current_dir(dir.path());
            if let Some((cert, key)) = &identity {
                postgres
                    .args(["-c", "ssl=on", "-c"])
                    .arg(format!("ssl_cert_file={}", cert.display()))
                    .arg("-c")
                    .arg(format!("ssl_key_file={}", key.display()));
            }
            as_postgres(&mut postgres);
            Proc::spawn("postgres", &mut postgres)
        };
        let (proc, port) = match identity {
            Some(_) => {
                let (proc, [port]) = start_on_ports("postgres", |[port]| spawn(Some(port)));
                (proc, Some(port))
            }
            None => (spawn(None), None),
        };
        let socket = dir
            .path()
            .join(format!(".s.PGSQL.{}", port.unwrap_or(5432)));
        let ready = (0..400).any(|_| {
            std::thread::sleep(Duration::from_millis(25));
            socket.exists()
        });
        assert!(ready, "postgres did not start:\n{}", proc.stderr());
        Postgres {
            proc,
            socket,
            port,
            _dir: dir,
        }
    }
}

/// A throw-away Dovecot serving IMAP and POP3 (STARTTLS) on loopback.
pub struct Dovecot {
    /// Killed on drop.
    _proc: Proc,
    pub imap: u16,
    pub pop3: u16,
    _dir: tempfile::TempDir,
}

impl Dovecot {
    pub fn start(cert: &Path, key: &Path) -> Dovecot {
        require("dovecot", "dovecot-imapd dovecot-pop3d");
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = install_identity(dir.path(), cert, key, None);
        // As root, Dovecot's own unprivileged users; otherwise everything as the tester.
        let (internal, login) = if is_root() {
            ("dovecot".to_string(), "dovenull".to_string())
        } else {
            (current_user(), current_user())
        };
        let root = dir.path().display().to_string();
        let (proc, [imap, pop3]) = start_on_ports("dovecot", |[imap, pop3]| {
            let conf = dir.path().join("dovecot.conf");
            std::fs::write(
                &conf,
                format!(
                    "base_dir = {root}/run\n\
                     state_dir = {root}/state\n\
                     log_path = /dev/stderr\n\
                     protocols = imap pop3\n\
                     listen = 127.0.0.1\n\
                     ssl = yes\n\
                     ssl_cert = <{cert}\n\
                     ssl_key = <{key}\n\
                     default_internal_user = {internal}\n\
                     default_login_user = {login}\n\
                     mail_location = maildir:{root}/mail/%u\n\
                     passdb {{\n  driver = static\n  args = nopassword\n}}\n\
                     userdb {{\n  driver = static\n  args = uid={internal} home={root}/home/%u\n}}\n\
                     service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
                     service pop3-login {{\n  chroot =\n  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {pop3}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
                     service anvil {{\n  chroot =\n}}\n",
                    cert = cert.display(),
                    key = key.display(),
                ),
            )
            .unwrap();
            Proc::spawn(
                "dovecot",
                Command::new("dovecot").arg("-F").arg("-c").arg(&conf),
            )
        });
        Dovecot {
            _proc: proc,
            imap,
            pop3,
            _dir: dir,
        }
    }
}

/// A throw-away Postfix (its master daemon in the foreground, `master -d`) offering
/// STARTTLS on loopback. Postfix runs its daemons as the `postfix` user: this needs root.
pub struct Postfix {
    pub proc: Proc,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Postfix {
    pub fn start(cert: &Path, key: &Path) -> Postfix {
        require("postconf", "postfix");
        assert!(
            is_root(),
            "a throw-away Postfix needs root (its daemons switch to the postfix user): run \
             the tests as root, as .ci/run does"
        );
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = install_identity(dir.path(), cert, key, None);
        let root = dir.path().display().to_string();
        let conf = dir.path().join("conf");
        std::fs::create_dir(&conf).unwrap();
        std::fs::create_dir(dir.path().join("queue")).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let (uid, gid) = ids_of("postfix");
        std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        // The same support daemons as Debian's master.cf, minus mail delivery.
        let services = "pickup unix n - n 60 1 pickup\n\
                        cleanup unix n - n - 0 cleanup\n\
                        qmgr unix n - n 300 1 qmgr\n\
                        tlsmgr unix - - n 1000? 1 tlsmgr\n\
                        rewrite unix - - n - - trivial-rewrite\n\
                        bounce unix - - n - 0 bounce\n\
                        defer unix - - n - 0 bounce\n\
                        trace unix - - n - 0 bounce\n\
                        verify unix - - n - 1 verify\n\
                        flush unix n - n 1000? 0 flush\n\
                        proxymap unix - - n - - proxymap\n\
                        smtp unix - - n - - smtp\n\
                        showq unix n - n - - showq\n\
                        error unix - - n - - error\n\
                        retry unix - - n - - error\n\
                        discard unix - - n - - discard\n\
                        anvil unix - - n - 1 anvil\n\
                        scache unix - - n - 1 scache\n\
                        postlog unix-dgram n - n - 1 postlogd\n";
        let (proc, [port]) = start_on_ports("postfix", |[port]| {
            std::fs::write(
                conf.join("main.cf"),
                format!(
                    "compatibility_level = 3.6\n\
                     queue_directory = {root}/queue\n\
                     data_directory = {root}/data\n\
                     mail_owner = postfix\n\
                     inet_interfaces = 127.0.0.1\n\
                     inet_protocols = ipv4\n\
                     myhostname = localhost\n\
                     mydestination =\n\
                     smtpd_tls_cert_file = {cert}\n\
                     smtpd_tls_key_file = {key}\n\
                     smtpd_tls_security_level = may\n\
                     maillog_file = /dev/stdout\n\
                     multi_instance_directories =\n",
                    cert = cert.display(),
                    key = key.display(),
                ),
            )
            .unwrap();
            std::fs::write(
                conf.join("master.cf"),
                format!("127.0.0.1:{port} inet n - n - - smtpd\n{services}"),
            )
            .unwrap();
            let checked = run(Command::new("postfix").arg("-c").arg(&conf).arg("check"));
            assert_exit(&checked, 0);
            Proc::spawn(
                "postfix master",
                Command::new("/usr/lib/postfix/sbin/master")
                    .arg("-d")
                    .arg("-c")
                    .arg(&conf),
            )
        });
        Postfix {
            proc,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // SIGTERM: the master stops its daemons before it exits.
        self.proc.signal("TERM");
        let _ = self.proc.wait_exit(WAIT);
    }
}

/// A throw-away OpenLDAP slapd with StartTLS on loopback (no database: StartTLS needs none).
pub struct Slapd {
    /// Killed on drop.
    _proc: Proc,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Slapd {
    pub fn start(ca: &Path, cert: &Path, key: &Path) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = install_identity(dir.path(), cert, key, None);
        let slapd = Path::new("/usr/sbin/slapd");
        assert!(
            slapd.is_file(),
            "`slapd` is not installed: install the Debian package `slapd` (.ci/run does)"
        );
        let root = dir.path().display().to_string();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 pidfile {root}/slapd.pid\n\
                 argsfile {root}/slapd.args\n\
                 TLSCACertificateFile {}\n\
                 TLSCertificateFile {}\n\
                 TLSCertificateKeyFile {}\n",
                ca.display(),
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        let (proc, [port]) = start_on_ports("slapd", |[port]| {
            Proc::spawn(
                "slapd",
                Command::new(slapd)
                    .args(["-d", "0", "-f"])
                    .arg(&conf)
                    .arg("-h")
                    .arg(format!("ldap://127.0.0.1:{port}/")),
            )
        });
        Slapd {
            _proc: proc,
            port,
            _dir: dir,
        }
    }
}
