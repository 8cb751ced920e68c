//! The sender's poll loop, l2fwd-shaped: one TSC read, burst in from every
//! member queue, feed the protocol, take fresh chunks from the reader, burst
//! out what the protocol wants sent, count, back off when idle.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::{PushError, Sender};

use super::addr::{path_udp_port, Endpoint};
use super::backoff::Backoff;
use super::clock::TscClock;
use super::framing::{self, Classified};
use super::io::ReaderShared;
use super::lanes::{is_path_traffic, peek_route, LaneShared, Layout};
use super::members::{self, FrameCounters, Member};
use super::neighbor::{self, Neighbors};
use super::payload::MbufPayload;
use crate::dpdk::{Mbuf, Mempool};
use crate::report::Progress;

/// Where path `p` goes out: member and queue.
pub fn path_slot(p: u16, queues: u16) -> (usize, usize) {
    ((p / queues) as usize, (p % queues) as usize)
}

/// Everything the sender loop owns.
pub struct SendLoop {
    pub members: Vec<Member>,
    pub queues: u16,
    pub sender: Sender<MbufPayload>,
    pub intake: Arc<ArrayQueue<MbufPayload>>,
    pub reader: Arc<ReaderShared>,
    pub hdr_pool: Arc<Mempool>,
    pub local_ip: Ipv4Addr,
    pub peer_ip: Ipv4Addr,
    pub udp_port: u16,
    pub neighbors: Neighbors,
    pub clock: TscClock,
    pub busy_poll: bool,
    /// Give up ARP after this long (µs) with members unresolved.
    pub arp_timeout_us: u64,
    pub counters: FrameCounters,
    pub progress: Progress,
    /// With more than one lane: this is lane 0, and other lanes own some
    /// paths (their ACKs are moved there; see `lanes.rs`).
    pub lanes: Option<(Layout, Arc<LaneShared>)>,
}

/// How the loop ended.
#[derive(Debug)]
pub enum SendEnd {
    /// The protocol finished (done or failed: see `sender.state()`).
    Protocol,
    /// The peer's MAC could not be learned on these members.
    ArpFailed(Vec<String>),
    /// The input could not be read.
    Input(String),
    /// Interrupted (SIGINT/SIGTERM).
    Interrupted,
}

/// Transmits handled per iteration at most (bounds the work per loop).
const TX_BUDGET: usize = 256;

impl SendLoop {
    pub fn run(&mut self, interrupted: &dyn Fn() -> bool) -> SendEnd {
        let mut backoff = Backoff::new(self.busy_poll);
        let mut pending: Option<MbufPayload> = None;
        let mut finished_input = false;
        let mut rx: Vec<Mbuf> = Vec::with_capacity(64);
        let mut ident: u16 = 0;
        let start_us = self.clock.micros();
        let mut iter: u64 = 0;
        // Taken once: `on_frame` needs `self` mutably while the inbox drains.
        let lane_shared = self.lanes.as_ref().map(|(_, l)| l.clone());
        loop {
            iter += 1;
            let now = self.clock.now();
            let now_us = now.total_micros();
            let mut work = 0usize;

            // 1. Burst in.
            for mi in 0..self.members.len() {
                for q in 0..self.members[mi].rx.len() {
                    let n = self.members[mi].rx(q, &mut rx);
                    work += n;
                    for m in rx.drain(..) {
                        self.on_frame(now, mi, q, m);
                    }
                }
            }
            if let Some(lanes) = &lane_shared {
                while let Some((mi, m)) = lanes.take(0) {
                    work += 1;
                    self.on_frame(now, mi as usize, 0, m);
                }
            }

            // 2. ARP until every member knows the peer.
            if !self.neighbors.all_known() {
                let unresolved: Vec<usize> = self.neighbors.unresolved().collect();
                for mi in unresolved {
                    if self.neighbors.request_due(mi, now_us) {
                        let mac = self.members[mi].mac;
                        let req = neighbor::request(mac, self.local_ip, self.peer_ip);
                        if let Some(f) = framing::build_arp(&self.hdr_pool, mac, crate::wire::Mac::BROADCAST, &req) {
                            self.members[mi].send(0, f);
                            self.counters.arp_requests_sent += 1;
                        }
                    }
                }
                if now_us.saturating_sub(start_us) > self.arp_timeout_us {
                    let names = self.neighbors.unresolved().map(|i| self.members[i].name.clone()).collect();
                    return SendEnd::ArpFailed(names);
                }
                for m in &mut self.members {
                    m.flush_all();
                }
                if interrupted() {
                    return SendEnd::Interrupted;
                }
                backoff.idle(None);
                continue;
            }
            if let Some((_, lanes)) = &self.lanes {
                if lanes.peer_macs.get().is_none() {
                    let macs = (0..self.members.len()).filter_map(|i| self.neighbors.mac(i)).collect();
                    let _ = lanes.peer_macs.set(macs);
                }
            }

            // 3. Timers.
            if self.sender.poll_timeout().is_some_and(|t| t <= now) {
                self.sender.handle_timeout(now);
                work += 1;
            }

            // 4. Fresh chunks from the reader.
            loop {
                let Some(item) = pending.take().or_else(|| self.intake.pop()) else { break };
                match self.sender.write(item) {
                    Ok(_) => work += 1,
                    Err(PushError::NoCredit(item) | PushError::QueueFull(item)) => {
                        pending = Some(item);
                        break;
                    }
                    Err(e) => {
                        drop(e.into_inner());
                        break;
                    }
                }
            }
            if !finished_input
                && pending.is_none()
                && self.reader.done.load(Ordering::Acquire)
                && self.intake.is_empty()
            {
                let read_error = self.reader.error.lock().unwrap().clone();
                if let Some(err) = read_error {
                    self.sender.abort();
                    self.transmit(now, &mut ident);
                    for m in &mut self.members {
                        m.flush_all();
                    }
                    return SendEnd::Input(err);
                }
                self.sender.finish();
                finished_input = true;
            }

            // 5. Burst out.
            work += self.transmit(now, &mut ident);
            for m in &mut self.members {
                m.flush_all();
            }

            if self.sender.is_finished() {
                // One more round so a RESET or last packets leave.
                self.transmit(now, &mut ident);
                for m in &mut self.members {
                    m.flush_all();
                }
                return SendEnd::Protocol;
            }
            if iter.is_multiple_of(1024) {
                if interrupted() {
                    self.sender.abort();
                    self.transmit(now, &mut ident);
                    for m in &mut self.members {
                        m.flush_all();
                    }
                    return SendEnd::Interrupted;
                }
                let acked = self.sender.shared().acked();
                let extra = format!("{} resends", self.sender.stats().paths.resends);
                self.progress.update(acked, &extra);
            }
            if work > 0 {
                backoff.reset();
            } else {
                let until = self
                    .sender
                    .poll_timeout()
                    .map(|t| std::time::Duration::from_micros(t.total_micros().saturating_sub(now_us)));
                backoff.idle(until);
            }
        }
    }

    /// One received frame: protocol datagrams to the sender (or to the lane
    /// that owns their path), ARP and ping answered here.
    fn on_frame(&mut self, now: stripecat_proto::Instant, mi: usize, q: usize, m: Mbuf) {
        let class = framing::classify(m.data(), self.local_ip, self.ack_ports());
        match &class {
            Classified::Stripe { range, .. } => {
                if let Some((layout, lanes)) = &self.lanes {
                    if let Some((ty, p)) = peek_route(&m.data()[range.clone()]) {
                        let owner = layout.sender_owner(p);
                        if is_path_traffic(ty) && owner != 0 && (p as usize) < self.sender.path_count() {
                            lanes.forward(owner, mi as u16, m);
                            return;
                        }
                    }
                }
                let check = self.members[mi].rx_check(m.data());
                let _ = self.sender.handle_datagram_with(now, &m.data()[range.clone()], check);
            }
            _ => {
                let member = &mut self.members[mi];
                if let Some(a) =
                    members::answer_common(member, q, m, &class, self.local_ip, &self.hdr_pool, &mut self.counters)
                {
                    self.neighbors.learn(mi, &a);
                }
            }
        }
    }

    fn ack_ports(&self) -> core::ops::Range<u16> {
        let first = path_udp_port(self.udp_port, 0);
        first..first.saturating_add(self.sender.path_count() as u16)
    }

    /// Builds and queues up to [`TX_BUDGET`] protocol transmits.
    fn transmit(&mut self, now: stripecat_proto::Instant, ident: &mut u16) -> usize {
        let mut n = 0;
        // Back-pressure: while a driver will not take what is queued, keep
        // the protocol's packets in the protocol (they are not lost then).
        // A session that has ended (a RESET to send) goes out regardless.
        if !self.sender.is_finished() && self.members.iter().any(|m| m.backlog() > super::members::TX_PAUSE) {
            return 0;
        }
        while n < TX_BUDGET {
            let Some(t) = self.sender.poll_transmit(now) else { break };
            n += 1;
            let (mi, q) = path_slot(t.path, self.queues);
            let Some(member) = self.members.get_mut(mi) else { continue };
            let Some(peer_mac) = self.neighbors.mac(mi) else { continue };
            // Control frames of lane 0 go out on its own queue of the member.
            let q = member.local(q as u16).unwrap_or(0);
            let src = Endpoint { mac: member.mac, ip: self.local_ip, port: path_udp_port(self.udp_port, t.path) };
            let dst = Endpoint { mac: peer_mac, ip: self.peer_ip, port: self.udp_port };
            *ident = ident.wrapping_add(1);
            // A frame we cannot build is a lost packet to the protocol.
            if let Ok(f) =
                framing::build_transmit(&self.hdr_pool, &t, &src, &dst, *ident, member.chain, member.tx_check())
            {
                member.send(q, f);
            }
        }
        n
    }
}
