//! The protocol's clock from the TSC: one `rdtsc` per loop iteration,
//! converted to microseconds since the loop started (the protocol's
//! `Instant` starts at zero).

use stripecat_proto::Instant;

#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    start: u64,
    /// TSC ticks per microsecond, times 2^16 (fixed point).
    ticks_per_us_q16: u64,
}

impl TscClock {
    pub fn new(tsc_hz: u64) -> TscClock {
        let q = ((tsc_hz as u128) << 16) / 1_000_000;
        TscClock { start: crate::dpdk::rdtsc(), ticks_per_us_q16: (q as u64).max(1) }
    }

    /// Microseconds since the clock started.
    #[inline]
    pub fn micros(&self) -> u64 {
        let dt = crate::dpdk::rdtsc().wrapping_sub(self.start);
        (((dt as u128) << 16) / self.ticks_per_us_q16 as u128) as u64
    }

    #[inline]
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.micros())
    }
}
