//! Per-path pacing: spreads a window over the RTT so one path's burst does not overflow
//! a switch or NIC queue, and so paths of different speeds interleave smoothly.
//!
//! Token bucket in bytes, refilled at `gain * window / srtt`; the bucket holds at most
//! [`Pacer::BURST_CHUNKS`] chunks so a driver that polls late can still send a burst
//! (DPDK sends in bursts of 32).

use crate::time::{Duration, Instant};

/// Token-bucket pacer.
#[derive(Debug, Clone)]
pub struct Pacer {
    tokens: u64,
    capacity: u64,
    last: Instant,
    rate_bytes_per_sec: u64,
}

impl Pacer {
    /// Bucket size in chunks.
    pub const BURST_CHUNKS: u64 = 8;

    /// A full bucket for chunks of `mss` bytes.
    pub fn new(mss: u64) -> Self {
        let capacity = mss * Self::BURST_CHUNKS;
        Pacer { tokens: capacity, capacity, last: Instant::ZERO, rate_bytes_per_sec: u64::MAX }
    }

    /// Sets the rate from the window, the smoothed RTT and a gain in percent.
    pub fn set_rate(&mut self, window: u64, srtt: Duration, gain_percent: u64) {
        let us = srtt.total_micros().max(1) as u128;
        let rate = window as u128 * gain_percent as u128 * 10_000 / us;
        self.rate_bytes_per_sec = rate.min(u64::MAX as u128) as u64;
    }

    /// Sets the rate directly, bytes per second (a model-based controller's pacing rate).
    pub fn set_bytes_per_sec(&mut self, rate: u64) {
        self.rate_bytes_per_sec = rate.max(1);
    }

    /// Current rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate_bytes_per_sec
    }

    #[inline]
    fn refill(&mut self, now: Instant) {
        if now > self.last {
            let us = (now - self.last).total_micros();
            self.last = now;
            // u64 only (u128 division costs tens of ns per packet); overflow means "full".
            let add = match us.checked_mul(self.rate_bytes_per_sec) {
                Some(x) => x / 1_000_000,
                None => u64::MAX,
            };
            self.tokens = self.tokens.saturating_add(add).min(self.capacity);
        }
    }

    /// `None` if `bytes` may be sent now, else when they may.
    pub fn delay(&mut self, now: Instant, bytes: u64) -> Option<Instant> {
        self.refill(now);
        if self.tokens >= bytes || self.rate_bytes_per_sec == u64::MAX {
            return None;
        }
        let missing = (bytes - self.tokens) as u128;
        let us = (missing * 1_000_000).div_ceil(self.rate_bytes_per_sec.max(1) as u128);
        Some(now + Duration::from_micros(us.min(u64::MAX as u128) as u64))
    }

    /// Takes tokens for a packet that was sent.
    pub fn on_sent(&mut self, now: Instant, bytes: u64) {
        self.refill(now);
        self.tokens = self.tokens.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_after_burst() {
        let mut p = Pacer::new(1000);
        // 100 kB window over 1 ms at 100%: 100 MB/s = 100 bytes/µs.
        p.set_rate(100_000, Duration::from_millis(1), 100);
        assert_eq!(p.rate(), 100_000_000);
        let t = Instant::from_millis(1);
        for _ in 0..8 {
            assert_eq!(p.delay(t, 1000), None);
            p.on_sent(t, 1000);
        }
        assert_eq!(p.delay(t, 1000), Some(t + Duration::from_micros(10)));
        assert_eq!(p.delay(t + Duration::from_micros(10), 1000), None);
    }
}
