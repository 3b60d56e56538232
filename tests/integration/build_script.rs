//! build.rs's decisions for every kind of OpenSSL a packager may have.

#[path = "../../build/openssl_version.rs"]
#[allow(dead_code)] // build.rs uses the rest
mod openssl_version;

use openssl_version::{Decision, decide, openssl_version};

#[test]
fn version_numbers_are_named_as_openssl_does() {
    assert_eq!(openssl_version(0x3000_0130), "3.0.19");
    assert_eq!(openssl_version(0x3050_0050), "3.5.5");
    assert_eq!(openssl_version(0x4000_0030), "4.0.3");
    assert_eq!(openssl_version(0x1010_117f), "1.1.1w");
    assert_eq!(openssl_version(0x1010_100f), "1.1.1");
}

#[test]
fn cfgs_form_an_ascending_ladder() {
    let cfgs = |number| match decide(None, Some(number)) {
        Decision::Build { cfgs, .. } => cfgs,
        refused => panic!("{refused:?}"),
    };
    assert_eq!(cfgs(0x1010_117f), Vec::<&str>::new());
    assert_eq!(cfgs(0x3000_0130), ["ossl300"]);
    assert_eq!(cfgs(0x3020_0000), ["ossl300", "ossl320"]);
    assert_eq!(cfgs(0x3050_0050), ["ossl300", "ossl320", "ossl350"]);
    assert_eq!(
        cfgs(0x4000_0030),
        ["ossl300", "ossl320", "ossl350", "ossl400"]
    );
    assert_eq!(
        decide(None, None),
        Decision::Build {
            version: "OpenSSL (unknown version)".into(),
            cfgs: Vec::new()
        }
    );
}

#[test]
fn below_the_floor_and_libressl_stop_the_build_with_one_clear_line() {
    match decide(None, Some(0x1000_2150)) {
        Decision::Refuse(message) => {
            assert!(message.contains("OpenSSL 1.0.2u is too old: tlscat needs 1.1.1 or newer"))
        }
        built => panic!("1.0.2 must be refused: {built:?}"),
    }
    match decide(Some(0x3080_000f), Some(0x2000_0000)) {
        Decision::Refuse(message) => assert!(message.contains("LibreSSL 3.8.0 is not supported")),
        built => panic!("LibreSSL must be refused: {built:?}"),
    }
}
