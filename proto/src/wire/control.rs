//! Session control bodies: HELLO, HELLO-ACK, FIN, FIN-ACK, RESET.
//!
//! Control frames do not use the per-path packet number spaces: their header packet
//! number is the session's control sequence number, and each is acknowledged by its
//! answer (HELLO by HELLO-ACK, FIN by FIN-ACK) and retransmitted on a timer until then.

use super::{be_u16, be_u64, PacketType, WireError};
use crate::crypto::{hello_ack_handshake_len, Message2, HELLO_HANDSHAKE_LEN};

crate::byte_enum! {
    /// Which end-to-end digest covers the stream.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum DigestAlgorithm {
        /// XXH3-128: fast, non-cryptographic; catches corruption, not an attacker. Default.
        #[default]
        Xxh3_128 = 1,
        /// BLAKE3-256: cryptographic, on request.
        Blake3 = 2,
        /// No digest (`--digest none`): the FIN check compares lengths only.
        None = 0,
    }
}

impl DigestAlgorithm {
    /// Its name in summaries, reports and on the command line's documentation.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Xxh3_128 => "xxh3-128",
            DigestAlgorithm::Blake3 => "blake3",
            DigestAlgorithm::None => "none",
        }
    }

    /// Bytes of the FIN's 32-byte digest field that carry the digest.
    pub fn digest_len(self) -> usize {
        match self {
            DigestAlgorithm::Xxh3_128 => 16,
            DigestAlgorithm::Blake3 => 32,
            DigestAlgorithm::None => 0,
        }
    }

    fn from_u8(kind: PacketType, v: u8) -> Result<Self, WireError> {
        Self::from_byte(v).ok_or(WireError::Malformed { kind, why: "unknown digest algorithm" })
    }
}

/// HELLO: the sender opens a session (the session id is in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloRepr {
    /// Fixed chunk size: every DATA payload is this long except the stream's last.
    pub chunk_size: u16,
    /// Number of paths the sender will use.
    pub paths: u16,
    /// Digest the FIN will carry.
    pub digest: DigestAlgorithm,
    /// Option bits requested ([`HelloRepr::OPT_SETTLE_CHUNK`], [`HelloRepr::KEYED`]); the
    /// receiver answers the ones it accepts.
    pub options: u16,
    /// Stream length if known in advance, `None` for a pipe.
    pub total_len: Option<u64>,
    /// Keyed: the session's keys change every 2^`key_epoch` packets of a path (and of
    /// each number space); zero without a key.
    pub key_epoch: u8,
    /// Noise message 1, after the 16-byte body, when [`HelloRepr::KEYED`] is set.
    pub handshake: Option<[u8; HELLO_HANDSHAKE_LEN]>,
}

/// A control body has exactly its type's length: anything else is malformed.
fn exact_len(kind: PacketType, b: &[u8], len: usize) -> Result<(), WireError> {
    if b.len() != len {
        return Err(WireError::Malformed { kind, why: "wrong body length" });
    }
    Ok(())
}

mod hello {
    crate::layout! { CHUNK: 2, PATHS: 2, DIGEST: byte, KEY_EPOCH: byte, OPTIONS: 2, TOTAL: 8 }
}

impl HelloRepr {
    /// Length of the fixed part of the body (all of it without a key).
    pub const BODY_LEN: usize = hello::END;
    /// Option: the sender can take a smaller chunk size from the HELLO-ACK (the
    /// session then runs at the smaller end's frame size).
    pub const OPT_SETTLE_CHUNK: u16 = 1;

    /// Option bit: the sender has a key; Noise message 1 follows the fixed body, and
    /// everything after the handshake is sealed.
    pub const KEYED: u16 = 0x0002;

    /// Option bit: the sender may carry all-zero chunks as ZEROS records (length, no
    /// payload). A receiver that takes them echoes the bit in its HELLO-ACK; only then
    /// does the sender send any, so an older receiver (which echoes no unknown bit)
    /// gets every byte as DATA.
    pub const OPT_ZEROS: u16 = 0x0004;

    /// Option bit: the sender resumes (`--resume`): it continues the stream from where
    /// the receiver's output ends, if that output is the stream's prefix. A receiver that
    /// resumes echoes the bit and answers with a [`ResumeRepr`]; the session's offsets
    /// then count from that point. A receiver that does not resume echoes nothing and the
    /// stream starts at 0.
    pub const OPT_RESUME: u16 = 0x0008;

    /// Body length on the wire.
    pub fn body_len(&self) -> usize {
        Self::BODY_LEN + self.handshake.map_or(0, |h| h.len())
    }

    /// Whether the sender has a key.
    pub fn keyed(&self) -> bool {
        self.options & Self::KEYED != 0
    }

    /// Parses a HELLO body.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let kind = PacketType::Hello;
        if b.len() != Self::BODY_LEN && b.len() != Self::BODY_LEN + HELLO_HANDSHAKE_LEN {
            return Err(WireError::Malformed { kind, why: "wrong body length" });
        }
        let total = be_u64(b, hello::TOTAL);
        let options = be_u16(b, hello::OPTIONS);
        let handshake = match b.get(Self::BODY_LEN..) {
            Some(h) if !h.is_empty() => {
                let mut m = [0u8; HELLO_HANDSHAKE_LEN];
                m.copy_from_slice(h);
                Some(m)
            }
            _ => None,
        };
        if (options & Self::KEYED != 0) != handshake.is_some() {
            return Err(WireError::Malformed { kind, why: "keyed option and handshake disagree" });
        }
        Ok(HelloRepr {
            chunk_size: be_u16(b, hello::CHUNK),
            paths: be_u16(b, hello::PATHS),
            digest: DigestAlgorithm::from_u8(kind, b[hello::DIGEST])?,
            options,
            total_len: if total == u64::MAX { None } else { Some(total) },
            key_epoch: b[hello::KEY_EPOCH],
            handshake,
        })
    }

    /// The fixed 16-byte part of the body (what the handshake's prologue binds).
    pub fn fixed_body(&self) -> [u8; Self::BODY_LEN] {
        let mut b = [0u8; Self::BODY_LEN];
        b[hello::CHUNK].copy_from_slice(&self.chunk_size.to_be_bytes());
        b[hello::PATHS].copy_from_slice(&self.paths.to_be_bytes());
        b[hello::DIGEST] = self.digest as u8;
        b[hello::KEY_EPOCH] = self.key_epoch;
        b[hello::OPTIONS].copy_from_slice(&self.options.to_be_bytes());
        b[hello::TOTAL].copy_from_slice(&self.total_len.unwrap_or(u64::MAX).to_be_bytes());
        b
    }

    /// Emits into a body of [`Self::body_len`] bytes.
    pub fn emit(&self, b: &mut [u8]) {
        b[..Self::BODY_LEN].copy_from_slice(&self.fixed_body());
        if let Some(h) = &self.handshake {
            b[Self::BODY_LEN..Self::BODY_LEN + h.len()].copy_from_slice(h);
        }
    }
}

crate::byte_enum! {
    /// Why a receiver turned a HELLO down.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RejectReason {
        /// Already serving another session.
        Busy = 1,
        /// Chunk size zero or larger than the receiver accepts.
        BadChunkSize = 2,
        /// More paths than the receiver has.
        TooManyPaths = 3,
        /// Something else the receiver's policy refuses.
        Refused = 4,
        /// The receiver has a key and the HELLO had none: it takes no unauthenticated session.
        KeyRequired = 5,
        /// The HELLO had a key and the receiver has none.
        NoKey = 6,
        /// The HELLO's handshake did not verify: the ends hold different keys.
        AuthFailed = 7,
        /// The receiver resumes (its output holds part of a stream) and the HELLO did not
        /// ask to: it will not overwrite what it holds.
        ResumeRequired = 8,
    }
}

/// Where a resumed stream starts: the length of the receiver's output and the digest of
/// those bytes. It rides in the HELLO-ACK that accepts a resuming HELLO (sealed inside
/// Noise message 2 in a keyed session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeRepr {
    /// Bytes the receiver's output holds: the session's offset 0 is this stream offset.
    pub len: u64,
    /// Which digest `digest` holds: the HELLO's, or XXH3-128 when it asked for none.
    pub algorithm: DigestAlgorithm,
    /// The digest of the first `len` bytes (filled as in [`FinRepr`]).
    pub digest: [u8; 32],
}

/// A length, a digest algorithm and a 32-byte digest: the layout of both the FIN body
/// and the resume point.
mod len_digest {
    crate::layout! { LEN: 8, ALG: byte, _: 7, DIGEST: 32 }
}

/// Parses a [`len_digest`] body of a `kind` packet.
fn parse_len_digest(kind: PacketType, b: &[u8]) -> Result<(u64, DigestAlgorithm, [u8; 32]), WireError> {
    exact_len(kind, b, len_digest::END)?;
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&b[len_digest::DIGEST]);
    Ok((be_u64(b, len_digest::LEN), DigestAlgorithm::from_u8(kind, b[len_digest::ALG])?, digest))
}

/// Emits a [`len_digest`] body into the first `len_digest::END` bytes of `b`.
fn emit_len_digest(b: &mut [u8], len: u64, algorithm: DigestAlgorithm, digest: &[u8; 32]) {
    b[..len_digest::END].fill(0);
    b[len_digest::LEN].copy_from_slice(&len.to_be_bytes());
    b[len_digest::ALG] = algorithm as u8;
    b[len_digest::DIGEST].copy_from_slice(digest);
}

impl ResumeRepr {
    /// Length on the wire.
    pub const LEN: usize = len_digest::END;

    /// Parses a resume point.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let (len, algorithm, digest) = parse_len_digest(PacketType::HelloAck, b)?;
        Ok(ResumeRepr { len, algorithm, digest })
    }

    /// Emits into [`Self::LEN`] bytes.
    pub fn emit(&self, b: &mut [u8]) {
        emit_len_digest(b, self.len, self.algorithm, &self.digest);
    }
}

/// HELLO-ACK: acceptance (with the receiver's window) or rejection with a reason.
///
/// On the wire: the fixed 16 bytes, then the resume point when the options carry
/// [`HelloRepr::OPT_RESUME`] (unkeyed), then Noise message 2 (keyed), whose payload is the
/// fixed bytes again plus, when resuming, the resume point: a keyed session sends the
/// resume point only inside the handshake, authenticated and encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloAckRepr {
    /// `None` accepts; `Some(reason)` rejects.
    pub reject: Option<RejectReason>,
    /// Options the receiver accepted.
    pub options: u16,
    /// The session's chunk size when the receiver settled a smaller one than the
    /// HELLO asked for (only with [`HelloRepr::OPT_SETTLE_CHUNK`]); 0: as asked.
    pub chunk_size: u16,
    /// Reorder window in bytes: the initial flow-control credit is `[0, window)`.
    pub window: u64,
    /// Where the stream resumes, with [`HelloRepr::OPT_RESUME`] in `options`. `None` in a
    /// keyed answer as parsed off the wire: it is read from the handshake's payload.
    pub resume: Option<ResumeRepr>,
    /// Noise message 2 (whose payload is the authenticated body), when a keyed HELLO is
    /// accepted.
    pub handshake: Option<Message2>,
}

mod hello_ack {
    crate::layout! { STATUS: byte, _: 1, OPTIONS: 2, CHUNK: 2, _: 2, WINDOW: 8 }
}

impl HelloAckRepr {
    /// Length of the fixed part of the body (all of it without a handshake).
    pub const BODY_LEN: usize = hello_ack::END;

    /// Whether the answer resumes a stream.
    pub fn resumes(&self) -> bool {
        self.reject.is_none() && self.options & HelloRepr::OPT_RESUME != 0
    }

    /// Body length on the wire.
    pub fn body_len(&self) -> usize {
        match &self.handshake {
            Some(h) => Self::BODY_LEN + h.len(),
            None => Self::BODY_LEN + if self.resumes() { ResumeRepr::LEN } else { 0 },
        }
    }

    /// Parses a HELLO-ACK body.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let kind = PacketType::HelloAck;
        if b.len() < Self::BODY_LEN {
            return Err(WireError::Malformed { kind, why: "wrong body length" });
        }
        let mut r = Self::parse_fixed(&b[..Self::BODY_LEN])?;
        let rest = &b[Self::BODY_LEN..];
        let payload = Self::BODY_LEN + if r.resumes() { ResumeRepr::LEN } else { 0 };
        if rest.is_empty() && !r.resumes() {
            return Ok(r);
        }
        if r.resumes() && rest.len() == ResumeRepr::LEN {
            r.resume = Some(ResumeRepr::parse(rest)?);
            return Ok(r);
        }
        if rest.len() == hello_ack_handshake_len(payload) {
            r.handshake = Message2::from_slice(rest, payload);
            return Ok(r);
        }
        Err(WireError::Malformed { kind, why: "wrong body length" })
    }

    /// Parses the authenticated body out of Noise message 2: the fixed 16 bytes and, when
    /// they say the session resumes, the resume point.
    pub fn parse_authenticated(b: &[u8]) -> Result<Self, WireError> {
        let kind = PacketType::HelloAck;
        if b.len() < Self::BODY_LEN {
            return Err(WireError::Malformed { kind, why: "wrong body length" });
        }
        let mut r = Self::parse_fixed(&b[..Self::BODY_LEN])?;
        let rest = &b[Self::BODY_LEN..];
        match (r.resumes(), rest.len()) {
            (false, 0) => {}
            (true, ResumeRepr::LEN) => r.resume = Some(ResumeRepr::parse(rest)?),
            _ => return Err(WireError::Malformed { kind, why: "wrong body length" }),
        }
        Ok(r)
    }

    /// Parses the fixed 16 bytes.
    pub fn parse_fixed(b: &[u8]) -> Result<Self, WireError> {
        let kind = PacketType::HelloAck;
        exact_len(kind, b, Self::BODY_LEN)?;
        let reject = match b[hello_ack::STATUS] {
            0 => None,
            v => Some(RejectReason::from_byte(v).ok_or(WireError::Malformed { kind, why: "unknown reject reason" })?),
        };
        Ok(HelloAckRepr {
            reject,
            options: be_u16(b, hello_ack::OPTIONS),
            chunk_size: be_u16(b, hello_ack::CHUNK),
            window: be_u64(b, hello_ack::WINDOW),
            resume: None,
            handshake: None,
        })
    }

    /// The fixed 16-byte part of the body.
    pub fn fixed_body(&self) -> [u8; Self::BODY_LEN] {
        let mut b = [0u8; Self::BODY_LEN];
        b[hello_ack::STATUS] = self.reject.map_or(0, |r| r as u8);
        b[hello_ack::OPTIONS].copy_from_slice(&self.options.to_be_bytes());
        b[hello_ack::CHUNK].copy_from_slice(&self.chunk_size.to_be_bytes());
        b[hello_ack::WINDOW].copy_from_slice(&self.window.to_be_bytes());
        b
    }

    /// The body a keyed answer authenticates (Noise message 2's payload): the fixed bytes
    /// and, when resuming, the resume point; its length is the second value.
    pub fn authenticated_body(&self) -> ([u8; Self::BODY_LEN + ResumeRepr::LEN], usize) {
        let mut b = [0u8; Self::BODY_LEN + ResumeRepr::LEN];
        b[..Self::BODY_LEN].copy_from_slice(&self.fixed_body());
        match (self.resumes(), &self.resume) {
            (true, Some(r)) => {
                r.emit(&mut b[Self::BODY_LEN..]);
                (b, Self::BODY_LEN + ResumeRepr::LEN)
            }
            _ => (b, Self::BODY_LEN),
        }
    }

    /// Emits into a body of [`Self::body_len`] bytes.
    pub fn emit(&self, b: &mut [u8]) {
        b[..Self::BODY_LEN].copy_from_slice(&self.fixed_body());
        match &self.handshake {
            Some(h) => b[Self::BODY_LEN..Self::BODY_LEN + h.len()].copy_from_slice(h.as_bytes()),
            None if self.resumes() => {
                let r = self.resume.unwrap_or(ResumeRepr { len: 0, algorithm: DigestAlgorithm::None, digest: [0; 32] });
                r.emit(&mut b[Self::BODY_LEN..]);
            }
            None => {}
        }
    }
}

/// FIN: the stream's total length and digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinRepr {
    /// Bytes in the whole stream.
    pub total_len: u64,
    /// Which digest `digest` holds.
    pub algorithm: DigestAlgorithm,
    /// XXH3-128 fills the first 16 bytes (big-endian), BLAKE3 all 32.
    pub digest: [u8; 32],
}

impl FinRepr {
    /// Body length on the wire.
    pub const BODY_LEN: usize = len_digest::END;

    /// Parses a FIN body.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let (total_len, algorithm, digest) = parse_len_digest(PacketType::Fin, b)?;
        Ok(FinRepr { total_len, algorithm, digest })
    }

    /// Emits into a body of [`Self::BODY_LEN`] bytes.
    pub fn emit(&self, b: &mut [u8]) {
        emit_len_digest(b, self.total_len, self.algorithm, &self.digest);
    }
}

crate::byte_enum! {
    /// The receiver's verdict on a FIN.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Verdict {
        /// Length and digest match: the stream arrived intact.
        Ok = 0,
        /// The receiver delivered a different number of bytes.
        LengthMismatch = 1,
        /// Lengths agree, digests do not.
        DigestMismatch = 2,
    }
}

/// FIN-ACK: verdict and how many bytes the receiver delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinAckRepr {
    /// The verdict.
    pub verdict: Verdict,
    /// Bytes the receiver delivered in order.
    pub received_len: u64,
}

mod fin_ack {
    crate::layout! { VERDICT: byte, _: 7, RECEIVED: 8 }
}

impl FinAckRepr {
    /// Body length on the wire.
    pub const BODY_LEN: usize = fin_ack::END;

    /// Parses a FIN-ACK body.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        let kind = PacketType::FinAck;
        exact_len(kind, b, Self::BODY_LEN)?;
        let verdict =
            Verdict::from_byte(b[fin_ack::VERDICT]).ok_or(WireError::Malformed { kind, why: "unknown verdict" })?;
        Ok(FinAckRepr { verdict, received_len: be_u64(b, fin_ack::RECEIVED) })
    }

    /// Emits into a body of [`Self::BODY_LEN`] bytes.
    pub fn emit(&self, b: &mut [u8]) {
        b.fill(0);
        b[fin_ack::VERDICT] = self.verdict as u8;
        b[fin_ack::RECEIVED].copy_from_slice(&self.received_len.to_be_bytes());
    }
}

/// Why a session was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetReason {
    /// The sender made no progress for its give-up bound.
    GiveUp,
    /// The receiver heard nothing for its idle timeout.
    IdleTimeout,
    /// The application asked to abort.
    Application,
    /// The peer broke the protocol (e.g. data past the announced end).
    ProtocolViolation,
    /// The receiver could not write its output (disk full, pipe closed).
    OutputError,
    /// Not a failure: the sender has the receiver's Ok verdict, so the session
    /// is over and the receiver may leave at once instead of lingering for a
    /// retransmitted FIN. Ignored in any state but complete.
    Closed,
    /// The sender's input does not start with the bytes the receiver's output holds (or
    /// is shorter): a resumed session stops before any byte is written.
    ResumeMismatch,
    /// A code this implementation does not know; kept so it can be reported.
    Other(u16),
}

impl ResetReason {
    /// Wire code.
    pub fn code(self) -> u16 {
        match self {
            ResetReason::GiveUp => 1,
            ResetReason::IdleTimeout => 2,
            ResetReason::Application => 3,
            ResetReason::ProtocolViolation => 4,
            ResetReason::OutputError => 5,
            ResetReason::Closed => 6,
            ResetReason::ResumeMismatch => 7,
            ResetReason::Other(c) => c,
        }
    }

    /// From a wire code; unknown codes are kept, not rejected, so a newer peer's
    /// reason still aborts the session.
    pub fn from_code(c: u16) -> Self {
        match c {
            1 => ResetReason::GiveUp,
            2 => ResetReason::IdleTimeout,
            3 => ResetReason::Application,
            4 => ResetReason::ProtocolViolation,
            5 => ResetReason::OutputError,
            6 => ResetReason::Closed,
            7 => ResetReason::ResumeMismatch,
            c => ResetReason::Other(c),
        }
    }
}

/// RESET: abort, with a reason and how far the sender of the RESET got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetRepr {
    /// Why.
    pub reason: ResetReason,
    /// Sender: bytes acknowledged in order. Receiver: bytes delivered.
    pub offset: u64,
}

mod reset {
    crate::layout! { REASON: 2, _: 6, OFFSET: 8 }
}

impl ResetRepr {
    /// Body length on the wire.
    pub const BODY_LEN: usize = reset::END;

    /// Parses a RESET body.
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        exact_len(PacketType::Reset, b, Self::BODY_LEN)?;
        Ok(ResetRepr { reason: ResetReason::from_code(be_u16(b, reset::REASON)), offset: be_u64(b, reset::OFFSET) })
    }

    /// Emits into a body of [`Self::BODY_LEN`] bytes.
    pub fn emit(&self, b: &mut [u8]) {
        b.fill(0);
        b[reset::REASON].copy_from_slice(&self.reason.code().to_be_bytes());
        b[reset::OFFSET].copy_from_slice(&self.offset.to_be_bytes());
    }
}

#[cfg(test)]
mod tests;
