//! Option structs for the server and the client. Plain data with the seed's defaults; the
//! command line (or a test) fills them in, and the rest of the library only reads them.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::addr::{Address, HostPort};

/// The seed's port.
pub const DEFAULT_PORT: u16 = 12345;
/// The seed's server reply.
pub const DEFAULT_REPLY: &str = "Hello from the server!";
/// The seed's client message.
pub const DEFAULT_MESSAGE: &str = "Hello from the client!";

/// How long each phase of a connection may take before it is abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, per address tried (client only).
    pub connect: Duration,
    /// The TLS handshake.
    pub handshake: Duration,
    /// Waiting for data from the peer (an idle peer is dropped after this).
    pub read: Duration,
    /// Waiting for the peer to accept our data (a peer that never reads is dropped after this).
    pub write: Duration,
    /// Sending close_notify and waiting for the peer's.
    pub close: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            read: Duration::from_secs(30),
            write: Duration::from_secs(30),
            close: Duration::from_secs(2),
        }
    }
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls1_0,
    Tls1_1,
    Tls1_2,
    Tls1_3,
}

impl TlsVersion {
    /// Every version, oldest first.
    pub const ALL: [TlsVersion; 4] = [
        TlsVersion::Tls1_0,
        TlsVersion::Tls1_1,
        TlsVersion::Tls1_2,
        TlsVersion::Tls1_3,
    ];

    /// OpenSSL's name, as in reports: `TLSv1.3`.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls1_0 => "TLSv1",
            TlsVersion::Tls1_1 => "TLSv1.1",
            TlsVersion::Tls1_2 => "TLSv1.2",
            TlsVersion::Tls1_3 => "TLSv1.3",
        }
    }

    /// The number as written on the command line: `1.3`.
    pub fn number(self) -> &'static str {
        match self {
            TlsVersion::Tls1_0 => "1.0",
            TlsVersion::Tls1_1 => "1.1",
            TlsVersion::Tls1_2 => "1.2",
            TlsVersion::Tls1_3 => "1.3",
        }
    }

    /// Parses `1.2`, `TLSv1.2`, `tls1.2`, `tls1_2`.
    pub fn parse(text: &str) -> Option<TlsVersion> {
        let lower = text.trim().to_ascii_lowercase().replace('_', ".");
        let number = lower
            .strip_prefix("tlsv")
            .or_else(|| lower.strip_prefix("tls"))
            .unwrap_or(&lower);
        TlsVersion::ALL
            .into_iter()
            .find(|v| v.number() == number || (number == "1" && *v == TlsVersion::Tls1_0))
    }
}

/// A base set of protocol settings that the other flags refine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Mozilla's "intermediate": TLS 1.2 and 1.3, AEAD suites with forward secrecy.
    #[default]
    Intermediate,
    /// Mozilla's "modern": TLS 1.3 only.
    Modern,
    /// OpenSSL's own defaults and the system crypto policy, untouched.
    System,
}

/// Where a private key's passphrase comes from (like openssl's `-passin`).
#[derive(Clone, PartialEq, Eq)]
pub enum Passphrase {
    /// `env:VAR`
    Env(String),
    /// `file:PATH` (first line)
    File(PathBuf),
    /// `pass:TEXT` (visible to other users in `ps`: prefer the others)
    Literal(String),
}

impl std::fmt::Debug for Passphrase {
    /// Never shows a literal passphrase.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Passphrase::Env(var) => write!(f, "env:{var}"),
            Passphrase::File(path) => write!(f, "file:{}", path.display()),
            Passphrase::Literal(_) => f.write_str("pass:<hidden>"),
        }
    }
}

/// A certificate with its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// PEM certificate (plus chain) and PEM private key, possibly encrypted.
    Pem {
        cert: PathBuf,
        key: PathBuf,
        passphrase: Option<Passphrase>,
    },
    /// A PKCS#12 bundle holding key, certificate and chain.
    Pkcs12 {
        path: PathBuf,
        passphrase: Option<Passphrase>,
    },
}

impl Identity {
    /// The file that names this identity in messages.
    pub fn display_path(&self) -> std::path::Display<'_> {
        match self {
            Identity::Pem { cert, .. } => cert.display(),
            Identity::Pkcs12 { path, .. } => path.display(),
        }
    }
}

/// Protocol settings both sides share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub profile: Profile,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// OpenSSL cipher list for TLS 1.2 and older.
    pub ciphers: Option<String>,
    /// TLS 1.3 cipher suites, colon-separated.
    pub ciphersuites: Option<String>,
    /// Key exchange groups, colon-separated, in preference order.
    pub groups: Option<String>,
    /// Signature algorithms, colon-separated.
    pub sigalgs: Option<String>,
    /// ALPN protocols in preference order.
    pub alpn: Vec<String>,
    /// Append TLS secrets here in NSS key log format (for Wireshark).
    pub keylog: Option<PathBuf>,
}

/// Whether and how every TLS message is shown as it goes by (`--trace`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trace {
    #[default]
    Off,
    /// One line per message on stderr.
    Text,
    /// One JSON object per message on stdout.
    Json,
}

/// How per-connection reports and traces are shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputSettings {
    /// One JSON object per connection on stdout instead of the seed's lines.
    pub json: bool,
    /// No handshake report on stderr.
    pub quiet: bool,
    pub trace: Trace,
    /// Keep the peer's certificates as PEM: printed on stdout, or `pem` in JSON.
    pub show_certs: bool,
}

/// Client certificates the server asks for (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// CA certificates that client certificates must chain to.
    pub ca_file: PathBuf,
    /// Refuse clients without a certificate (otherwise a certificate is optional).
    pub required: bool,
    /// CRLs the client certificates are checked against.
    pub revocation: Revocation,
}

/// Certificate revocation lists (`--crl`) the peer's chain is checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocation {
    /// CRL files (PEM or DER); none: no CRL check.
    pub crls: Vec<PathBuf>,
    /// Check every certificate of the chain (`--crl-check chain`), not only the peer's
    /// own: then every CA of the chain needs its CRL.
    pub whole_chain: bool,
}

/// Session resumption on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// How long a session can be resumed.
    pub timeout: Duration,
    /// Issue session tickets (otherwise only the server-side cache resumes).
    pub tickets: bool,
    /// Tickets sent after a TLS 1.3 handshake.
    pub num_tickets: usize,
    /// How often generated ticket keys are replaced (without `--ticket-key-file`).
    pub ticket_rotation: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            timeout: Duration::from_secs(300),
            tickets: true,
            num_tickets: 2,
            ticket_rotation: Duration::from_secs(3600),
        }
    }
}

/// A certificate the server presents, and the SNI names it is chosen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    pub identity: Identity,
    /// Names from `--sni NAME=…`; empty means "the DNS names in the certificate".
    pub names: Vec<String>,
}

/// What a client run must observe, or it exits 7.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    pub version: Option<TlsVersion>,
    pub cipher: Option<String>,
    pub group: Option<String>,
    pub alpn: Option<String>,
    /// Every connection that offered a session must have resumed it.
    pub resumed: bool,
    /// No certificate of the server's chain may expire in fewer days than this.
    pub days_left: Option<u32>,
    /// The server must staple a verified OCSP response saying "good".
    pub ocsp_good: bool,
}

/// What the server does with each connection after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The seed: read one message, print it, answer `reply`, close.
    #[default]
    Reply,
    /// Send back everything the client sends, until it closes or goes idle.
    Echo,
    /// Answer with what the connection negotiated and what the client offered (JSON, or
    /// an HTML page for browsers).
    Inspect,
    /// Serve the files under [`ServerConfig::root`] over HTTP/1.1 (GET and HEAD,
    /// keep-alive).
    Files,
    /// Terminate TLS: carry the plaintext to [`ServerConfig::backend`] and back.
    Forward,
    /// Carry the plaintext to a program's stdin and its stdout back
    /// ([`ServerConfig::exec`]).
    Exec,
}

/// Who may connect with a client certificate: a certificate passes when one of its names
/// matches one rule; with no rule, every verified certificate passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// Subject common names (`--allow-cn`).
    pub cn: Vec<String>,
    /// DNS names among the subject alternative names (`--allow-dns`).
    pub dns: Vec<String>,
    /// URIs among the subject alternative names, e.g. SPIFFE IDs (`--allow-uri`).
    pub uri: Vec<String>,
    /// Subject organisational units (`--allow-ou`).
    pub ou: Vec<String>,
}

impl AccessRules {
    /// Whether any rule is set.
    pub fn is_empty(&self) -> bool {
        self.cn.is_empty() && self.dns.is_empty() && self.uri.is_empty() && self.ou.is_empty()
    }
}

/// Where a terminating tunnel carries each connection (`--forward`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub address: Address,
    /// Send a PROXY protocol header first, naming the client.
    pub send_proxy: Option<crate::proxy::Version>,
}

/// A program each connection talks to (`--exec`, `--sh-exec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    pub program: String,
    pub args: Vec<String>,
}

/// The limits of tunnels (forward and exec modes, and the client's `--listen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelSettings {
    /// How long the backend may take to accept the connection.
    pub connect_timeout: Duration,
    /// How long either direction may carry nothing before the tunnel is cut.
    pub idle_timeout: Duration,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        TunnelSettings {
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(3600),
        }
    }
}

/// The server's TLS setup: what [`crate::tls::acceptor`] builds its contexts from, and
/// all that a reload reads again.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Certificates to serve; the first is the default when SNI matches none.
    pub certificates: Vec<ServerCertificate>,
    /// Serve a certificate that has expired (with a warning) instead of refusing to start.
    pub allow_expired: bool,
    /// Accept private key and ticket key files that other users can read.
    pub allow_insecure_key_permissions: bool,
    /// Versions, suites, groups, ALPN, key log.
    pub protocol: TlsSettings,
    /// With ALPN configured, go on without it when the client offers nothing we speak
    /// (instead of the `no_application_protocol` alert).
    pub alpn_optional: bool,
    /// Ask clients for certificates (mutual TLS).
    pub client_auth: Option<ClientAuth>,
    /// Which client certificates may connect, beyond verifying.
    pub access: AccessRules,
    /// Session cache and tickets.
    pub sessions: SessionSettings,
    /// Session ticket keys shared by every instance (the first encrypts, all decrypt).
    pub ticket_key_file: Option<PathBuf>,
    /// A DER OCSP response about the default certificate, stapled for clients that ask.
    pub ocsp_response: Option<PathBuf>,
    /// Accept this many bytes of 0-RTT early data on resumed TLS 1.3 connections (0: none).
    pub max_early_data: u32,
    /// Renegotiate TLS 1.2 connections after the exchange, and let clients renegotiate.
    pub renegotiation: bool,
    /// Ask for the client certificate after the handshake (TLS 1.3), not during it.
    pub post_handshake_auth: bool,
}

impl ServerTls {
    /// The `--client-ca` file, for the words of a rejection (empty without one).
    pub fn client_ca(&self) -> String {
        self.client_auth
            .as_ref()
            .map(|auth| auth.ca_file.display().to_string())
            .unwrap_or_default()
    }
}

impl Default for ServerTls {
    fn default() -> Self {
        ServerTls {
            certificates: vec![ServerCertificate {
                identity: Identity::Pem {
                    cert: PathBuf::from("certs/server.crt"),
                    key: PathBuf::from("certs/server.key"),
                    passphrase: None,
                },
                names: Vec::new(),
            }],
            allow_expired: false,
            allow_insecure_key_permissions: false,
            protocol: TlsSettings::default(),
            alpn_optional: false,
            client_auth: None,
            access: AccessRules::default(),
            sessions: SessionSettings::default(),
            ticket_key_file: None,
            ocsp_response: None,
            max_early_data: 0,
            renegotiation: false,
            post_handshake_auth: false,
        }
    }
}

/// Settings of `tlscat server`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (ignored when systemd hands over sockets).
    pub listen: Vec<Address>,
    /// Set SO_REUSEPORT, so that several processes can share a port.
    pub reuse_port: bool,
    /// Expect a PROXY protocol (v1 or v2) header before TLS, from a load balancer.
    pub proxy_protocol: bool,
    /// Answer PostgreSQL's SSLRequest before TLS (`--starttls postgres`).
    pub postgres_ssl_request: bool,
    /// What to do after the handshake.
    pub mode: Mode,
    /// The folder served in [`Mode::Files`].
    pub root: Option<PathBuf>,
    /// Where [`Mode::Forward`] carries each connection.
    pub backend: Option<Backend>,
    /// The program of [`Mode::Exec`].
    pub exec: Option<ExecCommand>,
    /// Tunnel limits (forward and exec modes).
    pub tunnel: TunnelSettings,
    pub tls: ServerTls,
    /// Re-read certificates and keys when their files change, checking this often.
    pub reload_interval: Option<Duration>,
    /// Serve Prometheus metrics at `/metrics` (and `/healthz`) here.
    pub metrics: Option<HostPort>,
    /// What the server answers to every message.
    pub reply: Vec<u8>,
    /// Largest message read from a client, in bytes.
    pub max_message: usize,
    /// Most connections handled at once; further clients wait in the listen backlog.
    pub max_conns: usize,
    /// Server threads, each serving the connections it accepts; `None`: one per core.
    pub threads: Option<NonZeroUsize>,
    /// Per-phase timeouts of each connection.
    pub timeouts: Timeouts,
    /// How long connections in flight may take to finish after a stop signal.
    pub drain_timeout: Duration,
    /// Reports and traces.
    pub output: OutputSettings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![Address::Tcp(HostPort::new("localhost", DEFAULT_PORT))],
            reuse_port: false,
            proxy_protocol: false,
            postgres_ssl_request: false,
            mode: Mode::Reply,
            root: None,
            backend: None,
            exec: None,
            tunnel: TunnelSettings::default(),
            tls: ServerTls::default(),
            reload_interval: None,
            metrics: None,
            reply: DEFAULT_REPLY.as_bytes().to_vec(),
            max_message: 1024,
            max_conns: 1024,
            threads: None,
            timeouts: Timeouts::default(),
            drain_timeout: Duration::from_secs(5),
            output: OutputSettings::default(),
        }
    }
}

/// Which certificates the client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Only the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// The platform's trust store (OpenSSL's default verify paths).
    System,
}

/// The client's TLS setup: what [`crate::tls::connector`] builds its context from.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// Where trusted CA certificates come from.
    pub trust: Trust,
    /// Skip certificate and hostname verification (see [`crate::tls::danger`]).
    pub insecure: bool,
    /// Client certificate for mutual TLS.
    pub identity: Option<Identity>,
    /// Accept a private key file that other users can read.
    pub allow_insecure_key_permissions: bool,
    /// Versions, suites, groups, ALPN, key log.
    pub protocol: TlsSettings,
    /// SHA-256 digests of the public keys (SubjectPublicKeyInfo) the server may have
    /// (`--pin`); empty: any key that verifies.
    pub pins: Vec<[u8; 32]>,
    /// CRLs the server's chain is checked against.
    pub revocation: Revocation,
    /// Ask for the server's stapled OCSP response (`--status`) and check it.
    pub ocsp: bool,
    /// Offer post-handshake authentication (TLS 1.3): the server may ask for the client
    /// certificate after the handshake.
    pub post_handshake_auth: bool,
    /// Renegotiate after the handshake (TLS 1.2), and let the server renegotiate.
    pub renegotiation: bool,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            trust: Trust::System,
            insecure: false,
            identity: None,
            allow_insecure_key_permissions: false,
            protocol: TlsSettings::default(),
            pins: Vec::new(),
            revocation: Revocation::default(),
            ocsp: false,
            post_handshake_auth: false,
            renegotiation: false,
        }
    }
}

/// The server a client connects to, and the name it expects to find there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `HOST:PORT`, or `unix:/path`.
    pub address: Address,
    /// Name sent in SNI and checked against the certificate; `None` means the host.
    pub server_name: Option<String>,
    /// Send SNI (an IP address is never sent, as the RFC says).
    pub sni: bool,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            address: Address::Tcp(HostPort::new("localhost", DEFAULT_PORT)),
            server_name: None,
            sni: true,
        }
    }
}

impl Target {
    /// The name used for SNI and hostname verification: `--servername`, else the host
    /// (`localhost` for a Unix socket).
    pub fn server_name(&self) -> &str {
        match (&self.server_name, &self.address) {
            (Some(name), _) => name,
            (None, Address::Tcp(host_port)) => &host_port.host,
            (None, Address::Unix(_)) => "localhost",
        }
    }

    /// The name sent in SNI, if any: none with `--no-sni` or for an IP address (SNI
    /// carries host names only).
    pub fn sni(&self) -> Option<&str> {
        let name = self.server_name();
        (self.sni && name.parse::<std::net::IpAddr>().is_err()).then_some(name)
    }
}

/// The protocols `--starttls` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StarttlsProtocol {
    Smtp,
    Lmtp,
    Imap,
    Pop3,
    Ftp,
    /// XMPP client-to-server.
    Xmpp,
    /// XMPP server-to-server.
    XmppServer,
    Ldap,
    Postgres,
    Mysql,
    Nntp,
    /// ManageSieve.
    Sieve,
    Irc,
}

impl StarttlsProtocol {
    /// Every protocol, in the order the help lists them.
    pub const ALL: [StarttlsProtocol; 13] = [
        StarttlsProtocol::Smtp,
        StarttlsProtocol::Lmtp,
        StarttlsProtocol::Imap,
        StarttlsProtocol::Pop3,
        StarttlsProtocol::Ftp,
        StarttlsProtocol::Xmpp,
        StarttlsProtocol::XmppServer,
        StarttlsProtocol::Ldap,
        StarttlsProtocol::Postgres,
        StarttlsProtocol::Mysql,
        StarttlsProtocol::Nntp,
        StarttlsProtocol::Sieve,
        StarttlsProtocol::Irc,
    ];

    /// The name `--starttls` takes (and s_client's).
    pub fn name(self) -> &'static str {
        match self {
            StarttlsProtocol::Smtp => "smtp",
            StarttlsProtocol::Lmtp => "lmtp",
            StarttlsProtocol::Imap => "imap",
            StarttlsProtocol::Pop3 => "pop3",
            StarttlsProtocol::Ftp => "ftp",
            StarttlsProtocol::Xmpp => "xmpp",
            StarttlsProtocol::XmppServer => "xmpp-server",
            StarttlsProtocol::Ldap => "ldap",
            StarttlsProtocol::Postgres => "postgres",
            StarttlsProtocol::Mysql => "mysql",
            StarttlsProtocol::Nntp => "nntp",
            StarttlsProtocol::Sieve => "sieve",
            StarttlsProtocol::Irc => "irc",
        }
    }
}

/// `--starttls`: the plaintext protocol spoken before the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Starttls {
    pub protocol: StarttlsProtocol,
    /// The name the protocol announces (`--starttls-host`): SMTP's EHLO [default: this
    /// machine's name], XMPP's `to` [default: the server name].
    pub host: Option<String>,
}

/// Settings of `tlscat client`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub target: Target,
    pub tls: ClientTls,
    /// With addresses: a tunnel that carries each plain connection accepted here to the
    /// target over TLS, instead of one exchange.
    pub listen: Vec<Address>,
    /// Tunnel limits (with `listen`).
    pub tunnel: TunnelSettings,
    /// Connections carried at once (with `listen`).
    pub max_conns: usize,
    /// A plaintext protocol to speak before the handshake (`--starttls`).
    pub starttls: Option<Starttls>,
    /// What the client sends.
    pub message: Vec<u8>,
    /// Largest response kept, in bytes; reading stops there.
    pub max_response: usize,
    /// Once the answer has begun, end when the server sends nothing more for this long.
    pub quiet_period: Duration,
    /// Connections after the first, each offering the previous session for resumption.
    pub reconnect: usize,
    /// Offer this saved session (PEM) on the first connection.
    pub session_in: Option<PathBuf>,
    /// Save the last session (PEM) here.
    pub session_out: Option<PathBuf>,
    /// Stream stdin to the server and the server's data to stdout, raw, both at once.
    pub pipe: bool,
    /// Send this file's content as 0-RTT early data on a resumed TLS 1.3 connection.
    pub early_data: Option<PathBuf>,
    /// After the exchange, send a TLS 1.3 KeyUpdate; `Some(true)`: ask for one back.
    pub key_update: Option<bool>,
    /// Assertions checked on every connection.
    pub expect: Expectations,
    /// Per-phase timeouts.
    pub timeouts: Timeouts,
    /// Reports and traces.
    pub output: OutputSettings,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            target: Target::default(),
            tls: ClientTls::default(),
            listen: Vec::new(),
            tunnel: TunnelSettings::default(),
            max_conns: 1024,
            starttls: None,
            message: DEFAULT_MESSAGE.as_bytes().to_vec(),
            max_response: 1024 * 1024,
            quiet_period: DEFAULT_QUIET_PERIOD,
            reconnect: 0,
            session_in: None,
            session_out: None,
            pipe: false,
            early_data: None,
            key_update: None,
            expect: Expectations::default(),
            timeouts: Timeouts::default(),
            output: OutputSettings::default(),
        }
    }
}

/// How long the client waits for more of an answer that has begun.
pub const DEFAULT_QUIET_PERIOD: Duration = Duration::from_secs(1);

/// What each `tlscat bench` connection does after its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchMode {
    /// Nothing: close_notify at once, then read until the server closes (which takes
    /// in TLS 1.3 session tickets).
    Handshake,
    /// Send these bytes, then read the reply until the server closes.
    Request(Vec<u8>),
    /// Send this many bytes to an echo server and read them all back.
    Echo(u64),
    /// Download this path with an HTTP/1.1 GET, to the end of the body.
    Download(String),
}

/// Settings of `tlscat bench`.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub target: Target,
    pub tls: ClientTls,
    pub timeouts: Timeouts,
    pub mode: BenchMode,
    /// Offer each connection's newest session on the next one.
    pub resume: bool,
    /// Connections in flight at once.
    pub concurrency: usize,
    /// Start no new connection after this long.
    pub duration: Option<Duration>,
    /// Make this many connections in all.
    pub count: Option<u64>,
    /// Rewrite a progress line on stderr every second.
    pub progress: bool,
}
