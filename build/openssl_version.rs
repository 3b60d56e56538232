//! Decides, from the version numbers `openssl-sys` reports, which cfgs to emit and how to
//! name the library. Shared by build.rs and its test (tests/build_script.rs).

/// The oldest OpenSSL tlscat builds against: 1.1.1 (TLS 1.3, key logging, tickets API).
pub(crate) const OPENSSL_FLOOR: u64 = 0x1010_1000;

/// (cfg name, lowest OPENSSL_VERSION_NUMBER that enables it), ascending.
pub(crate) const LADDER: [(&str, u64); 4] = [
    ("ossl300", 0x3000_0000),
    ("ossl320", 0x3020_0000),
    ("ossl350", 0x3050_0000),
    ("ossl400", 0x4000_0000),
];

/// What the build should do for these version numbers (hex values of
/// `DEP_OPENSSL_LIBRESSL_VERSION_NUMBER` and `DEP_OPENSSL_VERSION_NUMBER`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Build: the library's name and version, and the cfgs to emit.
    Build {
        version: String,
        cfgs: Vec<&'static str>,
    },
    /// Stop with this message.
    Refuse(String),
}

pub(crate) fn decide(libressl: Option<u64>, openssl: Option<u64>) -> Decision {
    match (libressl, openssl) {
        (Some(number), _) => Decision::Refuse(format!(
            "LibreSSL {} is not supported: build against OpenSSL 1.1.1 or newer \
             (set OPENSSL_DIR to its prefix)",
            dotted(number)
        )),
        (None, Some(number)) if number < OPENSSL_FLOOR => Decision::Refuse(format!(
            "OpenSSL {} is too old: tlscat needs 1.1.1 or newer \
             (install a newer libssl-dev, or set OPENSSL_DIR to a newer build)",
            openssl_version(number)
        )),
        (None, Some(number)) => Decision::Build {
            version: format!("OpenSSL {}", openssl_version(number)),
            cfgs: LADDER
                .iter()
                .filter(|(_, min)| number >= *min)
                .map(|(cfg, _)| *cfg)
                .collect(),
        },
        // Missing metadata means "no cfgs": the oldest code paths are used.
        (None, None) => Decision::Build {
            version: "OpenSSL (unknown version)".to_string(),
            cfgs: Vec::new(),
        },
    }
}

/// `0xMNNFFPPS` (1.x: major, minor, fix, patch letter, status) or `0xMNN00PP0` (3.0 and later).
pub(crate) fn openssl_version(number: u64) -> String {
    let major = number >> 28;
    let minor = (number >> 20) & 0xff;
    if major >= 3 {
        let patch = (number >> 4) & 0xff;
        return format!("{major}.{minor}.{patch}");
    }
    let fix = (number >> 12) & 0xff;
    let letter = (number >> 4) & 0xff;
    let letter = if (1..=26).contains(&letter) {
        char::from(b'a' + letter as u8 - 1).to_string()
    } else {
        String::new()
    };
    format!("{major}.{minor}.{fix}{letter}")
}

/// LibreSSL numbers are `0xMNNFF00f`.
fn dotted(number: u64) -> String {
    format!(
        "{}.{}.{}",
        number >> 28,
        (number >> 20) & 0xff,
        (number >> 12) & 0xff
    )
}
