//! IPv4 headers (no options emitted; options accepted and skipped on parse).

use std::net::Ipv4Addr;

use super::{checksum, WireError};

mod field {
    stripecat_proto::layout! {
        VER_IHL: byte, TOS: byte, TOTAL_LEN: 2, IDENT: 2, FLAGS_FRAG: 2,
        TTL: byte, PROTOCOL: byte, CHECKSUM: 2, SRC: 4, DST: 4,
    }
}

pub const HEADER_LEN: usize = field::END;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_UDP: u8 = 17;

super::view!(
    /// A view over an IPv4 packet.
    Packet, header HEADER_LEN
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version, header length, total length against the buffer (the
    /// buffer may be longer: Ethernet pads short frames), and no fragments.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let p = Self::at_least(buf)?;
        if p.version() != 4 || p.header_len() < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        let total = p.total_len() as usize;
        if total < p.header_len() || total > p.buf.as_ref().len() {
            return Err(WireError::Truncated);
        }
        if p.more_fragments() || p.frag_offset() != 0 {
            return Err(WireError::Unsupported);
        }
        Ok(p)
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }

    pub fn header_len(&self) -> usize {
        ((self.b()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    pub fn total_len(&self) -> u16 {
        self.be16(field::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        self.be16(field::IDENT)
    }

    fn flags_frag(&self) -> u16 {
        self.be16(field::FLAGS_FRAG)
    }

    pub fn more_fragments(&self) -> bool {
        self.flags_frag() & 0x2000 != 0
    }

    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & 0x1fff
    }

    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    pub fn src(&self) -> Ipv4Addr {
        let s = &self.b()[field::SRC];
        Ipv4Addr::new(s[0], s[1], s[2], s[3])
    }

    pub fn dst(&self) -> Ipv4Addr {
        let s = &self.b()[field::DST];
        Ipv4Addr::new(s[0], s[1], s[2], s[3])
    }

    /// Whether the header checksum verifies (checked only after new_checked,
    /// so the header length is within the buffer).
    pub fn checksum_ok(&self) -> bool {
        checksum::checksum(&self.b()[..self.header_len()]) == 0
    }

    /// The payload, without Ethernet padding.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len() as usize]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }

    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        self.m()[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&self.b()[..hl]);
        self.m()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

/// Parsed IPv4 header (what we use of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// Payload length (total length minus the header).
    pub payload_len: u16,
    pub ttl: u8,
    pub ident: u16,
}

impl Repr {
    /// Parses a checked packet; a bad header checksum is an error.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        if !p.checksum_ok() {
            return Err(WireError::Checksum);
        }
        Ok(Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            payload_len: p.total_len() - p.header_len() as u16,
            ttl: p.ttl(),
            ident: p.ident(),
        })
    }

    /// Writes a 20-byte header (DF set, no options) with its checksum into
    /// the first [`HEADER_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let h = &mut buf[..HEADER_LEN];
        h[field::VER_IHL] = 0x45;
        h[field::TOS] = 0;
        h[field::TOTAL_LEN].copy_from_slice(&(self.payload_len + HEADER_LEN as u16).to_be_bytes());
        h[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        h[field::FLAGS_FRAG].copy_from_slice(&0x4000u16.to_be_bytes());
        h[field::TTL] = self.ttl;
        h[field::PROTOCOL] = self.protocol;
        h[field::CHECKSUM].copy_from_slice(&[0, 0]);
        h[field::SRC].copy_from_slice(&self.src.octets());
        h[field::DST].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(h);
        h[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 198.18.0.1 -> 198.18.0.2, UDP, 48 bytes of payload, ident 0x1c46, DF,
    // TTL 64; checksum filled in by the test.
    fn sample() -> [u8; 20] {
        [0x45, 0x00, 0x00, 0x44, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 198, 18, 0, 1, 198, 18, 0, 2]
    }

    #[test]
    fn emit_matches_hand_built_bytes_and_checksum_verifies() {
        let mut want = sample();
        // Checksum by hand: 0x4500+0x0044+0x1c46+0x4000+0x4011+0xc612+0x0001
        // +0xc612+0x0002 = 0x2_6dc2; folded 0x6dc4; inverted 0x923b.
        want[10] = 0x92;
        want[11] = 0x3b;
        let mut buf = [0u8; 20];
        Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            protocol: PROTO_UDP,
            payload_len: 48,
            ttl: 64,
            ident: 0x1c46,
        }
        .emit(&mut buf);
        assert_eq!(buf, want);
        let mut full = want.to_vec();
        full.extend_from_slice(&[0u8; 48]);
        let p = Packet::new_checked(&full[..]).unwrap();
        assert!(p.checksum_ok());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            (r.src, r.dst, r.protocol, r.payload_len),
            (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 17, 48)
        );
    }

    #[test]
    fn bad_checksum_truncation_fragments_and_options() {
        let mut b = sample().to_vec();
        b.extend_from_slice(&[0u8; 48]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        b[8] = 1; // change TTL without fixing the checksum
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Checksum));
        assert_eq!(Packet::new_checked(&b[..40]).unwrap_err(), WireError::Truncated);
        let mut f = b.clone();
        f[6] = 0x20; // more fragments
        assert_eq!(Packet::new_checked(&f[..]).unwrap_err(), WireError::Unsupported);
        let mut v = b.clone();
        v[0] = 0x65;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), WireError::Malformed);
        let mut o = b.clone();
        o[0] = 0x46; // 24-byte header: payload starts 4 bytes later
        let p = Packet::new_checked(&o[..]).unwrap();
        assert_eq!(p.payload().len(), 44);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut b = sample().to_vec();
        b[2..4].copy_from_slice(&28u16.to_be_bytes());
        b.extend_from_slice(&[0u8; 26]); // 8 payload + 18 padding
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 8);
    }
}
