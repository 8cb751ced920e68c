//! Per-flow sequence checking on the receive side: gaps (frames that never
//! came), reordering (late frames that filled a gap) and duplicates, with a
//! 1024-sequence window to tell the last two apart.

/// Sequence numbers behind the newest one that are remembered.
const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// What one flow's sequence looked like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeqStats {
    /// Frames that arrived (duplicates included).
    pub received: u64,
    /// Sequence numbers skipped and never filled in: frames lost.
    pub lost: u64,
    /// Frames that came after a later one (they filled a gap).
    pub reordered: u64,
    /// Frames seen twice.
    pub duplicates: u64,
    /// Times the sequence jumped ahead (one per hole, however long).
    pub gaps: u64,
    /// Frames older than the window (late or duplicate, cannot tell).
    pub too_old: u64,
}

impl std::ops::AddAssign for SeqStats {
    fn add_assign(&mut self, o: SeqStats) {
        self.received += o.received;
        self.lost += o.lost;
        self.reordered += o.reordered;
        self.duplicates += o.duplicates;
        self.gaps += o.gaps;
        self.too_old += o.too_old;
    }
}

/// The tracker of one flow.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    /// One past the highest sequence number seen; 0 before the first.
    next: u64,
    started: bool,
    /// Bit `s % WINDOW` set: sequence `s` (within the window) has arrived.
    seen: [u64; WORDS],
    pub stats: SeqStats,
}

impl SeqTracker {
    #[inline]
    fn bit(s: u64) -> (usize, u64) {
        let i = s % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Records sequence number `s`.
    #[inline]
    pub fn record(&mut self, s: u64) {
        self.stats.received += 1;
        if !self.started || s >= self.next {
            if !self.started {
                // The first frame seen starts the flow (frames before it,
                // e.g. sent before this receiver started, are not lost).
                self.started = true;
                self.next = s;
            }
            if s > self.next {
                self.stats.gaps += 1;
                self.stats.lost += s - self.next;
                // Forget the window slots the jump passes over.
                let from = self.next.max(s.saturating_sub(WINDOW - 1));
                for x in from..s {
                    let (w, b) = Self::bit(x);
                    self.seen[w] &= !b;
                }
            }
            let (w, b) = Self::bit(s);
            self.seen[w] |= b;
            self.next = s + 1;
            return;
        }
        if self.next - s > WINDOW - 1 {
            self.stats.too_old += 1;
            return;
        }
        let (w, b) = Self::bit(s);
        if self.seen[w] & b != 0 {
            self.stats.duplicates += 1;
        } else {
            self.seen[w] |= b;
            self.stats.reordered += 1;
            self.stats.lost = self.stats.lost.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u64]) -> SeqStats {
        let mut t = SeqTracker::default();
        for &s in seqs {
            t.record(s);
        }
        t.stats
    }

    #[test]
    fn in_order_is_clean() {
        let s = run(&(0..5000).collect::<Vec<_>>());
        assert_eq!(s, SeqStats { received: 5000, ..Default::default() });
    }

    #[test]
    fn the_first_frame_starts_the_flow() {
        let s = run(&[100, 101, 102]);
        assert_eq!(s, SeqStats { received: 3, ..Default::default() });
    }

    #[test]
    fn gaps_count_missing_frames() {
        let s = run(&[0, 1, 5, 6, 10]);
        assert_eq!(s, SeqStats { received: 5, lost: 3 + 3, gaps: 2, ..Default::default() });
    }

    #[test]
    fn late_frames_fill_gaps_as_reordered() {
        let s = run(&[0, 2, 1, 3, 6, 4, 5]);
        assert_eq!(s, SeqStats { received: 7, lost: 0, reordered: 3, gaps: 2, ..Default::default() });
    }

    #[test]
    fn duplicates_are_not_reordering() {
        let s = run(&[0, 1, 1, 2, 0, 2, 3]);
        assert_eq!(s, SeqStats { received: 7, duplicates: 3, ..Default::default() });
        // A duplicate of a frame that filled a gap is still a duplicate.
        let s = run(&[0, 2, 1, 1]);
        assert_eq!(s, SeqStats { received: 4, reordered: 1, duplicates: 1, gaps: 1, ..Default::default() });
    }

    #[test]
    fn frames_older_than_the_window() {
        let mut seqs: Vec<u64> = (0..3000).collect();
        seqs.push(10); // 2990 behind
        seqs.push(2500); // within the window: a duplicate
        let s = run(&seqs);
        assert_eq!(s, SeqStats { received: 3002, too_old: 1, duplicates: 1, ..Default::default() });
    }

    #[test]
    fn a_long_jump_clears_stale_window_bits() {
        // 0..10 seen, jump to 5000; 4101 shares window slot 5 with
        // sequence 5, and must read "not seen" (late, not a duplicate).
        let mut seqs: Vec<u64> = (0..10).collect();
        seqs.push(5000);
        seqs.push(4101);
        let s = run(&seqs);
        assert_eq!(s, SeqStats { received: 12, lost: 4990 - 1, reordered: 1, gaps: 1, ..Default::default() });
        // Merging adds every field.
        let mut a = s;
        a += s;
        assert_eq!(a.received, 24);
    }
}
