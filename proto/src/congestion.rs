//! Per-path congestion control behind a small trait, selected through an enum so the
//! hot path has no `dyn` (smoltcp `socket/tcp/congestion.rs`).
//!
//! The default, [`LossTolerantReno`], is NewReno (slow start, +1 chunk per round in
//! congestion avoidance, halve on a congestion event, one reduction per round) with one
//! change that matters for striping over dedicated links: **a loss only counts as
//! congestion if the path shows a queue**. The Veno-style backlog estimate
//! `cwnd * (1 - min_rtt / recent_min_rtt)` tells a loss at a full queue (backlog of
//! several chunks, RTT raised for a whole round) from a random loss on an idle wire
//! (backlog about zero). Random losses are resent but leave the window alone, unless
//! they are frequent (more than [`LossTolerantReno::HEAVY_LOSS_DIVISOR`]-th of a round),
//! which is treated as congestion too so a policer or a failing link still makes the
//! path back off. Plain NewReno sustains only about `1.22 / sqrt(p)` chunks per RTT,
//! i.e. ~12 at 1% loss, far below a LAN path's BDP; this rule keeps it full.
//!
//! [`Bbr`] (module [`bbr`]) is a model-based alternative: it paces at a measured
//! bottleneck bandwidth and bounds the flight by `2 x BDP`, and reads loss as congestion
//! only above a loss-rate threshold per epoch. Select it with
//! `SenderConfig::congestion = "bbr".parse()?` ([`CongestionConfig`] implements `FromStr`).

pub mod bbr;

use std::fmt;
use std::str::FromStr;

pub use bbr::{Bbr, BbrState};

use crate::rtt::RttEstimator;
use crate::time::{Duration, Instant};

/// What a congestion controller learns from recovery.
pub trait Controller {
    /// `bytes` were sent at `now`.
    fn on_sent(&mut self, now: Instant, bytes: u64);
    /// `bytes` sent at `sent` were acknowledged at `now`.
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator);
    /// Packets were declared lost at `now`; the newest of them was sent at `sent`.
    fn on_congestion_event(&mut self, now: Instant, sent: Instant, lost_bytes: u64, rtt: &RttEstimator);
    /// The path went down or came back: start over.
    fn reset(&mut self);
    /// Bytes that may be in flight.
    fn window(&self) -> u64;
    /// Whether the controller is still in slow start (pacing uses a higher gain).
    fn in_slow_start(&self) -> bool;
    /// End of one ACK frame's processing (after its `on_ack` calls and any loss it
    /// revealed): `in_flight` bytes remain outstanding, `acked` bytes were newly
    /// acknowledged by the frame.
    fn on_end_acks(&mut self, _now: Instant, _in_flight: u64, _acked: u64, _rtt: &RttEstimator) {}
    /// The path had window to spare but nothing to send.
    fn on_app_limited(&mut self) {}
    /// Pacing rate in bytes per second, if the controller sets one; `None` paces at
    /// `gain x window / smoothed RTT`.
    fn pacing_rate(&self) -> Option<u64> {
        None
    }
}

/// The available controllers.
// One per path: the size of the largest (`Bbr`, a few hundred bytes of filters) costs
// nothing, a `Box` would cost an indirection per ACK.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CongestionControl {
    /// NewReno with the random-loss rule (default).
    Reno(LossTolerantReno),
    /// BBR-style model-based control that holds its rate under random loss.
    Bbr(Bbr),
    /// A fixed window, for benchmarks and tests that must not depend on congestion control.
    Fixed(FixedWindow),
}

/// Which controller to build, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CongestionConfig {
    /// [`LossTolerantReno`]; `initial_window` in chunks.
    Reno {
        /// Initial window, in chunks.
        initial_window: u64,
    },
    /// [`Bbr`]; `initial_window` in chunks.
    Bbr {
        /// Initial window, in chunks.
        initial_window: u64,
    },
    /// [`FixedWindow`] of this many bytes.
    Fixed {
        /// Window in bytes.
        window: u64,
    },
}

impl Default for CongestionConfig {
    fn default() -> Self {
        CongestionConfig::Reno { initial_window: Self::INITIAL_WINDOW }
    }
}

impl CongestionConfig {
    /// Initial window of the named controllers, in chunks.
    pub const INITIAL_WINDOW: u64 = 10;
    /// Names accepted by `FromStr` (`fixed` takes a byte count: `fixed:1048576`).
    pub const NAMES: [&'static str; 3] = ["reno", "bbr", "fixed:BYTES"];

    /// The controller's name, as `FromStr` accepts it (without parameters).
    pub fn name(&self) -> &'static str {
        match self {
            CongestionConfig::Reno { .. } => "reno",
            CongestionConfig::Bbr { .. } => "bbr",
            CongestionConfig::Fixed { .. } => "fixed",
        }
    }
}

impl fmt::Display for CongestionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CongestionConfig::Fixed { window } => write!(f, "fixed:{window}"),
            c => f.write_str(c.name()),
        }
    }
}

impl FromStr for CongestionConfig {
    type Err = String;

    /// `reno`, `bbr` (case-insensitive, default initial window) or `fixed:BYTES`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let iw = Self::INITIAL_WINDOW;
        match s.as_str() {
            "reno" | "newreno" => Ok(CongestionConfig::Reno { initial_window: iw }),
            "bbr" => Ok(CongestionConfig::Bbr { initial_window: iw }),
            _ => match s.strip_prefix("fixed:").map(str::parse::<u64>) {
                Some(Ok(window)) if window > 0 => Ok(CongestionConfig::Fixed { window }),
                _ => Err(format!("unknown congestion controller {s:?}: expected one of {}", Self::NAMES.join(", "))),
            },
        }
    }
}

impl CongestionControl {
    /// Builds a controller for chunks of `mss` wire bytes.
    pub fn new(cfg: CongestionConfig, mss: u64) -> Self {
        match cfg {
            CongestionConfig::Reno { initial_window } => {
                CongestionControl::Reno(LossTolerantReno::new(mss, initial_window))
            }
            CongestionConfig::Bbr { initial_window } => CongestionControl::Bbr(Bbr::new(mss, initial_window)),
            CongestionConfig::Fixed { window } => CongestionControl::Fixed(FixedWindow { window }),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            CongestionControl::Reno($c) => $e,
            CongestionControl::Bbr($c) => $e,
            CongestionControl::Fixed($c) => $e,
        }
    };
}

impl Controller for CongestionControl {
    #[inline]
    fn on_sent(&mut self, now: Instant, bytes: u64) {
        dispatch!(self, c => c.on_sent(now, bytes))
    }
    #[inline]
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator) {
        dispatch!(self, c => c.on_ack(now, sent, bytes, rtt))
    }
    #[inline]
    fn on_congestion_event(&mut self, now: Instant, sent: Instant, lost: u64, rtt: &RttEstimator) {
        dispatch!(self, c => c.on_congestion_event(now, sent, lost, rtt))
    }
    fn reset(&mut self) {
        dispatch!(self, c => c.reset())
    }
    #[inline]
    fn window(&self) -> u64 {
        dispatch!(self, c => c.window())
    }
    #[inline]
    fn in_slow_start(&self) -> bool {
        dispatch!(self, c => c.in_slow_start())
    }
    #[inline]
    fn on_end_acks(&mut self, now: Instant, in_flight: u64, acked: u64, rtt: &RttEstimator) {
        dispatch!(self, c => c.on_end_acks(now, in_flight, acked, rtt))
    }
    #[inline]
    fn on_app_limited(&mut self) {
        dispatch!(self, c => c.on_app_limited())
    }
    #[inline]
    fn pacing_rate(&self) -> Option<u64> {
        dispatch!(self, c => c.pacing_rate())
    }
}

/// NewReno with a random-loss rule; see the module documentation.
#[derive(Debug, Clone)]
pub struct LossTolerantReno {
    mss: u64,
    initial_window: u64,
    window: u64,
    ssthresh: u64,
    recovery_start: Option<Instant>,
    acked_acc: u64,
    round_sent: u64,
    round_lost: u64,
    random_losses: u64,
    congestion_events: u64,
    queue_events: u64,
}

impl LossTolerantReno {
    /// A queue of fewer than this many chunks counts as "no queue".
    pub const BACKLOG_CHUNKS: u64 = 3;
    /// ...and so does a queue that adds less delay than this. On shared memory the
    /// minimum RTT is a microsecond and scheduling moves the round's minimum by tens
    /// of microseconds, which the ratio alone reads as a queue of almost the whole
    /// window: every random loss then halved the window (1% loss kept 8% of the
    /// goodput at MTU 1500). A queue that overflows on a wire is longer than this.
    pub const QUEUE_MIN_DELAY: Duration = Duration::from_micros(500);
    /// Losing more than 1/this of a round's bytes counts as congestion regardless of RTT.
    pub const HEAVY_LOSS_DIVISOR: u64 = 10;
    /// ...and at least this many chunks were lost in the round (two losses in a small
    /// window are not yet a pattern).
    pub const HEAVY_LOSS_MIN_CHUNKS: u64 = 3;
    /// The window never goes below this many chunks.
    pub const MIN_WINDOW_CHUNKS: u64 = 2;
    /// A standing queue longer than this (the lowest RTT of the recent round above the
    /// path's minimum) is congestion without a loss. A driver queue that pushes back
    /// instead of dropping (af_packet into a shaped qdisc, a NIC ring) never loses a
    /// packet, so loss alone would let a slow path's window grow to hundreds of
    /// milliseconds of queue, and every chunk sent on it would hold the receiver's
    /// reorder window that long. Jitter does not trigger it: one packet per round that
    /// meets no queue keeps the round's minimum low.
    pub const QUEUE_DELAY_LIMIT: Duration = Duration::from_millis(10);

    /// A controller for chunks of `mss` wire bytes starting at `initial_window` chunks.
    pub fn new(mss: u64, initial_window: u64) -> Self {
        LossTolerantReno {
            mss,
            initial_window,
            window: mss * initial_window,
            ssthresh: u64::MAX,
            recovery_start: None,
            acked_acc: 0,
            round_sent: 0,
            round_lost: 0,
            random_losses: 0,
            congestion_events: 0,
            queue_events: 0,
        }
    }

    /// Losses that were judged random and left the window alone.
    pub fn random_losses(&self) -> u64 {
        self.random_losses
    }

    /// Losses that reduced the window.
    pub fn congestion_events(&self) -> u64 {
        self.congestion_events
    }

    /// Rounds whose standing queue exceeded [`Self::QUEUE_DELAY_LIMIT`] and reduced the window.
    pub fn queue_events(&self) -> u64 {
        self.queue_events
    }

    /// Enters recovery: the window falls back to the path's measured BDP (the window
    /// minus its queue, Westwood-style), never below half, so a full queue drains while
    /// the wire stays busy; `halve` takes half regardless (losses without a queue).
    fn reduce(&mut self, now: Instant, rtt: &RttEstimator, halve: bool) {
        self.recovery_start = Some(now);
        let bdp = self.window - self.backlog_bytes(rtt);
        let target = if halve { self.window / 2 } else { bdp.max(self.window / 2) };
        self.window = target.max(Self::MIN_WINDOW_CHUNKS * self.mss);
        self.ssthresh = self.window;
        self.acked_acc = 0;
    }

    fn backlog_bytes(&self, rtt: &RttEstimator) -> u64 {
        let recent = rtt.recent_min().total_micros().max(1);
        let min = rtt.min().total_micros().min(recent);
        self.window - (self.window as u128 * min as u128 / recent as u128) as u64
    }
}

impl Controller for LossTolerantReno {
    fn on_sent(&mut self, _now: Instant, bytes: u64) {
        self.round_sent += bytes;
    }

    fn on_ack(&mut self, _now: Instant, sent: Instant, bytes: u64, _rtt: &RttEstimator) {
        if self.recovery_start.is_some_and(|r| sent <= r) {
            return;
        }
        if self.window < self.ssthresh {
            self.window += bytes;
        } else {
            self.acked_acc += bytes;
            if self.acked_acc >= self.window {
                self.acked_acc -= self.window;
                self.window += self.mss;
            }
        }
        // A round's worth acknowledged: start counting the next round's losses.
        if self.round_sent > 2 * self.window {
            self.round_sent /= 2;
            self.round_lost /= 2;
        }
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, lost: u64, rtt: &RttEstimator) {
        self.round_lost += lost;
        if self.recovery_start.is_some_and(|r| sent <= r) {
            return;
        }
        let delay = rtt.recent_min().saturating_sub(rtt.min());
        let queue = self.backlog_bytes(rtt) >= Self::BACKLOG_CHUNKS * self.mss && delay >= Self::QUEUE_MIN_DELAY;
        let heavy = self.round_lost * Self::HEAVY_LOSS_DIVISOR > self.round_sent.max(self.window)
            && self.round_lost >= Self::HEAVY_LOSS_MIN_CHUNKS * self.mss;
        if !queue && !heavy {
            self.random_losses += 1;
            return;
        }
        self.congestion_events += 1;
        self.reduce(now, rtt, heavy && !queue);
    }

    fn on_end_acks(&mut self, now: Instant, _in_flight: u64, _acked: u64, rtt: &RttEstimator) {
        let standing = rtt.recent_min().saturating_sub(rtt.min());
        if standing <= Self::QUEUE_DELAY_LIMIT {
            return;
        }
        // One reduction per round, as for losses: the last one needs a round to show.
        if self.recovery_start.is_some_and(|r| now < r + rtt.smoothed()) {
            return;
        }
        self.queue_events += 1;
        self.reduce(now, rtt, false);
    }

    fn reset(&mut self) {
        *self = LossTolerantReno::new(self.mss, self.initial_window);
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn in_slow_start(&self) -> bool {
        self.window < self.ssthresh
    }
}

/// A constant window: no reaction to anything.
#[derive(Debug, Clone)]
pub struct FixedWindow {
    /// The window in bytes.
    pub window: u64,
}

impl Controller for FixedWindow {
    fn on_sent(&mut self, _: Instant, _: u64) {}
    fn on_ack(&mut self, _: Instant, _: Instant, _: u64, _: &RttEstimator) {}
    fn on_congestion_event(&mut self, _: Instant, _: Instant, _: u64, _: &RttEstimator) {}
    fn reset(&mut self) {}
    fn window(&self) -> u64 {
        self.window
    }
    fn in_slow_start(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn rtt_with(min_us: u64, recent_us: u64) -> RttEstimator {
        let mut r = RttEstimator::new(Duration::from_micros(min_us));
        r.update(Instant::ZERO, Duration::from_micros(min_us), Duration::ZERO);
        r.update(Instant::from_micros(min_us * 2), Duration::from_micros(recent_us), Duration::ZERO);
        r.update(Instant::from_micros(min_us * 100), Duration::from_micros(recent_us), Duration::ZERO);
        r
    }

    /// The chunk size of these tests.
    const MSS: u64 = 1000;

    /// Reno over 1000-byte chunks with an initial window of `chunks`.
    fn reno(chunks: u64) -> LossTolerantReno {
        LossTolerantReno::new(MSS, chunks)
    }

    #[test]
    fn slow_start_then_halves_on_queue_loss() {
        let mss = MSS;
        let mut c = reno(10);
        let rtt = rtt_with(1000, 1000);
        let t = Instant::from_millis(1);
        c.on_sent(t, 10_000);
        c.on_ack(t, t, 10_000, &rtt);
        assert_eq!(c.window(), 20_000, "slow start doubles per round");
        let queued = rtt_with(1000, 2000); // half the window sits in a queue
        c.on_congestion_event(Instant::from_millis(2), Instant::from_millis(2), mss, &queued);
        assert_eq!(c.window(), 10_000);
        assert!(!c.in_slow_start());
        // A second loss from the same round does not reduce again.
        c.on_congestion_event(Instant::from_millis(3), Instant::from_millis(2), mss, &queued);
        assert_eq!(c.window(), 10_000);
        // Congestion avoidance: +1 mss per window acknowledged.
        c.on_ack(Instant::from_millis(5), Instant::from_millis(4), 10_000, &queued);
        assert_eq!(c.window(), 11_000);
    }

    #[test]
    fn isolated_random_loss_keeps_window_but_heavy_loss_does_not() {
        let (mss, mut c, rtt) = (MSS, reno(50), rtt_with(1000, 1000));
        c.on_sent(Instant::ZERO, 50_000);
        c.on_congestion_event(Instant::from_millis(1), Instant::ZERO, mss, &rtt);
        assert_eq!(c.window(), 50_000);
        assert_eq!(c.random_losses(), 1);
        c.on_congestion_event(Instant::from_millis(1), Instant::ZERO, 10 * mss, &rtt);
        assert_eq!(c.window(), 25_000, "more than a tenth of the round lost is congestion");
    }

    #[test]
    fn a_standing_queue_without_loss_reduces_once_per_round() {
        let (mss, mut c) = (MSS, reno(100));
        // 1 ms minimum, every sample of the last rounds at 40 ms: a 39 ms standing queue.
        let queued = rtt_with(1000, 40_000);
        let t = Instant::from_secs(1);
        c.on_end_acks(t, 100_000, mss, &queued);
        assert_eq!(c.queue_events(), 1);
        assert_eq!(c.window(), 50_000, "the queue is most of the window: back to half");
        c.on_end_acks(t + Duration::from_millis(10), 50_000, mss, &queued);
        assert_eq!(c.window(), 50_000, "within the round of the last reduction");
        c.on_end_acks(t + Duration::from_millis(50), 50_000, mss, &queued);
        assert_eq!(c.window(), 25_000, "a round later the queue still stands");
        // Jitter or a short queue leaves the window alone.
        let mut c = reno(100);
        c.on_end_acks(t, 100_000, mss, &rtt_with(1000, 9_000));
        assert_eq!((c.window(), c.queue_events()), (100_000, 0));
    }

    #[test]
    fn names_round_trip() {
        for name in ["reno", "bbr", "fixed:65536"] {
            let c: CongestionConfig = name.parse().unwrap();
            assert_eq!(c.to_string(), name);
        }
        assert_eq!("BBR".parse::<CongestionConfig>(), Ok(CongestionConfig::Bbr { initial_window: 10 }));
        assert!("cubic".parse::<CongestionConfig>().is_err());
        assert!("fixed:0".parse::<CongestionConfig>().is_err());
    }
}
