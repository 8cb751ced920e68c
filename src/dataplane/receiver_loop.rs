//! The receiver's poll loop: burst in from every member queue, hand
//! protocol datagrams (as mbuf handles, no copy) to the protocol, pass
//! in-order payloads to the writer thread, send ACKs back on each path's
//! own member and queue, back off when idle.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::wire::ResetReason;
use stripecat_proto::{Payload, Receiver, ReceiverState};

use super::addr::Endpoint;
use super::backoff::Backoff;
use super::clock::TscClock;
use super::framing::{self, flatten, Classified};
use super::io::WriterShared;
use super::lanes::{peek_route, LaneShared, Layout};
use super::members::{self, FrameCounters, Member};
use super::payload::MbufPayload;
use crate::dpdk::{Mbuf, Mempool};
use crate::report::Progress;

/// Where a path's packets come from (member, local queue, peer), so its
/// ACKs go back the same way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathRoute {
    pub member: usize,
    pub queue: usize,
    pub peer: Endpoint,
}

pub struct RecvLoop {
    pub members: Vec<Member>,
    pub receiver: Receiver<MbufPayload>,
    pub out: Arc<ArrayQueue<MbufPayload>>,
    pub writer: Arc<WriterShared>,
    pub hdr_pool: Arc<Mempool>,
    /// Full-size buffers for joining chained datagrams.
    pub join_pool: Arc<Mempool>,
    pub local_ip: Ipv4Addr,
    pub udp_port: u16,
    pub clock: TscClock,
    pub busy_poll: bool,
    pub counters: FrameCounters,
    pub progress: Progress,
    /// Datagrams that arrived as chains (header and payload in separate
    /// segments) and had to be joined.
    pub joined: u64,
    /// When the verdict was reached (the summary's end of transfer).
    pub completed_at: Option<std::time::Instant>,
    routes: Vec<Option<PathRoute>>,
    /// Where the latest HELLOs of sessions we do not serve came from (a
    /// second sender while a transfer runs). The protocol rejects them
    /// (Busy) on their path id, and that path's route belongs to the
    /// session being served: without this, the rejection went to the
    /// running sender, and a second sender on another link or host never
    /// heard it (it gave up after 10 s saying "0 of 0 bytes acknowledged").
    foreign_hellos: [Option<(u64, PathRoute)>; FOREIGN_HELLOS],
    next_foreign: usize,
    /// With more than one lane: this is lane 0, and other lanes own some
    /// paths (their DATA and PING are moved there; see `lanes.rs`).
    pub lanes: Option<(Layout, Arc<LaneShared>)>,
    /// The other lanes' activity count last seen.
    lane_activity: u64,
}

/// Foreign HELLO origins remembered (answers go out within an iteration).
const FOREIGN_HELLOS: usize = 4;

#[derive(Debug)]
pub enum RecvEnd {
    /// Protocol finished: see `receiver.state()`.
    Protocol,
    /// The output failed (the sender was sent a RESET).
    Output(String),
    Interrupted,
}

const TX_BUDGET: usize = 256;
/// After a successful verdict, leave once nothing arrived for this long:
/// five of the sender's FIN retransmission intervals (20 ms), so a lost
/// FIN-ACK is answered again before we go.
const LINGER_QUIET_US: u64 = 100_000;
/// The same over memif, where it also orders the exits: the sender stops
/// polling once it has the verdict and leaves after us, and a memif peer
/// that leaves while the other side still polls can crash it (DPDK 22.11).
/// A sender starved of CPU for this long after the FIN-ACK is the residual
/// risk, so it is generous.
const LINGER_QUIET_MEMIF_US: u64 = 500_000;

impl RecvLoop {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        members: Vec<Member>,
        receiver: Receiver<MbufPayload>,
        out: Arc<ArrayQueue<MbufPayload>>,
        writer: Arc<WriterShared>,
        hdr_pool: Arc<Mempool>,
        join_pool: Arc<Mempool>,
        local_ip: Ipv4Addr,
        udp_port: u16,
        clock: TscClock,
        busy_poll: bool,
        progress: Progress,
    ) -> RecvLoop {
        RecvLoop {
            members,
            receiver,
            out,
            writer,
            hdr_pool,
            join_pool,
            local_ip,
            udp_port,
            clock,
            busy_poll,
            counters: FrameCounters::default(),
            progress,
            joined: 0,
            completed_at: None,
            routes: Vec::new(),
            foreign_hellos: [None; FOREIGN_HELLOS],
            next_foreign: 0,
            lanes: None,
            lane_activity: 0,
        }
    }

    pub fn run(&mut self, interrupted: &dyn Fn() -> bool) -> RecvEnd {
        let mut backoff = Backoff::new(self.busy_poll);
        let mut rx: Vec<Mbuf> = Vec::with_capacity(64);
        let mut ident: u16 = 0;
        let mut iter: u64 = 0;
        let mut last_rx_us: u64 = 0;
        // Taken once: `on_frame` needs `self` mutably while the inbox drains.
        let lane_shared = self.lanes.as_ref().map(|(_, l)| l.clone());
        loop {
            iter += 1;
            let now = self.clock.now();
            let now_us = now.total_micros();
            let mut work = 0;
            // Datagrams the protocol accepted (not every frame: see the
            // linger below).
            let mut accepted = 0;

            for mi in 0..self.members.len() {
                for q in 0..self.members[mi].rx.len() {
                    let n = self.members[mi].rx(q, &mut rx);
                    work += n;
                    for m in rx.drain(..) {
                        if self.on_frame(now, mi, q, m) {
                            accepted += 1;
                        }
                    }
                }
            }
            if let Some(lanes) = &lane_shared {
                while let Some((mi, m)) = lanes.take(0) {
                    work += 1;
                    if self.on_frame(now, mi as usize, 0, m) {
                        accepted += 1;
                    }
                }
                let activity = lanes.activity.load(Ordering::Relaxed);
                if activity != self.lane_activity {
                    self.lane_activity = activity;
                    self.receiver.note_activity(now);
                }
            }

            if self.receiver.poll_timeout().is_some_and(|t| t <= now) {
                self.receiver.handle_timeout(now);
                work += 1;
            }

            // Hand in-order data to the writer while it has room: a slow
            // writer stops delivery, the reorder window fills, the credit
            // stops growing, and the sender slows down.
            while self.out.len() < self.out.capacity() {
                let Some(p) = self.receiver.poll_deliver() else { break };
                self.writer.queued.fetch_add(p.len() as u64, Ordering::Relaxed);
                if let Err(p) = self.out.push(p) {
                    drop(p); // cannot happen: one producer checked the room
                }
                work += 1;
            }

            // The FIN-ACK verdict waits for the writer: OK means the data is
            // in the output, not just in our queue.
            self.receiver.set_written(self.writer.written.load(Ordering::Acquire));

            if self.writer.failed.load(Ordering::Acquire) {
                let err = self.writer.error.lock().unwrap().clone().unwrap_or_default();
                self.receiver.abort(ResetReason::OutputError);
                self.transmit(now, &mut ident);
                for m in &mut self.members {
                    m.flush_all();
                }
                return RecvEnd::Output(err);
            }

            work += self.transmit(now, &mut ident);
            for m in &mut self.members {
                m.flush_all();
            }

            match self.receiver.state() {
                // Linger after the verdict, answering retransmitted FINs, in
                // case the FIN-ACK was lost (a memif peer that disconnects
                // as we exit would never read it): leave once the sender has
                // been quiet for LINGER_QUIET.
                ReceiverState::Complete => {
                    if self.completed_at.is_none() {
                        self.completed_at = Some(std::time::Instant::now());
                        last_rx_us = now_us;
                    }
                    // Only what the protocol accepted (a retransmitted FIN)
                    // keeps us here: counting every frame, foreign traffic on
                    // a link (a few frames a second) kept the receiver
                    // lingering forever after a completed transfer.
                    if accepted > 0 {
                        last_rx_us = now_us;
                    }
                    // The sender has the verdict (RESET Closed): nothing left
                    // to answer, and it waits for us to leave first.
                    if self.receiver.peer_closed() {
                        return RecvEnd::Protocol;
                    }
                    let quiet =
                        if self.members.iter().any(|m| m.guard_link) { LINGER_QUIET_MEMIF_US } else { LINGER_QUIET_US };
                    if now_us.saturating_sub(last_rx_us) >= quiet {
                        return RecvEnd::Protocol;
                    }
                }
                ReceiverState::Failed(_) => {
                    self.transmit(now, &mut ident);
                    for m in &mut self.members {
                        m.flush_all();
                    }
                    return RecvEnd::Protocol;
                }
                _ => {}
            }
            if iter.is_multiple_of(1024) {
                if interrupted() {
                    self.receiver.abort(ResetReason::Application);
                    self.transmit(now, &mut ident);
                    for m in &mut self.members {
                        m.flush_all();
                    }
                    return RecvEnd::Interrupted;
                }
                let written = self.writer.written.load(Ordering::Relaxed);
                self.progress.update(written, "");
            }
            if work > 0 {
                backoff.reset();
            } else {
                let until = self
                    .receiver
                    .poll_timeout()
                    .map(|t| std::time::Duration::from_micros(t.total_micros().saturating_sub(now_us)));
                backoff.idle(until);
            }
        }
    }

    /// Handles one received frame; true if the protocol accepted it.
    fn on_frame(&mut self, now: stripecat_proto::Instant, mi: usize, q: usize, m: Mbuf) -> bool {
        // Chained frames (ring ports hand over the sender's segments as they
        // are) are flattened into one buffer first: classification and the
        // protocol's CRC need the datagram in one piece.
        let Some(m) = flatten(m, &self.join_pool, &mut self.joined) else { return false };
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
            return false;
        };
        if let Some((layout, lanes)) = &self.lanes {
            use stripecat_proto::wire::PacketType;
            if let Some((ty, p)) = peek_route(&m.data()[range.clone()]) {
                let owner = layout.receiver_owner(p);
                if owner != 0 && (ty == PacketType::Data as u8 || ty == PacketType::Ping as u8) {
                    lanes.forward(owner, mi as u16, m);
                    return false;
                }
            }
        }
        let (path, hello_session) = match stripecat_proto::wire::Packet::new_checked(&m.data()[range.clone()]) {
            Ok(p) => {
                let hello = p.packet_type_raw() == stripecat_proto::wire::PacketType::Hello as u8;
                (Some(p.path_id()), hello.then(|| p.session_id()))
            }
            Err(_) => (None, None),
        };
        let check = self.members[mi].rx_check(m.data());
        let payload = match m.into_shared() {
            Ok(s) => MbufPayload::new(s).narrow(range),
            Err(_) => return false,
        };
        let result = self.receiver.handle_datagram_with(now, payload, check);
        if let Some(session) = hello_session.filter(|s| self.receiver.session_id() != Some(*s)) {
            self.foreign_hellos[self.next_foreign] = Some((session, PathRoute { member: mi, queue: q, peer: from }));
            self.next_foreign = (self.next_foreign + 1) % FOREIGN_HELLOS;
        }
        if result.is_ok() {
            if let Some(p) = path {
                let p = p as usize;
                if self.routes.len() <= p {
                    self.routes.resize(p + 1, None);
                }
                self.routes[p] = Some(PathRoute { member: mi, queue: q, peer: from });
            }
            return true;
        }
        false
    }

    fn transmit(&mut self, now: stripecat_proto::Instant, ident: &mut u16) -> usize {
        let mut n = 0;
        // Back-pressure: while a driver will not take what is queued, keep
        // the protocol's packets in the protocol (they are not lost then).
        // A session that has ended (a RESET or a verdict to send) goes out
        // regardless.
        let ended = matches!(self.receiver.state(), ReceiverState::Complete | ReceiverState::Failed(_));
        if !ended && self.members.iter().any(|m| m.backlog() > super::members::TX_PAUSE) {
            return 0;
        }
        while n < TX_BUDGET {
            let Some(t) = self.receiver.poll_transmit(now) else { break };
            n += 1;
            let session = t.header().session_id;
            let foreign = if self.receiver.session_id() == Some(session) {
                None
            } else {
                self.foreign_hellos.iter().flatten().find(|(s, _)| *s == session).map(|(_, r)| *r)
            };
            let Some(route) = foreign.or_else(|| self.routes.get(t.path as usize).copied().flatten()) else { continue };
            let member = &mut self.members[route.member];
            let src = Endpoint { mac: member.mac, ip: self.local_ip, port: self.udp_port };
            *ident = ident.wrapping_add(1);
            if let Ok(f) =
                framing::build_transmit(&self.hdr_pool, &t, &src, &route.peer, *ident, member.chain, member.tx_check())
            {
                member.send(route.queue, f);
            }
        }
        n
    }
}
