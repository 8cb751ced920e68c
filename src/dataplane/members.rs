//! The member ports of a transfer: configured, started, their queues handed
//! out, a transmit buffer per queue, and the frames every end answers no
//! matter its role (ARP for our address, ping).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dpdk::{Eal, Mbuf, Mempool, Port, PortConfig, PortId, RxQueue, TxQueue};
use crate::exit::Failure;
use crate::wire::{arp, Mac};

use super::framing;
use super::impair_port::PortImpairer;
use super::packet_check::PacketCheck;

/// Frames waiting to go out on one queue. Flushed when full and at the end
/// of every loop iteration; a queue that stays full drops the oldest frames
/// (counted), and the protocol treats them as lost.
pub struct TxBuf {
    pending: Vec<Mbuf>,
    pub dropped: u64,
    pub sent: u64,
}

/// Frames a transmit buffer holds before it flushes.
pub const TX_BURST: usize = 32;
/// Frames waiting in a member's buffers above which the loop stops asking
/// the protocol for more (back-pressure: a full driver queue, e.g. a memif
/// peer that was descheduled, slows the sender instead of losing frames).
pub const TX_PAUSE: usize = 256;
/// Hard cap per queue; beyond it the oldest frames are dropped (counted).
/// With TX_PAUSE in front this only happens to control frames in bursts.
const TX_BACKLOG: usize = 4096;

impl TxBuf {
    fn new() -> TxBuf {
        TxBuf { pending: Vec::with_capacity(TX_BACKLOG), dropped: 0, sent: 0 }
    }
}

/// One member port and the queues one lane polls (all of them with one
/// lane; see `lanes.rs`).
pub struct Member {
    pub name: String,
    /// Shared by the lanes' views of the member.
    pub port: Arc<Port>,
    /// The global queue id of each entry of `rx`, `tx` and `txbuf`.
    pub qids: Vec<u16>,
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
    pub rx: Vec<RxQueue>,
    pub tx: Vec<TxQueue>,
    pub txbuf: Vec<TxBuf>,
    /// `--impair`, when given: faults applied at this port in both directions.
    pub impair: Option<Box<PortImpairer>>,
    /// The per-packet check on this port and why (decided by `packet_check::assign`).
    pub check: PacketCheck,
    pub check_reason: &'static str,
    /// The peer's latest stripe datagram here said it accepts packets without a CRC.
    pub peer_accepts_unchecked: bool,
    /// Other lanes' fault injectors, taken back by [`Member::absorb`].
    merged: Vec<PortImpairer>,
}

impl Member {
    /// Moves the queues with global ids `qids` (and their buffers) into a
    /// new view of this member for another lane; `impair` is that lane's
    /// own fault injector when `--impair` is on.
    pub fn split_off(&mut self, qids: &[u16], impair: Option<Box<PortImpairer>>) -> Member {
        let mut out = Member {
            name: self.name.clone(),
            port: self.port.clone(),
            qids: Vec::new(),
            restart_when_down: self.restart_when_down,
            memif_socket: self.memif_socket.clone(),
            mac: self.mac,
            chain: self.chain,
            guard_link: self.guard_link,
            rx: Vec::new(),
            tx: Vec::new(),
            txbuf: Vec::new(),
            impair,
            check: self.check,
            check_reason: self.check_reason,
            peer_accepts_unchecked: self.peer_accepts_unchecked,
            merged: Vec::new(),
        };
        for &q in qids {
            if let Some(i) = self.qids.iter().position(|&x| x == q) {
                out.qids.push(self.qids.remove(i));
                out.rx.push(self.rx.remove(i));
                out.tx.push(self.tx.remove(i));
                out.txbuf.push(self.txbuf.remove(i));
            }
        }
        out
    }

    /// Takes back a lane's view (at the end, for the report): its queues
    /// return and its counters and fault injector stay with this member.
    pub fn absorb(&mut self, mut other: Member) {
        self.qids.append(&mut other.qids);
        self.rx.append(&mut other.rx);
        self.tx.append(&mut other.tx);
        self.txbuf.append(&mut other.txbuf);
        if let Some(imp) = other.impair.take() {
            self.merged.push(*imp);
        }
        self.merged.append(&mut other.merged);
    }

    /// The local index of global queue `q`, if this view owns it.
    #[inline]
    pub fn local(&self, q: u16) -> Option<usize> {
        self.qids.iter().position(|&x| x == q)
    }

    /// Every fault injector this member's views used (for the report).
    pub fn impairers(&self) -> impl Iterator<Item = &PortImpairer> {
        self.impair.iter().map(|b| &**b).chain(self.merged.iter())
    }

    /// Queues a frame on queue `q`, flushing when a burst is full.
    #[inline]
    pub fn send(&mut self, q: usize, m: Mbuf) {
        let buf = &mut self.txbuf[q];
        match &mut self.impair {
            None => buf.pending.push(m),
            Some(imp) => imp.outgoing(m, &mut buf.pending),
        }
        if buf.pending.len() >= TX_BURST {
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
        let n = self.rx[q].rx_burst(out, 64);
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
        if self.txbuf[q].pending.is_empty() {
            // Idle queue: frames the impairer held back for reordering go now.
            match &mut self.impair {
                Some(imp) => imp.release_tx(&mut self.txbuf[q].pending),
                None => return 0,
            }
            if self.txbuf[q].pending.is_empty() {
                return 0;
            }
        }
        if !self.burst_ok() {
            let buf = &mut self.txbuf[q];
            buf.dropped += buf.pending.len() as u64;
            Mbuf::free_bulk(&mut buf.pending);
            return 0;
        }
        let buf = &mut self.txbuf[q];
        let n = self.tx[q].tx_burst(&mut buf.pending);
        buf.sent += n as u64;
        if buf.pending.len() > TX_BACKLOG {
            let excess = buf.pending.len() - TX_BACKLOG;
            buf.dropped += excess as u64;
            let mut old: Vec<Mbuf> = buf.pending.drain(..excess).collect();
            Mbuf::free_bulk(&mut old);
        }
        n
    }

    pub fn flush_all(&mut self) -> usize {
        (0..self.tx.len()).map(|q| self.flush(q)).sum()
    }

    pub fn backlog(&self) -> usize {
        self.txbuf.iter().map(|b| b.pending.len()).sum()
    }
}

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
        let cfg = PortConfig { rx_queues: queues, tx_queues: queues, mtu: want_mtu, ..Default::default() };
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
        let chain = port.multi_seg_tx() || info.driver == "net_ring";
        let guard_link = info.driver == "net_memif";
        let rx = (0..queues).map(|q| port.rx_queue(q).expect("fresh port")).collect();
        let tx = (0..queues).map(|q| port.tx_queue(q).expect("fresh port")).collect();
        out.push(Member {
            name: info.name,
            port: Arc::new(port),
            qids: (0..queues).collect(),
            restart_when_down: guard_link && clients.get(i).copied().unwrap_or(false),
            memif_socket: None,
            merged: Vec::new(),
            mac,
            chain,
            guard_link,
            rx,
            tx,
            txbuf: (0..queues).map(|_| TxBuf::new()).collect(),
            impair: None,
            check: PacketCheck::Crc32c,
            check_reason: "default",
            peer_accepts_unchecked: false,
        });
    }
    Ok(out)
}

/// How often a member whose link is down is restarted while waiting (a
/// memif client connects only when started, and does not retry by itself).
const RESTART_EVERY: Duration = Duration::from_millis(250);
/// The longest interval between restarts.
const RESTART_MAX: Duration = Duration::from_secs(2);
/// How often the link wait looks at first, and for how long.
const LINK_POLL_FAST: Duration = Duration::from_millis(1);
const LINK_POLL_FAST_FOR: Duration = Duration::from_millis(100);
/// How often it looks after that.
const LINK_POLL: Duration = Duration::from_millis(20);

/// Waits up to `limit` for every member's link, restarting members that are
/// down so late peers are picked up; names the ones still down.
pub fn wait_links(members: &[Member], limit: Duration) -> Result<(), Failure> {
    wait_links_until(members, limit, &|| false).map(|_| ())
}

/// [`wait_links`] that also gives up when `interrupted()` turns true
/// (SIGINT/SIGTERM: their handlers are installed by then, so without this
/// check a signal was ignored until the wait ran out, up to 30 s, and the
/// process then exited 3 instead of 130/143). `Ok(true)`: every link is
/// up; `Ok(false)`: interrupted.
pub fn wait_links_until(members: &[Member], limit: Duration, interrupted: &dyn Fn() -> bool) -> Result<bool, Failure> {
    let started = Instant::now();
    let end = started + limit;
    let mut every = RESTART_EVERY;
    let mut next_restart = started + every;
    let mut ever_up = vec![false; members.len()];
    // Restarted once more after a member on the same memif socket came up.
    let mut retried_beside_up = vec![false; members.len()];
    let mut cursor = 0;
    loop {
        let up: Vec<bool> = members.iter().map(|m| m.port.link().map(|l| l.up).unwrap_or(false)).collect();
        for (e, u) in ever_up.iter_mut().zip(&up) {
            *e |= *u;
        }
        if up.iter().all(|u| *u) {
            return Ok(true);
        }
        if interrupted() {
            return Ok(false);
        }
        if Instant::now() >= end {
            return Err(links_down(members, &up, &ever_up, limit));
        }
        if Instant::now() >= next_restart {
            // One member per turn: memif clients restarted together on one socket
            // can keep each other from connecting. A client whose socket already
            // serves another member gets one more try: that server is up with all
            // its ids, so if it has none for this client, retrying cannot help (and
            // each refusal can cut the connections it does serve).
            let candidates: Vec<usize> = (0..members.len())
                .filter(|&i| members[i].restart_when_down && !up[i])
                .filter(|&i| !(sibling_up(members, &up, i) && retried_beside_up[i]))
                .collect();
            if let Some(&i) = candidates.iter().find(|&&i| i >= cursor).or(candidates.first()) {
                let _ = members[i].port.stop();
                let _ = members[i].port.start();
                retried_beside_up[i] |= sibling_up(members, &up, i);
                cursor = i + 1;
                if candidates.iter().all(|&j| j <= i) {
                    // A whole turn: back off, a restart cuts a handshake in flight,
                    // and on a loaded machine a handshake can take longer than the
                    // first interval.
                    every = (every * 2).min(RESTART_MAX);
                    cursor = 0;
                }
            }
            next_restart = Instant::now() + every;
        }
        // A peer that is already up connects within a few milliseconds: look often
        // at first (start-up time), then every 20 ms.
        let poll = if started.elapsed() < LINK_POLL_FAST_FOR { LINK_POLL_FAST } else { LINK_POLL };
        std::thread::sleep(poll);
    }
}

/// Whether another member on member `i`'s memif socket is up.
fn sibling_up(members: &[Member], up: &[bool], i: usize) -> bool {
    let Some(sock) = &members[i].memif_socket else { return false };
    members.iter().zip(up).enumerate().any(|(j, (m, u))| j != i && *u && m.memif_socket.as_ref() == Some(sock))
}

/// The failure of a link wait: the members down now, and which of them were up
/// for a while (a peer that has fewer members than we do can make a memif server
/// drop the connections it does serve while it refuses the others).
fn links_down(members: &[Member], up: &[bool], ever_up: &[bool], limit: Duration) -> Failure {
    let names = |want_ever: bool| -> Vec<&str> {
        members
            .iter()
            .zip(up.iter().zip(ever_up))
            .filter(|(_, (u, e))| !**u && **e == want_ever)
            .map(|(m, _)| m.name.as_str())
            .collect()
    };
    let (never, flapped) = (names(false), names(true));
    let refused: Vec<&str> = (0..members.len())
        .filter(|&i| !up[i] && !ever_up[i] && sibling_up(members, up, i))
        .map(|i| members[i].name.as_str())
        .collect();
    let some_up = up.iter().any(|u| *u) || !flapped.is_empty();
    let mut what = String::new();
    if !never.is_empty() {
        let s = if never.len() > 1 { "s" } else { "" };
        what = format!("member link{s} {} did not come up within {} s", never.join(", "), limit.as_secs());
    }
    if !flapped.is_empty() {
        if !what.is_empty() {
            what.push_str("; ");
        }
        let s = if flapped.len() > 1 { "s" } else { "" };
        what.push_str(&format!("member link{s} {} came up but went down again", flapped.join(", ")));
    }
    if !refused.is_empty() {
        what.push_str(&format!(
            " ({} on the same memif socket{} up: its peer has no member with that id)",
            if refused.len() > 1 { "others" } else { "another member" },
            if refused.len() > 1 { " are" } else { " is" }
        ));
    }
    let hint = if some_up {
        "the other end may have fewer members than this one: give both ends the same --port list \
         (for memif, one server per client id and socket)"
    } else {
        "for memif, start the peer with the same socket path; for af_packet/pcap, check the interface is up"
    };
    Failure::env(what).hint(hint)
}

/// Counters of frames handled below the protocol.
#[derive(Debug, Default, Clone)]
pub struct FrameCounters {
    pub drops: std::collections::BTreeMap<&'static str, u64>,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,
    pub pings_answered: u64,
}

impl FrameCounters {
    pub fn drop(&mut self, why: framing::FrameDrop) {
        *self.drops.entry(why.name()).or_default() += 1;
    }

    /// Adds another lane's counts.
    pub fn merge(&mut self, from: &FrameCounters) {
        for (k, v) in &from.drops {
            *self.drops.entry(k).or_default() += v;
        }
        self.arp_replies_sent += from.arp_replies_sent;
        self.arp_requests_sent += from.arp_requests_sent;
        self.pings_answered += from.pings_answered;
    }
}

/// Answers what every end answers: ARP requests for `our_ip` and pings.
/// Returns the ARP repr (for the caller to learn from) or `None`.
pub fn answer_common(
    member: &mut Member,
    q: usize,
    mut m: Mbuf,
    class: &framing::Classified,
    our_ip: Ipv4Addr,
    hdr_pool: &Mempool,
    counters: &mut FrameCounters,
) -> Option<arp::Repr> {
    match class {
        framing::Classified::Arp(a) => {
            if a.operation == arp::OP_REQUEST && a.target_ip == our_ip {
                let reply = a.reply_from(member.mac, our_ip);
                if let Some(f) = framing::build_arp(hdr_pool, member.mac, a.sender_mac, &reply) {
                    member.send(q, f);
                    counters.arp_replies_sent += 1;
                }
            }
            Some(*a)
        }
        framing::Classified::EchoRequest => {
            if m.segments() == 1 {
                if let Some(buf) = m.data_mut() {
                    if framing::echo_reply_in_place(buf) {
                        member.send(q, m);
                        counters.pings_answered += 1;
                    }
                }
            }
            None
        }
        framing::Classified::Drop(why) => {
            counters.drop(*why);
            None
        }
        framing::Classified::Stripe { .. } => None,
    }
}

/// How long memif's interrupt thread is given to finish a peer's disconnect.
const MEMIF_TEARDOWN_GRACE: Duration = Duration::from_millis(100);

/// Waits until every memif member's link is down (its peer left), at most
/// `limit`. Other drivers have no peer process to wait for.
pub fn wait_for_peer_exit(members: &[Member], limit: Duration) {
    if !members.iter().any(|m| m.guard_link) {
        return;
    }
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let waiting = members.iter().any(|m| m.guard_link && m.port.link().map(|l| l.up).unwrap_or(false));
        if !waiting {
            // memif marks the link down first and then tears the connection
            // down in EAL's interrupt thread; closing our ports before it is
            // done would run a second teardown beside the first.
            std::thread::sleep(MEMIF_TEARDOWN_GRACE);
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
