//! The ClientHello parser and everything computed from its result never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = tlscat::tls::hello::parse(data) {
        let described = hello.describe();
        assert!(described.ja4.starts_with('t'));
    }
});
