//! Command-line flags (clap) and their conversion into the library's configs. This is the
//! one place where flags become config, so cross-flag checks live here too.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tlscat::config::{DEFAULT_MESSAGE, DEFAULT_PORT, DEFAULT_REPLY};
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
}

/// Timeouts both sides have. DURATION: `10` or `10s`, `500ms`, `2m`.
#[derive(Debug, Args)]
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

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on; repeat for several. Every address HOST resolves to is bound;
    /// port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:12345", value_parser = parse_listen)]
    listen: Vec<String>,
    /// Certificate (PEM), optionally followed by its intermediate CAs.
    #[arg(long, value_name = "FILE", default_value = "certs/server.crt")]
    cert: PathBuf,
    /// Private key (PEM, unencrypted) matching --cert.
    #[arg(long, value_name = "FILE", default_value = "certs/server.key")]
    key: PathBuf,
    /// Serve an expired certificate (with a warning) instead of refusing to start.
    #[arg(long)]
    allow_expired: bool,
    /// What the server answers to every message.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_REPLY)]
    reply: String,
    /// Largest message read from a client; a longer one is cut (with a warning).
    #[arg(long, value_name = "BYTES", default_value = "1024", value_parser = parse_positive)]
    max_message: usize,
    /// Most connections served at once; more clients wait in the listen backlog.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = parse_positive)]
    max_conns: usize,
    /// After SIGINT/SIGTERM, how long connections in flight may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    drain_timeout: Duration,
    #[command(flatten)]
    timeouts: PhaseTimeouts,
}

impl TryFrom<ServerArgs> for ServerConfig {
    type Error = Error;

    fn try_from(args: ServerArgs) -> Result<Self, Error> {
        Ok(ServerConfig {
            listen: args.listen,
            cert: args.cert,
            key: args.key,
            allow_expired: args.allow_expired,
            reply: args.reply.into_bytes(),
            max_message: args.max_message,
            max_conns: args.max_conns,
            timeouts: args.timeouts.into_timeouts(Timeouts::default().connect),
            drain_timeout: args.drain_timeout,
        })
    }
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server to connect to; the port defaults to 12345.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:12345", value_parser = parse_connect)]
    connect: (String, u16),
    /// Message to send.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_MESSAGE)]
    message: String,
    /// Trust only the CA certificates in FILE (PEM) [default: certs/ca.crt if it exists,
    /// else the system trust store]
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Name to send in SNI and to verify the certificate against [default: the host].
    #[arg(long, value_name = "NAME")]
    servername: Option<String>,
    /// Do not verify the server's certificate or name. For debugging only: anyone on the
    /// path can then impersonate the server.
    #[arg(long, conflicts_with = "cacert")]
    insecure: bool,
    /// Largest response kept; reading stops there (with a warning).
    #[arg(long, value_name = "BYTES", default_value = "1048576", value_parser = parse_positive)]
    max_response: usize,
    /// Longest TCP connect, per address tried.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    connect_timeout: Duration,
    #[command(flatten)]
    timeouts: PhaseTimeouts,
}

/// The CA file a fresh checkout uses after `scripts/gen-certs.sh`.
const DEFAULT_CA_FILE: &str = "certs/ca.crt";

impl TryFrom<ClientArgs> for ClientConfig {
    type Error = Error;

    fn try_from(args: ClientArgs) -> Result<Self, Error> {
        let trust = match args.cacert {
            Some(path) => Trust::CaFile(path),
            None if Path::new(DEFAULT_CA_FILE).is_file() => {
                Trust::CaFile(PathBuf::from(DEFAULT_CA_FILE))
            }
            None => Trust::System,
        };
        if let Some(name) = &args.servername {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::Config(format!(
                    "--servername {name:?} is not a host name: pass a DNS name such as localhost"
                )));
            }
        }
        let (host, port) = args.connect;
        Ok(ClientConfig {
            host,
            port,
            server_name: args.servername,
            trust,
            insecure: args.insecure,
            message: args.message.into_bytes(),
            max_response: args.max_response,
            timeouts: args.timeouts.into_timeouts(args.connect_timeout),
        })
    }
}

/// `10`, `2.5`, `10s`, `500ms`, `2m`; more than zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use e.g. 10s, 500ms or 2m"))?;
    let duration = Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("{text:?} is not a usable duration: use e.g. 10s, 500ms or 2m"))?;
    if duration.is_zero() {
        return Err("must be more than zero".to_string());
    }
    Ok(duration)
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

fn parse_connect(text: &str) -> Result<(String, u16), String> {
    let (host, port) = split_host_port(text.trim())?;
    if host.is_empty() {
        return Err(format!(
            "{text:?} has no host: use HOST:PORT, e.g. localhost:12345"
        ));
    }
    Ok((host, port.unwrap_or(DEFAULT_PORT)))
}

/// Checks the shape of `HOST:PORT` and returns it in the form `lookup_host` accepts.
fn parse_listen(text: &str) -> Result<String, String> {
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
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
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
    fn listen_addresses_need_a_port() {
        assert_eq!(parse_listen("127.0.0.1:0"), Ok("127.0.0.1:0".into()));
        assert_eq!(parse_listen("[::1]:0"), Ok("[::1]:0".into()));
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen(":12345").is_err());
        assert!(parse_listen("localhost:99999").is_err());
    }
}
