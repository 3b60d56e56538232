//! Latencies in microseconds, kept to about 1.5 % in 64 buckets per power of two: a fixed
//! small cost per value, whatever the count, and histograms of several tasks add up.

use std::time::Duration;

/// Values below this are counted exactly.
const EXACT: u64 = 64;
const SUB_BITS: u32 = EXACT.trailing_zeros();

/// A latency histogram.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_micros: u128,
    max_micros: u64,
}

fn index(micros: u64) -> usize {
    if micros < EXACT {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros();
    let shift = exponent - SUB_BITS;
    let mantissa = micros >> shift;
    (EXACT + u64::from(shift) * EXACT + (mantissa - EXACT)) as usize
}

/// The middle of a bucket's range.
fn value(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT {
        return index;
    }
    let shift = (index - EXACT) / EXACT;
    let mantissa = EXACT + (index - EXACT) % EXACT;
    let low = mantissa << shift;
    low + ((1u64 << shift) - 1) / 2
}

impl Histogram {
    /// Counts one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let at = index(micros);
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += 1;
        self.total += 1;
        self.sum_micros += u128::from(micros);
        self.max_micros = self.max_micros.max(micros);
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum_micros += other.sum_micros;
        self.max_micros = self.max_micros.max(other.max_micros);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latency below which `percent` of the values lie (0 when empty).
    pub fn percentile(&self, percent: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((percent / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (at, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_micros(value(at).min(self.max_micros));
            }
        }
        self.max()
    }

    /// The largest latency, exactly.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_micros)
    }

    /// The mean latency.
    pub fn mean(&self) -> Duration {
        match self.total {
            0 => Duration::ZERO,
            n => Duration::from_micros((self.sum_micros / u128::from(n)) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_when_small_and_within_two_percent_above() {
        for micros in [0, 1, 63, 64, 65, 100, 1_000, 12_345, 999_999, 3_600_000_000] {
            let back = value(index(micros));
            let error = back.abs_diff(micros) as f64 / micros.max(1) as f64;
            assert!(error < 0.02, "{micros} came back as {back}");
        }
        let mut last = 0;
        for micros in 0..100_000 {
            let at = index(micros);
            assert!(at >= last, "indexes grow with the value");
            last = at;
        }
    }

    #[test]
    fn percentiles_of_a_known_spread() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        assert!((ms(h.percentile(50.0)) - 50.0).abs() < 1.0);
        assert!((ms(h.percentile(90.0)) - 90.0).abs() < 1.5);
        assert!((ms(h.percentile(99.0)) - 99.0).abs() < 1.5);
        assert_eq!(h.max(), Duration::from_millis(100));
        assert!((ms(h.mean()) - 50.5).abs() < 0.01);
        assert_eq!(Histogram::default().percentile(50.0), Duration::ZERO);
    }

    #[test]
    fn merged_histograms_count_everything() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_secs(2));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.max(), Duration::from_secs(2));
        assert_eq!(a.percentile(50.0), Duration::from_micros(10));
    }
}
