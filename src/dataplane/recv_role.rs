//! What a receiver's lane does in [`run_lane`](super::lane::run_lane).
//!
//! Every lane drives some paths: it hands their DATA (still in its mbufs) to the
//! reassembler's inbox and sends their ACKs back the way their packets came. Lane 0
//! also holds the session ([`Receiver`]: HELLO answers, the reassembler, the FIN
//! verdict, the idle timeout) and plays the control role: it hands in-order payloads
//! to the writer queue, lingers after the verdict to answer a retransmitted FIN, and
//! watches the writer and signals.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::wire::{PacketType, ResetReason};
use stripecat_proto::Piece;
use stripecat_proto::{
    DropReason, Incoming, Instant, Payload, Receiver, ReceiverError, ReceiverLane, ReceiverState, Route, Transmit,
};

use super::addr::Endpoint;
use super::io::WriterShared;
use super::lane::{Datagram, Hop, LaneIo, Role, Unit};
use super::neighbor::Heard;
use super::payload::MbufPayload;
use crate::limits::{Limit, LimitMeter};
use crate::report::Progress;
use crate::stats_lines::receiver_counters;

/// The protocol part a receiver lane drives (lane 0's session holds the reassembler).
pub type RecvUnit = Unit<Receiver<MbufPayload>, ReceiverLane<MbufPayload>>;

/// How a receiver lane's loop ended.
#[derive(Debug)]
pub enum RecvEnd {
    /// The protocol finished: see the receiver's state.
    Protocol,
    /// The output failed (the sender was sent a RESET).
    Output(String),
    Interrupted,
    /// Lane 0 ended and told this lane to stop.
    Quit,
}

/// Where a path's packets come from (member, local queue, peer), so its ACKs go
/// back the same way.
#[derive(Debug, Clone, Copy)]
struct PathRoute {
    member: usize,
    queue: usize,
    peer: Endpoint,
}

/// Foreign HELLO origins remembered (answers go out within an iteration).
const FOREIGN_HELLOS: usize = 4;
/// After a successful verdict, leave once nothing arrived for this long: five of the
/// sender's FIN retransmission intervals (20 ms), so a lost FIN-ACK is answered again.
const LINGER_QUIET_US: u64 = 100_000;
/// The same over memif, where it also orders the exits: the sender stops polling once
/// it has the verdict and leaves after us, and a memif peer that leaves while the other
/// side still polls can crash it (DPDK 22.11). A sender starved of CPU for this long
/// after the FIN-ACK is the residual risk, so it is generous.
const LINGER_QUIET_MEMIF_US: u64 = 500_000;

/// Lane 0's control role.
pub struct RecvControl {
    /// In-order payloads for the writer thread.
    pub writer_queue: Arc<ArrayQueue<Piece<MbufPayload>>>,
    pub writer: Arc<WriterShared>,
    pub progress: Progress,
    /// When the verdict was reached (the summary's end of transfer).
    pub completed_at: Option<std::time::Instant>,
    /// When a sender's HELLO failed authentication (µs): the end lingers answering its
    /// retransmitted HELLOs, so a lost reject still reaches it.
    auth_failed_us: Option<u64>,
    /// Refused unauthenticated senders already reported (the protocol's count).
    refusals: crate::kernel::error::RefusalReport,
    last_accepted_us: u64,
    iterations: u64,
    interrupted: Box<dyn Fn() -> bool + Send>,
    /// What the transfer waited on, over its time (the summary's verdict).
    pub limits: LimitMeter,
}

impl RecvControl {
    pub fn new(
        writer_queue: Arc<ArrayQueue<Piece<MbufPayload>>>,
        writer: Arc<WriterShared>,
        progress: Progress,
        interrupted: Box<dyn Fn() -> bool + Send>,
    ) -> RecvControl {
        RecvControl {
            writer_queue,
            writer,
            progress,
            completed_at: None,
            auth_failed_us: None,
            refusals: Default::default(),
            last_accepted_us: 0,
            iterations: 0,
            interrupted,
            limits: LimitMeter::default(),
        }
    }
}

/// A receiver lane's role.
pub struct RecvRole {
    pub unit: RecvUnit,
    /// Lane 0 only.
    pub control: Option<RecvControl>,
    pub udp_port: u16,
    routes: Vec<Option<PathRoute>>,
    /// Where the latest HELLOs of sessions we do not serve came from (a second sender
    /// while a transfer runs). The protocol turns them down (Busy) on their path id,
    /// whose route belongs to the session being served: without this the answer went
    /// to the running sender, and the second sender never heard it.
    foreign_hellos: [Option<(u64, PathRoute)>; FOREIGN_HELLOS],
    next_foreign: usize,
    /// Datagrams the protocol accepted since the last step (only those keep a
    /// lingering receiver: foreign traffic on a link must not).
    accepted: u64,
}

impl RecvRole {
    pub fn new(unit: RecvUnit, control: Option<RecvControl>, udp_port: u16) -> RecvRole {
        RecvRole {
            unit,
            control,
            udp_port,
            routes: Vec::new(),
            foreign_hellos: [None; FOREIGN_HELLOS],
            next_foreign: 0,
            accepted: 0,
        }
    }

    /// The session (lane 0).
    pub fn receiver(&self) -> Option<&Receiver<MbufPayload>> {
        match &self.unit {
            RecvUnit::Session(r) => Some(r),
            RecvUnit::Paths(_) => None,
        }
    }

    fn session_id(&self) -> Option<u64> {
        match &self.unit {
            RecvUnit::Session(r) => r.session_id(),
            RecvUnit::Paths(l) => l.shared().session(),
        }
    }

    /// Lane 0's work besides receive and transmit.
    fn control_step(&mut self, io: &mut LaneIo, now: Instant) -> Result<usize, RecvEnd> {
        let (RecvUnit::Session(receiver), Some(c)) = (&mut self.unit, &mut self.control) else {
            unreachable!("the control role holds the session")
        };
        let mut work = 0;
        let now_us = now.total_micros();
        let accepted = std::mem::take(&mut self.accepted);
        if receiver.session_id().is_some() && !c.writer.open_now.load(Ordering::Relaxed) {
            // A session is served (keyed: its sender's first sealed packet verified):
            // the writer may open the output now.
            c.writer.open_now.store(true, Ordering::Release);
            c.writer.waker.wake();
        }
        if receiver.poll_timeout().is_some_and(|t| t <= now) {
            receiver.handle_timeout(now);
            work += 1;
        }
        c.refusals.observe(receiver.refused());
        // Hand in-order data to the writer while it has room: a slow writer stops
        // delivery, the reorder window fills, the credit stops growing, and the
        // sender slows down.
        let before = work;
        while c.writer_queue.len() < c.writer_queue.capacity() {
            let Some(p) = receiver.poll_deliver() else { break };
            c.writer.queued.fetch_add(p.len() as u64, Ordering::Relaxed);
            if let Err(p) = c.writer_queue.push(p) {
                drop(p); // cannot happen: the one producer checked the room
            }
            work += 1;
        }
        if work > before {
            c.writer.waker.wake();
        }
        // What the transfer waits on: a full writer queue is the output; a loop
        // with nothing to do waits on the sender (its input, CPU or the network).
        if receiver.state() == ReceiverState::Receiving {
            let state = if c.writer_queue.len() >= c.writer_queue.capacity() {
                Limit::Output
            } else if io.idled {
                Limit::Peer
            } else {
                Limit::Cpu
            };
            c.limits.observe(now_us, state);
        } else {
            c.limits.pause(now_us);
        }
        // The FIN-ACK verdict waits for the writer: OK means the data is in the
        // output, not just in our queue.
        receiver.set_written(c.writer.written.load(Ordering::Acquire));
        if c.writer.failed.load(Ordering::Acquire) {
            let err = c.writer.error.lock().unwrap().clone().unwrap_or_default();
            receiver.abort(ResetReason::OutputError);
            return Err(RecvEnd::Output(err));
        }
        match receiver.state() {
            // Linger after the verdict, answering retransmitted FINs, in case the
            // FIN-ACK was lost (a memif peer that disconnects as we exit would never
            // read it): leave once the sender has been quiet for a while.
            ReceiverState::Complete => {
                if c.completed_at.is_none() {
                    c.completed_at = Some(std::time::Instant::now());
                    c.last_accepted_us = now_us;
                }
                if accepted > 0 {
                    c.last_accepted_us = now_us;
                }
                // The sender has the verdict (RESET Closed): nothing left to answer,
                // and it waits for us to leave first.
                if receiver.peer_closed() {
                    return Err(RecvEnd::Protocol);
                }
                let memif = io.members.iter().any(|m| m.guard_link);
                let quiet = if memif { LINGER_QUIET_MEMIF_US } else { LINGER_QUIET_US };
                if now_us.saturating_sub(c.last_accepted_us) >= quiet {
                    return Err(RecvEnd::Protocol);
                }
            }
            // The reject may be lost (a memif peer that disconnects as we exit never
            // reads it): answer retransmitted HELLOs until the sender has been quiet.
            ReceiverState::Failed(ReceiverError::Auth { .. }) => {
                if c.auth_failed_us.is_none() || accepted > 0 {
                    c.auth_failed_us = Some(now_us);
                }
                let memif = io.members.iter().any(|m| m.guard_link);
                let quiet = if memif { LINGER_QUIET_MEMIF_US } else { LINGER_QUIET_US };
                if now_us.saturating_sub(c.auth_failed_us.unwrap_or(now_us)) >= quiet {
                    return Err(RecvEnd::Protocol);
                }
            }
            ReceiverState::Failed(_) => return Err(RecvEnd::Protocol),
            _ => {}
        }
        c.iterations += 1;
        if c.iterations.is_multiple_of(1024) {
            if (c.interrupted)() {
                receiver.abort(ResetReason::Application);
                return Err(RecvEnd::Interrupted);
            }
            c.progress.update(c.writer.written.load(Ordering::Relaxed), "");
            let live = receiver.state() == ReceiverState::Receiving;
            if let Some(lines) = c.progress.lines_due().filter(|_| live) {
                let routes = &self.routes;
                let name = |id: u16| {
                    let route = routes.get(id as usize).copied().flatten()?;
                    io.members.get(route.member).map(|m| m.name.clone())
                };
                lines.write(receiver_counters(receiver, |id| name(id).unwrap_or_default(), c.limits.times()));
            }
        }
        Ok(work)
    }
}

impl Role for RecvRole {
    type End = RecvEnd;

    fn join(&mut self, other: RecvRole) {
        self.unit.join(other.unit);
    }

    fn keyring(&self) -> &stripecat_proto::Keyring {
        match &self.unit {
            RecvUnit::Session(r) => r.shared().keyring(),
            RecvUnit::Paths(l) => l.shared().keyring(),
        }
    }

    fn ports(&self) -> core::ops::Range<u16> {
        self.udp_port..self.udp_port.wrapping_add(1)
    }

    fn route(&self, incoming: &Incoming) -> Route {
        incoming.receiver_route()
    }

    fn on_datagram(&mut self, _io: &mut LaneIo, now: Instant, d: Datagram) {
        let h = *d.incoming.header();
        let route = PathRoute { member: d.member, queue: d.queue, peer: d.from };
        let Ok(shared) = d.mbuf.into_shared() else { return };
        let payload = MbufPayload::new(shared).narrow(d.range);
        let result = match &mut self.unit {
            RecvUnit::Session(r) => r.handle_incoming(now, &d.incoming, payload),
            RecvUnit::Paths(l) => l.handle_incoming(now, &d.incoming, payload),
        };
        if h.packet_type == PacketType::Hello && self.session_id() != Some(h.session_id) {
            self.foreign_hellos[self.next_foreign] = Some((h.session_id, route));
            self.next_foreign = (self.next_foreign + 1) % FOREIGN_HELLOS;
        }
        match result {
            Ok(()) => self.accepted += 1,
            // A duplicate is still acknowledged (the path recorded it), so its
            // route counts too.
            Err(DropReason::Duplicate) => {}
            Err(_) => return,
        }
        let p = h.path_id as usize;
        if self.routes.len() <= p {
            self.routes.resize(p + 1, None);
        }
        self.routes[p] = Some(route);
    }

    fn on_bad_datagram(&mut self, reason: DropReason) {
        match &mut self.unit {
            RecvUnit::Session(r) => r.count_drop(reason),
            RecvUnit::Paths(l) => l.count_drop(reason),
        }
    }

    fn on_neighbor(&mut self, _member: usize, _heard: &Heard) {}

    fn step(&mut self, io: &mut LaneIo, now: Instant) -> Result<usize, RecvEnd> {
        if self.control.is_some() {
            return self.control_step(io, now);
        }
        if io.shared.quitting() {
            return Err(RecvEnd::Quit);
        }
        Ok(0)
    }

    fn ended(&self) -> bool {
        self.receiver().is_some_and(|r| matches!(r.state(), ReceiverState::Complete | ReceiverState::Failed(_)))
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<MbufPayload>> {
        match &mut self.unit {
            RecvUnit::Session(r) => r.poll_transmit(now),
            RecvUnit::Paths(l) => l.poll_transmit(now),
        }
    }

    fn hop(&self, io: &LaneIo, t: &Transmit<MbufPayload>) -> Option<Hop> {
        let session = t.header().session_id;
        let foreign = if self.session_id() == Some(session) {
            None
        } else {
            self.foreign_hellos.iter().flatten().find(|(s, _)| *s == session).map(|(_, r)| *r)
        };
        let route = foreign.or_else(|| self.routes.get(t.path as usize).copied().flatten())?;
        let member = io.members.get(route.member)?;
        Some(Hop {
            member: route.member,
            queue: route.queue,
            src: Endpoint { mac: member.mac, ip: io.nets.get(route.member)?.local, port: self.udp_port },
            dst: route.peer,
        })
    }

    fn next_wake(&self) -> Option<Instant> {
        match &self.unit {
            RecvUnit::Session(r) => r.poll_timeout(),
            RecvUnit::Paths(l) => l.poll_timeout(),
        }
    }
}
