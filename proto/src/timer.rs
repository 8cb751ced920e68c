//! A fixed timer table: an enum indexes an array of deadlines, the next wake-up is a
//! `min` (quinn-proto `connection/timer.rs`). No heap, no allocation.

use crate::time::Instant;

/// A set of `N` optional deadlines indexed by a timer enum's discriminant.
#[derive(Debug, Clone, Copy)]
pub struct TimerTable<const N: usize> {
    deadlines: [Option<Instant>; N],
}

impl<const N: usize> Default for TimerTable<N> {
    fn default() -> Self {
        TimerTable { deadlines: [None; N] }
    }
}

impl<const N: usize> TimerTable<N> {
    /// Arms timer `i` for `at`, replacing any earlier setting.
    #[inline]
    pub fn set(&mut self, i: usize, at: Instant) {
        self.deadlines[i] = Some(at);
    }

    /// Disarms timer `i`.
    #[inline]
    pub fn stop(&mut self, i: usize) {
        self.deadlines[i] = None;
    }

    /// Deadline of timer `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Instant> {
        self.deadlines[i]
    }

    /// Whether timer `i` is armed and due at `now`.
    #[inline]
    pub fn is_expired(&self, i: usize, now: Instant) -> bool {
        self.deadlines[i].is_some_and(|t| t <= now)
    }

    /// The earliest armed deadline.
    #[inline]
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and reports timer `i` if it is due.
    #[inline]
    pub fn take_expired(&mut self, i: usize, now: Instant) -> bool {
        if self.is_expired(i, now) {
            self.deadlines[i] = None;
            true
        } else {
            false
        }
    }
}
