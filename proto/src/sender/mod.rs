//! The sending endpoint: session control (HELLO, FIN, RESET, give-up) plus the paths.
//!
//! [`Sender`] is session control composed with a [`SenderLane`] that drives its paths.
//! A single-threaded driver (the simulator, kernel sockets, one poll loop) uses it
//! alone. A driver with several lanes splits lanes off it ([`Sender::split_lane`]),
//! routes each ACK to the lane of its path ([`Incoming::sender_route`]) and joins them
//! back at the end (see `docs/PROTOCOL.md`, "Multi-core split").
//!
//! # Driving a `Sender` (quinn-proto style)
//! Four kinds of methods: getters (`state`, `stats`, `path`), `handle_*` (input),
//! mutators (`write`, `finish`, `abort`) and `poll_*` (output). Each loop iteration:
//! 1. read `now` once;
//! 2. `handle_datagram(now, bytes)` for every datagram received (or, if the driver
//!    parsed it already to route it, `handle_incoming(now, &incoming)`);
//! 3. if `poll_timeout()` is `<= now`, `handle_timeout(now)`;
//! 4. `write(chunk)` while the application has data and it is accepted; `finish()` at EOF
//!    (or, for a driver that digests the stream itself where the bytes are in its
//!    cache, `write_digested(chunk)` and `finish_digested(digest)`);
//! 5. `poll_transmit(now)` until `None`, sending each [`Transmit`] on its path;
//! 6. sleep or spin until the next datagram or `poll_timeout()`.

use std::sync::Arc;

use crate::config::SenderConfig;
use crate::crypto::{Initiator, ReplayWindow};
use crate::digest::StreamDigest;
use crate::path_sender::{PathEvent, PathHealth, PathMtu, PathSender};
use crate::sender_lane::SenderLane;
use crate::shared::{PushError, SenderShared};
use crate::stats::DropCounters;
use crate::time::{Duration, Instant};
use crate::timer::TimerTable;
use crate::transmit::Transmit;
use crate::wire::{FinRepr, Flags, Frame, HeaderRepr, HelloRepr, Repr, ResetReason, ResetRepr, ResumeRepr};
use crate::Payload;

mod answers;
mod error;

pub use error::{SenderError, SenderState, SenderStats};

/// Where a resumed session stands ([`SenderConfig::resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Not resumed: the stream starts at 0.
    No,
    /// We offered to resume and the receiver does not: the stream starts at 0.
    Declined,
    /// The receiver holds a prefix; the driver checks its input against it.
    Pending(ResumeRepr),
    /// The prefix matched: the session carries the stream from this offset.
    From(u64),
}

crate::timer_kinds! {
    enum Timer {
        Hello,
        Fin,
        GiveUp,
        Keepalive,
        Refusal,
    }
}

/// How long a keyed sender waits, after a refusal it cannot authenticate (a reject, an
/// unkeyed HELLO-ACK, or a message 2 that does not open), for an authenticated answer
/// before it believes the refusal. Anyone on a member link can forge those; the real
/// receiver's answer to a retransmitted HELLO arrives well within this, so a forgery
/// cannot end the handshake, while mismatched keys still fail within about a second.
pub const REFUSAL_GRACE: Duration = Duration::from_secs(1);

/// While the input's prefix is being checked against a resume point (which reads as
/// much as the receiver holds), a PING this often keeps the receiver's idle timeout
/// from running out.
const RESUME_KEEPALIVE: Duration = Duration::from_secs(1);

/// How long a receiver that holds all our data (its reader stopped) has to answer the
/// keep-alive PINGs sent when the give-up bound passes.
const KEEPALIVE_GRACE: Duration = Duration::from_secs(1);

/// The sending endpoint of one session.
#[derive(Debug)]
pub struct Sender<B> {
    config: SenderConfig,
    shared: Arc<SenderShared<B>>,
    /// The paths driven here: all of them, less those split off to other lanes
    /// ([`Sender::split_lane`]).
    lane: SenderLane<B>,
    state: SenderState,
    digest: StreamDigest,
    timers: TimerTable<Timer, { Timer::COUNT }>,
    control_seq: u64,
    hello_tries: u32,
    hello_sent_at: Instant,
    send_hello: bool,
    send_fin: bool,
    send_reset: Option<ResetRepr>,
    fin_tries: u32,
    last_progress: Instant,
    progress_mark: u64,
    /// When keep-alive PINGs went out to a receiver that holds all our data but does
    /// not deliver it (its reader stopped); `None` when none are outstanding.
    keepalive_at: Option<Instant>,
    /// When the receiver last sent us a valid ACK.
    last_heard: Option<Instant>,
    control_sent: u64,
    drops: DropCounters,
    /// The HELLO (the same in every retransmission).
    hello: HelloRepr,
    /// Keyed: the handshake until the HELLO-ACK completes it.
    initiator: Option<Initiator>,
    /// Keyed, established: CONFIRM goes out (again on the HELLO timer) until the first ACK.
    send_confirm: bool,
    /// The receiver's control numbers seen (sealed FIN-ACK, RESET).
    control_replay: ReplayWindow,
    /// Resume: the receiver's prefix, checked or not.
    resume: Resume,
    /// Keyed: the first unauthenticated refusal heard, believed when
    /// [`REFUSAL_GRACE`] passes without an authenticated answer.
    refusal: Option<SenderError>,
}

impl<B: Payload> Sender<B> {
    /// A sender for session `session_id` (64-bit random, chosen by the caller: the core
    /// owns no randomness). The first `poll_transmit` sends the HELLO.
    pub fn new(config: SenderConfig, session_id: u64, now: Instant) -> Self {
        let shared = Arc::new(
            SenderShared::new(session_id, config.chunk_size, config.fresh_queue_chunks)
                .with_rate_limit(config.rate_limit)
                .with_key(config.key.clone()),
        );
        let keyed = config.key.is_some();
        let epoch = config.key_epoch_log2.unwrap_or_else(|| crate::crypto::epoch_log2_for(config.paths.max(1)));
        let mut hello = HelloRepr {
            chunk_size: config.chunk_size,
            paths: config.paths.max(1),
            digest: config.digest,
            options: if keyed { HelloRepr::KEYED } else { 0 }
                | if config.settle_chunk { HelloRepr::OPT_SETTLE_CHUNK } else { 0 }
                | if config.zeros { HelloRepr::OPT_ZEROS } else { 0 }
                | if config.resume { HelloRepr::OPT_RESUME } else { 0 },
            total_len: config.total_len,
            key_epoch: if keyed { epoch } else { 0 },
            handshake: None,
        };
        let initiator =
            config.key.as_ref().and_then(|k| Initiator::new(k, session_id, &hello.fixed_body(), epoch).ok());
        hello.handshake = initiator.as_ref().map(|i| *i.message());
        let paths = (0..config.paths.max(1)).map(|i| Some(PathSender::new(i, &config))).collect();
        let lane = SenderLane::new(shared.clone(), crate::path_set::PathSet::new(paths));
        let mut timers = TimerTable::default();
        timers.set(Timer::GiveUp, now + config.give_up_after);
        Sender {
            digest: StreamDigest::new(config.digest),
            config,
            shared,
            lane,
            state: SenderState::Handshake,
            timers,
            control_seq: 0,
            hello_tries: 0,
            hello_sent_at: now,
            send_hello: true,
            send_fin: false,
            send_reset: None,
            fin_tries: 0,
            last_progress: now,
            progress_mark: 0,
            keepalive_at: None,
            last_heard: None,
            control_sent: 0,
            drops: DropCounters::default(),
            hello,
            initiator,
            send_confirm: false,
            control_replay: ReplayWindow::default(),
            resume: Resume::No,
            refusal: None,
        }
    }

    /// Resuming, once the handshake is done: the receiver's prefix (its length and
    /// digest), which the driver checks by reading its input's first `len` bytes into a
    /// [`StreamDigest`] of the point's algorithm and handing it to
    /// [`Sender::resume_with`]. Until then `write` takes nothing. `None` otherwise, and
    /// once the session has ended (nothing is left to check).
    pub fn resume_point(&self) -> Option<ResumeRepr> {
        match self.resume {
            Resume::Pending(p) if !self.is_finished() => Some(p),
            _ => None,
        }
    }

    /// The check of [`Sender::resume_point`]: `prefix` is the digest of the input's first
    /// `read` bytes (all of the point's length, or the whole input when that is
    /// shorter). A match seeds the stream digest with it, so the FIN covers the whole
    /// stream, and the session's offset 0 is the prefix's end; a mismatch fails the
    /// session ([`SenderError::ResumeMismatch`]) and tells the receiver, which has
    /// written nothing.
    pub fn resume_with(&mut self, prefix: StreamDigest, read: u64) {
        let Resume::Pending(point) = self.resume else { return };
        self.timers.stop(Timer::Keepalive);
        let same = read == point.len && prefix.algorithm() == point.algorithm && prefix.finish() == point.digest;
        if !same {
            let input = (read < point.len).then_some(read);
            self.fail(SenderError::ResumeMismatch { held: point.len, input }, ResetReason::ResumeMismatch);
            return;
        }
        if prefix.algorithm() == self.config.digest {
            self.digest = prefix;
        }
        self.resume = Resume::From(point.len);
    }

    /// Whether this sender offered to resume and the receiver's acceptance did not take
    /// it up (that receiver runs without resuming): the stream went from its start.
    pub fn resume_declined(&self) -> bool {
        self.resume == Resume::Declined
    }

    /// Where the session's stream started: the receiver's prefix length once it matched
    /// (offsets of `write` count from there), `None` when the session did not resume.
    pub fn resumed_from(&self) -> Option<u64> {
        match self.resume {
            Resume::From(at) => Some(at),
            _ => None,
        }
    }

    /// Whether the receiver has shown it committed to the session: an ACK reached this
    /// lane, or one on another lane moved the delivered offset.
    fn receiver_confirmed(&self) -> bool {
        self.last_heard.is_some() || self.shared.acked() > 0
    }

    /// Between the handshake and the verdict: data moves, or waits for its
    /// acknowledgements and the FIN-ACK (`Transfer` or `Closing`).
    pub fn in_session(&self) -> bool {
        matches!(self.state, SenderState::Transfer | SenderState::Closing)
    }

    /// Whether the session is keyed (authenticated and encrypted once established).
    pub fn keyed(&self) -> bool {
        self.shared.keyring().keyed()
    }

    /// The shared part, for a multi-core driver's reader and path lcores.
    pub fn shared(&self) -> &Arc<SenderShared<B>> {
        &self.shared
    }

    /// Hands the paths for which `take(id)` holds to a new lane (another poll loop):
    /// the caller drives it over the same shared state and routes those paths' ACKs
    /// to it. Session control stays here, sending on the paths still driven here.
    /// Give the lane back with [`Sender::join_lane`] so [`Sender::stats`] sees it.
    pub fn split_lane(&mut self, take: impl Fn(u16) -> bool) -> SenderLane<B> {
        self.lane.split(take)
    }

    /// Takes back a lane made by [`Sender::split_lane`]: its paths and drop counts.
    pub fn join_lane(&mut self, lane: SenderLane<B>) {
        self.lane.join(lane);
    }

    /// Whether path `i` is driven here (not split off or detached).
    pub fn is_local(&self, i: usize) -> bool {
        self.lane.drives(i as u16)
    }

    /// The session's chunk size: ours, or the smaller one the receiver settled in the
    /// handshake ([`SenderConfig::settle_chunk`]). A driver that settles cuts its chunks
    /// to this once [`Sender::is_established`].
    pub fn chunk_size(&self) -> u16 {
        self.shared.chunk_size() as u16
    }

    /// Whether the handshake completed (data may be written from then on).
    pub fn is_established(&self) -> bool {
        self.shared.is_established()
    }

    /// The next path event for the driver to report (path-MTU check results).
    pub fn poll_event(&mut self) -> Option<PathEvent> {
        self.lane.poll_event()
    }

    /// The digest the FIN carries.
    pub fn digest_algorithm(&self) -> crate::wire::DigestAlgorithm {
        self.config.digest
    }

    /// Session state.
    pub fn state(&self) -> SenderState {
        self.state
    }

    /// Whether the session ended (done or failed).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, SenderState::Done | SenderState::Failed(_))
    }

    /// Path `i`. Panics if another lane drives it (join the lanes first).
    pub fn path(&self, i: usize) -> &PathSender<B> {
        self.lane.path(i as u16).unwrap_or_else(|| panic!("path {i} is driven by another lane"))
    }

    /// Number of paths.
    pub fn path_count(&self) -> usize {
        self.lane.paths.id_count()
    }

    /// Counters summed over paths.
    pub fn stats(&self) -> SenderStats {
        let mut s = SenderStats { control_sent: self.control_sent, drops: self.drops, ..Default::default() };
        s.drops.merge(&self.lane.drops);
        for p in self.lane.paths() {
            let ps = p.stats();
            s.paths.packets += ps.packets;
            s.paths.bytes += ps.bytes;
            s.paths.resends += ps.resends;
            s.paths.zero_records += ps.zero_records;
            s.paths.lost += ps.lost;
            s.paths.ptos += ps.ptos;
            s.paths.acks += ps.acks;
            s.paths.downs += ps.downs;
            s.paths.ups += ps.ups;
        }
        s
    }

    /// Queues the next chunk of the stream (digesting it) and returns its offset. Every
    /// chunk must be `chunk_size` long except the last. Refusals hand the chunk back.
    pub fn write(&mut self, chunk: B) -> Result<u64, PushError<B>> {
        if self.is_finished() {
            return Err(PushError::Ended(chunk));
        }
        if matches!(self.resume, Resume::Pending(_)) {
            // Nothing of the stream goes before the prefix check places it.
            return Err(PushError::QueueFull(chunk));
        }
        let bytes_digest = chunk.clone();
        let off = self.shared.push(chunk)?;
        self.digest.update(bytes_digest.as_ref());
        Ok(off)
    }

    /// [`Sender::write`] for a driver that digests the stream itself, where the bytes
    /// are still in its cache (a reader thread, right after its read, rather than the
    /// poll loop on another core a little later): the chunk is queued undigested, and
    /// [`Sender::finish_digested`] hands over the digest of the whole stream. A session
    /// uses one way or the other, never both.
    pub fn write_digested(&mut self, chunk: B) -> Result<u64, PushError<B>> {
        if self.is_finished() {
            return Err(PushError::Ended(chunk));
        }
        if matches!(self.resume, Resume::Pending(_)) {
            return Err(PushError::QueueFull(chunk));
        }
        self.shared.push(chunk)
    }

    /// No more data: the FIN goes out once everything written is acknowledged.
    pub fn finish(&mut self) {
        self.shared.finish();
    }

    /// [`Sender::finish`] after [`Sender::write_digested`]: `digest` is the driver's
    /// digest of the whole stream in this session's algorithm
    /// ([`Sender::digest_algorithm`]), a resumed session's prefix included (seed it with
    /// the digest given to [`Sender::resume_with`]). The FIN carries it.
    pub fn finish_digested(&mut self, digest: StreamDigest) {
        debug_assert_eq!(digest.algorithm(), self.config.digest, "the session's digest algorithm");
        self.digest = digest;
        self.finish();
    }

    /// Aborts the session: a RESET goes out and the state becomes failed.
    pub fn abort(&mut self) {
        self.fail(SenderError::Aborted, ResetReason::Application);
    }

    fn fail(&mut self, e: SenderError, reason: ResetReason) {
        if self.is_finished() {
            return;
        }
        self.state = SenderState::Failed(e);
        self.shared.stop();
        self.send_reset = Some(ResetRepr { reason, offset: self.shared.acked() });
        self.send_hello = false;
        self.send_fin = false;
        for t in [Timer::Hello, Timer::Fin, Timer::GiveUp, Timer::Refusal] {
            self.timers.stop(t);
        }
    }

    fn progress(&mut self, now: Instant) {
        self.keepalive_at = None;
        self.last_progress = now;
        self.timers.set(Timer::GiveUp, now + self.config.give_up_after);
    }

    /// Progress made by any path (here or on another lcore) re-arms the
    /// give-up timer and may complete the stream.
    fn observe_progress(&mut self, now: Instant) {
        let acked = self.shared.acked();
        if acked > self.progress_mark {
            self.progress_mark = acked;
            self.progress(now);
        }
        self.maybe_fin(now);
    }

    fn maybe_fin(&mut self, now: Instant) {
        if self.state == SenderState::Transfer && self.shared.end().is_some_and(|e| self.shared.acked() >= e) {
            self.state = SenderState::Closing;
            self.send_fin = true;
            self.timers.set(Timer::Fin, now);
        }
    }

    fn control_path(&self, tries: u32) -> u16 {
        // Rotate over up paths so a dead path cannot block the handshake or close.
        let n = self.lane.paths.id_count();
        let local: Vec<u16> = self.lane.paths().map(|p| p.id()).collect();
        let up: Vec<u16> = self.lane.paths().filter(|p| p.health() == PathHealth::Up).map(|p| p.id()).collect();
        if up.is_empty() {
            local.get(tries as usize % local.len().max(1)).copied().unwrap_or((tries as usize % n) as u16)
        } else {
            up[tries as usize % up.len()]
        }
    }

    fn control(&mut self, now: Instant, path: u16, frame: Frame) -> Transmit<B> {
        self.control_seq += 1;
        self.control_sent += 1;
        let echo = 0;
        // A keyed session seals everything but the handshake.
        let sealed = self.keyed() && !matches!(frame, Frame::Hello(_));
        let header = HeaderRepr {
            packet_type: frame.packet_type(),
            flags: Flags(if sealed { Flags::SEALED } else { 0 }),
            path_id: path,
            session_id: self.shared.session_id(),
            packet_number: self.control_seq,
            offset: 0,
            length: frame.body_len() as u16,
            timestamp: now.wire_timestamp(),
            timestamp_echo: echo,
        };
        Transmit { path, repr: Repr { header, frame }, payload: None, pad_to: 0 }
    }

    /// The next packet to send: control first (RESET, HELLO, FIN), then data and probes
    /// from the paths in round-robin order. Each path only offers a packet when its window,
    /// pacer and health allow, so data spreads over paths in proportion to what each can
    /// carry now.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<B>> {
        if let Some(r) = self.send_reset.take() {
            let p = self.control_path(0);
            return Some(self.control(now, p, Frame::Reset(r)));
        }
        if self.send_hello {
            self.send_hello = false;
            let p = self.control_path(self.hello_tries);
            self.hello_tries += 1;
            self.hello_sent_at = now;
            let backoff = 1u64 << (self.hello_tries - 1).min(3);
            self.timers.set(Timer::Hello, now + self.config.hello_interval.saturating_mul(backoff));
            let hello = self.hello;
            return Some(self.control(now, p, Frame::Hello(Box::new(hello))));
        }
        if self.send_confirm && self.state == SenderState::Transfer && !self.receiver_confirmed() {
            self.send_confirm = false;
            let p = self.control_path(self.hello_tries);
            return Some(self.control(now, p, Frame::Confirm));
        }
        if self.send_fin {
            self.send_fin = false;
            let p = self.control_path(self.fin_tries);
            self.fin_tries += 1;
            self.timers.set(Timer::Fin, now + self.config.fin_interval);
            let fin = FinRepr {
                total_len: self.shared.end().unwrap_or(0),
                algorithm: self.digest.algorithm(),
                digest: self.digest.finish(),
            };
            return Some(self.control(now, p, Frame::Fin(fin)));
        }
        if !self.in_session() {
            return None;
        }
        if self.state == SenderState::Transfer {
            self.observe_progress(now);
            if self.send_fin {
                return self.poll_transmit(now);
            }
        }
        self.lane.poll_transmit(now)
    }

    /// The paths driven here (not detached to another lcore). With detached paths
    /// the keep-alive judges by these alone: the others' flight is not known here;
    /// `--stats-interval` reports these.
    pub fn local_paths(&self) -> impl Iterator<Item = &PathSender<B>> {
        self.lane.paths()
    }

    /// Whether the receiver has every packet we sent but has not delivered all the
    /// data: in transfer, nothing in flight on any up path (and at least one is up),
    /// nothing waiting to be resent, and written bytes beyond the delivered offset.
    fn receiver_holds_everything(&self) -> bool {
        self.state == SenderState::Transfer
            && self.shared.written() > self.shared.acked()
            && self.shared.resend_len() == 0
            && self.local_paths().any(|p| p.health() == PathHealth::Up)
            && self.local_paths().filter(|p| p.health() == PathHealth::Up).all(|p| p.snapshot().in_flight == 0)
    }

    /// The earliest time `handle_timeout` must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        let mut t = self.timers.next();
        if self.in_session() {
            t = match (t, self.lane.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        t
    }

    /// Runs every expired timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_finished() {
            return;
        }
        if self.timers.take_expired(Timer::Hello, now) {
            if self.state == SenderState::Handshake {
                self.send_hello = true;
            } else if self.keyed() && !self.receiver_confirmed() && self.state == SenderState::Transfer {
                // No ACK yet: the receiver may not have our CONFIRM.
                self.send_confirm = true;
                self.hello_tries += 1;
                self.timers.set(Timer::Hello, now + self.config.hello_interval);
            }
        }
        if self.timers.take_expired(Timer::Fin, now) && self.state == SenderState::Closing {
            self.send_fin = true;
        }
        if self.timers.take_expired(Timer::Refusal, now) && self.state == SenderState::Handshake {
            if let Some(e) = self.refusal.take() {
                self.fail_on_answer(e);
                return;
            }
        }
        if self.timers.take_expired(Timer::Keepalive, now) && matches!(self.resume, Resume::Pending(_)) {
            // The driver still reads the prefix: show the receiver we are alive.
            if let Some(p) = self.lane.paths_mut().find(|p| p.health() == PathHealth::Up) {
                p.request_probe();
            }
            self.timers.set(Timer::Keepalive, now + RESUME_KEEPALIVE);
        }
        if self.in_session() {
            self.observe_progress(now);
        }
        if self.timers.take_expired(Timer::GiveUp, now) {
            let written = self.shared.written();
            let acked = self.shared.acked();
            let idle_app = self.state == SenderState::Transfer && acked >= written && self.shared.end().is_none();
            if idle_app {
                // Nothing outstanding: the application is slow, not the network.
                self.progress(now);
            } else if let Some(at) = self.keepalive_at.filter(|_| self.receiver_holds_everything()) {
                if self.last_heard.is_some_and(|h| h >= at) {
                    // It answered: alive, its reader is just stopped. Wait on.
                    self.progress(now);
                } else {
                    let idle = now - self.last_progress;
                    self.fail(SenderError::GaveUp { acked, written, idle }, ResetReason::GiveUp);
                    return;
                }
            } else if self.receiver_holds_everything() {
                // Every packet is acknowledged, but the receiver delivers nothing:
                // its application stopped reading, or it died. Ask it (PING on every
                // up path) and decide when it answers or the grace runs out.
                for p in self.lane.paths_mut().filter(|p| p.health() == PathHealth::Up) {
                    p.request_probe();
                }
                self.keepalive_at = Some(now);
                let grace = self.config.give_up_after.min(KEEPALIVE_GRACE);
                self.timers.set(Timer::GiveUp, now + grace);
            } else {
                let idle = now - self.last_progress;
                self.fail(SenderError::GaveUp { acked, written, idle }, ResetReason::GiveUp);
                return;
            }
        }
        if self.in_session() {
            self.lane.handle_timeout(now);
            self.check_path_mtu();
        }
    }

    /// Fails the session when every path failed the path-MTU check.
    fn check_path_mtu(&mut self) {
        let Some(probe) = self.config.path_probe else { return };
        if self.shared.mtu_failed() < self.lane.paths.id_count() {
            return;
        }
        let full_len = (crate::wire::HEADER_LEN as u64 + self.shared.chunk_size()).min(u16::MAX as u64) as u16;
        let base_ok = self.lane.paths().any(|p| p.mtu() == PathMtu::Failed { base_ok: true });
        let e = SenderError::PathMtu { full_len, base_len: probe.base_len.min(full_len), base_ok };
        self.fail(e, ResetReason::GiveUp);
    }
}
