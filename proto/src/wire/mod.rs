//! The stripecat wire format: one fixed 48-byte header, then a body whose meaning
//! depends on the packet type.
//!
//! Layout and habits follow smoltcp `src/wire/`: a [`Packet`] view over the bytes
//! themselves (getters need `AsRef<[u8]>`, setters `AsMut<[u8]>`, nothing is copied),
//! field offsets in one [`field`] module, and plain `Repr` structs that parse and emit.
//! [`Packet::new_checked`] validates the length once; after that no accessor can panic.
//!
//! The header has the same fixed length for every type, so the DPDK driver can reserve
//! [`HEADER_LEN`] bytes of mbuf headroom and prepend the header in front of a DATA payload
//! that stays where the reader put it. The checksum helpers ([`fill_checksum`],
//! [`verify_checksum`]) therefore take the header and the payload as separate slices.
//!
//! Byte diagram (network byte order), see `docs/PROTOCOL.md`:
//!
//! ```text
//!  0       2   3   4   5   6       8
//!  +-------+---+---+---+---+-------+
//!  | magic |ver|typ|flg|rsv| path  |
//!  +-------+---+---+---+---+-------+
//!  8                               16
//!  |          session id           |
//!  16                              24
//!  |         packet number         |
//!  24                              32
//!  |         stream offset         |
//!  32      34      36              40
//!  | length| rsvd  |  timestamp    |
//!  40              44              48
//!  |  timestamp echo |   CRC32C    |
//! ```
//!
//! The per-packet check is a policy of each end, per link ([`Check`]): with
//! [`Check::Crc32c`] a packet must carry the CRC32C; with [`Check::Off`] (links that
//! cannot corrupt, e.g. shared memory) the end accepts packets marked [`Flags::NO_CHECK`]
//! and says so in every packet it sends ([`Flags::ACCEPTS_UNCHECKED`]). A packet goes out
//! without the CRC only when both ends' policies allow it ([`LinkCheck`]).

mod ack;
mod control;
mod header;
pub mod layout;

pub use ack::{AckRanges, AckRepr, MAX_ACK_RANGES};
pub use control::{
    DigestAlgorithm, FinAckRepr, FinRepr, HelloAckRepr, HelloRepr, RejectReason, ResetReason, ResetRepr, Verdict,
};
pub use header::{Flags, HeaderRepr};

use thiserror::Error;

/// A byte range of a field inside the header or a body.
pub type Field = core::ops::Range<usize>;
/// A field that runs from a start offset to the end of the buffer.
pub type Rest = core::ops::RangeFrom<usize>;

/// Field offsets of the common header. No raw offsets appear anywhere else.
pub mod field {
    crate::layout! {
        /// Magic number [`super::MAGIC`]; lets a receiver discard stray UDP at once.
        MAGIC: 2,
        /// Protocol version, [`super::VERSION`].
        VERSION: byte,
        /// Packet type, [`super::PacketType`].
        TYPE: byte,
        /// Flag bits, [`super::Flags`].
        FLAGS: byte,
        /// Reserved, sent as zero, ignored on receipt.
        RESERVED0: byte,
        /// Path (member link) the packet was sent on.
        PATH: 2,
        /// Session id, 64-bit random, chosen by the sender.
        SESSION: 8,
        /// Packet number: per path for DATA and PING, never reused.
        PACKET_NUMBER: 8,
        /// Stream offset of the first payload byte (DATA only, zero otherwise).
        OFFSET: 8,
        /// Length of what follows the header: DATA payload or control body.
        LENGTH: 2,
        /// Reserved, sent as zero, ignored on receipt.
        RESERVED1: 2,
        /// Sender's clock, low 32 bits of microseconds.
        TIMESTAMP: 4,
        /// Latest timestamp received from the peer on this path.
        TIMESTAMP_ECHO: 4,
        /// CRC32C over header (this field zeroed) and payload.
        CHECKSUM: 4,
    }
}

/// Length of the common header; equal for every packet type.
pub const HEADER_LEN: usize = field::END;
/// Magic number, "ST" for STripe.
pub const MAGIC: u16 = 0x5354;
/// The only protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Largest DATA payload the length field can describe.
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize;

/// Packet types. Unknown values are rejected with [`WireError::UnknownType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Sender opens a session.
    Hello = 1,
    /// Receiver accepts or rejects (with a reason) a HELLO.
    HelloAck = 2,
    /// A chunk of the stream.
    Data = 3,
    /// Per-path acknowledgement, cumulative offset and flow-control credit.
    Ack = 4,
    /// End of stream: total length and digest.
    Fin = 5,
    /// Receiver's verdict on the FIN.
    FinAck = 6,
    /// Abort with a reason.
    Reset = 7,
    /// Ack-eliciting probe without data (path probing, PTO probes).
    Ping = 8,
}

impl PacketType {
    /// Decodes a type byte.
    pub fn from_u8(v: u8) -> Result<PacketType, WireError> {
        Ok(match v {
            1 => PacketType::Hello,
            2 => PacketType::HelloAck,
            3 => PacketType::Data,
            4 => PacketType::Ack,
            5 => PacketType::Fin,
            6 => PacketType::FinAck,
            7 => PacketType::Reset,
            8 => PacketType::Ping,
            other => return Err(WireError::UnknownType(other)),
        })
    }

    /// Whether packets of this type use the per-path packet number space and are
    /// acknowledged by ACK frames. Control frames are acknowledged by their answer.
    pub fn is_path_packet(self) -> bool {
        matches!(self, PacketType::Data | PacketType::Ping)
    }
}

/// Why bytes could not be read as a stripecat packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// Shorter than the header, or than the header plus the declared length.
    #[error("truncated packet: {have} bytes, need {need}")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes the header requires.
        need: usize,
    },
    /// The magic number is not [`MAGIC`]: not a stripecat packet.
    #[error("bad magic {0:#06x}")]
    BadMagic(u16),
    /// A version this implementation does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// A packet type this implementation does not know.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// The CRC32C does not match the bytes.
    #[error("checksum mismatch")]
    BadChecksum,
    /// The packet says it carries no CRC32C ([`Flags::NO_CHECK`]) but the receiving
    /// link's policy requires one ([`Check::Crc32c`]).
    #[error("no checksum on a link that requires one")]
    MissingChecksum,
    /// The body does not have the shape its type requires.
    #[error("malformed {kind:?} body: {why}")]
    Malformed {
        /// The packet type whose body is wrong.
        kind: PacketType,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A read/write view of a stripecat packet: the header and whatever follows it.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

macro_rules! be_get {
    ($name:ident, $field:expr, $ty:ty, $doc:literal) => {
        #[doc = $doc]
        #[inline]
        pub fn $name(&self) -> $ty {
            let b = &self.buffer.as_ref()[$field];
            <$ty>::from_be_bytes(b.try_into().unwrap_or_default())
        }
    };
}

macro_rules! be_set {
    ($name:ident, $field:expr, $ty:ty, $doc:literal) => {
        #[doc = $doc]
        #[inline]
        pub fn $name(&mut self, value: $ty) {
            self.buffer.as_mut()[$field].copy_from_slice(&value.to_be_bytes());
        }
    };
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps bytes without checking them. Accessors may panic unless
    /// [`Packet::check_len`] succeeds; use this only on buffers you sized yourself.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps untrusted bytes: checks that the header and the declared length fit.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header fits and that the declared length fits after it.
    /// Trailing bytes (e.g. Ethernet padding) are allowed and ignored.
    pub fn check_len(&self) -> Result<(), WireError> {
        let have = self.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(WireError::Truncated { have, need: HEADER_LEN });
        }
        let need = HEADER_LEN + self.length() as usize;
        if have < need {
            return Err(WireError::Truncated { have, need });
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    be_get!(magic, field::MAGIC, u16, "Magic number.");
    be_get!(path_id, field::PATH, u16, "Path id.");
    be_get!(session_id, field::SESSION, u64, "Session id.");
    be_get!(packet_number, field::PACKET_NUMBER, u64, "Packet number.");
    be_get!(offset, field::OFFSET, u64, "Stream offset (DATA).");
    be_get!(length, field::LENGTH, u16, "Length of payload or body.");
    be_get!(timestamp, field::TIMESTAMP, u32, "Sender timestamp, µs, low 32 bits.");
    be_get!(timestamp_echo, field::TIMESTAMP_ECHO, u32, "Echoed peer timestamp.");
    be_get!(checksum, field::CHECKSUM, u32, "CRC32C field.");

    /// Protocol version byte.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// Raw packet type byte.
    #[inline]
    pub fn packet_type_raw(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Raw flags byte.
    #[inline]
    pub fn flags_raw(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The header bytes.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// What follows the header, exactly `length()` bytes.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.length() as usize]
    }

    /// The byte range of the payload inside the buffer, for zero-copy narrowing.
    #[inline]
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        HEADER_LEN..HEADER_LEN + self.length() as usize
    }

    /// Verifies the CRC32C over header and payload when both are in this buffer.
    pub fn verify_checksum(&self) -> bool {
        verify_checksum(self.header(), self.payload())
    }

    /// Applies the receiving link's check policy: see [`verify_check`].
    pub fn verify_check(&self, policy: Check) -> Result<(), WireError> {
        verify_check(self.header(), self.payload(), policy)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    be_set!(set_magic, field::MAGIC, u16, "Sets the magic number.");
    be_set!(set_path_id, field::PATH, u16, "Sets the path id.");
    be_set!(set_session_id, field::SESSION, u64, "Sets the session id.");
    be_set!(set_packet_number, field::PACKET_NUMBER, u64, "Sets the packet number.");
    be_set!(set_offset, field::OFFSET, u64, "Sets the stream offset.");
    be_set!(set_length, field::LENGTH, u16, "Sets the payload/body length.");
    be_set!(set_timestamp, field::TIMESTAMP, u32, "Sets the timestamp.");
    be_set!(set_timestamp_echo, field::TIMESTAMP_ECHO, u32, "Sets the timestamp echo.");
    be_set!(set_checksum, field::CHECKSUM, u32, "Sets the CRC32C field.");

    /// Sets the version byte.
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[field::VERSION] = v;
    }

    /// Sets the type byte.
    pub fn set_packet_type(&mut self, t: PacketType) {
        self.buffer.as_mut()[field::TYPE] = t as u8;
    }

    /// Sets the flags byte.
    pub fn set_flags_raw(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    /// Zeroes the reserved bytes.
    pub fn clear_reserved(&mut self) {
        let b = self.buffer.as_mut();
        b[field::RESERVED0] = 0;
        b[field::RESERVED1].fill(0);
    }

    /// Mutable access to the body following the header (`length()` bytes).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.length() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..HEADER_LEN + len]
    }

    /// Computes and stores the CRC32C when the payload is in this buffer.
    pub fn fill_checksum(&mut self) {
        let len = self.length() as usize;
        let (h, p) = self.buffer.as_mut().split_at_mut(HEADER_LEN);
        fill_checksum(h, &p[..len]);
    }
}

/// CRC32C over the header (with the checksum field taken as zero) and the payload.
///
/// Takes the two parts separately because the DPDK driver prepends the header in an
/// mbuf's headroom while the payload stays in the data room. `header` must be at least
/// [`HEADER_LEN`] bytes; only the first `HEADER_LEN` are covered.
pub fn compute_checksum(header: &[u8], payload: &[u8]) -> u32 {
    let h = &header[..HEADER_LEN.min(header.len())];
    let before = &h[..field::CHECKSUM.start.min(h.len())];
    let mut crc = crc32c::crc32c(before);
    crc = crc32c::crc32c_append(crc, &[0u8; 4]);
    crc32c::crc32c_append(crc, payload)
}

/// Stores the CRC32C of `header` + `payload` into the header's checksum field.
///
/// # Panics
/// If `header` is shorter than [`HEADER_LEN`] (a driver bug, never wire input).
pub fn fill_checksum(header: &mut [u8], payload: &[u8]) {
    let crc = compute_checksum(header, payload);
    header[field::CHECKSUM].copy_from_slice(&crc.to_be_bytes());
}

/// Checks the CRC32C stored in `header` against `header` + `payload`.
/// Returns false (never panics) if the header is too short.
pub fn verify_checksum(header: &[u8], payload: &[u8]) -> bool {
    if header.len() < HEADER_LEN {
        return false;
    }
    let stored = u32::from_be_bytes(header[field::CHECKSUM].try_into().unwrap_or_default());
    compute_checksum(header, payload) == stored
}

/// The per-packet check of a link, as each end configures it for itself (the data plane
/// decides it per member port).
///
/// Sending: [`Check::Crc32c`] fills the CRC32C; [`Check::Off`] sets [`Flags::NO_CHECK`] and
/// leaves the field zero, saving a pass over every byte. Receiving: [`Check::Crc32c`]
/// refuses packets without a CRC ([`WireError::MissingChecksum`]); [`Check::Off`] accepts
/// them. A packet that carries a CRC is verified under either policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Check {
    /// CRC32C over header and payload, sent and required.
    #[default]
    Crc32c,
    /// No per-packet check: for links that cannot corrupt (the end-to-end digest stays).
    Off,
}

/// One end's check state for one link: its own policy, and whether the peer's latest
/// packet on the link said it accepts unchecked packets. Sending is unchecked only when
/// both allow it, so ends with different policies (or a peer that predates the flags) keep
/// the CRC both ways; the first packets on a link, before the peer has said anything,
/// carry it too. A forged or corrupted advertisement can change only what this end
/// *sends*, within its own policy; what it accepts is its policy alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LinkCheck {
    /// What this end requires of received packets.
    pub policy: Check,
    /// The peer's latest packet on this link carried [`Flags::ACCEPTS_UNCHECKED`].
    pub peer_accepts_unchecked: bool,
}

impl LinkCheck {
    /// Always the CRC, both ways (the version-1 behaviour).
    pub const CRC32C: LinkCheck = LinkCheck { policy: Check::Crc32c, peer_accepts_unchecked: false };

    /// A link under `policy` whose peer has not been heard yet.
    pub const fn new(policy: Check) -> LinkCheck {
        LinkCheck { policy, peer_accepts_unchecked: false }
    }

    /// How the next packet goes out.
    pub fn tx(self) -> Check {
        match (self.policy, self.peer_accepts_unchecked) {
            (Check::Off, true) => Check::Off,
            _ => Check::Crc32c,
        }
    }

    /// Learns the peer's advertisement from a received datagram, before the driver hands
    /// it to the protocol. A withdrawn offer is taken at once (the safe direction); a new
    /// offer only from a packet that is itself unchecked (the peer already sends that way)
    /// or whose CRC verifies, so a bit flipped on the way cannot start unchecked sending
    /// (that costs one CRC per change of mind, not per packet). Inputs that are not a whole
    /// packet change nothing; never panics.
    pub fn learn(&mut self, datagram: &[u8]) {
        let Ok(p) = Packet::new_checked(datagram) else { return };
        let flags = Flags(p.flags_raw());
        if !flags.accepts_unchecked() {
            self.peer_accepts_unchecked = false;
        } else if !self.peer_accepts_unchecked && (flags.no_check() || p.verify_checksum()) {
            self.peer_accepts_unchecked = true;
        }
    }
}

/// Checks a received packet (header and payload as separate slices) against the receiving
/// link's policy: a packet with a CRC must match it ([`WireError::BadChecksum`]); a packet
/// marked [`Flags::NO_CHECK`] passes only under [`Check::Off`]
/// ([`WireError::MissingChecksum`] otherwise). Never panics (a short header is
/// [`WireError::Truncated`]).
pub fn verify_check(header: &[u8], payload: &[u8], policy: Check) -> Result<(), WireError> {
    let Some(&flags) = header.get(field::FLAGS).filter(|_| header.len() >= HEADER_LEN) else {
        return Err(WireError::Truncated { have: header.len(), need: HEADER_LEN });
    };
    if Flags(flags).no_check() {
        return match policy {
            Check::Off => Ok(()),
            Check::Crc32c => Err(WireError::MissingChecksum),
        };
    }
    if verify_checksum(header, payload) {
        Ok(())
    } else {
        Err(WireError::BadChecksum)
    }
}

/// The body of a packet, by type. DATA has none here: its payload is a separate handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// See [`HelloRepr`].
    Hello(HelloRepr),
    /// See [`HelloAckRepr`].
    HelloAck(HelloAckRepr),
    /// Payload carried separately (`length` bytes after the header).
    Data,
    /// See [`AckRepr`]. Boxed: the ranges make it the largest frame by far, and a
    /// `Transmit` for DATA should stay small (it is moved once per packet).
    Ack(Box<AckRepr>),
    /// See [`FinRepr`].
    Fin(FinRepr),
    /// See [`FinAckRepr`].
    FinAck(FinAckRepr),
    /// See [`ResetRepr`].
    Reset(ResetRepr),
    /// Empty body; elicits an ACK.
    Ping,
}

impl Frame {
    /// The packet type that carries this frame.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Frame::Hello(_) => PacketType::Hello,
            Frame::HelloAck(_) => PacketType::HelloAck,
            Frame::Data => PacketType::Data,
            Frame::Ack(_) => PacketType::Ack,
            Frame::Fin(_) => PacketType::Fin,
            Frame::FinAck(_) => PacketType::FinAck,
            Frame::Reset(_) => PacketType::Reset,
            Frame::Ping => PacketType::Ping,
        }
    }

    /// Bytes the body occupies after the header (zero for DATA, whose payload is separate).
    pub fn body_len(&self) -> usize {
        match self {
            Frame::Hello(_) => HelloRepr::BODY_LEN,
            Frame::HelloAck(_) => HelloAckRepr::BODY_LEN,
            Frame::Data | Frame::Ping => 0,
            Frame::Ack(a) => a.body_len(),
            Frame::Fin(_) => FinRepr::BODY_LEN,
            Frame::FinAck(_) => FinAckRepr::BODY_LEN,
            Frame::Reset(_) => ResetRepr::BODY_LEN,
        }
    }

    /// Parses the body of a packet whose header was already parsed.
    pub fn parse(kind: PacketType, body: &[u8]) -> Result<Frame, WireError> {
        Ok(match kind {
            PacketType::Hello => Frame::Hello(HelloRepr::parse(body)?),
            PacketType::HelloAck => Frame::HelloAck(HelloAckRepr::parse(body)?),
            PacketType::Data => Frame::Data,
            PacketType::Ack => Frame::Ack(Box::new(AckRepr::parse(body)?)),
            PacketType::Fin => Frame::Fin(FinRepr::parse(body)?),
            PacketType::FinAck => Frame::FinAck(FinAckRepr::parse(body)?),
            PacketType::Reset => Frame::Reset(ResetRepr::parse(body)?),
            PacketType::Ping => {
                if !body.is_empty() {
                    return Err(WireError::Malformed { kind, why: "PING carries a body" });
                }
                Frame::Ping
            }
        })
    }

    /// Writes the body into `body`, which must be exactly [`Frame::body_len`] bytes.
    pub fn emit(&self, body: &mut [u8]) {
        match self {
            Frame::Hello(r) => r.emit(body),
            Frame::HelloAck(r) => r.emit(body),
            Frame::Data | Frame::Ping => {}
            Frame::Ack(r) => r.emit(body),
            Frame::Fin(r) => r.emit(body),
            Frame::FinAck(r) => r.emit(body),
            Frame::Reset(r) => r.emit(body),
        }
    }
}

/// A whole parsed packet: header plus typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// The common header.
    pub header: HeaderRepr,
    /// The typed body.
    pub frame: Frame,
}

impl Repr {
    /// Parses and checks a packet view: magic, version, type, CRC32C (required), body
    /// shape. Same as [`Repr::parse_with`] with [`Check::Crc32c`].
    ///
    /// The DATA payload is not copied: use [`Packet::payload_range`] to narrow the
    /// buffer handle.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        Repr::parse_with(packet, Check::Crc32c)
    }

    /// [`Repr::parse`] under the receiving link's check policy (see [`verify_check`]).
    pub fn parse_with<T: AsRef<[u8]>>(packet: &Packet<T>, policy: Check) -> Result<Repr, WireError> {
        let header = HeaderRepr::parse(packet)?;
        packet.verify_check(policy)?;
        let frame = Frame::parse(header.packet_type, packet.payload())?;
        Ok(Repr { header, frame })
    }

    /// Total bytes of header plus body (DATA payload excluded).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.frame.body_len()
    }

    /// Emits header and body into `buf` and fills the checksum over them and `payload`
    /// (DATA payload held elsewhere; pass `&[]` for control frames). Returns the number of
    /// bytes written, [`Repr::buffer_len`]. Same as [`Repr::emit_with`] with
    /// [`LinkCheck::CRC32C`].
    ///
    /// # Panics
    /// If `buf` is shorter than [`Repr::buffer_len`] (the driver sizes it).
    pub fn emit(&self, buf: &mut [u8], payload: &[u8]) -> usize {
        self.emit_with(buf, payload, LinkCheck::CRC32C)
    }

    /// [`Repr::emit`] on a link in state `link`: the packet advertises the link's policy
    /// ([`Flags::ACCEPTS_UNCHECKED`] under [`Check::Off`]) and, when [`LinkCheck::tx`] is
    /// [`Check::Off`], sets [`Flags::NO_CHECK`], leaves the CRC field zero and reads no
    /// payload byte. The two check flags of `self.header` are ignored.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Repr::buffer_len`] (the driver sizes it).
    pub fn emit_with(&self, buf: &mut [u8], payload: &[u8], link: LinkCheck) -> usize {
        let n = self.buffer_len();
        let (h, rest) = buf[..n].split_at_mut(HEADER_LEN);
        let mut packet = Packet::new_unchecked(&mut *h);
        self.header.emit(&mut packet);
        self.frame.emit(rest);
        let mut flags = self.header.flags.0 & !(Flags::NO_CHECK | Flags::ACCEPTS_UNCHECKED);
        if link.policy == Check::Off {
            flags |= Flags::ACCEPTS_UNCHECKED;
        }
        if link.tx() == Check::Off {
            packet.set_flags_raw(flags | Flags::NO_CHECK);
            packet.set_checksum(0);
            return n;
        }
        packet.set_flags_raw(flags);
        let crc = {
            let mut c = crc32c::crc32c(&h[..field::CHECKSUM.start]);
            c = crc32c::crc32c_append(c, &[0u8; 4]);
            c = crc32c::crc32c_append(c, rest);
            crc32c::crc32c_append(c, payload)
        };
        h[field::CHECKSUM].copy_from_slice(&crc.to_be_bytes());
        n
    }
}

/// Reads a big-endian integer out of a body slice whose length the caller checked.
pub(crate) fn be_u64(b: &[u8], f: Field) -> u64 {
    u64::from_be_bytes(b[f].try_into().unwrap_or_default())
}
pub(crate) fn be_u32(b: &[u8], f: Field) -> u32 {
    u32::from_be_bytes(b[f].try_into().unwrap_or_default())
}
pub(crate) fn be_u16(b: &[u8], f: Field) -> u16 {
    u16::from_be_bytes(b[f].try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_split_equals_contiguous() {
        let mut buf = vec![0u8; HEADER_LEN + 5];
        let repr = HeaderRepr {
            packet_type: PacketType::Data,
            flags: Flags::empty(),
            path_id: 3,
            session_id: 9,
            packet_number: 1,
            offset: 0,
            length: 5,
            timestamp: 0,
            timestamp_echo: 0,
        };
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf[HEADER_LEN..].copy_from_slice(b"hello");
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum();
        let c1 = p.checksum();
        let (h, pl) = buf.split_at(HEADER_LEN);
        assert!(verify_checksum(h, pl));
        assert_eq!(compute_checksum(h, pl), c1);
        // CRC32C catches every single-bit flip anywhere in header or payload.
        for bit in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let (h, pl) = b.split_at(HEADER_LEN);
            assert!(!verify_checksum(h, pl), "flip of bit {bit} not caught");
        }
    }

    // Whole control packets, assembled by hand; CRC32C values from an independent
    // bitwise reference implementation.
    static HELLO_PACKET: [u8; 64] = [
        0x53, 0x54, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, // magic, v1, HELLO, flags, rsv, path 1
        0xfe, 0xed, 0xfa, 0xce, 0xca, 0xfe, 0xbe, 0xef, // session
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // control sequence 1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // length 16, rsv, timestamp 1000
        0x00, 0x00, 0x00, 0x00, 0x69, 0x5f, 0x12, 0x2c, // echo, CRC32C
        0x05, 0x78, 0x00, 0x03, 0x02, 0x00, 0x00, 0x00, // chunk 1400, 3 paths, BLAKE3, options 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x98, 0x96, 0x80, // total 10 000 000
    ];
    static PING_PACKET: [u8; 48] = [
        0x53, 0x54, 0x01, 0x08, 0x01, 0x00, 0x00, 0x03, // PING, ACK_NOW, path 3
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // session
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // pn 42
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, // length 0, rsv, timestamp 77
        0x00, 0x00, 0x00, 0x42, 0x86, 0xbc, 0x38, 0x5a, // echo 66, CRC32C
    ];

    fn hello_repr() -> Repr {
        Repr {
            header: HeaderRepr {
                packet_type: PacketType::Hello,
                flags: Flags::empty(),
                path_id: 1,
                session_id: 0xfeed_face_cafe_beef,
                packet_number: 1,
                offset: 0,
                length: 16,
                timestamp: 1000,
                timestamp_echo: 0,
            },
            frame: Frame::Hello(HelloRepr {
                chunk_size: 1400,
                paths: 3,
                digest: DigestAlgorithm::Blake3,
                options: 0,
                total_len: Some(10_000_000),
            }),
        }
    }

    fn ping_repr() -> Repr {
        Repr {
            header: HeaderRepr {
                packet_type: PacketType::Ping,
                flags: Flags(Flags::ACK_NOW),
                path_id: 3,
                session_id: 0x1122_3344_5566_7788,
                packet_number: 42,
                offset: 0,
                length: 0,
                timestamp: 77,
                timestamp_echo: 66,
            },
            frame: Frame::Ping,
        }
    }

    #[test]
    fn control_packets_parse_and_emit() {
        for (bytes, repr) in [(&HELLO_PACKET[..], hello_repr()), (&PING_PACKET[..], ping_repr())] {
            let p = Packet::new_checked(bytes).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(Repr::parse(&p).unwrap(), repr);
            let mut out = vec![0xaau8; repr.buffer_len()];
            assert_eq!(repr.emit(&mut out, &[]), bytes.len());
            assert_eq!(out, bytes);
        }
        // A PING with a body and a HELLO with a short body are malformed.
        let mut bad = HELLO_PACKET;
        bad[33] = 15;
        let mut p = Packet::new_unchecked(&mut bad[..]);
        p.fill_checksum();
        assert!(matches!(Repr::parse(&Packet::new_checked(&bad[..]).unwrap()), Err(WireError::Malformed { .. })));
    }

    // The PING above on a link where both ends allow no check: NO_CHECK (0x02) and
    // ACCEPTS_UNCHECKED (0x04) join ACK_NOW, the CRC field is zero.
    static PING_NO_CHECK: [u8; 48] = [
        0x53, 0x54, 0x01, 0x08, 0x07, 0x00, 0x00, 0x03, // PING, ACK_NOW | NO_CHECK | ACCEPTS_UNCHECKED, path 3
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // session
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // pn 42
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, // length 0, rsv, timestamp 77
        0x00, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00, // echo 66, no CRC
    ];

    const BOTH_OFF: LinkCheck = LinkCheck { policy: Check::Off, peer_accepts_unchecked: true };

    fn data_packet(link: LinkCheck, payload: &[u8]) -> Vec<u8> {
        let repr = Repr {
            header: HeaderRepr {
                packet_type: PacketType::Data,
                flags: Flags::empty(),
                path_id: 1,
                session_id: 5,
                packet_number: 9,
                offset: 4096,
                length: payload.len() as u16,
                timestamp: 1,
                timestamp_echo: 2,
            },
            frame: Frame::Data,
        };
        let mut b = vec![0u8; HEADER_LEN + payload.len()];
        assert_eq!(repr.emit_with(&mut b, payload, link), HEADER_LEN);
        b[HEADER_LEN..].copy_from_slice(payload);
        b
    }

    #[test]
    fn emit_and_parse_with_and_without_check() {
        // Without check: the flag is set, the field zero, and either policy that allows it parses.
        let mut out = [0xaau8; 48];
        ping_repr().emit_with(&mut out, &[], BOTH_OFF);
        assert_eq!(out, PING_NO_CHECK);
        let p = Packet::new_checked(&PING_NO_CHECK[..]).unwrap();
        let parsed = Repr::parse_with(&p, Check::Off).unwrap();
        assert!(parsed.header.flags.no_check() && parsed.header.flags.ack_now());
        assert_eq!(parsed.frame, Frame::Ping);
        // ... and is refused, with its own error, where a check is required (the default).
        assert_eq!(Repr::parse(&p), Err(WireError::MissingChecksum));
        assert_eq!(Repr::parse_with(&p, Check::Crc32c), Err(WireError::MissingChecksum));
        // Re-emitting the parsed header with the check on clears the flag and fills the CRC.
        let mut again = [0u8; 48];
        parsed.emit(&mut again, &[]);
        assert_eq!(again, PING_PACKET);

        // With check: identical to what version 1 always sent, accepted under both policies.
        let payload = b"stripe me";
        let b = data_packet(LinkCheck::CRC32C, payload);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!Flags(p.flags_raw()).no_check() && !Flags(p.flags_raw()).accepts_unchecked());
        assert!(p.verify_checksum());
        for policy in [Check::Crc32c, Check::Off] {
            assert_eq!(Repr::parse_with(&p, policy).unwrap().frame, Frame::Data);
        }
        // Our policy allows no check but the peer has not said it does: CRC, and the offer.
        let b = data_packet(LinkCheck::new(Check::Off), payload);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!Flags(p.flags_raw()).no_check() && Flags(p.flags_raw()).accepts_unchecked());
        assert!(p.verify_checksum());
        // The peer accepts unchecked, but our policy wants the CRC: CRC, no offer.
        let b = data_packet(LinkCheck { policy: Check::Crc32c, peer_accepts_unchecked: true }, payload);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.flags_raw() & (Flags::NO_CHECK | Flags::ACCEPTS_UNCHECKED), 0);
        assert!(p.verify_checksum());
        let b = data_packet(BOTH_OFF, payload);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.checksum(), 0);
        assert_eq!(p.payload(), payload);
        assert_eq!(Repr::parse_with(&p, Check::Off).unwrap().frame, Frame::Data);
        assert_eq!(Repr::parse_with(&p, Check::Crc32c), Err(WireError::MissingChecksum));
    }

    #[test]
    fn crc_catches_corruption_under_either_policy() {
        let b = data_packet(LinkCheck::CRC32C, &[0x5a; 64]);
        for byte in 0..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[byte] ^= 1 << bit;
                let Ok(p) = Packet::new_checked(&c[..]) else { continue }; // a length flip
                let required = Repr::parse_with(&p, Check::Crc32c);
                assert!(required.is_err(), "flip of bit {bit} in byte {byte} accepted where a CRC is required");
                // Flipping NO_CHECK on is the one flip a link without corruption would let
                // through; where the CRC is required, it is refused as missing.
                if byte == field::FLAGS && 1 << bit == Flags::NO_CHECK {
                    assert_eq!(required, Err(WireError::MissingChecksum));
                    continue;
                }
                let relaxed = Repr::parse_with(&p, Check::Off);
                assert!(relaxed.is_err(), "flip of bit {bit} in byte {byte} accepted on a CRC'd packet");
            }
        }
    }

    #[test]
    fn hostile_flags_and_bytes_do_not_panic_under_either_policy() {
        // Deterministic junk: every flags value on every type byte, then random buffers.
        let base = data_packet(LinkCheck::CRC32C, &[1, 2, 3, 4]);
        for ty in 0..=255u8 {
            for flags in 0..=255u8 {
                let mut b = base.clone();
                b[field::TYPE] = ty;
                b[field::FLAGS] = flags;
                let p = Packet::new_checked(&b[..]).unwrap();
                let strict = Repr::parse_with(&p, Check::Crc32c);
                if flags & Flags::NO_CHECK != 0 && PacketType::from_u8(ty).is_ok() {
                    assert_eq!(strict, Err(WireError::MissingChecksum));
                }
                let _ = Repr::parse_with(&p, Check::Off);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 120) as usize;
            let mut b: Vec<u8> = (0..len).map(|i| (x >> (i % 57)) as u8).collect();
            if len >= HEADER_LEN {
                b[..4].copy_from_slice(&[0x53, 0x54, 0x01, (x % 9) as u8]);
                b[field::LENGTH].copy_from_slice(&((len - HEADER_LEN) as u16).to_be_bytes());
            }
            for policy in [Check::Crc32c, Check::Off] {
                if let Ok(p) = Packet::new_checked(&b[..]) {
                    let _ = Repr::parse_with(&p, policy);
                }
                let _ = verify_check(&b, &[], policy);
            }
        }
        assert!(matches!(verify_check(&[0u8; 5], &[], Check::Off), Err(WireError::Truncated { .. })));
        let mut link = LinkCheck::new(Check::Off);
        link.learn(&[0xff; 10]);
        assert!(!link.peer_accepts_unchecked, "a short datagram teaches nothing");
    }

    #[test]
    fn link_check_learns_the_peer_and_sends_unchecked_only_when_both_allow() {
        let offer = data_packet(LinkCheck::new(Check::Off), &[9; 8]);
        let plain = data_packet(LinkCheck::CRC32C, &[9; 8]);
        for policy in [Check::Crc32c, Check::Off] {
            let mut link = LinkCheck::new(policy);
            assert_eq!(link.tx(), Check::Crc32c, "nothing heard yet");
            link.learn(&offer);
            assert_eq!(link.tx(), policy);
            link.learn(&plain);
            assert_eq!(link.tx(), Check::Crc32c, "the peer took its offer back");
        }
        // An offer in a packet whose CRC fails (a flipped bit) is not taken up.
        let mut bad = offer.clone();
        bad[HEADER_LEN] ^= 1;
        let mut link = LinkCheck::new(Check::Off);
        link.learn(&bad);
        assert_eq!(link.tx(), Check::Crc32c);
        let mut flipped = plain.clone();
        flipped[field::FLAGS] |= Flags::ACCEPTS_UNCHECKED;
        link.learn(&flipped);
        assert_eq!(link.tx(), Check::Crc32c, "an offer flipped on by corruption");
        // An unchecked packet with the offer is taken at its word (the peer sends so).
        link.learn(&data_packet(BOTH_OFF, &[1; 4]));
        assert_eq!(link.tx(), Check::Off);
    }

    #[test]
    fn short_and_hostile_inputs_do_not_panic() {
        for len in 0..HEADER_LEN {
            assert!(matches!(Packet::new_checked(&vec![0u8; len][..]), Err(WireError::Truncated { .. })));
        }
        let mut b = [0u8; HEADER_LEN];
        b[field::LENGTH].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            WireError::Truncated { have: HEADER_LEN, need: HEADER_LEN + 100 }
        );
        assert!(!verify_checksum(&b[..10], &[]));
    }
}
