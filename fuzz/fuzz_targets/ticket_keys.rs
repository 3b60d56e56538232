//! The ticket key file parser never panics on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(keys) = tlscat::tls::tickets::parse(text) {
        assert!(!keys.is_empty());
        let first = keys.encrypting();
        assert!(keys.find(&first.name).is_some_and(|(_, current)| current));
    }
});
