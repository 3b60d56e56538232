//! What a run measured, added up from every task's tally, as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::histogram::Histogram;
use crate::error::Error;

/// What the run measured.
#[derive(Debug, Default)]
pub struct Summary {
    /// `host:port` as given, and the address used.
    pub target: String,
    pub address: String,
    pub mode: &'static str,
    pub resume: bool,
    pub concurrency: usize,
    /// From the first connection to the end of the last.
    pub elapsed: Duration,
    pub ok: u64,
    pub failed: u64,
    pub resumed: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// TCP connect and TLS handshake latency of the successful connections.
    pub connect: Histogram,
    pub handshake: Histogram,
    /// From the request sent to the first byte of the answer (request and download
    /// modes): what a proxy or tunnel in the path adds shows here.
    pub response: Histogram,
    /// Connections by negotiated (version, cipher suite).
    pub negotiated: BTreeMap<(&'static str, &'static str), u64>,
    /// Failures by kind: how many, and the first one.
    pub errors: BTreeMap<&'static str, (u64, Error)>,
    /// CPU time of this process (user, system) over the run.
    pub cpu_user: Duration,
    pub cpu_system: Duration,
    pub cores: usize,
}

/// One task's tally.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) ok: u64,
    pub(super) failed: u64,
    pub(super) resumed: u64,
    pub(super) bytes_sent: u64,
    pub(super) bytes_received: u64,
    pub(super) connect: Histogram,
    pub(super) handshake: Histogram,
    pub(super) response: Histogram,
    pub(super) negotiated: BTreeMap<(&'static str, &'static str), u64>,
    pub(super) errors: BTreeMap<&'static str, (u64, Error)>,
}

/// `12345678` as `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

impl Summary {
    /// Adds one task's tally.
    pub(super) fn add(&mut self, stats: Stats) {
        self.ok += stats.ok;
        self.failed += stats.failed;
        self.resumed += stats.resumed;
        self.bytes_sent += stats.bytes_sent;
        self.bytes_received += stats.bytes_received;
        self.connect.merge(&stats.connect);
        self.handshake.merge(&stats.handshake);
        self.response.merge(&stats.response);
        for (key, count) in stats.negotiated {
            *self.negotiated.entry(key).or_default() += count;
        }
        for (kind, (count, first)) in stats.errors {
            self.errors.entry(kind).or_insert((0, first)).0 += count;
        }
    }

    /// Successful connections per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// CPU microseconds this process spent per connection (successful or not).
    pub fn cpu_per_connection(&self) -> f64 {
        let connections = (self.ok + self.failed).max(1);
        (self.cpu_user + self.cpu_system).as_secs_f64() * 1e6 / connections as f64
    }

    /// Megabytes (10^6 bytes) per second.
    fn megabytes_per_second(&self, bytes: u64) -> f64 {
        bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `None` when every connection succeeded; else the first error of the most frequent
    /// kind (its exit code says what failed).
    pub fn most_frequent_error(&self) -> Option<&Error> {
        self.errors
            .values()
            .max_by_key(|(count, _)| *count)
            .map(|(_, first)| first)
    }

    /// The process exit code the run deserves: 0, or that of the most frequent error.
    pub fn exit_code(&self) -> u8 {
        self.most_frequent_error().map_or(0, Error::exit_code)
    }

    /// The summary as one JSON object.
    pub fn to_json(&self) -> String {
        let latency = |h: &Histogram| {
            let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
            serde_json::json!({
                "p50": ms(h.percentile(50.0)),
                "p90": ms(h.percentile(90.0)),
                "p99": ms(h.percentile(99.0)),
                "max": ms(h.max()),
                "mean": ms(h.mean()),
            })
        };
        let negotiated: Vec<_> = self
            .negotiated
            .iter()
            .map(|((version, cipher), count)| {
                serde_json::json!({"version": version, "cipher": cipher, "connections": count})
            })
            .collect();
        let errors: serde_json::Map<String, serde_json::Value> = self
            .errors
            .iter()
            .map(|(kind, (count, first))| {
                (
                    kind.to_string(),
                    serde_json::json!({"count": count, "first": first.to_string()}),
                )
            })
            .collect();
        serde_json::json!({
            "type": "bench",
            "exit_code": self.exit_code(),
            "target": self.target,
            "address": self.address,
            "mode": self.mode,
            "resume": self.resume,
            "concurrency": self.concurrency,
            "seconds": self.elapsed.as_secs_f64(),
            "connections": {"ok": self.ok, "failed": self.failed, "resumed": self.resumed},
            "connections_per_second": self.rate(),
            "handshake_ms": latency(&self.handshake),
            "connect_ms": latency(&self.connect),
            "response_ms": (self.response.count() > 0).then(|| latency(&self.response)),
            "bytes": {"sent": self.bytes_sent, "received": self.bytes_received},
            "megabytes_per_second": {
                "sent": self.megabytes_per_second(self.bytes_sent),
                "received": self.megabytes_per_second(self.bytes_received),
            },
            "client_cpu": {
                "user_seconds": self.cpu_user.as_secs_f64(),
                "system_seconds": self.cpu_system.as_secs_f64(),
                "us_per_connection": self.cpu_per_connection(),
                "cores": self.cores,
            },
            "negotiated": negotiated,
            "errors": errors,
        })
        .to_string()
    }

    /// The summary in words.
    pub fn to_text(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "tlscat bench: {}{} against {} ({}), {} at a time, {:.3} s",
            self.mode,
            if self.resume { ", resuming" } else { "" },
            self.target,
            self.address,
            self.concurrency,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  connections  {} ok ({} resumed), {} failed: {:.0}/s",
            thousands(self.ok),
            thousands(self.resumed),
            thousands(self.failed),
            self.rate()
        );
        let h = &self.handshake;
        let _ = writeln!(
            out,
            "  handshake    p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(h.percentile(50.0)),
            ms(h.percentile(90.0)),
            ms(h.percentile(99.0)),
            ms(h.max())
        );
        let _ = writeln!(
            out,
            "  connect      p50 {:.2} ms, p99 {:.2} ms",
            ms(self.connect.percentile(50.0)),
            ms(self.connect.percentile(99.0))
        );
        if self.response.count() > 0 {
            let r = &self.response;
            let _ = writeln!(
                out,
                "  response     p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms (request sent to first byte back)",
                ms(r.percentile(50.0)),
                ms(r.percentile(90.0)),
                ms(r.percentile(99.0))
            );
        }
        if self.bytes_sent + self.bytes_received > 0 {
            let _ = writeln!(
                out,
                "  data         sent {} bytes ({:.1} MB/s), received {} bytes ({:.1} MB/s)",
                thousands(self.bytes_sent),
                self.megabytes_per_second(self.bytes_sent),
                thousands(self.bytes_received),
                self.megabytes_per_second(self.bytes_received)
            );
        }
        for ((version, cipher), count) in &self.negotiated {
            let _ = writeln!(
                out,
                "  negotiated   {version} {cipher}: {}",
                thousands(*count)
            );
        }
        let cpu = self.cpu_user + self.cpu_system;
        let _ = writeln!(
            out,
            "  client CPU   {:.0} us per connection (user {:.2} s, system {:.2} s: {:.0}% of {} cores)",
            self.cpu_per_connection(),
            self.cpu_user.as_secs_f64(),
            self.cpu_system.as_secs_f64(),
            cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9) * 100.0 / self.cores as f64,
            self.cores
        );
        for (kind, (count, first)) in &self.errors {
            let _ = writeln!(
                out,
                "  failed       {kind}: {} (first: {first})",
                thousands(*count)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
