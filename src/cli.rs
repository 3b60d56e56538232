//! Command-line flags (clap) and their conversion into the library's configs. This is the
//! one place where flags become config, so cross-flag checks live here too.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tlscat::config::{
    BenchConfig, BenchMode, ClientAuth, DEFAULT_MESSAGE, DEFAULT_PORT, DEFAULT_REPLY, Expectations,
    Identity, ListenAddr, Mode, OutputSettings, Passphrase, Profile, ServerCertificate,
    SessionSettings, TlsSettings, TlsVersion,
};
use tlscat::{ClientConfig, Error, ServerConfig, Timeouts, Trust};

static VERSION: LazyLock<String> = LazyLock::new(tlscat::version_line);

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal error, or the connection failed below TLS after it was set up
  2  usage or configuration error (bad flag, unreadable or mismatched cert/key, address in use)
  3  could not connect (name does not resolve, connection refused, unreachable)
  4  TLS handshake failed (alert, no shared version or cipher, peer does not speak TLS)
  5  certificate rejected (untrusted, expired, hostname mismatch, client certificate refused)
  6  timed out (connect, handshake, read, write, close)
  7  an --expect-* assertion failed

Logging: RUST_LOG=debug (or info, warn, error) on stderr.";

/// A TLS server and client on the system OpenSSL, for setting up, testing and debugging TLS.
///
/// Without a subcommand, tlscat runs the server (the flags below are the server's).
#[derive(Debug, Parser)]
#[command(
    name = "tlscat",
    version = VERSION.as_str(),
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Accept TLS connections; print each client's message and answer it (the default).
    #[command(after_help = EXIT_CODES)]
    Server(ServerArgs),
    /// Connect over TLS, send a message and print the server's response.
    #[command(after_help = EXIT_CODES)]
    Client(ClientArgs),
    /// Load a TLS server: many connections at once for a while, then the rates,
    /// latencies, failures and this client's own CPU per connection.
    #[command(after_help = EXIT_CODES)]
    Bench(BenchArgs),
    /// Show tlscat's version and what the linked OpenSSL supports here.
    Version(VersionArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    Man(ManArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write tlscat.1 and one tlscat-COMMAND.1 per command into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// Whether errors should be reported as JSON on stdout.
    pub fn json(&self) -> bool {
        match self {
            Command::Server(args) => args.output.json,
            Command::Client(args) => args.output.json,
            Command::Bench(args) => args.json(),
            Command::Version(args) => args.json,
            Command::Man(_) | Command::Completions(_) => false,
        }
    }
}

/// Timeouts both sides have. DURATION: `10` or `10s`, `500ms`, `2m`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Timeouts (DURATION: 10, 10s, 500ms, 2m)")]
pub struct PhaseTimeouts {
    /// Longest TLS handshake.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    handshake_timeout: Duration,
    /// Longest wait for data from the peer (an idle peer is dropped).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    read_timeout: Duration,
    /// Longest wait for the peer to take our data.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    write_timeout: Duration,
    /// Longest close_notify exchange at the end of a connection.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    close_timeout: Duration,
}

impl PhaseTimeouts {
    fn into_timeouts(self, connect: Duration) -> Timeouts {
        Timeouts {
            connect,
            handshake: self.handshake_timeout,
            read: self.read_timeout,
            write: self.write_timeout,
            close: self.close_timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// Mozilla intermediate: TLS 1.2 and 1.3, AEAD suites, forward secrecy.
    Intermediate,
    /// Mozilla modern: TLS 1.3 only.
    Modern,
    /// OpenSSL's defaults and the system crypto policy, untouched.
    System,
}

/// Protocol settings, the same on both sides.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Base settings the other flags refine.
    #[arg(long, value_enum, default_value = "intermediate")]
    profile: ProfileArg,
    /// Oldest TLS version allowed: 1.0, 1.1, 1.2 or 1.3 (1.0 and 1.1 lower OpenSSL's
    /// security level to 0, with a warning).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    min_tls: Option<TlsVersion>,
    /// Newest TLS version allowed: 1.0, 1.1, 1.2 or 1.3.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    max_tls: Option<TlsVersion>,
    /// TLS 1.2 only (--min-tls 1.2 --max-tls 1.2).
    #[arg(long = "tls1.2", conflicts_with_all = ["min_tls", "max_tls", "tls13"])]
    tls12: bool,
    /// TLS 1.3 only (--min-tls 1.3 --max-tls 1.3).
    #[arg(long = "tls1.3", conflicts_with_all = ["min_tls", "max_tls"])]
    tls13: bool,
    /// Cipher suites for TLS 1.2 and older, in OpenSSL's syntax (ECDHE+AESGCM:…).
    #[arg(long, value_name = "LIST")]
    ciphers: Option<String>,
    /// TLS 1.3 cipher suites, colon-separated (TLS_AES_128_GCM_SHA256:…).
    #[arg(long, value_name = "LIST")]
    ciphersuites: Option<String>,
    /// Key exchange groups in preference order, colon-separated (X25519:P-256:…).
    #[arg(long, value_name = "LIST")]
    groups: Option<String>,
    /// Signature algorithms, colon-separated (ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:…).
    #[arg(long, value_name = "LIST")]
    sigalgs: Option<String>,
    /// ALPN protocols in preference order, comma-separated (h2,http/1.1).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    alpn: Vec<String>,
    /// Append the TLS secrets to FILE in NSS key log format, for Wireshark [default:
    /// $SSLKEYLOGFILE when set]. Anyone who reads FILE can decrypt the connections.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
struct OutputArgs {
    /// One JSON object per connection on stdout (instead of the plain lines and the report).
    #[arg(long)]
    json: bool,
    /// No handshake report on stderr, no per-connection info lines (failures are still
    /// logged), no `Connected to:` line and no files-mode access log.
    #[arg(long, short)]
    quiet: bool,
    /// Every TLS message as it is sent or received (with --json: NDJSON events on stdout).
    #[arg(long)]
    trace: bool,
}

impl TlsArgs {
    fn settings(&self) -> TlsSettings {
        let (min_version, max_version) = if self.tls12 {
            (Some(TlsVersion::Tls1_2), Some(TlsVersion::Tls1_2))
        } else if self.tls13 {
            (Some(TlsVersion::Tls1_3), Some(TlsVersion::Tls1_3))
        } else {
            (self.min_tls, self.max_tls)
        };
        let keylog = self.keylog.clone().or_else(|| {
            std::env::var_os("SSLKEYLOGFILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        TlsSettings {
            profile: match self.profile {
                ProfileArg::Intermediate => Profile::Intermediate,
                ProfileArg::Modern => Profile::Modern,
                ProfileArg::System => Profile::System,
            },
            min_version,
            max_version,
            ciphers: self.ciphers.clone(),
            ciphersuites: self.ciphersuites.clone(),
            groups: self.groups.clone(),
            sigalgs: self.sigalgs.clone(),
            alpn: self.alpn.clone(),
            keylog,
        }
    }
}

impl OutputArgs {
    fn settings(&self) -> OutputSettings {
        OutputSettings {
            json: self.json,
            quiet: self.quiet,
            trace: self.trace,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum VerifyArg {
    /// Ask for a client certificate; clients without one are still served.
    Optional,
    /// Refuse clients without a valid certificate.
    Require,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// The seed: read one message, print it, answer --reply, close.
    Reply,
    /// Send back everything the client sends, until it closes or goes idle.
    Echo,
    /// Answer with what was negotiated and what the client offered (HTML for browsers,
    /// JSON for `Accept: application/json`, /json, and non-HTTP clients).
    Inspect,
    /// Serve the files under --root over HTTPS (GET and HEAD, keep-alive), like a small
    /// static web server.
    Files,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on: HOST:PORT (every address HOST resolves to; port 0 picks a free
    /// port) or unix:/PATH; repeat for several. Ignored under systemd socket activation.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:12345", value_parser = parse_listen)]
    listen: Vec<ListenAddr>,
    /// What to do with each connection after the handshake.
    #[arg(long, value_enum, default_value = "reply")]
    mode: ModeArg,
    /// The folder --mode files serves (nothing outside it is reachable).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Set SO_REUSEPORT, so that several tlscat processes can listen on one port.
    #[arg(long, help_heading = "Operations")]
    reuse_port: bool,
    /// Expect a PROXY protocol header (v1 or v2, as HAProxy's send-proxy) before TLS; log
    /// and report the client address it names; refuse connections without one.
    #[arg(long, help_heading = "Operations")]
    proxy_protocol: bool,
    /// Also reload when the certificate, key, CA or ticket key files change, checking this
    /// often (SIGHUP always reloads).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Operations")]
    reload_interval: Option<Duration>,
    /// Session ticket keys shared by every instance: one base64 line of 80 random bytes per
    /// key (openssl rand 80 | base64 -w0); the first encrypts, all decrypt.
    #[arg(long, value_name = "FILE", help_heading = "Sessions")]
    ticket_key_file: Option<PathBuf>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (and /healthz); a bare PORT
    /// listens on 127.0.0.1.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_metrics, help_heading = "Operations")]
    metrics: Option<String>,
    /// Certificate (PEM), optionally followed by its intermediate CAs; repeat with --key
    /// for several, chosen by SNI [default: certs/server.crt].
    #[arg(long, value_name = "FILE")]
    cert: Vec<PathBuf>,
    /// Private key (PEM) of the --cert at the same position [default: certs/server.key].
    #[arg(long, value_name = "FILE")]
    key: Vec<PathBuf>,
    /// Certificate and key from a PKCS#12 file instead of --cert/--key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"])]
    p12: Option<PathBuf>,
    /// Passphrase of encrypted keys and --p12: env:VAR, file:PATH or pass:TEXT.
    #[arg(long, value_name = "SOURCE", value_parser = parse_passphrase)]
    pass: Option<Passphrase>,
    /// Another certificate, served to clients asking for NAME in SNI; repeatable.
    #[arg(long, value_name = "NAME=CERT,KEY", value_parser = parse_sni)]
    sni: Vec<(String, PathBuf, PathBuf)>,
    /// Serve an expired certificate (with a warning) instead of refusing to start.
    #[arg(long)]
    allow_expired: bool,
    /// Accept key and ticket key files that other users can read (refused by default,
    /// as ssh does).
    #[arg(long)]
    allow_insecure_key_permissions: bool,
    /// Ask clients for a certificate signed by a CA in FILE (mutual TLS).
    #[arg(long, value_name = "FILE", help_heading = "Mutual TLS")]
    client_ca: Option<PathBuf>,
    /// Whether a client certificate is required [default: require].
    #[arg(long, value_enum, requires = "client_ca", help_heading = "Mutual TLS")]
    verify: Option<VerifyArg>,
    /// With --alpn: go on without ALPN when the client offers none of ours (instead of
    /// the no_application_protocol alert).
    #[arg(long, requires = "alpn", help_heading = "TLS")]
    alpn_optional: bool,
    /// How long a session stays resumable.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration, help_heading = "Sessions")]
    session_timeout: Duration,
    /// Resume from the server's session cache only: no session tickets.
    #[arg(long, help_heading = "Sessions")]
    no_tickets: bool,
    /// Session tickets sent after each TLS 1.3 handshake.
    #[arg(long, value_name = "N", default_value = "2", help_heading = "Sessions")]
    num_tickets: usize,
    /// How often the server replaces its own session ticket key (without
    /// --ticket-key-file); tickets under the two previous keys still resume.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, help_heading = "Sessions")]
    ticket_rotation: Duration,
    /// What the server answers to every message.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_REPLY)]
    reply: String,
    /// Largest message read from a client; a longer one is cut (with a warning).
    #[arg(long, value_name = "BYTES", default_value = "1024", value_parser = parse_positive)]
    max_message: usize,
    /// Most connections served at once; more clients wait in the listen backlog.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = parse_positive)]
    max_conns: usize,
    /// Server threads, each serving the connections it accepts [default: one per core].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    threads: Option<usize>,
    /// After SIGINT/SIGTERM, how long connections in flight may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    drain_timeout: Duration,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    timeouts: PhaseTimeouts,
}

impl TryFrom<ServerArgs> for ServerConfig {
    type Error = Error;

    fn try_from(args: ServerArgs) -> Result<Self, Error> {
        let passphrase = args.pass.clone();
        let mut certificates = Vec::new();
        if let Some(path) = args.p12 {
            certificates.push(ServerCertificate {
                identity: Identity::Pkcs12 {
                    path,
                    passphrase: passphrase.clone(),
                },
                names: Vec::new(),
            });
        } else if args.cert.len() != args.key.len() {
            return Err(Error::Config(format!(
                "{} --cert but {} --key: give one --key for each --cert, in the same order",
                args.cert.len(),
                args.key.len()
            )));
        } else if args.cert.is_empty() && args.sni.is_empty() {
            certificates.push(ServerCertificate {
                identity: Identity::Pem {
                    cert: PathBuf::from("certs/server.crt"),
                    key: PathBuf::from("certs/server.key"),
                    passphrase: passphrase.clone(),
                },
                names: Vec::new(),
            });
        }
        for (cert, key) in args.cert.into_iter().zip(args.key) {
            certificates.push(ServerCertificate {
                identity: Identity::Pem {
                    cert,
                    key,
                    passphrase: passphrase.clone(),
                },
                names: Vec::new(),
            });
        }
        for (name, cert, key) in args.sni {
            certificates.push(ServerCertificate {
                identity: Identity::Pem {
                    cert,
                    key,
                    passphrase: passphrase.clone(),
                },
                names: vec![name],
            });
        }
        let tls = args.tls.settings();
        if args.alpn_optional && tls.alpn.is_empty() {
            return Err(Error::Config("--alpn-optional needs --alpn LIST".into()));
        }
        let speaks_http = matches!(args.mode, ModeArg::Inspect | ModeArg::Files);
        if speaks_http && tls.alpn.iter().any(|p| p != "http/1.1") {
            return Err(Error::Config(
                "--mode inspect and --mode files answer in HTTP/1.x: use --alpn http/1.1 or \
                 no --alpn"
                    .into(),
            ));
        }
        match (args.mode, &args.root) {
            (ModeArg::Files, None) => {
                return Err(Error::Config(
                    "--mode files needs --root DIR: the folder to serve".into(),
                ));
            }
            (ModeArg::Files, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(Error::Config(
                    "--root is the folder of --mode files: add --mode files".into(),
                ));
            }
        }
        Ok(ServerConfig {
            listen: args.listen,
            reuse_port: args.reuse_port,
            proxy_protocol: args.proxy_protocol,
            mode: match args.mode {
                ModeArg::Reply => Mode::Reply,
                ModeArg::Echo => Mode::Echo,
                ModeArg::Inspect => Mode::Inspect,
                ModeArg::Files => Mode::Files,
            },
            root: args.root,
            ticket_key_file: args.ticket_key_file,
            reload_interval: args.reload_interval,
            metrics: args.metrics,
            certificates,
            allow_expired: args.allow_expired,
            allow_insecure_key_permissions: args.allow_insecure_key_permissions,
            output: args.output.settings(),
            tls,
            alpn_optional: args.alpn_optional,
            client_auth: args.client_ca.map(|ca_file| ClientAuth {
                ca_file,
                required: !matches!(args.verify, Some(VerifyArg::Optional)),
            }),
            sessions: SessionSettings {
                timeout: args.session_timeout,
                tickets: !args.no_tickets,
                num_tickets: args.num_tickets,
                ticket_rotation: args.ticket_rotation,
            },
            reply: args.reply.into_bytes(),
            max_message: args.max_message,
            max_conns: args.max_conns,
            threads: args.threads.unwrap_or(0),
            timeouts: args.timeouts.into_timeouts(Timeouts::default().connect),
            drain_timeout: args.drain_timeout,
        })
    }
}

/// How to reach and trust a server: what `client` and `bench` share.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Server to connect to; the port defaults to 12345.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:12345", value_parser = parse_connect)]
    connect: (String, u16),
    /// Trust only the CA certificates in FILE (PEM) [default: certs/ca.crt if it exists,
    /// else the system trust store]
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Name to send in SNI and to verify the certificate against [default: the host].
    #[arg(long, value_name = "NAME")]
    servername: Option<String>,
    /// Send no SNI (the name is still verified).
    #[arg(long)]
    no_sni: bool,
    /// Do not verify the server's certificate or name. For debugging only: anyone on the
    /// path can then impersonate the server.
    #[arg(long, conflicts_with = "cacert")]
    insecure: bool,
    /// Client certificate (PEM, plus chain) for mutual TLS.
    #[arg(
        long,
        value_name = "FILE",
        requires = "key",
        help_heading = "Mutual TLS"
    )]
    cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "cert",
        help_heading = "Mutual TLS"
    )]
    key: Option<PathBuf>,
    /// Client certificate and key from a PKCS#12 file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"], help_heading = "Mutual TLS")]
    p12: Option<PathBuf>,
    /// Passphrase of an encrypted --key or --p12: env:VAR, file:PATH or pass:TEXT.
    #[arg(long, value_name = "SOURCE", value_parser = parse_passphrase, help_heading = "Mutual TLS")]
    pass: Option<Passphrase>,
    /// Accept a --key or --p12 file that other users can read.
    #[arg(long, help_heading = "Mutual TLS")]
    allow_insecure_key_permissions: bool,
    /// Longest TCP connect, per address tried.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Timeouts (DURATION: 10, 10s, 500ms, 2m)")]
    connect_timeout: Duration,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    timeouts: PhaseTimeouts,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    connection: ConnectArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Message to send.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_MESSAGE)]
    message: String,
    /// Stream stdin to the server and the server's data to stdout as raw bytes, both at
    /// once (like netcat); at the end of stdin send close_notify and read until the
    /// server closes.
    #[arg(long, conflicts_with_all = ["message", "json", "reconnect", "max_response"])]
    pipe: bool,
    /// Largest response kept; reading stops there (with a warning).
    #[arg(long, value_name = "BYTES", default_value = "1048576", value_parser = parse_positive)]
    max_response: usize,
    /// Connect N more times, offering the newest session for resumption each time.
    #[arg(long, value_name = "N", default_value = "0", help_heading = "Sessions")]
    reconnect: usize,
    /// Offer the session saved in FILE (PEM, as from --sess-out or s_client -sess_out).
    #[arg(long, value_name = "FILE", help_heading = "Sessions")]
    sess_in: Option<PathBuf>,
    /// Save the last session to FILE (PEM, readable by s_client -sess_in; mode 0600).
    #[arg(long, value_name = "FILE", help_heading = "Sessions")]
    sess_out: Option<PathBuf>,
    /// Exit 7 unless this TLS version is negotiated (1.2, 1.3, …).
    #[arg(long, value_name = "VERSION", value_parser = parse_version, help_heading = "Assertions (exit 7 when one fails)")]
    expect_version: Option<TlsVersion>,
    /// Exit 7 unless this cipher suite is negotiated (OpenSSL name).
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    expect_cipher: Option<String>,
    /// Exit 7 unless this key exchange group is negotiated (X25519, P-256, …).
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    expect_group: Option<String>,
    /// Exit 7 unless this ALPN protocol is selected.
    #[arg(
        long,
        value_name = "PROTOCOL",
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    expect_alpn: Option<String>,
    /// Exit 7 unless every reconnection (and a --sess-in connection) resumes its session.
    #[arg(long, help_heading = "Assertions (exit 7 when one fails)")]
    expect_resumed: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BenchModeArg {
    /// Handshake, then close (close_notify both ways).
    Handshake,
    /// Move data: --bytes to an echo server and back, or --get a file.
    Throughput,
    /// Send --request, read the reply until the server closes (the seed's exchange).
    Request,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    connection: ConnectArgs,
    /// What each connection does after the handshake.
    #[arg(long, value_enum, default_value = "handshake", help_heading = "Load")]
    mode: BenchModeArg,
    /// Offer each connection's newest session on the next (TLS 1.2 sessions, TLS 1.3
    /// tickets): resumed handshakes.
    #[arg(long, help_heading = "Load")]
    resume: bool,
    /// Connections in flight at once [default: twice the cores].
    #[arg(long, short = 'c', value_name = "N", value_parser = parse_positive, help_heading = "Load")]
    concurrency: Option<usize>,
    /// Start connections for this long [default: 10s, or no limit with --count].
    #[arg(long, short = 'd', value_name = "DURATION", value_parser = parse_duration, help_heading = "Load")]
    duration: Option<Duration>,
    /// Make this many connections in all.
    #[arg(long, short = 'n', value_name = "N", value_parser = parse_count, help_heading = "Load")]
    count: Option<u64>,
    /// Throughput: send this much to an echo server (tlscat server --mode echo) and read
    /// it back, per connection (64K, 100M, 1G: powers of 1024).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, conflicts_with = "get", help_heading = "Load")]
    bytes: Option<u64>,
    /// Throughput: download PATH with HTTP GET (e.g. from tlscat server --mode files).
    #[arg(long, value_name = "PATH", help_heading = "Load")]
    get: Option<String>,
    /// Request mode: what to send (\r, \n, \t and \\ are understood).
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_MESSAGE, help_heading = "Load")]
    request: String,
    /// The summary (or the error) as one JSON object on stdout.
    #[arg(long, help_heading = "Output")]
    json: bool,
}

impl BenchArgs {
    /// Whether the summary (and errors) go out as JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// The config; `progress` says whether stderr is a terminal to draw on.
    pub fn into_config(self, progress: bool) -> Result<BenchConfig, Error> {
        let json = self.json();
        let mode = match self.mode {
            BenchModeArg::Handshake | BenchModeArg::Request
                if self.bytes.is_some() || self.get.is_some() =>
            {
                return Err(Error::Config(
                    "--bytes and --get are for --mode throughput".into(),
                ));
            }
            BenchModeArg::Handshake => BenchMode::Handshake,
            BenchModeArg::Request => BenchMode::Request(unescape(&self.request)?),
            BenchModeArg::Throughput => match (self.bytes, self.get) {
                (Some(bytes), None) => BenchMode::Echo(bytes),
                (None, Some(path)) if path.starts_with('/') => BenchMode::Download(path),
                (None, Some(path)) => {
                    return Err(Error::Config(format!(
                        "--get {path:?}: give a path starting with /, e.g. --get /big"
                    )));
                }
                _ => {
                    return Err(Error::Config(
                        "--mode throughput needs --bytes N (to an echo server) or --get PATH"
                            .into(),
                    ));
                }
            },
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let duration = match (self.duration, self.count) {
            (None, None) => Some(Duration::from_secs(10)),
            (duration, _) => duration,
        };
        Ok(BenchConfig {
            client: self.connection.into_config(OutputSettings::default())?,
            mode,
            resume: self.resume,
            concurrency: self.concurrency.unwrap_or(2 * cores),
            duration,
            count: self.count,
            progress: progress && !json,
        })
    }
}

/// `\r`, `\n`, `\t`, `\0` and `\\` in TEXT become the bytes they name.
fn unescape(text: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        out.push(match chars.next() {
            Some('r') => b'\r',
            Some('n') => b'\n',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('\\') => b'\\',
            other => {
                return Err(Error::Config(format!(
                    "--request {text:?}: unknown escape \\{}: use \\r, \\n, \\t, \\0 or \\\\",
                    other.map(String::from).unwrap_or_default()
                )));
            }
        });
    }
    Ok(out)
}

/// The CA file a fresh checkout uses after `scripts/gen-certs.sh`.
const DEFAULT_CA_FILE: &str = "certs/ca.crt";

impl ConnectArgs {
    /// A client config with everything about reaching and trusting the server; the
    /// exchange fields keep their defaults.
    fn into_config(self, output: OutputSettings) -> Result<ClientConfig, Error> {
        let trust = match self.cacert {
            Some(path) => Trust::CaFile(path),
            None if Path::new(DEFAULT_CA_FILE).is_file() => {
                Trust::CaFile(PathBuf::from(DEFAULT_CA_FILE))
            }
            None => Trust::System,
        };
        if let Some(name) = &self.servername {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::Config(format!(
                    "--servername {name:?} is not a host name: pass a DNS name such as localhost"
                )));
            }
        }
        let identity = match (self.p12, self.cert, self.key) {
            (Some(path), _, _) => Some(Identity::Pkcs12 {
                path,
                passphrase: self.pass,
            }),
            (None, Some(cert), Some(key)) => Some(Identity::Pem {
                cert,
                key,
                passphrase: self.pass,
            }),
            _ => None,
        };
        let (host, port) = self.connect;
        Ok(ClientConfig {
            host,
            port,
            server_name: self.servername,
            sni: !self.no_sni,
            trust,
            insecure: self.insecure,
            identity,
            allow_insecure_key_permissions: self.allow_insecure_key_permissions,
            output,
            tls: self.tls.settings(),
            timeouts: self.timeouts.into_timeouts(self.connect_timeout),
            ..ClientConfig::default()
        })
    }
}

impl TryFrom<ClientArgs> for ClientConfig {
    type Error = Error;

    fn try_from(args: ClientArgs) -> Result<Self, Error> {
        if args.expect_resumed && args.reconnect == 0 && args.sess_in.is_none() {
            return Err(Error::Config(
                "--expect-resumed needs a session to resume: add --reconnect N or --sess-in FILE"
                    .into(),
            ));
        }
        Ok(ClientConfig {
            message: args.message.into_bytes(),
            max_response: args.max_response,
            reconnect: args.reconnect,
            session_in: args.sess_in,
            session_out: args.sess_out,
            pipe: args.pipe,
            expect: Expectations {
                version: args.expect_version,
                cipher: args.expect_cipher,
                group: args.expect_group,
                alpn: args.expect_alpn,
                resumed: args.expect_resumed,
            },
            ..args.connection.into_config(args.output.settings())?
        })
    }
}

fn parse_version(text: &str) -> Result<TlsVersion, String> {
    TlsVersion::parse(text).ok_or_else(|| format!("{text:?}: use 1.0, 1.1, 1.2 or 1.3"))
}

fn parse_passphrase(text: &str) -> Result<Passphrase, String> {
    if let Some(var) = text.strip_prefix("env:") {
        Ok(Passphrase::Env(var.to_string()))
    } else if let Some(path) = text.strip_prefix("file:") {
        Ok(Passphrase::File(PathBuf::from(path)))
    } else if let Some(secret) = text.strip_prefix("pass:") {
        Ok(Passphrase::Literal(secret.to_string()))
    } else {
        Err("use env:VAR, file:PATH or pass:TEXT (the passphrase itself is not shown)".into())
    }
}

fn parse_sni(text: &str) -> Result<(String, PathBuf, PathBuf), String> {
    let usage = || format!("{text:?}: use NAME=CERT,KEY, e.g. example.com=example.crt,example.key");
    let (name, files) = text.split_once('=').ok_or_else(usage)?;
    let (cert, key) = files.split_once(',').ok_or_else(usage)?;
    if name.is_empty() || cert.is_empty() || key.is_empty() {
        return Err(usage());
    }
    Ok((name.to_string(), PathBuf::from(cert), PathBuf::from(key)))
}

/// `10`, `2.5`, `10s`, `500ms`, `2m`, `1h`; more than zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use e.g. 10s, 500ms, 2m or 1h"))?;
    let duration = Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("{text:?} is not a usable duration: use e.g. 10s, 500ms or 2m"))?;
    if duration.is_zero() {
        return Err("must be more than zero".to_string());
    }
    Ok(duration)
}

fn parse_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// `4096`, `64K`, `100M`, `1G` (powers of 1024; KiB, MiB, GiB too), `1GB` (powers of 1000).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(format!("{text:?}: use a number with K, M or G, e.g. 1G")),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: use a number with K, M or G, e.g. 1G"))?;
    match number.checked_mul(scale) {
        Some(0) => Err("must be at least 1 byte".into()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text:?} is too large")),
    }
}

fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// Splits `HOST:PORT`, `[IPV6]:PORT`, `HOST`, `[IPV6]` or a bare IPv6 address; a missing
/// port is `None`.
fn split_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let bad_port = |port: &str| format!("{port:?} is not a port number (0-65535)");
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{text:?}: missing ']' after the IPv6 address"))?;
        return match after {
            "" => Ok((host.to_string(), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((
                    host.to_string(),
                    Some(port.parse().map_err(|_| bad_port(port))?),
                )),
                None => Err(format!("{text:?}: expected [IPV6]:PORT")),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text.to_string(), None)),
        1 => {
            let (host, port) = text.split_once(':').unwrap_or((text, ""));
            Ok((
                host.to_string(),
                Some(port.parse().map_err(|_| bad_port(port))?),
            ))
        }
        // A bare IPv6 address: no port.
        _ => Ok((text.to_string(), None)),
    }
}

/// `PORT` (loopback) or `HOST:PORT`.
fn parse_metrics(text: &str) -> Result<String, String> {
    if let Ok(port) = text.trim().parse::<u16>() {
        return Ok(format!("127.0.0.1:{port}"));
    }
    match parse_listen(text)? {
        ListenAddr::Tcp(addr) => Ok(addr),
        ListenAddr::Unix(_) => Err("metrics are served over TCP: use PORT or HOST:PORT".into()),
    }
}

fn parse_connect(text: &str) -> Result<(String, u16), String> {
    let (host, port) = split_host_port(text.trim())?;
    if host.is_empty() {
        return Err(format!(
            "{text:?} has no host: use HOST:PORT, e.g. localhost:12345"
        ));
    }
    Ok((host, port.unwrap_or(DEFAULT_PORT)))
}

/// `unix:/path`, or `HOST:PORT` in the form `lookup_host` accepts.
fn parse_listen(text: &str) -> Result<ListenAddr, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("unix: needs a path, e.g. unix:/run/tlscat.sock".into());
        }
        return Ok(ListenAddr::Unix(PathBuf::from(path)));
    }
    let (host, port) = split_host_port(text.trim())?;
    let Some(port) = port else {
        return Err(format!(
            "{text:?} has no port: use HOST:PORT, e.g. localhost:12345 or [::1]:0"
        ));
    };
    if host.is_empty() {
        return Err(format!(
            "{text:?} has no host: use 0.0.0.0:{port} for every IPv4 address"
        ));
    }
    Ok(ListenAddr::Tcp(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_reject_zero_and_junk() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn connect_targets_default_the_port_and_understand_ipv6() {
        assert_eq!(
            parse_connect("localhost:443"),
            Ok(("localhost".into(), 443))
        );
        assert_eq!(
            parse_connect("localhost"),
            Ok(("localhost".into(), DEFAULT_PORT))
        );
        assert_eq!(parse_connect("[::1]:8443"), Ok(("::1".into(), 8443)));
        assert_eq!(parse_connect("::1"), Ok(("::1".into(), DEFAULT_PORT)));
        assert!(parse_connect("host:http").is_err());
        assert!(parse_connect(":443").is_err());
    }

    #[test]
    fn versions_passphrases_and_sni_entries_parse_or_say_what_is_accepted() {
        assert_eq!(parse_version("1.3"), Ok(TlsVersion::Tls1_3));
        assert_eq!(parse_version("TLSv1.2"), Ok(TlsVersion::Tls1_2));
        assert_eq!(parse_version("tls1_1"), Ok(TlsVersion::Tls1_1));
        assert_eq!(parse_version("1.0"), Ok(TlsVersion::Tls1_0));
        assert!(
            parse_version("1.4")
                .unwrap_err()
                .contains("1.0, 1.1, 1.2 or 1.3")
        );
        assert_eq!(
            parse_passphrase("env:KEYPASS"),
            Ok(Passphrase::Env("KEYPASS".into()))
        );
        assert_eq!(
            parse_passphrase("file:/run/pass"),
            Ok(Passphrase::File("/run/pass".into()))
        );
        let err = parse_passphrase("hunter2").unwrap_err();
        assert!(!err.contains("hunter2"), "never echo a passphrase: {err}");
        assert_eq!(
            parse_sni("a.example=a.crt,a.key"),
            Ok(("a.example".into(), "a.crt".into(), "a.key".into()))
        );
        assert!(parse_sni("a.example=a.crt").is_err());
    }

    #[test]
    fn byte_sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2MB"), Ok(2_000_000));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("1T").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999G").is_err());
    }

    #[test]
    fn request_text_understands_escapes() {
        assert_eq!(
            unescape("GET / HTTP/1.0\\r\\n\\r\\n").unwrap(),
            b"GET / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(unescape("a\\\\b").unwrap(), b"a\\b");
        assert_eq!(unescape("héllo").unwrap(), "héllo".as_bytes());
        assert!(unescape("bad \\q").is_err());
    }

    #[test]
    fn metrics_addresses_default_to_loopback() {
        assert_eq!(parse_metrics("9443"), Ok("127.0.0.1:9443".into()));
        assert_eq!(parse_metrics("[::1]:9443"), Ok("[::1]:9443".into()));
        assert!(parse_metrics("unix:/x").is_err());
        assert!(parse_metrics("nonsense").is_err());
    }

    #[test]
    fn listen_addresses_need_a_port() {
        assert_eq!(
            parse_listen("127.0.0.1:0"),
            Ok(ListenAddr::Tcp("127.0.0.1:0".into()))
        );
        assert_eq!(
            parse_listen("[::1]:0"),
            Ok(ListenAddr::Tcp("[::1]:0".into()))
        );
        assert_eq!(
            parse_listen("unix:/run/t.sock"),
            Ok(ListenAddr::Unix("/run/t.sock".into()))
        );
        assert!(parse_listen("unix:").is_err());
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen(":12345").is_err());
        assert!(parse_listen("localhost:99999").is_err());
    }
}
