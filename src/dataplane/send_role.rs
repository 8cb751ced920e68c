//! What a sender's lane does in [`run_lane`](super::lane::run_lane).
//!
//! Every lane drives some paths (their ACKs, timers and data). Lane 0 also holds the
//! session ([`Sender`]: HELLO, FIN, RESET, give-up) and plays the control role: it
//! resolves the peer's MAC on every member (ARP) and publishes them to the other
//! lanes, takes fresh chunks from the reader's intake queue, and watches for the end
//! of the input, the end of the session and signals.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use stripecat_proto::{DropReason, Incoming, Instant, PathEvent, PushError, Route, Sender, SenderLane, Transmit};

use super::addr::{path_udp_port, Endpoint};
use super::io::ReaderShared;
use super::lane::{Datagram, Hop, LaneIo, Role, Unit};
use super::neighbor::{self, Heard, Neighbors};
use super::payload::MbufPayload;
use crate::limits::{Limit, LimitMeter};
use crate::report::Progress;
use crate::stats_lines::sender_counters;
use crate::wire::Mac;

/// Where path `p` goes out: member and queue.
pub fn path_slot(p: u16, queues: u16) -> (usize, usize) {
    ((p / queues) as usize, (p % queues) as usize)
}

/// What the path-MTU check found, in the operator's terms: the member and frame sizes.
pub fn mtu_failure_text(members: &str, v6: bool, full_len: u16, base_len: u16, base_ok: bool) -> (String, String) {
    let (full, base) = (super::mtu_for_datagram(full_len, v6), super::mtu_for_datagram(base_len, v6));
    if base_ok {
        (
            format!("{members}: {full}-byte frames do not arrive, {base}-byte frames do"),
            format!("enable jumbo frames on that switch port or use --mtu {base}"),
        )
    } else {
        (
            format!("{members}: neither {full}-byte nor {base}-byte frames arrive"),
            "check the link and the peer's address on that member".to_string(),
        )
    }
}

/// Tells the operator about a path event (once per member and lane).
fn report_path_event(io: &LaneIo, queues: u16, e: &PathEvent, reported: &mut Vec<bool>) {
    let path = match *e {
        PathEvent::MtuFailed { path, .. } | PathEvent::MtuRecovered { path } => path,
    };
    let (mi, _) = path_slot(path, queues);
    let Some(member) = io.members.get(mi) else { return };
    if reported.len() <= mi {
        reported.resize(mi + 1, false);
    }
    match *e {
        PathEvent::MtuFailed { full_len, base_len, base_ok, .. } if !reported[mi] => {
            reported[mi] = true;
            let v6 = io.nets.get(mi).is_some_and(|n| n.is_v6());
            let (what, hint) = mtu_failure_text(&format!("member {}", member.name), v6, full_len, base_len, base_ok);
            let rest = if io.members.len() > 1 { "; the other members carry the stream" } else { "" };
            eprintln!("stripecat: warning: {what} (hint: {hint}){rest}");
        }
        PathEvent::MtuRecovered { .. } if reported[mi] => {
            reported[mi] = false;
            eprintln!("stripecat: member {}: full-size frames arrive now; it carries data again", member.name);
        }
        _ => {}
    }
}

/// The protocol part a sender lane drives.
pub type SendUnit = Unit<Sender<MbufPayload>, SenderLane<MbufPayload>>;

/// How a sender lane's loop ended.
#[derive(Debug)]
pub enum SendEnd {
    /// The protocol finished (done or failed: see the sender's state).
    Protocol,
    /// The next hop's MAC could not be learned on these members: name, the address
    /// asked for, and whether it is the gateway (not the peer itself).
    ArpFailed(Vec<(String, IpAddr, bool)>),
    /// The input could not be read.
    Input(String),
    /// Interrupted (SIGINT/SIGTERM).
    Interrupted,
    /// Lane 0 ended and told this lane to stop.
    Quit,
}

/// Lane 0's control role.
pub struct SendControl {
    pub neighbors: Neighbors,
    /// Chunks the reader filled, in stream order.
    pub intake: Arc<ArrayQueue<MbufPayload>>,
    pub reader: Arc<ReaderShared>,
    /// A chunk the protocol refused for now (no credit or room).
    pending: Option<MbufPayload>,
    /// It was refused for want of the receiver's credit (not room in the queue).
    pending_credit: bool,
    /// What the transfer waited on, over its time (the summary's verdict).
    pub limits: LimitMeter,
    finished_input: bool,
    /// Give up ARP after this long (µs) with members unresolved.
    pub arp_timeout_us: u64,
    started_us: Option<u64>,
    iterations: u64,
    pub progress: Progress,
    interrupted: Box<dyn Fn() -> bool + Send>,
}

impl SendControl {
    pub fn new(
        neighbors: Neighbors,
        intake: Arc<ArrayQueue<MbufPayload>>,
        reader: Arc<ReaderShared>,
        arp_timeout_us: u64,
        progress: Progress,
        interrupted: Box<dyn Fn() -> bool + Send>,
    ) -> SendControl {
        SendControl {
            neighbors,
            intake,
            reader,
            pending: None,
            pending_credit: false,
            limits: LimitMeter::default(),
            finished_input: false,
            arp_timeout_us,
            started_us: None,
            iterations: 0,
            progress,
            interrupted,
        }
    }

    /// Tells the meter what the transfer waits on now: data the protocol refused
    /// for want of credit (the receiver), data waiting while the loop idles (the
    /// windows), no data at all (the input; once the input has ended, the
    /// receiver's acknowledgements and verdict), or work every time (the CPU).
    fn observe_limit(&mut self, sender: &Sender<MbufPayload>, idled: bool, now: Instant) {
        let now_us = now.total_micros();
        if !sender.in_session() {
            self.limits.pause(now_us);
            return;
        }
        let state = match (self.pending.is_some(), sender.shared().has_data(), self.intake.is_empty()) {
            (true, _, _) if self.pending_credit => Limit::Peer,
            (true, _, _) | (false, true, _) if idled => Limit::Network,
            (false, false, true) if self.finished_input => Limit::Peer,
            (false, false, true) => Limit::Input,
            _ => Limit::Cpu,
        };
        self.limits.observe(now_us, state);
    }

    /// Frees the chunks still queued (before the pools go).
    pub fn drain(&mut self) {
        self.pending = None;
        while self.intake.pop().is_some() {}
    }

    /// Stops the reader thread: empties the intake so a push it is blocked on returns,
    /// joins it, frees what it pushed meanwhile, and ends the progress line.
    pub fn stop_reader(&mut self, thread: std::thread::JoinHandle<()>) {
        self.reader.stop.store(true, Ordering::Relaxed);
        self.reader.waker.wake();
        self.drain();
        let _ = thread.join();
        self.drain();
        self.progress.finish();
    }
}

/// A sender lane's role.
pub struct SendRole {
    pub unit: SendUnit,
    /// Lane 0 only.
    pub control: Option<SendControl>,
    pub queues: u16,
    pub udp_port: u16,
    /// Path ids of the session (ACKs come back to their ports).
    pub paths: u16,
    /// Lane 0: every member's peer MAC is known (transmits may start).
    resolved: bool,
    /// Members whose path-MTU failure this lane reported already (one line per member).
    reported: Vec<bool>,
}

impl SendRole {
    pub fn new(unit: SendUnit, control: Option<SendControl>, queues: u16, udp_port: u16, paths: u16) -> SendRole {
        SendRole { unit, control, queues, udp_port, paths, resolved: false, reported: Vec::new() }
    }

    /// The session (lane 0).
    pub fn sender(&self) -> Option<&Sender<MbufPayload>> {
        match &self.unit {
            SendUnit::Session(s) => Some(s),
            SendUnit::Paths(_) => None,
        }
    }

    /// Resolves the peer on every member; `Err` when ARP gave up.
    fn resolve(&mut self, io: &mut LaneIo, now: Instant) -> Result<usize, SendEnd> {
        let c = self.control.as_mut().expect("lane 0");
        let now_us = now.total_micros();
        let started = *c.started_us.get_or_insert(now_us);
        if c.neighbors.all_known() {
            let macs: Vec<Mac> = (0..io.members.len()).filter_map(|i| c.neighbors.mac(i)).collect();
            let _ = io.shared.peer_macs.set(macs);
            self.resolved = true;
            return Ok(1);
        }
        let unresolved: Vec<usize> = c.neighbors.unresolved().collect();
        for mi in unresolved {
            if c.neighbors.request_due(mi, now_us) {
                let (Some(target), Some(net)) = (c.neighbors.target(mi), io.nets.get(mi)) else { continue };
                let mac = io.members[mi].mac;
                if let Some(f) = neighbor::build_request(&io.hdr_pool, net, mac, target) {
                    io.send(mi, 0, f);
                    io.counters.arp_requests_sent += 1;
                }
            }
        }
        if now_us.saturating_sub(started) > c.arp_timeout_us {
            let failed = c
                .neighbors
                .unresolved()
                .filter_map(|i| {
                    let gw = io.nets.get(i).is_some_and(|n| n.gateway.is_some());
                    Some((io.members[i].name.clone(), c.neighbors.target(i)?, gw))
                })
                .collect();
            return Err(SendEnd::ArpFailed(failed));
        }
        Ok(0)
    }

    /// Lane 0's work besides receive and transmit.
    fn control_step(&mut self, io: &mut LaneIo, now: Instant) -> Result<usize, SendEnd> {
        let mut work = 0;
        if !self.resolved {
            work += self.resolve(io, now)?;
        }
        let (SendUnit::Session(sender), Some(c)) = (&mut self.unit, &mut self.control) else {
            unreachable!("the control role holds the session")
        };
        c.iterations += 1;
        if c.iterations.is_multiple_of(1024) {
            if (c.interrupted)() {
                sender.abort();
                return Err(SendEnd::Interrupted);
            }
            let extra = format!("{} resends", sender.stats().paths.resends);
            c.progress.update(sender.shared().acked(), &extra);
            let live = sender.in_session();
            if let Some(lines) = c.progress.lines_due().filter(|_| live) {
                let name = |id: u16| io.members.get(path_slot(id, self.queues).0).map(|m| m.name.clone());
                lines.write(sender_counters(sender, |id| name(id).unwrap_or_default(), c.limits.times()));
            }
        }
        if !self.resolved {
            return Ok(work);
        }
        if sender.poll_timeout().is_some_and(|t| t <= now) {
            sender.handle_timeout(now);
            work += 1;
        }
        if let Some(point) = sender.resume_point() {
            // Resuming: the reader reads the receiver's prefix first (before it is
            // given the chunk size, below); the protocol judges what it read.
            let mut asked = c.reader.resume.lock().unwrap();
            if asked.is_none() {
                *asked = Some(point);
            }
            drop(asked);
            if let Some((digest, read)) = c.reader.prefix.lock().unwrap().take() {
                sender.resume_with(digest, read);
                if let Some(at) = sender.resumed_from() {
                    c.progress.resumed_at(at);
                }
                work += 1;
            } else if c.reader.done.load(Ordering::Acquire) {
                // The reader stopped inside the prefix: a read error (or a stop).
                if let Some(err) = c.reader.error.lock().unwrap().clone() {
                    sender.abort();
                    return Err(SendEnd::Input(err));
                }
            }
        }
        if sender.is_established() && c.reader.chunk.load(Ordering::Relaxed) == 0 {
            // The handshake settled the chunk size: the reader may cut chunks now.
            c.reader.chunk.store(sender.chunk_size() as usize, Ordering::Release);
        }
        while let Some(e) = sender.poll_event() {
            report_path_event(io, self.queues, &e, &mut self.reported);
        }
        // Fresh chunks from the reader, while the protocol takes them. The reader
        // digested them (right after its read, where the bytes were in its cache).
        while let Some(item) = c.pending.take().or_else(|| c.intake.pop()) {
            match sender.write_digested(item) {
                Ok(_) => work += 1,
                Err(PushError::NoCredit(item)) => {
                    c.pending = Some(item);
                    c.pending_credit = true;
                    break;
                }
                Err(PushError::QueueFull(item)) => {
                    c.pending = Some(item);
                    c.pending_credit = false;
                    break;
                }
                Err(e) => {
                    drop(e.into_inner());
                    break;
                }
            }
        }
        c.observe_limit(sender, io.idled, now);
        let checked = sender.resume_point().is_none();
        if checked
            && !c.finished_input
            && c.pending.is_none()
            && c.reader.done.load(Ordering::Acquire)
            && c.intake.is_empty()
        {
            if let Some(err) = c.reader.error.lock().unwrap().clone() {
                sender.abort();
                return Err(SendEnd::Input(err));
            }
            let Some(digest) = c.reader.digest.lock().unwrap().take() else {
                sender.abort();
                return Err(SendEnd::Input("the reader stopped before the end of the input".into()));
            };
            sender.finish_digested(digest);
            c.finished_input = true;
        }
        if sender.is_finished() {
            return Err(SendEnd::Protocol);
        }
        // The reader may be parked on queue room or data rooms, which progress frees.
        if work > 0 || !io.idled {
            c.reader.waker.wake();
        }
        Ok(work)
    }
}

impl Role for SendRole {
    type End = SendEnd;

    fn join(&mut self, other: SendRole) {
        self.unit.join(other.unit);
    }

    fn keyring(&self) -> &stripecat_proto::Keyring {
        match &self.unit {
            SendUnit::Session(s) => s.shared().keyring(),
            SendUnit::Paths(l) => l.shared().keyring(),
        }
    }

    fn ports(&self) -> core::ops::Range<u16> {
        let first = path_udp_port(self.udp_port, 0);
        first..first.saturating_add(self.paths)
    }

    fn route(&self, incoming: &Incoming) -> Route {
        incoming.sender_route()
    }

    fn on_datagram(&mut self, _io: &mut LaneIo, now: Instant, d: Datagram) {
        let _ = match &mut self.unit {
            SendUnit::Session(s) => s.handle_incoming(now, &d.incoming),
            SendUnit::Paths(l) => l.handle_incoming(now, &d.incoming),
        };
    }

    fn on_bad_datagram(&mut self, reason: DropReason) {
        match &mut self.unit {
            SendUnit::Session(s) => s.count_drop(reason),
            SendUnit::Paths(l) => l.count_drop(reason),
        }
    }

    fn on_neighbor(&mut self, member: usize, heard: &Heard) {
        if let Some(c) = &mut self.control {
            c.neighbors.learn(member, heard);
        }
    }

    fn step(&mut self, io: &mut LaneIo, now: Instant) -> Result<usize, SendEnd> {
        if self.control.is_some() {
            return self.control_step(io, now);
        }
        if io.shared.quitting() {
            return Err(SendEnd::Quit);
        }
        let SendUnit::Paths(lane) = &mut self.unit else { return Ok(0) };
        if lane.poll_timeout().is_some_and(|t| t <= now) {
            lane.handle_timeout(now);
            while let Some(e) = lane.poll_event() {
                report_path_event(io, self.queues, &e, &mut self.reported);
            }
            return Ok(1);
        }
        Ok(0)
    }

    fn ended(&self) -> bool {
        self.sender().is_some_and(|s| s.is_finished())
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<MbufPayload>> {
        match &mut self.unit {
            // Nothing before every member knows the peer (the HELLO would be lost).
            SendUnit::Session(s) if self.resolved => s.poll_transmit(now),
            SendUnit::Session(_) => None,
            SendUnit::Paths(l) => l.poll_transmit(now),
        }
    }

    fn hop(&self, io: &LaneIo, t: &Transmit<MbufPayload>) -> Option<Hop> {
        let macs = io.shared.peer_macs.get()?;
        let (mi, q) = path_slot(t.path, self.queues);
        let member = io.members.get(mi)?;
        let net = io.nets.get(mi)?;
        // Control frames of a path driven elsewhere go out on a queue of this lane.
        let queue = member.local(q as u16).unwrap_or(0);
        Some(Hop {
            member: mi,
            queue,
            src: Endpoint { mac: member.mac, ip: net.local, port: path_udp_port(self.udp_port, t.path) },
            // To the next hop's MAC (the gateway's on a routed member), the peer's address.
            dst: Endpoint { mac: *macs.get(mi)?, ip: net.peer?, port: self.udp_port },
        })
    }

    fn next_wake(&self) -> Option<Instant> {
        match &self.unit {
            SendUnit::Session(s) => s.poll_timeout(),
            SendUnit::Paths(l) => l.poll_timeout(),
        }
    }
}
