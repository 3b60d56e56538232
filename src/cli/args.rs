//! The flags, as clap declarations: one struct per command, shared groups flattened in.
//! Doc comments are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use tlscat::config::{
    Address, DEFAULT_MESSAGE, DEFAULT_REPLY, HostPort, Passphrase, StarttlsProtocol, TlsVersion,
};

use super::values::{
    parse_bytes, parse_connect, parse_count, parse_duration, parse_listen, parse_metrics,
    parse_passphrase, parse_pins, parse_positive, parse_sni, parse_version, starttls_protocols,
};

/// Timeouts both sides have. DURATION: `10` or `10s`, `500ms`, `2m`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Timeouts (DURATION: 10, 10s, 500ms, 2m)")]
pub struct PhaseTimeouts {
    /// Longest TLS handshake.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// Longest wait for data from the peer (an idle peer is dropped).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub read_timeout: Duration,
    /// Longest wait for the peer to take our data.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub write_timeout: Duration,
    /// Longest close_notify exchange at the end of a connection.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub close_timeout: Duration,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
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
    pub profile: ProfileArg,
    /// Oldest TLS version allowed: 1.0, 1.1, 1.2 or 1.3 (1.0 and 1.1 lower OpenSSL's
    /// security level to 0, with a warning).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub min_tls: Option<TlsVersion>,
    /// Newest TLS version allowed: 1.0, 1.1, 1.2 or 1.3.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub max_tls: Option<TlsVersion>,
    /// TLS 1.2 only (--min-tls 1.2 --max-tls 1.2).
    #[arg(long = "tls1.2", conflicts_with_all = ["min_tls", "max_tls", "tls13"])]
    pub tls12: bool,
    /// TLS 1.3 only (--min-tls 1.3 --max-tls 1.3).
    #[arg(long = "tls1.3", conflicts_with_all = ["min_tls", "max_tls"])]
    pub tls13: bool,
    /// Cipher suites for TLS 1.2 and older, in OpenSSL's syntax (ECDHE+AESGCM:…).
    #[arg(long, value_name = "LIST")]
    pub ciphers: Option<String>,
    /// TLS 1.3 cipher suites, colon-separated (TLS_AES_128_GCM_SHA256:…).
    #[arg(long, value_name = "LIST")]
    pub ciphersuites: Option<String>,
    /// Key exchange groups in preference order, colon-separated (X25519:P-256:…).
    #[arg(long, value_name = "LIST")]
    pub groups: Option<String>,
    /// Signature algorithms, colon-separated (ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:…).
    #[arg(long, value_name = "LIST")]
    pub sigalgs: Option<String>,
    /// ALPN protocols in preference order, comma-separated (h2,http/1.1).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub alpn: Vec<String>,
    /// Append the TLS secrets to FILE in NSS key log format, for Wireshark [default:
    /// $SSLKEYLOGFILE when set]. Anyone who reads FILE can decrypt the connections.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// One JSON object per connection on stdout (instead of the plain lines and the report).
    #[arg(long)]
    pub json: bool,
    /// No handshake report on stderr, no per-connection info lines (failures are still
    /// logged), no `Connected to:` line and no files-mode access log.
    #[arg(long, short)]
    pub quiet: bool,
    /// Every TLS message as it is sent or received (with --json: NDJSON events on stdout).
    #[arg(long)]
    pub trace: bool,
    /// The certificates the peer sent, in its order, as PEM on stdout (with --json: a
    /// "pem" field in each peer_chain entry), like s_client -showcerts.
    #[arg(long)]
    pub showcerts: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProxyArg {
    /// The text header: the client's address.
    V1,
    /// The binary header, with TLVs.
    V2,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum CrlCheckArg {
    /// The peer's own certificate.
    #[default]
    Leaf,
    /// Every certificate of the chain (each CA's CRL is then needed).
    Chain,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyUpdateArg {
    /// A KeyUpdate of our own.
    NotRequested,
    /// Also ask the server to update its keys.
    Requested,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OcspArg {
    /// A verified, current response saying "good".
    Good,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VerifyArg {
    /// Ask for a client certificate; clients without one are still served.
    Optional,
    /// Refuse clients without a valid certificate.
    Require,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
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
    pub listen: Vec<Address>,
    /// What to do with each connection after the handshake [default: reply].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// The folder --mode files serves (nothing outside it is reachable).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Set SO_REUSEPORT, so that several tlscat processes can listen on one port.
    #[arg(long, help_heading = "Operations")]
    pub reuse_port: bool,
    /// Expect a PROXY protocol header (v1 or v2, as HAProxy's send-proxy) before TLS; log
    /// and report the client address it names; refuse connections without one.
    #[arg(long, help_heading = "Operations")]
    pub proxy_protocol: bool,
    /// Answer PostgreSQL's SSLRequest before the handshake, so that libpq clients
    /// (sslmode=require or verify-full) reach a --forward in front of PostgreSQL; clients
    /// that start with TLS (sslnegotiation=direct) are served too.
    #[arg(long, value_name = "PROTOCOL", value_parser = ["postgres"], help_heading = "Operations")]
    pub starttls: Option<String>,
    /// Also reload when the certificate, key, CA or ticket key files change, checking this
    /// often (SIGHUP always reloads).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Operations")]
    pub reload_interval: Option<Duration>,
    /// Session ticket keys shared by every instance: one base64 line of 80 random bytes per
    /// key (openssl rand 80 | base64 -w0); the first encrypts, all decrypt.
    #[arg(long, value_name = "FILE", help_heading = "Sessions")]
    pub ticket_key_file: Option<PathBuf>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (and /healthz); a bare PORT
    /// listens on 127.0.0.1.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_metrics, help_heading = "Operations")]
    pub metrics: Option<HostPort>,
    /// Certificate (PEM), optionally followed by its intermediate CAs; repeat with --key
    /// for several, chosen by SNI [default: certs/server.crt].
    #[arg(long, value_name = "FILE")]
    pub cert: Vec<PathBuf>,
    /// Private key (PEM) of the --cert at the same position [default: certs/server.key].
    #[arg(long, value_name = "FILE")]
    pub key: Vec<PathBuf>,
    /// Certificate and key from a PKCS#12 file instead of --cert/--key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"])]
    pub p12: Option<PathBuf>,
    /// Passphrase of encrypted keys and --p12: env:VAR, file:PATH or pass:TEXT.
    #[arg(long, value_name = "SOURCE", value_parser = parse_passphrase)]
    pub pass: Option<Passphrase>,
    /// Another certificate, served to clients asking for NAME in SNI; repeatable.
    #[arg(long, value_name = "NAME=CERT,KEY", value_parser = parse_sni)]
    pub sni: Vec<(String, PathBuf, PathBuf)>,
    /// Serve an expired certificate (with a warning) instead of refusing to start.
    #[arg(long)]
    pub allow_expired: bool,
    /// Accept key and ticket key files that other users can read (refused by default,
    /// as ssh does).
    #[arg(long)]
    pub allow_insecure_key_permissions: bool,
    /// Ask clients for a certificate signed by a CA in FILE (mutual TLS).
    #[arg(long, value_name = "FILE", help_heading = "Mutual TLS")]
    pub client_ca: Option<PathBuf>,
    /// Let in only client certificates with this subject common name (or one another
    /// --allow-* rule names); repeatable.
    #[arg(
        long,
        value_name = "NAME",
        requires = "client_ca",
        help_heading = "Mutual TLS"
    )]
    pub allow_cn: Vec<String>,
    /// Let in client certificates with this DNS name among their alternative names.
    #[arg(
        long,
        value_name = "NAME",
        requires = "client_ca",
        help_heading = "Mutual TLS"
    )]
    pub allow_dns: Vec<String>,
    /// Let in client certificates with this URI among their alternative names (a SPIFFE
    /// ID such as spiffe://example.org/web).
    #[arg(
        long,
        value_name = "URI",
        requires = "client_ca",
        help_heading = "Mutual TLS"
    )]
    pub allow_uri: Vec<String>,
    /// Let in client certificates with this organisational unit in their subject.
    #[arg(
        long,
        value_name = "OU",
        requires = "client_ca",
        help_heading = "Mutual TLS"
    )]
    pub allow_ou: Vec<String>,
    /// Terminate TLS: carry each connection's plaintext to TARGET (HOST:PORT or
    /// unix:/PATH) and back, like stunnel; a clean close is passed on as one, an abort as
    /// an abort.
    #[arg(long, value_name = "TARGET", value_parser = parse_listen, help_heading = "Tunnel",
          conflicts_with_all = ["exec", "sh_exec", "root", "mode"])]
    pub forward: Option<Address>,
    /// Send the backend a PROXY protocol header first (v1, or v2 with the TLS version,
    /// cipher, SNI, ALPN and client certificate's CN as TLVs), as HAProxy's send-proxy.
    #[arg(long, value_enum, requires = "forward", help_heading = "Tunnel")]
    pub send_proxy: Option<ProxyArg>,
    /// Carry each connection to a program of its own: its stdin gets what the client sends,
    /// its stdout goes back. Quotes are understood; there is no shell (see --sh-exec).
    #[arg(long, value_name = "CMD", help_heading = "Tunnel",
          conflicts_with_all = ["sh_exec", "root", "mode"])]
    pub exec: Option<String>,
    /// Like --exec, run by /bin/sh -c (pipes, redirections, variables).
    #[arg(long, value_name = "CMD", help_heading = "Tunnel", conflicts_with_all = ["root", "mode"])]
    pub sh_exec: Option<String>,
    /// Longest wait for the backend to accept a connection (--forward).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration, help_heading = "Tunnel")]
    pub backend_connect_timeout: Duration,
    /// Cut a tunnel (--forward, --exec) when either direction carries nothing for this
    /// long.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, help_heading = "Tunnel")]
    pub idle_timeout: Duration,
    /// Whether a client certificate is required [default: require].
    #[arg(long, value_enum, requires = "client_ca", help_heading = "Mutual TLS")]
    pub verify: Option<VerifyArg>,
    /// Refuse client certificates this CRL (PEM or DER, from openssl ca -gencrl) lists;
    /// repeatable. Reread on reload.
    #[arg(
        long,
        value_name = "FILE",
        requires = "client_ca",
        help_heading = "Mutual TLS"
    )]
    pub crl: Vec<PathBuf>,
    /// What --crl checks: the client's own certificate, or the whole chain.
    #[arg(
        long,
        value_enum,
        default_value = "leaf",
        requires = "crl",
        help_heading = "Mutual TLS"
    )]
    pub crl_check: CrlCheckArg,
    /// Accept up to N bytes of 0-RTT early data (at most 16384) on resumed TLS 1.3
    /// connections, shown and reported apart from the message. Early data can be replayed
    /// by an attacker: off by default, for idempotent requests only.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=16384), help_heading = "Scripted TLS events")]
    pub max_early_data: Option<u32>,
    /// TLS 1.2: renegotiate each connection after the exchange (HelloRequest), and let
    /// clients renegotiate (refused by default).
    #[arg(long, help_heading = "Scripted TLS events")]
    pub renegotiate: bool,
    /// TLS 1.3: ask for the client certificate after the handshake instead of during it
    /// (the client must offer it: s_client -enable_pha, tlscat --post-handshake-auth).
    #[arg(long, requires = "client_ca", help_heading = "Scripted TLS events")]
    pub post_handshake_auth: bool,
    /// Staple this OCSP response (DER, from openssl ocsp -respout or the CA's responder)
    /// for clients that ask (status_request); about the default --cert. Reread on reload.
    #[arg(long, value_name = "FILE")]
    pub ocsp_response: Option<PathBuf>,
    /// With --alpn: go on without ALPN when the client offers none of ours (instead of
    /// the no_application_protocol alert).
    #[arg(long, requires = "alpn", help_heading = "TLS")]
    pub alpn_optional: bool,
    /// How long a session stays resumable.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration, help_heading = "Sessions")]
    pub session_timeout: Duration,
    /// Resume from the server's session cache only: no session tickets.
    #[arg(long, help_heading = "Sessions")]
    pub no_tickets: bool,
    /// Session tickets sent after each TLS 1.3 handshake.
    #[arg(long, value_name = "N", default_value = "2", help_heading = "Sessions")]
    pub num_tickets: usize,
    /// How often the server replaces its own session ticket key (without
    /// --ticket-key-file); tickets under the two previous keys still resume.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, help_heading = "Sessions")]
    pub ticket_rotation: Duration,
    /// What the server answers to every message.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_REPLY)]
    pub reply: String,
    /// Largest message read from a client; a longer one is cut (with a warning).
    #[arg(long, value_name = "BYTES", default_value = "1024", value_parser = parse_positive)]
    pub max_message: usize,
    /// Most connections served at once; more clients wait in the listen backlog.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = parse_positive)]
    pub max_conns: usize,
    /// Server threads, each serving the connections it accepts [default: one per core].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub threads: Option<usize>,
    /// After SIGINT/SIGTERM, how long connections in flight may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub timeouts: PhaseTimeouts,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Server to connect to: HOST:PORT (the port defaults to 12345) or unix:/PATH.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:12345", value_parser = parse_connect)]
    pub connect: Address,
    /// Trust only the CA certificates in FILE (PEM) [default: certs/ca.crt if it exists,
    /// else the system trust store]
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Name to send in SNI and to verify the certificate against [default: the host].
    #[arg(long, value_name = "NAME")]
    pub servername: Option<String>,
    /// Send no SNI (the name is still verified).
    #[arg(long)]
    pub no_sni: bool,
    /// Do not verify the server's certificate or name. For debugging only: anyone on the
    /// path can then impersonate the server.
    #[arg(long, conflicts_with = "cacert")]
    pub insecure: bool,
    /// Refuse a server whose certificate this CRL (PEM or DER) lists; repeatable.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub crl: Vec<PathBuf>,
    /// What --crl checks: the server's own certificate, or the whole chain.
    #[arg(long, value_enum, default_value = "leaf", requires = "crl")]
    pub crl_check: CrlCheckArg,
    /// Accept the server only with this public key: sha256//BASE64, the SHA-256 of its
    /// SubjectPublicKeyInfo (as curl's --pinnedpubkey); repeatable, or joined by ';'.
    #[arg(long, value_name = "sha256//BASE64", value_parser = parse_pins)]
    pub pin: Vec<Vec<[u8; 32]>>,
    /// Client certificate (PEM, plus chain) for mutual TLS.
    #[arg(
        long,
        value_name = "FILE",
        requires = "key",
        help_heading = "Mutual TLS"
    )]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(
        long,
        value_name = "FILE",
        requires = "cert",
        help_heading = "Mutual TLS"
    )]
    pub key: Option<PathBuf>,
    /// Client certificate and key from a PKCS#12 file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"], help_heading = "Mutual TLS")]
    pub p12: Option<PathBuf>,
    /// Passphrase of an encrypted --key or --p12: env:VAR, file:PATH or pass:TEXT.
    #[arg(long, value_name = "SOURCE", value_parser = parse_passphrase, help_heading = "Mutual TLS")]
    pub pass: Option<Passphrase>,
    /// Accept a --key or --p12 file that other users can read.
    #[arg(long, help_heading = "Mutual TLS")]
    pub allow_insecure_key_permissions: bool,
    /// Longest TCP connect, per address tried.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Timeouts (DURATION: 10, 10s, 500ms, 2m)")]
    pub connect_timeout: Duration,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub timeouts: PhaseTimeouts,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub connection: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Message to send.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_MESSAGE)]
    pub message: String,
    /// Send FILE's content as 0-RTT early data on a resumed TLS 1.3 connection (with
    /// --sess-in or --reconnect), before the message; the report says whether the server
    /// accepted it.
    #[arg(long, value_name = "FILE", help_heading = "Scripted TLS events")]
    pub early_data: Option<PathBuf>,
    /// TLS 1.3: after the exchange, send a KeyUpdate; =requested asks the server for one
    /// back.
    #[arg(long, value_name = "requested", value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "not-requested", help_heading = "Scripted TLS events")]
    pub key_update: Option<KeyUpdateArg>,
    /// TLS 1.2: renegotiate after the handshake, before the message; and let the server
    /// renegotiate (refused by default).
    #[arg(long, help_heading = "Scripted TLS events")]
    pub renegotiate: bool,
    /// TLS 1.3: offer post-handshake authentication, so the server may ask for --cert
    /// after the handshake.
    #[arg(long, help_heading = "Scripted TLS events")]
    pub post_handshake_auth: bool,
    /// Speak this protocol in plaintext until the server agrees to start TLS, then
    /// handshake (as s_client -starttls); the plaintext goes to --trace.
    #[arg(long, value_name = "PROTOCOL", value_parser = starttls_protocols(), help_heading = "STARTTLS")]
    pub starttls: Option<StarttlsProtocol>,
    /// The name STARTTLS announces: SMTP/LMTP's EHLO [default: this machine's name],
    /// XMPP's `to` domain [default: the server name].
    #[arg(
        long,
        value_name = "NAME",
        requires = "starttls",
        help_heading = "STARTTLS"
    )]
    pub starttls_host: Option<String>,
    /// Ask the server for its stapled OCSP response (status_request) and show it: good,
    /// revoked or unknown, this and next update. A verified "revoked" fails (exit 5).
    #[arg(long)]
    pub status: bool,
    /// Stream stdin to the server and the server's data to stdout as raw bytes, both at
    /// once (like netcat); at the end of stdin send close_notify and read until the
    /// server closes.
    #[arg(long, conflicts_with_all = ["message", "json", "reconnect", "max_response", "quiet_period"])]
    pub pipe: bool,
    /// Largest response kept; reading stops there (with a warning).
    #[arg(long, value_name = "BYTES", default_value = "1048576", value_parser = parse_positive)]
    pub max_response: usize,
    /// Once the server's answer has begun, end (exit 0) when it sends nothing more for
    /// this long, for servers that keep the connection open (echo, s_server).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub quiet_period: Duration,
    /// Connect N more times, offering the newest session for resumption each time.
    #[arg(long, value_name = "N", default_value = "0", help_heading = "Sessions")]
    pub reconnect: usize,
    /// Offer the session saved in FILE (PEM, as from --sess-out or s_client -sess_out).
    #[arg(long, value_name = "FILE", help_heading = "Sessions")]
    pub sess_in: Option<PathBuf>,
    /// Save the last session to FILE (PEM, readable by s_client -sess_in; mode 0600).
    #[arg(long, value_name = "FILE", help_heading = "Sessions")]
    pub sess_out: Option<PathBuf>,
    /// Exit 7 unless this TLS version is negotiated (1.2, 1.3, …).
    #[arg(long, value_name = "VERSION", value_parser = parse_version, help_heading = "Assertions (exit 7 when one fails)")]
    pub expect_version: Option<TlsVersion>,
    /// Exit 7 unless this cipher suite is negotiated (OpenSSL name).
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    pub expect_cipher: Option<String>,
    /// Exit 7 unless this key exchange group is negotiated (X25519, P-256, …).
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    pub expect_group: Option<String>,
    /// Exit 7 unless this ALPN protocol is selected.
    #[arg(
        long,
        value_name = "PROTOCOL",
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    pub expect_alpn: Option<String>,
    /// Exit 7 unless every reconnection (and a --sess-in connection) resumes its session.
    #[arg(long, help_heading = "Assertions (exit 7 when one fails)")]
    pub expect_resumed: bool,
    /// Exit 7 unless the server staples an OCSP response with this status that verifies
    /// and is current (implies --status).
    #[arg(
        long,
        value_name = "STATUS",
        value_enum,
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    pub expect_ocsp: Option<OcspArg>,
    /// Exit 7 when a certificate of the server's chain (the verified one, else the one
    /// sent) expires in fewer than N days.
    #[arg(
        long,
        value_name = "N",
        help_heading = "Assertions (exit 7 when one fails)"
    )]
    pub expect_days_left: Option<u32>,
    /// Be a tunnel: accept plain connections on ADDR (HOST:PORT or unix:/PATH; repeatable)
    /// and carry each to --connect over its own TLS connection, resuming sessions.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, help_heading = "Tunnel",
          conflicts_with_all = ["message", "pipe", "reconnect", "sess_out", "max_response"])]
    pub listen: Vec<Address>,
    /// With --listen: cut a tunnel when either direction carries nothing for this long.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, help_heading = "Tunnel")]
    pub idle_timeout: Duration,
    /// With --listen: connections carried at once; more wait in the listen backlog.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = parse_positive, help_heading = "Tunnel")]
    pub max_conns: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum BenchModeArg {
    /// Handshake, then close (close_notify both ways).
    Handshake,
    /// Move data: --bytes to an echo server and back, or --get a file.
    Throughput,
    /// Send --request, read the reply until the server closes (the seed's exchange).
    Request,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub connection: ConnectArgs,
    /// What each connection does after the handshake.
    #[arg(long, value_enum, default_value = "handshake", help_heading = "Load")]
    pub mode: BenchModeArg,
    /// Offer each connection's newest session on the next (TLS 1.2 sessions, TLS 1.3
    /// tickets): resumed handshakes.
    #[arg(long, help_heading = "Load")]
    pub resume: bool,
    /// Connections in flight at once [default: twice the cores].
    #[arg(long, short = 'c', value_name = "N", value_parser = parse_positive, help_heading = "Load")]
    pub concurrency: Option<usize>,
    /// Start connections for this long [default: 10s, or no limit with --count].
    #[arg(long, short = 'd', value_name = "DURATION", value_parser = parse_duration, help_heading = "Load")]
    pub duration: Option<Duration>,
    /// Make this many connections in all.
    #[arg(long, short = 'n', value_name = "N", value_parser = parse_count, help_heading = "Load")]
    pub count: Option<u64>,
    /// Throughput: send this much to an echo server (tlscat server --mode echo) and read
    /// it back, per connection (64K, 100M, 1G: powers of 1024).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, conflicts_with = "get", help_heading = "Load")]
    pub bytes: Option<u64>,
    /// Throughput: download PATH with HTTP GET (e.g. from tlscat server --mode files).
    #[arg(long, value_name = "PATH", help_heading = "Load")]
    pub get: Option<String>,
    /// Request mode: what to send (\r, \n, \t and \\ are understood).
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_MESSAGE, help_heading = "Load")]
    pub request: String,
    /// The summary (or the error) as one JSON object on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}
