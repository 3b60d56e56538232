//! Adapts tlscat to the OpenSSL it is built against.
//!
//! `openssl-sys` (a direct dependency, which is what makes Cargo pass its metadata here)
//! reports the version of the headers it compiled against. From it we emit an ascending
//! ladder of cfgs (`ossl300`, `ossl320`, `ossl350`, `ossl400`) and the version string that
//! `tlscat --version` shows next to the run-time library version.

use std::env;

/// (cfg name, lowest OPENSSL_VERSION_NUMBER that enables it), ascending.
const LADDER: [(&str, u64); 4] = [
    ("ossl300", 0x3000_0000),
    ("ossl320", 0x3020_0000),
    ("ossl350", 0x3050_0000),
    ("ossl400", 0x4000_0000),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_OPENSSL_VERSION_NUMBER");
    println!("cargo:rerun-if-env-changed=DEP_OPENSSL_LIBRESSL_VERSION_NUMBER");
    for (cfg, _) in LADDER {
        println!("cargo:rustc-check-cfg=cfg({cfg})");
    }

    let libressl = hex_var("DEP_OPENSSL_LIBRESSL_VERSION_NUMBER");
    let openssl = hex_var("DEP_OPENSSL_VERSION_NUMBER");

    let version = match (libressl, openssl) {
        (Some(number), _) => format!("LibreSSL {}", dotted(number)),
        (None, Some(number)) => {
            for (cfg, min) in LADDER {
                if number >= min {
                    println!("cargo:rustc-cfg={cfg}");
                }
            }
            format!("OpenSSL {}", openssl_version(number))
        }
        // Missing metadata means "no cfgs": the oldest code paths are used.
        (None, None) => "OpenSSL (unknown version)".to_string(),
    };
    println!("cargo:rustc-env=TLSCAT_OPENSSL_BUILD_VERSION={version}");
}

fn hex_var(name: &str) -> Option<u64> {
    let value = env::var(name).ok()?;
    u64::from_str_radix(value.trim(), 16).ok()
}

/// `0xMNNFFPPS` (1.x: major, minor, fix, patch letter, status) or `0xMNN00PP0` (3.0 and later).
fn openssl_version(number: u64) -> String {
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
