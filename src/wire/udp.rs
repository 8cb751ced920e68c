//! UDP headers. Over IPv4 we send with the checksum field zero (allowed there; the
//! striping protocol carries its own CRC32C over header and payload) and accept
//! either zero or a correct checksum. Over IPv6 the checksum is mandatory (RFC 8200
//! 8.1): it is always filled and a zero one is refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, WireError};

mod field {
    stripecat_proto::layout! { SRC_PORT: 2, DST_PORT: 2, LENGTH: 2, CHECKSUM: 2 }
}

pub const HEADER_LEN: usize = field::END;

super::view!(
    /// A view over a UDP datagram.
    Datagram, header HEADER_LEN
);

impl<T: AsRef<[u8]>> Datagram<T> {
    /// Checks the header and that the length field fits the buffer.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let d = Self::at_least(buf)?;
        let b = d.buf.as_ref();
        let len = super::be16(b, field::LENGTH) as usize;
        if len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if len > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(d)
    }

    pub fn src_port(&self) -> u16 {
        self.be16(field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        self.be16(field::DST_PORT)
    }

    pub fn len(&self) -> u16 {
        self.be16(field::LENGTH)
    }

    pub fn is_empty(&self) -> bool {
        self.len() as usize == HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }

    /// Zero (not computed) or correct for this pseudo-header.
    pub fn checksum_ok(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let data = &self.buf.as_ref()[..self.len() as usize];
        let mut acc = pseudo_sum(src, dst, self.len());
        acc = checksum::sum(data, acc);
        checksum::finish(acc) == 0
    }

    /// Correct for this IPv6 pseudo-header; zero is wrong over IPv6.
    pub fn checksum_ok_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let data = &self.buf.as_ref()[..self.len() as usize];
        let acc = checksum::pseudo_v6(src, dst, self.len() as u32, super::ipv6::NEXT_UDP);
        checksum::finish(checksum::sum(data, acc)) == 0
    }

    /// The payload (length from the header, not the buffer).
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.len() as usize]
    }

    /// Offset and length of the payload within the buffer.
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        HEADER_LEN..self.len() as usize
    }
}

fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, len: u16) -> u32 {
    let mut ph = [0u8; 12];
    ph[0..4].copy_from_slice(&src.octets());
    ph[4..8].copy_from_slice(&dst.octets());
    ph[9] = super::ipv4::PROTO_UDP;
    ph[10..12].copy_from_slice(&len.to_be_bytes());
    checksum::sum(&ph, 0)
}

/// Parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(d: &Datagram<T>) -> Repr {
        Repr { src_port: d.src_port(), dst_port: d.dst_port(), payload_len: d.len() - HEADER_LEN as u16 }
    }

    /// Writes the 8-byte header with a zero checksum.
    pub fn emit(&self, buf: &mut [u8]) {
        let h = &mut buf[..HEADER_LEN];
        h[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        h[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        h[field::LENGTH].copy_from_slice(&(self.payload_len + HEADER_LEN as u16).to_be_bytes());
        h[field::CHECKSUM].copy_from_slice(&[0, 0]);
    }
}

/// Fills the UDP checksum over header and payload (tests and peers that
/// want one; the data plane leaves it zero).
pub fn fill_checksum(datagram: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let len = datagram.len() as u16;
    datagram[field::CHECKSUM].copy_from_slice(&[0, 0]);
    let c = checksum::finish(checksum::sum(datagram, pseudo_sum(src, dst, len)));
    let c = if c == 0 { 0xffff } else { c };
    datagram[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
}

/// Fills the mandatory IPv6 UDP checksum of `datagram` (header and payload, the
/// length field written), given the sum of any part of the payload not in `datagram`
/// (`extra`: a payload chained as its own segment, summed with `checksum::sum` from 0;
/// its length must be even) and its length.
pub fn fill_checksum_v6(datagram: &mut [u8], extra: (u32, usize), src: Ipv6Addr, dst: Ipv6Addr) {
    let len = (datagram.len() + extra.1) as u32;
    datagram[field::CHECKSUM].copy_from_slice(&[0, 0]);
    let acc = checksum::pseudo_v6(src, dst, len, super::ipv6::NEXT_UDP) + extra.0;
    let c = checksum::finish(checksum::sum(datagram, acc));
    let c = if c == 0 { 0xffff } else { c };
    datagram[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 12] = [0xb8, 0x3c, 0xb7, 0xdc, 0x00, 0x0c, 0x00, 0x00, b'a', b'b', b'c', b'd'];

    #[test]
    fn deconstruct_parse_emit() {
        let d = Datagram::new_checked(&BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&d), Repr { src_port: 47164, dst_port: 47068, payload_len: 4 });
        assert_eq!(d.payload(), b"abcd");
        let mut buf = [0u8; 12];
        buf[8..].copy_from_slice(b"abcd");
        Repr { src_port: 47164, dst_port: 47068, payload_len: 4 }.emit(&mut buf);
        assert_eq!(buf, BYTES);
    }

    #[test]
    fn checksum_zero_or_correct() {
        let (s, d) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let mut b = BYTES;
        assert!(Datagram::new_checked(&b[..]).unwrap().checksum_ok(s, d));
        fill_checksum(&mut b, s, d);
        assert_ne!(Datagram::new_checked(&b[..]).unwrap().checksum(), 0);
        assert!(Datagram::new_checked(&b[..]).unwrap().checksum_ok(s, d));
        b[9] ^= 1;
        assert!(!Datagram::new_checked(&b[..]).unwrap().checksum_ok(s, d));
    }

    #[test]
    fn length_field_is_checked() {
        let mut b = BYTES;
        b[5] = 13; // longer than the buffer
        assert_eq!(Datagram::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
        b[5] = 7; // shorter than a header
        assert_eq!(Datagram::new_checked(&b[..]).unwrap_err(), WireError::Malformed);
    }

    #[test]
    fn ipv6_checksum_is_mandatory_and_verified() {
        // 2001:2::1 port 47164 -> 2001:2::2 port 47068, "abcd". By hand: pseudo-header
        // 0x2001+0x0002+0x0001 + 0x2001+0x0002+0x0002 + 0x000c + 0x0011 = 0x4026, datagram
        // 0xb83c+0xb7dc+0x000c + 0x6162+0x6364 = 0x2_34ea; total 0x2_7510, folded 0x7512,
        // checksum 0x8aed.
        let (s, d): (Ipv6Addr, Ipv6Addr) = ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
        let mut b = BYTES;
        assert!(!Datagram::new_checked(&b[..]).unwrap().checksum_ok_v6(s, d), "zero is refused over IPv6");
        fill_checksum_v6(&mut b, (0, 0), s, d);
        assert_eq!(&b[6..8], &[0x8a, 0xed]);
        assert!(Datagram::new_checked(&b[..]).unwrap().checksum_ok_v6(s, d));
        // The same with the payload summed apart (a chained segment).
        let mut h = BYTES;
        h[4..6].copy_from_slice(&12u16.to_be_bytes());
        let mut hdr = [0u8; 8];
        hdr.copy_from_slice(&h[..8]);
        fill_checksum_v6(&mut hdr, (checksum::sum(b"abcd", 0), 4), s, d);
        assert_eq!(&hdr[6..8], &[0x8a, 0xed]);
        b[9] ^= 1;
        assert!(!Datagram::new_checked(&b[..]).unwrap().checksum_ok_v6(s, d));
    }
}
