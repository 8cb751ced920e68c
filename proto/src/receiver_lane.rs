//! A lane's share of a receiving session: some of its paths, over the shared state.
//!
//! A driver with several poll loops gives each lane the paths whose DATA and PING it
//! handles. The lane checks them against the session, hands accepted payloads to the
//! reassembler's inbox (in [`ReceiverShared`]) and sends those paths' ACKs; session
//! control and the reassembler stay with the [`crate::Receiver`], which is itself a
//! `ReceiverLane` for its own paths plus that control.
//!
//! The lane works in proportion to what arrives: `poll_transmit` looks at its paths
//! only when something could have made an ACK due since it last looked (a packet
//! arrived, the delivered offset moved, or the earliest ACK timer passed), so an idle
//! or waiting receiver does not scan every path on every loop iteration.
//!
//! # Driving a `ReceiverLane`
//! Per iteration: read `now` once; `handle_incoming` for each DATA or PING routed here
//! ([`crate::Incoming::receiver_route`]), with the datagram's payload handle;
//! `poll_transmit(now)` until `None`; wait for traffic or `poll_timeout()`.

use std::sync::Arc;

use crate::incoming::Incoming;
use crate::path_receiver::PathReceiver;
use crate::path_set::PathSet;
use crate::shared::ReceiverShared;
use crate::stats::{DropCounters, DropReason};
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::Frame;
use crate::{Payload, Piece};

/// Some paths of one receiving session, driven by one lane.
#[derive(Debug)]
pub struct ReceiverLane<B> {
    shared: Arc<ReceiverShared<B>>,
    pub(crate) paths: PathSet<PathReceiver>,
    /// Whether a path may have an ACK due that `poll_transmit` has not looked for.
    dirty: bool,
    /// Before this, no path's ACK timer can make one due.
    quiet_until: Option<Instant>,
    /// The delivered offset when the paths were last looked at (progress to report).
    seen_delivered: u64,
    /// The paths that have had a packet, in the order they first did: only they can owe an
    /// ACK, so only they are looked at (a receiver serves 256 path ids, a session a few).
    heard: Vec<u16>,
    /// The entry of `heard` that `poll_transmit` asks first (round robin).
    rr: usize,
    pub(crate) drops: DropCounters,
}

impl<B: Payload> ReceiverLane<B> {
    /// A lane over `shared` that drives `paths` (indexed by path id).
    pub(crate) fn new(shared: Arc<ReceiverShared<B>>, paths: PathSet<PathReceiver>) -> Self {
        ReceiverLane {
            shared,
            paths,
            dirty: true,
            quiet_until: None,
            seen_delivered: 0,
            heard: Vec::new(),
            rr: 0,
            drops: DropCounters::default(),
        }
    }

    /// The session state all lanes share.
    pub fn shared(&self) -> &Arc<ReceiverShared<B>> {
        &self.shared
    }

    /// Whether this lane drives path `id`.
    pub fn drives(&self, id: u16) -> bool {
        self.paths.drives(id)
    }

    /// Path `id`, if this lane drives it.
    pub fn path(&self, id: u16) -> Option<&PathReceiver> {
        self.paths.get(id)
    }

    /// Path `id`, mutably, if driven here. Marks the lane for an ACK check.
    pub(crate) fn path_mut(&mut self, id: u16) -> Option<&mut PathReceiver> {
        self.dirty = true;
        self.paths.get_mut(id)
    }

    /// The paths this lane drives, in id order.
    pub fn paths(&self) -> impl Iterator<Item = &PathReceiver> {
        self.paths.iter()
    }

    /// Counts a datagram the driver could not parse (it is this lane's input).
    pub fn count_drop(&mut self, reason: DropReason) {
        self.drops.count(reason);
    }

    /// Moves the paths for which `take(id)` holds into a new lane over the same session.
    pub fn split(&mut self, take: impl Fn(u16) -> bool) -> ReceiverLane<B> {
        let mut lane = ReceiverLane::new(self.shared.clone(), self.paths.split(&take));
        lane.heard = self.heard.iter().copied().filter(|&id| take(id)).collect();
        self.heard.retain(|&id| !take(id));
        self.rr = 0;
        self.dirty = true;
        lane
    }

    /// Takes back the paths (and drop counts) of a lane made by [`ReceiverLane::split`].
    pub fn join(&mut self, other: ReceiverLane<B>) {
        self.paths.join(other.paths);
        self.drops.merge(&other.drops);
        for id in other.heard {
            if !self.heard.contains(&id) {
                self.heard.push(id);
            }
        }
        self.dirty = true;
    }

    /// Processes a DATA or PING routed to this lane; `datagram` is the whole
    /// datagram's handle (narrowed to the payload here, never copied). Refusals are
    /// counted; a duplicate is refused but still acknowledged (our ACK was lost).
    pub fn handle_incoming(&mut self, now: Instant, incoming: &Incoming, datagram: B) -> Result<(), DropReason> {
        let r = self.handle_path_packet(now, incoming, datagram);
        match r {
            Ok(()) => self.shared.note_activity(),
            Err(reason) => self.drops.count(reason),
        }
        r
    }

    /// [`ReceiverLane::handle_incoming`] without counting (the `Receiver` counts its own).
    pub(crate) fn handle_path_packet(
        &mut self,
        now: Instant,
        incoming: &Incoming,
        datagram: B,
    ) -> Result<(), DropReason> {
        let h = &incoming.repr.header;
        if self.shared.session() != Some(h.session_id) {
            return Err(DropReason::WrongSession);
        }
        let shared = &self.shared;
        let Some(path) = self.paths.get_mut(h.path_id) else {
            return Err(DropReason::UnknownPath);
        };
        if shared.keyring().keyed() && !(incoming.authenticated() && path.accept_number(h.packet_number)) {
            return Err(if incoming.authenticated() { DropReason::Replayed } else { DropReason::Unauthenticated });
        }
        self.dirty = true;
        if path.stats().packets == 0 && !self.heard.contains(&h.path_id) {
            self.heard.push(h.path_id);
        }
        match incoming.repr.frame {
            Frame::Data => path.handle_chunk(now, h, Piece::Bytes(datagram.narrow(incoming.payload.clone())), shared),
            Frame::Ping => path.handle_ping(now, h),
            Frame::Zeros(z) => match u16::try_from(z.len) {
                Ok(len) => path.handle_chunk(now, h, Piece::Zeros(len), shared),
                // Longer than any chunk: malformed, unless the session takes no records at all.
                Err(_) if !shared.zeros() => Err(DropReason::Unexpected),
                Err(_) => Err(DropReason::BadChunk),
            },
            _ => Err(DropReason::Unexpected),
        }
    }

    /// The next ACK due on these paths, round robin; `None` before a session.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<B>> {
        let session = self.shared.session()?;
        let delivered = self.shared.delivered();
        if !self.dirty && delivered == self.seen_delivered && self.quiet_until.is_some_and(|t| now < t) {
            return None;
        }
        let n = self.heard.len();
        for k in 0..n {
            let i = (self.rr + k) % n;
            let Some(p) = self.paths.get_mut(self.heard[i]) else { continue };
            if let Some(t) = p.poll_transmit(now, &self.shared, session) {
                self.rr = (i + 1) % n;
                return Some(t);
            }
        }
        // Nothing due now: nothing will be until a packet arrives, delivery moves on,
        // or the earliest ACK timer passes.
        self.dirty = false;
        self.seen_delivered = delivered;
        self.quiet_until = Some(self.next_ack_timer().unwrap_or(Instant::MAX));
        None
    }

    /// The earliest time an ACK timer makes one due (kept from the last look while
    /// nothing changed: the driver asks on every idle iteration).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(q) = self.quiet_until.filter(|_| !self.dirty && self.shared.delivered() == self.seen_delivered) {
            return (q != Instant::MAX).then_some(q);
        }
        self.next_ack_timer()
    }

    fn next_ack_timer(&self) -> Option<Instant> {
        let delivered = self.shared.delivered();
        self.heard.iter().filter_map(|&id| self.paths.get(id)).filter_map(|p| p.poll_timeout(delivered)).min()
    }
}
