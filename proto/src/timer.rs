//! A fixed timer table: an enum indexes an array of deadlines, the next wake-up is a
//! `min` (quinn-proto `connection/timer.rs`). No heap, no allocation.

use core::marker::PhantomData;

use crate::time::Instant;

/// A timer enum: each variant names one slot of a [`TimerTable`].
pub trait TimerKind: Copy {
    /// The slot of this timer (the enum's discriminant, below the table's `N`).
    fn slot(self) -> usize;
}

/// Declares a timer enum: its variants in slot order, its [`TimerKind`] and its
/// `COUNT` (the table size), so no slot number or count is written by hand.
#[macro_export]
macro_rules! timer_kinds {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $variant:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$vm])* $variant),*
        }

        impl $crate::timer::TimerKind for $name {
            #[inline]
            fn slot(self) -> usize {
                self as usize
            }
        }

        impl $name {
            /// How many timers of this kind a table holds.
            pub const COUNT: usize = [$(stringify!($variant)),*].len();
        }
    };
}

/// A set of `N` optional deadlines, one per variant of the timer enum `K`.
#[derive(Debug, Clone, Copy)]
pub struct TimerTable<K, const N: usize> {
    deadlines: [Option<Instant>; N],
    kind: PhantomData<K>,
}

impl<K, const N: usize> Default for TimerTable<K, N> {
    fn default() -> Self {
        TimerTable { deadlines: [None; N], kind: PhantomData }
    }
}

impl<K: TimerKind, const N: usize> TimerTable<K, N> {
    /// Arms timer `t` for `at`, replacing any earlier setting.
    #[inline]
    pub fn set(&mut self, t: K, at: Instant) {
        self.deadlines[t.slot()] = Some(at);
    }

    /// Disarms timer `t`.
    #[inline]
    pub fn stop(&mut self, t: K) {
        self.deadlines[t.slot()] = None;
    }

    /// Deadline of timer `t`.
    #[inline]
    pub fn get(&self, t: K) -> Option<Instant> {
        self.deadlines[t.slot()]
    }

    /// Whether timer `t` is armed and due at `now`.
    #[inline]
    pub fn is_expired(&self, t: K, now: Instant) -> bool {
        self.deadlines[t.slot()].is_some_and(|d| d <= now)
    }

    /// The earliest armed deadline.
    #[inline]
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and reports timer `t` if it is due.
    #[inline]
    pub fn take_expired(&mut self, t: K, now: Instant) -> bool {
        if self.is_expired(t, now) {
            self.deadlines[t.slot()] = None;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::timer_kinds! {
        enum T { A, B }
    }

    #[test]
    fn the_next_wake_up_is_the_earliest_armed_timer_and_expiry_disarms() {
        let mut t: TimerTable<T, { T::COUNT }> = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(T::A, Instant::from_millis(5));
        t.set(T::B, Instant::from_millis(3));
        assert_eq!(t.next(), Some(Instant::from_millis(3)));
        assert!(!t.take_expired(T::A, Instant::from_millis(4)));
        assert!(t.take_expired(T::B, Instant::from_millis(4)));
        assert_eq!(t.get(T::B), None);
        t.stop(T::A);
        assert_eq!(t.next(), None);
    }
}
