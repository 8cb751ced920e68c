//! Adaptive idle back-off for poll loops: spin briefly, then pause, then
//! sleep in growing steps, so two processes and their reader/writer threads
//! can share a 2-core machine. `--busy-poll` keeps spinning for dedicated
//! cores. Any work resets it.

use std::time::Duration;

/// Idle polls that only spin before pausing starts.
const SPIN_POLLS: u32 = 64;
/// Idle polls with a pause hint before sleeping starts.
const PAUSE_POLLS: u32 = 512;
/// Longest sleep; bounds the added latency after an idle period.
const MAX_SLEEP: Duration = Duration::from_micros(200);

#[derive(Debug, Clone)]
pub struct Backoff {
    idle: u32,
    busy_poll: bool,
}

impl Backoff {
    pub fn new(busy_poll: bool) -> Backoff {
        Backoff { idle: 0, busy_poll }
    }

    /// Something happened: poll again at once.
    #[inline]
    pub fn reset(&mut self) {
        self.idle = 0;
    }

    /// Past spinning and pausing: a loop with receive interrupts sleeps on them now.
    pub fn sleeping(&self) -> bool {
        !self.busy_poll && self.idle > PAUSE_POLLS
    }

    /// Nothing happened this iteration: wait a little, at most until
    /// `deadline` (a protocol timer) if one is near.
    pub fn idle(&mut self, until_deadline: Option<Duration>) {
        self.idle = self.idle.saturating_add(1);
        if self.busy_poll || self.idle <= SPIN_POLLS {
            return;
        }
        if self.idle <= PAUSE_POLLS {
            crate::dpdk::pause();
            return;
        }
        let step = self.idle - PAUSE_POLLS;
        let mut sleep = Duration::from_micros(10u64.saturating_mul(step as u64)).min(MAX_SLEEP);
        if let Some(d) = until_deadline {
            sleep = sleep.min(d);
        }
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }
}
