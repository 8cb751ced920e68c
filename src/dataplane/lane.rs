//! The one poll loop: every lane of `send`, `recv` and `selftest` runs [`run_lane`].
//!
//! It is l2fwd's loop: one clock read per iteration; burst in from every member queue
//! this lane owns and from its frame inbox; let the role work (timers, intake, hand-off
//! to the writer); burst out what the protocol wants sent, through per-queue transmit
//! buffers flushed at the end of the iteration; back off when nothing happened.
//!
//! What differs between lanes is data, not code: the [`Role`] (a sender or receiver,
//! holding the session or only some paths) decides what a datagram means and what is
//! sent next, and [`LaneIo`] holds the lane's queues and the framing around the protocol.
//! Each received frame is classified and parsed once, here; a datagram that belongs to
//! another lane's path moves there as an mbuf with its parse ([`Arrival`]), so no lane
//! parses it again.

use std::sync::Arc;

use stripecat_proto::{
    DropReason, Incoming, Instant, Keyring, Payload, Receiver, ReceiverLane, Route, Sender, SenderLane, Transmit,
};

use super::addr::{Endpoint, MemberNet};
use super::backoff::Backoff;
use super::clock::TscClock;
use super::framing::{self, Classified, Encap};
use super::lanes::{LaneShared, Layout};
use super::members::{self, FrameCounters, Member, TX_PAUSE};
use super::neighbor::Heard;
use super::payload::MbufPayload;
use crate::dpdk::{Mbuf, Mempool};

/// Frames taken from one queue per burst.
const RX_BURST: usize = 64;
/// Protocol transmits built per iteration at most (bounds the work of one iteration).
const TX_BUDGET: usize = 256;

/// A striping datagram, classified and parsed: where it came from and what it says.
pub struct Datagram {
    /// The member it arrived on.
    pub member: usize,
    /// The local queue it arrived on (0 for one moved here from another lane: every
    /// lane owns its first queue of every member).
    pub queue: usize,
    /// Who sent it (for answers along the same route).
    pub from: Endpoint,
    /// The datagram within the frame.
    pub range: core::ops::Range<usize>,
    /// Its parse.
    pub incoming: Incoming,
    /// The frame.
    pub mbuf: Mbuf,
}

/// A frame moved from the lane that polled it to the lane that owns it.
pub enum Arrival {
    /// A datagram for one of the owner's paths, parsed already.
    Datagram(Datagram),
    /// A frame for the control lane (ARP), classified again there.
    Frame { member: usize, mbuf: Mbuf },
}

/// Where one transmit goes out: member, local queue, and the two ends.
#[derive(Debug, Clone, Copy)]
pub struct Hop {
    pub member: usize,
    pub queue: usize,
    pub src: Endpoint,
    pub dst: Endpoint,
}

/// What a lane is for. The loop calls, per iteration: `on_datagram` / `on_arp` for
/// what arrived, `step` once, then `poll_transmit` and `hop` until the budget or
/// `None`; `next_wake` when idle.
pub trait Role {
    /// How the lane's loop ended.
    type End;
    /// Folds another lane's role into this one, lane 0's, once every lane has stopped
    /// (the session takes its paths back).
    fn join(&mut self, other: Self)
    where
        Self: Sized;
    /// The UDP ports this end serves.
    fn ports(&self) -> core::ops::Range<u16>;
    /// Which part of the session handles a datagram ([`Incoming::sender_route`] or
    /// [`Incoming::receiver_route`]).
    fn route(&self, incoming: &Incoming) -> Route;
    /// A datagram this lane handles.
    fn on_datagram(&mut self, io: &mut LaneIo, now: Instant, d: Datagram);
    /// A datagram that did not parse (counted by the protocol unit).
    fn on_bad_datagram(&mut self, reason: DropReason);
    /// An ARP packet or neighbour discovery message that reached the control lane (after
    /// any answer).
    fn on_neighbor(&mut self, member: usize, heard: &Heard);
    /// Everything but receive and transmit: timers, intake, hand-off, end checks.
    /// Returns the work done, or how the loop ends.
    fn step(&mut self, io: &mut LaneIo, now: Instant) -> Result<usize, Self::End>;
    /// Whether the session ended, so control frames go out despite back-pressure.
    fn ended(&self) -> bool;
    /// The next protocol transmit.
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<MbufPayload>>;
    /// Where a transmit goes; `None` drops it (no route yet: the protocol resends).
    fn hop(&self, io: &LaneIo, t: &Transmit<MbufPayload>) -> Option<Hop>;
    /// The earliest time the role has something to do without new input.
    fn next_wake(&self) -> Option<Instant>;
    /// The session's keys (the protocol's: they say what is sealed and how).
    fn keyring(&self) -> &Keyring;
}

/// The protocol part a lane drives: the whole session on lane 0 (`S`: a `Sender` or
/// `Receiver`, which drives its own paths too), some of its paths on the others (`L`:
/// a `SenderLane` or `ReceiverLane`).
// One per lane, made once: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Unit<S, L> {
    /// Lane 0: the session and its own paths.
    Session(S),
    /// Another lane: some paths of the session.
    Paths(L),
}

/// A session that takes back the paths of a lane split off it.
pub trait JoinLane<L> {
    fn join_lane(&mut self, lane: L);
}

impl<B: Payload> JoinLane<SenderLane<B>> for Sender<B> {
    fn join_lane(&mut self, lane: SenderLane<B>) {
        Sender::join_lane(self, lane);
    }
}

impl<B: Payload> JoinLane<ReceiverLane<B>> for Receiver<B> {
    fn join_lane(&mut self, lane: ReceiverLane<B>) {
        Receiver::join_lane(self, lane);
    }
}

impl<S: JoinLane<L>, L> Unit<S, L> {
    /// Folds `other`'s paths into this session (lane 0's unit); a no-op otherwise.
    pub fn join(&mut self, other: Self) {
        if let (Unit::Session(session), Unit::Paths(lane)) = (self, other) {
            session.join_lane(lane);
        }
    }
}

/// A lane's queues and the framing around the protocol.
pub struct LaneIo {
    /// This lane's number (0 holds the session).
    pub lane: u16,
    pub layout: Layout,
    /// This lane's view of every member: the queues it polls and transmits on.
    pub members: Vec<Member>,
    /// Frame inboxes between lanes, the stop flag, the peer's MACs.
    pub shared: Arc<LaneShared>,
    pub hdr_pool: Arc<Mempool>,
    /// Where chained frames are joined into one buffer (receivers: ring ports hand the
    /// sender's chains over), or `None` to take frames as they come (senders: ACKs).
    pub join_pool: Option<Arc<Mempool>>,
    /// Chained datagrams joined.
    pub joined: u64,
    /// Every member's addressing, by member index.
    pub nets: Arc<[MemberNet]>,
    pub clock: TscClock,
    pub busy_poll: bool,
    pub counters: FrameCounters,
    /// Whole-frame buffers for path-MTU probes (padded to a full frame), when the
    /// header pool holds headers only.
    pub probe_pool: Option<Arc<Mempool>>,
    /// IPv4 identification of the next frame (differs per lane: it only needs to
    /// differ between fragments' datagrams, and we never fragment).
    ident: u16,
    /// The previous iteration found no work (it went idle): what a role's
    /// bottleneck meter reads to tell waiting from working.
    pub idled: bool,
}

impl LaneIo {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lane: u16,
        layout: Layout,
        members: Vec<Member>,
        shared: Arc<LaneShared>,
        hdr_pool: Arc<Mempool>,
        join_pool: Option<Arc<Mempool>>,
        nets: Arc<[MemberNet]>,
        clock: TscClock,
        busy_poll: bool,
    ) -> LaneIo {
        LaneIo {
            lane,
            layout,
            members,
            shared,
            hdr_pool,
            join_pool,
            joined: 0,
            nets,
            clock,
            busy_poll,
            counters: FrameCounters::default(),
            probe_pool: None,
            ident: lane.wrapping_mul(0x1000),
            idled: false,
        }
    }

    /// Receive interrupts on every queue of this lane, registered in the calling thread,
    /// when every member's port has them; `None` otherwise (the lane sleeps in steps).
    pub fn irq_waiter(&self) -> Option<crate::dpdk::IrqWaiter> {
        if !self.members.iter().all(|m| m.rx_interrupts) {
            return None;
        }
        crate::dpdk::IrqWaiter::register(self.members.iter().flat_map(|m| m.queues.iter().map(|q| q.rx_queue())))
    }

    /// Whether a driver queue is backed up: the protocol then keeps its packets.
    pub fn backlogged(&self) -> bool {
        self.members.iter().any(|m| m.backlog() > TX_PAUSE)
    }

    /// Offers every pending frame to the drivers.
    pub fn flush(&mut self) {
        for m in &mut self.members {
            m.flush_all();
        }
    }

    /// Queues `frame` on member `member`'s local queue `queue`.
    pub fn send(&mut self, member: usize, queue: usize, frame: Mbuf) {
        if let Some(m) = self.members.get_mut(member) {
            m.send(queue, frame);
        }
    }

    /// Bursts in from every queue of this lane and from its inbox.
    fn receive<R: Role>(&mut self, now: Instant, role: &mut R, rx: &mut Vec<Mbuf>) -> usize {
        let mut work = 0;
        for mi in 0..self.members.len() {
            for q in 0..self.members[mi].queues.len() {
                work += self.members[mi].rx(q, rx);
                for m in rx.drain(..) {
                    self.on_frame(now, role, mi, q, m);
                }
            }
        }
        while let Some(a) = self.shared.take(self.lane) {
            work += 1;
            match a {
                Arrival::Datagram(d) => role.on_datagram(self, now, d),
                Arrival::Frame { member, mbuf } => self.on_frame(now, role, member, 0, mbuf),
            }
        }
        work
    }

    /// Classifies one frame, parses a datagram once, and hands it to its lane.
    fn on_frame<R: Role>(&mut self, now: Instant, role: &mut R, member: usize, queue: usize, m: Mbuf) {
        let m = match &self.join_pool {
            Some(pool) => match framing::flatten(m, pool, &mut self.joined) {
                Some(m) => m,
                None => return,
            },
            None => m,
        };
        let Some(net) = self.nets.get(member).copied() else { return };
        let class = framing::classify(m.data(), &net, role.ports());
        match class {
            Classified::Stripe { from, range, .. } => {
                let check = self.members[member].rx_check(m.data());
                let keyring = role.keyring();
                let parsed = if keyring.keyed() {
                    // Sealed packets open in place: the frame must be ours alone.
                    let mut m2 = m;
                    if m2.data_mut().is_none() {
                        // A whole-frame pool: the receive pool where there is one (a
                        // keyed receiver's header buffers hold control frames only).
                        let pool = self.join_pool.as_ref().unwrap_or(&self.hdr_pool);
                        match framing::flat_copy(&m2, pool) {
                            Some(c) => m2 = c,
                            None => return,
                        }
                    }
                    let r = match m2.data_mut() {
                        Some(d) => Incoming::open(&mut d[range.clone()], check, keyring),
                        None => Err(DropReason::Unauthenticated),
                    };
                    (r, m2)
                } else {
                    (Incoming::parse_with(&m.data()[range.clone()], check), m)
                };
                let (incoming, m) = match parsed {
                    (Ok(i), m) => (i, m),
                    (Err(reason), _) => return role.on_bad_datagram(reason),
                };
                let owner = match role.route(&incoming) {
                    Route::Path(p) if p < self.layout.paths => self.layout.owner_of_path(p),
                    _ => 0,
                };
                let d = Datagram { member, queue, from, range, incoming, mbuf: m };
                if owner == self.lane {
                    role.on_datagram(self, now, d);
                } else {
                    self.shared.forward(owner, Arrival::Datagram(Datagram { queue: 0, ..d }));
                }
            }
            Classified::Arp(_) | Classified::Nd { .. } if self.lane != 0 => {
                self.shared.forward(0, Arrival::Frame { member, mbuf: m })
            }
            _ => {
                let (lane_member, pool) = (&mut self.members[member], &self.hdr_pool);
                let learned = members::answer_common(lane_member, queue, m, &class, &net, pool, &mut self.counters);
                if let Some(h) = learned {
                    role.on_neighbor(member, &h);
                }
            }
        }
    }

    /// Builds and queues up to [`TX_BUDGET`] protocol transmits.
    fn transmit<R: Role>(&mut self, now: Instant, role: &mut R) -> usize {
        // Back-pressure: while a driver will not take what is queued, the protocol
        // keeps its packets (they are not lost then). A session that has ended (a
        // RESET or verdict to send) goes out regardless.
        if !role.ended() && self.backlogged() {
            return 0;
        }
        let mut n = 0;
        while n < TX_BUDGET {
            let Some(t) = role.poll_transmit(now) else { break };
            n += 1;
            let Some(hop) = role.hop(self, &t) else { continue };
            self.ident = self.ident.wrapping_add(1);
            let Some(member) = self.members.get_mut(hop.member) else { continue };
            // A frame we cannot build is a lost packet to the protocol.
            let way = framing::TxWay { chain: member.chain, check: member.tx_check(), keyring: role.keyring() };
            let pool = match &self.probe_pool {
                Some(p) if t.pad_to > 0 => p,
                _ => &self.hdr_pool,
            };
            let encap = self.nets.get(hop.member).map(Encap::of).unwrap_or_default();
            if let Ok(f) = framing::build_transmit(pool, &t, encap, &hop.src, &hop.dst, self.ident, way) {
                member.send(hop.queue, f);
            }
        }
        n
    }
}

/// Longest sleep on receive interrupts: what no interrupt announces (the reader's
/// chunks, another lane's frames, the writer's progress) waits no longer than this.
const IRQ_WAIT_MS: i32 = 1;

/// Runs one lane until its role ends it.
pub fn run_lane<R: Role>(io: &mut LaneIo, role: &mut R) -> R::End {
    let mut backoff = Backoff::new(io.busy_poll);
    // Registered here, in the lane's own thread, where it waits.
    let mut irq = if io.busy_poll { None } else { io.irq_waiter() };
    let mut rx: Vec<Mbuf> = Vec::with_capacity(RX_BURST);
    loop {
        let now = io.clock.now();
        let mut work = io.receive(now, role, &mut rx);
        match role.step(io, now) {
            Ok(w) => work += w,
            Err(end) => {
                // One last round, so a RESET, verdict or last packets leave.
                io.transmit(now, role);
                io.flush();
                return end;
            }
        }
        work += io.transmit(now, role);
        io.flush();
        io.idled = work == 0;
        if work > 0 {
            backoff.reset();
            if let Some(w) = &mut irq {
                w.disarm();
            }
            continue;
        }
        let now_us = now.total_micros();
        let until = role.next_wake().map(|t| std::time::Duration::from_micros(t.total_micros().saturating_sub(now_us)));
        let far = until.is_none_or(|d| d.as_millis() >= IRQ_WAIT_MS as u128);
        match &mut irq {
            // l3fwd-power's pattern: arm, poll once more (a frame that came in before
            // the interrupts were armed raises none), then sleep until a frame or the
            // timeout, and poll with them off again.
            Some(w) if backoff.sleeping() && far => {
                if !w.armed() {
                    if !w.arm() {
                        irq = None;
                    }
                } else {
                    io.counters.irq_sleeps += 1;
                    let woken = w.wait(IRQ_WAIT_MS);
                    w.disarm();
                    match woken {
                        Some(true) => io.counters.irq_wakes += 1,
                        Some(false) => {}
                        None => irq = None,
                    }
                }
            }
            _ => backoff.idle(until),
        }
    }
}
