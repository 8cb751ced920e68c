//! The only state that crosses cores.
//!
//! Per-path state ([`crate::PathSender`], [`crate::PathReceiver`]) lives on the lcore
//! that polls that path and is never shared. What several lcores need is here, behind
//! lock-free structures and atomics:
//!
//! * sender: the fresh-data queue fed by the single reader (chunks already carry their
//!   stream offset), the resend queue any healthy path may take from, and the receiver's
//!   feedback (cumulative delivered offset, flow-control credit) as monotonic atomics;
//! * receiver: the delivered offset (atomic, written by the reassembler only), the
//!   stream end once known, and the MPSC hand-off queue from path lcores to the single
//!   reassembler that owns the reorder window.
//!
//! A single-threaded driver uses the same types through [`crate::Sender`] and
//! [`crate::Receiver`]; the atomics then cost a few uncontended instructions.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_queue::{ArrayQueue, SegQueue};
use thiserror::Error;

use crate::payload::{Payload, Piece};
use crate::rate_limit::RateLimit;
use crate::time::Instant;

/// "Not known yet" for stream ends.
pub const UNKNOWN_END: u64 = u64::MAX;

/// A piece of the stream at its offset.
#[derive(Debug, Clone)]
pub struct Chunk<B> {
    /// Stream offset of the first byte.
    pub offset: u64,
    /// The bytes, by handle.
    pub payload: B,
}

impl<B: Payload> Chunk<B> {
    /// Offset one past the last byte (from the handle's length: the bytes are not read).
    pub fn end(&self) -> u64 {
        self.offset + self.payload.byte_len() as u64
    }
}

/// A chunk a path takes to send ([`SenderShared::next_chunk`]).
#[derive(Debug)]
pub struct NextChunk<B> {
    /// The chunk.
    pub chunk: Chunk<B>,
    /// Whether it is sent again (lost, or re-injected).
    pub resend: bool,
    /// Whether it goes as a ZEROS record, when known (checked as it was pushed); `None`
    /// for a resend, which the path checks itself.
    pub zeros: Option<bool>,
}

/// Why [`SenderShared::push`] refused a chunk. The chunk is handed back.
#[derive(Debug, Error)]
pub enum PushError<B> {
    /// Flow control: the receiver has no room yet. Retry after ACKs arrive.
    #[error("no flow-control credit yet")]
    NoCredit(B),
    /// The fresh queue is full. Retry after paths sent some.
    #[error("fresh-data queue full")]
    QueueFull(B),
    /// Empty, or longer than the chunk size.
    #[error("chunk length {len} not in 1..={chunk_size}")]
    BadLength {
        /// The chunk.
        chunk: B,
        /// Its length.
        len: usize,
        /// The session's chunk size.
        chunk_size: usize,
    },
    /// The stream already ended (finished, or a short chunk was pushed).
    #[error("the stream already ended")]
    Ended(B),
}

impl<B> PushError<B> {
    /// The refused chunk.
    pub fn into_inner(self) -> B {
        match self {
            PushError::NoCredit(b) | PushError::QueueFull(b) | PushError::Ended(b) => b,
            PushError::BadLength { chunk, .. } => chunk,
        }
    }
}

/// Sender state shared by the reader, every path lcore and the control owner.
#[derive(Debug)]
pub struct SenderShared<B> {
    session_id: u64,
    /// Fixed for the session once the handshake settled it (it may shrink then, before
    /// any chunk is pushed).
    chunk_size: AtomicU64,
    established: AtomicBool,
    stopped: AtomicBool,
    /// All-zero chunks go as ZEROS records (the receiver accepted them).
    zeros: AtomicBool,
    /// Fresh chunks, each with whether it goes as a ZEROS record (checked when pushed,
    /// where the reader's data is freshest).
    fresh: ArrayQueue<(Chunk<B>, bool)>,
    resend: SegQueue<Chunk<B>>,
    /// Chunks in `resend`; lets the hot path skip the queue with one relaxed load
    /// (popping an empty `SegQueue` costs several times more).
    resend_pending: AtomicUsize,
    next_offset: AtomicU64,
    end: AtomicU64,
    acked: AtomicU64,
    credit: AtomicU64,
    /// Send time (µs + 1) of the newest packet any path has had acknowledged;
    /// 0: none yet.
    newest_acked_sent: AtomicU64,
    /// The handshake's round trip (µs), 0 until measured: paths on other
    /// lcores seed their RTT estimate with it, as the control owner's do.
    handshake_rtt_us: AtomicU64,
    /// The session's payload rate cap (`--rate`), shared by every path.
    rate_limit: Option<RateLimit>,
    /// Paths that failed the path-MTU check (on any lane).
    mtu_failed: AtomicUsize,
    /// The key and, once established, the session keys every lane seals and opens with.
    keyring: crate::crypto::Keyring,
}

impl<B: Payload> SenderShared<B> {
    /// Shared state for one session.
    pub fn new(session_id: u64, chunk_size: u16, fresh_capacity: usize) -> Self {
        SenderShared {
            session_id,
            chunk_size: AtomicU64::new(chunk_size.max(1) as u64),
            established: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            zeros: AtomicBool::new(false),
            fresh: ArrayQueue::new(fresh_capacity.max(1)),
            resend: SegQueue::new(),
            resend_pending: AtomicUsize::new(0),
            next_offset: AtomicU64::new(0),
            end: AtomicU64::new(UNKNOWN_END),
            acked: AtomicU64::new(0),
            credit: AtomicU64::new(0),
            newest_acked_sent: AtomicU64::new(0),
            handshake_rtt_us: AtomicU64::new(0),
            rate_limit: None,
            mtu_failed: AtomicUsize::new(0),
            keyring: crate::crypto::Keyring::default(),
        }
    }

    /// The same, with every path's payload capped together at `bytes_per_sec`.
    pub fn with_rate_limit(mut self, bytes_per_sec: Option<u64>) -> Self {
        self.rate_limit = bytes_per_sec.map(RateLimit::new);
        self
    }

    /// The session's rate cap, if any.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        self.rate_limit.as_ref()
    }

    /// A path entered (`true`) or left the failed state of the path-MTU check.
    pub fn count_mtu_failed(&self, failed: bool) {
        if failed {
            self.mtu_failed.fetch_add(1, Ordering::AcqRel);
        } else {
            self.mtu_failed.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Paths (on every lane) that failed the path-MTU check and have not recovered.
    pub fn mtu_failed(&self) -> usize {
        self.mtu_failed.load(Ordering::Acquire)
    }

    /// The same with a pre-shared key (`None`: unauthenticated).
    pub fn with_key(mut self, psk: Option<crate::crypto::Psk>) -> Self {
        self.keyring = crate::crypto::Keyring::new(psk);
        self
    }

    /// The keys the lanes seal and open with.
    pub fn keyring(&self) -> &crate::crypto::Keyring {
        &self.keyring
    }

    /// Records the handshake's round trip (control owner, before
    /// [`SenderShared::set_established`]).
    pub fn set_handshake_rtt(&self, rtt: crate::time::Duration) {
        self.handshake_rtt_us.store(rtt.total_micros().max(1), Ordering::Relaxed);
    }

    /// The handshake's round trip, once measured.
    pub fn handshake_rtt(&self) -> Option<crate::time::Duration> {
        match self.handshake_rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(crate::time::Duration::from_micros(us)),
        }
    }

    /// Records that some path had a packet sent at `sent` acknowledged.
    pub fn note_acked_sent(&self, sent: Instant) {
        let v = sent.total_micros() + 1;
        if v > self.newest_acked_sent.load(Ordering::Relaxed) {
            self.newest_acked_sent.fetch_max(v, Ordering::Relaxed);
        }
    }

    /// The send time of the newest packet acknowledged on any path: the
    /// receiver has processed everything the paths carried up to then.
    pub fn newest_acked_sent(&self) -> Option<Instant> {
        match self.newest_acked_sent.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Instant::from_micros(t - 1)),
        }
    }

    /// The session id.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The chunk size.
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size.load(Ordering::Relaxed)
    }

    /// Sets the chunk size the handshake settled (control owner, before
    /// [`SenderShared::set_established`] and before the first chunk is pushed).
    pub fn settle_chunk_size(&self, chunk: u16) {
        self.chunk_size.store(chunk.max(1) as u64, Ordering::Release);
    }

    /// Queues the next chunk of the stream and returns its offset. **Single producer**:
    /// only the reader calls this. Every chunk must be `chunk_size` long except the last;
    /// a shorter chunk ends the stream.
    pub fn push(&self, payload: B) -> Result<u64, PushError<B>> {
        let len = payload.byte_len() as u64;
        let chunk_size = self.chunk_size.load(Ordering::Acquire);
        if len == 0 || len > chunk_size {
            let len = len as usize;
            return Err(PushError::BadLength { chunk: payload, len, chunk_size: chunk_size as usize });
        }
        if self.end.load(Ordering::Acquire) != UNKNOWN_END {
            return Err(PushError::Ended(payload));
        }
        let offset = self.next_offset.load(Ordering::Relaxed);
        if offset + len > self.credit.load(Ordering::Acquire) {
            return Err(PushError::NoCredit(payload));
        }
        // `is_zero` gives up on the first bytes of ordinary data.
        let zeros = self.zeros() && payload.all_zero();
        if let Err((c, _)) = self.fresh.push((Chunk { offset, payload }, zeros)) {
            return Err(PushError::QueueFull(c.payload));
        }
        self.next_offset.store(offset + len, Ordering::Release);
        if len < chunk_size {
            self.end.store(offset + len, Ordering::Release);
        }
        Ok(offset)
    }

    /// Marks the end of the stream at the bytes pushed so far. Returns the length.
    pub fn finish(&self) -> u64 {
        let n = self.next_offset.load(Ordering::Acquire);
        let _ = self.end.compare_exchange(UNKNOWN_END, n, Ordering::AcqRel, Ordering::Acquire);
        self.end.load(Ordering::Acquire)
    }

    /// Stream length once known.
    pub fn end(&self) -> Option<u64> {
        let e = self.end.load(Ordering::Acquire);
        (e != UNKNOWN_END).then_some(e)
    }

    /// Bytes pushed so far.
    pub fn written(&self) -> u64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Bytes the receiver reports delivered in order.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }

    /// Flow-control credit: bytes below this offset may be sent.
    pub fn credit(&self) -> u64 {
        self.credit.load(Ordering::Acquire)
    }

    /// Takes receiver feedback from an ACK (monotonic: stale ACKs change nothing).
    /// Returns true if the delivered offset advanced.
    pub fn on_feedback(&self, delivered: u64, max_offset: u64) -> bool {
        let delivered = delivered.min(self.written());
        // Plain loads first: most ACKs change neither value, and a read is much cheaper
        // than the compare-and-swap loop of `fetch_max`.
        if max_offset > self.credit.load(Ordering::Relaxed) {
            self.credit.fetch_max(max_offset, Ordering::AcqRel);
        }
        delivered > self.acked.load(Ordering::Relaxed) && self.acked.fetch_max(delivered, Ordering::AcqRel) < delivered
    }

    /// Lets paths carry all-zero chunks as ZEROS records (control owner, at the
    /// HELLO-ACK that accepted [`crate::wire::HelloRepr::OPT_ZEROS`]).
    pub fn set_zeros(&self, on: bool) {
        self.zeros.store(on, Ordering::Release);
    }

    /// Whether all-zero chunks go as ZEROS records.
    #[inline]
    pub fn zeros(&self) -> bool {
        self.zeros.load(Ordering::Relaxed)
    }

    /// Lets paths send data (after HELLO-ACK).
    pub fn set_established(&self) {
        self.established.store(true, Ordering::Release);
    }

    /// Whether paths may send data.
    pub fn is_established(&self) -> bool {
        self.established.load(Ordering::Acquire) && !self.stopped.load(Ordering::Acquire)
    }

    /// Stops all paths (session failed or done).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// Queues a chunk to be sent again on whichever path takes it first.
    pub fn push_resend(&self, chunk: Chunk<B>) {
        if chunk.end() > self.acked() {
            // Count first: a consumer may then find the queue briefly emptier than the
            // count (it stops), never the count below zero.
            self.resend_pending.fetch_add(1, Ordering::AcqRel);
            self.resend.push(chunk);
        }
    }

    /// Chunks waiting to be resent.
    pub fn resend_len(&self) -> usize {
        self.resend.len()
    }

    /// Whether a path would find something to send.
    pub fn has_data(&self) -> bool {
        self.resend_pending.load(Ordering::Relaxed) > 0 || !self.fresh.is_empty()
    }

    /// The next chunk to send: resends first (skipping what the receiver already
    /// delivered), then fresh data.
    pub fn next_chunk(&self) -> Option<NextChunk<B>> {
        while self.resend_pending.load(Ordering::Acquire) > 0 {
            let Some(chunk) = self.resend.pop() else { break };
            self.resend_pending.fetch_sub(1, Ordering::Relaxed);
            if chunk.end() > self.acked() {
                // A resend was not checked: the path checks it (resends are few).
                return Some(NextChunk { chunk, resend: true, zeros: None });
            }
        }
        self.fresh.pop().map(|(chunk, zeros)| NextChunk { chunk, resend: false, zeros: Some(zeros) })
    }
}

/// Receiver state shared by the path lcores, the reassembler and the control owner.
#[derive(Debug)]
pub struct ReceiverShared<B> {
    window: AtomicU64,
    chunk_size: AtomicU64,
    session_id: AtomicU64,
    serving: AtomicBool,
    delivered: AtomicU64,
    end: AtomicU64,
    /// Packets the lanes other than the control lane accepted (a sign of life that
    /// the control lane's idle timeout must see).
    activity: AtomicU64,
    inbox: ArrayQueue<Chunk<Piece<B>>>,
    /// The session takes ZEROS records (its HELLO asked, this receiver accepted).
    zeros: AtomicBool,
    /// The key, answered HELLOs' keys and, once committed, the session keys.
    keyring: crate::crypto::Keyring,
}

impl<B: Payload> ReceiverShared<B> {
    /// Shared state with an inbox of `inbox_capacity` chunks.
    pub fn new(inbox_capacity: usize) -> Self {
        ReceiverShared {
            window: AtomicU64::new(0),
            chunk_size: AtomicU64::new(1),
            session_id: AtomicU64::new(0),
            serving: AtomicBool::new(false),
            delivered: AtomicU64::new(0),
            end: AtomicU64::new(UNKNOWN_END),
            activity: AtomicU64::new(0),
            inbox: ArrayQueue::new(inbox_capacity.max(1)),
            zeros: AtomicBool::new(false),
            keyring: crate::crypto::Keyring::default(),
        }
    }

    /// The same with a pre-shared key (`None`: unauthenticated).
    pub fn with_key(mut self, psk: Option<crate::crypto::Psk>) -> Self {
        self.keyring = crate::crypto::Keyring::new(psk);
        self
    }

    /// The keys the lanes seal and open with.
    pub fn keyring(&self) -> &crate::crypto::Keyring {
        &self.keyring
    }

    /// Starts serving a session (control owner only, once).
    pub fn serve(&self, session_id: u64, chunk_size: u64, window: u64, end: Option<u64>) {
        self.chunk_size.store(chunk_size.max(1), Ordering::Relaxed);
        self.window.store(window, Ordering::Relaxed);
        self.session_id.store(session_id, Ordering::Relaxed);
        if let Some(e) = end {
            self.end.store(e, Ordering::Relaxed);
        }
        self.serving.store(true, Ordering::Release);
    }

    /// Lets the lanes take ZEROS records (control owner, before [`ReceiverShared::serve`]).
    pub fn set_zeros(&self, on: bool) {
        self.zeros.store(on, Ordering::Release);
    }

    /// Whether the session takes ZEROS records; a lane drops them otherwise.
    pub fn zeros(&self) -> bool {
        self.zeros.load(Ordering::Acquire)
    }

    /// The session being served, if any.
    pub fn session(&self) -> Option<u64> {
        self.serving.load(Ordering::Acquire).then(|| self.session_id.load(Ordering::Relaxed))
    }

    /// Chunk size of the session.
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size.load(Ordering::Relaxed)
    }

    /// Reorder window in bytes.
    pub fn window(&self) -> u64 {
        self.window.load(Ordering::Relaxed)
    }

    /// Bytes delivered in order to the application.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Flow-control credit to advertise.
    pub fn max_offset(&self) -> u64 {
        self.delivered().saturating_add(self.window())
    }

    /// Stream end if known.
    pub fn end(&self) -> Option<u64> {
        let e = self.end.load(Ordering::Acquire);
        (e != UNKNOWN_END).then_some(e)
    }

    /// Records the stream end; the first value wins. Returns the value in force.
    pub fn set_end(&self, end: u64) -> u64 {
        match self.end.compare_exchange(UNKNOWN_END, end, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => end,
            Err(e) => e,
        }
    }

    /// Counts a packet accepted by a lane (see [`ReceiverShared::activity`]).
    pub(crate) fn note_activity(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }

    /// Packets accepted by lanes split off the `Receiver` so far.
    pub fn activity(&self) -> u64 {
        self.activity.load(Ordering::Relaxed)
    }

    pub(crate) fn set_delivered(&self, d: u64) {
        self.delivered.store(d, Ordering::Release);
    }

    /// Hands an accepted chunk to the reassembler; gives it back if the queue is full.
    pub fn push_inbox(&self, c: Chunk<Piece<B>>) -> Result<(), Chunk<Piece<B>>> {
        self.inbox.push(c)
    }

    pub(crate) fn pop_inbox(&self) -> Option<Chunk<Piece<B>>> {
        self.inbox.pop()
    }
}
