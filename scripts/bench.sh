#!/usr/bin/env bash
# tlscat against nginx and `openssl s_server` on this machine, side by side: server CPU
# per full and resumed handshake (TLS 1.2 and 1.3, ECDSA and RSA), handshakes/s, a 1 GiB
# download, idle memory per connection, memory after 8,000 idle connections, and the
# load generator's own CPU against `openssl s_time`; then the same handshakes on the
# smallest server of tlscat's design and of nginx's (examples/floor.rs); then tlscat --forward
# against HAProxy and stunnel in front of the same plain nginx. Prints Markdown tables.
#
# Loopback only; every server it starts is killed on exit. About 7 minutes with the
# defaults (BENCH_SECONDS=4 per measurement, BENCH_REPS=3); see scripts/bench.py for the
# knobs. Installs nginx-light with apt if it is missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bench.sh: installing $2" >&2
        apt-get install -y "$2" >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 ||
        { echo "bench.sh: $1 not found: install $2 (apt-get install $2)" >&2; exit 1; }
}
need nginx nginx-light
need openssl openssl
need curl curl
need python3 python3
need haproxy haproxy
need stunnel4 stunnel4

cargo build --release --quiet --bin tlscat --example floor
exec python3 scripts/bench.py
