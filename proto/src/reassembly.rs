//! The reorder window: places chunks by offset, hands out in-order runs.
//!
//! Owned by exactly one thread (the reassembler). Because every chunk but the last is
//! exactly `chunk_size` long and starts on a multiple of it (resends keep the original
//! boundaries), the window is a ring of `window / chunk_size` slots indexed by
//! `offset / chunk_size`: O(1) placement and delivery, no tree, no allocation after
//! start-up. Memory is bounded by the slot count, whatever arrives.

use crate::payload::{Payload, Piece};
use crate::shared::{Chunk, ReceiverShared};
use crate::stats::{DropCounters, DropReason};

/// The reorder window of one session.
#[derive(Debug)]
pub struct Reassembler<B> {
    slots: Vec<Option<Piece<B>>>,
    chunk: u64,
    delivered: u64,
    held: usize,
    drops: DropCounters,
}

impl<B: Payload> Reassembler<B> {
    /// A window of `window` bytes (rounded down to whole chunks, at least one).
    pub fn new(chunk_size: u64, window: u64) -> Self {
        let chunk = chunk_size.max(1);
        let n = (window / chunk).max(1) as usize;
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, || None);
        Reassembler { slots, chunk, delivered: 0, held: 0, drops: DropCounters::default() }
    }

    /// Window size in bytes actually used (whole chunks).
    pub fn window(&self) -> u64 {
        self.slots.len() as u64 * self.chunk
    }

    /// Bytes delivered in order.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Whether the next in-order chunk is here, waiting for `poll_deliver`.
    pub fn can_deliver(&self) -> bool {
        self.slots[self.slot(self.delivered)].is_some()
    }

    /// Chunks held out of order.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Drops counted here (duplicates within the window, late duplicates, bad chunks).
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    fn slot(&self, offset: u64) -> usize {
        ((offset / self.chunk) % self.slots.len() as u64) as usize
    }

    /// Places one chunk. Re-validates everything (lcores checked against a possibly
    /// stale delivered offset).
    pub fn insert(&mut self, c: Chunk<Piece<B>>, shared: &ReceiverShared<B>) -> Result<(), DropReason> {
        let len = c.payload.as_ref().len() as u64;
        let end = c.offset.checked_add(len).ok_or(DropReason::BadChunk)?;
        if len == 0 || len > self.chunk || !c.offset.is_multiple_of(self.chunk) {
            return Err(DropReason::BadChunk);
        }
        if end <= self.delivered || c.offset < self.delivered {
            return Err(DropReason::Duplicate);
        }
        if end > self.delivered + self.window() {
            return Err(DropReason::OutOfWindow);
        }
        if len < self.chunk {
            // A short chunk ends the stream; a second, different end is a violation.
            if shared.set_end(end) != end {
                return Err(DropReason::BadChunk);
            }
        }
        if shared.end().is_some_and(|e| end > e) {
            return Err(DropReason::BadChunk);
        }
        let i = self.slot(c.offset);
        if self.slots[i].is_some() {
            return Err(DropReason::Duplicate);
        }
        self.slots[i] = Some(c.payload);
        self.held += 1;
        Ok(())
    }

    /// Moves everything the path lcores queued into the window.
    pub fn drain_inbox(&mut self, shared: &ReceiverShared<B>) {
        while let Some(c) = shared.pop_inbox() {
            if let Err(r) = self.insert(c, shared) {
                self.drops.count(r);
            }
        }
    }

    /// The next in-order chunk, if present. Advances the delivered offset (and with it
    /// the flow-control credit the paths advertise).
    pub fn poll_deliver(&mut self, shared: &ReceiverShared<B>) -> Option<Piece<B>> {
        let i = self.slot(self.delivered);
        let b = self.slots[i].take()?;
        self.held -= 1;
        self.delivered += b.as_ref().len() as u64;
        shared.set_delivered(self.delivered);
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SharedBytes;

    fn chunk(off: u64, len: usize) -> Chunk<Piece<SharedBytes>> {
        Chunk { offset: off, payload: Piece::Bytes(SharedBytes::from(vec![off as u8; len])) }
    }

    #[test]
    fn places_and_delivers_in_order() {
        let shared = ReceiverShared::new(16);
        shared.serve(1, 4, 16, None);
        let mut r = Reassembler::new(4, 16);
        assert_eq!(r.insert(chunk(8, 4), &shared), Ok(()));
        assert_eq!(r.insert(chunk(8, 4), &shared), Err(DropReason::Duplicate));
        assert_eq!(r.insert(chunk(16, 4), &shared), Err(DropReason::OutOfWindow));
        assert_eq!(r.insert(chunk(5, 4), &shared), Err(DropReason::BadChunk));
        assert!(r.poll_deliver(&shared).is_none());
        r.insert(chunk(0, 4), &shared).unwrap();
        r.insert(chunk(4, 4), &shared).unwrap();
        let got: Vec<u8> = std::iter::from_fn(|| r.poll_deliver(&shared)).map(|b| b.as_ref()[0]).collect();
        assert_eq!(got, vec![0, 4, 8]);
        assert_eq!(shared.delivered(), 12);
        assert_eq!(r.insert(chunk(4, 4), &shared), Err(DropReason::Duplicate));
        // Short chunk sets the end; data past it is refused.
        r.insert(chunk(16, 2), &shared).unwrap();
        assert_eq!(shared.end(), Some(18));
        assert_eq!(r.insert(chunk(20, 4), &shared), Err(DropReason::BadChunk));
        r.insert(chunk(12, 4), &shared).unwrap();
        assert_eq!(r.poll_deliver(&shared).unwrap().as_ref().len(), 4);
        assert_eq!(r.poll_deliver(&shared).unwrap().as_ref().len(), 2);
        assert_eq!(shared.delivered(), 18);
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn zero_runs_take_slots_like_data() {
        let shared = ReceiverShared::new(16);
        shared.serve(1, 4, 16, None);
        let mut r = Reassembler::<SharedBytes>::new(4, 16);
        let zeros = |off, n| Chunk { offset: off, payload: Piece::Zeros(n) };
        assert_eq!(r.insert(zeros(4, 4), &shared), Ok(()));
        assert_eq!(r.insert(zeros(4, 4), &shared), Err(DropReason::Duplicate));
        assert_eq!(r.insert(chunk(4, 4), &shared), Err(DropReason::Duplicate));
        assert_eq!(r.insert(zeros(6, 4), &shared), Err(DropReason::BadChunk));
        assert_eq!(r.insert(zeros(8, 5), &shared), Err(DropReason::BadChunk));
        assert_eq!(r.insert(zeros(8, 0), &shared), Err(DropReason::BadChunk));
        assert_eq!(r.insert(zeros(16, 4), &shared), Err(DropReason::OutOfWindow));
        r.insert(chunk(0, 4), &shared).unwrap();
        // A short zero run ends the stream like a short chunk.
        r.insert(zeros(8, 3), &shared).unwrap();
        assert_eq!(shared.end(), Some(11));
        let got: Vec<(Option<usize>, usize)> =
            std::iter::from_fn(|| r.poll_deliver(&shared)).map(|p| (p.zeros(), p.len())).collect();
        assert_eq!(got, vec![(None, 4), (Some(4), 4), (Some(3), 3)]);
        assert_eq!(shared.delivered(), 11);
    }
}
