//! The PROXY protocol parser never panics, and what it accepts it accepts whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlscat::proxy::{Parse, parse};

fuzz_target!(|data: &[u8]| {
    if let Parse::Complete { length, .. } = parse(data) {
        assert!(length <= data.len());
        assert_eq!(parse(&data[..length]), parse(data));
    }
});
