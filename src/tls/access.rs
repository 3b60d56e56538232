//! Who may connect beyond "the chain verified": the server's allow rules on client
//! certificates (`--allow-cn`, `--allow-dns`, `--allow-uri`, `--allow-ou`), and the
//! client's public key pins (`--pin sha256//…`, as curl's `--pinnedpubkey`).

use openssl::base64;
use openssl::nid::Nid;
use openssl::sha::sha256;
use openssl::x509::X509Ref;

use crate::config::AccessRules;

/// Checks a verified client certificate against the allow rules: the rule that lets it
/// in (`None` when there is no rule), or why none does, naming the certificate's names and
/// the rules.
pub(crate) fn check(rules: &AccessRules, cert: &X509Ref) -> Result<Option<String>, String> {
    if rules.is_empty() {
        return Ok(None);
    }
    let names = Names::of(cert);
    let matched = rules
        .cn
        .iter()
        .find(|rule| names.cn.iter().any(|cn| cn == *rule))
        .map(|rule| format!("--allow-cn {rule}"))
        .or_else(|| {
            rules
                .dns
                .iter()
                .find(|rule| names.dns.iter().any(|dns| dns.eq_ignore_ascii_case(rule)))
                .map(|rule| format!("--allow-dns {rule}"))
        })
        .or_else(|| {
            rules
                .uri
                .iter()
                .find(|rule| names.uri.iter().any(|uri| uri == *rule))
                .map(|rule| format!("--allow-uri {rule}"))
        })
        .or_else(|| {
            rules
                .ou
                .iter()
                .find(|rule| names.ou.iter().any(|ou| ou == *rule))
                .map(|rule| format!("--allow-ou {rule}"))
        });
    if let Some(rule) = matched {
        return Ok(Some(rule));
    }
    Err(format!(
        "its names ({}) match no allow rule ({})",
        names.describe(),
        describe_rules(rules)
    ))
}

/// The allow rules, as flags: `--allow-cn alice, --allow-uri spiffe://…`.
pub(crate) fn describe_rules(rules: &AccessRules) -> String {
    let mut out = Vec::new();
    for (flag, values) in [
        ("--allow-cn", &rules.cn),
        ("--allow-dns", &rules.dns),
        ("--allow-uri", &rules.uri),
        ("--allow-ou", &rules.ou),
    ] {
        out.extend(values.iter().map(|v| format!("{flag} {v}")));
    }
    out.join(", ")
}

/// The names of a certificate the rules look at.
struct Names {
    cn: Vec<String>,
    ou: Vec<String>,
    dns: Vec<String>,
    uri: Vec<String>,
}

impl Names {
    fn of(cert: &X509Ref) -> Names {
        let entries = |nid| -> Vec<String> {
            cert.subject_name()
                .entries_by_nid(nid)
                .filter_map(|e| e.data().to_string().ok())
                .collect()
        };
        let mut dns = Vec::new();
        let mut uri = Vec::new();
        for name in cert.subject_alt_names().iter().flatten() {
            if let Some(d) = name.dnsname() {
                dns.push(d.to_string());
            } else if let Some(u) = name.uri() {
                uri.push(u.to_string());
            }
        }
        Names {
            cn: entries(Nid::COMMONNAME),
            ou: entries(Nid::ORGANIZATIONALUNITNAME),
            dns,
            uri,
        }
    }

    fn describe(&self) -> String {
        let mut out = Vec::new();
        out.extend(self.cn.iter().map(|v| format!("CN={v}")));
        out.extend(self.ou.iter().map(|v| format!("OU={v}")));
        out.extend(self.dns.iter().map(|v| format!("DNS:{v}")));
        out.extend(self.uri.iter().map(|v| format!("URI:{v}")));
        if out.is_empty() {
            "none".to_string()
        } else {
            out.join(", ")
        }
    }
}

/// Parses `sha256//BASE64` (curl's `--pinnedpubkey` form); several may be joined by `;`.
pub fn parse_pins(text: &str) -> Result<Vec<[u8; 32]>, String> {
    text.split(';')
        .map(|pin| {
            let encoded = pin.trim().strip_prefix("sha256//").ok_or_else(|| {
                format!("{pin:?}: use sha256//BASE64, the SHA-256 of the public key, base64")
            })?;
            let digest = base64::decode_block(encoded)
                .map_err(|_| format!("{pin:?}: the part after sha256// is not base64"))?;
            <[u8; 32]>::try_from(digest.as_slice()).map_err(|_| {
                format!("{pin:?}: a SHA-256 digest is 32 bytes (44 base64 characters)")
            })
        })
        .collect()
}

/// The pin of a certificate's public key: `sha256//` and the base64 of the SHA-256 of its
/// DER SubjectPublicKeyInfo.
pub(crate) fn pin_of(cert: &X509Ref) -> Option<(String, [u8; 32])> {
    let spki = cert.public_key().ok()?.public_key_to_der().ok()?;
    let digest = sha256(&spki);
    Some((format!("sha256//{}", base64::encode_block(&digest)), digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_in_curls_form() {
        let one = "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert_eq!(parse_pins(one).unwrap().len(), 1);
        assert_eq!(parse_pins(&format!("{one};{one}")).unwrap().len(), 2);
        assert!(
            parse_pins("sha1//abc")
                .unwrap_err()
                .contains("sha256//BASE64")
        );
        assert!(
            parse_pins("sha256//!!!")
                .unwrap_err()
                .contains("not base64")
        );
        assert!(parse_pins("sha256//YWJj").unwrap_err().contains("32 bytes"));
    }

    #[test]
    fn no_rule_lets_every_verified_certificate_in() {
        let rules = AccessRules::default();
        assert_eq!(describe_rules(&rules), "");
        assert!(rules.is_empty());
    }
}
