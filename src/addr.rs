//! Addresses as the user writes them: `HOST:PORT`, `[IPV6]:PORT`, `unix:/path`. This is
//! the one place that knows the IPv6 bracket rule; everything else holds a parsed
//! [`HostPort`] or [`Address`] and prints it back through `Display`.

use std::fmt;
use std::path::PathBuf;

/// A host (name or IP address, IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn new(host: impl Into<String>, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    /// Parses `HOST:PORT`, `[IPV6]:PORT`, or, with a `default_port`, also `HOST`, `[IPV6]`
    /// and a bare IPv6 address.
    pub fn parse(text: &str, default_port: Option<u16>) -> Result<HostPort, String> {
        let text = text.trim();
        let (host, port) = split(text)?;
        if host.is_empty() {
            let example =
                default_port.map_or("localhost:12345".to_string(), |p| format!("localhost:{p}"));
            return Err(format!(
                "{text:?} has no host: use HOST:PORT, e.g. {example}"
            ));
        }
        match port.or(default_port) {
            Some(port) => Ok(HostPort::new(host, port)),
            None => Err(format!(
                "{text:?} has no port: use HOST:PORT, e.g. localhost:12345 or [::1]:0"
            )),
        }
    }

    /// The host as it appears in a URL or an HTTP `Host` header (IPv6 in brackets).
    pub fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host_for_url(), self.port)
    }
}

/// Splits off the port, if any; the host comes back without brackets.
fn split(text: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = |port: &str| format!("{port:?} is not a port number (0-65535)");
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{text:?}: missing ']' after the IPv6 address"))?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port.parse().map_err(|_| bad_port(port))?))),
                None => Err(format!("{text:?}: expected [IPV6]:PORT")),
            },
        };
    }
    match text.split_once(':') {
        None => Ok((text, None)),
        Some((host, port)) if !port.contains(':') => {
            Ok((host, Some(port.parse().map_err(|_| bad_port(port))?)))
        }
        // A bare IPv6 address: no port.
        Some(_) => Ok((text, None)),
    }
}

/// Where to listen or connect: TCP (`HOST:PORT`) or a Unix domain socket (`unix:/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp(HostPort),
    Unix(PathBuf),
}

impl Address {
    /// Parses `unix:/path` or `HOST:PORT` (the port is required unless `default_port`).
    pub fn parse(text: &str, default_port: Option<u16>) -> Result<Address, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a path, e.g. unix:/run/tlscat.sock".into());
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        HostPort::parse(text, default_port).map(Address::Tcp)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(host_port) => host_port.fmt(f),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_parse_with_the_ipv6_bracket_rule_and_print_back() {
        let parsed = |text| HostPort::parse(text, Some(12345));
        assert_eq!(parsed("localhost:443"), Ok(HostPort::new("localhost", 443)));
        assert_eq!(parsed("localhost"), Ok(HostPort::new("localhost", 12345)));
        assert_eq!(parsed("[::1]:8443"), Ok(HostPort::new("::1", 8443)));
        assert_eq!(parsed("[::1]"), Ok(HostPort::new("::1", 12345)));
        assert_eq!(parsed("::1"), Ok(HostPort::new("::1", 12345)));
        assert!(parsed("host:http").is_err());
        assert!(parsed(":443").is_err());
        assert!(parsed("[::1").is_err());
        assert!(HostPort::parse("localhost", None).is_err());
        assert!(HostPort::parse("localhost:99999", None).is_err());
        assert_eq!(HostPort::new("::1", 8443).to_string(), "[::1]:8443");
        assert_eq!(HostPort::new("127.0.0.1", 0).to_string(), "127.0.0.1:0");
    }

    #[test]
    fn addresses_are_tcp_or_unix_sockets() {
        assert_eq!(
            Address::parse("unix:/run/t.sock", None),
            Ok(Address::Unix("/run/t.sock".into()))
        );
        assert!(Address::parse("unix:", None).is_err());
        assert_eq!(
            Address::parse("[::1]:0", None).unwrap().to_string(),
            "[::1]:0"
        );
        assert_eq!(
            Address::parse("unix:/x", None).unwrap().to_string(),
            "unix:/x"
        );
    }
}
