//! A receiver's extra poll lcore (lane `k >= 1`, see `lanes.rs`): it polls
//! its member queues, validates the DATA and PING of the paths it owns and
//! hands the payloads (still in their mbufs) to the reassembler through the
//! shared inbox, and sends those paths' ACKs back the way their packets
//! came. Session control, the reassembler and the writer hand-off stay on
//! lane 0; anything else that arrives here moves there.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use stripecat_proto::wire::{Frame, Packet, Repr};
use stripecat_proto::{DropCounters, DropReason, PathReceiver, Payload, ReceiverShared};

use super::addr::Endpoint;
use super::backoff::Backoff;
use super::clock::TscClock;
use super::framing::{self, flatten, Classified};
use super::lanes::{peek_route, LaneShared, Layout};
use super::members::{self, FrameCounters, Member};
use super::payload::MbufPayload;
use super::receiver_loop::PathRoute;
use crate::dpdk::{Mbuf, Mempool};

const TX_BUDGET: usize = 256;

pub struct RecvLane {
    pub lane: u16,
    pub layout: Layout,
    pub members: Vec<Member>,
    pub paths: Vec<PathReceiver>,
    pub shared: Arc<ReceiverShared<MbufPayload>>,
    pub lanes: Arc<LaneShared>,
    pub hdr_pool: Arc<Mempool>,
    pub join_pool: Arc<Mempool>,
    pub local_ip: Ipv4Addr,
    pub udp_port: u16,
    pub clock: TscClock,
    pub busy_poll: bool,
    pub counters: FrameCounters,
    pub drops: DropCounters,
    pub joined: u64,
    routes: Vec<Option<PathRoute>>,
}

impl RecvLane {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lane: u16,
        layout: Layout,
        members: Vec<Member>,
        paths: Vec<PathReceiver>,
        shared: Arc<ReceiverShared<MbufPayload>>,
        lanes: Arc<LaneShared>,
        hdr_pool: Arc<Mempool>,
        join_pool: Arc<Mempool>,
        local_ip: Ipv4Addr,
        udp_port: u16,
        clock: TscClock,
        busy_poll: bool,
    ) -> RecvLane {
        let routes = vec![None; paths.len()];
        RecvLane {
            lane,
            layout,
            members,
            paths,
            shared,
            lanes,
            hdr_pool,
            join_pool,
            local_ip,
            udp_port,
            clock,
            busy_poll,
            counters: FrameCounters::default(),
            drops: DropCounters::default(),
            joined: 0,
            routes,
        }
    }

    pub fn run(&mut self) {
        let mut backoff = Backoff::new(self.busy_poll);
        let mut rx: Vec<Mbuf> = Vec::with_capacity(64);
        let mut ident: u16 = self.lane.wrapping_mul(0x1000);
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
            work += self.transmit(now, &mut ident);
            for m in &mut self.members {
                m.flush_all();
            }
            if self.lanes.quitting() {
                return;
            }
            if work > 0 {
                backoff.reset();
            } else {
                let delivered = self.shared.delivered();
                let next = self.paths.iter().filter_map(|p| p.poll_timeout(delivered)).min();
                let now_us = now.total_micros();
                backoff.idle(next.map(|t| std::time::Duration::from_micros(t.total_micros().saturating_sub(now_us))));
            }
        }
    }

    fn on_frame(&mut self, now: stripecat_proto::Instant, mi: usize, q: usize, m: Mbuf) {
        let Some(m) = flatten(m, &self.join_pool, &mut self.joined) else { return };
        let class = framing::classify(m.data(), self.local_ip, self.udp_port..self.udp_port.wrapping_add(1));
        let Classified::Stripe { from, range, .. } = class else {
            members::answer_common(
                &mut self.members[mi],
                q,
                m,
                &class,
                self.local_ip,
                &self.hdr_pool,
                &mut self.counters,
            );
            return;
        };
        use stripecat_proto::wire::PacketType;
        let (ty, p) = match peek_route(&m.data()[range.clone()]) {
            Some((ty, p)) if ty == PacketType::Data as u8 || ty == PacketType::Ping as u8 => (ty, p),
            // Session control, ACKs (not ours to get), garbage: lane 0.
            _ => return self.lanes.forward(0, mi as u16, m),
        };
        let owner = self.layout.receiver_owner(p);
        if owner != self.lane {
            return self.lanes.forward(owner, mi as u16, m);
        }
        let check = self.members[mi].rx_check(m.data());
        let parsed = Packet::new_checked(&m.data()[range.clone()])
            .map_err(DropReason::from)
            .and_then(|pkt| Repr::parse_with(&pkt, check).map(|r| (r, pkt.payload_range())).map_err(DropReason::from));
        let (repr, payload_range) = match parsed {
            Ok(x) => x,
            Err(reason) => return self.drops.count(reason),
        };
        if self.shared.session() != Some(repr.header.session_id) {
            return self.drops.count(DropReason::WrongSession);
        }
        let Some(slot) = self.paths.iter().position(|x| x.id() == p) else {
            return self.drops.count(DropReason::UnknownPath);
        };
        let result = if ty == PacketType::Data as u8 && matches!(repr.frame, Frame::Data) {
            let payload = match m.into_shared() {
                Ok(s) => MbufPayload::new(s).narrow(range).narrow(payload_range),
                Err(_) => return,
            };
            self.paths[slot].handle_data(now, &repr.header, payload, &self.shared)
        } else {
            self.paths[slot].handle_ping(now, &repr.header)
        };
        match result {
            Ok(()) => {
                self.lanes.activity.fetch_add(1, Ordering::Relaxed);
            }
            // A duplicate is still acknowledged (the path recorded it), so
            // its route counts too.
            Err(DropReason::Duplicate) => self.drops.count(DropReason::Duplicate),
            Err(reason) => return self.drops.count(reason),
        }
        // `q` is a local queue index (0, which every lane owns, for a frame
        // moved here from another lane).
        self.routes[slot] = Some(PathRoute { member: mi, queue: q, peer: from });
    }

    fn transmit(&mut self, now: stripecat_proto::Instant, ident: &mut u16) -> usize {
        let Some(session) = self.shared.session() else { return 0 };
        if self.members.iter().any(|m| m.backlog() > members::TX_PAUSE) {
            return 0;
        }
        let mut sent = 0;
        for slot in 0..self.paths.len() {
            while sent < TX_BUDGET {
                let Some(t) = self.paths[slot].poll_transmit::<MbufPayload>(now, &self.shared, session) else { break };
                sent += 1;
                let Some(route) = self.routes[slot] else { continue };
                let member = &mut self.members[route.member];
                let src = Endpoint { mac: member.mac, ip: self.local_ip, port: self.udp_port };
                *ident = ident.wrapping_add(1);
                if let Ok(f) = framing::build_transmit(
                    &self.hdr_pool,
                    &t,
                    &src,
                    &route.peer,
                    *ident,
                    member.chain,
                    member.tx_check(),
                ) {
                    member.send(route.queue, f);
                }
            }
        }
        sent
    }
}
