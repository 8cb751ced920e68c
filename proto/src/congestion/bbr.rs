//! A small BBR-style, model-based controller that holds goodput under random loss.
//!
//! **Why.** A loss-based window (NewReno, even with a random-loss rule) reacts to every
//! loss it judges congestive; on real links whose RTT is noisy (polling, descheduled
//! cores) that judgement is often wrong, and 1% random loss both ways kept only 23% of
//! the loss-free goodput at MTU 1500. This controller does not read single losses as
//! congestion. It models the path instead, after BBR (Cardwell et al., "BBR:
//! Congestion-Based Congestion Control", 2016) with BBRv2's loss bound:
//!
//! * **Bottleneck bandwidth**: a windowed maximum, over the last [`Bbr::BW_WINDOW_ROUNDS`]
//!   rounds, of per-round delivery-rate samples `delivered / max(ack interval, send
//!   interval)` (the send interval keeps ACK compression from inflating a sample). Rounds
//!   in which the path ran out of data (application-limited) only count if they raise it.
//! * **Minimum RTT**: the smallest `ack time - send time` of any acknowledged packet in the
//!   last [`Bbr::MIN_RTT_WINDOW`] (there is no ProbeRTT state; the 0.75 phase of the gain
//!   cycle drains the queue this controller builds).
//! * **Pacing** at `gain x bandwidth`: Startup 2.89 until the bandwidth stops growing by
//!   25% for 3 rounds, Drain 1/2.89 until the flight is down to one BDP, then ProbeBW's
//!   cycle `[1.25, 0.75, 1, 1, 1, 1, 1, 1]`, one min RTT per phase. As in BBRv2, a
//!   Startup round that lost more than 2% and at least 8 chunks ends Startup too (its
//!   overshoot overflowed the bottleneck queue).
//! * **Window** `2 x BDP + ack aggregation` (the largest excess of acknowledged bytes over
//!   what the bandwidth explains, per round, as Linux BBR's `extra_acked`: the receiver
//!   acknowledges every 16 packets, and a descheduled receiver acknowledges in bursts),
//!   never below [`Bbr::MIN_WINDOW_CHUNKS`] chunks, nor below `1.25 x bandwidth x RTT`
//!   where the RTT counts as far as it varies (`min(srtt, min_rtt + 4 rttvar)`): on a
//!   polled link the RTT swings far above its minimum without any queue, and a window
//!   from the minimum alone would cap the rate (and then the estimate) far below the
//!   bandwidth. The window bounds the queue the controller can build to about one BDP.
//! * **Loss**: lost packets are resent and otherwise ignored, unless a loss epoch (at
//!   least one round and [`Bbr::LOSS_EPOCH_CHUNKS`] chunks acknowledged or lost) lost
//!   more than [`Bbr::LOSS_THRESHOLD_PERCENT`] of its bytes. Random loss of 1% almost
//!   never does (200 chunks losing more than 6: probability ~0.5%), so the rate holds.
//!   Above it the loss is congestion (a policer, a shrunk or failing link): the bandwidth
//!   estimate falls to [`Bbr::BETA_PERCENT`] of itself, or to `1 - loss rate` if that is
//!   lower (sending `f` times faster than the bottleneck loses `1 - 1/f`), but not below
//!   the latest round's delivery rate (BBRv2's `bw_lo`), so heavy random loss costs
//!   rate gradually instead of collapsing it.
//! * **Standing queue**: an epoch that lost more than [`Bbr::QUEUE_LOSS_THRESHOLD_PERCENT`]
//!   while even its smallest RTT sample stayed above [`Bbr::QUEUE_RTT_PERCENT`]% of the minimum
//!   is congestion too: the queue never drained, so the rate is a little high or the
//!   bottleneck is shared with other paths. The bandwidth falls by
//!   `100 - QUEUE_BETA_PERCENT` percent only.
//! * After either kind of congestion the flight is bounded by `1.25 x BDP + aggregation` (the pipe and a
//!   quarter: a queue drains, the wire stays busy); the bound grows by a chunk per probing
//!   phase (once per gain cycle) and is dropped once the model's window no longer reaches
//!   it, as BBRv2's `inflight_hi`.

use crate::rtt::RttEstimator;
use crate::time::{Duration, Instant};

use super::Controller;

/// BBR state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BbrState {
    /// Doubling the rate per round until the bandwidth stops growing.
    Startup,
    /// Draining the queue Startup built.
    Drain,
    /// Cruising at the measured bandwidth, probing up and down in an 8-phase cycle.
    ProbeBw,
}

/// Pacing gains of the ProbeBW cycle, percent.
const CYCLE: [u64; 8] = [125, 75, 100, 100, 100, 100, 100, 100];
const STARTUP_GAIN: u64 = 289;
const DRAIN_GAIN: u64 = 35;
const CWND_GAIN: u64 = 200;
const ROUNDS: usize = Bbr::BW_WINDOW_ROUNDS as usize;

/// A BBR-style controller; see the module documentation.
#[derive(Debug, Clone)]
pub struct Bbr {
    mss: u64,
    initial_window: u64,
    state: BbrState,
    window: u64,
    // Rounds: a round ends when a packet sent after it began is acknowledged.
    started: bool,
    round: u64,
    round_start: Instant,
    round_end_pending: bool,
    round_app_limited: bool,
    delivered: u64,
    round_delivered: u64,
    round_ack_time: Instant,
    round_sent_time: Instant,
    latest_acked_sent: Instant,
    // Filters.
    bw_slots: [u64; ROUNDS],
    latest_bw: u64,
    extra_slots: [u64; ROUNDS],
    min_rtt: Option<Duration>,
    min_rtt_at: Instant,
    srtt: Duration,
    rttvar: Duration,
    // Startup exit.
    full_bw: u64,
    full_bw_rounds: u32,
    // ProbeBW cycle.
    cycle: usize,
    cycle_start: Instant,
    // Ack aggregation epoch.
    agg_start: Instant,
    agg_acked: u64,
    // Loss epoch.
    epoch_delivered: u64,
    epoch_lost: u64,
    round_lost: u64,
    epoch_min_rtt: Duration,
    inflight_hi: u64,
    congestion_events: u64,
    random_loss_bytes: u64,
}

impl Bbr {
    /// Rounds over which the bandwidth maximum (and the ack aggregation) is taken.
    pub const BW_WINDOW_ROUNDS: u64 = 10;
    /// How long a minimum RTT sample stays valid.
    pub const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
    /// A loss epoch covers at least one round and this many chunks (acknowledged + lost).
    pub const LOSS_EPOCH_CHUNKS: u64 = 200;
    /// Losing more than this share of an epoch's bytes is congestion.
    pub const LOSS_THRESHOLD_PERCENT: u64 = 3;
    /// ...or more than this share while the path kept a standing queue all epoch long
    /// (its smallest RTT sample stayed [`Bbr::QUEUE_RTT_PERCENT`] above the minimum):
    /// the queue is full, the loss is ours.
    pub const QUEUE_LOSS_THRESHOLD_PERCENT: u64 = 2;
    /// See [`Bbr::QUEUE_LOSS_THRESHOLD_PERCENT`].
    pub const QUEUE_RTT_PERCENT: u64 = 125;
    /// A standing-queue congestion epoch keeps this share of the bandwidth estimate (and
    /// bounds the flight to 1.25 BDP).
    pub const QUEUE_BETA_PERCENT: u64 = 95;
    /// On congestion the bandwidth estimate falls to this share of itself.
    pub const BETA_PERCENT: u64 = 70;
    /// The window never goes below this many chunks.
    pub const MIN_WINDOW_CHUNKS: u64 = 4;
    /// Startup ends early on a round that lost more than this share of its bytes...
    pub const STARTUP_LOSS_PERCENT: u64 = 2;
    /// ...and at least this many chunks (BBRv2's `full_loss_cnt`): Startup's overshoot
    /// overflowed the bottleneck queue.
    pub const STARTUP_LOSS_CHUNKS: u64 = 8;

    /// A controller for chunks of `mss` wire bytes starting at `initial_window` chunks.
    pub fn new(mss: u64, initial_window: u64) -> Self {
        Bbr {
            mss,
            initial_window,
            state: BbrState::Startup,
            window: mss * initial_window.max(Self::MIN_WINDOW_CHUNKS),
            started: false,
            round: 0,
            round_start: Instant::ZERO,
            round_end_pending: false,
            round_app_limited: false,
            delivered: 0,
            round_delivered: 0,
            round_ack_time: Instant::ZERO,
            round_sent_time: Instant::ZERO,
            latest_acked_sent: Instant::ZERO,
            bw_slots: [0; ROUNDS],
            latest_bw: 0,
            extra_slots: [0; ROUNDS],
            min_rtt: None,
            min_rtt_at: Instant::ZERO,
            srtt: Duration::ZERO,
            rttvar: Duration::ZERO,
            full_bw: 0,
            full_bw_rounds: 0,
            cycle: 0,
            cycle_start: Instant::ZERO,
            agg_start: Instant::ZERO,
            agg_acked: 0,
            epoch_delivered: 0,
            epoch_lost: 0,
            round_lost: 0,
            epoch_min_rtt: Duration::MAX,
            inflight_hi: u64::MAX,
            congestion_events: 0,
            random_loss_bytes: 0,
        }
    }

    /// Current state.
    pub fn state(&self) -> BbrState {
        self.state
    }

    /// Bottleneck bandwidth estimate, bytes per second (0 before the first round).
    pub fn bandwidth(&self) -> u64 {
        self.bw_slots.iter().copied().max().unwrap_or(0)
    }

    /// Minimum RTT estimate.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// Loss epochs whose loss rate crossed the threshold (each cut the bandwidth).
    pub fn congestion_events(&self) -> u64 {
        self.congestion_events
    }

    /// Lost bytes in epochs that stayed under the threshold (resent, rate kept).
    pub fn random_loss_bytes(&self) -> u64 {
        self.random_loss_bytes
    }

    fn extra_acked(&self) -> u64 {
        self.extra_slots.iter().copied().max().unwrap_or(0)
    }

    /// `bw x min_rtt`, or the initial window before both are known.
    fn bdp(&self) -> u64 {
        match (self.bandwidth(), self.min_rtt) {
            (bw, Some(rtt)) if bw > 0 => (bw as u128 * rtt.total_micros() as u128 / 1_000_000) as u64,
            _ => self.initial_window * self.mss,
        }
    }

    fn pacing_gain(&self) -> u64 {
        match self.state {
            BbrState::Startup => STARTUP_GAIN,
            BbrState::Drain => DRAIN_GAIN,
            BbrState::ProbeBw => CYCLE[self.cycle],
        }
    }

    fn cwnd_gain(&self) -> u64 {
        match self.state {
            BbrState::Startup | BbrState::Drain => STARTUP_GAIN,
            BbrState::ProbeBw => CWND_GAIN,
        }
    }

    fn target_window(&self) -> u64 {
        self.model_window().min(self.inflight_hi).max(Self::MIN_WINDOW_CHUNKS * self.mss)
    }

    /// `gain x BDP + aggregation`, and at least `1.25 x bandwidth x smoothed RTT`: where
    /// the RTT swings far above its minimum without a queue (a polled link, a receiver
    /// that is descheduled), a window from the minimum alone would cap the rate below
    /// the bandwidth, and the bandwidth estimate would follow it down.
    fn model_window(&self) -> u64 {
        let bw = self.bandwidth() as u128;
        // A standing queue raises the smoothed RTT but not its variation: count the RTT
        // only as far as it varies, so the floor does not keep our own queue standing.
        let min = self.min_rtt.map_or(0, |m| m.total_micros());
        let rtt = self.srtt.total_micros().min(min + 4 * self.rttvar.total_micros());
        let srtt_pipe = (bw * rtt as u128 * 125 / 100 / 1_000_000) as u64;
        (self.bdp() * self.cwnd_gain() / 100).max(srtt_pipe) + self.extra_acked()
    }

    /// The flight bound set by the last congestion epoch, if it still binds.
    pub fn inflight_hi(&self) -> Option<u64> {
        (self.inflight_hi != u64::MAX).then_some(self.inflight_hi)
    }

    fn end_round(&mut self, now: Instant) {
        let ack_us = (now - self.round_ack_time).total_micros();
        let send_us = (self.latest_acked_sent.max(self.round_sent_time) - self.round_sent_time).total_micros();
        let bytes = self.delivered - self.round_delivered;
        let sample = (bytes as u128 * 1_000_000 / ack_us.max(send_us).max(1) as u128) as u64;
        self.round += 1;
        self.latest_bw = sample;
        let slot = (self.round % Self::BW_WINDOW_ROUNDS) as usize;
        let max = self.bandwidth();
        self.bw_slots[slot] = 0;
        self.extra_slots[slot] = 0;
        if !self.round_app_limited || sample >= max {
            self.bw_slots[slot] = sample;
        } else {
            // An application-limited round says nothing about the path: carry the
            // estimate over instead of letting it age out.
            self.bw_slots[slot] = max;
        }
        let round_total = bytes + self.round_lost;
        if self.state == BbrState::Startup
            && self.round_lost >= Self::STARTUP_LOSS_CHUNKS * self.mss
            && self.round_lost * 100 > round_total * Self::STARTUP_LOSS_PERCENT
        {
            self.state = BbrState::Drain;
        }
        self.round_lost = 0;
        if self.inflight_hi != u64::MAX && self.state == BbrState::ProbeBw && CYCLE[self.cycle] > 100 {
            // Probe the flight bound up again, a chunk per probing round (additive, once
            // per gain cycle): once the model's window no longer reaches it, it is released.
            self.inflight_hi += self.mss;
            if self.inflight_hi > self.model_window() {
                self.inflight_hi = u64::MAX;
            }
        }
        if self.state == BbrState::Startup && !self.round_app_limited {
            if sample >= self.full_bw + self.full_bw / 4 {
                self.full_bw = sample;
                self.full_bw_rounds = 0;
            } else {
                self.full_bw_rounds += 1;
                if self.full_bw_rounds >= 3 {
                    self.state = BbrState::Drain;
                }
            }
        }
        self.round_start = now;
        self.round_ack_time = now;
        self.round_sent_time = self.latest_acked_sent;
        self.round_delivered = self.delivered;
        self.round_app_limited = false;
        self.end_loss_epoch_if_due();
    }

    fn end_loss_epoch_if_due(&mut self) {
        let total = self.epoch_delivered + self.epoch_lost;
        if total < Self::LOSS_EPOCH_CHUNKS * self.mss {
            return;
        }
        let standing_queue = self
            .min_rtt
            .is_some_and(|m| self.epoch_min_rtt.total_micros() * 100 > m.total_micros() * Self::QUEUE_RTT_PERCENT);
        let lost_percent = self.epoch_lost * 100 / total;
        if self.state != BbrState::ProbeBw {
            // Startup's overshoot: its losses end Startup (above) but say nothing about
            // the rate, which Startup measured below the bottleneck's.
        } else if self.epoch_lost * 100 > total * Self::LOSS_THRESHOLD_PERCENT {
            self.congestion_events += 1;
            // Sending faster than the bottleneck by a factor f loses 1 - 1/f of it: a
            // heavy loss rate says how far to fall, never less than to BETA.
            let kept = (100 - lost_percent).min(Self::BETA_PERCENT);
            self.cut_bandwidth(kept);
            self.bound_flight();
        } else if standing_queue && self.epoch_lost * 100 > total * Self::QUEUE_LOSS_THRESHOLD_PERCENT {
            // Light loss at a queue that never drained: the rate is about right (a little
            // high, or shared), the flight is too large. Shrink the flight to the pipe plus
            // a quarter, which drains the queue without slowing the wire.
            self.congestion_events += 1;
            self.cut_bandwidth(Self::QUEUE_BETA_PERCENT);
            self.bound_flight();
        } else {
            self.random_loss_bytes += self.epoch_lost;
        }
        self.epoch_delivered = 0;
        self.epoch_lost = 0;
        self.epoch_min_rtt = Duration::MAX;
    }

    /// Cuts the bandwidth estimate to `kept_percent` of itself, but not below the latest
    /// round's delivery rate (BBRv2's `bw_lo = max(bw_latest, beta x bw_lo)`): what the
    /// path just delivered it can deliver, so persistent random loss above the threshold
    /// costs a little rate per epoch instead of collapsing it.
    fn cut_bandwidth(&mut self, kept_percent: u64) {
        let cut = (self.bandwidth() * kept_percent / 100).max(self.latest_bw);
        for s in &mut self.bw_slots {
            *s = (*s).min(cut);
        }
    }

    /// After congestion: the flight may exceed the (reduced) pipe by a quarter, which
    /// drains a standing queue without slowing the wire.
    fn bound_flight(&mut self) {
        let pipe = self.bdp() * 5 / 4 + self.extra_acked() + self.mss;
        self.inflight_hi = pipe.min(self.inflight_hi).max(Self::MIN_WINDOW_CHUNKS * self.mss);
        self.window = self.window.min(self.target_window());
    }

    fn update_aggregation(&mut self, now: Instant, acked: u64) {
        let bw = self.bandwidth();
        let expected = (bw as u128 * (now - self.agg_start).total_micros() as u128 / 1_000_000) as u64;
        if bw == 0 || self.agg_acked + acked <= expected || now - self.agg_start > Duration::from_millis(100) {
            self.agg_start = now;
            self.agg_acked = acked;
            return;
        }
        self.agg_acked += acked;
        let extra = (self.agg_acked - expected).min(self.window);
        let slot = (self.round % Self::BW_WINDOW_ROUNDS) as usize;
        self.extra_slots[slot] = self.extra_slots[slot].max(extra);
    }
}

impl Controller for Bbr {
    fn on_sent(&mut self, now: Instant, _bytes: u64) {
        if !self.started {
            self.started = true;
            self.round_start = now;
            self.round_ack_time = now;
            self.round_sent_time = now;
            self.latest_acked_sent = now;
            self.cycle_start = now;
            self.agg_start = now;
        }
    }

    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, _rtt: &RttEstimator) {
        self.delivered += bytes;
        self.epoch_delivered += bytes;
        self.latest_acked_sent = self.latest_acked_sent.max(sent);
        if self.started && sent >= self.round_start {
            self.round_end_pending = true;
        }
        let sample = now - sent;
        self.epoch_min_rtt = self.epoch_min_rtt.min(sample);
        if self.min_rtt.is_none_or(|m| sample <= m) || now - self.min_rtt_at > Self::MIN_RTT_WINDOW {
            self.min_rtt = Some(sample);
            self.min_rtt_at = now;
        }
        if self.state == BbrState::Startup && self.window < self.target_window() {
            self.window += bytes;
        }
    }

    fn on_end_acks(&mut self, now: Instant, in_flight: u64, acked: u64, rtt: &RttEstimator) {
        self.srtt = rtt.smoothed();
        self.rttvar = rtt.var();
        if self.round_end_pending {
            self.round_end_pending = false;
            self.end_round(now);
        }
        self.update_aggregation(now, acked);
        let bdp = self.bdp();
        match self.state {
            BbrState::Startup => {}
            BbrState::Drain => {
                if in_flight <= bdp {
                    self.state = BbrState::ProbeBw;
                    // Start the cycle in a cruising phase, varied by time so paths
                    // sharing a bottleneck do not probe in lock step.
                    self.cycle = 2 + (now.total_micros() % 6) as usize;
                    self.cycle_start = now;
                    // Startup's overshoot losses are behind us.
                    self.epoch_delivered = 0;
                    self.epoch_lost = 0;
                }
            }
            BbrState::ProbeBw => {
                let rtt = self.min_rtt.unwrap_or(Duration::from_millis(1));
                let elapsed = now - self.cycle_start;
                let drained = CYCLE[self.cycle] < 100 && in_flight <= bdp;
                if elapsed > rtt || drained {
                    self.cycle = (self.cycle + 1) % CYCLE.len();
                    self.cycle_start = now;
                }
            }
        }
        if self.state != BbrState::Startup {
            let target = self.target_window();
            self.window = if self.window < target { (self.window + acked).min(target) } else { target };
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, _sent: Instant, lost: u64, _rtt: &RttEstimator) {
        self.epoch_lost += lost;
        self.round_lost += lost;
    }

    fn on_app_limited(&mut self) {
        self.round_app_limited = true;
    }

    fn pacing_rate(&self) -> Option<u64> {
        let bw = self.bandwidth();
        (bw > 0).then(|| (bw as u128 * self.pacing_gain() as u128 / 100).min(u64::MAX as u128) as u64)
    }

    fn reset(&mut self) {
        *self = Bbr::new(self.mss, self.initial_window);
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn in_slow_start(&self) -> bool {
        self.state == BbrState::Startup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `rounds` rounds of `per_round` chunks over a path with `rtt_us` RTT,
    /// losing `lost_per_round` of them; returns the controller.
    fn drive(c: &mut Bbr, start: u64, rounds: u64, per_round: u64, lost_per_round: u64, rtt_us: u64) -> u64 {
        let mss = c.mss;
        let rtt = RttEstimator::new(Duration::from_micros(rtt_us));
        let mut t = start;
        for _ in 0..rounds {
            let sent = Instant::from_micros(t);
            for _ in 0..per_round {
                c.on_sent(sent, mss);
            }
            let now = Instant::from_micros(t + rtt_us);
            for _ in 0..per_round - lost_per_round {
                c.on_ack(now, sent, mss, &rtt);
            }
            if lost_per_round > 0 {
                c.on_congestion_event(now, sent, lost_per_round * mss, &rtt);
            }
            c.on_end_acks(now, 0, (per_round - lost_per_round) * mss, &rtt);
            t += rtt_us;
        }
        t
    }

    #[test]
    fn measures_bandwidth_and_leaves_startup() {
        let mss = 1000;
        let mut c = Bbr::new(mss, 10);
        // 100 chunks per 1 ms round = 100 MB/s, flat: Startup ends after 3 flat rounds.
        drive(&mut c, 0, 8, 100, 0, 1000);
        assert_eq!(c.bandwidth(), 100_000_000);
        assert_eq!(c.min_rtt(), Some(Duration::from_millis(1)));
        assert_eq!(c.state(), BbrState::ProbeBw, "in flight 0 ends Drain at once");
        // Window: 2 x BDP (100 kB) plus nothing aggregated beyond the rate.
        assert!(c.window() >= 200_000 && c.window() <= 300_000, "window {}", c.window());
    }

    #[test]
    fn loss_threshold_boundary_pair() {
        let mss = 1000;
        let per_epoch = Bbr::LOSS_EPOCH_CHUNKS;
        let at = per_epoch * Bbr::LOSS_THRESHOLD_PERCENT / 100;
        // 6 of 200 chunks lost per epoch: at the 3% threshold, not above: rate kept.
        let mut c = Bbr::new(mss, 10);
        let t = drive(&mut c, 0, 8, per_epoch, 0, 1000);
        let bw = c.bandwidth();
        drive(&mut c, t, 20, per_epoch, at, 1000);
        assert_eq!(c.congestion_events(), 0);
        assert_eq!(c.inflight_hi(), None);
        assert!(c.bandwidth() * 100 >= bw * 96, "bw {} of {}", c.bandwidth(), bw);
        // 7 of 200: above the threshold, the epoch is congestion and the estimate falls.
        let mut c = Bbr::new(mss, 10);
        let t = drive(&mut c, 0, 8, per_epoch, 0, 1000);
        drive(&mut c, t, 1, per_epoch, at + 1, 1000);
        assert_eq!(c.congestion_events(), 1);
        // Cut, but not below what the lossy round delivered (193 of 200 chunks per ms).
        assert_eq!(c.bandwidth(), (per_epoch - at - 1) * mss * 1000, "bw {} of {}", c.bandwidth(), bw);
        let bdp = c.bandwidth() / 1000;
        let hi = c.inflight_hi().expect("flight bound set");
        assert!(hi > bdp * 5 / 4 && hi < 4 * bdp, "flight bound {hi}: the pipe, a quarter, the aggregation");
    }

    #[test]
    fn light_loss_at_a_standing_queue_shrinks_the_flight() {
        let mss = 1000;
        let per_epoch = Bbr::LOSS_EPOCH_CHUNKS;
        let mut c = Bbr::new(mss, 10);
        let t = drive(&mut c, 0, 8, per_epoch, 0, 1000);
        let before = c.window();
        // RTT 1.5 ms against a 1 ms minimum all epoch, 2.5% lost: congestion.
        drive(&mut c, t, 1, per_epoch, per_epoch * 5 / 200, 1500);
        assert_eq!(c.congestion_events(), 1);
        assert!(c.inflight_hi().is_some_and(|hi| hi < before), "{:?} vs window {before}", c.inflight_hi());
        assert!(c.window() < before);
        // The same loss without a queue is random: nothing changes.
        let mut c = Bbr::new(mss, 10);
        let t = drive(&mut c, 0, 8, per_epoch, 0, 1000);
        drive(&mut c, t, 1, per_epoch, per_epoch * 5 / 200, 1000);
        assert_eq!(c.congestion_events(), 0);
    }
}
