//! What the receiver says to a sender: ACKs, the HELLO-ACK that settles the session
//! (or refuses it), the FIN-ACK verdict and RESET. Refusals a keyed sender cannot
//! authenticate are held back here ([`REFUSAL_GRACE`]) rather than believed.

use std::sync::Arc;

use super::{Resume, Sender, SenderError, SenderState, Timer, REFUSAL_GRACE, RESUME_KEEPALIVE};
use crate::crypto::AuthError;
use crate::incoming::Incoming;
use crate::stats::DropReason;
use crate::time::{Duration, Instant};
use crate::wire::{FinAckRepr, Frame, HelloAckRepr, HelloRepr, RejectReason, ResetReason, ResetRepr, Verdict};
use crate::Payload;

impl<B: Payload> Sender<B> {
    /// The driver learned that the receiver went away during the handshake (over kernel
    /// UDP: the port became unreachable). A refusal heard before, and held back for
    /// [`REFUSAL_GRACE`], then stands: the sender fails with it and this returns
    /// `true`; `false` if there was none.
    pub fn accept_refusal(&mut self) -> bool {
        match (self.state, self.refusal.take()) {
            (SenderState::Handshake, Some(e)) => {
                self.fail_on_answer(e);
                true
            }
            _ => false,
        }
    }

    /// The receiver refused the handshake with `e`. Unkeyed, that is believed at once.
    /// Keyed, the refusal is not authenticated (anyone can send one), so the HELLO goes
    /// on and `e` stands only if no authenticated answer comes within [`REFUSAL_GRACE`].
    fn refused(&mut self, now: Instant, e: SenderError) {
        if !self.keyed() {
            self.fail_on_answer(e);
            return;
        }
        if self.refusal.is_none() {
            self.refusal = Some(e);
            self.timers.set(Timer::Refusal, now + REFUSAL_GRACE);
        }
    }

    /// Fails with the receiver's own verdict (a refusal, its RESET, a FIN-ACK that does
    /// not match): it has decided already, so no RESET goes back.
    pub(super) fn fail_on_answer(&mut self, e: SenderError) {
        self.fail(e, ResetReason::Application);
        self.send_reset = None;
    }

    /// Processes one received datagram (ACK, HELLO-ACK, FIN-ACK or RESET). The sender
    /// keeps nothing of it, so a borrowed slice is enough.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), DropReason> {
        self.handle_datagram_with(now, datagram, crate::wire::Check::Crc32c)
    }

    /// [`Sender::handle_datagram`] under the receiving link's check policy
    /// ([`crate::wire::Check::Off`] accepts packets without a CRC32C).
    pub fn handle_datagram_with(
        &mut self,
        now: Instant,
        datagram: &[u8],
        check: crate::wire::Check,
    ) -> Result<(), DropReason> {
        let r = if self.keyed() {
            // Sealed packets open in place; the caller's slice is borrowed, so open a copy
            // (control-sized; a driver on the hot path uses `Incoming::open` itself).
            let mut copy = datagram.to_vec();
            Incoming::open(&mut copy, check, self.shared.keyring())
        } else {
            Incoming::parse_with(datagram, check)
        };
        let r = r.and_then(|inc| self.handle_inner(now, &inc));
        if let Err(reason) = r {
            self.drops.count(reason);
        }
        r
    }

    /// Counts a datagram the driver could not parse ([`Incoming::parse`] refused it).
    pub fn count_drop(&mut self, reason: DropReason) {
        self.drops.count(reason);
    }

    /// Processes one datagram the driver already parsed (to route it: see
    /// [`Incoming::sender_route`]). Drops are counted as by `handle_datagram`.
    pub fn handle_incoming(&mut self, now: Instant, incoming: &Incoming) -> Result<(), DropReason> {
        let r = self.handle_inner(now, incoming);
        if let Err(reason) = r {
            self.drops.count(reason);
        }
        r
    }

    fn handle_inner(&mut self, now: Instant, incoming: &Incoming) -> Result<(), DropReason> {
        let h = incoming.repr.header;
        if h.session_id != self.shared.session_id() {
            return Err(DropReason::WrongSession);
        }
        let path = h.path_id as usize;
        if path >= self.lane.paths.id_count() {
            return Err(DropReason::UnknownPath);
        }
        if self.is_finished() {
            return Err(DropReason::Unexpected);
        }
        if self.keyed()
            && incoming.authenticated()
            && !matches!(incoming.repr.frame, Frame::Ack(_))
            && !self.control_replay.accept(h.packet_number)
        {
            return Err(DropReason::Replayed);
        }
        match &incoming.repr.frame {
            Frame::Ack(_) => {
                self.send_confirm = false;
                if !self.in_session() {
                    return Err(DropReason::Unexpected);
                }
                // A path split off to another lane is refused here (UnknownPath):
                // the driver routes its ACKs to that lane.
                self.lane.handle_ack(now, incoming)?;
                if self.last_heard.is_none() && self.keyed() {
                    // The receiver committed: path-MTU probes sent before that (racing the
                    // CONFIRM on other members) were dropped. Probe those paths again now
                    // rather than one interval later, so a short transfer uses them too.
                    for p in self.lane.paths_mut() {
                        p.probe_mtu_now();
                    }
                }
                self.last_heard = Some(now);
                if self.shared.acked() <= self.progress_mark
                    && (self.keepalive_at.is_some() || self.state == SenderState::Closing)
                {
                    // No new data acknowledged, but the receiver is alive: the answer
                    // to our keep-alive (its reader stopped), or, while closing, its
                    // answer to our FIN while its application still writes (a slow
                    // reader). Wait for it instead of giving up.
                    self.progress(now);
                }
                self.observe_progress(now);
            }
            Frame::HelloAck(ha) => {
                if self.state != SenderState::Handshake {
                    return Ok(()); // a retransmitted answer
                }
                let mut ha = **ha;
                if let Some(reason) = ha.reject {
                    let e = match reason {
                        RejectReason::KeyRequired => SenderError::Auth(AuthError::NoKeyHere),
                        RejectReason::NoKey => SenderError::Auth(AuthError::PeerHasNoKey),
                        RejectReason::AuthFailed => SenderError::Auth(AuthError::WrongKey),
                        RejectReason::ResumeRequired => SenderError::ResumeRequired,
                        other => SenderError::Rejected(other),
                    };
                    self.refused(now, e);
                    return Ok(());
                }
                if let Some(init) = self.initiator.as_mut() {
                    // Keyed: the answer must complete the handshake; its body is the
                    // authenticated copy inside Noise message 2. One that does not (no
                    // message, or one that does not open) may be forged: the handshake
                    // state is left as it was, so the real answer still completes it.
                    let Some(m) = ha.handshake else {
                        self.refused(now, SenderError::Auth(AuthError::PeerHasNoKey));
                        return Ok(());
                    };
                    let (keys, body) = match init.finish(m.as_bytes()) {
                        Ok(k) => k,
                        Err(_) => {
                            self.refused(now, SenderError::Auth(AuthError::WrongKey));
                            return Ok(());
                        }
                    };
                    ha = HelloAckRepr::parse_authenticated(body.as_bytes()).map_err(DropReason::from)?;
                    self.initiator = None;
                    self.refusal = None;
                    self.timers.stop(Timer::Refusal);
                    self.shared.keyring().establish(self.shared.session_id(), Arc::new(keys));
                    self.send_confirm = true;
                    // CONFIRM goes again on the HELLO timer until the first ACK.
                    self.timers.set(Timer::Hello, now + self.config.hello_interval);
                } else if ha.handshake.is_some() {
                    return Err(DropReason::Unexpected);
                }
                if ha.chunk_size != 0 && ha.chunk_size != self.config.chunk_size {
                    // The receiver settled a smaller chunk: only when we asked, and while no
                    // chunk of the old size was written.
                    let ok = self.config.settle_chunk
                        && ha.chunk_size < self.config.chunk_size
                        && self.shared.written() == 0;
                    if !ok {
                        self.fail(SenderError::Rejected(RejectReason::BadChunkSize), ResetReason::Application);
                        return Ok(());
                    }
                    self.shared.settle_chunk_size(ha.chunk_size);
                }
                if ha.resumes() {
                    // Only an answer to a HELLO that asked, with its point in the digest
                    // this session's check uses (so a match seeds the stream digest).
                    let check = crate::digest::PrefixDigest::check_algorithm(self.config.digest);
                    let point = ha
                        .resume
                        .filter(|p| self.config.resume && p.algorithm == check)
                        .ok_or(DropReason::Unexpected)?;
                    self.resume = Resume::Pending(point);
                    self.timers.set(Timer::Keepalive, now + RESUME_KEEPALIVE);
                } else if self.config.resume {
                    self.resume = Resume::Declined;
                }
                self.shared.set_zeros(self.config.zeros && ha.options & HelloRepr::OPT_ZEROS != 0);
                self.state = SenderState::Transfer;
                if !self.send_confirm {
                    self.timers.stop(Timer::Hello);
                }
                self.shared.on_feedback(0, ha.window);
                // RTT seed: our HELLO's timestamp comes back as the echo.
                let echoed = h.timestamp_echo;
                let rtt = now.wire_timestamp().wrapping_sub(echoed) as u64;
                if echoed == self.hello_sent_at.wire_timestamp() {
                    self.shared.set_handshake_rtt(Duration::from_micros(rtt.max(1)));
                }
                self.shared.set_established();
                if echoed == self.hello_sent_at.wire_timestamp() {
                    self.lane.seed_rtt(now, Duration::from_micros(rtt.max(1)));
                }
                if let Some(p) = self.lane.path_mut(h.path_id) {
                    p.set_peer_timestamp(h.timestamp);
                }
                self.progress(now);
            }
            Frame::FinAck(fa) => {
                if self.state != SenderState::Closing {
                    return Err(DropReason::Unexpected);
                }
                self.on_fin_ack(*fa);
            }
            Frame::Reset(r) => {
                let r = *r;
                self.fail_on_answer(SenderError::PeerReset { reason: r.reason, offset: r.offset });
            }
            Frame::Hello(_) | Frame::Data | Frame::Fin(_) | Frame::Ping | Frame::Confirm | Frame::Zeros(_) => {
                return Err(DropReason::Unexpected)
            }
        }
        Ok(())
    }

    fn on_fin_ack(&mut self, fa: FinAckRepr) {
        let sent = self.shared.end().unwrap_or(0);
        if fa.verdict == Verdict::Ok && fa.received_len == sent {
            self.state = SenderState::Done;
            self.shared.stop();
            // Tell the receiver we have the verdict: it may leave now rather
            // than linger for a FIN retransmission that will not come. If this
            // is lost, its linger covers it.
            self.send_reset = Some(ResetRepr { reason: ResetReason::Closed, offset: sent });
            for t in [Timer::Fin, Timer::GiveUp] {
                self.timers.stop(t);
            }
        } else {
            let verdict = if fa.verdict == Verdict::Ok { Verdict::LengthMismatch } else { fa.verdict };
            self.fail_on_answer(SenderError::Verdict { verdict, received: fa.received_len, sent });
        }
    }
}
