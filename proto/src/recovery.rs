//! Per-path record of packets in flight and RFC 9002 loss detection over it.
//!
//! Packet numbers of one path are consecutive, so the record is a ring indexed by
//! `pn - base`: O(1) insert, lookup and removal, no hashing. Because each path has its
//! own numbers, packets of other paths never make this path's packets look late:
//! reordering *between* paths cannot cause a loss declaration.

use std::collections::VecDeque;

use crate::time::{Duration, Instant};

/// RFC 9002 kPacketThreshold: a packet is lost once this many later packets of the
/// same path were acknowledged.
pub const PACKET_THRESHOLD: u64 = 3;
/// RFC 9002 kTimeThreshold as a ratio: lost once older than 9/8 of the RTT.
pub const TIME_THRESHOLD: (u64, u64) = (9, 8);

/// What a sent packet carried.
#[derive(Debug, Clone)]
pub struct SentPacket<B> {
    /// When it left.
    pub time_sent: Instant,
    /// Wire bytes counted in flight.
    pub size: u32,
    /// Stream offset and handle if it carried data; `None` for a PING.
    pub data: Option<(u64, B)>,
    /// Its data was already queued for resending elsewhere (PTO re-injection); do not
    /// queue it again when it is declared lost.
    pub reinjected: bool,
}

/// The in-flight record of one path.
#[derive(Debug)]
pub struct SentPackets<B> {
    base: u64,
    slots: VecDeque<Option<SentPacket<B>>>,
    in_flight: u64,
    ack_eliciting_in_flight: usize,
}

impl<B> Default for SentPackets<B> {
    fn default() -> Self {
        SentPackets { base: 0, slots: VecDeque::new(), in_flight: 0, ack_eliciting_in_flight: 0 }
    }
}

impl<B> SentPackets<B> {
    /// Records packet `pn`, which must be the next number after the last recorded one.
    pub fn push(&mut self, pn: u64, p: SentPacket<B>) {
        if self.slots.is_empty() {
            self.base = pn;
        }
        debug_assert_eq!(pn, self.base + self.slots.len() as u64);
        self.in_flight += p.size as u64;
        self.ack_eliciting_in_flight += 1;
        self.slots.push_back(Some(p));
    }

    /// Bytes in flight.
    pub fn bytes_in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Whether anything awaits an acknowledgement.
    pub fn has_ack_eliciting(&self) -> bool {
        self.ack_eliciting_in_flight > 0
    }

    /// Removes and returns packet `pn` if it is still recorded.
    pub fn take(&mut self, pn: u64) -> Option<SentPacket<B>> {
        let idx = pn.checked_sub(self.base)?;
        let slot = self.slots.get_mut(usize::try_from(idx).ok()?)?;
        let p = slot.take()?;
        self.in_flight -= p.size as u64;
        self.ack_eliciting_in_flight -= 1;
        self.compact();
        Some(p)
    }

    fn compact(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// The oldest outstanding packet's send time (PTO is armed from the newest, loss
    /// time from the oldest not yet lost).
    pub fn newest_time_sent(&self) -> Option<Instant> {
        self.slots.iter().rev().flatten().next().map(|p| p.time_sent)
    }

    /// Declares lost every recorded packet below `largest_acked` that is
    /// [`PACKET_THRESHOLD`] packets or `loss_delay` older than it, calling `lost` for
    /// each. Returns when the next not-yet-lost packet would become lost by time.
    pub fn detect_lost(
        &mut self,
        now: Instant,
        largest_acked: u64,
        loss_delay: Duration,
        mut lost: impl FnMut(u64, SentPacket<B>),
    ) -> Option<Instant> {
        let mut loss_time = None;
        let lost_send_time = now - loss_delay;
        let mut i = 0;
        while i < self.slots.len() {
            let pn = self.base + i as u64;
            if pn >= largest_acked {
                break;
            }
            if let Some(p) = &self.slots[i] {
                if p.time_sent <= lost_send_time || largest_acked >= pn + PACKET_THRESHOLD {
                    let p = self.slots[i].take().unwrap_or_else(|| unreachable!());
                    self.in_flight -= p.size as u64;
                    self.ack_eliciting_in_flight -= 1;
                    lost(pn, p);
                } else {
                    let t = p.time_sent + loss_delay;
                    loss_time = Some(loss_time.map_or(t, |l: Instant| l.min(t)));
                }
            }
            i += 1;
        }
        self.compact();
        loss_time
    }

    /// Marks every outstanding data packet re-injected and returns clones of their data,
    /// oldest first (PTO: let healthy paths carry it too).
    pub fn reinject(&mut self, mut out: impl FnMut(u64, &B)) {
        for p in self.slots.iter_mut().flatten() {
            if let (false, Some((off, b))) = (p.reinjected, &p.data) {
                p.reinjected = true;
                out(*off, b);
            }
        }
    }

    /// When the oldest unacknowledged packet left, if any is recorded.
    pub fn oldest_time_sent(&self) -> Option<Instant> {
        self.slots.iter().flatten().next().map(|p| p.time_sent)
    }

    /// Empties the record (path declared down), handing each packet to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(SentPacket<B>)) {
        for p in self.slots.drain(..).flatten() {
            f(p);
        }
        self.base = 0;
        self.in_flight = 0;
        self.ack_eliciting_in_flight = 0;
    }

    /// Packets recorded (including acknowledged holes not yet compacted away).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(t: u64) -> SentPacket<()> {
        SentPacket { time_sent: Instant::from_micros(t), size: 100, data: Some((t, ())), reinjected: false }
    }

    #[test]
    fn packet_and_time_thresholds() {
        let mut s = SentPackets::default();
        for pn in 0..10 {
            s.push(pn, sent(pn * 10));
        }
        assert_eq!(s.bytes_in_flight(), 1000);
        assert!(s.take(5).is_some());
        assert!(s.take(5).is_none(), "double ack is harmless");
        let mut lost = vec![];
        // largest acked 5, loss delay long: only pn <= 2 are lost by packet threshold.
        let lt = s.detect_lost(Instant::from_micros(60), 5, Duration::from_millis(1), |pn, _| lost.push(pn));
        assert_eq!(lost, vec![0, 1, 2]);
        assert_eq!(lt, Some(Instant::from_micros(30) + Duration::from_millis(1)));
        // Time threshold: at 30 + 1000 µs pn 3 is lost, pn 4 (sent at 40) is not yet.
        lost.clear();
        let lt = s.detect_lost(Instant::from_micros(1030), 5, Duration::from_millis(1), |pn, _| lost.push(pn));
        assert_eq!(lost, vec![3]);
        assert_eq!(lt, Some(Instant::from_micros(1040)));
        assert_eq!(s.bytes_in_flight(), 500);
        let mut n = 0;
        s.reinject(|_, _| n += 1);
        s.reinject(|_, _| n += 1);
        assert_eq!(n, 5, "each packet is re-injected once");
    }
}
