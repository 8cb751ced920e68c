//! A lane's share of a sending session: some of its paths, over the shared state.
//!
//! A driver with several poll loops ("lanes", one per lcore) gives each lane the paths
//! that go out on the queues it owns. The lane drives those paths end to end (their
//! ACKs, loss and probe timers, data transmits); session control (HELLO, FIN, RESET,
//! give-up) stays with the [`crate::Sender`], which is itself a `SenderLane` for its own
//! paths plus that control. With one lane, the `Sender` holds every path and no
//! `SenderLane` exists apart from it.
//!
//! # Driving a `SenderLane`
//! The same kinds of method, in the same order, as [`crate::Sender`]: per iteration
//! read `now` once; `handle_incoming` for each ACK routed here
//! ([`crate::Incoming::sender_route`]); `handle_timeout(now)` once `poll_timeout()`
//! passed; `poll_transmit(now)` until `None` (or the driver's budget); then wait for
//! traffic or `poll_timeout()`.

use std::sync::Arc;

use crate::incoming::Incoming;
use crate::path_sender::PathSender;
use crate::path_set::PathSet;
use crate::shared::SenderShared;
use crate::stats::{DropCounters, DropReason};
use crate::time::{Duration, Instant};
use crate::transmit::Transmit;
use crate::wire::Frame;
use crate::Payload;

/// Some paths of one sending session, driven by one lane.
#[derive(Debug)]
pub struct SenderLane<B> {
    shared: Arc<SenderShared<B>>,
    pub(crate) paths: PathSet<PathSender<B>>,
    /// Whether the handshake RTT has seeded these paths.
    seeded: bool,
    pub(crate) drops: DropCounters,
}

impl<B: Payload> SenderLane<B> {
    /// A lane over `shared` that drives `paths` (indexed by path id).
    pub(crate) fn new(shared: Arc<SenderShared<B>>, paths: PathSet<PathSender<B>>) -> Self {
        SenderLane { shared, paths, seeded: false, drops: DropCounters::default() }
    }

    /// The session state all lanes share.
    pub fn shared(&self) -> &Arc<SenderShared<B>> {
        &self.shared
    }

    /// Whether this lane drives path `id`.
    pub fn drives(&self, id: u16) -> bool {
        self.paths.drives(id)
    }

    /// Path `id`, if this lane drives it.
    pub fn path(&self, id: u16) -> Option<&PathSender<B>> {
        self.paths.get(id)
    }

    /// Path `id`, mutably, if this lane drives it.
    pub(crate) fn path_mut(&mut self, id: u16) -> Option<&mut PathSender<B>> {
        self.paths.get_mut(id)
    }

    /// The paths this lane drives, in id order.
    pub fn paths(&self) -> impl Iterator<Item = &PathSender<B>> {
        self.paths.iter()
    }

    /// The paths this lane drives, mutably.
    pub(crate) fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathSender<B>> {
        self.paths.iter_mut()
    }

    /// Counts a datagram the driver could not parse (it is this lane's input).
    pub fn count_drop(&mut self, reason: DropReason) {
        self.drops.count(reason);
    }

    /// Moves the paths for which `take(id)` holds into a new lane over the same session.
    pub fn split(&mut self, take: impl Fn(u16) -> bool) -> SenderLane<B> {
        SenderLane::new(self.shared.clone(), self.paths.split(take))
    }

    /// Takes back the paths (and drop counts) of a lane made by [`SenderLane::split`].
    pub fn join(&mut self, other: SenderLane<B>) {
        self.paths.join(other.paths);
        self.drops.merge(&other.drops);
    }

    /// Seeds every path here with the handshake RTT (once).
    pub(crate) fn seed_rtt(&mut self, now: Instant, rtt: Duration) {
        self.seeded = true;
        for p in self.paths_mut() {
            p.seed_rtt(now, rtt);
        }
    }

    /// Processes an ACK routed to this lane. Anything else, another session's
    /// packet, or a path driven elsewhere is refused (and counted).
    pub fn handle_incoming(&mut self, now: Instant, incoming: &Incoming) -> Result<(), DropReason> {
        let r = self.handle_ack(now, incoming);
        if let Err(reason) = r {
            self.drops.count(reason);
        }
        r
    }

    /// [`SenderLane::handle_incoming`] without the counting (the `Sender` counts its own).
    pub(crate) fn handle_ack(&mut self, now: Instant, incoming: &Incoming) -> Result<(), DropReason> {
        let h = &incoming.repr.header;
        if h.session_id != self.shared.session_id() {
            return Err(DropReason::WrongSession);
        }
        let Frame::Ack(ack) = &incoming.repr.frame else { return Err(DropReason::Unexpected) };
        let shared = &self.shared;
        let Some(path) = self.paths.get_mut(h.path_id) else {
            return Err(DropReason::UnknownPath);
        };
        if shared.keyring().keyed() && !(incoming.authenticated() && path.accept_number(h.packet_number)) {
            return Err(if incoming.authenticated() { DropReason::Replayed } else { DropReason::Unauthenticated });
        }
        path.handle_ack(now, h, ack, shared);
        Ok(())
    }

    /// The next data packet or probe from these paths, in round-robin order. Each
    /// path offers one only when its window, pacer and health allow, so data spreads
    /// over paths in proportion to what each carries now. Nothing before the handshake.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<B>> {
        if !self.shared.is_established() {
            return None;
        }
        if !self.seeded {
            // The control lane seeds its own paths at HELLO-ACK; the others here.
            if let Some(rtt) = self.shared.handshake_rtt() {
                self.seed_rtt(now, rtt);
            }
            self.seeded = true;
        }
        let shared = &self.shared;
        self.paths.round_robin(|p| p.poll_transmit(now, shared))
    }

    /// The next path event for the driver to report (path-MTU check results).
    pub fn poll_event(&mut self) -> Option<crate::path_sender::PathEvent> {
        self.paths.iter_mut().find_map(|p| p.take_event())
    }

    /// The earliest time `handle_timeout` must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.paths().filter_map(|p| p.poll_timeout()).min()
    }

    /// Runs every expired path timer (loss detection, probe timeouts).
    pub fn handle_timeout(&mut self, now: Instant) {
        let shared = &self.shared;
        for p in self.paths.iter_mut() {
            if p.poll_timeout().is_some_and(|t| t <= now) {
                p.handle_timeout(now, shared);
            }
        }
    }
}
