#!/usr/bin/env python3
"""tlscat against nginx and `openssl s_server`, side by side, on loopback.

Run by scripts/bench.sh (which builds tlscat and installs the peers). Every server is
started here on 127.0.0.1 with the same certificates and files, measured in turns (each
measurement is repeated REPS times, the servers interleaved, medians reported), and
killed on exit. Server CPU per connection is read from /proc (the process, its threads
and its direct children, as for nginx's workers).

Environment: BENCH_SECONDS (per handshake measurement, default 4), BENCH_REPS (3),
BENCH_CONCURRENCY (load generator connections, default 4), TLSCAT (the binary),
BENCH_ONLY (comma-separated sections: handshakes,bulk,idle,client,drain,floor,tunnel;
default all), BENCH_AB (a second tlscat binary, say a build of another commit: measured in turns
with the first in the handshake, bulk and idle sections, as "tlscat B", for A/B
comparisons), BENCH_CASES (handshake cases to run, e.g. ec/1.2/full,rsa/1.3/resumed;
default all).

The floor section also runs examples/floor.rs: the smallest server on tlscat's design
(tokio) and on nginx's (an epoll event loop), to tell the cost of the design from the cost
of tlscat's own work: server CPU per TLS 1.2 handshake, and memory per idle connection.
"""

import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TLSCAT = os.environ.get("TLSCAT", os.path.join(HERE, "..", "target", "release", "tlscat"))
FLOOR = os.path.join(os.path.dirname(TLSCAT), "examples", "floor")
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
TLSCAT_B = os.environ.get("BENCH_AB")
CASES = set(filter(None, os.environ.get("BENCH_CASES", "").split(",")))
HZ = os.sysconf("SC_CLK_TCK")
BIG = 1 << 30
IDLE = 2000
DRAIN = 8000
PEERS = ["tlscat", "nginx", "s_server"] + (["tlscat-b"] if TLSCAT_B else [])


def section(name):
    return not ONLY or name in ONLY


def log(message):
    print(f"# {message}", file=sys.stderr, flush=True)


def wait_port(port, proc, what):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: {what} exited at start (code {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"bench: {what} did not open port {port} within 10 s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on 127.0.0.1:port, killed by stop() or, at the latest, when the
    benchmark exits (STARTED)."""

    def __init__(self, name, kind, argv, port, cwd=None):
        self.name, self.kind, self.port = name, kind, port
        self.log = open(os.path.join(WORK, f"{name}-{kind}.log"), "w")
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        STARTED.append(self)
        wait_port(port, self.proc, f"{name} ({kind})")

    def pids(self):
        pids = [self.proc.pid]
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{task}/children") as f:
                    pids += [int(p) for p in f.read().split()]
            except OSError:
                pass
        return pids

    def cpu_seconds(self):
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                pass
        return total / HZ

    def memory_kib(self):
        """RSS, PSS and anonymous memory (KiB), summed over the processes."""
        rss = pss = anon = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        key, _, value = line.partition(":")
                        if key == "Rss":
                            rss += int(value.split()[0])
                        elif key == "Pss":
                            pss += int(value.split()[0])
                        elif key == "Anonymous":
                            anon += int(value.split()[0])
            except OSError:
                pass
        return rss, pss, anon

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


# Every server started, so that an error or a signal half-way still stops them all.
STARTED = []


def nginx_argv(name, http):
    """nginx in the foreground with 2 workers, its files in WORK/name, and `http` inside
    its http block."""
    run = os.path.join(WORK, name)
    os.makedirs(run, exist_ok=True)
    conf = f"""
worker_processes 2;
daemon off; master_process on; pid {run}/nginx.pid; error_log {run}/error.log warn;
worker_rlimit_nofile 19000;
events {{ worker_connections 9000; }}
http {{
  access_log off; server_tokens off;
  client_body_temp_path {run}/body; proxy_temp_path {run}/proxy; fastcgi_temp_path {run}/fcgi;
  uwsgi_temp_path {run}/uwsgi; scgi_temp_path {run}/scgi;
{http}
}}
"""
    path = os.path.join(run, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return ["nginx", "-c", path, "-p", run]


def nginx_conf(port, cert, key, docroot):
    """nginx serving docroot over TLS, tuned as a production server would be."""
    return nginx_argv(f"nginx-{port}", f"""
  sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_timeout 65s; keepalive_requests 10000;
  default_type application/octet-stream;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
  ssl_prefer_server_ciphers off;
  ssl_session_cache shared:SSL:10m; ssl_session_timeout 1d; ssl_session_tickets on;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    root {docroot};
  }}""")


def tlscat_argv(port, cert, key, docroot, binary=TLSCAT):
    return [binary, "server", "--listen", f"127.0.0.1:{port}", "--cert", cert, "--key", key,
            "--mode", "files", "--root", docroot, "--quiet", "--max-conns", "10000"]


def start_servers(certs, docroot):
    servers = {}
    for kind in ("ec", "rsa"):
        cert, key = f"{certs}/{kind}/server.crt", f"{certs}/{kind}/server.key"
        port = free_port()
        servers[("tlscat", kind)] = Server("tlscat", kind, tlscat_argv(port, cert, key, docroot), port)
        port = free_port()
        servers[("nginx", kind)] = Server("nginx", kind, nginx_conf(port, cert, key, docroot), port)
        if TLSCAT_B:
            port = free_port()
            servers[("tlscat-b", kind)] = Server(
                "tlscat-b", kind, tlscat_argv(port, cert, key, docroot, TLSCAT_B), port)
        port = free_port()
        servers[("s_server", kind)] = Server("s_server", kind, [
            "openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key,
            "-WWW", "-quiet"], port, cwd=docroot)
    return servers


def bench(server, certs, extra, seconds=SECONDS, kind=None):
    """Runs tlscat bench against a server (with `kind`'s certificates: ec or rsa); returns
    (its JSON, server CPU seconds)."""
    argv = [TLSCAT, "bench", "--json", "--connect", f"127.0.0.1:{server.port}",
            "--cacert", f"{certs}/{kind or server.kind}/ca.crt", "--servername", "localhost"]
    argv += extra if "-c" in extra else ["-c", str(CONCURRENCY)] + extra
    if "-n" not in extra:
        argv += ["-d", f"{seconds}s"]
    before = server.cpu_seconds()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    used = server.cpu_seconds() - before
    lines = [l for l in done.stdout.splitlines() if l.startswith('{"address"')]
    if not lines:
        sys.exit(f"bench: tlscat bench against {server.name} failed: {done.stderr.strip()}")
    return json.loads(lines[0]), used


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def handshakes(servers, certs, table):
    cases = [
        ("ec", "1.3", False), ("ec", "1.3", True), ("ec", "1.2", False), ("ec", "1.2", True),
        ("rsa", "1.3", False), ("rsa", "1.3", True), ("rsa", "1.2", False), ("rsa", "1.2", True),
    ]
    rates = {}
    if CASES:
        cases = [c for c in cases
                 if f"{c[0]}/{c[1]}/{'resumed' if c[2] else 'full'}" in CASES]
    for kind, version, resume in cases:
        label = f"server CPU us per {'resumed' if resume else 'full'} handshake, TLS {version}, {'ECDSA' if kind == 'ec' else 'RSA'}"
        per = {name: [] for name in PEERS}
        for rep in range(REPS):
            # Each repetition starts with another server: no one always goes first.
            for name in PEERS[rep % len(PEERS):] + PEERS[:rep % len(PEERS)]:
                extra = [f"--tls{version}"] + (["--resume"] if resume else [])
                result, cpu = bench(servers[(name, kind)], certs, extra)
                n = result["connections"]["ok"] + result["connections"]["failed"]
                if result["connections"]["failed"]:
                    log(f"{name} {label}: {result['connections']['failed']} failed: {result['errors']}")
                if resume and result["connections"]["resumed"] < 0.9 * n:
                    log(f"{name} {label}: only {result['connections']['resumed']} of {n} resumed")
                per[name].append(cpu * 1e6 / max(n, 1))
                if (kind, version, resume) == ("ec", "1.3", False):
                    rates.setdefault(name, []).append(result["connections_per_second"])
        table.append((label, {name: median(v) for name, v in per.items()}, "lower"))
        log(f"{label}: " + ", ".join(f"{n} {median(v):.0f}" for n, v in per.items()))
    table.append(("handshakes/s, TLS 1.3 ECDSA full (client-bound: load on the same 2 cores)",
                  {name: median(v) for name, v in rates.items()}, "higher"))


def bulk(servers, certs, table):
    per = {name: [] for name in PEERS}
    for rep in range(REPS):
        for name in PEERS:
            server = servers[(name, "ec")]
            done = subprocess.run([
                "curl", "-sS", "--http1.1", "-o", "/dev/null", "--max-time", "60",
                "--cacert", f"{certs}/ec/ca.crt", "-w", "%{size_download} %{time_total}",
                f"https://localhost:{server.port}/big"], capture_output=True, text=True)
            size, seconds = (done.stdout.split() + ["0", "0"])[:2]
            if int(size) != BIG:
                log(f"{name}: download of /big got {size} bytes: {done.stderr.strip()}")
                continue
            per[name].append(BIG / float(seconds) / 1e6)
    table.append(("1 GiB download, one connection, curl: MB/s", {n: median(v) for n, v in per.items()}, "higher"))


def hold(port, cafile, count, release):
    """Opens `count` verified TLS connections and keeps them until release() returns."""
    context = ssl.create_default_context(cafile=cafile)
    conns, failed = [], 0
    deadline = time.monotonic() + 180
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            conns.append(context.wrap_socket(raw, server_hostname="localhost"))
        except OSError:
            failed += 1
    try:
        return release(len(conns), failed)
    finally:
        for c in conns:
            c.close()


def idle_kib(name, certs, docroot):
    """RSS, PSS and anonymous memory (KiB) per connection while IDLE connections wait, on
    a server started for this alone: one that served earlier measurements would reuse the
    heap they left and look smaller."""
    cert, key = f"{certs}/ec/server.crt", f"{certs}/ec/server.key"
    port = free_port()
    argv = {
        "tlscat": lambda: tlscat_argv(port, cert, key, docroot),
        "tlscat-b": lambda: tlscat_argv(port, cert, key, docroot, TLSCAT_B),
        "nginx": lambda: nginx_conf(port, cert, key, docroot),
        "floor-tokio": lambda: [FLOOR, "tokio", f"127.0.0.1:{port}", cert, key],
        "floor-epoll": lambda: [FLOOR, "epoll", f"127.0.0.1:{port}", cert, key],
    }[name]()
    server = Server(name, "idle", argv, port)
    try:
        before = server.memory_kib()

        def measure(opened, failed):
            time.sleep(2)
            return opened, failed, server.memory_kib()

        opened, failed, held = hold(port, f"{certs}/ec/ca.crt", IDLE, measure)
    finally:
        server.stop()
    if failed:
        log(f"{name}: {failed} of {IDLE} idle connections failed")
    return [(h - b) / max(opened, 1) for h, b in zip(held, before)]


def idle(certs, docroot, table):
    names = ("tlscat", "nginx") + (("tlscat-b",) if TLSCAT_B else ())
    results = {name: idle_kib(name, certs, docroot) for name in names}
    for index, what in enumerate(("RSS", "PSS", "anonymous")):
        table.append((f"idle memory per connection ({IDLE} connections), KiB {what}",
                      {n: r[index] for n, r in results.items()}, "lower"))


def drain(servers, certs, table):
    """RSS of tlscat before DRAIN idle connections, and after they all closed; twice, since
    the first wave leaves the heap a little larger (see the README) and the second shows
    whether it grows again."""
    server = servers[("tlscat", "ec")]
    start = server.memory_kib()[0]

    def measure(opened, failed):
        time.sleep(1)
        return opened, failed, server.memory_kib()[0]

    ends = []
    for wave in (1, 2):
        opened, failed, held = hold(server.port, f"{certs}/ec/ca.crt", DRAIN, measure)
        time.sleep(6)
        ends.append(server.memory_kib()[0])
        log(f"tlscat, wave {wave}: {opened} idle connections ({failed} failed): RSS {held} KiB "
            f"held, {ends[-1]} after closing them all (start: {start})")
    table.append((f"RSS after {opened} idle connections closed, % of start ({start} KiB)",
                  {"tlscat": ends[0] * 100 / start}, "lower"))
    table.append((f"RSS after {opened} more closed, % of the first wave's end ({ends[0]} KiB)",
                  {"tlscat": ends[1] * 100 / ends[0]}, "lower"))


def s_time(port, cafile, seconds):
    """Four `openssl s_time -new` processes; returns their CPU us per connection."""
    start = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = []
    for _ in range(4):
        out = tempfile.TemporaryFile("w+")
        procs.append((subprocess.Popen(
            ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-tls1_3",
             "-time", str(int(seconds)), "-CAfile", cafile], stdout=out, stderr=subprocess.STDOUT), out))
    connections = 0
    for proc, out in procs:
        proc.wait(timeout=seconds + 60)
        out.seek(0)
        found = re.search(r"(\d+) connections in [\d.]+s", out.read())
        connections += int(found.group(1)) if found else 0
    end = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    return used * 1e6 / max(connections, 1)


def client(servers, certs, table):
    server = servers[("nginx", "ec")]
    mine, theirs = [], []
    for rep in range(REPS):
        result, _ = bench(server, certs, ["--tls1.3"])
        mine.append(result["client_cpu"]["us_per_connection"])
        theirs.append(s_time(server.port, f"{certs}/ec/ca.crt", SECONDS))
    table.append(("load generator CPU us per full TLS 1.3 ECDSA handshake (against nginx): tlscat bench vs s_time",
                  {"tlscat": median(mine), "s_time": median(theirs)}, "lower"))


def floor(servers, certs, docroot, table):
    """Server CPU per handshake of tlscat, the two floor servers and nginx, interleaved;
    then the memory each holds per idle connection."""
    cert, key = f"{certs}/ec/server.crt", f"{certs}/ec/server.key"
    for design in ("tokio", "epoll"):
        port = free_port()
        servers[(f"floor-{design}", "ec")] = Server(
            f"floor-{design}", "ec", [FLOOR, design, f"127.0.0.1:{port}", cert, key], port)
    names = ["tlscat", "floor-tokio", "floor-epoll", "nginx"]
    # TLS 1.2: both servers negotiate the same suite there (see the README).
    for resume in (False, True):
        label = f"server CPU us per {'resumed' if resume else 'full'} handshake, TLS 1.2, ECDSA"
        per = {name: [] for name in names}
        for rep in range(REPS):
            for name in names:
                extra = ["--tls1.2"] + (["--resume"] if resume else [])
                result, cpu = bench(servers[(name, "ec")], certs, extra)
                ok, failed = result["connections"]["ok"], result["connections"]["failed"]
                if not ok:
                    sys.exit(f"bench: {name} served no connection: {result['errors']}")
                if failed:
                    log(f"{name} {label}: {failed} failed: {result['errors']}")
                per[name].append(cpu * 1e6 / ok)
        table.append((label, {name: median(v) for name, v in per.items()}))
    # Anonymous memory: what the connections themselves hold, not the shared libraries.
    table.append((f"idle memory per connection ({IDLE} connections), KiB anonymous",
                  {name: idle_kib(name, certs, docroot)[2] for name in names}))


def nginx_plain_conf(port, docroot):
    """nginx as a tunnel's plain backend: HTTP on 127.0.0.1, connections kept open long."""
    return nginx_argv(f"nginx-plain-{port}", f"""
  sendfile on; tcp_nodelay on; client_header_timeout 600s; keepalive_timeout 600s;
  server {{ listen 127.0.0.1:{port}; root {docroot}; }}""")


def tunnel_fronts(certs, backend_port):
    """TLS-terminating tunnels in front of the plain backend: tlscat, HAProxy, stunnel."""
    cert, key = f"{certs}/ec/server.crt", f"{certs}/ec/server.key"
    pem = os.path.join(WORK, "haproxy.pem")
    with open(pem, "w") as f:
        f.write(open(cert).read() + open(key).read())
    fronts = {}
    port = free_port()
    fronts["tlscat"] = Server("tlscat", "tunnel", [
        TLSCAT, "server", "--listen", f"127.0.0.1:{port}", "--cert", cert, "--key", key,
        "--forward", f"127.0.0.1:{backend_port}", "--quiet", "--max-conns", "10000"], port)
    if TLSCAT_B:
        port = free_port()
        fronts["tlscat-b"] = Server("tlscat-b", "tunnel", [
            TLSCAT_B, "server", "--listen", f"127.0.0.1:{port}", "--cert", cert, "--key", key,
            "--forward", f"127.0.0.1:{backend_port}", "--quiet", "--max-conns", "10000"], port)
    port = free_port()
    haproxy_cfg = os.path.join(WORK, "haproxy.cfg")
    with open(haproxy_cfg, "w") as f:
        f.write(f"""global
  maxconn 9000
  nbthread 2
defaults
  mode tcp
  timeout connect 5s
  timeout client 600s
  timeout server 600s
frontend tls
  bind 127.0.0.1:{port} ssl crt {pem}
  maxconn 9000
  default_backend plain
backend plain
  server backend 127.0.0.1:{backend_port}
""")
    fronts["haproxy"] = Server("haproxy", "tunnel", ["haproxy", "-db", "-f", haproxy_cfg], port)
    port = free_port()
    stunnel_cfg = os.path.join(WORK, "stunnel.conf")
    with open(stunnel_cfg, "w") as f:
        f.write(f"""foreground = yes
pid =
[tunnel]
accept = 127.0.0.1:{port}
connect = 127.0.0.1:{backend_port}
cert = {cert}
key = {key}
TIMEOUTidle = 600
""")
    fronts["stunnel"] = Server("stunnel", "tunnel", ["stunnel4", stunnel_cfg], port)
    return fronts


def tunnels(certs, docroot, table):
    """tlscat --forward against HAProxy and stunnel, each terminating TLS in front of the
    same plain nginx: server CPU per connection, bulk speed, added latency, idle memory."""
    backend_port = free_port()
    backend = Server("nginx", "plain", nginx_plain_conf(backend_port, docroot), backend_port)
    fronts = tunnel_fronts(certs, backend_port)
    names = list(fronts)
    request = "GET /tiny HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n"
    try:
        per = {name: [] for name in names}
        for rep in range(REPS):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                result, cpu = bench(fronts[name], certs,
                                    ["--tls1.3", "--mode", "request", "--request", request],
                                    kind="ec")
                n = result["connections"]["ok"] + result["connections"]["failed"]
                if result["connections"]["failed"]:
                    log(f"{name} tunnel: {result['connections']['failed']} failed: {result['errors']}")
                per[name].append(cpu * 1e6 / max(n, 1))
        table.append(("tunnel: server CPU us per connection (TLS 1.3 ECDSA full handshake + "
                      "one request through to the backend)", {n: median(v) for n, v in per.items()}))
        log("tunnel CPU: " + ", ".join(f"{n} {median(v):.0f}" for n, v in per.items()))

        speeds = {name: [] for name in names + ["direct"]}
        for rep in range(REPS):
            for name in names + ["direct"]:
                if name == "direct":
                    url, ca = f"http://127.0.0.1:{backend_port}/big", None
                else:
                    url, ca = f"https://localhost:{fronts[name].port}/big", f"{certs}/ec/ca.crt"
                argv = ["curl", "-sS", "--http1.1", "-o", "/dev/null", "--max-time", "60",
                        "-w", "%{size_download} %{time_total}", url]
                if ca:
                    argv[1:1] = ["--cacert", ca]
                done = subprocess.run(argv, capture_output=True, text=True)
                size, seconds = (done.stdout.split() + ["0", "0"])[:2]
                if int(size) == BIG:
                    speeds[name].append(BIG / float(seconds) / 1e6)
                else:
                    log(f"{name}: 1 GiB through the tunnel got {size} bytes: {done.stderr.strip()}")
        table.append(("tunnel: 1 GiB download through it, one connection, curl: MB/s "
                      "(direct: plain, no tunnel: the loopback ceiling)",
                      {n: median(v) for n, v in speeds.items()}))

        # Latency of a small request (tlscat bench, one connection at a time: from the
        # request sent to the first byte back), through each tunnel and "direct": nginx
        # terminating TLS itself, so the difference is the tunnel's hop alone.
        cert, key = f"{certs}/ec/server.crt", f"{certs}/ec/server.key"
        direct_port = free_port()
        direct = Server("nginx", "direct", nginx_conf(direct_port, cert, key, docroot), direct_port)
        targets = dict(fronts, direct=direct)
        count = max(50, int(SECONDS * 75))
        p50s, p99s = {name: [] for name in targets}, {name: [] for name in targets}
        try:
            for rep in range(REPS):
                order = list(targets)
                for name in order[rep % len(order):] + order[:rep % len(order)]:
                    result, _ = bench(targets[name], certs,
                                      ["--tls1.3", "--mode", "request", "--request", request,
                                       "-c", "1", "-n", str(count)], kind="ec")
                    p50s[name].append(result["response_ms"]["p50"] * 1e3)
                    p99s[name].append(result["response_ms"]["p99"] * 1e3)
        finally:
            direct.stop()
        p50, p99 = ({n: median(v) for n, v in p.items()} for p in (p50s, p99s))
        table.append((f"tunnel: request latency p50, us (tlscat bench, {count} connections one at "
                      "a time: request sent to first byte back; direct: nginx's own TLS)", p50))
        table.append(("tunnel: request latency p99, us", p99))
        for label, values in (("p50", p50), ("p99", p99)):
            table.append((f"tunnel: added latency {label}, us (minus direct)",
                          {n: v - values["direct"] for n, v in values.items() if n != "direct"}))
    finally:
        for front in fronts.values():
            front.stop()

    # Idle tunnels, each front started for this alone (see idle_kib).
    idle = {}
    for name in names:
        fronts = tunnel_fronts(certs, backend_port)
        for other, front in fronts.items():
            if other != name:
                front.stop()
        front = fronts[name]
        try:
            before = front.memory_kib()

            def measure(opened, failed):
                time.sleep(2)
                return opened, failed, front.memory_kib()

            opened, failed, held = hold(front.port, f"{certs}/ec/ca.crt", IDLE, measure)
            if failed:
                log(f"{name}: {failed} of {IDLE} idle tunnels failed")
            idle[name] = [(h - b) / max(opened, 1) for h, b in zip(held, before)]
        finally:
            front.stop()
    backend.stop()
    for index, what in enumerate(("RSS", "PSS", "anonymous")):
        table.append((f"tunnel: idle memory per tunnel ({IDLE}: TLS side + backend side), KiB {what}",
                      {n: r[index] for n, r in idle.items()}))


def show_tunnels(table):
    names = ["tlscat", "haproxy", "stunnel"] + (["tlscat-b"] if TLSCAT_B else []) + ["direct"]
    print("| measurement | " + " | ".join(names) + " | tlscat / HAProxy |")
    print("|---|" + "---:|" * (len(names) + 1))
    for label, values in table:
        cells = " | ".join("-" if values.get(n) is None else amount(values[n]) for n in names)
        ratio = "-"
        if values.get("tlscat") and values.get("haproxy"):
            ratio = f"{values['tlscat'] / values['haproxy']:.2f}"
        print(f"| {label} | {cells} | {ratio} |")


def show_floor(table):
    print("| measurement | tlscat | floor: tokio | floor: epoll | nginx | tlscat / tokio floor "
          "| tokio floor / nginx | epoll floor / nginx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, v in table:
        cells = " | ".join(amount(v[name]) for name in ("tlscat", "floor-tokio", "floor-epoll", "nginx"))
        print(f"| {label} | {cells} | {v['tlscat'] / v['floor-tokio']:.2f} "
              f"| {v['floor-tokio'] / v['nginx']:.2f} | {v['floor-epoll'] / v['nginx']:.2f} |")


def amount(value):
    """A table cell: one decimal below 100 (KiB), none above (microseconds, MB/s)."""
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def show(table):
    if TLSCAT_B:
        show_ab(table)
        return
    print("| measurement | tlscat | nginx | openssl s_server | tlscat / nginx |")
    print("|---|---:|---:|---:|---:|")
    for label, values, better in table:
        def cell(name):
            v = values.get(name)
            return "-" if v is None else amount(v)
        if "s_time" in values:
            ratio = values["tlscat"] / values["s_time"]
            print(f"| {label} | {cell('tlscat')} | s_time {cell('s_time')} | | {ratio:.2f} (vs s_time) |")
            continue
        ratio = "-"
        if values.get("tlscat") and values.get("nginx"):
            ratio = f"{values['tlscat'] / values['nginx']:.2f}"
        print(f"| {label} | {cell('tlscat')} | {cell('nginx')} | {cell('s_server')} | {ratio} |")


def show_ab(table):
    """The A/B table: tlscat (A) next to tlscat B, with nginx for scale."""
    print(f"A: {TLSCAT}, B: {TLSCAT_B}")
    print("| measurement | tlscat A | tlscat B | A / B | nginx |")
    print("|---|---:|---:|---:|---:|")
    for label, values, better in table:
        a, b = values.get("tlscat"), values.get("tlscat-b")
        if a is None or b is None:
            continue
        nginx = values.get("nginx")
        print(f"| {label} | {amount(a)} | {amount(b)} | {a / b:.3f} | "
              f"{'-' if nginx is None else amount(nginx)} |")


def main():
    global WORK
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the finally below stops every server.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, _: sys.exit(128 + signum))
    WORK = tempfile.mkdtemp(prefix="tlscat-bench.")
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    docroot = tempfile.mkdtemp(prefix="tlscat-bench.", dir="/dev/shm")
    servers = {}
    try:
        certs = os.path.join(WORK, "certs")
        for kind, flags in (("ec", []), ("rsa", ["--rsa"])):
            subprocess.run([os.path.join(HERE, "gen-certs.sh"), "--out", f"{certs}/{kind}"] + flags,
                           check=True, stdout=subprocess.DEVNULL)
        with open(f"{docroot}/tiny", "w") as f:
            f.write("ok\n")
        with open(f"{docroot}/big", "wb") as f:
            block = bytes(range(256)) * 4096
            for _ in range(BIG // len(block)):
                f.write(block)
        os.chmod(docroot, 0o755)
        servers = start_servers(certs, docroot)
        log(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"{subprocess.run(['openssl', 'version'], capture_output=True, text=True).stdout.strip()}, "
            f"{SECONDS:.0f} s per measurement, {REPS} reps, load: tlscat bench -c {CONCURRENCY}")
        table = []
        if section("handshakes"):
            handshakes(servers, certs, table)
        if section("bulk"):
            bulk(servers, certs, table)
        if section("idle"):
            idle(certs, docroot, table)
        if section("client"):
            client(servers, certs, table)
        if section("drain"):
            drain(servers, certs, table)
        floors = []
        if section("floor"):
            floor(servers, certs, docroot, floors)
        tunnel_table = []
        if section("tunnel"):
            tunnels(certs, docroot, tunnel_table)
        for shown, printer in ((table, show), (floors, show_floor), (tunnel_table, show_tunnels)):
            if shown:
                printer(shown)
                print()
    finally:
        for server in STARTED:
            server.stop()
        shutil.rmtree(docroot, ignore_errors=True)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
