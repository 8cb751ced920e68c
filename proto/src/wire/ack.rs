//! ACK body: which per-path packet numbers arrived, plus stream-level feedback.
//!
//! ```text
//!  0               8       12  14  16              24              32      36
//!  | largest pn    | delay |cnt|rsv| delivered off | max offset    | first |
//!  36 + 8*i: | gap u32 | len u32 |   (cnt times)
//! ```
//! Ranges run downwards from `largest`: the first covers `[largest - first, largest]`;
//! each further range ends `gap + 2` below the previous range's smallest packet and
//! spans `len + 1` packet numbers (QUIC's encoding, in fixed-width fields so the
//! parser stays trivial).

use super::{be_u16, be_u32, be_u64, PacketType, WireError};

/// Most ranges one ACK carries. Older gaps are forgotten; loss detection only needs
/// recent ones because packet-threshold loss is declared within a few packets.
pub const MAX_ACK_RANGES: usize = 16;

mod f {
    crate::layout! { LARGEST: 8, DELAY: 4, COUNT: 2, _: 2, DELIVERED: 8, MAX_OFFSET: 8, FIRST: 4, RANGES: .. }
    /// Each further range: gap and length, four bytes each.
    pub const RANGE_LEN: usize = 8;
}

/// Inclusive packet-number ranges, highest first, non-overlapping and non-adjacent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AckRanges {
    ranges: [(u64, u64); MAX_ACK_RANGES],
    len: usize,
}

impl core::fmt::Debug for AckRanges {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Default for AckRanges {
    fn default() -> Self {
        Self::new()
    }
}

impl AckRanges {
    /// No ranges.
    pub const fn new() -> Self {
        AckRanges { ranges: [(0, 0); MAX_ACK_RANGES], len: 0 }
    }

    /// Appends a range `[lo, hi]` below the ones already held. Returns false (and keeps
    /// nothing) when full or when the range is not strictly below with a gap.
    pub fn push(&mut self, lo: u64, hi: u64) -> bool {
        if self.len == MAX_ACK_RANGES || lo > hi {
            return false;
        }
        if let Some(&(plo, _)) = self.ranges[..self.len].last() {
            if hi.saturating_add(1) >= plo {
                return false;
            }
        }
        self.ranges[self.len] = (lo, hi);
        self.len += 1;
        true
    }

    /// Ranges, highest first, as inclusive `(lo, hi)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges[..self.len].iter().copied()
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no range is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The largest acknowledged packet number.
    pub fn largest(&self) -> Option<u64> {
        self.ranges[..self.len].first().map(|r| r.1)
    }

    /// Whether `pn` is covered.
    pub fn contains(&self, pn: u64) -> bool {
        self.iter().any(|(lo, hi)| lo <= pn && pn <= hi)
    }
}

/// The meaning of an ACK body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckRepr {
    /// Packet numbers of the path that arrived (never empty on the wire).
    pub ranges: AckRanges,
    /// How long the receiver held the largest packet before acknowledging, µs.
    pub ack_delay: u32,
    /// Stream bytes the receiver has delivered in order.
    pub delivered: u64,
    /// Flow-control credit: the sender may send bytes below this offset.
    pub max_offset: u64,
}

impl AckRepr {
    /// Body length for this many ranges.
    pub fn body_len(&self) -> usize {
        f::RANGES + self.ranges.len().saturating_sub(1) * f::RANGE_LEN
    }

    /// Parses an ACK body. Rejects empty, overlapping or underflowing ranges and more
    /// than [`MAX_ACK_RANGES`].
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let kind = PacketType::Ack;
        let bad = |why| WireError::Malformed { kind, why };
        if b.len() < f::RANGES {
            return Err(bad("too short"));
        }
        let count = be_u16(b, f::COUNT) as usize;
        if count + 1 > MAX_ACK_RANGES {
            return Err(bad("too many ranges"));
        }
        if b.len() != f::RANGES + count * f::RANGE_LEN {
            return Err(bad("length disagrees with range count"));
        }
        let largest = be_u64(b, f::LARGEST);
        let first = be_u32(b, f::FIRST) as u64;
        let mut lo = largest.checked_sub(first).ok_or(bad("first range below zero"))?;
        let mut ranges = AckRanges::new();
        ranges.push(lo, largest);
        for i in 0..count {
            let at = f::RANGES + i * f::RANGE_LEN;
            let gap = be_u32(b, at..at + 4) as u64;
            let len = be_u32(b, at + 4..at + 8) as u64;
            let hi = lo.checked_sub(gap + 2).ok_or(bad("gap below zero"))?;
            let new_lo = hi.checked_sub(len).ok_or(bad("range below zero"))?;
            if !ranges.push(new_lo, hi) {
                return Err(bad("bad range"));
            }
            lo = new_lo;
        }
        let delivered = be_u64(b, f::DELIVERED);
        let max_offset = be_u64(b, f::MAX_OFFSET);
        Ok(AckRepr { ranges, ack_delay: be_u32(b, f::DELAY), delivered, max_offset })
    }

    /// Emits into a body of [`AckRepr::body_len`] bytes. Ranges wider than a u32 field
    /// are clipped to their upper part (never happens: per-path windows are far smaller).
    pub fn emit(&self, b: &mut [u8]) {
        b.fill(0);
        let mut it = self.ranges.iter();
        let (mut lo, largest) = it.next().unwrap_or((0, 0));
        b[f::LARGEST].copy_from_slice(&largest.to_be_bytes());
        b[f::DELAY].copy_from_slice(&self.ack_delay.to_be_bytes());
        let count = self.ranges.len().saturating_sub(1) as u16;
        b[f::COUNT].copy_from_slice(&count.to_be_bytes());
        b[f::DELIVERED].copy_from_slice(&self.delivered.to_be_bytes());
        b[f::MAX_OFFSET].copy_from_slice(&self.max_offset.to_be_bytes());
        let first = (largest - lo).min(u32::MAX as u64) as u32;
        b[f::FIRST].copy_from_slice(&first.to_be_bytes());
        for (i, (rlo, rhi)) in it.enumerate() {
            let at = f::RANGES + i * f::RANGE_LEN;
            let gap = (lo - rhi - 2).min(u32::MAX as u64) as u32;
            let len = (rhi - rlo).min(u32::MAX as u64) as u32;
            b[at..at + 4].copy_from_slice(&gap.to_be_bytes());
            b[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
            lo = rlo;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Acks 100..=105 and 90..=97, delay 250 µs, delivered 4096, credit 1 MiB.
    static ACK: [u8; 44] = [
        0, 0, 0, 0, 0, 0, 0, 105, // largest
        0, 0, 0, 250, // delay
        0, 1, 0, 0, // one extra range
        0, 0, 0, 0, 0, 0, 0x10, 0x00, // delivered 4096
        0, 0, 0, 0, 0, 0x10, 0, 0, // max offset 1 MiB
        0, 0, 0, 5, // first range: 100..=105
        0, 0, 0, 1, // gap 1: next range ends at 100 - 1 - 2 = 97
        0, 0, 0, 7, // len 7: 90..=97
    ];

    fn repr() -> AckRepr {
        let mut ranges = AckRanges::new();
        assert!(ranges.push(100, 105));
        assert!(ranges.push(90, 97));
        AckRepr { ranges, ack_delay: 250, delivered: 4096, max_offset: 1 << 20 }
    }

    #[test]
    fn parse() {
        let r = AckRepr::parse(&ACK).unwrap();
        assert_eq!(r, repr());
        assert!(r.ranges.contains(90) && r.ranges.contains(105) && !r.ranges.contains(98));
        assert_eq!(r.ranges.largest(), Some(105));
    }

    #[test]
    fn emit() {
        let r = repr();
        assert_eq!(r.body_len(), 44);
        let mut b = [0xeeu8; 44];
        r.emit(&mut b);
        assert_eq!(b, ACK);
    }

    #[test]
    fn hostile_bodies_are_rejected() {
        let mut b = ACK;
        b[35] = 106; // first range below zero
        assert!(AckRepr::parse(&b).is_err());
        let mut b = ACK;
        b[39] = 200; // gap below zero
        assert!(AckRepr::parse(&b).is_err());
        let mut b = ACK;
        b[13] = 2; // count disagrees with length
        assert!(AckRepr::parse(&b).is_err());
        let mut b = ACK;
        b[12] = 0xff; // absurd count
        assert!(AckRepr::parse(&b).is_err());
        assert!(AckRepr::parse(&ACK[..20]).is_err());
    }

    #[test]
    fn ranges_refuse_overlap() {
        let mut r = AckRanges::new();
        assert!(r.push(10, 20));
        assert!(!r.push(15, 30));
        assert!(!r.push(5, 9)); // adjacent: should have been merged
        assert!(r.push(5, 8));
    }
}
