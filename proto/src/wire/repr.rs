//! [`Repr`]: a whole packet parsed into plain values (header plus typed [`Frame`]
//! body), and emitted back.

use super::*;
use crate::crypto::{AeadError, DirectionKeys, Space, TAG_LEN};

/// The body of a packet, by type. DATA has none here: its payload is a separate handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// See [`HelloRepr`]. Boxed, as the HELLO-ACK: a keyed handshake message makes them
    /// large, and every parsed datagram (one per DATA packet) carries a `Frame`.
    Hello(Box<HelloRepr>),
    /// See [`HelloAckRepr`].
    HelloAck(Box<HelloAckRepr>),
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
    /// Empty body, sealed: the sender has the session keys.
    Confirm,
    /// See [`ZerosRepr`]: a chunk of zeros at the header's offset, no payload.
    Zeros(ZerosRepr),
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
            Frame::Confirm => PacketType::Confirm,
            Frame::Zeros(_) => PacketType::Zeros,
        }
    }

    /// Bytes the body occupies after the header (zero for DATA, whose payload is separate).
    pub fn body_len(&self) -> usize {
        match self {
            Frame::Hello(h) => h.body_len(),
            Frame::HelloAck(h) => h.body_len(),
            Frame::Data | Frame::Ping | Frame::Confirm => 0,
            Frame::Ack(a) => a.body_len(),
            Frame::Fin(_) => FinRepr::BODY_LEN,
            Frame::FinAck(_) => FinAckRepr::BODY_LEN,
            Frame::Reset(_) => ResetRepr::BODY_LEN,
            Frame::Zeros(_) => ZerosRepr::BODY_LEN,
        }
    }

    /// Parses the body of a packet whose header was already parsed.
    pub fn parse(kind: PacketType, body: &[u8]) -> Result<Frame, WireError> {
        Ok(match kind {
            PacketType::Hello => Frame::Hello(Box::new(HelloRepr::parse(body)?)),
            PacketType::HelloAck => Frame::HelloAck(Box::new(HelloAckRepr::parse(body)?)),
            PacketType::Data => Frame::Data,
            PacketType::Ack => Frame::Ack(Box::new(AckRepr::parse(body)?)),
            PacketType::Fin => Frame::Fin(FinRepr::parse(body)?),
            PacketType::FinAck => Frame::FinAck(FinAckRepr::parse(body)?),
            PacketType::Reset => Frame::Reset(ResetRepr::parse(body)?),
            PacketType::Zeros => Frame::Zeros(ZerosRepr::parse(body)?),
            PacketType::Ping => {
                if !body.is_empty() {
                    return Err(WireError::Malformed { kind, why: "PING carries a body" });
                }
                Frame::Ping
            }
            PacketType::Confirm => {
                if !body.is_empty() {
                    return Err(WireError::Malformed { kind, why: "CONFIRM carries a body" });
                }
                Frame::Confirm
            }
        })
    }

    /// Writes the body into `body`, which must be exactly [`Frame::body_len`] bytes.
    pub fn emit(&self, body: &mut [u8]) {
        match self {
            Frame::Hello(r) => r.emit(body),
            Frame::HelloAck(r) => r.emit(body),
            Frame::Data | Frame::Ping | Frame::Confirm => {}
            Frame::Ack(r) => r.emit(body),
            Frame::Fin(r) => r.emit(body),
            Frame::FinAck(r) => r.emit(body),
            Frame::Reset(r) => r.emit(body),
            Frame::Zeros(r) => r.emit(body),
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
        debug_assert!(!self.header.flags.sealed(), "a packet to seal emitted in the clear");
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

impl Repr {
    /// Bytes [`Repr::seal`] writes for a payload of `payload_len` bytes: header, body,
    /// payload and tag.
    pub fn sealed_len(&self, payload_len: usize) -> usize {
        self.buffer_len() + payload_len + TAG_LEN
    }

    /// Emits the packet sealed under `key` in one pass: the header (with
    /// [`Flags::SEALED`], the check flags cleared, the CRC field zero, `length` counting
    /// body, payload and tag) is the associated data; the body is encrypted in place and
    /// `payload` (held elsewhere, e.g. the mbuf kept for a resend) is encrypted into
    /// `buf` after it, then the tag. Returns [`Repr::sealed_len`].
    ///
    /// # Errors
    /// [`AeadError`] if `buf` is too short or the packet too long (a driver bug).
    pub fn seal(&self, buf: &mut [u8], payload: &[u8], key: &DirectionKeys) -> Result<usize, AeadError> {
        let body = self.frame.body_len();
        let n = self.sealed_len(payload.len());
        let length = u16::try_from(n - HEADER_LEN).map_err(|_| AeadError)?;
        let buf = buf.get_mut(..n).ok_or(AeadError)?;
        let (h, rest) = buf.split_at_mut(HEADER_LEN);
        let mut header = self.header;
        header.length = length;
        header.flags = Flags((header.flags.0 & !(Flags::NO_CHECK | Flags::ACCEPTS_UNCHECKED)) | Flags::SEALED);
        let mut packet = Packet::new_unchecked(&mut *h);
        header.emit(&mut packet);
        packet.set_checksum(0);
        let (b, extra) = rest.split_at_mut(body);
        self.frame.emit(b);
        let nonce = (Space::of(header.packet_type), header.path_id, header.packet_number);
        key.seal(nonce, h, b, payload, extra)?;
        Ok(n)
    }
}
