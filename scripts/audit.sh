#!/usr/bin/env bash
# Checks the licences of every dependency against deny.toml with cargo-deny (installed from
# the crate registry when missing). `--advisories` also checks the RustSec advisories,
# which cargo-deny fetches from GitHub: it fails where GitHub is out of reach.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "== installing cargo-deny from the crate registry"
    cargo install --locked --quiet cargo-deny
fi
cargo deny --locked check licenses
if [ "${1:-}" = --advisories ]; then
    cargo deny --locked check advisories
fi
