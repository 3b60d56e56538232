//! The ClientHello as the client sent it: versions, cipher suites, groups and key shares,
//! signature algorithms, ALPN, SNI, extensions in order, and the JA4 fingerprint; with the
//! IANA names of the code points.
//!
//! It is parsed from the raw handshake message the message callback saw, so nothing is
//! lost (GREASE, extensions OpenSSL does not know, their order). [`parse`] is a pure
//! function over untrusted bytes (fuzzed and property-tested).

use std::collections::HashMap;
use std::sync::OnceLock;

use openssl::sha::sha256;
use serde::Serialize;

use super::probe;

/// A ClientHello, as numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawHello {
    pub legacy_version: u16,
    pub cipher_suites: Vec<u16>,
    /// Extensions in the order sent, with their contents.
    pub extensions: Vec<(u16, Vec<u8>)>,
}

/// Reads exactly `n` bytes from the front of `input`.
fn take<'a>(input: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if input.len() < n {
        return Err(format!("ClientHello cut short in {what}"));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn u8_at(input: &mut &[u8], what: &str) -> Result<usize, String> {
    Ok(usize::from(take(input, 1, what)?[0]))
}

fn u16_at(input: &mut &[u8], what: &str) -> Result<u16, String> {
    let bytes = take(input, 2, what)?;
    Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Parses a ClientHello handshake message (type, 3-byte length, body).
pub fn parse(message: &[u8]) -> Result<RawHello, String> {
    let mut input = message;
    let kind = u8_at(&mut input, "the message type")?;
    if kind != 1 {
        return Err(format!(
            "handshake message type {kind} is not a ClientHello"
        ));
    }
    let length = take(&mut input, 3, "the message length")?;
    let length =
        usize::from(length[0]) << 16 | usize::from(length[1]) << 8 | usize::from(length[2]);
    let mut body = take(&mut input, length, "the message body")?;
    let legacy_version = u16_at(&mut body, "the version")?;
    take(&mut body, 32, "the random")?;
    let session_id = u8_at(&mut body, "the session id")?;
    take(&mut body, session_id, "the session id")?;
    let suites_length = usize::from(u16_at(&mut body, "the cipher suites")?);
    if suites_length % 2 != 0 {
        return Err("odd cipher suite list length".into());
    }
    let mut suites = take(&mut body, suites_length, "the cipher suites")?;
    let mut cipher_suites = Vec::with_capacity(suites_length / 2);
    while !suites.is_empty() {
        cipher_suites.push(u16_at(&mut suites, "the cipher suites")?);
    }
    let compression = u8_at(&mut body, "the compression methods")?;
    take(&mut body, compression, "the compression methods")?;
    let mut extensions = Vec::new();
    if !body.is_empty() {
        let total = usize::from(u16_at(&mut body, "the extensions")?);
        let mut list = take(&mut body, total, "the extensions")?;
        while !list.is_empty() {
            let kind = u16_at(&mut list, "an extension type")?;
            let length = usize::from(u16_at(&mut list, "an extension length")?);
            let data = take(&mut list, length, "an extension")?;
            extensions.push((kind, data.to_vec()));
        }
    }
    Ok(RawHello {
        legacy_version,
        cipher_suites,
        extensions,
    })
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, … 0xfafa.
pub fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

const SERVER_NAME: u16 = 0;
const SUPPORTED_GROUPS: u16 = 10;
const SIGNATURE_ALGORITHMS: u16 = 13;
const ALPN: u16 = 16;
const SUPPORTED_VERSIONS: u16 = 43;
const KEY_SHARE: u16 = 51;

impl RawHello {
    fn extension(&self, kind: u16) -> Option<&[u8]> {
        self.extensions
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, data)| data.as_slice())
    }

    /// Two-byte values of a list with a `prefix`-byte length (1 or 2).
    fn u16_list(&self, kind: u16, prefix: usize) -> Vec<u16> {
        let Some(mut data) = self.extension(kind) else {
            return Vec::new();
        };
        let length = if prefix == 1 {
            u8_at(&mut data, "")
        } else {
            u16_at(&mut data, "").map(usize::from)
        };
        let Ok(mut list) = length.and_then(|n| take(&mut data, n, "")) else {
            return Vec::new();
        };
        let mut values = Vec::new();
        while let Ok(value) = u16_at(&mut list, "") {
            values.push(value);
        }
        values
    }

    pub fn versions(&self) -> Vec<u16> {
        self.u16_list(SUPPORTED_VERSIONS, 1)
    }

    pub fn groups(&self) -> Vec<u16> {
        self.u16_list(SUPPORTED_GROUPS, 2)
    }

    pub fn signature_algorithms(&self) -> Vec<u16> {
        self.u16_list(SIGNATURE_ALGORITHMS, 2)
    }

    /// Groups the client sent key shares for.
    pub fn key_shares(&self) -> Vec<u16> {
        let Some(mut data) = self.extension(KEY_SHARE) else {
            return Vec::new();
        };
        let Ok(mut list) = u16_at(&mut data, "").and_then(|n| take(&mut data, usize::from(n), ""))
        else {
            return Vec::new();
        };
        let mut groups = Vec::new();
        while let (Ok(group), Ok(length)) = (u16_at(&mut list, ""), u16_at(&mut list, "")) {
            if take(&mut list, usize::from(length), "").is_err() {
                break;
            }
            groups.push(group);
        }
        groups
    }

    pub fn alpn(&self) -> Vec<Vec<u8>> {
        let Some(mut data) = self.extension(ALPN) else {
            return Vec::new();
        };
        let Ok(mut list) = u16_at(&mut data, "").and_then(|n| take(&mut data, usize::from(n), ""))
        else {
            return Vec::new();
        };
        let mut protocols = Vec::new();
        while let Ok(length) = u8_at(&mut list, "") {
            match take(&mut list, length, "") {
                Ok(name) => protocols.push(name.to_vec()),
                Err(_) => break,
            }
        }
        protocols
    }

    /// The host name in the server_name extension.
    pub fn server_name(&self) -> Option<String> {
        let mut data = self.extension(SERVER_NAME)?;
        let mut list = u16_at(&mut data, "")
            .and_then(|n| take(&mut data, usize::from(n), ""))
            .ok()?;
        while let Ok(kind) = u8_at(&mut list, "") {
            let length = usize::from(u16_at(&mut list, "").ok()?);
            let name = take(&mut list, length, "").ok()?;
            if kind == 0 {
                return Some(String::from_utf8_lossy(name).into_owned());
            }
        }
        None
    }

    /// The JA4 fingerprint (FoxIO's specification, TLS over TCP).
    pub fn ja4(&self) -> String {
        let versions: Vec<u16> = self
            .versions()
            .into_iter()
            .filter(|v| !is_grease(*v))
            .collect();
        let version = versions
            .iter()
            .max()
            .copied()
            .unwrap_or(self.legacy_version);
        let version = match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0200 => "s2",
            0x0100 => "s1",
            _ => "00",
        };
        let sni = if self.extension(SERVER_NAME).is_some() {
            'd'
        } else {
            'i'
        };
        let ciphers: Vec<u16> = self
            .cipher_suites
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let extensions: Vec<u16> = self
            .extensions
            .iter()
            .map(|(kind, _)| *kind)
            .filter(|k| !is_grease(*k))
            .collect();
        let alpn = match self.alpn().first() {
            Some(first) if !first.is_empty() => {
                let (a, b) = (first[0], first[first.len() - 1]);
                if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() {
                    format!("{}{}", a as char, b as char)
                } else {
                    let hex = format!("{a:02x}{b:02x}");
                    format!("{}{}", &hex[..1], &hex[3..])
                }
            }
            _ => "00".to_string(),
        };
        let mut sorted_ciphers = ciphers.clone();
        sorted_ciphers.sort_unstable();
        let mut sorted_extensions: Vec<u16> = extensions
            .iter()
            .copied()
            .filter(|k| *k != SERVER_NAME && *k != ALPN)
            .collect();
        sorted_extensions.sort_unstable();
        let signatures: Vec<u16> = self
            .signature_algorithms()
            .into_iter()
            .filter(|s| !is_grease(*s))
            .collect();
        let mut extension_text = hex_list(&sorted_extensions);
        if !signatures.is_empty() {
            extension_text.push('_');
            extension_text.push_str(&hex_list(&signatures));
        }
        format!(
            "t{version}{sni}{:02}{:02}{alpn}_{}_{}",
            ciphers.len().min(99),
            extensions.len().min(99),
            truncated_hash(&hex_list(&sorted_ciphers), sorted_ciphers.is_empty()),
            truncated_hash(&extension_text, sorted_extensions.is_empty()),
        )
    }

    /// The ClientHello in words.
    pub fn describe(&self) -> ClientHello {
        let names = |values: Vec<u16>, name: fn(u16) -> String| -> Vec<String> {
            values.into_iter().map(name).collect()
        };
        ClientHello {
            versions: names(
                if self.versions().is_empty() {
                    vec![self.legacy_version]
                } else {
                    self.versions()
                },
                version_name,
            ),
            cipher_suites: names(self.cipher_suites.clone(), cipher_name),
            groups: names(self.groups(), group_name),
            key_shares: names(self.key_shares(), group_name),
            signature_algorithms: names(self.signature_algorithms(), signature_name),
            alpn: self
                .alpn()
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect(),
            server_name: self.server_name(),
            extensions: self
                .extensions
                .iter()
                .map(|(kind, _)| extension_name(*kind))
                .collect(),
            ja4: self.ja4(),
        }
    }
}

fn hex_list(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn truncated_hash(text: &str, empty: bool) -> String {
    if empty {
        return "000000000000".to_string();
    }
    sha256(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..12]
        .to_string()
}

/// What the client offered, in words (GREASE shown as such), for reports and the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientHello {
    pub versions: Vec<String>,
    pub cipher_suites: Vec<String>,
    pub groups: Vec<String>,
    pub key_shares: Vec<String>,
    pub signature_algorithms: Vec<String>,
    pub alpn: Vec<String>,
    pub server_name: Option<String>,
    /// Extension names, in the order sent.
    pub extensions: Vec<String>,
    pub ja4: String,
}

fn grease_or(value: u16, known: Option<&str>) -> String {
    if is_grease(value) {
        format!("GREASE ({value:#06x})")
    } else {
        known.map_or_else(|| format!("{value:#06x}"), str::to_string)
    }
}

fn version_name(value: u16) -> String {
    let known = match value {
        0x0304 => Some("TLS 1.3"),
        0x0303 => Some("TLS 1.2"),
        0x0302 => Some("TLS 1.1"),
        0x0301 => Some("TLS 1.0"),
        0x0300 => Some("SSL 3.0"),
        _ => None,
    };
    grease_or(value, known)
}

fn group_name(value: u16) -> String {
    let known = match value {
        0x0017 => Some("P-256"),
        0x0018 => Some("P-384"),
        0x0019 => Some("P-521"),
        0x001d => Some("X25519"),
        0x001e => Some("X448"),
        0x0100 => Some("ffdhe2048"),
        0x0101 => Some("ffdhe3072"),
        0x0102 => Some("ffdhe4096"),
        0x0103 => Some("ffdhe6144"),
        0x0104 => Some("ffdhe8192"),
        0x001f => Some("brainpoolP256r1tls13"),
        0x0020 => Some("brainpoolP384r1tls13"),
        0x0021 => Some("brainpoolP512r1tls13"),
        0x11eb => Some("SecP256r1MLKEM768"),
        0x11ec => Some("X25519MLKEM768"),
        0x11ed => Some("SecP384r1MLKEM1024"),
        0x6399 => Some("X25519Kyber768Draft00"),
        0x0200 => Some("MLKEM512"),
        0x0201 => Some("MLKEM768"),
        0x0202 => Some("MLKEM1024"),
        _ => None,
    };
    grease_or(value, known)
}

fn signature_name(value: u16) -> String {
    let known = match value {
        0x0401 => Some("rsa_pkcs1_sha256"),
        0x0501 => Some("rsa_pkcs1_sha384"),
        0x0601 => Some("rsa_pkcs1_sha512"),
        0x0403 => Some("ecdsa_secp256r1_sha256"),
        0x0503 => Some("ecdsa_secp384r1_sha384"),
        0x0603 => Some("ecdsa_secp521r1_sha512"),
        0x0804 => Some("rsa_pss_rsae_sha256"),
        0x0805 => Some("rsa_pss_rsae_sha384"),
        0x0806 => Some("rsa_pss_rsae_sha512"),
        0x0807 => Some("ed25519"),
        0x0808 => Some("ed448"),
        0x0809 => Some("rsa_pss_pss_sha256"),
        0x080a => Some("rsa_pss_pss_sha384"),
        0x080b => Some("rsa_pss_pss_sha512"),
        0x081a => Some("ecdsa_brainpoolP256r1tls13_sha256"),
        0x081b => Some("ecdsa_brainpoolP384r1tls13_sha384"),
        0x081c => Some("ecdsa_brainpoolP512r1tls13_sha512"),
        0x0201 => Some("rsa_pkcs1_sha1"),
        0x0203 => Some("ecdsa_sha1"),
        0x0301 => Some("rsa_pkcs1_sha224"),
        0x0303 => Some("ecdsa_sha224"),
        0x0904 => Some("mldsa44"),
        0x0905 => Some("mldsa65"),
        0x0906 => Some("mldsa87"),
        _ => None,
    };
    grease_or(value, known)
}

fn extension_name(value: u16) -> String {
    let known = match value {
        0 => Some("server_name"),
        1 => Some("max_fragment_length"),
        5 => Some("status_request"),
        10 => Some("supported_groups"),
        11 => Some("ec_point_formats"),
        13 => Some("signature_algorithms"),
        14 => Some("use_srtp"),
        15 => Some("heartbeat"),
        16 => Some("application_layer_protocol_negotiation"),
        18 => Some("signed_certificate_timestamp"),
        21 => Some("padding"),
        22 => Some("encrypt_then_mac"),
        23 => Some("extended_master_secret"),
        27 => Some("compress_certificate"),
        28 => Some("record_size_limit"),
        34 => Some("delegated_credential"),
        35 => Some("session_ticket"),
        41 => Some("pre_shared_key"),
        42 => Some("early_data"),
        43 => Some("supported_versions"),
        44 => Some("cookie"),
        45 => Some("psk_key_exchange_modes"),
        47 => Some("certificate_authorities"),
        49 => Some("post_handshake_auth"),
        50 => Some("signature_algorithms_cert"),
        51 => Some("key_share"),
        17513 | 17613 => Some("application_settings"),
        0xfe0d => Some("encrypted_client_hello"),
        0xff01 => Some("renegotiation_info"),
        _ => None,
    };
    let name = grease_or(value, known);
    if known.is_some() {
        format!("{name} ({value})")
    } else {
        name
    }
}

/// IANA names of the cipher suites the linked OpenSSL knows, by code point.
fn cipher_name(value: u16) -> String {
    static NAMES: OnceLock<HashMap<u16, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        probe::all_ciphers()
            .into_iter()
            .map(|cipher| (cipher.id, cipher.standard_name.unwrap_or(cipher.name)))
            .collect()
    });
    let signalling = match value {
        0x00ff => Some("TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
        0x5600 => Some("TLS_FALLBACK_SCSV"),
        _ => None,
    };
    grease_or(value, names.get(&value).copied().or(signalling))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the JA4 specification, as a ClientHello.
    fn spec_example(with_signatures: bool) -> RawHello {
        let mut extensions: Vec<(u16, Vec<u8>)> = [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
            0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ]
        .iter()
        .map(|kind| (*kind, Vec::new()))
        .collect();
        let signatures: [u16; 8] = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let mut sigs = vec![0, 16];
        for s in signatures {
            sigs.extend_from_slice(&s.to_be_bytes());
        }
        for (kind, data) in &mut extensions {
            match *kind {
                0x000d if with_signatures => *data = sigs.clone(),
                0x002b => *data = vec![6, 0x3a, 0x3a, 0x03, 0x04, 0x03, 0x03],
                0x0010 => *data = [&[0, 12, 2][..], b"h2", &[8], b"http/1.1"].concat(),
                _ => {}
            }
        }
        extensions.insert(0, (0x0a0a, Vec::new()));
        RawHello {
            legacy_version: 0x0303,
            cipher_suites: vec![
                0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions,
        }
    }

    #[test]
    fn ja4_matches_the_specification_example() {
        assert_eq!(
            spec_example(true).ja4(),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
        assert_eq!(
            spec_example(false).ja4(),
            "t13d1516h2_8daaf6152771_6d807ffa2a79"
        );
    }

    #[test]
    fn a_serialized_client_hello_parses_back() {
        let hello = spec_example(true);
        let mut body = Vec::new();
        body.extend_from_slice(&hello.legacy_version.to_be_bytes());
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&((hello.cipher_suites.len() * 2) as u16).to_be_bytes());
        for c in &hello.cipher_suites {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut extensions = Vec::new();
        for (kind, data) in &hello.extensions {
            extensions.extend_from_slice(&kind.to_be_bytes());
            extensions.extend_from_slice(&(data.len() as u16).to_be_bytes());
            extensions.extend_from_slice(data);
        }
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);
        let mut message = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        message.extend_from_slice(&body);
        assert_eq!(parse(&message).unwrap(), hello);
        let described = hello.describe();
        assert_eq!(
            described.versions,
            ["GREASE (0x3a3a)", "TLS 1.3", "TLS 1.2"]
        );
        assert_eq!(described.alpn, ["h2", "http/1.1"]);
        assert_eq!(described.extensions[0], "GREASE (0x0a0a)");
        assert_eq!(described.extensions[1], "compress_certificate (27)");
        assert_eq!(described.signature_algorithms[0], "ecdsa_secp256r1_sha256");
        for cut in 0..message.len() {
            assert!(parse(&message[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn grease_is_recognised() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }
}
