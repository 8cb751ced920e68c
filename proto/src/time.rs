//! Protocol time: microseconds since an arbitrary epoch chosen by the driver.
//!
//! The core never reads a clock. The driver hands in `now` on every call: the simulator
//! from its virtual clock, the DPDK loop from one TSC read per iteration converted to
//! microseconds. Starting at zero keeps simulated traces readable.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A microsecond count with its constants and constructors; `$what` ends the
/// doc sentence of each ("... since the epoch", "a span").
macro_rules! micros {
    ($(#[$m:meta])* $name:ident, $zero:literal, $max:literal, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name {
            micros: u64,
        }

        impl $name {
            #[doc = $zero]
            pub const ZERO: $name = $name { micros: 0 };
            #[doc = $max]
            pub const MAX: $name = $name { micros: u64::MAX };

            #[doc = concat!("Builds ", $what, " from microseconds.")]
            pub const fn from_micros(micros: u64) -> $name {
                $name { micros }
            }

            #[doc = concat!("Builds ", $what, " from milliseconds (saturating).")]
            pub const fn from_millis(millis: u64) -> $name {
                $name { micros: millis.saturating_mul(1000) }
            }

            #[doc = concat!("Builds ", $what, " from seconds (saturating).")]
            pub const fn from_secs(secs: u64) -> $name {
                $name { micros: secs.saturating_mul(1_000_000) }
            }

            /// The count in microseconds.
            pub const fn total_micros(self) -> u64 {
                self.micros
            }
        }
    };
}

micros!(
    /// A point in time, in microseconds since the driver's epoch.
    Instant,
    "The driver's epoch.",
    "Later than any time a session reaches.",
    "an instant since the epoch"
);

micros!(
    /// A span of time in microseconds.
    Duration,
    "No time at all.",
    "The largest representable span; used as \"never\".",
    "a span"
);

impl Instant {
    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// The low 32 bits of the microsecond count, as carried in the wire timestamp.
    pub const fn wire_timestamp(self) -> u32 {
        self.micros as u32
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.micros / 1_000_000, self.micros % 1_000_000)
    }
}

impl Duration {
    /// The span in seconds as a float, for reports.
    pub fn as_secs_f64(self) -> f64 {
        self.micros as f64 / 1e6
    }

    /// Multiplies, saturating at [`Duration::MAX`].
    pub const fn saturating_mul(self, k: u64) -> Duration {
        Duration { micros: self.micros.saturating_mul(k) }
    }

    /// Subtracts, stopping at zero.
    pub const fn saturating_sub(self, other: Duration) -> Duration {
        Duration { micros: self.micros.saturating_sub(other.micros) }
    }

    /// Multiplies by `num / den` with a 128-bit intermediate (no overflow, no floats).
    pub const fn mul_ratio(self, num: u64, den: u64) -> Duration {
        if den == 0 {
            return Duration::MAX;
        }
        let v = (self.micros as u128 * num as u128) / den as u128;
        Duration { micros: if v > u64::MAX as u128 { u64::MAX } else { v as u64 } }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}us", self.micros)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant { micros: self.micros.saturating_add(rhs.micros) }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant { micros: self.micros.saturating_sub(rhs.micros) }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: time does not run backwards for the protocol.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration { micros: self.micros.saturating_add(rhs.micros) }
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!((t + Duration::from_micros(7)).total_micros(), 5007);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::from_millis(2), Duration::from_millis(3));
        assert_eq!(Instant::from_micros(u64::MAX) + Duration::from_secs(1), Instant::from_micros(u64::MAX));
        assert_eq!(Duration::from_micros(1000).mul_ratio(9, 8), Duration::from_micros(1125));
        assert_eq!(Instant::from_micros(0x1_0000_0005).wire_timestamp(), 5);
    }
}
