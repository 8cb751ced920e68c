//! Receiving side of one path: which packet numbers arrived, when to acknowledge, and
//! the first filter for data (duplicates below the delivered offset, out of window).
//!
//! Lives on the lcore that polls the path. It never touches the reorder window: accepted
//! chunks go to the reassembler through [`ReceiverShared`]'s MPSC queue.

use crate::payload::{Payload, Piece};
use crate::shared::{Chunk, ReceiverShared};
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::transmit::Transmit;
use crate::wire::{AckRanges, AckRepr, Flags, Frame, HeaderRepr, PacketType, Repr, MAX_ACK_RANGES};

/// Received packet-number ranges of a path, highest first, at most [`Self::CAPACITY`].
#[derive(Debug, Clone, Default)]
pub struct ReceivedRanges {
    ranges: Vec<(u64, u64)>,
}

impl ReceivedRanges {
    /// Ranges remembered; older gaps are forgotten (memory bound).
    pub const CAPACITY: usize = 2 * MAX_ACK_RANGES;

    /// Records `pn`. Returns false if it was already recorded (a duplicate packet).
    pub fn insert(&mut self, pn: u64) -> bool {
        // Common case: the next packet in order.
        if let Some(first) = self.ranges.first_mut() {
            if first.1.checked_add(1) == Some(pn) {
                first.1 = pn;
                return true;
            }
        }
        let i = self.ranges.iter().position(|&(lo, _)| lo <= pn).unwrap_or(self.ranges.len());
        if i < self.ranges.len() && pn <= self.ranges[i].1 {
            return false;
        }
        // Not contained: pn lies above range i (if any) and below range i-1 (if any).
        let joins_below = i < self.ranges.len() && self.ranges[i].1.checked_add(1) == Some(pn);
        let joins_above = i > 0 && pn.checked_add(1) == Some(self.ranges[i - 1].0);
        match (joins_below, joins_above) {
            (true, true) => {
                self.ranges[i - 1].0 = self.ranges[i].0;
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i].1 = pn,
            (false, true) => self.ranges[i - 1].0 = pn,
            (false, false) => {
                if i == self.ranges.len() && i >= Self::CAPACITY {
                    // Older than anything remembered: accept, do not track.
                    return true;
                }
                self.ranges.insert(i, (pn, pn));
                self.ranges.truncate(Self::CAPACITY);
            }
        }
        true
    }

    /// Whether `pn` was recorded (and is still remembered).
    pub fn contains(&self, pn: u64) -> bool {
        match self.ranges.first() {
            Some(&(_, hi)) if pn > hi => false,
            _ => self.ranges.iter().any(|&(lo, hi)| lo <= pn && pn <= hi),
        }
    }

    /// Largest recorded packet number.
    pub fn largest(&self) -> Option<u64> {
        self.ranges.first().map(|r| r.1)
    }

    /// The highest [`MAX_ACK_RANGES`] ranges, for an ACK frame.
    pub fn to_ack_ranges(&self) -> AckRanges {
        let mut a = AckRanges::new();
        for &(lo, hi) in self.ranges.iter().take(MAX_ACK_RANGES) {
            a.push(lo, hi);
        }
        a
    }
}

/// Counters of one receiving path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathReceiverStats {
    /// DATA and PING packets accepted on this path.
    pub packets: u64,
    /// Payload bytes accepted.
    pub bytes: u64,
    /// ACK frames sent.
    pub acks_sent: u64,
}

/// The receiving side of one path.
#[derive(Debug)]
pub struct PathReceiver {
    id: u16,
    received: ReceivedRanges,
    pending: u32,
    first_pending_at: Option<Instant>,
    largest_at: Instant,
    ack_now: bool,
    peer_timestamp: u32,
    advertised: u64,
    acked_delivered: u64,
    last_ack_at: Option<Instant>,
    ack_every: u32,
    max_ack_delay: Duration,
    stats: PathReceiverStats,
    /// The sender's DATA and PING numbers seen on this path (sealed sessions).
    replay: crate::crypto::ReplayWindow,
}

impl PathReceiver {
    /// The receiving side of path `id`, acknowledging every `ack_every` packets or
    /// `max_ack_delay`, whichever comes first.
    pub fn new(id: u16, ack_every: u32, max_ack_delay: Duration) -> Self {
        PathReceiver {
            id,
            received: ReceivedRanges::default(),
            pending: 0,
            first_pending_at: None,
            largest_at: Instant::ZERO,
            ack_now: false,
            peer_timestamp: 0,
            advertised: 0,
            acked_delivered: 0,
            last_ack_at: None,
            ack_every: ack_every.max(1),
            max_ack_delay,
            stats: PathReceiverStats::default(),
            replay: crate::crypto::ReplayWindow::default(),
        }
    }

    /// Records the number of an authenticated DATA or PING; false if it is a replay.
    pub(crate) fn accept_number(&mut self, pn: u64) -> bool {
        self.replay.accept(pn)
    }

    /// Path id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Counters.
    pub fn stats(&self) -> PathReceiverStats {
        self.stats
    }

    /// The latest timestamp the peer sent on this path.
    pub fn peer_timestamp(&self) -> u32 {
        self.peer_timestamp
    }

    fn record(&mut self, now: Instant, header: &HeaderRepr) -> bool {
        let pn = header.packet_number;
        let gap = self.received.largest().is_some_and(|l| pn > l.saturating_add(1));
        let new_largest = self.received.largest().is_none_or(|l| pn > l);
        let fresh = self.received.insert(pn);
        if new_largest {
            self.largest_at = now;
            self.peer_timestamp = header.timestamp;
        }
        // Ack at once on a gap (speeds the sender's loss detection), on request, and on
        // a duplicate (our ACK was probably lost).
        if gap || header.flags.ack_now() || !fresh {
            self.ack_now = true;
        }
        self.pending += 1;
        if self.first_pending_at.is_none() {
            self.first_pending_at = Some(now);
        }
        fresh
    }

    /// Asks for an ACK on this path at the next `poll_transmit` (a sign of life when
    /// no data arrives to acknowledge, e.g. while the FIN waits for the application).
    pub(crate) fn request_ack(&mut self) {
        self.ack_now = true;
    }

    /// A PING arrived on this path.
    pub fn handle_ping(&mut self, now: Instant, header: &HeaderRepr) -> Result<(), DropReason> {
        if header.path_id != self.id {
            return Err(DropReason::UnknownPath);
        }
        self.stats.packets += 1;
        if !self.record(now, header) {
            return Err(DropReason::Duplicate);
        }
        Ok(())
    }

    /// A chunk of the stream arrived on this path: a DATA packet's payload handle
    /// (`Piece::Bytes`), or a ZEROS record (`Piece::Zeros`) that stands for that many
    /// zero bytes and is refused as `Unexpected` in a session that did not accept them.
    /// Either is checked for chunk shape, stream end and window against the shared
    /// delivered offset, its packet number recorded, and handed to the reassembler.
    /// Data that is dropped for lack of room is *not* acknowledged, so the sender
    /// resends it; duplicates are acknowledged.
    pub fn handle_chunk<B: Payload>(
        &mut self,
        now: Instant,
        header: &HeaderRepr,
        payload: Piece<B>,
        shared: &ReceiverShared<B>,
    ) -> Result<(), DropReason> {
        if header.path_id != self.id {
            return Err(DropReason::UnknownPath);
        }
        if matches!(payload, Piece::Zeros(_)) && !shared.zeros() {
            return Err(DropReason::Unexpected);
        }
        let len = payload.len() as u64;
        let chunk = shared.chunk_size();
        let offset = header.offset;
        let end = offset.checked_add(len).ok_or(DropReason::BadChunk)?;
        if len == 0 || len > chunk || !offset.is_multiple_of(chunk) || shared.end().is_some_and(|e| end > e) {
            return Err(DropReason::BadChunk);
        }
        let delivered = shared.delivered();
        if end <= delivered {
            self.record(now, header);
            return Err(DropReason::Duplicate);
        }
        if end > delivered.saturating_add(shared.window()) {
            return Err(DropReason::OutOfWindow);
        }
        if self.received.contains(header.packet_number) {
            self.record(now, header);
            return Err(DropReason::Duplicate);
        }
        if shared.push_inbox(Chunk { offset, payload }).is_err() {
            return Err(DropReason::Backpressure);
        }
        self.record(now, header);
        self.stats.packets += 1;
        self.stats.bytes += len;
        Ok(())
    }

    /// When the delayed-ACK timer fires, if an ACK is pending. `delivered` is the shared
    /// delivered offset: progress the sender has not heard of yet is reported at most
    /// every `max_ack_delay`, even when no packet arrives (the reassembler may deliver
    /// the last chunks after this path acknowledged them).
    pub fn poll_timeout(&self, delivered: u64) -> Option<Instant> {
        if self.ack_now {
            return Some(self.largest_at);
        }
        let pending = self.first_pending_at.map(|t| t + self.max_ack_delay);
        let progress = (delivered > self.acked_delivered && self.received.largest().is_some())
            .then(|| self.last_ack_at.map_or(self.largest_at, |t| t + self.max_ack_delay));
        match (pending, progress) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// An ACK frame if one is due: `ack_every` packets pending, the delay passed, a gap or
    /// an explicit request, or the flow-control credit grew by a quarter window since this
    /// path last advertised it (so a sender blocked on credit learns about the room).
    pub fn poll_transmit<B: Payload>(
        &mut self,
        now: Instant,
        shared: &ReceiverShared<B>,
        session_id: u64,
    ) -> Option<Transmit<B>> {
        self.received.largest()?;
        let max_offset = shared.max_offset();
        let due = self.ack_now
            || self.pending >= self.ack_every
            || self.first_pending_at.is_some_and(|t| now >= t + self.max_ack_delay)
            // The HELLO-ACK advertised `window` before any ACK did.
            || max_offset >= self.advertised.max(shared.window()) + (shared.window() / 4).max(1)
            || (shared.delivered() > self.acked_delivered
                && self.last_ack_at.is_none_or(|t| now >= t + self.max_ack_delay));
        if !due {
            return None;
        }
        let ack = AckRepr {
            ranges: self.received.to_ack_ranges(),
            ack_delay: (now - self.largest_at).total_micros().min(u32::MAX as u64) as u32,
            delivered: shared.delivered(),
            max_offset,
        };
        self.advertised = max_offset;
        self.acked_delivered = ack.delivered;
        self.last_ack_at = Some(now);
        self.pending = 0;
        self.first_pending_at = None;
        self.ack_now = false;
        // ACKs are numbered per path (their own space): a sealed ACK's nonce is unique.
        let packet_number = self.stats.acks_sent;
        self.stats.acks_sent += 1;
        let frame = Frame::Ack(Box::new(ack));
        let sealed = if shared.keyring().keyed() { Flags::SEALED } else { 0 };
        let header = HeaderRepr {
            packet_type: PacketType::Ack,
            flags: Flags(sealed),
            path_id: self.id,
            session_id,
            packet_number,
            offset: 0,
            length: frame.body_len() as u16,
            timestamp: now.wire_timestamp(),
            timestamp_echo: self.peer_timestamp,
        };
        Some(Transmit { path: self.id, repr: Repr { header, frame }, payload: None, pad_to: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_detect_duplicates() {
        let mut r = ReceivedRanges::default();
        for pn in [0, 1, 2, 5, 6, 4, 9] {
            assert!(r.insert(pn));
        }
        assert!(!r.insert(5));
        assert!(!r.insert(0));
        assert_eq!(r.ranges, vec![(9, 9), (4, 6), (0, 2)]);
        assert!(r.insert(3));
        assert_eq!(r.ranges, vec![(9, 9), (0, 6)]);
        assert!(r.insert(8) && r.insert(7));
        assert_eq!(r.ranges, vec![(0, 9)]);
    }

    #[test]
    fn ranges_survive_extreme_packet_numbers() {
        // Found by the receiver fuzz target: `largest + 1` overflowed.
        let mut r = ReceivedRanges::default();
        assert!(r.insert(u64::MAX));
        assert!(!r.insert(u64::MAX));
        assert!(r.insert(u64::MAX - 1));
        assert!(r.insert(0));
        assert_eq!(r.ranges, vec![(u64::MAX - 1, u64::MAX), (0, 0)]);
        let mut p = PathReceiver::new(0, 16, Duration::from_micros(1));
        let mut h = crate::wire::HeaderRepr {
            packet_type: PacketType::Ping,
            flags: Flags::empty(),
            path_id: 0,
            session_id: 0,
            packet_number: u64::MAX,
            offset: 0,
            length: 0,
            timestamp: 0,
            timestamp_echo: 0,
        };
        assert!(p.handle_ping(Instant::ZERO, &h).is_ok());
        h.packet_number = 3;
        assert!(p.handle_ping(Instant::ZERO, &h).is_ok());
    }

    #[test]
    fn ranges_stay_bounded() {
        let mut r = ReceivedRanges::default();
        for pn in 0..1000 {
            r.insert(pn * 2);
        }
        assert_eq!(r.ranges.len(), ReceivedRanges::CAPACITY);
        assert_eq!(r.largest(), Some(1998));
        assert_eq!(r.to_ack_ranges().len(), MAX_ACK_RANGES);
    }
}
