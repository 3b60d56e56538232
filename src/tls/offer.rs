//! What tlscat offers a peer, described for the hints of a failed handshake: the versions
//! and suites the configuration really allows.

use crate::config::{Profile, TlsSettings, TlsVersion};

/// What tlscat offers a peer, in words, for the hints of a failed handshake: the
/// versions and suites the configuration really allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offer {
    /// `TLS 1.2 and 1.3`, `only TLS 1.3 (--profile modern)`, …
    pub versions: String,
    /// `Mozilla intermediate's AEAD suites with ECDHE`, `the suites of --ciphers …`, …
    pub suites: String,
}

impl Offer {
    /// Describes what `settings` allow.
    pub fn of(settings: &TlsSettings) -> Offer {
        let range = |min: Option<TlsVersion>, max: Option<TlsVersion>, default_min| {
            let min = min.unwrap_or(default_min);
            let max = max.unwrap_or(TlsVersion::Tls1_3);
            if min == max {
                format!("only TLS {}", min.number())
            } else if min.number() == "1.2" && max == TlsVersion::Tls1_3 {
                "TLS 1.2 and 1.3".to_string()
            } else {
                format!("TLS {} to {}", min.number(), max.number())
            }
        };
        let (min, max) = (settings.min_version, settings.max_version);
        let flags = match (min, max) {
            (None, None) => String::new(),
            (Some(a), Some(b)) if a == b => format!(" (--tls{})", a.number()),
            _ => {
                let mut flags = Vec::new();
                if let Some(v) = min {
                    flags.push(format!("--min-tls {}", v.number()));
                }
                if let Some(v) = max {
                    flags.push(format!("--max-tls {}", v.number()));
                }
                format!(" ({})", flags.join(" "))
            }
        };
        let versions = match settings.profile {
            Profile::Intermediate => format!("{}{flags}", range(min, max, TlsVersion::Tls1_2)),
            Profile::Modern => "only TLS 1.3 (--profile modern)".to_string(),
            Profile::System if min.is_none() && max.is_none() => {
                "the versions OpenSSL's configuration allows (--profile system)".to_string()
            }
            Profile::System => format!("{}{flags}", range(min, max, TlsVersion::Tls1_0)),
        };
        let mut suites = Vec::new();
        if let Some(list) = &settings.ciphers {
            suites.push(format!("the TLS 1.2 suites of --ciphers {list}"));
        }
        if let Some(list) = &settings.ciphersuites {
            suites.push(format!("the TLS 1.3 suites of --ciphersuites {list}"));
        }
        if suites.is_empty() {
            suites.push(
                match settings.profile {
                    Profile::Intermediate => "Mozilla intermediate's AEAD suites with ECDHE",
                    Profile::Modern => "the TLS 1.3 suites (Mozilla modern)",
                    Profile::System => "OpenSSL's default suites (--profile system)",
                }
                .to_string(),
            );
        }
        let groups = match (&settings.groups, settings.profile) {
            (Some(list), _) => format!("--groups {list}"),
            (None, Profile::System) => "OpenSSL's default groups".to_string(),
            (None, _) => "groups X25519, P-256, P-384".to_string(),
        };
        Offer {
            versions,
            suites: format!("{}, {groups}", suites.join(" and ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_is_described_as_configured() {
        let offer = |settings: TlsSettings| Offer::of(&settings);
        assert_eq!(offer(TlsSettings::default()).versions, "TLS 1.2 and 1.3");
        let modern = TlsSettings {
            profile: Profile::Modern,
            ..TlsSettings::default()
        };
        assert_eq!(
            offer(modern.clone()).versions,
            "only TLS 1.3 (--profile modern)"
        );
        assert!(offer(modern).suites.contains("Mozilla modern"));
        let old = TlsSettings {
            min_version: Some(TlsVersion::Tls1_0),
            max_version: Some(TlsVersion::Tls1_1),
            ..TlsSettings::default()
        };
        assert_eq!(
            offer(old).versions,
            "TLS 1.0 to 1.1 (--min-tls 1.0 --max-tls 1.1)"
        );
        let exact = TlsSettings {
            min_version: Some(TlsVersion::Tls1_2),
            max_version: Some(TlsVersion::Tls1_2),
            ..TlsSettings::default()
        };
        assert_eq!(offer(exact).versions, "only TLS 1.2 (--tls1.2)");
        let system = TlsSettings {
            profile: Profile::System,
            ..TlsSettings::default()
        };
        assert!(offer(system).suites.contains("--profile system"));
    }
}
