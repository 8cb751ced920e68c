//! Several poll lcores ("lanes") in one process: which lane owns which
//! member queues and protocol paths, and how a frame that arrived on the
//! wrong lane reaches its owner.
//!
//! Lane `k` of `L` owns queue `q` of every member when `q % L == k`, so
//! every lane can transmit on every member (control frames, ACKs, ARP
//! answers) from a queue it owns, and each queue has exactly one poller.
//! Lane 0 also runs session control (the `Sender`/`Receiver` owner), the
//! ARP resolution of the sender and the reassembler hand-off of the receiver.
//!
//! A path's frames usually arrive on the queue of the lane that owns the
//! path (memif pairs queue `q` with the peer's queue `q`), but not always
//! (RSS or af_packet fanout hash flows their own way, and the two ends may
//! run different numbers of lanes); such frames are moved, as mbufs, to the
//! owner's inbox. Nothing is copied and nothing shared is locked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam::queue::ArrayQueue;

use crate::dpdk::Mbuf;
use crate::wire::Mac;

/// Frames waiting in one lane's inbox at most; more are dropped (counted as
/// `lane_inbox_full`) and the protocol treats them as lost.
pub const INBOX_FRAMES: usize = 4096;

/// The lane layout of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Number of lanes (poll lcores), at least 1.
    pub lanes: u16,
    /// Queues per member.
    pub queues: u16,
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

    /// Sender: the lane that owns path `p` (it transmits on the path's queue).
    pub fn sender_owner(&self, p: u16) -> u16 {
        self.owner_of_queue(p % self.queues)
    }

    /// Receiver: the lane that owns path `p`. The receiver does not choose
    /// the sender's path-to-queue mapping, so it spreads by path id alone.
    pub fn receiver_owner(&self, p: u16) -> u16 {
        p % self.lanes
    }
}

/// What lanes share: inboxes, the stop flag, the peer's MACs (sender).
pub struct LaneShared {
    inboxes: Vec<ArrayQueue<(u16, Mbuf)>>,
    /// Set by lane 0 when its loop has ended: the others flush and return.
    pub quit: AtomicBool,
    /// The peer's MAC on every member, published by lane 0 once ARP resolved
    /// them all (sender; lanes transmit nothing before).
    pub peer_macs: OnceLock<Vec<Mac>>,
    /// Frames dropped because an inbox was full.
    pub inbox_full: std::sync::atomic::AtomicU64,
    /// Receiver: packets the other lanes accepted (lane 0 watches it so the
    /// session's idle timeout sees traffic it did not poll itself).
    pub activity: std::sync::atomic::AtomicU64,
}

impl LaneShared {
    pub fn new(lanes: u16) -> Arc<LaneShared> {
        Arc::new(LaneShared {
            inboxes: (0..lanes.max(1)).map(|_| ArrayQueue::new(INBOX_FRAMES)).collect(),
            quit: AtomicBool::new(false),
            peer_macs: OnceLock::new(),
            inbox_full: std::sync::atomic::AtomicU64::new(0),
            activity: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Moves frame `m`, received on member `member`, to lane `to`.
    pub fn forward(&self, to: u16, member: u16, m: Mbuf) {
        if let Some(inbox) = self.inboxes.get(to as usize) {
            if inbox.push((member, m)).is_err() {
                self.inbox_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The next frame forwarded to lane `k`, with the member it arrived on.
    pub fn take(&self, k: u16) -> Option<(u16, Mbuf)> {
        self.inboxes.get(k as usize)?.pop()
    }

    pub fn quitting(&self) -> bool {
        self.quit.load(Ordering::Acquire)
    }

    /// Frees whatever is still queued (at the end, before pools go).
    pub fn drain(&self) {
        for inbox in &self.inboxes {
            while inbox.pop().is_some() {}
        }
    }
}

/// The striping header's packet type and path id, read without the CRC
/// check (the owner checks everything); `None` if the datagram is too short
/// or not ours (the owner of lane 0 then counts it).
pub fn peek_route(datagram: &[u8]) -> Option<(u8, u16)> {
    let p = stripecat_proto::wire::Packet::new_unchecked(datagram);
    if datagram.len() < stripecat_proto::wire::HEADER_LEN {
        return None;
    }
    Some((p.packet_type_raw(), p.path_id()))
}

/// Whether a packet type is per-path traffic (DATA, PING, ACK), which the
/// path's lane handles; everything else is session control for lane 0.
pub fn is_path_traffic(packet_type: u8) -> bool {
    use stripecat_proto::wire::PacketType;
    packet_type == PacketType::Data as u8
        || packet_type == PacketType::Ping as u8
        || packet_type == PacketType::Ack as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_has_exactly_one_lane_and_every_lane_a_queue() {
        for lanes in 1..=4u16 {
            for queues in lanes..=8u16 {
                let l = Layout { lanes, queues };
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
        let l = Layout { lanes: 2, queues: 4 };
        // Path p goes out on queue p % queues of member p / queues.
        for p in 0..12u16 {
            let q = p % 4;
            assert_eq!(l.sender_owner(p), q % 2);
        }
        assert_eq!(Layout { lanes: 1, queues: 3 }.sender_owner(5), 0);
    }

    #[test]
    fn peek_route_reads_type_and_path_and_refuses_short_input() {
        use stripecat_proto::wire::{Flags, Frame, HeaderRepr, PacketType, Repr};
        let repr = Repr {
            header: HeaderRepr {
                packet_type: PacketType::Ping,
                flags: Flags::empty(),
                path_id: 7,
                session_id: 1,
                packet_number: 2,
                offset: 0,
                length: 0,
                timestamp: 0,
                timestamp_echo: 0,
            },
            frame: Frame::Ping,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf, &[]);
        assert_eq!(peek_route(&buf), Some((PacketType::Ping as u8, 7)));
        assert!(is_path_traffic(PacketType::Ping as u8));
        assert!(!is_path_traffic(PacketType::Fin as u8));
        assert_eq!(peek_route(&buf[..10]), None);
    }
}
