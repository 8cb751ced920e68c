//! Round-trip times through a `reflect` peer, in an HDR histogram
//! (nanoseconds, 3 significant digits, 1 ns to 60 s).

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest round trip recorded (longer ones are clamped).
const MAX_NS: u64 = 60_000_000_000;

/// Percentiles the CDF in the JSON report carries.
fn cdf_points() -> Vec<f64> {
    let mut v: Vec<f64> = (0..100).map(|p| p as f64).collect();
    v.extend((1..10).map(|i| 99.0 + i as f64 / 10.0));
    v.extend([99.95, 99.99, 99.999, 100.0]);
    v
}

/// One lane's (or a merged) latency record.
pub struct Latency {
    hist: Histogram<u64>,
    /// TSC ticks to nanoseconds.
    ns_per_tick: f64,
}

impl Latency {
    pub fn new(tsc_hz: u64) -> Latency {
        Latency {
            hist: Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds"),
            ns_per_tick: 1e9 / tsc_hz.max(1) as f64,
        }
    }

    /// Records a round trip of `ticks` TSC ticks.
    #[inline]
    pub fn record_ticks(&mut self, ticks: u64) {
        let ns = ((ticks as f64 * self.ns_per_tick) as u64).clamp(1, MAX_NS);
        self.hist.saturating_record(ns);
    }

    pub fn record_ns(&mut self, ns: u64) {
        self.hist.saturating_record(ns.clamp(1, MAX_NS));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        let h = &self.hist;
        if h.is_empty() {
            return None;
        }
        let q = |p: f64| h.value_at_quantile(p / 100.0);
        Some(LatencySummary {
            count: h.len(),
            min_ns: h.min(),
            p50_ns: q(50.0),
            p90_ns: q(90.0),
            p99_ns: q(99.0),
            p999_ns: q(99.9),
            max_ns: h.max(),
            mean_ns: h.mean(),
            cdf: cdf_points().into_iter().map(|p| (p, if p >= 100.0 { h.max() } else { q(p) })).collect(),
        })
    }
}

/// What the report says about latency.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    pub mean_ns: f64,
    /// (percentile, nanoseconds) pairs from 0 to 100: the CDF.
    pub cdf: Vec<(f64, u64)>,
}

/// `1.23 us`, `850 ns`, `2.1 ms`.
pub fn ns_text(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=999_999 => format!("{:.1} us", ns as f64 / 1e3),
        _ => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_close() {
        let mut l = Latency::new(1_000_000_000); // 1 tick = 1 ns
        for v in 1..=10_000u64 {
            l.record_ticks(v * 100); // 100 ns .. 1 ms, uniform
        }
        let s = l.summary().unwrap();
        assert_eq!(s.count, 10_000);
        assert_eq!(s.min_ns, 100);
        assert!(
            s.min_ns <= s.p50_ns
                && s.p50_ns <= s.p90_ns
                && s.p90_ns <= s.p99_ns
                && s.p99_ns <= s.p999_ns
                && s.p999_ns <= s.max_ns
        );
        let near = |got: u64, want: f64| (got as f64 - want).abs() / want < 0.01;
        assert!(near(s.p50_ns, 500_000.0), "{}", s.p50_ns);
        assert!(near(s.p99_ns, 990_000.0), "{}", s.p99_ns);
        assert!(near(s.max_ns, 1_000_000.0), "{}", s.max_ns);
        assert!(s.cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(s.cdf.last().unwrap(), &(100.0, s.max_ns));
    }

    #[test]
    fn merging_and_empty() {
        let mut a = Latency::new(2_000_000_000); // 2 ticks per ns
        assert!(a.summary().is_none());
        a.record_ticks(2_000);
        let mut b = Latency::new(2_000_000_000);
        b.record_ns(5_000);
        a.merge(&b);
        let s = a.summary().unwrap();
        assert_eq!((s.count, s.min_ns), (2, 1_000));
        assert!((4_990..=5_010).contains(&s.max_ns));
        assert_eq!(ns_text(850), "850 ns");
        assert_eq!(ns_text(12_345), "12.3 us");
        assert_eq!(ns_text(2_100_000), "2.10 ms");
    }
}
