//! The parsed common header.

use super::{Packet, PacketType, WireError, HEADER_LEN, MAGIC, VERSION};

/// Header flag bits. Unknown bits are carried through and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// Ask the receiver to acknowledge at once instead of waiting for the ACK batch
    /// (set on probes, PTO probes and the last chunk of the stream).
    pub const ACK_NOW: u8 = 0x01;
    /// The CRC32C field is not set (sent as zero): the packet carries no per-packet check of
    /// its own. Sent only on links whose policy needs none ([`super::Check::Off`]); a
    /// receiver whose policy wants a check refuses such a packet
    /// ([`super::WireError::MissingChecksum`]), so the flag cannot switch checking off there.
    pub const NO_CHECK: u8 = 0x02;
    /// The sender of this packet accepts packets without a CRC32C on this link (its own
    /// policy is [`super::Check::Off`]). A packet goes out unchecked only when its sender's
    /// policy allows it *and* the peer's latest packet on the link carried this flag
    /// ([`super::LinkCheck`]), so two ends whose policies differ, or a version-1 peer that
    /// never sets it, keep the CRC both ways.
    pub const ACCEPTS_UNCHECKED: u8 = 0x04;
    /// The packet is sealed under the session keys (AES-256-GCM): the header is the
    /// associated data, the body or payload is ciphertext, the 16-byte tag follows it
    /// (counted in `length`), and the CRC32C field is zero. Every packet of a keyed
    /// session but HELLO and HELLO-ACK is sealed.
    pub const SEALED: u8 = 0x08;

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Whether [`Flags::ACK_NOW`] is set.
    pub const fn ack_now(self) -> bool {
        self.0 & Self::ACK_NOW != 0
    }

    /// Whether [`Flags::ACCEPTS_UNCHECKED`] is set.
    pub const fn accepts_unchecked(self) -> bool {
        self.0 & Self::ACCEPTS_UNCHECKED != 0
    }

    /// Whether [`Flags::SEALED`] is set.
    pub const fn sealed(self) -> bool {
        self.0 & Self::SEALED != 0
    }

    /// Whether [`Flags::NO_CHECK`] is set.
    pub const fn no_check(self) -> bool {
        self.0 & Self::NO_CHECK != 0
    }
}

/// The meaning of the 48-byte common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    /// What the body is.
    pub packet_type: PacketType,
    /// Flag bits.
    pub flags: Flags,
    /// Path the packet travels on.
    pub path_id: u16,
    /// Session the packet belongs to.
    pub session_id: u64,
    /// Per-path packet number (DATA, PING) or the session's control sequence number.
    pub packet_number: u64,
    /// Stream offset of the payload (DATA), zero otherwise.
    pub offset: u64,
    /// Bytes after the header.
    pub length: u16,
    /// Sender clock, µs, low 32 bits.
    pub timestamp: u32,
    /// Echo of the latest peer timestamp seen on this path.
    pub timestamp_echo: u32,
}

impl HeaderRepr {
    /// Parses the header of a checked packet. Checks magic, version and type; the CRC
    /// is checked by [`super::Repr::parse`] or [`super::verify_checksum`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<HeaderRepr, WireError> {
        packet.check_len()?;
        if packet.magic() != MAGIC {
            return Err(WireError::BadMagic(packet.magic()));
        }
        if packet.version() != VERSION {
            return Err(WireError::UnsupportedVersion(packet.version()));
        }
        let packet_type = PacketType::from_u8(packet.packet_type_raw())?;
        Ok(HeaderRepr {
            packet_type,
            flags: Flags(packet.flags_raw()),
            path_id: packet.path_id(),
            session_id: packet.session_id(),
            packet_number: packet.packet_number(),
            offset: packet.offset(),
            length: packet.length(),
            timestamp: packet.timestamp(),
            timestamp_echo: packet.timestamp_echo(),
        })
    }

    /// Writes every header field except the checksum (left as is; fill it last).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_magic(MAGIC);
        packet.set_version(VERSION);
        packet.set_packet_type(self.packet_type);
        packet.set_flags_raw(self.flags.0);
        packet.clear_reserved();
        packet.set_path_id(self.path_id);
        packet.set_session_id(self.session_id);
        packet.set_packet_number(self.packet_number);
        packet.set_offset(self.offset);
        packet.set_length(self.length);
        packet.set_timestamp(self.timestamp);
        packet.set_timestamp_echo(self.timestamp_echo);
    }

    /// Emits into a bare header buffer (e.g. mbuf headroom) and fills the checksum over
    /// it and the separately held `payload`.
    ///
    /// # Panics
    /// If `header` is shorter than [`HEADER_LEN`].
    pub fn emit_with_payload(&self, header: &mut [u8], payload: &[u8]) {
        let h = &mut header[..HEADER_LEN];
        let mut packet = Packet::new_unchecked(&mut *h);
        self.emit(&mut packet);
        packet.set_flags_raw(self.flags.0 & !(Flags::NO_CHECK | Flags::ACCEPTS_UNCHECKED));
        super::fill_checksum(h, payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{field, verify_checksum, Frame, Repr};

    // A DATA header, hand-assembled field by field from the diagram in `wire/mod.rs`.
    static DATA_BYTES: [u8; 48 + 4] = [
        0x53, 0x54, // magic "ST"
        0x02, // version 2
        0x03, // DATA
        0x01, // flags: ACK_NOW
        0x00, // reserved
        0x00, 0x02, // path 2
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // session id
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, // packet number 256
        0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, // offset 1 MiB
        0x00, 0x04, // length 4
        0x00, 0x00, // reserved
        0x00, 0x00, 0x30, 0x39, // timestamp 12345
        0x00, 0x00, 0x00, 0x07, // echo 7
        0x50, 0x45, 0x4c, 0x5d, // CRC32C (computed independently with a bitwise reference CRC32C)
        0xde, 0xad, 0xbe, 0xef, // payload
    ];

    fn data_bytes() -> Vec<u8> {
        DATA_BYTES.to_vec()
    }

    fn data_repr() -> HeaderRepr {
        HeaderRepr {
            packet_type: PacketType::Data,
            flags: Flags(Flags::ACK_NOW),
            path_id: 2,
            session_id: 0x0102_0304_0506_0708,
            packet_number: 256,
            offset: 1 << 20,
            length: 4,
            timestamp: 12345,
            timestamp_echo: 7,
        }
    }

    #[test]
    fn deconstruct() {
        let b = data_bytes();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.magic(), 0x5354);
        assert_eq!(p.version(), 2);
        assert_eq!(p.packet_type_raw(), 3);
        assert_eq!(p.flags_raw(), 1);
        assert_eq!(p.path_id(), 2);
        assert_eq!(p.session_id(), 0x0102_0304_0506_0708);
        assert_eq!(p.packet_number(), 256);
        assert_eq!(p.offset(), 1 << 20);
        assert_eq!(p.length(), 4);
        assert_eq!(p.timestamp(), 12345);
        assert_eq!(p.timestamp_echo(), 7);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut b = vec![0xffu8; 52];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_magic(0x5354);
        p.set_version(2);
        p.set_packet_type(PacketType::Data);
        p.set_flags_raw(1);
        p.clear_reserved();
        p.set_path_id(2);
        p.set_session_id(0x0102_0304_0506_0708);
        p.set_packet_number(256);
        p.set_offset(1 << 20);
        p.set_length(4);
        p.set_timestamp(12345);
        p.set_timestamp_echo(7);
        p.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        p.fill_checksum();
        assert_eq!(b, data_bytes());
    }

    #[test]
    fn parse() {
        let b = data_bytes();
        let repr = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(repr.header, data_repr());
        assert_eq!(repr.frame, Frame::Data);
    }

    #[test]
    fn emit_header_in_headroom() {
        let mut headroom = [0u8; HEADER_LEN];
        let payload = [0xde, 0xad, 0xbe, 0xef];
        data_repr().emit_with_payload(&mut headroom, &payload);
        let mut joined = headroom.to_vec();
        joined.extend_from_slice(&payload);
        assert_eq!(joined, data_bytes());
        assert!(verify_checksum(&headroom, &payload));
    }

    #[test]
    fn rejects_with_reason() {
        let mut b = data_bytes();
        b[field::VERSION] = 9;
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::UnsupportedVersion(9)));
        let mut b = data_bytes();
        b[field::TYPE] = 0x42;
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::UnknownType(0x42)));
        let mut b = data_bytes();
        b[0] = 0;
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::BadMagic(0x0054)));
        let mut b = data_bytes();
        b[50] ^= 0x10;
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::BadChecksum));
    }
}
