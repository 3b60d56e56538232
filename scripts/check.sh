#!/usr/bin/env bash
# What CI checks, runnable locally: formatting, lints, module cycles, and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
python3 scripts/module-cycles.py
cargo test
