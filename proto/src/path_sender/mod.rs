//! Sending side of one path: packet numbers, in-flight record, RTT, loss detection
//! (RFC 9002), probe timeout, congestion control, pacing and path health.
//!
//! Lives on the lcore that polls the path. Call order per loop iteration:
//! `handle_ack` for each ACK received on the path, `handle_timeout(now)` if
//! `poll_timeout()` passed, then `poll_transmit(now)` until it returns `None` (or the
//! TX burst is full).

use crate::config::{PathProbe, SenderConfig};
use crate::congestion::{CongestionControl, Controller};
use crate::pacer::Pacer;
use crate::recovery::{SentPacket, SentPackets, TIME_THRESHOLD};
use crate::rtt::RttEstimator;
use crate::shared::{Chunk, SenderShared};
use crate::time::{Duration, Instant};
use crate::timer::TimerTable;
use crate::transmit::Transmit;
use crate::wire::{AckRepr, Flags, Frame, HeaderRepr, PacketType, Repr, ZerosRepr, HEADER_LEN};
use crate::Payload;

mod mtu;

pub use mtu::{PathEvent, PathMtu};

/// Health of a path as the sender sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathHealth {
    /// Carrying data.
    Up,
    /// No ACK for K probe timeouts: carries only probes, every `probe_interval`,
    /// until one is acknowledged.
    Down,
}

crate::timer_kinds! {
    enum PathTimer {
        /// Loss time (time threshold) or probe timeout.
        Loss,
        /// Pacer allows the next packet.
        Pacing,
        /// Next probe of a down path.
        Probe,
        /// Next path-MTU probe pair, and the check's deadline.
        Mtu,
    }
}

/// Counters of one sending path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathSenderStats {
    /// Packets sent (data and probes).
    pub packets: u64,
    /// Wire bytes sent (header + payload).
    pub bytes: u64,
    /// DATA packets that carried a resent chunk.
    pub resends: u64,
    /// Chunks sent as ZEROS records (all zeros: their length, no payload).
    pub zero_records: u64,
    /// Packets declared lost.
    pub lost: u64,
    /// Probe timeouts.
    pub ptos: u64,
    /// ACK frames processed.
    pub acks: u64,
    /// Times the path was marked down.
    pub downs: u64,
    /// Times it came back.
    pub ups: u64,
}

/// RTT and window snapshot of a path, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathSnapshot {
    /// Smoothed RTT.
    pub srtt: Duration,
    /// Minimum RTT.
    pub min_rtt: Duration,
    /// RTT variation.
    pub rttvar: Duration,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes in flight.
    pub in_flight: u64,
    /// Health.
    pub health: PathHealth,
}

/// The sending side of one path.
#[derive(Debug)]
pub struct PathSender<B> {
    id: u16,
    mss: u64,
    next_pn: u64,
    sent: SentPackets<B>,
    rtt: RttEstimator,
    cc: CongestionControl,
    pacer: Pacer,
    largest_acked: Option<u64>,
    loss_time: Option<Instant>,
    pto_count: u32,
    health: PathHealth,
    timers: TimerTable<PathTimer, { PathTimer::COUNT }>,
    probes_pending: u8,
    peer_timestamp: u32,
    initial_rtt: Duration,
    granularity: Duration,
    max_ack_delay: Duration,
    down_after: u32,
    probe_interval: Duration,
    min_pto: Duration,
    stats: PathSenderStats,
    /// The path-MTU check, when asked for.
    probe: Option<PathProbe>,
    mtu: PathMtu,
    /// When the current check started (at the first transmit opportunity).
    mtu_since: Option<Instant>,
    /// A base-size probe was acknowledged in the current check.
    mtu_base_ok: bool,
    /// Probes of the pair still to send.
    mtu_pending: u8,
    /// Full-size probes sent since a base-size one was acknowledged.
    mtu_full_after_base: u8,
    /// Outstanding probes: packet number and whether full-size.
    mtu_probes: Vec<(u64, bool)>,
    /// Counted in the shared number of failed paths.
    mtu_counted: bool,
    event: Option<PathEvent>,
    /// The receiver's ACK numbers seen on this path (sealed sessions).
    replay: crate::crypto::ReplayWindow,
}

impl<B: Payload> PathSender<B> {
    /// The sending side of path `id`.
    pub fn new(id: u16, config: &SenderConfig) -> Self {
        let mss = (HEADER_LEN + config.chunk_size as usize) as u64;
        PathSender {
            id,
            mss,
            next_pn: 0,
            sent: SentPackets::default(),
            rtt: RttEstimator::new(config.initial_rtt),
            cc: CongestionControl::new(config.congestion, mss),
            pacer: Pacer::new(mss),
            largest_acked: None,
            loss_time: None,
            pto_count: 0,
            health: PathHealth::Up,
            timers: TimerTable::default(),
            probes_pending: 0,
            peer_timestamp: 0,
            initial_rtt: config.initial_rtt,
            granularity: config.granularity,
            max_ack_delay: config.max_ack_delay,
            down_after: config.pto_down_threshold.max(1),
            probe_interval: config.probe_interval,
            min_pto: config.min_pto,
            stats: PathSenderStats::default(),
            probe: config.path_probe,
            mtu: if config.path_probe.is_some() { PathMtu::Probing } else { PathMtu::Ok },
            mtu_since: None,
            mtu_base_ok: false,
            mtu_pending: 0,
            mtu_full_after_base: 0,
            mtu_probes: Vec::new(),
            mtu_counted: false,
            event: None,
            replay: crate::crypto::ReplayWindow::default(),
        }
    }

    /// Where the path stands in the path-MTU check.
    pub fn mtu(&self) -> PathMtu {
        self.mtu
    }

    /// The latest event on this path not yet taken.
    pub fn take_event(&mut self) -> Option<PathEvent> {
        self.event.take()
    }

    /// Records the number of an authenticated ACK; false if it is a replay.
    pub(crate) fn accept_number(&mut self, pn: u64) -> bool {
        self.replay.accept(pn)
    }

    /// Path id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Health.
    pub fn health(&self) -> PathHealth {
        self.health
    }

    /// Counters.
    pub fn stats(&self) -> PathSenderStats {
        self.stats
    }

    /// The RTT estimator.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// The congestion controller.
    pub fn congestion(&self) -> &CongestionControl {
        &self.cc
    }

    /// RTT, window and health.
    pub fn snapshot(&self) -> PathSnapshot {
        PathSnapshot {
            srtt: self.rtt.smoothed(),
            min_rtt: self.rtt.min(),
            rttvar: self.rtt.var(),
            cwnd: self.cc.window(),
            in_flight: self.sent.bytes_in_flight(),
            health: self.health,
        }
    }

    /// Seeds the RTT from the handshake (HELLO → HELLO-ACK on this path).
    pub fn seed_rtt(&mut self, now: Instant, rtt: Duration) {
        if !self.rtt.has_sample() {
            self.rtt.update(now, rtt, Duration::ZERO);
            self.update_pacer();
        }
    }

    /// The latest timestamp the peer sent on this path (echoed in our headers).
    pub fn set_peer_timestamp(&mut self, ts: u32) {
        self.peer_timestamp = ts;
    }

    /// Probe timeout for the current RTT, without backoff.
    pub fn pto(&self) -> Duration {
        self.rtt.pto_base(self.granularity, self.max_ack_delay).max(self.min_pto)
    }

    /// Sends a PING (ack-eliciting, outside window and pacer) at the next `poll_transmit`:
    /// a keep-alive when nothing else would go out.
    pub fn request_probe(&mut self) {
        self.probes_pending = self.probes_pending.max(1);
    }

    /// Earliest time this path needs `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn header(&self, now: Instant, kind: PacketType, session: u64, pn: u64) -> HeaderRepr {
        HeaderRepr {
            packet_type: kind,
            flags: Flags::empty(),
            path_id: self.id,
            session_id: session,
            packet_number: pn,
            offset: 0,
            length: 0,
            timestamp: now.wire_timestamp(),
            timestamp_echo: self.peer_timestamp,
        }
    }

    fn update_pacer(&mut self) {
        if let Some(rate) = self.cc.pacing_rate() {
            self.pacer.set_bytes_per_sec(rate);
            return;
        }
        let gain = if self.cc.in_slow_start() { 200 } else { 125 };
        self.pacer.set_rate(self.cc.window(), self.rtt.smoothed(), gain);
    }

    fn arm_loss_timer(&mut self) {
        if self.health == PathHealth::Down {
            self.timers.stop(PathTimer::Loss);
            return;
        }
        if let Some(t) = self.loss_time {
            self.timers.set(PathTimer::Loss, t);
            return;
        }
        match self.sent.newest_time_sent() {
            Some(last) if self.sent.has_ack_eliciting() => {
                let backoff = 1u64 << self.pto_count.min(16);
                self.timers.set(PathTimer::Loss, last + self.pto().saturating_mul(backoff));
            }
            _ => self.timers.stop(PathTimer::Loss),
        }
    }

    /// The next packet for this path, if congestion window, pacer and health allow one
    /// and there is something to send. Probes bypass window and pacer.
    pub fn poll_transmit(&mut self, now: Instant, shared: &SenderShared<B>) -> Option<Transmit<B>> {
        if !shared.is_established() {
            return None;
        }
        if self.probes_pending > 0 {
            self.probes_pending -= 1;
            return Some(self.send_ping(now, shared));
        }
        if self.health == PathHealth::Down {
            return None;
        }
        if self.mtu != PathMtu::Ok {
            return self.poll_mtu_probe(now, shared);
        }
        if self.sent.bytes_in_flight() + self.mss > self.cc.window() {
            return None;
        }
        if !shared.has_data() {
            self.cc.on_app_limited();
            return None;
        }
        if let Some(at) = self.pacer.delay(now, self.mss) {
            self.timers.set(PathTimer::Pacing, at);
            return None;
        }
        // The session's cap last: its reservation is spent only when the path sends.
        let payload = self.mss.saturating_sub(HEADER_LEN as u64);
        if let Some(Err(at)) = shared.rate_limit().map(|cap| cap.reserve(now, payload)) {
            self.timers.set(PathTimer::Pacing, at);
            return None;
        }
        self.timers.stop(PathTimer::Pacing);
        let next = shared.next_chunk()?;
        let (chunk, resend) = (next.chunk, next.resend);
        let pn = self.next_pn;
        self.next_pn += 1;
        let len = chunk.payload.byte_len();
        // An all-zero chunk goes as its length (a ZEROS record) once the receiver took
        // them: checked when pushed, or here for a resend.
        let zeros = next.zeros.unwrap_or_else(|| shared.zeros() && chunk.payload.all_zero());
        let kind = if zeros { PacketType::Zeros } else { PacketType::Data };
        let mut header = self.header(now, kind, shared.session_id(), pn);
        if shared.keyring().keyed() {
            header.flags.0 |= Flags::SEALED;
        }
        header.offset = chunk.offset;
        header.length = if zeros { ZerosRepr::BODY_LEN as u16 } else { len as u16 };
        if shared.end() == Some(chunk.end()) {
            header.flags.0 |= Flags::ACK_NOW;
        }
        let size = (HEADER_LEN + header.length as usize) as u32;
        self.sent.push(
            pn,
            SentPacket { time_sent: now, size, data: Some((chunk.offset, chunk.payload.clone())), reinjected: false },
        );
        self.cc.on_sent(now, size as u64);
        self.pacer.on_sent(now, size as u64);
        self.stats.packets += 1;
        self.stats.bytes += size as u64;
        if resend {
            self.stats.resends += 1;
        }
        if self.timers.get(PathTimer::Loss).is_none() {
            self.arm_loss_timer();
        }
        if zeros {
            self.stats.zero_records += 1;
            let frame = Frame::Zeros(ZerosRepr { len: len as u32 });
            return Some(Transmit { path: self.id, repr: Repr { header, frame }, payload: None, pad_to: 0 });
        }
        Some(Transmit {
            path: self.id,
            repr: Repr { header, frame: Frame::Data },
            payload: Some(chunk.payload),
            pad_to: 0,
        })
    }

    fn send_ping(&mut self, now: Instant, shared: &SenderShared<B>) -> Transmit<B> {
        let pn = self.next_pn;
        self.next_pn += 1;
        let mut header = self.header(now, PacketType::Ping, shared.session_id(), pn);
        if shared.keyring().keyed() {
            header.flags.0 |= Flags::SEALED;
        }
        header.flags.0 |= Flags::ACK_NOW;
        if self.health == PathHealth::Down && self.sent.len() > 16 {
            // Old unanswered probes of a down path: forget them so the record stays small.
            self.sent.drain(|_| {});
        }
        self.sent.push(pn, SentPacket { time_sent: now, size: HEADER_LEN as u32, data: None, reinjected: false });
        self.stats.packets += 1;
        self.stats.bytes += HEADER_LEN as u64;
        self.arm_loss_timer();
        Transmit { path: self.id, repr: Repr { header, frame: Frame::Ping }, payload: None, pad_to: 0 }
    }

    /// Processes an ACK frame received for this path. Lost data goes to the shared
    /// resend queue; receiver feedback goes to the shared atomics.
    pub fn handle_ack(&mut self, now: Instant, header: &HeaderRepr, ack: &AckRepr, shared: &SenderShared<B>) {
        self.stats.acks += 1;
        self.peer_timestamp = header.timestamp;
        shared.on_feedback(ack.delivered, ack.max_offset);
        let Some(largest) = ack.ranges.largest() else { return };
        if largest >= self.next_pn {
            // Acknowledges something never sent: ignore the frame's ranges.
            return;
        }
        self.mtu_acked(ack, shared);
        let mut newly_acked = false;
        let mut acked_bytes = 0;
        let mut largest_sent_time = None;
        for (lo, hi) in ack.ranges.iter() {
            // Only numbers still recorded can match; bounds the loop for hostile ranges.
            let lo = lo.max(self.next_pn.saturating_sub(self.sent.len() as u64));
            for pn in lo..=hi {
                if let Some(p) = self.sent.take(pn) {
                    newly_acked = true;
                    if pn == largest {
                        largest_sent_time = Some(p.time_sent);
                    }
                    if p.data.is_some() {
                        acked_bytes += p.size as u64;
                        self.cc.on_ack(now, p.time_sent, p.size as u64, &self.rtt);
                    }
                }
            }
        }
        if !newly_acked {
            return;
        }
        if let Some(sent) = largest_sent_time {
            shared.note_acked_sent(sent);
        }
        if self.health == PathHealth::Down {
            self.health = PathHealth::Up;
            self.stats.ups += 1;
            self.cc.reset();
            self.timers.stop(PathTimer::Probe);
            // What carried small probes may not carry full frames (a link re-plugged
            // into another switch port): check again before data.
            if self.mtu == PathMtu::Ok {
                self.restart_mtu_check(shared);
            }
        }
        if self.largest_acked.is_none_or(|l| largest > l) {
            self.largest_acked = Some(largest);
            if let Some(sent) = largest_sent_time {
                self.rtt.update(now, now - sent, Duration::from_micros(ack.ack_delay as u64));
            }
        }
        self.pto_count = 0;
        self.detect_lost(now, shared);
        self.cc.on_end_acks(now, self.sent.bytes_in_flight(), acked_bytes, &self.rtt);
        self.update_pacer();
        self.arm_loss_timer();
    }

    fn detect_lost(&mut self, now: Instant, shared: &SenderShared<B>) {
        let Some(largest) = self.largest_acked else { return };
        let base = self.rtt.smoothed().max(self.rtt.latest());
        let loss_delay = base.mul_ratio(TIME_THRESHOLD.0, TIME_THRESHOLD.1).max(self.granularity);
        let mut lost_bytes = 0;
        let mut newest_lost = None;
        let mut lost_count = 0;
        self.loss_time = self.sent.detect_lost(now, largest, loss_delay, |_, p| {
            lost_count += 1;
            if let Some((offset, payload)) = p.data {
                lost_bytes += p.size as u64;
                newest_lost = Some(p.time_sent);
                if !p.reinjected {
                    shared.push_resend(Chunk { offset, payload });
                }
            }
        });
        self.stats.lost += lost_count;
        if let Some(sent) = newest_lost {
            self.cc.on_congestion_event(now, sent, lost_bytes, &self.rtt);
        }
    }

    /// Runs expired timers: loss time, probe timeout (probe, re-inject in-flight data for
    /// other paths, mark down after K), down-path probing.
    pub fn handle_timeout(&mut self, now: Instant, shared: &SenderShared<B>) {
        self.timers.take_expired(PathTimer::Pacing, now);
        if self.timers.take_expired(PathTimer::Mtu, now) {
            self.mtu_timeout(now, shared);
        }
        if self.timers.take_expired(PathTimer::Probe, now) && self.health == PathHealth::Down {
            self.probes_pending = 1;
            self.timers.set(PathTimer::Probe, now + self.probe_interval);
        }
        if !self.timers.take_expired(PathTimer::Loss, now) {
            return;
        }
        if self.loss_time.is_some_and(|t| t <= now) {
            self.detect_lost(now, shared);
            self.arm_loss_timer();
            return;
        }
        // Probe timeout.
        self.stats.ptos += 1;
        self.pto_count += 1;
        if self.pto_count >= self.down_after {
            self.go_down(now, shared);
            return;
        }
        self.probes_pending = 1;
        // Move this path's flight to other paths only when the receiver is
        // demonstrably processing newer data elsewhere: some path had a packet
        // acknowledged that was sent after our oldest unacknowledged one. When
        // the receiver (or the whole machine) stalled, every path times out
        // at once with nothing newer acknowledged anywhere, and reinjecting
        // would only duplicate every window: probe instead, and let the
        // probe's ACK (loss detection) or the path-down rule move the data.
        let alive_elsewhere = match (shared.newest_acked_sent(), self.sent.oldest_time_sent()) {
            (Some(acked), Some(oldest)) => acked > oldest,
            _ => false,
        };
        if alive_elsewhere {
            self.sent.reinject(|offset, payload| shared.push_resend(Chunk { offset, payload: payload.clone() }));
        }
        self.arm_loss_timer();
    }

    fn go_down(&mut self, now: Instant, shared: &SenderShared<B>) {
        self.health = PathHealth::Down;
        self.stats.downs += 1;
        self.sent.drain(|p| {
            if let (false, Some((offset, payload))) = (p.reinjected, p.data) {
                shared.push_resend(Chunk { offset, payload });
            }
        });
        self.cc.reset();
        self.rtt.reset(self.initial_rtt);
        self.largest_acked = None;
        self.loss_time = None;
        self.pto_count = 0;
        self.probes_pending = 0;
        self.timers.stop(PathTimer::Loss);
        self.timers.stop(PathTimer::Pacing);
        self.timers.set(PathTimer::Probe, now + self.probe_interval);
    }
}
