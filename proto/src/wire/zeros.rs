//! [`ZerosRepr`]: the body of a ZEROS packet, a chunk of zeros carried by its length.

use super::{be_u32, PacketType, WireError};

mod body {
    crate::layout! { LEN: 4, _: 4 }
}

/// A chunk of the stream that is all zeros: `len` zero bytes at the header's stream
/// offset, with no payload. It stands for exactly the DATA packet it replaces (same
/// chunk boundaries, same flow control), so the receiver checks it like DATA: `len` in
/// `1..=chunk_size`, the offset on a chunk boundary, not past the stream end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZerosRepr {
    /// Zero bytes this record stands for.
    pub len: u32,
}

impl ZerosRepr {
    /// Body length on the wire: the length and 4 reserved bytes.
    pub const BODY_LEN: usize = body::END;

    /// Parses a ZEROS body (its length only; the receiver checks it against the chunk).
    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        if b.len() != Self::BODY_LEN {
            return Err(WireError::Malformed { kind: PacketType::Zeros, why: "wrong body length" });
        }
        let len = be_u32(b, body::LEN);
        if len == 0 {
            return Err(WireError::Malformed { kind: PacketType::Zeros, why: "empty zero run" });
        }
        Ok(ZerosRepr { len })
    }

    /// Writes the body into `b` ([`ZerosRepr::BODY_LEN`] bytes).
    pub fn emit(&self, b: &mut [u8]) {
        b[body::LEN].copy_from_slice(&self.len.to_be_bytes());
        b[body::LEN.end..Self::BODY_LEN].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Flags, Frame, HeaderRepr, Packet, Repr, HEADER_LEN};

    // A ZEROS packet, hand-assembled: header (type 10) then length 8192 and 4 reserved.
    fn bytes() -> Vec<u8> {
        let mut b = vec![
            0x53, 0x54, 0x02, 0x0a, 0x00, 0x00, 0x00, 0x01, // magic, v2, ZEROS, flags, rsv, path 1
            0, 0, 0, 0, 0, 0, 0, 9, // session 9
            0, 0, 0, 0, 0, 0, 0, 5, // pn 5
            0, 0, 0, 0, 0, 0, 0x20, 0, // offset 8192
            0x00, 0x08, 0, 0, // length 8, rsv
            0, 0, 0, 1, 0, 0, 0, 2, // timestamp 1, echo 2
            0, 0, 0, 0, // CRC (filled below)
            0x00, 0x00, 0x20, 0x00, 0, 0, 0, 0, // body: len 8192, rsv
        ];
        let (h, p) = b.split_at_mut(HEADER_LEN);
        crate::wire::fill_checksum(h, p);
        b
    }

    fn repr() -> Repr {
        let header = HeaderRepr {
            packet_type: PacketType::Zeros,
            flags: Flags::empty(),
            path_id: 1,
            session_id: 9,
            packet_number: 5,
            offset: 8192,
            length: 8,
            timestamp: 1,
            timestamp_echo: 2,
        };
        Repr { header, frame: Frame::Zeros(ZerosRepr { len: 8192 }) }
    }

    #[test]
    fn parse_and_emit() {
        let b = bytes();
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), repr());
        let mut out = vec![0xffu8; repr().buffer_len()];
        assert_eq!(repr().emit(&mut out, &[]), b.len());
        assert_eq!(out, b);
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(ZerosRepr::parse(&[0, 0, 0x20, 0]).is_err());
        assert!(ZerosRepr::parse(&[0; 8]).is_err());
        assert!(ZerosRepr::parse(&[0; 9]).is_err());
        assert_eq!(ZerosRepr::parse(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]), Ok(ZerosRepr { len: u32::MAX }));
    }
}
