//! The member ports of a transfer: configured, started, their queues handed
//! out to the lanes.
//!
//! - this file: [`Member`], one port as one lane sees it (its identity, the queue
//!   pairs that lane owns, the per-packet check, the fault injector under `--impair`);
//! - [`queue`]: a queue pair and its transmit buffer;
//! - [`link_wait`]: waiting for links at the start and for a memif peer to leave;
//! - [`common_frames`]: what every end answers (ARP for our address, ping).
//!
//! `--impair` wraps a member's queue pairs (see `impair_port.rs`): frames pass
//! through the injector on their way to and from the queues. Without it the
//! fast path is the queue pair's own, behind one branch.

mod common_frames;
mod link_wait;
mod queue;

use std::sync::Arc;

pub use common_frames::{answer_common, FrameCounters};
pub use link_wait::{wait_for_peer_exit, wait_links, wait_links_until};
pub use queue::{QueuePair, TX_BURST, TX_PAUSE};

use crate::dpdk::{Eal, Mbuf, Mempool, Port, PortConfig, PortId};
use crate::exit::Failure;
use crate::wire::Mac;

use super::impair_port::PortImpairer;
use super::packet_check::PacketCheck;

/// One member port and the queue pairs one lane polls (all of them with one
/// lane; see `lanes.rs`).
pub struct Member {
    pub name: String,
    /// Shared by the lanes' views of the member.
    pub port: Arc<Port>,
    /// A memif client: the driver does not retry a connection by itself,
    /// so a down link is restarted while waiting. (A memif server listens
    /// and needs no restart: stopping it would cut a client mid-handshake.)
    pub restart_when_down: bool,
    /// A memif member's socket path: members on one socket share one peer process.
    pub memif_socket: Option<String>,
    pub mac: Mac,
    /// The driver sends chained mbufs (zero-copy payload segments).
    pub chain: bool,
    /// Check the link right before every burst and skip bursts while it is
    /// down. memif needs it: when its peer goes away, DPDK 22.11's control
    /// thread unmaps the shared rings while a burst may be running; the
    /// check (a read of cached state, for memif) closes most of that window.
    pub guard_link: bool,
    /// The queue pairs this view owns, indexed locally (`qid` says which).
    pub queues: Vec<QueuePair>,
    /// `--impair`, when given: faults applied at this port in both directions.
    pub impair: Option<Box<PortImpairer>>,
    /// The per-packet check on this port and why (decided by `packet_check::assign`).
    pub check: PacketCheck,
    pub check_reason: &'static str,
    /// The peer's latest stripe datagram here said it accepts packets without a CRC.
    pub peer_accepts_unchecked: bool,
    /// The port was set up and started with receive interrupts: an idle lane may
    /// sleep until a frame arrives (`lane::run_lane`).
    pub rx_interrupts: bool,
    /// Other lanes' fault injectors, taken back by [`Member::absorb`].
    merged: Vec<PortImpairer>,
}

impl Member {
    /// Moves the queue pairs with global ids `qids` into a new view of this
    /// member for another lane; `impair` is that lane's own fault injector
    /// when `--impair` is on.
    pub fn split_off(&mut self, qids: &[u16], impair: Option<Box<PortImpairer>>) -> Member {
        let mut queues = Vec::new();
        for &q in qids {
            if let Some(i) = self.local(q) {
                queues.push(self.queues.remove(i));
            }
        }
        Member {
            name: self.name.clone(),
            port: self.port.clone(),
            restart_when_down: self.restart_when_down,
            memif_socket: self.memif_socket.clone(),
            mac: self.mac,
            chain: self.chain,
            guard_link: self.guard_link,
            queues,
            impair,
            check: self.check,
            check_reason: self.check_reason,
            peer_accepts_unchecked: self.peer_accepts_unchecked,
            rx_interrupts: self.rx_interrupts,
            merged: Vec::new(),
        }
    }

    /// Takes back a lane's view (at the end, for the report): its queues
    /// return and its counters and fault injector stay with this member.
    pub fn absorb(&mut self, mut other: Member) {
        self.queues.append(&mut other.queues);
        if let Some(imp) = other.impair.take() {
            self.merged.push(*imp);
        }
        self.merged.append(&mut other.merged);
    }

    /// The local index of global queue `q`, if this view owns it.
    #[inline]
    pub fn local(&self, q: u16) -> Option<usize> {
        self.queues.iter().position(|p| p.qid == q)
    }

    /// Every fault injector this member's views used (for the report).
    pub fn impairers(&self) -> impl Iterator<Item = &PortImpairer> {
        self.impair.iter().map(|b| &**b).chain(self.merged.iter())
    }

    /// Queues a frame on queue `q`, flushing when a burst is full.
    #[inline]
    pub fn send(&mut self, q: usize, m: Mbuf) {
        let pair = &mut self.queues[q];
        match &mut self.impair {
            None => pair.pending.push(m),
            Some(imp) => imp.outgoing(m, &mut pair.pending),
        }
        if pair.burst_full() {
            self.flush(q);
        }
    }

    /// Whether bursts may run now (see `guard_link`).
    #[inline]
    pub fn burst_ok(&self) -> bool {
        !self.guard_link || self.port.link().map(|l| l.up).unwrap_or(false)
    }

    /// Receives up to a burst from queue `q` into `out`.
    #[inline]
    pub fn rx(&mut self, q: usize, out: &mut Vec<Mbuf>) -> usize {
        if !self.burst_ok() {
            return 0;
        }
        let from = out.len();
        let n = self.queues[q].rx_burst(out, 64);
        match &mut self.impair {
            None => n,
            Some(imp) => {
                if n > 0 {
                    imp.incoming(out, from);
                } else {
                    // Nothing arrived: frames held back for reordering go now,
                    // late rather than lost.
                    imp.release_rx(out);
                }
                out.len() - from
            }
        }
    }

    /// Offers everything pending on queue `q` to the driver.
    pub fn flush(&mut self, q: usize) -> usize {
        if self.queues[q].backlog() == 0 {
            // Idle queue: frames the impairer held back for reordering go now.
            match &mut self.impair {
                Some(imp) => imp.release_tx(&mut self.queues[q].pending),
                None => return 0,
            }
            if self.queues[q].backlog() == 0 {
                return 0;
            }
        }
        // Read only when there is something to send: a call into the driver.
        let link_ok = self.burst_ok();
        let n = self.queues[q].flush(link_ok);
        if n == 0 {
            // A driver that takes nothing: drop its frames once its link is down
            // (or it stayed stuck), so it cannot hold back the other members.
            match self.queues[q].stall() {
                (_, true) => self.queues[q].drop_pending(),
                (true, _) if !self.port.link().map(|l| l.up).unwrap_or(false) => self.queues[q].drop_pending(),
                _ => {}
            }
        }
        n
    }

    pub fn flush_all(&mut self) -> usize {
        (0..self.queues.len()).map(|q| self.flush(q)).sum()
    }

    pub fn backlog(&self) -> usize {
        self.queues.iter().map(QueuePair::backlog).sum()
    }

    /// Frames dropped below the protocol on this view's queues.
    pub fn tx_dropped(&self) -> u64 {
        self.queues.iter().map(|p| p.dropped).sum()
    }
}

/// Drivers without receive interrupts (DPDK 22.11): their ports are polled.
const NO_RX_INTERRUPTS: &[&str] = &["net_memif", "net_af_packet", "net_pcap", "net_ring", "net_null"];

/// Configures and starts every member with `queues` queue pairs, receiving
/// into `rx_pool`, at `mtu` where the device allows it.
/// `clients[i]` says member `i` is a memif client (restarted while down).
pub fn open(
    eal: &Eal,
    ids: &[PortId],
    clients: &[bool],
    queues: u16,
    mtu: u16,
    rx_pool: &Mempool,
) -> Result<Vec<Member>, Failure> {
    let mut out = Vec::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        let info = crate::dpdk::device_info(id).map_err(|e| Failure::env(e.to_string()))?;
        let current = crate::dpdk::mtu(id).unwrap_or(1500);
        // Ring ports are in memory: they carry any frame and have no MTU to set.
        let want_mtu = if current == mtu || info.driver == "net_ring" { None } else { Some(mtu) };
        // Receive interrupts let an idle lane sleep until a frame comes (real NICs,
        // tap); the shared-memory and socket drivers have none in DPDK 22.11.
        let rx_interrupts = !NO_RX_INTERRUPTS.contains(&info.driver.as_str());
        let cfg =
            PortConfig { rx_queues: queues, tx_queues: queues, mtu: want_mtu, rx_interrupts, ..Default::default() };
        let port = match Port::configure(eal, id, &cfg, rx_pool) {
            Ok(p) => p,
            // Some virtual drivers (memif, ring) cannot set an MTU: they carry
            // frames of any size up to their buffers, so go on without it.
            Err(_) if want_mtu.is_some() => {
                let cfg = PortConfig { mtu: None, ..cfg };
                Port::configure(eal, id, &cfg, rx_pool).map_err(|e| Failure::env(e.to_string()))?
            }
            Err(e) => {
                return Err(Failure::env(format!("member {}: {e}", info.name))
                    .hint("check --queues and --mtu against `stripecat ports` for this device"))
            }
        };
        // A memif client whose server is not there yet fails to start; the
        // link wait below restarts it until the peer appears.
        let _ = port.start();
        let mac = Mac(port.mac().map_err(|e| Failure::env(e.to_string()))?);
        let rx_interrupts = port.rx_interrupts();
        let chain = port.multi_seg_tx() || info.driver == "net_ring";
        let guard_link = info.driver == "net_memif";
        let pairs = (0..queues)
            .map(|q| QueuePair::new(q, port.rx_queue(q).expect("fresh port"), port.tx_queue(q).expect("fresh port")))
            .collect();
        out.push(Member {
            name: info.name,
            port: Arc::new(port),
            restart_when_down: guard_link && clients.get(i).copied().unwrap_or(false),
            memif_socket: None,
            merged: Vec::new(),
            mac,
            chain,
            guard_link,
            queues: pairs,
            impair: None,
            check: PacketCheck::Crc32c,
            check_reason: "default",
            peer_accepts_unchecked: false,
            rx_interrupts,
        });
    }
    Ok(out)
}
