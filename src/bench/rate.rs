//! `--rate` (`10G`, `500M`, `5Mpps`) and the TSC pacer that holds a lane to
//! it. The pacer is pure arithmetic over TSC readings the caller passes in,
//! so it is tested without a clock.

use std::fmt;
use std::str::FromStr;

/// Bytes a frame occupies on the wire besides itself: preamble and start
/// delimiter (8) and the inter-frame gap (12).
pub const WIRE_OVERHEAD: u64 = 20;

/// A transmit rate: bits per second on the wire (frame, FCS, preamble and
/// inter-frame gap) or packets per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    BitsPerSec(f64),
    PacketsPerSec(f64),
}

impl Rate {
    /// The same kind of rate divided by `n` (a port's rate shared by its queues).
    pub fn split(self, n: u32) -> Rate {
        let n = n.max(1) as f64;
        match self {
            Rate::BitsPerSec(v) => Rate::BitsPerSec(v / n),
            Rate::PacketsPerSec(v) => Rate::PacketsPerSec(v / n),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rate::BitsPerSec(v) => write!(f, "{} bit/s", si(v)),
            Rate::PacketsPerSec(v) => write!(f, "{} pps", si(v)),
        }
    }
}

fn si(v: f64) -> String {
    for (m, s) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")] {
        if v >= m {
            return format!("{}{s}", trim(v / m));
        }
    }
    trim(v)
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl FromStr for Rate {
    type Err = String;

    /// A number, an optional SI prefix (K, M, G, T: powers of 1000) and an
    /// optional unit: `pps` for packets per second, `bps`/`bit`/`b` (or
    /// nothing) for bits per second on the wire. Case does not matter.
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || format!("{s:?} is not a rate like 10G, 500M (bit/s on the wire) or 5Mpps, 100Kpps");
        let t = s.trim().to_ascii_lowercase();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, rest) = t.split_at(split);
        let v: f64 = num.parse().map_err(|_| bad())?;
        let (mult, unit) = match rest.chars().next() {
            Some('k') => (1e3, &rest[1..]),
            Some('m') => (1e6, &rest[1..]),
            Some('g') => (1e9, &rest[1..]),
            Some('t') => (1e12, &rest[1..]),
            _ => (1.0, rest),
        };
        let v = v * mult;
        if !v.is_finite() || v <= 0.0 {
            return Err(format!("{s:?}: the rate must be more than zero"));
        }
        match unit {
            "pps" => Ok(Rate::PacketsPerSec(v)),
            "" | "b" | "bit" | "bps" | "bit/s" => Ok(Rate::BitsPerSec(v)),
            _ => Err(bad()),
        }
    }
}

/// Holds one lane to a [`Rate`]: how much may go out by TSC time `now`,
/// counted from the pacer's start. Falling behind (the lane was
/// descheduled) is forgiven beyond `max_lag` worth of TSC ticks, so a stall
/// is not followed by a burst far above the rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Units (bits or packets) per second.
    per_sec: f64,
    bits: bool,
    hz: f64,
    start: u64,
    /// Units sent since `start`.
    sent: f64,
    max_lag: f64,
}

impl Pacer {
    /// A pacer starting at TSC `now` on a TSC of `hz` ticks per second.
    pub fn new(rate: Rate, hz: u64, now: u64) -> Pacer {
        let (per_sec, bits) = match rate {
            Rate::BitsPerSec(v) => (v, true),
            Rate::PacketsPerSec(v) => (v, false),
        };
        // A lag of 10 ms of the rate (a loop descheduled for a while on a
        // shared machine catches up), and at least one burst's worth.
        let max_lag = (per_sec / 100.0).max(if bits { 64.0 * 1538.0 * 8.0 } else { 64.0 });
        Pacer { per_sec, bits, hz: hz as f64, start: now, sent: 0.0, max_lag }
    }

    /// The cost of one frame of `frame_len` bytes (FCS included) in the
    /// pacer's units.
    #[inline]
    pub fn cost(&self, frame_len: u64) -> f64 {
        if self.bits {
            ((frame_len + WIRE_OVERHEAD) * 8) as f64
        } else {
            1.0
        }
    }

    /// Units allowed by `now` that are not yet used.
    #[inline]
    pub fn budget(&mut self, now: u64) -> f64 {
        let allowed = now.saturating_sub(self.start) as f64 * self.per_sec / self.hz;
        if allowed - self.sent > self.max_lag {
            self.sent = allowed - self.max_lag;
        }
        allowed - self.sent
    }

    /// Records `units` sent.
    #[inline]
    pub fn spend(&mut self, units: f64) {
        self.sent += units;
    }

    /// How many frames of the given lengths fit in the budget at `now`
    /// (lengths in order; stops at the first that does not fit).
    pub fn frames_allowed(&mut self, now: u64, lens: impl Iterator<Item = u64>, max: usize) -> usize {
        let mut budget = self.budget(now);
        let mut n = 0;
        for len in lens.take(max) {
            let c = self.cost(len);
            if c > budget {
                break;
            }
            budget -= c;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bit_and_packet_rates() {
        assert_eq!("10G".parse::<Rate>(), Ok(Rate::BitsPerSec(10e9)));
        assert_eq!("500m".parse::<Rate>(), Ok(Rate::BitsPerSec(500e6)));
        assert_eq!("1.5Gbps".parse::<Rate>(), Ok(Rate::BitsPerSec(1.5e9)));
        assert_eq!("2000".parse::<Rate>(), Ok(Rate::BitsPerSec(2000.0)));
        assert_eq!("5Mpps".parse::<Rate>(), Ok(Rate::PacketsPerSec(5e6)));
        assert_eq!("100kpps".parse::<Rate>(), Ok(Rate::PacketsPerSec(100e3)));
        assert_eq!("1000pps".parse::<Rate>(), Ok(Rate::PacketsPerSec(1000.0)));
        for bad in ["", "G", "0", "0pps", "-1G", "10Q", "10Gpp", "fast", "1e9"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(Rate::BitsPerSec(10e9).to_string(), "10G bit/s");
        assert_eq!(Rate::PacketsPerSec(1.5e6).to_string(), "1.5M pps");
        assert_eq!(Rate::BitsPerSec(4e9).split(4), Rate::BitsPerSec(1e9));
    }

    #[test]
    fn packet_pacing_follows_the_clock() {
        // 1 GHz TSC, 1 Mpps: one packet per 1000 ticks.
        let mut p = Pacer::new(Rate::PacketsPerSec(1e6), 1_000_000_000, 5_000);
        assert_eq!(p.frames_allowed(5_000, std::iter::repeat(64), 32), 0);
        assert_eq!(p.frames_allowed(5_000 + 10_500, std::iter::repeat(64), 32), 10);
        p.spend(10.0);
        assert_eq!(p.frames_allowed(5_000 + 10_999, std::iter::repeat(64), 32), 0);
        assert_eq!(p.frames_allowed(5_000 + 11_000, std::iter::repeat(64), 32), 1);
        // The burst limit caps what one call hands out.
        assert_eq!(p.frames_allowed(5_000 + 100_000, std::iter::repeat(64), 32), 32);
    }

    #[test]
    fn bit_pacing_counts_preamble_and_gap() {
        // 1 GHz TSC, 84 * 8 = 672 bits per 64-byte frame: at 672 Mbit/s one
        // frame per microsecond (1000 ticks).
        let mut p = Pacer::new(Rate::BitsPerSec(672e6), 1_000_000_000, 0);
        assert_eq!(p.cost(64), 672.0);
        assert_eq!(p.frames_allowed(100_000, std::iter::repeat(64), 1000), 100);
        p.spend(100.0 * 672.0);
        // A 1518-byte frame costs (1518 + 20) * 8 bits: 18.3 us at this rate.
        assert_eq!(p.frames_allowed(118_000, std::iter::repeat(1518), 10), 0);
        assert_eq!(p.frames_allowed(118_400, std::iter::repeat(1518), 10), 1);
    }

    #[test]
    fn a_stall_is_forgiven_beyond_the_lag_limit() {
        // 1 Mpps: max lag is 10 ms = 10,000 packets.
        let mut p = Pacer::new(Rate::PacketsPerSec(1e6), 1_000_000_000, 0);
        let b = p.budget(10_000_000_000); // 10 s later
        assert!((b - 10_000.0).abs() < 1e-6, "{b}");
        // Sent at the rate over a long run: the average holds.
        let mut p = Pacer::new(Rate::PacketsPerSec(1e6), 1_000_000_000, 0);
        let mut sent = 0;
        for t in (0..1_000_000_000u64).step_by(7_919) {
            let n = p.frames_allowed(t, std::iter::repeat(64), 32);
            p.spend(n as f64);
            sent += n;
        }
        assert!((999_000..=1_000_000).contains(&sent), "{sent}");
    }
}
