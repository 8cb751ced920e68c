//! A sender's extra poll lcore (lane `k >= 1`, see `lanes.rs`): it owns
//! some member queues and the paths that go out on them, end to end. Each
//! iteration: burst in (ACKs for its paths; anything else moves to its
//! owner), run its paths' timers, take chunks from the shared queues and
//! burst them out, back off when idle. Session control stays on lane 0.

use std::net::Ipv4Addr;
use std::sync::Arc;

use stripecat_proto::wire::{Check, Frame, Packet, Repr};
use stripecat_proto::{DropCounters, DropReason, PathSender, SenderShared};

use super::addr::{path_udp_port, Endpoint};
use super::backoff::Backoff;
use super::clock::TscClock;
use super::framing::{self, Classified};
use super::lanes::{is_path_traffic, peek_route, LaneShared, Layout};
use super::members::{self, FrameCounters, Member};
use super::payload::MbufPayload;
use super::sender_loop::path_slot;
use crate::dpdk::{Mbuf, Mempool};

/// Transmits handled per iteration at most.
const TX_BUDGET: usize = 256;

pub struct SendLane {
    pub lane: u16,
    pub layout: Layout,
    pub members: Vec<Member>,
    pub paths: Vec<PathSender<MbufPayload>>,
    /// Every path of the session (for the ACK port range).
    pub total_paths: u16,
    pub shared: Arc<SenderShared<MbufPayload>>,
    pub lanes: Arc<LaneShared>,
    pub hdr_pool: Arc<Mempool>,
    pub local_ip: Ipv4Addr,
    pub peer_ip: Ipv4Addr,
    pub udp_port: u16,
    pub clock: TscClock,
    pub busy_poll: bool,
    pub counters: FrameCounters,
    pub drops: DropCounters,
}

impl SendLane {
    pub fn run(&mut self) {
        let mut backoff = Backoff::new(self.busy_poll);
        let mut rx: Vec<Mbuf> = Vec::with_capacity(64);
        // IPv4 identifications differ per lane (they only need to differ
        // between fragments' datagrams, and we never fragment).
        let mut ident: u16 = self.lane.wrapping_mul(0x1000);
        let mut rr = 0usize;
        let mut seeded = false;
        loop {
            let now = self.clock.now();
            let mut work = 0usize;

            for mi in 0..self.members.len() {
                for q in 0..self.members[mi].rx.len() {
                    work += self.members[mi].rx(q, &mut rx);
                    for m in rx.drain(..) {
                        self.on_frame(now, mi, q, m);
                    }
                }
            }
            while let Some((mi, m)) = self.lanes.take(self.lane) {
                work += 1;
                self.on_frame(now, mi as usize, 0, m);
            }

            if self.shared.is_established() {
                if !seeded {
                    // As the control owner seeds its own paths at HELLO-ACK.
                    seeded = true;
                    if let Some(rtt) = self.shared.handshake_rtt() {
                        for p in &mut self.paths {
                            p.seed_rtt(now, rtt);
                        }
                    }
                }
                for p in &mut self.paths {
                    if p.poll_timeout().is_some_and(|t| t <= now) {
                        p.handle_timeout(now, &self.shared);
                        work += 1;
                    }
                }
                work += self.transmit(now, &mut ident, &mut rr);
            }
            for m in &mut self.members {
                m.flush_all();
            }
            if self.lanes.quitting() {
                return;
            }
            if work > 0 {
                backoff.reset();
            } else {
                let next = self.paths.iter().filter_map(|p| p.poll_timeout()).min();
                let now_us = now.total_micros();
                backoff.idle(next.map(|t| std::time::Duration::from_micros(t.total_micros().saturating_sub(now_us))));
            }
        }
    }

    fn on_frame(&mut self, now: stripecat_proto::Instant, mi: usize, q: usize, m: Mbuf) {
        let first = path_udp_port(self.udp_port, 0);
        let class = framing::classify(m.data(), self.local_ip, first..first.saturating_add(self.total_paths));
        match &class {
            Classified::Stripe { range, .. } => {
                let route = peek_route(&m.data()[range.clone()]);
                match route {
                    Some((ty, p)) if is_path_traffic(ty) && self.layout.sender_owner(p) == self.lane => {
                        let check = self.members[mi].rx_check(m.data());
                        self.on_ack(now, p, &m.data()[range.clone()], check);
                    }
                    Some((ty, p)) if is_path_traffic(ty) => {
                        self.lanes.forward(self.layout.sender_owner(p), mi as u16, m)
                    }
                    // Session control, or not ours at all: lane 0 handles and counts it.
                    _ => self.lanes.forward(0, mi as u16, m),
                }
            }
            // Lane 0 resolves the peer and answers ARP.
            Classified::Arp(_) => self.lanes.forward(0, mi as u16, m),
            _ => {
                members::answer_common(
                    &mut self.members[mi],
                    q,
                    m,
                    &class,
                    self.local_ip,
                    &self.hdr_pool,
                    &mut self.counters,
                );
            }
        }
    }

    fn on_ack(&mut self, now: stripecat_proto::Instant, p: u16, datagram: &[u8], check: Check) {
        let parsed = Packet::new_checked(datagram)
            .map_err(DropReason::from)
            .and_then(|pkt| Repr::parse_with(&pkt, check).map_err(DropReason::from));
        let repr = match parsed {
            Ok(r) => r,
            Err(reason) => return self.drops.count(reason),
        };
        if repr.header.session_id != self.shared.session_id() {
            return self.drops.count(DropReason::WrongSession);
        }
        let Some(path) = self.paths.iter_mut().find(|x| x.id() == p) else {
            return self.drops.count(DropReason::UnknownPath);
        };
        match &repr.frame {
            Frame::Ack(ack) => path.handle_ack(now, &repr.header, ack, &self.shared),
            _ => self.drops.count(DropReason::Unexpected),
        }
    }

    fn transmit(&mut self, now: stripecat_proto::Instant, ident: &mut u16, rr: &mut usize) -> usize {
        if self.members.iter().any(|m| m.backlog() > members::TX_PAUSE) {
            return 0;
        }
        let Some(macs) = self.lanes.peer_macs.get() else { return 0 };
        let n = self.paths.len();
        let mut sent = 0;
        let mut idle_rounds = 0;
        while sent < TX_BUDGET && idle_rounds < n {
            let i = *rr % n.max(1);
            *rr = rr.wrapping_add(1);
            let Some(t) = self.paths[i].poll_transmit(now, &self.shared) else {
                idle_rounds += 1;
                continue;
            };
            idle_rounds = 0;
            sent += 1;
            let (mi, q) = path_slot(t.path, self.layout.queues);
            let (Some(member), Some(&peer_mac)) = (self.members.get_mut(mi), macs.get(mi)) else { continue };
            let lq = member.local(q as u16).unwrap_or(0);
            let src = Endpoint { mac: member.mac, ip: self.local_ip, port: path_udp_port(self.udp_port, t.path) };
            let dst = Endpoint { mac: peer_mac, ip: self.peer_ip, port: self.udp_port };
            *ident = ident.wrapping_add(1);
            // A frame we cannot build is a lost packet to the protocol.
            if let Ok(f) =
                framing::build_transmit(&self.hdr_pool, &t, &src, &dst, *ident, member.chain, member.tx_check())
            {
                member.send(lq, f);
            }
        }
        sent
    }
}
