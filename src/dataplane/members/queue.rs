//! One queue pair of a member port: its receive and transmit queues and the
//! frames waiting to go out, flushed in bursts.

use std::time::{Duration, Instant};

use crate::dpdk::{Mbuf, RxQueue, TxQueue};

/// Frames a transmit buffer holds before it flushes.
pub const TX_BURST: usize = 32;
/// Frames waiting in a member's buffers above which the loop stops asking
/// the protocol for more (back-pressure: a full driver queue, e.g. a memif
/// peer that was descheduled, slows the sender instead of losing frames).
pub const TX_PAUSE: usize = 256;
/// Hard cap per queue; beyond it the oldest frames are dropped (counted).
/// With TX_PAUSE in front this only happens to control frames in bursts.
const TX_BACKLOG: usize = 4096;
/// A queue whose driver has taken nothing for this long while frames wait
/// has its link read (at most this often): frames for a link that is down are
/// dropped and counted. Back-pressure is lane-wide ([`TX_PAUSE`]), so a dead
/// member must not keep its frames: an af_packet or NIC queue on a downed
/// link takes nothing, and every other member of the lane would stop with it.
pub const TX_STALL_CHECK: Duration = Duration::from_millis(5);
/// With its link up, a driver that takes nothing for this long is wedged: its
/// frames are dropped too (the protocol resends them elsewhere). Longer than a
/// descheduled memif peer's usual pause, which back-pressure is there for.
pub const TX_STALL_LIMIT: Duration = Duration::from_millis(200);

/// Receive and transmit queue `qid` of one port, with its transmit buffer:
/// frames are flushed when a burst is full and at the end of every loop
/// iteration; a queue that stays full drops the oldest frames (counted), and
/// the protocol treats them as lost.
pub struct QueuePair {
    /// The port's queue id (the same for both directions).
    pub qid: u16,
    rx: RxQueue,
    tx: TxQueue,
    /// Frames waiting to go out.
    pub(super) pending: Vec<Mbuf>,
    /// Frames dropped here: the link was down or the backlog overflowed.
    pub dropped: u64,
    /// Frames the driver took.
    pub sent: u64,
    /// Since when the driver has taken nothing while frames waited.
    stalled_since: Option<Instant>,
    /// When the link was last read for a stalled queue.
    link_read_at: Option<Instant>,
}

impl QueuePair {
    pub fn new(qid: u16, rx: RxQueue, tx: TxQueue) -> QueuePair {
        QueuePair {
            qid,
            rx,
            tx,
            pending: Vec::with_capacity(TX_BACKLOG),
            dropped: 0,
            sent: 0,
            stalled_since: None,
            link_read_at: None,
        }
    }

    /// Receives up to `max` frames, appended to `out`.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        self.rx.rx_burst(out, max)
    }

    /// The receive queue (to register its interrupt).
    pub fn rx_queue(&self) -> &RxQueue {
        &self.rx
    }

    /// Whether a burst's worth is waiting.
    #[inline]
    pub fn burst_full(&self) -> bool {
        self.pending.len() >= TX_BURST
    }

    /// Offers everything pending to the driver; with the link down (`link_ok`
    /// false) the frames are dropped and counted instead.
    pub fn flush(&mut self, link_ok: bool) -> usize {
        if self.pending.is_empty() {
            return 0;
        }
        if !link_ok {
            self.drop_pending();
            return 0;
        }
        let n = self.tx.tx_burst(&mut self.pending);
        self.sent += n as u64;
        if n > 0 || self.pending.is_empty() {
            self.stalled_since = None;
        } else if self.stalled_since.is_none() {
            // The clock is read only on this path: a driver that took nothing.
            self.stalled_since = Some(Instant::now());
        }
        if self.pending.len() > TX_BACKLOG {
            let excess = self.pending.len() - TX_BACKLOG;
            self.dropped += excess as u64;
            let mut old: Vec<Mbuf> = self.pending.drain(..excess).collect();
            Mbuf::free_bulk(&mut old);
        }
        n
    }

    /// Drops (and counts) every frame waiting: the protocol treats them as lost.
    pub fn drop_pending(&mut self) {
        self.dropped += self.pending.len() as u64;
        Mbuf::free_bulk(&mut self.pending);
        self.stalled_since = None;
    }

    /// Whether the driver has taken nothing for long enough that the caller
    /// should read the link (true at most once per [`TX_STALL_CHECK`]), and
    /// whether it has taken nothing for [`TX_STALL_LIMIT`]: `(read_link, wedged)`.
    pub fn stall(&mut self) -> (bool, bool) {
        let Some(since) = self.stalled_since else { return (false, false) };
        let now = Instant::now();
        let stalled = now - since;
        if stalled >= TX_STALL_LIMIT {
            return (false, true);
        }
        let due = stalled >= TX_STALL_CHECK && self.link_read_at.is_none_or(|t| now - t >= TX_STALL_CHECK);
        if due {
            self.link_read_at = Some(now);
        }
        (due, false)
    }

    /// Frames waiting to go out.
    pub fn backlog(&self) -> usize {
        self.pending.len()
    }

    /// The queues themselves, for a user that drives them directly (`bench`).
    pub fn into_queues(self) -> (RxQueue, TxQueue) {
        (self.rx, self.tx)
    }
}
