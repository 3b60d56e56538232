//! Parsers of single flag values: durations, sizes, versions, addresses. Each error says
//! what is accepted.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use tlscat::config::{
    Address, DEFAULT_PORT, ExecCommand, HostPort, Passphrase, StarttlsProtocol, TlsVersion,
};

pub(super) fn parse_version(text: &str) -> Result<TlsVersion, String> {
    TlsVersion::parse(text).ok_or_else(|| format!("{text:?}: use 1.0, 1.1, 1.2 or 1.3"))
}

/// `--starttls`: one of the protocol names, listed in the help.
pub(super) fn starttls_protocols() -> impl TypedValueParser<Value = StarttlsProtocol> {
    PossibleValuesParser::new(StarttlsProtocol::ALL.map(StarttlsProtocol::name)).try_map(|name| {
        StarttlsProtocol::ALL
            .into_iter()
            .find(|protocol| protocol.name() == name)
            .ok_or("not a STARTTLS protocol")
    })
}

pub(super) fn parse_passphrase(text: &str) -> Result<Passphrase, String> {
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

pub(super) fn parse_sni(text: &str) -> Result<(String, PathBuf, PathBuf), String> {
    let usage = || format!("{text:?}: use NAME=CERT,KEY, e.g. example.com=example.crt,example.key");
    let (name, files) = text.split_once('=').ok_or_else(usage)?;
    let (cert, key) = files.split_once(',').ok_or_else(usage)?;
    if name.is_empty() || cert.is_empty() || key.is_empty() {
        return Err(usage());
    }
    Ok((name.to_string(), PathBuf::from(cert), PathBuf::from(key)))
}

/// `10`, `2.5`, `10s`, `500ms`, `2m`, `1h`; more than zero.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
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

pub(super) fn parse_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// `4096`, `64K`, `100M`, `1G` (powers of 1024; KiB, MiB, GiB too), `1GB` (powers of 1000).
pub(super) fn parse_bytes(text: &str) -> Result<u64, String> {
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

pub(super) fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// `sha256//BASE64`, several joined by `;`.
pub(super) fn parse_pins(text: &str) -> Result<Vec<[u8; 32]>, String> {
    tlscat::tls::access::parse_pins(text)
}

/// `PORT` (loopback) or `HOST:PORT`.
pub(super) fn parse_metrics(text: &str) -> Result<HostPort, String> {
    if let Ok(port) = text.trim().parse::<u16>() {
        return Ok(HostPort::new("127.0.0.1", port));
    }
    match parse_listen(text)? {
        Address::Tcp(addr) => Ok(addr),
        Address::Unix(_) => Err("metrics are served over TCP: use PORT or HOST:PORT".into()),
    }
}

/// `HOST:PORT` (the port defaults to the seed's) or `unix:/path`.
pub(super) fn parse_connect(text: &str) -> Result<Address, String> {
    Address::parse(text, Some(DEFAULT_PORT))
}

/// `unix:/path` or `HOST:PORT`.
pub(super) fn parse_listen(text: &str) -> Result<Address, String> {
    let address = Address::parse(text, None)?;
    if let Address::Tcp(HostPort { host, port }) = &address {
        if host.is_empty() {
            return Err(format!(
                "{text:?} has no host: use 0.0.0.0:{port} for every IPv4 address"
            ));
        }
    }
    Ok(address)
}

/// `\r`, `\n`, `\t`, `\0` and `\\` in TEXT become the bytes they name.
pub(super) fn unescape(text: &str) -> Result<Vec<u8>, String> {
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
                return Err(format!(
                    "unknown escape \\{}: use \\r, \\n, \\t, \\0 or \\\\",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        });
    }
    Ok(out)
}

/// Splits `--exec` text into a program and its arguments, with shell-like quoting
/// (`'…'`, `"…"`, backslash) but no shell: no expansion, no pipes, no redirections.
pub(super) fn split_command(text: &str) -> Result<ExecCommand, String> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("{text:?}: a ' is not closed")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err(format!("{text:?}: ends with a backslash")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("{text:?}: a \" is not closed")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("{text:?}: ends with a backslash")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    let mut words = words.into_iter();
    let Some(program) = words.next() else {
        return Err("no program given: use e.g. --exec 'cat -u'".into());
    };
    Ok(ExecCommand {
        program,
        args: words.collect(),
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
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn connect_targets_default_the_port_and_understand_ipv6() {
        let tcp = |host: &str, port| Ok(Address::Tcp(HostPort::new(host, port)));
        assert_eq!(parse_connect("localhost:443"), tcp("localhost", 443));
        assert_eq!(parse_connect("localhost"), tcp("localhost", DEFAULT_PORT));
        assert_eq!(parse_connect("[::1]:8443"), tcp("::1", 8443));
        assert_eq!(parse_connect("::1"), tcp("::1", DEFAULT_PORT));
        assert_eq!(
            parse_connect("unix:/run/t.sock"),
            Ok(Address::Unix("/run/t.sock".into()))
        );
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
        assert_eq!(parse_metrics("9443"), Ok(HostPort::new("127.0.0.1", 9443)));
        assert_eq!(parse_metrics("[::1]:9443"), Ok(HostPort::new("::1", 9443)));
        assert!(parse_metrics("unix:/x").is_err());
        assert!(parse_metrics("nonsense").is_err());
    }

    #[test]
    fn listen_addresses_need_a_port() {
        assert_eq!(
            parse_listen("127.0.0.1:0"),
            Ok(Address::Tcp(HostPort::new("127.0.0.1", 0)))
        );
        assert_eq!(
            parse_listen("[::1]:0"),
            Ok(Address::Tcp(HostPort::new("::1", 0)))
        );
        assert_eq!(
            parse_listen("unix:/run/t.sock"),
            Ok(Address::Unix("/run/t.sock".into()))
        );
        assert!(parse_listen("unix:").is_err());
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen(":12345").is_err());
        assert!(parse_listen("localhost:99999").is_err());
    }

    #[test]
    fn commands_split_like_a_shell_would_without_one() {
        let command = split_command("grep -i 'hello world' \"a \\\"b\\\"\" c\\ d").unwrap();
        assert_eq!(command.program, "grep");
        assert_eq!(command.args, ["-i", "hello world", "a \"b\"", "c d"]);
        assert_eq!(split_command("cat").unwrap().args, Vec::<String>::new());
        assert_eq!(split_command("echo ''").unwrap().args, [""]);
        assert!(split_command("   ").is_err());
        assert!(split_command("echo 'open").is_err());
        let literal = split_command("echo $HOME | wc").unwrap();
        assert_eq!(literal.args, ["$HOME", "|", "wc"], "no shell");
    }
}
