//! How a receiver answers a HELLO: which one it serves, what it settles (chunk size,
//! window, zeros, resume), and, keyed, the Noise handshake and CONFIRM that commit the
//! session. A HELLO that does not authenticate is refused and counted, and the
//! receiver listens on.

use std::sync::Arc;

use super::{Receiver, ReceiverError, ReceiverState, MIN_CHUNK_SIZE};
use crate::config::ReceiverConfig;
use crate::crypto::{self, AuthError};
use crate::digest::StreamDigest;
use crate::reassembly::Reassembler;
use crate::stats::DropReason;
use crate::time::Instant;
use crate::wire::{Frame, HeaderRepr, HelloAckRepr, HelloRepr, RejectReason};
use crate::Payload;

impl<B: Payload> Receiver<B> {
    pub(super) fn on_hello(&mut self, now: Instant, h: &HeaderRepr, hello: HelloRepr) -> Result<(), DropReason> {
        let path = h.path_id.min(self.config.paths.saturating_sub(1));
        let reject = |this: &mut Self, reason| {
            let frame = Frame::HelloAck(Box::new(HelloAckRepr {
                reject: Some(reason),
                options: 0,
                chunk_size: 0,
                window: 0,
                resume: None,
                handshake: None,
            }));
            this.queue_control(now, path, h.session_id, frame, h.timestamp);
        };
        match self.session {
            Some((s, served)) if s == h.session_id => {
                // Our HELLO-ACK was lost: answer again (keyed: the same message 2).
                let frame = self.hello_ack.clone().unwrap_or_else(|| {
                    let window = self.reassembler.as_ref().map_or(0, |r| r.window());
                    Frame::HelloAck(Box::new(settled_ack(&hello, served.chunk_size, window, &self.config)))
                });
                self.queue_control(now, path, s, frame, h.timestamp);
                self.touch(now, path);
                return Ok(());
            }
            Some(_) => {
                reject(self, RejectReason::Busy);
                return Err(DropReason::WrongSession);
            }
            None => {}
        }
        if let Some((_, _, frame)) = self.answered.iter().find(|(s, _, _)| *s == h.session_id) {
            // A retransmitted (or replayed) HELLO we answered: the same answer, no new work.
            let frame = frame.clone();
            self.queue_control(now, path, h.session_id, frame, h.timestamp);
            return Ok(());
        }
        if !self.hello_budget(now) {
            return Err(DropReason::RateLimited);
        }
        let keyed = self.keyed();
        if keyed && !hello.keyed() {
            // Unauthenticated: refused, and we listen on (see `refuse`).
            reject(self, RejectReason::KeyRequired);
            self.refuse(AuthError::PeerHasNoKey);
            return Err(DropReason::Unauthenticated);
        }
        if !keyed && hello.keyed() {
            reject(self, RejectReason::NoKey);
            self.fail_auth(AuthError::NoKeyHere);
            return Ok(());
        }
        // The floor bounds the slot array (window / chunk) a hostile HELLO can make us allocate.
        // A chunk above ours is settled down to ours when the sender can take that (the
        // smaller end's frame size wins); otherwise refused.
        let settles = hello.options & HelloRepr::OPT_SETTLE_CHUNK != 0;
        let chunk = if settles { hello.chunk_size.min(self.config.max_chunk_size) } else { hello.chunk_size };
        if chunk < MIN_CHUNK_SIZE || chunk > self.config.max_chunk_size {
            reject(self, RejectReason::BadChunkSize);
            return Ok(());
        }
        let served = HelloRepr { chunk_size: chunk, ..hello };
        if hello.paths == 0 || hello.paths > self.config.paths || h.path_id >= self.config.paths {
            reject(self, RejectReason::TooManyPaths);
            return Ok(());
        }
        // The window the reassembler will have (whole chunks), without allocating it yet.
        let window = (self.config.window / chunk as u64).max(1) * chunk as u64;
        // A resuming receiver whose output holds bytes serves only a sender that resumes
        // (never overwrites); keyed, only once the HELLO verified, so a forged one cannot
        // end it.
        let held = self.config.resume.as_ref().map_or(0, |p| p.len());
        let refuse_unresumed = held > 0 && hello.options & HelloRepr::OPT_RESUME == 0;
        if let (Some(psk), Some(message)) = (self.shared.keyring().psk(), hello.handshake) {
            // Keyed: answer with Noise message 2 and keep the keys, but commit to nothing
            // (no reassembler, no output) until the sender's CONFIRM opens under them.
            let mut body = settled_ack(&hello, chunk, window, &self.config);
            body.options |= HelloRepr::KEYED;
            if !crypto::EPOCH_LOG2_RANGE.contains(&hello.key_epoch) {
                reject(self, RejectReason::Refused);
                return Ok(());
            }
            let id = (h.session_id, hello.key_epoch);
            let (auth, n) = body.authenticated_body();
            match crypto::respond(psk, id, &hello.fixed_body(), &message, &auth[..n]) {
                Err(_) => {
                    reject(self, RejectReason::AuthFailed);
                    self.refuse(AuthError::WrongKey);
                    return Err(DropReason::Unauthenticated);
                }
                Ok(_) if refuse_unresumed => {
                    reject(self, RejectReason::ResumeRequired);
                    self.fail_unresumed(held);
                }
                Ok((keys, reply)) => {
                    self.shared.keyring().add_pending(h.session_id, Arc::new(keys));
                    let frame = Frame::HelloAck(Box::new(HelloAckRepr { handshake: Some(reply), ..body }));
                    if self.answered.len() >= crypto::MAX_PENDING {
                        self.answered.remove(0);
                    }
                    self.answered.push((h.session_id, served, frame.clone()));
                    self.queue_control(now, path, h.session_id, frame, h.timestamp);
                }
            }
            return Ok(());
        }
        if refuse_unresumed {
            reject(self, RejectReason::ResumeRequired);
            self.fail_unresumed(held);
            return Ok(());
        }
        self.commit(now, path, h.session_id, served);
        let frame = Frame::HelloAck(Box::new(settled_ack(&hello, chunk, window, &self.config)));
        self.queue_control(now, path, h.session_id, frame, h.timestamp);
        Ok(())
    }

    /// Whether another HELLO handshake fits this second's budget (and counts it).
    fn hello_budget(&mut self, now: Instant) -> bool {
        let (start, n) = self.hello_window;
        if now.total_micros() >= start.total_micros() + 1_000_000 || n == 0 {
            self.hello_window = (now, 1);
            return true;
        }
        if n >= self.config.hellos_per_second.max(1) {
            return false;
        }
        self.hello_window.1 += 1;
        true
    }

    /// An unkeyed receiver met a keyed sender: an idle one (no session, no answered
    /// HELLO in flight) fails, so both ends say why (an unkeyed receiver makes no
    /// claim against forged packets anyway); otherwise the HELLO is only refused.
    fn fail_auth(&mut self, e: AuthError) {
        if self.session.is_none() && self.answered.is_empty() && self.state == ReceiverState::Listening {
            self.state = ReceiverState::Failed(ReceiverError::Auth { error: e, refused: 0 });
        }
    }

    /// A keyed receiver refused a HELLO that did not authenticate. It does not fail:
    /// anyone who can put a frame on a member link could otherwise end a receiver
    /// waiting for its sender. The refusal is counted for the driver to report, and
    /// decides the failure only if the listening deadline passes with no session.
    fn refuse(&mut self, e: AuthError) {
        self.refused = (self.refused.0 + 1, Some(e));
    }

    /// A sender that does not resume asked to be served by a receiver whose output holds
    /// `held` bytes: an idle receiver fails, so both ends say why (the sender hears the
    /// rejection).
    fn fail_unresumed(&mut self, held: u64) {
        if self.session.is_none() && self.answered.is_empty() && self.state == ReceiverState::Listening {
            self.state = ReceiverState::Failed(ReceiverError::ResumeRequired { held });
        }
    }

    /// Starts serving `session` (its HELLO with the settled chunk size): the reorder
    /// window, the shared state, the digest (seeded with the output's prefix when the
    /// session resumes, so the FIN's digest covers the whole stream).
    fn commit(&mut self, now: Instant, path: u16, session: u64, served: HelloRepr) {
        let reassembler = Reassembler::new(served.chunk_size as u64, self.config.window);
        self.shared.set_zeros(self.config.zeros && served.options & HelloRepr::OPT_ZEROS != 0);
        let prefix = self.config.resume.as_ref().filter(|_| served.options & HelloRepr::OPT_RESUME != 0);
        self.resumed_from = prefix.map(|p| p.len());
        // The HELLO announces the whole stream's length; the session carries what follows
        // the prefix (a stream shorter than the prefix fails the sender's check).
        let held = self.resumed_from.unwrap_or(0);
        let total = served.total_len.map(|t| t.saturating_sub(held));
        self.shared.serve(session, served.chunk_size as u64, reassembler.window(), total);
        self.reassembler = Some(reassembler);
        self.session = Some((session, served));
        self.digest = Some(match prefix {
            Some(p) => p.stream_state(served.digest),
            None => StreamDigest::new(served.digest),
        });
        self.state = ReceiverState::Receiving;
        self.touch(now, path);
    }

    /// The sender's CONFIRM opened under an answered HELLO's keys: commit to that session.
    pub(super) fn on_confirm(&mut self, now: Instant, h: &HeaderRepr) -> Result<(), DropReason> {
        if let Some((s, _)) = self.session {
            return match (s == h.session_id, self.control_replay.accept(h.packet_number)) {
                (false, _) => Err(DropReason::WrongSession),
                (true, false) => Err(DropReason::Replayed),
                (true, true) => Ok(()), // a CONFIRM resent before our first ACK arrived
            };
        }
        let Some(i) = self.answered.iter().position(|(s, _, _)| *s == h.session_id) else {
            return Err(DropReason::WrongSession);
        };
        let keys = self.shared.keyring().pending(h.session_id).ok_or(DropReason::WrongSession)?;
        let (session, served, frame) = self.answered.swap_remove(i);
        self.answered.clear();
        self.shared.keyring().establish(session, keys);
        self.hello_ack = Some(frame);
        let _ = self.control_replay.accept(h.packet_number);
        let path = h.path_id.min(self.config.paths.saturating_sub(1));
        self.commit(now, path, session, served);
        Ok(())
    }
}

/// The acceptance of `hello` at chunk size `chunk` (smaller than asked only when the
/// HELLO allowed it), taking ZEROS records when it offers them and the configuration
/// allows, and resuming (with the prefix's length and digest) when both ends do.
fn settled_ack(hello: &HelloRepr, chunk: u16, window: u64, config: &ReceiverConfig) -> HelloAckRepr {
    let zeros = if config.zeros { HelloRepr::OPT_ZEROS } else { 0 };
    let resume = config.resume.as_ref().filter(|_| hello.options & HelloRepr::OPT_RESUME != 0);
    let options = hello.options & (HelloRepr::OPT_SETTLE_CHUNK | zeros)
        | if resume.is_some() { HelloRepr::OPT_RESUME } else { 0 };
    let chunk_size = if chunk < hello.chunk_size { chunk } else { 0 };
    let resume = resume.map(|p| p.point(hello.digest));
    HelloAckRepr { reject: None, options, chunk_size, window, resume, handshake: None }
}
