//! The PROXY protocol (v1 text and v2 binary, as HAProxy sends them): the header a load
//! balancer puts before the client's bytes to say who the client really is.
//!
//! The parsing is the `ppp` crate's; here it is bounded and turned into what tlscat needs.
//! [`parse`] is a pure function over bytes (fuzzed and property-tested); [`read`] takes a
//! header off a connection without reading a byte of what follows.

use std::net::SocketAddr;

use ppp::PartialResult;
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
    if bytes.is_empty() || V2_SIGNATURE.starts_with(bytes) {
        return Parse::Incomplete;
    }
    if bytes.starts_with(&V2_SIGNATURE) {
        return parse_v2(bytes);
    }
    if bytes.starts_with(b"PROXY ") {
        return parse_v1(bytes);
    }
    if b"PROXY ".starts_with(bytes) {
        return Parse::Incomplete;
    }
    Parse::Invalid("no PROXY protocol header (v1 or v2) at the start of the connection".into())
}

fn parse_v2(bytes: &[u8]) -> Parse {
    if bytes.len() >= 16 {
        let length = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
        if length > V2_MAX {
            return Parse::Invalid(format!("v2 header of {length} bytes is too long"));
        }
    }
    match ppp::v2::Header::try_from(bytes) {
        Ok(header) => v2_header(&header),
        Err(e) if e.is_incomplete() => Parse::Incomplete,
        Err(e) => Parse::Invalid(format!("malformed v2 header: {e}")),
    }
}

/// A v1 header is one line: it is handed to the parser whole, once its CRLF is in.
fn parse_v1(bytes: &[u8]) -> Parse {
    let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
        return if bytes.len() >= V1_MAX {
            Parse::Invalid(format!("v1 header longer than {V1_MAX} bytes"))
        } else {
            Parse::Incomplete
        };
    };
    let line = &bytes[..end + 2];
    match ppp::v1::Header::try_from(line) {
        Ok(header) => Parse::Complete {
            length: line.len(),
            header: match header.addresses {
                ppp::v1::Addresses::Tcp4(ip) => Header::Proxied {
                    source: (ip.source_address, ip.source_port).into(),
                    destination: (ip.destination_address, ip.destination_port).into(),
                },
                ppp::v1::Addresses::Tcp6(ip) => Header::Proxied {
                    source: (ip.source_address, ip.source_port).into(),
                    destination: (ip.destination_address, ip.destination_port).into(),
                },
                ppp::v1::Addresses::Unknown => Header::Unknown,
            },
        },
        Err(e) => Parse::Invalid(format!("malformed v1 header: {e}")),
    }
}

fn v2_header(header: &ppp::v2::Header<'_>) -> Parse {
    use ppp::v2::{Addresses, Command};
    let parsed = match (header.command, &header.addresses) {
        (Command::Local, _) => Header::Local,
        (Command::Proxy, Addresses::IPv4(ip)) => Header::Proxied {
            source: (ip.source_address, ip.source_port).into(),
            destination: (ip.destination_address, ip.destination_port).into(),
        },
        (Command::Proxy, Addresses::IPv6(ip)) => Header::Proxied {
            source: (ip.source_address, ip.source_port).into(),
            destination: (ip.destination_address, ip.destination_port).into(),
        },
        (Command::Proxy, Addresses::Unix(_) | Addresses::Unspecified) => Header::Unknown,
    };
    Parse::Complete {
        header: parsed,
        length: header.len(),
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

/// Which PROXY header tlscat sends to a backend (`--send-proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text header: addresses only.
    V1,
    /// The binary header, with TLVs: TLS version, cipher, SNI, ALPN, client certificate.
    V2,
}

/// What the TLS connection was, for the v2 header's TLVs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub sni: Option<String>,
    pub alpn: Option<String>,
    /// The client certificate's common name, when one was presented.
    pub client_cn: Option<String>,
    /// The client presented a certificate on this connection.
    pub client_certificate: bool,
    /// ... and it verified.
    pub verified: bool,
}

/// PROXY protocol v2 TLV types and the SSL sub-types (HAProxy's proxy-protocol.txt).
const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;
const PP2_CLIENT_CERT_SESS: u8 = 0x04;

/// The header that tells a backend who the client is: `source` is the client,
/// `destination` the address it connected to (`None` for either: a Unix socket).
pub fn encode(
    version: Version,
    source: Option<SocketAddr>,
    destination: Option<SocketAddr>,
    facts: &TlsFacts,
) -> Vec<u8> {
    let addresses = match (source, destination) {
        (Some(s), Some(d)) if s.is_ipv4() == d.is_ipv4() => Some((s, d)),
        _ => None,
    };
    match version {
        Version::V1 => match addresses {
            Some((s, d)) => format!(
                "PROXY {} {} {} {} {}\r\n",
                if s.is_ipv4() { "TCP4" } else { "TCP6" },
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            )
            .into_bytes(),
            None => b"PROXY UNKNOWN\r\n".to_vec(),
        },
        Version::V2 => encode_v2(addresses, facts),
    }
}

fn encode_v2(addresses: Option<(SocketAddr, SocketAddr)>, facts: &TlsFacts) -> Vec<u8> {
    use ppp::v2::{Addresses, Builder, Command, Protocol, Version};
    let builder = match addresses {
        Some(pair) => Builder::with_addresses(
            Version::Two | Command::Proxy,
            Protocol::Stream,
            Addresses::from(pair),
        ),
        // Unspecified family: the backend uses the connection's own addresses.
        None => Builder::new(Version::Two | Command::Proxy, 0x00),
    };
    let mut tlvs: Vec<(u8, Vec<u8>)> = Vec::new();
    if let Some(alpn) = &facts.alpn {
        tlvs.push((PP2_TYPE_ALPN, alpn.as_bytes().to_vec()));
    }
    if let Some(sni) = &facts.sni {
        tlvs.push((PP2_TYPE_AUTHORITY, sni.as_bytes().to_vec()));
    }
    let mut client = PP2_CLIENT_SSL;
    if facts.client_certificate {
        client |= PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS;
    }
    // "zero if the client presented a certificate and it was successfully verified"
    let verify: u32 = u32::from(!(facts.client_certificate && facts.verified));
    let mut ssl = vec![client];
    ssl.extend_from_slice(&verify.to_be_bytes());
    for (kind, value) in [
        (PP2_SUBTYPE_SSL_VERSION, &facts.version),
        (PP2_SUBTYPE_SSL_CN, &facts.client_cn),
        (PP2_SUBTYPE_SSL_CIPHER, &facts.cipher),
    ] {
        if let Some(value) = value {
            push_tlv(&mut ssl, kind, value.as_bytes());
        }
    }
    tlvs.push((PP2_TYPE_SSL, ssl));
    let mut builder = builder;
    for (kind, value) in &tlvs {
        // Writing to a Vec cannot fail; a TLV longer than 64 KiB is left out.
        builder = match builder.write_tlv(*kind, value) {
            Ok(builder) => builder,
            Err(_) => return Vec::new(),
        };
    }
    builder.build().unwrap_or_default()
}

fn push_tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let length = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.push(kind);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&value[..usize::from(length)]);
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

    #[test]
    fn headers_sent_to_backends_parse_back_with_their_tlvs() {
        let client: SocketAddr = "192.0.2.1:56324".parse().unwrap();
        let local: SocketAddr = "198.51.100.2:443".parse().unwrap();
        let facts = TlsFacts {
            version: Some("TLSv1.3".into()),
            cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            sni: Some("db.example".into()),
            alpn: Some("postgresql".into()),
            client_cn: Some("alice".into()),
            client_certificate: true,
            verified: true,
        };
        let v1 = encode(Version::V1, Some(client), Some(local), &facts);
        assert_eq!(v1, b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
        assert_eq!(
            encode(Version::V1, None, Some(local), &facts),
            b"PROXY UNKNOWN\r\n"
        );
        let v2 = encode(Version::V2, Some(client), Some(local), &facts);
        assert_eq!(
            parse(&v2),
            Parse::Complete {
                header: Header::Proxied {
                    source: client,
                    destination: local
                },
                length: v2.len()
            }
        );
        let header = ppp::v2::Header::try_from(&v2[..]).unwrap();
        let tlvs: Vec<(u8, Vec<u8>)> = header
            .tlvs()
            .map(|t| t.unwrap())
            .map(|t| (t.kind, t.value.to_vec()))
            .collect();
        assert_eq!(tlvs[0], (PP2_TYPE_ALPN, b"postgresql".to_vec()));
        assert_eq!(tlvs[1], (PP2_TYPE_AUTHORITY, b"db.example".to_vec()));
        let (kind, ssl) = &tlvs[2];
        assert_eq!(*kind, PP2_TYPE_SSL);
        assert_eq!(
            ssl[0],
            PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS
        );
        assert_eq!(&ssl[1..5], &[0, 0, 0, 0], "verified");
        let sub = &ssl[5..];
        assert_eq!(&sub[..3], &[PP2_SUBTYPE_SSL_VERSION, 0, 7]);
        assert_eq!(&sub[3..10], b"TLSv1.3");
        assert_eq!(&sub[10..13], &[PP2_SUBTYPE_SSL_CN, 0, 5]);
        assert_eq!(&sub[13..18], b"alice");
        let anonymous = encode(Version::V2, None, None, &TlsFacts::default());
        assert!(matches!(
            parse(&anonymous),
            Parse::Complete {
                header: Header::Unknown,
                ..
            }
        ));
    }
}
