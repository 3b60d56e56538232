//! Adapts tlscat to the OpenSSL it is built against.
//!
//! `openssl-sys` (a direct dependency, which is what makes Cargo pass its metadata here)
//! reports the version of the headers it compiled against. From it we emit an ascending
//! ladder of cfgs (`ossl300`, `ossl320`, `ossl350`, `ossl400`) and the version string that
//! `tlscat --version` shows next to the run-time library version; below OpenSSL 1.1.1 (or
//! on LibreSSL) the build stops with one clear line. Nothing else is read: no network, no
//! file outside the crate.

#[path = "build/openssl_version.rs"]
mod openssl_version;

use std::env;

use openssl_version::{Decision, LADDER, decide};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/openssl_version.rs");
    println!("cargo:rerun-if-env-changed=DEP_OPENSSL_VERSION_NUMBER");
    println!("cargo:rerun-if-env-changed=DEP_OPENSSL_LIBRESSL_VERSION_NUMBER");
    for (cfg, _) in LADDER {
        println!("cargo:rustc-check-cfg=cfg({cfg})");
    }
    match decide(
        hex_var("DEP_OPENSSL_LIBRESSL_VERSION_NUMBER"),
        hex_var("DEP_OPENSSL_VERSION_NUMBER"),
    ) {
        Decision::Build { version, cfgs } => {
            for cfg in cfgs {
                println!("cargo:rustc-cfg={cfg}");
            }
            println!("cargo:rustc-env=TLSCAT_OPENSSL_BUILD_VERSION={version}");
        }
        Decision::Refuse(message) => {
            eprintln!("error: {message}");
            std::process::exit(1);
        }
    }
}

fn hex_var(name: &str) -> Option<u64> {
    let value = env::var(name).ok()?;
    u64::from_str_radix(value.trim(), 16).ok()
}
