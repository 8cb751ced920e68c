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
pub mod byte_enum;
mod check;
mod control;
mod header;
pub mod layout;
mod packet;
mod repr;
mod zeros;

pub use ack::{AckRanges, AckRepr, MAX_ACK_RANGES};
pub use check::{compute_checksum, fill_checksum, verify_check, verify_checksum, Check, LinkCheck};
pub use control::{
    DigestAlgorithm, FinAckRepr, FinRepr, HelloAckRepr, HelloRepr, RejectReason, ResetReason, ResetRepr, ResumeRepr,
    Verdict,
};
pub use header::{Flags, HeaderRepr};
pub use packet::Packet;
pub use repr::{Frame, Repr};
pub use zeros::ZerosRepr;

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
/// The only protocol version this crate speaks (2: authenticated sessions, sealed
/// packets, numbered ACKs and receiver control packets).
pub const VERSION: u8 = 2;
/// Largest DATA payload the length field can describe.
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize;

crate::byte_enum! {
    /// Packet types. Unknown values are rejected with [`WireError::UnknownType`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
        /// Sealed, empty: the sender's first packet under the session keys, which makes a
        /// keyed receiver commit to the session (resent until the first ACK).
        Confirm = 9,
        /// A chunk that is all zeros, carried as its length instead of its bytes
        /// ([`ZerosRepr`]); sent only to a receiver that accepted
        /// [`HelloRepr::OPT_ZEROS`]. Per path, acknowledged like DATA.
        Zeros = 10,
    }
}

impl PacketType {
    /// Decodes a type byte.
    pub fn from_u8(v: u8) -> Result<PacketType, WireError> {
        PacketType::from_byte(v).ok_or(WireError::UnknownType(v))
    }

    /// Whether packets of this type use the per-path packet number space and are
    /// acknowledged by ACK frames. Control frames are acknowledged by their answer.
    pub fn is_path_packet(self) -> bool {
        matches!(self, PacketType::Data | PacketType::Ping | PacketType::Zeros)
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
mod tests;
