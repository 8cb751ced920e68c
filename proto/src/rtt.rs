//! Per-path round-trip time estimation, after RFC 9002 §5.

use crate::time::{Duration, Instant};

/// Smoothed, minimum and variance RTT of one path, plus the minimum over the current
/// round (used by congestion control to tell a building queue from random loss).
#[derive(Debug, Clone, Copy)]
pub struct RttEstimator {
    latest: Duration,
    smoothed: Duration,
    var: Duration,
    min: Duration,
    has_sample: bool,
    round_min: Duration,
    round_end: Instant,
    prev_round_min: Duration,
}

impl RttEstimator {
    /// Starts from `initial` (used until the first sample).
    pub fn new(initial: Duration) -> Self {
        RttEstimator {
            latest: initial,
            smoothed: initial,
            var: Duration::from_micros(initial.total_micros() / 2),
            min: initial,
            has_sample: false,
            round_min: Duration::MAX,
            round_end: Instant::ZERO,
            prev_round_min: Duration::MAX,
        }
    }

    /// Feeds a sample: `rtt` measured from send to ACK receipt, `ack_delay` as reported
    /// by the peer (only subtracted if that keeps the sample above the minimum, as RFC
    /// 9002 §5.3 says).
    pub fn update(&mut self, now: Instant, rtt: Duration, ack_delay: Duration) {
        self.latest = rtt;
        if !self.has_sample {
            self.has_sample = true;
            self.min = rtt;
            self.smoothed = rtt;
            self.var = Duration::from_micros(rtt.total_micros() / 2);
        } else {
            self.min = self.min.min(rtt);
            let adjusted = if rtt >= self.min + ack_delay { rtt - ack_delay } else { rtt };
            let s = self.smoothed.total_micros();
            let a = adjusted.total_micros();
            let diff = s.abs_diff(a);
            self.var = Duration::from_micros((3 * self.var.total_micros() + diff) / 4);
            self.smoothed = Duration::from_micros((7 * s + a) / 8);
        }
        // The round minimum uses the delay-adjusted sample: a receiver that batches ACKs
        // must not look like a queue to congestion control.
        let adjusted = if rtt >= self.min + ack_delay { rtt - ack_delay } else { self.min.max(rtt.min(self.min)) };
        if now >= self.round_end {
            self.prev_round_min = self.round_min;
            self.round_min = adjusted;
            self.round_end = now + self.smoothed;
        } else {
            self.round_min = self.round_min.min(adjusted);
        }
    }

    /// Whether any sample was taken.
    pub fn has_sample(&self) -> bool {
        self.has_sample
    }

    /// Latest sample.
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// Smoothed RTT.
    pub fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// RTT variation.
    pub fn var(&self) -> Duration {
        self.var
    }

    /// Minimum RTT seen.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The smallest sample of the recent round(s): a persistent queue raises it, jitter
    /// does not (one un-jittered packet per round brings it back down).
    pub fn recent_min(&self) -> Duration {
        self.round_min.min(self.prev_round_min).min(self.smoothed.max(self.latest))
    }

    /// Probe timeout base, RFC 9002 §6.2.1: `smoothed + max(4 var, granularity) + max_ack_delay`.
    pub fn pto_base(&self, granularity: Duration, max_ack_delay: Duration) -> Duration {
        self.smoothed + self.var.saturating_mul(4).max(granularity) + max_ack_delay
    }

    /// Forgets everything but the minimum, e.g. after a path came back up.
    pub fn reset(&mut self, initial: Duration) {
        *self = RttEstimator::new(initial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc9002() {
        let mut r = RttEstimator::new(Duration::from_millis(10));
        let t = Instant::ZERO;
        r.update(t, Duration::from_micros(1000), Duration::ZERO);
        assert_eq!(r.smoothed().total_micros(), 1000);
        assert_eq!(r.var().total_micros(), 500);
        r.update(t, Duration::from_micros(1800), Duration::from_micros(400));
        // adjusted 1400: smoothed = (7*1000+1400)/8 = 1050, var = (3*500 + 400)/4 = 475
        assert_eq!(r.smoothed().total_micros(), 1050);
        assert_eq!(r.var().total_micros(), 475);
        assert_eq!(r.min().total_micros(), 1000);
        // ack delay not subtracted below min
        r.update(t, Duration::from_micros(1100), Duration::from_micros(400));
        assert_eq!(r.min().total_micros(), 1000);
        assert_eq!(r.latest().total_micros(), 1100);
        assert_eq!(
            r.pto_base(Duration::from_micros(100), Duration::from_micros(200)),
            r.smoothed() + r.var().saturating_mul(4) + Duration::from_micros(200)
        );
    }
}
