#!/usr/bin/env bash
# Soak test: a release tlscat server on loopback takes honest clients and hostile peers
# (plain HTTP, garbage, SSLv2 hellos, truncated hellos, resets in the handshake and in a
# record, closes without close_notify, oversized records, slow handshakes) for SECONDS,
# then prints: connections served, faults injected, errors seen by honest clients (must
# be 0), and the server's RSS and open file descriptors at the start and at the end.
#
# Usage: scripts/soak.sh [SECONDS]   (default 180; CI runs a short one)
# Exit: 0 if no honest client failed and the descriptors came back; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: SECONDS must be a whole number" >&2; exit 2; }

cargo build --release --quiet
work=$(mktemp -d /tmp/tlscat-soak.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/gen-certs.sh --out "$work/certs" >/dev/null
target/release/tlscat server --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --quiet \
    --cert "$work/certs/server.crt" --key "$work/certs/server.key" \
    --handshake-timeout 2s --read-timeout 2s >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 100); do
    grep -q "Server is listening on" "$work/stdout" 2>/dev/null && break
    sleep 0.05
done
port=$(sed -n 's/^Server is listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/stdout")
[ -n "$port" ] || { echo "soak.sh: the server did not start:" >&2; cat "$work/stderr" >&2; exit 1; }

python3 - "$port" "$work/certs/ca.crt" "$seconds" "$server_pid" <<'PY'
import os, random, socket, ssl, struct, sys, threading, time

port, cafile, seconds, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)

def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))

def connect():
    return socket.create_connection(("127.0.0.1", port), timeout=10)

def honest():
    with ctx.wrap_socket(connect(), server_hostname="localhost") as s:
        s.sendall(b"soak")
        data = b""
        while True:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
        if data != b"Hello from the server!":
            raise RuntimeError(f"unexpected answer {data!r}")

def hello():
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()

HELLO = hello()

def drain(s):
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass

def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

def fault(kind):
    s = connect()
    if kind == "http":
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); drain(s)
    elif kind == "garbage":
        s.sendall(b"\xff" + os.urandom(1023)); drain(s)
    elif kind == "sslv2":
        s.sendall(b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + os.urandom(37)); drain(s)
    elif kind == "truncated":
        s.sendall(HELLO[:80]); s.shutdown(socket.SHUT_WR); drain(s)
    elif kind == "oversized":
        s.sendall(b"\x16\x03\x01\x48\x01" + bytes(32)); drain(s)
    elif kind == "reset-handshake":
        s.sendall(HELLO[:40]); reset(s); return
    elif kind == "reset-record":
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b"partial")
        reset(t); return
    elif kind == "no-close-notify":
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b"bye"); t.recv(100); t.close(); return
    elif kind == "slow":
        s.sendall(HELLO[:10]); time.sleep(random.uniform(0.1, 3.0)); reset(s); return
    s.close()

KINDS = ["http", "garbage", "sslv2", "truncated", "oversized", "reset-handshake",
         "reset-record", "no-close-notify", "slow"]
lock = threading.Lock()
served = honest_errors = faults = 0
errors = []
deadline = time.time() + seconds

def honest_worker():
    global served, honest_errors
    while time.time() < deadline:
        try:
            honest()
            with lock:
                served += 1
        except Exception as e:
            with lock:
                honest_errors += 1
                errors.append(repr(e))

def fault_worker():
    global faults
    while time.time() < deadline:
        try:
            fault(random.choice(KINDS))
        except OSError:
            pass
        with lock:
            faults += 1

# Warm up, then measure from a steady start.
for _ in range(50):
    honest()
time.sleep(0.5)
rss_start, fds_start = rss_kib(), fds()
workers = [threading.Thread(target=honest_worker) for _ in range(8)]
workers += [threading.Thread(target=fault_worker) for _ in range(8)]
started = time.time()
for w in workers:
    w.start()
for w in workers:
    w.join()
elapsed = time.time() - started
# Let the slow and half-open peers time out (handshake/read timeouts are 2 s).
for _ in range(100):
    time.sleep(0.1)
    if fds() <= fds_start:
        break
rss_end, fds_end = rss_kib(), fds()
print(f"duration          {elapsed:.0f} s")
print(f"connections       {served} honest served ({served / elapsed:.0f}/s), {faults} faults injected")
print(f"honest errors     {honest_errors}")
print(f"server RSS        {rss_start} KiB at start, {rss_end} KiB at end")
print(f"server open fds   {fds_start} at start, {fds_end} at end")
for e in errors[:5]:
    print("  honest error:", e)
sys.exit(0 if honest_errors == 0 and fds_end <= fds_start else 1)
PY
