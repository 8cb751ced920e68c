//! The receiving endpoint: session control (HELLO answers, FIN verdict, idle timeout,
//! RESET), the per-path receivers and the reassembler.
//!
//! [`Receiver`] is session control and the [`Reassembler`] composed with a
//! [`ReceiverLane`] that drives its paths. A single-threaded driver uses it alone. A
//! driver with several lanes splits lanes off it ([`Receiver::split_lane`]), routes each
//! DATA and PING to the lane of its path ([`Incoming::receiver_route`]) and everything
//! else to the `Receiver`, which also runs the reassembler: the lanes hand it accepted
//! chunks through the inbox in [`ReceiverShared`].
//!
//! # Driving a `Receiver`
//! Each loop iteration: read `now` once; `handle_datagram(now, handle)` for every
//! datagram received (the handle is narrowed to the payload, never copied), or
//! `handle_incoming(now, &incoming, handle)` when the driver parsed it to route it; run
//! `handle_timeout(now)` if `poll_timeout()` passed; `poll_deliver()` until `None`,
//! writing each chunk to the output (this advances the flow-control credit); then
//! `poll_transmit(now)` until `None`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::config::ReceiverConfig;
use crate::crypto::{AuthError, ReplayWindow};
use crate::digest::StreamDigest;
use crate::incoming::Incoming;
use crate::path_receiver::PathReceiver;
use crate::reassembly::Reassembler;
use crate::receiver_lane::ReceiverLane;
use crate::shared::ReceiverShared;
use crate::stats::{DropCounters, DropReason};
use crate::time::{Duration, Instant};
use crate::timer::TimerTable;
use crate::transmit::Transmit;
use crate::wire::{FinAckRepr, FinRepr, Flags, Frame, HeaderRepr, HelloRepr, Repr, ResetReason, ResetRepr, Verdict};
use crate::{Payload, Piece};

mod error;
mod handshake;

pub use error::{ReceiverError, ReceiverState, ReceiverStats};

crate::timer_kinds! {
    enum Timer {
        Idle,
        Listen,
    }
}

/// Smallest chunk size a receiver accepts: the reorder window is an array of
/// `window / chunk_size` slots, so tiny chunks would let a HELLO claim a huge array.
pub const MIN_CHUNK_SIZE: u16 = 256;

/// Most control answers queued at once; more are dropped (the peer retransmits).
const MAX_PENDING_CONTROL: usize = 16;

/// The receiving endpoint.
#[derive(Debug)]
pub struct Receiver<B> {
    config: ReceiverConfig,
    shared: Arc<ReceiverShared<B>>,
    /// The paths driven here: all of them, less those split off to other lanes.
    lane: ReceiverLane<B>,
    reassembler: Option<Reassembler<B>>,
    state: ReceiverState,
    session: Option<(u64, HelloRepr)>,
    digest: Option<StreamDigest>,
    fin: Option<FinRepr>,
    verdict: Option<Verdict>,
    control: VecDeque<Transmit<B>>,
    timers: TimerTable<Timer, { Timer::COUNT }>,
    last_activity: Instant,
    last_path: u16,
    /// Packets other lanes accepted, when last looked at ([`ReceiverShared`]).
    seen_activity: u64,
    datagrams: u64,
    drops: DropCounters,
    /// Bytes the application reports written to its output; `None` until it
    /// reports. When set, the FIN verdict waits for it to reach the stream end,
    /// so an Ok verdict means the data is in the output, not just delivered.
    written: Option<u64>,
    /// The sender confirmed it has our Ok verdict (RESET `Closed`).
    peer_closed: bool,
    /// Keyed: answered HELLOs whose senders have not confirmed yet (session, HELLO,
    /// the HELLO-ACK to repeat), at most [`crypto::MAX_PENDING`].
    answered: Vec<(u64, HelloRepr, Frame)>,
    /// Keyed, committed: the HELLO-ACK to repeat to a retransmitted HELLO.
    hello_ack: Option<Frame>,
    /// Our control packets' numbers (HELLO-ACK, FIN-ACK, RESET).
    control_seq: u64,
    /// The sender's control numbers seen (sealed CONFIRM, FIN, RESET).
    control_replay: ReplayWindow,
    /// HELLO rate limit: the current one-second window's start and handshakes in it.
    hello_window: (Instant, u32),
    /// The stream offset the session started at, when it resumed.
    resumed_from: Option<u64>,
    /// Keyed: HELLOs refused because they did not authenticate, and the last one's
    /// reason (the receiver listens on; see [`Receiver::refused`]).
    refused: (u64, Option<AuthError>),
    /// How long [`Receiver::listen_for`] gave a sender to come.
    listen: Option<Duration>,
}

impl<B: Payload> Receiver<B> {
    /// A receiver listening for one session.
    pub fn new(config: ReceiverConfig) -> Self {
        let shared = Arc::new(ReceiverShared::new(config.inbox_chunks).with_key(config.key.clone()));
        let paths = (0..config.paths.max(1))
            .map(|i| Some(PathReceiver::new(i, config.ack_every, config.max_ack_delay)))
            .collect();
        Receiver {
            lane: ReceiverLane::new(shared.clone(), crate::path_set::PathSet::new(paths)),
            shared,
            config,
            reassembler: None,
            state: ReceiverState::Listening,
            session: None,
            digest: None,
            fin: None,
            verdict: None,
            control: VecDeque::new(),
            written: None,
            peer_closed: false,
            timers: TimerTable::default(),
            last_activity: Instant::ZERO,
            last_path: 0,
            seen_activity: 0,
            datagrams: 0,
            drops: DropCounters::default(),
            answered: Vec::new(),
            hello_ack: None,
            control_seq: 0,
            control_replay: ReplayWindow::default(),
            hello_window: (Instant::ZERO, 0),
            resumed_from: None,
            refused: (0, None),
            listen: None,
        }
    }

    /// Gives a sender until `now + within` to start a session: then a receiver still
    /// listening fails, with [`ReceiverError::Auth`] if it refused HELLOs that did not
    /// authenticate meanwhile, else [`ReceiverError::NoSender`]. Without a call it
    /// listens for as long as it is driven.
    pub fn listen_for(&mut self, now: Instant, within: Duration) {
        self.listen = Some(within);
        self.timers.set(Timer::Listen, now + within);
    }

    /// HELLOs a keyed receiver refused because they did not authenticate (a sender
    /// with another key or none, or a forgery), and the last one's reason. It listens
    /// on after each (anyone on a member link can send one), so the driver says so.
    pub fn refused(&self) -> (u64, Option<AuthError>) {
        self.refused
    }

    /// Where the session's stream starts when it resumed ([`ReceiverConfig::resume`]): the
    /// output's length before it, to which every delivered offset is relative. `None`
    /// for a session that did not resume (it starts at 0, the output starts over).
    pub fn resumed_from(&self) -> Option<u64> {
        self.resumed_from
    }

    /// Whether this receiver has a key (serves only authenticated sessions).
    pub fn keyed(&self) -> bool {
        self.shared.keyring().keyed()
    }

    /// The shared part.
    pub fn shared(&self) -> &Arc<ReceiverShared<B>> {
        &self.shared
    }

    /// Hands the paths for which `take(id)` holds to a new lane (another poll loop):
    /// the caller routes their DATA and PING to it. The lane's accepted packets count
    /// as activity for the idle timeout (through the shared state). Give it back with
    /// [`Receiver::join_lane`].
    pub fn split_lane(&mut self, take: impl Fn(u16) -> bool) -> ReceiverLane<B> {
        self.lane.split(take)
    }

    /// Takes back a lane made by [`Receiver::split_lane`]: its paths and drop counts.
    pub fn join_lane(&mut self, lane: ReceiverLane<B>) {
        self.lane.join(lane);
    }

    /// Whether path `i` is driven here (not split off or detached).
    pub fn is_local(&self, i: usize) -> bool {
        self.lane.drives(i as u16)
    }

    /// Packets of this session arrived (here or, seen through the shared state, on
    /// another lane): the sender is alive, so the idle timeout starts over.
    fn note_activity(&mut self, now: Instant) {
        self.last_activity = now;
        if self.state == ReceiverState::Receiving {
            self.timers.set(Timer::Idle, now + self.config.idle_timeout);
        }
    }

    /// Whether the sender confirmed it has our Ok verdict: the session is
    /// over on both ends, and no FIN retransmission needs answering.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Session state.
    pub fn state(&self) -> ReceiverState {
        self.state
    }

    /// The session being served.
    pub fn session_id(&self) -> Option<u64> {
        self.session.map(|s| s.0)
    }

    /// Bytes delivered in order.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered()
    }

    /// Path `i`. Panics if another lane drives it (join the lanes first).
    pub fn path(&self, i: usize) -> &PathReceiver {
        self.lane.path(i as u16).unwrap_or_else(|| panic!("path {i} is driven by another lane"))
    }

    /// The paths driven here (not split off to another lane).
    pub fn local_paths(&self) -> impl Iterator<Item = &PathReceiver> {
        self.lane.paths()
    }

    /// Counters.
    pub fn stats(&self) -> ReceiverStats {
        let mut s = ReceiverStats {
            datagrams: self.datagrams,
            delivered: self.shared.delivered(),
            drops: self.drops,
            ..Default::default()
        };
        if let Some(r) = &self.reassembler {
            s.drops.merge(r.drops());
        }
        s.drops.merge(&self.lane.drops);
        for p in self.lane.paths() {
            let ps = p.stats();
            s.paths.packets += ps.packets;
            s.paths.bytes += ps.bytes;
            s.paths.acks_sent += ps.acks_sent;
        }
        s
    }

    /// Chunks held out of order in the reorder window.
    pub fn held(&self) -> usize {
        self.reassembler.as_ref().map_or(0, |r| r.held())
    }

    /// Processes one datagram. Corrupt, foreign, duplicate or out-of-window packets are
    /// dropped, counted by reason, and reported in the `Err`.
    pub fn handle_datagram(&mut self, now: Instant, datagram: B) -> Result<(), DropReason> {
        self.handle_datagram_with(now, datagram, crate::wire::Check::Crc32c)
    }

    /// [`Receiver::handle_datagram`] under the receiving link's check policy
    /// ([`crate::wire::Check::Off`] accepts packets without a CRC32C). A keyed receiver's
    /// sealed packets must be opened in place first: use [`Incoming::open`] on the
    /// datagram's bytes and [`Receiver::handle_incoming`] (here they are refused as
    /// `Unauthenticated`).
    pub fn handle_datagram_with(
        &mut self,
        now: Instant,
        datagram: B,
        check: crate::wire::Check,
    ) -> Result<(), DropReason> {
        self.datagrams += 1;
        let r = Incoming::parse_with(datagram.as_ref(), check).and_then(|inc| self.handle_inner(now, &inc, datagram));
        if let Err(reason) = r {
            self.drops.count(reason);
        }
        r
    }

    /// Counts a datagram the driver could not parse ([`Incoming::parse`] refused it).
    pub fn count_drop(&mut self, reason: DropReason) {
        self.datagrams += 1;
        self.drops.count(reason);
    }

    /// Processes one datagram the driver already parsed (to route it: see
    /// [`Incoming::receiver_route`]); `datagram` is the whole datagram's handle.
    pub fn handle_incoming(&mut self, now: Instant, incoming: &Incoming, datagram: B) -> Result<(), DropReason> {
        self.datagrams += 1;
        let r = self.handle_inner(now, incoming, datagram);
        if let Err(reason) = r {
            self.drops.count(reason);
        }
        r
    }

    fn handle_inner(&mut self, now: Instant, incoming: &Incoming, datagram: B) -> Result<(), DropReason> {
        let repr = &incoming.repr;
        let h = repr.header;
        if let Frame::Hello(hello) = &repr.frame {
            return self.on_hello(now, &h, **hello);
        }
        if self.keyed() && !incoming.authenticated() {
            // A keyed session takes nothing in the clear but the handshake.
            return Err(DropReason::Unauthenticated);
        }
        if let Frame::Confirm = repr.frame {
            return self.on_confirm(now, &h);
        }
        let Some((session, _)) = self.session else { return Err(DropReason::WrongSession) };
        if h.session_id != session {
            return Err(DropReason::WrongSession);
        }
        let path = h.path_id as usize;
        if path >= self.lane.paths.id_count() {
            return Err(DropReason::UnknownPath);
        }
        if matches!(self.state, ReceiverState::Failed(_)) {
            return Err(DropReason::Unexpected);
        }
        if !self.lane.drives(h.path_id) && matches!(repr.frame, Frame::Data | Frame::Ping | Frame::Zeros(_)) {
            // The driver routes the DATA and PING of a path split off to its lane.
            return Err(DropReason::UnknownPath);
        }
        if incoming.authenticated()
            && !matches!(repr.frame, Frame::Data | Frame::Ping | Frame::Zeros(_))
            && !self.control_replay.accept(h.packet_number)
        {
            return Err(DropReason::Replayed);
        }
        self.touch(now, h.path_id);
        match repr.frame {
            Frame::Data | Frame::Zeros(_) => {
                self.lane.handle_path_packet(now, incoming, datagram)?;
                if let Some(r) = &mut self.reassembler {
                    r.drain_inbox(&self.shared);
                }
            }
            Frame::Ping => self.lane.handle_path_packet(now, incoming, datagram)?,
            Frame::Fin(fin) => {
                self.shared.set_end(fin.total_len);
                self.fin = Some(fin);
                self.check_fin(now, h.path_id);
                if self.fin.is_some() && self.shared.delivered() >= fin.total_len {
                    // Everything arrived; the application is still writing it, so the
                    // FIN-ACK waits. An ACK answers this FIN instead: the sender then
                    // knows we are alive and does not give up on a slow reader.
                    if let Some(p) = self.lane.path_mut(h.path_id) {
                        p.request_ack();
                    }
                }
            }
            Frame::Reset(r) if r.reason == ResetReason::Closed => {
                if self.state != ReceiverState::Complete {
                    return Err(DropReason::Unexpected);
                }
                self.peer_closed = true;
            }
            Frame::Reset(r) => {
                let delivered = self.shared.delivered();
                self.state =
                    ReceiverState::Failed(ReceiverError::PeerReset { reason: r.reason, offset: r.offset, delivered });
                self.timers.stop(Timer::Idle);
            }
            Frame::Hello(_) | Frame::HelloAck(_) | Frame::Ack(_) | Frame::FinAck(_) | Frame::Confirm => {
                return Err(DropReason::Unexpected)
            }
        }
        Ok(())
    }

    fn touch(&mut self, now: Instant, path: u16) {
        self.last_path = path;
        self.note_activity(now);
    }

    fn header(&mut self, now: Instant, path: u16, session: u64, frame: &Frame, echo: u32) -> HeaderRepr {
        // Numbered in our control space, so a sealed packet's nonce is unique; a keyed
        // session seals everything but the HELLO-ACK (its handshake authenticates it).
        self.control_seq += 1;
        let sealed = self.keyed() && !matches!(frame, Frame::HelloAck(_));
        HeaderRepr {
            packet_type: frame.packet_type(),
            flags: Flags(if sealed { Flags::SEALED } else { 0 }),
            path_id: path,
            session_id: session,
            packet_number: self.control_seq,
            offset: 0,
            length: frame.body_len() as u16,
            timestamp: now.wire_timestamp(),
            timestamp_echo: echo,
        }
    }

    fn queue_control(&mut self, now: Instant, path: u16, session: u64, frame: Frame, echo: u32) {
        if self.control.len() >= MAX_PENDING_CONTROL {
            return;
        }
        let header = self.header(now, path, session, &frame, echo);
        self.control.push_back(Transmit { path, repr: Repr { header, frame }, payload: None, pad_to: 0 });
    }

    /// The session's chunk size (settled in the handshake), once serving one.
    pub fn chunk_size(&self) -> Option<u16> {
        self.session.map(|(_, h)| h.chunk_size)
    }

    fn check_fin(&mut self, now: Instant, path: u16) {
        let (Some(fin), Some((session, _))) = (self.fin, self.session) else { return };
        let delivered = self.shared.delivered();
        let verdict = match self.verdict {
            Some(v) => v,
            None => {
                if self.shared.end().is_some_and(|e| e != fin.total_len) || delivered > fin.total_len {
                    Verdict::LengthMismatch
                } else if delivered < fin.total_len || self.written.is_some_and(|w| w < fin.total_len) {
                    return; // still assembling or writing; the sender retransmits the FIN
                } else {
                    let ours = self.digest.as_ref().map(|d| d.finish());
                    let same_alg = self.digest.as_ref().is_some_and(|d| d.algorithm() == fin.algorithm);
                    if same_alg && ours == Some(fin.digest) {
                        Verdict::Ok
                    } else {
                        Verdict::DigestMismatch
                    }
                }
            }
        };
        if self.verdict.is_none() {
            self.verdict = Some(verdict);
            self.timers.stop(Timer::Idle);
            self.state = if verdict == Verdict::Ok {
                ReceiverState::Complete
            } else {
                ReceiverState::Failed(ReceiverError::Verdict { verdict, delivered, announced: fin.total_len })
            };
        }
        let frame = Frame::FinAck(FinAckRepr { verdict, received_len: delivered });
        self.queue_control(now, path, session, frame, 0);
        self.fin = None;
    }

    /// Reports how many bytes the application has written to its output (a
    /// monotonic count). From the first call on, the FIN-ACK waits until the
    /// whole stream is written, not merely delivered.
    pub fn set_written(&mut self, bytes: u64) {
        self.written = Some(self.written.map_or(bytes, |w| w.max(bytes)));
    }

    /// Aborts the session from the application's side (its output failed, or
    /// it was interrupted): the state becomes failed and a RESET carrying
    /// `reason` and the delivered offset goes to the sender. Does nothing once
    /// the session has ended, or before one started.
    pub fn abort(&mut self, reason: ResetReason) {
        if matches!(self.state, ReceiverState::Failed(_)) {
            return;
        }
        let delivered = self.shared.delivered();
        self.state = ReceiverState::Failed(ReceiverError::Aborted { reason, delivered });
        self.timers.stop(Timer::Idle);
        if let Some((session, _)) = self.session {
            let frame = Frame::Reset(ResetRepr { reason, offset: delivered });
            let now = self.last_activity;
            self.control.clear();
            self.queue_control(now, self.last_path, session, frame, 0);
        }
    }

    /// Whether the session waits for the application rather than the network: an
    /// in-order chunk is ready but not taken yet (`poll_deliver`), or delivered bytes are
    /// not written yet (`set_written`).
    fn app_behind(&self) -> bool {
        self.written.is_some_and(|w| w < self.shared.delivered())
            || self.reassembler.as_ref().is_some_and(|r| r.can_deliver())
    }

    /// The next in-order piece for the application: a chunk by handle, or (in a
    /// session that took ZEROS records) a run of zeros, whose bytes read as zeros.
    /// Delivering advances the credit.
    pub fn poll_deliver(&mut self) -> Option<Piece<B>> {
        let r = self.reassembler.as_mut()?;
        r.drain_inbox(&self.shared);
        let b = r.poll_deliver(&self.shared)?;
        if let Some(d) = &mut self.digest {
            d.update(b.as_ref());
        }
        Some(b)
    }

    /// The next packet to send: control answers first, then ACKs per path.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<B>> {
        if self.fin.is_some() {
            self.check_fin(now, self.last_path);
        }
        if let Some(t) = self.control.pop_front() {
            return Some(t);
        }
        self.session?;
        self.lane.poll_transmit(now)
    }

    /// The earliest time `handle_timeout` must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.timers.next();
        if self.session.is_some() {
            t = match (t, self.lane.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        t
    }

    /// Runs expired timers: the idle timeout fails the session and sends a RESET.
    /// (Delayed ACKs need no action here: `poll_transmit` sends them once due.)
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.take_expired(Timer::Listen, now) && self.state == ReceiverState::Listening {
            if !self.answered.is_empty() {
                // A handshake is under way: give its CONFIRM a moment.
                self.timers.set(Timer::Listen, now + Duration::from_secs(1));
            } else {
                let waited = self.listen.unwrap_or(Duration::ZERO);
                self.state = ReceiverState::Failed(match self.refused {
                    (n, Some(error)) if n > 0 => ReceiverError::Auth { error, refused: n },
                    _ => ReceiverError::NoSender { waited },
                });
                return;
            }
        }
        if self.timers.take_expired(Timer::Idle, now) && self.state == ReceiverState::Receiving {
            let activity = self.shared.activity();
            if activity != self.seen_activity {
                // Other lanes accepted packets meanwhile: the sender is alive.
                self.seen_activity = activity;
                self.note_activity(now);
                return;
            }
            if self.app_behind() {
                // The application is slow, not the network: the sender, with
                // everything acknowledged, waits for our credit or FIN-ACK and sends
                // nothing meanwhile. Wait for the application instead of failing.
                self.timers.set(Timer::Idle, now + self.config.idle_timeout);
                return;
            }
            let delivered = self.shared.delivered();
            let idle = now - self.last_activity;
            self.state = ReceiverState::Failed(ReceiverError::IdleTimeout { delivered, idle });
            if let Some((session, _)) = self.session {
                let frame = Frame::Reset(ResetRepr { reason: ResetReason::IdleTimeout, offset: delivered });
                self.queue_control(now, self.last_path, session, frame, 0);
            }
        }
    }
}
