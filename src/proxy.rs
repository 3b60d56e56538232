//! The PROXY protocol (v1 text and v2 binary, as HAProxy sends them): the header a load
//! balancer puts before the client's bytes to say who the client really is.
//!
//! [`parse`] is a pure function over bytes (fuzzed and property-tested); [`read`] takes a
//! header off a connection without reading a byte of what follows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature.
const V2_SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];
/// Longest v1 line, CRLF included (the specification's limit).
const V1_MAX: usize = 107;
/// Longest v2 header tlscat accepts (16 fixed bytes plus addresses and TLVs).
const V2_MAX: usize = 16 + 1024;

/// What the proxy said about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The proxy's own connection (a health check): use the socket's addresses.
    Local,
    /// A client connection relayed by the proxy.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// A relayed connection whose addresses the proxy does not tell (v1 `UNKNOWN`, v2
    /// UNIX or unspecified family).
    Unknown,
}

/// Result of parsing the start of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// A header of `length` bytes.
    Complete { header: Header, length: usize },
    /// Could still become a valid header: more bytes needed.
    Incomplete,
    /// Not a valid header; the reason, in words.
    Invalid(String),
}

/// Parses a PROXY header at the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Parse {
    if bytes.len() >= V2_SIGNATURE.len() && bytes[..12] == V2_SIGNATURE {
        parse_v2(bytes)
    } else if V2_SIGNATURE.starts_with(bytes) && !bytes.is_empty() {
        Parse::Incomplete
    } else if bytes.starts_with(b"PROXY ") {
        parse_v1(bytes)
    } else if b"PROXY ".starts_with(bytes) {
        Parse::Incomplete
    } else {
        Parse::Invalid("no PROXY protocol header (v1 or v2) at the start of the connection".into())
    }
}

fn parse_v1(bytes: &[u8]) -> Parse {
    let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            Parse::Invalid(format!("v1 header longer than {V1_MAX} bytes"))
        } else {
            Parse::Incomplete
        };
    };
    let length = end + 2;
    if length > V1_MAX {
        return Parse::Invalid(format!("v1 header longer than {V1_MAX} bytes"));
    }
    let Ok(line) = std::str::from_utf8(&bytes[..end]) else {
        return Parse::Invalid("v1 header is not text".into());
    };
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Header::Unknown),
        [
            "PROXY",
            family @ ("TCP4" | "TCP6"),
            source,
            destination,
            source_port,
            destination_port,
        ] => v1_addresses(family, source, destination, source_port, destination_port),
        _ => Err(format!("malformed v1 header {line:?}")),
    };
    match header {
        Ok(header) => Parse::Complete { header, length },
        Err(reason) => Parse::Invalid(reason),
    }
}

fn v1_addresses(
    family: &str,
    source: &str,
    destination: &str,
    source_port: &str,
    destination_port: &str,
) -> Result<Header, String> {
    let ip = |text: &str| -> Result<IpAddr, String> {
        let ip: IpAddr = text
            .parse()
            .map_err(|_| format!("bad address {text:?} in v1 header"))?;
        match (family, ip) {
            ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(ip),
            _ => Err(format!("address {text:?} is not {family}")),
        }
    };
    let port = |text: &str| -> Result<u16, String> {
        // Decimal without sign or leading zeros, as the specification says.
        if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
            return Err(format!("bad port {text:?} in v1 header"));
        }
        text.parse()
            .map_err(|_| format!("bad port {text:?} in v1 header"))
    };
    Ok(Header::Proxied {
        source: SocketAddr::new(ip(source)?, port(source_port)?),
        destination: SocketAddr::new(ip(destination)?, port(destination_port)?),
    })
}

fn parse_v2(bytes: &[u8]) -> Parse {
    if bytes.len() < 16 {
        return Parse::Incomplete;
    }
    let version = bytes[12] >> 4;
    let command = bytes[12] & 0x0f;
    if version != 2 {
        return Parse::Invalid(format!("v2 header with version {version}"));
    }
    let body_length = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    let length = 16 + body_length;
    if length > V2_MAX {
        return Parse::Invalid(format!("v2 header of {length} bytes is too long"));
    }
    if bytes.len() < length {
        return Parse::Incomplete;
    }
    let body = &bytes[16..length];
    let header = match (command, bytes[13]) {
        (0x0, _) => Ok(Header::Local),
        // TCP or UDP over IPv4: 4 + 4 + 2 + 2 bytes.
        (0x1, 0x11 | 0x12) if body.len() >= 12 => {
            let source = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let destination = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            Ok(Header::Proxied {
                source: SocketAddr::new(source.into(), u16::from_be_bytes([body[8], body[9]])),
                destination: SocketAddr::new(
                    destination.into(),
                    u16::from_be_bytes([body[10], body[11]]),
                ),
            })
        }
        // TCP or UDP over IPv6: 16 + 16 + 2 + 2 bytes.
        (0x1, 0x21 | 0x22) if body.len() >= 36 => {
            let octets = |at: usize| -> [u8; 16] {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[at..at + 16]);
                octets
            };
            Ok(Header::Proxied {
                source: SocketAddr::new(
                    Ipv6Addr::from(octets(0)).into(),
                    u16::from_be_bytes([body[32], body[33]]),
                ),
                destination: SocketAddr::new(
                    Ipv6Addr::from(octets(16)).into(),
                    u16::from_be_bytes([body[34], body[35]]),
                ),
            })
        }
        (0x1, 0x11 | 0x12 | 0x21 | 0x22) => {
            Err("v2 header too short for its addresses".to_string())
        }
        (0x1, 0x00 | 0x31 | 0x32) => Ok(Header::Unknown),
        (0x1, family) => Err(format!(
            "v2 header with unknown address family {family:#04x}"
        )),
        (command, _) => Err(format!("v2 header with unknown command {command:#x}")),
    };
    match header {
        Ok(header) => Parse::Complete { header, length },
        Err(reason) => Parse::Invalid(reason),
    }
}

/// Reads exactly one PROXY header off `stream`, never more: the TLS handshake follows.
pub async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Header, String> {
    // Eight bytes are safe to read: the shortest header, "PROXY UNKNOWN\r\n", has 15.
    let mut bytes = vec![0u8; 8];
    read_exact(stream, &mut bytes).await?;
    loop {
        match parse(&bytes) {
            Parse::Complete { header, length } if length == bytes.len() => return Ok(header),
            Parse::Complete { .. } => {
                return Err("PROXY header parsed past its end".into());
            }
            Parse::Invalid(reason) => return Err(reason),
            Parse::Incomplete => {
                // v2 says its length after 16 bytes; v1 ends at CRLF: read one byte at a time.
                let wanted = if bytes.len() >= 16 && bytes[..12] == V2_SIGNATURE {
                    16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]))
                } else if bytes.len() < 16
                    && V2_SIGNATURE.starts_with(&bytes[..bytes.len().min(12)])
                {
                    16
                } else {
                    bytes.len() + 1
                };
                let start = bytes.len();
                bytes.resize(wanted, 0);
                read_exact(stream, &mut bytes[start..]).await?;
            }
        }
    }
}

async fn read_exact<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> Result<(), String> {
    stream
        .read_exact(buf)
        .await
        .map(|_| ())
        .map_err(|e| format!("connection closed before the PROXY header ended ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = V2_SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family);
        bytes.extend_from_slice(&(body.len() as u16).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn v1_headers_parse_with_their_length() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nTLS...";
        assert_eq!(
            parse(line),
            Parse::Complete {
                header: Header::Proxied {
                    source: "192.0.2.1:56324".parse().unwrap(),
                    destination: "198.51.100.2:443".parse().unwrap(),
                },
                length: 45,
            }
        );
        let six = b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n";
        assert!(matches!(parse(six), Parse::Complete { .. }));
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parse::Complete {
                header: Header::Unknown,
                length: 15
            }
        );
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Parse::Incomplete);
        assert_eq!(parse(b"PRO"), Parse::Incomplete);
    }

    #[test]
    fn malformed_v1_headers_are_invalid_with_a_reason() {
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n"[..],
            b"PROXY TCP4 ::1 5.6.7.8 1 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 1\r\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 1\r\n",
            b"PROXY TCP4 1.2.3.4\r\n",
            b"GET / HTTP/1.1\r\n",
            b"\x16\x03\x01\x02\x00",
        ] {
            assert!(matches!(parse(bad), Parse::Invalid(_)), "{bad:?}");
        }
        let long = [b"PROXY ".as_slice(), &[b'x'; 200]].concat();
        assert!(matches!(parse(&long), Parse::Invalid(_)));
    }

    #[test]
    fn v2_headers_parse_ipv4_ipv6_local_and_tlvs() {
        let body = [
            [192, 0, 2, 1, 198, 51, 100, 2].as_slice(),
            &[0xdc, 0x04, 0x01, 0xbb],
        ]
        .concat();
        let mut with_tlv = body.clone();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x01, 0x00]);
        let bytes = v2(1, 0x11, &with_tlv);
        assert_eq!(
            parse(&bytes),
            Parse::Complete {
                header: Header::Proxied {
                    source: "192.0.2.1:56324".parse().unwrap(),
                    destination: "198.51.100.2:443".parse().unwrap(),
                },
                length: bytes.len(),
            }
        );
        let mut six = vec![0u8; 36];
        six[15] = 1;
        six[31] = 1;
        six[33] = 80;
        assert!(matches!(parse(&v2(1, 0x21, &six)), Parse::Complete { .. }));
        assert_eq!(
            parse(&v2(0, 0x00, &[])),
            Parse::Complete {
                header: Header::Local,
                length: 16
            }
        );
        assert_eq!(parse(&bytes[..20]), Parse::Incomplete);
        assert!(matches!(parse(&v2(1, 0x11, &[1, 2, 3])), Parse::Invalid(_)));
        assert!(matches!(parse(&v2(7, 0x11, &body)), Parse::Invalid(_)));
        let mut wrong_version = v2(1, 0x11, &body);
        wrong_version[12] = 0x11;
        assert!(matches!(parse(&wrong_version), Parse::Invalid(_)));
    }

    #[tokio::test]
    async fn read_takes_the_header_and_leaves_the_rest() {
        for header in [
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".to_vec(),
            v2(
                1,
                0x11,
                &[192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb],
            ),
        ] {
            let mut input = header.clone();
            input.extend_from_slice(b"\x16\x03\x01rest");
            let mut reader = &input[..];
            let parsed = read(&mut reader).await.unwrap();
            assert!(matches!(parsed, Header::Proxied { .. }));
            assert_eq!(reader, b"\x16\x03\x01rest");
        }
        let mut not_proxy = &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"[..];
        assert!(read(&mut not_proxy).await.is_err());
    }
}
