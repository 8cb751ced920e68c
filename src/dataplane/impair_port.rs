//! `--impair` at the port boundary: seeded loss, duplication, reordering and
//! corruption applied to frames as they leave (`tx`) and arrive (`rx`) on a
//! member, so the real program meets the faults a test kernel without netem
//! cannot make. A testing aid, off by default; off, it costs one branch.
//!
//! Frames are never modified where others can see them: a chained frame's
//! payload segment is the sender's retransmit copy (and, over ring ports,
//! the peer's receive buffer), so duplication and corruption work on a flat
//! copy of the frame.

use super::framing::flat_copy;
use crate::dpdk::{Mbuf, Mempool};
use crate::impair::{Fate, ImpairStats, Impairment, Injector};

/// One direction's injector and the frames it holds back.
struct Direction {
    injector: Injector,
    held: Vec<(u8, Mbuf)>,
}

impl Direction {
    fn new(spec: Impairment) -> Direction {
        Direction { injector: Injector::new(spec), held: Vec::new() }
    }

    /// Applies the next fate to `m`, appending what goes on to `out`
    /// (possibly nothing, possibly two frames, possibly held ones released).
    fn apply(&mut self, m: Mbuf, pool: &Mempool, out: &mut Vec<Mbuf>) {
        let before = out.len();
        match self.injector.fate(m.pkt_len()) {
            Fate::Send => out.push(m),
            Fate::Drop => drop(m),
            Fate::Duplicate => {
                if let Some(copy) = flat_copy(&m, pool) {
                    out.push(copy);
                }
                out.push(m);
            }
            Fate::Hold { after } => self.held.push((after, m)),
            Fate::Corrupt { byte, mask } => {
                if let Some(mut copy) = flat_copy(&m, pool) {
                    if let Some(b) = copy.data_mut().and_then(|d| d.get_mut(byte)) {
                        *b ^= mask;
                    }
                    out.push(copy);
                }
                drop(m);
            }
        }
        // Frames that went out count down the held ones.
        let passed = (out.len() - before) as u8;
        if passed > 0 && !self.held.is_empty() {
            let mut i = 0;
            while i < self.held.len() {
                let (left, _) = &mut self.held[i];
                *left = left.saturating_sub(passed);
                if *left == 0 {
                    out.push(self.held.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
        }
    }

    /// Releases every held frame (the link went idle).
    fn flush(&mut self, out: &mut Vec<Mbuf>) {
        out.extend(self.held.drain(..).map(|(_, m)| m));
    }
}

/// The impairment of one member port, both directions.
pub struct PortImpairer {
    tx: Direction,
    rx: Direction,
    /// Full-size buffers for copies (duplicates, corrupted frames).
    pool: Mempool,
    scratch: Vec<Mbuf>,
}

impl PortImpairer {
    /// Seeds differ per member and direction, derived from the SPEC's seed,
    /// so a run replays exactly under the same SPEC and the same traffic.
    pub fn new(spec: Impairment, member: usize, pool: Mempool) -> PortImpairer {
        let base = spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(member as u64 * 2);
        let tx = Impairment { seed: base, ..spec };
        let rx = Impairment { seed: base.wrapping_add(1), ..spec };
        PortImpairer { tx: Direction::new(tx), rx: Direction::new(rx), pool, scratch: Vec::new() }
    }

    /// Impairs an outgoing frame: what should go out is appended to `out`.
    pub fn outgoing(&mut self, m: Mbuf, out: &mut Vec<Mbuf>) {
        self.tx.apply(m, &self.pool, out);
    }

    /// Impairs the frames just received in `frames[from..]`, in place.
    pub fn incoming(&mut self, frames: &mut Vec<Mbuf>, from: usize) {
        let fresh: Vec<Mbuf> = frames.drain(from..).collect();
        self.scratch.clear();
        for m in fresh {
            self.rx.apply(m, &self.pool, &mut self.scratch);
        }
        frames.append(&mut self.scratch);
    }

    /// Lets held outgoing frames go (the queue is idle): late, not lost.
    pub fn release_tx(&mut self, out: &mut Vec<Mbuf>) {
        self.tx.flush(out);
    }

    /// Lets held incoming frames go (nothing arrived this burst).
    pub fn release_rx(&mut self, out: &mut Vec<Mbuf>) {
        self.rx.flush(out);
    }

    pub fn stats(&self) -> (ImpairStats, ImpairStats) {
        (self.tx.injector.stats(), self.rx.injector.stats())
    }
}
