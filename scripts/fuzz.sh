#!/usr/bin/env bash
# Fuzzes the parsers tlscat wrote itself (PROXY header, HTTP request head, ClientHello,
# ticket key file, the STARTTLS client's reading of every protocol's server) with
# cargo-fuzz (libFuzzer), each for SECONDS (default 30).
#
# cargo-fuzz wants nightly compiler flags; with the stable toolchain it runs under
# RUSTC_BOOTSTRAP=1. Seeds (valid inputs of each kind) are made fresh into
# target/fuzz-seeds; findings go to fuzz/artifacts/TARGET and fail the run.
#
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz from the crate registry"
    cargo install --locked --quiet cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

seeds=$PWD/target/fuzz-seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{proxy_header,http_head,client_hello,ticket_keys,starttls}
printf 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n' >"$seeds/proxy_header/v1"
printf 'PROXY TCP6 2001:db8::1 ::1 1 2\r\n' >"$seeds/proxy_header/v1-6"
printf 'PROXY UNKNOWN\r\n' >"$seeds/proxy_header/unknown"
printf '\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x0c\xc0\0\2\1\xc6\x33\x64\2\xdc\4\1\xbb' >"$seeds/proxy_header/v2"
printf 'GET /json?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n' >"$seeds/http_head/get"
printf 'HEAD / HTTP/1.0\r\n\r\n' >"$seeds/http_head/head"
openssl rand 80 | base64 -w0 >"$seeds/ticket_keys/one"
# STARTTLS: the first byte picks the protocol (its place in `--starttls`'s list), the rest
# is what a willing server says.
printf '\x00220 mx ESMTP\r\n250-mx\r\n250 STARTTLS\r\n220 go ahead\r\n' >"$seeds/starttls/smtp"
printf '\2* OK ready\r\n* CAPABILITY IMAP4rev1 STARTTLS\r\na OK done\r\nb OK begin\r\n' >"$seeds/starttls/imap"
printf '\3+OK ready\r\n+OK begin\r\n' >"$seeds/starttls/pop3"
printf "\5<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features><proceed/>" >"$seeds/starttls/xmpp"
printf '\a\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00' >"$seeds/starttls/ldap"
printf '\bS' >"$seeds/starttls/postgres"
printf '\t\x14\0\0\0\x0a8.0\0\1\0\0\0abcdefgh\0\0\x08' >"$seeds/starttls/mysql"
printf '\v"IMPLEMENTATION" "x"\r\n"STARTTLS"\r\nOK\r\nOK\r\n' >"$seeds/starttls/sieve"
printf '\f:irc 670 me :go\r\n' >"$seeds/starttls/irc"
# A real ClientHello: what Python's ssl sends, without the 5-byte record header.
python3 - "$seeds/client_hello/python" <<'PY'
import ssl, sys
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
ctx = ssl.create_default_context()
ctx.set_alpn_protocols(["h2", "http/1.1"])
obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
open(sys.argv[1], "wb").write(outgoing.read()[5:])
PY

failed=0
for target in proxy_header http_head client_hello ticket_keys starttls; do
    echo "== fuzzing $target for ${seconds}s"
    mkdir -p "fuzz/corpus/$target"
    if ! cargo fuzz run "$target" "fuzz/corpus/$target" "$seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"target/fuzz-$target.log" 2>&1; then
        echo "   FAILED: see target/fuzz-$target.log and fuzz/artifacts/$target"
        failed=1
        continue
    fi
    grep -E '^stat::number_of_executed_units' "target/fuzz-$target.log" | sed 's/^/   /'
done
exit "$failed"
