//! Property tests of the parsers tlscat wrote itself: on any input they never panic, and
//! what they are given in the right shape they read back exactly. (`scripts/fuzz.sh`
//! fuzzes the same functions with libFuzzer.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use tlscat::http::{self, Head};
use tlscat::proxy::{self, Header, Parse};
use tlscat::tls::hello::{self, RawHello};
use tlscat::tls::tickets;

fn socket_addr(v6: bool) -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 16]>(), any::<u16>()).prop_map(move |(bytes, port)| {
        let ip: IpAddr = if v6 {
            Ipv6Addr::from(bytes).into()
        } else {
            Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into()
        };
        SocketAddr::new(ip, port)
    })
}

fn v2_header(source: SocketAddr, destination: SocketAddr, tlv: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let family = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
            0x11
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
            0x21
        }
        _ => unreachable!("same family"),
    };
    body.extend_from_slice(&source.port().to_be_bytes());
    body.extend_from_slice(&destination.port().to_be_bytes());
    body.extend_from_slice(tlv);
    let mut bytes = b"\r\n\r\n\x00\r\nQUIT\n\x21".to_vec();
    bytes.push(family);
    bytes.extend_from_slice(&(body.len() as u16).to_be_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

proptest! {
    #[test]
    fn proxy_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Parse::Complete { length, .. } = proxy::parse(&bytes) {
            prop_assert!(length <= bytes.len());
        }
    }

    #[test]
    fn proxy_v1_headers_read_back(
        (v6, source, destination) in any::<bool>()
            .prop_flat_map(|v6| (Just(v6), socket_addr(v6), socket_addr(v6)))
    ) {
        let line = format!(
            "PROXY {} {} {} {} {}\r\n",
            if v6 { "TCP6" } else { "TCP4" },
            source.ip(), destination.ip(), source.port(), destination.port()
        );
        let mut bytes = line.clone().into_bytes();
        bytes.extend_from_slice(b"\x16\x03\x01");
        prop_assert_eq!(
            proxy::parse(&bytes),
            Parse::Complete { header: Header::Proxied { source, destination }, length: line.len() }
        );
        for cut in 1..line.len() {
            prop_assert_eq!(proxy::parse(&bytes[..cut]), Parse::Incomplete);
        }
    }

    #[test]
    fn proxy_v2_headers_read_back(
        v6 in any::<bool>(),
        source_bytes in any::<[u8; 16]>(),
        destination_bytes in any::<[u8; 16]>(),
        ports in any::<(u16, u16)>(),
        tlv in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let ip = |b: [u8; 16]| -> IpAddr {
            if v6 { Ipv6Addr::from(b).into() } else { Ipv4Addr::new(b[0], b[1], b[2], b[3]).into() }
        };
        let source = SocketAddr::new(ip(source_bytes), ports.0);
        let destination = SocketAddr::new(ip(destination_bytes), ports.1);
        let bytes = v2_header(source, destination, &tlv);
        prop_assert_eq!(
            proxy::parse(&bytes),
            Parse::Complete { header: Header::Proxied { source, destination }, length: bytes.len() }
        );
        for cut in 1..bytes.len() {
            prop_assert_eq!(proxy::parse(&bytes[..cut]), Parse::Incomplete);
        }
    }

    #[test]
    fn http_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Head::Complete { length, .. } = http::parse_head(&bytes) {
            prop_assert!(length <= bytes.len());
        }
    }

    #[test]
    fn http_requests_read_back(
        method in prop::sample::select(vec!["GET", "HEAD", "POST", "DELETE"]),
        target in "/[a-zA-Z0-9/._~?=&-]{0,40}",
        version in prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1"]),
        headers in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,30}"), 0..8),
    ) {
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(n, v)| (n, v.trim_matches([' ', '\t']).to_string()))
            .collect();
        let mut text = format!("{method} {target} {version}\r\n");
        for (name, value) in &headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let Head::Complete { request, length } = http::parse_head(text.as_bytes()) else {
            return Err(TestCaseError::fail(format!("{text:?}")));
        };
        prop_assert_eq!(length, text.len());
        prop_assert_eq!(&request.method, method);
        prop_assert_eq!(&request.target, &target);
        prop_assert_eq!(&request.version, version);
        prop_assert_eq!(&request.headers, &headers);
        prop_assert_eq!(http::parse_head(&text.as_bytes()[..text.len() - 1]), Head::Incomplete);
    }

    #[test]
    fn client_hello_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(hello) = hello::parse(&bytes) {
            let _ = hello.describe();
        }
    }

    #[test]
    fn client_hellos_read_back_and_fingerprint_well(
        legacy_version in any::<u16>(),
        cipher_suites in proptest::collection::vec(any::<u16>(), 0..120),
        extensions in proptest::collection::vec(
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..20),
    ) {
        let hello = RawHello { legacy_version, cipher_suites, extensions };
        let mut body = legacy_version.to_be_bytes().to_vec();
        body.extend_from_slice(&[0; 32]);
        body.push(0);
        body.extend_from_slice(&((hello.cipher_suites.len() * 2) as u16).to_be_bytes());
        for suite in &hello.cipher_suites {
            body.extend_from_slice(&suite.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut list = Vec::new();
        for (kind, data) in &hello.extensions {
            list.extend_from_slice(&kind.to_be_bytes());
            list.extend_from_slice(&(data.len() as u16).to_be_bytes());
            list.extend_from_slice(data);
        }
        body.extend_from_slice(&(list.len() as u16).to_be_bytes());
        body.extend_from_slice(&list);
        let mut message = vec![1, (body.len() >> 16) as u8, (body.len() >> 8) as u8, body.len() as u8];
        message.extend_from_slice(&body);
        prop_assert_eq!(hello::parse(&message), Ok(hello.clone()));
        let ja4 = hello.ja4();
        let pattern = regex_lite_ja4(&ja4);
        prop_assert!(pattern, "malformed JA4 {}", ja4);
    }

    #[test]
    fn ticket_key_files_never_panic_and_read_back(
        text in "[ -~\n]{0,300}",
        keys in proptest::collection::vec(any::<[u8; 16]>(), 1..5),
    ) {
        let _ = tickets::parse(&text);
        let lines: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut key = name.to_vec();
                key.extend_from_slice(&[i as u8; 64]);
                openssl::base64::encode_block(&key)
            })
            .collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        let parsed = tickets::parse(&lines.join("\n"));
        if unique.len() == keys.len() {
            let parsed = parsed.unwrap();
            prop_assert_eq!(parsed.len(), keys.len());
            prop_assert_eq!(parsed.encrypting().name, keys[0]);
        } else {
            prop_assert!(parsed.is_err(), "duplicate names are refused");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn session_files_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        wrapped in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.pem");
        let content = if wrapped {
            let mut pem = b"-----BEGIN SSL SESSION PARAMETERS-----\n".to_vec();
            pem.extend_from_slice(openssl::base64::encode_block(&body).as_bytes());
            pem.extend_from_slice(b"\n-----END SSL SESSION PARAMETERS-----\n");
            pem
        } else {
            body
        };
        std::fs::write(&path, content).unwrap();
        prop_assert!(tlscat::tls::session::load(&path).is_err(), "random bytes are no session");
    }
}

/// `t` + version + `d`/`i` + two 2-digit counts + 2 ALPN characters, then two 12-hex hashes.
fn regex_lite_ja4(ja4: &str) -> bool {
    let parts: Vec<&str> = ja4.split('_').collect();
    let [a, b, c] = parts.as_slice() else {
        return false;
    };
    let hex12 = |s: &str| s.len() == 12 && s.bytes().all(|x| x.is_ascii_hexdigit());
    let a = a.as_bytes();
    a.len() == 10
        && a[0] == b't'
        && matches!(
            &a[1..3],
            b"13" | b"12" | b"11" | b"10" | b"s3" | b"s2" | b"s1" | b"00"
        )
        && matches!(a[3], b'd' | b'i')
        && a[4..8].iter().all(u8::is_ascii_digit)
        && a[8..10].iter().all(u8::is_ascii_alphanumeric)
        && hex12(b)
        && hex12(c)
}
