//! The HTTP request head parser never panics and never claims more than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlscat::http::{Head, parse_head};

fuzz_target!(|data: &[u8]| {
    if let Head::Complete { request, length } = parse_head(data) {
        assert!(length <= data.len());
        let _ = request.wants_json();
        let _ = request.path();
    }
});
