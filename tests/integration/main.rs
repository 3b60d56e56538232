//! The integration tests, in one test binary (as ripgrep does): one link instead of one per
//! topic. Each module runs the real `tlscat` binary (or the library, in-process) against
//! real peers on loopback; `common` has the shared helpers.

// Helpers in `common` are shared by every module as `pub` items of this test crate.
#![allow(unreachable_pub)]

mod common;

mod bench;
mod build_script;
mod chain;
mod cli;
mod events;
mod files;
mod front_door;
mod gen_certs;
mod hints;
mod hostile;
mod in_process;
mod inspection;
mod interop;
mod limits;
mod matrix;
mod modes;
mod operations;
mod packaging;
mod parsers;
mod revocation;
mod security;
mod seed;
mod starttls;
mod tls_controls;
mod tunnel;
mod verify;
