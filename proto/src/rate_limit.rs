//! A session-wide cap on the payload rate (`--rate`), shared by every path on every
//! lane, so a migration can stay within its share of a fabric.
//!
//! It is a GCRA (the virtual-scheduling form of a token bucket) on one atomic: the
//! "theoretical arrival time" of the next byte, in nanoseconds. A path that wants to
//! send `n` bytes moves it forward by `n / rate`; while it runs more than the burst
//! tolerance ahead of now, the cap says when to come back. Each path's own pacer and
//! congestion window still apply underneath, so the cap shares out the session rate
//! among the paths in proportion to what each can take.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::{Duration, Instant};

/// A rate cap in payload bytes per second.
#[derive(Debug)]
pub struct RateLimit {
    bytes_per_sec: u64,
    /// How far ahead of now the schedule may run: the burst, in nanoseconds.
    tolerance_ns: u64,
    /// When the cap next allows a byte (nanoseconds of the protocol clock).
    next_ns: AtomicU64,
}

impl RateLimit {
    /// The burst the cap lets through at once: this long at the capped rate...
    pub const BURST: Duration = Duration::from_millis(1);
    /// ...but at least this many bytes, so a low cap still sends whole bursts of chunks.
    pub const MIN_BURST_BYTES: u64 = 64 * 1024;

    /// A cap of `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> Self {
        let bytes_per_sec = bytes_per_sec.max(1);
        let burst_bytes = (bytes_per_sec as u128 * Self::BURST.total_micros() as u128 / 1_000_000) as u64;
        let tolerance_ns = Self::cost_ns(burst_bytes.max(Self::MIN_BURST_BYTES), bytes_per_sec);
        RateLimit { bytes_per_sec, tolerance_ns, next_ns: AtomicU64::new(0) }
    }

    /// The cap, in payload bytes per second.
    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    fn cost_ns(bytes: u64, bytes_per_sec: u64) -> u64 {
        (bytes as u128 * 1_000_000_000 / bytes_per_sec as u128).min(u64::MAX as u128) as u64
    }

    /// Takes `bytes` at `now` if the cap allows them: `Ok`, or `Err(when)` to retry.
    pub fn reserve(&self, now: Instant, bytes: u64) -> Result<(), Instant> {
        let now_ns = now.total_micros().saturating_mul(1000);
        let cost = Self::cost_ns(bytes, self.bytes_per_sec);
        let mut next = self.next_ns.load(Ordering::Relaxed);
        loop {
            if next > now_ns.saturating_add(self.tolerance_ns) {
                let wait_ns = next - now_ns - self.tolerance_ns;
                return Err(now + Duration::from_micros(wait_ns.div_ceil(1000)));
            }
            let new = next.max(now_ns).saturating_add(cost);
            match self.next_ns.compare_exchange_weak(next, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(seen) => next = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `chunk`-byte pieces as fast as the cap allows for `secs`; returns the bytes.
    fn drive(cap: &RateLimit, chunk: u64, secs: u64) -> u64 {
        let mut now = Instant::ZERO;
        let end = Instant::from_secs(secs);
        let mut sent = 0;
        while now < end {
            match cap.reserve(now, chunk) {
                Ok(()) => sent += chunk,
                Err(at) => {
                    assert!(at > now, "a retry time in the future");
                    now = at;
                }
            }
        }
        sent
    }

    #[test]
    fn holds_the_rate_within_one_burst() {
        for (rate, chunk) in [(12_500_000u64, 1424u64), (500_000_000, 8924), (1_000, 1424)] {
            let cap = RateLimit::new(rate);
            let sent = drive(&cap, chunk, 4);
            let want = rate * 4;
            let slack = RateLimit::MIN_BURST_BYTES.max(rate / 1000) + 2 * chunk;
            assert!(sent <= want + slack && sent + slack >= want, "rate {rate}: sent {sent}, want {want} +- {slack}");
        }
    }

    #[test]
    fn an_idle_spell_is_not_banked_beyond_the_burst() {
        let cap = RateLimit::new(1_000_000);
        assert!(cap.reserve(Instant::ZERO, 1000).is_ok());
        // A second later, only the burst may go at once.
        let t = Instant::from_secs(1);
        let mut burst = 0;
        while cap.reserve(t, 1000).is_ok() {
            burst += 1000;
        }
        assert!(burst <= RateLimit::MIN_BURST_BYTES + 1000, "burst {burst}");
    }
}
