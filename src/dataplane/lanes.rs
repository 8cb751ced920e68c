//! Several poll lcores ("lanes") in one process: which lane owns which
//! member queues and protocol paths, and how a frame that arrived on the
//! wrong lane reaches its owner.
//!
//! Lane `k` of `L` owns queue `q` of every member when `q % L == k`, so
//! every lane can transmit on every member (control frames, ACKs, ARP
//! answers) from a queue it owns, and each queue has exactly one poller.
//! Lane 0 also holds the session (the `Sender`/`Receiver`), resolves the
//! peer's MACs (sender) and hands data to the writer (receiver).
//!
//! A path's frames usually arrive on the queue of the lane that owns the
//! path (memif pairs queue `q` with the peer's queue `q`), but not always
//! (RSS or af_packet fanout hash flows their own way, and the two ends may
//! run different numbers of lanes); such frames are moved, as mbufs with
//! their parse, to the owner's frame inbox. Nothing is copied and nothing
//! shared is locked.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam::queue::ArrayQueue;

use super::lane::Arrival;
use crate::wire::Mac;

/// Frames waiting in one lane's frame inbox at most; more are dropped
/// (counted as `lane_inbox_full`) and the protocol treats them as lost.
pub const INBOX_FRAMES: usize = 4096;

/// Which end of a session a process is: it decides how paths map to lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Path `p` goes out on queue `p % queues` of member `p / queues`.
    Send,
    /// The receiver does not choose the sender's path-to-queue mapping, so
    /// it spreads paths over lanes by path id alone.
    Recv,
}

/// The lane layout of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of lanes (poll lcores), at least 1.
    pub lanes: u16,
    /// Queues per member.
    pub queues: u16,
    /// Path ids of the session (beyond them, datagrams go to lane 0, which
    /// refuses them).
    pub paths: u16,
    pub side: Side,
}

impl Layout {
    /// The queues (global ids) lane `k` polls on every member.
    pub fn queues_of(&self, k: u16) -> Vec<u16> {
        (0..self.queues).filter(|q| q % self.lanes == k).collect()
    }

    /// The lane that polls queue `q`.
    pub fn owner_of_queue(&self, q: u16) -> u16 {
        q % self.lanes
    }

    /// The lane that owns path `p`: the sender's lane of the path's queue, or
    /// the receiver's lane by path id.
    pub fn owner_of_path(&self, p: u16) -> u16 {
        match self.side {
            Side::Send => self.owner_of_queue(p % self.queues),
            Side::Recv => p % self.lanes,
        }
    }
}

/// What lanes share: frame inboxes, the stop flag, the peer's MACs (sender).
pub struct LaneShared {
    frame_inboxes: Vec<ArrayQueue<Arrival>>,
    /// Set when lane 0's loop has ended: the others flush and return.
    pub quit: AtomicBool,
    /// The peer's MAC on every member, published by lane 0 once ARP resolved
    /// them all (sender; nothing is transmitted before).
    pub peer_macs: OnceLock<Vec<Mac>>,
    /// Frames dropped because a frame inbox was full.
    pub inbox_full: AtomicU64,
}

impl LaneShared {
    pub fn new(lanes: u16) -> Arc<LaneShared> {
        Arc::new(LaneShared {
            frame_inboxes: (0..lanes.max(1)).map(|_| ArrayQueue::new(INBOX_FRAMES)).collect(),
            quit: AtomicBool::new(false),
            peer_macs: OnceLock::new(),
            inbox_full: AtomicU64::new(0),
        })
    }

    /// Moves `a` to lane `to`.
    pub fn forward(&self, to: u16, a: Arrival) {
        if let Some(inbox) = self.frame_inboxes.get(to as usize) {
            if inbox.push(a).is_err() {
                self.inbox_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The next frame moved to lane `k`.
    pub fn take(&self, k: u16) -> Option<Arrival> {
        self.frame_inboxes.get(k as usize)?.pop()
    }

    pub fn quitting(&self) -> bool {
        self.quit.load(Ordering::Acquire)
    }

    /// Frees whatever is still queued (at the end, before pools go).
    pub fn drain(&self) {
        for inbox in &self.frame_inboxes {
            while inbox.pop().is_some() {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(lanes: u16, queues: u16, side: Side) -> Layout {
        Layout { lanes, queues, paths: 64, side }
    }

    #[test]
    fn every_queue_has_exactly_one_lane_and_every_lane_a_queue() {
        for lanes in 1..=4u16 {
            for queues in lanes..=8u16 {
                let l = layout(lanes, queues, Side::Send);
                let mut seen = vec![0; queues as usize];
                for k in 0..lanes {
                    let qs = l.queues_of(k);
                    assert!(!qs.is_empty(), "lane {k} of {lanes} with {queues} queues has none");
                    for q in qs {
                        assert_eq!(l.owner_of_queue(q), k);
                        seen[q as usize] += 1;
                    }
                }
                assert!(seen.iter().all(|&n| n == 1));
            }
        }
    }

    #[test]
    fn sender_paths_belong_to_the_lane_of_their_queue() {
        let l = layout(2, 4, Side::Send);
        // Path p goes out on queue p % queues of member p / queues.
        for p in 0..12u16 {
            let q = p % 4;
            assert_eq!(l.owner_of_path(p), q % 2);
        }
        assert_eq!(layout(1, 3, Side::Send).owner_of_path(5), 0);
    }

    #[test]
    fn receiver_paths_spread_by_id() {
        let l = layout(3, 3, Side::Recv);
        assert_eq!((0..6).map(|p| l.owner_of_path(p)).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2]);
    }
}
